// Crash safety of the wallet's projection: the whole platform (embedded SQLite, as `npm start` runs
// it) moves money between wallets under load and is killed with SIGKILL at random moments. A
// transfer is answered after one durable commit, the ledger's; its row, history and event are
// written behind the answer. After every restart:
// - every acknowledged transfer is in the ledger once and in each wallet's history once;
// - every wallet's balance in the ledger equals what its history adds up to;
// - a retry under an acknowledged idempotency key meets the same transfer and moves nothing.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { operationTransferId } from '@paygrid/wallet';
import { freePort } from './support/platform';

const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'apps/cli/bin/paygrid.js');
const operator_key = 'op_wallet_crash_key_0123456789abcdefghijklm';
const kills = Number(process.env.WALLET_CRASH_KILLS ?? 20);
const wallet_count = 12;
const load_clients = 8;
const top_up_amount = 10_000_000;
const start_timeout_ms = 90_000;

interface Acknowledged {
  readonly id: string;
  readonly key: string;
  readonly source: string;
  readonly destination: string;
  readonly amount: number;
}

function environment(data_dir: string, port: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: data_dir, PORT: String(port), PAYGRID_OPERATOR_KEY: operator_key, LOG_LEVEL: 'error' };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  return env;
}

async function startPlatform(data_dir: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [cli, 'start'], { env: environment(data_dir, port), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`platform did not start: ${output}`)), start_timeout_ms);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Paygrid is running at')) {
        clearTimeout(timer);
        resolveStart();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`platform exited with ${code}: ${output}`));
    });
  });
  child.removeAllListeners('exit');
  return child;
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolveKill) => {
    child.once('exit', () => resolveKill());
    child.kill('SIGKILL');
  });
}

async function call(port: number, key: string, method: string, path: string, body?: unknown, idempotency_key?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(idempotency_key === undefined ? {} : { 'idempotency-key': idempotency_key }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

interface HistoryLine {
  readonly id: string;
  readonly type: string;
  readonly amount: number;
  readonly status: string;
}

async function history(port: number, key: string, wallet: string): Promise<HistoryLine[]> {
  const lines: HistoryLine[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await call(port, key, 'GET', `/v1/wallets/${wallet}/transactions?limit=100${after === undefined ? '' : `&starting_after=${after}`}`);
    expect(page.status).toBe(200);
    const data = page.json.data as HistoryLine[];
    lines.push(...data);
    const last = data.at(-1);
    if (page.json.has_more !== true || last === undefined) return lines;
    after = last.id;
  }
}

describe('wallet projection crash safety (SIGKILL)', () => {
  const data_dir = mkdtempSync(join(tmpdir(), 'paygrid-wallet-crash-'));
  afterAll(() => rmSync(data_dir, { recursive: true, force: true }));

  it(`keeps every acknowledged wallet transfer once in the ledger and once in the histories across ${kills} SIGKILLs`, async () => {
    const port = await freePort();
    let child = await startPlatform(data_dir, port);
    const merchant = await call(port, operator_key, 'POST', '/v1/merchants', { name: 'Crash' });
    expect(merchant.status).toBe(200);
    const secret = String(merchant.json.secret_key);
    const wallets: string[] = [];
    for (let index = 0; index < wallet_count; index += 1) {
      const customer = await call(port, secret, 'POST', '/v1/customers', { name: `Customer ${index}` });
      const wallet = await call(port, secret, 'POST', '/v1/wallets', { customer: customer.json.id, currency: 'usd' });
      const top_up = await call(port, secret, 'POST', `/v1/wallets/${String(wallet.json.id)}/top_ups`, { amount: top_up_amount }, `top-up-${index}`);
      expect(top_up.status).toBe(200);
      wallets.push(String(wallet.json.id));
    }

    const acknowledged = new Map<string, Acknowledged>();
    let next_key = 0;
    for (let round = 0; round < kills; round += 1) {
      let stop = false;
      const client = async (): Promise<void> => {
        while (!stop) {
          const source_index = Math.floor(Math.random() * wallet_count);
          const source = wallets[source_index] ?? '';
          const destination = wallets[(source_index + 1 + Math.floor(Math.random() * (wallet_count - 1))) % wallet_count] ?? '';
          const amount = 1 + Math.floor(Math.random() * 100);
          const key = `crash-${round}-${next_key++}`;
          try {
            const answer = await call(port, secret, 'POST', '/v1/wallet_transfers', { source, destination, amount, currency: 'usd' }, key);
            if (answer.status === 200 && answer.json.status === 'succeeded') {
              const id = String(answer.json.id);
              expect(acknowledged.has(id)).toBe(false);
              acknowledged.set(id, { id, key, source, destination, amount });
            }
          } catch {
            // The connection died with the process: this transfer is unacknowledged.
            return;
          }
        }
      };
      const load = Promise.all(Array.from({ length: load_clients }, client));
      await new Promise((wait) => setTimeout(wait, 200 + Math.random() * 800));
      await kill(child);
      stop = true;
      await load;

      child = await startPlatform(data_dir, port);
      // Every acknowledged transfer is in the ledger, once (its id is the operation's own number).
      const ids = [...acknowledged.values()].map((transfer) => operationTransferId(transfer.id).toString());
      for (let first = 0; first < ids.length; first += 8_000) {
        const found = await call(port, operator_key, 'POST', '/v1/ledger/transfers/lookup', { ids: ids.slice(first, first + 8_000) });
        expect(found.status).toBe(200);
        expect((found.json.data as unknown[]).length).toBe(Math.min(8_000, ids.length - first));
      }
      // …once in each wallet's history, and each history adds up to the ledger's balance.
      const seen = new Map<string, number>();
      let money = 0;
      for (const wallet of wallets) {
        const lines = await history(port, secret, wallet);
        let total = 0;
        for (const line of lines) {
          seen.set(`${wallet}:${line.id}`, (seen.get(`${wallet}:${line.id}`) ?? 0) + 1);
          if (line.status === 'succeeded') total += line.amount;
        }
        const current = await call(port, secret, 'GET', `/v1/wallets/${wallet}`);
        expect((current.json.balance as { available: number }).available).toBe(total);
        money += total;
      }
      // Money is conserved: every transfer moves between these wallets.
      expect(money).toBe(wallet_count * top_up_amount);
      for (const count of seen.values()) expect(count).toBe(1);
      for (const transfer of acknowledged.values()) {
        expect(seen.get(`${transfer.source}:${transfer.id}`)).toBe(1);
        expect(seen.get(`${transfer.destination}:${transfer.id}`)).toBe(1);
      }
      // A retry of an acknowledged request meets the same transfer and moves nothing.
      const retried = [...acknowledged.values()].at(-1);
      if (retried !== undefined) {
        const before = await call(port, secret, 'GET', `/v1/wallets/${retried.source}`);
        const again = await call(port, secret, 'POST', '/v1/wallet_transfers', { source: retried.source, destination: retried.destination, amount: retried.amount, currency: 'usd' }, retried.key);
        expect(again.status).toBe(200);
        expect(again.json.id).toBe(retried.id);
        const after = await call(port, secret, 'GET', `/v1/wallets/${retried.source}`);
        expect(after.json.balance).toEqual(before.json.balance);
      }
    }
    await kill(child);
    expect(acknowledged.size).toBeGreaterThan(kills * 5);
    console.log(`[crash] wallet: ${kills} SIGKILLs, ${acknowledged.size} transfers acknowledged, each once in the ledger and in both histories`);
  }, 1_200_000);
});
