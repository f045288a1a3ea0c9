// Programmer errors are thrown, never returned: a writer whose counts disagree with its own lines
// has a bug, and sending its file would move wrong amounts.
export class Iso20022AssertionError extends Error {
  override name = 'Iso20022AssertionError';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Iso20022AssertionError(message);
}
