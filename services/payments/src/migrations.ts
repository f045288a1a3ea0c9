import { sagaTables, type Migration } from '@paygrid/kernel';

// The payments service's tables. Money itself is never stored here as a balance: it lives in the
// ledger. These tables hold orders, payment intents, the attempts (one row per call to an outside
// party), refunds, bank transfers held for review, the status history and the event outbox.
//
// Every listed table has an `id` (TEXT, unique) and a `sequence` that grows with each insert: the
// kernel's selectPage lists newest first by sequence. Booleans are INTEGER 0 or 1 in SQLite and
// BOOLEAN in PostgreSQL. `created` is unix seconds, as on the wire; saga timers are milliseconds.
// Amounts fit in 2^53 - 1 (the ledger's amount_max), so they are integer columns.
const tables = (dialect: 'sqlite' | 'postgres') => {
  const sequence = dialect === 'sqlite' ? 'sequence INTEGER PRIMARY KEY AUTOINCREMENT' : 'sequence BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY';
  const boolean = (column: string) => (dialect === 'sqlite' ? `${column} INTEGER NOT NULL CHECK (${column} IN (0, 1))` : `${column} BOOLEAN NOT NULL`);
  return `
-- line_items is JSON with amounts as decimal strings; amount_total is their exact sum.
-- version grows with every change that emits an event; it is the events' sequence.
CREATE TABLE payment_orders (
  ${sequence},
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  ${boolean('livemode')},
  currency TEXT NOT NULL,
  line_items TEXT NOT NULL,
  amount_total BIGINT NOT NULL CHECK (amount_total > 0),
  merchant_reference TEXT,
  status TEXT NOT NULL CHECK (status IN ('open', 'paid', 'partially_refunded', 'refunded', 'canceled')),
  version INTEGER NOT NULL,
  created BIGINT NOT NULL
);
CREATE INDEX payment_orders_tenant ON payment_orders (merchant_id, livemode, sequence);

-- The saga's state of an intent lives in its attempts; the intent keeps what the wire shows, and
-- which attempt carries its money (authorization_attempt_id: the provider payment and the ledger
-- hold are both named after it).
CREATE TABLE payment_intents (
  ${sequence},
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  ${boolean('livemode')},
  amount BIGINT NOT NULL CHECK (amount > 0),
  currency TEXT NOT NULL,
  capture_method TEXT NOT NULL CHECK (capture_method IN ('automatic', 'manual')),
  status TEXT NOT NULL CHECK (status IN ('requires_payment_method', 'requires_confirmation', 'requires_action', 'processing', 'requires_capture', 'succeeded', 'canceled')),
  order_id TEXT,
  description TEXT,
  payment_method_type TEXT,
  next_action TEXT,
  last_payment_error_code TEXT,
  last_payment_error_message TEXT,
  cancellation_reason TEXT,
  amount_capturable BIGINT NOT NULL,
  amount_received BIGINT NOT NULL,
  amount_refunded BIGINT NOT NULL,
  capture_before_ms BIGINT,
  bank_transfer_reference TEXT UNIQUE,
  authorization_attempt_id TEXT,
  provider_reference TEXT,
  idempotency_key TEXT,
  version INTEGER NOT NULL,
  created BIGINT NOT NULL,
  CHECK (amount_received <= amount),
  CHECK (amount_refunded <= amount_received)
);
CREATE UNIQUE INDEX payment_intents_idempotency ON payment_intents (merchant_id, livemode, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX payment_intents_tenant ON payment_intents (merchant_id, livemode, sequence);
CREATE INDEX payment_intents_order ON payment_intents (order_id, sequence) WHERE order_id IS NOT NULL;
-- The expiry pass reads only authorizations waiting for a capture, soonest deadline first.
CREATE INDEX payment_intents_capture_before ON payment_intents (capture_before_ms) WHERE status = 'requires_capture';

-- One row per call to an outside party (a connector, the wallet service, or the wait for a bank
-- transfer). Its id is the idempotency reference the provider is called with.
--   waiting        pending, but not in flight: the customer or a notification must act first.
--   applied        the answer's consequences (ledger transfers, statuses, events) are all done.
--   attempt        fences writers: an answer is recorded only by the holder that made the call.
--   next_attempt_ms  when recovery may next take the row (a lease while in flight, a poll time
--                  while waiting); NULL when nothing is left to do, or only a notification can help.
CREATE TABLE payment_attempts (
  ${sequence},
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  ${boolean('livemode')},
  intent_id TEXT NOT NULL,
  refund_id TEXT,
  operation TEXT NOT NULL CHECK (operation IN ('authorize', 'capture', 'void', 'refund')),
  status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'unknown')),
  amount BIGINT NOT NULL CHECK (amount > 0),
  payment_method TEXT,
  return_url TEXT,
  ${boolean('waiting')},
  provider_reference TEXT,
  amount_captured BIGINT,
  error_code TEXT,
  error_message TEXT,
  ${boolean('applied')},
  attempt INTEGER NOT NULL,
  retry_count INTEGER NOT NULL,
  next_attempt_ms BIGINT,
  confirm_idempotency_key TEXT,
  created BIGINT NOT NULL
);
CREATE INDEX payment_attempts_intent ON payment_attempts (intent_id, sequence);
CREATE INDEX payment_attempts_due ON payment_attempts (next_attempt_ms) WHERE next_attempt_ms IS NOT NULL;

CREATE TABLE payment_refunds (
  ${sequence},
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  ${boolean('livemode')},
  intent_id TEXT NOT NULL,
  amount BIGINT NOT NULL CHECK (amount > 0),
  currency TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  failure_reason TEXT,
  attempt_id TEXT NOT NULL,
  idempotency_key TEXT,
  version INTEGER NOT NULL,
  created BIGINT NOT NULL
);
CREATE UNIQUE INDEX payment_refunds_idempotency ON payment_refunds (merchant_id, livemode, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX payment_refunds_tenant ON payment_refunds (merchant_id, livemode, sequence);
CREATE INDEX payment_refunds_intent ON payment_refunds (intent_id, sequence);

CREATE TABLE bank_transfer_reviews (
  ${sequence},
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  ${boolean('livemode')},
  status TEXT NOT NULL CHECK (status IN ('held')),
  reason TEXT NOT NULL CHECK (reason IN ('unmatched', 'amount_mismatch')),
  reference TEXT NOT NULL,
  amount BIGINT NOT NULL CHECK (amount > 0),
  currency TEXT NOT NULL,
  intent_id TEXT,
  created BIGINT NOT NULL
);
CREATE INDEX bank_transfer_reviews_tenant ON bank_transfer_reviews (merchant_id, livemode, sequence);

-- Every status change of every intent, order, refund and attempt, appended and never changed.
CREATE TABLE payment_status_changes (
  ${sequence},
  object_type TEXT NOT NULL CHECK (object_type IN ('payment_intent', 'order', 'refund', 'payment_attempt')),
  object_id TEXT NOT NULL,
  from_status TEXT,
  to_status TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_ms BIGINT NOT NULL
);
CREATE INDEX payment_status_changes_object ON payment_status_changes (object_id, sequence);

-- The transactional outbox: written in the same transaction as the change it reports, published
-- by the relay in sequence order, and marked once published.
CREATE TABLE payment_events (
  ${sequence},
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  ${boolean('livemode')},
  type TEXT NOT NULL,
  object_id TEXT NOT NULL,
  object_version INTEGER NOT NULL,
  data TEXT NOT NULL,
  created BIGINT NOT NULL,
  published_ms BIGINT,
  UNIQUE (object_id, object_version)
);
CREATE INDEX payment_events_unpublished ON payment_events (sequence) WHERE published_ms IS NULL;
CREATE INDEX payment_events_object ON payment_events (object_id, object_version);
`;
};

