// An install upgraded from identity's version 1, which stored merchants' signing secrets in plain
// text: the platform starts on the old data, migration 2 and the start-up step seal every secret,
// and merchants' signed requests keep passing with the secrets they already have (a previous
// secret still in its grace period included), while a wrong secret is still refused. Afterwards
// no secret is left in plain text in the rows or, embedded, anywhere in the database files.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hashSecret, identity_migrations } from '@paygrid/identity';
import { openDatabase } from '@paygrid/kernel';
import { generateKeyEncryptionKey } from '@paygrid/kernel/envelope';
import { postgresUrl, temporaryDirectory, type TemporaryDirectory } from '@paygrid/kernel/testing';
import { AuthenticationError, Paygrid } from '@paygrid/sdk';
import { startTestPlatform, type TestPlatform } from './support/platform';
import { filesOf, findings, scratchDatabase, secretNeedles, type ScratchDatabase } from './support/secrets-search';

/** 32 base62 characters after the prefix, as identity draws them. */
function legacySecret(prefix: string): string {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  let secret = prefix;
  for (let index = 0; index < 32; index += 1) secret += alphabet.charAt(Math.floor(Math.random() * alphabet.length));
  return secret;
}

interface LegacyMerchant {
  readonly id: string;
  readonly secret_key: string;
  readonly signing_secret: string;
  readonly previous: string | null;
  readonly signing_required: boolean;
}

/** Writes merchants as identity's version 1 did, on a database migrated to version 1 only. */
async function writeVersionOne(config: { DATA_DIR: string; DATABASE_URL: string | undefined }): Promise<LegacyMerchant[]> {
  const merchants: LegacyMerchant[] = [
    { id: 'mer_legacyacme', secret_key: legacySecret('sk_test_'), signing_secret: legacySecret('pgss_'), previous: legacySecret('pgss_'), signing_required: true },
    { id: 'mer_legacyglobex', secret_key: legacySecret('sk_test_'), signing_secret: legacySecret('pgss_'), previous: null, signing_required: false },
  ];
  const database = await openDatabase({ config, service: 'identity' });
  try {
    expect(await database.migrate(identity_migrations.slice(0, 1))).toEqual([1]);
    for (const merchant of merchants) {
      await database.execute(
        `INSERT INTO identity_merchants (id, name, status, kyc_status, signing_required, signing_secret, signing_secret_previous, signing_secret_previous_expires_at_ms, created)
         VALUES (?, ?, 'active', 'pending', ?, ?, ?, ?, 0)`,
        [merchant.id, merchant.id, merchant.signing_required, merchant.signing_secret, merchant.previous, merchant.previous === null ? null : Date.now() + 3_600_000],
      );
      await database.execute("INSERT INTO identity_api_keys (id, merchant_id, type, livemode, secret_hash, redacted, created) VALUES (?, ?, 'secret', ?, ?, ?, 0)", [
        `key_${merchant.id}`,
        merchant.id,
        false,
        hashSecret(merchant.secret_key),
        `sk_test_…${merchant.secret_key.slice(-4)}`,
      ]);
    }
  } finally {
    await database.close();
  }
  return merchants;
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(AuthenticationError);
    return (error as AuthenticationError).code;
  }
  throw new Error('expected the request to be refused');
}

const database_url = postgresUrl();
const stores = [{ name: 'SQLite', postgres: false }, ...(database_url === undefined ? [] : [{ name: 'PostgreSQL', postgres: true }])];

describe.each(stores)('signing secrets stored in plain text by version 1, on $name', ({ postgres }) => {
  let directory: TemporaryDirectory | undefined;
  let scratch: ScratchDatabase | undefined;
  let test: TestPlatform | undefined;

  afterEach(async () => {
    await test?.close();
    test = undefined;
    await scratch?.drop();
    scratch = undefined;
    await directory?.remove();
    directory = undefined;
  });

  it('are sealed at start and keep verifying signatures; a wrong secret is still refused', async () => {
    directory = await temporaryDirectory();
    const data_dir = join(directory.path, 'data');
    await mkdir(data_dir, { recursive: true });
    if (postgres) scratch = await scratchDatabase(database_url!, 'paygrid_legacy_secrets');
    const config = { DATA_DIR: data_dir, DATABASE_URL: scratch?.url };
    const merchants = await writeVersionOne(config);
    const [acme, globex] = merchants as [LegacyMerchant, LegacyMerchant];

    test = await startTestPlatform({ env: { DATA_DIR: data_dir, ...(scratch === undefined ? {} : { DATABASE_URL: scratch.url, PAYGRID_VAULT_KEK: generateKeyEncryptionKey().exportHex() }) } });
    const signed = (merchant: LegacyMerchant, signing_secret: string | undefined) =>
      new Paygrid({ api_key: merchant.secret_key, ...(signing_secret === undefined ? {} : { signing_secret }), base_url: test!.url, max_retries: 0 });
    expect((await signed(acme, acme.signing_secret).customers.create({ name: 'Signed with the current secret' })).object).toBe('customer');
    expect((await signed(acme, acme.previous!).customers.create({ name: 'Signed with the previous secret' })).object).toBe('customer');
    expect(await refusal(signed(acme, legacySecret('pgss_')).customers.create({ name: 'Signed with a wrong secret' }))).toBe('signature_mismatch');
    expect(await refusal(signed(acme, undefined).customers.create({ name: 'Not signed' }))).toBe('signature_missing');
    expect((await signed(globex, globex.signing_secret).customers.list()).object).toBe('list');
    expect(await refusal(signed(globex, acme.signing_secret).customers.list())).toBe('signature_mismatch');

    const needles = merchants.flatMap((merchant) => [merchant.signing_secret, ...(merchant.previous === null ? [] : [merchant.previous])]).flatMap(secretNeedles);
    const database = await openDatabase({ config, service: 'identity' });
    try {
      const rows = await database.query<Record<string, unknown>>('SELECT * FROM identity_merchants');
      expect(rows).toHaveLength(2);
      for (const row of rows) expect([row['signing_secret'], row['signing_secret_previous'], typeof row['signing_kek_id']]).toEqual(['', null, 'string']);
      const as_bytes = rows.map((row) => ({ where: String(row['id']), bytes: Buffer.from(JSON.stringify(Object.values(row).map((value) => (Buffer.isBuffer(value) ? value.toString('latin1') : value)))) }));
      expect(findings(as_bytes, needles)).toEqual([]);
    } finally {
      await database.close();
    }
    if (!postgres) {
      // Every byte of every file, the write-ahead logs included, while the platform runs.
      const files = await filesOf(data_dir);
      expect(files.map((file) => file.where)).toContain('identity.sqlite');
      expect(findings(files, needles)).toEqual([]);
    }
  });
});
