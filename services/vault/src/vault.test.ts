// One suite, run on SQLite and on PostgreSQL, so that the vault behaves the same embedded and in
// production.
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ApiError,
  ManualClock,
  createPostgresDatabase,
  createPostgresPool,
  createSqliteDatabase,
  openSqlite,
  type RandomBytes,
  type ServiceDatabase,
  type Tenant,
} from '@paygrid/kernel';
import { describeWithPostgres, temporaryDirectory, withTemporarySchema } from '@paygrid/kernel/testing';
import { generateKeyEncryptionKey, KeyEncryptionKey, Keyring } from '@paygrid/kernel/envelope';
import { vault_migrations } from './migrations';
import { VaultDecryptionError, VaultService } from './service';
import type { CreateTokenInput, Token } from './types';

interface Opened {
  readonly database: ServiceDatabase;
  /** The folder of the SQLite files; undefined on PostgreSQL. */
  readonly directory: string | undefined;
  readonly cleanup: () => Promise<void>;
}

const vault_tables = ['vault_tokens', 'vault_keys', 'vault_detokenizations'];
const alpha: Tenant = { merchant_id: 'mer_alpha', livemode: false };
const beta: Tenant = { merchant_id: 'mer_beta', livemode: false };
const visa: CreateTokenInput = { number: '4242424242424242', exp_month: 12, exp_year: 2030, cvc: '739' };
const visa_declined: CreateTokenInput = { number: '4000000000000002', exp_month: 6, exp_year: 2027, cvc: '581' };

/** Ids made of letters only, so that no digit run in a dump can come from an id. */
const letters_only: RandomBytes = (size) => Uint8Array.from(randomBytes(size), (byte) => 10 + (byte % 52));

async function apiErrorOf(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  }
  throw new Error('expected the call to reject with an ApiError');
}

async function decryptionErrorOf(promise: Promise<unknown>): Promise<VaultDecryptionError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(VaultDecryptionError);
    return error as VaultDecryptionError;
  }
  throw new Error('expected the call to reject with a VaultDecryptionError');
}

/** Replaces every occurrence of `value` in `haystack` with zero bytes. */
function maskAll(haystack: Buffer, value: Buffer): void {
  if (value.length === 0) return;
  let index = haystack.indexOf(value);
  while (index !== -1) {
    haystack.fill(0, index, index + value.length);
    index = haystack.indexOf(value, index + value.length);
  }
}

