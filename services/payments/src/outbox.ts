// The outbox relay. Events are written in the same transaction as the change they report (see
// writes.ts); the relay reads them in sequence order, hands each to the publisher, and marks it
// published. Delivery is at least once: a crash between publish and mark publishes again, and
// receivers de-duplicate by event id.
import { isAssertionError, type Clock, type Database } from '@paygrid/kernel';
import { logFailure, tenantOf, type PaymentsLog } from './context';
import { decodeJson, listUnpublishedEvents, markEventPublished } from './store';
import type { EventObject, EventPublisher, PaymentEvent } from './types';

/** Events one relay pass publishes at most; the next pass takes the rest. */
export const relay_batch_max = 100;

/**
 * Publishes unpublished events in order. It stops at the first failure, so that events of one
 * object never overtake each other; the next pass starts there again. Returns how many went out.
 */
export async function relayEvents(database: Database, publisher: EventPublisher, clock: Clock, log: PaymentsLog): Promise<number> {
  let published = 0;
  const rows = await listUnpublishedEvents(database, relay_batch_max);
  for (const row of rows) {
    const event: PaymentEvent = {
      id: row.id,
      object: 'event',
      type: row.type,
      data: { object: decodeJson(row.data) as EventObject },
      sequence: row.object_version,
      created: row.created,
      livemode: row.livemode,
    };
    try {
      await publisher.publish(tenantOf(row), event);
    } catch (error) {
      if (isAssertionError(error)) throw error;
      logFailure(log, 'publishing an event; the relay tries again', error, { event: row.id });
      return published;
    }
    await markEventPublished(database, row.id, clock.now());
    published += 1;
  }
  return published;
}

/** Deletes events published before `before_ms`, so that the outbox does not grow without bound. */
export async function pruneEvents(database: Database, before_ms: number): Promise<number> {
  const result = await database.execute('DELETE FROM payment_events WHERE published_ms IS NOT NULL AND published_ms < ?', [before_ms]);
  return result.rowCount;
}
