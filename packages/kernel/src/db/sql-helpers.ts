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
