import type pg from 'pg';
import { assertMigrationsOrdered, checkAppliedMigrations, migrationChecksum, type AppliedMigration, type Migration } from './migrations';

/**
 * The first key of the two-key advisory lock that serializes migration runners on one schema
 * ("PGMG" in ASCII); the second key is a hash of the schema name. The ledger's writer fence
 * uses a class of its own.
 */
export const migration_lock_class = 0x50474d47;

const lock_sql = "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))";

const create_table_sql = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  checksum TEXT NOT NULL,
  applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`;

async function inLockedTransaction<T>(client: pg.ClientBase, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    await client.query(lock_sql, [migration_lock_class]);
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

async function selectApplied(client: pg.ClientBase): Promise<AppliedMigration[]> {
  const result = await client.query<AppliedMigration>('SELECT version, checksum FROM schema_migrations ORDER BY version');
  return result.rows;
}

async function migrateOnClient(client: pg.ClientBase, migrations: readonly Migration[]): Promise<number[]> {
  // Each transaction takes the advisory lock first, so concurrent starts apply every migration
  // exactly once: the loser waits, then sees the winner's rows.
  const applied_at_start = await inLockedTransaction(client, async () => {
    await client.query(create_table_sql);
    const applied = await selectApplied(client);
    checkAppliedMigrations(migrations, applied, 'postgres');
    return new Set(applied.map((row) => row.version));
  });
  const versions_applied: number[] = [];
  for (const migration of migrations) {
    if (applied_at_start.has(migration.version)) continue;
    const applied_now = await inLockedTransaction(client, async () => {
      const applied = await selectApplied(client);
      checkAppliedMigrations(migrations, applied, 'postgres');
      if (applied.some((row) => row.version === migration.version)) return false;
      // Without parameters, pg uses the simple query protocol, which runs several statements.
      await client.query(migration.postgres);
      await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        migration.version,
        migration.name,
        migrationChecksum(migration, 'postgres'),
      ]);
      return true;
    });
    if (applied_now) versions_applied.push(migration.version);
  }
  return versions_applied;
}

/**
 * A pool runs each query on whichever connection is free, which would split a transaction, so
 * pools are told apart from clients. `instanceof` would fail for a pool made by another copy
 * of pg, so this looks for what only a pool has.
 */
function isPool(database: pg.Pool | pg.ClientBase): database is pg.Pool {
  return typeof (database as Partial<pg.Pool>).idleCount === 'number';
}

/**
 * Applies pending migrations in the connection's current schema, each in its own transaction
 * under an advisory lock, and returns the versions applied.
 */
export async function migratePostgres(database: pg.Pool | pg.ClientBase, migrations: readonly Migration[]): Promise<number[]> {
  assertMigrationsOrdered(migrations);
  if (!isPool(database)) return migrateOnClient(database, migrations);
  const client = await database.connect();
  try {
    return await migrateOnClient(client, migrations);
  } finally {
    client.release();
  }
}
