import type pg from 'pg';
import { assert, quoteIdentifier } from '@paygrid/kernel';
import { compareResolutions, idToBytes, writeId, type SealedBatch } from './codec';
import { PostgresWriterThread, assertPreparedGid, fence_lost, type CommitStep } from './postgres-commit';
import type { AccountFilter, QueryFilter, BatchCommit, LedgerSnapshot, LedgerStore, LoadedLedger, StoredAccount, StoredBatch, StoredTransfer } from './store';
import {
  accountBalancesQuery,
  accountFromRow,
  accountTransfersQuery,
  queryTransfersQuery,
  account_columns,
  balanceFromRow,
  balance_columns,
  select_accounts,
  select_transfer_id_max,
  select_last_batch,
  loadedLedgerFrom,
  orderLike,
  batchFromRow,
  pendingFromRow,
  resolutionFromRow,
  sealedAccountFromRow,
  select_transfer_with_status,
  storedTransferFromRow,
  transferFromRow,
  transfer_columns,
  type AccountRow,
  type BalanceRow,
  type BatchRow,
  type PendingRow,
  type ResolutionRow,
  type TransferRow,
} from './store-sql';
import { TransferFlags, type AccountBalance, type PendingStatus, type Transfer } from './types';

/** How often a standby writer retries the fence while another writer holds it. */
export const writer_lock_retry_ms = 500;
/** The first key of the two-key advisory lock: "Pg" in ASCII, to keep clear of other users. */
const advisory_lock_class = 0x5067;
/** PostgreSQL's "no such prepared transaction" (the gid is absent). */
const sqlstate_undefined_object = '42704';
/**
 * PostgreSQL's "object not in prerequisite state", its answer when the gid is busy: another
 * session is finishing it, or the writer's PREPARE of it has not returned yet.
 */
const sqlstate_object_not_in_prerequisite_state = '55000';
/** Attempts at finishing a gid that another session is finishing, and the wait between them. */
const finish_prepared_busy_attempts_max = 50;
const finish_prepared_busy_retry_ms = 20;
/** How long the writer's connection may take to open. */
const writer_connect_timeout_ms = 10_000;
/** Where each commit stages its changed balances; it lives as long as the writer's session. */
const balance_changes_table_sql = `CREATE TEMPORARY TABLE ledger_balance_changes (account_key BIGINT NOT NULL, debits_pending BIGINT NOT NULL,
  debits_posted BIGINT NOT NULL, credits_pending BIGINT NOT NULL, credits_posted BIGINT NOT NULL, closed INTEGER NOT NULL) ON COMMIT DELETE ROWS`;

export interface PostgresLedgerStoreOptions {
  /** Pool for reads; its connections use the ledger's schema. */
  readonly pool: pg.Pool;
  /** Where the writer's own connection goes; the schema is set on it. */
  readonly url: string;
  readonly schema: string;
  readonly lock_retry_ms?: number;
  /** End the read pool when the store closes. */
  readonly owns_pool?: boolean;
}

/**
 * The production store. The writer owns one connection and holds a session advisory lock on it:
 * a second writer on the same schema waits until the first one's connection ends, then takes over
 * and reloads. Every batch is written on that same connection, so a writer that lost its lock has
 * also lost the only connection it could write with. The connection lives on a thread of its own
 * (`postgres-commit-worker.js`), so that a commit's statements follow one another while the main
 * thread applies the next batch.
 */
export class PostgresLedgerStore implements LedgerStore {
  readonly dialect = 'postgres';
  private writer: PostgresWriterThread | undefined;

  constructor(private readonly options: PostgresLedgerStoreOptions) {}

