import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ApiError, card_networks } from '@paygrid/kernel';
import { withLuhnCheckDigit } from '@paygrid/kernel/testing';
import { cardBrand, card_brands } from '@paygrid/vault';
import { containsCardNumber, refuseCardNumbers } from './card-data-guard';

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

/** Test numbers of every network the vault names, and of those only the guard knows. */
const cards_by_network: Record<(typeof card_networks)[number], readonly string[]> = {
  visa: ['4242424242424242', '4000056655665556', '4222222222222', withLuhnCheckDigit('4'.padEnd(18, '1'))],
  mastercard: ['5555555555554444', '5105105105105100', '2223003122003222', withLuhnCheckDigit('272099000000000')],
  amex: ['378282246310005', '371449635398431', '340000000000009'],
  discover: ['6011111111111117', '6011000990139424', '6445644564456445', withLuhnCheckDigit('65'.padEnd(18, '0'))],
  jcb: ['3566002020360505', '3530111333300000', withLuhnCheckDigit('3589'.padEnd(18, '7'))],
  unionpay: ['6200000000000005', '6205500000000000004'],
  diners: ['3056930009020004', '36227206271667', withLuhnCheckDigit('300'.padEnd(13, '5'))],
  maestro: ['6759649826438453', withLuhnCheckDigit('5018'.padEnd(11, '2')), withLuhnCheckDigit('6763'.padEnd(18, '4'))],
  mir: [withLuhnCheckDigit('2200'.padEnd(15, '8')), withLuhnCheckDigit('2204'.padEnd(18, '1'))],
};

/** As people write them: 4-4-4-4, American Express 4-6-5, or 4s with a short last group. */
function grouped(number: string, separator: string): string {
  if (number.length === 15) return [number.slice(0, 4), number.slice(4, 10), number.slice(10)].join(separator);
  return number.replace(/(\d{4})(?=\d)/g, `$1${separator}`);
}

