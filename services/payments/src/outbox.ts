// The outbox relay. Events are written in the same transaction as the change they report (see
// writes.ts); the relay reads them in sequence order, hands each to the publisher, and marks it
// published once the publisher resolved: the platform's publisher (the bus, subject
// `payments.events.<object>`) resolves only when the event is safe there (decision 74). Delivery is
// at least once: a crash between publish and mark publishes again, and receivers de-duplicate by
// event id.
import { publishPass, runWithTraceparent, type Clock, type Database, type GroupCommitter } from '@paygrid/kernel';
import { logFailure, tenantOf, type PaymentsLog } from './context';
import { decodeJson, listUnpublishedEvents, markEventsPublished } from './store';
import type { EventObject, EventPublisher, PaymentEvent } from './types';

/** Events one relay pass publishes at most; the next pass takes the rest. */
export const relay_batch_max = 100;
/** Relay passes close() runs at most, to send what the outbox holds before the process stops. */
export const relay_close_passes_max = 10;

/**
 * Publishes unpublished events, oldest first, and marks them published. Returns how many it
 * marked.
 *
 * As the kernel's relay does (decision 31), one pass hands every event it read to the publisher at
 * once, each call started in order, so the bus takes them in order without a round trip each, and
 * the pass is marked with one statement. A failure ends the pass at the first
 * event that failed: only the events before it are marked, so events of one object never overtake
 * each other, and the next pass starts there again; later events of the pass that went out go out
 * again then (at least once; receivers de-duplicate by event id).
 */
export async function relayEvents(database: Database, commits: GroupCommitter, publisher: EventPublisher, clock: Clock, log: PaymentsLog): Promise<number> {
  // Read on the root handle, which shows only what is durable: an event read inside a shared
  // commit could be one that commit then fails to make durable, and it would have gone out.
  const rows = await listUnpublishedEvents(database, relay_batch_max);
  const published = await publishPass(
    rows,
    (row) => {
      const event: PaymentEvent = {
        id: row.id,
        object: 'event',
        type: row.type,
        data: { object: decodeJson(row.data) as EventObject },
        sequence: row.object_version,
        created: row.created,
        livemode: row.livemode,
      };
      // The publish continues the trace of the request that wrote the event.
      return runWithTraceparent(row.traceparent, () => publisher.publish(tenantOf(row), event));
    },
    (row, error) => logFailure(log, 'publishing an event; the relay tries again', error, { event: row.id }),
  );
  // The mark shares a commit with the requests' writes rather than costing one of its own: if that
  // commit fails, the events go out again (at least once).
  const marked = rows.slice(0, published).map((row) => row.id);
  if (marked.length > 0) await commits.run((tx) => markEventsPublished(tx, marked, clock.now()));
  return published;
}

/** Deletes events published before `before_ms`, so that the outbox does not grow without bound. */
export async function pruneEvents(database: Database, before_ms: number): Promise<number> {
  const result = await database.execute('DELETE FROM payment_events WHERE published_ms IS NOT NULL AND published_ms < ?', [before_ms]);
  return result.rowCount;
}
