// Parsing at the edges: amounts arrive as JSON or as text a person typed, and leave here as exact
// bigint minor units or as a refusal that names the broken rule. Nothing here goes through a float.
import { assert } from './assert';
import { currencyOf, parseCurrency, type CurrencyCode } from './currency';
import { formatMinorUnits } from './format';
import { money, type Money } from './money';
import { quote, refuse, type MoneyResult } from './result';

/**
 * The largest amount accepted by default, 2^53 - 1 minor units (Number.MAX_SAFE_INTEGER): every
 * JSON client reads integers up to here exactly, and past it some silently round.
 */
export const amount_max = 9_007_199_254_740_991n;

export interface AmountOptions {
  /** Accept amounts below zero, such as adjustments. Default false. */
  readonly allowNegative?: boolean;
  /** Accept zero. Default true. */
  readonly allowZero?: boolean;
  /** The largest magnitude accepted, in minor units even when parsing major units. Default amount_max. */
  readonly maxMinorUnits?: bigint;
  /** What to call the value in messages, such as "refund.amount". Default "amount". */
  readonly field?: string;
}

// Every pattern here has at most one way to match a given text, so a long input costs linear time,
// never the quadratic backtracking that would let one request stall the process.
const integer_pattern = /^(-?)([0-9]+)$/;
const decimal_pattern = /^(-?)([0-9]+)(?:\.([0-9]+))?$/;
const fraction_pattern = /^-?[0-9]+\.[0-9]+$/;
const exponent_notation_pattern = /^-?[0-9.]+[eE][+-]?[0-9]+$/;
const whitespace_pattern = /\s/;

/**
 * Reads an amount in minor units from JSON: a safe integer (Number.isSafeInteger), a bigint, or a
 * string of decimal digits with an optional leading "-". Refuses floats, NaN, Infinity, exponent
 * notation, a leading "+", leading zeros, whitespace and empty strings with `amount_invalid` or
 * `amount_not_integer`; then applies the options' sign, zero and size rules.
 */
export function parseMinorUnits(value: unknown, options: AmountOptions = {}): MoneyResult<bigint> {
  const field = options.field ?? 'amount';
  const describeMax = (max: bigint): string => `${max.toString()} minor units`;
  if (typeof value === 'bigint') {
    return checkMagnitude(value < 0n, (value < 0n ? -value : value).toString(), value.toString(), options, describeMax);
  }
  if (typeof value === 'number') {
    const shown = String(value);
    if (!Number.isFinite(value)) {
      return refuse('amount_invalid', `${field} must be a whole number of minor units; got ${shown}.`);
    }
    if (!Number.isInteger(value)) {
      return refuse(
        'amount_not_integer',
        `${field} must be a whole number of minor units (1234 for 12.34 USD); got ${shown}.`,
      );
    }
    if (!Number.isSafeInteger(value)) {
      if (value < 0 && options.allowNegative !== true) return refuseNegative(field, shown);
      return refuse(
        'amount_too_large',
        `${field} ${shown} is beyond 2^53 - 1, where JSON numbers stop being exact; send it as a string of digits.`,
      );
    }
    const integer = BigInt(value);
    return checkMagnitude(integer < 0n, (integer < 0n ? -integer : integer).toString(), shown, options, describeMax);
  }
  if (typeof value !== 'string') {
    return refuse('amount_invalid', `${field} must be a whole number of minor units, not ${describeType(value)}.`);
  }
  const text_refusal = refuseMalformedText(value, field);
  if (text_refusal !== undefined) return text_refusal;
  const match = integer_pattern.exec(value);
  if (match === null) {
    if (fraction_pattern.test(value)) {
      return refuse(
        'amount_not_integer',
        `${field} must be a whole number of minor units (1234 for 12.34 USD); got ${quote(value)}.`,
      );
    }
    return refuse('amount_invalid', `${field} must be a string of decimal digits such as "1234"; got ${quote(value)}.`);
  }
  const [, sign = '', digits = ''] = match;
  if (digits.length > 1 && digits.startsWith('0')) {
    return refuse('amount_invalid', `${field} must not have leading zeros; got ${quote(value)}.`);
  }
  return checkMagnitude(sign === '-', digits, quote(value), options, describeMax);
}

/**
 * Reads a decimal string in major units, as a person writes it, into exact minor units of
 * `currency`: "12.34" USD is 1234n, "12" JPY is 12n, "1.005" KWD is 1005n, "12.3" USD is 1230n.
 * Refuses more fraction digits than the currency has (`too_many_fraction_digits`), numbers (a JSON
 * number with a fraction is already a binary float), exponent notation, NaN, grouping separators,
 * a leading "+", leading zeros, whitespace and empty strings; then applies the options' sign, zero
 * and size rules.
 */
