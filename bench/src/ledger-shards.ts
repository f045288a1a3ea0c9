// The sharded ledger's benchmark (issue 15): transfers per second and request latency of a
// ShardedLedger over N PostgreSQL databases, with every transfer's two accounts on one shard
// (same-shard) and on two different shards (cross-shard, two-phase commit in rounds), beside the
// plain single-writer ledger on one database measured in the same run (the yardstick). Requests go
// straight to the ledgers in this process, as in `bench ledger`; HTTP is not part of the figures.
import { loadavg } from 'node:os';
import { quoteIdentifier } from '@paygrid/kernel';
import {
  LedgerService,
  ShardedLedger,
  createShardDatabases,
  emptyAccountEvent,
  emptyTransferEvent,
  ledger_schema_default,
  openLedgerStore,
  preparedTransactions,
  withClient,
  type LedgerClient,
  type ShardedVerifyReport,
} from '@paygrid/ledger';

export interface ShardedLedgerBenchOptions {
  /** The PostgreSQL server's URL; the benchmark creates and drops databases of its own there. */
  readonly database_url: string;
  readonly shards: number;
  readonly seconds_per_phase: number;
  readonly accounts: number;
  readonly log: (line: string) => void;
}

export type ShardPhaseName = 'single' | 'same_shard' | 'cross_shard';

/**
 * What the ledger's own batch rows say about one phase: how many batches were written and how many
 * transfers (legs, for a cross-shard transfer) they created. In a cross-shard phase every batch is
 * one round's prepared part on one shard, and a round's parts share their timestamps, so the number
 * of distinct first timestamps is the number of rounds.
 */
export interface PhaseBatches {
  readonly batches: number;
  readonly transfers_created: number;
  readonly rounds: number;
}

export interface ShardPhaseResult {
  readonly phase: ShardPhaseName;
  readonly transfers: number;
  readonly requests: number;
  readonly seconds: number;
  readonly transfers_per_second: number;
  /** Milliseconds from submitting a request to its durable acknowledgement. */
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly batches: PhaseBatches;
}

export interface ShardConfigurationResult {
  readonly client_batch: number;
  readonly concurrency: number;
  readonly single: ShardPhaseResult;
  readonly same_shard: ShardPhaseResult;
  readonly cross_shard: ShardPhaseResult;
  readonly cross_vs_same_shard: number;
  readonly same_shard_vs_single: number;
}

export interface ShardedLedgerBenchResult {
  readonly shards: number;
  readonly accounts: number;
  readonly accounts_per_shard: readonly number[];
  readonly seconds_per_phase: number;
  readonly configurations: readonly ShardConfigurationResult[];
  readonly verify: Pick<ShardedVerifyReport, 'ok' | 'batches' | 'accounts' | 'transfers' | 'problem'>;
  /** Prepared transactions found on the shards after the ledger closed: there must be none. */
  readonly prepared_left: number;
  readonly load_average_before: readonly number[];
  readonly load_average_after: readonly number[];
}

/**
 * The client shapes measured, each in all three phases: one transfer per request with many
 * requests in flight, and requests of 100 with fewer. A round's two-phase commit costs the same
 * whatever it gathered, so how much each request brings decides how far that cost is shared.
 */
export const shard_configurations: readonly { readonly client_batch: number; readonly concurrency: number }[] = [
  { client_batch: 1, concurrency: 256 },
  { client_batch: 100, concurrency: 32 },
];

const account_id_base = 1_000_000n;
const account_ledger = 1;
const account_code = 1;
/** Accounts per request while setting up: the ledger's largest batch. */
const setup_batch_accounts = 8190;
/** How long each writer gathers concurrent requests when idle, as `npm start` runs it. */
const batch_wait_ms = 1;

