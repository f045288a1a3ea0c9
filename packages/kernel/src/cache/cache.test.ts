import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock';
import { describeWithRedis } from '../testing';
import { describeCacheContract } from './cache-contract';
import { createMemoryCache, createRedisCache, openCache } from './index';

describe('Cache port in memory', () => {
  describeCacheContract('memory', () => {
    const clock = new ManualClock();
    const cache = createMemoryCache({ clock });
    return Promise.resolve({
      cache,
      advance: (duration_ms: number) => {
        clock.advance(duration_ms);
        return Promise.resolve();
      },
    });
  });
});

describeWithRedis('Cache port on Redis', (url) => {
  // A prefix of its own, so that concurrent test runs never see each other's keys.
  const key_prefix = `test:${randomBytes(8).toString('hex')}:`;

  describeCacheContract('redis', () =>
    Promise.resolve({ cache: createRedisCache({ url, key_prefix }), advance: (duration_ms: number) => sleep(duration_ms) }),
  );

  it('stores buckets under the prefix with an expiry of the time to refill', async () => {
    const cache = openCache({ redis_url: url, key_prefix });
    const redis = new Redis(url);
    try {
      expect(cache.adapter).toBe('redis');
      await cache.takeToken('expiring', { capacity: 2, refill_per_second: 1 });
      const ttl_ms = await redis.pttl(`${key_prefix}expiring`);
      expect(ttl_ms).toBeGreaterThan(900);
      expect(ttl_ms).toBeLessThanOrEqual(1_000);
    } finally {
      await cache.close();
      await redis.quit();
    }
  });

  afterAll(async () => {
    const redis = new Redis(url);
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${key_prefix}*`, 'COUNT', 1_000);
        if (keys.length > 0) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    } finally {
      await redis.quit();
    }
  });
});

describe('Redis cache while Redis is down', () => {
  it('fails requests fast with an error instead of hanging or crashing', async () => {
    // Port 1 refuses connections; the adapter must give up within its retry budget.
    const cache = createRedisCache({ url: 'redis://127.0.0.1:1' });
    const started_ms = Date.now();
    try {
      await expect(cache.get('anything')).rejects.toMatchObject({ type: 'service_unavailable_error', code: 'cache_unavailable' });
      await expect(cache.ping()).rejects.toThrow();
      expect(Date.now() - started_ms).toBeLessThan(5_000);
    } finally {
      await cache.close().catch(() => undefined);
    }
  });
});

describe('openCache', () => {
  it('picks memory without a Redis URL', async () => {
    const cache = openCache({ redis_url: '' });
    expect(cache.adapter).toBe('memory');
    await cache.close();
  });
});

describe('Memory cache eviction', () => {
  it('evicts the least recently used entry beyond entries_max, buckets included', async () => {
    const cache = createMemoryCache({ clock: new ManualClock(), entries_max: 3 });
    await cache.set('a', '1', 60_000);
    await cache.set('b', '2', 60_000);
    await cache.takeToken('c', { capacity: 1, refill_per_second: 1 });
    expect(await cache.get('a')).toBe('1');
    await cache.set('d', '4', 60_000);
    expect(await cache.get('b')).toBeUndefined();
    expect(await cache.get('a')).toBe('1');
    expect(await cache.get('d')).toBe('4');
    // c was used least recently now, so it goes next and comes back as a full bucket.
    await cache.set('e', '5', 60_000);
    expect((await cache.takeToken('c', { capacity: 1, refill_per_second: 1 })).allowed).toBe(true);
  });

  it('forgets a value at the very millisecond its TTL ends', async () => {
    const clock = new ManualClock();
    const cache = createMemoryCache({ clock, entries_max: 10 });
    await cache.set('soon', 'x', 100);
    clock.advance(99);
    expect(await cache.get('soon')).toBe('x');
    clock.advance(1);
    expect(await cache.get('soon')).toBeUndefined();
  });
});
