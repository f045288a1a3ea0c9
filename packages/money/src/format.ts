// Formatting writes exact digits from the bigint: no float ever stands between the stored amount
// and the text a person reads.
import { currencyOf, type CurrencyCode } from './currency';
import type { Money } from './money';

/**
 * Writes minor units as a plain decimal in major units, with exactly as many fraction digits as
 * the currency has: 1234n USD is "12.34", 1000n JPY is "1000", 1005n KWD is "1.005", -5n USD is
 * "-0.05". No grouping separators and no symbol, so parseMajorUnits reads it back unchanged.
 */
export function formatMinorUnits(amount: bigint, currency: CurrencyCode): string {
  const { exponent } = currencyOf(currency);
  const sign = amount < 0n ? '-' : '';
  const digits = (amount < 0n ? -amount : amount).toString();
  if (exponent === 0) return `${sign}${digits}`;
  const padded = digits.padStart(exponent + 1, '0');
  const whole = padded.slice(0, padded.length - exponent);
  const fraction = padded.slice(padded.length - exponent);
  return `${sign}${whole}.${fraction}`;
}

/** "12.34 USD": the amount in major units, then the ISO code. */
export function formatMoney(value: Money): string {
  return `${formatMinorUnits(value.amount, value.currency)} ${value.currency}`;
}
