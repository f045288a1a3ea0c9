// One suite, run on SQLite and on PostgreSQL, so that the service behaves the same embedded and
// in production.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ApiError,
  ManualClock,
  createPostgresDatabase,
  createPostgresPool,
  createSqliteDatabase,
  openSqlite,
  type ServiceDatabase,
  type Tenant,
} from '@paygrid/kernel';
import { generateKeyEncryptionKey, Keyring } from '@paygrid/kernel/envelope';
import { describeWithPostgres, temporaryDirectory, withTemporarySchema } from '@paygrid/kernel/testing';
import { allowed_origins_max } from './browser-settings';
import { identity_migrations } from './migrations';
import { hashSecret, randomSecret } from './secrets';
import { authentication_sql, IdentityService } from './service';
import { SigningSecretDecryptionError } from './signing-secrets';
import type { Actor, AuthenticationResult } from './types';
import { description_length_max, email_length_max, grace_period_seconds_max, name_length_max } from './validation';

interface Opened {
  readonly database: ServiceDatabase;
  /** The folder of the SQLite files; undefined on PostgreSQL. */
  readonly directory: string | undefined;
  readonly cleanup: () => Promise<void>;
}

const root: Actor = { type: 'operator', id: 'op_root' };
const identity_tables = ['identity_operators', 'identity_merchants', 'identity_api_keys', 'identity_customers', 'identity_audit_events'];

/** Resolves to the ApiError a call rejects with, failing the test when it does not. */
async function apiErrorOf(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  }
  throw new Error('expected the call to reject with an ApiError');
}

function expectFailure(result: AuthenticationResult, code: string): void {
  expect(result).toEqual({ ok: false, code });
}