function describeVault(dialect: 'sqlite' | 'postgres', open: () => Promise<Opened>): void {
  let opened: Opened;
  let database: ServiceDatabase;
  let clock: ManualClock;
  let kek: KeyEncryptionKey;
  let keyring: Keyring;
  let vault: VaultService;

  /** Another instance of the service, holding only the keys given. */
  function vaultWith(current: KeyEncryptionKey, previous: readonly KeyEncryptionKey[] = [], randomBytes?: RandomBytes): VaultService {
    return new VaultService({ database, keyring: new Keyring(current, previous), clock, ...(randomBytes === undefined ? {} : { randomBytes }) });
  }

  beforeEach(async () => {
    opened = await open();
    database = opened.database;
    expect(await database.migrate(vault_migrations)).toEqual([1, 2]);
    clock = new ManualClock();
    kek = generateKeyEncryptionKey();
    keyring = new Keyring(kek);
    vault = new VaultService({ database, keyring, clock });
  });

  afterEach(async () => {
    await database.close();
    await opened.cleanup();
  });

  async function tokenRow(id: string): Promise<Record<string, unknown>> {
    const [row] = await database.query(`SELECT * FROM vault_tokens WHERE id = ?`, [id]);
    expect(row).toBeDefined();
    return row!;
  }

  async function tokenCount(): Promise<number> {
    const [row] = await database.query<{ count: number }>('SELECT COUNT(*) AS count FROM vault_tokens');
    return row!.count;
  }

  it(`runs on ${dialect} and migrates once`, async () => {
    expect(database.dialect).toBe(dialect);
    expect(await database.migrate(vault_migrations)).toEqual([]);
    // A new vault stores its fingerprint key at the first check, and has no tokens yet.
    expect(await vault.checkKeys()).toEqual([]);
    expect(await database.query('SELECT name, kek_id FROM vault_keys')).toEqual([{ name: 'fingerprint', kek_id: kek.id }]);
  });

  describe('createToken', () => {
    it('returns the token wire object and stores only what it shows in the clear', async () => {
      const token = await vault.createToken(alpha, { ...visa, number: '4242 4242 4242 4242' });
      expect(token).toEqual({
        id: expect.stringMatching(/^tok_[0-9A-Za-z]{24}$/),
        object: 'token',
        card: { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030, fingerprint: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/), funding: 'credit' },
        created: Math.floor(clock.now() / 1000),
        livemode: false,
        used: false,
      });
      expect(await vault.getToken(alpha, token.id)).toEqual(token);
      const row = await tokenRow(token.id);
      expect(row['kek_id']).toBe(kek.id);
      expect(Buffer.isBuffer(row['number_ciphertext'])).toBe(true);
      expect(row['number_ciphertext']).toHaveLength(16);
      expect(row['cvc_ciphertext']).toHaveLength(3);
      expect(row['data_key_ciphertext']).toHaveLength(32);
    });

    it('tells the brand of each network', async () => {
      const cards: [CreateTokenInput, string][] = [
        [{ number: '5555555555554444', exp_month: 1, exp_year: 2026, cvc: '123' }, 'mastercard'],
        [{ number: '2223003122003222', exp_month: 1, exp_year: 2026, cvc: '123' }, 'mastercard'],
        [{ number: '378282246310005', exp_month: 1, exp_year: 2026, cvc: '1234' }, 'amex'],
        [{ number: '6011111111111117', exp_month: 1, exp_year: 2026, cvc: '123' }, 'discover'],
        [{ number: '3566002020360505', exp_month: 1, exp_year: 2026, cvc: '123' }, 'jcb'],
        [{ number: '6200000000000005', exp_month: 1, exp_year: 2026, cvc: '123' }, 'unionpay'],
        [{ number: '3056930009020004', exp_month: 1, exp_year: 2026, cvc: '123' }, 'diners'],
        [{ number: '1234567812345670', exp_month: 1, exp_year: 2026, cvc: '123' }, 'unknown'],
      ];
      for (const [card, brand] of cards) {
        const token = await vault.createToken(alpha, card);
        expect([card.number, token.card.brand, token.card.last4]).toEqual([card.number, brand, card.number.slice(-4)]);
        expect((await vault.getToken(alpha, token.id))?.card.brand).toBe(brand);
      }
    });

    it("refuses a bad card with Stripe's codes and params, stores nothing and never quotes the card", async () => {
      // The clock stands at 2025-01-01.
      const cases: [CreateTokenInput, string, string][] = [
        [{ ...visa, number: '4242424242424241' }, 'incorrect_number', 'card[number]'],
        [{ ...visa, number: '42424242424' }, 'incorrect_number', 'card[number]'],
        [{ ...visa, number: '4242-4242-4242-4242' }, 'incorrect_number', 'card[number]'],
        [{ ...visa, exp_month: 13 }, 'invalid_expiry_month', 'card[exp_month]'],
        [{ ...visa, exp_month: 0 }, 'invalid_expiry_month', 'card[exp_month]'],
        [{ ...visa, exp_month: 12, exp_year: 2024 }, 'invalid_expiry_year', 'card[exp_year]'],
        [{ ...visa, exp_year: 2100 }, 'invalid_expiry_year', 'card[exp_year]'],
        [{ ...visa, cvc: '12' }, 'invalid_cvc', 'card[cvc]'],
        [{ ...visa, cvc: '7390' }, 'invalid_cvc', 'card[cvc]'],
        [{ number: '378282246310005', exp_month: 1, exp_year: 2026, cvc: '739' }, 'invalid_cvc', 'card[cvc]'],
      ];
      for (const [card, code, param] of cases) {
        const error = await apiErrorOf(vault.createToken(alpha, card));
        expect([card, error.type, error.code, error.param]).toEqual([card, 'invalid_request_error', code, param]);
        const text = `${JSON.stringify(error.toWire())} ${error.stack ?? ''}`;
        expect(text).not.toContain(card.number.replaceAll(' ', '').slice(0, 12));
        expect(text).not.toContain(`'${card.cvc}'`);
      }
      expect((await vault.createToken(alpha, { ...visa, exp_month: 1, exp_year: 2025 })).card.exp_month).toBe(1);
      expect(await tokenCount()).toBe(1);
    });
  });

  describe('fingerprints', () => {
    it('are the same for the same number at one merchant, in either mode, and differ across merchants and numbers', async () => {
      const first = await vault.createToken(alpha, visa);
      const again = await vault.createToken(alpha, { ...visa, number: '4242 4242 4242 4242', exp_month: 3, exp_year: 2031, cvc: '111' });
      const live = await vault.createToken({ ...alpha, livemode: true }, visa);
      const other_merchant = await vault.createToken(beta, visa);
      const other_number = await vault.createToken(alpha, visa_declined);
      expect(again.card.fingerprint).toBe(first.card.fingerprint);
      expect(live.card.fingerprint).toBe(first.card.fingerprint);
      expect(other_merchant.card.fingerprint).not.toBe(first.card.fingerprint);
      expect(other_number.card.fingerprint).not.toBe(first.card.fingerprint);
      // Another instance of the service reads the same fingerprint key.
      const second_instance = vaultWith(kek);
      expect((await second_instance.createToken(alpha, visa)).card.fingerprint).toBe(first.card.fingerprint);
    });

    it('agree between instances that race to make the first token', async () => {
      const instances = Array.from({ length: 4 }, () => vaultWith(kek));
      const tokens = await Promise.all(instances.map((instance) => instance.createToken(alpha, visa)));
      expect(new Set(tokens.map((token) => token.card.fingerprint)).size).toBe(1);
      expect(await database.query('SELECT name FROM vault_keys')).toEqual([{ name: 'fingerprint' }]);
    });
  });

  it('keeps tokens to their tenant: another merchant or mode finds nothing', async () => {
    const token = await vault.createToken(alpha, visa);
    expect(await vault.getToken(alpha, token.id)).toEqual(token);
    expect(await vault.getToken(beta, token.id)).toBeUndefined();
    expect(await vault.getToken({ ...alpha, livemode: true }, token.id)).toBeUndefined();
    expect(await vault.getToken(alpha, 'tok_missing')).toBeUndefined();
    const live = await vault.createToken({ ...alpha, livemode: true }, visa);
    expect(live.livemode).toBe(true);
    expect(await vault.getToken(alpha, live.id)).toBeUndefined();
    expect(await vault.getToken({ ...alpha, livemode: true }, live.id)).toEqual(live);
  });

  describe('detokenize', () => {
    it('gives the card back to a connector and records who read it', async () => {
      const token = await vault.createToken(alpha, { ...visa, number: '4242 4242 4242 4242' });
      expect(await vault.detokenize(token.id, { connector: 'card_acquirer' })).toEqual({ number: '4242424242424242', exp_month: 12, exp_year: 2030, cvc: '739' });
      clock.advance(5_000);
      const amex = await vault.createToken(beta, { number: '378282246310005', exp_month: 2, exp_year: 2029, cvc: '0042' });
      expect(await vault.detokenize(amex.id, { connector: 'card_acquirer' })).toEqual({ number: '378282246310005', exp_month: 2, exp_year: 2029, cvc: '0042' });
      await vault.detokenize(token.id, { connector: 'other_acquirer' });
      const created = Math.floor(clock.now() / 1000);
      expect(await vault.listDetokenizations(token.id)).toEqual([
        { token: token.id, connector: 'other_acquirer', created },
        { token: token.id, connector: 'card_acquirer', created: created - 5 },
      ]);
      // The log is append-only.
      await expect(database.execute('DELETE FROM vault_detokenizations')).rejects.toThrow(/append-only/);
    });

    it('refuses an unknown token as missing', async () => {
      const error = await apiErrorOf(vault.detokenize('tok_missing', { connector: 'card_acquirer' }));
      expect([error.type, error.code]).toEqual(['not_found_error', 'resource_missing']);
    });
  });

  describe('eraseCvc and claimToken', () => {
    it('erase the CVC for good, idempotently, and leave the number readable', async () => {
      const token = await vault.createToken(alpha, visa);
      await vault.eraseCvc(token.id);
      await vault.eraseCvc(token.id);
      expect(await vault.detokenize(token.id, { connector: 'card_acquirer' })).toEqual({ number: visa.number, exp_month: 12, exp_year: 2030, cvc: null });
      const row = await tokenRow(token.id);
      expect([row['cvc_ciphertext'], row['cvc_iv'], row['cvc_tag']]).toEqual([null, null, null]);
      expect((await apiErrorOf(vault.eraseCvc('tok_missing'))).code).toBe('resource_missing');
    });

    it('a token is claimed by exactly one claimant, under any concurrency, and only its own claim is released', async () => {
      const token = await vault.createToken(alpha, visa);
      expect(await vault.claimToken(alpha, token.id, 'pi_a:key')).toBe('claimed');
      expect(await vault.claimToken(alpha, token.id, 'pi_a:key')).toBe('held');
      expect(await vault.claimToken(alpha, token.id, 'pi_b:key')).toBe('already_used');
      expect((await vault.getToken(alpha, token.id))?.used).toBe(true);
      expect(await vault.claimToken(alpha, 'tok_missing', 'pi_a:key')).toBe('missing');
      // Another tenant cannot claim (or learn about) the token.
      expect(await vault.claimToken(beta, token.id, 'pi_c:key')).toBe('missing');
      // A release by someone else leaves the claim alone; the claimant's own frees the token.
      await vault.releaseToken(token.id, 'pi_b:key');
      expect(await vault.claimToken(alpha, token.id, 'pi_b:key')).toBe('already_used');
      await vault.releaseToken(token.id, 'pi_a:key');
      expect((await vault.getToken(alpha, token.id))?.used).toBe(false);
      const racing = await vault.createToken(alpha, visa);
      const results = await Promise.all(Array.from({ length: 30 }, (_, index) => vault.claimToken(alpha, racing.id, `pi_${index}:key`)));
      expect(results.filter((result) => result === 'claimed')).toHaveLength(1);
      expect(results.filter((result) => result === 'already_used')).toHaveLength(29);
    });
  });

  describe('key rotation', () => {
    it('re-wraps every data key in batches, leaves card ciphertexts alone, and then only the new key reads', async () => {
      const tokens: Token[] = [];
      for (let index = 0; index < 7; index += 1) tokens.push(await vault.createToken(index % 2 === 0 ? alpha : beta, index % 3 === 0 ? visa_declined : visa));
      await vault.eraseCvc(tokens[1]!.id);
      const before = await Promise.all(tokens.map((token) => tokenRow(token.id)));

      const new_kek = generateKeyEncryptionKey();
      expect(await vault.countDataKeysByKek()).toEqual(new Map([[kek.id, 8]]));
      keyring.adopt(new_kek);
      expect(vault.current_kek_id).toBe(new_kek.id);
      let batches = 0;
      // Seven tokens and the fingerprint key.
      expect(await vault.rewrapDataKeys({ batch_size: 3, onBatch: () => (batches += 1) })).toEqual({ rewrapped: 8, remaining: 0 });
      expect(batches).toBe(3);
      expect(await vault.rewrapDataKeys()).toEqual({ rewrapped: 0, remaining: 0 });
      expect(await vault.countDataKeysByKek()).toEqual(new Map([[new_kek.id, 8]]));

      for (const [index, token] of tokens.entries()) {
        const row = await tokenRow(token.id);
        const previous = before[index]!;
        expect(row['kek_id']).toBe(new_kek.id);
        expect(row['data_key_ciphertext']).not.toEqual(previous['data_key_ciphertext']);
        for (const column of ['number_ciphertext', 'number_iv', 'number_tag', 'cvc_ciphertext', 'cvc_tag']) expect(row[column]).toEqual(previous[column]);
      }
      const [fingerprint_key] = await database.query<{ kek_id: string }>('SELECT kek_id FROM vault_keys');
      expect(fingerprint_key?.kek_id).toBe(new_kek.id);

      const new_only = vaultWith(new_kek);
      for (const [index, token] of tokens.entries()) {
        const card = index % 3 === 0 ? visa_declined : visa;
        expect(await new_only.detokenize(token.id, { connector: 'card_acquirer' })).toEqual({
          number: card.number,
          exp_month: card.exp_month,
          exp_year: card.exp_year,
          cvc: index === 1 ? null : card.cvc,
        });
      }
      // Fingerprints outlive the rotation.
      expect((await new_only.createToken(alpha, visa_declined)).card.fingerprint).toBe(tokens[0]!.card.fingerprint);

      const old_only = vaultWith(kek);
      for (const token of tokens) {
        const error = await decryptionErrorOf(old_only.detokenize(token.id, { connector: 'card_acquirer' }));
        expect([error.reason, error.kek_id]).toEqual(['key_unavailable', new_kek.id]);
      }
      expect((await decryptionErrorOf(old_only.createToken(alpha, visa))).subject).toBe('The fingerprint key');
      expect((await decryptionErrorOf(old_only.checkKeys())).reason).toBe('key_unavailable');
      expect(await new_only.checkKeys()).toEqual([new_kek.id]);
    });

    it('reads with either key while a rotation is under way, and a restarted instance finishes it', async () => {
      const old_tokens = [await vault.createToken(alpha, visa), await vault.createToken(beta, visa_declined)];
      const new_kek = generateKeyEncryptionKey();
      // Every instance restarts with the new key first, keeping the old one to read with.
      const restarted = vaultWith(new_kek, [kek]);
      const new_token = await restarted.createToken(alpha, visa);
      expect((await tokenRow(new_token.id))['kek_id']).toBe(new_kek.id);
      expect(new_token.card.fingerprint).toBe(old_tokens[0]!.card.fingerprint);
      for (const token of [...old_tokens, new_token]) expect((await restarted.detokenize(token.id, { connector: 'card_acquirer' })).number).toMatch(/^4/);
      expect(await restarted.checkKeys()).toEqual([kek.id, new_kek.id].sort());
      const unaware = await decryptionErrorOf(vaultWith(new_kek).checkKeys());
      expect([unaware.reason, unaware.kek_id, unaware.subject]).toEqual(['key_unavailable', kek.id, 'The fingerprint key']);

      expect(await restarted.rewrapDataKeys({ batch_size: 1 })).toEqual({ rewrapped: 3, remaining: 0 });
      const new_only = vaultWith(new_kek);
      for (const token of [...old_tokens, new_token]) expect((await new_only.detokenize(token.id, { connector: 'card_acquirer' })).number).toMatch(/^4/);
    });

    it('keeps tokenizing and detokenizing while a rotation runs, and then nothing is under the old key', async () => {
      const before: Token[] = [];
      for (let index = 0; index < 40; index += 1) before.push(await vault.createToken(index % 2 === 0 ? alpha : beta, visa));
      const new_kek = generateKeyEncryptionKey();
      keyring.adopt(new_kek);
      let rotating = true;
      const rotation = vault.rewrapDataKeys({ batch_size: 2 }).finally(() => {
        rotating = false;
      });
      const during: Token[] = [];
      let reads_during = 0;
      async function load(offset: number): Promise<void> {
        for (let index = offset; rotating; index += 1) {
          // Read first: a read that starts before the rotation ends overlaps it. On a loaded
          // machine the rotation may end before a token made first is even written.
          const old = before[index % before.length]!;
          const overlaps = rotating;
          expect((await vault.detokenize(old.id, { connector: 'card_acquirer' })).number).toBe(visa.number);
          if (overlaps) reads_during += 1;
          during.push(await vault.createToken(alpha, visa_declined));
        }
      }
      await Promise.all([rotation, load(0), load(20)]);
      // Forty tokens and the fingerprint key; the tokens made meanwhile were under the new key already.
      expect(await rotation).toEqual({ rewrapped: 41, remaining: 0 });
      expect(reads_during).toBeGreaterThan(0);
      expect(await vault.countDataKeysByKek()).toEqual(new Map([[new_kek.id, 41 + during.length]]));
      const new_only = vaultWith(new_kek);
      for (const token of before) expect((await new_only.detokenize(token.id, { connector: 'card_acquirer' })).number).toBe(visa.number);
      for (const token of during) expect((await new_only.detokenize(token.id, { connector: 'card_acquirer' })).number).toBe(visa_declined.number);
    });

    it('stops at a token wrapped by a key it was not given, and can be resumed once it is', async () => {
      const first = await vault.createToken(alpha, visa);
      const unknown_kek = generateKeyEncryptionKey();
      const other = vaultWith(unknown_kek, [kek]);
      const stranger = await other.createToken(alpha, visa_declined);
      const unaware = await decryptionErrorOf(vault.checkKeys());
      expect([unaware.reason, unaware.kek_id, unaware.subject]).toEqual(['key_unavailable', unknown_kek.id, '1 token(s)']);
      const new_kek = generateKeyEncryptionKey();
      const error = await decryptionErrorOf(vaultWith(new_kek, [kek]).rewrapDataKeys());
      expect([error.reason, error.kek_id, error.subject]).toEqual(['key_unavailable', unknown_kek.id, `Token ${stranger.id}`]);
      // The batch that failed was rolled back whole; nothing is half-done.
      expect((await tokenRow(first.id))['kek_id']).toBe(kek.id);
      const resumed = vaultWith(new_kek, [kek, unknown_kek]);
      // The fingerprint key was re-wrapped by the failed call, in a transaction of its own.
      expect(await resumed.rewrapDataKeys()).toEqual({ rewrapped: 2, remaining: 0 });
    });
  });

  describe('tampering', () => {
    it('a changed byte anywhere in the sealed data fails decryption with an error, never a wrong card', async () => {
      for (const column of ['number_ciphertext', 'number_tag', 'cvc_ciphertext', 'data_key_ciphertext', 'data_key_iv', 'data_key_tag']) {
        const token = await vault.createToken(alpha, visa);
        const original = (await tokenRow(token.id))[column] as Buffer;
        const changed = Buffer.from(original);
        changed[changed.length - 1] = changed[changed.length - 1]! ^ 0x80;
        await database.execute(`UPDATE vault_tokens SET ${column} = ? WHERE id = ?`, [changed, token.id]);
        const error = await decryptionErrorOf(vault.detokenize(token.id, { connector: 'card_acquirer' }));
        expect([column, error.reason, error.subject]).toEqual([column, 'authentication_failed', `Token ${token.id}`]);
        expect(error.message).not.toContain(visa.number);
      }
    });

    it('sealed data moved to another token, or a token moved to another merchant, fails decryption', async () => {
      const source = await vault.createToken(alpha, visa);
      const target = await vault.createToken(alpha, visa_declined);
      const row = await tokenRow(source.id);
      const sealed_columns = ['kek_id', 'data_key_ciphertext', 'data_key_iv', 'data_key_tag', 'number_ciphertext', 'number_iv', 'number_tag', 'cvc_ciphertext', 'cvc_iv', 'cvc_tag'];
      await database.execute(`UPDATE vault_tokens SET ${sealed_columns.map((column) => `${column} = ?`).join(', ')} WHERE id = ?`, [
        ...sealed_columns.map((column) => row[column]),
        target.id,
      ]);
      expect((await decryptionErrorOf(vault.detokenize(target.id, { connector: 'card_acquirer' }))).reason).toBe('authentication_failed');
      expect((await vault.detokenize(source.id, { connector: 'card_acquirer' })).number).toBe(visa.number);

      // Only the number's ciphertext moved, with the target's own data key: still refused.
      const third = await vault.createToken(alpha, visa_declined);
      const other_data_key = await vault.createToken(alpha, visa);
      const moved = await tokenRow(other_data_key.id);
      await database.execute('UPDATE vault_tokens SET number_ciphertext = ?, number_iv = ?, number_tag = ? WHERE id = ?', [
        moved['number_ciphertext'],
        moved['number_iv'],
        moved['number_tag'],
        third.id,
      ]);
      expect((await decryptionErrorOf(vault.detokenize(third.id, { connector: 'card_acquirer' }))).reason).toBe('authentication_failed');

      await database.execute('UPDATE vault_tokens SET merchant_id = ? WHERE id = ?', [beta.merchant_id, source.id]);
      expect((await decryptionErrorOf(vault.detokenize(source.id, { connector: 'card_acquirer' }))).reason).toBe('authentication_failed');
      await database.execute('UPDATE vault_tokens SET merchant_id = ?, livemode = ? WHERE id = ?', [alpha.merchant_id, true, source.id]);
      expect((await decryptionErrorOf(vault.detokenize(source.id, { connector: 'card_acquirer' }))).reason).toBe('authentication_failed');
    });
  });

  it('keeps no card number or CVC in the clear anywhere in the database', async () => {
    // A fixed KEK and letter-only ids make every clear value in the vault tables the same on
    // every run, so that a digit run found below is a leak, not chance.
    const fixed_kek = KeyEncryptionKey.fromBytes(Buffer.alloc(32, 0x5a));
    const fixed = vaultWith(fixed_kek, [], letters_only);
    const tokens = [await fixed.createToken(alpha, visa), await fixed.createToken(beta, visa_declined)];
    for (const token of tokens) await fixed.detokenize(token.id, { connector: 'card_acquirer' });
    await fixed.claimToken(alpha, tokens[0]!.id, 'pi_letters');
    const secrets = [visa.number, visa_declined.number, visa.cvc, visa_declined.cvc];
    const numbers = [visa.number, visa_declined.number];

    // Every value of every row: text must not contain card data, blobs must not hold a number or be a CVC.
    const tables = dialect === 'sqlite' ? await database.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'") : await database.query<{ name: string }>('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()');
    expect(tables.map((table) => table.name)).toEqual(expect.arrayContaining(vault_tables));
    const blobs: Buffer[] = [];
    const other_text: string[] = [];
    for (const { name } of tables) {
      const rows = await database.query(`SELECT * FROM ${name}`);
      for (const row of rows) {
        for (const value of Object.values(row)) {
          if (Buffer.isBuffer(value)) {
            blobs.push(value);
            for (const number of numbers) expect(value.includes(Buffer.from(number))).toBe(false);
            for (const cvc of [visa.cvc, visa_declined.cvc]) expect(value.equals(Buffer.from(cvc))).toBe(false);
            continue;
          }
          const text = value instanceof Date ? value.toISOString() : String(value);
          // Outside the vault's tables (migrations, SQLite's catalogue), times and checksums are
          // not ours to fix: only a card number would be a leak there.
          const checked = vault_tables.includes(name) ? secrets : numbers;
          for (const secret of checked) expect([name, text.includes(secret)]).toEqual([name, false]);
          if (!vault_tables.includes(name)) other_text.push(text);
        }
      }
    }

    if (opened.directory === undefined) return;
    // SQLite: the raw bytes of the database, its write-ahead log and its shared memory. A number
    // must not be there at all. Before looking for a CVC, blank out the ciphertexts (random bytes
    // that may hold any three digits by chance) and the other tables' text.
    const files = await readdir(opened.directory);
    expect(files.some((file) => file.endsWith('-wal'))).toBe(true);
    const raw = Buffer.concat(await Promise.all(files.map((file) => readFile(join(opened.directory!, file)))));
    for (const number of numbers) expect(raw.includes(Buffer.from(number, 'utf8'))).toBe(false);
    for (const value of [...blobs, ...other_text.map((text) => Buffer.from(text, 'utf8'))]) maskAll(raw, value);
    for (const cvc of [visa.cvc, visa_declined.cvc]) expect(raw.includes(Buffer.from(cvc, 'utf8'))).toBe(false);
  });

  if (dialect === 'sqlite') {
    it('leaves no trace of an erased CVC in the SQLite file, and has SQLite zero what it frees', async () => {
      const token = await vault.createToken(alpha, visa);
      const row = await tokenRow(token.id);
      const cvc_sealed = Buffer.concat([row['cvc_iv'] as Buffer, row['cvc_tag'] as Buffer]);
      await vault.eraseCvc(token.id);
      // Here the shorter row happens to be written over the old one's tail; secure_delete is
      // what covers the layouts where it is not.
      expect(await database.query('PRAGMA secure_delete')).toEqual([{ secure_delete: 1 }]);
      await database.execute('PRAGMA wal_checkpoint(TRUNCATE)');
      const directory = opened.directory!;
      const raw = Buffer.concat(await Promise.all((await readdir(directory)).map((file) => readFile(join(directory, file)))));
      expect(raw.includes(row['cvc_tag'] as Buffer)).toBe(false);
      expect(raw.includes(row['cvc_iv'] as Buffer)).toBe(false);
      expect(cvc_sealed).toHaveLength(28);
      // The number's sealed data is still there, as it should be.
      expect(raw.includes(row['number_tag'] as Buffer)).toBe(true);
    });
  }
}

describe('VaultService on SQLite', () => {
  describeVault('sqlite', async () => {
    const directory = await temporaryDirectory();
    const file = join(directory.path, 'vault.sqlite');
    const database = createSqliteDatabase(openSqlite(file), { dialect: 'sqlite', file });
    return { database, directory: directory.path, cleanup: () => directory.remove() };
  });
});

describeWithPostgres('VaultService on PostgreSQL', (url) => {
  describeVault('postgres', async () => {
    const temporary = await withTemporarySchema(url);
    const pool = createPostgresPool({ url, schema: temporary.schema, max: 4 });
    const database = createPostgresDatabase(pool, { dialect: 'postgres', url, schema: temporary.schema });
    return { database, directory: undefined, cleanup: () => temporary.drop() };
  });
});
