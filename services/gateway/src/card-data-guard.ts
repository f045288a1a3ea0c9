// Card numbers belong in POST /v1/tokens and nowhere else. A merchant who pastes one into a
// customer's name or a description would otherwise have it stored in plain text, logged and sent
// in webhooks, so every other request body is searched for card numbers, and refused, without
// quoting them, before anything is stored.
//
// Only numbers a card network could have issued count: a prefix and a length from the kernel's
// table of networks (the one the vault names brands from) and a correct Luhn check digit. A
// Luhn-valid digit run alone is not enough, because one run in ten passes the Luhn check: order
// numbers, IMEIs and other references would be refused as often. What still collides (a
// merchant's 16-digit order numbers starting with 4, say) goes in a field the merchant has
// exempted (Merchant.card_number_guard_exempt_fields).
import type { CardNumberGuardExemptField } from '@paygrid/identity';
import { ApiError, containsCardNumber } from '@paygrid/kernel';

// What counts as a card number inside text (separators, full-width digits) is the kernel's, so that
// the body guard here and the URL guard in the HTTP server never disagree.
export { containsCardNumber };

/** Fields that hold long digit runs that are not card numbers, for every merchant: bank account numbers. */
const always_exempt_field_names: ReadonlySet<string> = new Set(['account_number']);

/**
 * The path of the first string field holding a card number. `path` names the field as the error
 * shows it (`line_items[2].description`); `field` names it without indices, as exemptions do
 * (`line_items.description`).
 */
function findCardNumber(value: unknown, path: string, field: string, exempt: ReadonlySet<string>): string | undefined {
  if (exempt.has(field)) return undefined;
  if (typeof value === 'string') return containsCardNumber(value) ? path : undefined;
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = findCardNumber(item, `${path}[${index}]`, field, exempt);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if (always_exempt_field_names.has(key)) continue;
      const found = findCardNumber(item, path === '' ? key : `${path}.${key}`, field === '' ? key : `${field}.${key}`, exempt);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** Refuses a body holding a card number outside the fields the merchant exempted. */
export function refuseCardNumbers(body: unknown, exempt_fields: readonly CardNumberGuardExemptField[] = []): void {
  const param = findCardNumber(body, '', '', new Set(exempt_fields));
  if (param === undefined) return;
  throw new ApiError(
    'invalid_request_error',
    'card_number_not_allowed',
    `${param} looks like a card number; send card numbers only to POST /v1/tokens`,
    param,
  );
}
