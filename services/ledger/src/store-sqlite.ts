import Database from 'better-sqlite3';
import { makePrivateFile, sqlite_busy_timeout_ms } from '@paygrid/kernel';
import type BetterSqlite3 from 'better-sqlite3';
import { compareResolutions, idToBytes, type SealedBatch } from './codec';
import { SqliteCommitThread } from './sqlite-commit';
import type { BatchCommit, LedgerSnapshot, LedgerStore, LoadedLedger, StoredBatch, StoredTransfer, AccountFilter, QueryFilter, StoredAccount } from './store';
import {
  accountBalancesQuery,
  accountFromRow,
  accountTransfersQuery,
  queryTransfersQuery,
  balanceFromRow,
  select_accounts,
  select_transfer_id_max,
  select_last_batch,
  loadedLedgerFrom,
  batchFromRow,
  orderLike,
  pendingFromRow,
  resolutionFromRow,
  sealedAccountFromRow,
  select_transfer_with_status,
  storedTransferFromRow,
  transferFromRow,
  transfer_columns,
  type AccountRow,
  type PendingRow,
  type ResolutionRow,
  type BalanceRow,
  type BatchRow,
  type TransferRow,
} from './store-sql';
import { type AccountBalance, type PendingStatus, type Transfer } from './types';

/** Ids per lookup statement: well under SQLite's limit of 32,766 bound parameters. */
const lookup_chunk = 256;

const two_phase_commit_refusal = 'two-phase commit needs the PostgreSQL ledger store';

/** How often a second embedded writer retries the fence while the first one runs. */
const writer_fence_retry_ms = 500;

/** SQLite page cache for the ledger's connection, in KiB. */
const sqlite_cache_kib = 128 * 1024;

/**
 * The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit is on disk
 * before the writer acknowledges it. Commits run on a thread of their own with their own connection
 * (`SqliteCommitThread`), so the writer applies the next batch while SQLite writes this one; reads
 * run on this connection and, in WAL mode, see only committed batches.
 */
export class SqliteLedgerStore implements LedgerStore {
  readonly dialect = 'sqlite';
  private readonly statements;
  private readonly committer: SqliteCommitThread;
  private fence: BetterSqlite3.Database | undefined;

  constructor(private readonly db: BetterSqlite3.Database) {
    db.defaultSafeIntegers(true);
    // The writer touches account rows and index pages all over the file; a larger page cache
    // keeps them in memory between batches.
    db.pragma(`cache_size = -${sqlite_cache_kib}`);
    this.committer = new SqliteCommitThread({ file: db.name, busy_timeout_ms: sqlite_busy_timeout_ms, cache_kib: sqlite_cache_kib });
    this.statements = {
      transferById: db.prepare<[Buffer], TransferRow>(`${select_transfer_with_status} WHERE t.id = ?`),
      transfersByIds: db.prepare<Buffer[], TransferRow>(
        `${select_transfer_with_status} WHERE t.id IN (${Array.from({ length: lookup_chunk }, () => '?').join(', ')})`,
      ),
      accountById: db.prepare<[Buffer], AccountRow>(`${select_accounts} WHERE a.id = ?`),
    };
  }

  /**
   * Fencing for the embedded store: the writer holds an exclusive SQLite lock on a small file
   * beside the ledger (`<file>-writer`) for as long as it runs. The operating system drops the
   * lock when the process dies, however it dies, so a restart after SIGKILL takes it at once,
   * while a second live process on the same DATA_DIR waits instead of writing beside the first.
   * The lock is a file's, held by this process until it closes it, so it is never lost meanwhile.
   */
  async acquireWriter(onWaiting: (message: string) => void): Promise<void> {
    if (this.fence !== undefined) return;
    const fence_file = `${this.db.name}-writer`;
    // Private like the ledger beside it; its journal takes its mode (see makePrivateFile).
    makePrivateFile(fence_file);
    const fence = new Database(fence_file);
    fence.pragma('locking_mode = EXCLUSIVE');
    fence.pragma('busy_timeout = 0');
    let warned = false;
    for (;;) {
      try {
        // In exclusive locking mode, the first write takes the lock and keeps it until close.
        fence.exec('CREATE TABLE IF NOT EXISTS writer (pid INTEGER); DELETE FROM writer;');
        fence.prepare('INSERT INTO writer (pid) VALUES (?)').run(process.pid);
        break;
      } catch (error) {
        if (!(error instanceof Error && 'code' in error && String(error.code).startsWith('SQLITE_BUSY'))) {
          fence.close();
          throw error;
        }
        if (!warned) {
          onWaiting(`another process is the ledger writer for ${this.db.name}; waiting to take over`);
          warned = true;
        }
        await new Promise((resolve) => setTimeout(resolve, writer_fence_retry_ms));
      }
    }
    this.fence = fence;
  }

