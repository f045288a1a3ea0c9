import { statSync } from 'node:fs';
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

async function eventually(condition: () => boolean, timeout_ms: number): Promise<boolean> {
  const deadline = Date.now() + timeout_ms;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((done) => setTimeout(done, 20));
  }
  return condition();
}

describe('background checkpoints of SQLite files', () => {
  it('copies committed pages into the database file from another thread, long before the connection would', async () => {
    const file = join(directory.path, 'checkpointed.sqlite');
    const handle = openSqlite(file);
    const database = createSqliteDatabase(handle, { dialect: 'sqlite', file });
    try {
      // The connection itself checkpoints only past megabytes of log.
      expect(Number(handle.pragma('wal_autocheckpoint', { simple: true }))).toBeGreaterThan(1_000);
      await database.execute('CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)');
      const size_before = statSync(file).size;
      const row_bytes = 4_096;
      const rows = 200;
      for (let index = 0; index < rows; index += 1) await database.execute('INSERT INTO blobs (data) VALUES (?)', [Buffer.alloc(row_bytes, index % 256)]);
      // Only a checkpoint writes the database file: until then the rows are in the log alone.
      expect(await eventually(() => statSync(file).size >= size_before + rows * row_bytes, 5_000)).toBe(true);
      const [count] = await database.query<{ rows: number }>('SELECT count(*) AS rows FROM blobs');
      expect(count?.rows).toBe(rows);
    } finally {
      await database.close();
    }
  });

  it('lets a process close and reopen the same file while other files stay watched', async () => {
    const first_file = join(directory.path, 'first.sqlite');
    const second_file = join(directory.path, 'second.sqlite');
    const first = createSqliteDatabase(openSqlite(first_file), { dialect: 'sqlite', file: first_file });
    const second = createSqliteDatabase(openSqlite(second_file), { dialect: 'sqlite', file: second_file });
    await first.execute('CREATE TABLE t (x INTEGER)');
    await second.execute('CREATE TABLE t (x INTEGER)');
    await first.close();
    const reopened = createSqliteDatabase(openSqlite(first_file), { dialect: 'sqlite', file: first_file });
    await reopened.execute('INSERT INTO t (x) VALUES (1)');
    await second.execute('INSERT INTO t (x) VALUES (2)');
    expect(await reopened.query('SELECT x FROM t')).toEqual([{ x: 1 }]);
    await Promise.all([reopened.close(), second.close()]);
  });
});
