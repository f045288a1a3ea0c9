// Small pieces of SQL that differ between the two dialects, written once.
import { assert } from '../assert';
import type { Database } from './database';

const table_name_pattern = /^[a-z][a-z0-9_]{0,62}$/;

/**
 * ` FOR UPDATE` on PostgreSQL, where concurrent transactions must lock the rows they are about to
 * change; nothing on SQLite, whose adapter already runs one transaction at a time.
 */
export function rowLockClause(database: Pick<Database, 'dialect'>): string {
  return database.dialect === 'postgres' ? ' FOR UPDATE' : '';
}

/**
 * Triggers that make a table append-only: updates and deletes (and, on PostgreSQL, TRUNCATE) are
 * refused by the database itself, so that no code path, however wrong, can rewrite history.
 */
export function appendOnlyTriggers(table: string): { readonly sqlite: string; readonly postgres: string } {
  assert(table_name_pattern.test(table), 'appendOnlyTriggers takes a plain table name');
  return {
    sqlite: `
CREATE TRIGGER ${table}_no_update BEFORE UPDATE ON ${table}
BEGIN
  SELECT RAISE(ABORT, '${table} is append-only: rows cannot be updated');
END;
CREATE TRIGGER ${table}_no_delete BEFORE DELETE ON ${table}
BEGIN
  SELECT RAISE(ABORT, '${table} is append-only: rows cannot be deleted');
END;
`,
    postgres: `
CREATE FUNCTION ${table}_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '${table} is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER ${table}_no_change BEFORE UPDATE OR DELETE ON ${table}
  FOR EACH ROW EXECUTE FUNCTION ${table}_refuse_change();
CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table}
  FOR EACH STATEMENT EXECUTE FUNCTION ${table}_refuse_change();
`,
  };
}

/**
 * The sizes a multi-row statement is cut into. A statement's text depends on its row count, and
 * both adapters cache prepared statements by text (SQLite keeps 256 per connection and drops them
 * all when full), so batches of any size would prepare a new statement almost every time and push
 * the common ones out. With these sizes each statement has at most four shapes, and a batch of n
 * rows takes at most n / 64 + 9 statements.
 */
export const row_chunk_sizes = [64, 16, 4, 1] as const;

/** Cuts `rows` into chunks of the sizes in row_chunk_sizes, largest first, in order. */
export function rowChunks<T>(rows: readonly T[]): T[][] {
  const chunks: T[][] = [];
  let at = 0;
  for (const size of row_chunk_sizes) {
    while (rows.length - at >= size) {
      chunks.push(rows.slice(at, at + size));
      at += size;
    }
  }
  assert(at === rows.length, 'rowChunks takes every row');
  return chunks;
}

/** `(?, ?, …), (?, ?, …)…`: the VALUES of `rows` rows of `columns` parameters each. */
export function valuesPlaceholders(rows: number, columns: number): string {
  const row = `(${Array.from({ length: columns }, () => '?').join(', ')})`;
  return Array.from({ length: rows }, () => row).join(', ');
}
