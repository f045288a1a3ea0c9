// The webhooks service's SQL: rows as the database returns them, checked as they cross into the
// domain (a value outside its closed set means the table was written by something else), and the
// statements the service runs. Every function takes the Database to run on, so that the same one
// serves inside and outside a transaction.
import { assert, leaseDueRuns, rowLockClause, selectPage, type Database, type Page, type PageRequest, type Tenant } from '@paygrid/kernel';
import type { SealedField } from '@paygrid/kernel/envelope';
import {
  all_events_wildcard,
  delivery_kinds,
  delivery_statuses,
  endpoint_statuses,
  webhook_event_types,
  type DeliveryKind,
  type DeliveryStatus,
  type EnabledEvent,
  type EndpointStatus,
  type WebhookEventType,
} from './types';

export interface EndpointRecord {
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean;
  readonly url: string;
  readonly enabled_events: readonly EnabledEvent[];
  readonly status: EndpointStatus;
  readonly description: string | null;
  /** The signing secret, sealed under the endpoint's data key (secrets.ts); opened only to sign. */
  readonly secret: SealedField;
  /** The secret's last four characters, to show which secret a receiver should hold. */
  readonly secret_last4: string;
  readonly version: number;
  readonly failing_since_ms: number | null;
  readonly created: number;
}

export interface EventRecord {
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean;
  readonly type: WebhookEventType;
  readonly object_sequence: number;
  /** The exact JSON sent to receivers. */
  readonly body: string;
  readonly created: number;
  /** The W3C traceparent of the span the event was published in; null with tracing off. */
  readonly traceparent: string | null;
}

export interface DeliveryRecord {
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean;
  readonly event_id: string;
  readonly endpoint_id: string;
  readonly kind: DeliveryKind;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  /** When the next attempt is scheduled, as merchants see it; the lease is the saga run's. */
  readonly next_attempt_ms: number;
  readonly first_attempt_ms: number | null;
  readonly created: number;
}

export interface AttemptRecord {
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean;
  readonly delivery_id: string;
  readonly event_id: string;
  readonly endpoint_id: string;
  readonly attempt_number: number;
  readonly succeeded: boolean;
  readonly response_status: number | null;
  readonly response_body: string | null;
  readonly error: string | null;
  readonly duration_ms: number;
  readonly attempted_ms: number;
  readonly created: number;
}

interface EndpointRow {
  readonly sequence: number;
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean | number;
  readonly url: string;
  readonly enabled_events: string;
  readonly status: string;
  readonly description: string | null;
  /** '' once sealed: the plain-text column of version 1, kept empty (migrations.ts, version 3). */
  readonly secret: string;
  readonly secret_kek_id: string | null;
  readonly secret_data_key: unknown;
  readonly secret_sealed: unknown;
  readonly secret_last4: string | null;
  readonly version: number;
  readonly failing_since_ms: number | null;
  readonly created: number;
}

interface EventRow {
  readonly sequence: number;
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean | number;
  readonly type: string;
  readonly object_sequence: number;
  readonly body: string;
  readonly created: number;
  readonly traceparent: string | null;
}

interface DeliveryRow {
  readonly sequence: number;
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean | number;
  readonly event_id: string;
  readonly endpoint_id: string;
  readonly kind: string;
  readonly status: string;
  readonly attempts: number;
  readonly next_attempt_ms: number;
  readonly first_attempt_ms: number | null;
  readonly created: number;
}

interface AttemptRow {
  readonly sequence: number;
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean | number;
  readonly delivery_id: string;
  readonly event_id: string;
  readonly endpoint_id: string;
  readonly attempt_number: number;
  readonly succeeded: boolean | number;
  readonly response_status: number | null;
  readonly response_body: string | null;
  readonly error: string | null;
  readonly duration_ms: number;
  readonly attempted_ms: number;
  readonly created: number;
}

function oneOf<const Value extends string>(values: readonly Value[], value: string, what: string): Value {
  const found = values.find((known) => known === value);
  assert(found !== undefined, `${what} "${value}" read from the database is not one this code knows`);
  return found;
}

/** SQLite reads a boolean column as 0 or 1, PostgreSQL as false or true. */
function booleanFromRow(value: boolean | number, column: string): boolean {
  assert(value === true || value === false || value === 0 || value === 1, `column ${column} holds a non-boolean`);
  return value === true || value === 1;
}