// Version 2: payment intents that top up a wallet. The intent names the wallet and, once the money
// is there, the wallet's top-up; two new attempt operations call the wallet service (the top-up,
// and a refund's reversal of it). SQLite cannot change a CHECK constraint in place, so it rebuilds
// payment_attempts (rows, sequence values and indexes kept); PostgreSQL replaces the constraint.
const top_up_operation_check = "CHECK (operation IN ('authorize', 'capture', 'void', 'refund', 'top_up', 'top_up_reversal'))";

const top_ups_sqlite = `
ALTER TABLE payment_intents ADD COLUMN top_up_wallet_id TEXT;
ALTER TABLE payment_intents ADD COLUMN top_up_id TEXT;
CREATE TABLE payment_attempts_rebuilt (
  sequence INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  livemode INTEGER NOT NULL CHECK (livemode IN (0, 1)),
  intent_id TEXT NOT NULL,
  refund_id TEXT,
  operation TEXT NOT NULL ${top_up_operation_check},
  status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'unknown')),
  amount BIGINT NOT NULL CHECK (amount > 0),
  payment_method TEXT,
  return_url TEXT,
  waiting INTEGER NOT NULL CHECK (waiting IN (0, 1)),
  provider_reference TEXT,
  amount_captured BIGINT,
  error_code TEXT,
  error_message TEXT,
  applied INTEGER NOT NULL CHECK (applied IN (0, 1)),
  attempt INTEGER NOT NULL,
  retry_count INTEGER NOT NULL,
  next_attempt_ms BIGINT,
  confirm_idempotency_key TEXT,
  created BIGINT NOT NULL
);
INSERT INTO payment_attempts_rebuilt (sequence, id, merchant_id, livemode, intent_id, refund_id, operation, status, amount, payment_method,
  return_url, waiting, provider_reference, amount_captured, error_code, error_message, applied, attempt, retry_count, next_attempt_ms,
  confirm_idempotency_key, created)
SELECT sequence, id, merchant_id, livemode, intent_id, refund_id, operation, status, amount, payment_method,
  return_url, waiting, provider_reference, amount_captured, error_code, error_message, applied, attempt, retry_count, next_attempt_ms,
  confirm_idempotency_key, created
FROM payment_attempts;
DROP TABLE payment_attempts;
ALTER TABLE payment_attempts_rebuilt RENAME TO payment_attempts;
CREATE INDEX payment_attempts_intent ON payment_attempts (intent_id, sequence);
CREATE INDEX payment_attempts_due ON payment_attempts (next_attempt_ms) WHERE next_attempt_ms IS NOT NULL;
`;