  async acquireWriter(onWaiting: (message: string) => void, onLost?: () => void): Promise<void> {
    if (this.writer?.usable === true) return;
    const previous = this.writer;
    this.writer = undefined;
    if (previous !== undefined) await previous.close().catch(() => undefined);
    const writer = await PostgresWriterThread.acquire(
      {
        url: this.options.url,
        search_path: quoteIdentifier(this.options.schema),
        lock_class: advisory_lock_class,
        lock_name: this.options.schema,
        lock_retry_ms: this.options.lock_retry_ms ?? writer_lock_retry_ms,
        connect_timeout_ms: writer_connect_timeout_ms,
        setup_sql: balance_changes_table_sql,
      },
      (holder_pid) => onWaiting(`another ledger writer (PostgreSQL backend pid ${holder_pid ?? 'unknown'}) holds schema "${this.options.schema}"; waiting to take over`),
      // Only the store's current thread speaks for the fence: one replaced or closed here is not news.
      () => {
        if (this.writer === writer) onLost?.();
      },
    );
    this.writer = writer;
  }

  holdsWriter(): boolean {
    return this.writer?.usable === true;
  }

  private writerThread(): PostgresWriterThread {
    if (this.writer?.usable !== true) throw new Error(fence_lost);
    return this.writer;
  }

  /**
   * Reads the committed state through the pool, in one snapshot. Only the holder of the lock
   * writes, and it is this store once `acquireWriter` returned, so nothing changes underneath.
   */
  async load(): Promise<LoadedLedger> {
    this.writerThread();
    const client = await this.options.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const accounts = (await client.query<AccountRow>(`${select_accounts} ORDER BY a.timestamp`)).rows.map(accountFromRow);
      const pending = (
        await client.query<TransferRow>(
          `SELECT ${transfer_columns.split(', ').map((column) => `t.${column}`).join(', ')} FROM ledger_pending_transfers p JOIN ledger_transfers t ON t.id = p.id WHERE p.status = 'pending' ORDER BY t.timestamp`,
        )
      ).rows.map(transferFromRow);
      const last_batch = (await client.query<BatchRow>(select_last_batch)).rows[0];
      const largest_transfer = (await client.query<{ id: Buffer }>(select_transfer_id_max)).rows[0];
      await client.query('COMMIT');
      return loadedLedgerFrom({ accounts, pending, last_batch, largest_transfer });
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async prefetchTransfers(ids: readonly bigint[]): Promise<StoredTransfer[]> {
    this.writerThread(); // Only the writer prefetches: this throws once it has lost the fence.
    const result = await this.options.pool.query<TransferRow>(`${select_transfer_with_status} WHERE t.id = ANY($1::bytea[])`, [
      ids.map(idToBytes),
    ]);
    return result.rows.map(storedTransferFromRow);
  }

  /** Writes one batch in one transaction, on the writer thread; it fails whole or not at all. */
  async commit(batch: BatchCommit): Promise<void> {
    await this.writerThread().commit(commitSteps(batch, 'temporary_table'));
  }

  /**
   * The same statements as `commit`, ending in PREPARE TRANSACTION: see `LedgerStore.prepare`.
   * It goes through the writer thread, after every commit sent before it, under the fence. If the
   * connection breaks while PREPARE is in flight, whether it was prepared is unknown here; the
   * coordinator's recovery finds out with `listPrepared`.
   */
  async prepare(batch: BatchCommit, gid: string): Promise<void> {
    assertPreparedGid(gid);
    await this.writerThread().commit(commitSteps(batch, 'unnest'), gid);
  }

  /**
   * Runs on a pool connection: COMMIT PREPARED and ROLLBACK PREPARED need no fence, only a
   * connection to the same database. On the writer thread it could not run before the fence is
   * taken, and it would queue behind a commit that may itself be waiting for this very prepared
   * transaction's row locks, which nothing would then release. A busy gid is retried for a moment.
   * A gid prepared in another database of the cluster is an error, not 'absent'.
   */
  async finishPrepared(gid: string, outcome: 'commit' | 'rollback'): Promise<'finished' | 'absent'> {
    assertPreparedGid(gid);
    const statement = `${outcome === 'commit' ? 'COMMIT' : 'ROLLBACK'} PREPARED '${gid}'`;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.options.pool.query(statement);
        return 'finished';
      } catch (error) {
        const code = sqlStateOf(error);
        if (code === sqlstate_undefined_object) return 'absent';
        if (code !== sqlstate_object_not_in_prerequisite_state || attempt >= finish_prepared_busy_attempts_max) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, finish_prepared_busy_retry_ms));
    }
  }

  /**
   * Prepared transactions are the cluster's, not one database's: the list keeps this store's
   * database only. `starts_with` takes the prefix as it is, with no LIKE wildcards to escape.
   */
  async listPrepared(prefix: string): Promise<string[]> {
    const result = await this.options.pool.query<{ gid: string }>(
      'SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND starts_with(gid, $1) ORDER BY prepared, gid',
      [prefix],
    );
    return result.rows.map((row) => row.gid);
  }

  async lookupAccounts(ids: readonly bigint[]): Promise<StoredAccount[]> {
    const result = await this.options.pool.query<AccountRow>(`${select_accounts} WHERE a.id = ANY($1::bytea[])`, [ids.map(idToBytes)]);
    return orderLike(ids, result.rows.map(accountFromRow), (account) => account.id);
  }

  async lookupTransfers(ids: readonly bigint[]): Promise<StoredTransfer[]> {
    const result = await this.options.pool.query<TransferRow>(`${select_transfer_with_status} WHERE t.id = ANY($1::bytea[])`, [ids.map(idToBytes)]);
    return orderLike(ids, result.rows.map(storedTransferFromRow), (stored) => stored.transfer.id);
  }

  async getAccountTransfers(filter: AccountFilter): Promise<Transfer[]> {
    const { sql, params } = accountTransfersQuery(filter, idToBytes);
    return (await this.options.pool.query<TransferRow>(numbered(sql), params)).rows.map(transferFromRow);
  }

  async getAccountBalances(filter: AccountFilter): Promise<AccountBalance[]> {
    const { sql, params } = accountBalancesQuery(filter, idToBytes);
    return (await this.options.pool.query<BalanceRow>(numbered(sql), params)).rows.map(balanceFromRow);
  }

  async queryTransfers(filter: QueryFilter): Promise<Transfer[]> {
    const { sql, params } = queryTransfersQuery(filter, idToBytes);
    return (await this.options.pool.query<TransferRow>(numbered(sql), params)).rows.map(transferFromRow);
  }

  async readSnapshot<T>(work: (snapshot: LedgerSnapshot) => Promise<T>): Promise<T> {
    const client = await this.options.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const result = await work(new PostgresLedgerSnapshot(client));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    const writer = this.writer;
    this.writer = undefined;
    // Ending the session releases the advisory lock, letting a standby take over at once.
    if (writer !== undefined) await writer.close().catch(() => undefined);
    if (this.options.owns_pool === true) await this.options.pool.end();
  }
}

