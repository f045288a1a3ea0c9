import pg from 'pg';
import { assert } from '../assert';

/** Lower-case identifiers only, so a schema name never needs quoting rules to be right. */
export const schema_name_pattern = /^[a-z_][a-z0-9_]{0,62}$/;

export const postgres_pool_max_default = 10;
/** Waiting longer than this for a connection means the database is down or the pool is starved. */
export const postgres_connection_timeout_ms = 10_000;
export const postgres_idle_timeout_ms = 30_000;

/** Receives errors of idle or dropped connections; they must never crash the process. */
export type ConnectionErrorListener = (error: Error) => void;

function warnConnectionError(error: Error): void {
  process.emitWarning(`PostgreSQL connection error: ${error.message}`, { code: 'PAYGRID_PG_CONNECTION' });
}

export function assertSchemaName(schema: string): void {
  assert(schema_name_pattern.test(schema), `PostgreSQL schema name must match ${String(schema_name_pattern)} (got "${schema}")`);
}

export function quoteIdentifier(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

/**
 * Checks for the schema before creating it, so that a role without CREATE on the database
 * still starts when an administrator made the schema. Two processes creating it at once race
 * on the catalog; the loser sees a duplicate error, which means the schema exists.
 */
export async function ensureSchema(client: pg.ClientBase, schema: string): Promise<void> {
  assertSchemaName(schema);
  const found = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
  if (found.rowCount !== 0) return;
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    // 23505 unique_violation and 42P06 duplicate_schema: another process created it first.
    if (code !== '23505' && code !== '42P06') throw error;
  }
}

/** The application_name of a service's connections, as pg_stat_activity lists it: `paygrid-<schema>`. */
export function postgresApplicationName(schema: string): string {
  return `paygrid-${schema}`;
}

function connectionConfig(url: string, schema: string): pg.ClientConfig {
  assertSchemaName(schema);
  // Set at connection start-up, so every statement on the connection, including the first,
  // resolves unqualified names in the service's schema.
  // The application name tells an operator (and `bench distributed`, which charges each
  // backend's CPU to the service that opened it) whose connection a backend serves.
  return {
    connectionString: url,
    options: `-c search_path=${quoteIdentifier(schema)}`,
    application_name: postgresApplicationName(schema),
    connectionTimeoutMillis: postgres_connection_timeout_ms,
  };
}

export interface PostgresPoolOptions {
  readonly url: string;
  readonly schema: string;
  readonly max?: number;
  readonly onConnectionError?: ConnectionErrorListener;
}

/**
 * A pool whose connections use the given schema, created on first connect if missing. Every
 * connection gets an error listener: a connection dropped by the server or the network is
 * reported and replaced, and never kills the process.
 */
export function createPostgresPool(options: PostgresPoolOptions): pg.Pool {
  const on_error = options.onConnectionError ?? warnConnectionError;
  let schema_ready: Promise<void> | undefined;
  const pool = new pg.Pool({
    ...connectionConfig(options.url, options.schema),
    max: options.max ?? postgres_pool_max_default,
    idleTimeoutMillis: postgres_idle_timeout_ms,
    // pg-pool (3.8 and later) awaits onConnect before handing the connection out; @types/pg
    // declares it as returning void. A failure fails that connect and lets the next one retry.
    // eslint-disable-next-line @typescript-eslint/no-misused-promises
    onConnect: async (client: pg.ClientBase): Promise<void> => {
      schema_ready ??= ensureSchema(client, options.schema).catch((error: unknown) => {
        schema_ready = undefined;
        throw error;
      });
      await schema_ready;
    },
  });
  pool.on('error', on_error);
  pool.on('connect', (client) => {
    client.on('error', on_error);
  });
  return pool;
}

export interface PostgresClientOptions {
  readonly url: string;
  readonly schema: string;
  readonly onConnectionError?: ConnectionErrorListener;
}

/**
 * A dedicated connection of its own, with the schema set and an error listener attached: the
 * ledger writer holds its fencing advisory lock on such a connection.
 */
export async function connectPostgresClient(options: PostgresClientOptions): Promise<pg.Client> {
  const client = new pg.Client(connectionConfig(options.url, options.schema));
  client.on('error', options.onConnectionError ?? warnConnectionError);
  try {
    await client.connect();
    await ensureSchema(client, options.schema);
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
}
