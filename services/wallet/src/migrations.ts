import { outboxMigration, outboxTraceContextMigration, sagaTables, type Migration } from '@paygrid/kernel';

export const wallet_events_table = 'wallet_events';

// The wallet service's tables. Money itself is never stored here: balances live only in the
// ledger. These tables hold who owns which wallet, and the state of every operation's saga.
//
// Every listed table has an `id` (TEXT, unique) and a `sequence` that grows with each insert: the
// kernel's selectPage lists newest first by sequence. Booleans are INTEGER 0 or 1 in SQLite and
// BOOLEAN in PostgreSQL. `created` is unix seconds, as on the wire; saga timers are milliseconds.
// Amounts fit in 2^53 - 1 (the ledger's amount_max), so they are integer columns; 128-bit ledger
// ids are decimal TEXT.
const tables = (dialect: 'sqlite' | 'postgres') => {
  const sequence = dialect === 'sqlite' ? 'sequence INTEGER PRIMARY KEY AUTOINCREMENT' : 'sequence BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY';
  const boolean = (column: string) => (dialect === 'sqlite' ? `${column} INTEGER NOT NULL CHECK (${column} IN (0, 1))` : `${column} BOOLEAN NOT NULL`);
  return `
CREATE TABLE wallets (
  ${sequence},
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  ${boolean('livemode')},
  customer TEXT NOT NULL,
  currency TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('active', 'frozen')),
  ledger_account_id TEXT NOT NULL,
  created BIGINT NOT NULL,
  UNIQUE (merchant_id, livemode, customer, currency)
);
CREATE INDEX wallets_tenant ON wallets (merchant_id, livemode, sequence);

-- One row per operation, whatever its type: a wallet's history is every row that names it as
-- source or destination. Top-ups have no source wallet; payments and withdrawals no destination.
--
-- The saga's state is in these columns:
--   ledger_result       the ledger's answer to the operation's transfer (NULL: not known yet);
--                       for a withdrawal, 'ok' or 'exists' means the hold is placed.
--   settlement_outcome  a withdrawal's settlement, recorded before the ledger posts or voids.
--   attempt             fences writers: a result is recorded only by the attempt that sent it.
--   next_attempt_ms     when recovery may next touch a pending row (a lease while in flight).
CREATE TABLE wallet_operations (
  ${sequence},
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  ${boolean('livemode')},
  type TEXT NOT NULL CHECK (type IN ('top_up', 'transfer', 'payment', 'withdrawal')),
  source_wallet_id TEXT,
  destination_wallet_id TEXT,
  amount BIGINT NOT NULL CHECK (amount > 0),
  currency TEXT NOT NULL,
  description TEXT,
  status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  failure_code TEXT,
  idempotency_key TEXT,
  ledger_transfer_id TEXT NOT NULL UNIQUE,
  ledger_result TEXT,
  settlement_outcome TEXT CHECK (settlement_outcome IN ('succeeded', 'failed')),
  settlement_failure_code TEXT,
  bank_account_holder_name TEXT,
  bank_routing_number TEXT,
  bank_account_number TEXT,
  bank_country TEXT,
  attempt INTEGER NOT NULL,
  next_attempt_ms BIGINT NOT NULL,
  created BIGINT NOT NULL,
  CHECK (source_wallet_id IS NOT NULL OR destination_wallet_id IS NOT NULL)
);
CREATE UNIQUE INDEX wallet_operations_idempotency ON wallet_operations (merchant_id, livemode, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- A wallet's history is (source = wallet OR destination = wallet): each side of the OR is one
-- index lookup, and the two are merged. The source index also serves the daily limit, which sums
-- one wallet's outgoing operations since midnight.
CREATE INDEX wallet_operations_source ON wallet_operations (source_wallet_id, created) WHERE source_wallet_id IS NOT NULL;
CREATE INDEX wallet_operations_destination ON wallet_operations (destination_wallet_id, sequence) WHERE destination_wallet_id IS NOT NULL;
-- Lists of one type (transfers). It leads with the type on purpose: an index that led with
-- (merchant_id, livemode) would tempt SQLite, which has no statistics, into scanning a whole
-- merchant's operations for one wallet's history instead of using the two indexes above.
CREATE INDEX wallet_operations_type ON wallet_operations (type, merchant_id, livemode, sequence);
-- Recovery reads only unfinished rows, soonest due first.
CREATE INDEX wallet_operations_unfinished ON wallet_operations (next_attempt_ms) WHERE status = 'pending';

-- Every step of every operation, appended and never changed, so that a saga's history can be read back.
CREATE TABLE wallet_operation_steps (
  ${sequence},
  operation_id TEXT NOT NULL,
  from_status TEXT,
  to_status TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_ms BIGINT NOT NULL
);
CREATE INDEX wallet_operation_steps_operation ON wallet_operation_steps (operation_id, sequence);

CREATE TABLE wallet_limits (
  merchant_id TEXT NOT NULL,
  ${boolean('livemode')},
  currency TEXT NOT NULL,
  per_transaction_max BIGINT CHECK (per_transaction_max > 0),
  per_day_max BIGINT CHECK (per_day_max > 0),
  updated_ms BIGINT NOT NULL,
  PRIMARY KEY (merchant_id, livemode, currency)
);
`;
};

