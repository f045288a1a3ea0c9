// The floor benchmark: how much of a bare Fastify server's rate is left once a request does only
// what every signed POST to /v1 must do (floor-server.ts lists the layers), with no service and
// no database behind it. No API figure can be above the last layer's, so it shows how far the
// API benchmark's target is reachable on this machine at all. Same load generator, connections
// and request shape as the API benchmark; each layer is its own process, started and stopped in
// turn. The yardstick is the API benchmark's own: bare Fastify with a fixed unsigned body,
// measured first and last to show the machine's drift.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type autocannon from 'autocannon';
import { signRequest } from '@paygrid/sdk/signing';
import { freePort, load, startChild, stopChild, type LoadResult } from './api';
import { pacedLoad, type PacedRequest } from './paced-load';
import { measureZeroLoad, type ZeroLoadResult } from './zero-load';

export interface FloorLayerResult extends LoadResult {
  readonly layer: number;
  readonly name: string;
  /** Requests/s divided by the first bare measurement's. */
  readonly ratio: number;
}

export const floor_layer_names = [
  'bare Fastify, signed requests',
  "+ the kernel's HTTP server",
  '+ compression and CORS plugins',
  '+ key hash, signature, nonce, rate token, idempotency',
] as const;

/**
 * The layer after the floor's last: the same work plus one durable ledger transfer per request
 * (floor-server.ts, layer 4). It is not part of the floor the targets are stated against; it shows
 * how much of that floor is left once a request waits for the one durable commit the design keeps
 * on a money movement's path, so that the API figure can be read against both.
 */
export const commit_floor_layer = 4;
export const commit_floor_name = "+ one durable ledger transfer (the design's one commit)";

/** The API benchmark's yardstick request: one fixed body, nothing generated per request. */
const yardstick_name = 'bare Fastify, fixed unsigned body (the yardstick)';

const floor_server = join(resolve(import.meta.dirname), 'floor-server.ts');

/** One signed POST / as the API benchmark sends it: a fresh idempotency key and signature. */
function signedRequest(signing_secret: string): PacedRequest & { body: string } {
  const path = '/';
  const body = JSON.stringify({ source: 'wal_floor_source', destination: 'wal_floor_destination', amount: 1, currency: 'usd' });
  return {
    method: 'POST',
    path,
    body,
    headers: {
      authorization: 'Bearer sk_test_floor',
      'content-type': 'application/json',
      'idempotency-key': randomUUID(),
      'paygrid-signature': signRequest(signing_secret, { method: 'POST', path, body }),
    },
  };
}

/** Signed POST / requests for autocannon, each made afresh. */
function signedRequests(signing_secret: string): autocannon.Request[] {
  return [
    {
      method: 'POST',
      path: '/',
      setupRequest: (request: autocannon.Request) => {
        const { body, headers } = signedRequest(signing_secret);
        return { ...request, body, headers };
      },
    },
  ];
}

const yardstick_requests: autocannon.Request[] = [
  { method: 'POST', path: '/', setupRequest: (request: autocannon.Request) => ({ ...request, body: '{"amount":1}', headers: { 'content-type': 'application/json' } }) },
];

export interface FloorRunOptions {
  readonly seconds: number;
  readonly connections: number;
  readonly log: (line: string) => void;
}

/** One floor server, started, loaded and stopped: `layer` 0 to 3, signed requests or the yardstick's. */
async function measureLayer(layer: number, requests: autocannon.Request[], signing_secret: string, options: FloorRunOptions): Promise<LoadResult> {
  return withFloorServer(layer, signing_secret, (url) => load({ url, connections: options.connections, seconds: options.seconds, requests }));
}

/** Starts one floor server, runs `work` against its URL, and stops it. */
async function withFloorServer<T>(layer: number, signing_secret: string, work: (url: string) => Promise<T>): Promise<T> {
  const port = await freePort();
  // The commit layer's ledger file lives in a folder of its own, removed with the server.
  const data_dir = layer >= commit_floor_layer ? mkdtempSync(join(tmpdir(), 'paygrid-floor-')) : '';
  try {
    const child = await startChild(
      ['--import', 'tsx', floor_server],
      { ...process.env, PORT: String(port), FLOOR_LAYER: String(layer), FLOOR_SIGNING_SECRET: signing_secret, FLOOR_DATA_DIR: data_dir },
      /floor server/,
    );
    try {
      return await work(`http://127.0.0.1:${port}`);
    } finally {
      await stopChild(child);
    }
  } finally {
    if (data_dir !== '') rmSync(data_dir, { recursive: true, force: true });
  }
}

