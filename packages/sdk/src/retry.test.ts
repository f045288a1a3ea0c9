import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelayMilliseconds, isRetryableResponse, parseRetryAfterSeconds, retry_delay_base_ms, retry_delay_max_ms } from './retry';

describe('backoffDelayMilliseconds', () => {
  it('doubles the ceiling from 0.5 s and caps it at 8 s', () => {
    expect(retry_delay_base_ms).toBe(500);
    expect(retry_delay_max_ms).toBe(8_000);
    const ceilings = [0, 1, 2, 3, 4, 5, 6, 30].map((retry_index) => backoffDelayMilliseconds(retry_index, () => 1));
    expect(ceilings).toEqual([500, 1000, 2000, 4000, 8000, 8000, 8000, 8000]);
  });

  it('draws uniformly below the ceiling (full jitter)', () => {
    expect(backoffDelayMilliseconds(0, () => 0)).toBe(0);
    expect(backoffDelayMilliseconds(2, () => 0.25)).toBe(500);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 60 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (retry_index, fraction) => {
        const delay = backoffDelayMilliseconds(retry_index, () => fraction);
        expect(Number.isInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(Math.min(retry_delay_max_ms, retry_delay_base_ms * 2 ** retry_index));
      }),
    );
  });

  it('clamps a random source outside [0, 1]', () => {
    expect(backoffDelayMilliseconds(0, () => -3)).toBe(0);
    expect(backoffDelayMilliseconds(0, () => 7)).toBe(500);
  });
});

describe('parseRetryAfterSeconds', () => {
  const now = 1_700_000_000;

  it('reads delay-seconds', () => {
    expect(parseRetryAfterSeconds('0', now)).toBe(0);
    expect(parseRetryAfterSeconds(' 12 ', now)).toBe(12);
  });

  it('reads an HTTP-date relative to now, never negative', () => {
    expect(parseRetryAfterSeconds(new Date((now + 30) * 1000).toUTCString(), now)).toBe(30);
    expect(parseRetryAfterSeconds(new Date((now - 30) * 1000).toUTCString(), now)).toBe(0);
  });

  it('ignores a missing or unreadable header', () => {
    expect(parseRetryAfterSeconds(null, now)).toBeUndefined();
    expect(parseRetryAfterSeconds(undefined, now)).toBeUndefined();
    expect(parseRetryAfterSeconds('soon', now)).toBeUndefined();
    expect(parseRetryAfterSeconds('-5', now)).toBeUndefined();
    expect(parseRetryAfterSeconds('1.5', now)).toBeUndefined();
  });
});

describe('isRetryableResponse', () => {
  it('retries 409 idempotency_key_in_use, 429 and 5xx only', () => {
    expect(isRetryableResponse(409, 'idempotency_key_in_use')).toBe(true);
    expect(isRetryableResponse(409, 'idempotency_key_reused')).toBe(false);
    expect(isRetryableResponse(429, 'rate_limited')).toBe(true);
    for (const status of [500, 502, 503, 504]) {
      expect(isRetryableResponse(status, 'any')).toBe(true);
    }
    for (const status of [400, 401, 403, 404, 413, 415, 422]) {
      expect(isRetryableResponse(status, 'idempotency_key_in_use')).toBe(false);
    }
  });
});
