import type { FastifySchemaValidationError } from 'fastify';
import { ApiError } from '../errors';

/** The part of a request a schema validated, as Fastify names it. */
export type RequestPart = 'body' | 'querystring' | 'params' | 'headers';

const identifier_pattern = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const index_pattern = /^(0|[1-9][0-9]*)$/;

/** Appends one path segment in the style of `transfers[3].amount`. */
function appendSegment(path: string, segment: string): string {
  if (index_pattern.test(segment)) return `${path}[${segment}]`;
  if (identifier_pattern.test(segment)) return path === '' ? segment : `${path}.${segment}`;
  return `${path}[${JSON.stringify(segment)}]`;
}

/** Turns a JSON pointer such as `/transfers/3/amount` into `transfers[3].amount`. */
export function pointerToParam(pointer: string): string {
  if (pointer === '') return '';
  let path = '';
  for (const encoded of pointer.slice(1).split('/')) {
    path = appendSegment(path, encoded.replaceAll('~1', '/').replaceAll('~0', '~'));
  }
  return path;
}

const part_names: Record<RequestPart, string> = {
  body: 'The request body',
  querystring: 'The query string',
  params: 'The URL path',
  headers: 'The request headers',
};

function stringParam(error: FastifySchemaValidationError, name: string): string | undefined {
  const value = error.params[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Maps the first schema validation error to `parameter_invalid` with `param` set to the
 * offending field's path. Ajv stops at the first error (allErrors is off, which keeps
 * validation cheap for hostile input).
 */
export function validationApiError(errors: readonly FastifySchemaValidationError[], part: RequestPart | undefined): ApiError {
  const error = errors[0];
  const part_name = part_names[part ?? 'body'];
  if (error === undefined) return new ApiError('invalid_request_error', 'parameter_invalid', `${part_name} is invalid`);
  let param = pointerToParam(error.instancePath);
  let sentence: string;
  const missing = stringParam(error, 'missingProperty');
  const additional = stringParam(error, 'additionalProperty');
  if (error.keyword === 'required' && missing !== undefined) {
    param = appendSegment(param, missing);
    sentence = 'is required';
  } else if (error.keyword === 'additionalProperties' && additional !== undefined) {
    param = appendSegment(param, additional);
    sentence = 'is not a known parameter';
  } else if (error.keyword === 'enum' && Array.isArray(error.params['allowedValues'])) {
    sentence = `must be one of ${error.params['allowedValues'].map((value) => JSON.stringify(value)).join(', ')}`;
  } else {
    sentence = error.message ?? 'is invalid';
  }
  if (param === '') return new ApiError('invalid_request_error', 'parameter_invalid', `${part_name} ${sentence}`);
  return new ApiError('invalid_request_error', 'parameter_invalid', `${param} ${sentence}`, param);
}