/**
 * How a batch's changed balances reach the UPDATE that writes them.
 *
 * - `temporary_table`: binary COPY into `pg_temp.ledger_balance_changes`, a temporary table of the
 *   writer's session, which the UPDATE joins. As text arrays for unnest, printing the balances here
 *   and parsing them there cost more than the update itself, so ordinary commits take this path.
 * - `unnest`: the balances as six array parameters that the UPDATE unnests. PostgreSQL refuses to
 *   PREPARE a transaction that operated on a temporary object ("cannot PREPARE a transaction that
 *   has operated on temporary objects"), so prepared batches take this path.
 *
 * The temporary table itself may stay in the session: it is ON COMMIT DELETE ROWS, and PostgreSQL
 * (15, as tested) empties such tables at the end of a transaction only when that transaction
 * touched a temporary relation, so a PREPARE that never touched it goes through, even on a session
 * whose earlier commits used it (store-postgres-prepared.test.ts prepares after such a commit).
 */
type BalanceStaging = 'temporary_table' | 'unnest';

/** The statements that update the balances of accounts that existed before the batch. */
function balanceUpdateSteps(updated: readonly BatchCommit['balances'][number][], staging: BalanceStaging): CommitStep[] {
  const set_balances = `debits_pending = u.debits_pending, debits_posted = u.debits_posted,
         credits_pending = u.credits_pending, credits_posted = u.credits_posted, closed = u.closed`;
  // The temporary table has no statistics, so the planner could pick a hash join that reads
  // every balance; each changed account is one index lookup, as with unnest before. The unnest
  // path keeps the same plan whatever the planner would guess of its arrays.
  const one_lookup_each: CommitStep[] = [{ sql: 'SET LOCAL enable_hashjoin = off', params: [] }, { sql: 'SET LOCAL enable_mergejoin = off', params: [] }];
  if (staging === 'temporary_table') {
    return [
      { copy: `COPY pg_temp.ledger_balance_changes (${balance_columns}) FROM STDIN (FORMAT binary)`, rows: copyBalancesBinary(updated) },
      ...one_lookup_each,
      { sql: `UPDATE ledger_balances AS b SET ${set_balances} FROM pg_temp.ledger_balance_changes AS u WHERE b.account_key = u.account_key`, params: [] },
    ];
  }
  const columns = columnsOf(6);
  for (const balance of updated) {
    pushRow(columns, [balance.account_key, balance.debits_pending, balance.debits_posted, balance.credits_pending, balance.credits_posted, balance.closed ? 1 : 0]);
  }
  return [
    ...one_lookup_each,
    {
      sql: `UPDATE ledger_balances AS b SET ${set_balances}
       FROM unnest($1::int8[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int4[]) AS u(${balance_columns})
       WHERE b.account_key = u.account_key`,
      params: columns,
      expected_row_count: updated.length,
      refusal: 'a changed balance has no row in the store',
    },
  ];
}

