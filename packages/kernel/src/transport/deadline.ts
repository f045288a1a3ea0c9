// The deadline of the work in progress, carried across async calls with AsyncLocalStorage so that
// a call one service makes while serving a request gets only the time that request has left. It
// travels between services as the header `paygrid-deadline-ms`: the milliseconds remaining when
// the call was sent, not an absolute time, so that the clocks of caller and callee never need to
// agree (the time on the wire is lost, which only makes the callee give up a little later).
import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';

/** The header that carries the milliseconds left to the callee. */
export const deadline_header = 'paygrid-deadline-ms';

interface DeadlineContext {
  /** On the monotonic clock (performance.now()), so that a change of wall-clock time is harmless. */
  readonly expires_at_ms: number;
}

const deadline_storage = new AsyncLocalStorage<DeadlineContext>();

/**
 * Runs `fn` with a deadline `timeout_ms` from now. An outer deadline that expires sooner still
 * wins: a callee can never be given more time than its caller has.
 */
export function runWithDeadline<T>(timeout_ms: number, fn: () => T): T {
  const expires_at_ms = performance.now() + Math.max(0, timeout_ms);
  const outer = deadline_storage.getStore();
  const expires = outer === undefined ? expires_at_ms : Math.min(outer.expires_at_ms, expires_at_ms);
  return deadline_storage.run({ expires_at_ms: expires }, fn);
}

/** Milliseconds left before the current deadline (0 once passed), or undefined outside one. */
export function remainingDeadlineMs(): number | undefined {
  const context = deadline_storage.getStore();
  if (context === undefined) return undefined;
  return Math.max(0, context.expires_at_ms - performance.now());
}

/**
 * Reads an incoming `paygrid-deadline-ms` header: the milliseconds left, at most `timeout_ms_max`,
 * or undefined when absent or not a non-negative integer (a malformed header is ignored rather
 * than refused, so that a caller's mistake costs it its deadline, not the request).
 */
export function parseDeadlineHeader(value: string | string[] | undefined, timeout_ms_max: number): number | undefined {
  if (typeof value !== 'string' || !/^[0-9]{1,15}$/.test(value)) return undefined;
  return Math.min(Number(value), timeout_ms_max);
}
