// WeChat Pay API v3 signatures and notification encryption, shared by the connector and the
// sandbox so both ends follow one reading of the rules:
// - a request is signed by the merchant over `METHOD\nURL\ntimestamp\nnonce\nbody\n`, where URL is
//   the path and query as sent and body is empty for GET, and the signature travels in
//   `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"`;
// - a response or a notification is signed by WeChat Pay's platform key over
//   `timestamp\nnonce\nbody\n`, in the headers Wechatpay-Timestamp, -Nonce, -Signature and -Serial;
// - a notification's resource is AEAD_AES_256_GCM with the merchant's 32-byte APIv3 key, and
//   `ciphertext` is base64 of the encrypted bytes followed by the 16-byte tag.
// Signatures are SHA256withRSA, written as base64.
import { createCipheriv, createDecipheriv, randomBytes, randomInt, type KeyObject } from 'node:crypto';
import { assert } from '@paygrid/kernel';

export const authorization_scheme = 'WECHATPAY2-SHA256-RSA2048';
/** WeChat Pay refuses a request, and we refuse an answer, whose timestamp is further off than this. */
export const timestamp_skew_seconds_max = 5 * 60;
export const api_v3_key_bytes = 32;
const gcm_tag_bytes = 16;
/** Beijing time, in which WeChat Pay writes its RFC 3339 times. */
const beijing_offset_ms = 8 * 60 * 60 * 1000;

export function requestMessage(method: string, url: string, timestamp: string, nonce: string, body: string): string {
  return `${method}\n${url}\n${timestamp}\n${nonce}\n${body}\n`;
}

export function responseMessage(timestamp: string, nonce: string, body: string): string {
  return `${timestamp}\n${nonce}\n${body}\n`;
}

export interface AuthorizationFields {
  readonly mchid: string;
  readonly nonce_str: string;
  readonly signature: string;
  readonly timestamp: string;
  readonly serial_no: string;
}

export function formatAuthorization(fields: AuthorizationFields): string {
  return (
    `${authorization_scheme} mchid="${fields.mchid}",nonce_str="${fields.nonce_str}",signature="${fields.signature}",` +
    `timestamp="${fields.timestamp}",serial_no="${fields.serial_no}"`
  );
}

/** Reads the Authorization header; undefined when the scheme or a field is missing. The fields may come in any order. */
export function parseAuthorization(header: string | undefined): AuthorizationFields | undefined {
  if (header === undefined || !header.startsWith(`${authorization_scheme} `)) return undefined;
  const fields = new Map<string, string>();
  for (const part of header.slice(authorization_scheme.length + 1).split(',')) {
    const match = /^\s*([a-z_]+)="([^"]*)"\s*$/.exec(part);
    if (match === null) return undefined;
    const [, name = '', value = ''] = match;
    if (fields.has(name)) return undefined;
    fields.set(name, value);
  }
  const mchid = fields.get('mchid');
  const nonce_str = fields.get('nonce_str');
  const signature = fields.get('signature');
  const timestamp = fields.get('timestamp');
  const serial_no = fields.get('serial_no');
  if (mchid === undefined || nonce_str === undefined || signature === undefined || timestamp === undefined || serial_no === undefined) {
    return undefined;
  }
  return { mchid, nonce_str, signature, timestamp, serial_no };
}

/** A request nonce: 32 upper-case hex characters, as WeChat Pay's examples use. */
export function requestNonce(): string {
  return randomBytes(16).toString('hex').toUpperCase();
}

/** An encryption nonce: 12 characters, which AES-GCM uses as its 12-byte IV. */
export function encryptionNonce(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let nonce = '';
  for (let index = 0; index < 12; index += 1) nonce += alphabet.charAt(randomInt(alphabet.length));
  return nonce;
}

/** True when the unix-seconds timestamp is within timestamp_skew_seconds_max of now. */
export function isTimestampFresh(timestamp: string, now_ms: number): boolean {
  if (!/^[0-9]{1,12}$/.test(timestamp)) return false;
  const now_seconds = Math.floor(now_ms / 1000);
  return Math.abs(Number.parseInt(timestamp, 10) - now_seconds) <= timestamp_skew_seconds_max;
}

/** The key's length in bytes: text counts as UTF-8, and a key object must be a secret key. */
export function apiV3KeyBytes(api_v3_key: string | KeyObject): number | undefined {
  if (typeof api_v3_key === 'string') return Buffer.byteLength(api_v3_key, 'utf8');
  return api_v3_key.type === 'secret' ? api_v3_key.symmetricKeySize : undefined;
}

function apiV3Key(api_v3_key: string | KeyObject): Buffer | KeyObject {
  assert(apiV3KeyBytes(api_v3_key) === api_v3_key_bytes, `the WeChat Pay APIv3 key must be ${api_v3_key_bytes} bytes`);
  return typeof api_v3_key === 'string' ? Buffer.from(api_v3_key, 'utf8') : api_v3_key;
}

export function encryptResource(api_v3_key: string | KeyObject, plaintext: string, nonce: string, associated_data: string): string {
  const cipher = createCipheriv('aes-256-gcm', apiV3Key(api_v3_key), Buffer.from(nonce, 'utf8'));
  cipher.setAAD(Buffer.from(associated_data, 'utf8'));
  const encrypted = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return encrypted.toString('base64');
}

/** The plaintext, or undefined when the key, nonce, associated data or ciphertext do not match. */
export function decryptResource(api_v3_key: string | KeyObject, ciphertext: string, nonce: string, associated_data: string): string | undefined {
  const bytes = Buffer.from(ciphertext, 'base64');
  if (bytes.length <= gcm_tag_bytes) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', apiV3Key(api_v3_key), Buffer.from(nonce, 'utf8'));
    decipher.setAAD(Buffer.from(associated_data, 'utf8'));
    decipher.setAuthTag(bytes.subarray(bytes.length - gcm_tag_bytes));
    return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - gcm_tag_bytes)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

/** RFC 3339 in Beijing time, as WeChat Pay writes times: 2025-01-01T08:00:00+08:00. */
export function formatWeChatTime(epoch_ms: number): string {
  const beijing = new Date(epoch_ms + beijing_offset_ms);
  const pad = (value: number): string => value.toString().padStart(2, '0');
  return (
    `${beijing.getUTCFullYear()}-${pad(beijing.getUTCMonth() + 1)}-${pad(beijing.getUTCDate())}T` +
    `${pad(beijing.getUTCHours())}:${pad(beijing.getUTCMinutes())}:${pad(beijing.getUTCSeconds())}+08:00`
  );
}

/** Reads an RFC 3339 time with an offset; undefined when malformed. */
export function parseWeChatTime(text: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/.test(text)) return undefined;
  const epoch_ms = Date.parse(text);
  return Number.isNaN(epoch_ms) ? undefined : epoch_ms;
}