describe('the card-number guard', () => {
  it('refuses a card number of every network the vault names, whole or grouped, anywhere in a body, without quoting it', () => {
    const named = card_brands.filter((brand) => brand !== 'unknown');
    for (const brand of named) {
      const numbers = cards_by_network[brand];
      for (const number of numbers) {
        // The vault names it by the same table the guard reads.
        expect([number, cardBrand(number)]).toEqual([number, brand]);
        for (const written of [number, grouped(number, ' '), grouped(number, '-'), `card:${number}.`, `paid with ${grouped(number, ' ')} today`]) {
          const error = refusalOf(() => refuseCardNumbers({ customer: 'cus_1', line_items: [{ description: 'ok' }, { description: written }] }));
          expect([written, error.code, error.param]).toEqual([written, 'card_number_not_allowed', 'line_items[1].description']);
          expect(error.message).not.toContain(number.slice(4, 10));
        }
      }
    }
    expect(named.length).toBeGreaterThanOrEqual(7);
  });

  it('refuses Maestro and Mir numbers too, which the vault tokenizes as unknown', () => {
    for (const number of [...cards_by_network.maestro, ...cards_by_network.mir]) {
      expect(cardBrand(number)).toBe('unknown');
      expect(containsCardNumber(number)).toBe(true);
      expect(containsCardNumber(grouped(number, ' '))).toBe(true);
    }
  });

  it('lets IMEIs through, JCB-range ones included, whole or grouped as phones print them', () => {
    // Reporting bodies: 01 (PTCRB), 35 (BABT, in JCB's 3528 to 3589 too), 86 (TAF), 30 (Iridium,
    // in Diners' 300 to 305), 49, 50 (Maestro's 5018, 5020, 5038), 91, 99.
    const type_allocation_codes = ['01215800', '35209900', '35332011', '35589010', '35693803', '86117303', '30023410', '30512345', '49015420', '50180012', '50380044', '91030512', '99000862'];
    for (const code of type_allocation_codes) {
      for (const serial of ['176148', '000001', '999999']) {
        const imei = withLuhnCheckDigit(`${code}${serial}`);
        expect(imei).toHaveLength(15);
        for (const written of [imei, `${imei.slice(0, 2)}-${imei.slice(2, 8)}-${imei.slice(8, 14)}-${imei.slice(14)}`, `IMEI ${imei.slice(0, 8)} ${imei.slice(8)}`]) {
          expect([written, containsCardNumber(written)]).toEqual([written, false]);
        }
        expect(() => refuseCardNumbers({ description: `IMEI: ${imei}` })).not.toThrow();
      }
    }
  });

  it('lets through every 15-digit Luhn-valid number outside American Express', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{14}$/), (partial) => {
        const number = withLuhnCheckDigit(partial);
        fc.pre(!number.startsWith('34') && !number.startsWith('37'));
        expect(containsCardNumber(number)).toBe(false);
      }),
    );
  });

  it('lets through Luhn-valid numbers with no card prefix, of every card length', () => {
    for (const prefix of ['0', '1', '7', '8', '9', '35', '3590', '50', '56', '60', '63', '2100', '2205']) {
      for (let length = 12; length <= 19; length += 1) {
        const number = withLuhnCheckDigit(prefix.padEnd(length - 1, '0'));
        expect([number, containsCardNumber(number), containsCardNumber(grouped(number, ' '))]).toEqual([number, false, false]);
      }
    }
  });

  it('lets through long order numbers and references, Luhn-valid or not, whatever they start with', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[1-9][0-9]{19,39}$/), (partial) => {
        for (const reference of [partial, withLuhnCheckDigit(partial)]) {
          expect(containsCardNumber(`Order ${reference}`)).toBe(false);
          expect(containsCardNumber(`ORD-${reference}-A`)).toBe(false);
        }
      }),
    );
    // Twenty digits that begin with a Visa number are one reference, not a card and a digit.
    expect(containsCardNumber('42424242424242421')).toBe(false);
    expect(containsCardNumber('order 2024-0001-7')).toBe(false);
  });

  it('still finds a card number written next to other digit groups', () => {
    expect(containsCardNumber('4242 4242 4242 4242 1234')).toBe(true);
    expect(containsCardNumber('ref 12 4242-4242-4242-4242')).toBe(true);
    expect(containsCardNumber('x4242424242424242y')).toBe(true);
  });

  it("skips the fields a merchant exempted, and only those, and bank account numbers always", () => {
    const order_number = withLuhnCheckDigit('4'.padEnd(15, '7'));
    const body = { merchant_reference: order_number, line_items: [{ description: `Phone, order ${order_number}` }], description: 'Phones' };
    expect(refusalOf(() => refuseCardNumbers(body)).param).toBe('merchant_reference');
    expect(refusalOf(() => refuseCardNumbers(body, ['merchant_reference'])).param).toBe('line_items[0].description');
    // `description` is the top-level field: it does not exempt line items' descriptions.
    expect(refusalOf(() => refuseCardNumbers(body, ['merchant_reference', 'description'])).param).toBe('line_items[0].description');
    expect(() => refuseCardNumbers(body, ['merchant_reference', 'line_items.description'])).not.toThrow();
    expect(refusalOf(() => refuseCardNumbers({ description: order_number }, ['line_items.description'])).param).toBe('description');
    expect(() => refuseCardNumbers({ description: order_number }, ['description'])).not.toThrow();
    // An exempt name deeper in the body is a different field.
    expect(refusalOf(() => refuseCardNumbers({ metadata: { merchant_reference: order_number } }, ['merchant_reference'])).param).toBe('metadata.merchant_reference');
    expect(() => refuseCardNumbers({ bank_account: { account_number: '4242424242424242' } })).not.toThrow();
  });

  // Every Unicode space separator (the ordinary space, the no-break space, the en and em spaces,
  // the ideographic space...), the tab, dots, slashes and the zero-width characters.
  const unicode_spaces = Array.from({ length: 0x10000 }, (_, code) => String.fromCharCode(code)).filter((character) => /\p{Zs}/u.test(character));
  const zero_width = ['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff'];
  const separators = [...unicode_spaces, '\t', '.', '/', '-', ...zero_width];
  const fullWidth = (text: string) => text.replace(/[0-9]/g, (digit) => String.fromCharCode(0xff10 + Number(digit)));

  it('refuses card numbers split by dots, slashes, any Unicode space, tabs or zero-width characters, and written in full-width digits', () => {
    expect(unicode_spaces.length).toBeGreaterThanOrEqual(17);
    for (const number of ['4242424242424242', '378282246310005', '5555555555554444', '6759649826438453']) {
      for (const separator of separators) {
        for (const written of [grouped(number, separator), `card ${grouped(number, separator)} thanks`, grouped(fullWidth(number), separator), grouped(number, `${separator} `)]) {
          const error = refusalOf(() => refuseCardNumbers({ description: written }));
          expect([JSON.stringify(written), error.code, error.param]).toEqual([JSON.stringify(written), 'card_number_not_allowed', 'description']);
        }
      }
      expect(containsCardNumber(fullWidth(number))).toBe(true);
      // Digits one to a line are a list, not a number.
      expect(containsCardNumber(grouped(number, '\n'))).toBe(false);
    }
  });

  it('still lets IMEIs and long references through whatever separators they are written with', () => {
    const imei = withLuhnCheckDigit('35209900176148');
    const reference = withLuhnCheckDigit('4'.padEnd(21, '7'));
    for (const separator of separators) {
      for (const written of [
        `${imei.slice(0, 2)}${separator}${imei.slice(2, 8)}${separator}${imei.slice(8, 14)}${separator}${imei.slice(14)}`,
        `IMEI ${imei.slice(0, 8)}${separator}${imei.slice(8)}`,
        fullWidth(imei),
        `order ${reference}`,
        `order ${fullWidth(reference)}`,
        `v4.2.4${separator}2024`,
      ]) {
        expect([JSON.stringify(written), containsCardNumber(written)]).toEqual([JSON.stringify(written), false]);
      }
    }
  });
});
