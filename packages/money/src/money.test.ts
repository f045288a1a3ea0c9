import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MoneyAssertionError } from './assert';
import { currency_codes } from './currency';
import {
  add,
  allocate,
  allocate_ratios_max,
  compare,
  isNegative,
  isSameCurrency,
  isZero,
  money,
  subtract,
  type Money,
} from './money';

const amounts = fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n });
const moneys = fc.tuple(amounts, fc.constantFrom(...currency_codes)).map(([amount, currency]) => money(amount, currency));

function amountsOf(parts: readonly Money[]): bigint[] {
  return parts.map((part) => part.amount);
}

describe('money', () => {
  it('carries the amount in minor units with its currency, frozen', () => {
    const price = money(1234n, 'USD');
    expect(price.amount).toBe(1234n);
    expect(price.currency).toBe('USD');
    expect(Object.isFrozen(price)).toBe(true);
  });

  it('throws on a currency outside the table, which only a cast or plain JavaScript can pass', () => {
    // @ts-expect-error -- lower-case codes are not CurrencyCode; parseCurrency turns "usd" into "USD".
    expect(() => money(1n, 'usd')).toThrow(MoneyAssertionError);
    // @ts-expect-error -- a number is not minor units; money never converts from floats.
    expect(() => money(12.34, 'USD')).toThrow(MoneyAssertionError);
  });
});

describe('arithmetic', () => {
  it('adds and subtracts within one currency', () => {
    expect(add(money(1234n, 'USD'), money(66n, 'USD'))).toEqual(money(1300n, 'USD'));
    expect(subtract(money(1234n, 'USD'), money(1300n, 'USD'))).toEqual(money(-66n, 'USD'));
  });

  it('compares within one currency', () => {
    expect(compare(money(1n, 'EUR'), money(2n, 'EUR'))).toBe(-1);
    expect(compare(money(2n, 'EUR'), money(2n, 'EUR'))).toBe(0);
    expect(compare(money(3n, 'EUR'), money(2n, 'EUR'))).toBe(1);
  });

  it('tells zero and negative amounts apart', () => {
    expect(isZero(money(0n, 'JPY'))).toBe(true);
    expect(isZero(money(1n, 'JPY'))).toBe(false);
    expect(isNegative(money(-1n, 'JPY'))).toBe(true);
    expect(isNegative(money(0n, 'JPY'))).toBe(false);
  });

  it('refuses to mix currencies', () => {
    const dollars = money(100n, 'USD');
    const euros = money(100n, 'EUR');
    expect(isSameCurrency(dollars, euros)).toBe(false);
    expect(isSameCurrency(dollars, money(5n, 'USD'))).toBe(true);
    expect(() => add(dollars, euros)).toThrow(MoneyAssertionError);
    expect(() => subtract(dollars, euros)).toThrow(/cannot mix currencies \(USD and EUR\)/);
    expect(() => compare(dollars, euros)).toThrow(MoneyAssertionError);
  });

  it('adds and subtracts exactly, past 2^53', () => {
    fc.assert(
      fc.property(moneys, amounts, (left, amount) => {
        const right = money(amount, left.currency);
        const sum = add(left, right);
        expect(sum.amount).toBe(left.amount + amount);
        expect(subtract(sum, right)).toEqual(left);
        expect(compare(left, right) + compare(right, left)).toBe(0);
      }),
    );
  });
});

describe('allocate', () => {
  it.each([
    [100n, [1n, 1n, 1n], [34n, 33n, 33n]],
    [-100n, [1n, 1n, 1n], [-34n, -33n, -33n]],
    [5n, [1n, 1n, 1n, 1n, 1n, 1n], [1n, 1n, 1n, 1n, 1n, 0n]],
    [1000n, [290n, 30n], [906n, 94n]],
    [101n, [70n, 30n], [71n, 30n]],
    [100n, [1n, 0n, 1n], [50n, 0n, 50n]],
    [1n, [0n, 1n], [0n, 1n]],
    [0n, [1n, 2n], [0n, 0n]],
    [7n, [5n], [7n]],
  ] as const)('splits %s by %s into %s', (amount, ratios, expected) => {
    expect(amountsOf(allocate(money(amount, 'USD'), ratios))).toEqual(expected);
  });

  it('gives the leftover units to the largest remainders, not the first parts', () => {
    // Exact shares are 1.2, 1.2 and 7.6: rounding down leaves one unit, and 7.6 has the largest remainder.
    expect(amountsOf(allocate(money(10n, 'USD'), [12n, 12n, 76n]))).toEqual([1n, 1n, 8n]);
  });

  it('keeps the currency', () => {
    for (const part of allocate(money(1005n, 'KWD'), [1n, 1n])) expect(part.currency).toBe('KWD');
  });

  it('throws on ratios that are a programming mistake', () => {
    const amount = money(100n, 'USD');
    expect(() => allocate(amount, [])).toThrow(MoneyAssertionError);
    expect(() => allocate(amount, [0n, 0n])).toThrow(MoneyAssertionError);
    expect(() => allocate(amount, [2n, -1n])).toThrow(MoneyAssertionError);
    expect(() => allocate(amount, Array.from({ length: allocate_ratios_max + 1 }, () => 1n))).toThrow(MoneyAssertionError);
  });

  const ratio_lists = fc.array(fc.bigInt({ min: 0n, max: 10n ** 6n }), { minLength: 1, maxLength: 20 }).filter((ratios) =>
    ratios.some((ratio) => ratio > 0n),
  );

  it('sums exactly to the original, each part within one unit of its exact share', () => {
    fc.assert(
      fc.property(moneys, ratio_lists, (value, ratios) => {
        const parts = allocate(value, ratios);
        expect(parts.length).toBe(ratios.length);
        expect(parts.reduce((sum, part) => sum + part.amount, 0n)).toBe(value.amount);
        const ratio_total = ratios.reduce((sum, ratio) => sum + ratio, 0n);
        const magnitude = value.amount < 0n ? -value.amount : value.amount;
        for (const [index, ratio] of ratios.entries()) {
          const part = parts[index];
          if (part === undefined) throw new Error(`allocate returned no part ${index}`);
          const share_magnitude = part.amount < 0n ? -part.amount : part.amount;
          const floor = (magnitude * ratio) / ratio_total;
          expect(share_magnitude === floor || share_magnitude === floor + 1n).toBe(true);
          if (ratio === 0n) expect(part.amount).toBe(0n);
          if (part.amount !== 0n) expect(part.amount < 0n).toBe(value.amount < 0n);
          expect(part.currency).toBe(value.currency);
        }
      }),
    );
  });

  it('splits into equal ratios with parts that differ by at most one unit', () => {
    fc.assert(
      fc.property(moneys, fc.integer({ min: 1, max: 50 }), fc.bigInt({ min: 1n, max: 1000n }), (value, count, ratio) => {
        const parts = amountsOf(allocate(value, Array.from({ length: count }, () => ratio)));
        const largest = parts.reduce((max, part) => (part > max ? part : max));
        const smallest = parts.reduce((min, part) => (part < min ? part : min));
        expect(largest - smallest <= 1n).toBe(true);
        expect(parts.reduce((sum, part) => sum + part, 0n)).toBe(value.amount);
      }),
    );
  });

  it('mirrors a split of the negated amount', () => {
    fc.assert(
      fc.property(moneys, ratio_lists, (value, ratios) => {
        const negated = money(-value.amount, value.currency);
        expect(amountsOf(allocate(negated, ratios))).toEqual(amountsOf(allocate(value, ratios)).map((part) => -part));
      }),
    );
  });
});
