// The key-encryption key (KEK): the one secret that keeps every card in the vault unreadable.
// It lives outside the database (an environment variable or a 0600 file), wraps each token's
// data key, and never leaves this class: nothing exports its bytes except exportHex, which
// exists for the CLI that prints a new key for an operator.
import { createHash, hkdfSync, randomBytes } from 'node:crypto';
import { link, mkdir, open as openFile, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { assert, ConfigError } from '@paygrid/kernel';
import { aes_key_length_bytes, open, seal, type Sealed } from './envelope';

export const key_encryption_key_length_bytes = aes_key_length_bytes;
export const key_encryption_key_variable = 'PAYGRID_VAULT_KEK';
/** Retired keys that may still wrap some tokens while a rotation runs, comma-separated. */
export const previous_key_encryption_keys_variable = 'PAYGRID_VAULT_KEK_PREVIOUS';
/** A rotation needs one previous key; a few allow for an unfinished earlier one. */
export const previous_key_encryption_keys_max = 4;
export const key_encryption_key_file_name = 'vault.kek';
/** Owner read and write only. */
export const key_encryption_key_file_mode = 0o600;
/** A KEK's id: the first 8 bytes of its SHA-256, in hex. It names the key, never reveals it. */
export const key_encryption_key_id_length_bytes = 8;
const fingerprint_key_info = 'paygrid-vault-fingerprint';

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
   * HKDF-SHA256 of this key. The vault derives its fingerprint key this way once, when the
   * first token is made, and from then on keeps it wrapped in its own table, so that
   * fingerprints stay the same after the KEK is rotated.
   */
  deriveFingerprintKey(): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#key, Buffer.alloc(0), fingerprint_key_info, aes_key_length_bytes));
  }

  /** The key as 64 hex characters, the form PAYGRID_VAULT_KEK takes. Only for showing a new key to an operator. */
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

export interface LoadKeyEncryptionKeyOptions {
  /** The value of PAYGRID_VAULT_KEK; unset and empty alike mean "not given", as in the kernel's config. */
  readonly env_value?: string | undefined;
  /** Where vault.kek is read from or written to. */
  readonly data_dir: string;
  /**
   * Whether a missing key may be generated into DATA_DIR/vault.kek (default true). Pass false
   * when several instances share a database (PostgreSQL): each would generate its own key and
   * could not read the others' cards. They must all be given the same PAYGRID_VAULT_KEK.
   */
  readonly allow_generate?: boolean;
}

function isErrorCode(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

async function readKeyFile(path: string): Promise<KeyEncryptionKey | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) return undefined;
    throw error;
  }
  return parseKeyEncryptionKey(text, `The vault key file ${path} (used when ${key_encryption_key_variable} is not set)`);
}

/**
 * Writes a new key so that it appears whole or not at all, and only once: it is written and
 * synced to a file of its own, then hard-linked to its name, which fails when another process
 * got there first (whose key then wins). A rename would silently replace that key, and every
 * card sealed under it would be lost.
 */
async function writeNewKeyFile(directory: string, path: string): Promise<KeyEncryptionKey> {
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const key = generateKeyEncryptionKey();
  const temporary_path = join(directory, `.${key_encryption_key_file_name}.${randomBytes(8).toString('hex')}.tmp`);
  const file = await openFile(temporary_path, 'wx', key_encryption_key_file_mode);
  try {
    await file.writeFile(`${key.exportHex()}\n`, 'utf8');
    // The mode given to open is narrowed by the umask, never widened; chmod makes it exact.
    await file.chmod(key_encryption_key_file_mode);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await link(temporary_path, path);
  } catch (error) {
    if (!isErrorCode(error, 'EEXIST')) throw error;
    const existing = await readKeyFile(path);
    assert(existing !== undefined, 'the vault key file exists, as link() said');
    return existing;
  } finally {
    await unlink(temporary_path);
  }
  await syncDirectory(directory);
  return key;
}

/** Makes the new name durable: losing the key after a crash would lose every card. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await openFile(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * The KEK, from PAYGRID_VAULT_KEK when set; otherwise from DATA_DIR/vault.kek; otherwise a new
 * key written there with mode 0600 (its directory created when needed). A malformed key stops
 * the start with a ConfigError naming the variable or the file.
 */
export async function loadKeyEncryptionKey(options: LoadKeyEncryptionKeyOptions): Promise<KeyEncryptionKey> {
  if (options.env_value !== undefined && options.env_value !== '') {
    return parseKeyEncryptionKey(options.env_value, key_encryption_key_variable);
  }
  const path = join(options.data_dir, key_encryption_key_file_name);
  const existing = await readKeyFile(path);
  if (existing !== undefined) return existing;
  if (options.allow_generate === false) {
    throw new ConfigError([`${key_encryption_key_variable} is not set and there is no ${path}; set ${key_encryption_key_variable} to the vault's key (64 hexadecimal characters)`]);
  }
  return writeNewKeyFile(options.data_dir, path);
}
