// The keys and seals of idempotency records: the same keys in every process that holds the KEK,
// a seal bound to its cache key and request, and records that keep replaying through a KEK
// rotation for as long as they live.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '@paygrid/kernel';
import { Keyring, generateKeyEncryptionKey, parseKeyEncryptionKey } from '@paygrid/kernel/envelope';
import { IdempotencyKeys, idempotency_keys_held_ms, idempotency_retired_keys_max, openResponse, requestFingerprint, sealResponse } from './idempotency-seal';

const cache_key = 'idempotency:operator:op_root:6b86b273ff34fce19d6b804eff5a3f5747ada4ea2f1f1c1c8f5d6e7f8a9b0c1d';
const other_cache_key = 'idempotency:operator:op_root:d4735e3a265e16eee03f59718b9b5d03019c07d8b6c51f90da3a666eec13ab35';
const response = { status: 200, body: '{"signing_secret":"whsec_0123456789abcdef0123456789abcdef"}' };

describe('idempotency record keys', () => {
  it('are the same in two processes holding the same KEK, and differ under another', () => {
    const kek = generateKeyEncryptionKey();
    const one = new IdempotencyKeys(new Keyring(kek)).current();
    const two = new IdempotencyKeys(new Keyring(parseKeyEncryptionKey(kek.exportHex(), 'test'))).current();
    expect(two.kek_id).toBe(one.kek_id);
    expect(two.seal_key.equals(one.seal_key)).toBe(true);
    expect(two.fingerprint_key.equals(one.fingerprint_key)).toBe(true);
    // Two keys for two uses.
    expect(one.seal_key.equals(one.fingerprint_key)).toBe(false);
    const other = new IdempotencyKeys(new Keyring(generateKeyEncryptionKey())).current();
    expect(other.seal_key.equals(one.seal_key)).toBe(false);
    // A record sealed by one replica opens in the other.
    const fingerprint = requestFingerprint(one, 'POST', '/v1/merchants', '{"name":"Acme"}');
    expect(requestFingerprint(two, 'POST', '/v1/merchants', '{"name":"Acme"}')).toBe(fingerprint);
    expect(openResponse(two, cache_key, fingerprint, sealResponse(one, cache_key, fingerprint, response))).toEqual(response);
    expect(openResponse(other, cache_key, fingerprint, sealResponse(one, cache_key, fingerprint, response))).toBeUndefined();
  });

  it('fingerprint a request with a key, never as a plain hash that could be searched', () => {
    const keys = new IdempotencyKeys(new Keyring(generateKeyEncryptionKey())).current();
    const body = '{"card":{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123"}}';
    const fingerprint = requestFingerprint(keys, 'POST', '/v1/tokens', body);
    expect(fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprint).not.toBe(createHash('sha256').update(`POST /v1/tokens\n${body}`).digest('hex'));
    expect(requestFingerprint(keys, 'POST', '/v1/tokens', body.replace('123', '124'))).not.toBe(fingerprint);
    expect(requestFingerprint(keys, 'POST', '/v1/tokenz', body)).not.toBe(fingerprint);
  });
});

describe('sealed responses', () => {
  const keys = new IdempotencyKeys(new Keyring(generateKeyEncryptionKey())).current();
  const fingerprint = requestFingerprint(keys, 'POST', '/v1/merchants/mer_1/signing_secret/roll', '{}');
  const sealed = sealResponse(keys, cache_key, fingerprint, response);

  it('hold no byte of the response in plain text, and open to exactly it', () => {
    const bytes = Buffer.from(sealed, 'base64');
    expect(sealed).not.toContain('whsec_');
    expect(bytes.includes(Buffer.from('whsec_'))).toBe(false);
    expect(bytes.includes(Buffer.from('0123456789abcdef'))).toBe(false);
    expect(openResponse(keys, cache_key, fingerprint, sealed)).toEqual(response);
    // A random IV each time: the same response never seals to the same bytes.
    expect(sealResponse(keys, cache_key, fingerprint, response)).not.toBe(sealed);
  });

  it('do not open under another cache key or another request', () => {
    expect(openResponse(keys, other_cache_key, fingerprint, sealed)).toBeUndefined();
    const other_fingerprint = requestFingerprint(keys, 'POST', '/v1/merchants/mer_2/signing_secret/roll', '{}');
    expect(openResponse(keys, cache_key, other_fingerprint, sealed)).toBeUndefined();
  });

  it('do not open once any byte is changed, cut or is not a seal at all', () => {
    const bytes = Buffer.from(sealed, 'base64');
    for (let index = 0; index < bytes.length; index += 1) {
      const changed = Buffer.from(bytes);
      changed[index] = (changed[index] ?? 0) ^ 0x01;
      expect(openResponse(keys, cache_key, fingerprint, changed.toString('base64')), `byte ${index}`).toBeUndefined();
    }
    expect(openResponse(keys, cache_key, fingerprint, bytes.subarray(0, bytes.length - 1).toString('base64'))).toBeUndefined();
    expect(openResponse(keys, cache_key, fingerprint, '')).toBeUndefined();
    expect(openResponse(keys, cache_key, fingerprint, 'not base64 at all!')).toBeUndefined();
  });
});

