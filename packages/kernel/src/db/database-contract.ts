// One suite, run against every adapter of the Database port (see database.test.ts), so that
// SQL written once behaves the same embedded and in production.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { AssertionError } from '../assert';
import { UnsafeIntegerError, type Database, type ServiceDatabase } from './database';
import type { Migration } from './migrations';

export interface OpenedForContract {
  readonly database: ServiceDatabase;
  /** Removes what the suite created (a folder, a schema), after the database is closed. */
  readonly cleanup: () => Promise<void>;
}

const migrations: Migration[] = [
  {
    version: 1,
    name: 'items',
    sqlite: 'CREATE TABLE items (id TEXT PRIMARY KEY, amount BIGINT NOT NULL, note TEXT);',
    postgres: 'CREATE TABLE items (id TEXT PRIMARY KEY, amount BIGINT NOT NULL, note TEXT);',
  },
  {
    version: 2,
    name: 'counters',
    sqlite: "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL); INSERT INTO counters VALUES ('hits', 0);",
    postgres: "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL); INSERT INTO counters VALUES ('hits', 0);",
  },
];

interface Item {
  id: string;
  amount: number;
  note: string | null;
}

async function items(database: Database): Promise<Item[]> {
  return database.query<Item>('SELECT id, amount, note FROM items ORDER BY id');
}

