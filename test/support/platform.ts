// Starts the whole platform in this process, as `npm start` does, on a free port and a fresh data
// folder, for end-to-end suites that talk to it over HTTP.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import type { Bus } from '@paygrid/kernel/bus';
import type { Cache } from '@paygrid/kernel/cache';
import { temporaryDirectory } from '@paygrid/kernel/testing';
import { Paygrid } from '@paygrid/sdk';
import { startPlatform, type RunningPlatform } from '../../apps/cli/src/platform';

/** A port free on 127.0.0.1 right now, for a test that must know the platform's address before it starts. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

/**
 * The first of `count` consecutive ports free on 127.0.0.1 right now, below the kernel's ephemeral
 * range (Linux: 32768 and up). A port the kernel handed out by `listen(0)` and was closed again
 * can be taken meanwhile by any outgoing connection's local port; a port below that range can
 * only be taken by another listener, which tests pick at random from a wide range.
 */
export async function freePortRange(count: number): Promise<number> {
  const lowest = 20_000;
  const highest = 32_767 - count;
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const first = lowest + Math.floor(Math.random() * (highest - lowest));
    const servers: ReturnType<typeof createServer>[] = [];
    try {
      for (let port = first; port < first + count; port += 1) {
        const server = createServer();
        await new Promise<void>((done, fail) => {
          server.once('error', fail);
          server.listen(port, '127.0.0.1', done);
        });
        servers.push(server);
      }
      return first;
    } catch {
      // One of them is taken: try another range.
    } finally {
      await Promise.all(servers.map((server) => new Promise<void>((done) => server.close(() => done()))));
    }
  }
  throw new Error(`no ${count} consecutive free ports below the ephemeral range`);
}

/** Starts that find their free port taken meanwhile, at most, before the suite fails. */
const port_attempts_max = 5;

export interface TestPlatform {
  readonly url: string;
  readonly operator_key: string;
  readonly platform: RunningPlatform;
  /** An SDK client with the operator key. */
  readonly operator: Paygrid;
  close(): Promise<void>;
}

export interface TestPlatformOptions {
  /** Use the Redis cache adapter at this URL (keys under a unique prefix, deleted on close). */
  readonly redis_url?: string;
  readonly env?: Record<string, string>;
  /** The port to listen on, when the test must know it before the start (to set PUBLIC_BASE_URL); a free one otherwise. */
  readonly port?: number;
  /** The gateway's cache, instead of one from the configuration (a test that reads what is kept in it; the test closes it). */
  readonly cache?: Cache;
  /** Wraps the bus the platform opened (handler faults, shorter redelivery delays); the platform still closes it. */
  readonly decorateBus?: (bus: Bus) => Bus;
}

async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 2 });
  redis.on('error', () => undefined);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export async function startTestPlatform(options: TestPlatformOptions = {}): Promise<TestPlatform> {
  const directory = await temporaryDirectory();
  const operator_key = `op-test-${randomBytes(24).toString('hex')}`;
  const prefix = `test:${randomBytes(6).toString('hex')}:`;
  const env: NodeJS.ProcessEnv = {
    DATA_DIR: directory.path,
    PAYGRID_OPERATOR_KEY: operator_key,
    LOG_LEVEL: 'silent',
    CACHE_KEY_PREFIX: prefix,
    ...(options.redis_url === undefined ? {} : { REDIS_URL: options.redis_url }),
    ...options.env,
  };
  // A real port, not 0: the platform gives payment providers its own URL for their notifications.
  // A port found free can be taken before the platform binds it (by another suite's server, or as
  // the local end of any outgoing connection), so a start that finds it taken tries another.
  let platform: RunningPlatform | undefined;
  for (let attempt = 1; platform === undefined; attempt += 1) {
    try {
      platform = await startPlatform({
        env,
        port: options.port ?? (await freePort()),
        ...(options.cache === undefined ? {} : { cache: options.cache }),
        ...(options.decorateBus === undefined ? {} : { decorateBus: options.decorateBus }),
      });
    } catch (error) {
      const taken = error instanceof Error && 'code' in error && error.code === 'EADDRINUSE';
      if (!taken || options.port !== undefined || attempt >= port_attempts_max) throw error;
    }
  }
  const url = platform.url;
  return {
    url,
    operator_key,
    platform,
    operator: new Paygrid({ api_key: operator_key, base_url: url }),
    close: async () => {
      await platform.close();
      if (options.redis_url !== undefined) await deleteRedisKeys(options.redis_url, prefix);
      await directory.remove();
    },
  };
}

/** A merchant with its keys and an SDK client that signs every request. */
export async function createTestMerchant(test: TestPlatform, name = 'Acme') {
  const created = await test.operator.merchants.create({ name });
  const client = new Paygrid({ api_key: created.secret_key, signing_secret: created.signing_secret, base_url: test.url });
  return { ...created, client };
}
