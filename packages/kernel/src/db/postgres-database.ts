import pg from 'pg';
import { assert } from '../assert';
import { safeIntegerFromDatabase, type Database, type DatabaseLocation, type ServiceDatabase, type TransactionOptions } from './database';
import { migratePostgres } from './migrate-postgres';
import type { Migration } from './migrations';
import { toPostgresPlaceholders } from './placeholders';

const int8_oid = 20;

/**
 * pg reads BIGINT (COUNT(*) included) as a string. The port reads it as a number, like SQLite
 * does, and refuses one that would round. Set per query, so other users of pg are unaffected.
 */
const port_types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown => {
    if (oid === int8_oid && format !== 'binary') return (text: string) => safeIntegerFromDatabase(text, 'bigint');
    const parser: unknown = pg.types.getTypeParser(oid, format);
    return parser;
  }) as pg.CustomTypesConfig['getTypeParser'],
};

function queryConfig(sql: string, params: readonly unknown[]): pg.QueryConfig {
  return { text: toPostgresPlaceholders(sql), values: [...params], types: port_types };
}

class PostgresTransaction implements Database {
  readonly dialect = 'postgres';
  #finished = false;
  #nested_active = false;

  constructor(
    readonly client: pg.PoolClient,
    readonly depth: number,
  ) {}

  finish(): void {
    this.#finished = true;
  }

  #assertOpen(): void {
    assert(!this.#finished, 'a transaction handle was used after its transaction ended');
    assert(!this.#nested_active, 'a transaction handle was used while a nested transaction on it was open; use the nested handle');
  }

  async query<Row = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    this.#assertOpen();
    const result = await this.client.query(queryConfig(sql, params));
    return result.rows as Row[];
  }

  async execute(sql: string, params: readonly unknown[] = []): Promise<{ rowCount: number }> {
    this.#assertOpen();
    const result = await this.client.query(queryConfig(sql, params));
    return { rowCount: result.rowCount ?? 0 };
  }

  async transaction<T>(work: (tx: Database) => Promise<T>): Promise<T> {
    this.#assertOpen();
    const savepoint = `paygrid_savepoint_${this.depth + 1}`;
    const nested = new PostgresTransaction(this.client, this.depth + 1);
    this.#nested_active = true;
    try {
      await this.client.query(`SAVEPOINT ${savepoint}`);
      try {
        const result = await work(nested);
        await this.client.query(`RELEASE SAVEPOINT ${savepoint}`);
        return result;
      } catch (error) {
        await this.client.query(`ROLLBACK TO SAVEPOINT ${savepoint}`);
        throw error;
      }
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

class PostgresDatabaseAdapter implements ServiceDatabase {
  readonly dialect = 'postgres';
  #closed = false;

  constructor(
    readonly pool: pg.Pool,
    readonly location: DatabaseLocation,
  ) {}

  #assertOpen(): void {
    assert(!this.#closed, 'the Database was used after close()');
  }

  async query<Row = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<Row[]> {
    this.#assertOpen();
    const result = await this.pool.query(queryConfig(sql, params));
    return result.rows as Row[];
  }

  async execute(sql: string, params: readonly unknown[] = []): Promise<{ rowCount: number }> {
    this.#assertOpen();
    const result = await this.pool.query(queryConfig(sql, params));
    return { rowCount: result.rowCount ?? 0 };
  }

  async transaction<T>(work: (tx: Database) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    this.#assertOpen();
    const client = await this.pool.connect();
    const tx = new PostgresTransaction(client, 0);
    // A connection whose ROLLBACK failed is in an unknown state: destroy it, do not reuse it.
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      if (options.durability === 'deferred') await client.query('SET LOCAL synchronous_commit TO OFF');
      const result = await work(tx);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollback_error: unknown) => {
        broken = rollback_error instanceof Error ? rollback_error : new Error(String(rollback_error));
      });
      throw error;
    } finally {
      tx.finish();
      client.release(broken);
    }
  }

  async migrate(migrations: readonly Migration[]): Promise<number[]> {
    this.#assertOpen();
    return migratePostgres(this.pool, migrations);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.pool.end();
  }
}

/** The Database port over a pool (from `createPostgresPool`); close() ends the pool. */
export function createPostgresDatabase(pool: pg.Pool, location: DatabaseLocation): ServiceDatabase {
  return new PostgresDatabaseAdapter(pool, location);
}
