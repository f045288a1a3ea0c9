import type { FastifySchemaValidationError } from 'fastify';
import { isAssertionError } from '../assert';
import { isDatabaseUnavailableError } from '../db/unavailable';
import { ApiError, errorStatusByType, errorTypes } from '../errors';
import { validationApiError, type RequestPart } from './validation-errors';

export type ErrorSeverity = 'expected' | 'unavailable' | 'internal' | 'bug';

export interface MappedError {
  readonly apiError: ApiError;
  /**
   * `expected`: the client's fault. `unavailable`: an ApiError of ours with a 5xx status, such as
   * a dependency being down. `internal`: an unexpected error. `bug`: a failed assertion.
   */
  readonly severity: ErrorSeverity;
}

interface FrameworkError {
  readonly code?: unknown;
  readonly statusCode?: unknown;
  readonly message?: unknown;
  readonly validation?: FastifySchemaValidationError[];
  readonly validationContext?: RequestPart;
}

function internalError(request_id: string, severity: ErrorSeverity): MappedError {
  return {
    apiError: new ApiError('api_error', 'internal_error', `An unexpected error occurred; it has been logged under request id ${request_id}`),
    severity,
  };
}

/** Maps Fastify's own client errors (body parsing, URLs) to the one wire shape. */
function frameworkClientError(error: FrameworkError, body_limit_bytes: number): ApiError | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('request_too_large_error', 'body_too_large', `The request body must be at most ${body_limit_bytes} bytes`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('unsupported_media_type_error', 'content_type_unsupported', 'Request bodies must be sent as application/json');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError('invalid_request_error', 'content_length_invalid', 'The Content-Length header does not match the request body');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError('invalid_request_error', 'invalid_json', 'The request body is not valid JSON');
    case 'FST_ERR_BAD_URL':
      return new ApiError('invalid_request_error', 'url_invalid', 'The request URL is malformed');
    default:
      break;
  }
  // Other framework errors with a client status keep their (client-facing) message, under the
  // error type of that status.
  const status = error.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500 && typeof error.message === 'string') {
    const type = errorTypes.find((candidate) => errorStatusByType[candidate] === status) ?? 'invalid_request_error';
    return new ApiError(type, 'request_invalid', error.message);
  }
  return undefined;
}

/**
 * Maps anything thrown while handling a request to an ApiError. Only an ApiError, a schema
 * validation error or a framework client error becomes a 4xx; a database that cannot be reached
 * is a 503 the client may retry; everything else is a generic 500 that names the request id and
 * leaks nothing.
 */
export function mapError(error: unknown, context: { readonly request_id: string; readonly body_limit_bytes: number }): MappedError {
  if (error instanceof ApiError) return { apiError: error, severity: error.statusCode >= 500 ? 'unavailable' : 'expected' };
  if (isAssertionError(error)) return internalError(context.request_id, 'bug');
  if (typeof error !== 'object' || error === null) return internalError(context.request_id, 'internal');
  const framework_error = error as FrameworkError;
  if (Array.isArray(framework_error.validation)) {
    return { apiError: validationApiError(framework_error.validation, framework_error.validationContext), severity: 'expected' };
  }
  const client_error = frameworkClientError(framework_error, context.body_limit_bytes);
  if (client_error !== undefined) return { apiError: client_error, severity: 'expected' };
  if (isDatabaseUnavailableError(error)) {
    return { apiError: new ApiError('service_unavailable_error', 'database_unavailable', 'The database cannot be reached right now; retry the request'), severity: 'unavailable' };
  }
  return internalError(context.request_id, 'internal');
}
