// IBANs are checked before they are written into a file or trusted from one: the country's length,
// the characters, and the ISO 13616 mod-97 check digits.

/**
 * IBAN length per country, from the SWIFT IBAN registry (ISO 13616 registration authority): every
 * SEPA country, the United Kingdom, Switzerland and Norway among them, and the other registered
 * countries that are well established. A country missing here is refused rather than guessed at.
 */
export const iban_lengths: Readonly<Record<string, number>> = Object.freeze({
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, BY: 28, CH: 21,
  CR: 22, CY: 28, CZ: 24, DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27,
  GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26,
  IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, LY: 25, MC: 27,
  MD: 24, ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25,
  QA: 29, RO: 24, RS: 22, SA: 24, SC: 31, SE: 24, SI: 19, SK: 24, SM: 27, ST: 25, SV: 28, TL: 23,
  TN: 24, TR: 26, UA: 29, VA: 22, VG: 24, XK: 20,
});

/** ISO 13616 caps an IBAN at 34 characters; input longer than this, spaces included, is refused unread. */
export const iban_input_length_max = 64;

export type IbanRefusalCode =
  | 'invalid_iban_characters'
  | 'invalid_iban_country'
  | 'invalid_iban_length'
  | 'invalid_iban_check_digits';

export type IbanResult =
  | { readonly ok: true; readonly iban: string }
  | { readonly ok: false; readonly code: IbanRefusalCode; readonly message: string };

const iban_characters_pattern = /^[A-Z]{2}[0-9]{2}[A-Z0-9]+$/;

/**
 * Returns the IBAN in its electronic form (upper case, no spaces) or the first rule it breaks, in
 * this order: characters, country, length, check digits.
 */
export function validateIban(text: string): IbanResult {
  if (text.length > iban_input_length_max) {
    return { ok: false, code: 'invalid_iban_length', message: `an IBAN has at most 34 characters; got ${text.length}.` };
  }
  const iban = text.replace(/ /g, '').toUpperCase();
  if (!iban_characters_pattern.test(iban)) {
    return {
      ok: false,
      code: 'invalid_iban_characters',
      message: 'an IBAN is two letters, two check digits, then letters and digits (spaces allowed between groups).',
    };
  }
  const country = iban.slice(0, 2);
  const length = iban_lengths[country];
  if (length === undefined) {
    return { ok: false, code: 'invalid_iban_country', message: `${country} is not a country in the IBAN registry table.` };
  }
  if (iban.length !== length) {
    return { ok: false, code: 'invalid_iban_length', message: `an IBAN of ${country} has ${length} characters; got ${iban.length}.` };
  }
  if (ibanRemainder(iban) !== 1) {
    return { ok: false, code: 'invalid_iban_check_digits', message: 'the IBAN check digits do not match the rest (mod 97).' };
  }
  return { ok: true, iban };
}

/** The last four characters, for showing an account to a person without showing all of it. */
export function last4(iban: string): string {
  return iban.replace(/ /g, '').slice(-4);
}

/**
 * ISO 13616 mod 97: move the first four characters to the end, turn letters into 10..35, and take
 * the remainder of the resulting integer by 97. It is computed digit by digit, so the running
 * remainder stays below 97 × 100 and plain integers are exact.
 */
function ibanRemainder(iban: string): number {
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (const character of rearranged) {
    const code = character.charCodeAt(0);
    // Digits are 48..57; letters A..Z are 65..90 and stand for 10..35.
    const value = code <= 57 ? code - 48 : code - 55;
    remainder = value >= 10 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
  }
  return remainder;
}
