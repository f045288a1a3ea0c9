// API keys, operator keys and signing secrets: how they are drawn, recognised, hashed and shown.
import { createHash, randomBytes as cryptoRandomBytes } from 'node:crypto';
import { assert, type RandomBytes } from '@paygrid/kernel';
import type { ApiKeyType } from './types';

const base62_alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** 32 base62 characters carry about 190 bits of randomness: far beyond any guessing. */
export const secret_random_length = 32;
/** Bytes at or above this are rejected so that every character is equally likely (62 * 4). */
const byte_rejection_threshold = 248;
/** How many trailing characters a redacted key shows. */
export const redacted_suffix_length = 4;

export const operator_key_prefix = 'opk_';
export const signing_secret_prefix = 'pgss_';

const api_key_pattern = /^(sk|pk)_(test|live)_[0-9A-Za-z]{32}$/;
const operator_key_pattern = /^opk_[0-9A-Za-z]{32}$/;
/** Anything that looks like one of our secrets; the audit log must never hold one. */
const any_secret_pattern = /(?:sk|pk)_(?:test|live)_[0-9A-Za-z]{32}|opk_[0-9A-Za-z]{32}|pgss_[0-9A-Za-z]{32}/;

/** `sk_test_`, `sk_live_`, `pk_test_` or `pk_live_`. */
export function apiKeyPrefix(type: ApiKeyType, livemode: boolean): string {
  return `${type === 'secret' ? 'sk' : 'pk'}_${livemode ? 'live' : 'test'}_`;
}

/**
 * The prefix followed by 32 base62 characters drawn from cryptographic randomness by rejection
 * sampling, as the kernel's randomId does, so that no character is likelier than another.
 */
export function randomSecret(prefix: string, randomBytes: RandomBytes = cryptoRandomBytes): string {
  let secret = prefix;
  let remaining = secret_random_length;
  while (remaining > 0) {
    // Ask for a little more than needed: about 3% of bytes are rejected.
    const bytes = randomBytes(remaining + 8);
    assert(bytes.length > 0, 'randomBytes returned no bytes');
    for (const byte of bytes) {
      if (remaining === 0) break;
      if (byte >= byte_rejection_threshold) continue;
      secret += base62_alphabet.charAt(byte % 62);
      remaining -= 1;
    }
  }
  return secret;
}

/**
 * SHA-256, hex. A slow password hash (scrypt, argon2) protects low-entropy secrets that people
 * choose; these keys are 190 random bits, so a fast hash is already beyond brute force, and it
 * keeps authentication, which runs on every API request, cheap. Being deterministic, it also lets
 * the key be found by an indexed lookup of its hash instead of a scan.
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** `sk_test_…wxyz`: enough to tell keys apart, far too little to use one. */
export function redactSecret(prefix: string, secret: string): string {
  assert(secret.startsWith(prefix), 'a secret is redacted with its own prefix');
  return `${prefix}…${secret.slice(-redacted_suffix_length)}`;
}

/** What the shape of a presented key says, or undefined when it cannot be one of ours. */
export function parseApiKey(presented: string): { readonly type: ApiKeyType; readonly livemode: boolean } | undefined {
  const match = api_key_pattern.exec(presented);
  if (match === null) return undefined;
  return { type: match[1] === 'sk' ? 'secret' : 'publishable', livemode: match[2] === 'live' };
}

export function isOperatorKeyShaped(presented: string): boolean {
  return operator_key_pattern.test(presented);
}

export function containsSecret(text: string): boolean {
  return any_secret_pattern.test(text);
}