// Version 2: refunds of wallet payments. A refund is an operation of its own type that brings
// money into the wallet a payment came from, and names that payment. SQLite cannot change a CHECK
// constraint in place, so its table is rebuilt (rows, sequence values and indexes kept);
// PostgreSQL replaces the constraint.
const refund_type_check = "CHECK (type IN ('top_up', 'transfer', 'payment', 'withdrawal', 'refund'))";

const refunds_sqlite = `
CREATE TABLE wallet_operations_rebuilt (
  sequence INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  livemode INTEGER NOT NULL CHECK (livemode IN (0, 1)),
  type TEXT NOT NULL ${refund_type_check},
  source_wallet_id TEXT,
  destination_wallet_id TEXT,
  amount BIGINT NOT NULL CHECK (amount > 0),
  currency TEXT NOT NULL,
  description TEXT,
  status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  failure_code TEXT,
  idempotency_key TEXT,
  ledger_transfer_id TEXT NOT NULL UNIQUE,
  ledger_result TEXT,
  settlement_outcome TEXT CHECK (settlement_outcome IN ('succeeded', 'failed')),
  settlement_failure_code TEXT,
  bank_account_holder_name TEXT,
  bank_routing_number TEXT,
  bank_account_number TEXT,
  bank_country TEXT,
  attempt INTEGER NOT NULL,
  next_attempt_ms BIGINT NOT NULL,
  created BIGINT NOT NULL,
  refunded_payment_id TEXT,
  CHECK (source_wallet_id IS NOT NULL OR destination_wallet_id IS NOT NULL)
);
INSERT INTO wallet_operations_rebuilt (sequence, id, merchant_id, livemode, type, source_wallet_id, destination_wallet_id, amount, currency,
  description, status, failure_code, idempotency_key, ledger_transfer_id, ledger_result, settlement_outcome, settlement_failure_code,
  bank_account_holder_name, bank_routing_number, bank_account_number, bank_country, attempt, next_attempt_ms, created)
SELECT sequence, id, merchant_id, livemode, type, source_wallet_id, destination_wallet_id, amount, currency,
  description, status, failure_code, idempotency_key, ledger_transfer_id, ledger_result, settlement_outcome, settlement_failure_code,
  bank_account_holder_name, bank_routing_number, bank_account_number, bank_country, attempt, next_attempt_ms, created
FROM wallet_operations;
DROP TABLE wallet_operations;
ALTER TABLE wallet_operations_rebuilt RENAME TO wallet_operations;
CREATE UNIQUE INDEX wallet_operations_idempotency ON wallet_operations (merchant_id, livemode, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX wallet_operations_source ON wallet_operations (source_wallet_id, created) WHERE source_wallet_id IS NOT NULL;
CREATE INDEX wallet_operations_destination ON wallet_operations (destination_wallet_id, sequence) WHERE destination_wallet_id IS NOT NULL;
CREATE INDEX wallet_operations_type ON wallet_operations (type, merchant_id, livemode, sequence);
CREATE INDEX wallet_operations_unfinished ON wallet_operations (next_attempt_ms) WHERE status = 'pending';
CREATE INDEX wallet_operations_refunded_payment ON wallet_operations (refunded_payment_id) WHERE refunded_payment_id IS NOT NULL;
`;

