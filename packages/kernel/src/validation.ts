// Request checks that several services make in exactly the same way: amounts, currencies, text,
// idempotency keys and object ids. Each broken rule throws an invalid_request_error naming the
// parameter, so that every service refuses the same input with the same code and message.
//
// Only checks whose rules are truly shared live here. A service keeps its own when its rule
// differs: identity, for one, counts text length in code points and accepts blank text.
import { amount_max, parseCurrency, type CurrencyCode } from '@paygrid/money';
import { ApiError } from './errors';

/** Idempotency keys are opaque to the service; Stripe accepts up to 255 characters. */
export const idempotency_key_length_max = 255;
/** Object ids are a prefix, an underscore and 24 characters; anything far longer is not one. */
export const object_id_length_max = 64;

/** The invalid_request_error with its own code and message, naming the parameter at fault when there is one. */
export function invalidRequest(code: string, message: string, param?: string): ApiError {
  return new ApiError('invalid_request_error', code, message, param);
}

/**
 * An amount in minor units: a bigint above zero and at most amount_max, 2^53 − 1, which is the
 * ledger's bound too. A number (even a whole one) is refused: money never travels as a float.
 */
export function checkAmount(amount: unknown, param = 'amount'): bigint {
  if (typeof amount !== 'bigint' || amount <= 0n || amount > amount_max) {
    throw invalidRequest('amount_invalid', `${param} must be a positive integer number of minor units, at most ${amount_max}`, param);
  }
  return amount;
}

/** An ISO 4217 code with a minor unit, in either case; the refusal carries money's own code. */
export function checkCurrency(value: unknown, param = 'currency'): CurrencyCode {
  const parsed = parseCurrency(value, param);
  if (!parsed.ok) throw invalidRequest(parsed.code, parsed.message, param);
  return parsed.value;
}

/** A string that is not blank and holds at most `length_max` UTF-16 code units. */
export function checkText(value: unknown, param: string, length_max: number): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > length_max) {
    throw invalidRequest('parameter_invalid', `${param} must be a non-empty string of at most ${length_max} characters`, param);
  }
  return value;
}

/** An optional idempotency key: absent is null, present must be text within the limit. */
export function checkIdempotencyKey(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return checkText(value, 'idempotency_key', idempotency_key_length_max);
}

/** An id given by a caller: refused early when it cannot be one, so it never reaches SQL or logs at length. */
export function isPlausibleId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= object_id_length_max;
}
