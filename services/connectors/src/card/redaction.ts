// A card number must never appear in an error, a log line or a returned object. Messages that
// come back from an acquirer or a vault are passed through here before they go anywhere, in case
// one of them quotes the number it was given.

/** 13 to 19 digits, as card numbers are, optionally grouped by spaces or dashes. */
const card_number_pattern = /\d(?:[ -]?\d){12,18}/g;

export const card_number_censor = '[card number]';

export function redactCardNumbers(text: string): string {
  return text.replace(card_number_pattern, card_number_censor);
}
