// The token bucket arithmetic of the memory adapter. The Redis adapter runs the same steps in Lua
// (redis-cache.ts); the two must stay line-for-line equivalent.
//
// The level is counted in thousandths of a token. A bucket refills refill_per_second thousandths
// per millisecond, so with a whole-number rate and an integer clock every level is an integer and
// floating point stays exact: a client is never refused at the very millisecond its token is due.
import type { TokenBucket, TokenTaken } from './cache';

export const milli_tokens_per_token = 1_000;

export interface BucketLevel {
  readonly milli_tokens: number;
  /** The clock reading the level was computed at. */
  readonly updated_ms: number;
}

export interface BucketTake {
  readonly level: BucketLevel;
  readonly taken: TokenTaken;
  /** Time until the bucket is full again; after that it equals a fresh bucket and may be dropped. */
  readonly ttl_ms: number;
}

/** Refills the bucket up to now (a missing bucket is full) and takes one token when there is one. */
export function takeFromBucket(previous: BucketLevel | undefined, bucket: TokenBucket, now_ms: number): BucketTake {
  const capacity = bucket.capacity * milli_tokens_per_token;
  const start = previous ?? { milli_tokens: capacity, updated_ms: now_ms };
  // A clock that steps backwards (a host resynchronising) must neither refill nor drain the bucket.
  const elapsed_ms = Math.max(0, now_ms - start.updated_ms);
  const available = Math.min(capacity, start.milli_tokens + elapsed_ms * bucket.refill_per_second);
  const allowed = available >= milli_tokens_per_token;
  const milli_tokens = allowed ? available - milli_tokens_per_token : available;
  return {
    level: { milli_tokens, updated_ms: Math.max(start.updated_ms, now_ms) },
    taken: {
      allowed,
      remaining: Math.floor(milli_tokens / milli_tokens_per_token),
      retry_after_ms: allowed ? 0 : Math.ceil((milli_tokens_per_token - milli_tokens) / bucket.refill_per_second),
    },
    ttl_ms: Math.max(1, Math.ceil((capacity - milli_tokens) / bucket.refill_per_second)),
  };
}
