// One suite, run against every adapter of the Cache port (see cache.test.ts), so that the gateway
// behaves the same embedded and in production. Time moves through `advance`: a ManualClock for
// memory, a real wait for Redis; assertions therefore allow time to run a little long.
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { Cache, TokenBucket } from './cache';

export interface OpenedForContract {
  readonly cache: Cache;
  /** Lets at least duration_ms pass on the clock the cache reads. */
  readonly advance: (duration_ms: number) => Promise<void>;
}

/** Refills so slowly that the real time a test takes cannot add a whole token. */
const slow_bucket: TokenBucket = { capacity: 5, refill_per_second: 0.01 };
/** One token every 100 ms. */
const fast_bucket: TokenBucket = { capacity: 2, refill_per_second: 10 };

export function describeCacheContract(adapter: Cache['adapter'], open: () => Promise<OpenedForContract>): void {
  let cache: Cache;
  let advance: (duration_ms: number) => Promise<void>;

  beforeEach(async () => {
    ({ cache, advance } = await open());
  });

  afterEach(async () => {
    await cache.close();
  });

  it('names its adapter and answers ping', async () => {
    expect(cache.adapter).toBe(adapter);
    await expect(cache.ping()).resolves.toBeUndefined();
  });

  it('gets, replaces and deletes values', async () => {
    expect(await cache.get('greeting')).toBeUndefined();
    await cache.set('greeting', 'hello', 60_000);
    expect(await cache.get('greeting')).toBe('hello');
    await cache.set('greeting', 'hello again', 60_000);
    expect(await cache.get('greeting')).toBe('hello again');
    await cache.delete('greeting');
    expect(await cache.get('greeting')).toBeUndefined();
    await expect(cache.delete('never set')).resolves.toBeUndefined();
  });

  it('keeps a value for its TTL and forgets it afterwards', async () => {
    await cache.set('short', 'soon gone', 100);
    await cache.set('long', 'stays', 60_000);
    expect(await cache.get('short')).toBe('soon gone');
    await advance(150);
    expect(await cache.get('short')).toBeUndefined();
    expect(await cache.get('long')).toBe('stays');
  });

  it('sets if absent only, and again once the first value expired', async () => {
    expect(await cache.setIfAbsent('nonce', 'first', 100)).toBe(true);
    expect(await cache.setIfAbsent('nonce', 'second', 100)).toBe(false);
    expect(await cache.get('nonce')).toBe('first');
    await advance(150);
    expect(await cache.setIfAbsent('nonce', 'third', 60_000)).toBe(true);
    expect(await cache.get('nonce')).toBe('third');
  });

  it('lets exactly one of many concurrent setIfAbsent calls win', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, index) => cache.setIfAbsent('race', `caller ${index}`, 60_000)));
    const winners = results.flatMap((won, index) => (won ? [index] : []));
    expect(winners).toHaveLength(1);
    expect(await cache.get('race')).toBe(`caller ${winners[0]}`);
  });

  it('allows a burst of the capacity, then refuses with a retry time', async () => {
    const taken = [];
    for (let take = 0; take < 6; take += 1) taken.push(await cache.takeToken('burst', slow_bucket));
    expect(taken.map((result) => result.allowed)).toEqual([true, true, true, true, true, false]);
    expect(taken.map((result) => result.remaining)).toEqual([4, 3, 2, 1, 0, 0]);
    expect(taken.slice(0, 5).every((result) => result.retry_after_ms === 0)).toBe(true);
    const refused = taken[5];
    expect(refused?.retry_after_ms).toBeGreaterThan(0);
    expect(refused?.retry_after_ms).toBeLessThanOrEqual(100_000);
    // Buckets are independent.
    expect((await cache.takeToken('another burst', slow_bucket)).allowed).toBe(true);
  });

  it('refills a token once retry_after_ms has passed', async () => {
    expect((await cache.takeToken('refill', fast_bucket)).allowed).toBe(true);
    expect((await cache.takeToken('refill', fast_bucket)).allowed).toBe(true);
    const refused = await cache.takeToken('refill', fast_bucket);
    expect(refused.allowed).toBe(false);
    expect(refused.retry_after_ms).toBeGreaterThan(0);
    expect(refused.retry_after_ms).toBeLessThanOrEqual(100);
    await advance(refused.retry_after_ms + 5);
    expect(await cache.takeToken('refill', fast_bucket)).toMatchObject({ allowed: true, retry_after_ms: 0 });
  });

  it('refills an idle bucket to its capacity and no further', async () => {
    for (let take = 0; take < 2; take += 1) await cache.takeToken('idle', fast_bucket);
    await advance(1_000);
    expect(await cache.takeToken('idle', fast_bucket)).toEqual({ allowed: true, remaining: 1, retry_after_ms: 0 });
    expect((await cache.takeToken('idle', fast_bucket)).allowed).toBe(true);
    expect((await cache.takeToken('idle', fast_bucket)).allowed).toBe(false);
  });

  it('never grants more than the capacity to concurrent takes', async () => {
    const bucket = { capacity: 10, refill_per_second: 0.01 };
    const results = await Promise.all(Array.from({ length: 40 }, () => cache.takeToken('crowd', bucket)));
    expect(results.filter((result) => result.allowed)).toHaveLength(10);
  });

  it('starts a deleted bucket full again', async () => {
    for (let take = 0; take < 5; take += 1) await cache.takeToken('reset', slow_bucket);
    expect((await cache.takeToken('reset', slow_bucket)).allowed).toBe(false);
    await cache.delete('reset');
    expect(await cache.takeToken('reset', slow_bucket)).toEqual({ allowed: true, remaining: 4, retry_after_ms: 0 });
  });

  it('refuses to read a bucket as a value or a value as a bucket', async () => {
    await cache.set('value', 'text', 60_000);
    await expect(cache.takeToken('value', slow_bucket)).rejects.toThrow();
    await cache.takeToken('bucket', slow_bucket);
    await expect(cache.get('bucket')).rejects.toThrow();
  });

  it('refuses arguments outside the limits', async () => {
    await expect(cache.get('')).rejects.toThrow('must not be empty');
    await expect(cache.set('key', 'value', 0)).rejects.toThrow('TTL must be positive');
    await expect(cache.set('key', 'value', 1.5)).rejects.toThrow('integer number of milliseconds');
    await expect(cache.takeToken('key', { capacity: 0, refill_per_second: 1 })).rejects.toThrow('at least one token');
  });
}
