// The production cache adapter: Redis, shared by every gateway replica. Requests fail fast with
// an error while Redis is unreachable, so that the caller can answer 503 instead of hanging.
import { Redis, ReplyError } from 'ioredis';
import { assert, isAssertionError } from '../assert';
import { ApiError } from '../errors';
import type { Cache, TokenTaken } from './cache';
import { assertCacheKey, assertCacheTtl, assertTokenBucket } from './cache-limits';

export const redis_key_prefix_default = 'paygrid:';
export const redis_connect_timeout_ms = 1_000;
export const redis_command_timeout_ms = 1_000;
export const redis_retries_per_request_max = 2;

export interface RedisCacheOptions {
  readonly url: string;
  /** Put in front of every key, so that several installs or test runs can share one Redis. */
  readonly key_prefix?: string;
}

// The same steps as takeFromBucket() in token-bucket.ts, in thousandths of a token. The clock is
// the Redis server's TIME, so that replicas with drifting clocks still agree on one bucket. The
// script is atomic, which is what keeps concurrent takes from granting more than the capacity.
const take_token_script = `
local milli_tokens_per_token = 1000
local capacity = tonumber(ARGV[1]) * milli_tokens_per_token
local refill_per_second = tonumber(ARGV[2])
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local stored = redis.call('HMGET', KEYS[1], 'milli_tokens', 'updated_ms')
local start_tokens = tonumber(stored[1])
local start_ms = tonumber(stored[2])
if start_tokens == nil or start_ms == nil then
  start_tokens = capacity
  start_ms = now_ms
end
local elapsed_ms = math.max(0, now_ms - start_ms)
local available = math.min(capacity, start_tokens + elapsed_ms * refill_per_second)
local allowed = 0
local milli_tokens = available
local retry_after_ms = 0
if available >= milli_tokens_per_token then
  allowed = 1
  milli_tokens = available - milli_tokens_per_token
else
  retry_after_ms = math.ceil((milli_tokens_per_token - milli_tokens) / refill_per_second)
end
redis.call('HSET', KEYS[1], 'milli_tokens', milli_tokens, 'updated_ms', math.max(start_ms, now_ms))
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((capacity - milli_tokens) / refill_per_second)))
return { allowed, math.floor(milli_tokens / milli_tokens_per_token), retry_after_ms }
`;

interface TakeTokenCommand {
  paygridTakeToken(key: string, capacity: number, refill_per_second: number): Promise<unknown>;
}

function parseTaken(reply: unknown): TokenTaken {
  // Lua numbers come back as Redis integers; check the shape where it crosses the boundary.
  assert(Array.isArray(reply) && reply.length === 3, 'The take-token script must answer three integers');
  const fields: readonly unknown[] = reply;
  const [allowed, remaining, retry_after_ms] = fields;
  assert(allowed === 0 || allowed === 1, 'The take-token script must answer allowed as 0 or 1');
  assert(typeof remaining === 'number' && remaining >= 0, 'The take-token script must answer tokens remaining');
  assert(typeof retry_after_ms === 'number' && retry_after_ms >= 0, 'The take-token script must answer retry_after_ms');
  return { allowed: allowed === 1, remaining, retry_after_ms };
}

export function createRedisCache(options: RedisCacheOptions): Cache {
  const prefix = options.key_prefix ?? redis_key_prefix_default;
  const redis = new Redis(options.url, {
    lazyConnect: false,
    connectTimeout: redis_connect_timeout_ms,
    commandTimeout: redis_command_timeout_ms,
    maxRetriesPerRequest: redis_retries_per_request_max,
  });
  // Without a listener, a dropped connection would be an unhandled 'error' event and end the
  // process. Every command made meanwhile rejects, and that is where the failure is reported.
  redis.on('error', () => undefined);
  redis.defineCommand('paygridTakeToken', { numberOfKeys: 1, lua: take_token_script });
  const commands = redis as Redis & TakeTokenCommand;

  function prefixed(key: string): string {
    assertCacheKey(key);
    return prefix + key;
  }

  return {
    adapter: 'redis',
    get: async (key) => (await reachable(() => redis.get(prefixed(key)))) ?? undefined,
    set: async (key, value, ttl_ms) => {
      assertCacheTtl(ttl_ms);
      await reachable(() => redis.set(prefixed(key), value, 'PX', ttl_ms));
    },
    setIfAbsent: async (key, value, ttl_ms) => {
      assertCacheTtl(ttl_ms);
      return (await reachable(() => redis.set(prefixed(key), value, 'PX', ttl_ms, 'NX'))) === 'OK';
    },
    delete: async (key) => {
      await reachable(() => redis.del(prefixed(key)));
    },
    takeToken: async (key, bucket) => {
      assertTokenBucket(bucket);
      return parseTaken(await reachable(() => commands.paygridTakeToken(prefixed(key), bucket.capacity, bucket.refill_per_second)));
    },
    ping: async () => {
      await reachable(() => redis.ping());
    },
    close: async () => {
      await redis.quit();
    },
  };
}

/**
 * Runs one Redis command; a failure to reach Redis (refused, timed out, retries spent) becomes a
 * 503 in the one error shape. An error Redis answered with is our bug, and stays what it is. The gateway fails closed: without the shared cache it cannot know
 * whether an Idempotency-Key was used or a nonce seen, and guessing could charge twice.
 */
async function reachable<T>(command: () => Promise<T>): Promise<T> {
  try {
    return await command();
  } catch (error) {
    // A refused argument (an assertion) and an error Redis answered with are bugs, not an outage.
    if (error instanceof ReplyError || isAssertionError(error)) throw error;
    throw new ApiError('service_unavailable_error', 'cache_unavailable', 'The shared cache (Redis) cannot be reached, so nothing was done; retry the request shortly');
  }
}
