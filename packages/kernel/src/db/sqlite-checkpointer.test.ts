import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { temporaryDirectory, type TemporaryDirectory } from '../testing';
import { openSqlite } from './sqlite';
import { createSqliteDatabase } from './sqlite-database';

let directory: TemporaryDirectory;

beforeEach(async () => {
  directory = await temporaryDirectory();
});

afterEach(async () => {
  await directory.remove();
});

/**
 * The write-ahead log's checkpoint sequence number (bytes 12-15 of its header): a writer raises it
 * each time it starts the log over, which it may do only after a checkpoint copied all of it.
 */
function walCheckpointSequence(file: string): number {
  return readFileSync(`${file}-wal`).readUInt32BE(12);
}

async function waitFor(condition: () => boolean, timeout_ms: number): Promise<boolean> {
  const deadline = Date.now() + timeout_ms;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return condition();
}

describe('SQLite checkpoints on their own thread', () => {
  it('takes checkpoints out of commits, checkpoints the file on the thread, and leaves no log after close', async () => {
    const file = join(directory.path, 'service.sqlite');
    const database = createSqliteDatabase(openSqlite(file), { dialect: 'sqlite', file });
    try {
      await database.execute('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
      // Far fewer pages than SQLite's own checkpoint interval (1,000 pages): left to itself,
      // SQLite would not checkpoint this file yet, so a restarted log is the thread's doing.
      for (let index = 0; index < 20; index += 1) {
        await database.transaction((tx) => tx.execute('INSERT INTO notes (body) VALUES (?)', ['x'.repeat(4_000)]));
      }
      const before = walCheckpointSequence(file);
      const restarted = await waitFor(() => {
        // The log starts over at the first write after a complete checkpoint.
        void database.execute('INSERT INTO notes (body) VALUES (?)', ['after']);
        return walCheckpointSequence(file) > before;
      }, 5_000);
      expect(restarted).toBe(true);
      // Commits no longer checkpoint by themselves.
      const commit_checkpoint = await database.query<{ wal_autocheckpoint: number }>('PRAGMA wal_autocheckpoint');
      expect(commit_checkpoint[0]?.wal_autocheckpoint).toBe(0);
    } finally {
      await database.close();
    }
    // The thread let go of the file first, so this connection was the last: SQLite checkpointed
    // the log into the file and removed it, and every row is there.
    expect(existsSync(`${file}-wal`)).toBe(false);
    const reopened = openSqlite(file);
    expect((reopened.prepare('SELECT count(*) AS rows FROM notes').get() as { rows: number }).rows).toBeGreaterThanOrEqual(21);
    reopened.close();
  });

  it('serves several files and keeps serving one another adapter still has open', async () => {
    const first = join(directory.path, 'first.sqlite');
    const second = join(directory.path, 'second.sqlite');
    const a = createSqliteDatabase(openSqlite(first), { dialect: 'sqlite', file: first });
    const b = createSqliteDatabase(openSqlite(second), { dialect: 'sqlite', file: second });
    const c = createSqliteDatabase(openSqlite(second), { dialect: 'sqlite', file: second });
    try {
      await a.execute('CREATE TABLE t (x TEXT)');
      await b.execute('CREATE TABLE t (x TEXT)');
      await a.close();
      await c.close();
      for (let index = 0; index < 10; index += 1) await b.execute('INSERT INTO t (x) VALUES (?)', ['y'.repeat(4_000)]);
      const before = walCheckpointSequence(second);
      const restarted = await waitFor(() => {
        void b.execute('INSERT INTO t (x) VALUES (?)', ['after']);
        return walCheckpointSequence(second) > before;
      }, 5_000);
      expect(restarted).toBe(true);
    } finally {
      await b.close();
    }
  });
});
