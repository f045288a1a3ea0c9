import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { currencies, currency_codes } from './currency';
import { formatMinorUnits } from './format';
import {
  amount_max,
  parseMajorUnits,
  parseMinorUnits,
  parseMoneyFromMajorUnits,
  parseMoneyFromMinorUnits,
  type AmountOptions,
} from './parse';
import { money_error_codes, type MoneyErrorCode, type MoneyResult } from './result';

function expectRefusal<Value>(result: MoneyResult<Value>, code: MoneyErrorCode): void {
  expect(result).toMatchObject({ ok: false, code });
  if (!result.ok) expect(result.message).toMatch(/^\S.*\.$/);
}

const amounts_in_range = fc.bigInt({ min: -amount_max, max: amount_max });

describe('amount_max', () => {
  it('is the largest integer JSON clients read exactly, 2^53 - 1', () => {
    expect(amount_max).toBe(2n ** 53n - 1n);
    expect(amount_max.toString()).toBe(Number.MAX_SAFE_INTEGER.toString());
  });
});

describe('parseMinorUnits', () => {
  it.each([
    [0, 0n],
    [1234, 1234n],
    [Number.MAX_SAFE_INTEGER, amount_max],
    [1234n, 1234n],
    [amount_max, amount_max],
    ['0', 0n],
    ['1234', 1234n],
    ['9007199254740991', amount_max],
  ] as const)('accepts %s', (value, expected) => {
    expect(parseMinorUnits(value)).toEqual({ ok: true, value: expected });
  });

  it('accepts negative amounts only when asked', () => {
    expect(parseMinorUnits(-5, { allowNegative: true })).toEqual({ ok: true, value: -5n });
    expect(parseMinorUnits('-5', { allowNegative: true })).toEqual({ ok: true, value: -5n });
    expect(parseMinorUnits(-5n, { allowNegative: true })).toEqual({ ok: true, value: -5n });
    expect(parseMinorUnits('-9007199254740991', { allowNegative: true })).toEqual({ ok: true, value: -amount_max });
  });

  it('reads negative zero as zero', () => {
    expect(parseMinorUnits(-0)).toEqual({ ok: true, value: 0n });
    expect(parseMinorUnits('-0')).toEqual({ ok: true, value: 0n });
  });

  it.each([
    ['a float', 12.34, 'amount_not_integer'],
    ['a tiny float', Number.MIN_VALUE, 'amount_not_integer'],
    ['a decimal string', '12.34', 'amount_not_integer'],
    ['a decimal string of zeros', '12.00', 'amount_not_integer'],
    ['NaN', Number.NaN, 'amount_invalid'],
    ['Infinity', Number.POSITIVE_INFINITY, 'amount_invalid'],
    ['-Infinity', Number.NEGATIVE_INFINITY, 'amount_invalid'],
    ['the string NaN', 'NaN', 'amount_invalid'],
    ['the string Infinity', 'Infinity', 'amount_invalid'],
    ['exponent notation', '1e3', 'amount_invalid'],
    ['exponent notation with a sign', '1E+3', 'amount_invalid'],
    ['exponent notation with a point', '1.5e3', 'amount_invalid'],
    ['a leading plus', '+5', 'amount_invalid'],
    ['leading whitespace', ' 5', 'amount_invalid'],
    ['trailing whitespace', '5\n', 'amount_invalid'],
    ['inner whitespace', '1 000', 'amount_invalid'],
    ['a non-breaking space', '1\u00a0000', 'amount_invalid'],
    ['an empty string', '', 'amount_invalid'],
    ['leading zeros', '0012', 'amount_invalid'],
    ['a hexadecimal string', '0x10', 'amount_invalid'],
    ['an underscore separator', '1_000', 'amount_invalid'],
    ['a comma separator', '1,000', 'amount_invalid'],
    ['a trailing point', '5.', 'amount_invalid'],
    ['a leading point', '.5', 'amount_invalid'],
    ['a lone minus', '-', 'amount_invalid'],
    ['a double minus', '--5', 'amount_invalid'],
    ['Arabic-Indic digits', '\u0661\u0662', 'amount_invalid'],
    ['a currency symbol', '$5', 'amount_invalid'],
    ['null', null, 'amount_invalid'],
    ['undefined', undefined, 'amount_invalid'],
    ['a boolean', true, 'amount_invalid'],
    ['an object', { amount: 5 }, 'amount_invalid'],
    ['an array', [5], 'amount_invalid'],
    ['a negative number', -5, 'amount_negative'],
    ['a negative string', '-5', 'amount_negative'],
    ['a negative bigint', -5n, 'amount_negative'],
    ['an unsafe negative number', -1e20, 'amount_negative'],
    ['an unsafe integer', 2 ** 53, 'amount_too_large'],
    ['a huge number', 1e300, 'amount_too_large'],
    ['a string past 2^53 - 1', '9007199254740992', 'amount_too_large'],
    ['a bigint past 2^53 - 1', amount_max + 1n, 'amount_too_large'],
    ['a very long string of digits', '9'.repeat(100_000), 'amount_too_large'],
  ] as const)('refuses %s', (_, value, code) => {
    expectRefusal(parseMinorUnits(value), code);
  });

  it('refuses zero only when asked', () => {
    expectRefusal(parseMinorUnits(0, { allowZero: false }), 'amount_zero');
    expectRefusal(parseMinorUnits('0', { allowZero: false }), 'amount_zero');
    expectRefusal(parseMinorUnits(0n, { allowZero: false }), 'amount_zero');
    expectRefusal(parseMinorUnits('-0', { allowZero: false, allowNegative: true }), 'amount_zero');
    expect(parseMinorUnits(1, { allowZero: false })).toEqual({ ok: true, value: 1n });
  });

  it('applies a smaller maximum to the magnitude, on both sides of zero', () => {
    const options: AmountOptions = { maxMinorUnits: 1000n, allowNegative: true };
    expect(parseMinorUnits(1000, options)).toEqual({ ok: true, value: 1000n });
    expect(parseMinorUnits(-1000, options)).toEqual({ ok: true, value: -1000n });
    expectRefusal(parseMinorUnits(1001, options), 'amount_too_large');
    expectRefusal(parseMinorUnits('-1001', options), 'amount_too_large');
    expectRefusal(parseMinorUnits('10000', options), 'amount_too_large');
  });

  it('accepts larger strings and bigints when the maximum is raised, but never unsafe numbers', () => {
    const options: AmountOptions = { maxMinorUnits: 10n ** 30n };
    expect(parseMinorUnits('123456789012345678901234567890', options)).toEqual({
      ok: true,
      value: 123456789012345678901234567890n,
    });
    expectRefusal(parseMinorUnits(2 ** 60, options), 'amount_too_large');
  });

  it('reports the first broken rule: sign before zero and size', () => {
    expectRefusal(parseMinorUnits('-99999999999999999999', { allowZero: false }), 'amount_negative');
    expectRefusal(parseMinorUnits('-1.5'), 'amount_not_integer');
    expectRefusal(parseMinorUnits('+1.5'), 'amount_invalid');
  });

  it('names the field and quotes the input in its messages', () => {
    expect(parseMinorUnits('1e3', { field: 'refund.amount' })).toEqual({
      ok: false,
      code: 'amount_invalid',
      message: 'refund.amount must be written out in digits, not exponent notation; got "1e3".',
    });
    expect(parseMinorUnits(12.5)).toEqual({
      ok: false,
      code: 'amount_not_integer',
      message: 'amount must be a whole number of minor units (1234 for 12.34 USD); got 12.5.',
    });
    expect(parseMinorUnits('-5')).toEqual({
      ok: false,
      code: 'amount_negative',
      message: 'amount must not be negative; got "-5".',
    });
    expect(parseMinorUnits('9007199254740992')).toEqual({
      ok: false,
      code: 'amount_too_large',
      message: 'amount "9007199254740992" is larger than the largest accepted amount, 9007199254740991 minor units.',
    });
  });

  it('refuses long input in linear time', () => {
    for (const value of ['9'.repeat(1_000_000), `${'9'.repeat(1_000_000)}x`, `${'9'.repeat(1_000_000)}.5`]) {
      const started = performance.now();
      expect(parseMinorUnits(value).ok).toBe(false);
      expect(parseMajorUnits(value, 'USD').ok).toBe(false);
      expect(performance.now() - started).toBeLessThan(500);
    }
  });

  it('keeps huge input out of its messages', () => {
    const result = parseMinorUnits('x'.repeat(100_000));
    if (result.ok) throw new Error('expected a refusal');
    expect(result.message.length).toBeLessThan(200);
  });

  it('reads back every amount in range, from digits, bigints and safe integers', () => {
    fc.assert(
      fc.property(amounts_in_range, (amount) => {
        const options = { allowNegative: true };
        expect(parseMinorUnits(amount.toString(), options)).toEqual({ ok: true, value: amount });
        expect(parseMinorUnits(amount, options)).toEqual({ ok: true, value: amount });
        // A bigint in this range is a safe integer, so the JSON number form is exact too.
        expect(parseMinorUnits(JSON.parse(amount.toString()), options)).toEqual({ ok: true, value: amount });
      }),
    );
  });

  it('never throws, and only ever returns an amount within its bounds or a known refusal', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.anything(), fc.string(), fc.stringMatching(/^[-+]?[0-9]{0,20}(\.[0-9]{0,3})?(e[0-9])?$/), fc.double()),
        fc.boolean(),
        fc.boolean(),
        (value, allowNegative, allowZero) => {
          const result = parseMinorUnits(value, { allowNegative, allowZero });
          if (result.ok) {
            expect(result.value <= amount_max && result.value >= -amount_max).toBe(true);
            if (!allowNegative) expect(result.value >= 0n).toBe(true);
            if (!allowZero) expect(result.value).not.toBe(0n);
          } else {
            expect(money_error_codes).toContain(result.code);
          }
        },
      ),
    );
  });
});

