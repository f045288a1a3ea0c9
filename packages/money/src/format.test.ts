import { describe, expect, it } from 'vitest';
import { formatMinorUnits, formatMoney } from './format';
import { money } from './money';

describe('formatMinorUnits', () => {
  it.each([
    [1234n, 'USD', '12.34'],
    [1200n, 'USD', '12.00'],
    [5n, 'USD', '0.05'],
    [0n, 'USD', '0.00'],
    [-5n, 'USD', '-0.05'],
    [-1234n, 'USD', '-12.34'],
    [1000n, 'JPY', '1000'],
    [-1000n, 'JPY', '-1000'],
    [0n, 'JPY', '0'],
    [1005n, 'KWD', '1.005'],
    [1n, 'KWD', '0.001'],
    [1n, 'CLF', '0.0001'],
    [123456n, 'UYW', '12.3456'],
    [9_007_199_254_740_991n, 'USD', '90071992547409.91'],
    [123456789012345678901234567890n, 'EUR', '1234567890123456789012345678.90'],
  ] as const)('writes %s %s as %s', (amount, currency, expected) => {
    expect(formatMinorUnits(amount, currency)).toBe(expected);
  });
});

describe('formatMoney', () => {
  it('writes the amount, then the code', () => {
    expect(formatMoney(money(1234n, 'USD'))).toBe('12.34 USD');
    expect(formatMoney(money(1000n, 'JPY'))).toBe('1000 JPY');
    expect(formatMoney(money(-1005n, 'KWD'))).toBe('-1.005 KWD');
  });
});
