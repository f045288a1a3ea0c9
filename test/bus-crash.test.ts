// Crash safety of events over NATS JetStream: the platform (a child process, as `paygrid start`
// runs it, with NATS_URL set) moves money between wallets and creates payment intents under load,
// and is killed with SIGKILL while events flow from the outboxes to the bus and on to webhooks.
// After the last restart, once the load stops, every event either outbox holds is marked
// published and is stored by webhooks exactly once, with exactly one delivery to the endpoint.
// (Whether each delivery has reached the endpoint yet is webhooks' own business: one leased when
// the process died is sent again once its lease runs out, a minute later.)
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, expect, it } from 'vitest';
import { describeWithNats } from '@paygrid/kernel/testing';
import { callApi, signalChild, startChildPlatform } from './support/child-platform';
import { freePort } from './support/platform';

const operator_key = 'op_bus_crash_key_0123456789abcdefghijklmnop';
const kills = 2;
const wallet_count = 4;
const load_clients = 4;
const start_timeout_ms = 90_000;
/** Past the consumer's ack wait (events_handler_timeout_ms + 5 s), after which what a killed process had taken is delivered again. */
const settle_timeout_ms = 45_000;

function query<T>(data_dir: string, file: string, sql: string): T[] {
  const database = new BetterSqlite3(join(data_dir, file), { readonly: true, fileMustExist: true });
  try {
    return database.prepare(sql).all() as T[];
  } finally {
    database.close();
  }
}

describeWithNats('events over NATS across SIGKILLs', (nats_url) => {
  const data_dir = mkdtempSync(join(tmpdir(), 'paygrid-bus-crash-'));
  const prefix = `t${randomBytes(6).toString('hex')}`;
  let receiver: Server | undefined;
  afterAll(async () => {
    rmSync(data_dir, { recursive: true, force: true });
    if (receiver !== undefined) await new Promise((done) => receiver?.close(done));
    const connection = await connect({ servers: nats_url });
    const manager = await jetstreamManager(connection);
    for await (const stream of manager.streams.list()) {
      if (stream.config.name.startsWith(`${prefix.toUpperCase()}_`)) await manager.streams.delete(stream.config.name);
    }
    await connection.close();
  });

  it(`relays every event in the outboxes to webhooks exactly once across ${kills} SIGKILLs`, async () => {
    const received = new Set<string>();
    receiver = createServer((request, response) => {
      received.add(String(request.headers['webhook-id']));
      request.resume();
      request.on('end', () => response.writeHead(204).end());
    });
    await new Promise<void>((done) => receiver?.listen(0, '127.0.0.1', done));
    const address = receiver.address();
    if (address === null || typeof address === 'string') throw new Error('no receiver address');

    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: data_dir, PORT: String(port), PAYGRID_OPERATOR_KEY: operator_key, LOG_LEVEL: 'error', NATS_URL: nats_url, BUS_STREAM_PREFIX: prefix };
    delete env.DATABASE_URL;
    delete env.REDIS_URL;
    let child = await startChildPlatform(['start'], env, start_timeout_ms);
    const merchant = await callApi(port, operator_key, 'POST', '/v1/merchants', { name: 'Crash' });
    const secret = String(merchant.json.secret_key);
    expect((await callApi(port, secret, 'POST', '/v1/webhook_endpoints', { url: `http://127.0.0.1:${address.port}/hooks`, enabled_events: ['*'] })).status).toBe(200);
    const wallets: string[] = [];
    for (let index = 0; index < wallet_count; index += 1) {
      const customer = await callApi(port, secret, 'POST', '/v1/customers', { name: `Customer ${index}` });
      const wallet = await callApi(port, secret, 'POST', '/v1/wallets', { customer: customer.json.id, currency: 'usd' });
      await callApi(port, secret, 'POST', `/v1/wallets/${String(wallet.json.id)}/top_ups`, { amount: 1_000_000 }, `top-up-${index}`);
      wallets.push(String(wallet.json.id));
    }

    let next_key = 0;
    for (let round = 0; round < kills; round += 1) {
      let stopped = false;
      const client = async (): Promise<void> => {
        while (!stopped) {
          const source = Math.floor(Math.random() * wallet_count);
          const key = `crash-${round}-${next_key++}`;
          try {
            if (next_key % 3 === 0) await callApi(port, secret, 'POST', '/v1/payment_intents', { amount: 100 + next_key, currency: 'usd' }, key);
            else await callApi(port, secret, 'POST', '/v1/wallet_transfers', { source: wallets[source], destination: wallets[(source + 1) % wallet_count], amount: 1, currency: 'usd' }, key);
          } catch {
            // The connection died with the process.
            return;
          }
        }
      };
      const load = Promise.all(Array.from({ length: load_clients }, client));
      await new Promise((wait) => setTimeout(wait, 300 + Math.random() * 700));
      await signalChild(child, 'SIGKILL');
      stopped = true;
      await load;
      child = await startChildPlatform(['start'], env, start_timeout_ms);
    }

    // With no more load, the restarted relays publish what the outboxes hold, and webhooks store it.
    const outbox = () => [
      ...query<{ id: string; published_ms: number | null }>(data_dir, 'wallet.sqlite', 'SELECT id, published_ms FROM wallet_events'),
      ...query<{ id: string; published_ms: number | null }>(data_dir, 'payments.sqlite', 'SELECT id, published_ms FROM payment_events'),
    ];
    const deadline_ms = Date.now() + settle_timeout_ms;
    let events = outbox();
    let stored = new Map<string, number>();
    for (;;) {
      events = outbox();
      stored = new Map(query<{ id: string; deliveries: number }>(data_dir, 'webhooks.sqlite', 'SELECT e.id AS id, (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.event_id = e.id) AS deliveries FROM webhook_events e').map((row) => [row.id, row.deliveries]));
      const settled = events.every((event) => event.published_ms !== null && stored.get(event.id) === 1);
      if (settled || Date.now() > deadline_ms) break;
      await new Promise((wait) => setTimeout(wait, 200));
    }
    await signalChild(child, 'SIGTERM');

    expect(events.length).toBeGreaterThan(wallet_count);
    expect(events.filter((event) => event.published_ms === null).map((event) => event.id), 'events still unpublished').toEqual([]);
    expect(events.filter((event) => !stored.has(event.id)).map((event) => event.id), 'events webhooks never stored').toEqual([]);
    expect(events.filter((event) => stored.get(event.id) !== 1).map((event) => `${event.id}: ${stored.get(event.id)}`), 'events without exactly one delivery').toEqual([]);
    // The endpoint is live: deliveries flowed through the crashes.
    expect(received.size).toBeGreaterThan(0);
  }, 240_000);
});
