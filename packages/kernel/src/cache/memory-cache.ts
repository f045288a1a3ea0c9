// The embedded cache adapter: a bounded LRU in one process, with TTLs read from the injected
// clock so that tests can move time.
import { LRUCache } from 'lru-cache';
import { assert } from '../assert';
import { systemClock, type Clock } from '../clock';
import type { Cache, TokenBucket, TokenTaken } from './cache';
import { assertCacheKey, assertCacheTtl, assertTokenBucket } from './cache-limits';
import { takeFromBucket, type BucketLevel } from './token-bucket';

export const memory_cache_entries_max_default = 100_000;

export interface MemoryCacheOptions {
  readonly clock?: Clock;
  /** The most entries (values and buckets) held; the least recently used is evicted beyond it. */
  readonly entries_max?: number;
}

type Stored = { readonly kind: 'value'; readonly value: string } | { readonly kind: 'bucket'; readonly level: BucketLevel };

interface Entry {
  readonly stored: Stored;
  readonly expires_at_ms: number;
}

/** Runs synchronous work as a promise, so that a failed assertion rejects instead of throwing. */
function settle<T>(work: () => T): Promise<T> {
  return new Promise((resolve) => {
    resolve(work());
  });
}

export function createMemoryCache(options: MemoryCacheOptions = {}): Cache {
  const clock = options.clock ?? systemClock;
  const entries_max = options.entries_max ?? memory_cache_entries_max_default;
  assert(Number.isSafeInteger(entries_max) && entries_max >= 1, 'entries_max must be a positive integer');
  // lru-cache rather than a Map re-inserted on every use: evicting a Map's oldest entry leaves a
  // hole at its front that every later iteration steps over until the table is rebuilt, so a full
  // cache spent most of a request's time walking holes. Expiry stays ours, on the injected clock.
  const entries = new LRUCache<string, Entry>({ max: entries_max });

  function read(key: string): Stored | undefined {
    assertCacheKey(key);
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires_at_ms > clock.now()) return entry.stored;
    entries.delete(key);
    return undefined;
  }

  function write(key: string, stored: Stored, ttl_ms: number): void {
    assertCacheTtl(ttl_ms);
    entries.set(key, { stored, expires_at_ms: clock.now() + ttl_ms });
  }

  function readValue(key: string): string | undefined {
    const stored = read(key);
    if (stored === undefined) return undefined;
    // Redis answers WRONGTYPE here; a key holds either a value or a bucket, never both.
    assert(stored.kind === 'value', `Cache key '${key}' holds a token bucket, not a value`);
    return stored.value;
  }

  function readBucket(key: string): BucketLevel | undefined {
    const stored = read(key);
    if (stored === undefined) return undefined;
    assert(stored.kind === 'bucket', `Cache key '${key}' holds a value, not a token bucket`);
    return stored.level;
  }

  return {
    adapter: 'memory',
    get: (key) => settle(() => readValue(key)),
    set: (key, value, ttl_ms) =>
      settle(() => {
        assertCacheKey(key);
        write(key, { kind: 'value', value }, ttl_ms);
      }),
    setIfAbsent: (key, value, ttl_ms) =>
      settle(() => {
        if (read(key) !== undefined) return false;
        write(key, { kind: 'value', value }, ttl_ms);
        return true;
      }),
    delete: (key) =>
      settle(() => {
        assertCacheKey(key);
        entries.delete(key);
      }),
    takeToken: (key: string, bucket: TokenBucket): Promise<TokenTaken> =>
      settle(() => {
        assertTokenBucket(bucket);
        const take = takeFromBucket(readBucket(key), bucket, clock.now());
        write(key, { kind: 'bucket', level: take.level }, take.ttl_ms);
        return take.taken;
      }),
    ping: () => Promise.resolve(),
    close: () =>
      settle(() => {
        entries.clear();
      }),
  };
}
