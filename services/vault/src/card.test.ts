import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ApiError, card_number_length_max, card_number_length_min, luhnValid } from '@paygrid/kernel';
import { withLuhnCheckDigit } from '@paygrid/kernel/testing';
import { cardBrand, checkCard, checkCardNumber, checkCvc, checkExpiry, expiry_years_ahead_max } from './card';
import type { CreateTokenInput } from './types';

/** The ApiError a call throws, failing the test when it does not. */
function refusalOf(call: () => unknown): ApiError {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  }
  throw new Error('expected the call to throw an ApiError');
}

// 2025-03-15: the expiry checks below count months from March 2025.
const now_ms = Date.UTC(2025, 2, 15, 12);

describe('cardBrand', () => {
  it('reads the network from the BIN, at the edges of every range', () => {
    const cases: [string, string][] = [
      ['4', 'visa'],
      ['50', 'unknown'],
      ['51', 'mastercard'],
      ['55', 'mastercard'],
      ['56', 'unknown'],
      ['2220', 'unknown'],
      ['2221', 'mastercard'],
      ['2720', 'mastercard'],
      ['2721', 'unknown'],
      ['34', 'amex'],
      ['37', 'amex'],
      ['6011', 'discover'],
      ['6012', 'unknown'],
      ['643', 'unknown'],
      ['644', 'discover'],
      ['649', 'discover'],
      ['65', 'discover'],
      ['3527', 'unknown'],
      ['3528', 'jcb'],
      ['3589', 'jcb'],
      ['3590', 'unknown'],
      ['62', 'unionpay'],
      ['36', 'diners'],
      ['299', 'unknown'],
      ['300', 'diners'],
      ['305', 'diners'],
      ['306', 'unknown'],
      ['1', 'unknown'],
      ['9', 'unknown'],
    ];
    for (const [prefix, brand] of cases) {
      const number = withLuhnCheckDigit(prefix.padEnd(15, '0'));
      expect([prefix, cardBrand(number)]).toEqual([prefix, brand]);
    }
  });
});

describe('checkCardNumber', () => {
  it('strips spaces and keeps the digits', () => {
    expect(checkCardNumber('4242 4242 4242 4242')).toBe('4242424242424242');
    expect(checkCardNumber(withLuhnCheckDigit('1'.repeat(card_number_length_min - 1)))).toHaveLength(card_number_length_min);
    expect(checkCardNumber(withLuhnCheckDigit('4'.repeat(card_number_length_max - 1)))).toHaveLength(card_number_length_max);
  });

  it('refuses anything else with incorrect_number on card[number], without quoting it', () => {
    const refused: unknown[] = [
      '4242424242424241',
      '4242-4242-4242-4242',
      '4242424242424242x',
      '',
      withLuhnCheckDigit('4'.repeat(card_number_length_min - 2)),
      withLuhnCheckDigit('4'.repeat(card_number_length_max)),
      ` ${'4'.repeat(70)}`,
      4242424242424242,
      undefined,
      null,
    ];
    for (const value of refused) {
      const error = refusalOf(() => checkCardNumber(value));
      expect(error.toWire()).toEqual({
        error: { type: 'invalid_request_error', code: 'incorrect_number', message: 'Your card number is incorrect.', param: 'card[number]' },
      });
    }
  });

  it('never puts any of the digits it was given in the error', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{12,19}$/), (digits) => {
        fc.pre(!luhnValid(digits));
        const error = refusalOf(() => checkCardNumber(digits));
        expect(JSON.stringify(error.toWire())).not.toContain(digits.slice(-4));
        expect(error.stack ?? '').not.toContain(digits);
      }),
    );
  });
});

