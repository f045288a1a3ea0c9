// Money is a count of minor units with its currency attached, so an amount can never be read
// against the wrong exponent. Arithmetic stays in bigint: exact, and never a float.
import { assert } from './assert';
import { isCurrencyCode, type CurrencyCode } from './currency';

declare const money_brand: unique symbol;

/**
 * An amount of money: `amount` counts minor units (cents for USD, yen for JPY, fils for KWD) and
 * may be negative. Only `money()` and the functions of this package make one, so a Money always
 * holds a bigint and a currency from the table.
 */
export interface Money {
  readonly amount: bigint;
  readonly currency: CurrencyCode;
  readonly [money_brand]: true;
}

/** Splitting money into more parts than this is a bug in the caller, not a business need. */
export const allocate_ratios_max = 10_000;

export function money(amount_minor: bigint, currency: CurrencyCode): Money {
  assert(typeof amount_minor === 'bigint', 'money: the amount must be a bigint count of minor units');
  assert(isCurrencyCode(currency), 'money: the currency must be an upper-case code from the currency table');
  return Object.freeze({ amount: amount_minor, currency }) as Money;
}

export function isSameCurrency(left: Money, right: Money): boolean {
  return left.currency === right.currency;
}

export function add(augend: Money, addend: Money): Money {
  assertSameCurrency(augend, addend, 'add');
  return money(augend.amount + addend.amount, augend.currency);
}

export function subtract(minuend: Money, subtrahend: Money): Money {
  assertSameCurrency(minuend, subtrahend, 'subtract');
  return money(minuend.amount - subtrahend.amount, minuend.currency);
}

/** Orders two amounts of one currency: -1 when left is less, 0 when equal, 1 when greater. */
export function compare(left: Money, right: Money): -1 | 0 | 1 {
  assertSameCurrency(left, right, 'compare');
  if (left.amount < right.amount) return -1;
  if (left.amount > right.amount) return 1;
  return 0;
}

export function isZero(value: Money): boolean {
  return value.amount === 0n;
}

export function isNegative(value: Money): boolean {
  return value.amount < 0n;
}

/**
 * Splits `value` in proportion to `ratios`, exactly: the parts always add up to `value`. Each part
 * is its exact share rounded down or up by less than one minor unit. The minor units that rounding
 * down leaves over go one each to the parts with the largest remainders (the largest-remainder
 * method), and among equal remainders to the earlier part, so the result is deterministic.
 *
 * A ratio of zero gets nothing. A negative amount is split as its magnitude, then negated, so that
 * splitting a refund mirrors splitting the charge.
 *
 * Ratios are the caller's own configuration, so bad ones (none, too many, negative, all zero) are
 * programmer errors and throw MoneyAssertionError.
 */
export function allocate(value: Money, ratios: readonly bigint[]): Money[] {
  assert(ratios.length > 0, 'allocate: at least one ratio is needed');
  assert(ratios.length <= allocate_ratios_max, `allocate: at most ${allocate_ratios_max} ratios`);
  let ratio_total = 0n;
  for (const ratio of ratios) {
    assert(typeof ratio === 'bigint', 'allocate: ratios must be bigints');
    assert(ratio >= 0n, 'allocate: ratios must not be negative');
    ratio_total += ratio;
  }
  assert(ratio_total > 0n, 'allocate: at least one ratio must be greater than zero');

  const negative = value.amount < 0n;
  const magnitude = negative ? -value.amount : value.amount;
  const shares = ratios.map((ratio) => (magnitude * ratio) / ratio_total);
  const remainders = ratios.map((ratio) => (magnitude * ratio) % ratio_total);
  let leftover = magnitude - shares.reduce((sum, share) => sum + share, 0n);
  // Each remainder is below ratio_total, so fewer units are left over than there are parts with a
  // remainder: every unit lands on a different part, and never on a part whose ratio is zero.
  assert(leftover >= 0n && leftover < BigInt(ratios.length), 'allocate: leftover out of range');

  const by_remainder = ratios
    .map((_, index) => index)
    .sort((left, right) => allocateCompareRemainders(remainders, left, right));
  for (const index of by_remainder) {
    if (leftover === 0n) break;
    const share = shares[index];
    assert(share !== undefined, 'allocate: index out of range');
    shares[index] = share + 1n;
    leftover -= 1n;
  }

  const parts = shares.map((share) => money(negative ? -share : share, value.currency));
  assert(
    parts.reduce((sum, part) => sum + part.amount, 0n) === value.amount,
    'allocate: the parts must add up to the amount',
  );
  return parts;
}

/** Largest remainder first; among equal remainders, the earlier part first. */
function allocateCompareRemainders(remainders: readonly bigint[], left: number, right: number): number {
  const left_remainder = remainders[left] ?? 0n;
  const right_remainder = remainders[right] ?? 0n;
  if (left_remainder > right_remainder) return -1;
  if (left_remainder < right_remainder) return 1;
  return left - right;
}

function assertSameCurrency(left: Money, right: Money, operation: string): void {
  assert(
    isSameCurrency(left, right),
    `${operation}: cannot mix currencies (${left.currency} and ${right.currency}); check with isSameCurrency at the edge`,
  );
}
