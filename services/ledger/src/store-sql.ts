// SQL and row mapping shared by the SQLite and PostgreSQL stores. Queries are written with `?`
// placeholders; the PostgreSQL store numbers them.
import { assert } from '@paygrid/kernel';
import { bytesToId, genesis_hash, type SealedAccount, type SealedResolution } from './codec';
import type { AccountFilter, LoadedLedger, QueryFilter, StoredAccount, StoredBatch, StoredTransfer } from './store';
import { AccountFlags, type Account, type AccountBalance, type PendingStatus, type Transfer } from './types';

/** A database integer: better-sqlite3 gives bigint, pg gives a decimal string for int8. */
export type DatabaseInteger = bigint | string | number;

export function integer(value: DatabaseInteger): bigint {
  return typeof value === 'bigint' ? value : BigInt(value);
}

export function small(value: DatabaseInteger): number {
  const result = typeof value === 'number' ? value : Number(value);
  assert(Number.isSafeInteger(result), 'a small integer column holds a large value');
  return result;
}

export interface TransferRow {
  id: Buffer;
  debit_account_id: Buffer;
  credit_account_id: Buffer;
  amount: DatabaseInteger;
  pending_id: Buffer;
  user_data_128: Buffer;
  user_data_64: DatabaseInteger;
  user_data_32: DatabaseInteger;
  timeout: DatabaseInteger;
  ledger: DatabaseInteger;
  code: DatabaseInteger;
  flags: DatabaseInteger;
  timestamp: DatabaseInteger;
  status?: string | null;
}

export interface AccountRow {
  id: Buffer;
  ledger: DatabaseInteger;
  code: DatabaseInteger;
  flags: DatabaseInteger;
  closed: DatabaseInteger;
  user_data_128: Buffer;
  user_data_64: DatabaseInteger;
  user_data_32: DatabaseInteger;
  debits_pending: DatabaseInteger;
  debits_posted: DatabaseInteger;
  credits_pending: DatabaseInteger;
  credits_posted: DatabaseInteger;
  timestamp: DatabaseInteger;
}

export interface BalanceRow {
  account_id: Buffer;
  timestamp: DatabaseInteger;
  debits_pending: DatabaseInteger;
  debits_posted: DatabaseInteger;
  credits_pending: DatabaseInteger;
  credits_posted: DatabaseInteger;
}

export interface BatchRow {
  id: DatabaseInteger;
  timestamp_first: DatabaseInteger;
  timestamp_last: DatabaseInteger;
  accounts_created: DatabaseInteger;
  transfers_created: DatabaseInteger;
  pending_resolved: DatabaseInteger;
  previous_hash: Buffer;
  hash: Buffer;
}

export const transfer_columns =
  'id, debit_account_id, credit_account_id, amount, pending_id, user_data_128, user_data_64, user_data_32, timeout, ledger, code, flags, timestamp';
/** Immutable account columns, in insert order. */
export const account_columns = 'timestamp, id, ledger, code, flags, user_data_128, user_data_64, user_data_32';
/** Mutable account columns, in insert order. */
/** Ids are 16 big-endian bytes, so the largest in byte order is the largest number; the id index finds it at once. */
export const select_transfer_id_max = 'SELECT id FROM ledger_transfers ORDER BY id DESC LIMIT 1';
export const select_last_batch = 'SELECT * FROM ledger_batches ORDER BY id DESC LIMIT 1';

/** The writer's starting point, from what a store read in one snapshot. */
export function loadedLedgerFrom(read: {
  readonly accounts: Account[];
  readonly pending: Transfer[];
  readonly last_batch: BatchRow | undefined;
  readonly largest_transfer: { readonly id: Buffer } | undefined;
}): LoadedLedger {
  const last = read.last_batch;
  return {
    accounts: read.accounts,
    pending: read.pending,
    last_batch_id: last === undefined ? 0n : integer(last.id),
    last_hash: last === undefined ? genesis_hash : last.hash,
    commit_timestamp: last === undefined ? 0n : integer(last.timestamp_last),
    transfer_id_max: read.largest_transfer === undefined ? 0n : bytesToId(read.largest_transfer.id),
  };
}

export const balance_columns = 'account_key, debits_pending, debits_posted, credits_pending, credits_posted, closed';
/** An account with its balances: the immutable row joined with its balance row. */
export const select_accounts = `SELECT a.timestamp, a.id, a.ledger, a.code, a.flags, a.user_data_128, a.user_data_64, a.user_data_32,
  b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted, b.closed
  FROM ledger_accounts a JOIN ledger_balances b ON b.account_key = a.timestamp`;

