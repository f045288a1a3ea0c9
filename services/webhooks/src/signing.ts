// Standard Webhooks signatures, sender side. The SDK's verifyWebhook is the receiver side; the
// tests check every delivery with it, so the two implementations keep each other honest.
//
//   webhook-id:        the event id (the same on every attempt and every resend)
//   webhook-timestamp: the attempt's unix seconds
//   webhook-signature: v1,<base64(HMAC-SHA256(key, id + "." + timestamp + "." + body))>
//
// where key is the base64-decoded part of the secret after `whsec_`.
import { createHmac, randomBytes } from 'node:crypto';
import { assert } from '@paygrid/kernel';

export const secret_prefix = 'whsec_';
/** Standard Webhooks asks for at least 24 random bytes (192 bits). */
export const secret_random_bytes = 24;

export function newEndpointSecret(): string {
  return secret_prefix + randomBytes(secret_random_bytes).toString('base64');
}

function secretKey(secret: string): Buffer {
  assert(secret.startsWith(secret_prefix), 'endpoint secrets start with whsec_');
  const key = Buffer.from(secret.slice(secret_prefix.length), 'base64');
  assert(key.length >= secret_random_bytes, 'an endpoint secret holds at least 24 bytes');
  return key;
}

export interface SignedHeaders {
  readonly 'webhook-id': string;
  readonly 'webhook-timestamp': string;
  readonly 'webhook-signature': string;
}

export function signDelivery(secret: string, id: string, timestamp_seconds: number, body: string): SignedHeaders {
  assert(!id.includes('.'), 'a webhook id never contains a full stop');
  assert(Number.isSafeInteger(timestamp_seconds) && timestamp_seconds >= 0, 'a webhook timestamp is whole unix seconds');
  const timestamp = String(timestamp_seconds);
  const signature = createHmac('sha256', secretKey(secret)).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
}