function enabledEventsFromRow(text: string): EnabledEvent[] {
  const parsed: unknown = JSON.parse(text);
  assert(Array.isArray(parsed), 'enabled_events holds a JSON array');
  return (parsed as unknown[]).map((item) => {
    assert(typeof item === 'string', 'enabled_events holds strings');
    return item === all_events_wildcard ? all_events_wildcard : oneOf(webhook_event_types, item, 'enabled event');
  });
}

function bytesFromRow(value: unknown, column: string): Buffer {
  assert(Buffer.isBuffer(value), `column ${column} holds bytes`);
  return value;
}

function endpointFromRow(row: EndpointRow): EndpointRecord {
  // Rows left in plain text by version 1 are sealed at start, before anything reads them.
  assert(row.secret_kek_id !== null && row.secret_last4 !== null, `endpoint ${row.id} has a sealed signing secret`);
  return {
    id: row.id,
    merchant_id: row.merchant_id,
    livemode: booleanFromRow(row.livemode, 'livemode'),
    url: row.url,
    enabled_events: enabledEventsFromRow(row.enabled_events),
    status: oneOf(endpoint_statuses, row.status, 'endpoint status'),
    description: row.description,
    secret: { kek_id: row.secret_kek_id, data_key: bytesFromRow(row.secret_data_key, 'secret_data_key'), sealed: bytesFromRow(row.secret_sealed, 'secret_sealed') },
    secret_last4: row.secret_last4,
    version: row.version,
    failing_since_ms: row.failing_since_ms,
    created: row.created,
  };
}

function eventFromRow(row: EventRow): EventRecord {
  return {
    id: row.id,
    merchant_id: row.merchant_id,
    livemode: booleanFromRow(row.livemode, 'livemode'),
    type: oneOf(webhook_event_types, row.type, 'event type'),
    object_sequence: row.object_sequence,
    body: row.body,
    created: row.created,
    traceparent: row.traceparent,
  };
}

function deliveryFromRow(row: DeliveryRow): DeliveryRecord {
  return {
    id: row.id,
    merchant_id: row.merchant_id,
    livemode: booleanFromRow(row.livemode, 'livemode'),
    event_id: row.event_id,
    endpoint_id: row.endpoint_id,
    kind: oneOf(delivery_kinds, row.kind, 'delivery kind'),
    status: oneOf(delivery_statuses, row.status, 'delivery status'),
    attempts: row.attempts,
    next_attempt_ms: row.next_attempt_ms,
    first_attempt_ms: row.first_attempt_ms,
    created: row.created,
  };
}

function attemptFromRow(row: AttemptRow): AttemptRecord {
  return {
    id: row.id,
    merchant_id: row.merchant_id,
    livemode: booleanFromRow(row.livemode, 'livemode'),
    delivery_id: row.delivery_id,
    event_id: row.event_id,
    endpoint_id: row.endpoint_id,
    attempt_number: row.attempt_number,
    succeeded: booleanFromRow(row.succeeded, 'succeeded'),
    response_status: row.response_status,
    response_body: row.response_body,
    error: row.error,
    duration_ms: row.duration_ms,
    attempted_ms: row.attempted_ms,
    created: row.created,
  };
}

function mapPage<Row, Item>(page: Page<Row>, map: (row: Row) => Item): Page<Item> {
  return { data: page.data.map(map), has_more: page.has_more };
}

const tenant_condition = 'merchant_id = ? AND livemode = ?';

function tenantParams(tenant: Tenant): unknown[] {
  return [tenant.merchant_id, tenant.livemode];
}

/** PostgreSQL locks the row for the transaction; SQLite transactions are serialized already. */

// Endpoints.

export async function insertEndpoint(database: Database, endpoint: EndpointRecord): Promise<void> {
  await database.execute(
    `INSERT INTO webhook_endpoints (id, merchant_id, livemode, url, enabled_events, status, description, secret, secret_kek_id, secret_data_key, secret_sealed,
       secret_last4, version, failing_since_ms, created)
     VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?)`,
    [
      endpoint.id,
      endpoint.merchant_id,
      endpoint.livemode,
      endpoint.url,
      JSON.stringify(endpoint.enabled_events),
      endpoint.status,
      endpoint.description,
      endpoint.secret.kek_id,
      endpoint.secret.data_key,
      endpoint.secret.sealed,
      endpoint.secret_last4,
      endpoint.version,
      endpoint.failing_since_ms,
      endpoint.created,
    ],
  );
}

