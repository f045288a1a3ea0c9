import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { assert } from '../assert';

export type SqliteDatabase = BetterSqlite3.Database;

/** How long a writer waits for another process's lock before SQLITE_BUSY. */
export const sqlite_busy_timeout_ms = 5_000;

const in_memory = ':memory:';

/**
 * Opens (creating if needed, with its folder) a SQLite file set up for durable money data:
 * write-ahead logging, a full fsync on every commit, foreign keys enforced, and a busy
 * timeout so that a second process waits instead of failing at once.
 */
export function openSqlite(file_path: string): SqliteDatabase {
  if (file_path !== in_memory) mkdirSync(dirname(file_path), { recursive: true });
  const db = new BetterSqlite3(file_path);
  try {
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
