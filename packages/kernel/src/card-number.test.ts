import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { card_number_length_max, card_number_length_min, isWellFormedCardNumber, luhnValid } from './card-number';
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
