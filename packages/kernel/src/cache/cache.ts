// The cache port: short-lived shared state for the gateway (idempotency keys, signature nonces,
// rate-limit buckets). In one process it is an in-memory LRU; with REDIS_URL it is Redis, so
// that several gateway replicas see the same keys. Values are strings; every entry has a TTL.

export interface TokenBucket {
  /** The most tokens the bucket holds: the burst a client may send at once. */
  readonly capacity: number;
  /** Tokens added per second, up to the capacity. */
  readonly refill_per_second: number;
}

export interface TokenTaken {
  readonly allowed: boolean;
  /** Whole tokens left after this take. */
  readonly remaining: number;
  /** When refused: milliseconds until one token is back. 0 when allowed. */
  readonly retry_after_ms: number;
}

export interface Cache {
  readonly adapter: 'memory' | 'redis';
  get(key: string): Promise<string | undefined>;
  /** Sets the value, replacing any, for ttl_ms milliseconds. */
  set(key: string, value: string, ttl_ms: number): Promise<void>;
  /** Sets the value only when the key is absent; true when this call set it. Atomic across replicas. */
  setIfAbsent(key: string, value: string, ttl_ms: number): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** Takes one token from the bucket at `key`, atomically; a bucket starts full. */
  takeToken(key: string, bucket: TokenBucket): Promise<TokenTaken>;
  /** Resolves when the backing store answers (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
