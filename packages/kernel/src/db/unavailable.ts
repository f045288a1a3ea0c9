// Which errors mean "the database cannot be reached right now", as opposed to a query the
// database refused. While PostgreSQL restarts, every service sees the first kind: connections
// refused, sessions ended by the server, a server still replaying its WAL. A request that failed
// so is answered 503 `database_unavailable` (retry it, with the same Idempotency-Key), not 500
// `internal_error`, which says the code is wrong and is logged as such.

/**
 * SQLSTATEs of a server going away or not yet there: class 08 (connection exception), 57P01
 * admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up or shutting down),
 * 53300 too_many_connections.
 */
const unavailable_sqlstates = new Set(['57P01', '57P02', '57P03', '53300']);
const unavailable_sqlstate_class = '08';

/** Socket errors on the way to the server. */
const unavailable_socket_codes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * node-postgres and pg-pool report some of these without a code, only in words: a connection the
 * server closed, one that timed out opening, and a client whose connection already failed.
 */
const unavailable_driver_messages = [
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
];

/** Errors nested this deep at most are looked through (an AggregateError's, a cause's). */
const nesting_depth_max = 4;

/** Whether `error` says the database could not be reached, rather than that it refused a query. */
export function isDatabaseUnavailableError(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > nesting_depth_max) return false;
  const { code, message, cause, errors } = error as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (typeof code === 'string') {
    if (unavailable_sqlstates.has(code) || unavailable_socket_codes.has(code)) return true;
    if (code.length === 5 && code.startsWith(unavailable_sqlstate_class)) return true;
  }
  if (typeof message === 'string' && unavailable_driver_messages.some((words) => message.includes(words))) return true;
  // Node reports a refused connection to a name with several addresses as an AggregateError.
  if (Array.isArray(errors) && errors.some((inner) => isDatabaseUnavailableError(inner, depth + 1))) return true;
  return cause !== undefined && isDatabaseUnavailableError(cause, depth + 1);
}