export const select_transfer_with_status = `SELECT t.id, t.debit_account_id, t.credit_account_id, t.amount, t.pending_id, t.user_data_128,
  t.user_data_64, t.user_data_32, t.timeout, t.ledger, t.code, t.flags, t.timestamp, p.status
  FROM ledger_transfers t LEFT JOIN ledger_pending_transfers p ON p.id = t.id`;

export function transferFromRow(row: TransferRow): Transfer {
  return {
    id: bytesToId(row.id),
    debit_account_id: bytesToId(row.debit_account_id),
    credit_account_id: bytesToId(row.credit_account_id),
    amount: integer(row.amount),
    pending_id: bytesToId(row.pending_id),
    user_data_128: bytesToId(row.user_data_128),
    user_data_64: integer(row.user_data_64),
    user_data_32: small(row.user_data_32),
    timeout: small(row.timeout),
    ledger: small(row.ledger),
    code: small(row.code),
    flags: small(row.flags),
    timestamp: integer(row.timestamp),
  };
}

export function storedTransferFromRow(row: TransferRow): StoredTransfer {
  return { transfer: transferFromRow(row), status: pendingStatus(row.status) };
}

export function pendingStatus(value: string | null | undefined): PendingStatus | undefined {
  if (value === null || value === undefined) return undefined;
  assert(value === 'pending' || value === 'posted' || value === 'voided' || value === 'expired', `unknown pending status ${value}`);
  return value;
}

export function accountFromRow(row: AccountRow): StoredAccount {
  const created_flags = small(row.flags);
  const closed = small(row.closed) !== 0;
  return {
    id: bytesToId(row.id),
    ledger: small(row.ledger),
    code: small(row.code),
    flags: closed ? created_flags | AccountFlags.closed : created_flags & ~AccountFlags.closed,
    user_data_128: bytesToId(row.user_data_128),
    user_data_64: integer(row.user_data_64),
    user_data_32: small(row.user_data_32),
    debits_pending: integer(row.debits_pending),
    debits_posted: integer(row.debits_posted),
    credits_pending: integer(row.credits_pending),
    credits_posted: integer(row.credits_posted),
    timestamp: integer(row.timestamp),
  };
}

export function balanceFromRow(row: BalanceRow): AccountBalance {
  return {
    account_id: bytesToId(row.account_id),
    timestamp: integer(row.timestamp),
    debits_pending: integer(row.debits_pending),
    debits_posted: integer(row.debits_posted),
    credits_pending: integer(row.credits_pending),
    credits_posted: integer(row.credits_posted),
  };
}

export function batchFromRow(row: BatchRow): StoredBatch {
  return {
    id: integer(row.id),
    timestamp_first: integer(row.timestamp_first),
    timestamp_last: integer(row.timestamp_last),
    accounts_created: small(row.accounts_created),
    transfers_created: small(row.transfers_created),
    pending_resolved: small(row.pending_resolved),
    previous_hash: row.previous_hash,
    hash: row.hash,
  };
}

const timestamp_ceiling = (1n << 63n) - 1n;

/** The filter's optional conditions on transfer fields (`code`, `user_data_*`). */
function addTransferFilters(filter: AccountFilter | QueryFilter, table: string, id: (value: bigint) => unknown, conditions: string[], params: unknown[]): void {
  const optional: [string, unknown][] = [
    ['code', filter.code],
    ['user_data_128', filter.user_data_128 === undefined ? undefined : id(filter.user_data_128)],
    ['user_data_64', filter.user_data_64],
    ['user_data_32', filter.user_data_32],
  ];
  for (const [column, value] of optional) {
    if (value === undefined) continue;
    conditions.push(`${table}${column} = ?`);
    params.push(value);
  }
}

/**
 * Transfers of one account, newest or oldest first: one index range scan per side (debits use
 * the debit index, credits the credit index), merged and cut to the limit.
 */
export function accountTransfersQuery(
  filter: AccountFilter,
  id: (value: bigint) => unknown,
): { sql: string; params: unknown[] } {
  const order = filter.reversed ? 'DESC' : 'ASC';
  const sides: string[] = [];
  const params: unknown[] = [];
  for (const [enabled, side] of [
    [filter.debits, 'debit'],
    [filter.credits, 'credit'],
  ] as const) {
    if (!enabled) continue;
    // Transfers are indexed by their accounts' integer keys (see migrations.ts).
    const account = `${side}_account_key = (SELECT timestamp FROM ledger_accounts WHERE id = ?)`;
    const conditions = [account, 'timestamp >= ?', 'timestamp <= ?'];
    params.push(id(filter.account_id), filter.timestamp_min ?? 0n, filter.timestamp_max ?? timestamp_ceiling);
    addTransferFilters(filter, '', id, conditions, params);
    params.push(filter.limit);
    sides.push(
      `SELECT * FROM (SELECT ${transfer_columns} FROM ledger_transfers WHERE ${conditions.join(' AND ')} ORDER BY timestamp ${order} LIMIT ?) AS side_${sides.length}`,
    );
  }
  assert(sides.length > 0, 'an account filter names debits, credits or both');
  params.push(filter.limit);
  return { sql: `SELECT * FROM (${sides.join(' UNION ALL ')}) AS merged ORDER BY timestamp ${order} LIMIT ?`, params };
}

