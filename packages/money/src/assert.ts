// Programmer errors are thrown, never returned: a caller that mixes currencies or splits money by
// a negative ratio has a bug, and carrying on would put wrong amounts on the books.
export class MoneyAssertionError extends Error {
  override name = 'MoneyAssertionError';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new MoneyAssertionError(message);
}
