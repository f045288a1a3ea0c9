// One error shape on the wire: `{ error: { type, code, message, param? } }`, as Stripe does.
// `type` comes from a closed set, and each type maps to exactly one HTTP status. `code` is a
// stable, machine-readable snake_case reason within the type; `message` is for humans.

export const errorStatusByType = {
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

export type ErrorType = keyof typeof errorStatusByType;

export const errorTypes = Object.keys(errorStatusByType) as readonly ErrorType[];

export interface WireError {
  readonly error: {
    readonly type: ErrorType;
    readonly code: string;
    readonly message: string;
    readonly param?: string;
  };
}

export class ApiError extends Error {
  override readonly name = 'ApiError';

  /**
   * @param param The request field at fault, as a path such as `transfers[3].amount`.
   */
  constructor(
    readonly type: ErrorType,
    readonly code: string,
    message: string,
    readonly param?: string,
  ) {
    super(message);
  }

  get statusCode(): number {
    return errorStatusByType[this.type];
  }

  toWire(): WireError {
    return {
      error: {
        type: this.type,
        code: this.code,
        message: this.message,
        ...(this.param === undefined ? {} : { param: this.param }),
      },
    };
  }
}

export function isErrorType(value: unknown): value is ErrorType {
  return typeof value === 'string' && Object.hasOwn(errorStatusByType, value);
}
