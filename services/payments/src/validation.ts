// Input checks. The gateway validates requests too, but the service stands on its own: every value
// that reaches a table, a connector or the ledger has been checked here. The checks every service
// makes alike come from the kernel; they are re-exported here so that the rest of payments keeps
// importing its checks from one place.
import { amount_max } from '@paygrid/ledger';
import { checkText, invalidRequest as invalid, object_id_length_max } from '@paygrid/kernel';
import { cancellation_reasons, capture_methods, type CaptureMethod, type LineItem, type LineItemInput, type PaymentMethodInput } from './types';

export { checkAmount, checkCurrency, checkIdempotencyKey, checkText, idempotency_key_length_max, isPlausibleId } from '@paygrid/kernel';

export const description_length_max = 500;
export const merchant_reference_length_max = 255;
export const return_url_length_max = 2_048;
export const token_length_max = 255;
export const line_items_max = 100;
export const quantity_max = 1_000_000;
/** 'PG' and ten base32 characters. */
export const bank_transfer_reference_pattern = /^PG[A-Z2-7]{10}$/;

/** Optional text: absent is null; present, it must pass checkText (not blank, within the limit). */
export function checkOptionalText(value: unknown, param: string, length_max: number): string | null {
  if (value === undefined || value === null) return null;
  return checkText(value, param, length_max);
}

export function checkCaptureMethod(value: unknown): CaptureMethod {
  if (value === undefined) return 'automatic';
  const found = capture_methods.find((known) => known === value);
  if (found === undefined) throw invalid('parameter_invalid', `capture_method must be one of ${capture_methods.join(', ')}`, 'capture_method');
  return found;
}

export function checkCancellationReason(value: unknown): (typeof cancellation_reasons)[number] | null {
  if (value === undefined || value === null) return null;
  const found = cancellation_reasons.find((known) => known === value);
  if (found === undefined) throw invalid('parameter_invalid', `cancellation_reason must be one of ${cancellation_reasons.join(', ')}`, 'cancellation_reason');
  return found;
}

export function checkReturnUrl(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const text = checkText(value, 'return_url', return_url_length_max);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid('url_invalid', 'return_url must be an absolute http or https URL', 'return_url');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid('url_invalid', 'return_url must be an absolute http or https URL', 'return_url');
  return text;
}

export function checkPaymentMethod(value: unknown): PaymentMethodInput {
  if (typeof value !== 'object' || value === null) throw invalid('parameter_missing', 'payment_method is required', 'payment_method');
  const method = value as Record<string, unknown>;
  switch (method.type) {
    case 'card': {
      const token = checkText(method.token, 'payment_method[token]', token_length_max);
      return { type: 'card', token };
    }
    case 'wallet': {
      const wallet = checkText(method.wallet, 'payment_method[wallet]', object_id_length_max);
      return { type: 'wallet', wallet };
    }
    case 'alipay':
      return { type: 'alipay' };
    case 'wechat_pay':
      return { type: 'wechat_pay' };
    case 'bank_transfer':
      return { type: 'bank_transfer' };
    default:
      throw invalid('parameter_invalid', 'payment_method[type] must be one of card, wallet, alipay, wechat_pay, bank_transfer', 'payment_method[type]');
  }
}

/** Line items with their amounts computed exactly, and their total within the ledger's amount_max. */
export function checkLineItems(value: unknown): { line_items: LineItem[]; amount_total: bigint } {
  if (!Array.isArray(value) || value.length === 0 || value.length > line_items_max) {
    throw invalid('parameter_invalid', `line_items must hold 1 to ${line_items_max} items`, 'line_items');
  }
  const line_items: LineItem[] = [];
  let amount_total = 0n;
  (value as unknown[]).forEach((entry, index) => {
    const param = `line_items[${index}]`;
    if (typeof entry !== 'object' || entry === null) throw invalid('parameter_invalid', `${param} must be an object`, param);
    const item = entry as Partial<LineItemInput>;
    const description = checkText(item.description, `${param}.description`, description_length_max);
    const quantity = item.quantity;
    if (typeof quantity !== 'number' || !Number.isSafeInteger(quantity) || quantity < 1 || quantity > quantity_max) {
      throw invalid('parameter_invalid', `${param}.quantity must be an integer from 1 to ${quantity_max}`, `${param}.quantity`);
    }
    const unit_amount = item.unit_amount;
    if (typeof unit_amount !== 'bigint' || unit_amount < 0n || unit_amount > amount_max) {
      throw invalid('amount_invalid', `${param}.unit_amount must be an integer number of minor units from 0 to ${amount_max}`, `${param}.unit_amount`);
    }
    // Quantity is a count, not money: converting it to bigint is exact for a safe integer.
    const amount = unit_amount * BigInt(quantity);
    amount_total += amount;
    if (amount_total > amount_max) throw invalid('amount_invalid', `The order's total passes the largest amount, ${amount_max}`, 'line_items');
    line_items.push({ description, quantity, unit_amount, amount });
  });
  if (amount_total === 0n) throw invalid('amount_invalid', "The order's total must be above zero", 'line_items');
  return { line_items, amount_total };
}
