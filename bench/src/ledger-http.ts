// The ledger's HTTP scenario: full batches of 8,190 transfers posted to the ledger API of a
// platform started as `npm start` does (embedded SQLite), first as JSON and then in the binary
// encoding, by a load generator in a child process of its own (ledger-http-client.ts) that builds
// every body before its clock starts and keeps several requests in flight, so that the writer's
// pipeline stays full. Afterwards every account is read back and the books must balance: total
// debits equal total credits, and both equal the transfers acknowledged.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Paygrid, type LedgerAccountCreateParams } from '@paygrid/sdk';
import { startBenchPlatform, stopChild } from './api';
import type { LedgerHttpClientResult } from './ledger-http-client';

export interface LedgerHttpOptions {
  readonly accounts: number;
  /** Bodies each encoding's client builds and may send: a bound on memory and on the run. */
  readonly bodies: number;
  readonly seconds_max: number;
  readonly in_flight: number;
  readonly log: (line: string) => void;
}

/** Sums of balances, in minor units, as decimal strings (money stays out of floats). */
export interface LedgerMoneyCheck {
  readonly accounts: number;
  readonly debits_posted: string;
  readonly credits_posted: string;
  readonly debits_pending: string;
  readonly credits_pending: string;
  /** Transfers of one unit acknowledged `ok`, by both clients, warm-up included. */
  readonly transfers_acknowledged: number;
  readonly conserved: boolean;
}

export interface LedgerHttpResult {
  readonly accounts: number;
  readonly in_flight: number;
  readonly json: LedgerHttpClientResult;
  readonly binary: LedgerHttpClientResult;
  readonly money: LedgerMoneyCheck;
}

const client_script = join(resolve(import.meta.dirname), 'ledger-http-client.ts');
const account_id_base = 9_000_000_000_000n;
const json_transfer_id_base = 1_000_000_000_000n;
const binary_transfer_id_base = 2_000_000_000_000n;
/** The client may take this long beyond its own time bound (building bodies, the warm-up, draining). */
const client_grace_ms = 120_000;
const events_per_request = 8190;

async function runClient(env: NodeJS.ProcessEnv, timeout_ms: number): Promise<LedgerHttpClientResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', client_script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let errors = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGTERM'), timeout_ms);
  const code = await new Promise<number | null>((done) => child.once('exit', done));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`the ledger load generator exited with ${String(code)}:\n${errors}`);
  return JSON.parse(output.trim().split('\n').pop() ?? '') as LedgerHttpClientResult;
}

export async function runLedgerHttpBench(options: LedgerHttpOptions): Promise<LedgerHttpResult> {
  const data_dir = mkdtempSync(join(tmpdir(), 'paygrid-ledger-http-bench-'));
  const operator_key = `op-bench-${randomBytes(24).toString('hex')}`;
  options.log(`  HTTP: starting the platform and ${options.accounts.toLocaleString('en-US')} ledger accounts ...`);
  const { child: platform, url } = await startBenchPlatform(data_dir, operator_key);
  try {
    const operator = new Paygrid({ api_key: operator_key, base_url: url, timeout_ms: 60_000 });
    const account_ids: bigint[] = Array.from({ length: options.accounts }, (_, index) => account_id_base + BigInt(index));
    for (let first = 0; first < account_ids.length; first += events_per_request) {
      const batch: LedgerAccountCreateParams[] = account_ids.slice(first, first + events_per_request).map((id) => ({ id, ledger: 1, code: 1 }));
      const results = await operator.ledger.createAccounts(batch, { encoding: 'binary' });
      if (results.some(({ result }) => result !== 'ok')) throw new Error('could not create the benchmark accounts');
    }

    const runs: Partial<Record<'json' | 'binary', LedgerHttpClientResult>> = {};
    for (const encoding of ['json', 'binary'] as const) {
      options.log(`  HTTP ${encoding}: ${options.bodies} bodies of ${events_per_request} transfers built first, ${options.in_flight} in flight, at most ${options.seconds_max} s ...`);
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        LEDGER_URL: url,
        LEDGER_KEY: operator_key,
        LEDGER_ENCODING: encoding,
        LEDGER_BODIES: String(options.bodies),
        LEDGER_SECONDS_MAX: String(options.seconds_max),
        LEDGER_IN_FLIGHT: String(options.in_flight),
        LEDGER_ACCOUNTS: String(options.accounts),
        LEDGER_ACCOUNT_ID_BASE: account_id_base.toString(),
        LEDGER_TRANSFER_ID_BASE: (encoding === 'json' ? json_transfer_id_base : binary_transfer_id_base).toString(),
      };
      const run = await runClient(env, options.seconds_max * 1000 + client_grace_ms);
      options.log(
        `  HTTP ${encoding}: ${Math.round(run.transfers_per_second).toLocaleString('en-US')} transfers/s (${run.requests} requests of ${(run.body_bytes / 2 ** 20).toFixed(2)} MiB, p50 ${run.p50_ms.toFixed(0)} ms, p99 ${run.p99_ms.toFixed(0)} ms, ${run.transfers_not_ok} not ok, ${run.errors} errors)`,
      );
      runs[encoding] = run;
    }
    const { json, binary } = runs;
    if (json === undefined || binary === undefined) throw new Error('a load generator did not report');

    options.log('  HTTP: reading every account back ...');
    const totals = { debits_posted: 0n, credits_posted: 0n, debits_pending: 0n, credits_pending: 0n };
    let found = 0;
    for (let first = 0; first < account_ids.length; first += events_per_request) {
      for (const account of await operator.ledger.lookupAccounts(account_ids.slice(first, first + events_per_request), { encoding: 'binary' })) {
        found += 1;
        totals.debits_posted += BigInt(account.debits_posted);
        totals.credits_posted += BigInt(account.credits_posted);
        totals.debits_pending += BigInt(account.debits_pending);
        totals.credits_pending += BigInt(account.credits_pending);
      }
    }
    const transfers_acknowledged = json.transfers_ok_total + binary.transfers_ok_total;
    const conserved =
      found === options.accounts &&
      totals.debits_posted === totals.credits_posted &&
      totals.debits_pending === 0n &&
      totals.credits_pending === 0n &&
      totals.debits_posted === BigInt(transfers_acknowledged);
    return {
      accounts: options.accounts,
      in_flight: options.in_flight,
      json,
      binary,
      money: {
        accounts: found,
        debits_posted: totals.debits_posted.toString(),
        credits_posted: totals.credits_posted.toString(),
        debits_pending: totals.debits_pending.toString(),
        credits_pending: totals.credits_pending.toString(),
        transfers_acknowledged,
        conserved,
      },
    };
  } finally {
    await stopChild(platform);
    rmSync(data_dir, { recursive: true, force: true });
  }
}
