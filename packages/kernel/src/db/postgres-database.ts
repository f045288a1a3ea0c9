import { createHash } from 'node:crypto';
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

/**
 * Statements this process names, at most. A named statement is parsed and planned once per
 * connection and then only bound and executed: for the short lookups the services make on every
 * request (an API key by its hash, a wallet by its id), that took the backend's CPU per query from
 * about 82 to 13 microseconds and pg's from about 67 to 32 (docs/operations.md has the figures).
 * The services' statements are a fixed set of texts, but some are built with a list of
 * placeholders as long as their input; past this bound, new texts run unnamed, as before, so
 * neither this map nor any connection's set of prepared statements grows without bound.
 */
export const postgres_statements_named_max = 1_024;
const statement_names = new Map<string, string>();
/**
 * Texts that run unnamed from now on: PostgreSQL refused their prepared form because a table they
 * read changed its columns under them (a migration of a newer version ran beside this process).
 */
const statements_unnamed = new Set<string>();

function statementName(text: string): string | undefined {
  if (statements_unnamed.has(text)) return undefined;
  let name = statement_names.get(text);
  if (name === undefined) {
    if (statement_names.size >= postgres_statements_named_max) return undefined;
    // Named by the text's hash: the same text has the same name on every connection, and pg
    // refuses one name reused for another text, which 96 bits of SHA-256 make out of reach.
    name = `paygrid_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    statement_names.set(text, name);
  }
  return name;
}

function queryConfig(sql: string, params: readonly unknown[], named = true): pg.QueryConfig {
  const text = toPostgresPlaceholders(sql);
  // Without parameters pg sends the text by the simple protocol, which takes scripts of several
  // statements (migrations); a named statement would go by the extended one, which does not.
  const name = named && params.length > 0 ? statementName(text) : undefined;
  return { text, values: [...params], types: port_types, ...(name === undefined ? {} : { name }) };
}

/**
 * Whether PostgreSQL refused a prepared statement because what it returns changed since it was
 * prepared (SQLSTATE 0A000, "cached plan must not change result type"): `SELECT *` from a table
 * that a migration has just given another column. The text then runs unnamed for good.
 */
function preparedResultChanged(error: unknown, config: pg.QueryConfig): boolean {
  if (config.name === undefined || typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (code !== '0A000' || typeof message !== 'string' || !message.includes('cached plan must not change result type')) return false;
  if (statements_unnamed.size < postgres_statements_named_max) statements_unnamed.add(config.text);
  return true;
}

/**
 * One statement on a connection of the pool: outside a transaction a statement refused for a
 * changed result is sent again, unnamed, so that the caller never sees the refusal.
 */
async function poolQuery(pool: pg.Pool, sql: string, params: readonly unknown[]): Promise<pg.QueryResult> {
  const config = queryConfig(sql, params);
  try {
    return await pool.query(config);
  } catch (error) {
    if (!preparedResultChanged(error, config)) throw error;
    return pool.query(queryConfig(sql, params, false));
  }
}

/**
 * One statement inside a transaction: a refusal for a changed result has aborted the transaction,
 * so it is thrown (the caller's retry runs the text unnamed), after the text is marked.
 */
async function clientQuery(client: pg.PoolClient, sql: string, params: readonly unknown[]): Promise<pg.QueryResult> {
  const config = queryConfig(sql, params);
  try {
    return await client.query(config);
  } catch (error) {
    preparedResultChanged(error, config);
    throw error;
  }
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
    const result = await clientQuery(this.client, sql, params);
    return result.rows as Row[];
  }

  async execute(sql: string, params: readonly unknown[] = []): Promise<{ rowCount: number }> {
    this.#assertOpen();
    const result = await clientQuery(this.client, sql, params);
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
    const result = await poolQuery(this.pool, sql, params);
    return result.rows as Row[];
  }

  async execute(sql: string, params: readonly unknown[] = []): Promise<{ rowCount: number }> {
    this.#assertOpen();
    const result = await poolQuery(this.pool, sql, params);
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
