// The shape of a card number: digits only, an ISO/IEC 7812 length, and a correct Luhn check
// digit. The vault refuses a malformed number at tokenization, the card acquirer simulator
// declines one at authorization, and the gateway looks for well-formed numbers in request bodies
// where none belongs. They share this one implementation, so that they never disagree about what
// a card number is. Nothing here logs or quotes the digits it is given.

/** ISO/IEC 7812 numbers run from 12 (some Maestro) to 19 digits. */
export const card_number_length_min = 12;
export const card_number_length_max = 19;

const digits_pattern = /^[0-9]+$/;

/** The Luhn (mod 10) check digit test; `digits` holds only 0-9. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let position = digits.length - 1; position >= 0; position -= 1) {
    let digit = digits.charCodeAt(position) - 48;
    if (double) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    double = !double;
  }
  return sum % 10 === 0;
}

/** Digits only, 12 to 19 of them, with a correct Luhn check digit. Spaces are not removed here. */
export function isWellFormedCardNumber(digits: string): boolean {
  if (digits.length < card_number_length_min || digits.length > card_number_length_max) return false;
  if (!digits_pattern.test(digits)) return false;
  return luhnValid(digits);
}
