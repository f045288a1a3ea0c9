import { describe, expect, it } from 'vitest';
import { describeWithPostgres, temporaryDirectory, withTemporarySchema } from '../testing';
import type { Database, ServiceDatabase } from './database';
import { GroupCommitter } from './group-commit';
import { openDatabase } from './open-database';
import { createPostgresPool } from './postgres';
import { createPostgresDatabase } from './postgres-database';

/** Counts the transactions a database is asked for, to see that units share commits. */
function countingTransactions(database: Database): { database: Database; commits: () => number } {
  let commits = 0;
  const counting: Database = {
    dialect: database.dialect,
    query: (sql, params) => database.query(sql, params),
    execute: (sql, params) => database.execute(sql, params),
    transaction: (work) => {
      commits += 1;
      return database.transaction(work);
    },
    close: () => database.close(),
  };
  return { database: counting, commits: () => commits };
}

function describeGroupCommit(open: () => Promise<{ database: ServiceDatabase; cleanup: () => Promise<void> }>): void {
  it('commits many units in few transactions, each answered with its own result', async () => {
    const { database, cleanup } = await open();
    try {
      await database.execute('CREATE TABLE items (id INTEGER PRIMARY KEY, note TEXT NOT NULL)');
      const counted = countingTransactions(database);
      const committer = new GroupCommitter(counted.database);
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, index) =>
          committer.run(async (tx) => {
            await tx.execute('INSERT INTO items (id, note) VALUES (?, ?)', [index, `item ${index}`]);
            return index * 2;
          }),
        ),
      );
      expect(results).toEqual(Array.from({ length: 200 }, (_, index) => index * 2));
      expect(await database.query('SELECT COUNT(*) AS count FROM items')).toEqual([{ count: 200 }]);
      expect(counted.commits()).toBeLessThan(20);
    } finally {
      await database.close();
      await cleanup();
    }
  });

  it('rolls back only the unit that throws, and rejects only its caller', async () => {
    const { database, cleanup } = await open();
    try {
      await database.execute('CREATE TABLE items (id INTEGER PRIMARY KEY, note TEXT NOT NULL)');
      const committer = new GroupCommitter(database);
      const outcomes = await Promise.allSettled(
        Array.from({ length: 30 }, (_, index) =>
          committer.run(async (tx) => {
            await tx.execute('INSERT INTO items (id, note) VALUES (?, ?)', [index, 'written']);
            if (index % 3 === 0) throw new Error(`unit ${index} refuses`);
            return index;
          }),
        ),
      );
      const rejected = outcomes.flatMap((outcome, index) => (outcome.status === 'rejected' ? [index] : []));
      expect(rejected).toEqual(Array.from({ length: 10 }, (_, index) => index * 3));
      const rows = await database.query<{ id: number }>('SELECT id FROM items ORDER BY id');
      expect(rows.map((row) => row.id)).toEqual(Array.from({ length: 30 }, (_, index) => index).filter((index) => index % 3 !== 0));
    } finally {
      await database.close();
      await cleanup();
    }
  });

  it('runs units one after another, so a read-modify-write never loses an update', async () => {
    const { database, cleanup } = await open();
    try {
      await database.execute('CREATE TABLE counter (value INTEGER NOT NULL)');
      await database.execute('INSERT INTO counter VALUES (0)');
      const committer = new GroupCommitter(database, { units_max: 7 });
      await Promise.all(
        Array.from({ length: 50 }, () =>
          committer.run(async (tx) => {
            const [row] = await tx.query<{ value: number }>('SELECT value FROM counter');
            await tx.execute('UPDATE counter SET value = ?', [(row?.value ?? 0) + 1]);
          }),
        ),
      );
      expect(await database.query('SELECT value FROM counter')).toEqual([{ value: 50 }]);
    } finally {
      await database.close();
      await cleanup();
    }
  });
}

describe('GroupCommitter on SQLite', () => {
  describeGroupCommit(async () => {
    const directory = await temporaryDirectory();
    const database = await openDatabase({ config: { DATA_DIR: directory.path, DATABASE_URL: undefined }, service: 'group' });
    return { database, cleanup: () => directory.remove() };
  });
});

describeWithPostgres('GroupCommitter on PostgreSQL', (url) => {
  describeGroupCommit(async () => {
    const temporary = await withTemporarySchema(url);
    const pool = createPostgresPool({ url, schema: temporary.schema, max: 4 });
    const database = createPostgresDatabase(pool, { dialect: 'postgres', url, schema: temporary.schema });
    return { database, cleanup: () => temporary.drop() };
  });
});
