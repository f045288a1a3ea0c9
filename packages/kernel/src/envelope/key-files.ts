// Where the key-encryption key comes from at start, and how a rotation replaces a key held in a
// file. The key is PAYGRID_VAULT_KEK, or the file PAYGRID_VAULT_KEK_FILE names, or (embedded only,
// and only by default) DATA_DIR/vault.kek, generated on first start. A file is checked before it
// is read: a regular file, owned by the user Paygrid runs as (or root), not open to other users,
// and small enough to hold one key; anything else stops the start with a message naming the file
// and never its contents.
import { randomBytes } from 'node:crypto';
import { link, mkdir, open as openFile, realpath, rename, stat, unlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { assert } from '../assert';
import { ConfigError, type Environment } from '../config/variables';
import {
  generateKeyEncryptionKey,
  key_encryption_key_variable,
  parseKeyEncryptionKey,
  parsePreviousKeyEncryptionKeys,
  previous_key_encryption_keys_variable,
  type KeyEncryptionKey,
} from './key-encryption-key';
import { Keyring } from './keyring';

/** Names the file that holds the key, so that it can live outside DATA_DIR (and its backups). */
export const key_encryption_key_file_variable = 'PAYGRID_VAULT_KEK_FILE';
/** The key file's name in DATA_DIR when PAYGRID_VAULT_KEK_FILE is not set. */
export const key_encryption_key_file_name = 'vault.kek';
/** Beside a key file during a rotation: the key being replaced, until nothing is wrapped by it. */
export const previous_key_file_suffix = '.previous';
/** Owner read and write only. */
export const key_encryption_key_file_mode = 0o600;
/** A key is 64 hex characters (or 44 base64) and a line break; a larger file is not a key file. */
export const key_encryption_key_file_bytes_max = 256;

export type KeySource =
  | { readonly kind: 'environment' }
  | {
      readonly kind: 'file';
      /** Absolute. */
      readonly path: string;
      /** The key was made by this start, because the file did not exist. */
      readonly generated: boolean;
      /** The file is in DATA_DIR (or below it): a backup of the folder then carries its own key. */
      readonly inside_data_dir: boolean;
    };

export interface LoadedKeyring {
  readonly keyring: Keyring;
  readonly source: KeySource;
  /** The key in `<file>.previous`, left there by a rotation that has not finished. */
  readonly previous_file_key: KeyEncryptionKey | undefined;
  /** Said once at start, at warning level: things an operator should change. */
  readonly warnings: readonly string[];
}

export interface LoadKeyringOptions {
  /** PAYGRID_VAULT_KEK, PAYGRID_VAULT_KEK_FILE and PAYGRID_VAULT_KEK_PREVIOUS are read from it. */
  readonly env: Environment;
  /** Absolute; where vault.kek is read from or written to when PAYGRID_VAULT_KEK_FILE is not set. */
  readonly data_dir: string;
  /**
   * Whether a missing key file may be generated (the embedded platform). False when several
   * instances share a database (PostgreSQL): each would make its own key and could not read the
   * others' data. They must all be given the same key.
   */
  readonly allow_generate: boolean;
}

function given(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function isErrorCode(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

/** Modes as chmod takes them, for messages. */
function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/**
 * PostgreSQL's rule for its TLS key file, which operators already know: owned by the user the
 * server runs as and at most 0600, or owned by root and at most 0640 (so that a secret mounted by
 * root for a group, as Kubernetes does with fsGroup, is accepted). Modes do not apply on Windows.
 */
function checkKeyFileAccess(path: string, status: Stats, label: string): void {
  const euid = process.geteuid?.();
  if (euid === undefined) return;
  if (status.uid !== euid && status.uid !== 0) {
    throw new ConfigError([`${label} is owned by uid ${status.uid}; it must be owned by the user Paygrid runs as (uid ${euid}) or by root`]);
  }
  const forbidden = status.uid === euid ? 0o077 : 0o037;
  if ((status.mode & forbidden) !== 0) {
    const allowed = status.uid === euid ? '0600 or 0400' : '0640 or less, as it is owned by root';
    throw new ConfigError([`${label} has mode ${octal(status.mode)}, open to other users; make it ${allowed} (chmod 600 ${path})`]);
  }
}

/** The key in the file, or undefined when there is no file. Checked as the header says. */
async function readKeyFile(path: string, label: string): Promise<KeyEncryptionKey | undefined> {
  let status: Stats;
  try {
    status = await stat(path);
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) return undefined;
    if (isErrorCode(error, 'EACCES')) throw new ConfigError([`${label} cannot be reached by this process (permission denied)`]);
    throw error;
  }
  // Checked before opening, so that a FIFO or a device is never opened (which could block).
  if (!status.isFile()) throw new ConfigError([`${label} is not a regular file`]);
  let handle;
  try {
    handle = await openFile(path, 'r');
  } catch (error) {
    if (isErrorCode(error, 'EACCES')) throw new ConfigError([`${label} cannot be read by this process (permission denied)`]);
    throw error;
  }
  try {
    // Checked again on what was opened, in case the name was replaced in between.
    const opened = await handle.stat();
    if (!opened.isFile()) throw new ConfigError([`${label} is not a regular file`]);
    checkKeyFileAccess(path, opened, label);
    if (opened.size > key_encryption_key_file_bytes_max) {
      throw new ConfigError([`${label} is ${opened.size} bytes; a key file holds one key, 64 hexadecimal characters or the base64 of 32 bytes (at most ${key_encryption_key_file_bytes_max} bytes)`]);
    }
    const buffer = Buffer.alloc(key_encryption_key_file_bytes_max);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const text = buffer.subarray(0, bytesRead).toString('utf8');
    buffer.fill(0);
    return parseKeyEncryptionKey(text, label);
  } finally {
    await handle.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) return false;
    throw error;
  }
}

/** Makes a new or renamed name durable: losing the key after a crash would lose everything it wraps. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await openFile(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes the key to a new file of its own in the directory, synced, mode 0600; returns its path. */
async function writeTemporaryKeyFile(directory: string, base_name: string, key: KeyEncryptionKey): Promise<string> {
  const temporary_path = join(directory, `.${base_name}.${randomBytes(8).toString('hex')}.tmp`);
  const file = await openFile(temporary_path, 'wx', key_encryption_key_file_mode);
  try {
    await file.writeFile(`${key.exportHex()}\n`, 'utf8');
    // The mode given to open is narrowed by the umask, never widened; chmod makes it exact.
    await file.chmod(key_encryption_key_file_mode);
    await file.sync();
  } finally {
    await file.close();
  }
  return temporary_path;
}

/**
 * Writes a new key so that it appears whole or not at all, and only once: it is written and
 * synced to a file of its own, then hard-linked to its name, which fails when another process
 * got there first (whose key then wins). A rename would silently replace that key, and
 * everything sealed under it would be lost.
 */
async function writeNewKeyFile(path: string, label: string): Promise<KeyEncryptionKey> {
  const directory = dirname(path);
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const key = generateKeyEncryptionKey();
  const temporary_path = await writeTemporaryKeyFile(directory, key_encryption_key_file_name, key);
  try {
    await link(temporary_path, path);
  } catch (error) {
    if (!isErrorCode(error, 'EEXIST')) throw error;
    const existing = await readKeyFile(path, label);
    assert(existing !== undefined, 'the key file exists, as link() said');
    return existing;
  } finally {
    await unlink(temporary_path);
  }
  await syncDirectory(directory);
  return key;
}

/** Whether `path` is `directory` or somewhere below it, once symbolic links are resolved. */
async function isInside(path: string, directory: string): Promise<boolean> {
  const real_directory = await realpath(directory).catch(() => resolve(directory));
  const real_parent = await realpath(dirname(path)).catch(() => resolve(dirname(path)));
  return real_parent === real_directory || real_parent.startsWith(`${real_directory}${sep}`);
}

export function keyFileLocationWarning(path: string): string {
  return (
    `the key-encryption key is in ${path}, inside DATA_DIR, the folder whose data it protects: a backup or copy of that folder ` +
    `can decrypt itself. Move the key out of it and set ${key_encryption_key_file_variable} to its new path (see docs/operations.md)`
  );
}

/**
 * The keyring for this process: the current key from PAYGRID_VAULT_KEK, else from the file named
 * by PAYGRID_VAULT_KEK_FILE, else from DATA_DIR/vault.kek (generated there, or at the named path,
 * when missing and allowed); the previous keys from PAYGRID_VAULT_KEK_PREVIOUS and, for a key
 * file, from `<file>.previous`. A bad value stops the start with a ConfigError that names the
 * variable or the file, never the key.
 */
export async function loadKeyring(options: LoadKeyringOptions): Promise<LoadedKeyring> {
  const env_key = given(options.env[key_encryption_key_variable]);
  const env_file = given(options.env[key_encryption_key_file_variable]);
  const previous = parsePreviousKeyEncryptionKeys(options.env[previous_key_encryption_keys_variable]);
  if (env_key !== undefined && env_file !== undefined) {
    throw new ConfigError([`${key_encryption_key_variable} and ${key_encryption_key_file_variable} are both set; give the key one way only`]);
  }
  if (env_key !== undefined) {
    return { keyring: new Keyring(parseKeyEncryptionKey(env_key, key_encryption_key_variable), previous), source: { kind: 'environment' }, previous_file_key: undefined, warnings: [] };
  }

  const default_path = join(options.data_dir, key_encryption_key_file_name);
  const path = env_file === undefined ? default_path : resolve(env_file);
  const label = env_file === undefined ? `The vault key file ${path} (used when ${key_encryption_key_variable} is not set)` : `The key file ${path} (named by ${key_encryption_key_file_variable})`;
  let current = await readKeyFile(path, label);
  let generated = false;
  if (current === undefined) {
    if (env_file !== undefined && path !== default_path && (await exists(default_path))) {
      // An operator moving the key out of DATA_DIR set the variable but did not move the file:
      // a new key would open none of the data.
      throw new ConfigError([`${key_encryption_key_file_variable} names ${path}, which does not exist, but ${default_path} does: move that file to ${path} (it holds the key to the existing data)`]);
    }
    if (!options.allow_generate) {
      throw new ConfigError([
        `${key_encryption_key_variable} is not set and there is no key file at ${path}; set ${key_encryption_key_variable} (64 hexadecimal characters) or ${key_encryption_key_file_variable} to the file that holds the key`,
      ]);
    }
    current = await writeNewKeyFile(path, label);
    generated = true;
  }
  const previous_path = `${path}${previous_key_file_suffix}`;
  const previous_file_key = await readKeyFile(previous_path, `The previous key file ${previous_path} (left by an unfinished rotation)`);
  const keyring = new Keyring(current, previous_file_key === undefined ? previous : [...previous, previous_file_key]);
  const inside_data_dir = await isInside(path, options.data_dir);
  return {
    keyring,
    source: { kind: 'file', path, generated, inside_data_dir },
    previous_file_key,
    warnings: inside_data_dir ? [keyFileLocationWarning(path)] : [],
  };
}

/**
 * A rotation's first durable step for a key held in a file: the key being replaced is written to
 * `<file>.previous`, then the new key to the file, each synced and renamed into place, so that a
 * crash at any moment leaves a start that reads both. Only then may anything be wrapped by the new
 * key. Any earlier `<file>.previous` is replaced: the caller has checked that nothing is wrapped
 * by it any more.
 */
export async function replaceKeyFile(path: string, replaced: KeyEncryptionKey, next: KeyEncryptionKey): Promise<void> {
  const directory = dirname(path);
  const previous_path = `${path}${previous_key_file_suffix}`;
  const previous_temporary = await writeTemporaryKeyFile(directory, `${key_encryption_key_file_name}${previous_key_file_suffix}`, replaced);
  await rename(previous_temporary, previous_path);
  await syncDirectory(directory);
  const next_temporary = await writeTemporaryKeyFile(directory, key_encryption_key_file_name, next);
  await rename(next_temporary, path);
  await syncDirectory(directory);
}

/** The end of a rotation: the replaced key's file goes once nothing is wrapped by it. */
export async function removePreviousKeyFile(path: string): Promise<void> {
  try {
    await unlink(`${path}${previous_key_file_suffix}`);
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) return;
    throw error;
  }
  await syncDirectory(dirname(path));
}