export function describeDatabaseContract(dialect: 'sqlite' | 'postgres', open: () => Promise<OpenedForContract>): void {
  let opened: OpenedForContract;
  let database: ServiceDatabase;

  beforeEach(async () => {
    opened = await open();
    database = opened.database;
    expect(await database.migrate(migrations)).toEqual([1, 2]);
  });

  afterEach(async () => {
    await database.close();
    await opened.cleanup();
  });

  it('names its dialect and migrates once', async () => {
    expect(database.dialect).toBe(dialect);
    expect(database.location.dialect).toBe(dialect);
    expect(await database.migrate(migrations)).toEqual([]);
  });

  it('runs statements with ? placeholders', async () => {
    const inserted = await database.execute('INSERT INTO items (id, amount, note) VALUES (?, ?, ?), (?, ?, ?)', ['a', 100, 'why?', 'b', 250n, null]);
    expect(inserted).toEqual({ rowCount: 2 });
    expect(await items(database)).toEqual([
      { id: 'a', amount: 100, note: 'why?' },
      { id: 'b', amount: 250, note: null },
    ]);
    // A question mark inside a string literal is text, not a placeholder.
    expect(await database.query("SELECT id FROM items WHERE note = 'why?' AND amount = ?", [100])).toEqual([{ id: 'a' }]);
    const updated = await database.execute('UPDATE items SET amount = amount + ? WHERE amount > ?', [1, 0]);
    expect(updated.rowCount).toBe(2);
    expect(await database.execute('DELETE FROM items WHERE id = ?', ['nobody'])).toEqual({ rowCount: 0 });
  });

  it('reads integers and counts as numbers on both dialects', async () => {
    await database.execute('INSERT INTO items (id, amount) VALUES (?, ?)', ['max', Number.MAX_SAFE_INTEGER]);
    expect(await database.query('SELECT COUNT(*) AS count, MAX(amount) AS largest FROM items')).toEqual([{ count: 1, largest: Number.MAX_SAFE_INTEGER }]);
  });

  it('refuses to round an integer beyond the safe range', async () => {
    await database.execute('INSERT INTO items (id, amount) VALUES (?, ?)', ['big', 9007199254740993n]);
    await expect(database.query('SELECT amount FROM items')).rejects.toThrow(UnsafeIntegerError);
    // As text it reads back exactly.
    expect(await database.query('SELECT CAST(amount AS TEXT) AS amount FROM items')).toEqual([{ amount: '9007199254740993' }]);
  });

  it('returns rows from INSERT ... RETURNING, and none from a plain write', async () => {
    expect(await database.query('INSERT INTO items (id, amount) VALUES (?, ?) RETURNING id, amount', ['r', 7])).toEqual([{ id: 'r', amount: 7 }]);
    expect(await database.query('INSERT INTO items (id, amount) VALUES (?, ?)', ['s', 8])).toEqual([]);
    expect(await database.execute('SELECT id FROM items')).toEqual({ rowCount: 2 });
  });

  it('commits a transaction when its work resolves', async () => {
    const result = await database.transaction(async (tx) => {
      await tx.execute('INSERT INTO items (id, amount) VALUES (?, ?)', ['a', 1]);
      await tx.execute('INSERT INTO items (id, amount) VALUES (?, ?)', ['b', 2]);
      return (await tx.query<{ count: number }>('SELECT COUNT(*) AS count FROM items'))[0]?.count;
    });
    expect(result).toBe(2);
    expect(await items(database)).toHaveLength(2);
  });

  it('commits a deferred transaction like any other, with its durability waived (PostgreSQL: synchronous_commit off)', async () => {
    const setting = await database.transaction(
      async (tx) => {
        await tx.execute('INSERT INTO items (id, amount) VALUES (?, ?)', ['d', 4]);
        return tx.dialect === 'postgres' ? (await tx.query<{ synchronous_commit: string }>('SHOW synchronous_commit'))[0]?.synchronous_commit : 'off';
      },
      { durability: 'deferred' },
    );
    expect(setting).toBe('off');
    expect((await items(database)).map((item) => item.id)).toEqual(['d']);
    // Only that transaction: the next one is synchronous again.
    if (database.dialect === 'postgres') {
      expect(await database.transaction(async (tx) => (await tx.query<{ synchronous_commit: string }>('SHOW synchronous_commit'))[0]?.synchronous_commit)).toBe('on');
    }
  });

  it('rolls a transaction back when its work throws', async () => {
    await database.execute('INSERT INTO items (id, amount) VALUES (?, ?)', ['kept', 1]);
    await expect(
      database.transaction(async (tx) => {
        await tx.execute('INSERT INTO items (id, amount) VALUES (?, ?)', ['lost', 2]);
        throw new Error('refused by a business rule');
      }),
    ).rejects.toThrow('refused by a business rule');
    // A failing statement rolls back the whole transaction too.
    await expect(
      database.transaction(async (tx) => {
        await tx.execute('INSERT INTO items (id, amount) VALUES (?, ?)', ['lost', 2]);
        await tx.execute('INSERT INTO items (id, amount) VALUES (?, ?)', ['kept', 3]);
      }),
    ).rejects.toThrow();
    expect(await items(database)).toEqual([{ id: 'kept', amount: 1, note: null }]);
  });

  it('nests transactions with savepoints', async () => {
    await database.transaction(async (tx) => {
      await tx.execute('INSERT INTO items (id, amount) VALUES (?, ?)', ['outer', 1]);
      await expect(
        tx.transaction(async (inner) => {
          await inner.execute('INSERT INTO items (id, amount) VALUES (?, ?)', ['inner-lost', 2]);
          throw new Error('inner failure');
        }),
      ).rejects.toThrow('inner failure');
      await tx.transaction(async (inner) => {
        await inner.execute('INSERT INTO items (id, amount) VALUES (?, ?)', ['inner-kept', 3]);
      });
    });
    expect((await items(database)).map((item) => item.id)).toEqual(['inner-kept', 'outer']);
  });

  it('keeps concurrent transactions apart', async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_, index) =>
        database.transaction(async (tx) => {
          await tx.execute('INSERT INTO items (id, amount) VALUES (?, ?)', [`item-${index}`, index]);
          await tx.execute("UPDATE counters SET value = value + 1 WHERE name = 'hits'");
          if (index % 3 === 0) throw new Error(`transaction ${index} refused`);
        }),
      ),
    );
    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toHaveLength(4);
    expect(await items(database)).toHaveLength(6);
    expect(await database.query("SELECT value FROM counters WHERE name = 'hits'")).toEqual([{ value: 6 }]);
  });

  it('asserts that a transaction handle is not used after its transaction', async () => {
    let leaked: Database | undefined;
    await database.transaction((tx) => {
      leaked = tx;
      return Promise.resolve();
    });
    await expect(leaked?.query('SELECT 1')).rejects.toThrow(AssertionError);
  });
}