const refunds_postgres = `
ALTER TABLE wallet_operations DROP CONSTRAINT wallet_operations_type_check;
ALTER TABLE wallet_operations ADD CONSTRAINT wallet_operations_type_check ${refund_type_check};
ALTER TABLE wallet_operations ADD COLUMN refunded_payment_id TEXT;
CREATE INDEX wallet_operations_refunded_payment ON wallet_operations (refunded_payment_id) WHERE refunded_payment_id IS NOT NULL;
`;

// Version 4: top-ups paid by a payment intent, and their reversals. A top-up names the intent that
// paid for it (payment_intent_id); a reversal is an operation of its own type that takes money back
// out of the wallet when that payment is refunded, and names its top-up (reversed_top_up_id). As in
// version 2, SQLite rebuilds the table to widen the type CHECK; PostgreSQL replaces the constraint.
const reversal_type_check = "CHECK (type IN ('top_up', 'transfer', 'payment', 'withdrawal', 'refund', 'top_up_reversal'))";

const top_ups_from_payments_sqlite = `
CREATE TABLE wallet_operations_rebuilt (
  sequence INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  livemode INTEGER NOT NULL CHECK (livemode IN (0, 1)),
  type TEXT NOT NULL ${reversal_type_check},
  source_wallet_id TEXT,
  destination_wallet_id TEXT,
  amount BIGINT NOT NULL CHECK (amount > 0),
  currency TEXT NOT NULL,
  description TEXT,
  status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  failure_code TEXT,
  idempotency_key TEXT,
  ledger_transfer_id TEXT NOT NULL UNIQUE,
  ledger_result TEXT,
  settlement_outcome TEXT CHECK (settlement_outcome IN ('succeeded', 'failed')),
  settlement_failure_code TEXT,
  bank_account_holder_name TEXT,
  bank_routing_number TEXT,
  bank_account_number TEXT,
  bank_country TEXT,
  attempt INTEGER NOT NULL,
  next_attempt_ms BIGINT NOT NULL,
  created BIGINT NOT NULL,
  refunded_payment_id TEXT,
  payment_intent_id TEXT,
  reversed_top_up_id TEXT,
  CHECK (source_wallet_id IS NOT NULL OR destination_wallet_id IS NOT NULL)
);
INSERT INTO wallet_operations_rebuilt (sequence, id, merchant_id, livemode, type, source_wallet_id, destination_wallet_id, amount, currency,
  description, status, failure_code, idempotency_key, ledger_transfer_id, ledger_result, settlement_outcome, settlement_failure_code,
  bank_account_holder_name, bank_routing_number, bank_account_number, bank_country, attempt, next_attempt_ms, created, refunded_payment_id)
SELECT sequence, id, merchant_id, livemode, type, source_wallet_id, destination_wallet_id, amount, currency,
  description, status, failure_code, idempotency_key, ledger_transfer_id, ledger_result, settlement_outcome, settlement_failure_code,
  bank_account_holder_name, bank_routing_number, bank_account_number, bank_country, attempt, next_attempt_ms, created, refunded_payment_id
FROM wallet_operations;
DROP TABLE wallet_operations;
ALTER TABLE wallet_operations_rebuilt RENAME TO wallet_operations;
CREATE UNIQUE INDEX wallet_operations_idempotency ON wallet_operations (merchant_id, livemode, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX wallet_operations_source ON wallet_operations (source_wallet_id, created) WHERE source_wallet_id IS NOT NULL;
CREATE INDEX wallet_operations_destination ON wallet_operations (destination_wallet_id, sequence) WHERE destination_wallet_id IS NOT NULL;
CREATE INDEX wallet_operations_type ON wallet_operations (type, merchant_id, livemode, sequence);
CREATE INDEX wallet_operations_unfinished ON wallet_operations (next_attempt_ms) WHERE status = 'pending';
CREATE INDEX wallet_operations_refunded_payment ON wallet_operations (refunded_payment_id) WHERE refunded_payment_id IS NOT NULL;
CREATE INDEX wallet_operations_reversed_top_up ON wallet_operations (reversed_top_up_id) WHERE reversed_top_up_id IS NOT NULL;
`;

