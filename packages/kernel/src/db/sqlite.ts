import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { assert } from '../assert';

export type SqliteDatabase = BetterSqlite3.Database;

/** How long a writer waits for another process's lock before SQLITE_BUSY. */
export const sqlite_busy_timeout_ms = 5_000;

const in_memory = ':memory:';

export interface SqliteOpenOptions {
  /** The page size of a file created now (a power of two, 512 to 65,536); existing files keep theirs. */
  readonly page_size_bytes?: number;
}

/**
 * Opens (creating if needed, with its folder) a SQLite file set up for durable money data:
 * write-ahead logging, a full fsync on every commit, foreign keys enforced, and a busy
 * timeout so that a second process waits instead of failing at once.
 */
export function openSqlite(file_path: string, options: SqliteOpenOptions = {}): SqliteDatabase {
  if (file_path !== in_memory) mkdirSync(dirname(file_path), { recursive: true });
  const db = new BetterSqlite3(file_path);
  try {
    // Takes effect only on a new, empty file: switching to WAL below writes the first page.
    if (options.page_size_bytes !== undefined) db.pragma(`page_size = ${options.page_size_bytes}`);
    const journal_mode: unknown = db.pragma('journal_mode = WAL', { simple: true });
    assert(journal_mode === 'wal' || file_path === in_memory, `SQLite refused WAL mode (journal_mode is ${String(journal_mode)})`);
    db.pragma('synchronous = FULL');
    db.pragma(`busy_timeout = ${sqlite_busy_timeout_ms}`);
    db.pragma('foreign_keys = ON');
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}