/** The statements that write one batch, in order, as the writer thread runs them in one transaction. */
function commitSteps(batch: BatchCommit, staging: BalanceStaging): CommitStep[] {
  const { sealed } = batch;
  const steps: CommitStep[] = [];
  const created = new Set<bigint>();
  if (sealed.accounts.length > 0) {
    const columns = columnsOf(8);
    for (const account of sealed.accounts) {
      created.add(account.timestamp);
      pushRow(columns, [
        account.timestamp, idToBytes(account.id), account.ledger, account.code, account.flags,
        idToBytes(account.user_data_128), account.user_data_64, account.user_data_32,
      ]);
    }
    steps.push({
      sql: `INSERT INTO ledger_accounts (${account_columns}) SELECT * FROM unnest($1::int8[], $2::bytea[], $3::int8[], $4::int4[], $5::int4[], $6::bytea[], $7::int8[], $8::int8[])`,
      params: columns,
    });
  }
  // Balances travel as binary COPY, as transfers do: new accounts' straight into their table,
  // changed ones as `staging` says (see `BalanceStaging`).
  const inserted: BatchCommit['balances'][number][] = [];
  const updated: BatchCommit['balances'][number][] = [];
  for (const balance of batch.balances) (created.has(balance.account_key) ? inserted : updated).push(balance);
  if (inserted.length > 0) steps.push({ copy: `COPY ledger_balances (${balance_columns}) FROM STDIN (FORMAT binary)`, rows: copyBalancesBinary(inserted) });
  if (updated.length > 0) steps.push(...balanceUpdateSteps(updated, staging));
  if (sealed.transfers.length > 0) {
    steps.push({
      copy: `COPY ledger_transfers (${transfer_columns}, debit_account_key, credit_account_key) FROM STDIN (FORMAT binary)`,
      rows: copyTransfersBinary(sealed.transfers, batch.transfer_account_keys),
    });
    const pending_ids: Buffer[] = [];
    for (const transfer of sealed.transfers) {
      if ((transfer.flags & TransferFlags.pending) !== 0) pending_ids.push(idToBytes(transfer.id));
    }
    if (pending_ids.length > 0) {
      steps.push({ sql: "INSERT INTO ledger_pending_transfers (id, status) SELECT id, 'pending' FROM unnest($1::bytea[]) AS u(id)", params: [pending_ids] });
    }
  }
  if (sealed.resolutions.length > 0) {
    const columns = columnsOf(3);
    for (const resolution of sealed.resolutions) pushRow(columns, [idToBytes(resolution.id), resolution.status, resolution.timestamp]);
    steps.push({
      sql: `UPDATE ledger_pending_transfers AS p SET status = u.status, resolved_timestamp = u.resolved_timestamp
       FROM unnest($1::bytea[], $2::text[], $3::int8[]) AS u(id, status, resolved_timestamp)
       WHERE p.id = u.id AND p.status = 'pending'`,
      params: columns,
      expected_row_count: sealed.resolutions.length,
      refusal: 'a resolved pending transfer was not pending in the store',
    });
  }
  if (batch.history.length > 0) {
    const columns = columnsOf(6);
    for (const balance of batch.history) {
      pushRow(columns, [
        idToBytes(balance.account_id), balance.timestamp, balance.debits_pending, balance.debits_posted,
        balance.credits_pending, balance.credits_posted,
      ]);
    }
    steps.push({
      sql: `INSERT INTO ledger_account_balances (account_id, timestamp, debits_pending, debits_posted, credits_pending, credits_posted)
       SELECT * FROM unnest($1::bytea[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[])`,
      params: columns,
    });
  }
  steps.push({
    sql: 'INSERT INTO ledger_batches (id, timestamp_first, timestamp_last, accounts_created, transfers_created, pending_resolved, previous_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
    params: [sealed.id, sealed.timestamp_first, sealed.timestamp_last, sealed.accounts.length, sealed.transfers.length, sealed.resolutions.length, batch.previous_hash, batch.hash],
  });
  return steps;
}


