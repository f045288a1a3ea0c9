// Issue 18, data at rest: webhook signing secrets and full bank account numbers are encrypted like
// card data, with the last four shown, and no file in the data folder holds any of them. The
// platform runs as `npm start` does, logging at its most verbose level, on a DATA_DIR of its own;
// merchants get signing secrets and secret API keys, cards are tokenized, webhook endpoints are
// created (their receivers check every delivery's signature), and customers withdraw to several
// distinct bank accounts. The key-encryption key (KEK) is rotated, and the platform restarted on
// the new key alone, where webhooks must still be signed. Every byte of every file under DATA_DIR
// is searched for every secret and number in every form it could be written in: while running
// (with the write-ahead logs), after a checkpoint moved the logs into the databases, and after
// each stop; the process's output too.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { createSqliteDatabase, openSqlite } from '@paygrid/kernel';
import { wallet_migrations } from '@paygrid/wallet';
import { webhooks_migrations } from '@paygrid/webhooks';
import { temporaryDirectory } from '@paygrid/kernel/testing';
import { Paygrid, verifyWebhook } from '@paygrid/sdk';
import { digitNeedles, filesUnder, findings, keyNeedles, secretNeedles, webhookSecretNeedles, type Haystack, type Needle } from './support/secrets-search';

const cli = join(resolve(import.meta.dirname, '..'), 'apps/cli/bin/paygrid.js');
const start_timeout_ms = 60_000;
const wait_timeout_ms = 30_000;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function waitFor<T>(read: () => Promise<T | undefined>, what: string): Promise<T> {
  for (let waited = 0; ; waited += 50) {
    const value = await read();
    if (value !== undefined) return value;
    if (waited > wait_timeout_ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

interface Running {
  readonly child: ChildProcess;
  output(): string;
}

async function startPaygrid(env: NodeJS.ProcessEnv): Promise<Running> {
  const child = spawn(process.execPath, [cli, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  for (let waited = 0; !output.includes('Paygrid is running at'); waited += 50) {
    if (waited > start_timeout_ms || child.exitCode !== null) throw new Error(`platform did not start:\n${output}`);
    await new Promise((done) => setTimeout(done, 50));
  }
  return { child, output: () => output };
}

async function stop(running: Running): Promise<void> {
  if (running.child.exitCode !== null) return;
  const exited = new Promise((done) => running.child.once('exit', done));
  running.child.kill('SIGTERM');
  await exited;
}

interface Delivery {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A receiver on 127.0.0.1 that records every delivery; each endpoint posts to a path of its own. */
async function openReceiver(): Promise<{ url: string; deliveries: Delivery[]; close: () => Promise<void> }> {
  const deliveries: Delivery[] = [];
  const server = createHttpServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      deliveries.push({ path: request.url ?? '', headers: request.headers, body });
      response.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { url: `http://127.0.0.1:${address.port}`, deliveries, close: () => new Promise((done) => server.close(() => done())) };
}

function headerRecord(headers: IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).flatMap(([name, value]) => (typeof value === 'string' ? [[name, value]] : [])));
}

/** Twelve random digits: an account number no fixed scenario of the simulated bank uses, and no card number (those are 13 to 19 digits). */
function randomAccountNumber(): string {
  return Array.from({ length: 12 }, () => String(randomInt(10))).join('');
}

/** Moves each database's write-ahead log into the database itself, as SQLite does by itself from time to time. */
function checkpoint(directory: string, names: readonly string[]): void {
  for (const name of names) {
    const database = openSqlite(join(directory, name));
    try {
      database.pragma('wal_checkpoint(PASSIVE)');
    } finally {
      database.close();
    }
  }
}

it('keeps webhook signing secrets, bank account numbers, card numbers and API secrets out of every file in the data folder, across a key rotation and a restart', async () => {
  const data = await temporaryDirectory();
  const outside = await temporaryDirectory();
  const receiver = await openReceiver();
  const key_file = join(outside.path, 'paygrid.kek');
  const port = await freePort();
  const operator_key = `op-data-${randomBytes(24).toString('hex')}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: data.path,
    PORT: String(port),
    PAYGRID_OPERATOR_KEY: operator_key,
    PAYGRID_VAULT_KEK_FILE: key_file,
    LOG_LEVEL: 'trace',
    WEBHOOK_RETRY_SCHEDULE_MS: '100,200,400',
  };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'PAYGRID_VAULT_KEK', 'PAYGRID_VAULT_KEK_PREVIOUS']) delete env[name];
  const url = `http://127.0.0.1:${port}`;
  const outputs: string[] = [];
  let running = await startPaygrid(env);
  try {
    const first_kek = readFileSync(key_file, 'utf8').trim();
    const operator = new Paygrid({ api_key: operator_key, base_url: url });
    const needles: Needle[] = [];
    const webhook_secrets = new Map<string, string>();
    const account_numbers = ['000123456789', '000111111116', '000222222227', randomAccountNumber(), randomAccountNumber(), randomAccountNumber()];
    const card_numbers = ['4242424242424242', '5555555555554444'];
    const merchants: Paygrid[] = [];
    for (const [index, name] of ['Acme', 'Globex'].entries()) {
      const created = await operator.merchants.create({ name });
      needles.push(...secretNeedles(created.signing_secret), { what: `${name}'s secret key`, bytes: Buffer.from(created.secret_key, 'utf8') });
      const extra = await operator.merchants.createApiKey(created.id, { type: 'secret', livemode: false });
      needles.push({ what: `${name}'s second secret key`, bytes: Buffer.from(extra.secret, 'utf8') });
      const merchant = new Paygrid({ api_key: created.secret_key, base_url: url });
      merchants.push(merchant);
      for (const label of ['books', 'ops']) {
        const path = `/hooks/${index}/${label}`;
        const endpoint = await merchant.webhookEndpoints.create({ url: `${receiver.url}${path}`, enabled_events: ['*'], description: label });
        // The whole secret is shown once; afterwards only its last four characters.
        expect(endpoint.secret).toMatch(/^whsec_/);
        expect(endpoint.secret_last4).toBe(endpoint.secret.slice(-4));
        const read = await merchant.webhookEndpoints.retrieve(endpoint.id);
        expect(read.secret_last4).toBe(endpoint.secret.slice(-4));
        expect(JSON.stringify(read)).not.toContain(endpoint.secret.slice('whsec_'.length));
        webhook_secrets.set(path, endpoint.secret);
        needles.push(...webhookSecretNeedles(endpoint.secret));
      }
      const publishable = new Paygrid({ api_key: created.publishable_key, base_url: url });
      for (const number of card_numbers) {
        await publishable.tokens.create({ card: { number, exp_month: 12, exp_year: new Date().getUTCFullYear() + 1, cvc: '123' } });
      }
    }
    needles.push(...card_numbers.flatMap((number) => digitNeedles(number, 'card number')));
    needles.push(...account_numbers.flatMap((number) => digitNeedles(number, 'account number')));

    // Withdrawals to every account number, spread over both merchants.
    const withdrawals: { merchant: Paygrid; id: string; number: string }[] = [];
    for (const [index, number] of account_numbers.entries()) {
      const merchant = merchants[index % merchants.length] ?? operator;
      const customer = await merchant.customers.create({ name: `Customer ${index}` });
      const wallet = await merchant.wallets.create({ customer: customer.id, currency: 'usd' });
      await merchant.wallets.topUp(wallet.id, { amount: 10_000 });
      const withdrawal = await merchant.wallets.withdraw(wallet.id, { amount: 1_000 + index, bank_account: { account_holder_name: 'Jenny Rosen', routing_number: '110000000', account_number: number } });
      expect(withdrawal.bank_account.last4).toBe(number.slice(-4));
      expect(JSON.stringify(withdrawal)).not.toContain(number);
      withdrawals.push({ merchant, id: withdrawal.id, number });
    }
    // The simulated bank chose each outcome from the number it was handed, opened from the seal.
    const outcomes = await Promise.all(
      withdrawals
        .filter((withdrawal) => withdrawal.number !== '000222222227')
        .map((withdrawal) =>
          waitFor(async () => {
            const current = await withdrawal.merchant.withdrawals.retrieve(withdrawal.id);
            return current.status === 'pending' ? undefined : [withdrawal.number, current.status];
          }, `withdrawal ${withdrawal.id} to settle`),
        ),
    );
    expect(Object.fromEntries(outcomes)).toEqual(
      Object.fromEntries(account_numbers.filter((number) => number !== '000222222227').map((number) => [number, number === '000111111116' ? 'failed' : 'succeeded'])),
    );
    // Every endpoint was sent events, each signed with its own secret.
    await waitFor(() => Promise.resolve(webhook_secrets.size === new Set(receiver.deliveries.map((delivery) => delivery.path)).size ? true : undefined), 'a delivery to every endpoint');
    const verifyAll = () => {
      for (const delivery of receiver.deliveries) {
        const secret = webhook_secrets.get(delivery.path);
        expect(secret).toBeDefined();
        expect(() => verifyWebhook({ secret: secret ?? '', headers: headerRecord(delivery.headers), body: delivery.body })).not.toThrow();
      }
    };
    verifyAll();

    // Rotate the KEK online; the webhooks' and the wallet's data keys are re-wrapped with the rest.
    const keys = async (method: 'GET' | 'POST', path: string) =>
      (await (await fetch(`${url}/v1/keys${path}`, { method, headers: { authorization: `Bearer ${operator_key}` } })).json()) as {
        state: string;
        remaining: number;
        current_kek: string;
        stores: { name: string; data_keys: Record<string, number>; remaining: number }[];
      };
    const before = await keys('GET', '');
    expect(before.stores.map((store) => store.name).sort()).toEqual(['identity', 'vault', 'wallet', 'webhooks']);
    expect(before.stores.find((store) => store.name === 'webhooks')?.data_keys).toEqual({ [before.current_kek]: webhook_secrets.size });
    expect(before.stores.find((store) => store.name === 'wallet')?.data_keys).toEqual({ [before.current_kek]: account_numbers.length });
    let status = await keys('POST', '/rotate');
    status = await waitFor(async () => {
      const current = await keys('GET', '');
      return current.state === 'rewrapping' || current.remaining > 0 ? undefined : current;
    }, 'the rotation to finish');
    expect(status.state).toBe('idle');
    expect(status.current_kek).not.toBe(before.current_kek);
    expect(status.stores.find((store) => store.name === 'webhooks')?.data_keys).toEqual({ [status.current_kek]: webhook_secrets.size });
    expect(status.stores.find((store) => store.name === 'wallet')?.data_keys).toEqual({ [status.current_kek]: account_numbers.length });
    const second_kek = readFileSync(key_file, 'utf8').trim();
    expect(existsSync(`${key_file}.previous`)).toBe(false);
    needles.push(...keyNeedles(first_kek, 'the first KEK'), ...keyNeedles(second_kek, 'the second KEK'));

    const databases = ['identity.sqlite', 'vault.sqlite', 'webhooks.sqlite', 'wallet.sqlite'];
    const haystacks: Haystack[] = [];
    const scan = async (when: string) => {
      for (const file of await filesUnder(data.path)) haystacks.push({ where: `${file.where} (${when})`, bytes: file.bytes });
    };
    await scan('running');
    expect(haystacks.some((haystack) => haystack.where === 'wallet.sqlite-wal (running)' && haystack.bytes.length > 0)).toBe(true);
    checkpoint(data.path, databases);
    await scan('running, after a checkpoint');
    await stop(running);
    outputs.push(running.output());
    await scan('stopped');

    // Restarted on the new key alone: every sealed value must open without the old one, and the
    // opened-secret cache is empty, so the next deliveries are signed with secrets opened anew.
    running = await startPaygrid(env);
    const delivered_before = receiver.deliveries.length;
    const [first] = merchants;
    if (first === undefined) throw new Error('no merchant');
    const customer = await first.customers.create({ name: 'After the restart' });
    const wallet = await first.wallets.create({ customer: customer.id, currency: 'usd' });
    await first.wallets.topUp(wallet.id, { amount: 500 });
    await waitFor(() => Promise.resolve(receiver.deliveries.length >= delivered_before + 2 ? true : undefined), 'deliveries after the restart');
    verifyAll();
    await stop(running);
    outputs.push(running.output());
    await scan('stopped after the restart');

    expect(haystacks.map((haystack) => haystack.where)).toEqual(expect.arrayContaining(databases.map((name) => `${name} (stopped)`)));
    const logs: Haystack = { where: 'the logs', bytes: Buffer.from(outputs.join('\n'), 'utf8') };
    // The logs were captured, and name the withdrawals: they are worth searching.
    expect(logs.bytes.toString()).toContain('key-encryption key rotated');
    expect(findings([...haystacks, logs], needles)).toEqual([]);
  } finally {
    if (running.child.exitCode === null) running.child.kill('SIGKILL');
    await receiver.close();
    await data.remove();
    await outside.remove();
  }
});

it('seals at start what a version before sealing left in plain text, and leaves none of it in the files', async () => {
  const data = await temporaryDirectory();
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: data.path, PORT: String(port), PAYGRID_OPERATOR_KEY: `op-data-${randomBytes(24).toString('hex')}`, LOG_LEVEL: 'info' };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'PAYGRID_VAULT_KEK', 'PAYGRID_VAULT_KEK_PREVIOUS', 'PAYGRID_VAULT_KEK_FILE']) delete env[name];
  // The third endpoint is deleted before the upgrade: its secret lingers in a free page.
  const secrets = ['whsec_' + randomBytes(24).toString('base64'), 'whsec_' + randomBytes(24).toString('base64'), 'whsec_' + randomBytes(24).toString('base64')];
  const account_numbers = [randomAccountNumber(), randomAccountNumber(), randomAccountNumber()];
  // The webhooks and wallet databases as the versions before sealing wrote them.
  const webhooks_file = join(data.path, 'webhooks.sqlite');
  const webhooks = createSqliteDatabase(openSqlite(webhooks_file), { dialect: 'sqlite', file: webhooks_file });
  await webhooks.migrate(webhooks_migrations.filter((migration) => migration.version <= 2));
  for (const [index, secret] of secrets.entries()) {
    await webhooks.execute(
      `INSERT INTO webhook_endpoints (id, merchant_id, livemode, url, enabled_events, status, description, secret, version, failing_since_ms, created)
       VALUES (?, 'acct_old', 0, 'http://127.0.0.1:9/hook', '["order.created"]', 'enabled', NULL, ?, 1, NULL, 0)`,
      [`we_old${index}`, secret],
    );
  }
  await webhooks.execute("DELETE FROM webhook_endpoints WHERE id = 'we_old2'");
  await webhooks.close();
  const wallet_file = join(data.path, 'wallet.sqlite');
  const wallet = createSqliteDatabase(openSqlite(wallet_file), { dialect: 'sqlite', file: wallet_file });
  await wallet.migrate(wallet_migrations.filter((migration) => migration.version <= 6));
  for (const [index, number] of account_numbers.entries()) {
    await wallet.execute(
      `INSERT INTO wallet_operations (id, merchant_id, livemode, type, source_wallet_id, destination_wallet_id, amount, currency, status,
         ledger_transfer_id, attempt, next_attempt_ms, created, bank_account_holder_name, bank_routing_number, bank_account_number, bank_country)
       VALUES (?, 'acct_old', 0, 'withdrawal', 'wal_old', NULL, 100, 'usd', 'succeeded', ?, 1, 0, 0, 'Jenny Rosen', '110000000', ?, 'US')`,
      [`wd_old${index}`, String(900 + index), number],
    );
  }
  await wallet.close();
  const needles = [...secrets.flatMap(webhookSecretNeedles), ...account_numbers.flatMap((number) => digitNeedles(number, 'account number'))];
  // The search sees them before the upgrade.
  expect(findings(await filesUnder(data.path), needles)).toEqual(
    expect.arrayContaining([...secrets.map((secret) => `${secret} in webhooks.sqlite`), ...account_numbers.map((number) => `account number ${number} in wallet.sqlite`)]),
  );

  let running: Running | undefined;
  try {
    running = await startPaygrid(env);
    expect(running.output()).toContain('sealed webhook signing secrets stored in plain text by an earlier version');
    expect(running.output()).toContain('sealed bank account numbers stored in plain text by an earlier version');
    const haystacks = (await filesUnder(data.path)).map((file) => ({ where: `${file.where} (running)`, bytes: file.bytes }));
    await stop(running);
    haystacks.push(...(await filesUnder(data.path)).map((file) => ({ where: `${file.where} (stopped)`, bytes: file.bytes })));
    expect(findings(haystacks, needles)).toEqual([]);
    // The last four characters stay, to be shown.
    const upgraded = createSqliteDatabase(openSqlite(wallet_file), { dialect: 'sqlite', file: wallet_file });
    const rows = await upgraded.query<{ bank_account_last4: string }>("SELECT bank_account_last4 FROM wallet_operations WHERE type = 'withdrawal' ORDER BY sequence");
    await upgraded.close();
    expect(rows.map((row) => row.bank_account_last4)).toEqual(account_numbers.map((number) => number.slice(-4)));
  } finally {
    if (running !== undefined && running.child.exitCode === null) running.child.kill('SIGKILL');
    await data.remove();
  }
});
