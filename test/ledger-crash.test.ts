// Crash safety, on SQLite and (with DATABASE_URL) PostgreSQL, one database or three shards
// (LEDGER_SHARD_URLS): the platform writes transfers under load and is killed with SIGKILL at random
// moments. After every restart, each acknowledged transfer is there exactly once, no linked chain
// is half-applied, resubmitting is idempotent, and `paygrid ledger verify` passes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresUrl } from '@paygrid/kernel/testing';
import { createShardDatabases, type ShardDatabases } from '@paygrid/ledger';
import { cli_path, signalChild, startChildPlatform } from './support/child-platform';
import { freePort } from './support/platform';

const operator_key = 'op_crash_test_key_0123456789abcdefghijklmnop';
const kills_default = Number(process.env.LEDGER_CRASH_KILLS ?? 20);
const accounts = 40;
const load_clients = 8;
/** Only the ledger starts: this test is about its durability, and the other services would only slow each start. */
const ledger_start_timeout_ms = 30_000;

interface SentTransfer {
  id: bigint;
  debit: bigint;
  credit: bigint;
  amount: number;
  /** Transfers sent in one linked chain share a chain number. */
  chain: number;
}

function transferBody(transfer: SentTransfer, linked: boolean) {
  return {
    id: transfer.id.toString(),
    debit_account_id: transfer.debit.toString(),
    credit_account_id: transfer.credit.toString(),
    amount: transfer.amount,
    ledger: 1,
    code: 1,
    ...(linked ? { flags: ['linked'] } : {}),
  };
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Where the platform under test keeps its data: a folder, and a PostgreSQL database if set. */
interface Target {
  readonly data_dir: string;
  readonly port: number;
  readonly database_url: string | undefined;
  /** The ledger's shards, when it runs over several databases. */
  readonly shard_urls?: readonly string[];
}

function environment(target: Target): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: target.data_dir,
    PORT: String(target.port),
    PAYGRID_OPERATOR_KEY: operator_key,
    LOG_LEVEL: 'error',
  };
  delete env.DATABASE_URL;
  delete env.LEDGER_SHARD_URLS;
  if (target.database_url !== undefined) env.DATABASE_URL = target.database_url;
  if (target.shard_urls !== undefined) env.LEDGER_SHARD_URLS = target.shard_urls.join(',');
  return env;
}

