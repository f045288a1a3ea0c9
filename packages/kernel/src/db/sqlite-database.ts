import { AsyncLocalStorage } from 'node:async_hooks';
import type BetterSqlite3 from 'better-sqlite3';
import { assert } from '../assert';
import { AsyncMutex } from './async-mutex';
import { safeIntegerFromDatabase, type Database, type DatabaseLocation, type ServiceDatabase } from './database';
import { migrateSqlite } from './migrate-sqlite';
import type { Migration } from './migrations';

/** Prepared statements kept per connection; the same SQL recurs, preparing it is not free. */
const statements_cached_max = 256;

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
 */
class SqliteDatabaseAdapter implements ServiceDatabase {
  readonly dialect = 'sqlite';
  readonly #executor: SqliteExecutor;
  readonly #queue = new AsyncMutex();
  #closed = false;

  constructor(
    handle: BetterSqlite3.Database,
    readonly location: DatabaseLocation,
  ) {
    this.#executor = new SqliteExecutor(handle);
  }

  async #serialized<T>(work: () => Promise<T> | T): Promise<T> {
    assert(transaction_owner.getStore() !== this, 'the root Database was used inside its own transaction (it would deadlock); use the tx handle');
    assert(!this.#closed, 'the Database was used after close()');
    return this.#queue.run(work);
  }

  async query<Row = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    return this.#serialized(() => this.#executor.query<Row>(sql, params));
  }

  async execute(sql: string, params: readonly unknown[] = []): Promise<{ rowCount: number }> {
    return this.#serialized(() => this.#executor.execute(sql, params));
  }

  async transaction<T>(work: (tx: Database) => Promise<T>): Promise<T> {
    return this.#serialized(async () => {
      const handle = this.#executor.handle;
      // IMMEDIATE takes the write lock now, so a second process waits (busy_timeout) at BEGIN
      // instead of failing at its first write.
      handle.exec('BEGIN IMMEDIATE');
      const tx = new SqliteTransaction(this.#executor, 0);
      try {
        const result = await transaction_owner.run(this, () => work(tx));
        handle.exec('COMMIT');
        return result;
      } catch (error) {
        if (handle.inTransaction) handle.exec('ROLLBACK');
        throw error;
      } finally {
        tx.finish();
      }
    });
  }

  async migrate(migrations: readonly Migration[]): Promise<number[]> {
    return this.#serialized(() => migrateSqlite(this.#executor.handle, migrations));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#serialized(() => {
      this.#closed = true;
      this.#executor.handle.close();
    });
  }
}

/** The Database port over a better-sqlite3 connection (from `openSqlite`); close() closes it. */
export function createSqliteDatabase(handle: BetterSqlite3.Database, location: DatabaseLocation = { dialect: 'sqlite', file: handle.name }): ServiceDatabase {
  return new SqliteDatabaseAdapter(handle, location);
}
