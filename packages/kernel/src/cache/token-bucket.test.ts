import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock';
import type { TokenBucket, TokenTaken } from './cache';
import { createMemoryCache } from './memory-cache';

type Step = { readonly kind: 'advance'; readonly duration_ms: number } | { readonly kind: 'take' };

const step_arbitrary: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('advance' as const), duration_ms: fc.integer({ min: 0, max: 3_000 }) }),
  fc.constant({ kind: 'take' as const }),
);

/** The token bucket as the brief states it, in exact integer arithmetic (thousandths of a token). */
class ReferenceBucket {
  #milli_tokens: bigint;
  readonly #capacity: bigint;
  readonly #refill_per_second: bigint;

  constructor(bucket: TokenBucket) {
    this.#capacity = BigInt(bucket.capacity) * 1_000n;
    this.#refill_per_second = BigInt(bucket.refill_per_second);
    this.#milli_tokens = this.#capacity;
  }

  advance(duration_ms: number): void {
    // Each millisecond adds refill_per_second thousandths of a token.
    const refilled = this.#milli_tokens + BigInt(duration_ms) * this.#refill_per_second;
    this.#milli_tokens = refilled < this.#capacity ? refilled : this.#capacity;
  }

  take(): TokenTaken {
    if (this.#milli_tokens >= 1_000n) {
      this.#milli_tokens -= 1_000n;
      return { allowed: true, remaining: Number(this.#milli_tokens / 1_000n), retry_after_ms: 0 };
    }
    const missing = 1_000n - this.#milli_tokens;
    const retry_after_ms = (missing + this.#refill_per_second - 1n) / this.#refill_per_second;
    return { allowed: false, remaining: 0, retry_after_ms: Number(retry_after_ms) };
  }
}

describe('memory token bucket', () => {
  it('matches the reference model over random sequences of waits and takes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(step_arbitrary, { maxLength: 60 }),
        async (capacity, refill_per_second, steps) => {
          const bucket = { capacity, refill_per_second };
          const clock = new ManualClock();
          const cache = createMemoryCache({ clock });
          const reference = new ReferenceBucket(bucket);
          for (const step of steps) {
            if (step.kind === 'advance') {
              clock.advance(step.duration_ms);
              reference.advance(step.duration_ms);
            } else {
              expect(await cache.takeToken('bucket', bucket)).toEqual(reference.take());
            }
          }
        },
      ),
    );
  });

  it('refuses until exactly retry_after_ms has passed, at any rate', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 20 }),
        fc.double({ min: 0.01, max: 100, noNaN: true }),
        fc.array(fc.integer({ min: 0, max: 2_000 }), { maxLength: 20 }),
        async (capacity, refill_per_second, waits_ms) => {
          const bucket = { capacity, refill_per_second };
          const clock = new ManualClock();
          const cache = createMemoryCache({ clock });
          let granted = 0;
          let waited_ms = 0;
          for (const wait_ms of waits_ms) {
            clock.advance(wait_ms);
            waited_ms += wait_ms;
            let taken = await cache.takeToken('bucket', bucket);
            while (taken.allowed) {
              granted += 1;
              taken = await cache.takeToken('bucket', bucket);
            }
            expect(taken.retry_after_ms).toBeGreaterThan(0);
            if (taken.retry_after_ms > 1) {
              clock.advance(taken.retry_after_ms - 1);
              waited_ms += taken.retry_after_ms - 1;
              expect((await cache.takeToken('bucket', bucket)).allowed).toBe(false);
              clock.advance(1);
              waited_ms += 1;
            } else {
              clock.advance(taken.retry_after_ms);
              waited_ms += taken.retry_after_ms;
            }
            expect((await cache.takeToken('bucket', bucket)).allowed).toBe(true);
            granted += 1;
          }
          // Never more than the burst plus what the elapsed time refilled.
          expect(granted).toBeLessThanOrEqual(capacity + Math.floor((waited_ms * refill_per_second) / 1_000 + 1e-9));
        },
      ),
    );
  });
});
