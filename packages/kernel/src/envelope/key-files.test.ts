import { chmod, chown, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../config/variables';
import { temporaryDirectory, type TemporaryDirectory } from '../testing';
import { generateKeyEncryptionKey } from './key-encryption-key';
import { key_encryption_key_file_mode, loadKeyring, removePreviousKeyFile, replaceKeyFile, type LoadKeyringOptions } from './key-files';

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

describe('loadKeyring', () => {
  let directory: TemporaryDirectory;
  let data_dir: string;

  function options(env: Record<string, string> = {}, allow_generate = true): LoadKeyringOptions {
    return { env, data_dir, allow_generate };
  }

  beforeEach(async () => {
    directory = await temporaryDirectory();
    data_dir = join(directory.path, 'data');
  });

  afterEach(async () => {
    await directory.remove();
  });

  it('generates DATA_DIR/vault.kek with mode 0600, creating the folder, reads it back after, and warns that it sits in the folder it protects', async () => {
    const first = await loadKeyring(options());
    const file = join(data_dir, 'vault.kek');
    expect(first.source).toEqual({ kind: 'file', path: file, generated: true, inside_data_dir: true });
    expect((await stat(file)).mode & 0o777).toBe(key_encryption_key_file_mode);
    expect((await readFile(file, 'utf8')).trim()).toBe(first.keyring.current.exportHex());
    expect(first.warnings).toHaveLength(1);
    expect(first.warnings[0]).toContain('PAYGRID_VAULT_KEK_FILE');
    expect(first.warnings[0]).toContain(file);

    const again = await loadKeyring(options({ PAYGRID_VAULT_KEK: '' }));
    expect(again.keyring.current.id).toBe(first.keyring.current.id);
    expect(again.source).toEqual({ kind: 'file', path: file, generated: false, inside_data_dir: true });
    // No temporary file is left beside it.
    expect(await readdir(data_dir)).toEqual(['vault.kek']);
  });

  it('writes 0600 whatever the umask', async () => {
    const previous = process.umask(0o000);
    try {
      await loadKeyring(options());
    } finally {
      process.umask(previous);
    }
    expect((await stat(join(data_dir, 'vault.kek'))).mode & 0o777).toBe(0o600);
  });

  it('gives every concurrent caller the same key', async () => {
    const loaded = await Promise.all(Array.from({ length: 8 }, () => loadKeyring(options())));
    expect(new Set(loaded.map((one) => one.keyring.current.id)).size).toBe(1);
    expect(await readdir(data_dir)).toEqual(['vault.kek']);
  });

  it('takes PAYGRID_VAULT_KEK first, with no warning, and refuses it beside PAYGRID_VAULT_KEK_FILE', async () => {
    const from_file = await loadKeyring(options());
    const key = generateKeyEncryptionKey();
    const from_environment = await loadKeyring(options({ PAYGRID_VAULT_KEK: key.exportHex() }));
    expect(from_environment.keyring.current.id).toBe(key.id);
    expect(from_environment.keyring.current.id).not.toBe(from_file.keyring.current.id);
    expect(from_environment.source).toEqual({ kind: 'environment' });
    expect(from_environment.warnings).toEqual([]);
    const both = await rejectionOf(loadKeyring(options({ PAYGRID_VAULT_KEK: key.exportHex(), PAYGRID_VAULT_KEK_FILE: join(directory.path, 'k') })));
    expect(both).toBeInstanceOf(ConfigError);
    expect(both.message).toContain('both set');
    expect(both.message).not.toContain(key.exportHex());
  });

  it('refuses a malformed PAYGRID_VAULT_KEK without generating or quoting anything', async () => {
    const value = 'not-a-key-but-a-long-secret-looking-value';
    const error = await rejectionOf(loadKeyring(options({ PAYGRID_VAULT_KEK: value })));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain('PAYGRID_VAULT_KEK');
    expect(error.message).not.toContain(value);
    await expect(stat(data_dir)).rejects.toThrow(/ENOENT/);
  });

  it('does not generate when told not to', async () => {
    const error = await rejectionOf(loadKeyring(options({}, false)));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain('PAYGRID_VAULT_KEK is not set');
    expect(error.message).toContain('PAYGRID_VAULT_KEK_FILE');
    await expect(stat(data_dir)).rejects.toThrow(/ENOENT/);
  });

  describe('PAYGRID_VAULT_KEK_FILE', () => {
    it('keeps the key outside DATA_DIR: generated there on first start, read after, with no warning', async () => {
      const file = join(directory.path, 'secrets', 'paygrid.kek');
      const first = await loadKeyring(options({ PAYGRID_VAULT_KEK_FILE: file }));
      expect(first.source).toEqual({ kind: 'file', path: file, generated: true, inside_data_dir: false });
      expect(first.warnings).toEqual([]);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      await expect(stat(join(data_dir, 'vault.kek'))).rejects.toThrow(/ENOENT/);
      expect((await loadKeyring(options({ PAYGRID_VAULT_KEK_FILE: file }, false))).keyring.current.id).toBe(first.keyring.current.id);
    });

    it('warns when the named file is in DATA_DIR after all, even through a symbolic link', async () => {
      await mkdir(data_dir, { recursive: true });
      const link = join(directory.path, 'elsewhere');
      await symlink(data_dir, link);
      const loaded = await loadKeyring(options({ PAYGRID_VAULT_KEK_FILE: join(link, 'key') }));
      expect(loaded.source).toMatchObject({ kind: 'file', inside_data_dir: true });
      expect(loaded.warnings).toHaveLength(1);
    });

    it('refuses to start with a new key when the old one was left in DATA_DIR', async () => {
      const old = await loadKeyring(options());
      const file = join(directory.path, 'secrets', 'paygrid.kek');
      const error = await rejectionOf(loadKeyring(options({ PAYGRID_VAULT_KEK_FILE: file })));
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.message).toContain(`move that file to ${file}`);
      expect(error.message).not.toContain(old.keyring.current.exportHex());
      await expect(stat(file)).rejects.toThrow(/ENOENT/);
    });

    it('refuses a file other users can read or write, naming the mode and the fix', async () => {
      const file = join(directory.path, 'paygrid.kek');
      const key = generateKeyEncryptionKey();
      await writeFile(file, `${key.exportHex()}\n`);
      for (const mode of [0o644, 0o640, 0o604, 0o620, 0o602]) {
        await chmod(file, mode);
        const error = await rejectionOf(loadKeyring(options({ PAYGRID_VAULT_KEK_FILE: file })));
        expect(error).toBeInstanceOf(ConfigError);
        expect(error.message).toContain(`mode 0${mode.toString(8)}`);
        expect(error.message).toContain(`chmod 600 ${file}`);
        expect(error.message).toContain('PAYGRID_VAULT_KEK_FILE');
        expect(error.message).not.toContain(key.exportHex());
      }
      for (const mode of [0o600, 0o400]) {
        await chmod(file, mode);
        expect((await loadKeyring(options({ PAYGRID_VAULT_KEK_FILE: file }))).keyring.current.id).toBe(key.id);
      }
    });

    it.runIf(process.geteuid?.() === 0)('refuses a file owned by another user (run as root, which can give it away)', async () => {
      const file = join(directory.path, 'paygrid.kek');
      await writeFile(file, `${generateKeyEncryptionKey().exportHex()}\n`, { mode: 0o600 });
      await chown(file, 4321, 4321);
      const error = await rejectionOf(loadKeyring(options({ PAYGRID_VAULT_KEK_FILE: file })));
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.message).toContain('owned by uid 4321');
    });

    it('refuses what is not a key file: too large, malformed, or not a regular file, and leaves it alone', async () => {
      const file = join(directory.path, 'paygrid.kek');
      const large = `${generateKeyEncryptionKey().exportHex()}\n`.repeat(5);
      await writeFile(file, large, { mode: 0o600 });
      const too_large = await rejectionOf(loadKeyring(options({ PAYGRID_VAULT_KEK_FILE: file })));
      expect(too_large).toBeInstanceOf(ConfigError);
      expect(too_large.message).toContain(`is ${large.length} bytes`);
      expect(too_large.message).not.toContain(large.slice(0, 16));

      await writeFile(file, 'garbage garbage garbage garbage\n', { mode: 0o600 });
      const malformed = await rejectionOf(loadKeyring(options({ PAYGRID_VAULT_KEK_FILE: file })));
      expect(malformed).toBeInstanceOf(ConfigError);
      expect(malformed.message).toContain(file);
      expect(malformed.message).toContain('64 hexadecimal characters');
      expect(malformed.message).not.toContain('garbage');

      const folder = join(directory.path, 'a-folder');
      await mkdir(folder);
      const not_a_file = await rejectionOf(loadKeyring(options({ PAYGRID_VAULT_KEK_FILE: folder })));
      expect(not_a_file).toBeInstanceOf(ConfigError);
      expect(not_a_file.message).toContain('is not a regular file');
      expect((await stat(folder)).isDirectory()).toBe(true);
    });
  });

  describe('a rotation of a key held in a file', () => {
    it('keeps the replaced key in <file>.previous until told, and the next start reads both', async () => {
      const first = await loadKeyring(options());
      const file = join(data_dir, 'vault.kek');
      const old = first.keyring.current;
      const next = generateKeyEncryptionKey();
      await replaceKeyFile(file, old, next);
      expect((await readFile(file, 'utf8')).trim()).toBe(next.exportHex());
      expect((await readFile(`${file}.previous`, 'utf8')).trim()).toBe(old.exportHex());
      for (const path of [file, `${file}.previous`]) expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await readdir(data_dir)).sort()).toEqual(['vault.kek', 'vault.kek.previous']);

      const from_env = generateKeyEncryptionKey();
      const restarted = await loadKeyring(options({ PAYGRID_VAULT_KEK_PREVIOUS: from_env.exportHex() }));
      expect(restarted.keyring.current.id).toBe(next.id);
      expect(restarted.previous_file_key?.id).toBe(old.id);
      expect(restarted.keyring.ids.sort()).toEqual([next.id, old.id, from_env.id].sort());

      await removePreviousKeyFile(file);
      await removePreviousKeyFile(file);
      expect(await readdir(data_dir)).toEqual(['vault.kek']);
      const finished = await loadKeyring(options());
      expect(finished.previous_file_key).toBeUndefined();
      expect(finished.keyring.ids).toEqual([next.id]);
    });

    it('checks the previous key file as strictly as the key file', async () => {
      await loadKeyring(options());
      const file = join(data_dir, 'vault.kek');
      await writeFile(`${file}.previous`, `${generateKeyEncryptionKey().exportHex()}\n`, { mode: 0o644 });
      await chmod(`${file}.previous`, 0o644);
      const error = await rejectionOf(loadKeyring(options()));
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.message).toContain(`${file}.previous`);
      expect(error.message).toContain('mode 0644');
    });
  });
});
