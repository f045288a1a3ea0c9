// Rotating the key-encryption key (KEK) online. While the platform re-wraps every data key (the
// vault's cards and identity's signing secrets) in small batches, merchants keep tokenizing cards,
// paying with them (each payment opens a card: a detokenization) and sending signed requests, and
// every one of those calls must succeed. Afterwards nothing is wrapped by the old key, and with
// the new key alone every card and every signing secret still opens.
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
const unlimited = { GATEWAY_RATE_LIMIT_PER_SECOND: '1000000', GATEWAY_RATE_LIMIT_BURST: '1000000' };

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
async function loadUntilRewrapped(test: TestPlatform, merchants: readonly Merchant[], unused_tokens: string[], started: KeyRotationStatus): Promise<{ load: LoadResult; status: KeyRotationStatus }> {
  const [payer, ...signers] = merchants as [Merchant, ...Merchant[]];
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

/** Opens the stores of a stopped platform with the given key alone, and checks every card and secret. */
async function expectEverythingOpensWith(kek: KeyEncryptionKey, config: { DATA_DIR: string; DATABASE_URL: string | undefined }, tokens: readonly string[], merchants: readonly Merchant[]): Promise<void> {
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
  } finally {
    for (const database of databases) await database.close();
  }
}

function expectAllUnder(status: KeyRotationStatus, kek_id: string, vault_keys: number, merchants: number): void {
  expect(status.remaining).toBe(0);
  expect(status.stores).toEqual([
    { name: 'vault', data_keys: { [kek_id]: vault_keys }, remaining: 0 },
    { name: 'identity', data_keys: { [kek_id]: merchants }, remaining: 0 },
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
    const before = (await keysCall(test, 'GET', '')).json;
    expectAllUnder(before, old_kek.id, tokens_before + 1, 4);

    const rotated = await keysCall(test, 'POST', '/rotate', { batch_size: rewrap_batch_size });
    expect(rotated.status).toBe(202);
    expect(rotated.json.state).toBe('rewrapping');
    const new_kek = parseKeyEncryptionKey(readFileSync(key_file, 'utf8'), 'the key file');
    expect(rotated.json.current_kek).toBe(new_kek.id);
    expect(new_kek.id).not.toBe(old_kek.id);
    // A second rotation waits for the first.
    expect((await keysCall(test, 'POST', '/rotate')).json.error).toMatchObject({ code: 'key_rotation_in_progress' });

    const { load, status } = await loadUntilRewrapped(test, merchants, [...tokens], rotated.json);
    expect(status.state).toBe('idle');
    expect(load.calls_during).toBeGreaterThan(0);
    const tokens_now = tokens_before + load.tokens_made.length;
    expectAllUnder(status, new_kek.id, tokens_now + 1, 4);
    expect(status.rewrapped).toBe(tokens_before + 1 + 4);
    // The old key is gone from disk once nothing is wrapped by it.
    expect(() => readFileSync(`${key_file}.previous`)).toThrow(/ENOENT/);

    await test.close();
    test = undefined;
    await expectEverythingOpensWith(new_kek, { DATA_DIR: data_dir, DATABASE_URL: undefined }, [...tokens, ...load.tokens_made], merchants);
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
    const port = Number(new URL(test.url).port);
    await test.close();

    // Every instance restarts with the new key current and the old one readable (one, here, on
    // the same address, where the merchants' clients send).
    test = await startTestPlatform({ port, env: { ...unlimited, DATABASE_URL: scratch.url, PAYGRID_VAULT_KEK: new_kek.exportHex(), PAYGRID_VAULT_KEK_PREVIOUS: old_kek.exportHex() } });
    const restarted = (await keysCall(test, 'GET', '')).json;
    // Nothing is re-wrapped until the operator says every instance holds the new key.
    expect(restarted.state).toBe('idle');
    expect(restarted.remaining).toBe(tokens_before + 1 + 4);
    const refused = await keysCall(test, 'POST', '/rotate');
    expect([refused.status, refused.json.error]).toEqual([400, expect.objectContaining({ code: 'key_rotation_by_configuration' })]);

    const rewrap = await keysCall(test, 'POST', '/rewrap', { batch_size: rewrap_batch_size });
    expect(rewrap.status).toBe(202);
    const { load, status } = await loadUntilRewrapped(test, merchants, [...tokens], rewrap.json);
    expect(status.state).toBe('idle');
    expect(load.calls_during).toBeGreaterThan(0);
    expectAllUnder(status, new_kek.id, tokens_before + load.tokens_made.length + 1, 4);

    await test.close();
    test = undefined;
    await expectEverythingOpensWith(new_kek, { DATA_DIR: '/nonexistent', DATABASE_URL: scratch.url }, [...tokens, ...load.tokens_made], merchants);
  });
});
