// Request signing for Paygrid's public API, shared by the SDK (which signs) and the gateway
// (which verifies). Both sides import this one module so the byte layout cannot drift.
//
// Header:  Paygrid-Signature: t=<unix seconds>,n=<nonce>,v1=<hex>
// v1    =  hex(HMAC-SHA256(signing_secret,
//            t + "." + n + "." + METHOD + "." + path_with_query + "." + hex(SHA-256(raw body))))
//
// The body enters the payload as its SHA-256 digest, so the payload has a fixed-length tail and
// the verifier never has to hold two copies of a large body. The timestamp bounds how long a
// captured request stays usable; the nonce lets the server refuse a replay inside that window
// (the server keeps the nonces it has seen; this module stays pure and does not).
//
// Everything here is deterministic given its inputs, except signRequest's default clock and nonce.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Header name, lower-case as Node reports incoming headers. */
export const signature_header = 'paygrid-signature';

/** A request is accepted when |now - t| is at most this many seconds (both ends inclusive). */
export const signature_tolerance_seconds = 300;

export const nonce_length_min = 16;
export const nonce_length_max = 64;

/** Nonces use the URL-safe base64 alphabet, so they never contain `,`, `=` or `.`. */
export const nonce_pattern = /^[A-Za-z0-9_-]{16,64}$/;

/** signRequest draws this many random bytes: 24 bytes are 32 base64url characters. */
export const nonce_random_bytes = 24;

/** The only signature scheme so far; unknown schemes in a header are ignored. */
export const signature_scheme = 'v1';

/** HMAC-SHA256 is 32 bytes, written as 64 lower-case hex characters. */
export const signature_hex_length = 64;

/** A header may carry several v1 values (for example while a secret rolls), but not many. */
export const signatures_per_header_max = 8;

/** Longer headers are refused before they are split, so parsing work stays bounded. */
export const signature_header_length_max = 1024;

const signature_pattern = /^[0-9a-f]{64}$/;

// Canonical decimal: no sign, no leading zeros, so one timestamp has exactly one spelling and
// the payload the server rebuilds from the parsed number equals the one the client signed.
const timestamp_pattern = /^(0|[1-9][0-9]{0,15})$/;

export interface SignatureParts {
  /** Unix time in whole seconds. */
  readonly timestamp: number;
  readonly nonce: string;
  /** HTTP method; it is upper-cased before signing. */
  readonly method: string;
  /** The request target exactly as sent: path and query string, e.g. `/v1/wallets?limit=3`. */
  readonly path: string;
  /** The exact body bytes sent; a string is taken as UTF-8. Use '' when there is no body. */
  readonly body: string | Uint8Array;
}

export interface ParsedSignatureHeader {
  readonly timestamp: number;
  readonly nonce: string;
  /** Every v1 value in the header, in order. */
  readonly signatures: readonly string[];
}

export type SignatureFailureCode = 'signature_malformed' | 'signature_timestamp_out_of_range' | 'signature_mismatch';

export type SignatureVerification =
  | { readonly ok: true; readonly timestamp: number; readonly nonce: string }
  | { readonly ok: false; readonly code: SignatureFailureCode };

export interface VerifySignatureInput {
  /** The raw header value, or undefined when the request carried none. */
  readonly header: string | undefined;
  /** Every secret currently valid for the merchant; a match with any of them is accepted. */
  readonly secrets: readonly string[];
  readonly method: string;
  readonly path: string;
  readonly body: string | Uint8Array;
  readonly now_seconds: number;
}

export function isValidNonce(nonce: string): boolean {
  return nonce_pattern.test(nonce);
}

function isValidTimestamp(timestamp: number): boolean {
  return Number.isSafeInteger(timestamp) && timestamp >= 0;
}

