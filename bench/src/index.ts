import { parseArgs } from 'node:util';
import { shards_max } from '@paygrid/ledger';
import { runApiBench, runPaymentsBench, type ApiBenchResult, type PaymentsBenchResult } from './api';
import type { CpuAccount } from './cpu';
import { runDistributedBench, type DistributedBenchResult } from './distributed';
import { commit_floor_name, floor_layer_names, runFloorBench, type FloorLayerResult } from './floor';
import { measureAccountMemory, runPgbench, runScenarios, type PgbenchResult, type ScenarioResult } from './ledger';
import { runLedgerHttpBench, type LedgerHttpResult } from './ledger-http';
import { runShardedLedgerBench, type ShardedLedgerBenchResult } from './ledger-shards';

/**
 * The issues' targets, printed beside what was measured. The API and payments targets are shares
 * of the floor's last layer measured in the same run (bare Fastify stays printed as the
 * yardstick); the ledger's HTTP targets are multiples of pgbench tpcb-like from the same run.
 */
const targets = {
  postgres_vs_pgbench: 25,
  hot_vs_uniform: 0.8,
  sqlite_transfers_per_second: 100_000,
  rss_mb_for_million_accounts: 400,
  ledger_http_binary_vs_pgbench: 25,
  ledger_http_json_vs_pgbench: 15,
  api_vs_floor: 0.5,
  api_p99_ms_at_half_rate: 20,
  api_p50_ms_at_zero_load: 3,
  payments_vs_floor: 0.35,
  distributed_vs_all_in_one: 0.5,
  distributed_p99_ms_at_half_rate: 50,
  ledger_cross_shard_vs_same_shard: 0.2,
};

const floor_last_layer_name = floor_layer_names[floor_layer_names.length - 1] ?? 'last layer';

/** Requests in flight from the ledger's HTTP load generator: enough to keep the writer's pipeline full. */
const ledger_http_in_flight = 8;

/** Concurrent connections the API benchmark keeps open. */
const api_connections = 32;

/** A sharded ledger has at least two shards, and the ring at most `shards_max`. */
const bench_shards_min = 2;

/**
 * The option the CLI's usage text does not name yet, printed after it: the usage text lives in
 * apps/cli, and this package owns what its options do.
 */
const shards_usage = `ledger --shards N (${bench_shards_min} to ${shards_max}, needs DATABASE_URL): instead of the ledger suite, the
sharded ledger over N databases it creates and drops: transfers/s and p50/p99 with both accounts
on one shard (same-shard) and on two (cross-shard, two-phase commit), beside the single-writer
ledger on one database in the same run; verifies the ledger and that nothing is left prepared.`;

