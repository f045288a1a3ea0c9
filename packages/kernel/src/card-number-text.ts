// Card numbers written inside text: a customer's name, a description, a URL, a log line. The
// gateway refuses request bodies and URLs that hold one, and the HTTP server keeps them out of the
// request log; they find them here, so that what one refuses the other hides.
//
// Only numbers a card network could have issued count (isIssuedCardNumber): a run of digits that
// merely passes the Luhn check is not enough, since one in ten does. Separators are recognised
// generously, because a number split by dots, slashes, a no-break space or an invisible character
// is just as much a card number to whoever reads it: any Unicode space separator (\p{Zs}: the
// ordinary space, the no-break space, the ideographic space and the rest), tabs, dashes, dots,
// slashes and the zero-width characters (U+200B to U+200D, U+2060, U+FEFF); full-width digits
// (U+FF10 to U+FF19, which an IME types) count as digits. Newlines do not separate: a list of
// references one to a line would otherwise read as one number.
import { card_number_length_max, card_number_length_min, isIssuedCardNumber } from './card-number';

/** At most this many separator characters between two digits of one number (`4242 - 4242`). */
export const card_number_separator_run_max = 3;

const digit_class = '0-9\\uFF10-\\uFF19';
const separator_class = '\\p{Zs}\\t\\u200B-\\u200D\\u2060\\uFEFF./\\-';
/** A run of digits, with short runs of separators between two digits. The classes are disjoint, so this never backtracks. */
const digit_run_pattern = new RegExp(`[${digit_class}](?:[${separator_class}]{0,${card_number_separator_run_max}}[${digit_class}])*`, 'gu');
const separators_pattern = new RegExp(`[${separator_class}]+`, 'u');
const full_width_digit_pattern = /[\uFF10-\uFF19]/g;
const full_width_zero = 0xff10;

function asciiDigits(group: string): string {
  return group.replace(full_width_digit_pattern, (digit) => String.fromCharCode(digit.charCodeAt(0) - full_width_zero + 48));
}

/**
 * Whether a run of digit groups holds a card number. The run has no digit directly before or after
 * it, so a run of 25 digits is not a card number, nor is any part of it. In a grouped run every
 * span of whole groups is a candidate, so that `4242 4242 4242 4242 1234` (a card, then something
 * else) is caught.
 */
function runHoldsCardNumber(run: string): boolean {
  const groups = run.split(separators_pattern).map(asciiDigits);
  for (let first = 0; first < groups.length; first += 1) {
    let digits = '';
    for (let last = first; last < groups.length; last += 1) {
      digits += groups[last] ?? '';
      if (digits.length > card_number_length_max) break;
      if (digits.length >= card_number_length_min && isIssuedCardNumber(digits)) return true;
    }
  }
  return false;
}

/** Where the runs of digits that hold a card number are in a text: [start, end) offsets. */
function cardNumberRuns(text: string): [number, number][] {
  const runs: [number, number][] = [];
  for (const match of text.matchAll(digit_run_pattern)) {
    const run = match[0];
    // A run shorter than the shortest card number cannot hold one, separators or not.
    if (run.length < card_number_length_min) continue;
    if (runHoldsCardNumber(run)) runs.push([match.index, match.index + run.length]);
  }
  return runs;
}

/** Whether a text holds a card number, written whole or in groups, alone or inside other text. */
export function containsCardNumber(text: string): boolean {
  for (const match of text.matchAll(digit_run_pattern)) {
    const run = match[0];
    if (run.length >= card_number_length_min && runHoldsCardNumber(run)) return true;
  }
  return false;
}

/**
 * The text with every run of digits that holds a card number replaced by `censor`, the pieces
 * between them passed through `piece` (the URL guard re-encodes them). Undefined when the text
 * holds no card number, so that the common case allocates nothing.
 */
export function redactCardNumbers(text: string, censor: string, piece: (text: string) => string = (text) => text): string | undefined {
  const runs = cardNumberRuns(text);
  if (runs.length === 0) return undefined;
  let redacted = '';
  let position = 0;
  for (const [start, end] of runs) {
    redacted += piece(text.slice(position, start)) + censor;
    position = end;
  }
  return redacted + piece(text.slice(position));
}