  holdsWriter(): boolean {
    return this.fence !== undefined;
  }

  load(): Promise<LoadedLedger> {
    const accounts = this.db.prepare<[], AccountRow>(`${select_accounts} ORDER BY a.timestamp`).all().map(accountFromRow);
    const pending = this.db
      .prepare<[], TransferRow>(
        `SELECT ${transfer_columns.split(', ').map((column) => `t.${column}`).join(', ')} FROM ledger_pending_transfers p JOIN ledger_transfers t ON t.id = p.id WHERE p.status = 'pending' ORDER BY t.timestamp`,
      )
      .all()
      .map(transferFromRow);
    const last_batch = this.db.prepare<[], BatchRow>(select_last_batch).get();
    const largest_transfer = this.db.prepare<[], { id: Buffer }>(select_transfer_id_max).get();
    return Promise.resolve(loadedLedgerFrom({ accounts, pending, last_batch, largest_transfer }));
  }

  prefetchTransfers(ids: readonly bigint[]): Promise<StoredTransfer[]> {
    return Promise.resolve(this.lookupTransfersNow(ids));
  }

  /**
   * Most ids a batch names are new, so most probes find nothing; asking for a chunk of ids per
   * statement keeps the per-call cost of the driver off each probe.
   */
  private lookupTransfersNow(ids: readonly bigint[]): StoredTransfer[] {
    const found: StoredTransfer[] = [];
    let at = 0;
    for (; at + lookup_chunk <= ids.length; at += lookup_chunk) {
      const chunk = ids.slice(at, at + lookup_chunk).map(idToBytes);
      for (const row of this.statements.transfersByIds.all(...chunk)) found.push(storedTransferFromRow(row));
    }
    for (; at < ids.length; at++) {
      const id = ids[at];
      if (id === undefined) continue;
      const row = this.statements.transferById.get(idToBytes(id));
      if (row !== undefined) found.push(storedTransferFromRow(row));
    }
    return orderLike(ids, found, (stored) => stored.transfer.id);
  }

  commit(batch: BatchCommit): Promise<void> {
    return this.committer.commit(batch);
  }

  // Two-phase commit exists only to shard the ledger across PostgreSQL databases (issue 15); an
  // embedded ledger is one file and has no second shard to agree with.
  prepare(_batch: BatchCommit, _gid: string): Promise<void> {
    return Promise.reject(new Error(two_phase_commit_refusal));
  }

  finishPrepared(_gid: string, _outcome: 'commit' | 'rollback'): Promise<'finished' | 'absent'> {
    return Promise.reject(new Error(two_phase_commit_refusal));
  }

  /** Nothing is ever prepared here, so recovery finds nothing to finish. */
  listPrepared(_prefix: string): Promise<string[]> {
    return Promise.resolve([]);
  }

  lookupAccounts(ids: readonly bigint[]): Promise<StoredAccount[]> {
    const found: StoredAccount[] = [];
    for (const id of ids) {
      const row = this.statements.accountById.get(idToBytes(id));
      if (row !== undefined) found.push(accountFromRow(row));
    }
    return Promise.resolve(found);
  }

  lookupTransfers(ids: readonly bigint[]): Promise<StoredTransfer[]> {
    return Promise.resolve(this.lookupTransfersNow(ids));
  }

  getAccountTransfers(filter: AccountFilter): Promise<Transfer[]> {
    const { sql, params } = accountTransfersQuery(filter, idToBytes);
    return Promise.resolve(this.db.prepare<unknown[], TransferRow>(sql).all(...params).map(transferFromRow));
  }

  getAccountBalances(filter: AccountFilter): Promise<AccountBalance[]> {
    const { sql, params } = accountBalancesQuery(filter, idToBytes);
    return Promise.resolve(this.db.prepare<unknown[], BalanceRow>(sql).all(...params).map(balanceFromRow));
  }

