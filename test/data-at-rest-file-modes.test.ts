// Data at rest is its owner's alone (docs/operations.md, "File modes"): under a umask that would
// leave everything world-readable, a platform started in a fresh DATA_DIR creates that folder and
// any it needs 0700, and every file in it (SQLite databases and their WAL and shared-memory files,
// the ledger's writer fence, the key-encryption key, the operator key) 0600.
import { lstat, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporaryDirectory, type TemporaryDirectory } from '@paygrid/kernel/testing';
import { Paygrid } from '@paygrid/sdk';
import { startPlatform, type RunningPlatform } from '../apps/cli/src/platform';
import { freePort } from './support/platform';

interface Entry {
  readonly path: string;
  readonly kind: 'directory' | 'file';
  readonly mode: number;
}

/** Every folder and file under `root`, and `root` itself, with its permission bits. */
async function walk(root: string): Promise<Entry[]> {
  const entries: Entry[] = [];
  const visit = async (path: string): Promise<void> => {
    const stats = await lstat(path);
    if (stats.isDirectory()) {
      entries.push({ path, kind: 'directory', mode: stats.mode & 0o777 });
      for (const name of await readdir(path)) await visit(join(path, name));
    } else {
      entries.push({ path, kind: 'file', mode: stats.mode & 0o777 });
    }
  };
  await visit(root);
  return entries;
}

function modesOf(entries: readonly Entry[], root: string): Record<string, string> {
  return Object.fromEntries(entries.map((entry) => [entry.path.slice(root.length) || '/', `${entry.kind} ${entry.mode.toString(8)}`]));
}

function expectPrivate(entries: readonly Entry[], root: string): void {
  const wanted = Object.fromEntries(entries.map((entry) => [entry.path.slice(root.length) || '/', `${entry.kind} ${entry.kind === 'directory' ? '700' : '600'}`]));
  expect(modesOf(entries, root)).toEqual(wanted);
}

describe('data at rest', () => {
  let parent: TemporaryDirectory;
  let platform: RunningPlatform | undefined;
  let umask_before: number;

  beforeAll(async () => {
    parent = await temporaryDirectory();
    umask_before = process.umask(0o000);
  });

  afterAll(async () => {
    await platform?.close();
    process.umask(umask_before);
    await parent.remove();
  });

  it('database, WAL, shared-memory and key files are created 0600 and their folders 0700, even under umask 0', async () => {
    // A folder that does not exist yet, two levels down: Paygrid creates both.
    const data_dir = join(parent.path, 'paygrid', 'data');
    platform = await startPlatform({
      env: { DATA_DIR: data_dir, LOG_LEVEL: 'silent', GATEWAY_RATE_LIMIT_PER_SECOND: '1000000', GATEWAY_RATE_LIMIT_BURST: '1000000' },
      port: await freePort(),
    });
    const operator_key = (await readFile(join(data_dir, 'operator.key'), 'utf8')).trim();
    const operator = new Paygrid({ api_key: operator_key, base_url: platform.url });
    const created = await operator.merchants.create({ name: 'Shop' });
    const merchant = new Paygrid({ api_key: created.secret_key, signing_secret: created.signing_secret, base_url: platform.url });
    const publishable = new Paygrid({ api_key: created.publishable_key, base_url: platform.url });
    const token = await publishable.tokens.create({ card: { number: '4242424242424242', exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' } });
    const intent = await merchant.paymentIntents.create({ amount: 2_000, currency: 'usd' });
    expect((await merchant.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: token.id } })).status).toBe('succeeded');
    const customer = await merchant.customers.create({ name: 'Alice' });
    const wallet = await merchant.wallets.create({ customer: customer.id, currency: 'usd' });
    await merchant.wallets.topUp(wallet.id, { amount: 5_000 });

    // While it runs, with every WAL and shared-memory file open.
    const running = await walk(join(parent.path, 'paygrid'));
    const names = running.map((entry) => entry.path.slice(data_dir.length));
    expect(names).toEqual(expect.arrayContaining(['/operator.key', '/vault.kek', '/vault.sqlite', '/vault.sqlite-wal', '/vault.sqlite-shm', '/ledger.sqlite', '/ledger.sqlite-wal', '/payments.sqlite-wal']));
    expectPrivate(running, join(parent.path, 'paygrid'));

    // And after a clean shutdown.
    await platform.close();
    platform = undefined;
    expectPrivate(await walk(join(parent.path, 'paygrid')), join(parent.path, 'paygrid'));
  });
});