/**
 * Transfers of any account whose fields match, in timestamp order: one range scan of the table's
 * key (the timestamp), so a query that starts at a recent timestamp reads only what came after.
 */
export function queryTransfersQuery(filter: QueryFilter, id: (value: bigint) => unknown): { sql: string; params: unknown[] } {
  const order = filter.reversed ? 'DESC' : 'ASC';
  const conditions = ['timestamp >= ?', 'timestamp <= ?'];
  const params: unknown[] = [filter.timestamp_min ?? 0n, filter.timestamp_max ?? timestamp_ceiling];
  if (filter.ledger !== undefined) {
    conditions.push('ledger = ?');
    params.push(filter.ledger);
  }
  addTransferFilters(filter, '', id, conditions, params);
  params.push(filter.limit);
  return { sql: `SELECT ${transfer_columns} FROM ledger_transfers WHERE ${conditions.join(' AND ')} ORDER BY timestamp ${order} LIMIT ?`, params };
}

export function accountBalancesQuery(
  filter: AccountFilter,
  id: (value: bigint) => unknown,
): { sql: string; params: unknown[] } {
  const order = filter.reversed ? 'DESC' : 'ASC';
  const conditions = ['b.account_id = ?', 'b.timestamp >= ?', 'b.timestamp <= ?'];
  const params: unknown[] = [id(filter.account_id), filter.timestamp_min ?? 0n, filter.timestamp_max ?? timestamp_ceiling];
  const sides: string[] = [];
  if (filter.debits) sides.push('t.debit_account_id = b.account_id');
  if (filter.credits) sides.push('t.credit_account_id = b.account_id');
  assert(sides.length > 0, 'an account filter names debits, credits or both');
  conditions.push(`(${sides.join(' OR ')})`);
  addTransferFilters(filter, 't.', id, conditions, params);
  params.push(filter.limit);
  return {
    sql: `SELECT b.account_id, b.timestamp, b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted
      FROM ledger_account_balances b JOIN ledger_transfers t ON t.timestamp = b.timestamp
      WHERE ${conditions.join(' AND ')} ORDER BY b.timestamp ${order} LIMIT ?`,
    params,
  };
}

export interface ResolutionRow {
  id: Buffer;
  status: string;
  resolved_timestamp: DatabaseInteger;
}

export interface PendingRow {
  id: Buffer;
  status: string;
}

export function resolutionFromRow(row: ResolutionRow): SealedResolution {
  const status = pendingStatus(row.status);
  assert(status !== undefined && status !== 'pending', 'a resolved pending transfer has a final status');
  return { id: bytesToId(row.id), status, timestamp: integer(row.resolved_timestamp) };
}

export function pendingFromRow(row: PendingRow): { id: bigint; status: PendingStatus } {
  const status = pendingStatus(row.status);
  assert(status !== undefined);
  return { id: bytesToId(row.id), status };
}

/** An account as sealed in its batch: the flags it was created with, no balances. */
export function sealedAccountFromRow(row: AccountRow): SealedAccount {
  return {
    id: bytesToId(row.id),
    ledger: small(row.ledger),
    code: small(row.code),
    flags: small(row.flags),
    user_data_128: bytesToId(row.user_data_128),
    user_data_64: integer(row.user_data_64),
    user_data_32: small(row.user_data_32),
    timestamp: integer(row.timestamp),
  };
}

/** A transfer's column values, in `transfer_columns` order. */
export function closedOf(flags: number): number {
  return (flags & AccountFlags.closed) !== 0 ? 1 : 0;
}

/** Lookups answer in the order asked, as TigerBeetle's do, leaving out ids not found. */
export function orderLike<T>(ids: readonly bigint[], found: T[], idOf: (value: T) => bigint): T[] {
  const by_id = new Map(found.map((value) => [idOf(value), value]));
  return ids.flatMap((id) => {
    const value = by_id.get(id);
    return value === undefined ? [] : [value];
  });
}
