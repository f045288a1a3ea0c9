// The webhooks service's side of the bus: its event insert is the inbox, so a message delivered
// again, or by two processes at once, stores one event and one delivery per endpoint.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryBus, encodeEventMessage, type BusMessage } from '@paygrid/kernel/bus';
import { describeWithPostgres } from '@paygrid/kernel/testing';
import { storeEventMessage, subscribeWebhooksToEvents } from './consumer';
import { newTenant, openPostgresHarness, openSqliteHarness, type Harness } from './testing/harness';

function consumerSuite(open: () => Promise<Harness>): void {
  let harness: Harness;
  beforeEach(async () => {
    harness = await open();
  });
  afterEach(async () => {
    await harness.close();
  });

  const count = async (sql: string, id: string) => Number((await harness.database.query<{ count: number | string }>(sql, [id]))[0]?.count);

  function messageOf(tenant: ReturnType<typeof newTenant>, id: string, amount = 1_500): BusMessage {
    const event = { id, type: 'wallet.top_up.succeeded', data: { object: { id: 'wtu_1', object: 'top_up', amount } }, sequence: 1, created: 1_700_000_000 };
    return { id, subject: 'wallet.events.top_up', data: encodeEventMessage(tenant, event), headers: {}, delivery: 1 };
  }

  it('stores a message delivered again, or by two processes at once, once, with one delivery per endpoint', async () => {
    const tenant = newTenant();
    const first = harness.service();
    const second = harness.service({ database: harness.openSecondDatabase() });
    await first.createEndpoint(tenant, { url: 'http://127.0.0.1:9/hooks', enabled_events: ['*'] });
    await first.createEndpoint(tenant, { url: 'http://127.0.0.1:9/other', enabled_events: ['wallet.top_up.succeeded'] });
    const message = messageOf(tenant, 'evt_once');
    await Promise.all([storeEventMessage(first, message), storeEventMessage(second, message), storeEventMessage(first, { ...message, delivery: 2 })]);
    await storeEventMessage(second, { ...message, delivery: 3 });
    expect(await count('SELECT COUNT(*) AS count FROM webhook_events WHERE id = ?', 'evt_once')).toBe(1);
    expect(await count('SELECT COUNT(*) AS count FROM webhook_deliveries WHERE event_id = ?', 'evt_once')).toBe(2);
  });

  it('refuses a message whose id is not its event’s, and one with another content under a stored id', async () => {
    const tenant = newTenant();
    const service = harness.service();
    await storeEventMessage(service, messageOf(tenant, 'evt_kept'));
    await expect(storeEventMessage(service, { ...messageOf(tenant, 'evt_kept'), id: 'evt_other' })).rejects.toThrow("is its event's id");
    await expect(storeEventMessage(service, messageOf(tenant, 'evt_kept', 9_999))).rejects.toThrow('different content');
    expect(await count('SELECT COUNT(*) AS count FROM webhook_events WHERE id = ?', 'evt_other')).toBe(0);
  });

  it('takes every domain’s events from the bus under the durable name webhooks', async () => {
    const bus = createMemoryBus();
    const service = harness.service();
    const subscriptions = await subscribeWebhooksToEvents(bus, service);
    const tenant = newTenant();
    const wallet_event = messageOf(tenant, 'evt_wallet');
    const payment_event = { id: 'evt_payment', type: 'payment_intent.succeeded', data: { object: { id: 'pi_1', object: 'payment_intent' } }, sequence: 2, created: 1_700_000_000 };
    const published = [
      await bus.publish({ subject: wallet_event.subject, id: wallet_event.id, data: wallet_event.data }),
      await bus.publish({ subject: 'payments.events.payment_intent', id: payment_event.id, data: encodeEventMessage(tenant, payment_event) }),
    ];
    await Promise.all(published.map((result) => result.handled ?? Promise.resolve()));
    expect(await count('SELECT COUNT(*) AS count FROM webhook_events WHERE id = ?', 'evt_wallet')).toBe(1);
    expect(await count('SELECT COUNT(*) AS count FROM webhook_events WHERE id = ?', 'evt_payment')).toBe(1);
    for (const subscription of subscriptions) await subscription.close();
    await bus.close();
  });
}

describe('webhooks consuming events on SQLite', () => {
  consumerSuite(openSqliteHarness);
});

describeWithPostgres('webhooks consuming events on PostgreSQL', (url) => {
  consumerSuite(() => openPostgresHarness(url));
});
