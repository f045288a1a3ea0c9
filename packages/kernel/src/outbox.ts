// A transactional outbox, for services that announce their changes as events. An event is
// written in the same transaction as the change it reports, so there is never a change without
// its event or an event without its change; a relay then hands events, oldest first, to a
// publisher and marks them published. Delivery is at least once: a crash between publishing and
// marking publishes again, and receivers de-duplicate by event id.
import { assert, isAssertionError } from './assert';
import type { Database } from './db/database';
import { rowChunks, valuesPlaceholders } from './db/sql-helpers';
import type { Migration } from './db/migrations';
import type { Tenant } from './tenancy';
import { currentTraceparent, runWithTraceparent } from './tracing/tracing';

/** Events one relay pass publishes at most; the next pass takes the rest. */
export const outbox_relay_batch_max = 100;
/** The oldest events one prune pass looks at; the next pass looks at the oldest left. */
export const outbox_prune_batch_max = 1_000;

const table_name_pattern = /^[a-z][a-z0-9_]{0,62}$/;

export interface OutboxEvent {
  /** `evt_…`, unique: receivers de-duplicate by it. */
  readonly id: string;
  readonly type: string;
  /** The object as it is on the wire; bigint amounts are stored as JSON integers. */
  readonly object: Readonly<Record<string, unknown>>;
  /** The object's own version, so receivers can order events about it. */
  readonly sequence: number;
  /** Unix seconds. */
  readonly created: number;
}

export interface PublishedEvent {
  readonly id: string;
  readonly type: string;
  readonly data: { readonly object: Record<string, unknown> };
  readonly sequence: number;
  readonly created: number;
}

export type OutboxPublisher = (tenant: Tenant, event: PublishedEvent) => Promise<void>;

/** The outbox table of one service, as a migration step for both dialects. */
export function outboxMigration(version: number, table: string): Migration {
  assert(table_name_pattern.test(table), 'outboxMigration takes a plain table name');
  const columns = `id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  livemode BOOLEAN NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  object_sequence INTEGER NOT NULL,
  created BIGINT NOT NULL,
  published_ms BIGINT`;
  return {
    version,
    name: `event outbox ${table}`,
    sqlite: `CREATE TABLE ${table} (sequence INTEGER PRIMARY KEY AUTOINCREMENT, ${columns});
CREATE INDEX ${table}_unpublished ON ${table} (sequence) WHERE published_ms IS NULL;`,
    postgres: `CREATE TABLE ${table} (sequence BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, ${columns});
CREATE INDEX ${table}_unpublished ON ${table} (sequence) WHERE published_ms IS NULL;`,
  };
}

/**
 * Adds the column that keeps, with each event, the W3C traceparent of the span it was written in
 * (null with tracing off), so that the relay publishes it in that request's trace. A migration
 * step of its own, after outboxMigration: the tables that step made already exist.
 */
export function outboxTraceContextMigration(version: number, table: string): Migration {
  assert(table_name_pattern.test(table), 'outboxTraceContextMigration takes a plain table name');
  const sql = `ALTER TABLE ${table} ADD COLUMN traceparent TEXT;`;
  return { version, name: `event outbox ${table}: trace context`, sqlite: sql, postgres: sql };
}

function jsonWithIntegers(value: unknown): string {
  return JSON.stringify(value, (_key, field: unknown) => {
    if (typeof field !== 'bigint') return field;
    assert(field <= BigInt(Number.MAX_SAFE_INTEGER) && field >= -BigInt(Number.MAX_SAFE_INTEGER), 'an event field is beyond 2^53 - 1');
    return Number(field);
  });
}

/** Writes an event in the caller's transaction. */
export async function appendOutboxEvent(transaction: Database, table: string, tenant: Tenant, event: OutboxEvent): Promise<void> {
  await appendOutboxEvents(transaction, table, [{ tenant, event }]);
}

/** Writes several events in the caller's transaction, in one statement, in order. */
export async function appendOutboxEvents(transaction: Database, table: string, events: readonly { readonly tenant: Tenant; readonly event: OutboxEvent }[]): Promise<void> {
  assert(table_name_pattern.test(table), 'appendOutboxEvents takes a plain table name');
  const traceparent = currentTraceparent();
  for (const chunk of rowChunks(events)) {
    await transaction.execute(
      `INSERT INTO ${table} (id, merchant_id, livemode, type, data, object_sequence, created, traceparent) VALUES ${valuesPlaceholders(chunk.length, 8)}`,
      chunk.flatMap(({ tenant, event }) => [event.id, tenant.merchant_id, tenant.livemode, event.type, jsonWithIntegers(event.object), event.sequence, event.created, traceparent]),
    );
  }
}

