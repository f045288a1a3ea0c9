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
import { freePort, measureCardPayments, measureWalletTransfers, startBenchPlatform, startChild, stopChild, type ApiBenchOptions, type CardPaymentsResult, type WalletTransfersResult } from './api';

export interface DeploymentFigures {
  readonly wallet: WalletTransfersResult;
  readonly payments: CardPaymentsResult;
}

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

async function measureDeployment(options: Omit<ApiBenchOptions, 'log'> & { readonly log: (line: string) => void; readonly url: string; readonly operator_key: string }): Promise<DeploymentFigures> {
  const wallet = await measureWalletTransfers(options);
  const payments = await measureCardPayments(options);
  return { wallet, payments };
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
    const all_in_one = await measureDeployment({ ...options, url, operator_key });
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
    const supervisor = await startChild([cli, 'distributed'], env, /Paygrid \(distributed\) is running at/);
    children.push(supervisor);
    const distributed = await measureDeployment({ ...options, url: `http://127.0.0.1:${port}`, operator_key });
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
