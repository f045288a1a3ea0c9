// The key-encryption key (KEK): the one secret that keeps every sealed value unreadable, card
// data in the vault and signing secrets in identity alike. It lives outside the database (an
// environment variable or a 0600 file), wraps each data key, and never leaves this class:
// nothing exports its bytes except exportHex, which exists for writing a new key to its file.
import { createHash, hkdfSync, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { assert } from '../assert';
import { ConfigError } from '../config/variables';
import { aes_key_length_bytes, open, seal, type Sealed } from './seal';

export const key_encryption_key_length_bytes = aes_key_length_bytes;
export const key_encryption_key_variable = 'PAYGRID_VAULT_KEK';
/** Retired keys that may still wrap some data keys while a rotation runs, comma-separated. */
export const previous_key_encryption_keys_variable = 'PAYGRID_VAULT_KEK_PREVIOUS';
/** A rotation needs one previous key; a few allow for an unfinished earlier one. */
export const previous_key_encryption_keys_max = 4;
/** A KEK's id: the first 8 bytes of its SHA-256, in hex. It names the key, never reveals it. */
export const key_encryption_key_id_length_bytes = 8;

const hex_pattern = /^[0-9a-fA-F]{64}$/;
// 32 bytes are 43 base64 characters and one '=' of padding; the URL-safe alphabet and a
// missing '=' are accepted too, as both are common ways to paste a key.
const base64_pattern = /^[A-Za-z0-9+/_-]{43}=?$/;

export class KeyEncryptionKey {
  readonly id: string;
  readonly #key: Buffer;

  private constructor(key: Buffer) {
    assert(key.length === key_encryption_key_length_bytes, 'a key-encryption key is 32 bytes');
    this.#key = key;
    this.id = createHash('sha256').update(key).digest().subarray(0, key_encryption_key_id_length_bytes).toString('hex');
  }

  /** Copies the bytes, so that the caller may scrub its own buffer. */
  static fromBytes(bytes: Uint8Array): KeyEncryptionKey {
    assert(bytes.length === key_encryption_key_length_bytes, 'a key-encryption key is 32 bytes');
    return new KeyEncryptionKey(Buffer.from(bytes));
  }

  wrap(data_key: Buffer, aad: Buffer): Sealed {
    return seal(this.#key, data_key, aad);
  }

  /** The data key, or undefined when the wrapping does not authenticate under this key and AAD. */
  unwrap(wrapped: Sealed, aad: Buffer): Buffer | undefined {
    return open(this.#key, wrapped, aad);
  }

  /**
   * HKDF-SHA256 of this key with the given info. The vault derives its fingerprint key this way
   * once, when the first token is made, and from then on keeps it wrapped in its own table, so
   * that fingerprints stay the same after the KEK is rotated.
   */
  deriveKey(info: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#key, Buffer.alloc(0), info, aes_key_length_bytes));
  }

  /** The key as 64 hex characters, the form PAYGRID_VAULT_KEK takes. Only for writing a key file or showing a new key to an operator. */
  exportHex(): string {
    return this.#key.toString('hex');
  }

  /** JSON.stringify, util.inspect and console.log show the id only. */
  toJSON(): { readonly id: string } {
    return { id: this.id };
  }

  [inspect.custom](): string {
    return `KeyEncryptionKey { id: '${this.id}' }`;
  }

  toString(): string {
    return `KeyEncryptionKey(${this.id})`;
  }
}

/** 32 bytes from the system's cryptographic randomness. */
export function generateKeyEncryptionKey(): KeyEncryptionKey {
  const bytes = randomBytes(key_encryption_key_length_bytes);
  const key = KeyEncryptionKey.fromBytes(bytes);
  bytes.fill(0);
  return key;
}

/**
 * Reads 64 hex characters or the base64 of 32 bytes. The error names where the key came from
 * and what is allowed, and never quotes the value.
 */
export function parseKeyEncryptionKey(text: string, source: string): KeyEncryptionKey {
  const value = text.trim();
  let bytes: Buffer | undefined;
  if (hex_pattern.test(value)) bytes = Buffer.from(value, 'hex');
  else if (base64_pattern.test(value)) bytes = Buffer.from(value, 'base64');
  if (bytes?.length !== key_encryption_key_length_bytes) {
    throw new ConfigError([`${source} must be 64 hexadecimal characters or the base64 of 32 bytes (the value is not shown: it is a secret)`]);
  }
  const key = KeyEncryptionKey.fromBytes(bytes);
  bytes.fill(0);
  return key;
}

/**
 * The value of PAYGRID_VAULT_KEK_PREVIOUS: keys separated by commas, each as PAYGRID_VAULT_KEK
 * takes it. Unset or empty is none. The error names the variable and the position, not the value.
 */
export function parsePreviousKeyEncryptionKeys(env_value: string | undefined): KeyEncryptionKey[] {
  if (env_value === undefined || env_value.trim() === '') return [];
  const values = env_value.split(',');
  if (values.length > previous_key_encryption_keys_max) {
    throw new ConfigError([`${previous_key_encryption_keys_variable} holds at most ${previous_key_encryption_keys_max} keys; finish the rotation and drop the retired ones`]);
  }
  return values.map((value, index) => parseKeyEncryptionKey(value, `${previous_key_encryption_keys_variable} (key ${index + 1})`));
}
