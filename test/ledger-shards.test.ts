// The platform with its ledger over three PostgreSQL databases (LEDGER_SHARD_URLS): wallets,
// top-ups, transfers between customers and a card payment move money, much of it between shards
// (a customer's wallet and the platform's accounts hash to shards of their own), and
// `paygrid ledger verify`, reading the same variable, proves every shard and the clearing accounts;
// `paygrid ledger shards add` then adds a fourth shard to the running platform.
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Paygrid } from '@paygrid/sdk';
import { postgresUrl } from '@paygrid/kernel/testing';
import { createShardDatabases, preparedTransactions, type ShardDatabases } from '@paygrid/ledger';
import { test_card_numbers } from '@paygrid/connectors';
import { cli_path } from './support/child-platform';
import { startTestPlatform, type TestPlatform } from './support/platform';

const database_url = postgresUrl();

function runCli(args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli_path, ...args], { env, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe.runIf(database_url !== undefined)('platform with a sharded ledger (LEDGER_SHARD_URLS)', () => {
  let databases: ShardDatabases;
  let test: TestPlatform;
  beforeAll(async () => {
    databases = await createShardDatabases(database_url ?? '', 4);
    test = await startTestPlatform({ env: { LEDGER_SHARD_URLS: databases.urls.slice(0, 3).join(',') } });
  }, 120_000);
  afterAll(async () => {
    await test?.close();
    await databases?.drop();
  }, 60_000);

  it('moves wallet and card money through the shards, and verify proves them all', async () => {
    const merchant = await test.operator.merchants.create({ name: 'Sharded Goods' });
    const client = new Paygrid({ api_key: merchant.secret_key, signing_secret: merchant.signing_secret, base_url: test.url });
    const publishable = new Paygrid({ api_key: merchant.publishable_key, base_url: test.url });
    const wallets = [];
    for (const name of ['Alice', 'Bob', 'Carol', 'Dan']) {
      const customer = await client.customers.create({ name });
      wallets.push(await client.wallets.create({ customer: customer.id, currency: 'usd' }));
    }
    for (const wallet of wallets) await client.wallets.topUp(wallet.id, { amount: 10_000 });
    const moves = [
      [0, 1, 1_500],
      [1, 2, 700],
      [2, 3, 300],
      [3, 0, 4_000],
    ] as const;
    for (const [source, destination, amount] of moves) {
      const from = wallets[source]?.id ?? '';
      const to = wallets[destination]?.id ?? '';
      const transfer = await client.walletTransfers.create({ source: from, destination: to, amount, currency: 'usd' });
      expect(transfer.status).toBe('succeeded');
    }
    const balances = await Promise.all(wallets.map(async (wallet) => (await client.wallets.retrieve(wallet.id)).balance.available));
    expect(balances).toEqual([10_000 - 1_500 + 4_000, 10_000 + 1_500 - 700, 10_000 + 700 - 300, 10_000 + 300 - 4_000]);
    expect(balances.reduce((sum, each) => sum + each, 0)).toBe(40_000);

    const token = await publishable.tokens.create({ card: { number: test_card_numbers.succeeds, exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' } });
    const intent = await client.paymentIntents.create({ amount: 2_500, currency: 'usd' });
    const paid = await client.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: token.id } });
    expect(paid.status).toBe('succeeded');

    for (const url of databases.urls) expect(await preparedTransactions(url)).toEqual([]);
    const verified = await runCli(['ledger', 'verify', '--json'], { ...process.env, LEDGER_SHARD_URLS: databases.urls.slice(0, 3).join(','), DATABASE_URL: '' });
    expect(verified.code, verified.stderr).toBe(0);
    const report = JSON.parse(verified.stdout) as { ok: boolean; shards: { shard: number; transfers: number }[] };
    expect(report.ok).toBe(true);
    expect(report.shards).toHaveLength(3);
    // Money moved on more than one shard: the ledger really is spread.
    expect(report.shards.filter((shard) => shard.transfers > 0).length).toBeGreaterThan(1);

    // A fourth shard, added to the running platform by the command; the wallets keep their money.
    const fourth = databases.urls[3] ?? '';
    const adding_started = Date.now();
    const added = await runCli(['ledger', 'shards', 'add', fourth, '--json', '--url', test.url], { ...process.env, PAYGRID_OPERATOR_KEY: test.operator_key });
    expect(added.code, added.stderr).toBe(0);
    const addition = JSON.parse(added.stdout) as { done: boolean; shards: number; moved: number; accounts: number; ideal_fraction: number };
    expect(addition).toMatchObject({ done: true, shards: 4, ideal_fraction: 0.25 });
    expect(addition.moved).toBeGreaterThan(0);
    console.log(`[ledger shards] the running platform moved ${addition.moved} of ${addition.accounts} accounts to a fourth shard in ${Date.now() - adding_started} ms`);
    const refused = await runCli(['ledger', 'shards', 'add', fourth, '--url', test.url], { ...process.env, PAYGRID_OPERATOR_KEY: test.operator_key });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/already a shard/);
    const after = await Promise.all(wallets.map(async (wallet) => (await client.wallets.retrieve(wallet.id)).balance.available));
    expect(after).toEqual(balances);
    const moved_on = await client.walletTransfers.create({ source: wallets[0]?.id ?? '', destination: wallets[3]?.id ?? '', amount: 100, currency: 'usd' });
    expect(moved_on.status).toBe('succeeded');
    const verified_four = await runCli(['ledger', 'verify'], { ...process.env, LEDGER_SHARD_URLS: databases.urls.join(','), DATABASE_URL: '' });
    expect(verified_four.code, verified_four.stderr).toBe(0);
    expect(verified_four.stdout).toMatch(/over 4 shards/);
  }, 120_000);
});