export async function runShardedLedgerBench(options: ShardedLedgerBenchOptions): Promise<ShardedLedgerBenchResult> {
  const { log } = options;
  const load_average_before = loadavg();
  log(`  creating ${options.shards} shard databases ...`);
  const databases = await createShardDatabases(options.database_url, options.shards);
  try {
    const first_url = databases.urls[0];
    if (first_url === undefined) throw new Error('no shard database was created');
    const single_schema = `bench_single_${process.pid}`;
    let sharded: ShardedLedger | undefined;
    let single: LedgerService | undefined;
    let configurations: ShardConfigurationResult[];
    let accounts_by_shard: bigint[][];
    let verify: ShardedVerifyReport;
    try {
      sharded = await ShardedLedger.open({ shard_urls: databases.urls, migrate: true, writer: { batch_wait_ms } });
      single = await LedgerService.open(await openLedgerStore({ kind: 'postgres', url: first_url, schema: single_schema }, { migrate: true }), { batch_wait_ms });
      log(`  creating ${options.accounts.toLocaleString('en-US')} accounts on each ledger ...`);
      const ids = Array.from({ length: options.accounts }, (_unused, offset) => account_id_base + BigInt(offset));
      await createAccounts(sharded, ids);
      await createAccounts(single, ids);
      accounts_by_shard = Array.from({ length: options.shards }, () => []);
      for (const id of ids) accounts_by_shard[sharded.shardOf(id)]?.push(id);
      for (const [shard, accounts] of accounts_by_shard.entries()) {
        // Same-shard traffic needs two accounts on every shard; the ring spreads them far more evenly.
        if (accounts.length < 2) throw new Error(`shard ${shard} holds ${accounts.length} of the bench accounts`);
      }
      log(`  accounts per shard: ${accounts_by_shard.map((accounts) => accounts.length.toLocaleString('en-US')).join(', ')}`);

      const random = xorshift(0x9e3779b9);
      const pickFrom = (accounts: readonly bigint[]): bigint => accounts[random() % accounts.length] ?? account_id_base;
      const pickTwo = (accounts: readonly bigint[]): [bigint, bigint] => {
        const debit_index = random() % accounts.length;
        // An offset of 1 to length - 1 makes the credit account always another one.
        const credit_index = (debit_index + 1 + (random() % (accounts.length - 1))) % accounts.length;
        return [accounts[debit_index] ?? account_id_base, accounts[credit_index] ?? account_id_base];
      };
      const shardAccounts = (shard: number): bigint[] => accounts_by_shard[shard] ?? [];
      const pairs: Record<ShardPhaseName, () => [bigint, bigint]> = {
        single: () => pickTwo(ids),
        same_shard: () => pickTwo(shardAccounts(random() % options.shards)),
        cross_shard: () => {
          const debit_shard = random() % options.shards;
          const credit_shard = (debit_shard + 1 + (random() % (options.shards - 1))) % options.shards;
          return [pickFrom(shardAccounts(debit_shard)), pickFrom(shardAccounts(credit_shard))];
        },
      };
      const targets: Record<ShardPhaseName, { ledger: LedgerClient; schema: string; urls: readonly string[] }> = {
        single: { ledger: single, schema: single_schema, urls: [first_url] },
        same_shard: { ledger: sharded, schema: ledger_schema_default, urls: databases.urls },
        cross_shard: { ledger: sharded, schema: ledger_schema_default, urls: databases.urls },
      };
      // One counter for every phase: no transfer id is used twice in the run, on either ledger.
      const transfer_ids = { next: 1n };
      configurations = [];
      for (const configuration of shard_configurations) {
        const phase_results = new Map<ShardPhaseName, ShardPhaseResult>();
        for (const phase of ['single', 'same_shard', 'cross_shard'] as const) {
          const target = targets[phase];
          const result = await runPhase({
            phase,
            ledger: target.ledger,
            pair: pairs[phase],
            client_batch: configuration.client_batch,
            concurrency: configuration.concurrency,
            seconds: options.seconds_per_phase,
            transfer_ids,
            batch_tables: target.urls.map((url) => ({ url, schema: target.schema })),
          });
          phase_results.set(phase, result);
          log(
            `  batch ${String(configuration.client_batch).padStart(3)} x ${String(configuration.concurrency).padStart(3)} in flight, ${phase.padEnd(11)}: ${Math.round(result.transfers_per_second).toLocaleString('en-US')} transfers/s, p50 ${result.p50_ms.toFixed(1)} ms, p99 ${result.p99_ms.toFixed(1)} ms (${describeBatches(phase, result)})`,
          );
        }
        const single_result = requirePhase(phase_results, 'single');
        const same_result = requirePhase(phase_results, 'same_shard');
        const cross_result = requirePhase(phase_results, 'cross_shard');
        configurations.push({
          ...configuration,
          single: single_result,
          same_shard: same_result,
          cross_shard: cross_result,
          cross_vs_same_shard: cross_result.transfers_per_second / same_result.transfers_per_second,
          same_shard_vs_single: same_result.transfers_per_second / single_result.transfers_per_second,
        });
      }
      log('  verifying the sharded ledger ...');
      verify = await sharded.verify();
    } finally {
      await single?.close();
      await sharded?.close();
    }
    const prepared_left = (await Promise.all(databases.urls.map((url) => preparedTransactions(url)))).flat().length;
    return {
      shards: options.shards,
      accounts: options.accounts,
      accounts_per_shard: accounts_by_shard.map((accounts) => accounts.length),
      seconds_per_phase: options.seconds_per_phase,
      configurations,
      verify: { ok: verify.ok, batches: verify.batches, accounts: verify.accounts, transfers: verify.transfers, ...(verify.problem === undefined ? {} : { problem: verify.problem }) },
      prepared_left,
      load_average_before,
      load_average_after: loadavg(),
    };
  } finally {
    await databases.drop();
  }
}