export const floor_last_layer = floor_layer_names.length - 1;

/**
 * The floor's last layer alone ("+ key hash, signature, nonce, rate token, idempotency"): what is
 * left of one process's rate once a signed POST does what every /v1 POST must. The API and
 * payments benchmarks measure it in their own run and state their targets against it.
 */
export async function measureFloorLastLayer(options: FloorRunOptions): Promise<LoadResult> {
  const signing_secret = `whsec_${randomBytes(24).toString('hex')}`;
  options.log(`  floor, ${floor_layer_names[floor_last_layer] ?? 'last layer'}, ${options.connections} connections, ${options.seconds} s ...`);
  return measureLayer(floor_last_layer, signedRequests(signing_secret), signing_secret, options);
}

export interface CommitFloorResult {
  /** Saturated, with the benchmark's connections. */
  readonly saturated: LoadResult;
  /** Evenly paced at `paced_rate` (the API's half rate), when asked for. */
  readonly paced: (LoadResult & { readonly rate: number }) | undefined;
  /** One request at a time. */
  readonly zero_load: ZeroLoadResult;
}

/**
 * The commit layer, measured as the API benchmark measures the API: one request at a time, then
 * saturated, then evenly paced at `paced_rate` when given. What no wallet work could beat: the
 * latency and rate of a signed request that waits for one durable ledger transfer.
 */
export async function measureCommitFloor(options: FloorRunOptions & { readonly paced_rate?: number; readonly zero_load_warm_up: number; readonly zero_load_requests: number }): Promise<CommitFloorResult> {
  const signing_secret = `whsec_${randomBytes(24).toString('hex')}`;
  options.log(`  floor ${commit_floor_name}: one at a time, then ${options.connections} connections, ${options.seconds} s${options.paced_rate === undefined ? '' : `, then ${options.paced_rate}/s paced`} ...`);
  return withFloorServer(commit_floor_layer, signing_secret, async (url) => {
    const next = () => signedRequest(signing_secret);
    const zero_load = await measureZeroLoad({ url, warm_up: options.zero_load_warm_up, requests: options.zero_load_requests, next });
    const saturated = await load({ url, connections: options.connections, seconds: options.seconds, requests: signedRequests(signing_secret) });
    if (options.paced_rate === undefined) return { saturated, paced: undefined, zero_load };
    const paced = await pacedLoad({ url, rate: options.paced_rate, seconds: options.seconds, connections: options.connections, next });
    return { saturated, paced: { ...paced, rate: options.paced_rate }, zero_load };
  });
}

export async function runFloorBench(options: FloorRunOptions): Promise<FloorLayerResult[]> {
  const signing_secret = `whsec_${randomBytes(24).toString('hex')}`;
  const signed_requests = signedRequests(signing_secret);
  // The yardstick first and last (to show drift), and between them bare Fastify again with the
  // signed requests the API benchmark sends: generating them takes CPU from the same two cores.
  const runs = [
    { layer: 0, name: yardstick_name, requests: yardstick_requests },
    ...floor_layer_names.map((name, layer) => ({ layer, name, requests: signed_requests })),
    { layer: commit_floor_layer, name: commit_floor_name, requests: signed_requests },
    { layer: 0, name: yardstick_name, requests: yardstick_requests },
  ];
  const results: FloorLayerResult[] = [];
  let bare_rate: number | undefined;
  for (const { layer, name, requests } of runs) {
    options.log(`  ${name}, ${options.connections} connections, ${options.seconds} s ...`);
    const measured = await measureLayer(layer, requests, signing_secret, options);
    bare_rate ??= measured.requests_per_second;
    results.push({ ...measured, layer, name, ratio: measured.requests_per_second / bare_rate });
  }
  return results;
}
