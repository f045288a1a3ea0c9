import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  card_networks,
  card_number_length_max,
  card_number_length_min,
  card_number_ranges,
  cardNetworkOf,
  isIssuedCardNumber,
  isWellFormedCardNumber,
  luhnValid,
} from './card-number';
import { withLuhnCheckDigit } from './testing';

describe('luhnValid', () => {
  it('accepts the networks published test numbers and refuses them with any one digit changed', () => {
    const published = ['4242424242424242', '4000000000000002', '5555555555554444', '378282246310005', '6011111111111117', '3056930009020004', '3566002020360505', '6200000000000005'];
    for (const number of published) {
      expect(luhnValid(number)).toBe(true);
      for (let position = 0; position < number.length; position += 1) {
        const digit = Number.parseInt(number.charAt(position), 10);
        const changed = `${number.slice(0, position)}${(digit + 1) % 10}${number.slice(position + 1)}`;
        expect(luhnValid(changed)).toBe(false);
      }
    }
  });

  it('finds exactly one check digit for any prefix, and catches every swap of adjacent different digits but 09/90', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{11,18}$/), (partial) => {
        const valid = Array.from({ length: 10 }, (_, digit) => luhnValid(`${partial}${digit}`)).filter(Boolean);
        expect(valid).toHaveLength(1);
        const number = withLuhnCheckDigit(partial);
        for (let position = 0; position + 1 < number.length; position += 1) {
          const first = number.charAt(position);
          const second = number.charAt(position + 1);
          if (first === second || `${first}${second}` === '09' || `${first}${second}` === '90') continue;
          const swapped = `${number.slice(0, position)}${second}${first}${number.slice(position + 2)}`;
          expect(luhnValid(swapped)).toBe(false);
        }
      }),
    );
  });
});

describe('isWellFormedCardNumber', () => {
  it('accepts published test numbers and refuses a wrong check digit', () => {
    for (const number of ['4242424242424242', '378282246310005', '6011111111111117']) {
      expect(isWellFormedCardNumber(number)).toBe(true);
    }
    expect(isWellFormedCardNumber('4242424242424241')).toBe(false);
    expect(isWellFormedCardNumber('4000000000000001')).toBe(false);
  });

  it('takes 12 to 19 digits and nothing shorter or longer', () => {
    expect(isWellFormedCardNumber(withLuhnCheckDigit('4'.repeat(card_number_length_min - 1)))).toBe(true);
    expect(isWellFormedCardNumber(withLuhnCheckDigit('4'.repeat(card_number_length_max - 1)))).toBe(true);
    expect(isWellFormedCardNumber(withLuhnCheckDigit('4'.repeat(card_number_length_min - 2)))).toBe(false);
    expect(isWellFormedCardNumber(withLuhnCheckDigit('4'.repeat(card_number_length_max)))).toBe(false);
    // Zeros pass the Luhn sum, so only the length refuses these.
    expect(isWellFormedCardNumber('')).toBe(false);
    expect(isWellFormedCardNumber('0'.repeat(card_number_length_max + 1))).toBe(false);
  });

  it('refuses anything but digits, spaces and dashes included', () => {
    for (const number of ['4242 4242 4242 4242', '4242-4242-4242-4242', '424242424242424a', '４２４２４２４２４２４２４２４２', ' 4242424242424242', '4242424242424242\n']) {
      expect(isWellFormedCardNumber(number)).toBe(false);
    }
  });
});

describe('card_number_ranges', () => {
  it('has no two ranges that overlap, so a number belongs to one network at most', () => {
    // Compared at the longer prefix's length: the shorter range's first prefix padded with 0s, its last with 9s.
    for (const [index, first] of card_number_ranges.entries()) {
      expect(first.prefix_first.length).toBe(first.prefix_last.length);
      expect(first.prefix_first <= first.prefix_last).toBe(true);
      for (const second of card_number_ranges.slice(index + 1)) {
        const length = Math.max(first.prefix_first.length, second.prefix_first.length);
        const low = (prefix: string) => prefix.padEnd(length, '0');
        const high = (prefix: string) => prefix.padEnd(length, '9');
        const apart = high(first.prefix_last) < low(second.prefix_first) || high(second.prefix_last) < low(first.prefix_first);
        expect(apart, `${first.network} ${first.prefix_first}-${first.prefix_last} and ${second.network} ${second.prefix_first}-${second.prefix_last}`).toBe(true);
      }
    }
  });

  it('gives every network at least one range, with lengths inside ISO/IEC 7812', () => {
    for (const network of card_networks) expect(card_number_ranges.some((range) => range.network === network)).toBe(true);
    for (const range of card_number_ranges) {
      for (const length of range.lengths) {
        expect(length).toBeGreaterThanOrEqual(card_number_length_min);
        expect(length).toBeLessThanOrEqual(card_number_length_max);
      }
    }
  });

  it('leaves 15 digits to American Express alone, the length of every IMEI', () => {
    const fifteen = card_number_ranges.filter((range) => range.lengths.includes(15));
    expect(new Set(fifteen.map((range) => range.network))).toEqual(new Set(['amex']));
  });
});

