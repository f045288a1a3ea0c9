// Card checks at tokenization: number (digits, length, Luhn), brand by BIN, expiry and CVC.
// Each broken rule is an invalid_request_error with Stripe's code and the parameter at fault.
// No message ever quotes what was sent: the input is card data, and error messages end up in
// logs, responses and bug reports.
import { ApiError, isWellFormedCardNumber } from '@paygrid/kernel';
import type { CardBrand, CreateTokenInput } from './types';

/**
 * A number is refused before it is looked at when the string is longer than this: 19 digits
 * (card_number_length_max) with a space after every digit is 37 characters, so nothing genuine
 * comes near it.
 */
export const card_number_input_length_max = 64;
/** Cards are issued for a few years; an expiry beyond this many years ahead is a typing mistake. */
export const expiry_years_ahead_max = 50;
export const cvc_length = 3;
/** American Express prints a four-digit security code on the front. */
export const cvc_length_amex = 4;

/** A card that passed every check, ready to be sealed. */
export interface ValidCard {
  readonly number: string;
  readonly exp_month: number;
  readonly exp_year: number;
  readonly cvc: string;
  readonly brand: CardBrand;
  readonly last4: string;
}

function refusal(code: string, param: string, message: string): ApiError {
  return new ApiError('invalid_request_error', code, message, param);
}

function prefixBetween(digits: string, length: number, low: number, high: number): boolean {
  if (digits.length < length) return false;
  const prefix = Number.parseInt(digits.slice(0, length), 10);
  return prefix >= low && prefix <= high;
}

/**
 * The network from the leading digits. The ranges do not overlap, so their order does not
 * matter; a number in none of them is 'unknown' and is still tokenized (a connector may know it).
 */
export function cardBrand(digits: string): CardBrand {
  if (digits.startsWith('4')) return 'visa';
  if (prefixBetween(digits, 2, 51, 55) || prefixBetween(digits, 4, 2221, 2720)) return 'mastercard';
  if (digits.startsWith('34') || digits.startsWith('37')) return 'amex';
  if (digits.startsWith('6011') || digits.startsWith('65') || prefixBetween(digits, 3, 644, 649)) return 'discover';
  if (prefixBetween(digits, 4, 3528, 3589)) return 'jcb';
  if (digits.startsWith('62')) return 'unionpay';
  if (digits.startsWith('36') || prefixBetween(digits, 3, 300, 305)) return 'diners';
  return 'unknown';
}

/** The digits of a card number, spaces removed, or a refusal naming card[number]. */
export function checkCardNumber(value: unknown): string {
  const refused = refusal('incorrect_number', 'card[number]', 'Your card number is incorrect.');
  if (typeof value !== 'string' || value.length > card_number_input_length_max) throw refused;
  // The shape (digits, length, Luhn) is the kernel's, shared with the connectors and the gateway.
  const digits = value.replaceAll(' ', '');
  if (!isWellFormedCardNumber(digits)) throw refused;
  return digits;
}

/**
 * A card is good through the last day of its expiry month. Months are counted in UTC, so a card
 * expiring this month is accepted everywhere until the month ends in UTC.
 */
export function checkExpiry(exp_month: unknown, exp_year: unknown, now_ms: number): { exp_month: number; exp_year: number } {
  if (typeof exp_month !== 'number' || !Number.isSafeInteger(exp_month) || exp_month < 1 || exp_month > 12) {
    throw refusal('invalid_expiry_month', 'card[exp_month]', "Your card's expiration month is invalid.");
  }
  const now = new Date(now_ms);
  const year_now = now.getUTCFullYear();
  const month_now = now.getUTCMonth() + 1;
  if (typeof exp_year !== 'number' || !Number.isSafeInteger(exp_year) || exp_year > year_now + expiry_years_ahead_max) {
    throw refusal('invalid_expiry_year', 'card[exp_year]', "Your card's expiration year is invalid.");
  }
  // Stripe refuses an expired card at authorization with expired_card; at tokenization the
  // date itself is wrong, so it is the expiry year that is refused.
  if (exp_year < year_now || (exp_year === year_now && exp_month < month_now)) {
    throw refusal('invalid_expiry_year', 'card[exp_year]', "Your card's expiration date is in the past.");
  }
  return { exp_month, exp_year };
}

export function checkCvc(value: unknown, brand: CardBrand): string {
  const length = brand === 'amex' ? cvc_length_amex : cvc_length;
  if (typeof value !== 'string' || value.length !== length || !/^[0-9]+$/.test(value)) {
    throw refusal('invalid_cvc', 'card[cvc]', "Your card's security code is invalid.");
  }
  return value;
}

/** Every check, in Stripe's order: number, expiry month, expiry year, then CVC. */
export function checkCard(input: CreateTokenInput, now_ms: number): ValidCard {
  // The gateway parses JSON, so a field may hold anything despite the type.
  const fields: Record<string, unknown> = typeof input === 'object' && input !== null ? (input as unknown as Record<string, unknown>) : {};
  const number = checkCardNumber(fields['number']);
  const { exp_month, exp_year } = checkExpiry(fields['exp_month'], fields['exp_year'], now_ms);
  const brand = cardBrand(number);
  const cvc = checkCvc(fields['cvc'], brand);
  return { number, exp_month, exp_year, cvc, brand, last4: number.slice(-4) };
}
