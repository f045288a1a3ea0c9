import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { temporaryDirectory, type TemporaryDirectory } from '../testing';
import type { ServiceDatabase } from './database';
import { openSqlite } from './sqlite';
import { createSqliteDatabase } from './sqlite-database';
import { WalDurabilityError, type SyncFile } from './wal-sync';

/** A sync that finishes only when the test says so, and counts how often it was started. */
class HeldSync {
  started = 0;
  readonly #waiting: { done: () => void; fail: (error: Error) => void }[] = [];
  readonly sync: SyncFile = () => {
    this.started += 1;
    return new Promise<void>((done, fail) => this.#waiting.push({ done, fail }));
  };

  get held(): number {
    return this.#waiting.length;
  }

  finishAll(): void {
    for (const waiting of this.#waiting.splice(0)) waiting.done();
  }

  failAll(error: Error): void {
    for (const waiting of this.#waiting.splice(0)) waiting.fail(error);
  }
}

/** Lets every ready callback and timer of this turn run, so that a promise that could settle has. */
const settle = () => new Promise((done) => setTimeout(done, 5));

/** Resolves to whether `promise` has settled by now, without waiting for it. */
async function hasSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await settle();
  return settled;
}

let directory: TemporaryDirectory;
let database: ServiceDatabase;
let held: HeldSync;

beforeEach(async () => {
  directory = await temporaryDirectory();
  held = new HeldSync();
  const file = join(directory.path, 'durable.sqlite');
  database = createSqliteDatabase(openSqlite(file), { dialect: 'sqlite', file }, { sync_file: held.sync });
  await whileHeld(database.execute('CREATE TABLE entries (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)'));
}, 5_000);

afterEach(async () => {
  held.finishAll();
  await database.close().catch(() => undefined);
  await directory.remove();
});

/** Waits for `promise` while releasing the syncs it holds. */
async function whileHeld<T>(promise: Promise<T>): Promise<T> {
  await settle();
  held.finishAll();
  return promise;
}

describe('SQLite commits made durable off the main thread', { timeout: 5_000 }, () => {
  it('answers a transaction only after the log holding its commit is synced', async () => {
    const committed = database.transaction(async (tx) => tx.execute('INSERT INTO entries (amount) VALUES (?)', [5]));
    expect(await hasSettled(committed)).toBe(false);
    expect(held.held).toBe(1);
    held.finishAll();
    await committed;
  });

  it('lets the next transaction run while the sync of the last one is on the disk, and covers both with one more sync', async () => {
    const started_before = held.started;
    const first = database.execute('INSERT INTO entries (amount) VALUES (1)');
    await settle();
    expect(held.started - started_before).toBe(1);
    // Written while the first sync is held: not covered by it, so it waits for a second one.
    const second = database.execute('INSERT INTO entries (amount) VALUES (2)');
    const third = database.execute('INSERT INTO entries (amount) VALUES (3)');
    await settle();
    held.finishAll();
    await first;
    expect(await hasSettled(second)).toBe(false);
    expect(held.started - started_before).toBe(2);
    held.finishAll();
    await Promise.all([second, third]);
    expect(held.started - started_before).toBe(2);
  });

  it('answers a deferred transaction once committed, and syncs it with the next call that waits', async () => {
    const started_before = held.started;
    await database.transaction(async (tx) => tx.execute('INSERT INTO entries (amount) VALUES (?)', [11]), { durability: 'deferred' });
    // Answered with no sync started, let alone finished.
    expect(held.started - started_before).toBe(0);
    // A read that could see it waits for the sync that puts it on disk.
    const read = database.query<{ amount: number }>('SELECT amount FROM entries');
    expect(await hasSettled(read)).toBe(false);
    expect(held.started - started_before).toBe(1);
    held.finishAll();
    expect(await read).toEqual([{ amount: 11 }]);
  });

  it('holds back a read that could see a commit not yet on disk, and lets reads through when nothing is pending', async () => {
    const written = database.execute('INSERT INTO entries (amount) VALUES (7)');
    const read = database.query<{ amount: number }>('SELECT amount FROM entries');
    expect(await hasSettled(read)).toBe(false);
    held.finishAll();
    await written;
    expect(await read).toEqual([{ amount: 7 }]);
    const started = held.started;
    expect(await database.query('SELECT amount FROM entries')).toHaveLength(1);
    expect(held.started).toBe(started);
  });

  it('counts INSERT … RETURNING, which returns rows, as a write', async () => {
    const inserted = database.query('INSERT INTO entries (amount) VALUES (9) RETURNING id');
    expect(await hasSettled(inserted)).toBe(false);
    held.finishAll();
    expect(await inserted).toHaveLength(1);
  });

  it('fails every waiting caller when the sync fails, and takes no more work after', async () => {
    const committed = database.transaction(async (tx) => tx.execute('INSERT INTO entries (amount) VALUES (1)'));
    await settle();
    held.failAll(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    await expect(committed).rejects.toBeInstanceOf(WalDurabilityError);
    await expect(database.query('SELECT 1')).rejects.toBeInstanceOf(WalDurabilityError);
  });

  it('keeps a refused transaction waiting too, since its refusal may rest on a commit not yet on disk', async () => {
    const written = database.execute('INSERT INTO entries (amount) VALUES (1)');
    const refused = database.transaction(async (tx) => {
      await tx.query('SELECT amount FROM entries');
      throw new Error('insufficient funds');
    });
    expect(await hasSettled(refused)).toBe(false);
    held.finishAll();
    await written;
    await expect(refused).rejects.toThrow('insufficient funds');
  });
});

describe('SQLite durability with the real fdatasync', () => {
  it('switches the connection to synchronous NORMAL and keeps what was committed across a reopen', async () => {
    const file = join(directory.path, 'real.sqlite');
    const handle = openSqlite(file);
    const real = createSqliteDatabase(handle, { dialect: 'sqlite', file });
    // 1 is NORMAL: the commit's fsync is the syncer's, not SQLite's.
    expect(handle.pragma('synchronous', { simple: true })).toBe(1);
    await real.execute('CREATE TABLE entries (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)');
    await Promise.all([1, 2, 3].map((amount) => real.transaction(async (tx) => tx.execute('INSERT INTO entries (amount) VALUES (?)', [amount]))));
    await real.close();
    const reopened = createSqliteDatabase(openSqlite(file), { dialect: 'sqlite', file });
    expect(await reopened.query('SELECT amount FROM entries ORDER BY id')).toEqual([{ amount: 1 }, { amount: 2 }, { amount: 3 }]);
    await reopened.close();
  });

  it('leaves an in-memory database as it is', async () => {
    const handle = openSqlite(':memory:');
    const memory = createSqliteDatabase(handle, { dialect: 'sqlite', file: ':memory:' });
    await memory.execute('CREATE TABLE t (x INTEGER)');
    await memory.execute('INSERT INTO t (x) VALUES (1)');
    expect(await memory.query('SELECT x FROM t')).toEqual([{ x: 1 }]);
    await memory.close();
  });
});
