// When and how long the SDK waits before trying a request again.
//
// Retrying is safe for every call the SDK makes: GETs change nothing, and every POST and PATCH
// carries one Idempotency-Key for all its attempts, so the server applies it at most once.
// Backoff is exponential with full jitter (a uniformly random delay between zero and the
// exponential ceiling), which spreads the retries of many clients after a shared outage.

export const retry_delay_base_ms = 500;
export const retry_delay_max_ms = 8_000;

export const max_retries_default = 2;
/** The most retries a client may be configured with; more only prolongs an outage. */
export const max_retries_limit = 10;

export const timeout_ms_default = 30_000;
export const timeout_ms_max = 10 * 60_000;

/**
 * A Retry-After longer than this is not waited out: the call fails with the server's error (a
 * RateLimitError carries retry_after_seconds) so the caller decides, instead of the SDK sleeping
 * silently for minutes.
 */
export const retry_after_seconds_max = 60;

/** The delay before retry number `retry_index` (0 for the first retry). */
export function backoffDelayMilliseconds(retry_index: number, random: () => number): number {
  const ceiling_ms = Math.min(retry_delay_max_ms, retry_delay_base_ms * 2 ** retry_index);
  // Clamp so an injected random source outside [0, 1) cannot exceed the ceiling or go negative.
  const fraction = Math.min(Math.max(random(), 0), 1);
  return Math.floor(fraction * ceiling_ms);
}

const delay_seconds_pattern = /^[0-9]{1,10}$/;

// IMF-fixdate, the form servers must send (e.g. 'Sun, 06 Nov 1994 08:49:37 GMT'). Date.parse
// alone would also read '-5' or '1.5' as dates in some year, so the shape is checked first.
const http_date_pattern = /^[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/;

/**
 * Retry-After is either delay-seconds or an HTTP-date (RFC 9110 section 10.2.3). Returns whole
 * seconds from now, or undefined when the header is absent or unreadable.
 */
export function parseRetryAfterSeconds(value: string | null | undefined, now_seconds: number): number | undefined {
  if (value === null || value === undefined) {
    return undefined;
  }
  const trimmed = value.trim();
  if (delay_seconds_pattern.test(trimmed)) {
    return Number(trimmed);
  }
  if (!http_date_pattern.test(trimmed)) {
    return undefined;
  }
  const date_ms = Date.parse(trimmed);
  if (Number.isNaN(date_ms)) {
    return undefined;
  }
  return Math.max(0, Math.ceil(date_ms / 1000 - now_seconds));
}

/**
 * Responses worth another attempt: the same idempotency key still running elsewhere, rate limits,
 * and server-side failures. Every other 4xx will fail the same way again.
 */
export function isRetryableResponse(status: number, code: string): boolean {
  if (status === 409) {
    return code === 'idempotency_key_in_use';
  }
  return status === 429 || status >= 500;
}
