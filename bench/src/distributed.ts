// The distributed benchmark: the API and payments benchmarks against the multi-process deployment
// (`paygrid distributed`: every service its own process on PostgreSQL, NATS and Redis, two
// payments instances) beside the same benchmarks against the all-in-one process as `npm start`
// runs it, in the same run on the same machine, so that only the ratio between them counts.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { freePort, measureCardPayments, measureWalletTransfers, startBenchPlatform, startChildWithOutput, stopChild, type ApiBenchOptions, type CardPaymentsResult, type WalletTransfersResult } from './api';
import { CpuMeter, load_generator, osProcesses, paygridProcess, postgresSources, sharedServers, type CpuAccount, type CpuSource } from './cpu';

export interface DeploymentFigures {
  /** CPU each process uses per second with no requests at all: relays, pollers, timers. */
  readonly idle: CpuAccount;
  readonly wallet: WalletTransfersResult;
  readonly payments: CardPaymentsResult;
}

/** How long the idle CPU is measured, before any load. */
const idle_seconds = 5;

export interface DistributedBenchResult {
  readonly connections: number;
  readonly seconds: number;
  readonly all_in_one: DeploymentFigures;
  readonly distributed: DeploymentFigures;
  /** Distributed wallet transfers/s divided by the all-in-one's. */
  readonly wallet_ratio: number;
  /** Distributed card payments/s divided by the all-in-one's. */
  readonly payments_ratio: number;
}

const repository = resolve(import.meta.dirname, '../..');
const cli = join(repository, 'apps/cli/bin/paygrid.js');

/** The benchmark is one client sending as fast as it can; per-key limits would measure the limiter. */
const unlimited_rate = { GATEWAY_RATE_LIMIT_PER_SECOND: '1000000', GATEWAY_RATE_LIMIT_BURST: '1000000' };

async function administer(admin_url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: admin_url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * The supervisor's list of its processes (`  payments-2:  pid 1234, port 8087`), printed once all
 * are ready; the gateway is the last one listed.
 */
const process_line = /^ {2}([a-z]+(?:-\d+)?): +pid (\d+), port (\d+)$/gm;
const supervisor_ready = /^ {2}gateway: +pid \d+, port \d+$/m;

export function parseSupervisorProcesses(output: string): { readonly name: string; readonly pid: number; readonly port: number }[] {
  return [...output.matchAll(process_line)].map((match) => ({ name: match[1] ?? '', pid: Number(match[2]), port: Number(match[3]) }));
}

async function measureDeployment(
  options: Omit<ApiBenchOptions, 'log'> & { readonly log: (line: string) => void; readonly url: string; readonly operator_key: string; readonly cpu_meter: CpuMeter },
): Promise<DeploymentFigures> {
  options.log(`  idle, ${idle_seconds} s ...`);
  const { cpu: idle } = await options.cpu_meter.measure('second', async () => new Promise((done) => setTimeout(done, idle_seconds * 1_000)), () => idle_seconds);
  const wallet = await measureWalletTransfers(options);
  const payments = await measureCardPayments(options);
  return { idle, wallet, payments };
}

export async function runDistributedBench(options: ApiBenchOptions & { readonly database_url: string; readonly nats_url: string; readonly redis_url: string }): Promise<DistributedBenchResult> {
  const data_dir = mkdtempSync(join(tmpdir(), 'paygrid-distributed-bench-'));
  const operator_key = `op-bench-${randomBytes(24).toString('hex')}`;
  const children: ChildProcess[] = [];
  const database = `paygrid_bench_${randomBytes(5).toString('hex')}`;
  let database_made = false;
  try {
    options.log('  all in one process (npm start: SQLite, in-memory cache and bus) ...');
    const { child: platform, url } = await startBenchPlatform(join(data_dir, 'all-in-one'), operator_key);
    children.push(platform);
    // The all-in-one process serves /metrics on its one port to the operator key, as every process does.
    const all_in_one_meter = new CpuMeter([paygridProcess('all in one (paygrid start)', url, operator_key), ...sharedServers(), load_generator]);
    const all_in_one = await measureDeployment({ ...options, url, operator_key, cpu_meter: all_in_one_meter });
    await stopChild(platform);

    options.log('  every service its own process (PostgreSQL, NATS JetStream, Redis; two payments instances) ...');
    await administer(options.database_url, `CREATE DATABASE ${database}`);
    database_made = true;
    const database_url = new URL(options.database_url);
    database_url.pathname = `/${database}`;
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...unlimited_rate,
      DATA_DIR: join(data_dir, 'distributed'),
      DATABASE_URL: database_url.toString(),
      NATS_URL: options.nats_url,
      REDIS_URL: options.redis_url,
      BUS_STREAM_PREFIX: database,
      CACHE_KEY_PREFIX: `${database}:`,
      PAYGRID_OPERATOR_KEY: operator_key,
      PORT: String(port),
      LOG_LEVEL: 'warn',
    };
    const { child: supervisor, output } = await startChildWithOutput([cli, 'distributed'], env, supervisor_ready);
    children.push(supervisor);
    const supervisor_pid = supervisor.pid;
    const sources: CpuSource[] = [
      ...parseSupervisorProcesses(output).map((entry) => paygridProcess(entry.name, `http://127.0.0.1:${entry.port}`, operator_key)),
      // The supervisor only relays its processes' output, which LOG_LEVEL=warn keeps quiet; it is counted all the same.
      osProcesses('supervisor (paygrid distributed)', 'paygrid', () => (supervisor_pid === undefined ? [] : [supervisor_pid])),
      ...(await postgresSources(options.database_url, database)),
      ...sharedServers(),
      load_generator,
    ];
    const distributed = await measureDeployment({ ...options, url: `http://127.0.0.1:${port}`, operator_key, cpu_meter: new CpuMeter(sources) });
    await stopChild(supervisor);
    return {
      connections: options.connections,
      seconds: options.seconds,
      all_in_one,
      distributed,
      wallet_ratio: distributed.wallet.api.requests_per_second / all_in_one.wallet.api.requests_per_second,
      payments_ratio: distributed.payments.payments_per_second / all_in_one.payments.payments_per_second,
    };
  } finally {
    for (const child of children) await stopChild(child);
    if (database_made) await administer(options.database_url, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    rmSync(data_dir, { recursive: true, force: true });
  }
}
