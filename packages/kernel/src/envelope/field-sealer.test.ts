import { describe, expect, it } from 'vitest';
import { FieldSealer, SealedFieldError } from './field-sealer';
import { generateKeyEncryptionKey } from './key-encryption-key';
import { Keyring } from './keyring';

describe('FieldSealer', () => {
  it('opens what it sealed, and refuses it in another row, field or service', () => {
    const keyring = new Keyring(generateKeyEncryptionKey());
    const sealer = new FieldSealer(keyring, 'paygrid-test', 'account_number');
    const owner = ['mer_a', false, 'wd_1'];
    const field = sealer.seal(owner, '000123456789');
    expect(field.sealed.includes(Buffer.from('000123456789'))).toBe(false);
    expect(sealer.open(owner, field)).toBe('000123456789');
    expect(() => sealer.open(['mer_a', false, 'wd_2'], field)).toThrow(SealedFieldError);
    expect(() => sealer.open(['mer_a', true, 'wd_1'], field)).toThrow(SealedFieldError);
    expect(() => new FieldSealer(keyring, 'paygrid-test', 'secret').open(owner, field)).toThrow(SealedFieldError);
    expect(() => new FieldSealer(keyring, 'paygrid-other', 'account_number').open(owner, field)).toThrow(SealedFieldError);
  });

  it('re-wraps the data key under a new KEK, after which the old key is not needed', () => {
    const old_kek = generateKeyEncryptionKey();
    const keyring = new Keyring(old_kek);
    const sealer = new FieldSealer(keyring, 'paygrid-test', 'secret', 10);
    const owner = ['mer_a', false, 'we_1'];
    const field = sealer.seal(owner, 'whsec_abc');
    keyring.adopt(generateKeyEncryptionKey());
    const rewrapped = sealer.rewrap(owner, field.kek_id, field.data_key);
    expect(rewrapped.kek_id).toBe(keyring.current.id);
    keyring.retire(old_kek.id);
    // A fresh sealer, so that nothing comes from the cache.
    const fresh = new FieldSealer(keyring, 'paygrid-test', 'secret');
    expect(fresh.open(owner, { ...field, ...rewrapped })).toBe('whsec_abc');
    const missing = (() => {
      try {
        fresh.open(owner, field);
        return undefined;
      } catch (error) {
        return error;
      }
    })();
    expect(missing).toBeInstanceOf(SealedFieldError);
    expect((missing as SealedFieldError).reason).toBe('key_unavailable');
    expect((missing as SealedFieldError).message).not.toContain('whsec_abc');
  });
});