export async function runBench(argv: readonly string[], usage: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { json: { type: 'boolean' }, quick: { type: 'boolean' }, help: { type: 'boolean' }, shards: { type: 'string' } },
  });
  const suite = positionals[0];
  if (values.help === true || (suite !== 'ledger' && suite !== 'api' && suite !== 'payments' && suite !== 'floor' && suite !== 'distributed')) {
    console.log(`${usage}\n\n${shards_usage}`);
    return values.help === true ? 0 : 2;
  }
  const quick = values.quick === true;
  const json = values.json === true;
  const log = (line: string): void => {
    // With --json, progress goes to stderr so stdout stays machine-readable.
    if (json) console.error(line);
    else console.log(line);
  };
  if (values.shards !== undefined) {
    const shards = /^[0-9]+$/.test(values.shards) ? Number.parseInt(values.shards, 10) : Number.NaN;
    if (suite !== 'ledger' || !(shards >= bench_shards_min && shards <= shards_max)) {
      console.error(`--shards takes a whole number from ${bench_shards_min} to ${shards_max}, with the ledger suite\n\n${shards_usage}`);
      return 2;
    }
    return runShards(shards, quick, json, log);
  }
  if (suite === 'payments') {
    log(`payments benchmark: ${quick ? 'quick' : 'full'} run`);
    const result = await runPaymentsBench({ seconds: quick ? 3 : 15, connections: api_connections, log });
    if (json) console.log(JSON.stringify({ ...result, targets: { payments_vs_floor: targets.payments_vs_floor } }, null, 2));
    else printPaymentsResult(result);
    return result.not_succeeded === 0 && result.requests.errors === 0 ? 0 : 1;
  }
  if (suite === 'distributed') {
    const database_url = process.env.DATABASE_URL;
    if (database_url === undefined) {
      console.error('bench distributed needs DATABASE_URL (a PostgreSQL server where it may create and drop a database of its own); NATS_URL and REDIS_URL default to this machine');
      return 2;
    }
    log(`distributed benchmark: ${quick ? 'quick' : 'full'} run`);
    const result = await runDistributedBench({
      seconds: quick ? 3 : 15,
      connections: api_connections,
      wallets: quick ? 50 : 1000,
      log,
      database_url,
      nats_url: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
      redis_url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    });
    if (json) console.log(JSON.stringify({ ...result, targets: { distributed_vs_all_in_one: targets.distributed_vs_all_in_one, distributed_p99_ms_at_half_rate: targets.distributed_p99_ms_at_half_rate } }, null, 2));
    else printDistributedResult(result);
    const clean = [result.all_in_one, result.distributed].every(
      (figures) => figures.wallet.money_conserved && figures.wallet.api.errors === 0 && figures.wallet.api.non_2xx === 0 && figures.payments.not_succeeded === 0,
    );
    return clean ? 0 : 1;
  }
  if (suite === 'floor') {
    log(`floor benchmark: ${quick ? 'quick' : 'full'} run`);
    const layers = await runFloorBench({ seconds: quick ? 3 : 10, connections: api_connections, log });
    if (json) console.log(JSON.stringify({ layers, targets: { api_vs_floor: targets.api_vs_floor, payments_vs_floor: targets.payments_vs_floor } }, null, 2));
    else printFloorResult(layers);
    return layers.every((layer) => layer.non_2xx === 0 && layer.errors === 0) ? 0 : 1;
  }
  if (suite === 'api') {
    log(`API benchmark: ${quick ? 'quick' : 'full'} run`);
    const result = await runApiBench({ seconds: quick ? 3 : 15, connections: api_connections, wallets: quick ? 50 : 1000, log });
    if (json) {
      const api_targets = { api_vs_floor: targets.api_vs_floor, api_p99_ms_at_half_rate: targets.api_p99_ms_at_half_rate, api_p50_ms_at_zero_load: targets.api_p50_ms_at_zero_load };
      console.log(JSON.stringify({ ...result, targets: api_targets }, null, 2));
    }
    else printApiResult(result);
    return result.money_conserved && result.api.non_2xx === 0 && result.api.errors === 0 && result.zero_load.non_2xx === 0 && result.zero_load.errors === 0 ? 0 : 1;
  }
  const database_url = process.env.DATABASE_URL;
  log(`ledger benchmark: ${quick ? 'quick' : 'full'} run${database_url === undefined ? ' (SQLite only: DATABASE_URL is not set)' : ''}`);
  const scenarios = await runScenarios({
    seconds_per_scenario: quick ? 1 : 5,
    accounts: quick ? 10_000 : 100_000,
    database_url,
    pgbench_seconds: quick ? 3 : 20,
    log,
  });
  let pgbench: PgbenchResult | undefined;
  if (database_url !== undefined) {
    log(`  pgbench tpcb-like, 8 clients, ${quick ? 3 : 20} s ...`);
    pgbench = await runPgbench(database_url, quick ? 3 : 20);
  }
  const http = await runLedgerHttpBench({
    accounts: quick ? 10_000 : 100_000,
    bodies: quick ? 8 : 64,
    seconds_max: quick ? 10 : 30,
    in_flight: ledger_http_in_flight,
    log,
  });
  log('  memory for 1,000,000 accounts ...');
  const memory = measureAccountMemory(quick ? 100_000 : 1_000_000);

  const summary = summarize(scenarios, pgbench, http);
  if (json) {
    console.log(JSON.stringify({ scenarios, pgbench, http, memory, summary, targets }, null, 2));
  } else {
    printTable(scenarios, pgbench, memory, summary);
    printLedgerHttp(http, pgbench, summary);
  }
  const http_clean = [http.json, http.binary].every((run) => run.errors === 0 && run.transfers_not_ok === 0);
  return http.money.conserved && http_clean ? 0 : 1;
}

