import type { SqliteDatabase } from './sqlite';
import { assertMigrationsOrdered, checkAppliedMigrations, migrationChecksum, type AppliedMigration, type Migration } from './migrations';

const create_table_sql = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  checksum TEXT NOT NULL,
  applied_at TEXT NOT NULL
)`;

/**
 * Applies the pending migrations, each in its own `BEGIN IMMEDIATE` transaction, and returns
 * the versions applied. The applied list is read again inside each transaction, so two
 * processes starting on one file do not apply a migration twice.
 */
export function migrateSqlite(db: SqliteDatabase, migrations: readonly Migration[]): number[] {
  assertMigrationsOrdered(migrations);
  db.exec(create_table_sql);
  const select_applied = db.prepare<[], AppliedMigration>('SELECT version, checksum FROM schema_migrations ORDER BY version');
  const insert_applied = db.prepare<[number, string, string]>(
    `INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`,
  );
  const applied = select_applied.all();
  checkAppliedMigrations(migrations, applied, 'sqlite');
  const applied_at_start = new Set(applied.map((row) => row.version));

  const versions_applied: number[] = [];
  for (const migration of migrations) {
    if (applied_at_start.has(migration.version)) continue;
    const apply = db.transaction(() => {
      // Another process may have applied it since the first read.
      const applied_now = select_applied.all();
      checkAppliedMigrations(migrations, applied_now, 'sqlite');
      if (applied_now.some((row) => row.version === migration.version)) return false;
      db.exec(migration.sqlite);
      insert_applied.run(migration.version, migration.name, migrationChecksum(migration, 'sqlite'));
      return true;
    });
    if (apply.immediate()) versions_applied.push(migration.version);
  }
  return versions_applied;
}
