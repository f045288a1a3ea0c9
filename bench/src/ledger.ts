// The ledger benchmark: transfers per second and commit latency for each store, key distribution
// and client batch size, against pgbench's tpcb-like on the same PostgreSQL in the same run.
// Requests go straight to the in-process LedgerService, which is how other Paygrid services call
// the ledger in one process; HTTP cost is not part of these figures.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { LedgerService, emptyAccountEvent, emptyTransferEvent, openLedgerStore, type LedgerStoreLocation } from '@paygrid/ledger';

export interface ScenarioResult {
  store: 'sqlite' | 'postgres';
  distribution: 'uniform' | 'hot';
  client_batch: number;
  concurrency: number;
  transfers: number;
  seconds: number;
  transfers_per_second: number;
  /** Milliseconds from submitting a request to its durable acknowledgement. */
  p50_ms: number;
  p99_ms: number;
}

export interface BenchOptions {
  readonly seconds_per_scenario: number;
  readonly accounts: number;
  readonly database_url: string | undefined;
  readonly pgbench_seconds: number;
  readonly log: (line: string) => void;
}

/** How many requests each client batch size keeps in flight: enough to fill group commits. */
const concurrency_by_batch: Record<number, number> = { 1: 2048, 100: 128, 8190: 4 };
export const client_batches = [1, 100, 8190] as const;
const account_id_base = 1_000_000n;
const hot_account_id = 1n;
const setup_batch = 8190;

export async function runScenarios(options: BenchOptions): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  const stores: ('sqlite' | 'postgres')[] = options.database_url === undefined ? ['sqlite'] : ['sqlite', 'postgres'];
  for (const store of stores) {
    for (const distribution of ['uniform', 'hot'] as const) {
      for (const client_batch of client_batches) {
        const result = await runScenario(store, distribution, client_batch, options);
        options.log(
          `  ${store.padEnd(8)} ${distribution.padEnd(7)} batch ${String(client_batch).padStart(4)}: ${Math.round(result.transfers_per_second).toLocaleString('en-US')} transfers/s, p50 ${result.p50_ms.toFixed(1)} ms, p99 ${result.p99_ms.toFixed(1)} ms`,
        );
        results.push(result);
      }
    }
  }
  return results;
}

