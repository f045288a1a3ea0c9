// AES-256-GCM sealing, the one cipher of the vault: card data under a data key, and data keys
// under the key-encryption key. Every seal takes additional authenticated data (AAD) that names
// what the ciphertext belongs to, so that a ciphertext copied to another row, field or tenant
// fails to open instead of opening as someone else's card.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { assert } from '@paygrid/kernel';

export const aes_key_length_bytes = 32;
/** 96-bit nonces, the size GCM is specified for; drawn at random, one per seal. */
export const gcm_iv_length_bytes = 12;
/** The full 128-bit tag; a decipher is told this length so that a cut-down tag is refused. */
export const gcm_tag_length_bytes = 16;

const cipher_name = 'aes-256-gcm';

export interface Sealed {
  readonly iv: Buffer;
  readonly tag: Buffer;
  readonly ciphertext: Buffer;
}

export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Sealed {
  assert(key.length === aes_key_length_bytes, 'an AES-256 key is 32 bytes');
  // A random IV per seal: a key seals at most three values (a data key seals the number and the
  // CVC; a key-encryption key seals one data key per token, far below GCM's 2^32 random-IV bound
  // for any vault this platform will hold).
  const iv = randomBytes(gcm_iv_length_bytes);
  const cipher = createCipheriv(cipher_name, key, iv, { authTagLength: gcm_tag_length_bytes });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, tag: cipher.getAuthTag(), ciphertext };
}

/**
 * The plaintext, or undefined when the seal does not authenticate under this key and AAD: it was
 * changed, moved, or sealed under another key. The caller decides what that means; it is never
 * an answer to use.
 */
export function open(key: Buffer, sealed: Sealed, aad: Buffer): Buffer | undefined {
  assert(key.length === aes_key_length_bytes, 'an AES-256 key is 32 bytes');
  if (sealed.iv.length !== gcm_iv_length_bytes || sealed.tag.length !== gcm_tag_length_bytes) return undefined;
  const decipher = createDecipheriv(cipher_name, key, sealed.iv, { authTagLength: gcm_tag_length_bytes });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.tag);
  const plaintext = decipher.update(sealed.ciphertext);
  try {
    decipher.final();
  } catch {
    // Node reports a failed tag check only as "unable to authenticate data". Scrub what was
    // deciphered before the check failed: it must not linger, whatever it is.
    plaintext.fill(0);
    return undefined;
  }
  return plaintext;
}

/**
 * The AAD of one sealed value: a JSON array, so that no choice of ids can make two different
 * bindings read the same.
 */
export function binding(...parts: readonly (string | number | boolean)[]): Buffer {
  return Buffer.from(JSON.stringify(['paygrid-vault', 1, ...parts]), 'utf8');
}
