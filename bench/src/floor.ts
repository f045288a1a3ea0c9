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

export async function runFloorBench(options: { readonly seconds: number; readonly connections: number; readonly log: (line: string) => void }): Promise<FloorLayerResult[]> {
  const signing_secret = `whsec_${randomBytes(24).toString('hex')}`;
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
  const signed_requests: autocannon.Request[] = [{ method: 'POST', path, setupRequest: (request: autocannon.Request) => ({ ...request, ...signed() }) }];
  const yardstick_requests: autocannon.Request[] = [
    { method: 'POST', path, setupRequest: (request: autocannon.Request) => ({ ...request, body: '{"amount":1}', headers: { 'content-type': 'application/json' } }) },
  ];
  // The yardstick first and last (to show drift), and between them bare Fastify again with the
  // signed requests the API benchmark sends: generating them takes CPU from the same two cores.
  const runs = [
    { layer: 0, name: yardstick_name, requests: yardstick_requests },
    ...[0, 1, 2, 3].map((layer) => ({ layer, name: floor_layer_names[layer] ?? `layer ${layer}`, requests: signed_requests })),
    { layer: 0, name: yardstick_name, requests: yardstick_requests },
  ];
  const results: FloorLayerResult[] = [];
  let bare_rate: number | undefined;
  for (const { layer, name, requests } of runs) {
    options.log(`  ${name}, ${options.connections} connections, ${options.seconds} s ...`);
    const port = await freePort();
    const child = await startChild(['--import', 'tsx', floor_server], { ...process.env, PORT: String(port), FLOOR_LAYER: String(layer), FLOOR_SIGNING_SECRET: signing_secret }, /floor server/);
    try {
      const measured = await load({ url: `http://127.0.0.1:${port}`, connections: options.connections, seconds: options.seconds, requests });
      bare_rate ??= measured.requests_per_second;
      results.push({ ...measured, layer, name, ratio: measured.requests_per_second / bare_rate });
    } finally {
      await stopChild(child);
    }
  }
  return results;
}
