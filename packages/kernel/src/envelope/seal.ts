// AES-256-GCM sealing, the one cipher of envelope encryption in Paygrid: data under a data key,
// and data keys under the key-encryption key (KEK). The vault seals card data with it and
// identity seals merchants' signing secrets. Every seal takes additional authenticated data
// (AAD) that names what the ciphertext belongs to, so that a ciphertext copied to another row,
// field or tenant fails to open instead of opening as someone else's secret.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { assert } from '../assert';

export const aes_key_length_bytes = 32;
/** 96-bit nonces, the size GCM is specified for; drawn at random, one per seal. */
export const gcm_iv_length_bytes = 12;
/** The full 128-bit tag; a decipher is told this length so that a cut-down tag is refused. */
export const gcm_tag_length_bytes = 16;
/** The first byte of a packed seal: its layout, so that a later layout can be told apart. */
export const packed_seal_format = 1;

const cipher_name = 'aes-256-gcm';

export interface Sealed {
  readonly iv: Buffer;
  readonly tag: Buffer;
  readonly ciphertext: Buffer;
}

export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Sealed {
  assert(key.length === aes_key_length_bytes, 'an AES-256 key is 32 bytes');
  // A random IV per seal. A data key seals a handful of values; a key-encryption key seals one
  // data key per token or merchant, far below GCM's 2^32 random-IV bound for any install this
  // platform will serve.
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
 * The AAD of one sealed value: a JSON array of the domain (which service's data it is, such as
 * `paygrid-vault`), a layout version and the parts, so that no choice of ids can make two
 * different bindings read the same, and no service's ciphertext opens as another's.
 */
export function binding(domain: string, ...parts: readonly (string | number | boolean)[]): Buffer {
  return Buffer.from(JSON.stringify([domain, 1, ...parts]), 'utf8');
}

/**
 * One column instead of three: the format byte, the IV, the tag, then the ciphertext. For tables
 * that hold a few sealed values per row, where a column per part would triple the schema.
 */
export function packSealed(sealed: Sealed): Buffer {
  assert(sealed.iv.length === gcm_iv_length_bytes && sealed.tag.length === gcm_tag_length_bytes, 'a seal has a 12-byte IV and a 16-byte tag');
  return Buffer.concat([Buffer.of(packed_seal_format), sealed.iv, sealed.tag, sealed.ciphertext]);
}

const packed_header_length_bytes = 1 + gcm_iv_length_bytes + gcm_tag_length_bytes;

/** The parts of a packed seal, or undefined when the bytes are not one (too short, or an unknown format). */
export function unpackSealed(packed: Buffer): Sealed | undefined {
  if (packed.length < packed_header_length_bytes || packed[0] !== packed_seal_format) return undefined;
  return {
    iv: packed.subarray(1, 1 + gcm_iv_length_bytes),
    tag: packed.subarray(1 + gcm_iv_length_bytes, packed_header_length_bytes),
    ciphertext: packed.subarray(packed_header_length_bytes),
  };
}
