import type { Migration } from '@paygrid/kernel';

// Ids are 16 big-endian bytes, so byte order is numeric order. Amounts, balances and timestamps fit
// a signed 64-bit integer (amounts stay within 2^53 - 1, timestamps within 2^63 - 1).
// Account `flags` are the flags the account was created with and never change; `closed` is the
// only flag closing transfers move, so it has a column of its own.
//
// SQLite keys accounts and transfers by their timestamp (INTEGER PRIMARY KEY, the rowid): rows are
// appended in key order and the timestamp is unique for free. Transfers also carry their accounts'
// integer keys (the accounts' timestamps), and SQLite indexes those rather than the 16-byte ids:
// integer index inserts cost half as much, and SQLite appends the rowid to every index entry, so
// one account's transfers come out in timestamp order. PostgreSQL keys rows by id and indexes
// (account id, timestamp) explicitly.
const tables = (dialect: 'sqlite' | 'postgres') => {
  const blob = dialect === 'sqlite' ? 'BLOB' : 'BYTEA';
  const keyed = (id: string) =>
    dialect === 'sqlite' ? `timestamp INTEGER PRIMARY KEY,\n  ${id} ${blob} NOT NULL UNIQUE` : `${id} ${blob} PRIMARY KEY,\n  timestamp BIGINT NOT NULL UNIQUE`;
  const by_account = (side: string) => (dialect === 'sqlite' ? `(${side}_account_key)` : `(${side}_account_id, timestamp)`);
  const account_keys = dialect === 'sqlite' ? '\n  debit_account_key INTEGER NOT NULL,\n  credit_account_key INTEGER NOT NULL,' : '';
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
  ${keyed('id')},
  ledger BIGINT NOT NULL,
  code INTEGER NOT NULL,
  flags INTEGER NOT NULL,
  closed INTEGER NOT NULL,
  user_data_128 ${blob} NOT NULL,
  user_data_64 BIGINT NOT NULL,
  user_data_32 BIGINT NOT NULL,
  debits_pending BIGINT NOT NULL,
  debits_posted BIGINT NOT NULL,
  credits_pending BIGINT NOT NULL,
  credits_posted BIGINT NOT NULL
);
CREATE TABLE ledger_transfers (
  ${keyed('id')},
  debit_account_id ${blob} NOT NULL,
  credit_account_id ${blob} NOT NULL,${account_keys}
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
