// The JSON the card acquirer's HTTP server and its client exchange. Amounts travel as strings of
// digits so that no JSON reader on the way can round them; both ends check every field they read.
import { isCurrencyCode, parseMinorUnits } from '@paygrid/money';
import type { DeclineCode, ProviderStatus } from '../connector';
import { connector_failure_codes, type ConnectorFailureCode } from '../internal/failures';
import { isRecord, readRecord, readString, type JsonRecord } from '../internal/json';
import type {
  AcquirerAuthorizeRequest,
  AcquirerAuthorizeResult,
  AcquirerCaptureRequest,
  AcquirerOperationResult,
  AcquirerRefundRequest,
  AcquirerVoidRequest,
} from './acquirer';

/** The paths of the acquirer's JSON API, relative to its base URL. */
export const acquirer_paths = {
  authorize: '/v1/authorize',
  capture: '/v1/capture',
  void: '/v1/void',
  refund: '/v1/refund',
  status: '/v1/status/',
} as const;

const decline_codes: ReadonlySet<string> = new Set<DeclineCode>([
  'card_declined',
  'insufficient_funds',
  'expired_card',
  'incorrect_cvc',
  'processing_error',
  'authentication_failed',
  'payment_method_unavailable',
]);

/** Identifiers and references are short printable text; the limit keeps a request small. */
const reference_length_max = 255;
const url_length_max = 2048;

export type WireRead<Value> = { readonly ok: true; readonly value: Value } | { readonly ok: false; readonly message: string };

function refuse(message: string): { readonly ok: false; readonly message: string } {
  return { ok: false, message };
}

function readReference(record: JsonRecord, key: string): string | undefined {
  const value = readString(record, key);
  if (value === undefined || value === '' || value.length > reference_length_max) return undefined;
  return value;
}

function readAmount(record: JsonRecord, key: string): bigint | undefined {
  const parsed = parseMinorUnits(record[key], { allowZero: false, field: key });
  return parsed.ok ? parsed.value : undefined;
}

function readMonthOrYear(record: JsonRecord, key: string, minimum: number, maximum: number): number | undefined {
  const value = record[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum || value > maximum) return undefined;
  return value;
}

export function readAuthorizeRequest(body: unknown): WireRead<AcquirerAuthorizeRequest> {
  if (!isRecord(body)) return refuse('The body must be a JSON object.');
  const reference = readReference(body, 'reference');
  if (reference === undefined) return refuse('reference must be a non-empty string.');
  const amount = readAmount(body, 'amount');
  if (amount === undefined) return refuse('amount must be a positive whole number of minor units, as a string of digits.');
  const currency = readString(body, 'currency');
  if (currency === undefined || !isCurrencyCode(currency)) return refuse('currency must be an ISO 4217 code such as "USD".');
  const capture_method = readString(body, 'capture_method');
  if (capture_method !== 'automatic' && capture_method !== 'manual') return refuse('capture_method must be automatic or manual.');
  // Required, not defaulted: an acquirer must never guess whether money is real.
  const livemode = body['livemode'];
  if (typeof livemode !== 'boolean') return refuse('livemode must be true or false.');
  const return_url = body['return_url'];
  if (return_url !== undefined && (typeof return_url !== 'string' || return_url.length > url_length_max)) {
    return refuse('return_url must be a URL.');
  }
  const card = readRecord(body, 'card');
  if (card === undefined) return refuse('card must be an object.');
  // The messages never quote the card's fields: they may be a card number.
  const number = readString(card, 'number');
  if (number === undefined || !/^[0-9]{12,19}$/.test(number)) return refuse('card.number must be 12 to 19 digits.');
  const exp_month = readMonthOrYear(card, 'exp_month', 1, 12);
  const exp_year = readMonthOrYear(card, 'exp_year', 2000, 9999);
  if (exp_month === undefined || exp_year === undefined) return refuse('card.exp_month and card.exp_year must be a month and a year.');
  const cvc = card['cvc'];
  if (cvc !== null && (typeof cvc !== 'string' || !/^[0-9]{3,4}$/.test(cvc))) return refuse('card.cvc must be 3 or 4 digits, or null.');
  return {
    ok: true,
    value: {
      reference,
      livemode,
      amount,
      currency,
      capture_method,
      card: { number, exp_month, exp_year, cvc },
      ...(return_url === undefined ? {} : { return_url }),
    },
  };
}

export function writeAuthorizeRequest(request: AcquirerAuthorizeRequest): JsonRecord {
  return {
    reference: request.reference,
    livemode: request.livemode,
    amount: request.amount.toString(),
    currency: request.currency,
    capture_method: request.capture_method,
    card: request.card,
    ...(request.return_url === undefined ? {} : { return_url: request.return_url }),
  };
}

