// Amounts cross into and out of ISO 20022 files here, as exact decimal text on one side and
// bigint minor units on the other. Nothing here goes through a float.
import { currencyOf, type CurrencyCode, type Money } from '@paygrid/money';
import { quote, refuse, type Iso20022Result } from './result';

/**
 * ActiveOrHistoricCurrencyAndAmount (and ActiveCurrencyAndAmount) in every schema here is an
 * xs:decimal with totalDigits 18 and fractionDigits 5. Every ISO 4217 exponent is at most 4, so the
 * fraction facet always holds; the total-digits facet caps an amount at 18 digits of minor units.
 */
export const amount_total_digits_max = 18;
export const amount_fraction_digits_max = 5;
export const amount_minor_max = 10n ** BigInt(amount_total_digits_max) - 1n;

/**
 * The largest control sum (CtrlSum) written or accepted, in minor units. The schema allows 18
 * digits, but many bank systems read CtrlSum into a double, which stops being exact at 2^53: past
 * that a control sum can lose cents and the bank rejects a correct batch, or accepts a wrong one.
 */
export const control_sum_minor_max = 2n ** 53n - 1n;

// One way to match any text, so a long input costs linear time.
const amount_pattern = /^([0-9]+)(?:\.([0-9]+))?$/;

/**
 * Writes minor units as the decimal text of an ISO 20022 amount, with exactly the currency's
 * exponent of fraction digits: 1500n JPY is "1500", 1500n USD is "15.00", 1500n KWD is "1.500".
 * Refuses negative amounts (the schemas' minInclusive is 0) and amounts over 18 digits.
 */
export function formatAmount(minor: bigint, currency: CurrencyCode): Iso20022Result<string> {
  if (minor < 0n) return refuse('amount_invalid', `amount ${minor.toString()} is negative; ISO 20022 amounts are at least 0 and carry their direction elsewhere.`);
  if (minor > amount_minor_max) {
    return refuse('amount_too_large', `amount ${minor.toString()} ${currency} minor units has more than ${amount_total_digits_max} digits, the schema's totalDigits.`);
  }
  return { ok: true, value: formatDecimal(minor, currencyOf(currency).exponent) };
}

/**
 * Reads the decimal text of an ISO 20022 amount into minor units of the currency. Accepts only
 * digits with an optional fraction (the schema also allows a sign, which no amount of ours needs),
 * and refuses more fraction digits than the currency's exponent rather than rounding them away.
 */
export function parseAmount(text: string, currency: CurrencyCode, field = 'amount'): Iso20022Result<bigint> {
  const match = amount_pattern.exec(text);
  if (match === null) {
    return refuse('amount_invalid', `${field} must be digits with an optional decimal point, such as "15.00"; got ${quote(text)}.`);
  }
  const whole = match[1] ?? '';
  const fraction = match[2] ?? '';
  const { exponent } = currencyOf(currency);
  if (fraction.length > exponent) {
    return refuse(
      'amount_invalid',
      `${field} ${quote(text)} has ${fraction.length} fraction digits; ${currency} has ${exponent}.`,
    );
  }
  const minor = BigInt(whole + fraction.padEnd(exponent, '0'));
  if (minor > amount_minor_max) {
    return refuse('amount_too_large', `${field} ${quote(text)} has more than ${amount_total_digits_max} digits.`);
  }
  return { ok: true, value: minor };
}

/**
 * The control sum of a batch: the sum of its amounts in major units, as exact decimal text. When
 * currencies with different exponents are mixed, the sum is taken in the finest of them. A sum
 * beyond control_sum_minor_max is refused (see there why).
 */
export function controlSum(amounts: readonly Money[]): Iso20022Result<string> {
  let exponent = 0;
  for (const amount of amounts) exponent = Math.max(exponent, currencyOf(amount.currency).exponent);
  let total = 0n;
  for (const amount of amounts) {
    if (amount.amount < 0n) return refuse('amount_invalid', `amount ${amount.amount.toString()} ${amount.currency} is negative.`);
    total += amount.amount * 10n ** BigInt(exponent - currencyOf(amount.currency).exponent);
  }
  if (total > control_sum_minor_max) {
    return refuse(
      'control_sum_too_large',
      `the control sum ${formatDecimal(total, exponent)} is ${total.toString()} minor units, over the limit of 2^53 - 1 (${control_sum_minor_max.toString()}) that bank systems reading CtrlSum as a double hold exactly; split the batch.`,
    );
  }
  return { ok: true, value: formatDecimal(total, exponent) };
}

/** An exact decimal read from text: `digits` × 10^-`scale`. */
export interface ExactDecimal {
  readonly digits: bigint;
  readonly scale: number;
}

/** The xs:decimal facets of DecimalNumber (CtrlSum and its kin): 18 digits, 17 of them fraction. */
const decimal_number_pattern = /^([0-9]{1,18})(?:\.([0-9]{1,17}))?$/;

/** Reads a DecimalNumber such as a CtrlSum; undefined when it is not plain non-negative digits. */
export function parseExactDecimal(text: string): ExactDecimal | undefined {
  const match = decimal_number_pattern.exec(text);
  if (match === null) return undefined;
  const fraction = match[2] ?? '';
  return { digits: BigInt((match[1] ?? '') + fraction), scale: fraction.length };
}

/** The exact sum of exact decimals, in the finest scale among them. */
export function addExactDecimals(values: readonly ExactDecimal[]): ExactDecimal {
  const scale = values.reduce((finest, value) => Math.max(finest, value.scale), 0);
  const digits = values.reduce((sum, value) => sum + value.digits * 10n ** BigInt(scale - value.scale), 0n);
  return { digits, scale };
}

/** Whether two exact decimals are the same number, whatever their trailing zeros. */
export function exactDecimalEquals(left: ExactDecimal, right: ExactDecimal): boolean {
  const scale = Math.max(left.scale, right.scale);
  return left.digits * 10n ** BigInt(scale - left.scale) === right.digits * 10n ** BigInt(scale - right.scale);
}

function formatDecimal(minor: bigint, exponent: number): string {
  const digits = minor.toString();
  if (exponent === 0) return digits;
  const padded = digits.padStart(exponent + 1, '0');
  return `${padded.slice(0, padded.length - exponent)}.${padded.slice(padded.length - exponent)}`;
}
