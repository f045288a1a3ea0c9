// Crash safety of the wallet's projection: the whole platform (embedded SQLite, as `npm start` runs
// it) moves money between wallets under load and is killed with SIGKILL at random moments. A
// transfer is answered after one durable commit, the ledger's; its row, history and event are
// written behind the answer. After every restart:
// - every acknowledged transfer is in the ledger once and in each wallet's history once;
// - every wallet's balance in the ledger equals what its history adds up to;
// - a retry under an acknowledged idempotency key meets the same transfer and moves nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { operationTransferId } from '@paygrid/wallet';
import { callApi, signalChild, startChildPlatform, walletHistory } from './support/child-platform';
import { freePort } from './support/platform';

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

describe('wallet projection crash safety (SIGKILL)', () => {
  const data_dir = mkdtempSync(join(tmpdir(), 'paygrid-wallet-crash-'));
  afterAll(() => rmSync(data_dir, { recursive: true, force: true }));

  it(`keeps every acknowledged wallet transfer once in the ledger and once in the histories across ${kills} SIGKILLs`, async () => {
    const port = await freePort();
    let child = await startChildPlatform(['start'], environment(data_dir, port), start_timeout_ms);
    const merchant = await callApi(port, operator_key, 'POST', '/v1/merchants', { name: 'Crash' });
    expect(merchant.status).toBe(200);
    const secret = String(merchant.json.secret_key);
    const wallets: string[] = [];
    for (let index = 0; index < wallet_count; index += 1) {
      const customer = await callApi(port, secret, 'POST', '/v1/customers', { name: `Customer ${index}` });
      const wallet = await callApi(port, secret, 'POST', '/v1/wallets', { customer: customer.json.id, currency: 'usd' });
      const top_up = await callApi(port, secret, 'POST', `/v1/wallets/${String(wallet.json.id)}/top_ups`, { amount: top_up_amount }, `top-up-${index}`);
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
            const answer = await callApi(port, secret, 'POST', '/v1/wallet_transfers', { source, destination, amount, currency: 'usd' }, key);
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
      await signalChild(child, 'SIGKILL');
      stop = true;
      await load;

      child = await startChildPlatform(['start'], environment(data_dir, port), start_timeout_ms);
      // Every acknowledged transfer is in the ledger, once (its id is the operation's own number).
      const ids = [...acknowledged.values()].map((transfer) => operationTransferId(transfer.id).toString());
      for (let first = 0; first < ids.length; first += 8_000) {
        const found = await callApi(port, operator_key, 'POST', '/v1/ledger/transfers/lookup', { ids: ids.slice(first, first + 8_000) });
        expect(found.status).toBe(200);
        expect((found.json.data as unknown[]).length).toBe(Math.min(8_000, ids.length - first));
      }
      // …once in each wallet's history, and each history adds up to the ledger's balance.
      const seen = new Map<string, number>();
      let money = 0;
      for (const wallet of wallets) {
        const lines = await walletHistory(port, secret, wallet);
        let total = 0;
        for (const line of lines) {
          seen.set(`${wallet}:${line.id}`, (seen.get(`${wallet}:${line.id}`) ?? 0) + 1);
          if (line.status === 'succeeded') total += line.amount;
        }
        const current = await callApi(port, secret, 'GET', `/v1/wallets/${wallet}`);
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
        const before = await callApi(port, secret, 'GET', `/v1/wallets/${retried.source}`);
        const again = await callApi(port, secret, 'POST', '/v1/wallet_transfers', { source: retried.source, destination: retried.destination, amount: retried.amount, currency: 'usd' }, retried.key);
        expect(again.status).toBe(200);
        expect(again.json.id).toBe(retried.id);
        const after = await callApi(port, secret, 'GET', `/v1/wallets/${retried.source}`);
        expect(after.json.balance).toEqual(before.json.balance);
      }
    }
    await signalChild(child, 'SIGKILL');
    expect(acknowledged.size).toBeGreaterThan(kills * 5);
    console.log(`[crash] wallet: ${kills} SIGKILLs, ${acknowledged.size} transfers acknowledged, each once in the ledger and in both histories`);
  }, 1_200_000);
});
