// The limits every cache adapter enforces on its arguments. Breaking one is a programmer error
// (keys, TTLs and bucket shapes come from code, not from clients), so they are assertions.
import { assert } from '../assert';
import type { TokenBucket } from './cache';

/** Long enough for a namespaced idempotency key (Stripe allows 255 characters) plus a merchant id. */
export const cache_key_length_max = 1_024;
/** Thirty days: anything meant to live longer belongs in a database. */
export const cache_ttl_ms_max = 30 * 24 * 60 * 60 * 1_000;
export const token_bucket_capacity_max = 1_000_000;
export const token_bucket_refill_per_second_max = 1_000_000;

export function assertCacheKey(key: string): void {
  assert(key.length > 0, 'A cache key must not be empty');
  assert(key.length <= cache_key_length_max, `A cache key must be at most ${cache_key_length_max} characters`);
}

export function assertCacheTtl(ttl_ms: number): void {
  assert(Number.isSafeInteger(ttl_ms), 'A cache TTL must be an integer number of milliseconds');
  assert(ttl_ms > 0, 'A cache TTL must be positive');
  assert(ttl_ms <= cache_ttl_ms_max, `A cache TTL must be at most ${cache_ttl_ms_max} ms`);
}

export function assertTokenBucket(bucket: TokenBucket): void {
  assert(Number.isSafeInteger(bucket.capacity), 'A token bucket capacity must be an integer');
  assert(bucket.capacity >= 1, 'A token bucket must hold at least one token');
  assert(bucket.capacity <= token_bucket_capacity_max, `A token bucket capacity must be at most ${token_bucket_capacity_max}`);
  assert(Number.isFinite(bucket.refill_per_second), 'A token bucket refill rate must be a finite number');
  assert(bucket.refill_per_second > 0, 'A token bucket must refill');
  assert(bucket.refill_per_second <= token_bucket_refill_per_second_max, `A token bucket refill rate must be at most ${token_bucket_refill_per_second_max} per second`);
  // A bucket is dropped once full; one that takes longer than the longest TTL to refill is a mistake.
  const refill_ms = Math.ceil((bucket.capacity * 1_000) / bucket.refill_per_second);
  assert(refill_ms <= cache_ttl_ms_max, `A token bucket must refill fully within ${cache_ttl_ms_max} ms`);
}
