import { describe, expect, it } from 'vitest';
import { generateKeyEncryptionKey, Keyring, packed_seal_format } from '@paygrid/kernel/envelope';
import { randomSecret } from './secrets';
import { SigningSecretDecryptionError, SigningSecretSealer } from './signing-secrets';

function decryptionErrorOf(call: () => unknown): SigningSecretDecryptionError {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(SigningSecretDecryptionError);
    return error as SigningSecretDecryptionError;
  }
  throw new Error('expected a SigningSecretDecryptionError');
}

describe('SigningSecretSealer', () => {
  it('seals both secrets under a fresh data key each time, wrapped by the current KEK, and opens them in their own slot only', () => {
    const keyring = new Keyring(generateKeyEncryptionKey());
    const sealer = new SigningSecretSealer(keyring);
    const current = randomSecret('pgss_');
    const previous = randomSecret('pgss_');
    const sealed = sealer.seal('mer_a', current, previous);
    expect(sealed.kek_id).toBe(keyring.current.id);
    expect(sealed.current[0]).toBe(packed_seal_format);
    expect(sealed.previous).not.toBeNull();
    for (const bytes of [sealed.data_key, sealed.current, sealed.previous!]) expect(bytes.includes(Buffer.from(current.slice(-32)))).toBe(false);
    expect(sealer.open('mer_a', sealed.kek_id, sealed.data_key, sealed.current, 'current')).toBe(current);
    expect(sealer.open('mer_a', sealed.kek_id, sealed.data_key, sealed.previous!, 'previous')).toBe(previous);
    const again = sealer.seal('mer_a', current, null);
    expect(again.data_key).not.toEqual(sealed.data_key);
    expect(again.current).not.toEqual(sealed.current);
    expect(again.previous).toBeNull();

    const fresh = new SigningSecretSealer(keyring);
    expect(decryptionErrorOf(() => fresh.open('mer_a', sealed.kek_id, sealed.data_key, sealed.previous!, 'current')).reason).toBe('authentication_failed');
    expect(decryptionErrorOf(() => fresh.open('mer_b', sealed.kek_id, sealed.data_key, sealed.current, 'current')).reason).toBe('authentication_failed');
    expect(decryptionErrorOf(() => fresh.open('mer_a', sealed.kek_id, again.data_key, sealed.current, 'current')).reason).toBe('authentication_failed');
    expect(decryptionErrorOf(() => fresh.open('mer_a', sealed.kek_id, Buffer.from('short'), sealed.current, 'current')).reason).toBe('authentication_failed');
    expect(decryptionErrorOf(() => fresh.open('mer_a', '0011223344556677', sealed.data_key, sealed.current, 'current')).reason).toBe('key_unavailable');
  });

  it('keeps opened secrets in memory up to its bound, oldest out first, and forgets a replaced one', () => {
    const keyring = new Keyring(generateKeyEncryptionKey());
    const sealer = new SigningSecretSealer(keyring, 2);
    const sealed = ['mer_a', 'mer_b', 'mer_c'].map((merchant_id) => {
      const secret = randomSecret('pgss_');
      return { merchant_id, secret, sealed: sealer.seal(merchant_id, secret, null) };
    });
    for (const entry of sealed) expect(sealer.open(entry.merchant_id, entry.sealed.kek_id, entry.sealed.data_key, entry.sealed.current, 'current')).toBe(entry.secret);
    expect(sealer.cached).toBe(2);
    // A hit needs no key: the first merchant's entry was evicted, the last one's was not.
    keyring.adopt(generateKeyEncryptionKey());
    keyring.retire(sealed[0]!.sealed.kek_id);
    const last = sealed[2]!;
    expect(sealer.open(last.merchant_id, last.sealed.kek_id, last.sealed.data_key, last.sealed.current, 'current')).toBe(last.secret);
    const first = sealed[0]!;
    expect(decryptionErrorOf(() => sealer.open(first.merchant_id, first.sealed.kek_id, first.sealed.data_key, first.sealed.current, 'current')).reason).toBe('key_unavailable');
    sealer.forget(last.merchant_id, last.sealed.current, 'current');
    expect(sealer.cached).toBe(1);
    expect(new SigningSecretSealer(keyring, 0).cached).toBe(0);
  });

  it('re-wraps a data key under the current KEK, and the sealed secrets open as before', () => {
    const old_kek = generateKeyEncryptionKey();
    const keyring = new Keyring(old_kek);
    const sealer = new SigningSecretSealer(keyring, 0);
    const secret = randomSecret('pgss_');
    const sealed = sealer.seal('mer_a', secret, null);
    const new_kek = generateKeyEncryptionKey();
    keyring.adopt(new_kek);
    const rewrapped = sealer.rewrap('mer_a', sealed.kek_id, sealed.data_key);
    expect(rewrapped.kek_id).toBe(new_kek.id);
    const new_only = new SigningSecretSealer(new Keyring(new_kek), 0);
    expect(new_only.open('mer_a', rewrapped.kek_id, rewrapped.data_key, sealed.current, 'current')).toBe(secret);
    expect(decryptionErrorOf(() => new_only.rewrap('mer_b', rewrapped.kek_id, rewrapped.data_key)).reason).toBe('authentication_failed');
  });
});
