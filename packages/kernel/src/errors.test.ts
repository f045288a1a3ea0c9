import { describe, expect, it } from 'vitest';
import { ApiError, errorStatusByType, errorTypes, isErrorType } from './errors';

describe('ApiError', () => {
  it('maps each type to exactly one status', () => {
    expect(errorStatusByType).toEqual({
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
    });
    for (const type of errorTypes) expect(new ApiError(type, 'code', 'message').statusCode).toBe(errorStatusByType[type]);
  });

  it('puts itself on the wire in the one shape, with param only when there is one', () => {
    expect(new ApiError('invalid_request_error', 'parameter_invalid', 'amount must be positive', 'transfers[3].amount').toWire()).toEqual({
      error: { type: 'invalid_request_error', code: 'parameter_invalid', message: 'amount must be positive', param: 'transfers[3].amount' },
    });
    expect(JSON.stringify(new ApiError('idempotency_error', 'key_reused', 'That key was used with other parameters').toWire())).toBe(
      '{"error":{"type":"idempotency_error","code":"key_reused","message":"That key was used with other parameters"}}',
    );
  });

  it('knows the closed set of types', () => {
    expect(isErrorType('rate_limit_error')).toBe(true);
    expect(isErrorType('conflict_error')).toBe(false);
    expect(isErrorType('toString')).toBe(false);
  });
});