export async function findEndpoint(database: Database, tenant: Tenant, id: string, options: { lock: boolean } = { lock: false }): Promise<EndpointRecord | undefined> {
  const rows = await database.query<EndpointRow>(`SELECT * FROM webhook_endpoints WHERE id = ? AND ${tenant_condition}${options.lock ? rowLockClause(database) : ''}`, [
    id,
    ...tenantParams(tenant),
  ]);
  const row = rows[0];
  return row === undefined ? undefined : endpointFromRow(row);
}

export async function findEndpointById(database: Database, id: string, options: { lock: boolean } = { lock: false }): Promise<EndpointRecord | undefined> {
  const rows = await database.query<EndpointRow>(`SELECT * FROM webhook_endpoints WHERE id = ?${options.lock ? rowLockClause(database) : ''}`, [id]);
  const row = rows[0];
  return row === undefined ? undefined : endpointFromRow(row);
}

export async function listEndpoints(database: Database, tenant: Tenant, page: PageRequest): Promise<Page<EndpointRecord>> {
  const listed = await selectPage<EndpointRow>(database, { table: 'webhook_endpoints', where: tenant_condition, params: tenantParams(tenant), page });
  return mapPage(listed, endpointFromRow);
}

export async function countEndpoints(database: Database, tenant: Tenant): Promise<number> {
  const rows = await database.query<{ count: number }>(`SELECT COUNT(*) AS count FROM webhook_endpoints WHERE ${tenant_condition}`, tenantParams(tenant));
  return rows[0]?.count ?? 0;
}

/** The tenant's enabled endpoints; publish picks those that subscribe to the event's type. */
export async function enabledEndpoints(database: Database, tenant: Tenant): Promise<EndpointRecord[]> {
  const rows = await database.query<EndpointRow>(`SELECT * FROM webhook_endpoints WHERE ${tenant_condition} AND status = 'enabled' ORDER BY sequence`, tenantParams(tenant));
  return rows.map(endpointFromRow);
}

/** Writes an endpoint's changeable fields; its version must have grown by one. */
export async function updateEndpoint(database: Database, endpoint: EndpointRecord): Promise<void> {
  const result = await database.execute(
    `UPDATE webhook_endpoints SET url = ?, enabled_events = ?, status = ?, description = ?, version = ?, failing_since_ms = ?
     WHERE id = ? AND version = ?`,
    [
      endpoint.url,
      JSON.stringify(endpoint.enabled_events),
      endpoint.status,
      endpoint.description,
      endpoint.version,
      endpoint.failing_since_ms,
      endpoint.id,
      endpoint.version - 1,
    ],
  );
  assert(result.rowCount === 1, 'an endpoint locked for update changed under the lock');
}

export async function deleteEndpoint(database: Database, tenant: Tenant, id: string): Promise<boolean> {
  const result = await database.execute(`DELETE FROM webhook_endpoints WHERE id = ? AND ${tenant_condition}`, [id, ...tenantParams(tenant)]);
  return result.rowCount === 1;
}

/** Notes that an attempt to the endpoint failed; the first failure since the last success sets the time. */
export async function markEndpointFailing(database: Database, id: string, attempted_ms: number): Promise<void> {
  await database.execute('UPDATE webhook_endpoints SET failing_since_ms = ? WHERE id = ? AND failing_since_ms IS NULL', [attempted_ms, id]);
}

export async function markEndpointAnswering(database: Database, id: string): Promise<void> {
  await database.execute('UPDATE webhook_endpoints SET failing_since_ms = NULL WHERE id = ? AND failing_since_ms IS NOT NULL', [id]);
}

// Signing secrets at rest (secrets.ts seals them; service.ts runs these).

export interface LegacySecretRow {
  readonly sequence: number;
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean;
  readonly secret: string;
}

/** Up to `limit` endpoints whose secret is still in plain text (written before version 3), locked. */
export async function legacySecrets(database: Database, limit: number): Promise<LegacySecretRow[]> {
  const rows = await database.query<{ sequence: number; id: string; merchant_id: string; livemode: boolean | number; secret: string }>(
    `SELECT sequence, id, merchant_id, livemode, secret FROM webhook_endpoints WHERE secret_kek_id IS NULL ORDER BY sequence LIMIT ?${rowLockClause(database)}`,
    [limit],
  );
  return rows.map((row) => ({ ...row, livemode: booleanFromRow(row.livemode, 'livemode') }));
}