describe('cardNetworkOf', () => {
  it('reads the network from the leading digits, at the edges of every range', () => {
    const cases: [string, string | undefined][] = [
      ['4', 'visa'],
      ['50', undefined],
      ['5018', 'maestro'],
      ['5019', undefined],
      ['51', 'mastercard'],
      ['55', 'mastercard'],
      ['56', undefined],
      ['2199', undefined],
      ['2200', 'mir'],
      ['2204', 'mir'],
      ['2205', undefined],
      ['2220', undefined],
      ['2221', 'mastercard'],
      ['2720', 'mastercard'],
      ['2721', undefined],
      ['34', 'amex'],
      ['35', undefined],
      ['3527', undefined],
      ['3528', 'jcb'],
      ['3589', 'jcb'],
      ['3590', undefined],
      ['37', 'amex'],
      ['299', undefined],
      ['300', 'diners'],
      ['305', 'diners'],
      ['306', undefined],
      ['36', 'diners'],
      ['6011', 'discover'],
      ['6012', undefined],
      ['62', 'unionpay'],
      ['6303', undefined],
      ['6304', 'maestro'],
      ['643', undefined],
      ['644', 'discover'],
      ['649', 'discover'],
      ['65', 'discover'],
      ['6759', 'maestro'],
      ['6760', undefined],
      ['6761', 'maestro'],
      ['6763', 'maestro'],
      ['6764', undefined],
      ['1', undefined],
      ['7', undefined],
      ['8', undefined],
      ['9', undefined],
      ['0', undefined],
    ];
    for (const [prefix, network] of cases) {
      expect([prefix, cardNetworkOf(withLuhnCheckDigit(prefix.padEnd(15, '0')))]).toEqual([prefix, network]);
    }
    expect(cardNetworkOf('')).toBeUndefined();
    expect(cardNetworkOf('5')).toBeUndefined();
  });
});

describe('isIssuedCardNumber', () => {
  it('accepts test numbers of every network in the table', () => {
    const numbers = [
      '4242424242424242',
      '4000056655665556',
      '4222222222222',
      '5555555555554444',
      '2223003122003222',
      '378282246310005',
      '371449635398431',
      '6011111111111117',
      '6011000990139424',
      '6445644564456445',
      '3566002020360505',
      '3530111333300000',
      '6200000000000005',
      '6205500000000000004',
      '3056930009020004',
      '36227206271667',
      '6759649826438453',
      '5018000000000009',
      '2200000000000004',
    ];
    for (const number of numbers) expect([number, isIssuedCardNumber(number)]).toEqual([number, true]);
  });

  it('refuses a wrong check digit, a length the network does not issue, and numbers of no network', () => {
    expect(isIssuedCardNumber('4242424242424241')).toBe(false);
    // Visa issues 13, 16 and 19 digits; Mastercard only 16; American Express only 15.
    expect(isIssuedCardNumber(withLuhnCheckDigit('4'.repeat(14)))).toBe(false);
    expect(isIssuedCardNumber(withLuhnCheckDigit('5'.repeat(16)))).toBe(false);
    expect(isIssuedCardNumber(withLuhnCheckDigit('37'.padEnd(15, '1')))).toBe(false);
    for (const prefix of ['1', '7', '8', '9', '0', '35', '50', '56', '3590']) {
      for (let length = card_number_length_min; length <= card_number_length_max; length += 1) {
        expect([prefix, length, isIssuedCardNumber(withLuhnCheckDigit(prefix.padEnd(length - 1, '0')))]).toEqual([prefix, length, false]);
      }
    }
  });

  it('refuses every 15-digit Luhn-valid number outside 34 and 37: no IMEI is a card number', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{14}$/), (partial) => {
        const number = withLuhnCheckDigit(partial);
        expect(isIssuedCardNumber(number)).toBe(number.startsWith('34') || number.startsWith('37'));
      }),
    );
  });

  it('refuses anything but digits', () => {
    for (const number of ['4242 4242 4242 4242', '4242-4242-4242-4242', '', '424242424242424a']) expect(isIssuedCardNumber(number)).toBe(false);
  });
});