const top_ups_from_payments_postgres = `
ALTER TABLE wallet_operations DROP CONSTRAINT wallet_operations_type_check;
ALTER TABLE wallet_operations ADD CONSTRAINT wallet_operations_type_check ${reversal_type_check};
ALTER TABLE wallet_operations ADD COLUMN payment_intent_id TEXT;
ALTER TABLE wallet_operations ADD COLUMN reversed_top_up_id TEXT;
CREATE INDEX wallet_operations_reversed_top_up ON wallet_operations (reversed_top_up_id) WHERE reversed_top_up_id IS NOT NULL;
`;

// Version 5: restorations of top-up reversals. When the payments service took a top-up back out of
// the wallet for a refund and the card then refused that refund, a restoration puts the money back
// into the wallet, and names the reversal it undoes (restored_reversal_id). As in version 4, SQLite
// rebuilds the table to widen the type CHECK; PostgreSQL replaces the constraint.
const restoration_type_check = "CHECK (type IN ('top_up', 'transfer', 'payment', 'withdrawal', 'refund', 'top_up_reversal', 'top_up_restoration'))";

const operation_columns_v4 = `sequence, id, merchant_id, livemode, type, source_wallet_id, destination_wallet_id, amount, currency,
  description, status, failure_code, idempotency_key, ledger_transfer_id, ledger_result, settlement_outcome, settlement_failure_code,
  bank_account_holder_name, bank_routing_number, bank_account_number, bank_country, attempt, next_attempt_ms, created, refunded_payment_id,
  payment_intent_id, reversed_top_up_id`;

const restorations_sqlite = `
CREATE TABLE wallet_operations_rebuilt (
  sequence INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  livemode INTEGER NOT NULL CHECK (livemode IN (0, 1)),
  type TEXT NOT NULL ${restoration_type_check},
  source_wallet_id TEXT,
  destination_wallet_id TEXT,
  amount BIGINT NOT NULL CHECK (amount > 0),
  currency TEXT NOT NULL,
  description TEXT,
  status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  failure_code TEXT,
  idempotency_key TEXT,
  ledger_transfer_id TEXT NOT NULL UNIQUE,
  ledger_result TEXT,
  settlement_outcome TEXT CHECK (settlement_outcome IN ('succeeded', 'failed')),
  settlement_failure_code TEXT,
  bank_account_holder_name TEXT,
  bank_routing_number TEXT,
  bank_account_number TEXT,
  bank_country TEXT,
  attempt INTEGER NOT NULL,
  next_attempt_ms BIGINT NOT NULL,
  created BIGINT NOT NULL,
  refunded_payment_id TEXT,
  payment_intent_id TEXT,
  reversed_top_up_id TEXT,
  restored_reversal_id TEXT,
  CHECK (source_wallet_id IS NOT NULL OR destination_wallet_id IS NOT NULL)
);
INSERT INTO wallet_operations_rebuilt (${operation_columns_v4})
SELECT ${operation_columns_v4}
FROM wallet_operations;
DROP TABLE wallet_operations;
ALTER TABLE wallet_operations_rebuilt RENAME TO wallet_operations;
CREATE UNIQUE INDEX wallet_operations_idempotency ON wallet_operations (merchant_id, livemode, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX wallet_operations_source ON wallet_operations (source_wallet_id, created) WHERE source_wallet_id IS NOT NULL;
CREATE INDEX wallet_operations_destination ON wallet_operations (destination_wallet_id, sequence) WHERE destination_wallet_id IS NOT NULL;
CREATE INDEX wallet_operations_type ON wallet_operations (type, merchant_id, livemode, sequence);
CREATE INDEX wallet_operations_unfinished ON wallet_operations (next_attempt_ms) WHERE status = 'pending';
CREATE INDEX wallet_operations_refunded_payment ON wallet_operations (refunded_payment_id) WHERE refunded_payment_id IS NOT NULL;
CREATE INDEX wallet_operations_reversed_top_up ON wallet_operations (reversed_top_up_id) WHERE reversed_top_up_id IS NOT NULL;
CREATE INDEX wallet_operations_restored_reversal ON wallet_operations (restored_reversal_id) WHERE restored_reversal_id IS NOT NULL;
`;

const restorations_postgres = `
ALTER TABLE wallet_operations DROP CONSTRAINT wallet_operations_type_check;
ALTER TABLE wallet_operations ADD CONSTRAINT wallet_operations_type_check ${restoration_type_check};
ALTER TABLE wallet_operations ADD COLUMN restored_reversal_id TEXT;
CREATE INDEX wallet_operations_restored_reversal ON wallet_operations (restored_reversal_id) WHERE restored_reversal_id IS NOT NULL;
`;

