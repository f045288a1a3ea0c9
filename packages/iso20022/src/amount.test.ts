import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { money, type CurrencyCode } from '@paygrid/money';
import { amount_minor_max, control_sum_minor_max, controlSum, formatAmount, parseAmount } from './amount';

function formatted(minor: bigint, currency: CurrencyCode): string {
  const result = formatAmount(minor, currency);
  if (!result.ok) throw new Error(result.errors.join(' '));
  return result.value;
}

describe('formatAmount', () => {
  it('writes exactly the exponent of fraction digits', () => {
    expect(formatted(1500n, 'JPY')).toBe('1500');
    expect(formatted(1500n, 'USD')).toBe('15.00');
    expect(formatted(1500n, 'KWD')).toBe('1.500');
    expect(formatted(5n, 'USD')).toBe('0.05');
    expect(formatted(0n, 'KWD')).toBe('0.000');
  });

  it('writes the largest amount the schema allows, 18 digits, and refuses one more', () => {
    expect(formatted(amount_minor_max, 'JPY')).toBe('999999999999999999');
    expect(formatted(amount_minor_max, 'USD')).toBe('9999999999999999.99');
    expect(formatted(amount_minor_max, 'KWD')).toBe('999999999999999.999');
    expect(formatAmount(amount_minor_max + 1n, 'USD')).toMatchObject({ ok: false, code: 'amount_too_large' });
  });

  it('refuses negative amounts', () => {
    expect(formatAmount(-1n, 'USD')).toMatchObject({ ok: false, code: 'amount_invalid' });
  });
});

describe('parseAmount', () => {
  it('reads minor units for each exponent', () => {
    expect(parseAmount('1500', 'JPY')).toEqual({ ok: true, value: 1500n });
    expect(parseAmount('15.00', 'USD')).toEqual({ ok: true, value: 1500n });
    expect(parseAmount('15.5', 'USD')).toEqual({ ok: true, value: 1550n });
    expect(parseAmount('1.500', 'KWD')).toEqual({ ok: true, value: 1500n });
    expect(parseAmount('999999999999999.999', 'KWD')).toEqual({ ok: true, value: amount_minor_max });
  });

  it('refuses more fraction digits than the exponent, signs, exponents and other text', () => {
    for (const [text, currency] of [
      ['15.0', 'JPY'],
      ['15.001', 'USD'],
      ['1.5000', 'KWD'],
      ['-1.00', 'USD'],
      ['+1.00', 'USD'],
      ['1e3', 'JPY'],
      ['1.', 'USD'],
      ['.5', 'USD'],
      [' 1.00', 'USD'],
      ['', 'USD'],
      ['1,00', 'USD'],
    ] as const) {
      expect(parseAmount(text, currency), text).toMatchObject({ ok: false, code: 'amount_invalid' });
    }
    expect(parseAmount('10000000000000000.00', 'USD')).toMatchObject({ ok: false, code: 'amount_too_large' });
  });

  it('reads back what formatAmount writes, for any amount in range and every exponent (no float involved)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: amount_minor_max }), fc.constantFrom<CurrencyCode>('JPY', 'USD', 'KWD'), (minor, currency) => {
        expect(parseAmount(formatted(minor, currency), currency)).toEqual({ ok: true, value: minor });
      }),
      { numRuns: 2000 },
    );
  });
});

describe('controlSum', () => {
  it('adds exactly, in the finest exponent when currencies are mixed', () => {
    expect(controlSum([money(1050n, 'EUR'), money(1n, 'EUR')])).toEqual({ ok: true, value: '10.51' });
    expect(controlSum([money(1n, 'JPY'), money(1n, 'KWD')])).toEqual({ ok: true, value: '1.001' });
    expect(controlSum([])).toEqual({ ok: true, value: '0' });
  });

  it('accepts a sum of exactly 2^53 - 1 minor units and refuses one more', () => {
    expect(controlSum([money(control_sum_minor_max - 1n, 'USD'), money(1n, 'USD')])).toEqual({ ok: true, value: '90071992547409.91' });
    const refused = controlSum([money(control_sum_minor_max, 'USD'), money(1n, 'USD')]);
    expect(refused).toMatchObject({ ok: false, code: 'control_sum_too_large' });
    if (!refused.ok) expect(refused.errors[0]).toContain('2^53 - 1');
  });
});
