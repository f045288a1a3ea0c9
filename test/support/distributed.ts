// Starts the distributed mode (every service its own process, as `npm run start:distributed`
// does) against the PostgreSQL, NATS and Redis on this machine, each with names of its own: a
// fresh database, a stream prefix and a cache key prefix, all removed on stop.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { temporaryDirectory, type InfrastructureUrls } from '@paygrid/kernel/testing';
import { distributed_stages, startDistributed, type RunningDistributed } from '../../apps/cli/src/distributed';
import type { Deployment } from './acceptance';
import { freePortRange } from './platform';

async function administer(postgres_url: string, sql: string): Promise<void> {
  // Any database of the server will do to create or drop another one.
  const client = new pg.Client({ connectionString: postgres_url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export interface DistributedTestDeployment extends Deployment {
  readonly running: RunningDistributed;
  /** The deployment's own database, for tests that read it or verify its ledger. */
  readonly database_url: string;
  /** Every line the processes printed, for a failing test to show. */
  readonly output: string[];
  stop(): Promise<boolean>;
}

export async function startDistributedTestDeployment(urls: InfrastructureUrls, env: Record<string, string> = {}): Promise<DistributedTestDeployment> {
  const name = `paygrid_dist_${randomBytes(5).toString('hex')}`;
  await administer(urls.postgres, `CREATE DATABASE ${name}`);
  const directory = await temporaryDirectory();
  const operator_key = `op-dist-${randomBytes(24).toString('hex')}`;
  const output: string[] = [];
  const database_url = new URL(urls.postgres);
  database_url.pathname = `/${name}`;
  let running: RunningDistributed;
  try {
    running = await startDistributed({
      env: {
        ...process.env,
        DATA_DIR: directory.path,
        DATABASE_URL: database_url.toString(),
        NATS_URL: urls.nats,
        REDIS_URL: urls.redis,
        BUS_STREAM_PREFIX: name,
        CACHE_KEY_PREFIX: `${name}:`,
        PAYGRID_OPERATOR_KEY: operator_key,
        // The gateway listens on PORT and the other processes on the ports after it.
        PORT: String(await freePortRange(distributed_stages.flat().reduce((sum, stage) => sum + stage.instances, 0))),
        LOG_LEVEL: 'warn',
        // The suites' webhook receivers listen on 127.0.0.1.
        WEBHOOK_TEST_MODE_PRIVATE_URLS: 'true',
        // Failed deliveries come back within the suite's patience.
        WEBHOOK_RETRY_SCHEDULE_MS: '50,100,200,400,800',
        ...env,
      },
      print: (line) => output.push(line),
    });
  } catch (error) {
    await directory.remove();
    await administer(urls.postgres, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    throw new Error(`the distributed mode did not start: ${(error as Error).message}\n${output.join('\n')}`, { cause: error });
  }
  const sandboxes = { alipay: running.simulators.alipay?.url ?? '', wechat_pay: running.simulators.wechat_pay?.url ?? '' };
  return {
    url: running.url,
    operator_key,
    sandboxes,
    running,
    database_url: database_url.toString(),
    output,
    stop: async () => {
      const clean = await running.stop();
      await directory.remove();
      await administer(urls.postgres, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      return clean;
    },
  };
}
