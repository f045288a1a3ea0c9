// Events between services over the bus port, end to end: the wallet's and payments' outbox relays
// publish on the bus, the webhooks service consumes and stores each event once, and merchants'
// endpoints receive it. On the in-process bus an event leaves its outbox only once webhooks stored
// it; on NATS JetStream (when NATS_URL is set) once the stream holds it. A subscriber that fails is
// redelivered, one that always fails ends in the dead letters (counted by paygrid_bus_dead_letters_total,
// listed and replayed by the operator routes and `paygrid bus`), and a message delivered twice or
// published twice stores nothing twice.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { test_card_numbers } from '@paygrid/connectors';
import { createNatsBus, type Bus, type BusMessage, type SubscribeOptions } from '@paygrid/kernel/bus';
import { describeWithNats } from '@paygrid/kernel/testing';
import { Paygrid } from '@paygrid/sdk';
import { createTestMerchant, startTestPlatform, type TestPlatform } from './support/platform';

const cli = join(resolve(import.meta.dirname, '..'), 'apps/cli/bin/paygrid.js');
const eventually_ms_max = 20_000;
/** Short enough for a test: three deliveries within a second, then a dead letter. */
const test_settings = { deliveries_max: 3, redelivery_delays_ms: [100, 200], handler_timeout_ms: 5_000 };

async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, what: string): Promise<T> {
  const deadline_ms = Date.now() + eventually_ms_max;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline_ms) throw new Error(`not in time: ${what}`);
    await new Promise((done) => setTimeout(done, 20));
  }
}

interface Fault {
  /** Messages whose data contains this (a wallet id) are the ones that fail. */
  readonly marker: string;
  /** Throw before the webhooks handler runs, on deliveries up to this one ('always': on every one). */
  before?: number | 'always';
  /** Throw after the handler stored the event, on deliveries up to this one: as a process that died before its ack. */
  after?: number;
}

/** A bus whose subscriptions use the test's short settings, with failures injected into the handlers and every delivery recorded. */
class FaultyBus {
  readonly faults: Fault[] = [];
  readonly deliveries: { readonly id: string; readonly delivery: number; readonly subject: string; readonly data: string }[] = [];

