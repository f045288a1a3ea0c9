// Errors the SDK throws. The server answers every failure with one shape,
// `{ error: { type, code, message, param? } }`, where `type` comes from a closed set with one
// HTTP status each; the SDK turns each type into its own class so callers can branch with
// `instanceof`. ConnectionError covers the case where no response arrived at all.
//
// The SDK depends only on Node built-ins, so the type-to-status table is repeated here rather
// than imported from @paygrid/kernel. client.test.ts pins its values, and a test on the server
// side can compare it with the kernel's errorStatusByType.

export const error_status_by_type = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  idempotency_error: 409,
  request_too_large_error: 413,
  unsupported_media_type_error: 415,
  rate_limit_error: 429,
  api_error: 500,
  service_unavailable_error: 503,
} as const satisfies Record<string, number>;

export type ApiErrorType = keyof typeof error_status_by_type;

/** Server error types plus `connection_error`, which the SDK raises when no response arrived. */
export type PaygridErrorType = ApiErrorType | 'connection_error';

export type ConnectionErrorCode = 'timeout' | 'network_error';

export interface PaygridErrorFields {
  readonly type: PaygridErrorType;
  readonly code: string;
  readonly message: string;
  readonly param?: string | undefined;
  readonly status?: number | undefined;
  readonly request_id?: string | undefined;
  /** The response body: the parsed JSON when it parsed, else the text. */
  readonly raw?: unknown;
}

export class PaygridError extends Error {
  override name = 'PaygridError';
  readonly type: PaygridErrorType;
  readonly code: string;
  /** The request field at fault, as a path such as `bank_account.routing_number`. */
  readonly param: string | undefined;
  /** HTTP status; undefined when no response arrived. */
  readonly status: number | undefined;
  /** The `Request-Id` response header, to quote when asking for support. */
  readonly request_id: string | undefined;
  readonly raw: unknown;

  constructor(fields: PaygridErrorFields, options?: ErrorOptions) {
    super(fields.message, options);
    this.type = fields.type;
    this.code = fields.code;
    this.param = fields.param;
    this.status = fields.status;
    this.request_id = fields.request_id;
    this.raw = fields.raw;
  }
}

export class InvalidRequestError extends PaygridError {
  override name = 'InvalidRequestError';
}

export class AuthenticationError extends PaygridError {
  override name = 'AuthenticationError';
}

export class PermissionError extends PaygridError {
  override name = 'PermissionError';
}

export class NotFoundError extends PaygridError {
  override name = 'NotFoundError';
}

export class IdempotencyError extends PaygridError {
  override name = 'IdempotencyError';
}

export class RequestTooLargeError extends PaygridError {
  override name = 'RequestTooLargeError';
}

export class UnsupportedMediaTypeError extends PaygridError {
  override name = 'UnsupportedMediaTypeError';
}

export class RateLimitError extends PaygridError {
  override name = 'RateLimitError';
  /** The Retry-After response header in seconds, when the server sent one. */
  readonly retry_after_seconds: number | undefined;

  constructor(fields: PaygridErrorFields & { readonly retry_after_seconds?: number | undefined }, options?: ErrorOptions) {
    super(fields, options);
    this.retry_after_seconds = fields.retry_after_seconds;
  }
}

export class ApiError extends PaygridError {
  override name = 'ApiError';
}

export class ServiceUnavailableError extends PaygridError {
  override name = 'ServiceUnavailableError';
}

/** No response arrived: the connection failed, was reset, or the attempt timed out. */
export class ConnectionError extends PaygridError {
  override name = 'ConnectionError';
  declare readonly code: ConnectionErrorCode;

  constructor(code: ConnectionErrorCode, message: string, options?: ErrorOptions) {
    super({ type: 'connection_error', code, message }, options);
  }
}

type ErrorClass = new (fields: PaygridErrorFields & { readonly retry_after_seconds?: number | undefined }) => PaygridError;

const error_class_by_type: Record<ApiErrorType, ErrorClass> = {
  invalid_request_error: InvalidRequestError,
  authentication_error: AuthenticationError,
  permission_error: PermissionError,
  not_found_error: NotFoundError,
  idempotency_error: IdempotencyError,
  request_too_large_error: RequestTooLargeError,
  unsupported_media_type_error: UnsupportedMediaTypeError,
  rate_limit_error: RateLimitError,
  api_error: ApiError,
  service_unavailable_error: ServiceUnavailableError,
};

export function isApiErrorType(value: unknown): value is ApiErrorType {
  return typeof value === 'string' && Object.hasOwn(error_status_by_type, value);
}

/**
 * The error type for a response whose body is not the wire error shape (a proxy's HTML page, an
 * empty 502). Gateways in front of Paygrid answer 502 and 504 when Paygrid is unreachable, which
 * is the same situation as a 503.
 */
export function errorTypeForStatus(status: number): ApiErrorType {
  for (const [type, type_status] of Object.entries(error_status_by_type)) {
    if (type_status === status && isApiErrorType(type)) {
      return type;
    }
  }
  if (status === 502 || status === 504) {
    return 'service_unavailable_error';
  }
  if (status >= 400 && status < 500) {
    return 'invalid_request_error';
  }
  return 'api_error';
}

interface WireErrorBody {
  readonly type: ApiErrorType;
  readonly code: string;
  readonly message: string;
  readonly param: string | undefined;
}

function readWireError(parsed: unknown): WireErrorBody | undefined {
  if (typeof parsed !== 'object' || parsed === null || !('error' in parsed)) {
    return undefined;
  }
  const error: unknown = parsed.error;
  if (typeof error !== 'object' || error === null) {
    return undefined;
  }
  const type = 'type' in error ? error.type : undefined;
  const code = 'code' in error ? error.code : undefined;
  const message = 'message' in error ? error.message : undefined;
  const param = 'param' in error ? error.param : undefined;
  if (!isApiErrorType(type) || typeof code !== 'string' || typeof message !== 'string') {
    return undefined;
  }
  return { type, code, message, param: typeof param === 'string' ? param : undefined };
}

export interface ErrorResponse {
  readonly status: number;
  readonly body_text: string;
  readonly request_id: string | undefined;
  readonly retry_after_seconds: number | undefined;
}

/** The typed error for a non-2xx response. */
export function errorFromResponse(response: ErrorResponse): PaygridError {
  let parsed: unknown = response.body_text;
  try {
    parsed = JSON.parse(response.body_text) as unknown;
  } catch {
    // Not JSON: keep the text as the raw body and classify by status below.
  }
  const wire = readWireError(parsed);
  const fields = {
    type: wire?.type ?? errorTypeForStatus(response.status),
    code: wire?.code ?? 'unexpected_response',
    message: wire?.message ?? `Paygrid answered HTTP ${String(response.status)} without an error body.`,
    param: wire?.param,
    status: response.status,
    request_id: response.request_id,
    raw: parsed,
    retry_after_seconds: response.retry_after_seconds,
  };
  const ErrorForType = error_class_by_type[fields.type];
  return new ErrorForType(fields);
}