async function post(port: number, path: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${operator_key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

type Results = { results: { index: number; id: string; result: string }[] };

function verifyLedger(target: Target): { status: number | null; output: string } {
  const run = spawnSync(process.execPath, [cli_path, 'ledger', 'verify'], { env: environment(target), encoding: 'utf8' });
  return { status: run.status, output: run.stdout + run.stderr };
}

const database_url = postgresUrl();
const stores = [
  { name: 'SQLite', postgres: false, shards: 0, kills: kills_default },
  ...(database_url === undefined
    ? []
    : [
        { name: 'PostgreSQL', postgres: true, shards: 0, kills: kills_default },
        // Between shards a kill may land in any phase of a two-phase round. Each restart and verify
        // costs about 15 s on a loaded 2-core machine, so this variant kills fewer times.
        { name: 'three PostgreSQL shards', postgres: true, shards: 3, kills: Math.ceil(kills_default / 4) },
      ]),
];

describe.each(stores)('ledger crash safety on $name (SIGKILL)', ({ name, postgres, shards, kills }) => {
  const data_dir = mkdtempSync(join(tmpdir(), 'paygrid-crash-'));
  // The PostgreSQL platform gets a scratch database of its own, dropped afterwards.
  const scratch = `paygrid_crash_${process.pid}`;
  let target_url: string | undefined;
  let shard_databases: ShardDatabases | undefined;
  beforeAll(async () => {
    if (!postgres || database_url === undefined) return;
    if (shards > 0) {
      shard_databases = await createShardDatabases(database_url, shards);
      return;
    }
    await adminQuery(database_url, `DROP DATABASE IF EXISTS ${scratch}`);
    await adminQuery(database_url, `CREATE DATABASE ${scratch}`);
    const url = new URL(database_url);
    url.pathname = `/${scratch}`;
    target_url = url.toString();
  });
  afterAll(async () => {
    rmSync(data_dir, { recursive: true, force: true });
    if (target_url !== undefined && database_url !== undefined) await adminQuery(database_url, `DROP DATABASE IF EXISTS ${scratch} WITH (FORCE)`);
    await shard_databases?.drop();
  });

  it(`keeps every acknowledged transfer exactly once across ${kills} SIGKILLs`, async () => {
    const target: Target = { data_dir, port: await freePort(), database_url: target_url, ...(shard_databases === undefined ? {} : { shard_urls: shard_databases.urls }) };
    const port = target.port;
    let child = await startChildPlatform(['start', '--services', 'ledger'], environment(target), ledger_start_timeout_ms);
    const opened = await post(port, '/v1/ledger/accounts', {
      accounts: Array.from({ length: accounts }, (_, index) => ({ id: String(index + 1), ledger: 1, code: 1 })),
    });
    expect(opened.status).toBe(200);

    const acknowledged = new Map<bigint, SentTransfer>();
    const sent: SentTransfer[] = [];
    let next_id = 1n;
    let next_chain = 1;

    for (let round = 0; round < kills; round++) {
      let stop = false;
      const client = async (): Promise<void> => {
        while (!stop) {
          const chain = next_chain++;
          const linked = chain % 3 === 0;
          const size = 1 + Math.floor(Math.random() * 20);
          const batch: SentTransfer[] = Array.from({ length: size }, () => {
            const debit = BigInt(1 + Math.floor(Math.random() * accounts));
            const credit = debit === BigInt(accounts) ? 1n : debit + 1n;
            return { id: next_id++, debit, credit, amount: 1 + Math.floor(Math.random() * 1000), chain: linked ? chain : -Number(next_id) };
          });
          sent.push(...batch);
          try {
            const response = await post(port, '/v1/ledger/transfers', {
              transfers: batch.map((transfer, index) => transferBody(transfer, linked && index < batch.length - 1)),
            });
            if (response.status !== 200) continue;
            for (const { index, result } of (response.json as Results).results) {
              const transfer = batch[index];
              if (result === 'ok' && transfer !== undefined) acknowledged.set(transfer.id, transfer);
            }
          } catch {
            // The connection died with the process: these transfers are unacknowledged.
            return;
          }
        }
      };
      const load = Promise.all(Array.from({ length: load_clients }, client));
      await new Promise((wait) => setTimeout(wait, 150 + Math.random() * 600));
      await signalChild(child, 'SIGKILL');
      stop = true;
      await load;

      const verified = verifyLedger(target);
      expect(verified.output).toContain('ledger verified');
      expect(verified.status).toBe(0);

      child = await startChildPlatform(['start', '--services', 'ledger'], environment(target), ledger_start_timeout_ms);
      const ids = sent.map((transfer) => transfer.id.toString());
      const present = new Set<string>();
      for (let first = 0; first < ids.length; first += 8000) {
        const found = await post(port, '/v1/ledger/transfers/lookup', { ids: ids.slice(first, first + 8000) });
        expect(found.status).toBe(200);
        for (const transfer of (found.json as { data: { id: string }[] }).data) {
          expect(present.has(transfer.id)).toBe(false);
          present.add(transfer.id);
        }
      }
      for (const id of acknowledged.keys()) expect(present.has(id.toString())).toBe(true);
      // A linked chain is all there or not there at all.
      const chains = new Map<number, boolean[]>();
      for (const transfer of sent) {
        if (transfer.chain < 0) continue;
        chains.set(transfer.chain, [...(chains.get(transfer.chain) ?? []), present.has(transfer.id.toString())]);
      }
      for (const members of chains.values()) expect(new Set(members).size).toBe(1);
      // Resubmitting what was acknowledged is idempotent: `exists`, never applied twice.
      const resubmit = [...acknowledged.values()].filter((transfer) => transfer.chain < 0).slice(-50);
      if (resubmit.length > 0) {
        const again = await post(port, '/v1/ledger/transfers', {
          transfers: resubmit.map((transfer) => transferBody(transfer, false)),
        });
        expect((again.json as Results).results.map(({ result }) => result)).toEqual(resubmit.map(() => 'exists'));
      }
    }
    await signalChild(child, 'SIGKILL');
    const verified = verifyLedger(target);
    expect(verified.status).toBe(0);
    expect(acknowledged.size).toBeGreaterThan(kills * 10);
    console.log(`[crash] ${name}: ${kills} SIGKILLs, ${sent.length} transfers sent, ${acknowledged.size} acknowledged, all present exactly once`);
  }, 600_000);
});
