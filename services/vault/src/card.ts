// Card checks at tokenization: number (digits, length, Luhn), brand by BIN, expiry and CVC.
// Each broken rule is an invalid_request_error with Stripe's code and the parameter at fault.
// No message ever quotes what was sent: the input is card data, and error messages end up in
// logs, responses and bug reports.
import { ApiError, cardNetworkOf, isWellFormedCardNumber } from '@paygrid/kernel';
import { card_brands, type CardBrand, type CreateTokenInput } from './types';

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

/**
 * The network from the leading digits, read from the kernel's table of networks, which the
 * gateway's card-number guard reads too. A number in none of its ranges, or of a network the vault
 * does not name (Maestro, Mir), is 'unknown' and is still tokenized (a connector may know it).
 */
export function cardBrand(digits: string): CardBrand {
  const network = cardNetworkOf(digits);
  return card_brands.find((brand) => brand === network) ?? 'unknown';
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