export function readCaptureRequest(body: unknown): WireRead<AcquirerCaptureRequest> {
  return readAmountOperation(body);
}

export function readRefundRequest(body: unknown): WireRead<AcquirerRefundRequest> {
  return readAmountOperation(body);
}

function readAmountOperation(body: unknown): WireRead<{ reference: string; provider_reference: string; amount: bigint }> {
  if (!isRecord(body)) return refuse('The body must be a JSON object.');
  const reference = readReference(body, 'reference');
  const provider_reference = readReference(body, 'provider_reference');
  if (reference === undefined || provider_reference === undefined) {
    return refuse('reference and provider_reference must be non-empty strings.');
  }
  const amount = readAmount(body, 'amount');
  if (amount === undefined) return refuse('amount must be a positive whole number of minor units, as a string of digits.');
  return { ok: true, value: { reference, provider_reference, amount } };
}

export function readVoidRequest(body: unknown): WireRead<AcquirerVoidRequest> {
  if (!isRecord(body)) return refuse('The body must be a JSON object.');
  const reference = readReference(body, 'reference');
  const provider_reference = readReference(body, 'provider_reference');
  if (reference === undefined || provider_reference === undefined) {
    return refuse('reference and provider_reference must be non-empty strings.');
  }
  return { ok: true, value: { reference, provider_reference } };
}

export function writeAmountOperation(request: AcquirerCaptureRequest | AcquirerRefundRequest): JsonRecord {
  return { reference: request.reference, provider_reference: request.provider_reference, amount: request.amount.toString() };
}

/** Reads the acquirer's answer to authorize, keeping only the fields the connector returns. */
export function readAuthorizeResult(body: unknown): WireRead<AcquirerAuthorizeResult> {
  if (!isRecord(body)) return refuse('the answer is not a JSON object');
  const status = readString(body, 'status');
  if (status === 'declined') {
    const code = readString(body, 'code');
    const message = readString(body, 'message');
    if (code === undefined || !decline_codes.has(code) || message === undefined) return refuse('the decline has no known code');
    return { ok: true, value: { status, code: code as DeclineCode, message } };
  }
  const provider_reference = readReference(body, 'provider_reference');
  if (provider_reference === undefined) return refuse('the answer has no provider_reference');
  if (status === 'authorized') {
    const captured = body['captured'];
    if (typeof captured !== 'boolean') return refuse('the answer has no captured flag');
    return { ok: true, value: { status, provider_reference, captured } };
  }
  if (status === 'requires_action') {
    const next_action = readRecord(body, 'next_action');
    const url = next_action === undefined ? undefined : readString(next_action, 'url');
    if (next_action?.['type'] !== 'redirect_to_url' || url === undefined) return refuse('the answer has no redirect URL');
    return { ok: true, value: { status, provider_reference, next_action: { type: 'redirect_to_url', url } } };
  }
  return refuse('the answer has an unknown status');
}

export function readOperationResult(body: unknown): WireRead<AcquirerOperationResult> {
  if (!isRecord(body)) return refuse('the answer is not a JSON object');
  const status = readString(body, 'status');
  if (status === 'succeeded') return { ok: true, value: { status } };
  const code = readString(body, 'code');
  const message = readString(body, 'message');
  if (status !== 'failed' || code === undefined || message === undefined) return refuse('the answer has an unknown status');
  if (!(connector_failure_codes as readonly string[]).includes(code)) return refuse('the failure has no known code');
  return { ok: true, value: { status, code: code as ConnectorFailureCode, message } };
}

export function writeProviderStatus(status: ProviderStatus): JsonRecord {
  if (status.status === 'captured') return { ...status, amount_captured: status.amount_captured.toString() };
  return status;
}

export function readProviderStatus(body: unknown): WireRead<ProviderStatus> {
  if (!isRecord(body)) return refuse('the answer is not a JSON object');
  const status = readString(body, 'status');
  switch (status) {
    case 'not_found':
    case 'requires_action':
    case 'pending':
    case 'voided':
      return { ok: true, value: { status } };
    case 'declined': {
      const code = readString(body, 'code');
      if (code === undefined || !decline_codes.has(code)) return refuse('the decline has no known code');
      return { ok: true, value: { status, code: code as DeclineCode } };
    }
    case 'authorized':
    case 'captured': {
      const provider_reference = readReference(body, 'provider_reference');
      if (provider_reference === undefined) return refuse('the answer has no provider_reference');
      if (status === 'authorized') return { ok: true, value: { status, provider_reference } };
      const amount_captured = readAmount(body, 'amount_captured');
      if (amount_captured === undefined) return refuse('the answer has no amount_captured');
      return { ok: true, value: { status, provider_reference, amount_captured } };
    }
    default:
      return refuse('the answer has an unknown status');
  }
}
