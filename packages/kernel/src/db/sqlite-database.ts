import { AsyncLocalStorage } from 'node:async_hooks';
import type BetterSqlite3 from 'better-sqlite3';
import { assert } from '../assert';
import { AsyncMutex } from './async-mutex';
import { safeIntegerFromDatabase, type Database, type DatabaseLocation, type ServiceDatabase, type TransactionOptions } from './database';
import { migrateSqlite } from './migrate-sqlite';
import type { Migration } from './migrations';
import { checkpointInBackground } from './sqlite-checkpointer';
import { WalSyncer, type SyncFile } from './wal-sync';

/** Prepared statements kept per connection; the same SQL recurs, preparing it is not free. */
const statements_cached_max = 256;
/**
 * The log size at which a connection checkpoints by itself, inside a COMMIT on the main thread.
 * The background checkpointer keeps the log far below it; this only bounds the log if that thread
 * is gone.
 */
const wal_autocheckpoint_fallback_bytes = 16 * 1024 * 1024;

type Statement = BetterSqlite3.Statement<unknown[], Record<string, unknown>>;

/** The SQL side of one connection: statement cache, parameter and row conversion. */
class SqliteExecutor {
  readonly #statements = new Map<string, Statement>();

  constructor(readonly handle: BetterSqlite3.Database) {}

