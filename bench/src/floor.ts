// The floor benchmark: how much of a bare Fastify server's rate is left once a request does only
// what every signed POST to /v1 must do (floor-server.ts lists the layers), with no service and
// no database behind it. No API figure can be above the last layer's, so it shows how far the
// API benchmark's target is reachable on this machine at all. Same load generator, connections
// and request shape as the API benchmark; each layer is its own process, started and stopped in
// turn. The yardstick is the API benchmark's own: bare Fastify with a fixed unsigned body,
// measured first and last to show the machine's drift.
import { randomBytes, randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import type autocannon from 'autocannon';
import { signRequest } from '@paygrid/sdk/signing';
import { freePort, load, startChild, stopChild, type LoadResult } from './api';

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

/** The API benchmark's yardstick request: one fixed body, nothing generated per request. */
const yardstick_name = 'bare Fastify, fixed unsigned body (the yardstick)';

const floor_server = join(resolve(import.meta.dirname), 'floor-server.ts');

/** Signed POST / requests as the API benchmark sends them: a fresh idempotency key and signature each. */
function signedRequests(signing_secret: string): autocannon.Request[] {
  const path = '/';
  const signed = (): { body: string; headers: Record<string, string> } => {
    const body = JSON.stringify({ source: 'wal_floor_source', destination: 'wal_floor_destination', amount: 1, currency: 'usd' });
    return {
      body,
      headers: {
        authorization: 'Bearer sk_test_floor',
        'content-type': 'application/json',
        'idempotency-key': randomUUID(),
        'paygrid-signature': signRequest(signing_secret, { method: 'POST', path, body }),
      },
    };
  };
  return [{ method: 'POST', path, setupRequest: (request: autocannon.Request) => ({ ...request, ...signed() }) }];
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
  const port = await freePort();
  const child = await startChild(['--import', 'tsx', floor_server], { ...process.env, PORT: String(port), FLOOR_LAYER: String(layer), FLOOR_SIGNING_SECRET: signing_secret }, /floor server/);
  try {
    return await load({ url: `http://127.0.0.1:${port}`, connections: options.connections, seconds: options.seconds, requests });
  } finally {
    await stopChild(child);
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

export async function runFloorBench(options: FloorRunOptions): Promise<FloorLayerResult[]> {
  const signing_secret = `whsec_${randomBytes(24).toString('hex')}`;
  const signed_requests = signedRequests(signing_secret);
  // The yardstick first and last (to show drift), and between them bare Fastify again with the
  // signed requests the API benchmark sends: generating them takes CPU from the same two cores.
  const runs = [
    { layer: 0, name: yardstick_name, requests: yardstick_requests },
    ...floor_layer_names.map((name, layer) => ({ layer, name, requests: signed_requests })),
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
