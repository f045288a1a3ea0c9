// Input checks shared by merchants, operators and customers. The gateway validates request
// shapes first; these hold the service's own rules, so that every caller (the CLI included)
// meets them. A broken rule is an invalid_request_error naming the parameter.
import { ApiError } from '@paygrid/kernel';
import { description_length_max, email_length_max, name_length_max } from '@paygrid/kernel/api-schemas';

// The same limits the public API's schemas enforce on the way in, so the two never disagree.
export { description_length_max, email_length_max, name_length_max };
/** How long a rolled key or signing secret may keep working: seven days. */
export const grace_period_seconds_max = 7 * 24 * 60 * 60;

/**
 * Loose on purpose: one @, something on each side, a dot in the domain and no whitespace. The
 * only real check of an address is mail reaching it; this catches typing mistakes.
 */
const email_pattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Counts characters (code points), so that a limit means the same in every script. */
function lengthExceeds(value: string, length_max: number): boolean {
  // UTF-16 units never number fewer than code points, nor more than twice as many.
  if (value.length <= length_max) return false;
  if (value.length > 2 * length_max) return true;
  return Array.from(value).length > length_max;
}

function invalid(param: string, message: string, code = 'parameter_invalid'): ApiError {
  return new ApiError('invalid_request_error', code, message, param);
}

export function checkText(value: unknown, param: string, length_max: number): string {
  if (typeof value !== 'string') throw invalid(param, `${param} must be a string`);
  if (lengthExceeds(value, length_max)) throw invalid(param, `${param} must be at most ${length_max} characters`);
  return value;
}

/** A name that must be there: not blank. */
export function checkName(value: unknown, param = 'name'): string {
  const name = checkText(value, param, name_length_max);
  if (name.trim() === '') throw invalid(param, `${param} must not be blank`);
  return name;
}

export function checkEmail(value: unknown, param = 'email'): string {
  const email = checkText(value, param, email_length_max);
  if (!email_pattern.test(email)) throw invalid(param, `${param} must be an email address`, 'email_invalid');
  return email;
}

export function checkOneOf<Value extends string>(value: unknown, allowed: readonly Value[], param: string): Value {
  const found = allowed.find((candidate) => candidate === value);
  if (found === undefined) throw invalid(param, `${param} must be one of ${allowed.map((candidate) => `'${candidate}'`).join(', ')}`);
  return found;
}

export function checkBoolean(value: unknown, param: string): boolean {
  if (typeof value !== 'boolean') throw invalid(param, `${param} must be a boolean`);
  return value;
}

/** The grace period of a roll, in whole seconds from 0 to grace_period_seconds_max. */
export function checkGracePeriod(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > grace_period_seconds_max) {
    throw invalid('expires_in_seconds', `expires_in_seconds must be an integer from 0 to ${grace_period_seconds_max}`, 'parameter_invalid_integer');
  }
  return value;
}
