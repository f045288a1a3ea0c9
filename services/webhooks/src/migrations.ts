import { sagaTables, type Migration } from '@paygrid/kernel';

// The webhooks service's tables.
//
// Every listed table has an `id` (TEXT, unique) and a `sequence` that grows with each insert: the
// kernel's selectPage lists newest first by sequence. Booleans are INTEGER 0 or 1 in SQLite and
// BOOLEAN in PostgreSQL. `created` is unix seconds, as on the wire; timers that decide when work
// is due are milliseconds (`_ms`).
//
// Cross-table references are plain ids without foreign keys: an endpoint may be deleted while
// its deliveries' history stays readable, and attempts outlive the deliveries they belong to.
const tables = (dialect: 'sqlite' | 'postgres') => {
  const sequence = dialect === 'sqlite' ? 'sequence INTEGER PRIMARY KEY AUTOINCREMENT' : 'sequence BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY';
  const boolean = (column: string) => (dialect === 'sqlite' ? `${column} INTEGER NOT NULL CHECK (${column} IN (0, 1))` : `${column} BOOLEAN NOT NULL`);
  return `
-- The signing secret is stored as it is, because every delivery is signed with it (a hash would
-- not do). enabled_events is a JSON array of event types, or ["*"].
--   version           the endpoint's own sequence number: 1 at creation, one more per change. The
--                     webhook_endpoint.disabled event carries it, so receivers can order it.
--   failing_since_ms  when the first attempt that failed since the last success was sent; NULL
--                     while the endpoint answers. The endpoint is disabled when a delivery runs
--                     out of retries and no attempt has succeeded since that delivery began.
CREATE TABLE webhook_endpoints (
  ${sequence},
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  ${boolean('livemode')},
  url TEXT NOT NULL,
  enabled_events TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
  description TEXT,
  secret TEXT NOT NULL,
  version INTEGER NOT NULL CHECK (version >= 1),
  failing_since_ms BIGINT,
  created BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (merchant_id, livemode, sequence);

-- An event's id is chosen by its producer and is unique: publishing it again stores nothing.
-- body is the exact JSON sent to receivers (and signed), written once at publish.
-- object_sequence is the event's wire "sequence" (the object's own), not this table's.
CREATE TABLE webhook_events (
  ${sequence},
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  ${boolean('livemode')},
  type TEXT NOT NULL,
  object_sequence BIGINT NOT NULL CHECK (object_sequence >= 0),
  body TEXT NOT NULL,
  created BIGINT NOT NULL
);
CREATE INDEX webhook_events_tenant ON webhook_events (merchant_id, livemode, sequence);
CREATE INDEX webhook_events_type ON webhook_events (merchant_id, livemode, type, sequence);

-- One row per event per endpoint (and one more per manual resend). The delivery loop claims due
-- rows by moving next_attempt_ms a lease ahead and writing a fresh lease_token; the result of an
-- attempt is recorded only while that token still holds, so a process whose lease ran out
-- cannot overwrite the work of the one that took over.
--   attempts          attempts whose result was recorded.
--   first_attempt_ms  when the first recorded attempt was sent.
CREATE TABLE webhook_deliveries (
  ${sequence},
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  ${boolean('livemode')},
  event_id TEXT NOT NULL,
  endpoint_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('automatic', 'manual')),
  status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'canceled')),
  attempts INTEGER NOT NULL CHECK (attempts >= 0),
  next_attempt_ms BIGINT NOT NULL,
  lease_token TEXT,
  first_attempt_ms BIGINT,
  created BIGINT NOT NULL
);
-- Publish makes at most one automatic delivery of an event to an endpoint.
CREATE UNIQUE INDEX webhook_deliveries_automatic ON webhook_deliveries (event_id, endpoint_id) WHERE kind = 'automatic';
-- The delivery loop reads only pending rows, soonest due first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_ms) WHERE status = 'pending';

-- Every attempt, appended and never changed: the delivery log merchants read.
CREATE TABLE webhook_delivery_attempts (
  ${sequence},
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  ${boolean('livemode')},
  delivery_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  endpoint_id TEXT NOT NULL,
  attempt_number INTEGER NOT NULL CHECK (attempt_number >= 1),
  ${boolean('succeeded')},
  response_status INTEGER,
  response_body TEXT,
  error TEXT,
  duration_ms BIGINT NOT NULL CHECK (duration_ms >= 0),
  attempted_ms BIGINT NOT NULL,
  created BIGINT NOT NULL,
  CHECK (response_status IS NOT NULL OR error IS NOT NULL)
);
CREATE INDEX webhook_delivery_attempts_tenant ON webhook_delivery_attempts (merchant_id, livemode, sequence);
CREATE INDEX webhook_delivery_attempts_event ON webhook_delivery_attempts (event_id, sequence);
CREATE INDEX webhook_delivery_attempts_endpoint ON webhook_delivery_attempts (endpoint_id, sequence);
`;
};