function sha256Hex(body: string | Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

/**
 * The exact string that is signed. Throws a RangeError for a timestamp or nonce that could not
 * have come from a valid header: that is a bug in the caller, not a bad request.
 */
export function signedPayload(parts: SignatureParts): string {
  if (!isValidTimestamp(parts.timestamp)) {
    throw new RangeError(`Signature timestamp must be a non-negative safe integer of seconds, got ${String(parts.timestamp)}.`);
  }
  if (!isValidNonce(parts.nonce)) {
    throw new RangeError(`Signature nonce must match ${String(nonce_pattern)}.`);
  }
  return `${String(parts.timestamp)}.${parts.nonce}.${parts.method.toUpperCase()}.${parts.path}.${sha256Hex(parts.body)}`;
}

/** hex(HMAC-SHA256(secret, signedPayload(parts))), 64 lower-case hex characters. */
export function computeSignature(secret: string, parts: SignatureParts): string {
  if (secret.length === 0) {
    throw new RangeError('Signing secret must not be empty.');
  }
  return createHmac('sha256', secret).update(signedPayload(parts)).digest('hex');
}

export function formatSignatureHeader(input: { readonly timestamp: number; readonly nonce: string; readonly signature: string }): string {
  if (!isValidTimestamp(input.timestamp)) {
    throw new RangeError('Signature timestamp must be a non-negative safe integer of seconds.');
  }
  if (!isValidNonce(input.nonce)) {
    throw new RangeError(`Signature nonce must match ${String(nonce_pattern)}.`);
  }
  if (!signature_pattern.test(input.signature)) {
    throw new RangeError('Signature must be 64 lower-case hex characters.');
  }
  return `t=${String(input.timestamp)},n=${input.nonce},${signature_scheme}=${input.signature}`;
}

/**
 * Parses `t=<seconds>,n=<nonce>,v1=<hex>[,v1=<hex>…]`. Items are separated by commas, with
 * optional spaces or tabs around each item. Unknown keys are ignored so new schemes can be added
 * beside v1. Returns undefined when t or n is missing, invalid or repeated, when there is no v1,
 * when any v1 is not 64 lower-case hex characters, or when the header is empty or too long.
 */
export function parseSignatureHeader(header: string | undefined): ParsedSignatureHeader | undefined {
  if (header === undefined || header.length === 0 || header.length > signature_header_length_max) {
    return undefined;
  }
  let timestamp: number | undefined;
  let nonce: string | undefined;
  const signatures: string[] = [];
  for (const raw_item of header.split(',')) {
    const item = raw_item.replace(/^[ \t]+|[ \t]+$/g, '');
    const equals = item.indexOf('=');
    if (equals <= 0) {
      return undefined;
    }
    const key = item.slice(0, equals);
    const value = item.slice(equals + 1);
    if (key === 't') {
      if (timestamp !== undefined || !timestamp_pattern.test(value)) {
        return undefined;
      }
      timestamp = Number(value);
      if (!Number.isSafeInteger(timestamp)) {
        return undefined;
      }
    } else if (key === 'n') {
      if (nonce !== undefined || !isValidNonce(value)) {
        return undefined;
      }
      nonce = value;
    } else if (key === signature_scheme) {
      if (!signature_pattern.test(value) || signatures.length === signatures_per_header_max) {
        return undefined;
      }
      signatures.push(value);
    }
  }
  if (timestamp === undefined || nonce === undefined || signatures.length === 0) {
    return undefined;
  }
  return { timestamp, nonce, signatures };
}

/**
 * Checks, in this order: the header parses, its timestamp is within the tolerance of now, and
 * some v1 value equals the HMAC under some secret. Comparisons are constant-time over 32-byte
 * buffers and every pair is compared, so timing does not reveal which secret or value matched.
 * Empty secrets never match: an unset secret must not turn into a key anyone can compute with.
 * Replay is not checked here: the caller must refuse a nonce it has already seen.
 */
export function verifySignature(input: VerifySignatureInput): SignatureVerification {
  const parsed = parseSignatureHeader(input.header);
  if (parsed === undefined) {
    return { ok: false, code: 'signature_malformed' };
  }
  if (Math.abs(input.now_seconds - parsed.timestamp) > signature_tolerance_seconds) {
    return { ok: false, code: 'signature_timestamp_out_of_range' };
  }
  const payload = signedPayload({
    timestamp: parsed.timestamp,
    nonce: parsed.nonce,
    method: input.method,
    path: input.path,
    body: input.body,
  });
  const received = parsed.signatures.map((signature) => Buffer.from(signature, 'hex'));
  let matched = false;
  for (const secret of input.secrets) {
    if (secret.length === 0) {
      continue;
    }
    const expected = createHmac('sha256', secret).update(payload).digest();
    for (const candidate of received) {
      // Both are 32 bytes: the parser admitted only 64-hex-character values.
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) {
        matched = true;
      }
    }
  }
  if (!matched) {
    return { ok: false, code: 'signature_mismatch' };
  }
  return { ok: true, timestamp: parsed.timestamp, nonce: parsed.nonce };
}

export function generateNonce(): string {
  return randomBytes(nonce_random_bytes).toString('base64url');
}

/** The Paygrid-Signature header value for one request attempt. */
export function signRequest(
  secret: string,
  request: { readonly method: string; readonly path: string; readonly body: string | Uint8Array },
  options: { readonly now_seconds?: number; readonly nonce?: string } = {},
): string {
  const timestamp = options.now_seconds ?? Math.floor(Date.now() / 1000);
  const nonce = options.nonce ?? generateNonce();
  const signature = computeSignature(secret, { timestamp, nonce, method: request.method, path: request.path, body: request.body });
  return formatSignatureHeader({ timestamp, nonce, signature });
}