describe('parseMajorUnits', () => {
  it.each([
    ['12.34', 'USD', 1234n],
    ['12.3', 'USD', 1230n],
    ['12', 'USD', 1200n],
    ['0.05', 'USD', 5n],
    ['0', 'USD', 0n],
    ['0.00', 'USD', 0n],
    ['1000', 'JPY', 1000n],
    ['1.005', 'KWD', 1005n],
    ['1.5', 'BHD', 1500n],
    ['0.0001', 'CLF', 1n],
    ['12.3456', 'UYW', 123456n],
    ['90071992547409.91', 'USD', amount_max],
  ] as const)('reads %s %s', (value, currency, expected) => {
    expect(parseMajorUnits(value, currency)).toEqual({ ok: true, value: expected });
  });

  it('reads negative amounts only when asked', () => {
    expect(parseMajorUnits('-12.34', 'USD', { allowNegative: true })).toEqual({ ok: true, value: -1234n });
    expect(parseMajorUnits('-0.001', 'KWD', { allowNegative: true })).toEqual({ ok: true, value: -1n });
    expectRefusal(parseMajorUnits('-12.34', 'USD'), 'amount_negative');
  });

  it.each([
    ['one digit too many', '12.345', 'USD', 'too_many_fraction_digits'],
    ['a trailing zero too many', '12.340', 'USD', 'too_many_fraction_digits'],
    ['any fraction for a currency without one', '100.5', 'JPY', 'too_many_fraction_digits'],
    ['a zero fraction for a currency without one', '100.0', 'JPY', 'too_many_fraction_digits'],
    ['four places for KWD', '1.0005', 'KWD', 'too_many_fraction_digits'],
    ['exponent notation', '1e3', 'USD', 'amount_invalid'],
    ['exponent notation with a fraction', '1.2E-2', 'USD', 'amount_invalid'],
    ['NaN', 'NaN', 'USD', 'amount_invalid'],
    ['Infinity', 'Infinity', 'USD', 'amount_invalid'],
    ['a float number', 12.34, 'USD', 'amount_invalid'],
    ['an integer number', 12, 'USD', 'amount_invalid'],
    ['a bigint', 12n, 'USD', 'amount_invalid'],
    ['null', null, 'USD', 'amount_invalid'],
    ['an empty string', '', 'USD', 'amount_invalid'],
    ['whitespace', ' 12.34', 'USD', 'amount_invalid'],
    ['a leading plus', '+12.34', 'USD', 'amount_invalid'],
    ['leading zeros', '012.34', 'USD', 'amount_invalid'],
    ['a grouping comma', '1,234.56', 'USD', 'amount_invalid'],
    ['a decimal comma', '12,34', 'EUR', 'amount_invalid'],
    ['a trailing point', '12.', 'USD', 'amount_invalid'],
    ['a leading point', '.5', 'USD', 'amount_invalid'],
    ['two points', '1.2.3', 'USD', 'amount_invalid'],
    ['a currency symbol', '$12', 'USD', 'amount_invalid'],
    ['a code in the amount', '12.34 USD', 'USD', 'amount_invalid'],
    ['a negative amount', '-1', 'USD', 'amount_negative'],
    ['an amount past the maximum', '90071992547409.92', 'USD', 'amount_too_large'],
    ['a very long amount', '9'.repeat(100_000), 'USD', 'amount_too_large'],
  ] as const)('refuses %s', (_, value, currency, code) => {
    expectRefusal(parseMajorUnits(value, currency), code);
  });

  it('refuses zero only when asked', () => {
    expectRefusal(parseMajorUnits('0.00', 'USD', { allowZero: false }), 'amount_zero');
    expect(parseMajorUnits('0.01', 'USD', { allowZero: false })).toEqual({ ok: true, value: 1n });
  });

  it('reports the first broken rule: fraction digits before sign and size', () => {
    expectRefusal(parseMajorUnits('-12.345', 'USD'), 'too_many_fraction_digits');
    expectRefusal(parseMajorUnits('99999999999999999.999', 'USD'), 'too_many_fraction_digits');
    expectRefusal(parseMajorUnits('-99999999999999999', 'USD'), 'amount_negative');
  });

  it('says in its messages how many places the currency has, and the maximum in major units', () => {
    expect(parseMajorUnits('12.345', 'USD')).toEqual({
      ok: false,
      code: 'too_many_fraction_digits',
      message: 'amount "12.345" has 3 digits after the point, but USD has 2 decimal places.',
    });
    expect(parseMajorUnits('1.5', 'JPY', { field: 'price' })).toEqual({
      ok: false,
      code: 'too_many_fraction_digits',
      message: 'price "1.5" has 1 digits after the point, but JPY has no minor unit, so only whole amounts.',
    });
    expect(parseMajorUnits('10.001', 'KWD', { maxMinorUnits: 10_000n })).toEqual({
      ok: false,
      code: 'amount_too_large',
      message: 'amount "10.001" is larger than the largest accepted amount, 10.000 KWD.',
    });
  });

  it('reads back what formatMinorUnits wrote, for every amount in range of every currency', () => {
    for (const currency of currency_codes) {
      fc.assert(
        fc.property(amounts_in_range, (amount) => {
          const text = formatMinorUnits(amount, currency);
          expect(parseMajorUnits(text, currency, { allowNegative: true })).toEqual({ ok: true, value: amount });
        }),
        { numRuns: 200 },
      );
    }
  });

  it('agrees with a reference reading of sign, whole digits and fraction digits', () => {
    const currency = fc.constantFrom(...currency_codes);
    const decimal = currency.chain((code) =>
      fc.record({
        code: fc.constant(code),
        negative: fc.boolean(),
        whole: fc.bigInt({ min: 0n, max: 10n ** 12n }),
        fraction: fc.string({ unit: fc.constantFrom(...'0123456789'), maxLength: currencies[code].exponent }),
      }),
    );
    fc.assert(
      fc.property(decimal, ({ code, negative, whole, fraction }) => {
        const text = `${negative ? '-' : ''}${whole.toString()}${fraction === '' ? '' : `.${fraction}`}`;
        const exponent = currencies[code].exponent;
        let expected = whole * 10n ** BigInt(exponent);
        for (const [index, digit] of [...fraction].entries()) {
          expected += BigInt(digit) * 10n ** BigInt(exponent - 1 - index);
        }
        const result = parseMajorUnits(text, code, { allowNegative: true });
        // Four-digit currencies reach past 2^53 - 1 within this range of whole digits.
        if (expected > amount_max) {
          expect(result).toMatchObject({ ok: false, code: 'amount_too_large' });
          return;
        }
        if (negative) expected = -expected;
        expect(result).toEqual({ ok: true, value: expected });
      }),
    );
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.string()), fc.constantFrom(...currency_codes), (value, currency) => {
        const result = parseMajorUnits(value, currency, { allowNegative: true });
        if (!result.ok) {
          expect(money_error_codes).toContain(result.code);
          return;
        }
        const written = formatMinorUnits(result.value, currency);
        expect(parseMajorUnits(written, currency, { allowNegative: true })).toEqual(result);
      }),
    );
  });
});