/** Replaces a plain-text secret by its sealed form; false when someone sealed it meanwhile. */
export async function sealLegacySecret(database: Database, id: string, secret: SealedField, secret_last4: string): Promise<boolean> {
  const result = await database.execute(
    `UPDATE webhook_endpoints SET secret = '', secret_kek_id = ?, secret_data_key = ?, secret_sealed = ?, secret_last4 = ? WHERE id = ? AND secret_kek_id IS NULL`,
    [secret.kek_id, secret.data_key, secret.sealed, secret_last4, id],
  );
  return result.rowCount === 1;
}

/** How many endpoints' data keys each KEK wraps. */
export async function countSecretKeysByKek(database: Database): Promise<Map<string, number>> {
  const rows = await database.query<{ kek_id: string; data_keys: number | string }>(
    'SELECT secret_kek_id AS kek_id, COUNT(*) AS data_keys FROM webhook_endpoints WHERE secret_kek_id IS NOT NULL GROUP BY secret_kek_id',
  );
  return new Map(rows.map((row) => [row.kek_id, Number(row.data_keys)]));
}

export interface SecretKeyRow {
  readonly sequence: number;
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean;
  readonly kek_id: string;
  readonly data_key: Buffer;
}

/** Up to `limit` endpoints after `cursor` (a sequence) whose data key is not under `current_kek_id`. */
export async function secretKeysNotUnder(database: Database, current_kek_id: string, cursor: number, limit: number): Promise<SecretKeyRow[]> {
  const rows = await database.query<{ sequence: number; id: string; merchant_id: string; livemode: boolean | number; kek_id: string; data_key: unknown }>(
    `SELECT sequence, id, merchant_id, livemode, secret_kek_id AS kek_id, secret_data_key AS data_key FROM webhook_endpoints
     WHERE sequence > ? AND secret_kek_id <> ? ORDER BY sequence LIMIT ?`,
    [cursor, current_kek_id, limit],
  );
  return rows.map((row) => ({ ...row, livemode: booleanFromRow(row.livemode, 'livemode'), data_key: bytesFromRow(row.data_key, 'secret_data_key') }));
}

/** Writes a re-wrapped data key, only if the row still holds the one that was read. */
export async function rewrapSecretKey(database: Database, row: SecretKeyRow, next: { readonly kek_id: string; readonly data_key: Buffer }): Promise<boolean> {
  const result = await database.execute('UPDATE webhook_endpoints SET secret_kek_id = ?, secret_data_key = ? WHERE id = ? AND secret_kek_id = ? AND secret_data_key = ?', [
    next.kek_id,
    next.data_key,
    row.id,
    row.kek_id,
    row.data_key,
  ]);
  return result.rowCount === 1;
}

// Events.

/** Inserts the event unless one with its id exists; says whether it did. */
export async function insertEvent(database: Database, event: EventRecord): Promise<boolean> {
  const result = await database.execute(
    `INSERT INTO webhook_events (id, merchant_id, livemode, type, object_sequence, body, created, traceparent) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (id) DO NOTHING`,
    [event.id, event.merchant_id, event.livemode, event.type, event.object_sequence, event.body, event.created, event.traceparent],
  );
  return result.rowCount === 1;
}

export async function findEventById(database: Database, id: string): Promise<EventRecord | undefined> {
  const rows = await database.query<EventRow>('SELECT * FROM webhook_events WHERE id = ?', [id]);
  const row = rows[0];
  return row === undefined ? undefined : eventFromRow(row);
}

export async function findEvent(database: Database, tenant: Tenant, id: string): Promise<EventRecord | undefined> {
  const rows = await database.query<EventRow>(`SELECT * FROM webhook_events WHERE id = ? AND ${tenant_condition}`, [id, ...tenantParams(tenant)]);
  const row = rows[0];
  return row === undefined ? undefined : eventFromRow(row);
}

export async function listEvents(database: Database, tenant: Tenant, page: PageRequest, type: WebhookEventType | undefined): Promise<Page<EventRecord>> {
  const listed = await selectPage<EventRow>(database, {
    table: 'webhook_events',
    where: type === undefined ? tenant_condition : `${tenant_condition} AND type = ?`,
    params: type === undefined ? tenantParams(tenant) : [...tenantParams(tenant), type],
    page,
  });
  return mapPage(listed, eventFromRow);
}