export function parseMajorUnits(value: unknown, currency: CurrencyCode, options: AmountOptions = {}): MoneyResult<bigint> {
  const field = options.field ?? 'amount';
  const { exponent } = currencyOf(currency);
  if (typeof value !== 'string') {
    return refuse(
      'amount_invalid',
      `${field} must be a decimal string such as "12.34", not ${describeType(value)}: ` +
        'a JSON number may already have lost digits.',
    );
  }
  const text_refusal = refuseMalformedText(value, field);
  if (text_refusal !== undefined) return text_refusal;
  const match = decimal_pattern.exec(value);
  if (match === null) {
    return refuse('amount_invalid', `${field} must be a decimal such as "12.34"; got ${quote(value)}.`);
  }
  const [, sign = '', whole = '', fraction = ''] = match;
  if (whole.length > 1 && whole.startsWith('0')) {
    return refuse('amount_invalid', `${field} must not have leading zeros; got ${quote(value)}.`);
  }
  if (fraction.length > exponent) {
    const allowed =
      exponent === 0 ? `${currency} has no minor unit, so only whole amounts` : `${currency} has ${exponent} decimal places`;
    return refuse(
      'too_many_fraction_digits',
      `${field} ${quote(value)} has ${fraction.length} digits after the point, but ${allowed}.`,
    );
  }
  const digits = (whole + fraction.padEnd(exponent, '0')).replace(/^0+(?=[0-9])/, '');
  const describeMax = (max: bigint): string => `${formatMinorUnits(max, currency)} ${currency}`;
  return checkMagnitude(sign === '-', digits, quote(value), options, describeMax);
}

/** Reads `{ amount, currency }` from JSON, the amount in minor units. The currency is checked first. */
export function parseMoneyFromMinorUnits(
  amount: unknown,
  currency: unknown,
  options: AmountOptions = {},
): MoneyResult<Money> {
  const currency_result = parseCurrency(currency);
  if (!currency_result.ok) return currency_result;
  const amount_result = parseMinorUnits(amount, options);
  if (!amount_result.ok) return amount_result;
  return { ok: true, value: money(amount_result.value, currency_result.value) };
}

/** Reads a decimal string in major units and a currency code. The currency is checked first. */
export function parseMoneyFromMajorUnits(
  amount: unknown,
  currency: unknown,
  options: AmountOptions = {},
): MoneyResult<Money> {
  const currency_result = parseCurrency(currency);
  if (!currency_result.ok) return currency_result;
  const amount_result = parseMajorUnits(amount, currency_result.value, options);
  if (!amount_result.ok) return amount_result;
  return { ok: true, value: money(amount_result.value, currency_result.value) };
}

/** The text mistakes both parsers refuse, each with a message that says what to send instead. */
function refuseMalformedText(value: string, field: string): MoneyResult<never> | undefined {
  if (value === '') return refuse('amount_invalid', `${field} must not be empty.`);
  if (whitespace_pattern.test(value)) {
    return refuse('amount_invalid', `${field} must not contain spaces or other whitespace; got ${quote(value)}.`);
  }
  if (value.startsWith('+')) {
    return refuse('amount_invalid', `${field} must not start with "+"; got ${quote(value)}.`);
  }
  if (exponent_notation_pattern.test(value)) {
    return refuse('amount_invalid', `${field} must be written out in digits, not exponent notation; got ${quote(value)}.`);
  }
  return undefined;
}

/**
 * Applies the sign, zero and size rules, in that order of precedence, to an amount given as its
 * sign and the decimal digits of its magnitude (no leading zeros). The digits are counted before
 * they are converted, so an absurdly long string never reaches BigInt.
 */
function checkMagnitude(
  negative: boolean,
  magnitude_digits: string,
  shown: string,
  options: AmountOptions,
  describeMax: (max: bigint) => string,
): MoneyResult<bigint> {
  const field = options.field ?? 'amount';
  const max = options.maxMinorUnits ?? amount_max;
  assert(max >= 0n, 'parse: maxMinorUnits must not be negative');
  const zero = magnitude_digits === '0';
  if (negative && !zero && options.allowNegative !== true) return refuseNegative(field, shown);
  if (zero && options.allowZero === false) return refuse('amount_zero', `${field} must be greater than zero.`);
  const too_large = refuse(
    'amount_too_large',
    `${field} ${shown} is larger than the largest accepted amount, ${describeMax(max)}.`,
  );
  if (magnitude_digits.length > max.toString().length) return too_large;
  const magnitude = BigInt(magnitude_digits);
  if (magnitude > max) return too_large;
  return { ok: true, value: negative ? -magnitude : magnitude };
}

function refuseNegative(field: string, shown: string): MoneyResult<never> {
  return refuse('amount_negative', `${field} must not be negative; got ${shown}.`);
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return `the number ${String(value)}`;
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
