import { createHash } from 'node:crypto';
import { assert } from '../assert';

/**
 * One versioned schema change, written for both dialects. Versions are positive integers in
 * strictly increasing order; an applied migration is never edited (its checksum is checked).
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sqlite: string;
  readonly postgres: string;
}

export type Dialect = 'sqlite' | 'postgres';

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

export interface AppliedMigration {
  readonly version: number;
  readonly checksum: string;
}

/** SHA-256 of the SQL a dialect runs: editing an applied migration is caught at the next start. */
export function migrationChecksum(migration: Migration, dialect: Dialect): string {
  return createHash('sha256').update(migration[dialect]).digest('hex');
}

/** The list of migrations is code: a malformed one is a programmer error. */
export function assertMigrationsOrdered(migrations: readonly Migration[]): void {
  let previous = 0;
  for (const migration of migrations) {
    assert(Number.isSafeInteger(migration.version), `migration version must be an integer (got ${migration.version})`);
    assert(migration.version > previous, `migration versions must be positive and strictly increasing (${migration.version} after ${previous})`);
    assert(migration.name.trim() !== '', `migration ${migration.version} must have a name`);
    previous = migration.version;
  }
}

/**
 * Checks what the database has applied against what the code knows. A changed checksum means
 * someone edited an applied migration; an unknown version means the database was migrated by
 * newer code. Either way, carrying on could corrupt data.
 */
export function checkAppliedMigrations(migrations: readonly Migration[], applied: readonly AppliedMigration[], dialect: Dialect): void {
  const known = new Map(migrations.map((migration) => [migration.version, migration]));
  for (const row of applied) {
    const migration = known.get(row.version);
    if (migration === undefined) {
      throw new MigrationError(`The database has migration ${row.version}, which this code does not know: it was migrated by a newer version of Paygrid`);
    }
    const checksum = migrationChecksum(migration, dialect);
    if (checksum !== row.checksum) {
      throw new MigrationError(
        `Migration ${row.version} (${migration.name}) has changed since it was applied: checksum ${checksum} differs from the applied ${row.checksum}. Add a new migration instead of editing an applied one.`,
      );
    }
  }
}
