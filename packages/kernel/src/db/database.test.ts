import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../assert';
import { describeWithPostgres, temporaryDirectory, withTemporarySchema } from '../testing';
import { describeDatabaseContract } from './database-contract';
import { describeDatabaseLocation, openDatabase, resolveDatabaseLocation } from './open-database';
import { createPostgresPool } from './postgres';
import { createPostgresDatabase } from './postgres-database';

describe('Database port on SQLite', () => {
  describeDatabaseContract('sqlite', async () => {
    const directory = await temporaryDirectory();
    const database = await openDatabase({ config: { DATA_DIR: directory.path, DATABASE_URL: undefined }, service: 'contract' });
    expect(database.location).toEqual({ dialect: 'sqlite', file: join(directory.path, 'contract.sqlite') });
    return { database, cleanup: () => directory.remove() };
  });
});

describeWithPostgres('Database port on PostgreSQL', (url) => {
  describeDatabaseContract('postgres', async () => {
    const temporary = await withTemporarySchema(url);
    const pool = createPostgresPool({ url, schema: temporary.schema, max: 4 });
    const database = createPostgresDatabase(pool, { dialect: 'postgres', url, schema: temporary.schema });
    return { database, cleanup: () => temporary.drop() };
  });

  it('opens a service schema from the platform config', async () => {
    const service = `k${Date.now().toString(36)}`;
    const database = await openDatabase({ config: { DATA_DIR: '/unused', DATABASE_URL: url }, service });
    try {
      expect(database.location).toEqual({ dialect: 'postgres', url, schema: `paygrid_${service}` });
      expect(await database.query('SELECT current_schema() AS schema')).toEqual([{ schema: `paygrid_${service}` }]);
    } finally {
      await database.execute(`DROP SCHEMA paygrid_${service} CASCADE`);
      await database.close();
    }
  });
});

describe('SQLite transactions', () => {
  it('serialize callers on the one connection, so read-modify-write never loses an update', async () => {
    const directory = await temporaryDirectory();
    const database = await openDatabase({ config: { DATA_DIR: directory.path, DATABASE_URL: undefined }, service: 'serial' });
    try {
      await database.execute('CREATE TABLE counter (value INTEGER NOT NULL)');
      await database.execute('INSERT INTO counter VALUES (0)');
      await Promise.all(
        Array.from({ length: 20 }, () =>
          database.transaction(async (tx) => {
            const [row] = await tx.query<{ value: number }>('SELECT value FROM counter');
            await new Promise((resolve) => setTimeout(resolve, 1));
            await tx.execute('UPDATE counter SET value = ?', [(row?.value ?? 0) + 1]);
          }),
        ),
      );
      expect(await database.query('SELECT value FROM counter')).toEqual([{ value: 20 }]);
    } finally {
      await database.close();
      await directory.remove();
    }
  });

  it('assert instead of deadlocking when the root handle is used inside its own transaction', async () => {
    const directory = await temporaryDirectory();
    const database = await openDatabase({ config: { DATA_DIR: directory.path, DATABASE_URL: undefined }, service: 'deadlock' });
    try {
      await expect(database.transaction(() => database.query('SELECT 1'))).rejects.toThrow(AssertionError);
      // The transaction was rolled back and the queue moves on.
      expect(await database.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await database.close();
      await directory.remove();
    }
  });
});

describe('resolveDatabaseLocation', () => {
  it('puts an embedded service in DATA_DIR and a production one in its own schema', () => {
    expect(resolveDatabaseLocation({ config: { DATA_DIR: '/data', DATABASE_URL: undefined }, service: 'payments' })).toEqual({
      dialect: 'sqlite',
      file: '/data/payments.sqlite',
    });
    const location = resolveDatabaseLocation({ config: { DATA_DIR: '/data', DATABASE_URL: 'postgres://paygrid:hunter2@db/paygrid' }, service: 'payments' });
    expect(location).toEqual({ dialect: 'postgres', url: 'postgres://paygrid:hunter2@db/paygrid', schema: 'paygrid_payments' });
    expect(describeDatabaseLocation(location)).toBe('PostgreSQL postgres://paygrid:***@db/paygrid schema paygrid_payments');
    expect(() => resolveDatabaseLocation({ config: { DATA_DIR: '/data', DATABASE_URL: undefined }, service: '../etc' })).toThrow(AssertionError);
  });
});
