// The webhooks service's side of the bus: it takes every event the wallet and payments services
// publish and stores it, with one delivery per matching endpoint, through `publish`.
//
// Delivery on the bus is at least once, so the handler is idempotent by the message id, which is
// the event id: the event's insert (`ON CONFLICT (id) DO NOTHING`, in the transaction that writes
// its deliveries) is the inbox of processed ids. A redelivered message finds its event stored and
// writes nothing; a message with the same id and other content is refused, and after its last
// delivery becomes a dead letter.
import { decodeEventMessage, domainEventsSubject, type Bus, type BusMessage, type BusSubscription, type SubscribeOptions } from '@paygrid/kernel/bus';
import type { WebhooksService } from './service';

/** The durable name the webhooks service subscribes under, once per domain. */
export const events_durable = 'webhooks';
/** The domains whose events reach merchants' webhook endpoints: one subscription each (NATS 2.9 filters a consumer on one subject). */
export const event_domains = ['wallet', 'payments'] as const;
/** Deliveries of one event message at most; after the last one fails it is a dead letter. */
export const events_deliveries_max = 8;
/** Waits before redeliveries: a database that is away for a while (a failover) is waited out. */
export const events_redelivery_delays_ms: readonly number[] = [1_000, 5_000, 30_000, 120_000, 600_000];
/**
 * How long storing one event may take before the delivery counts as failed: one transaction, so
 * twice SQLite's busy timeout. On NATS it also sets the ack wait (this plus 5 s), after which
 * messages a dead process had taken are delivered again.
 */
export const events_handler_timeout_ms = 10_000;

/**
 * Event messages stored at once, at most. Each store is one insert through the service's group
 * commit, so messages handled together share a commit: one at a time, every event was a commit of
 * its own, the webhooks process's largest cost per wallet transfer in the distributed mode. Storing
 * does not depend on order: an event carries its object's sequence, and its insert is keyed by id.
 */
export const events_handlers_in_flight_max = 32;

export type EventSubscriptionSettings = Pick<SubscribeOptions, 'deliveries_max' | 'redelivery_delays_ms' | 'handler_timeout_ms' | 'handlers_in_flight_max'>;

export const events_subscription_settings: EventSubscriptionSettings = {
  deliveries_max: events_deliveries_max,
  redelivery_delays_ms: events_redelivery_delays_ms,
  handler_timeout_ms: events_handler_timeout_ms,
  handlers_in_flight_max: events_handlers_in_flight_max,
};

/** Stores one event message: what the subscriptions' handler does. */
export async function storeEventMessage(webhooks: Pick<WebhooksService, 'publish'>, message: BusMessage): Promise<void> {
  const { tenant, event } = decodeEventMessage(message.data);
  if (event.id !== message.id) throw new Error(`an event message's id (${message.id}) is its event's id (${event.id})`);
  await webhooks.publish(tenant, event);
}

/**
 * Subscribes the webhooks service to every domain's events. Returns the subscriptions, for the
 * caller to close after the relays that publish to them have stopped.
 */
export async function subscribeWebhooksToEvents(bus: Bus, webhooks: Pick<WebhooksService, 'publish'>, settings: EventSubscriptionSettings = events_subscription_settings): Promise<BusSubscription[]> {
  const subscriptions: BusSubscription[] = [];
  try {
    for (const domain of event_domains) {
      subscriptions.push(
        await bus.subscribe({
          subject: domainEventsSubject(domain),
          durable: events_durable,
          handler: (message) => storeEventMessage(webhooks, message),
          ...settings,
        }),
      );
    }
  } catch (error) {
    for (const subscription of subscriptions) await subscription.close();
    throw error;
  }
  return subscriptions;
}
