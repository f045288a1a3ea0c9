// The API benchmark: signed peer-to-peer wallet transfers through the public HTTP API, with a
// fixed number of concurrent connections, against the floor's last layer (floor.ts: a server that
// does only what every signed POST to /v1 must, with no service behind it) measured with the same
// load generator on the same machine in the same run, and beside a bare Fastify server answering
// `{}`, the yardstick. Before the load, the latency of one transfer at a time (zero-load.ts); after
// it, the API again at half the rate it reached, evenly paced (paced-load.ts says why not
// autocannon's rate), for its latency under a steady load.
//
// The platform runs as `paygrid start` does (embedded SQLite, in-memory cache) in a child
// process; the bare and floor servers run in others; autocannon drives them from this process.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { Paygrid } from '@paygrid/sdk';
import { signRequest } from '@paygrid/sdk/signing';
import type { CpuAccount, CpuMeter } from './cpu';
import { measureCommitFloor, measureFloorLastLayer, type CommitFloorResult } from './floor';
import { pacedLoad } from './paced-load';
import { measureZeroLoad, type ZeroLoadResult } from './zero-load';

export interface ApiBenchOptions {
  readonly seconds: number;
  readonly connections: number;
  readonly wallets: number;
  readonly log: (line: string) => void;
}

export interface LoadResult {
  readonly requests_per_second: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly requests: number;
  readonly non_2xx: number;
  readonly errors: number;
}

export interface ApiBenchResult {
  readonly connections: number;
  readonly seconds: number;
  readonly api: LoadResult;
  /** The floor's last layer, measured in this run: the figure the target is stated against. */
  readonly floor: LoadResult;
  /** API requests/s divided by the floor's last layer's. */
  readonly ratio_vs_floor: number;
  /**
   * The floor's last layer plus one durable ledger transfer per request, measured in this run as
   * the API is (one at a time, saturated, at the API's half rate): the most a money movement that
   * waits for one durable commit can reach here, with no wallet work.
   */
  readonly commit_floor: CommitFloorResult;
  /** API requests/s divided by the commit floor's. */
  readonly ratio_vs_commit_floor: number;
  readonly bare: LoadResult;
  /** API requests/s divided by the bare server's (the yardstick, kept for comparison with earlier runs). */
  readonly ratio: number;
  readonly half_rate: LoadResult & { readonly target_rate: number };
  /** One signed transfer at a time on an idle platform. */
  readonly zero_load: ZeroLoadResult;
  /** Every wallet's balance summed after the run, against what was topped up: must be equal. */
  readonly money_conserved: boolean;
}

const repository = resolve(import.meta.dirname, '../..');
const cli = join(repository, 'apps/cli/bin/paygrid.js');
const top_up_per_wallet = 1_000_000_000;
const start_timeout_ms = 60_000;
/** The pause between the saturated run and the half-rate run. */
const settle_between_runs_ms = 3_000;
/** Zero-load latency: transfers sent one at a time, first to warm up, then measured. */
const zero_load_warm_up = 50;
const zero_load_requests = 200;

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') throw new Error('could not find a free port');
  return address.port;
}

/** Spawns a server and resolves once it prints `ready_pattern`. */
export async function startChild(args: readonly string[], env: NodeJS.ProcessEnv, ready_pattern: RegExp): Promise<ChildProcess> {
  return (await startChildWithOutput(args, env, ready_pattern)).child;
}

/** Spawns a server and resolves once it prints `ready_pattern`, with what it printed up to then (what it says about itself). */
export async function startChildWithOutput(args: readonly string[], env: NodeJS.ProcessEnv, ready_pattern: RegExp): Promise<{ child: ChildProcess; output: string }> {
  const child = spawn(process.execPath, [...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`server did not start:\n${output}`)), start_timeout_ms);
    const listen = (chunk: Buffer) => {
      output += chunk.toString();
      if (ready_pattern.test(output)) {
        clearTimeout(timer);
        done();
      }
    };
    child.stdout?.on('data', listen);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => fail(new Error(`server exited with ${code}:\n${output}`)));
  });
  child.removeAllListeners('exit');
  return { child, output };
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  await exited;
}

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  /** One request, or a sequence that each connection sends in turn (later ones may use earlier answers). */
  readonly requests: autocannon.Request[];
}