function describeIdentity(dialect: 'sqlite' | 'postgres', open: () => Promise<Opened>): void {
  let opened: Opened;
  let database: ServiceDatabase;
  let clock: ManualClock;
  let identity: IdentityService;
  let identity_keyring: Keyring;

  beforeEach(async () => {
    opened = await open();
    database = opened.database;
    expect(await database.migrate(identity_migrations)).toEqual(identity_migrations.map((migration) => migration.version));
    clock = new ManualClock();
    identity_keyring = new Keyring(generateKeyEncryptionKey());
    identity = new IdentityService({ database, keyring: identity_keyring, clock });
  });

  afterEach(async () => {
    await database.close();
    await opened.cleanup();
  });

  /** Every row of every identity table, as text. */
  async function everyRowAsText(): Promise<string> {
    const dump: unknown[] = [];
    for (const table of identity_tables) dump.push(await database.query(`SELECT * FROM ${table}`));
    return JSON.stringify(dump);
  }

  async function authenticatedOk(key: string) {
    const result = await identity.authenticate(key);
    if (!result.ok) throw new Error(`expected ${key.slice(0, 8)}… to authenticate, got ${result.code}`);
    return result;
  }

  it(`runs on ${dialect}, migrates once and starts with the root operator`, async () => {
    expect(database.dialect).toBe(dialect);
    expect(await database.migrate(identity_migrations)).toEqual([]);
    const operator = await identity.getOperator('op_root');
    expect(operator).toMatchObject({ id: 'op_root', object: 'operator', name: 'root', email: null });
    expect(Number.isSafeInteger(operator?.created)).toBe(true);
    const events = await identity.listAuditEvents({}, { target_id: 'op_root' });
    expect(events.data.map((event) => [event.action, event.actor.type])).toEqual([['operator.created', 'system']]);
  });

  describe('merchants', () => {
    it('are created with a working test secret key, publishable key and signing secret', async () => {
      const created = await identity.createMerchant({ name: 'Acme', email: 'billing@acme.example' }, root);
      expect(created.merchant).toEqual({
        id: expect.stringMatching(/^mer_[0-9A-Za-z]{24}$/),
        object: 'merchant',
        name: 'Acme',
        email: 'billing@acme.example',
        status: 'active',
        kyc_status: 'pending',
        signing_required: false,
        allowed_origins: [],
        card_number_guard_exempt_fields: [],
        created: Math.floor(clock.now() / 1000),
      });
      expect(created.secret_key).toMatch(/^sk_test_[0-9A-Za-z]{32}$/);
      expect(created.publishable_key).toMatch(/^pk_test_[0-9A-Za-z]{32}$/);
      expect(created.signing_secret).toMatch(/^pgss_[0-9A-Za-z]{32}$/);

      const secret = await authenticatedOk(created.secret_key);
      expect(secret.merchant).toEqual(created.merchant);
      expect(secret.livemode).toBe(false);
      expect(secret.api_key).toEqual({
        id: expect.stringMatching(/^key_[0-9A-Za-z]{24}$/),
        object: 'api_key',
        merchant: created.merchant.id,
        type: 'secret',
        livemode: false,
        redacted: `sk_test_…${created.secret_key.slice(-4)}`,
        created: created.merchant.created,
        expires_at: null,
        revoked_at: null,
      });
      expect(secret.signing_secrets).toEqual([created.signing_secret]);

      const publishable = await authenticatedOk(created.publishable_key);
      expect(publishable.api_key.type).toBe('publishable');
      expect(publishable.livemode).toBe(false);

      const keys = await identity.listApiKeys(created.merchant.id, {});
      expect(keys.data.map((key) => key.type)).toEqual(['publishable', 'secret']);
      expect(await identity.getMerchant(created.merchant.id)).toEqual(created.merchant);
      expect(await identity.getMerchant('mer_missing')).toBeUndefined();
    });

    it('validate their name and email', async () => {
      const blank = await apiErrorOf(identity.createMerchant({ name: '  ' }, root));
      expect([blank.type, blank.param]).toEqual(['invalid_request_error', 'name']);
      const long = await apiErrorOf(identity.createMerchant({ name: 'n'.repeat(name_length_max + 1) }, root));
      expect(long.param).toBe('name');
      const email = await apiErrorOf(identity.createMerchant({ name: 'Acme', email: 'not an email' }, root));
      expect([email.code, email.param]).toEqual(['email_invalid', 'email']);
      expect((await identity.listMerchants({})).data).toEqual([]);
    });

    it("authenticate with the merchant's status and KYC status as they are now, changed or not (the gateway decides what each allows)", async () => {
      const created = await identity.createMerchant({ name: 'Acme' }, root);
      await authenticatedOk(created.secret_key);
      const suspended = await identity.updateMerchant(created.merchant.id, { status: 'suspended', kyc_status: 'rejected' }, root);
      expect([suspended.status, suspended.kyc_status]).toEqual(['suspended', 'rejected']);
      for (const key of [created.secret_key, created.publishable_key]) {
        const { merchant } = await authenticatedOk(key);
        expect([merchant.status, merchant.kyc_status]).toEqual(['suspended', 'rejected']);
      }
      await identity.updateMerchant(created.merchant.id, { status: 'active', kyc_status: 'pending' }, root);
      const { merchant } = await authenticatedOk(created.secret_key);
      expect([merchant.status, merchant.kyc_status]).toEqual(['active', 'pending']);
    });

    it('change only the fields given, refuse transitions the tables forbid, and report a missing merchant as not found', async () => {
      const { merchant } = await identity.createMerchant({ name: 'Acme', email: 'a@acme.example' }, root);
      const updated = await identity.updateMerchant(merchant.id, { name: 'Acme Ltd', signing_required: true, kyc_status: 'verified' }, root);
      expect(updated).toEqual({ ...merchant, name: 'Acme Ltd', signing_required: true, kyc_status: 'verified' });
      expect(await identity.updateMerchant(merchant.id, { email: null }, root)).toEqual({ ...updated, email: null });

      const backwards = await apiErrorOf(identity.updateMerchant(merchant.id, { kyc_status: 'pending' }, root));
      expect([backwards.type, backwards.code, backwards.param]).toEqual(['invalid_request_error', 'not_allowed', 'kyc_status']);
      const unknown_status = await apiErrorOf(identity.updateMerchant(merchant.id, { status: 'closed' as 'active' }, root));
      expect(unknown_status.param).toBe('status');

      const missing = await apiErrorOf(identity.updateMerchant('mer_missing', { name: 'X' }, root));
      expect([missing.type, missing.code, missing.statusCode]).toEqual(['not_found_error', 'resource_missing', 404]);

      // Setting what is already there changes nothing and records nothing.
      const before = (await identity.listAuditEvents({ limit: 100 }, { target_id: merchant.id })).data.length;
      expect(await identity.updateMerchant(merchant.id, { name: 'Acme Ltd', status: 'active' }, root)).toEqual({ ...updated, email: null });
      expect((await identity.listAuditEvents({ limit: 100 }, { target_id: merchant.id })).data).toHaveLength(before);
    });

    it('keep the browser origins and guard exemptions they set, replaced whole, and hand them over with every authentication', async () => {
      const created = await identity.createMerchant({ name: 'Acme' }, root);
      const origins = ['https://shop.example.com', 'https://checkout.example.com:8443', 'http://localhost:5173', 'http://127.0.0.1:4000', 'http://[::1]:3000'];
      const updated = await identity.updateMerchant(created.merchant.id, { allowed_origins: origins, card_number_guard_exempt_fields: ['merchant_reference'] }, root);
      expect(updated).toEqual({ ...created.merchant, allowed_origins: origins, card_number_guard_exempt_fields: ['merchant_reference'] });
      expect(await identity.getMerchant(created.merchant.id)).toEqual(updated);
      expect((await authenticatedOk(created.publishable_key)).merchant).toEqual(updated);
      const events = await identity.listAuditEvents({ limit: 100 }, { target_id: created.merchant.id });
      expect(events.data[0]).toMatchObject({ action: 'merchant.updated', data: { fields: ['allowed_origins', 'card_number_guard_exempt_fields'] } });

      // The same lists again change nothing and record nothing; a new list replaces the old one.
      await identity.updateMerchant(created.merchant.id, { allowed_origins: origins, card_number_guard_exempt_fields: ['merchant_reference'] }, root);
      expect((await identity.listAuditEvents({ limit: 100 }, { target_id: created.merchant.id })).data).toHaveLength(events.data.length);
      const replaced = await identity.updateMerchant(created.merchant.id, { allowed_origins: ['https://pay.example.com'], card_number_guard_exempt_fields: [] }, root);
      expect([replaced.allowed_origins, replaced.card_number_guard_exempt_fields]).toEqual([['https://pay.example.com'], []]);
    });

    it('refuse origins a browser would never send, or that are not https away from a developer machine, and change nothing', async () => {
      const { merchant } = await identity.createMerchant({ name: 'Acme' }, root);
      await identity.updateMerchant(merchant.id, { allowed_origins: ['https://shop.example.com'] }, root);
      const refused: unknown[] = [
        'http://shop.example.com',
        'https://shop.example.com/',
        'https://shop.example.com/checkout',
        'https://shop.example.com?x=1',
        'https://shop.example.com#top',
        'https://user:pass@shop.example.com',
        'https://*.example.com',
        'https://Shop.example.com',
        'https://shop.example.com:443',
        'http://localhost:80',
        'ftp://shop.example.com',
        'file:///tmp/page.html',
        'null',
        '*',
        '',
        'shop.example.com',
        'http://192.168.1.10:8080',
        'http://localhost.example.com',
        `https://${'a'.repeat(300)}.com`,
        42,
        null,
      ];
      for (const origin of refused) {
        const error = await apiErrorOf(identity.updateMerchant(merchant.id, { allowed_origins: [origin as string] }, root));
        expect([origin, error.type, error.code, error.param]).toEqual([origin, 'invalid_request_error', 'origin_invalid', 'allowed_origins']);
      }
      const too_many = Array.from({ length: allowed_origins_max + 1 }, (_, index) => `https://shop${index}.example.com`);
      expect((await apiErrorOf(identity.updateMerchant(merchant.id, { allowed_origins: too_many }, root))).code).toBe('origin_invalid');
      expect((await apiErrorOf(identity.updateMerchant(merchant.id, { allowed_origins: ['https://a.example.com', 'https://a.example.com'] }, root))).code).toBe('origin_invalid');
      expect((await apiErrorOf(identity.updateMerchant(merchant.id, { allowed_origins: 'https://a.example.com' as unknown as string[] }, root))).code).toBe('origin_invalid');
      // The limit itself is allowed.
      const at_limit = too_many.slice(0, allowed_origins_max);
      expect((await identity.updateMerchant(merchant.id, { allowed_origins: at_limit }, root)).allowed_origins).toEqual(at_limit);
      await identity.updateMerchant(merchant.id, { allowed_origins: ['https://shop.example.com'] }, root);

      for (const fields of [['card.number'], ['name'], ['description', 'description'], 'description']) {
        const error = await apiErrorOf(identity.updateMerchant(merchant.id, { card_number_guard_exempt_fields: fields as string[] }, root));
        expect([error.code, error.param]).toEqual(['parameter_invalid', 'card_number_guard_exempt_fields']);
      }
      expect(await identity.getMerchant(merchant.id)).toMatchObject({ allowed_origins: ['https://shop.example.com'], card_number_guard_exempt_fields: [] });
    });

    it('list newest first with cursors both ways', async () => {
      const ids: string[] = [];
      for (let index = 0; index < 5; index += 1) ids.push((await identity.createMerchant({ name: `Merchant ${index}` }, root)).merchant.id);
      const newest_first = [...ids].reverse();
      const first = await identity.listMerchants({ limit: 2 });
      expect(first.data.map((merchant) => merchant.id)).toEqual(newest_first.slice(0, 2));
      expect(first.has_more).toBe(true);
      const last = await identity.listMerchants({ limit: 3, starting_after: newest_first[1] });
      expect(last.data.map((merchant) => merchant.id)).toEqual(newest_first.slice(2));
      expect(last.has_more).toBe(false);
      const back = await identity.listMerchants({ limit: 2, ending_before: newest_first[4] });
      expect(back.data.map((merchant) => merchant.id)).toEqual(newest_first.slice(2, 4));
      expect(back.has_more).toBe(true);
    });
  });

  describe('API keys', () => {
    it('are never stored in plain: only their SHA-256', async () => {
      const created = await identity.createMerchant({ name: 'Acme' }, root);
      await identity.updateMerchant(created.merchant.id, { kyc_status: 'verified' }, root);
      const live = await identity.createApiKey(created.merchant.id, { type: 'secret', livemode: true }, root);
      const rolled = await identity.rollApiKey(created.merchant.id, live.api_key.id, { expires_in_seconds: 60 }, root);
      const operator = await identity.createOperator({ name: 'Ada', email: 'ada@paygrid.example' }, root);
      const signing = await identity.rollSigningSecret(created.merchant.id, { expires_in_seconds: 60 }, root);
      const keys = [created.secret_key, created.publishable_key, live.secret, rolled.secret, operator.secret];

      const dump = await everyRowAsText();
      for (const key of keys) {
        expect(dump).not.toContain(key);
        // Not even the random part alone.
        expect(dump).not.toContain(key.slice(-32));
        expect(dump).toContain(hashSecret(key));
      }
      // The signing secrets are sealed (signing-secrets.test.ts and the suite below look closer).
      for (const secret of [created.signing_secret, signing.signing_secret]) {
        expect(dump).not.toContain(secret);
        expect(dump).not.toContain(secret.slice(-32));
      }
    });

    it('in live mode need a merchant whose KYC is verified', async () => {
      const { merchant } = await identity.createMerchant({ name: 'Acme' }, root);
      const refused = await apiErrorOf(identity.createApiKey(merchant.id, { type: 'secret', livemode: true }, root));
      expect([refused.type, refused.code]).toEqual(['invalid_request_error', 'merchant_kyc_required']);
      await identity.updateMerchant(merchant.id, { kyc_status: 'verified' }, root);
      const live = await identity.createApiKey(merchant.id, { type: 'secret', livemode: true }, root);
      expect(live.secret).toMatch(/^sk_live_[0-9A-Za-z]{32}$/);
      const authenticated = await authenticatedOk(live.secret);
      expect([authenticated.livemode, authenticated.api_key.type, authenticated.api_key.id]).toEqual([true, 'secret', live.api_key.id]);
      const publishable = await identity.createApiKey(merchant.id, { type: 'publishable', livemode: true }, root);
      expect(publishable.secret).toMatch(/^pk_live_/);
      // A test key needs no KYC.
      await identity.updateMerchant(merchant.id, { kyc_status: 'rejected' }, root);
      expect((await identity.createApiKey(merchant.id, { type: 'secret', livemode: false }, root)).api_key.livemode).toBe(false);
      const missing = await apiErrorOf(identity.createApiKey('mer_missing', { type: 'secret', livemode: false }, root));
      expect(missing.code).toBe('resource_missing');
    });

    it('roll with a grace period: the old key works until it ends, then is expired', async () => {
      const created = await identity.createMerchant({ name: 'Acme' }, root);
      const old = (await authenticatedOk(created.secret_key)).api_key;
      clock.advance(1_500);
      const rolled = await identity.rollApiKey(created.merchant.id, old.id, { expires_in_seconds: 3600 }, root);
      expect(rolled.api_key).toMatchObject({ type: 'secret', livemode: false, expires_at: null, revoked_at: null });
      expect(rolled.api_key.id).not.toBe(old.id);
      expect(rolled.secret).toMatch(/^sk_test_/);
      expect(rolled.previous).toEqual({ ...old, expires_at: Math.floor((clock.now() + 3_600_000) / 1000) });

      clock.advance(3_600_000 - 1);
      expect((await authenticatedOk(created.secret_key)).api_key.id).toBe(old.id);
      expect((await authenticatedOk(rolled.secret)).api_key.id).toBe(rolled.api_key.id);
      clock.advance(1);
      expectFailure(await identity.authenticate(created.secret_key), 'api_key_expired');
      await authenticatedOk(rolled.secret);

      const again = await apiErrorOf(identity.rollApiKey(created.merchant.id, old.id, {}, root));
      expect([again.type, again.code]).toEqual(['invalid_request_error', 'api_key_inactive']);
      const revoke_expired = await apiErrorOf(identity.revokeApiKey(created.merchant.id, old.id, root));
      expect(revoke_expired.code).toBe('api_key_inactive');
    });

    it('roll at once by default, keep the earlier end when rolled again in grace, and refuse a grace period out of range', async () => {
      const created = await identity.createMerchant({ name: 'Acme' }, root);
      const publishable = (await authenticatedOk(created.publishable_key)).api_key;
      const rolled = await identity.rollApiKey(created.merchant.id, publishable.id, {}, root);
      expect(rolled.api_key.type).toBe('publishable');
      expectFailure(await identity.authenticate(created.publishable_key), 'api_key_expired');

      const secret = (await authenticatedOk(created.secret_key)).api_key;
      const first = await identity.rollApiKey(created.merchant.id, secret.id, { expires_in_seconds: 60 }, root);
      const second = await identity.rollApiKey(created.merchant.id, secret.id, { expires_in_seconds: grace_period_seconds_max }, root);
      expect(second.previous.expires_at).toBe(first.previous.expires_at);

      for (const expires_in_seconds of [-1, grace_period_seconds_max + 1, 1.5, Number.NaN]) {
        const error = await apiErrorOf(identity.rollApiKey(created.merchant.id, second.api_key.id, { expires_in_seconds }, root));
        expect([error.type, error.param]).toEqual(['invalid_request_error', 'expires_in_seconds']);
      }
    });

    it('revoke at once: the key reads as revoked, and cannot be revoked or rolled again', async () => {
      const created = await identity.createMerchant({ name: 'Acme' }, root);
      const key = (await authenticatedOk(created.secret_key)).api_key;
      clock.advance(2_000);
      const revoked = await identity.revokeApiKey(created.merchant.id, key.id, root);
      expect(revoked).toEqual({ ...key, revoked_at: Math.floor(clock.now() / 1000) });
      expectFailure(await identity.authenticate(created.secret_key), 'api_key_revoked');
      expect((await identity.listApiKeys(created.merchant.id, {})).data.find((listed) => listed.id === key.id)).toEqual(revoked);
      expect((await apiErrorOf(identity.revokeApiKey(created.merchant.id, key.id, root))).code).toBe('api_key_inactive');
      expect((await apiErrorOf(identity.rollApiKey(created.merchant.id, key.id, {}, root))).code).toBe('api_key_inactive');
      // The merchant's other key is untouched.
      await authenticatedOk(created.publishable_key);
    });

    it("of another merchant read as missing", async () => {
      const acme = await identity.createMerchant({ name: 'Acme' }, root);
      const globex = await identity.createMerchant({ name: 'Globex' }, root);
      const acme_key = (await authenticatedOk(acme.secret_key)).api_key;
      // Thunks, so that each call starts only when it is awaited.
      for (const call of [
        () => identity.revokeApiKey(globex.merchant.id, acme_key.id, root),
        () => identity.rollApiKey(globex.merchant.id, acme_key.id, {}, root),
        () => identity.revokeApiKey(globex.merchant.id, 'key_missing', root),
      ]) {
        const error = await apiErrorOf(call());
        expect([error.type, error.code, error.param]).toEqual(['not_found_error', 'resource_missing', 'id']);
      }
      await authenticatedOk(acme.secret_key);
      const cursor = await apiErrorOf(identity.listApiKeys(globex.merchant.id, { starting_after: acme_key.id }));
      expect(cursor.code).toBe('resource_missing');
      expect((await apiErrorOf(identity.listApiKeys('mer_missing', {}))).type).toBe('not_found_error');
    });

    it('that are unknown or garbage are invalid', async () => {
      const created = await identity.createMerchant({ name: 'Acme' }, root);
      const garbage = [
        '',
        'sk_test_',
        randomSecret('sk_test_'),
        randomSecret('pk_live_'),
        created.secret_key.toUpperCase(),
        `${created.secret_key} `,
        created.secret_key.slice(0, -1),
        `sk_test_${'!'.repeat(32)}`,
        created.signing_secret,
        'x'.repeat(100_000),
        `Bearer ${created.secret_key}`,
      ];
      for (const key of garbage) expectFailure(await identity.authenticate(key), 'api_key_invalid');
      await fc.assert(
        fc.asyncProperty(fc.string({ maxLength: 64 }), async (key) => {
          expect(await identity.authenticate(key)).toEqual({ ok: false, code: 'api_key_invalid' });
        }),
        { numRuns: 50 },
      );
      await authenticatedOk(created.secret_key);
    });
  });

  describe('signing secrets', () => {
    it('roll with a grace period during which both verify', async () => {
      const created = await identity.createMerchant({ name: 'Acme' }, root);
      const rolled = await identity.rollSigningSecret(created.merchant.id, { expires_in_seconds: 600 }, root);
      expect(rolled.signing_secret).toMatch(/^pgss_[0-9A-Za-z]{32}$/);
      expect((await authenticatedOk(created.secret_key)).signing_secrets).toEqual([rolled.signing_secret, created.signing_secret]);
      clock.advance(600_000);
      expect((await authenticatedOk(created.secret_key)).signing_secrets).toEqual([rolled.signing_secret]);

      const at_once = await identity.rollSigningSecret(created.merchant.id, {}, root);
      expect((await authenticatedOk(created.secret_key)).signing_secrets).toEqual([at_once.signing_secret]);
      const out_of_range = await apiErrorOf(identity.rollSigningSecret(created.merchant.id, { expires_in_seconds: grace_period_seconds_max + 1 }, root));
      expect(out_of_range.param).toBe('expires_in_seconds');
      expect((await apiErrorOf(identity.rollSigningSecret('mer_missing', {}, root))).code).toBe('resource_missing');
    });
  });

  describe('signing secrets at rest', () => {
    async function signingColumns(merchant_id: string): Promise<Record<string, unknown>> {
      const [row] = await database.query(
        'SELECT signing_secret, signing_secret_previous, signing_kek_id, signing_data_key, signing_secret_sealed, signing_secret_previous_sealed FROM identity_merchants WHERE id = ?',
        [merchant_id],
      );
      return row!;
    }

    async function decryptionErrorOf(promise: Promise<unknown>): Promise<SigningSecretDecryptionError> {
      try {
        await promise;
      } catch (error) {
        expect(error).toBeInstanceOf(SigningSecretDecryptionError);
        return error as SigningSecretDecryptionError;
      }
      throw new Error('expected a SigningSecretDecryptionError');
    }

    function identityWith(keyring: Keyring): IdentityService {
      return new IdentityService({ database, keyring, clock });
    }

    it('are sealed under a data key wrapped by the current KEK, and never written in plain text', async () => {
      const created = await identity.createMerchant({ name: 'Acme' }, root);
      const rolled = await identity.rollSigningSecret(created.merchant.id, { expires_in_seconds: 600 }, root);
      const row = await signingColumns(created.merchant.id);
      expect(row['signing_secret']).toBe('');
      expect(row['signing_secret_previous']).toBeNull();
      expect(row['signing_kek_id']).toBe(identity_keyring.current.id);
      for (const column of ['signing_data_key', 'signing_secret_sealed', 'signing_secret_previous_sealed']) expect(Buffer.isBuffer(row[column])).toBe(true);
      const dump = await everyRowAsText();
      const raw = Buffer.concat((await database.query<Record<string, unknown>>('SELECT * FROM identity_merchants')).flatMap((merchant) => Object.values(merchant).filter((value): value is Buffer => Buffer.isBuffer(value))));
      for (const secret of [created.signing_secret, rolled.signing_secret]) {
        expect(dump).not.toContain(secret.slice(-32));
        expect(raw.includes(Buffer.from(secret.slice(-32)))).toBe(false);
      }
      // The database refuses plain text, and an unsealed merchant, whatever code writes it.
      await expect(database.execute('UPDATE identity_merchants SET signing_secret = ? WHERE id = ?', [rolled.signing_secret, created.merchant.id])).rejects.toThrow(/never in plain text/);
      await expect(database.execute('UPDATE identity_merchants SET signing_secret_previous = ? WHERE id = ?', [created.signing_secret, created.merchant.id])).rejects.toThrow(/never in plain text/);
      await expect(database.execute('UPDATE identity_merchants SET signing_secret_sealed = NULL WHERE id = ?', [created.merchant.id])).rejects.toThrow(/never in plain text/);
      await expect(
        database.execute("INSERT INTO identity_merchants (id, name, status, kyc_status, signing_required, signing_secret, created) VALUES ('mer_plain', 'Plain', 'active', 'pending', ?, ?, 0)", [
          false,
          randomSecret('pgss_'),
        ]),
      ).rejects.toThrow(/never in plain text/);
      expect((await authenticatedOk(created.secret_key)).signing_secrets).toEqual([rolled.signing_secret, created.signing_secret]);
    });

    it('do not open when moved to another merchant or slot, or without the key that wraps them', async () => {
      const acme = await identity.createMerchant({ name: 'Acme' }, root);
      const globex = await identity.createMerchant({ name: 'Globex' }, root);
      await identity.rollSigningSecret(acme.merchant.id, { expires_in_seconds: 600 }, root);
      const acme_row = await signingColumns(acme.merchant.id);

      // Another process, given only some other key, cannot open them, and says which key it lacks.
      const stranger = identityWith(new Keyring(generateKeyEncryptionKey()));
      const unavailable = await decryptionErrorOf(stranger.authenticate(acme.secret_key));
      expect([unavailable.reason, unavailable.kek_id, unavailable.merchant_id]).toEqual(['key_unavailable', identity_keyring.current.id, acme.merchant.id]);
      expect((await decryptionErrorOf(stranger.checkKeys())).reason).toBe('key_unavailable');

      // Acme's sealed values copied into Globex's row.
      await database.execute('UPDATE identity_merchants SET signing_data_key = ?, signing_secret_sealed = ? WHERE id = ?', [
        acme_row['signing_data_key'],
        acme_row['signing_secret_sealed'],
        globex.merchant.id,
      ]);
      const moved = await decryptionErrorOf(identity.authenticate(globex.secret_key));
      expect([moved.reason, moved.merchant_id]).toEqual(['authentication_failed', globex.merchant.id]);
      expect(moved.message).not.toContain('pgss_');

      // Acme's previous secret put in the current one's place.
      await database.execute('UPDATE identity_merchants SET signing_secret_sealed = ? WHERE id = ?', [acme_row['signing_secret_previous_sealed'], acme.merchant.id]);
      expect((await decryptionErrorOf(identityWith(identity_keyring).authenticate(acme.secret_key))).reason).toBe('authentication_failed');

      // A changed byte in the wrapped data key.
      const changed = Buffer.from(acme_row['signing_data_key'] as Buffer);
      changed[changed.length - 1] = changed[changed.length - 1]! ^ 0x01;
      await database.execute('UPDATE identity_merchants SET signing_data_key = ?, signing_secret_sealed = ? WHERE id = ?', [changed, acme_row['signing_secret_sealed'], acme.merchant.id]);
      expect((await decryptionErrorOf(identityWith(identity_keyring).authenticate(acme.secret_key))).reason).toBe('authentication_failed');
    });

    it('take a roll into effect at once, in every instance, though opened secrets are kept in memory', async () => {
      const created = await identity.createMerchant({ name: 'Acme' }, root);
      const other_instance = identityWith(identity_keyring);
      expect((await authenticatedOk(created.secret_key)).signing_secrets).toEqual([created.signing_secret]);
      expect((await other_instance.authenticate(created.secret_key)).ok).toBe(true);
      const rolled = await identity.rollSigningSecret(created.merchant.id, {}, root);
      expect((await authenticatedOk(created.secret_key)).signing_secrets).toEqual([rolled.signing_secret]);
      const seen_elsewhere = await other_instance.authenticate(created.secret_key);
      expect(seen_elsewhere.ok && seen_elsewhere.signing_secrets).toEqual([rolled.signing_secret]);
      // A grace period that ends ends at once too.
      const graceful = await identity.rollSigningSecret(created.merchant.id, { expires_in_seconds: 60 }, root);
      expect((await authenticatedOk(created.secret_key)).signing_secrets).toEqual([graceful.signing_secret, rolled.signing_secret]);
      clock.advance(60_000);
      expect((await authenticatedOk(created.secret_key)).signing_secrets).toEqual([graceful.signing_secret]);
    });

    it('are re-wrapped by a KEK rotation in batches, leaving the sealed secrets alone; then only the new key opens them', async () => {
      const merchants = [];
      for (let index = 0; index < 5; index += 1) merchants.push(await identity.createMerchant({ name: `Merchant ${index}` }, root));
      const old_kek = identity_keyring.current;
      const before = await Promise.all(merchants.map((merchant) => signingColumns(merchant.merchant.id)));
      expect(await identity.countDataKeysByKek()).toEqual(new Map([[old_kek.id, 5]]));

      const new_kek = generateKeyEncryptionKey();
      identity_keyring.adopt(new_kek);
      let batches = 0;
      expect(await identity.rewrapDataKeys({ batch_size: 2, onBatch: () => (batches += 1) })).toEqual({ rewrapped: 5, remaining: 0 });
      expect(batches).toBe(3);
      expect(await identity.rewrapDataKeys()).toEqual({ rewrapped: 0, remaining: 0 });
      expect(await identity.countDataKeysByKek()).toEqual(new Map([[new_kek.id, 5]]));
      expect(await identity.checkKeys()).toEqual([new_kek.id]);
      for (const [index, merchant] of merchants.entries()) {
        const row = await signingColumns(merchant.merchant.id);
        expect(row['signing_kek_id']).toBe(new_kek.id);
        expect(row['signing_data_key']).not.toEqual(before[index]!['signing_data_key']);
        expect(row['signing_secret_sealed']).toEqual(before[index]!['signing_secret_sealed']);
      }
      const new_only = identityWith(new Keyring(new_kek));
      for (const merchant of merchants) {
        const result = await new_only.authenticate(merchant.secret_key);
        expect(result.ok && result.signing_secrets).toEqual([merchant.signing_secret]);
      }
      const old_only = identityWith(new Keyring(old_kek));
      expect((await decryptionErrorOf(old_only.authenticate(merchants[0]!.secret_key))).reason).toBe('key_unavailable');
    });

    it('keep authenticating, creating and rolling while a rotation runs, and then nothing is under the old key', async () => {
      const merchants = new Map<string, { secret_key: string; signing_secret: string }>();
      for (let index = 0; index < 30; index += 1) {
        const created = await identity.createMerchant({ name: `Merchant ${index}` }, root);
        merchants.set(created.merchant.id, { secret_key: created.secret_key, signing_secret: created.signing_secret });
      }
      const old_kek = identity_keyring.current;
      const new_kek = generateKeyEncryptionKey();
      // An instance not yet told of the rotation keeps wrapping under the old key, reading both.
      const laggard = identityWith(new Keyring(old_kek, [new_kek]));
      identity_keyring.adopt(new_kek);
      let rotating = true;
      const rotation = identity.rewrapDataKeys({ batch_size: 1 }).finally(() => {
        rotating = false;
      });
      let operations_during = 0;
      async function load(worker: number): Promise<void> {
        for (let step = 0; rotating; step += 1) {
          // Each worker keeps to merchants of its own, so that no roll by another worker races its
          // read of what the secret should be.
          const ids = [...merchants.keys()].filter((_, index) => index % 3 === worker);
          const id = ids[step % ids.length]!;
          const merchant = merchants.get(id)!;
          if (step % 5 === 0) {
            const rolled = await (worker === 0 ? laggard : identity).rollSigningSecret(id, {}, root);
            merchants.set(id, { ...merchant, signing_secret: rolled.signing_secret });
          } else if (step % 7 === 0) {
            const created = await identity.createMerchant({ name: `During ${worker}.${step}` }, root);
            merchants.set(created.merchant.id, { secret_key: created.secret_key, signing_secret: created.signing_secret });
          } else {
            const result = await (step % 2 === 0 ? identity : laggard).authenticate(merchant.secret_key);
            expect(result.ok && result.signing_secrets).toEqual([merchant.signing_secret]);
          }
          if (rotating) operations_during += 1;
        }
      }
      await Promise.all([rotation, load(0), load(1), load(2)]);
      expect(operations_during).toBeGreaterThan(0);
      // What the laggard wrapped under the old key behind the walk is what a later run finishes.
      expect((await identity.rewrapDataKeys()).remaining).toBe(0);
      expect(await identity.countDataKeysByKek()).toEqual(new Map([[new_kek.id, merchants.size]]));
      const new_only = identityWith(new Keyring(new_kek));
      for (const merchant of merchants.values()) {
        const result = await new_only.authenticate(merchant.secret_key);
        expect(result.ok && result.signing_secrets).toEqual([merchant.signing_secret]);
      }
    });

    it('left in plain text by version 1 are sealed at start, keep their grace periods, and leave no plain text behind', async () => {
      const legacy_opened = await open();
      const legacy = legacy_opened.database;
      try {
        expect(await legacy.migrate(identity_migrations.slice(0, 1))).toEqual([1]);
        const now_ms = clock.now();
        const rows = [
          { id: 'mer_legacyone', secret: randomSecret('pgss_'), previous: null, previous_expires_at_ms: null },
          { id: 'mer_legacytwo', secret: randomSecret('pgss_'), previous: randomSecret('pgss_'), previous_expires_at_ms: now_ms + 600_000 },
          { id: 'mer_legacythree', secret: randomSecret('pgss_'), previous: randomSecret('pgss_'), previous_expires_at_ms: now_ms - 1 },
        ];
        const api_keys = new Map<string, string>();
        for (const row of rows) {
          await legacy.execute(
            `INSERT INTO identity_merchants (id, name, status, kyc_status, signing_required, signing_secret, signing_secret_previous, signing_secret_previous_expires_at_ms, created)
             VALUES (?, ?, 'active', 'pending', ?, ?, ?, ?, 0)`,
            [row.id, row.id, false, row.secret, row.previous, row.previous_expires_at_ms],
          );
          const key = randomSecret('sk_test_');
          api_keys.set(row.id, key);
          await legacy.execute("INSERT INTO identity_api_keys (id, merchant_id, type, livemode, secret_hash, redacted, created) VALUES (?, ?, 'secret', ?, ?, 'sk_test_…', 0)", [
            `key_${row.id}`,
            row.id,
            false,
            hashSecret(key),
          ]);
        }
        // Version 1 rolled a secret by overwriting it: the old one lingered in the file's free space.
        const rolled_away = rows[0]!.secret;
        rows[0] = { ...rows[0]!, secret: randomSecret('pgss_') };
        await legacy.execute('UPDATE identity_merchants SET signing_secret = ? WHERE id = ?', [rows[0].secret, rows[0].id]);
        const plain_texts = [rolled_away, ...rows.flatMap((row) => [row.secret, ...(row.previous === null ? [] : [row.previous])])];

        expect(await legacy.migrate(identity_migrations)).toEqual([2, 3]);
        const upgraded = new IdentityService({ database: legacy, keyring: identity_keyring, clock });
        // Before the start-up step: refused loudly, never answered with a wrong secret.
        expect((await decryptionErrorOf(upgraded.authenticate(api_keys.get('mer_legacyone')!))).reason).toBe('not_sealed');
        expect((await decryptionErrorOf(upgraded.checkKeys())).reason).toBe('not_sealed');

        expect(await upgraded.sealLegacySigningSecrets({ batch_size: 2 })).toBe(3);
        expect(await upgraded.sealLegacySigningSecrets()).toBe(0);
        expect(await upgraded.checkKeys()).toEqual([identity_keyring.current.id]);
        const expected = new Map([
          ['mer_legacyone', [rows[0].secret]],
          ['mer_legacytwo', [rows[1]!.secret, rows[1]!.previous!]],
          // The previous secret whose grace period had ended is dropped, not sealed.
          ['mer_legacythree', [rows[2]!.secret]],
        ]);
        for (const [id, secrets] of expected) {
          const result = await upgraded.authenticate(api_keys.get(id)!);
          expect(result.ok && result.signing_secrets).toEqual(secrets);
        }
        const [three] = await legacy.query<{ previous: unknown; expires: unknown }>(
          'SELECT signing_secret_previous_sealed AS previous, signing_secret_previous_expires_at_ms AS expires FROM identity_merchants WHERE id = ?',
          ['mer_legacythree'],
        );
        expect(three).toEqual({ previous: null, expires: null });
        const rolled = await upgraded.rollSigningSecret('mer_legacytwo', { expires_in_seconds: 60 }, root);
        const after_roll = await upgraded.authenticate(api_keys.get('mer_legacytwo')!);
        expect(after_roll.ok && after_roll.signing_secrets).toEqual([rolled.signing_secret, rows[1]!.secret]);

        const dump = JSON.stringify(await legacy.query('SELECT * FROM identity_merchants'));
        for (const secret of plain_texts) expect(dump).not.toContain(secret.slice(-32));
        if (legacy_opened.directory !== undefined) {
          const directory = legacy_opened.directory;
          const files = await readdir(directory);
          const raw = Buffer.concat(await Promise.all(files.map((file) => readFile(join(directory, file)))));
          expect(raw.length).toBeGreaterThan(4096);
          for (const secret of plain_texts) expect([secret.slice(0, 9), raw.includes(Buffer.from(secret.slice(-32)))]).toEqual([secret.slice(0, 9), false]);
        }
      } finally {
        await legacy.close();
        await legacy_opened.cleanup();
      }
    });
  });

  describe('customers', () => {
    it('are visible only to their merchant, in their mode', async () => {
      const acme = (await identity.createMerchant({ name: 'Acme' }, root)).merchant;
      const globex = (await identity.createMerchant({ name: 'Globex' }, root)).merchant;
      const acme_test: Tenant = { merchant_id: acme.id, livemode: false };
      const acme_live: Tenant = { merchant_id: acme.id, livemode: true };
      const globex_test: Tenant = { merchant_id: globex.id, livemode: false };

      const customer = await identity.createCustomer(acme_test, { name: 'Jo', email: 'jo@example.com', description: 'first' });
      expect(customer).toEqual({
        id: expect.stringMatching(/^cus_[0-9A-Za-z]{24}$/),
        object: 'customer',
        name: 'Jo',
        email: 'jo@example.com',
        description: 'first',
        created: Math.floor(clock.now() / 1000),
        livemode: false,
      });
      expect(await identity.getCustomer(acme_test, customer.id)).toEqual(customer);
      expect(await identity.customerExists(acme_test, customer.id)).toBe(true);
      for (const other of [acme_live, globex_test]) {
        expect(await identity.getCustomer(other, customer.id)).toBeUndefined();
        expect(await identity.customerExists(other, customer.id)).toBe(false);
        expect(await identity.listCustomers(other, {})).toEqual({ data: [], has_more: false });
        const cursor = await apiErrorOf(identity.listCustomers(other, { starting_after: customer.id }));
        expect([cursor.code, cursor.param]).toEqual(['resource_missing', 'starting_after']);
      }
      expect((await identity.listCustomers(acme_test, {})).data).toEqual([customer]);
      const bare = await identity.createCustomer(acme_live, {});
      expect(bare).toMatchObject({ name: null, email: null, description: null, livemode: true });
    });

    it('validate name, email and description lengths', async () => {
      const { merchant } = await identity.createMerchant({ name: 'Acme' }, root);
      const tenant: Tenant = { merchant_id: merchant.id, livemode: false };
      const longest_email = `${'e'.repeat(email_length_max - '@example.com'.length)}@example.com`;
      const longest = await identity.createCustomer(tenant, {
        name: 'n'.repeat(name_length_max),
        email: longest_email,
        description: '€'.repeat(description_length_max),
      });
      expect(longest.email).toBe(longest_email);
      const cases: [Parameters<IdentityService['createCustomer']>[1], string, string][] = [
        [{ name: 'n'.repeat(name_length_max + 1) }, 'name', 'parameter_invalid'],
        [{ email: `e${longest_email}` }, 'email', 'parameter_invalid'],
        [{ email: 'jo at example.com' }, 'email', 'email_invalid'],
        [{ email: 'jo@example' }, 'email', 'email_invalid'],
        [{ description: 'd'.repeat(description_length_max + 1) }, 'description', 'parameter_invalid'],
        [{ name: 7 as unknown as string }, 'name', 'parameter_invalid'],
      ];
      for (const [input, param, code] of cases) {
        const error = await apiErrorOf(identity.createCustomer(tenant, input));
        expect([error.type, error.param, error.code]).toEqual(['invalid_request_error', param, code]);
      }
      // Characters are counted, not UTF-16 units: an emoji is one.
      await identity.createCustomer(tenant, { name: '😀'.repeat(name_length_max) });
      expect((await identity.listCustomers(tenant, { limit: 100 })).data).toHaveLength(2);
    });

    it('list newest first with starting_after, ending_before and has_more', async () => {
      const { merchant } = await identity.createMerchant({ name: 'Acme' }, root);
      const tenant: Tenant = { merchant_id: merchant.id, livemode: true };
      const ids: string[] = [];
      for (let index = 0; index < 7; index += 1) ids.push((await identity.createCustomer(tenant, { name: `C${index}` })).id);
      // Another tenant's customers never show up in the pages.
      await identity.createCustomer({ merchant_id: merchant.id, livemode: false }, { name: 'test mode' });
      const newest_first = [...ids].reverse();
      const page_ids = (page: { data: { id: string }[] }) => page.data.map((customer) => customer.id);

      const first = await identity.listCustomers(tenant, { limit: 3 });
      expect([page_ids(first), first.has_more]).toEqual([newest_first.slice(0, 3), true]);
      const second = await identity.listCustomers(tenant, { limit: 3, starting_after: newest_first[2] });
      expect([page_ids(second), second.has_more]).toEqual([newest_first.slice(3, 6), true]);
      const third = await identity.listCustomers(tenant, { limit: 3, starting_after: newest_first[5] });
      expect([page_ids(third), third.has_more]).toEqual([newest_first.slice(6), false]);
      const before = await identity.listCustomers(tenant, { limit: 3, ending_before: newest_first[6] });
      expect([page_ids(before), before.has_more]).toEqual([newest_first.slice(3, 6), true]);
      const newest = await identity.listCustomers(tenant, { limit: 3, ending_before: newest_first[2] });
      expect([page_ids(newest), newest.has_more]).toEqual([newest_first.slice(0, 2), false]);
      expect((await apiErrorOf(identity.listCustomers(tenant, { limit: 101 }))).param).toBe('limit');
    });
  });

  describe('operators', () => {
    it('are created with a key that authenticates them, and only them', async () => {
      const created = await identity.createOperator({ name: 'Ada', email: 'ada@paygrid.example' }, root);
      expect(created.operator).toEqual({
        id: expect.stringMatching(/^op_[0-9A-Za-z]{24}$/),
        object: 'operator',
        name: 'Ada',
        email: 'ada@paygrid.example',
        created: Math.floor(clock.now() / 1000),
      });
      expect(created.secret).toMatch(/^opk_[0-9A-Za-z]{32}$/);
      expect(await identity.authenticateOperator(created.secret)).toEqual(created.operator);
      expect(await identity.getOperator(created.operator.id)).toEqual(created.operator);
      for (const wrong of [randomSecret('opk_'), created.secret.slice(0, -1), '', created.secret.toLowerCase() === created.secret ? 'x' : created.secret.toLowerCase()]) {
        expect(await identity.authenticateOperator(wrong)).toBeUndefined();
      }
      // An operator key is not an API key.
      expectFailure(await identity.authenticate(created.secret), 'api_key_invalid');
      expect((await apiErrorOf(identity.createOperator({ name: 'Bo', email: 'bo' }, root))).param).toBe('email');
    });
  });

  describe('audit log', () => {
    it('records every operator action with its actor and target', async () => {
      const { operator, secret: _ } = await identity.createOperator({ name: 'Ada', email: 'ada@paygrid.example' }, root);
      const ada: Actor = { type: 'operator', id: operator.id };
      const created = await identity.createMerchant({ name: 'Acme' }, ada);
      const merchant_id = created.merchant.id;
      await identity.updateMerchant(merchant_id, { kyc_status: 'verified', name: 'Acme Ltd' }, ada);
      await identity.updateMerchant(merchant_id, { status: 'suspended' }, ada);
      await identity.updateMerchant(merchant_id, { status: 'active' }, ada);
      const live = await identity.createApiKey(merchant_id, { type: 'secret', livemode: true }, ada);
      const rolled = await identity.rollApiKey(merchant_id, live.api_key.id, { expires_in_seconds: 60 }, ada);
      await identity.revokeApiKey(merchant_id, rolled.api_key.id, ada);
      await identity.rollSigningSecret(merchant_id, { expires_in_seconds: 30 }, ada);

      const by_ada = await identity.listAuditEvents({ limit: 100 }, { actor_id: ada.id });
      const summary = by_ada.data.map((event) => [event.action, event.target.type, event.target.id]).reverse();
      const [test_secret, test_publishable] = (await identity.listApiKeys(merchant_id, { limit: 100 })).data
        .filter((key) => !key.livemode)
        .reverse()
        .map((key) => key.id);
      expect(summary).toEqual([
        ['merchant.created', 'merchant', merchant_id],
        ['api_key.created', 'api_key', test_secret],
        ['api_key.created', 'api_key', test_publishable],
        ['merchant.updated', 'merchant', merchant_id],
        ['merchant.suspended', 'merchant', merchant_id],
        ['merchant.reactivated', 'merchant', merchant_id],
        ['api_key.created', 'api_key', live.api_key.id],
        ['api_key.created', 'api_key', rolled.api_key.id],
        ['api_key.rolled', 'api_key', live.api_key.id],
        ['api_key.revoked', 'api_key', rolled.api_key.id],
        ['signing_secret.rolled', 'merchant', merchant_id],
      ]);
      for (const event of by_ada.data) {
        expect(event).toMatchObject({ id: expect.stringMatching(/^aev_/), object: 'audit_event', actor: ada, created: Math.floor(clock.now() / 1000) });
      }
      const updated = by_ada.data.find((event) => event.action === 'merchant.updated');
      expect(updated?.data).toEqual({ fields: ['name', 'kyc_status'] });
      const roll = by_ada.data.find((event) => event.action === 'api_key.rolled');
      expect(roll?.data).toEqual({ merchant: merchant_id, new_api_key: rolled.api_key.id, expires_at: rolled.previous.expires_at });

      // The operator's own creation was recorded against root, and filters combine.
      const by_root = await identity.listAuditEvents({}, { actor_id: 'op_root', target_id: operator.id });
      expect(by_root.data.map((event) => [event.action, event.data])).toEqual([['operator.created', { name: 'Ada', email: 'ada@paygrid.example' }]]);
      const on_key = await identity.listAuditEvents({}, { target_id: live.api_key.id });
      expect(on_key.data.map((event) => event.action)).toEqual(['api_key.rolled', 'api_key.created']);
      const page = await identity.listAuditEvents({ limit: 2 });
      expect(page.has_more).toBe(true);
      expect(page.data[0]?.action).toBe('signing_secret.rolled');
    });

    it('does not record a change that was refused', async () => {
      const { merchant } = await identity.createMerchant({ name: 'Acme' }, root);
      const before = await identity.listAuditEvents({ limit: 100 });
      await apiErrorOf(identity.createApiKey(merchant.id, { type: 'secret', livemode: true }, root));
      await apiErrorOf(identity.updateMerchant(merchant.id, { kyc_status: 'verified', name: ' ' }, root));
      expect(await identity.listAuditEvents({ limit: 100 })).toEqual(before);
    });

    it('refuses UPDATE and DELETE in the database itself', async () => {
      await identity.createMerchant({ name: 'Acme' }, root);
      const before = await database.query('SELECT * FROM identity_audit_events ORDER BY sequence');
      expect(before.length).toBeGreaterThan(1);
      await expect(database.execute("UPDATE identity_audit_events SET action = 'merchant.updated'")).rejects.toThrow(/append-only/);
      await expect(database.execute("UPDATE identity_audit_events SET data = '{}' WHERE id = 'aev_root_operator'")).rejects.toThrow(/append-only/);
      await expect(database.execute('DELETE FROM identity_audit_events')).rejects.toThrow(/append-only/);
      await expect(database.execute("DELETE FROM identity_audit_events WHERE id = 'aev_root_operator'")).rejects.toThrow(/append-only/);
      if (dialect === 'postgres') {
        await expect(database.execute('TRUNCATE identity_audit_events')).rejects.toThrow(/append-only/);
      }
      expect(await database.query('SELECT * FROM identity_audit_events ORDER BY sequence')).toEqual(before);
    });
  });
}

