// Rotating the key-encryption key (KEK) online. While the platform re-wraps every data key (the
// vault's cards, identity's signing secrets, webhook endpoints' secrets and withdrawals' bank
// account numbers) in small batches, merchants keep tokenizing cards, paying with them (each
// payment opens a card: a detokenization), sending signed requests and withdrawing to bank
// accounts, and every one of those calls must succeed. Afterwards nothing is wrapped by the old
// key, and with the new key alone every card, signing secret, webhook secret and account number
// still opens.
//
// Embedded, the rotation is POST /v1/keys/rotate on the running platform. On PostgreSQL, where
// instances share the data, it is configuration: a restart with the new key current and the old
// one in PAYGRID_VAULT_KEK_PREVIOUS, then POST /v1/keys/rewrap.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IdentityService } from '@paygrid/identity';
import { openDatabase, type ServiceDatabase } from '@paygrid/kernel';
import { BankAccountKeys, BankAccountSealer, type StoredBankAccount } from '@paygrid/wallet';
import { EndpointSecrets, WebhooksService } from '@paygrid/webhooks';
import { generateKeyEncryptionKey, Keyring, parseKeyEncryptionKey, type KeyEncryptionKey } from '@paygrid/kernel/envelope';
import { postgresUrl, temporaryDirectory, type TemporaryDirectory } from '@paygrid/kernel/testing';
import { Paygrid } from '@paygrid/sdk';
import { VaultService } from '@paygrid/vault';
import type { KeyRotationStatus } from '../apps/cli/src/keys';
import { startTestPlatform, type TestPlatform } from './support/platform';
import { scratchDatabase, type ScratchDatabase } from './support/secrets-search';

const cli = join(resolve(import.meta.dirname, '..'), 'apps/cli/bin/paygrid.js');
const card = { number: '4242424242424242', exp_month: 12, exp_year: new Date().getUTCFullYear() + 1, cvc: '123' };
const tokens_before = 120;
/** Small, so that the re-wrap takes many batches and the load below meets it half-way. */
const rewrap_batch_size = 2;
/** Webhook endpoints on 127.0.0.1 are allowed on PostgreSQL too; nobody listens there, which is fine here. */
const unlimited = { GATEWAY_RATE_LIMIT_PER_SECOND: '1000000', GATEWAY_RATE_LIMIT_BURST: '1000000', WEBHOOK_TEST_MODE_PRIVATE_URLS: 'true' };
const endpoints_before = 3;
const withdrawals_before = 5;

interface SealedSecrets {
  readonly endpoints: { readonly id: string; readonly merchant_id: string; readonly secret: string }[];
  readonly withdrawals: { readonly id: string; readonly merchant_id: string; readonly account_number: string }[];
}

/** Twelve digits that vary with the index: distinct account numbers the simulated bank pays. */
function accountNumber(index: number): string {
  return String(500_000_000_000 + index * 7_919);
}

/** Webhook endpoints (their secrets sealed by the webhooks service) and withdrawals (their account numbers sealed by the wallet). */
async function makeSealedSecrets(merchant: Merchant, endpoints: number, withdrawals: number): Promise<SealedSecrets> {
  const made: SealedSecrets = { endpoints: [], withdrawals: [] };
  for (let index = 0; index < endpoints; index += 1) {
    const created = await merchant.client.webhookEndpoints.create({ url: `http://127.0.0.1:9/hooks/${index}`, enabled_events: ['order.created'] });
    made.endpoints.push({ id: created.id, merchant_id: merchant.id, secret: created.secret });
  }
  const customer = await merchant.client.customers.create({ name: 'Withdrawing' });
  const wallet = await merchant.client.wallets.create({ customer: customer.id, currency: 'usd' });
  await merchant.client.wallets.topUp(wallet.id, { amount: 1_000_000 });
  for (let index = 0; index < withdrawals; index += 1) await withdraw(merchant, wallet.id, made, index);
  return made;
}

