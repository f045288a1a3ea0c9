// Every call to a provider has a deadline. The call gets an AbortSignal that fires at the
// deadline, and the caller also stops waiting then even if the callee ignores the signal, so a
// provider that never answers can never hold a payment step for longer than its timeout.
import { assert } from '@paygrid/kernel';

export type DeadlineResult<Value> =
  | { readonly ok: true; readonly value: Value }
  /** `timeout`: no answer by the deadline; `failure`: the call threw (connection lost, bad answer). */
  | { readonly ok: false; readonly kind: 'timeout' | 'failure'; readonly message: string };

export async function callWithDeadline<Value>(
  timeout_ms: number,
  call: (signal: AbortSignal) => Promise<Value>,
): Promise<DeadlineResult<Value>> {
  assert(Number.isSafeInteger(timeout_ms) && timeout_ms > 0, 'callWithDeadline: timeout_ms must be a positive integer');
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new DOMException(`no answer within ${timeout_ms} ms`, 'TimeoutError'));
      resolve('timeout');
    }, timeout_ms);
  });
  const attempt = call(controller.signal).then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  try {
    const first = await Promise.race([attempt, deadline]);
    if (first === 'timeout') return { ok: false, kind: 'timeout', message: `no answer within ${timeout_ms} ms` };
    if (first.ok) return first;
    if (controller.signal.aborted || isAbortError(first.error)) {
      return { ok: false, kind: 'timeout', message: `no answer within ${timeout_ms} ms` };
    }
    return { ok: false, kind: 'failure', message: describeError(first.error) };
  } finally {
    clearTimeout(timer);
  }
}

function isAbortError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
}

/** A short description of a failure, with the cause of fetch's generic "fetch failed". */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return 'the call failed';
  const cause: unknown = error.cause;
  if (cause instanceof Error && cause.message !== '') return `${error.message}: ${cause.message}`;
  return error.message;
}
