import type { FastifyRequest } from 'fastify';
import secureJsonParse from 'secure-json-parse';
import { ApiError } from '../errors';
import { isStructuralLimit, scanJsonText, type JsonLimits, type JsonTextProblem } from './json-text-scan';

/** JSON is UTF-8 (RFC 8259); a body declared in another charset would be misread. */
const charset_pattern = /;\s*charset\s*=\s*"?([^";\s]*)"?/i;
const utf8_charsets = new Set(['utf-8', 'utf8']);
/** The longest number literal or key path quoted back in an error message. */
const quoted_literal_length_max = 40;

/**
 * What a request body may hold, sized for a payment API (docs/api.md, "Request bodies"). The
 * deepest body Paygrid takes today is 4 levels (a ledger batch's transfers' flags), the widest
 * object about 15 keys (a ledger transfer), and the most keys in one public body about 300 (an
 * order's 100 line items). Routes that take more keys say so in their config (`json_keys_max`).
 */
export const json_depth_max = 10;
export const json_object_keys_max = 100;
export const json_keys_max = 1_000;

export const json_limits_default: JsonLimits = { depth_max: json_depth_max, object_keys_max: json_object_keys_max, keys_max: json_keys_max };

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Keys this route takes in one body, every object counted, instead of `json_keys_max`: a
     * batch route whose bodies hold thousands of small objects. Depth and keys per object keep
     * their limits everywhere.
     */
    json_keys_max?: number;
  }
}

function refuseUnsupportedCharset(contentType: string | undefined): void {
  const charset = charset_pattern.exec(contentType ?? '')?.[1]?.toLowerCase();
  if (charset !== undefined && !utf8_charsets.has(charset)) {
    throw new ApiError('unsupported_media_type_error', 'charset_unsupported', `JSON request bodies must be UTF-8 (got charset "${charset}")`);
  }
}

function quoted(text: string): string {
  return text.length > quoted_literal_length_max ? `${text.slice(0, quoted_literal_length_max)}...` : text;
}

function problemError(problem: JsonTextProblem, limits: JsonLimits): ApiError {
  switch (problem.kind) {
    case 'not_integer':
      return new ApiError(
        'invalid_request_error',
        'number_not_integer',
        `The request body has the number ${quoted(problem.literal)} at offset ${problem.offset}; numbers must be integers (amounts are in minor units)`,
      );
    case 'unsafe_integer':
      return new ApiError(
        'invalid_request_error',
        'number_out_of_range',
        `The request body has the number ${quoted(problem.literal)} at offset ${problem.offset}; integers must be from -9007199254740991 to 9007199254740991, so send larger values as strings`,
      );
    case 'too_deep':
      return new ApiError(
        'invalid_request_error',
        'json_too_deep',
        `The request body nests objects and arrays more than ${limits.depth_max} deep (at offset ${problem.offset})`,
      );
    case 'object_too_many_keys':
      return new ApiError('invalid_request_error', 'json_object_too_many_keys', `An object in the request body has more than ${limits.object_keys_max} keys (at ${quoted(problem.path)})`, quoted(problem.path));
    case 'too_many_keys':
      return new ApiError('invalid_request_error', 'json_too_many_keys', `The request body has more than ${limits.keys_max} keys in all (at ${quoted(problem.path)})`, quoted(problem.path));
    case 'duplicate_key':
      return new ApiError('invalid_request_error', 'json_duplicate_key', `The request body has the key ${quoted(problem.path)} more than once`, quoted(problem.path));
  }
}

/**
 * Parses a JSON request body. Throws an ApiError for a body that is not JSON, that carries
 * `__proto__` or `constructor.prototype` keys (prototype poisoning), that has a number literal
 * that is not a safe integer or a key twice in one object, or that goes over `limits`. An empty
 * body reads as undefined.
 */
export function parseJsonBody(contentType: string | undefined, body: string, limits: JsonLimits = json_limits_default): unknown {
  refuseUnsupportedCharset(contentType);
  if (body.length === 0) return undefined;
  // The scan comes first so that a body nested a million deep costs microseconds, not a parse.
  // Its other findings wait for the parse: a body that is not JSON is told so first.
  const problem = scanJsonText(body, limits);
  if (problem !== undefined && isStructuralLimit(problem)) throw problemError(problem, limits);
  let value: unknown;
  try {
    value = secureJsonParse(body, null, { protoAction: 'error', constructorAction: 'error' });
  } catch (error) {
    if (error instanceof SyntaxError && error.message.includes('forbidden prototype property')) {
      throw new ApiError('invalid_request_error', 'json_forbidden_key', 'The request body must not contain "__proto__" or "constructor" keys');
    }
    throw new ApiError('invalid_request_error', 'invalid_json', 'The request body is not valid JSON');
  }
  if (problem !== undefined) throw problemError(problem, limits);
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
    const keys_max = request.routeOptions.config.json_keys_max;
    parsed = parseJsonBody(request.headers['content-type'], text, keys_max === undefined ? json_limits_default : { ...json_limits_default, keys_max });
  } catch (error) {
    done(error instanceof Error ? error : new Error(String(error)));
    return;
  }
  done(null, parsed);
}
