import type { Migration } from '@paygrid/kernel';

// Ids are 16 big-endian bytes, so byte order is numeric order. Amounts, balances and timestamps fit
// a signed 64-bit integer (amounts stay within 2^53 - 1, timestamps within 2^63 - 1).
//
// Accounts and transfers are keyed by their timestamp, which the ledger assigns unique and
// increasing: rows are appended in key order. In SQLite the key is the rowid itself.
//
// `ledger_accounts` holds what never changes, with the flags each account was created with.
// `ledger_balances` holds what every batch changes: the four balances and `closed` (the one flag
// closing transfers move), in narrow rows keyed by the account's timestamp, so a batch's bulk
// update touches few pages. PostgreSQL leaves half of each page free for those updates, so they
// stay on the page without touching an index (HOT updates).
//
// Transfers carry their accounts' integer keys beside the 16-byte ids and are indexed by those:
// integer index entries are smaller and cheaper to insert, and listing one account's transfers
// looks up its key once.
const tables = (dialect: 'sqlite' | 'postgres') => {
  const blob = dialect === 'sqlite' ? 'BLOB' : 'BYTEA';
  const key = dialect === 'sqlite' ? 'INTEGER PRIMARY KEY' : 'BIGINT PRIMARY KEY';
  const updated_in_place = dialect === 'postgres' ? ' WITH (fillfactor = 50)' : '';
  // SQLite appends the rowid (the timestamp) to every index entry already.
  const by_account = (side: string) => (dialect === 'sqlite' ? `(${side}_account_key)` : `(${side}_account_key, timestamp)`);
  return `
CREATE TABLE ledger_batches (
  id BIGINT PRIMARY KEY,
  timestamp_first BIGINT NOT NULL,
  timestamp_last BIGINT NOT NULL,
  accounts_created INTEGER NOT NULL,
  transfers_created INTEGER NOT NULL,
  pending_resolved INTEGER NOT NULL,
  previous_hash ${blob} NOT NULL,
  hash ${blob} NOT NULL
);
CREATE TABLE ledger_accounts (
  timestamp ${key},
  id ${blob} NOT NULL UNIQUE,
  ledger BIGINT NOT NULL,
  code INTEGER NOT NULL,
  flags INTEGER NOT NULL,
  user_data_128 ${blob} NOT NULL,
  user_data_64 BIGINT NOT NULL,
  user_data_32 BIGINT NOT NULL
);
CREATE TABLE ledger_balances (
  account_key ${key},
  debits_pending BIGINT NOT NULL,
  debits_posted BIGINT NOT NULL,
  credits_pending BIGINT NOT NULL,
  credits_posted BIGINT NOT NULL,
  closed INTEGER NOT NULL
)${updated_in_place};
CREATE TABLE ledger_transfers (
  timestamp ${key},
  id ${blob} NOT NULL UNIQUE,
  debit_account_id ${blob} NOT NULL,
  credit_account_id ${blob} NOT NULL,
  debit_account_key BIGINT NOT NULL,
  credit_account_key BIGINT NOT NULL,
  amount BIGINT NOT NULL,
  pending_id ${blob} NOT NULL,
  user_data_128 ${blob} NOT NULL,
  user_data_64 BIGINT NOT NULL,
  user_data_32 BIGINT NOT NULL,
  timeout BIGINT NOT NULL,
  ledger BIGINT NOT NULL,
  code INTEGER NOT NULL,
  flags INTEGER NOT NULL
);
CREATE INDEX ledger_transfers_debit ON ledger_transfers ${by_account('debit')};
CREATE INDEX ledger_transfers_credit ON ledger_transfers ${by_account('credit')};
CREATE TABLE ledger_pending_transfers (
  id ${blob} PRIMARY KEY,
  status TEXT NOT NULL CHECK (status IN ('pending', 'posted', 'voided', 'expired')),
  resolved_timestamp BIGINT
);
CREATE INDEX ledger_pending_transfers_open ON ledger_pending_transfers (status) WHERE status = 'pending';
CREATE INDEX ledger_pending_transfers_resolved ON ledger_pending_transfers (resolved_timestamp) WHERE resolved_timestamp IS NOT NULL;
CREATE TABLE ledger_account_balances (
  account_id ${blob} NOT NULL,
  timestamp BIGINT NOT NULL,
  debits_pending BIGINT NOT NULL,
  debits_posted BIGINT NOT NULL,
  credits_pending BIGINT NOT NULL,
  credits_posted BIGINT NOT NULL,
  PRIMARY KEY (account_id, timestamp)
);
`;
};

export const ledger_migrations: readonly Migration[] = [
  { version: 1, name: 'ledger core', sqlite: tables('sqlite'), postgres: tables('postgres') },
];