  queryTransfers(filter: QueryFilter): Promise<Transfer[]> {
    const { sql, params } = queryTransfersQuery(filter, idToBytes);
    return Promise.resolve(this.db.prepare<unknown[], TransferRow>(sql).all(...params).map(transferFromRow));
  }

  readSnapshot<T>(work: (snapshot: LedgerSnapshot) => Promise<T>): Promise<T> {
    return readSqliteSnapshot(this.db.name, work);
  }

  async close(): Promise<void> {
    await this.committer.close();
    this.db.close();
    // Closing the fence's connection releases the writer lock for a standby.
    this.fence?.close();
    this.fence = undefined;
  }
}

/**
 * Snapshots of a ledger file that no store of this process has open, read-only: to verify a copy
 * (`paygrid backup` and `paygrid restore`) without a writer, a commit thread or a migration.
 */
export function sqliteLedgerFileSnapshots(file: string): Pick<LedgerStore, 'readSnapshot'> {
  return { readSnapshot: <T>(work: (snapshot: LedgerSnapshot) => Promise<T>) => readSqliteSnapshot(file, work) };
}

/**
 * A read transaction on a second connection to the same file: in WAL mode it sees the database
 * as of its first read, whatever the writer commits meanwhile.
 */
async function readSqliteSnapshot<T>(file: string, work: (snapshot: LedgerSnapshot) => Promise<T>): Promise<T> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  db.defaultSafeIntegers(true);
  try {
    db.exec('BEGIN');
    const snapshot = new SqliteLedgerSnapshot(db);
    // The first read pins the snapshot before any other work runs.
    await snapshot.readBatches(0n, 1);
    return await work(snapshot);
  } finally {
    if (db.inTransaction) db.exec('COMMIT');
    db.close();
  }
}

class SqliteLedgerSnapshot implements LedgerSnapshot {
  constructor(private readonly db: BetterSqlite3.Database) {}

  readBatches(after_id: bigint, limit: number): Promise<StoredBatch[]> {
    return Promise.resolve(
      this.db.prepare<[bigint, number], BatchRow>('SELECT * FROM ledger_batches WHERE id > ? ORDER BY id LIMIT ?').all(after_id, limit).map(batchFromRow),
    );
  }

  readSealedBatch(batch: StoredBatch): Promise<SealedBatch> {
    const range = [batch.timestamp_first, batch.timestamp_last] as const;
    const accounts = this.db
      .prepare<[bigint, bigint], AccountRow>(`${select_accounts} WHERE a.timestamp BETWEEN ? AND ? ORDER BY a.timestamp`)
      .all(...range)
      .map(sealedAccountFromRow);
    const transfers = this.db
      .prepare<[bigint, bigint], TransferRow>(`SELECT ${transfer_columns} FROM ledger_transfers WHERE timestamp BETWEEN ? AND ? ORDER BY timestamp`)
      .all(...range)
      .map(transferFromRow);
    const resolutions = this.db
      .prepare<[bigint, bigint], ResolutionRow>(
        'SELECT id, status, resolved_timestamp FROM ledger_pending_transfers WHERE resolved_timestamp BETWEEN ? AND ?',
      )
      .all(...range)
      .map(resolutionFromRow)
      .sort(compareResolutions);
    return Promise.resolve({ id: batch.id, timestamp_first: batch.timestamp_first, timestamp_last: batch.timestamp_last, accounts, transfers, resolutions });
  }

  readAccounts(after_timestamp: bigint, limit: number): Promise<StoredAccount[]> {
    return Promise.resolve(
      this.db
        .prepare<[bigint, number], AccountRow>(`${select_accounts} WHERE a.timestamp > ? ORDER BY a.timestamp LIMIT ?`)
        .all(after_timestamp, limit)
        .map(accountFromRow),
    );
  }

  readPendingStatuses(after_id: bigint, limit: number): Promise<{ id: bigint; status: PendingStatus }[]> {
    return Promise.resolve(
      this.db
        .prepare<[Buffer, number], PendingRow>('SELECT id, status FROM ledger_pending_transfers WHERE id > ? ORDER BY id LIMIT ?')
        .all(idToBytes(after_id), limit)
        .map(pendingFromRow),
    );
  }

}
