// Programmer errors end the process: the ledger never carries on with state it cannot trust.
export class LedgerAssertionError extends Error {
  override name = 'LedgerAssertionError';
}

export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new LedgerAssertionError(message);
}
