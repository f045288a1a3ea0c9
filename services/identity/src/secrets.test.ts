import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { apiKeyPrefix, containsSecret, hashSecret, isOperatorKeyShaped, parseApiKey, randomSecret, redactSecret, secret_random_length } from './secrets';

/** Hands out the given bytes in order, as many as asked for at a time, then fails. */
function scriptedBytes(script: number[]): (size: number) => Uint8Array {
  let position = 0;
  return (size) => {
    if (position >= script.length) throw new Error('the script ran out of bytes');
    const bytes = Uint8Array.from(script.slice(position, position + size));
    position += bytes.length;
    return bytes;
  };
}

describe('randomSecret', () => {
  it('draws 32 base62 characters after the prefix', () => {
    for (const prefix of ['sk_test_', 'pk_live_', 'opk_', 'pgss_']) {
      const secret = randomSecret(prefix);
      expect(secret.startsWith(prefix)).toBe(true);
      expect(secret.slice(prefix.length)).toMatch(/^[0-9A-Za-z]{32}$/);
    }
    expect(randomSecret('sk_test_')).not.toBe(randomSecret('sk_test_'));
  });

  it('maps bytes modulo 62 and rejects those at or above 248, so every character is equally likely', () => {
    const script = [0, 61, 62, 247, 248, 255, ...Array.from({ length: secret_random_length - 4 + 100 }, () => 10)];
    const secret = randomSecret('x_', scriptedBytes(script));
    // 248 and 255 are skipped: the fifth character comes from the seventh byte.
    expect(secret).toBe(`x_0z0z${'A'.repeat(secret_random_length - 4)}`);
  });

  it('asks again when a whole draw is rejected', () => {
    const secret = randomSecret('x_', scriptedBytes([...Array.from({ length: 40 }, () => 250), ...Array.from({ length: 40 }, () => 1)]));
    expect(secret).toBe(`x_${'1'.repeat(secret_random_length)}`);
  });
});

describe('API key shapes', () => {
  it('recognises exactly the four key prefixes, and reads type and mode from them', () => {
    fc.assert(
      fc.property(fc.constantFrom('secret' as const, 'publishable' as const), fc.boolean(), (type, livemode) => {
        const key = randomSecret(apiKeyPrefix(type, livemode));
        expect(parseApiKey(key)).toEqual({ type, livemode });
        expect(parseApiKey(`${key}x`)).toBeUndefined();
        expect(parseApiKey(key.slice(0, -1))).toBeUndefined();
        expect(parseApiKey(` ${key}`)).toBeUndefined();
      }),
      { numRuns: 50 },
    );
    expect(parseApiKey(randomSecret('rk_test_'))).toBeUndefined();
    expect(parseApiKey(randomSecret('sk_prod_'))).toBeUndefined();
    expect(parseApiKey(`sk_test_${'-'.repeat(32)}`)).toBeUndefined();
    expect(isOperatorKeyShaped(randomSecret('opk_'))).toBe(true);
    expect(isOperatorKeyShaped(randomSecret('sk_test_'))).toBe(false);
  });

  it('redacts to the prefix and the last four characters', () => {
    const key = `sk_test_${'a'.repeat(28)}wxyz`;
    expect(redactSecret('sk_test_', key)).toBe('sk_test_…wxyz');
  });

  it('hashes with SHA-256 in hex', () => {
    expect(hashSecret('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('spots a secret inside text', () => {
    expect(containsSecret(JSON.stringify({ note: `key ${randomSecret('pk_live_')}` }))).toBe(true);
    expect(containsSecret(randomSecret('pgss_'))).toBe(true);
    expect(containsSecret(JSON.stringify({ merchant: 'mer_abc', fields: ['name'] }))).toBe(false);
  });
});
