import { createHash, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config/variables';
import { KeyEncryptionKey, generateKeyEncryptionKey, parseKeyEncryptionKey, parsePreviousKeyEncryptionKeys, previous_key_encryption_keys_max } from './key-encryption-key';
import { Keyring } from './keyring';
import { binding } from './seal';

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
    const wrapped = key.wrap(data_key, binding('test', 'data_key', 'tok_a'));
    expect(key.unwrap(wrapped, binding('test', 'data_key', 'tok_a'))).toEqual(data_key);
    expect(key.unwrap(wrapped, binding('test', 'data_key', 'tok_b'))).toBeUndefined();
    expect(generateKeyEncryptionKey().unwrap(wrapped, binding('test', 'data_key', 'tok_a'))).toBeUndefined();
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

  it('derives keys that depend on the KEK and on the info', () => {
    const key = generateKeyEncryptionKey();
    expect(key.deriveKey('paygrid-vault-fingerprint')).toEqual(key.deriveKey('paygrid-vault-fingerprint'));
    expect(key.deriveKey('paygrid-vault-fingerprint')).toHaveLength(32);
    expect(key.deriveKey('other')).not.toEqual(key.deriveKey('paygrid-vault-fingerprint'));
    expect(generateKeyEncryptionKey().deriveKey('paygrid-vault-fingerprint')).not.toEqual(key.deriveKey('paygrid-vault-fingerprint'));
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

describe('Keyring', () => {
  it('wraps with the current key, opens with any key it holds, and says why it cannot', () => {
    const old = generateKeyEncryptionKey();
    const next = generateKeyEncryptionKey();
    const keyring = new Keyring(old, [old]);
    expect(keyring.ids).toEqual([old.id]);
    const data_key = randomBytes(32);
    const aad = binding('test', 'data_key', 'mer_a');
    const wrapped_by_old = keyring.current.wrap(data_key, aad);

    keyring.adopt(next);
    expect(keyring.current.id).toBe(next.id);
    expect(keyring.ids).toEqual([next.id, old.id]);
    expect(keyring.unwrap(old.id, wrapped_by_old, aad)).toEqual({ ok: true, key: data_key });
    // The wrong key named for the row, a changed binding, a key not held.
    expect(keyring.unwrap(next.id, wrapped_by_old, aad)).toEqual({ ok: false, reason: 'authentication_failed' });
    expect(keyring.unwrap(old.id, wrapped_by_old, binding('test', 'data_key', 'mer_b'))).toEqual({ ok: false, reason: 'authentication_failed' });
    expect(keyring.unwrap('0011223344556677', wrapped_by_old, aad)).toEqual({ ok: false, reason: 'key_unavailable' });

    keyring.retire(old.id);
    expect(keyring.has(old.id)).toBe(false);
    expect(keyring.unwrap(old.id, wrapped_by_old, aad)).toEqual({ ok: false, reason: 'key_unavailable' });
    expect(() => keyring.retire(next.id)).toThrow(/never retired/);
  });
});