describe('identity on SQLite', () => {
  describeIdentity('sqlite', async () => {
    const directory = await temporaryDirectory();
    const file = join(directory.path, 'identity.sqlite');
    const database = createSqliteDatabase(openSqlite(file), { dialect: 'sqlite', file });
    return { database, directory: directory.path, cleanup: () => directory.remove() };
  });

  it('gives merchants created before migration 3 empty browser settings', async () => {
    const directory = await temporaryDirectory();
    const file = join(directory.path, 'identity.sqlite');
    const database = createSqliteDatabase(openSqlite(file), { dialect: 'sqlite', file });
    try {
      // Written before migration 2 as well, with its secret in plain text, as version 1 wrote it.
      await database.migrate(identity_migrations.filter((migration) => migration.version < 2));
      await database.execute(
        "INSERT INTO identity_merchants (id, name, email, status, kyc_status, signing_required, signing_secret, created) VALUES ('mer_old', 'Old', NULL, 'active', 'pending', 0, 'pgss_x', 1)",
      );
      expect(await database.migrate(identity_migrations)).toEqual(identity_migrations.filter((migration) => migration.version >= 2).map((migration) => migration.version));
      const merchant = await new IdentityService({ database, keyring: new Keyring(generateKeyEncryptionKey()) }).getMerchant('mer_old');
      expect(merchant).toMatchObject({ id: 'mer_old', allowed_origins: [], card_number_guard_exempt_fields: [] });
    } finally {
      await database.close();
      await directory.remove();
    }
  });

  it('authenticates with one query that uses indexes only', async () => {
    const directory = await temporaryDirectory();
    const file = join(directory.path, 'identity.sqlite');
    const database = createSqliteDatabase(openSqlite(file), { dialect: 'sqlite', file });
    try {
      await database.migrate(identity_migrations);
      const plan = await database.query<{ detail: string }>(`EXPLAIN QUERY PLAN ${authentication_sql}`, ['0'.repeat(64)]);
      const details = plan.map((step) => step.detail);
      expect(details).toHaveLength(2);
      for (const detail of details) expect(detail).toMatch(/^SEARCH .* USING (INDEX|COVERING INDEX) /);
    } finally {
      await database.close();
      await directory.remove();
    }
  });
});

describeWithPostgres('identity on PostgreSQL', (url) => {
  describeIdentity('postgres', async () => {
    const temporary = await withTemporarySchema(url);
    const pool = createPostgresPool({ url, schema: temporary.schema, max: 4 });
    const database = createPostgresDatabase(pool, { dialect: 'postgres', url, schema: temporary.schema });
    return { database, directory: undefined, cleanup: () => temporary.drop() };
  });
});
