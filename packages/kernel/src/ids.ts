import { randomBytes as cryptoRandomBytes, randomFillSync } from 'node:crypto';
import { assert } from './assert';

const base62_alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** 24 base62 characters carry about 142 bits of randomness. */
export const random_id_length = 24;
/** Bytes at or above this are rejected so that every character is equally likely (62 * 4). */
const byte_rejection_threshold = 248;
const id_prefix_pattern = /^[a-z][a-z0-9]{0,15}$/;

/** Fills a buffer of `size` random bytes. Injected in tests; crypto randomness otherwise. */
export type RandomBytes = (size: number) => Uint8Array;

/** Random bytes drawn from the operating system at once, then handed out a few at a time. */
const random_pool_bytes = 4_096;
const random_pool = Buffer.alloc(random_pool_bytes);
let random_pool_offset = random_pool_bytes;

/**
 * Crypto randomness from a pool: every id needs ~32 bytes, and one call into OpenSSL per id (with
 * a fresh Buffer each time) was about 4% of the platform's CPU in the API benchmark. Node's own
 * randomUUID() pools the same way. Each byte is handed out once; the view is valid only until the
 * next call, which is all randomId needs.
 */
function pooledCryptoRandomBytes(size: number): Uint8Array {
  if (size > random_pool_bytes) return cryptoRandomBytes(size);
  if (random_pool_offset + size > random_pool_bytes) {
    randomFillSync(random_pool);
    random_pool_offset = 0;
  }
  const bytes = random_pool.subarray(random_pool_offset, random_pool_offset + size);
  random_pool_offset += size;
  return bytes;
}

/**
 * A prefixed random identifier such as `mer_3fK9x...` (the prefix, an underscore and
 * 24 base62 characters), drawn from cryptographic randomness by rejection sampling.
 */
export function randomId(prefix: string, randomBytes: RandomBytes = pooledCryptoRandomBytes): string {
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