async function withLocation<T>(store: 'sqlite' | 'postgres', database_url: string | undefined, work: (location: LedgerStoreLocation) => Promise<T>): Promise<T> {
  if (store === 'sqlite') {
    const folder = mkdtempSync(join(tmpdir(), 'paygrid-bench-'));
    try {
      return await work({ kind: 'sqlite', file: join(folder, 'ledger.sqlite') });
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  }
  if (database_url === undefined) throw new Error('PostgreSQL scenarios need DATABASE_URL');
  const schema = `bench_${process.pid}_${Date.now()}`;
  try {
    return await work({ kind: 'postgres', url: database_url, schema });
  } finally {
    const client = new pg.Client({ connectionString: database_url });
    client.on('error', () => undefined);
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
}

export async function runScenario(
  store_kind: 'sqlite' | 'postgres',
  distribution: 'uniform' | 'hot',
  client_batch: number,
  options: BenchOptions,
): Promise<ScenarioResult> {
  return withLocation(store_kind, options.database_url, async (location) => {
    const store = await openLedgerStore(location, { migrate: true });
    const ledger = await LedgerService.open(store, { batch_wait_ms: 1 });
    try {
      await createAccounts(ledger, options.accounts);
      const concurrency = concurrency_by_batch[client_batch] ?? 1;
      const latencies: number[] = [];
      let next_transfer_id = 1n;
      let transfers = 0;
      let random_state = 0x9e3779b9;
      // A small deterministic generator keeps runs comparable; Math.random would do as well.
      const random_account = (): bigint => {
        random_state ^= random_state << 13;
        random_state ^= random_state >>> 17;
        random_state ^= random_state << 5;
        return account_id_base + BigInt((random_state >>> 0) % options.accounts);
      };
      const deadline = performance.now() + options.seconds_per_scenario * 1000;
      const started = performance.now();
      const client = async (): Promise<void> => {
        while (performance.now() < deadline) {
          const events = Array.from({ length: client_batch }, () => {
            const debit = random_account();
            let credit = distribution === 'hot' ? hot_account_id : random_account();
            if (credit === debit) credit = debit === account_id_base ? account_id_base + 1n : debit - 1n;
            return emptyTransferEvent({ id: next_transfer_id++, debit_account_id: debit, credit_account_id: credit, amount: 1n, ledger: 1, code: 1 });
          });
          const submitted = performance.now();
          const results = await ledger.createTransfers(events);
          latencies.push(performance.now() - submitted);
          for (const { result } of results) if (result !== 'ok') throw new Error(`bench transfer failed: ${result}`);
          transfers += events.length;
        }
      };
      await Promise.all(Array.from({ length: concurrency }, client));
      const seconds = (performance.now() - started) / 1000;
      latencies.sort((a, b) => a - b);
      return {
        store: store_kind,
        distribution,
        client_batch,
        concurrency,
        transfers,
        seconds,
        transfers_per_second: transfers / seconds,
        p50_ms: percentile(latencies, 0.5),
        p99_ms: percentile(latencies, 0.99),
      };
    } finally {
      await ledger.close();
    }
  });
}

async function createAccounts(ledger: LedgerService, count: number): Promise<void> {
  const hot = await ledger.createAccounts([emptyAccountEvent({ id: hot_account_id, ledger: 1, code: 1 })]);
  if (hot[0]?.result !== 'ok') throw new Error('could not create the hot account');
  for (let first = 0; first < count; first += setup_batch) {
    const events = Array.from({ length: Math.min(setup_batch, count - first) }, (_, offset) =>
      emptyAccountEvent({ id: account_id_base + BigInt(first + offset), ledger: 1, code: 1 }),
    );
    const results = await ledger.createAccounts(events);
    if (results.some(({ result }) => result !== 'ok')) throw new Error('could not create bench accounts');
  }
}

function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? 0;
}

export interface PgbenchResult {
  clients: number;
  seconds: number;
  tps: number;
}

/** pgbench's built-in tpcb-like script with 8 clients, on a scratch database of its own. */
export async function runPgbench(database_url: string, seconds: number): Promise<PgbenchResult> {
  const url = new URL(database_url);
  const scratch = `paygrid_pgbench_${process.pid}`;
  const admin = new pg.Client({ connectionString: database_url });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${scratch}`);
    await admin.query(`CREATE DATABASE ${scratch}`);
    const target = new URL(url.toString());
    target.pathname = `/${scratch}`;
    // The default scale (1) is pgbench as shipped: the figure the targets are stated against.
    execFileSync('pgbench', ['-i', '-q', target.toString()], { stdio: 'ignore' });
    const run = spawnSync('pgbench', ['-c', '8', '-j', '2', '-T', String(seconds), '-b', 'tpcb-like', target.toString()], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`pgbench failed: ${run.stderr}`);
    const match = /tps = ([0-9.]+)/.exec(run.stdout);
    if (match?.[1] === undefined) throw new Error(`could not read pgbench's tps from: ${run.stdout}`);
    // pgbench prints a decimal figure; it is a rate, not money.
    return { clients: 8, seconds, tps: Number(match[1]) };
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${scratch}`).catch(() => undefined);
    await admin.end();
  }
}

/**
 * Resident memory of a process holding 1,000,000 accounts in the ledger's memory, measured in a
 * fresh child so nothing else the benchmark did is counted.
 */
export function measureAccountMemory(accounts: number): { accounts: number; rss_mb: number; baseline_rss_mb: number; heap_used_mb: number } {
  const script = `
    import { LedgerStateMachine, emptyAccountEvent } from '@paygrid/ledger/core';
    globalThis.gc?.();
    const baseline = process.memoryUsage().rss;
    const ledger = new LedgerStateMachine();
    const batch = 8190;
    for (let first = 0; first < ${accounts}; first += batch) {
      const events = [];
      for (let offset = 0; offset < batch && first + offset < ${accounts}; offset++) {
        events.push(emptyAccountEvent({ id: 1_000_000n + BigInt(first + offset), ledger: 1, code: 1, user_data_128: 7n }));
      }
      ledger.beginBatch(BigInt(Date.now()) * 1_000_000n, events.length);
      ledger.createAccounts(events);
      ledger.endBatch();
    }
    globalThis.gc?.();
    const usage = process.memoryUsage();
    process.stdout.write(JSON.stringify({ size: ledger.accounts.size, rss: usage.rss, heap: usage.heapUsed, baseline }));
  `;
  const run = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: process.cwd() });
  if (run.status !== 0) throw new Error(`memory measurement failed: ${run.stderr}`);
  const measured = JSON.parse(run.stdout) as { size: number; rss: number; heap: number; baseline: number };
  if (measured.size !== accounts) throw new Error(`expected ${accounts} accounts in memory, found ${measured.size}`);
  return { accounts, rss_mb: measured.rss / 2 ** 20, baseline_rss_mb: measured.baseline / 2 ** 20, heap_used_mb: measured.heap / 2 ** 20 };
}