// Deliveries.

export async function insertDelivery(database: Database, delivery: DeliveryRecord): Promise<void> {
  await database.execute(
    `INSERT INTO webhook_deliveries (id, merchant_id, livemode, event_id, endpoint_id, kind, status, attempts, next_attempt_ms, first_attempt_ms, created)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      delivery.id,
      delivery.merchant_id,
      delivery.livemode,
      delivery.event_id,
      delivery.endpoint_id,
      delivery.kind,
      delivery.status,
      delivery.attempts,
      delivery.next_attempt_ms,
      delivery.first_attempt_ms,
      delivery.created,
    ],
  );
}

export async function findDelivery(database: Database, id: string): Promise<DeliveryRecord | undefined> {
  const rows = await database.query<DeliveryRow>('SELECT * FROM webhook_deliveries WHERE id = ?', [id]);
  const row = rows[0];
  return row === undefined ? undefined : deliveryFromRow(row);
}

/** The saga a delivery runs as (service.ts declares its step); its run has the delivery's id. */
export const delivery_saga_name = 'webhook_delivery';

/**
 * Claims up to `limit` due deliveries for one attempt each, as the delivery loop does: their saga
 * runs are leased (the next fence, and a lease of `lease_ms` with `holder` as the holder's name),
 * so nobody else finds them due until the lease runs out. PostgreSQL skips runs another claimer
 * holds; SQLite serializes writers, so its claims never overlap.
 */
export async function claimDueDeliveries(database: Database, now_ms: number, limit: number, lease_ms: number, holder: string): Promise<DeliveryRecord[]> {
  const runs = await database.transaction((transaction) => leaseDueRuns(transaction, { saga: delivery_saga_name, now_ms, limit, lease_ms, holder }));
  if (runs.length === 0) return [];
  const rows = await database.query<DeliveryRow>(`SELECT * FROM webhook_deliveries WHERE id IN (${runs.map(() => '?').join(', ')}) ORDER BY sequence`, runs.map((run) => run.id));
  return rows.map(deliveryFromRow);
}

export interface DeliveryProgress {
  readonly status: DeliveryStatus;
  readonly attempts: number;
  readonly next_attempt_ms: number;
  readonly first_attempt_ms: number | null;
}

/**
 * Records an attempt's effect on its pending delivery. It runs in the commit that records the
 * delivery's saga run, which is fenced by the holder: a holder whose lease ran out writes nothing.
 */
export async function advanceDelivery(database: Database, id: string, progress: DeliveryProgress): Promise<boolean> {
  const result = await database.execute(
    `UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_ms = ?, first_attempt_ms = ?
     WHERE id = ? AND status = 'pending'`,
    [progress.status, progress.attempts, progress.next_attempt_ms, progress.first_attempt_ms, id],
  );
  return result.rowCount === 1;
}

// Attempts.

export async function insertAttempt(database: Database, attempt: AttemptRecord): Promise<void> {
  await database.execute(
    `INSERT INTO webhook_delivery_attempts
       (id, merchant_id, livemode, delivery_id, event_id, endpoint_id, attempt_number, succeeded, response_status, response_body, error, duration_ms, attempted_ms, created)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      attempt.id,
      attempt.merchant_id,
      attempt.livemode,
      attempt.delivery_id,
      attempt.event_id,
      attempt.endpoint_id,
      attempt.attempt_number,
      attempt.succeeded,
      attempt.response_status,
      attempt.response_body,
      attempt.error,
      attempt.duration_ms,
      attempt.attempted_ms,
      attempt.created,
    ],
  );
}

export async function listAttempts(
  database: Database,
  tenant: Tenant,
  filter: { readonly event_id?: string | undefined; readonly endpoint_id?: string | undefined },
  page: PageRequest,
): Promise<Page<AttemptRecord>> {
  let where = tenant_condition;
  const params = tenantParams(tenant);
  if (filter.event_id !== undefined) {
    where += ' AND event_id = ?';
    params.push(filter.event_id);
  }
  if (filter.endpoint_id !== undefined) {
    where += ' AND endpoint_id = ?';
    params.push(filter.endpoint_id);
  }
  const listed = await selectPage<AttemptRow>(database, { table: 'webhook_delivery_attempts', where, params, page });
  return mapPage(listed, attemptFromRow);
}
