// Card numbers belong in POST /v1/tokens and nowhere else. A merchant who pastes one into a
// customer's name or a description would otherwise have it stored in plain text, logged and sent
// in webhooks, so every other request body is searched for digit runs that pass the Luhn check,
// and refused, without quoting them, before anything is stored.
import { ApiError, luhnValid } from '@paygrid/kernel';

/** Fields that hold long digit runs that are not card numbers: bank account numbers. */
const exempt_fields: ReadonlySet<string> = new Set(['account_number']);

/** 12 to 19 digits, optionally grouped with spaces or dashes, as people type card numbers. */
const card_like_pattern = /\d(?:[ -]?\d){11,18}/g;

function containsCardNumber(text: string): boolean {
  for (const match of text.matchAll(card_like_pattern)) {
    if (luhnValid(match[0].replace(/[ -]/g, ''))) return true;
  }
  return false;
}

/** The path of the first string field holding something shaped like a card number. */
function findCardNumber(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return containsCardNumber(value) ? path : undefined;
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = findCardNumber(item, `${path}[${index}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if (exempt_fields.has(key)) continue;
      const found = findCardNumber(item, path === '' ? key : `${path}.${key}`);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

export function refuseCardNumbers(body: unknown): void {
  const param = findCardNumber(body, '');
  if (param === undefined) return;
  throw new ApiError(
    'invalid_request_error',
    'card_number_not_allowed',
    `${param} looks like a card number; send card numbers only to POST /v1/tokens`,
    param,
  );
}
