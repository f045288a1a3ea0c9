// The cache port and its two adapters; openCache() picks one from the configuration.
import type { Clock } from '../clock';
import type { Cache } from './cache';
import { createMemoryCache } from './memory-cache';
import { createRedisCache } from './redis-cache';

export type { Cache, TokenBucket, TokenTaken } from './cache';
export { cache_key_length_max, cache_ttl_ms_max, token_bucket_capacity_max, token_bucket_refill_per_second_max } from './cache-limits';
export { createMemoryCache, memory_cache_entries_max_default, type MemoryCacheOptions } from './memory-cache';
export {
  createRedisCache,
  redis_command_timeout_ms,
  redis_connect_timeout_ms,
  redis_key_prefix_default,
  redis_retries_per_request_max,
  type RedisCacheOptions,
} from './redis-cache';

export interface OpenCacheOptions {
  /** Redis when set (several replicas share it), the in-process LRU otherwise. */
  readonly redis_url?: string;
  /** The memory adapter's clock; Redis uses its own server time. */
  readonly clock?: Clock;
  readonly key_prefix?: string;
}

export function openCache(options: OpenCacheOptions = {}): Cache {
  if (options.redis_url !== undefined && options.redis_url !== '') {
    return createRedisCache({ url: options.redis_url, key_prefix: options.key_prefix });
  }
  return createMemoryCache({ clock: options.clock });
}