function requirePhase(results: ReadonlyMap<ShardPhaseName, ShardPhaseResult>, phase: ShardPhaseName): ShardPhaseResult {
  const result = results.get(phase);
  if (result === undefined) throw new Error(`the ${phase} phase did not run`);
  return result;
}

function describeBatches(phase: ShardPhaseName, result: ShardPhaseResult): string {
  const { batches } = result;
  if (phase === 'cross_shard') {
    const per_second = batches.rounds / result.seconds;
    const per_round = batches.rounds === 0 ? 0 : result.transfers / batches.rounds;
    return `${batches.rounds.toLocaleString('en-US')} rounds, ${per_second.toFixed(0)} rounds/s, ${per_round.toFixed(0)} transfers per round, ${(1000 / Math.max(per_second, 1e-9)).toFixed(1)} ms per round`;
  }
  const per_batch = batches.batches === 0 ? 0 : batches.transfers_created / batches.batches;
  return `${batches.batches.toLocaleString('en-US')} writer batches, ${per_batch.toFixed(0)} transfers per batch`;
}

async function createAccounts(ledger: LedgerClient, ids: readonly bigint[]): Promise<void> {
  for (let first = 0; first < ids.length; first += setup_batch_accounts) {
    const events = ids.slice(first, first + setup_batch_accounts).map((id) => emptyAccountEvent({ id, ledger: account_ledger, code: account_code }));
    const results = await ledger.createAccounts(events);
    const failed = results.find(({ result }) => result !== 'ok');
    if (failed !== undefined) throw new Error(`could not create bench account ${failed.id}: ${failed.result}`);
  }
}

interface PhaseOptions {
  readonly phase: ShardPhaseName;
  readonly ledger: LedgerClient;
  readonly pair: () => [bigint, bigint];
  readonly client_batch: number;
  readonly concurrency: number;
  readonly seconds: number;
  readonly transfer_ids: { next: bigint };
  /** Where the phase's ledger keeps its batch rows, read before and after the phase. */
  readonly batch_tables: readonly BatchTable[];
}

async function runPhase(options: PhaseOptions): Promise<ShardPhaseResult> {
  const marks = await Promise.all(options.batch_tables.map((table) => lastBatchId(table)));
  const latencies: number[] = [];
  let transfers = 0;
  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  const client = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const events = Array.from({ length: options.client_batch }, () => {
        const [debit_account_id, credit_account_id] = options.pair();
        return emptyTransferEvent({ id: options.transfer_ids.next++, debit_account_id, credit_account_id, amount: 1n, ledger: account_ledger, code: account_code });
      });
      const submitted = performance.now();
      const results = await options.ledger.createTransfers(events);
      latencies.push(performance.now() - submitted);
      const failed = results.find(({ result }) => result !== 'ok');
      if (failed !== undefined) throw new Error(`bench transfer ${failed.id} (${options.phase}) failed: ${failed.result}`);
      transfers += events.length;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, client));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const rows = (await Promise.all(options.batch_tables.map((table, index) => batchesAfter(table, marks[index] ?? 0n)))).flat();
  // Batches that created no transfer (the clearing accounts' at the first round) are not rounds.
  const transfer_rows = rows.filter((row) => row.transfers_created > 0);
  return {
    phase: options.phase,
    transfers,
    requests: latencies.length,
    seconds,
    transfers_per_second: transfers / seconds,
    p50_ms: percentile(latencies, 0.5),
    p99_ms: percentile(latencies, 0.99),
    batches: {
      batches: transfer_rows.length,
      transfers_created: transfer_rows.reduce((sum, row) => sum + row.transfers_created, 0),
      rounds: new Set(transfer_rows.map((row) => row.timestamp_first)).size,
    },
  };
}

// The benchmark reads the ledger's batch rows itself because they are the one record of how the
// writers and the coordinator grouped the work; it only reads them, and only between phases.
interface BatchTable {
  readonly url: string;
  readonly schema: string;
}

async function lastBatchId(table: BatchTable): Promise<bigint> {
  return withClient(table.url, async (client) => {
    const result = await client.query<{ id: string | null }>(`SELECT max(id)::text AS id FROM ${quoteIdentifier(table.schema)}.ledger_batches`);
    return BigInt(result.rows[0]?.id ?? '0');
  });
}

async function batchesAfter(table: BatchTable, after_id: bigint): Promise<{ timestamp_first: string; transfers_created: number }[]> {
  return withClient(table.url, async (client) => {
    const result = await client.query<{ timestamp_first: string; transfers_created: number }>(
      `SELECT timestamp_first::text AS timestamp_first, transfers_created FROM ${quoteIdentifier(table.schema)}.ledger_batches WHERE id > $1`,
      [after_id.toString()],
    );
    return result.rows;
  });
}

/** A small deterministic generator keeps runs comparable; Math.random would do as well. */
function xorshift(seed: number): () => number {
  let state = seed;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
}

function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? 0;
}