/** Bytes per balance row: a field count, then five int8 fields and one int4, each with its length. */
const copy_balance_row_bytes = 2 + 5 * (4 + 8) + (4 + 4);

/** Balances in PostgreSQL's binary COPY format, in `balance_columns` order. */
function copyBalancesBinary(balances: readonly BatchCommit['balances'][number][]): Buffer {
  const out = Buffer.allocUnsafe(copy_binary_header.length + balances.length * copy_balance_row_bytes + 2);
  let at = copy_binary_header.copy(out, 0);
  for (const balance of balances) {
    at = out.writeInt16BE(6, at);
    for (const value of [balance.account_key, balance.debits_pending, balance.debits_posted, balance.credits_pending, balance.credits_posted]) {
      at = out.writeInt32BE(8, at);
      at = out.writeBigInt64BE(value, at);
    }
    at = out.writeInt32BE(4, at);
    at = out.writeInt32BE(balance.closed ? 1 : 0, at);
  }
  at = out.writeInt16BE(-1, at);
  assert(at === out.length);
  return out;
}

function columnsOf(count: number): unknown[][] {
  return Array.from({ length: count }, () => []);
}

function pushRow(columns: unknown[][], values: readonly unknown[]): void {
  values.forEach((value, index) => columns[index]?.push(value));
}

/** PostgreSQL's binary COPY signature, flags and header extension length. */
const copy_binary_header = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
/** Bytes per transfer row: a field count, then 15 fields, each a length and its value. */
const copy_transfer_row_bytes = 2 + 5 * (4 + 16) + 8 * (4 + 8) + 2 * (4 + 4);

/**
 * Transfers in PostgreSQL's binary COPY format, in `transfer_columns` order and then the two
 * account keys: bytea ids of 16 bytes, int8 for BIGINT columns and int4 for INTEGER ones.
 */
