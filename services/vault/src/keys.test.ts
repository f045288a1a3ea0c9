import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '@paygrid/kernel';
import { temporaryDirectory, type TemporaryDirectory } from '@paygrid/kernel/testing';
import { binding } from './envelope';
import {
  KeyEncryptionKey,
  generateKeyEncryptionKey,
  key_encryption_key_file_mode,
  loadKeyEncryptionKey,
  parseKeyEncryptionKey,
  parsePreviousKeyEncryptionKeys,
  previous_key_encryption_keys_max,
} from './keys';

/** The error a promise rejects with, failing the test when it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  }
  throw new Error('expected a rejection');
}

function thrownBy(call: () => unknown): Error {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  }
  throw new Error('expected the call to throw');
}

describe('KeyEncryptionKey', () => {
  it('is named by the first 8 bytes of its SHA-256, and wraps what only it unwraps', () => {
    const bytes = Buffer.alloc(32, 7);
    const key = KeyEncryptionKey.fromBytes(bytes);
    expect(key.id).toBe(createHash('sha256').update(bytes).digest('hex').slice(0, 16));
    expect(KeyEncryptionKey.fromBytes(Buffer.alloc(32, 7)).id).toBe(key.id);
    expect(generateKeyEncryptionKey().id).not.toBe(key.id);

    const data_key = randomBytes(32);
    const wrapped = key.wrap(data_key, binding('data_key', 'tok_a'));
    expect(key.unwrap(wrapped, binding('data_key', 'tok_a'))).toEqual(data_key);
    expect(key.unwrap(wrapped, binding('data_key', 'tok_b'))).toBeUndefined();
    expect(generateKeyEncryptionKey().unwrap(wrapped, binding('data_key', 'tok_a'))).toBeUndefined();
  });

  it('keeps its bytes to itself: JSON, inspect and string show the id only', () => {
    const key = generateKeyEncryptionKey();
    const hex = key.exportHex();
    expect(hex).toMatch(/^[0-9a-f]{64}$/);
    for (const shown of [JSON.stringify({ key }), inspect(key, { showHidden: true, depth: 5 }), String(key), `${inspect({ nested: [key] })}`]) {
      expect(shown).toContain(key.id);
      expect(shown).not.toContain(hex);
      expect(shown).not.toContain(hex.slice(0, 16));
    }
  });

  it('derives a fingerprint key that depends on the KEK', () => {
    const key = generateKeyEncryptionKey();
    expect(key.deriveFingerprintKey()).toEqual(key.deriveFingerprintKey());
    expect(key.deriveFingerprintKey()).toHaveLength(32);
    expect(generateKeyEncryptionKey().deriveFingerprintKey()).not.toEqual(key.deriveFingerprintKey());
  });
});

describe('parseKeyEncryptionKey', () => {
  const bytes = randomBytes(32);

  it('reads 64 hex characters or the base64 of 32 bytes, padded or not, URL-safe or not', () => {
    const id = KeyEncryptionKey.fromBytes(bytes).id;
    for (const text of [
      bytes.toString('hex'),
      bytes.toString('hex').toUpperCase(),
      ` ${bytes.toString('hex')}\n`,
      bytes.toString('base64'),
      bytes.toString('base64').replace(/=$/, ''),
      bytes.toString('base64url'),
    ]) {
      expect(parseKeyEncryptionKey(text, 'PAYGRID_VAULT_KEK').id).toBe(id);
    }
  });

  it('refuses anything else with a ConfigError that names the source and never the value', () => {
    const hex = bytes.toString('hex');
    for (const text of [hex.slice(0, 62), `${hex}00`, `${hex.slice(0, 63)}g`, randomBytes(31).toString('base64'), randomBytes(33).toString('base64'), 'secret', '']) {
      const error = thrownBy(() => parseKeyEncryptionKey(text, 'PAYGRID_VAULT_KEK'));
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.message).toContain('PAYGRID_VAULT_KEK');
      if (text.length >= 8) expect(error.message).not.toContain(text.slice(0, 8));
    }
  });

  it('reads the previous keys from a comma-separated list', () => {
    const first = generateKeyEncryptionKey();
    const second = generateKeyEncryptionKey();
    expect(parsePreviousKeyEncryptionKeys(undefined)).toEqual([]);
    expect(parsePreviousKeyEncryptionKeys(' ')).toEqual([]);
    expect(parsePreviousKeyEncryptionKeys(`${first.exportHex()}, ${second.exportHex()}`).map((key) => key.id)).toEqual([first.id, second.id]);
    const malformed = thrownBy(() => parsePreviousKeyEncryptionKeys(`${first.exportHex()},nope`));
    expect(malformed.message).toContain('PAYGRID_VAULT_KEK_PREVIOUS (key 2)');
    expect(malformed.message).not.toContain(first.exportHex());
    const many = Array.from({ length: previous_key_encryption_keys_max + 1 }, () => generateKeyEncryptionKey().exportHex()).join(',');
    expect(thrownBy(() => parsePreviousKeyEncryptionKeys(many))).toBeInstanceOf(ConfigError);
  });
});

describe('loadKeyEncryptionKey', () => {
  let directory: TemporaryDirectory;

  beforeEach(async () => {
    directory = await temporaryDirectory();
  });

  afterEach(async () => {
    await directory.remove();
  });

  it('generates a key into DATA_DIR/vault.kek with mode 0600, creating the directory, and reads it back after', async () => {
    const data_dir = join(directory.path, 'nested', 'data');
    const key = await loadKeyEncryptionKey({ data_dir });
    const file = join(data_dir, 'vault.kek');
    const status = await stat(file);
    expect(status.mode & 0o777).toBe(key_encryption_key_file_mode);
    expect((await readFile(file, 'utf8')).trim()).toBe(key.exportHex());
    expect((await loadKeyEncryptionKey({ data_dir })).id).toBe(key.id);
    expect((await loadKeyEncryptionKey({ data_dir, env_value: '' })).id).toBe(key.id);
    // No temporary file is left beside it.
    expect(await readdir(data_dir)).toEqual(['vault.kek']);
  });

  it('writes 0600 whatever the umask', async () => {
    const previous = process.umask(0o000);
    try {
      await loadKeyEncryptionKey({ data_dir: directory.path });
    } finally {
      process.umask(previous);
    }
    expect((await stat(join(directory.path, 'vault.kek'))).mode & 0o777).toBe(0o600);
  });

  it('gives every concurrent caller the same key', async () => {
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadKeyEncryptionKey({ data_dir: directory.path })));
    expect(new Set(keys.map((key) => key.id)).size).toBe(1);
    expect(await readdir(directory.path)).toEqual(['vault.kek']);
  });

  it('prefers PAYGRID_VAULT_KEK to the file', async () => {
    const from_file = await loadKeyEncryptionKey({ data_dir: directory.path });
    const from_environment = generateKeyEncryptionKey();
    expect((await loadKeyEncryptionKey({ data_dir: directory.path, env_value: from_environment.exportHex() })).id).toBe(from_environment.id);
    expect(from_environment.id).not.toBe(from_file.id);
  });

  it('refuses a malformed PAYGRID_VAULT_KEK without generating or quoting anything', async () => {
    const value = 'not-a-key-but-a-long-secret-looking-value';
    const error = await rejectionOf(loadKeyEncryptionKey({ data_dir: directory.path, env_value: value }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain('PAYGRID_VAULT_KEK');
    expect(error.message).not.toContain(value);
    expect(await readdir(directory.path)).toEqual([]);
  });

  it('refuses a malformed key file, naming it', async () => {
    const file = join(directory.path, 'vault.kek');
    await writeFile(file, 'garbage garbage garbage garbage\n', { mode: 0o600 });
    const error = await rejectionOf(loadKeyEncryptionKey({ data_dir: directory.path }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain(file);
    expect(error.message).toContain('PAYGRID_VAULT_KEK');
    expect(error.message).not.toContain('garbage');
  });

  it('does not generate when told not to', async () => {
    const error = await rejectionOf(loadKeyEncryptionKey({ data_dir: directory.path, allow_generate: false }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain('PAYGRID_VAULT_KEK is not set');
    expect(await readdir(directory.path)).toEqual([]);
  });

  it('reports a key file it cannot read rather than replacing it', async () => {
    await mkdir(join(directory.path, 'vault.kek'));
    const error = await rejectionOf(loadKeyEncryptionKey({ data_dir: directory.path }));
    expect((error as NodeJS.ErrnoException).code).toBe('EISDIR');
    expect((await stat(join(directory.path, 'vault.kek'))).isDirectory()).toBe(true);
  });
});
