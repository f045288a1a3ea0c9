// End to end, as a merchant meets Paygrid: `paygrid start` (what `npm start` runs) in a child
// process on a fresh data folder, driven over HTTP with the SDK. An operator signs a merchant
// up; the merchant's customers get wallets, top up, pay each other and the merchant, withdraw
// to a bank, and read their history. Afterwards `paygrid ledger verify` proves the books.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporaryDirectory, type TemporaryDirectory } from '@paygrid/kernel/testing';
import { IdempotencyError, Paygrid } from '@paygrid/sdk';

const cli = join(resolve(import.meta.dirname, '..'), 'apps/cli/bin/paygrid.js');
const start_timeout_ms = 30_000;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeout_ms = 10_000): Promise<T> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

describe('the platform end to end over HTTP', () => {
  let data: TemporaryDirectory;
  let child: ChildProcess;
  let url: string;
  const operator_key = `op-e2e-${randomBytes(24).toString('hex')}`;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    data = await temporaryDirectory();
    const port = await freePort();
    env = { ...process.env, DATA_DIR: data.path, PORT: String(port), PAYGRID_OPERATOR_KEY: operator_key, LOG_LEVEL: 'warn' };
    // `npm start` runs on embedded SQLite with the in-memory cache: no outside service.
    delete env.DATABASE_URL;
    delete env.REDIS_URL;
    delete env.NATS_URL;
    child = spawn(process.execPath, [cli, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    url = await new Promise<string>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`platform did not start:\n${output}`)), start_timeout_ms);
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /Paygrid is running at (\S+)/.exec(output);
        if (match?.[1] !== undefined) {
          clearTimeout(timer);
          done(match[1]);
        }
      });
      child.once('exit', (code) => fail(new Error(`platform exited with ${code}:\n${output}`)));
    });
  }, start_timeout_ms + 5_000);

  afterAll(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      await exited;
    }
    await data.remove();
  });

  it('signs a merchant up, moves money between wallets, and keeps exact books', async () => {
    const operator = new Paygrid({ api_key: operator_key, base_url: url });
    const created = await operator.merchants.create({ name: 'Acme Coffee', email: 'owner@acme.example' });
    expect(created.id).toMatch(/^mer_/);
    expect(created.secret_key).toMatch(/^sk_test_/);
    expect(created.publishable_key).toMatch(/^pk_test_/);
    expect(created.status).toBe('active');

    const merchant = new Paygrid({ api_key: created.secret_key, signing_secret: created.signing_secret, base_url: url });
    const account = await merchant.account.retrieve();
    expect(account.id).toBe(created.id);

    const alice = await merchant.customers.create({ name: 'Alice', email: 'alice@example.com' });
    const bob = await merchant.customers.create({ name: 'Bob' });
    expect(alice.id).toMatch(/^cus_/);
    expect(alice.livemode).toBe(false);

    const alice_wallet = await merchant.wallets.create({ customer: alice.id, currency: 'usd' });
    const bob_wallet = await merchant.wallets.create({ customer: bob.id, currency: 'usd' });
    expect(alice_wallet.id).toMatch(/^wal_/);
    expect(alice_wallet.balance).toEqual({ available: 0, pending: 0 });

    const top_up = await merchant.wallets.topUp(alice_wallet.id, { amount: 10_000 });
    expect(top_up).toMatchObject({ object: 'top_up', amount: 10_000, currency: 'usd', status: 'succeeded' });

    const sent = await merchant.walletTransfers.create({ source: alice_wallet.id, destination: bob_wallet.id, amount: 2_500, currency: 'usd', description: 'lunch' });
    expect(sent.id).toMatch(/^wtr_/);
    expect(sent.status).toBe('succeeded');
    expect(await merchant.walletTransfers.retrieve(sent.id)).toMatchObject({ id: sent.id, amount: 2_500 });

    const paid = await merchant.wallets.pay(bob_wallet.id, { amount: 1_000, description: 'flat white' });
    expect(paid).toMatchObject({ object: 'wallet_payment', status: 'succeeded', amount: 1_000 });

    const withdrawal = await merchant.wallets.withdraw(alice_wallet.id, {
      amount: 3_000,
      bank_account: { account_holder_name: 'Alice', routing_number: '110000000', account_number: '000123456789' },
    });
    expect(withdrawal.bank_account.last4).toBe('6789');
    expect(JSON.stringify(withdrawal)).not.toContain('000123456789');
    const settled = await waitFor(async () => {
      const current = await merchant.withdrawals.retrieve(withdrawal.id);
      return current.status === 'pending' ? undefined : current;
    }, 'the withdrawal to settle');
    expect(settled.status).toBe('succeeded');

    // A withdrawal the bank refuses gives the money back.
    const refused = await merchant.wallets.withdraw(alice_wallet.id, {
      amount: 500,
      bank_account: { account_holder_name: 'Alice', routing_number: '110000000', account_number: '000111111116' },
    });
    const failed = await waitFor(async () => {
      const current = await merchant.withdrawals.retrieve(refused.id);
      return current.status === 'pending' ? undefined : current;
    }, 'the refused withdrawal to settle');
    expect(failed.status).toBe('failed');

    expect((await merchant.wallets.retrieve(alice_wallet.id)).balance).toEqual({ available: 4_500, pending: 0 });
    expect((await merchant.wallets.retrieve(bob_wallet.id)).balance).toEqual({ available: 1_500, pending: 0 });
    const balance = await merchant.balance.retrieve();
    expect(balance.available).toEqual([{ amount: 1_000, currency: 'usd' }]);

    // History, newest first, signed from the wallet's side, paginated Stripe's way.
    const history = await merchant.wallets.listTransactions(alice_wallet.id, { limit: 10 });
    expect(history.data.map((line) => [line.type, line.amount, line.status])).toEqual([
      ['withdrawal', -500, 'failed'],
      ['withdrawal', -3_000, 'succeeded'],
      ['transfer_out', -2_500, 'succeeded'],
      ['top_up', 10_000, 'succeeded'],
    ]);
    const first_page = await merchant.wallets.listTransactions(alice_wallet.id, { limit: 2 });
    expect(first_page.has_more).toBe(true);
    const second_page = await merchant.wallets.listTransactions(alice_wallet.id, { limit: 2, starting_after: first_page.data[1]?.id });
    expect(second_page.data.map((line) => line.type)).toEqual(['transfer_out', 'top_up']);
    expect(second_page.has_more).toBe(false);
    const back = await merchant.wallets.listTransactions(alice_wallet.id, { limit: 2, ending_before: second_page.data[0]?.id });
    expect(back.data.map((line) => line.id)).toEqual(first_page.data.map((line) => line.id));
    const bob_history = await merchant.wallets.listTransactions(bob_wallet.id);
    expect(bob_history.data.map((line) => [line.type, line.amount])).toEqual([
      ['payment', -1_000],
      ['transfer_in', 2_500],
    ]);

    // An idempotent retry returns the same transfer and moves nothing twice.
    const again = await merchant.walletTransfers.create({ source: bob_wallet.id, destination: alice_wallet.id, amount: 100, currency: 'usd' }, { idempotency_key: 'e2e-retry-1' });
    const replay = await merchant.walletTransfers.create({ source: bob_wallet.id, destination: alice_wallet.id, amount: 100, currency: 'usd' }, { idempotency_key: 'e2e-retry-1' });
    expect(replay.id).toBe(again.id);
    await expect(merchant.walletTransfers.create({ source: bob_wallet.id, destination: alice_wallet.id, amount: 999, currency: 'usd' }, { idempotency_key: 'e2e-retry-1' })).rejects.toBeInstanceOf(IdempotencyError);
    expect((await merchant.wallets.retrieve(bob_wallet.id)).balance.available).toBe(1_400);

    // Keys: the operator rolls the merchant's key with a grace period; both work until it ends.
    const keys = await operator.merchants.listApiKeys(created.id);
    const secret_key = keys.data.find((key) => key.type === 'secret' && !key.livemode);
    expect(secret_key?.redacted).toMatch(/^sk_test_/);
    const rolled = await operator.merchants.rollApiKey(created.id, secret_key?.id ?? '', { expires_in_seconds: 3600 });
    expect(rolled.secret).toMatch(/^sk_test_/);
    await new Paygrid({ api_key: rolled.secret, base_url: url }).customers.list();
    await merchant.customers.list();

    // Every operator action is in the audit log.
    const audit = await operator.auditEvents.list({ limit: 100, target: created.id });
    expect(audit.data.map((event) => event.action)).toContain('merchant.created');
    const rolls = await operator.auditEvents.list({ limit: 100 });
    expect(rolls.data.some((event) => event.action === 'api_key.rolled' && event.actor.type === 'operator')).toBe(true);

    // The books: the ledger behind all of this verifies.
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await exited;
    const verify = spawnSync(process.execPath, [cli, 'ledger', 'verify'], { env, encoding: 'utf8', timeout: 60_000 });
    expect(verify.stdout).toContain('ledger verified');
    expect(verify.status).toBe(0);
  });
});
