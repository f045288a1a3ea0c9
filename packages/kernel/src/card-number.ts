// The shape of a card number: digits only, an ISO/IEC 7812 length, and a correct Luhn check
// digit; and the table of card networks, by issuer prefix and length. The vault refuses a
// malformed number at tokenization and names its network from the table, the card acquirer
// simulator declines a malformed number at authorization, and the gateway looks in request bodies
// for numbers that a network in the table could have issued. They share this one implementation,
// so that they never disagree about what a card number is. Nothing here logs or quotes the digits
// it is given.

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

/** The card networks Paygrid tells apart, lower case as Stripe's PaymentMethod shows them. */
export const card_networks = ['visa', 'mastercard', 'amex', 'discover', 'jcb', 'unionpay', 'diners', 'maestro', 'mir'] as const;
export type CardNetwork = (typeof card_networks)[number];

/** One range of issuer prefixes of a network, and the number lengths it issues there. */
export interface CardNumberRange {
  readonly network: CardNetwork;
  /** The first and the last prefix of the range, equally long: '51' to '55' is 51, 52, 53, 54 and 55. */
  readonly prefix_first: string;
  readonly prefix_last: string;
  readonly lengths: readonly number[];
}

const lengths_16_to_19 = [16, 17, 18, 19] as const;

/**
 * The networks' issuer identification numbers and lengths. No two ranges overlap (a test checks
 * it), so the order does not matter.
 *
 * Lengths are those the networks issue, not every length ISO/IEC 7812 allows. In particular the
 * only 15-digit numbers here are American Express's: ISO/IEC 7812 would allow 15 digits for
 * Maestro and Diners Club too, but we know of no card of either issued at that length, and every
 * IMEI (a phone's serial number, Luhn-checked like a card) has 15 digits. So an IMEI can match only
 * by starting with 34 or 37, which no IMEI reporting body uses; IMEIs from BABT (35), including
 * those in JCB's 3528 to 3589, fail on length, since JCB numbers have 16 to 19 digits.
 */
export const card_number_ranges: readonly CardNumberRange[] = [
  { network: 'visa', prefix_first: '4', prefix_last: '4', lengths: [13, 16, 19] },
  { network: 'mastercard', prefix_first: '51', prefix_last: '55', lengths: [16] },
  { network: 'mastercard', prefix_first: '2221', prefix_last: '2720', lengths: [16] },
  { network: 'amex', prefix_first: '34', prefix_last: '34', lengths: [15] },
  { network: 'amex', prefix_first: '37', prefix_last: '37', lengths: [15] },
  { network: 'discover', prefix_first: '6011', prefix_last: '6011', lengths: lengths_16_to_19 },
  { network: 'discover', prefix_first: '644', prefix_last: '649', lengths: lengths_16_to_19 },
  { network: 'discover', prefix_first: '65', prefix_last: '65', lengths: lengths_16_to_19 },
  { network: 'jcb', prefix_first: '3528', prefix_last: '3589', lengths: lengths_16_to_19 },
  { network: 'unionpay', prefix_first: '62', prefix_last: '62', lengths: lengths_16_to_19 },
  { network: 'diners', prefix_first: '36', prefix_last: '36', lengths: [14, ...lengths_16_to_19] },
  { network: 'diners', prefix_first: '300', prefix_last: '305', lengths: [14, ...lengths_16_to_19] },
  // Maestro's ranges that belong to no other network in this table.
  { network: 'maestro', prefix_first: '5018', prefix_last: '5018', lengths: [12, 13, 14, ...lengths_16_to_19] },
  { network: 'maestro', prefix_first: '5020', prefix_last: '5020', lengths: [12, 13, 14, ...lengths_16_to_19] },
  { network: 'maestro', prefix_first: '5038', prefix_last: '5038', lengths: [12, 13, 14, ...lengths_16_to_19] },
  { network: 'maestro', prefix_first: '5893', prefix_last: '5893', lengths: [12, 13, 14, ...lengths_16_to_19] },
  { network: 'maestro', prefix_first: '6304', prefix_last: '6304', lengths: [12, 13, 14, ...lengths_16_to_19] },
  { network: 'maestro', prefix_first: '6759', prefix_last: '6759', lengths: [12, 13, 14, ...lengths_16_to_19] },
  { network: 'maestro', prefix_first: '6761', prefix_last: '6763', lengths: [12, 13, 14, ...lengths_16_to_19] },
  { network: 'mir', prefix_first: '2200', prefix_last: '2204', lengths: lengths_16_to_19 },
];

/** Prefixes of one length compare as strings exactly as they do as numbers. */
function inRange(digits: string, range: CardNumberRange): boolean {
  const prefix = digits.slice(0, range.prefix_first.length);
  return prefix.length === range.prefix_first.length && prefix >= range.prefix_first && prefix <= range.prefix_last;
}

/** The range a number's leading digits fall in, whatever its length. */
function rangeOf(digits: string): CardNumberRange | undefined {
  return card_number_ranges.find((range) => inRange(digits, range));
}

/** The network a card number's leading digits belong to, whatever its length; undefined for none in the table. */
export function cardNetworkOf(digits: string): CardNetwork | undefined {
  return rangeOf(digits)?.network;
}

/**
 * A number some network in the table could have issued: digits only, a prefix and a length that
 * network issues, and a correct Luhn check digit. A long digit string that passes the Luhn check
 * is not enough: one in ten of any digit strings does.
 */
export function isIssuedCardNumber(digits: string): boolean {
  if (!isWellFormedCardNumber(digits)) return false;
  const range = rangeOf(digits);
  return range !== undefined && range.lengths.includes(digits.length);
}
