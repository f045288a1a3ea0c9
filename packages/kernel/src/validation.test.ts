import { amount_max } from '@paygrid/money';
import { describe, expect, it } from 'vitest';
import { ApiError, type WireError } from './errors';
import {
  checkAmount,
  checkCurrency,
  checkIdempotencyKey,
  checkText,
  idempotency_key_length_max,
  invalidRequest,
  isPlausibleId,
  object_id_length_max,
} from './validation';

/** The wire form of what a check threw, failing the test when it did not throw an ApiError. */
function refusalOf(call: () => unknown): WireError['error'] {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return (error as ApiError).toWire().error;
  }
  throw new Error('expected the call to throw an ApiError');
}

describe('invalidRequest', () => {
  it('names the parameter only when there is one', () => {
    expect(invalidRequest('not_allowed', 'No.', 'status').toWire()).toEqual({ error: { type: 'invalid_request_error', code: 'not_allowed', message: 'No.', param: 'status' } });
    expect(invalidRequest('not_allowed', 'No.').toWire()).toEqual({ error: { type: 'invalid_request_error', code: 'not_allowed', message: 'No.' } });
  });
});

describe('checkAmount', () => {
  it('accepts bigints from 1 to amount_max', () => {
    expect(checkAmount(1n)).toBe(1n);
    expect(checkAmount(amount_max)).toBe(amount_max);
    expect(amount_max).toBe(BigInt(Number.MAX_SAFE_INTEGER));
  });

  it('refuses zero, negatives, amounts past amount_max, floats, numbers and strings', () => {
    for (const amount of [0n, -1n, amount_max + 1n, 1.5, 100, '100', null, undefined, {}]) {
      expect(refusalOf(() => checkAmount(amount))).toEqual({
        type: 'invalid_request_error',
        code: 'amount_invalid',
        message: 'amount must be a positive integer number of minor units, at most 9007199254740991',
        param: 'amount',
      });
    }
    expect(refusalOf(() => checkAmount(-5n, 'per_day_max')).param).toBe('per_day_max');
  });
});

describe('checkCurrency', () => {
  it('accepts codes in either case and answers the upper-case code', () => {
    expect(checkCurrency('usd')).toBe('USD');
    expect(checkCurrency('JPY')).toBe('JPY');
  });

  it("refuses unknown codes and non-strings with money's code and message", () => {
    expect(refusalOf(() => checkCurrency('xyz'))).toEqual({
      type: 'invalid_request_error',
      code: 'currency_unknown',
      message: 'currency "xyz" is not an active ISO 4217 currency code.',
      param: 'currency',
    });
    expect(refusalOf(() => checkCurrency(840, 'settlement_currency'))).toMatchObject({ code: 'currency_unknown', param: 'settlement_currency' });
  });
});

describe('checkText', () => {
  it('accepts text up to the limit', () => {
    expect(checkText('a', 'description', 3)).toBe('a');
    expect(checkText('abc', 'description', 3)).toBe('abc');
  });

  it('refuses blank, over-long and non-string values', () => {
    for (const value of ['', '   ', 'abcd', 5, null, undefined, ['a']]) {
      expect(refusalOf(() => checkText(value, 'description', 3))).toEqual({
        type: 'invalid_request_error',
        code: 'parameter_invalid',
        message: 'description must be a non-empty string of at most 3 characters',
        param: 'description',
      });
    }
  });
});

describe('checkIdempotencyKey', () => {
  it('answers null when there is no key, and the key when it is within the limit', () => {
    expect(checkIdempotencyKey(undefined)).toBeNull();
    expect(checkIdempotencyKey(null)).toBeNull();
    expect(checkIdempotencyKey('k'.repeat(idempotency_key_length_max))).toBe('k'.repeat(idempotency_key_length_max));
  });

  it('refuses blank and over-long keys', () => {
    for (const key of ['', 'k'.repeat(idempotency_key_length_max + 1), 7]) {
      expect(refusalOf(() => checkIdempotencyKey(key))).toMatchObject({ code: 'parameter_invalid', param: 'idempotency_key' });
    }
  });
});

describe('isPlausibleId', () => {
  it('takes non-empty strings up to object_id_length_max', () => {
    expect(isPlausibleId('pi_123')).toBe(true);
    expect(isPlausibleId('x'.repeat(object_id_length_max))).toBe(true);
    for (const value of ['', 'x'.repeat(object_id_length_max + 1), 12, null, undefined]) expect(isPlausibleId(value)).toBe(false);
  });
});