interface OutboxRow {
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: number | boolean;
  readonly type: string;
  readonly data: string;
  readonly object_sequence: number;
  readonly created: number;
  readonly traceparent: string | null;
}

/**
 * Starts `publish` for every item at once, in order, and resolves with how many items, from the
 * first, went out before the first failure, which `onFailure` hears. The relays mark only those,
 * so no event overtakes a failed one. A failed assertion is a bug and is thrown on.
 */
export async function publishPass<T>(items: readonly T[], publish: (item: T) => Promise<void>, onFailure: (item: T, error: unknown) => void): Promise<number> {
  const outcomes = await Promise.allSettled(items.map(publish));
  for (const [index, outcome] of outcomes.entries()) {
    if (outcome.status === 'fulfilled') continue;
    if (isAssertionError(outcome.reason)) throw outcome.reason;
    const item = items[index];
    assert(item !== undefined, 'every outcome has its item');
    onFailure(item, outcome.reason);
    return index;
  }
  return items.length;
}

/**
 * Publishes unpublished events, oldest first, and marks them published. Returns how many it
 * marked.
 *
 * One pass hands every event it read to `publish` at once, in order, without waiting for the one
 * before: a publisher that stores events (the webhooks service) then gathers the whole pass into
 * one commit instead of one per event, and this side marks the pass with one statement. Each
 * `publish` call starts in order, so a publisher that queues its work keeps the order.
 *
 * A failure ends the pass at the first event that failed: only the events before it are marked,
 * so events never overtake a failed one, and the next pass starts there again. Later events of
 * the same pass may have gone out already and go out again then (at least once; receivers
 * de-duplicate by event id).
 */
export async function relayOutbox(
  database: Database,
  table: string,
  publish: OutboxPublisher,
  options: { readonly now_ms: number; readonly onFailure: (event_id: string, error: unknown) => void },
): Promise<number> {
  assert(table_name_pattern.test(table), 'relayOutbox takes a plain table name');
  const rows = await database.query<OutboxRow>(
    `SELECT id, merchant_id, livemode, type, data, object_sequence, created, traceparent FROM ${table} WHERE published_ms IS NULL ORDER BY sequence LIMIT ?`,
    [outbox_relay_batch_max],
  );
  const published = await publishPass(
    rows,
    // Each event goes out in the trace of the request that wrote it.
    (row) =>
      runWithTraceparent(row.traceparent, () =>
        publish(
          { merchant_id: row.merchant_id, livemode: row.livemode === true || row.livemode === 1 },
          { id: row.id, type: row.type, data: { object: JSON.parse(row.data) as Record<string, unknown> }, sequence: row.object_sequence, created: row.created },
        ),
      ),
    (row, error) => options.onFailure(row.id, error),
  );
  // By id, not by a sequence range: in PostgreSQL a transaction holding a lower sequence can
  // commit after this pass read, and a range would mark its event published unseen.
  const marked = rows.slice(0, published).map((row) => row.id);
  for (const chunk of rowChunks(marked)) {
    await database.execute(`UPDATE ${table} SET published_ms = ? WHERE id IN (${chunk.map(() => '?').join(', ')})`, [options.now_ms, ...chunk]);
  }
  return published;
}

/**
 * Deletes published events older than `published_before_ms`, so that an outbox does not grow
 * without bound; receivers keep their own copies (the webhooks service keeps every event). Only
 * the oldest `outbox_prune_batch_max` events are looked at, by primary key, so a pass costs the
 * same however long the outbox is: events are published roughly in order, so when the oldest are
 * too young to go, the younger ones are too. Returns how many went.
 */
export async function pruneOutbox(database: Database, table: string, published_before_ms: number): Promise<number> {
  assert(table_name_pattern.test(table), 'pruneOutbox takes a plain table name');
  const result = await database.execute(
    `DELETE FROM ${table} WHERE sequence IN (SELECT sequence FROM ${table} ORDER BY sequence LIMIT ?) AND published_ms IS NOT NULL AND published_ms < ?`,
    [outbox_prune_batch_max, published_before_ms],
  );
  return result.rowCount;
}