describe('checkExpiry', () => {
  it('accepts the current month and later, up to the limit', () => {
    expect(checkExpiry(3, 2025, now_ms)).toEqual({ exp_month: 3, exp_year: 2025 });
    expect(checkExpiry(1, 2026, now_ms)).toEqual({ exp_month: 1, exp_year: 2026 });
    expect(checkExpiry(12, 2025 + expiry_years_ahead_max, now_ms)).toEqual({ exp_month: 12, exp_year: 2025 + expiry_years_ahead_max });
  });

  it('refuses a month outside 1-12 with invalid_expiry_month on card[exp_month]', () => {
    for (const month of [0, 13, -1, 1.5, '3', undefined, Number.NaN]) {
      const error = refusalOf(() => checkExpiry(month, 2030, now_ms));
      expect([error.type, error.code, error.param]).toEqual(['invalid_request_error', 'invalid_expiry_month', 'card[exp_month]']);
    }
  });

  it('refuses a past date, a bad year and a far future with invalid_expiry_year on card[exp_year]', () => {
    for (const [month, year] of [
      [2, 2025],
      [12, 2024],
      [3, 25],
      [3, 2026 + expiry_years_ahead_max],
      [3, '2030'],
      [3, 2030.5],
      [3, undefined],
    ] as const) {
      const error = refusalOf(() => checkExpiry(month, year, now_ms));
      expect([error.type, error.code, error.param]).toEqual(['invalid_request_error', 'invalid_expiry_year', 'card[exp_year]']);
    }
  });

  it('counts months in UTC', () => {
    // 2025-03-31T23:30 in UTC-5 is already April in UTC: a card expiring in March is over.
    const april_in_utc = Date.UTC(2025, 3, 1, 4, 30);
    expect(refusalOf(() => checkExpiry(3, 2025, april_in_utc)).code).toBe('invalid_expiry_year');
    expect(checkExpiry(3, 2025, april_in_utc - 5 * 60 * 60 * 1000)).toEqual({ exp_month: 3, exp_year: 2025 });
  });
});

describe('checkCvc', () => {
  it('takes 3 digits, 4 for American Express', () => {
    expect(checkCvc('123', 'visa')).toBe('123');
    expect(checkCvc('012', 'unknown')).toBe('012');
    expect(checkCvc('1234', 'amex')).toBe('1234');
    for (const [cvc, brand] of [
      ['1234', 'visa'],
      ['12', 'mastercard'],
      ['123', 'amex'],
      ['12a', 'visa'],
      [' 123', 'visa'],
      [123, 'visa'],
      [undefined, 'visa'],
    ] as const) {
      const error = refusalOf(() => checkCvc(cvc, brand));
      expect([error.type, error.code, error.param, error.message]).toEqual(['invalid_request_error', 'invalid_cvc', 'card[cvc]', "Your card's security code is invalid."]);
    }
  });
});

describe('checkCard', () => {
  it('checks in order: number, month, year, CVC', () => {
    const bad: CreateTokenInput = { number: '4242424242424241', exp_month: 13, exp_year: 2000, cvc: 'x' };
    expect(refusalOf(() => checkCard(bad, now_ms)).code).toBe('incorrect_number');
    expect(refusalOf(() => checkCard({ ...bad, number: '4242424242424242' }, now_ms)).code).toBe('invalid_expiry_month');
    expect(refusalOf(() => checkCard({ ...bad, number: '4242424242424242', exp_month: 3 }, now_ms)).code).toBe('invalid_expiry_year');
    expect(refusalOf(() => checkCard({ ...bad, number: '4242424242424242', exp_month: 3, exp_year: 2030 }, now_ms)).code).toBe('invalid_cvc');
    expect(refusalOf(() => checkCard(null as unknown as CreateTokenInput, now_ms)).code).toBe('incorrect_number');
  });

  it('returns the card with its brand and last four digits', () => {
    expect(checkCard({ number: '3782 822463 10005', exp_month: 7, exp_year: 2027, cvc: '1234' }, now_ms)).toEqual({
      number: '378282246310005',
      exp_month: 7,
      exp_year: 2027,
      cvc: '1234',
      brand: 'amex',
      last4: '0005',
    });
  });
});
