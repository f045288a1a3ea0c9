import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { binding, gcm_iv_length_bytes, gcm_tag_length_bytes, open, packSealed, seal, unpackSealed } from './seal';

describe('seal and open', () => {
  it('round-trip any plaintext under its key and binding, with a fresh IV each time', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.string(), (plaintext, id) => {
        const key = randomBytes(32);
        const sealed = seal(key, Buffer.from(plaintext), binding('test', 'number', id));
        expect(sealed.iv).toHaveLength(gcm_iv_length_bytes);
        expect(sealed.tag).toHaveLength(gcm_tag_length_bytes);
        expect(sealed.ciphertext).toHaveLength(plaintext.length);
        expect(open(key, sealed, binding('test', 'number', id))).toEqual(Buffer.from(plaintext));
        expect(seal(key, Buffer.from(plaintext), binding('test', 'number', id)).iv).not.toEqual(sealed.iv);
      }),
    );
  });

  it('refuse (undefined, never a wrong plaintext) a changed byte, another binding or another key', () => {
    const key = randomBytes(32);
    const aad = binding('test', 'number', 'tok_a', 'mer_a', false);
    const sealed = seal(key, Buffer.from('4242424242424242'), aad);
    const flipped = (buffer: Buffer, index: number) => {
      const copy = Buffer.from(buffer);
      copy[index] = (copy[index] ?? 0) ^ 0x01;
      return copy;
    };
    for (let index = 0; index < sealed.ciphertext.length; index += 1) {
      expect(open(key, { ...sealed, ciphertext: flipped(sealed.ciphertext, index) }, aad)).toBeUndefined();
    }
    expect(open(key, { ...sealed, tag: flipped(sealed.tag, 15) }, aad)).toBeUndefined();
    expect(open(key, { ...sealed, iv: flipped(sealed.iv, 0) }, aad)).toBeUndefined();
    expect(open(key, sealed, binding('test', 'number', 'tok_b', 'mer_a', false))).toBeUndefined();
    expect(open(key, sealed, binding('test', 'cvc', 'tok_a', 'mer_a', false))).toBeUndefined();
    expect(open(key, sealed, binding('test', 'number', 'tok_a', 'mer_a', true))).toBeUndefined();
    expect(open(randomBytes(32), sealed, aad)).toBeUndefined();
    // A cut-down tag would be accepted by a decipher not told the tag length.
    expect(open(key, { ...sealed, tag: sealed.tag.subarray(0, 4) }, aad)).toBeUndefined();
    expect(open(key, { ...sealed, iv: Buffer.concat([sealed.iv, Buffer.alloc(1)]) }, aad)).toBeUndefined();
    expect(open(key, sealed, aad)?.toString()).toBe('4242424242424242');
  });
});

describe('binding', () => {
  it('cannot be made to read the same for different parts or domains', () => {
    expect(binding('test', 'a:b', 'c')).not.toEqual(binding('test', 'a', 'b:c'));
    expect(binding('test', 'a', 'b', true)).not.toEqual(binding('test', 'a', 'b', 'true'));
    expect(binding('test', 'number', 'tok_x')).toEqual(binding('test', 'number', 'tok_x'));
    expect(binding('paygrid-vault', 'data_key', 'x')).not.toEqual(binding('paygrid-identity', 'data_key', 'x'));
  });

  it("reads as the vault's bindings always have, so that data sealed before the move to the kernel still opens", () => {
    expect(binding('paygrid-vault', 'number', 'tok_a', 'mer_a', false).toString()).toBe('["paygrid-vault",1,"number","tok_a","mer_a",false]');
  });
});

describe('packSealed', () => {
  it('round-trips through one buffer, and refuses what is not a packed seal', () => {
    const key = randomBytes(32);
    const aad = binding('test', 'secret');
    const sealed = seal(key, Buffer.from('pgss_secret'), aad);
    const packed = packSealed(sealed);
    expect(packed).toHaveLength(1 + gcm_iv_length_bytes + gcm_tag_length_bytes + 11);
    expect(packed[0]).toBe(1);
    const unpacked = unpackSealed(packed);
    expect(unpacked).toEqual(sealed);
    expect(open(key, unpacked!, aad)?.toString()).toBe('pgss_secret');
    expect(unpackSealed(packed.subarray(0, 28))).toBeUndefined();
    expect(unpackSealed(Buffer.concat([Buffer.of(2), packed.subarray(1)]))).toBeUndefined();
    expect(unpackSealed(Buffer.alloc(0))).toBeUndefined();
  });
});
