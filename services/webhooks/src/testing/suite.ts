// The webhooks service's behaviour, run on SQLite and on PostgreSQL (service.test.ts). Every test
// has a database of its own, so that one test's pending retries never meet another's services.
import { createServer } from 'node:net';
import { ApiError, ManualClock, type Tenant } from '@paygrid/kernel';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { claimDueDeliveries } from '../store';
import type { WebhooksService } from '../service';
import type { PublishEventInput, WebhookEventType } from '../types';
import { response_body_bytes_max } from '../sender';
import { eventually, newTenant, openReceiver, type Harness, type Receiver } from './harness';

async function apiErrorOf(work: Promise<unknown>): Promise<ApiError> {
  const error: unknown = await work.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

let event_counter = 0;

function eventInput(type: WebhookEventType, object: Record<string, unknown> = {}, sequence = 1): PublishEventInput {
  event_counter += 1;
  return {
    id: `evt_test_${String(Date.now())}_${String(event_counter)}`,
    type,
    data: { object: { id: `obj_${String(event_counter)}`, object: type.split('.')[0] ?? 'object', ...object } },
    sequence,
    created: Math.floor(Date.now() / 1000),
  };
}

/** A fetch that sends nothing: it notes each URL in `sent` and answers 200. */
function recordingFetch(sent: string[]): typeof fetch {
  return (input) => {
    sent.push(input instanceof Request ? input.url : input.toString());
    return Promise.resolve(new Response('ok', { status: 200 }));
  };
}

export function webhooksSuite(open: () => Promise<Harness>): void {
  let harness: Harness;
  const receivers: Receiver[] = [];

  beforeEach(async () => {
    harness = await open();
  });

  afterEach(async () => {
    await harness.close();
    for (const receiver of receivers.splice(0)) await receiver.close();
  });

  async function receiver(): Promise<Receiver> {
    const opened = await openReceiver();
    receivers.push(opened);
    return opened;
  }

  /** An endpoint on a new receiver whose secret the receiver verifies with. */
  async function endpointOn(service: WebhooksService, tenant: Tenant, enabled_events: string[] = ['*']) {
    const target = await receiver();
    const created = await service.createEndpoint(tenant, { url: target.url, enabled_events });
    target.secret = created.secret;
    return { target, endpoint: created.endpoint };
  }

  async function count(table: string): Promise<number> {
    const [row] = await harness.database.query<{ count: number }>(`SELECT COUNT(*) AS count FROM ${table}`);
    return row?.count ?? 0;
  }

  it('creates, reads, lists, updates and deletes endpoints, each tenant seeing only its own', async () => {
    const service = harness.service();
    const tenant = newTenant();
    const created = await service.createEndpoint(tenant, { url: 'https://example.com/hooks', enabled_events: ['refund.created', 'refund.created', 'order.updated'], description: 'books' });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(Buffer.from(created.secret.slice(6), 'base64')).toHaveLength(24);
    expect(created.endpoint).toEqual({
      id: expect.stringMatching(/^we_[0-9A-Za-z]{24}$/),
      object: 'webhook_endpoint',
      url: 'https://example.com/hooks',
      enabled_events: ['refund.created', 'order.updated'],
      status: 'enabled',
      description: 'books',
      secret_last4: created.secret.slice(-4),
      created: expect.any(Number),
      livemode: false,
    });
    expect(JSON.stringify(await service.getEndpoint(tenant, created.endpoint.id))).not.toContain(created.secret);
    expect(await service.getEndpoint(tenant, created.endpoint.id)).toEqual(created.endpoint);
    // At rest the secret is sealed: the row holds neither it nor its random part, only its last four characters.
    const [row] = await harness.database.query<Record<string, unknown>>('SELECT * FROM webhook_endpoints WHERE id = ?', [created.endpoint.id]);
    const stored = Buffer.concat(Object.values(row ?? {}).map((value) => (Buffer.isBuffer(value) ? value : Buffer.from(String(value)))));
    expect(stored.includes(Buffer.from(created.secret.slice('whsec_'.length)))).toBe(false);
    expect(stored.includes(Buffer.from(created.secret.slice('whsec_'.length), 'base64'))).toBe(false);
    expect(row).toMatchObject({ secret: '', secret_last4: created.secret.slice(-4) });
    // Nothing but a sealed secret can be written, whatever code writes the row.
    await expect(harness.database.execute("UPDATE webhook_endpoints SET secret = 'whsec_plain' WHERE id = ?", [created.endpoint.id])).rejects.toThrow(/sealed/);

    // Another merchant, or the same one in live mode, cannot see it: it reads as missing.
    for (const stranger of [newTenant(), { merchant_id: tenant.merchant_id, livemode: true }]) {
      const error = await apiErrorOf(service.getEndpoint(stranger, created.endpoint.id));
      expect({ type: error.type, code: error.code, param: error.param }).toEqual({ type: 'not_found_error', code: 'resource_missing', param: 'id' });
      expect((await apiErrorOf(service.updateEndpoint(stranger, created.endpoint.id, { status: 'disabled' }))).code).toBe('resource_missing');
      expect((await apiErrorOf(service.deleteEndpoint(stranger, created.endpoint.id))).code).toBe('resource_missing');
      expect((await service.listEndpoints(stranger, {})).data).toEqual([]);
    }

    const second = await service.createEndpoint(tenant, { url: 'http://example.org/', enabled_events: ['*'] });
    const first_page = await service.listEndpoints(tenant, { limit: 1 });
    expect(first_page).toEqual({ data: [second.endpoint], has_more: true });
    expect(await service.listEndpoints(tenant, { limit: 1, starting_after: second.endpoint.id })).toEqual({ data: [created.endpoint], has_more: false });

    const updated = await service.updateEndpoint(tenant, created.endpoint.id, { url: 'https://example.com/v2', enabled_events: ['*'], status: 'disabled' });
    expect(updated).toMatchObject({ url: 'https://example.com/v2', enabled_events: ['*'], status: 'disabled', description: 'books' });
    expect(await service.updateEndpoint(tenant, created.endpoint.id, { status: 'enabled' })).toMatchObject({ status: 'enabled' });

    expect(await service.deleteEndpoint(tenant, created.endpoint.id)).toEqual({ id: created.endpoint.id, object: 'webhook_endpoint', deleted: true });
    expect((await apiErrorOf(service.getEndpoint(tenant, created.endpoint.id))).type).toBe('not_found_error');
    expect((await service.listEndpoints(tenant, {})).data.map((endpoint) => endpoint.id)).toEqual([second.endpoint.id]);
  });

  it('refuses bad URLs, unknown event types and too many endpoints, naming the parameter', async () => {
    const service = harness.service();
    const tenant = newTenant();
    const refused = async (input: { url: string; enabled_events: string[] }) => {
      const error = await apiErrorOf(service.createEndpoint(tenant, input));
      return { type: error.type, code: error.code, param: error.param };
    };
    for (const url of ['ftp://example.com/', 'not a url', `https://example.com/${'a'.repeat(2048)}`, 'https://user:pass@example.com/', '']) {
      expect(await refused({ url, enabled_events: ['*'] })).toEqual({ type: 'invalid_request_error', code: 'url_invalid', param: 'url' });
    }
    expect(await refused({ url: 'https://example.com/', enabled_events: ['refund.created', 'refund.exploded'] })).toEqual({
      type: 'invalid_request_error',
      code: 'parameter_invalid',
      param: 'enabled_events[1]',
    });
    expect(await refused({ url: 'https://example.com/', enabled_events: [] })).toMatchObject({ param: 'enabled_events' });
    const { endpoint } = await service.createEndpoint(tenant, { url: 'https://example.com/', enabled_events: ['*'] });
    expect((await apiErrorOf(service.updateEndpoint(tenant, endpoint.id, { enabled_events: ['nope'] }))).param).toBe('enabled_events[0]');
    expect((await apiErrorOf(service.updateEndpoint(tenant, endpoint.id, { status: 'paused' as 'enabled' }))).param).toBe('status');
    for (let index = 1; index < 16; index += 1) await service.createEndpoint(tenant, { url: 'https://example.com/', enabled_events: ['*'] });
    expect(await refused({ url: 'https://example.com/', enabled_events: ['*'] })).toMatchObject({ code: 'webhook_endpoints_limit_reached' });
    // The limit is per merchant and mode.
    await service.createEndpoint(newTenant(), { url: 'https://example.com/', enabled_events: ['*'] });
  });

  it('refuses live-mode URLs that are not https or that reach non-public addresses, and keeps test mode open to 127.0.0.1', async () => {
    // No test asks real DNS: names resolve through this table.
    const names: Record<string, readonly string[]> = { localhost: ['127.0.0.1', '::1'], 'hooks.example.com': ['203.0.113.7'] };
    const service = harness.service({ lookup: (hostname) => Promise.resolve(names[hostname] ?? []) });
    const live = newTenant(true);
    const refused = async (url: string) => {
      const error = await apiErrorOf(service.createEndpoint(live, { url, enabled_events: ['*'] }));
      return { type: error.type, code: error.code, param: error.param, message: error.message };
    };
    const not_allowed = { type: 'invalid_request_error', code: 'url_not_allowed', param: 'url' };
    const cases: readonly (readonly [string, RegExp])[] = [
      ['http://hooks.example.com/', /must use https in live mode/],
      ['https://127.0.0.1:8443/', /127\.0\.0\.1, a loopback address/],
      ['https://[::1]/', /::1, a loopback address/],
      ['https://10.0.0.5/', /10\.0\.0\.5, a private address/],
      ['https://172.16.4.4/', /a private address/],
      ['https://192.168.0.10/', /a private address/],
      ['https://169.254.169.254/latest/meta-data/', /169\.254\.169\.254, a link-local address/],
      ['https://[fe80::1]/', /a link-local address/],
      ['https://[fd12:3456::1]/', /a unique-local IPv6 address/],
      ['https://0.0.0.0/', /an unspecified address/],
      ['https://[::]/', /an unspecified address/],
      ['https://224.0.0.251/', /a multicast address/],
      ['https://[ff02::1]/', /a multicast address/],
      ['https://localhost:8443/', /host localhost resolves to 127\.0\.0\.1, a loopback address/],
    ];
    for (const [url, message] of cases) {
      const error = await refused(url);
      expect(error, url).toMatchObject(not_allowed);
      expect(error.message, url).toMatch(message);
    }
    // The URL of an existing live endpoint is checked the same way when it changes.
    const { endpoint } = await service.createEndpoint(live, { url: 'https://hooks.example.com/', enabled_events: ['*'] });
    expect(endpoint.livemode).toBe(true);
    const changed = await apiErrorOf(service.updateEndpoint(live, endpoint.id, { url: 'https://169.254.169.254/' }));
    expect({ type: changed.type, code: changed.code, param: changed.param }).toEqual(not_allowed);
    expect((await service.getEndpoint(live, endpoint.id)).url).toBe('https://hooks.example.com/');
    // Test mode: tests and local development send to http://127.0.0.1 and localhost.
    const test_mode = newTenant();
    for (const url of ['http://127.0.0.1:9/hooks', 'http://localhost:9/hooks', 'http://10.0.0.5/hooks']) {
      expect((await service.createEndpoint(test_mode, { url, enabled_events: ['*'] })).endpoint.url).toBe(url);
    }
  });

  it('checks a live endpoint again before every attempt, and sends nothing to an address it refuses (DNS rebinding)', async () => {
    let resolves_to: readonly string[] = ['203.0.113.7'];
    const sent: string[] = [];
    const fetcher = recordingFetch(sent);
    const service = harness.service({ schedule: [0], fetch: fetcher, lookup: () => Promise.resolve(resolves_to) });
    const live = newTenant(true);
    const { endpoint } = await service.createEndpoint(live, { url: 'https://rebind.example.com/hooks', enabled_events: ['*'] });
    // After registration the name moves to the cloud metadata address.
    resolves_to = ['169.254.169.254'];
    await service.publish(live, eventInput('order.updated'));
    expect(await service.deliverDue()).toBe(1);
    expect(sent).toEqual([]);
    const [refused] = (await service.listDeliveryAttempts(live, { endpoint: endpoint.id })).data;
    expect(refused).toMatchObject({ status: 'failed', response_status: null, response_body: null, livemode: true });
    expect(refused?.error).toBe(
      'url_not_allowed: url host rebind.example.com resolves to 169.254.169.254, a link-local address (where cloud metadata services live); live-mode webhooks are sent only to public addresses',
    );
    // The failure is retried like any other; once the name is public again the event goes out.
    resolves_to = ['203.0.113.7'];
    expect(await service.deliverDue()).toBe(1);
    expect(sent).toEqual(['https://rebind.example.com/hooks']);
    expect((await service.listDeliveryAttempts(live, { endpoint: endpoint.id })).data.map((attempt) => attempt.status)).toEqual(['succeeded', 'failed']);
  });

  it('refuses at the connection a name that turns non-public after the check before the attempt', async () => {
    // A listener on loopback that counts connections: with the guard only before the attempt, the
    // socket would resolve the name again and connect here.
    let connections = 0;
    const listener = createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((done) => listener.listen(0, '127.0.0.1', done));
    const address = listener.address();
    const port = address !== null && typeof address === 'object' ? address.port : 0;
    let lookups = 0;
    // Registration and the check before the attempt see a public address; the socket's own
    // lookup, third, sees loopback.
    const service = harness.service({ schedule: [0], lookup: () => Promise.resolve((lookups += 1) <= 2 ? ['203.0.113.7'] : ['127.0.0.1']) });
    try {
      const live = newTenant(true);
      const { endpoint } = await service.createEndpoint(live, { url: `https://rebind.example.com:${port}/hooks`, enabled_events: ['*'] });
      await service.publish(live, eventInput('order.updated'));
      expect(await service.deliverDue()).toBe(1);
      expect(lookups).toBe(3);
      const [refused] = (await service.listDeliveryAttempts(live, { endpoint: endpoint.id })).data;
      expect(refused).toMatchObject({ status: 'failed', response_status: null });
      expect(refused?.error).toBe('EADDRNOTPUBLIC: rebind.example.com resolves to 127.0.0.1, a loopback address; live-mode webhooks are sent only to public addresses');
      expect(connections).toBe(0);
    } finally {
      await service.close();
      await new Promise<void>((done) => listener.close(() => done()));
    }
  });

  it('guards test-mode endpoints too when the install does not allow non-public addresses for them', async () => {
    let resolves_to: readonly string[] = ['203.0.113.7'];
    const sent: string[] = [];
    const fetcher = recordingFetch(sent);
    const service = harness.service({ schedule: [0], fetch: fetcher, test_mode_private_urls: false, lookup: () => Promise.resolve(resolves_to) });
    const test_mode = newTenant();
    for (const url of ['http://127.0.0.1:9/hooks', 'http://169.254.169.254/latest/meta-data/', 'http://10.0.0.5/hooks']) {
      const error = await apiErrorOf(service.createEndpoint(test_mode, { url, enabled_events: ['*'] }));
      expect({ type: error.type, code: error.code, param: error.param }, url).toEqual({ type: 'invalid_request_error', code: 'url_not_allowed', param: 'url' });
      expect(error.message, url).toMatch(/test-mode webhooks are sent only to public addresses$/);
    }
    // http to a public address is fine in test mode; the name is checked again before each attempt.
    const { endpoint } = await service.createEndpoint(test_mode, { url: 'http://hooks.example.com/hooks', enabled_events: ['*'] });
    resolves_to = ['127.0.0.1'];
    await service.publish(test_mode, eventInput('order.updated'));
    expect(await service.deliverDue()).toBe(1);
    expect(sent).toEqual([]);
    const [refused] = (await service.listDeliveryAttempts(test_mode, { endpoint: endpoint.id })).data;
    expect(refused?.error).toBe('url_not_allowed: url host hooks.example.com resolves to 127.0.0.1, a loopback address; test-mode webhooks are sent only to public addresses');
  });

  it('lets an operator allow private addresses for live endpoints, still over https', async () => {
    const sent: string[] = [];
    const fetcher = recordingFetch(sent);
    const service = harness.service({ allow_private_urls: true, fetch: fetcher, lookup: () => Promise.resolve(['10.0.0.8']) });
    const live = newTenant(true);
    await service.createEndpoint(live, { url: 'https://10.0.0.5/hooks', enabled_events: ['*'] });
    await service.createEndpoint(live, { url: 'https://receiver.internal/hooks', enabled_events: ['*'] });
    expect((await apiErrorOf(service.createEndpoint(live, { url: 'http://10.0.0.5/hooks', enabled_events: ['*'] }))).code).toBe('url_not_allowed');
    await service.publish(live, eventInput('order.updated'));
    expect(await service.deliverDue()).toBe(2);
    expect(sent.sort()).toEqual(['https://10.0.0.5/hooks', 'https://receiver.internal/hooks']);
  });

  it('stores a published event once, whatever number of times it is published, and lists events by type', async () => {
    const service = harness.service();
    const tenant = newTenant();
    await service.createEndpoint(tenant, { url: 'https://example.com/a', enabled_events: ['*'] });
    await service.createEndpoint(tenant, { url: 'https://example.com/b', enabled_events: ['refund.created'] });
    const input = eventInput('payment_intent.succeeded', { amount: 1_999n, currency: 'usd' }, 7);
    const published = await service.publish(tenant, input);
    expect(published).toEqual({
      id: input.id,
      object: 'event',
      type: 'payment_intent.succeeded',
      data: { object: { ...input.data.object, amount: 1_999 } },
      sequence: 7,
      created: input.created,
      livemode: false,
    });
    const again = await Promise.all([service.publish(tenant, input), service.publish(tenant, input), harness.service().publish(tenant, input)]);
    for (const each of again) expect(each).toEqual(published);
    expect(await count('webhook_events')).toBe(1);
    // One delivery for the endpoint that takes every event, none for the one that takes refunds.
    expect(await count('webhook_deliveries')).toBe(1);

    // The same id with other content, or from another merchant, is a producer's bug.
    const conflict = await apiErrorOf(service.publish(tenant, { ...input, sequence: 8 }));
    expect({ type: conflict.type, code: conflict.code }).toEqual({ type: 'idempotency_error', code: 'event_exists_with_different_content' });
    expect((await apiErrorOf(service.publish(newTenant(), input))).code).toBe('event_exists_with_different_content');

    const refund = await service.publish(tenant, eventInput('refund.created'));
    expect(await count('webhook_deliveries')).toBe(3);
    expect(await service.getEvent(tenant, input.id)).toEqual(published);
    expect((await service.listEvents(tenant, {})).data.map((event) => event.id)).toEqual([refund.id, published.id]);
    expect((await service.listEvents(tenant, {}, { type: 'refund.created' })).data.map((event) => event.id)).toEqual([refund.id]);
    expect((await apiErrorOf(service.listEvents(tenant, {}, { type: 'refund.exploded' }))).param).toBe('type');
    expect((await apiErrorOf(service.getEvent(newTenant(), input.id))).code).toBe('resource_missing');
    expect((await service.listEvents(newTenant(), {})).data).toEqual([]);

    const bad = async (input_override: Partial<PublishEventInput>) => (await apiErrorOf(service.publish(tenant, { ...eventInput('order.updated'), ...input_override }))).param;
    expect(await bad({ id: 'evt_with.dot' })).toBe('id');
    expect(await bad({ id: 'ch_123' })).toBe('id');
    expect(await bad({ type: 'order.exploded' })).toBe('type');
    expect(await bad({ type: '*' })).toBe('type');
    expect(await bad({ sequence: -1 })).toBe('sequence');
    expect(await bad({ sequence: 1.5 })).toBe('sequence');
    expect(await bad({ data: { object: { amount: 2n ** 60n } } })).toBe('data');
    const too_large = await apiErrorOf(service.publish(tenant, { ...eventInput('order.updated'), data: { object: { note: 'x'.repeat(70_000) } } }));
    expect({ type: too_large.type, code: too_large.code }).toEqual({ type: 'request_too_large_error', code: 'event_too_large' });
  });

  it('delivers each event, signed to Standard Webhooks, only to the enabled endpoints that subscribe to its type', async () => {
    const service = harness.service();
    const tenant = newTenant();
    const everything = await endpointOn(service, tenant, ['*']);
    const refunds = await endpointOn(service, tenant, ['refund.created', 'refund.succeeded']);
    const switched_off = await endpointOn(service, tenant, ['*']);
    await service.updateEndpoint(tenant, switched_off.endpoint.id, { status: 'disabled' });
    const other_merchant = await endpointOn(service, newTenant(), ['*']);
    await service.start();

    const payment = await service.publish(tenant, eventInput('payment_intent.created', { amount: 500n }));
    const refund = await service.publish(tenant, eventInput('refund.created'));
    await eventually(() => everything.target.received.length === 2 && refunds.target.received.length === 1);
    await service.close();

    for (const received of [...everything.target.received, ...refunds.target.received]) {
      expect(received.verification_error).toBeUndefined();
      expect(received.headers['content-type']).toBe('application/json');
      expect(received.headers['webhook-id']).toBe(received.event?.id);
      expect(Number(received.headers['webhook-timestamp'])).toBeCloseTo(Date.now() / 1000, -1);
      expect(received.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    }
    expect(everything.target.received.map((received) => received.event?.id).sort()).toEqual([payment.id, refund.id].sort());
    expect(refunds.target.received.map((received) => received.event)).toEqual([refund]);
    // The body is the event exactly as the API shows it.
    expect(JSON.parse(refunds.target.received[0]?.body ?? '')).toEqual(await service.getEvent(tenant, refund.id));
    expect(switched_off.target.received).toEqual([]);
    expect(other_merchant.target.received).toEqual([]);
  });

  it('keeps retrying a receiver that fails, until it recovers and has every event', async () => {
    const service = harness.service({ schedule: [5, 10, 20, 40, 80] });
    const tenant = newTenant();
    const { target, endpoint } = await endpointOn(service, tenant);
    // The first six requests fail in different ways, then the receiver is well again.
    const failures = [500, 503, 404, 429, 302, 400];
    target.reply = (index) => (index < failures.length ? { status: failures[index] ?? 500, body: `failure ${String(index)}` } : { status: 204 });
    await service.start();
    const events = await Promise.all([1, 2, 3].map(() => service.publish(tenant, eventInput('order.updated'))));
    await eventually(() => target.deliveredCounts().size === 3);
    await service.close();
    for (const event of events) expect(target.deliveredCounts().get(event.id)).toBe(1);
    expect(target.received.every((received) => received.verification_error === undefined)).toBe(true);
    const attempts = await service.listDeliveryAttempts(tenant, { endpoint: endpoint.id }, { limit: 100 });
    expect(attempts.data).toHaveLength(failures.length + 3);
    expect(attempts.data.filter((attempt) => attempt.status === 'succeeded')).toHaveLength(3);
    expect(attempts.data.filter((attempt) => attempt.status === 'failed').map((attempt) => attempt.response_status).sort()).toEqual([...failures].sort());
    expect((await service.getEndpoint(tenant, endpoint.id)).status).toBe('enabled');
  });

  it('disables an endpoint whose retries run out with no success, and tells the merchant\'s other endpoints', async () => {
    const service = harness.service({ schedule: [5, 5] });
    const tenant = newTenant();
    const failing = await endpointOn(service, tenant, ['order.updated']);
    failing.target.reply = () => ({ status: 503, body: 'down' });
    const watcher = await endpointOn(service, tenant, ['webhook_endpoint.disabled']);
    const unrelated = await endpointOn(service, tenant, ['refund.created']);
    await service.start();
    const event = await service.publish(tenant, eventInput('order.updated'));
    await eventually(() => watcher.target.received.length === 1);
    await service.close();

    expect(failing.target.received).toHaveLength(3);
    expect(await service.getEndpoint(tenant, failing.endpoint.id)).toMatchObject({ status: 'disabled' });
    const notice = watcher.target.received[0]?.event;
    expect(watcher.target.received[0]?.verification_error).toBeUndefined();
    expect(notice).toMatchObject({
      object: 'event',
      type: 'webhook_endpoint.disabled',
      data: { object: { ...failing.endpoint, status: 'disabled' } },
      sequence: 2,
      livemode: false,
    });
    expect(unrelated.target.received).toEqual([]);
    const listed = await service.listEvents(tenant, {}, { type: 'webhook_endpoint.disabled' });
    expect(listed.data.map((each) => each.id)).toEqual([notice?.id]);
    const attempts = await service.listDeliveryAttempts(tenant, { event: event.id });
    expect(attempts.data.map((attempt) => [attempt.attempt_number, attempt.status, attempt.response_status])).toEqual([
      [3, 'failed', 503],
      [2, 'failed', 503],
      [1, 'failed', 503],
    ]);
  });

  it('does not disable an endpoint that answered in the meantime, and disables one that answers 410 Gone at once', async () => {
    const clock = new ManualClock(Date.now());
    const service = harness.service({ schedule: [1_000, 1_000], clock });
    const tenant = newTenant();
    const flaky = await endpointOn(service, tenant, ['order.updated', 'refund.created']);
    // Order events always fail; refund events get through. The endpoint is alive.
    flaky.target.reply = (_index, received) => (received.event?.type === 'refund.created' ? { status: 200 } : { status: 500 });
    const gone = await endpointOn(service, tenant, ['order.updated']);
    gone.target.reply = () => ({ status: 410, body: 'gone' });
    const watcher = await endpointOn(service, tenant, ['webhook_endpoint.disabled']);
    const order = await service.publish(tenant, eventInput('order.updated'));
    expect(await service.deliverDue()).toBe(2);
    // A success between the failing delivery's first attempt and its last.
    const refund = await service.publish(tenant, eventInput('refund.created'));
    // The refund, and the notice that the 410 endpoint is disabled.
    expect(await service.deliverDue()).toBe(2);
    clock.advance(1_200);
    expect(await service.deliverDue()).toBe(1);
    clock.advance(1_200);
    expect(await service.deliverDue()).toBe(1);
    expect(await service.deliverDue()).toBe(0);
    const order_attempts = await service.listDeliveryAttempts(tenant, { event: order.id, endpoint: flaky.endpoint.id });
    expect(order_attempts.data.map((attempt) => attempt.status)).toEqual(['failed', 'failed', 'failed']);
    expect((await service.getEndpoint(tenant, flaky.endpoint.id)).status).toBe('enabled');
    expect(flaky.target.deliveredCounts().get(refund.id)).toBe(1);
    expect(gone.target.received).toHaveLength(1);
    expect((await service.getEndpoint(tenant, gone.endpoint.id)).status).toBe('disabled');
    expect(watcher.target.received.map((received) => received.event?.data.object.id)).toEqual([gone.endpoint.id]);

    // Without that success, the same failures disable it.
    const order_again = await service.publish(tenant, eventInput('order.updated'));
    for (let attempt = 0; attempt < 3; attempt += 1) {
      expect(await service.deliverDue()).toBe(1);
      clock.advance(1_200);
    }
    expect((await service.listDeliveryAttempts(tenant, { event: order_again.id })).data).toHaveLength(3);
    expect((await service.getEndpoint(tenant, flaky.endpoint.id)).status).toBe('disabled');
    expect(await service.deliverDue()).toBe(1);
    expect(watcher.target.received.map((received) => received.event?.data.object.id)).toEqual([gone.endpoint.id, flaky.endpoint.id]);
  });

  it('logs every attempt: status, the first KiB of the answer, errors and durations', async () => {
    const clock = new ManualClock(Date.now());
    const service = harness.service({ schedule: [0, 0], clock });
    const tenant = newTenant();
    const { target, endpoint } = await endpointOn(service, tenant);
    const long_answer = 'é'.repeat(3_000);
    target.reply = (index) => (index === 0 ? { status: 500, body: long_answer, delay_ms: 30 } : { status: 200, body: 'thanks' });
    const event = await service.publish(tenant, eventInput('order.updated'));
    expect(await service.deliverDue()).toBe(1);
    expect(await service.deliverDue()).toBe(1);
    expect(await service.deliverDue()).toBe(0);

    const unreachable = await receiver();
    await unreachable.close();
    const closed = await service.createEndpoint(tenant, { url: unreachable.url, enabled_events: ['refund.created'] });
    const refund = await service.publish(tenant, eventInput('refund.created'));
    await service.deliverDue();

    const by_event = await service.listDeliveryAttempts(tenant, { event: event.id });
    expect(by_event.data).toHaveLength(2);
    const [second, first] = by_event.data;
    expect(first).toMatchObject({
      object: 'webhook_delivery_attempt',
      event: event.id,
      endpoint: endpoint.id,
      attempt_number: 1,
      status: 'failed',
      response_status: 500,
      error: null,
      created: Math.floor(clock.now() / 1000),
      livemode: false,
    });
    expect(first?.id).toMatch(/^wda_/);
    expect(first?.delivery).toMatch(/^wdl_/);
    expect(Buffer.byteLength(first?.response_body ?? '')).toBeGreaterThanOrEqual(response_body_bytes_max - 2);
    expect(long_answer.startsWith((first?.response_body ?? 'x').slice(0, 500))).toBe(true);
    expect(first?.response_body?.length).toBeLessThanOrEqual(response_body_bytes_max);
    expect(first?.duration_ms).toBeGreaterThanOrEqual(25);
    expect(second).toMatchObject({ attempt_number: 2, status: 'succeeded', response_status: 200, response_body: 'thanks', error: null, delivery: first?.delivery });

    const [refused] = (await service.listDeliveryAttempts(tenant, { endpoint: closed.endpoint.id })).data;
    expect(refused).toMatchObject({ event: refund.id, status: 'failed', response_status: null, response_body: null });
    expect(refused?.error).toMatch(/ECONNREFUSED/);
    expect((await service.listDeliveryAttempts(tenant, {}, { limit: 2 })).has_more).toBe(true);
    expect((await service.listDeliveryAttempts(newTenant(), { event: event.id })).data).toEqual([]);
    expect((await service.listDeliveryAttempts({ merchant_id: tenant.merchant_id, livemode: true }, {})).data).toEqual([]);
  });

  it('resends an event to an endpoint on request: one new attempt, the same webhook-id', async () => {
    const service = harness.service();
    const tenant = newTenant();
    const { target, endpoint } = await endpointOn(service, tenant, ['order.updated']);
    const other = await endpointOn(service, tenant, ['refund.created']);
    const event = await service.publish(tenant, eventInput('order.updated'));
    await service.deliverDue();
    expect(target.received).toHaveLength(1);

    target.reply = () => ({ status: 500 });
    const delivery = await service.resendEvent(tenant, event.id, endpoint.id);
    expect(delivery).toMatchObject({ object: 'webhook_delivery', event: event.id, endpoint: endpoint.id, kind: 'manual', status: 'pending', attempts: 0 });
    await service.deliverDue();
    // A manual resend is tried once: it fails, and nothing else is scheduled.
    expect(await service.deliverDue()).toBe(0);
    target.reply = () => ({ status: 200 });
    // An endpoint may be sent an event it does not subscribe to, when asked.
    await service.resendEvent(tenant, event.id, other.endpoint.id);
    await service.resendEvent(tenant, event.id, endpoint.id);
    await service.deliverDue();
    expect(target.received.map((received) => received.headers['webhook-id'])).toEqual([event.id, event.id, event.id]);
    expect(other.target.received.map((received) => received.event?.id)).toEqual([event.id]);
    expect((await service.listDeliveryAttempts(tenant, { event: event.id, endpoint: endpoint.id })).data.map((attempt) => attempt.status)).toEqual([
      'succeeded',
      'failed',
      'succeeded',
    ]);
    expect((await service.getEndpoint(tenant, endpoint.id)).status).toBe('enabled');

    expect((await apiErrorOf(service.resendEvent(newTenant(), event.id, endpoint.id))).param).toBe('event');
    expect((await apiErrorOf(service.resendEvent(tenant, event.id, 'we_missing'))).param).toBe('endpoint');
    await service.updateEndpoint(tenant, endpoint.id, { status: 'disabled' });
    expect((await apiErrorOf(service.resendEvent(tenant, event.id, endpoint.id))).code).toBe('webhook_endpoint_disabled');
  });

  it('treats a redirect as a failure and does not follow it', async () => {
    const service = harness.service({ schedule: [] });
    const tenant = newTenant();
    const { target, endpoint } = await endpointOn(service, tenant);
    const elsewhere = await receiver();
    target.reply = () => ({ status: 307, headers: { location: elsewhere.url } });
    const event = await service.publish(tenant, eventInput('order.updated'));
    await service.deliverDue();
    expect(elsewhere.received).toEqual([]);
    const [attempt] = (await service.listDeliveryAttempts(tenant, { event: event.id })).data;
    expect(attempt).toMatchObject({ endpoint: endpoint.id, status: 'failed', response_status: 307 });
  });

  it('cancels pending deliveries of an endpoint disabled or deleted before they were sent', async () => {
    const service = harness.service();
    const tenant = newTenant();
    const disabled = await endpointOn(service, tenant);
    const deleted = await endpointOn(service, tenant);
    await service.publish(tenant, eventInput('order.updated'));
    await service.updateEndpoint(tenant, disabled.endpoint.id, { status: 'disabled' });
    await service.deleteEndpoint(tenant, deleted.endpoint.id);
    expect(await service.deliverDue()).toBe(2);
    expect(await service.deliverDue()).toBe(0);
    expect(disabled.target.received).toEqual([]);
    expect(deleted.target.received).toEqual([]);
    const statuses = await harness.database.query<{ status: string }>('SELECT status FROM webhook_deliveries');
    expect(statuses.map((row) => row.status)).toEqual(['canceled', 'canceled']);
  });

  it('gives up on a receiver that does not answer in time, and retries it', async () => {
    const service = harness.service({ delivery_timeout_ms: 150, lease_ms: 300, schedule: [0] });
    const tenant = newTenant();
    const { target } = await endpointOn(service, tenant);
    target.reply = (index) => (index === 0 ? 'hang' : { status: 200 });
    const event = await service.publish(tenant, eventInput('order.updated'));
    const started = Date.now();
    await service.deliverDue();
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    const [timed_out] = (await service.listDeliveryAttempts(tenant, { event: event.id })).data;
    expect(timed_out).toMatchObject({ status: 'failed', response_status: null, response_body: null });
    expect(timed_out?.error).toMatch(/^timeout/);
    expect(timed_out?.duration_ms).toBeGreaterThanOrEqual(140);
    await service.deliverDue();
    expect(target.deliveredCounts().get(event.id)).toBe(1);
  });

  it('waits in close() for the deliveries in flight', async () => {
    const service = harness.service();
    const tenant = newTenant();
    const { target } = await endpointOn(service, tenant);
    target.reply = () => ({ status: 200, delay_ms: 150 });
    await service.start();
    const event = await service.publish(tenant, eventInput('order.updated'));
    await eventually(() => target.received.length === 1);
    await service.close();
    const [attempt] = (await service.listDeliveryAttempts(tenant, { event: event.id })).data;
    expect(attempt).toMatchObject({ status: 'succeeded', response_status: 200 });
  });

  it('sends each event once when two services share the database', async () => {
    const tenant = newTenant();
    // Each service counts the requests it sends: together, exactly one per event and endpoint.
    const requests_sent = [0, 0];
    const counting = (index: 0 | 1): typeof fetch => (input, init) => {
      requests_sent[index] = (requests_sent[index] ?? 0) + 1;
      return fetch(input, init);
    };
    const first = harness.service({ fetch: counting(0) });
    const second = harness.service({ database: harness.openSecondDatabase(), fetch: counting(1) });
    const { target } = await endpointOn(first, tenant);
    const slow_target = await endpointOn(first, tenant);
    slow_target.target.reply = () => ({ status: 200, delay_ms: 5 });
    await first.start();
    await second.start();
    const events = [];
    for (let index = 0; index < 40; index += 1) events.push(await (index % 2 === 0 ? first : second).publish(tenant, eventInput('order.updated')));
    await eventually(() => target.deliveredCounts().size === 40 && slow_target.target.deliveredCounts().size === 40);
    await first.close();
    await second.close();
    for (const event of events) {
      expect(target.deliveredCounts().get(event.id)).toBe(1);
      expect(slow_target.target.deliveredCounts().get(event.id)).toBe(1);
    }
    expect(target.received).toHaveLength(40);
    expect(slow_target.target.received).toHaveLength(40);
    expect((requests_sent[0] ?? 0) + (requests_sent[1] ?? 0)).toBe(80);
  });

  it('leaves a delivery claimed by a process that died alone until its lease runs out, then sends it', async () => {
    const clock = new ManualClock(Date.now());
    const service = harness.service({ clock, lease_ms: 60_000, delivery_timeout_ms: 1_000 });
    const tenant = newTenant();
    const { target } = await endpointOn(service, tenant);
    const event = await service.publish(tenant, eventInput('order.updated'));
    // A process claims the delivery, and dies before sending it.
    const claimed = await claimDueDeliveries(harness.database, clock.now(), 10, 60_000, 'dead-process');
    expect(claimed).toHaveLength(1);
    expect(await claimDueDeliveries(harness.database, clock.now(), 10, 60_000, 'other-process')).toEqual([]);
    expect(await service.deliverDue()).toBe(0);
    clock.advance(59_999);
    expect(await service.deliverDue()).toBe(0);
    clock.advance(1);
    expect(await service.deliverDue()).toBe(1);
    expect(target.received.map((received) => received.headers['webhook-id'])).toEqual([event.id]);
  });
}