  decorate = (bus: Bus): Bus => ({
    publish: (input) => bus.publish(input),
    deadLetters: (limit) => bus.deadLetters(limit),
    replayDeadLetter: (id) => bus.replayDeadLetter(id),
    ping: () => bus.ping(),
    close: () => bus.close(),
    subscribe: (options: SubscribeOptions) => bus.subscribe({ ...options, ...test_settings, handler: (message) => this.#handle(options, message) }),
  });

  async #handle(options: SubscribeOptions, message: BusMessage): Promise<void> {
    this.deliveries.push({ id: message.id, delivery: message.delivery, subject: message.subject, data: message.data });
    const fault = this.faults.find((each) => message.data.includes(each.marker));
    if (fault?.before === 'always' || (typeof fault?.before === 'number' && message.delivery <= fault.before)) throw new Error(`injected failure before delivery ${message.delivery}`);
    await options.handler(message);
    if (fault?.after !== undefined && message.delivery <= fault.after) throw new Error(`injected failure after delivery ${message.delivery}`);
  }

  deliveriesOf(id: string): number[] {
    return this.deliveries.filter((each) => each.id === id).map((each) => each.delivery);
  }
}

interface Received {
  readonly webhook_id: string;
  readonly type: string;
  readonly object: Record<string, unknown>;
}

async function startReceiver(): Promise<{ server: Server; url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const event = JSON.parse(body) as { type: string; data: { object: Record<string, unknown> } };
      received.push({ webhook_id: String(request.headers['webhook-id']), type: event.type, object: event.data.object });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no receiver address');
  return { server, url: `http://127.0.0.1:${address.port}/hooks`, received };
}

function counter(test: TestPlatform, database: string) {
  return (sql: string, ...params: unknown[]): number => {
    const handle = new BetterSqlite3(join(test.platform.config.DATA_DIR, database), { readonly: true, fileMustExist: true });
    try {
      return (handle.prepare(sql).get(...params) as { count: number }).count;
    } finally {
      handle.close();
    }
  };
}

function paygrid(test: TestPlatform, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, PAYGRID_OPERATOR_KEY: test.operator_key, DATA_DIR: test.platform.config.DATA_DIR, LOG_LEVEL: 'silent' };
  return new Promise((done) => {
    execFile(process.execPath, [cli, 'bus', ...args, '--url', test.url], { env, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      done({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

async function operator(test: TestPlatform, method: 'GET' | 'POST', url: string): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  const response = await test.platform.inject({ method, url, headers: { authorization: `Bearer ${test.operator_key}` }, ...(method === 'POST' ? { payload: {} } : {}) });
  return { status: response.statusCode, body: url === '/metrics' ? {} : response.json<Record<string, unknown>>(), text: response.body };
}

function deadLetterCount(metrics: string, subject: string): number {
  const line = metrics.split('\n').find((each) => each.startsWith('paygrid_bus_dead_letters_total{') && each.includes(`subject="${subject}"`) && each.includes('subscriber="webhooks"'));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

/** Platform, merchant, endpoint and receiver shared by one describe block's tests. */
function platformFixture(env: () => Record<string, string>, bus: FaultyBus) {
  const fixture = {} as {
    test: TestPlatform;
    merchant: Awaited<ReturnType<typeof createTestMerchant>>;
    receiver: Awaited<ReturnType<typeof startReceiver>>;
    webhookEvents: (sql: string, ...params: unknown[]) => number;
    walletEvents: (sql: string, ...params: unknown[]) => number;
  };
  beforeAll(async () => {
    fixture.receiver = await startReceiver();
    fixture.test = await startTestPlatform({ env: env(), decorateBus: bus.decorate });
    fixture.merchant = await createTestMerchant(fixture.test);
    await fixture.merchant.client.webhookEndpoints.create({ url: fixture.receiver.url, enabled_events: ['*'] });
    fixture.webhookEvents = counter(fixture.test, 'webhooks.sqlite');
    fixture.walletEvents = counter(fixture.test, 'wallet.sqlite');
  }, 60_000);
  afterAll(async () => {
    await fixture.test.close();
    await new Promise((done) => fixture.receiver.server.close(done));
  });
  return fixture;
}

async function topUpWallet(fixture: ReturnType<typeof platformFixture>): Promise<string> {
  const client = fixture.merchant.client;
  const customer = await client.customers.create({ name: 'Ada' });
  const wallet = await client.wallets.create({ customer: customer.id, currency: 'usd' });
  await client.wallets.topUp(wallet.id, { amount: 1_500 });
  return wallet.id;
}

/** The top-up's event once the receiver has it. */
function receivedTopUp(fixture: ReturnType<typeof platformFixture>, wallet_id: string): Promise<Received> {
  return eventually(() => fixture.receiver.received.find((each) => each.type === 'wallet.top_up.succeeded' && each.object.wallet === wallet_id), `the top-up of ${wallet_id} at the receiver`);
}

describe('events on the in-process bus', () => {
  const bus = new FaultyBus();
  const fixture = platformFixture(() => ({}), bus);

  it('keeps an event in its outbox until webhooks stored it: a dead letter stays there until it is replayed (paygrid bus)', async () => {
    const before = await operator(fixture.test, 'GET', '/metrics');
    const client = fixture.merchant.client;
    const customer = await client.customers.create({ name: 'Grace' });
    const wallet = await client.wallets.create({ customer: customer.id, currency: 'usd' });
    bus.faults.push({ marker: wallet.id, before: 'always' });
    await client.wallets.topUp(wallet.id, { amount: 700 });

    const listed = await eventually(async () => {
      const answer = await operator(fixture.test, 'GET', '/v1/bus/dead-letters');
      const letters = answer.body.data as { id: string; message_id: string; subject: string; subscriber: string; deliveries: number; data: string }[];
      return letters.find((letter) => letter.data.includes(wallet.id));
    }, 'the dead letter');
    expect(listed).toMatchObject({ subject: 'wallet.events.top_up', subscriber: 'webhooks', deliveries: test_settings.deliveries_max });
    expect(bus.deliveriesOf(listed.message_id)).toEqual([1, 2, 3]);
    const after = await operator(fixture.test, 'GET', '/metrics');
    expect(deadLetterCount(after.text, 'wallet.events.top_up') - deadLetterCount(before.text, 'wallet.events.top_up')).toBe(1);
    // Not safe anywhere but in the wallet's outbox: it stays unpublished there.
    expect(fixture.walletEvents('SELECT COUNT(*) AS count FROM wallet_events WHERE id = ? AND published_ms IS NULL', listed.message_id)).toBe(1);
    expect(fixture.webhookEvents('SELECT COUNT(*) AS count FROM webhook_events WHERE id = ?', listed.message_id)).toBe(0);

    const shown = await paygrid(fixture.test, 'dead-letters', '--json');
    expect(shown.code, shown.stderr).toBe(0);
    expect((JSON.parse(shown.stdout) as { id: string }[]).map((letter) => letter.id)).toContain(listed.id);

    bus.faults.length = 0;
    const replayed = await paygrid(fixture.test, 'replay', listed.id);
    expect(replayed.code, replayed.stderr).toBe(0);
    const event = await receivedTopUp(fixture, wallet.id);
    expect(event.webhook_id).toBe(listed.message_id);
    // The relay's next pass finds it handled and marks it.
    await eventually(() => (fixture.walletEvents('SELECT COUNT(*) AS count FROM wallet_events WHERE id = ? AND published_ms IS NOT NULL', listed.message_id) === 1 ? true : undefined), 'the event marked published');
    expect(fixture.webhookEvents('SELECT COUNT(*) AS count FROM webhook_events WHERE id = ?', listed.message_id)).toBe(1);
    expect((await operator(fixture.test, 'POST', `/v1/bus/dead-letters/${listed.id}/replay`)).status).toBe(404);
    expect((await paygrid(fixture.test, 'replay', listed.id)).code).toBe(1);
  }, 60_000);
});

/** Deletes every stream of one prefix: tests share the NATS server and leave nothing behind. */
async function deleteStreams(url: string, prefix: string): Promise<void> {
  const connection = await connect({ servers: url });
  try {
    const manager = await jetstreamManager(connection);
    for await (const stream of manager.streams.list()) {
      if (stream.config.name.startsWith(`${prefix.toUpperCase()}_`)) await manager.streams.delete(stream.config.name);
    }
  } finally {
    await connection.close();
  }
}

describeWithNats('events over NATS JetStream', (nats_url) => {
  const prefix = `t${randomBytes(6).toString('hex')}`;
  const bus = new FaultyBus();
  const fixture = platformFixture(() => ({ NATS_URL: nats_url, BUS_STREAM_PREFIX: prefix }), bus);
  afterAll(async () => {
    await deleteStreams(nats_url, prefix);
  });

  it('delivers wallet and payment events to webhook endpoints, each once', async () => {
    const wallet_id = await topUpWallet(fixture);
    const top_up = await receivedTopUp(fixture, wallet_id);
    const intent = await fixture.merchant.client.paymentIntents.create({ amount: 2_500, currency: 'usd' });
    const token = await new Paygrid({ api_key: fixture.merchant.publishable_key, base_url: fixture.test.url }).tokens.create({
      card: { number: test_card_numbers.succeeds, exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' },
    });
    await fixture.merchant.client.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: token.id } });
    const succeeded = await eventually(() => fixture.receiver.received.find((each) => each.type === 'payment_intent.succeeded' && each.object.id === intent.id), 'the payment event at the receiver');
    expect(bus.deliveries.find((each) => each.id === top_up.webhook_id)?.subject).toBe('wallet.events.top_up');
    expect(bus.deliveries.find((each) => each.id === succeeded.webhook_id)?.subject).toBe('payments.events.payment_intent');
    for (const id of [top_up.webhook_id, succeeded.webhook_id]) {
      expect(fixture.webhookEvents('SELECT COUNT(*) AS count FROM webhook_events WHERE id = ?', id)).toBe(1);
      expect(fixture.webhookEvents('SELECT COUNT(*) AS count FROM webhook_deliveries WHERE event_id = ?', id)).toBe(1);
    }
    // Safe in the stream: the relay marked it.
    await eventually(() => (fixture.walletEvents('SELECT COUNT(*) AS count FROM wallet_events WHERE id = ? AND published_ms IS NOT NULL', top_up.webhook_id) === 1 ? true : undefined), 'the top-up event marked published');
  }, 60_000);

  it('delivers again after the handler failed, until it succeeds', async () => {
    const client = fixture.merchant.client;
    const wallet = await client.wallets.create({ customer: (await client.customers.create({ name: 'Lin' })).id, currency: 'usd' });
    bus.faults.push({ marker: wallet.id, before: 2 });
    await client.wallets.topUp(wallet.id, { amount: 900 });
    const event = await receivedTopUp(fixture, wallet.id);
    expect(bus.deliveriesOf(event.webhook_id)).toEqual([1, 2, 3]);
    expect(fixture.webhookEvents('SELECT COUNT(*) AS count FROM webhook_deliveries WHERE event_id = ?', event.webhook_id)).toBe(1);
  }, 60_000);

  it('stores nothing twice: not for a message delivered again after it was stored, nor for one published twice', async () => {
    const client = fixture.merchant.client;
    const wallet = await client.wallets.create({ customer: (await client.customers.create({ name: 'Kim' })).id, currency: 'usd' });
    bus.faults.push({ marker: wallet.id, after: 1 });
    await client.wallets.topUp(wallet.id, { amount: 400 });
    const event = await receivedTopUp(fixture, wallet.id);
    await eventually(() => (bus.deliveriesOf(event.webhook_id).length === 2 ? true : undefined), 'the second delivery');
    const message = bus.deliveries.find((each) => each.id === event.webhook_id);
    // The relay publishing it again (a crash before it marked the event) is refused by the stream.
    const publisher = await createNatsBus({ url: nats_url, prefix });
    try {
      expect(await publisher.publish({ subject: 'wallet.events.top_up', id: event.webhook_id, data: message?.data ?? '' })).toMatchObject({ duplicate: true });
    } finally {
      await publisher.close();
    }
    await new Promise((done) => setTimeout(done, 500));
    expect(bus.deliveriesOf(event.webhook_id)).toEqual([1, 2]);
    expect(fixture.webhookEvents('SELECT COUNT(*) AS count FROM webhook_events WHERE id = ?', event.webhook_id)).toBe(1);
    expect(fixture.webhookEvents('SELECT COUNT(*) AS count FROM webhook_deliveries WHERE event_id = ?', event.webhook_id)).toBe(1);
    expect(fixture.receiver.received.filter((each) => each.webhook_id === event.webhook_id)).toHaveLength(1);
  }, 60_000);

  it('makes a dead letter of an event the handler always refuses: counted, listed, and delivered by a replay', async () => {
    const before = await operator(fixture.test, 'GET', '/metrics');
    const client = fixture.merchant.client;
    const wallet = await client.wallets.create({ customer: (await client.customers.create({ name: 'Noor' })).id, currency: 'usd' });
    bus.faults.push({ marker: wallet.id, before: 'always' });
    await client.wallets.topUp(wallet.id, { amount: 300 });
    const letter = await eventually(async () => {
      const letters = (await operator(fixture.test, 'GET', '/v1/bus/dead-letters?limit=10')).body.data as { id: string; message_id: string; subject: string; subscriber: string; data: string }[];
      return letters.find((each) => each.data.includes(wallet.id));
    }, 'the dead letter');
    expect(letter).toMatchObject({ subject: 'wallet.events.top_up', subscriber: 'webhooks' });
    expect(bus.deliveriesOf(letter.message_id)).toEqual([1, 2, 3]);
    const after = await operator(fixture.test, 'GET', '/metrics');
    expect(deadLetterCount(after.text, 'wallet.events.top_up') - deadLetterCount(before.text, 'wallet.events.top_up')).toBe(1);
    expect(fixture.webhookEvents('SELECT COUNT(*) AS count FROM webhook_events WHERE id = ?', letter.message_id)).toBe(0);

    bus.faults.splice(bus.faults.findIndex((fault) => fault.marker === wallet.id), 1);
    expect(await operator(fixture.test, 'POST', `/v1/bus/dead-letters/${letter.id}/replay`)).toMatchObject({ status: 200, body: { replayed: true } });
    const event = await receivedTopUp(fixture, wallet.id);
    expect(event.webhook_id).toBe(letter.message_id);
    expect(fixture.webhookEvents('SELECT COUNT(*) AS count FROM webhook_deliveries WHERE event_id = ?', letter.message_id)).toBe(1);
    const left = (await operator(fixture.test, 'GET', '/v1/bus/dead-letters')).body.data as { id: string }[];
    expect(left.map((each) => each.id)).not.toContain(letter.id);
  }, 60_000);
});
