import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { assert } from './assert';

const base62_alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** 24 base62 characters carry about 142 bits of randomness. */
export const random_id_length = 24;
/** Bytes at or above this are rejected so that every character is equally likely (62 * 4). */
const byte_rejection_threshold = 248;
const id_prefix_pattern = /^[a-z][a-z0-9]{0,15}$/;

/** Fills a buffer of `size` random bytes. Injected in tests; crypto randomness otherwise. */
export type RandomBytes = (size: number) => Uint8Array;

/**
 * A prefixed random identifier such as `mer_3fK9x...` (the prefix, an underscore and
 * 24 base62 characters), drawn from cryptographic randomness by rejection sampling.
 */
export function randomId(prefix: string, randomBytes: RandomBytes = cryptoRandomBytes): string {
  assert(id_prefix_pattern.test(prefix), `randomId prefix must match ${String(id_prefix_pattern)}`);
  let id = `${prefix}_`;
  let remaining = random_id_length;
  while (remaining > 0) {
    // Ask for a little more than needed: about 3% of bytes are rejected.
    const bytes = randomBytes(remaining + 8);
    for (const byte of bytes) {
      if (remaining === 0) break;
      if (byte >= byte_rejection_threshold) continue;
      id += base62_alphabet.charAt(byte % 62);
      remaining -= 1;
    }
  }
  return id;
}