const top_ups_postgres = `
ALTER TABLE payment_intents ADD COLUMN top_up_wallet_id TEXT;
ALTER TABLE payment_intents ADD COLUMN top_up_id TEXT;
ALTER TABLE payment_attempts DROP CONSTRAINT payment_attempts_operation_check;
ALTER TABLE payment_attempts ADD CONSTRAINT payment_attempts_operation_check ${top_up_operation_check};
`;

// Version 3: a refund of a top-up intent whose card refund failed puts the reversed money back into
// the wallet, as an attempt of its own (`top_up_restoration`). The same rebuild as version 2 widens
// the CHECK on SQLite; PostgreSQL replaces the constraint.
const restoration_operation_check = "CHECK (operation IN ('authorize', 'capture', 'void', 'refund', 'top_up', 'top_up_reversal', 'top_up_restoration'))";

const restorations_sqlite = `
CREATE TABLE payment_attempts_rebuilt (
  sequence INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  livemode INTEGER NOT NULL CHECK (livemode IN (0, 1)),
  intent_id TEXT NOT NULL,
  refund_id TEXT,
  operation TEXT NOT NULL ${restoration_operation_check},
  status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'unknown')),
  amount BIGINT NOT NULL CHECK (amount > 0),
  payment_method TEXT,
  return_url TEXT,
  waiting INTEGER NOT NULL CHECK (waiting IN (0, 1)),
  provider_reference TEXT,
  amount_captured BIGINT,
  error_code TEXT,
  error_message TEXT,
  applied INTEGER NOT NULL CHECK (applied IN (0, 1)),
  attempt INTEGER NOT NULL,
  retry_count INTEGER NOT NULL,
  next_attempt_ms BIGINT,
  confirm_idempotency_key TEXT,
  created BIGINT NOT NULL
);
INSERT INTO payment_attempts_rebuilt (sequence, id, merchant_id, livemode, intent_id, refund_id, operation, status, amount, payment_method,
  return_url, waiting, provider_reference, amount_captured, error_code, error_message, applied, attempt, retry_count, next_attempt_ms,
  confirm_idempotency_key, created)
SELECT sequence, id, merchant_id, livemode, intent_id, refund_id, operation, status, amount, payment_method,
  return_url, waiting, provider_reference, amount_captured, error_code, error_message, applied, attempt, retry_count, next_attempt_ms,
  confirm_idempotency_key, created
FROM payment_attempts;
DROP TABLE payment_attempts;
ALTER TABLE payment_attempts_rebuilt RENAME TO payment_attempts;
CREATE INDEX payment_attempts_intent ON payment_attempts (intent_id, sequence);
CREATE INDEX payment_attempts_due ON payment_attempts (next_attempt_ms) WHERE next_attempt_ms IS NOT NULL;
`;