describe('a KEK rotation', () => {
  it('keeps records sealed under the old key replaying while the keyring holds it, and for their lifetime after', () => {
    const clock = new ManualClock(1_700_000_000_000);
    const old_kek = generateKeyEncryptionKey();
    const keyring = new Keyring(old_kek);
    const keys = new IdempotencyKeys(keyring, clock);
    const before = keys.current();
    const fingerprint = requestFingerprint(before, 'POST', '/v1/merchants', '{"name":"Acme"}');
    const sealed = sealResponse(before, cache_key, fingerprint, response);

    // The rotation window: a new key is current, the old one still in the keyring.
    const new_kek = generateKeyEncryptionKey();
    keyring.adopt(new_kek);
    expect(keys.current().kek_id).toBe(new_kek.id);
    clock.advance(60_000);
    const during = keys.find(old_kek.id);
    expect(during?.kek_id).toBe(old_kek.id);
    expect(during === undefined ? undefined : openResponse(during, cache_key, fingerprint, sealed)).toEqual(response);

    // The rotation ends: nothing is wrapped by the old key, and the keyring forgets it. Records
    // it sealed still replay until they expire.
    keyring.retire(old_kek.id);
    clock.advance(idempotency_keys_held_ms - 1);
    const after = keys.find(old_kek.id);
    expect(after === undefined ? undefined : openResponse(after, cache_key, fingerprint, sealed)).toEqual(response);
    // A day (and a lock's time) after the keyring last held it, no record of it can be live, and its keys are let go.
    clock.advance(1);
    expect(keys.find(old_kek.id)).toBeUndefined();
    expect(keys.held_kek_ids).toEqual([new_kek.id]);
  });

  it('cannot open what a KEK sealed in a process that never held it', () => {
    const old_kek = generateKeyEncryptionKey();
    const before = new IdempotencyKeys(new Keyring(old_kek)).current();
    const fingerprint = requestFingerprint(before, 'POST', '/v1/merchants', '{"name":"Acme"}');
    // A restart with the new key only: the old one was dropped from the configuration.
    const restarted = new IdempotencyKeys(new Keyring(generateKeyEncryptionKey()));
    expect(restarted.find(old_kek.id)).toBeUndefined();
    expect(openResponse(restarted.current(), cache_key, fingerprint, sealResponse(before, cache_key, fingerprint, response))).toBeUndefined();
  });

  it('holds a bounded number of retired keys, forgetting those retired longest ago', () => {
    const clock = new ManualClock(1_700_000_000_000);
    const first = generateKeyEncryptionKey();
    const keyring = new Keyring(first);
    const keys = new IdempotencyKeys(keyring, clock);
    const retired = [first.id];
    for (let rotation = 0; rotation < idempotency_retired_keys_max + 2; rotation += 1) {
      const next = generateKeyEncryptionKey();
      keyring.adopt(next);
      keyring.retire(keyring.ids[1] ?? '');
      clock.advance(1_000);
      keys.current();
      retired.push(next.id);
    }
    const current = retired.pop();
    expect(keys.held_kek_ids).toHaveLength(idempotency_retired_keys_max + 1);
    expect(keys.held_kek_ids).toContain(current);
    // The two retired first are gone; the rest still open their records.
    expect(keys.find(retired[0] ?? '')).toBeUndefined();
    expect(keys.find(retired[1] ?? '')).toBeUndefined();
    expect(keys.find(retired[2] ?? '')?.kek_id).toBe(retired[2]);
  });
});