async function runShards(shards: number, quick: boolean, json: boolean, log: (line: string) => void): Promise<number> {
  const database_url = process.env.DATABASE_URL;
  if (database_url === undefined) {
    console.error('bench ledger --shards needs DATABASE_URL (a PostgreSQL server where it may create and drop databases of its own, with max_prepared_transactions above 0)');
    return 2;
  }
  log(`sharded ledger benchmark: ${quick ? 'quick' : 'full'} run, ${shards} shards`);
  const result = await runShardedLedgerBench({ database_url, shards, seconds_per_phase: quick ? 3 : 10, accounts: quick ? 10_000 : 100_000, log });
  if (json) console.log(JSON.stringify({ ...result, targets: { ledger_cross_shard_vs_same_shard: targets.ledger_cross_shard_vs_same_shard } }, null, 2));
  else printShardedLedger(result);
  // Every phase throws on a transfer that is not 'ok', so reaching here means they all were.
  return result.verify.ok && result.prepared_left === 0 ? 0 : 1;
}

function printShardedLedger(result: ShardedLedgerBenchResult): void {
  const load = (values: readonly number[]) => values.map((value) => value.toFixed(2)).join(' ');
  console.log('');
  console.log(
    `sharded ledger, ${result.shards} PostgreSQL databases on one server (accounts per shard ${result.accounts_per_shard.map((count) => count.toLocaleString('en-US')).join(', ')}), ${result.seconds_per_phase} s per phase, in-process; load average ${load(result.load_average_before)} before, ${load(result.load_average_after)} after`,
  );
  const header = ['client batch', 'in flight', 'phase', 'transfers/s', 'p50 ms', 'p99 ms'];
  const rows = result.configurations.flatMap((configuration) =>
    ([['single (one database)', configuration.single], ['same-shard', configuration.same_shard], ['cross-shard', configuration.cross_shard]] as const).map(([name, phase]) => [
      String(configuration.client_batch),
      String(configuration.concurrency),
      name,
      Math.round(phase.transfers_per_second).toLocaleString('en-US'),
      phase.p50_ms.toFixed(1),
      phase.p99_ms.toFixed(1),
    ]),
  );
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((cell, column) => cell.padStart(widths[column] ?? 0)).join('  ');
  console.log(line(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) console.log(line(row));
  console.log('');
  for (const configuration of result.configurations) {
    const cross = configuration.cross_shard;
    const per_round = cross.batches.rounds === 0 ? 0 : cross.transfers / cross.batches.rounds;
    console.log(
      `batch ${configuration.client_batch} x ${configuration.concurrency}: cross-shard / same-shard ${(configuration.cross_vs_same_shard * 100).toFixed(0)}% (target ${targets.ledger_cross_shard_vs_same_shard * 100}%), same-shard / single ${(configuration.same_shard_vs_single * 100).toFixed(0)}%; cross-shard rounds ${(cross.batches.rounds / cross.seconds).toFixed(0)}/s of ${per_round.toFixed(0)} transfers`,
    );
  }
  const verify = result.verify;
  console.log(
    `verify: ${verify.ok ? 'ok' : `FAILED: ${verify.problem ?? 'no reason given'}`} (${verify.batches.toLocaleString('en-US')} batches, ${verify.accounts.toLocaleString('en-US')} accounts, ${verify.transfers.toLocaleString('en-US')} transfer rows on all shards); prepared transactions left: ${result.prepared_left}`,
  );
}

interface Summary {
  best_postgres_tps?: number;
  postgres_vs_pgbench?: number;
  best_sqlite_tps: number;
  hot_vs_uniform: Record<string, number>;
  http_json_vs_pgbench?: number;
  http_binary_vs_pgbench?: number;
}

function summarize(scenarios: readonly ScenarioResult[], pgbench: PgbenchResult | undefined, http: LedgerHttpResult): Summary {
  const best = (store: string) => Math.max(0, ...scenarios.filter((s) => s.store === store).map((s) => s.transfers_per_second));
  const hot_vs_uniform: Record<string, number> = {};
  for (const hot of scenarios.filter((s) => s.distribution === 'hot')) {
    const uniform = scenarios.find((s) => s.distribution === 'uniform' && s.store === hot.store && s.client_batch === hot.client_batch);
    if (uniform !== undefined) hot_vs_uniform[`${hot.store}/batch ${hot.client_batch}`] = hot.transfers_per_second / uniform.transfers_per_second;
  }
  const best_postgres_tps = best('postgres');
  return {
    best_sqlite_tps: best('sqlite'),
    hot_vs_uniform,
    ...(pgbench === undefined
      ? {}
      : {
          best_postgres_tps,
          postgres_vs_pgbench: best_postgres_tps / pgbench.tps,
          http_json_vs_pgbench: http.json.transfers_per_second / pgbench.tps,
          http_binary_vs_pgbench: http.binary.transfers_per_second / pgbench.tps,
        }),
  };
}

function printLedgerHttp(http: LedgerHttpResult, pgbench: PgbenchResult | undefined, summary: Summary): void {
  console.log('');
  console.log(
    `ledger over HTTP (npm start's platform, embedded SQLite; a child process posts pre-built bodies of ${http.json.events_per_request.toLocaleString('en-US')} transfers, ${http.in_flight} in flight; ${http.accounts.toLocaleString('en-US')} accounts):`,
  );
  for (const [run, ratio, target] of [
    [http.json, summary.http_json_vs_pgbench, targets.ledger_http_json_vs_pgbench],
    [http.binary, summary.http_binary_vs_pgbench, targets.ledger_http_binary_vs_pgbench],
  ] as const) {
    const versus = ratio === undefined ? 'no pgbench figure: DATABASE_URL is not set' : `${ratio.toFixed(1)}x pgbench (target ${target}x)`;
    console.log(
      `  ${run.encoding.padEnd(6)} ${Math.round(run.transfers_per_second).toLocaleString('en-US').padStart(9)} transfers/s = ${versus}; ${run.requests} requests of ${(run.body_bytes / 2 ** 20).toFixed(2)} MiB in ${run.seconds.toFixed(1)} s, p50 ${run.p50_ms.toFixed(0)} ms, p99 ${run.p99_ms.toFixed(0)} ms, ${run.transfers_not_ok} not ok, ${run.errors} errors`,
    );
  }
  if (pgbench !== undefined) console.log(`  pgbench tpcb-like (8 clients, ${pgbench.seconds} s, same run): ${Math.round(pgbench.tps).toLocaleString('en-US')} TPS`);
  const money = http.money;
  console.log(
    `  money conserved: ${money.conserved ? 'yes' : 'NO'} (${money.accounts.toLocaleString('en-US')} accounts read back: debits posted ${money.debits_posted}, credits posted ${money.credits_posted}, pending ${money.debits_pending}/${money.credits_pending}, transfers of 1 acknowledged ${money.transfers_acknowledged})`,
  );
}

function printTable(
  scenarios: readonly ScenarioResult[],
  pgbench: PgbenchResult | undefined,
  memory: { accounts: number; rss_mb: number; baseline_rss_mb: number; heap_used_mb: number },
  summary: Summary,
): void {
  const rows = scenarios.map((s) => [
    s.store,
    s.distribution,
    String(s.client_batch),
    String(s.concurrency),
    Math.round(s.transfers_per_second).toLocaleString('en-US'),
    s.p50_ms.toFixed(2),
    s.p99_ms.toFixed(2),
  ]);
  const header = ['store', 'accounts', 'client batch', 'in flight', 'transfers/s', 'p50 ms', 'p99 ms'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((cell, column) => cell.padStart(widths[column] ?? 0)).join('  ');
  console.log('');
  console.log(line(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) console.log(line(row));
  console.log('');
  if (pgbench !== undefined && summary.postgres_vs_pgbench !== undefined) {
    console.log(`pgbench tpcb-like (8 clients, ${pgbench.seconds} s): ${Math.round(pgbench.tps).toLocaleString('en-US')} TPS`);
    console.log(
      `ledger on PostgreSQL, best: ${Math.round(summary.best_postgres_tps ?? 0).toLocaleString('en-US')} transfers/s = ${summary.postgres_vs_pgbench.toFixed(1)}x pgbench (target ${targets.postgres_vs_pgbench}x)`,
    );
  }
  console.log(`ledger on SQLite, best: ${Math.round(summary.best_sqlite_tps).toLocaleString('en-US')} transfers/s (target ${targets.sqlite_transfers_per_second.toLocaleString('en-US')})`);
  for (const [scenario, ratio] of Object.entries(summary.hot_vs_uniform)) {
    console.log(`hot account vs uniform, ${scenario}: ${(ratio * 100).toFixed(0)}% (target ${targets.hot_vs_uniform * 100}%)`);
  }
  console.log(
    `memory: ${memory.accounts.toLocaleString('en-US')} accounts in memory, process RSS ${memory.rss_mb.toFixed(0)} MB (${memory.baseline_rss_mb.toFixed(0)} MB before the accounts; heap ${memory.heap_used_mb.toFixed(0)} MB) (target ${targets.rss_mb_for_million_accounts} MB for 1,000,000)`,
  );
}

function printApiResult(result: ApiBenchResult): void {
  const row = (name: string, load: ApiBenchResult['api']) =>
    `${name.padEnd(58)} ${Math.round(load.requests_per_second).toLocaleString('en-US').padStart(9)} req/s   p50 ${load.p50_ms.toFixed(1).padStart(6)} ms   p99 ${load.p99_ms.toFixed(1).padStart(6)} ms   (${load.requests.toLocaleString('en-US')} requests, ${load.non_2xx} non-2xx, ${load.errors} errors)`;
  console.log('');
  console.log(`${result.connections} connections, ${result.seconds} s each, autocannon in this process`);
  console.log(row('signed wallet transfers (API)', result.api));
  console.log(row(`floor: ${floor_last_layer_name}`, result.floor));
  console.log(row(`floor ${commit_floor_name}`, result.commit_floor.saturated));
  console.log(row('bare Fastify answering {} (the yardstick)', result.bare));
  console.log(row(`API at half rate (${result.half_rate.target_rate}/s)`, result.half_rate));
  console.log('');
  console.log(`API / floor (same run): ${(result.ratio_vs_floor * 100).toFixed(0)}% (target ${targets.api_vs_floor * 100}%); API / bare Fastify: ${(result.ratio * 100).toFixed(0)}%`);
  const commit = result.commit_floor;
  console.log(
    `floor with its one durable ledger commit / floor: ${((commit.saturated.requests_per_second / result.floor.requests_per_second) * 100).toFixed(0)}% (no API figure can pass it); API / that: ${(result.ratio_vs_commit_floor * 100).toFixed(0)}%`,
  );
  if (commit.paced !== undefined) console.log(`floor with its one durable ledger commit at the API's half rate (${commit.paced.rate}/s): p50 ${commit.paced.p50_ms.toFixed(1)} ms, p99 ${commit.paced.p99_ms.toFixed(1)} ms`);
  console.log(`floor with its one durable ledger commit, one request at a time: p50 ${commit.zero_load.p50_ms.toFixed(2)} ms, p99 ${commit.zero_load.p99_ms.toFixed(2)} ms`);
  console.log(`API p99 at half rate: ${result.half_rate.p99_ms.toFixed(1)} ms (target under ${targets.api_p99_ms_at_half_rate} ms)`);
  console.log(
    `one transfer at zero load: p50 ${result.zero_load.p50_ms.toFixed(2)} ms (target at most ${targets.api_p50_ms_at_zero_load} ms), p99 ${result.zero_load.p99_ms.toFixed(2)} ms over ${result.zero_load.requests} sequential signed transfers (${result.zero_load.non_2xx} non-2xx, ${result.zero_load.errors} errors)`,
  );
  console.log(`money conserved across all wallets: ${result.money_conserved ? 'yes' : 'NO'}`);
}

function printDistributedResult(result: DistributedBenchResult): void {
  const load = (figures: DistributedBenchResult['all_in_one']['wallet']['api']) =>
    `${Math.round(figures.requests_per_second).toLocaleString('en-US').padStart(7)} req/s  p50 ${figures.p50_ms.toFixed(1).padStart(6)} ms  p99 ${figures.p99_ms.toFixed(1).padStart(6)} ms  (${figures.non_2xx} non-2xx, ${figures.errors} errors)`;
  console.log('');
  console.log(`${result.connections} connections, ${result.seconds} s each, autocannon in this process, both deployments on this machine`);
  for (const [name, figures] of [['all in one process', result.all_in_one], ['every service its own process', result.distributed]] as const) {
    console.log(`${name}:`);
    console.log(`  wallet transfers           ${load(figures.wallet.api)}`);
    console.log(`  at half rate (${String(figures.wallet.half_rate.target_rate).padStart(5)}/s)     ${load(figures.wallet.half_rate)}`);
    console.log(`  one transfer at a time     p50 ${figures.wallet.zero_load.p50_ms.toFixed(2)} ms, p99 ${figures.wallet.zero_load.p99_ms.toFixed(2)} ms`);
    console.log(`  card payments              ${Math.round(figures.payments.payments_per_second).toLocaleString('en-US')} payments/s (${figures.payments.succeeded} succeeded, ${figures.payments.not_succeeded} not), API ${load(figures.payments.requests)}`);
    console.log(`  money conserved            ${figures.wallet.money_conserved ? 'yes' : 'NO'}`);
  }
  console.log('');
  console.log(`distributed / all-in-one wallet transfers: ${(result.wallet_ratio * 100).toFixed(0)}% (target ${targets.distributed_vs_all_in_one * 100}%); card payments: ${(result.payments_ratio * 100).toFixed(0)}%`);
  console.log(`distributed p99 at half rate: ${result.distributed.wallet.half_rate.p99_ms.toFixed(1)} ms (target under ${targets.distributed_p99_ms_at_half_rate} ms)`);
  printCpuAccounting(result);
}

/**
 * CPU milliseconds per request (per payment for card payments) of every process, beside the
 * throughput that CPU alone would allow on this machine's cores and the throughput measured.
 */
function printCpuAccounting(result: DistributedBenchResult): void {
  const phases = (figures: DistributedBenchResult['all_in_one']) =>
    [
      ['wallet transfers, saturated', figures.wallet.cpu?.saturated, figures.wallet.api.requests_per_second],
      ['wallet transfers, half rate', figures.wallet.cpu?.half_rate, figures.wallet.half_rate.requests_per_second],
      ['card payments, saturated', figures.payments.cpu, figures.payments.payments_per_second],
    ] as const;
  const load = (values: readonly number[]) => values.map((value) => value.toFixed(2)).join(' ');
  for (const [deployment, figures] of [['all in one process', result.all_in_one], ['every service its own process', result.distributed]] as const) {
    const idle = figures.idle;
    console.log('');
    console.log(`CPU per second with no requests, ${deployment}: ${idle.wall_seconds.toFixed(1)} s, load average ${load(idle.load_average_before)} before, ${load(idle.load_average_after)} after`);
    for (const line of idle.lines) console.log(`  ${line.name.padEnd(52)} ${line.cpu_ms_per_unit.toFixed(3).padStart(8)} ms`);
    console.log(`  ${'Paygrid and its PostgreSQL backends'.padEnd(52)} ${idle.attributable_ms_per_unit.toFixed(3).padStart(8)} ms`);
    for (const [phase, account, measured] of phases(figures)) {
      if (account === undefined) continue;
      console.log('');
      console.log(
        `CPU per ${account.unit}, ${deployment}, ${phase}: ${account.units.toLocaleString('en-US')} ${account.unit}s in ${account.wall_seconds.toFixed(1)} s, load average ${load(account.load_average_before)} before, ${load(account.load_average_after)} after`,
      );
      for (const line of account.lines) console.log(`  ${line.name.padEnd(52)} ${line.cpu_ms_per_unit.toFixed(3).padStart(8)} ms`);
      printCpuTotals(account, measured);
    }
  }
}

function printCpuTotals(account: CpuAccount, measured_per_second: number): void {
  const per_second = (value: number) => Math.round(value).toLocaleString('en-US');
  console.log(`  ${'Paygrid and its PostgreSQL backends'.padEnd(52)} ${account.attributable_ms_per_unit.toFixed(3).padStart(8)} ms`);
  console.log(`  ${'with the shared servers'.padEnd(52)} ${account.with_shared_ms_per_unit.toFixed(3).padStart(8)} ms`);
  console.log(`  ${'with the load generator too'.padEnd(52)} ${account.with_load_generator_ms_per_unit.toFixed(3).padStart(8)} ms`);
  console.log(
    `  bound on ${account.cores} cores: ${per_second(account.bound_per_second)} ${account.unit}s/s from Paygrid's own CPU, ${per_second(account.bound_per_second_with_everything)}/s with everything charged; measured ${per_second(measured_per_second)}/s (${((measured_per_second / account.bound_per_second_with_everything) * 100).toFixed(0)}% of the latter)`,
  );
}

function printPaymentsResult(result: PaymentsBenchResult): void {
  const load = result.requests;
  console.log('');
  console.log(`${result.connections} connections, ${result.seconds} s each, autocannon in this process; a payment is a token, a create and a confirm`);
  console.log(`card payments: ${Math.round(result.payments_per_second).toLocaleString('en-US')} payments/s (${result.succeeded} succeeded, ${result.not_succeeded} not)`);
  console.log(
    `API requests: ${Math.round(load.requests_per_second).toLocaleString('en-US')} req/s, p50 ${load.p50_ms.toFixed(1)} ms, p99 ${load.p99_ms.toFixed(1)} ms (${load.non_2xx} non-2xx, ${load.errors} errors)`,
  );
  console.log(`floor, ${floor_last_layer_name} (same run): ${Math.round(result.floor.requests_per_second).toLocaleString('en-US')} req/s, p99 ${result.floor.p99_ms.toFixed(1)} ms`);
  console.log(`bare Fastify answering {} (the yardstick): ${Math.round(result.bare.requests_per_second).toLocaleString('en-US')} req/s, p50 ${result.bare.p50_ms.toFixed(1)} ms, p99 ${result.bare.p99_ms.toFixed(1)} ms`);
  console.log(`API req/s / floor req/s: ${(result.requests_ratio_vs_floor * 100).toFixed(1)}% (target ${targets.payments_vs_floor * 100}%)`);
  console.log(`payments/s / bare req/s: ${(result.payments_ratio * 100).toFixed(1)}%; API req/s / bare req/s: ${(result.requests_ratio * 100).toFixed(1)}%`);
}

function printFloorResult(layers: readonly FloorLayerResult[]): void {
  console.log('');
  console.log(`POST /, ${api_connections} connections, autocannon in this process; each layer adds to the one above it`);
  for (const layer of layers) {
    console.log(`${layer.name.padEnd(56)} ${Math.round(layer.requests_per_second).toLocaleString('en-US').padStart(7)} req/s  ${(layer.ratio * 100).toFixed(0).padStart(3)}%   p99 ${layer.p99_ms.toFixed(1)} ms`);
  }
  console.log(
    `No API figure can pass the last gateway layer's share. \`bench api\` and \`bench payments\` measure that layer in their own runs; their targets are ${targets.api_vs_floor * 100}% and ${targets.payments_vs_floor * 100}% of it.`,
  );
  console.log(`The commit layer ("${commit_floor_name}") is not a gateway layer: it is the most a request that waits for one durable ledger commit can reach here, with no service's own work.`);
}