export async function load(options: LoadOptions): Promise<LoadResult> {
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    requests: options.requests,
  });
  return {
    requests_per_second: result.requests.average,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    requests: result.requests.total,
    non_2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

/** A bare Fastify server answering `{}`: the yardstick for what one Node.js process can serve here. */
const bare_server = join(repository, 'bench/src/bare-server.ts');

/** The yardstick: a bare Fastify server answering {}, with the same load generator and connections. */
async function measureBareServer(options: { readonly connections: number; readonly seconds: number; readonly log: (line: string) => void }, children: ChildProcess[]): Promise<LoadResult> {
  const bare_port = await freePort();
  options.log(`  bare Fastify answering {}, ${options.connections} connections, ${options.seconds} s ...`);
  children.push(await startChild(['--import', 'tsx', bare_server], { ...process.env, PORT: String(bare_port) }, /bare server at/));
  return load({
    url: `http://127.0.0.1:${bare_port}`,
    connections: options.connections,
    seconds: options.seconds,
    requests: [{ method: 'POST', path: '/', setupRequest: (request) => ({ ...request, body: '{"amount":1}', headers: { 'content-type': 'application/json' } }) }],
  });
}

/** Starts `paygrid start` as `npm start` runs it (embedded SQLite, in-memory cache) on a free port. */
export async function startBenchPlatform(data_dir: string, operator_key: string): Promise<{ child: ChildProcess; url: string }> {
  const api_port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: data_dir,
    PORT: String(api_port),
    PAYGRID_OPERATOR_KEY: operator_key,
    LOG_LEVEL: 'warn',
    // The benchmark is one client sending as fast as it can; per-key limits would measure the limiter.
    GATEWAY_RATE_LIMIT_PER_SECOND: '1000000',
    GATEWAY_RATE_LIMIT_BURST: '1000000',
  };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  // PAYGRID_BENCH_NODE_ARGS passes flags to the platform's node, e.g. "--cpu-prof" to profile it.
  const node_args = (process.env.PAYGRID_BENCH_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');
  const child = await startChild([...node_args, cli, 'start'], env, /Paygrid is running at/);
  return { child, url: `http://127.0.0.1:${api_port}` };
}

export interface WalletTransfersResult {
  readonly api: LoadResult;
  readonly half_rate: LoadResult & { readonly target_rate: number };
  readonly zero_load: ZeroLoadResult;
  readonly money_conserved: boolean;
  /** CPU per request of the saturated and the half-rate runs, when a meter was given. */
  readonly cpu?: { readonly saturated: CpuAccount; readonly half_rate: CpuAccount };
}

/** Runs a phase under the meter when there is one, and plainly when there is none. */
async function metered<T>(meter: CpuMeter | undefined, unit: string, phase: () => Promise<T>, units: (result: T) => number): Promise<{ result: T; cpu: CpuAccount | undefined }> {
  if (meter === undefined) return { result: await phase(), cpu: undefined };
  return meter.measure(unit, phase, units);
}

/**
 * Signed peer-to-peer wallet transfers through the API at `url`, in whichever mode it runs: one at
 * a time, then saturated with `connections`, then at half the rate reached, evenly paced; then
 * every wallet's balance summed against what was topped up.
 */
export async function measureWalletTransfers(
  options: Pick<ApiBenchOptions, 'connections' | 'seconds' | 'wallets' | 'log'> & { readonly url: string; readonly operator_key: string; readonly cpu_meter?: CpuMeter },
): Promise<WalletTransfersResult> {
  const { url } = options;
  options.log(`  ${options.wallets} funded wallets ...`);
  const operator = new Paygrid({ api_key: options.operator_key, base_url: url });
  const merchant = await operator.merchants.create({ name: 'Bench' });
  const client = new Paygrid({ api_key: merchant.secret_key, signing_secret: merchant.signing_secret, base_url: url });
  const wallets: string[] = [];
  for (let index = 0; index < options.wallets; index += 1) {
    const customer = await client.customers.create({ name: `Customer ${index}` });
    const wallet = await client.wallets.create({ customer: customer.id, currency: 'usd' });
    await client.wallets.topUp(wallet.id, { amount: top_up_per_wallet });
    wallets.push(wallet.id);
  }

  const transfer_path = '/v1/wallet_transfers';
  const signedTransfer = (): { body: string; headers: Record<string, string> } => {
    const source_index = Math.floor(Math.random() * wallets.length);
    const destination_index = (source_index + 1 + Math.floor(Math.random() * (wallets.length - 1))) % wallets.length;
    const body = JSON.stringify({ source: wallets[source_index], destination: wallets[destination_index], amount: 1, currency: 'usd' });
    return {
      body,
      headers: {
        authorization: `Bearer ${merchant.secret_key}`,
        'content-type': 'application/json',
        'idempotency-key': randomUUID(),
        'paygrid-signature': signRequest(merchant.signing_secret, { method: 'POST', path: transfer_path, body }),
      },
    };
  };

  options.log(`  API: one signed wallet transfer at a time, ${zero_load_warm_up} to warm up and ${zero_load_requests} measured ...`);
  const zero_load = await measureZeroLoad({
    url,
    warm_up: zero_load_warm_up,
    requests: zero_load_requests,
    next: () => ({ method: 'POST', path: transfer_path, ...signedTransfer() }),
  });

  options.log(`  API: signed wallet transfers, ${options.connections} connections, ${options.seconds} s ...`);
  const transfer_requests = [{ method: 'POST' as const, path: transfer_path, setupRequest: (request: autocannon.Request) => ({ ...request, ...signedTransfer() }) }];
  const { result: api, cpu: saturated_cpu } = await metered(
    options.cpu_meter,
    'request',
    async () => load({ url, connections: options.connections, seconds: options.seconds, requests: transfer_requests }),
    (result) => result.requests,
  );

  const target_rate = Math.max(1, Math.round(api.requests_per_second / 2));
  // The saturated run leaves work behind (events still being relayed and stored for webhooks);
  // measured at once, the half-rate run's first second would time that backlog, not half load.
  await new Promise((done) => setTimeout(done, settle_between_runs_ms));
  options.log(`  API at half that rate (${target_rate} requests/s, evenly paced) ...`);
  const { result: half, cpu: half_rate_cpu } = await metered(
    options.cpu_meter,
    'request',
    async () =>
      pacedLoad({
        url,
        rate: target_rate,
        seconds: options.seconds,
        connections: options.connections,
        next: () => ({ method: 'POST', path: transfer_path, ...signedTransfer() }),
      }),
    (result) => result.requests,
  );

  let total = 0;
  for (const id of wallets) total += (await client.wallets.retrieve(id)).balance.available;
  const cpu = saturated_cpu === undefined || half_rate_cpu === undefined ? {} : { cpu: { saturated: saturated_cpu, half_rate: half_rate_cpu } };
  return { api, half_rate: { ...half, target_rate }, zero_load, money_conserved: total === top_up_per_wallet * wallets.length, ...cpu };
}

export async function runApiBench(options: ApiBenchOptions): Promise<ApiBenchResult> {
  const data_dir = mkdtempSync(join(tmpdir(), 'paygrid-api-bench-'));
  const operator_key = `op-bench-${randomBytes(24).toString('hex')}`;
  const children: ChildProcess[] = [];
  try {
    options.log('  starting the platform ...');
    const { child: platform, url } = await startBenchPlatform(data_dir, operator_key);
    children.push(platform);
    const transfers = await measureWalletTransfers({ ...options, url, operator_key });
    await stopChild(platform);

    const bare = await measureBareServer(options, children);
    const floor = await measureFloorLastLayer(options);
    const commit_floor = await measureCommitFloor({ ...options, paced_rate: transfers.half_rate.target_rate, zero_load_warm_up, zero_load_requests });
    return {
      connections: options.connections,
      seconds: options.seconds,
      api: transfers.api,
      floor,
      ratio_vs_floor: transfers.api.requests_per_second / floor.requests_per_second,
      commit_floor,
      ratio_vs_commit_floor: transfers.api.requests_per_second / commit_floor.saturated.requests_per_second,
      bare,
      ratio: transfers.api.requests_per_second / bare.requests_per_second,
      half_rate: transfers.half_rate,
      zero_load: transfers.zero_load,
      money_conserved: transfers.money_conserved,
    };
  } finally {
    for (const child of children) await stopChild(child);
    rmSync(data_dir, { recursive: true, force: true });
  }
}

export interface PaymentsBenchResult {
  readonly connections: number;
  readonly seconds: number;
  /** Each payment is three requests: a card token (publishable key), create, and confirm (signed). */
  readonly requests: LoadResult;
  readonly payments_per_second: number;
  /** The floor's last layer, measured in this run: the figure the target is stated against. */
  readonly floor: LoadResult;
  /** API requests per second divided by the floor's last layer's. */
  readonly requests_ratio_vs_floor: number;
  readonly bare: LoadResult;
  /** Payments per second divided by the bare server's requests per second. */
  readonly payments_ratio: number;
  /** API requests per second divided by the bare server's. */
  readonly requests_ratio: number;
  readonly succeeded: number;
  readonly not_succeeded: number;
}

/**
 * Card payments through the signed HTTP API against the in-process card simulator at zero
 * latency: a token from the publishable key, then create and confirm with the secret key.
 */
export interface CardPaymentsResult {
  readonly requests: LoadResult;
  readonly payments_per_second: number;
  readonly succeeded: number;
  readonly not_succeeded: number;
  /** CPU per succeeded payment (three requests), when a meter was given. */
  readonly cpu?: CpuAccount;
}

/** Card payments (token, create, confirm) through the API at `url`, with `connections` in a loop. */
export async function measureCardPayments(
  options: Pick<ApiBenchOptions, 'connections' | 'seconds' | 'log'> & { readonly url: string; readonly operator_key: string; readonly cpu_meter?: CpuMeter },
): Promise<CardPaymentsResult> {
  const { url } = options;
  const operator = new Paygrid({ api_key: options.operator_key, base_url: url });
  const merchant = await operator.merchants.create({ name: 'Bench' });
  const exp_year = new Date().getUTCFullYear() + 2;
  const token_body = JSON.stringify({ card: { number: '4242424242424242', exp_month: 12, exp_year, cvc: '123' } });
  const create_body = JSON.stringify({ amount: 1_000, currency: 'usd' });
  const signed = (method: string, path: string, body: string) => ({
    authorization: `Bearer ${merchant.secret_key}`,
    'content-type': 'application/json',
    'idempotency-key': randomUUID(),
    'paygrid-signature': signRequest(merchant.signing_secret, { method, path, body }),
  });
  interface Flow {
    token?: string;
    intent?: string;
  }
  let succeeded = 0;
  let not_succeeded = 0;
  const requests: autocannon.Request[] = [
    {
      method: 'POST',
      path: '/v1/tokens',
      setupRequest: (request) => ({ ...request, body: token_body, headers: { authorization: `Bearer ${merchant.publishable_key}`, 'content-type': 'application/json' } }),
      onResponse: (_status, body, context: Flow) => {
        context.token = (JSON.parse(body) as { id?: string }).id;
      },
    },
    {
      method: 'POST',
      path: '/v1/payment_intents',
      setupRequest: (request) => ({ ...request, body: create_body, headers: signed('POST', '/v1/payment_intents', create_body) }),
      onResponse: (_status, body, context: Flow) => {
        context.intent = (JSON.parse(body) as { id?: string }).id;
      },
    },
    {
      method: 'POST',
      setupRequest: (request, context: Flow) => {
        const path = `/v1/payment_intents/${context.intent ?? 'missing'}/confirm`;
        const body = JSON.stringify({ payment_method: { type: 'card', token: context.token ?? 'missing' } });
        return { ...request, path, body, headers: signed('POST', path, body) };
      },
      onResponse: (_status, body) => {
        if ((JSON.parse(body) as { status?: string }).status === 'succeeded') succeeded += 1;
        else not_succeeded += 1;
      },
    },
  ];
  options.log(`  payments: token + create + confirm, ${options.connections} connections, ${options.seconds} s ...`);
  const { result, cpu } = await metered(options.cpu_meter, 'payment', async () => load({ url, connections: options.connections, seconds: options.seconds, requests }), () => succeeded);
  return { requests: result, payments_per_second: succeeded / options.seconds, succeeded, not_succeeded, ...(cpu === undefined ? {} : { cpu }) };
}

/**
 * Card payments through the signed HTTP API against the in-process card simulator at zero
 * latency: a token from the publishable key, then create and confirm with the secret key.
 */
export async function runPaymentsBench(options: Omit<ApiBenchOptions, 'wallets'>): Promise<PaymentsBenchResult> {
  const data_dir = mkdtempSync(join(tmpdir(), 'paygrid-payments-bench-'));
  const operator_key = `op-bench-${randomBytes(24).toString('hex')}`;
  const children: ChildProcess[] = [];
  try {
    options.log('  starting the platform ...');
    const { child: platform, url } = await startBenchPlatform(data_dir, operator_key);
    children.push(platform);
    const payments = await measureCardPayments({ ...options, url, operator_key });
    await stopChild(platform);
    const bare = await measureBareServer(options, children);
    const floor = await measureFloorLastLayer(options);
    return {
      connections: options.connections,
      seconds: options.seconds,
      requests: payments.requests,
      payments_per_second: payments.payments_per_second,
      floor,
      requests_ratio_vs_floor: payments.requests.requests_per_second / floor.requests_per_second,
      bare,
      payments_ratio: payments.payments_per_second / bare.requests_per_second,
      requests_ratio: payments.requests.requests_per_second / bare.requests_per_second,
      succeeded: payments.succeeded,
      not_succeeded: payments.not_succeeded,
    };
  } finally {
    for (const child of children) await stopChild(child);
    rmSync(data_dir, { recursive: true, force: true });
  }
}