// Version 6: the ledger is the book of record. Operations record how their transfers are laid out
// (ledger_layout: 1 legacy, 2 book of record), their creation time in milliseconds (their
// transfers carry it, so a resend builds the same transfer), and where they were written from
// (origin: 1 projected behind the answer, 2 recorded before the ledger was called). Wallets are
// found by their ledger account when rows are rebuilt from the ledger. Daily limits carry a version
// that each change of per_day_max raises: wallets' allowances in the ledger follow it. Each wallet
// instance keeps a cursor of what it has projected, so that a restart rebuilds from the ledger what
// a dead instance answered but never wrote.
const book_of_record = `
ALTER TABLE wallet_operations ADD COLUMN ledger_layout INTEGER NOT NULL DEFAULT 1;
ALTER TABLE wallet_operations ADD COLUMN created_ms BIGINT;
ALTER TABLE wallet_operations ADD COLUMN origin INTEGER NOT NULL DEFAULT 0;
CREATE INDEX wallets_ledger_account ON wallets (ledger_account_id);
ALTER TABLE wallet_limits ADD COLUMN day_limit_version INTEGER NOT NULL DEFAULT 0;
UPDATE wallet_limits SET day_limit_version = 1 WHERE per_day_max IS NOT NULL;
CREATE TABLE wallet_projection_cursors (
  instance_id TEXT PRIMARY KEY,
  last_transfer_id TEXT NOT NULL,
  heartbeat_ms BIGINT NOT NULL
);
`;

// Version 7: withdrawals' bank account numbers sealed with envelope encryption, as card data is
// (issue 18; bank-accounts.ts). Each withdrawal gets a random data key, stored wrapped by the
// key-encryption key named in bank_kek_id (indexed, so that a rotation can count what is left);
// the number is sealed under it (bank_account_number_sealed), and its last four digits stay
// readable (bank_account_last4) for the API. SQL cannot encrypt, so the plain-text column is
// emptied by a step the platform runs at every start (BankAccountKeys.sealLegacy), which seals
// what it finds and leaves NULL behind. Triggers make sure nothing but NULL is ever written to it
// again, whatever code writes the row. A later migration that rebuilds wallet_operations on
// SQLite must create them again.
const plain_account_number_refused = 'wallet_operations keeps bank account numbers sealed, never in plain text';
const sealed_account_columns = (bytes: 'BLOB' | 'BYTEA') => ['bank_kek_id TEXT', `bank_data_key ${bytes}`, `bank_account_number_sealed ${bytes}`, 'bank_account_last4 TEXT'];
const account_numbers_sealed = {
  sqlite: `
${sealed_account_columns('BLOB').map((column) => `ALTER TABLE wallet_operations ADD COLUMN ${column};`).join('\n')}
UPDATE wallet_operations SET bank_account_last4 = substr(bank_account_number, -4) WHERE bank_account_number IS NOT NULL;
CREATE INDEX wallet_operations_bank_kek ON wallet_operations (bank_kek_id) WHERE bank_kek_id IS NOT NULL;
CREATE INDEX wallet_operations_bank_unsealed ON wallet_operations (sequence) WHERE bank_account_number IS NOT NULL;
CREATE TRIGGER wallet_operations_sealed_insert BEFORE INSERT ON wallet_operations
  WHEN NEW.bank_account_number IS NOT NULL
BEGIN
  SELECT RAISE(ABORT, '${plain_account_number_refused}');
END;
CREATE TRIGGER wallet_operations_sealed_update BEFORE UPDATE OF bank_account_number ON wallet_operations
  WHEN NEW.bank_account_number IS NOT NULL
BEGIN
  SELECT RAISE(ABORT, '${plain_account_number_refused}');
END;
`,
  postgres: `
ALTER TABLE wallet_operations ${sealed_account_columns('BYTEA').map((column) => `ADD COLUMN ${column}`).join(', ')};
UPDATE wallet_operations SET bank_account_last4 = right(bank_account_number, 4) WHERE bank_account_number IS NOT NULL;
CREATE INDEX wallet_operations_bank_kek ON wallet_operations (bank_kek_id) WHERE bank_kek_id IS NOT NULL;
CREATE INDEX wallet_operations_bank_unsealed ON wallet_operations (sequence) WHERE bank_account_number IS NOT NULL;
CREATE FUNCTION wallet_operations_refuse_plain_account_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.bank_account_number IS NOT NULL THEN
    RAISE EXCEPTION '${plain_account_number_refused}' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER wallet_operations_sealed_insert BEFORE INSERT ON wallet_operations
  FOR EACH ROW EXECUTE FUNCTION wallet_operations_refuse_plain_account_number();
CREATE TRIGGER wallet_operations_sealed_update BEFORE UPDATE OF bank_account_number ON wallet_operations
  FOR EACH ROW EXECUTE FUNCTION wallet_operations_refuse_plain_account_number();
`,
};

