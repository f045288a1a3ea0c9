// A card acquirer configured purely through CARD_ACQUIRER_* variables. No real acquirer can be
// reached from here, so the simulator's server stands in for one, over HTTPS with certificates
// this test makes (a private CA, the server's certificate, a client certificate), demanding a
// bearer secret and a client certificate on every call. Card payments go through it; live ones are
// taken by the platform (the capability is on) and then refused by the simulator itself, which
// never takes live money. `paygrid start` refuses an acquirer it could only reach without TLS or
// without a credential.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import selfsigned from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CardAcquirerSimulator, startCardAcquirerServer, test_card_numbers, type CardAcquirerServer } from '@paygrid/connectors';
import { temporaryDirectory, type TemporaryDirectory } from '@paygrid/kernel/testing';
import { Paygrid } from '@paygrid/sdk';
import { describeCardAcquirer } from '../apps/cli/src/platform';
import { createTestMerchant, startTestPlatform, type TestPlatform } from './support/platform';

const cli = join(resolve(import.meta.dirname, '..'), 'apps/cli/bin/paygrid.js');
const day_ms = 24 * 60 * 60 * 1_000;

/** Runs `paygrid` without blocking this worker (spawnSync would stall the test runner's messages). */
function paygrid(args: string[], env: Record<string, string>): Promise<{ status: number | null; err: string }> {
  const base: NodeJS.ProcessEnv = { ...process.env, ...env, LOG_LEVEL: 'silent' };
  delete base.DATABASE_URL;
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [cli, ...args], { env: base, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', fail);
    child.on('close', (status) => {
      clearTimeout(timer);
      done({ status, err });
    });
  });
}

async function certificates() {
  const authority = await selfsigned.generate([{ name: 'commonName', value: 'Acquirer test CA' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + day_ms),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const ca = { key: authority.private, cert: authority.cert };
  const server = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + day_ms),
    ca,
    extensions: [
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
    ],
  });
  const client = await selfsigned.generate([{ name: 'commonName', value: 'paygrid' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + day_ms),
    ca,
    extensions: [{ name: 'extKeyUsage', clientAuth: true }],
  });
  return { ca: authority.cert, server: { cert: server.cert, key: server.private }, client: { cert: client.cert, key: client.private } };
}

describe('a card acquirer at a configured HTTPS endpoint', () => {
  let directory: TemporaryDirectory;
  let simulator: CardAcquirerSimulator;
  let acquirer: CardAcquirerServer;
  let test: TestPlatform;
  let environment: Record<string, string>;

  beforeAll(async () => {
    directory = await temporaryDirectory();
    const file = (name: string, content: string) => {
      const path = join(directory.path, name);
      writeFileSync(path, content, { mode: 0o600 });
      return path;
    };
    const pems = await certificates();
    const token = randomBytes(32).toString('base64url');
    simulator = new CardAcquirerSimulator();
    acquirer = await startCardAcquirerServer(simulator, { bearer_token: token, tls: { ...pems.server, client_ca: pems.ca } });
    environment = {
      CARD_ACQUIRER_URL: acquirer.url,
      CARD_ACQUIRER_TOKEN_FILE: file('acquirer.token', `${token}\n`),
      CARD_ACQUIRER_CLIENT_CERT_FILE: file('client.pem', pems.client.cert),
      CARD_ACQUIRER_CLIENT_KEY_FILE: file('client.key', pems.client.key),
      CARD_ACQUIRER_CA_FILE: file('ca.pem', pems.ca),
    };
    test = await startTestPlatform({ env: environment });
  });

  afterAll(async () => {
    await test.close();
    await acquirer.close();
    await directory.remove();
  });

  it('uses the configured acquirer, with both credentials, and says so without naming a secret', () => {
    expect(acquirer.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const endpoint = test.platform.card_acquirer;
    expect(endpoint).toEqual({ mode: 'configured', host: new URL(acquirer.url).host, authentication: ['bearer', 'mutual_tls'] });
    expect(endpoint === undefined ? '' : describeCardAcquirer(endpoint)).toBe(`configured acquirer ${new URL(acquirer.url).host} (bearer secret and mutual TLS)`);
    expect(test.platform.live_capabilities.card_payments).toEqual({ status: 'active', adapter: `the card acquirer at ${new URL(acquirer.url).host}` });
  });

  it('takes a test-mode card payment over TLS, and the acquirer is the one that authorised it', async () => {
    const merchant = await createTestMerchant(test, 'Acquired');
    const publishable = new Paygrid({ api_key: merchant.publishable_key, base_url: test.url });
    const token = await publishable.tokens.create({ card: { number: test_card_numbers.succeeds, exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' } });
    const intent = await merchant.client.paymentIntents.create({ amount: 2_500, currency: 'usd' });
    const paid = await merchant.client.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: token.id } });
    expect(paid.status).toBe('succeeded');
    const attempt = (await merchant.client.paymentIntents.listAttempts(intent.id)).data.find((each) => each.operation === 'authorize');
    expect(await simulator.status(attempt?.id ?? '')).toMatchObject({ status: 'captured', amount_captured: 2_500n });
  });

  it('sends live card payments on to the acquirer, where a simulator standing in for one declines them', async () => {
    const merchant = await createTestMerchant(test, 'Live, against a stand-in');
    await test.operator.merchants.update(merchant.id, { kyc_status: 'verified' });
    const live = new Paygrid({ api_key: (await test.operator.merchants.createApiKey(merchant.id, { type: 'secret', livemode: true })).secret, base_url: test.url });
    const publishable = new Paygrid({ api_key: (await test.operator.merchants.createApiKey(merchant.id, { type: 'publishable', livemode: true })).secret, base_url: test.url });
    expect((await live.account.retrieve()).live_capabilities.card_payments).toEqual({ status: 'active', missing: null });
    const token = await publishable.tokens.create({ card: { number: test_card_numbers.succeeds, exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' } });
    const intent = await live.paymentIntents.create({ amount: 2_500, currency: 'usd' });
    const declined = await live.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: token.id } });
    expect(declined).toMatchObject({ status: 'requires_payment_method', amount_received: 0, last_payment_error: { code: 'payment_method_unavailable' } });
    expect((await live.balance.retrieve()).available).toEqual([]);
  });

  it('refuses at start an acquirer over plain http off this machine, and one without a credential', async () => {
    const data = join(directory.path, 'refused');
    const off_machine = await paygrid(['start'], { DATA_DIR: data, CARD_ACQUIRER_URL: 'http://10.0.0.7:8443', CARD_ACQUIRER_TOKEN_FILE: environment.CARD_ACQUIRER_TOKEN_FILE ?? '' });
    expect(off_machine.status).toBe(2);
    expect(off_machine.err).toContain('CARD_ACQUIRER_URL must be an https URL (http only to 127.0.0.1, ::1 or localhost)');
    const anonymous = await paygrid(['start'], { DATA_DIR: data, CARD_ACQUIRER_URL: 'https://acquirer.example' });
    expect(anonymous.status).toBe(2);
    expect(anonymous.err).toContain('CARD_ACQUIRER_URL needs a credential');
  });
});
