// The load generator of the ledger's HTTP scenario (ledger-http.ts), run as a child process of its
// own so that its work is not the benchmark process's. It builds every request body first, in
// one encoding, then posts them to `POST /v1/ledger/transfers` with a fixed number of requests in
// flight until the bodies run out or the time does, and prints one JSON line with what it measured.
//
// Configured by the environment: LEDGER_URL, LEDGER_KEY, LEDGER_ENCODING (json | binary),
// LEDGER_BODIES, LEDGER_SECONDS_MAX, LEDGER_IN_FLIGHT, LEDGER_ACCOUNTS, LEDGER_ACCOUNT_ID_BASE,
// LEDGER_TRANSFER_ID_BASE.
import { Agent, request } from 'node:http';
import { decodeLedgerTransferResults, encodeLedgerTransfers, ledger_binary_media_type, ledgerTransfersJson, type LedgerTransferCreateParams } from '@paygrid/sdk';

export interface LedgerHttpClientResult {
  readonly encoding: 'json' | 'binary';
  /** Requests timed, each of `events_per_request` transfers. */
  readonly requests: number;
  readonly events_per_request: number;
  readonly body_bytes: number;
  /** Transfers acknowledged `ok` in the timed part. */
  readonly transfers_ok: number;
  /** Transfers acknowledged `ok` in all, warm-up included: what the ledger's balances must show. */
  readonly transfers_ok_total: number;
  readonly transfers_not_ok: number;
  readonly errors: number;
  readonly seconds: number;
  readonly transfers_per_second: number;
  /** Milliseconds from sending a request to its whole answer. */
  readonly p50_ms: number;
  readonly p99_ms: number;
}

const events_per_request = 8190;
/** Requests sent one by one before the clock starts, to warm the JIT on both sides. */
const warm_up_requests = 1;

function setting(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is required`);
  return value;
}

const url = new URL(setting('LEDGER_URL'));
const key = setting('LEDGER_KEY');
const encoding = setting('LEDGER_ENCODING');
if (encoding !== 'json' && encoding !== 'binary') throw new Error('LEDGER_ENCODING must be json or binary');
const bodies_count = Number(setting('LEDGER_BODIES'));
const seconds_max = Number(setting('LEDGER_SECONDS_MAX'));
const in_flight = Number(setting('LEDGER_IN_FLIGHT'));
const accounts = Number(setting('LEDGER_ACCOUNTS'));
const account_id_base = BigInt(setting('LEDGER_ACCOUNT_ID_BASE'));
let next_transfer_id = BigInt(setting('LEDGER_TRANSFER_ID_BASE'));

// A small deterministic generator keeps runs comparable.
let random_state = 0x2545f491;
function randomAccount(): number {
  random_state ^= random_state << 13;
  random_state ^= random_state >>> 17;
  random_state ^= random_state << 5;
  return (random_state >>> 0) % accounts;
}

function buildBody(): Buffer {
  const transfers: LedgerTransferCreateParams[] = new Array<LedgerTransferCreateParams>(events_per_request);
  for (let index = 0; index < events_per_request; index += 1) {
    const debit = randomAccount();
    let credit = randomAccount();
    if (credit === debit) credit = (debit + 1) % accounts;
    transfers[index] = { id: next_transfer_id++, debit_account_id: account_id_base + BigInt(debit), credit_account_id: account_id_base + BigInt(credit), amount: 1, ledger: 1, code: 1 };
  }
  if (encoding === 'binary') {
    const bytes = encodeLedgerTransfers(transfers);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  return Buffer.from(JSON.stringify(ledgerTransfersJson(transfers)));
}

const bodies = Array.from({ length: warm_up_requests + bodies_count }, buildBody);
const agent = new Agent({ keepAlive: true, maxSockets: in_flight });
const content_type = encoding === 'binary' ? ledger_binary_media_type : 'application/json';

function post(body: Buffer): Promise<{ status: number; answer: Buffer }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: '/v1/ledger/transfers',
        agent,
        headers: { authorization: `Bearer ${key}`, 'content-type': content_type, 'content-length': String(body.length) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, answer: Buffer.concat(chunks) }));
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** How many of the answer's results are `ok`, read as a client would. */
function countOk(answer: Buffer): number {
  if (encoding === 'binary') return decodeLedgerTransferResults(answer).filter(({ result }) => result === 'ok').length;
  const parsed = JSON.parse(answer.toString('utf8')) as { results: { result: string }[] };
  return parsed.results.filter(({ result }) => result === 'ok').length;
}

let transfers_ok_total = 0;
let transfers_not_ok = 0;
let errors = 0;

async function send(body: Buffer): Promise<number | undefined> {
  try {
    const { status, answer } = await post(body);
    if (status !== 200) {
      errors += 1;
      return undefined;
    }
    const ok = countOk(answer);
    transfers_ok_total += ok;
    transfers_not_ok += events_per_request - ok;
    return ok;
  } catch {
    errors += 1;
    return undefined;
  }
}

for (const body of bodies.slice(0, warm_up_requests)) await send(body);

const timed = bodies.slice(warm_up_requests);
const latencies: number[] = [];
let transfers_ok = 0;
let next_body = 0;
const started = performance.now();
const deadline = started + seconds_max * 1000;
async function worker(): Promise<void> {
  while (next_body < timed.length && performance.now() < deadline) {
    const body = timed[next_body];
    next_body += 1;
    if (body === undefined) break;
    const sent = performance.now();
    const ok = await send(body);
    latencies.push(performance.now() - sent);
    transfers_ok += ok ?? 0;
  }
}
await Promise.all(Array.from({ length: in_flight }, worker));
const seconds = (performance.now() - started) / 1000;
agent.destroy();
latencies.sort((a, b) => a - b);
const percentile = (fraction: number): number => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * fraction))] ?? 0;
const result: LedgerHttpClientResult = {
  encoding,
  requests: latencies.length,
  events_per_request,
  body_bytes: bodies[0]?.length ?? 0,
  transfers_ok,
  transfers_ok_total,
  transfers_not_ok,
  errors,
  seconds,
  transfers_per_second: transfers_ok / seconds,
  p50_ms: percentile(0.5),
  p99_ms: percentile(0.99),
};
process.stdout.write(`${JSON.stringify(result)}\n`);
