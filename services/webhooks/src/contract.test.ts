// The webhooks service over HTTP: every call made through the RPC client gives what the same call
// on the service gives, results and ApiErrors alike.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSameRefusal, serveOverRpc, type ServedOverRpc } from '@paygrid/kernel/testing';
import { webhooks_contract } from './contract';
import type { WebhooksService } from './service';
import { newTenant, openSqliteHarness, type Harness } from './testing/harness';
import type { WebhooksClient } from './types';

// Never started, so nothing is delivered: the address only has to pass the test-mode URL check.
const receiver_url = 'http://127.0.0.1:9/hooks';
const tenant = newTenant();

let harness: Harness;
let webhooks: WebhooksService;
let served: ServedOverRpc<WebhooksClient>;
let remote: WebhooksClient;

beforeAll(async () => {
  harness = await openSqliteHarness();
  webhooks = harness.service();
  served = await serveOverRpc(webhooks_contract, webhooks);
  remote = served.remote;
});

afterAll(async () => {
  await served.close();
  await harness.close();
});


describe('webhooks over RPC', () => {
  it('manages endpoints as the service does', async () => {
    const created = await remote.createEndpoint(tenant, { url: receiver_url, enabled_events: ['payment_intent.succeeded'], description: null });
    expect(created.secret).toMatch(/^whsec_/);
    expect(await remote.getEndpoint(tenant, created.endpoint.id)).toEqual(await webhooks.getEndpoint(tenant, created.endpoint.id));
    const updated = await remote.updateEndpoint(tenant, created.endpoint.id, { description: 'books', enabled_events: ['*'] });
    expect(updated).toEqual(await webhooks.getEndpoint(tenant, created.endpoint.id));
    for (let index = 0; index < 3; index += 1) await webhooks.createEndpoint(tenant, { url: receiver_url, enabled_events: ['*'] });
    const first = await remote.listEndpoints(tenant, { limit: 2 });
    expect(first).toEqual(await webhooks.listEndpoints(tenant, { limit: 2 }));
    expect(first.has_more).toBe(true);
    const cursor = first.data[1]?.id;
    expect(await remote.listEndpoints(tenant, { limit: 2, starting_after: cursor })).toEqual(await webhooks.listEndpoints(tenant, { limit: 2, starting_after: cursor }));
    expect(await remote.deleteEndpoint(tenant, created.endpoint.id)).toEqual({ id: created.endpoint.id, object: 'webhook_endpoint', deleted: true });
    await expectSameRefusal(webhooks.deleteEndpoint(tenant, created.endpoint.id), remote.deleteEndpoint(tenant, created.endpoint.id));
  });

  it('publishes events with amounts in their data, once per id, and lists them as the service does', async () => {
    const object = { id: 'pi_1', object: 'payment_intent', amount: 1_250n, amount_refunded: 0n, next_action: null, metadata: { note: 'x' } };
    const input = { id: 'evt_rpc_1', type: 'payment_intent.succeeded', data: { object }, sequence: 2, created: 1_700_000_000 };
    const event = await remote.publish(tenant, input);
    expect(event).toEqual(await webhooks.getEvent(tenant, 'evt_rpc_1'));
    // The same id again stores nothing and answers the stored event: the contract's idempotence.
    expect(await remote.publish(tenant, input)).toEqual(event);
    await webhooks.publish(tenant, { ...input, id: 'evt_rpc_2', type: 'refund.created' });
    expect(await remote.listEvents(tenant, { limit: 1 })).toEqual(await webhooks.listEvents(tenant, { limit: 1 }));
    expect(await remote.listEvents(tenant, {}, { type: 'refund.created' })).toEqual(await webhooks.listEvents(tenant, {}, { type: 'refund.created' }));
    expect(await remote.listDeliveryAttempts(tenant, { event: 'evt_rpc_1' })).toEqual(await webhooks.listDeliveryAttempts(tenant, { event: 'evt_rpc_1' }));
    const endpoint = (await webhooks.listEndpoints(tenant, { limit: 1 })).data[0];
    if (endpoint === undefined) throw new Error('the first test left endpoints');
    const delivery = await remote.resendEvent(tenant, 'evt_rpc_1', endpoint.id);
    expect(delivery).toMatchObject({ object: 'webhook_delivery', event: 'evt_rpc_1', endpoint: endpoint.id, kind: 'manual' });
  });

  it('refuses what the service refuses, with the same ApiError', async () => {
    await expectSameRefusal(webhooks.getEndpoint(tenant, 'we_missing'), remote.getEndpoint(tenant, 'we_missing'));
    await expectSameRefusal(webhooks.getEvent(tenant, 'evt_missing'), remote.getEvent(tenant, 'evt_missing'));
    const invalid = await expectSameRefusal(
      webhooks.createEndpoint(tenant, { url: 'ftp://example.com', enabled_events: ['*'] }),
      remote.createEndpoint(tenant, { url: 'ftp://example.com', enabled_events: ['*'] }),
    );
    expect(invalid.type).toBe('invalid_request_error');
    const changed = { id: 'evt_rpc_1', type: 'payment_intent.succeeded', data: { object: { amount: 1n } }, sequence: 2, created: 1_700_000_000 };
    await expectSameRefusal(webhooks.publish(tenant, changed), remote.publish(tenant, changed));
  });
});