  #prepare(sql: string): Statement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.handle.prepare<unknown[], Record<string, unknown>>(sql);
      // Integers come back as bigint so that a value past 2^53 is refused, never rounded.
      if (statement.reader) statement.safeIntegers(true);
      if (this.#statements.size >= statements_cached_max) this.#statements.clear();
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  query<Row>(sql: string, params: readonly unknown[]): Row[] {
    const statement = this.#prepare(sql);
    const values = params.map(toSqliteValue);
    if (!statement.reader) {
      statement.run(...values);
      return [];
    }
    return statement.all(...values).map((row) => convertRow(row) as Row);
  }

  /** Whether the statement may change the database (`INSERT … RETURNING` returns rows and writes). */
  writes(sql: string): boolean {
    return !this.#prepare(sql).readonly;
  }

  execute(sql: string, params: readonly unknown[]): { rowCount: number } {
    const statement = this.#prepare(sql);
    const values = params.map(toSqliteValue);
    if (statement.reader) return { rowCount: statement.all(...values).length };
    return { rowCount: statement.run(...values).changes };
  }
}

function toSqliteValue(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

function convertRow(row: Record<string, unknown>): Record<string, unknown> {
  for (const [column, value] of Object.entries(row)) {
    if (typeof value === 'bigint') row[column] = safeIntegerFromDatabase(value, column);
  }
  return row;
}

/** The handle given to a transaction's work; it is dead once the transaction ends. */
class SqliteTransaction implements Database {
  readonly dialect = 'sqlite';
  #finished = false;
  #nested_active = false;

  constructor(
    readonly executor: SqliteExecutor,
    readonly depth: number,
  ) {}

  finish(): void {
    this.#finished = true;
  }

  #assertOpen(): void {
    assert(!this.#finished, 'a transaction handle was used after its transaction ended');
    assert(!this.#nested_active, 'a transaction handle was used while a nested transaction on it was open; use the nested handle');
  }

  // Async although the work is synchronous: a failure must reject, never throw at the call.
  // eslint-disable-next-line @typescript-eslint/require-await
  async query<Row = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    this.#assertOpen();
    return this.executor.query<Row>(sql, params);
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async execute(sql: string, params: readonly unknown[] = []): Promise<{ rowCount: number }> {
    this.#assertOpen();
    return this.executor.execute(sql, params);
  }

  async transaction<T>(work: (tx: Database) => Promise<T>): Promise<T> {
    this.#assertOpen();
    const savepoint = `paygrid_savepoint_${this.depth + 1}`;
    const nested = new SqliteTransaction(this.executor, this.depth + 1);
    this.#nested_active = true;
    this.executor.handle.exec(`SAVEPOINT ${savepoint}`);
    try {
      const result = await work(nested);
      this.executor.handle.exec(`RELEASE ${savepoint}`);
      return result;
    } catch (error) {
      this.executor.handle.exec(`ROLLBACK TO ${savepoint}`);
      this.executor.handle.exec(`RELEASE ${savepoint}`);
      throw error;
    } finally {
      nested.finish();
      this.#nested_active = false;
    }
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async close(): Promise<void> {
    assert(false, 'close() called on a transaction handle');
  }
}

/** Which SqliteDatabase's transaction the current async context is inside, if any. */
const transaction_owner = new AsyncLocalStorage<SqliteDatabaseAdapter>();

/**
 * better-sqlite3 is one synchronous connection. A transaction spans awaits, so everything else
 * waits in a queue until it ends: otherwise another caller's statements would run inside it.
 *
 * On a file in WAL mode, commits are made durable off the main thread (wal-sync.ts says how), and
 * every call on the root handle resolves only once everything written before it ended is on disk:
 * a write is answered only when it is durable, and a read, or a refusal, never shows the caller
 * a commit that a power loss could still take back.
 */
class SqliteDatabaseAdapter implements ServiceDatabase {
  readonly dialect = 'sqlite';
  readonly #executor: SqliteExecutor;
  readonly #queue = new AsyncMutex();
  readonly #wal: WalSyncer | undefined;
  /** Resolves to the function that stops the background checkpoints of this file, if they started. */
  readonly #background_checkpoints: Promise<(() => Promise<void>) | undefined> = Promise.resolve(undefined);
  #closed = false;

  constructor(
    handle: BetterSqlite3.Database,
    readonly location: DatabaseLocation,
    options: SqliteDatabaseOptions,
  ) {
    this.#executor = new SqliteExecutor(handle);
    if (!handle.memory && handle.pragma('journal_mode', { simple: true }) === 'wal') {
      handle.pragma('synchronous = NORMAL');
      this.#wal = new WalSyncer(handle.name, options.sync_file);
      const page_size = Number(handle.pragma('page_size', { simple: true }));
      handle.pragma(`wal_autocheckpoint = ${Math.ceil(wal_autocheckpoint_fallback_bytes / page_size)}`);
      this.#background_checkpoints = checkpointInBackground(handle.name).catch((error: unknown) => {
        process.emitWarning(`SQLite ${handle.name} is checkpointed on the main thread: ${error instanceof Error ? error.message : String(error)}`);
        return undefined;
      });
    }
  }

  async #serialized<T>(work: () => Promise<T> | T): Promise<T> {
    assert(transaction_owner.getStore() !== this, 'the root Database was used inside its own transaction (it would deadlock); use the tx handle');
    assert(!this.#closed, 'the Database was used after close()');
    const wal_failure = this.#wal?.failure;
    if (wal_failure !== undefined) throw wal_failure;
    return this.#queue.run(work);
  }

  /** Settles like `pending`, but only once everything written so far is durable (the queue is free meanwhile). */
  async #durably<T>(pending: Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await pending;
    } catch (error) {
      if (this.#wal?.pending === true) await this.#wal.durable();
      throw error;
    }
    if (this.#wal?.pending === true) await this.#wal.durable();
    return result;
  }

  async query<Row = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    return this.#durably(
      this.#serialized(() => {
        const rows = this.#executor.query<Row>(sql, params);
        if (this.#executor.writes(sql)) this.#wal?.noteCommit();
        return rows;
      }),
    );
  }

  async execute(sql: string, params: readonly unknown[] = []): Promise<{ rowCount: number }> {
    return this.#durably(
      this.#serialized(() => {
        const result = this.#executor.execute(sql, params);
        if (this.#executor.writes(sql)) this.#wal?.noteCommit();
        return result;
      }),
    );
  }

  async transaction<T>(work: (tx: Database) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const committed = this.#serialized(async () => {
      const handle = this.#executor.handle;
      // IMMEDIATE takes the write lock now, so a second process waits (busy_timeout) at BEGIN
      // instead of failing at its first write.
      handle.exec('BEGIN IMMEDIATE');
      const tx = new SqliteTransaction(this.#executor, 0);
      try {
        const result = await transaction_owner.run(this, () => work(tx));
        handle.exec('COMMIT');
        this.#wal?.noteCommit();
        return result;
      } catch (error) {
        if (handle.inTransaction) handle.exec('ROLLBACK');
        throw error;
      } finally {
        tx.finish();
      }
    });
    // A deferred commit is noted all the same, so the next call that waits syncs it too.
    return options.durability === 'deferred' ? committed : this.#durably(committed);
  }

  async migrate(migrations: readonly Migration[]): Promise<number[]> {
    return this.#durably(
      this.#serialized(() => {
        const applied = migrateSqlite(this.#executor.handle, migrations);
        if (applied.length > 0) this.#wal?.noteCommit();
        return applied;
      }),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#serialized(async () => {
      this.#closed = true;
      try {
        await this.#wal?.close();
        const stopBackgroundCheckpoints = await this.#background_checkpoints;
        await stopBackgroundCheckpoints?.();
      } finally {
        this.#executor.handle.close();
      }
    });
  }
}

export interface SqliteDatabaseOptions {
  /** How the write-ahead log is put on disk; tests inject one to hold or fail it. */
  readonly sync_file?: SyncFile;
}

/** The Database port over a better-sqlite3 connection (from `openSqlite`); close() closes it. */
export function createSqliteDatabase(
  handle: BetterSqlite3.Database,
  location: DatabaseLocation = { dialect: 'sqlite', file: handle.name },
  options: SqliteDatabaseOptions = {},
): ServiceDatabase {
  return new SqliteDatabaseAdapter(handle, location, options);
}