const restorations_postgres = `
ALTER TABLE payment_attempts DROP CONSTRAINT payment_attempts_operation_check;
ALTER TABLE payment_attempts ADD CONSTRAINT payment_attempts_operation_check ${restoration_operation_check};
`;

// Version 4: attempts run as sagas on the kernel's runner (saga.ts declares the saga). The lease, the
// holder fence and the retry count move to saga_runs; an attempt keeps what it is (its call, its
// answer, whether that is applied). Every unfinished attempt becomes a run at the saga's first step:
// the step that calls the provider finds an answer already recorded on the attempt and carries it
// on, and otherwise asks the provider, as recovery did. A bank transfer waiting for its money waits
// with no time of its own, as before. payment_events_object goes too: it repeated the index of the
// UNIQUE (object_id, object_version) constraint, and cost every event a second random page.
const attempt_runs = `
INSERT INTO saga_runs (id, saga, step, status, fence, tries, due_ms, holder, input, outputs, error, created_ms, updated_ms)
SELECT id, 'payment_attempt', 'set_aside',
  CASE WHEN next_attempt_ms IS NULL OR waiting THEN 'waiting' WHEN status = 'unknown' THEN 'retrying' ELSE 'running' END,
  attempt, retry_count, next_attempt_ms, NULL, 'null', '{}', NULL, created * 1000, created * 1000
FROM payment_attempts WHERE NOT applied ORDER BY sequence;
INSERT INTO saga_transitions (run_id, saga, fence, from_step, to_step, from_status, to_status, reason, holder, created_ms)
SELECT id, saga, fence, NULL, step, NULL, status, 'migrated', NULL, created_ms FROM saga_runs WHERE saga = 'payment_attempt';
DROP INDEX payment_attempts_due;
ALTER TABLE payment_attempts DROP COLUMN next_attempt_ms;
ALTER TABLE payment_attempts DROP COLUMN retry_count;
ALTER TABLE payment_attempts DROP COLUMN attempt;
DROP INDEX payment_events_object;
`;

// Version 5: every intent's platform-side accounts (receivable, fees) were shared by all merchants in
// a currency and mode; new intents use the merchant's own (decision 67). An intent keeps the chart
// it was created under, so that its refunds credit the receivable its authorization debited: the
// rows already there say `shared` (1), and the service writes `per_merchant` (2) from now on.
const ledger_charts = `
ALTER TABLE payment_intents ADD COLUMN ledger_chart INTEGER NOT NULL DEFAULT 1 CHECK (ledger_chart IN (1, 2));
`;

// Version 6: the W3C traceparent of the span an event was written in (null with tracing off), so
// that the relay's publish, and what webhooks do with the event, continue that request's trace.
const event_trace_context = `
ALTER TABLE payment_events ADD COLUMN traceparent TEXT;
`;

export const payments_migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'orders, payment intents, attempts, refunds, bank transfer reviews, status history and outbox',
    sqlite: tables('sqlite'),
    postgres: tables('postgres'),
  },
  {
    version: 2,
    name: 'payment intents that top up a wallet',
    sqlite: top_ups_sqlite,
    postgres: top_ups_postgres,
  },
  {
    version: 3,
    name: 'restorations of top-up reversals whose card refund failed',
    sqlite: restorations_sqlite,
    postgres: restorations_postgres,
  },
  {
    version: 4,
    name: 'attempts as saga runs',
    sqlite: sagaTables().sqlite + attempt_runs,
    postgres: sagaTables().postgres + attempt_runs,
  },
  {
    version: 5,
    name: 'each intent names the chart of its platform-side accounts',
    sqlite: ledger_charts,
    postgres: ledger_charts,
  },
  {
    version: 6,
    name: 'each outbox event keeps the trace context of the request that wrote it',
    sqlite: event_trace_context,
    postgres: event_trace_context,
  },
];