async function withdraw(merchant: Merchant, wallet_id: string, made: SealedSecrets, index: number): Promise<void> {
  const account_number = accountNumber(index);
  const withdrawal = await merchant.client.wallets.withdraw(wallet_id, { amount: 10, bank_account: { account_holder_name: 'Jenny Rosen', routing_number: '110000000', account_number } });
  expect(withdrawal.bank_account.last4).toBe(account_number.slice(-4));
  made.withdrawals.push({ id: withdrawal.id, merchant_id: merchant.id, account_number });
}

interface Merchant {
  readonly id: string;
  readonly secret_key: string;
  readonly signing_secret: string;
  readonly client: Paygrid;
}

async function keysCall(test: TestPlatform, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: KeyRotationStatus & { error?: unknown } }> {
  const response = await fetch(`${test.url}/v1/keys${path}`, {
    method,
    headers: { authorization: `Bearer ${test.operator_key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as KeyRotationStatus };
}

/** Merchants that require signatures, so that every request of theirs below is signed and verified. */
async function signedMerchants(test: TestPlatform, count: number): Promise<Merchant[]> {
  const merchants: Merchant[] = [];
  for (let index = 0; index < count; index += 1) {
    const created = await test.operator.merchants.create({ name: `Merchant ${index}` });
    const client = new Paygrid({ api_key: created.secret_key, signing_secret: created.signing_secret, base_url: test.url });
    await client.account.update({ signing_required: true });
    merchants.push({ id: created.id, secret_key: created.secret_key, signing_secret: created.signing_secret, client });
  }
  return merchants;
}

async function makeTokens(test: TestPlatform, merchant: Merchant, count: number): Promise<string[]> {
  const created = await test.operator.merchants.createApiKey(merchant.id, { type: 'publishable', livemode: false });
  const publishable = new Paygrid({ api_key: created.secret, signing_secret: merchant.signing_secret, base_url: test.url });
  const ids: string[] = [];
  for (let index = 0; index < count; index += 1) ids.push((await publishable.tokens.create({ card })).id);
  return ids;
}

interface LoadResult {
  readonly calls_during: number;
  readonly tokens_made: readonly string[];
}

/**
 * Tokenizations, card payments and signed requests from several workers until the re-wrap is
 * over. Any failed call fails the test: nothing may be refused while the key changes.
 */
async function loadUntilRewrapped(
  test: TestPlatform,
  merchants: readonly Merchant[],
  unused_tokens: string[],
  started: KeyRotationStatus,
  sealed: SealedSecrets,
): Promise<{ load: LoadResult; status: KeyRotationStatus }> {
  const [payer, ...signers] = merchants as [Merchant, ...Merchant[]];
  const withdrawing_customer = await payer.client.customers.create({ name: 'Withdrawing during the rotation' });
  const withdrawing_wallet = await payer.client.wallets.create({ customer: withdrawing_customer.id, currency: 'usd' });
  await payer.client.wallets.topUp(withdrawing_wallet.id, { amount: 1_000_000 });
  const created = await test.operator.merchants.createApiKey(payer.id, { type: 'publishable', livemode: false });
  const publishable = new Paygrid({ api_key: created.secret, signing_secret: payer.signing_secret, base_url: test.url });
  let status = started;
  let rewrapping = status.state === 'rewrapping';
  let calls_during = 0;
  const tokens_made: string[] = [];
  const count = () => {
    if (rewrapping) calls_during += 1;
  };
  const workers = [
    async () => {
      while (rewrapping) {
        tokens_made.push((await publishable.tokens.create({ card })).id);
        count();
      }
    },
    async () => {
      while (rewrapping) {
        // Cards made before the rotation first (wrapped by the old key), then new ones.
        let token = unused_tokens.pop();
        if (token === undefined) {
          token = (await publishable.tokens.create({ card })).id;
          tokens_made.push(token);
        }
        const intent = await payer.client.paymentIntents.create({ amount: 1_000, currency: 'usd' });
        const confirmed = await payer.client.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token } });
        expect(confirmed.status).toBe('succeeded');
        count();
      }
    },
    async () => {
      // Account numbers sealed under the new key while older ones are re-wrapped.
      while (rewrapping) {
        await withdraw(payer, withdrawing_wallet.id, sealed, sealed.withdrawals.length);
        count();
      }
    },
    ...signers.map((signer) => async () => {
      while (rewrapping) {
        await signer.client.customers.create({ name: 'During the rotation' });
        count();
      }
    }),
    async () => {
      while (rewrapping) {
        await new Promise((done) => setTimeout(done, 50));
        status = (await keysCall(test, 'GET', '')).json;
        rewrapping = status.state === 'rewrapping';
      }
    },
  ];
  // Every worker stops before this returns, even when one failed, so that none is still calling
  // while the platform closes.
  const ended = await Promise.allSettled(
    workers.map(async (worker) => {
      try {
        await worker();
      } finally {
        rewrapping = false;
      }
    }),
  );
  for (const result of ended) if (result.status === 'rejected') throw result.reason;
  // Read again once every call has ended: a token made after the last poll counts too.
  return { load: { calls_during, tokens_made }, status: (await keysCall(test, 'GET', '')).json };
}

/** Opens the stores of a stopped platform with the given key alone, and checks every card, secret and account number. */
async function expectEverythingOpensWith(
  kek: KeyEncryptionKey,
  config: { DATA_DIR: string; DATABASE_URL: string | undefined },
  tokens: readonly string[],
  merchants: readonly Merchant[],
  sealed: SealedSecrets,
): Promise<void> {
  const databases: ServiceDatabase[] = [];
  try {
    const vault_database = await openDatabase({ config, service: 'vault' });
    databases.push(vault_database);
    const identity_database = await openDatabase({ config, service: 'identity' });
    databases.push(identity_database);
    const keyring = new Keyring(kek);
    const vault = new VaultService({ database: vault_database, keyring });
    const identity = new IdentityService({ database: identity_database, keyring });
    expect(await vault.checkKeys()).toEqual([kek.id]);
    expect(await identity.checkKeys()).toEqual([kek.id]);
    for (const token of tokens) expect((await vault.detokenize(token, { connector: 'rotation_test' })).number).toBe(card.number);
    for (const merchant of merchants) {
      const result = await identity.authenticate(merchant.secret_key);
      expect(result.ok && result.signing_secrets).toEqual([merchant.signing_secret]);
    }
    const webhooks_database = await openDatabase({ config, service: 'webhooks' });
    databases.push(webhooks_database);
    expect(await new WebhooksService({ database: webhooks_database, keyring }).checkKeys()).toEqual([kek.id]);
    const endpoint_secrets = new EndpointSecrets(keyring, 0);
    for (const endpoint of sealed.endpoints) {
      const [row] = await webhooks_database.query<{ secret: string; secret_kek_id: string; secret_data_key: Buffer; secret_sealed: Buffer }>(
        'SELECT secret, secret_kek_id, secret_data_key, secret_sealed FROM webhook_endpoints WHERE id = ?',
        [endpoint.id],
      );
      expect(row?.secret).toBe('');
      const opened = endpoint_secrets.open(
        { id: endpoint.id, merchant_id: endpoint.merchant_id, livemode: false },
        { kek_id: row?.secret_kek_id ?? '', data_key: row?.secret_data_key ?? Buffer.alloc(0), sealed: row?.secret_sealed ?? Buffer.alloc(0) },
      );
      expect(opened).toBe(endpoint.secret);
    }
    const wallet_database = await openDatabase({ config, service: 'wallet' });
    databases.push(wallet_database);
    expect(await new BankAccountKeys({ database: wallet_database, keyring }).checkKeys()).toEqual([kek.id]);
    const bank_accounts = new BankAccountSealer(keyring);
    for (const withdrawal of sealed.withdrawals) {
      const [row] = await wallet_database.query<{ bank_account_number: string | null; bank_account_last4: string; bank_kek_id: string; bank_data_key: Buffer; bank_account_number_sealed: Buffer }>(
        'SELECT bank_account_number, bank_account_last4, bank_kek_id, bank_data_key, bank_account_number_sealed FROM wallet_operations WHERE id = ?',
        [withdrawal.id],
      );
      expect(row?.bank_account_number).toBeNull();
      const stored: StoredBankAccount = {
        account_holder_name: 'Jenny Rosen',
        routing_number: '110000000',
        country: 'US',
        last4: row?.bank_account_last4 ?? '',
        account_number: { kek_id: row?.bank_kek_id ?? '', data_key: row?.bank_data_key ?? Buffer.alloc(0), sealed: row?.bank_account_number_sealed ?? Buffer.alloc(0) },
      };
      expect(bank_accounts.open({ id: withdrawal.id, merchant_id: withdrawal.merchant_id, livemode: false }, stored).account_number).toBe(withdrawal.account_number);
    }
  } finally {
    for (const database of databases) await database.close();
  }
}

function expectAllUnder(status: KeyRotationStatus, kek_id: string, vault_keys: number, merchants: number, sealed: SealedSecrets): void {
  expect(status.remaining).toBe(0);
  expect(status.stores).toEqual([
    { name: 'vault', data_keys: { [kek_id]: vault_keys }, remaining: 0 },
    { name: 'identity', data_keys: { [kek_id]: merchants }, remaining: 0 },
    { name: 'webhooks', data_keys: { [kek_id]: sealed.endpoints.length }, remaining: 0 },
    { name: 'wallet', data_keys: { [kek_id]: sealed.withdrawals.length }, remaining: 0 },
  ]);
}

describe('key rotation under load', () => {
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

  it('embedded: POST /v1/keys/rotate re-wraps every data key while cards, payments and signed requests go on', async () => {
    directory = await temporaryDirectory();
    const key_file = join(directory.path, 'paygrid.kek');
    // A data folder of this test's own, which outlives the platform for the check at the end.
    const data_dir = join(directory.path, 'data');
    test = await startTestPlatform({ env: { ...unlimited, DATA_DIR: data_dir, PAYGRID_VAULT_KEK_FILE: key_file } });
    const old_kek = parseKeyEncryptionKey(readFileSync(key_file, 'utf8'), 'the key file');
    const merchants = await signedMerchants(test, 4);
    const tokens = await makeTokens(test, merchants[0]!, tokens_before);
    const sealed = await makeSealedSecrets(merchants[1]!, endpoints_before, withdrawals_before);
    const before = (await keysCall(test, 'GET', '')).json;
    expectAllUnder(before, old_kek.id, tokens_before + 1, 4, sealed);

    const rotated = await keysCall(test, 'POST', '/rotate', { batch_size: rewrap_batch_size });
    expect(rotated.status).toBe(202);
    expect(rotated.json.state).toBe('rewrapping');
    const new_kek = parseKeyEncryptionKey(readFileSync(key_file, 'utf8'), 'the key file');
    expect(rotated.json.current_kek).toBe(new_kek.id);
    expect(new_kek.id).not.toBe(old_kek.id);
    // A second rotation waits for the first.
    expect((await keysCall(test, 'POST', '/rotate')).json.error).toMatchObject({ code: 'key_rotation_in_progress' });

    const { load, status } = await loadUntilRewrapped(test, merchants, [...tokens], rotated.json, sealed);
    expect(status.state).toBe('idle');
    expect(load.calls_during).toBeGreaterThan(0);
    const tokens_now = tokens_before + load.tokens_made.length;
    expectAllUnder(status, new_kek.id, tokens_now + 1, 4, sealed);
    expect(status.rewrapped).toBe(tokens_before + 1 + 4 + endpoints_before + withdrawals_before);
    // The old key is gone from disk once nothing is wrapped by it.
    expect(() => readFileSync(`${key_file}.previous`)).toThrow(/ENOENT/);

    await test.close();
    test = undefined;
    await expectEverythingOpensWith(new_kek, { DATA_DIR: data_dir, DATABASE_URL: undefined }, [...tokens, ...load.tokens_made], merchants, sealed);
  });

  it('`paygrid keys rotate` asks the running platform and follows the re-wrap to its end', async () => {
    directory = await temporaryDirectory();
    const key_file = join(directory.path, 'paygrid.kek');
    test = await startTestPlatform({ env: { PAYGRID_VAULT_KEK_FILE: key_file } });
    await signedMerchants(test, 2);
    const before = parseKeyEncryptionKey(readFileSync(key_file, 'utf8'), 'the key file');
    const run = (args: string[]) =>
      new Promise<{ status: number | null; out: string }>((done) => {
        const env: NodeJS.ProcessEnv = { ...process.env, PAYGRID_OPERATOR_KEY: test!.operator_key, DATA_DIR: directory!.path };
        delete env.DATABASE_URL;
        execFile(process.execPath, [cli, 'keys', ...args, '--url', test!.url], { env, encoding: 'utf8', timeout: 60_000 }, (error, out, err) => {
          done({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : null, out: out + err });
        });
      });
    const rotated = await run(['rotate', '--batch-size', '1']);
    expect(rotated.status, rotated.out).toBe(0);
    const after = parseKeyEncryptionKey(readFileSync(key_file, 'utf8'), 'the key file');
    expect(after.id).not.toBe(before.id);
    expect(rotated.out).toContain(`rotated: current key ${after.id} (file)`);
    expect(rotated.out).toContain(`current key ${after.id} (file); idle; 0 data key(s) under an older key`);
    expect(rotated.out).not.toContain(after.exportHex());
    const status = await run(['status', '--json']);
    expect(status.status).toBe(0);
    expect(JSON.parse(status.out)).toMatchObject({ object: 'key_rotation', current_kek: after.id, state: 'idle', remaining: 0 });
    // A platform whose key is configuration refuses to make one: the command says why and fails.
    await test.close();
    test = await startTestPlatform({ env: { PAYGRID_VAULT_KEK: after.exportHex() } });
    const refused = await run(['rotate']);
    expect(refused.status).toBe(1);
    expect(refused.out).toContain('key_rotation_by_configuration');
  });

  const database_url = postgresUrl();
  it.runIf(database_url !== undefined)('PostgreSQL: restart with the new key and the old one as previous, then POST /v1/keys/rewrap, under load', async () => {
    scratch = await scratchDatabase(database_url!, 'paygrid_rotation');
    const old_kek = generateKeyEncryptionKey();
    const new_kek = generateKeyEncryptionKey();
    test = await startTestPlatform({ env: { ...unlimited, DATABASE_URL: scratch.url, PAYGRID_VAULT_KEK: old_kek.exportHex() } });
    const merchants = await signedMerchants(test, 4);
    const tokens = await makeTokens(test, merchants[0]!, tokens_before);
    const sealed = await makeSealedSecrets(merchants[1]!, endpoints_before, withdrawals_before);
    const port = Number(new URL(test.url).port);
    await test.close();

    // Every instance restarts with the new key current and the old one readable (one, here, on
    // the same address, where the merchants' clients send).
    test = await startTestPlatform({ port, env: { ...unlimited, DATABASE_URL: scratch.url, PAYGRID_VAULT_KEK: new_kek.exportHex(), PAYGRID_VAULT_KEK_PREVIOUS: old_kek.exportHex() } });
    const restarted = (await keysCall(test, 'GET', '')).json;
    // Nothing is re-wrapped until the operator says every instance holds the new key.
    expect(restarted.state).toBe('idle');
    expect(restarted.remaining).toBe(tokens_before + 1 + 4 + endpoints_before + withdrawals_before);
    const refused = await keysCall(test, 'POST', '/rotate');
    expect([refused.status, refused.json.error]).toEqual([400, expect.objectContaining({ code: 'key_rotation_by_configuration' })]);

    const rewrap = await keysCall(test, 'POST', '/rewrap', { batch_size: rewrap_batch_size });
    expect(rewrap.status).toBe(202);
    const { load, status } = await loadUntilRewrapped(test, merchants, [...tokens], rewrap.json, sealed);
    expect(status.state).toBe('idle');
    expect(load.calls_during).toBeGreaterThan(0);
    expectAllUnder(status, new_kek.id, tokens_before + load.tokens_made.length + 1, 4, sealed);

    await test.close();
    test = undefined;
    await expectEverythingOpensWith(new_kek, { DATA_DIR: '/nonexistent', DATABASE_URL: scratch.url }, [...tokens, ...load.tokens_made], merchants, sealed);
  });
});