describe('parseMoneyFromMinorUnits and parseMoneyFromMajorUnits', () => {
  it('read an amount and a currency into Money', () => {
    const from_minor = parseMoneyFromMinorUnits(1234, 'usd');
    const from_major = parseMoneyFromMajorUnits('12.34', 'USD');
    expect(from_minor).toMatchObject({ ok: true, value: { amount: 1234n, currency: 'USD' } });
    expect(from_major).toMatchObject({ ok: true, value: { amount: 1234n, currency: 'USD' } });
  });

  it('check the currency first, then the amount', () => {
    expectRefusal(parseMoneyFromMinorUnits(12.5, 'XYZ'), 'currency_unknown');
    expectRefusal(parseMoneyFromMajorUnits('12.345', 'XYZ'), 'currency_unknown');
    expectRefusal(parseMoneyFromMinorUnits(12.5, 'USD'), 'amount_not_integer');
    expectRefusal(parseMoneyFromMajorUnits('12.345', 'usd'), 'too_many_fraction_digits');
    expectRefusal(parseMoneyFromMajorUnits('-1', 'usd'), 'amount_negative');
  });
});

describe('precedence', () => {
  it('lists the currency before the amount rules, shape before sign, sign before size', () => {
    const order: readonly MoneyErrorCode[] = money_error_codes;
    const position = (code: MoneyErrorCode): number => order.indexOf(code);
    expect(position('currency_unknown')).toBeLessThan(position('amount_invalid'));
    expect(position('amount_invalid')).toBeLessThan(position('amount_not_integer'));
    expect(position('too_many_fraction_digits')).toBeLessThan(position('amount_negative'));
    expect(position('amount_negative')).toBeLessThan(position('amount_zero'));
    expect(position('amount_zero')).toBeLessThan(position('amount_too_large'));
  });
});