// Version 8: recorded operations run as sagas on the kernel's runner (saga.ts declares them). The
// lease and the holder fence move to saga_runs; an operation keeps what it is (its chain's answer,
// its settlement decision). Every unfinished operation becomes a run at the step its row says
// comes next: no ledger answer yet, the send (`move`, or a withdrawal's `hold`); a withdrawal whose
// settlement is decided, `settle`; any other withdrawal on hold waits for its bank, whose next poll
// submits it again and asks. Each run is due when the operation was, as recovery would have found it.
const operation_runs = `
INSERT INTO saga_runs (id, saga, step, status, fence, tries, due_ms, holder, input, outputs, error, created_ms, updated_ms)
SELECT id,
  CASE WHEN type = 'withdrawal' THEN 'wallet_withdrawal' ELSE 'wallet_movement' END,
  CASE WHEN ledger_result IS NULL THEN (CASE WHEN type = 'withdrawal' THEN 'hold' ELSE 'move' END)
       WHEN settlement_outcome IS NOT NULL THEN 'settle' ELSE 'await_bank' END,
  CASE WHEN ledger_result IS NULL OR settlement_outcome IS NOT NULL THEN 'running' ELSE 'waiting' END,
  attempt, CASE WHEN ledger_result IS NULL OR settlement_outcome IS NOT NULL THEN 0 ELSE 1 END, next_attempt_ms, NULL, 'null', '{}', NULL,
  COALESCE(created_ms, created * 1000), COALESCE(created_ms, created * 1000)
FROM wallet_operations WHERE status = 'pending' ORDER BY sequence;
INSERT INTO saga_transitions (run_id, saga, fence, from_step, to_step, from_status, to_status, reason, holder, created_ms)
SELECT id, saga, fence, NULL, step, NULL, status, 'migrated', NULL, created_ms FROM saga_runs WHERE saga IN ('wallet_movement', 'wallet_withdrawal');
DROP INDEX wallet_operations_unfinished;
ALTER TABLE wallet_operations DROP COLUMN next_attempt_ms;
ALTER TABLE wallet_operations DROP COLUMN attempt;
`;

export const wallet_migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'wallets, operations, steps and limits',
    sqlite: tables('sqlite'),
    postgres: tables('postgres'),
  },
  {
    version: 2,
    name: 'refunds of wallet payments',
    sqlite: refunds_sqlite,
    postgres: refunds_postgres,
  },
  // Events announcing completed transfers and settled withdrawals, for webhooks.
  outboxMigration(3, wallet_events_table),
  {
    version: 4,
    name: 'top-ups paid by payment intents, and their reversals',
    sqlite: top_ups_from_payments_sqlite,
    postgres: top_ups_from_payments_postgres,
  },
  {
    version: 5,
    name: 'restorations of top-up reversals whose card refund failed',
    sqlite: restorations_sqlite,
    postgres: restorations_postgres,
  },
  {
    version: 6,
    name: 'the ledger as the book of record: transfer layouts, limit versions and projection cursors',
    sqlite: book_of_record,
    postgres: book_of_record,
  },
  {
    version: 7,
    name: 'bank account numbers of withdrawals sealed under data keys wrapped by the key-encryption key',
    sqlite: account_numbers_sealed.sqlite,
    postgres: account_numbers_sealed.postgres,
  },
  {
    version: 8,
    name: 'recorded operations run as sagas on the kernel runner',
    sqlite: sagaTables().sqlite + operation_runs,
    postgres: sagaTables().postgres + operation_runs,
  },
  // Each event keeps the trace context of the request that wrote it, for the relay's publish.
  outboxTraceContextMigration(9, wallet_events_table),
];
