import type { FastifyRequest } from 'fastify';
import secureJsonParse from 'secure-json-parse';
import { ApiError } from '../errors';
import { findNonIntegerNumber, type NumberLiteralProblem } from './json-numbers';

/** JSON is UTF-8 (RFC 8259); a body declared in another charset would be misread. */
const charset_pattern = /;\s*charset\s*=\s*"?([^";\s]*)"?/i;
const utf8_charsets = new Set(['utf-8', 'utf8']);
/** The longest number literal quoted back in an error message. */
const quoted_literal_length_max = 40;

function refuseUnsupportedCharset(contentType: string | undefined): void {
  const charset = charset_pattern.exec(contentType ?? '')?.[1]?.toLowerCase();
  if (charset !== undefined && !utf8_charsets.has(charset)) {
    throw new ApiError('unsupported_media_type_error', 'charset_unsupported', `JSON request bodies must be UTF-8 (got charset "${charset}")`);
  }
}

function numberProblemError(problem: NumberLiteralProblem): ApiError {
  const literal = problem.literal.length > quoted_literal_length_max ? `${problem.literal.slice(0, quoted_literal_length_max)}...` : problem.literal;
  if (problem.kind === 'not_integer') {
    return new ApiError(
      'invalid_request_error',
      'number_not_integer',
      `The request body has the number ${literal} at offset ${problem.offset}; numbers must be integers (amounts are in minor units)`,
    );
  }
  return new ApiError(
    'invalid_request_error',
    'number_out_of_range',
    `The request body has the number ${literal} at offset ${problem.offset}; integers must be from -9007199254740991 to 9007199254740991, so send larger values as strings`,
  );
}

/**
 * Parses a JSON request body. Throws an ApiError for a body that is not JSON, that carries
 * `__proto__` or `constructor.prototype` keys (prototype poisoning), or that has a number
 * literal that is not a safe integer. An empty body reads as undefined.
 */
export function parseJsonBody(contentType: string | undefined, body: string): unknown {
  refuseUnsupportedCharset(contentType);
  if (body.length === 0) return undefined;
  let value: unknown;
  try {
    value = secureJsonParse(body, null, { protoAction: 'error', constructorAction: 'error' });
  } catch (error) {
    if (error instanceof SyntaxError && error.message.includes('forbidden prototype property')) {
      throw new ApiError('invalid_request_error', 'json_forbidden_key', 'The request body must not contain "__proto__" or "constructor" keys');
    }
    throw new ApiError('invalid_request_error', 'invalid_json', 'The request body is not valid JSON');
  }
  const problem = findNonIntegerNumber(body);
  if (problem !== undefined) throw numberProblemError(problem);
  return value;
}

const raw_bodies = new WeakMap<FastifyRequest, string>();

/**
 * The request body exactly as received (decoded as UTF-8), for checks that must see the bytes
 * the client signed or hashed rather than the parsed value. Undefined for requests without one.
 */
export function rawBodyOf(request: FastifyRequest): string | undefined {
  return raw_bodies.get(request);
}

/** The Fastify content-type parser for `application/json` (registered with `parseAs: 'string'`). */
export function jsonContentTypeParser(
  request: FastifyRequest,
  body: string | Buffer,
  done: (error: Error | null, body?: unknown) => void,
): void {
  let parsed: unknown;
  const text = typeof body === 'string' ? body : body.toString('utf8');
  raw_bodies.set(request, text);
  try {
    parsed = parseJsonBody(request.headers['content-type'], text);
  } catch (error) {
    done(error instanceof Error ? error : new Error(String(error)));
    return;
  }
  done(null, parsed);
}