// Version 2: deliveries run as sagas on the kernel's runner (service.ts declares the saga). Its lease
// and fence live in saga_runs; a delivery keeps what merchants see (status, attempts, when the next
// attempt is due). Pending deliveries become runs due when they were: `ready` before their first
// attempt, `retrying` after failed ones, with their failed attempts as the run's tries, so the retry
// schedule goes on where it was. A delivery whose lease was held is due when that lease ends.
const delivery_runs = `
INSERT INTO saga_runs (id, saga, step, status, fence, tries, due_ms, holder, input, outputs, error, created_ms, updated_ms)
SELECT id, 'webhook_delivery', 'send', CASE WHEN attempts = 0 THEN 'ready' ELSE 'retrying' END, 1, attempts, next_attempt_ms, NULL, 'null', '{}', NULL,
  created * 1000, created * 1000
FROM webhook_deliveries WHERE status = 'pending' ORDER BY sequence;
INSERT INTO saga_transitions (run_id, saga, fence, from_step, to_step, from_status, to_status, reason, holder, created_ms)
SELECT id, saga, fence, NULL, step, NULL, status, 'migrated', NULL, created_ms FROM saga_runs WHERE saga = 'webhook_delivery';
DROP INDEX webhook_deliveries_due;
ALTER TABLE webhook_deliveries DROP COLUMN lease_token;
`;

// Version 3: endpoint signing secrets sealed with envelope encryption, as card data is (issue 18).
// Each endpoint gets a random data key, stored wrapped by the key-encryption key named in
// secret_kek_id (indexed, so that a rotation can count what is left); the secret is sealed under
// it (secret_sealed), and its last four characters stay readable (secret_last4) so that a merchant
// can tell which secret a receiver holds. SQL cannot encrypt, so the plain-text column is emptied
// by a step the service runs at every start (WebhooksService.sealLegacySecrets), which seals what
// it finds and leaves '' behind. The column stays because SQLite can only drop NOT NULL by
// rebuilding the table; triggers make sure nothing but '' is ever written to it again, and that
// every new endpoint arrives sealed, whatever code writes the row.
const sealed_secret_columns = (bytes: 'BLOB' | 'BYTEA') => ['secret_kek_id TEXT', `secret_data_key ${bytes}`, `secret_sealed ${bytes}`, 'secret_last4 TEXT'];
const plain_text_refused = 'webhook_endpoints keeps signing secrets sealed, never in plain text';
const unsealed_endpoint = `NEW.secret <> '' OR NEW.secret_kek_id IS NULL OR NEW.secret_data_key IS NULL OR NEW.secret_sealed IS NULL OR NEW.secret_last4 IS NULL`;
const sealed_secret_list = 'secret, secret_kek_id, secret_data_key, secret_sealed, secret_last4';

const secrets_sealed = {
  sqlite: `
${sealed_secret_columns('BLOB').map((column) => `ALTER TABLE webhook_endpoints ADD COLUMN ${column};`).join('\n')}
UPDATE webhook_endpoints SET secret_last4 = substr(secret, -4);
CREATE INDEX webhook_endpoints_secret_kek ON webhook_endpoints (secret_kek_id);
CREATE TRIGGER webhook_endpoints_sealed_insert BEFORE INSERT ON webhook_endpoints
  WHEN ${unsealed_endpoint}
BEGIN
  SELECT RAISE(ABORT, '${plain_text_refused}');
END;
CREATE TRIGGER webhook_endpoints_sealed_update BEFORE UPDATE OF ${sealed_secret_list} ON webhook_endpoints
  WHEN ${unsealed_endpoint}
BEGIN
  SELECT RAISE(ABORT, '${plain_text_refused}');
END;
`,
  postgres: `
ALTER TABLE webhook_endpoints ${sealed_secret_columns('BYTEA').map((column) => `ADD COLUMN ${column}`).join(', ')};
UPDATE webhook_endpoints SET secret_last4 = right(secret, 4);
CREATE INDEX webhook_endpoints_secret_kek ON webhook_endpoints (secret_kek_id);
CREATE FUNCTION webhook_endpoints_refuse_unsealed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF ${unsealed_endpoint} THEN
    RAISE EXCEPTION '${plain_text_refused}' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER webhook_endpoints_sealed_insert BEFORE INSERT ON webhook_endpoints
  FOR EACH ROW EXECUTE FUNCTION webhook_endpoints_refuse_unsealed();
CREATE TRIGGER webhook_endpoints_sealed_update BEFORE UPDATE OF ${sealed_secret_list} ON webhook_endpoints
  FOR EACH ROW EXECUTE FUNCTION webhook_endpoints_refuse_unsealed();
`,
};

// Version 4: the W3C traceparent of the span an event was published in (null with tracing off), so
// that its deliveries, made later by the delivery loop, continue the trace that produced it.
const event_trace_context = `
ALTER TABLE webhook_events ADD COLUMN traceparent TEXT;
`;

export const webhooks_migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'webhook endpoints, events, deliveries and attempts',
    sqlite: tables('sqlite'),
    postgres: tables('postgres'),
  },
  {
    version: 2,
    name: 'deliveries as saga runs',
    sqlite: sagaTables().sqlite + delivery_runs,
    postgres: sagaTables().postgres + delivery_runs,
  },
  {
    version: 3,
    name: 'endpoint signing secrets sealed under a data key wrapped by the key-encryption key',
    sqlite: secrets_sealed.sqlite,
    postgres: secrets_sealed.postgres,
  },
  {
    version: 4,
    name: 'each event keeps the trace context it was published in',
    sqlite: event_trace_context,
    postgres: event_trace_context,
  },
];