function copyTransfersBinary(transfers: readonly Transfer[], keys: BatchCommit['transfer_account_keys']): Buffer {
  const out = Buffer.allocUnsafe(copy_binary_header.length + transfers.length * copy_transfer_row_bytes + 2);
  let at = copy_binary_header.copy(out, 0);
  const id = (value: bigint) => {
    at = out.writeInt32BE(16, at);
    at = writeId(out, value, at);
  };
  const int8 = (value: bigint | number) => {
    at = out.writeInt32BE(8, at);
    at = out.writeBigInt64BE(BigInt(value), at);
  };
  const int4 = (value: number) => {
    at = out.writeInt32BE(4, at);
    at = out.writeInt32BE(value, at);
  };
  transfers.forEach((transfer, index) => {
    const [debit_key, credit_key] = keys[index] ?? [];
    assert(debit_key !== undefined && credit_key !== undefined, 'every transfer comes with its account keys');
    at = out.writeInt16BE(15, at);
    id(transfer.id);
    id(transfer.debit_account_id);
    id(transfer.credit_account_id);
    int8(transfer.amount);
    id(transfer.pending_id);
    id(transfer.user_data_128);
    int8(transfer.user_data_64);
    int8(transfer.user_data_32);
    int8(transfer.timeout);
    int8(transfer.ledger);
    int4(transfer.code);
    int4(transfer.flags);
    int8(transfer.timestamp);
    int8(debit_key);
    int8(credit_key);
  });
  at = out.writeInt16BE(-1, at);
  assert(at === out.length);
  return out;
}

/** The SQLSTATE of a PostgreSQL error, if `error` is one. */
function sqlStateOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/** Numbers `?` placeholders as `$1, $2, …` (the shared queries hold no literal question marks). */
function numbered(sql: string): string {
  let index = 0;
  return sql.replace(/\?/g, () => `$${++index}`);
}


/** Reads inside one REPEATABLE READ transaction: one snapshot for the whole verification. */
class PostgresLedgerSnapshot implements LedgerSnapshot {
  constructor(private readonly client: pg.PoolClient) {}

  async readBatches(after_id: bigint, limit: number): Promise<StoredBatch[]> {
    const result = await this.client.query<BatchRow>('SELECT * FROM ledger_batches WHERE id > $1 ORDER BY id LIMIT $2', [after_id, limit]);
    return result.rows.map(batchFromRow);
  }

  async readSealedBatch(batch: StoredBatch): Promise<SealedBatch> {
    const range = [batch.timestamp_first, batch.timestamp_last];
    // One after another: a connection runs one query at a time anyway, and pg deprecates queueing
    // a query on a client that is still executing one.
    const accounts = await this.client.query<AccountRow>(`${select_accounts} WHERE a.timestamp BETWEEN $1 AND $2 ORDER BY a.timestamp`, range);
    const transfers = await this.client.query<TransferRow>(`SELECT ${transfer_columns} FROM ledger_transfers WHERE timestamp BETWEEN $1 AND $2 ORDER BY timestamp`, range);
    const resolutions = await this.client.query<ResolutionRow>('SELECT id, status, resolved_timestamp FROM ledger_pending_transfers WHERE resolved_timestamp BETWEEN $1 AND $2', range);
    return {
      id: batch.id,
      timestamp_first: batch.timestamp_first,
      timestamp_last: batch.timestamp_last,
      accounts: accounts.rows.map(sealedAccountFromRow),
      transfers: transfers.rows.map(transferFromRow),
      resolutions: resolutions.rows.map(resolutionFromRow).sort(compareResolutions),
    };
  }

  async readAccounts(after_timestamp: bigint, limit: number): Promise<StoredAccount[]> {
    const result = await this.client.query<AccountRow>(
      `${select_accounts} WHERE a.timestamp > $1 ORDER BY a.timestamp LIMIT $2`,
      [after_timestamp, limit],
    );
    return result.rows.map(accountFromRow);
  }

  async readPendingStatuses(after_id: bigint, limit: number): Promise<{ id: bigint; status: PendingStatus }[]> {
    const result = await this.client.query<PendingRow>('SELECT id, status FROM ledger_pending_transfers WHERE id > $1 ORDER BY id LIMIT $2', [
      idToBytes(after_id),
      limit,
    ]);
    return result.rows.map(pendingFromRow);
  }

}
