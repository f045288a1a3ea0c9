import { chmodSync, closeSync, fchmodSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { assert } from '../assert';

export type SqliteDatabase = BetterSqlite3.Database;

/** How long a writer waits for another process's lock before SQLITE_BUSY. */
export const sqlite_busy_timeout_ms = 5_000;

const in_memory = ':memory:';

/** Data at rest is the owner's alone: folders Paygrid creates are 0700, its files 0600, whatever the umask. */
export const private_directory_mode = 0o700;
export const private_file_mode = 0o600;
/** The files SQLite keeps beside a database file; each holds pages of the database. */
const sqlite_companion_suffixes = ['-wal', '-shm', '-journal'] as const;

/**
 * Creates a folder (and any missing parents) 0700. A mode given to mkdir is narrowed by the
 * umask, never widened, so under any umask the folders made here are at most 0700. A folder that
 * already exists keeps its mode: it is the operator's.
 */
export function makePrivateDirectory(path: string): void {
  mkdirSync(path, { recursive: true, mode: private_directory_mode });
}

/**
 * A warning when a folder that exists lets users other than its owner in (any of 0o077), or
 * undefined. Paygrid leaves an existing folder's mode alone (it is the operator's), but the files
 * it keeps there (keys, the operator key, every database) are only as private as the folder.
 */
export function folderOpenToOthersWarning(path: string, name: string): string | undefined {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return undefined;
    throw error;
  }
  if ((mode & 0o077) === 0) return undefined;
  return `${name} ${path} is mode ${mode.toString(8).padStart(4, '0')}: users other than its owner can reach it; make it 0700 (chmod 700 ${path})`;
}

/**
 * Creates the file if it is missing and sets it 0600, exactly (chmod is not narrowed by the
 * umask). SQLite creates a database's WAL, shared-memory and journal files with the database
 * file's own mode, so a database file made private here keeps its companions private too.
 */
export function makePrivateFile(path: string): void {
  const descriptor = openSync(path, 'a', private_file_mode);
  try {
    fchmodSync(descriptor, private_file_mode);
  } finally {
    closeSync(descriptor);
  }
}

/** Sets a SQLite file's companions that exist 0600 (ones left by a build that made them wider). */
export function makeSqliteCompanionsPrivate(file_path: string): void {
  for (const suffix of sqlite_companion_suffixes) {
    try {
      chmodSync(`${file_path}${suffix}`, private_file_mode);
    } catch (error) {
      if (!(error instanceof Error && 'code' in error && error.code === 'ENOENT')) throw error;
    }
  }
}

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
  if (file_path !== in_memory) {
    makePrivateDirectory(dirname(file_path));
    makePrivateFile(file_path);
  }
  const db = new BetterSqlite3(file_path);
  try {
    // Takes effect only on a new, empty file: switching to WAL below writes the first page.
    if (options.page_size_bytes !== undefined) db.pragma(`page_size = ${options.page_size_bytes}`);
    const journal_mode: unknown = db.pragma('journal_mode = WAL', { simple: true });
    assert(journal_mode === 'wal' || file_path === in_memory, `SQLite refused WAL mode (journal_mode is ${String(journal_mode)})`);
    db.pragma('synchronous = FULL');
    db.pragma(`busy_timeout = ${sqlite_busy_timeout_ms}`);
    db.pragma('foreign_keys = ON');
    if (file_path !== in_memory) makeSqliteCompanionsPrivate(file_path);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}
