// Verifying Paygrid's webhooks, receiver side. Paygrid signs every delivery following the
// Standard Webhooks specification (https://www.standardwebhooks.com):
//
//   webhook-id:        the event id; the same on every retry, so use it to process an event once
//   webhook-timestamp: unix seconds when this attempt was sent
//   webhook-signature: one or more space-separated `v1,<base64 signature>` entries
//
//   signature = base64(HMAC-SHA256(key, webhook-id + "." + webhook-timestamp + "." + raw body))
//   key       = base64-decode(the endpoint secret without its `whsec_` prefix)
//
// Verify the raw body exactly as received, before any JSON parsing: a body parsed and written
// again may differ by a byte and no longer match.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Event } from './payment-types';

export const webhook_id_header = 'webhook-id';
export const webhook_timestamp_header = 'webhook-timestamp';
export const webhook_signature_header = 'webhook-signature';

export const webhook_secret_prefix = 'whsec_';
/** A delivery is accepted when its timestamp is at most this many seconds from now, either way. */
export const webhook_tolerance_seconds_default = 300;
/** Signature entries read from one header at most (several are sent while a secret rolls). */
export const webhook_signatures_max = 16;
/** Longer signature headers are refused before they are split, so parsing work stays bounded. */
export const webhook_signature_header_length_max = 4_096;
/** The symmetric scheme's identifier; entries of other schemes (such as `v1a`) are skipped. */
export const webhook_signature_scheme = 'v1';

/** HMAC-SHA256 is 32 bytes: 44 base64 characters. */
const signature_base64_length = 44;
const timestamp_pattern = /^[0-9]{1,15}$/;

export type WebhookVerificationErrorCode =
  | 'secret_invalid'
  | 'header_missing'
  | 'timestamp_invalid'
  | 'timestamp_too_old'
  | 'timestamp_too_new'
  | 'signature_mismatch'
  | 'body_invalid';

export class WebhookVerificationError extends Error {
  override name = 'WebhookVerificationError';

  constructor(
    readonly code: WebhookVerificationErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A Paygrid event as its webhooks carry it: the same object as `GET /v1/events/{id}` answers,
 * because a delivery's body is the stored event itself.
 */
export type WebhookEvent = Event;

/** Header values as Node's http module gives them (`request.headers`) or as plain strings. */
export type WebhookHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface VerifyWebhookInput {
  /** The endpoint's secret, `whsec_…`, as shown when the endpoint was created. */
  readonly secret: string;
  readonly headers: WebhookHeaders;
  /** The raw request body, exactly as received. */
  readonly body: string;
  readonly tolerance_seconds?: number;
  /** The current unix time in seconds; the system clock by default. */
  readonly now_seconds?: number;
}

export interface SignWebhookInput {
  readonly id: string;
  /** Unix seconds. */
  readonly timestamp: number;
  readonly body: string;
}

function secretKey(secret: string): Buffer {
  if (!secret.startsWith(webhook_secret_prefix)) {
    throw new WebhookVerificationError('secret_invalid', `A webhook secret starts with ${webhook_secret_prefix}.`);
  }
  const encoded = secret.slice(webhook_secret_prefix.length);
  const key = Buffer.from(encoded, 'base64');
  if (key.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) {
    throw new WebhookVerificationError('secret_invalid', 'A webhook secret is whsec_ followed by base64.');
  }
  return key;
}

function signature(key: Buffer, id: string, timestamp: string, body: string): string {
  return createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
}

/** A header by name, whatever its case; a header sent twice is treated as missing. */
function headerValue(headers: WebhookHeaders, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    if (typeof value === 'string' && value.length > 0) return value;
    return undefined;
  }
  return undefined;
}

function requireHeader(headers: WebhookHeaders, name: string): string {
  const value = headerValue(headers, name);
  if (value === undefined) throw new WebhookVerificationError('header_missing', `The ${name} header is missing.`);
  return value;
}

/**
 * The `webhook-signature` header value for a body: `v1,<base64>`. For tests of a receiver; Paygrid
 * signs real deliveries itself.
 */
export function signWebhook(secret: string, input: SignWebhookInput): string {
  if (!Number.isSafeInteger(input.timestamp) || input.timestamp < 0) {
    throw new RangeError('A webhook timestamp is a non-negative integer of unix seconds.');
  }
  if (input.id.length === 0 || input.id.includes('.')) {
    throw new RangeError('A webhook id is non-empty and has no full stop.');
  }
  return `${webhook_signature_scheme},${signature(secretKey(secret), input.id, String(input.timestamp), input.body)}`;
}

/**
 * Checks, in this order: the secret is well formed, the three headers are present, the timestamp
 * is within the tolerance of now, and some v1 signature in the header matches. Returns the parsed
 * event, or throws a WebhookVerificationError. Signatures are compared in constant time, and every
 * entry is compared, so timing does not reveal which one matched or how close a forgery came.
 * Replays inside the tolerance are not caught here: remember the webhook-id of events you have
 * processed.
 */
export function verifyWebhook(input: VerifyWebhookInput): WebhookEvent {
  const key = secretKey(input.secret);
  const id = requireHeader(input.headers, webhook_id_header);
  const timestamp = requireHeader(input.headers, webhook_timestamp_header);
  const header = requireHeader(input.headers, webhook_signature_header);
  const tolerance_seconds = input.tolerance_seconds ?? webhook_tolerance_seconds_default;
  if (!Number.isSafeInteger(tolerance_seconds) || tolerance_seconds < 0) {
    throw new RangeError('tolerance_seconds is a non-negative integer.');
  }
  if (!timestamp_pattern.test(timestamp)) {
    throw new WebhookVerificationError('timestamp_invalid', 'The webhook-timestamp header is not unix seconds.');
  }
  const now_seconds = input.now_seconds ?? Math.floor(Date.now() / 1000);
  const timestamp_seconds = Number(timestamp);
  if (timestamp_seconds < now_seconds - tolerance_seconds) {
    throw new WebhookVerificationError('timestamp_too_old', 'The webhook timestamp is too old: a replay, or a clock far behind.');
  }
  if (timestamp_seconds > now_seconds + tolerance_seconds) {
    throw new WebhookVerificationError('timestamp_too_new', 'The webhook timestamp is in the future: a clock far ahead.');
  }
  if (header.length > webhook_signature_header_length_max) {
    throw new WebhookVerificationError('signature_mismatch', 'The webhook-signature header is too long.');
  }
  const expected = Buffer.from(signature(key, id, timestamp, input.body));
  let matched = false;
  let entries = 0;
  for (const entry of header.split(' ')) {
    if (entry === '') continue;
    entries += 1;
    if (entries > webhook_signatures_max) break;
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== webhook_signature_scheme) continue;
    const given = Buffer.from(entry.slice(comma + 1));
    if (given.length !== signature_base64_length) continue;
    // No early exit: every entry costs the same, matched or not.
    if (timingSafeEqual(given, expected)) matched = true;
  }
  if (!matched) throw new WebhookVerificationError('signature_mismatch', 'No signature in webhook-signature matches the body and the secret.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(input.body);
  } catch {
    throw new WebhookVerificationError('body_invalid', 'The webhook body is signed but is not JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new WebhookVerificationError('body_invalid', 'The webhook body is signed but is not a JSON object.');
  }
  return parsed as WebhookEvent;
}
