// Assertions are for programmer errors only. An expected failure (bad input, a broken
// business rule) is a value or an ApiError; a failed assertion means the code is wrong, so
// nothing may catch it and carry on. The HTTP error handler answers it with a generic 500 and
// logs it at fatal level, and the process host decides whether to exit.

export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

export function assert(condition: unknown, message?: string): asserts condition {
  if (!condition) {
    throw new AssertionError(message ?? 'Assertion failed');
  }
}

export function isAssertionError(error: unknown): boolean {
  // Node's own `assert` module throws errors of the same name; they are bugs just the same.
  return error instanceof Error && error.name === 'AssertionError';
}
