import pg from 'pg';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { AssertionError } from '../assert';
import { describeWithPostgres, withTemporarySchema, type TemporarySchema } from '../testing';
import { migratePostgres } from './migrate-postgres';
import { MigrationError, type Migration } from './migrations';
import { connectPostgresClient, createPostgresPool } from './postgres';

const migrations: Migration[] = [
  { version: 1, name: 'accounts', sqlite: 'unused', postgres: 'CREATE TABLE accounts (id TEXT PRIMARY KEY, balance BIGINT NOT NULL);' },
  {
    version: 2,
    name: 'entries',
    sqlite: 'unused',
    postgres: `CREATE TABLE entries (id BIGSERIAL PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts (id));
               CREATE INDEX entries_account ON entries (account_id);`,
  },
];

describeWithPostgres('PostgreSQL pools and migrations', (url) => {
  let temporary: TemporarySchema;
  const pools: pg.Pool[] = [];
  const pool = (max = 2): pg.Pool => {
    const created = createPostgresPool({ url, schema: temporary.schema, max });
    pools.push(created);
    return created;
  };

  beforeEach(async () => {
    temporary = await withTemporarySchema(url);
  });

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((created) => created.end()));
    await temporary.drop();
  });

  it('sets search_path to the schema on every connection', async () => {
    const result = await pool().query<{ schema: string }>('SELECT current_schema() AS schema');
    expect(result.rows).toEqual([{ schema: temporary.schema }]);
  });

  it('creates a missing schema on first connect', async () => {
    const missing = `${temporary.schema}_new`;
    const created = createPostgresPool({ url, schema: missing, max: 2 });
    try {
      await created.query('CREATE TABLE probe (id INTEGER)');
      const found = await created.query<{ table_schema: string }>("SELECT table_schema FROM information_schema.tables WHERE table_name = 'probe'");
      expect(found.rows).toContainEqual({ table_schema: missing });
    } finally {
      await created.query(`DROP SCHEMA "${missing}" CASCADE`);
      await created.end();
    }
  });

  it('asserts that schema names are plain lower-case identifiers', () => {
    expect(() => createPostgresPool({ url, schema: 'Robert"; DROP TABLE students; --' })).toThrow(AssertionError);
    expect(() => createPostgresPool({ url, schema: 'x'.repeat(64) })).toThrow(AssertionError);
  });

  it('applies migrations once and records them', async () => {
    const database = pool();
    expect(await migratePostgres(database, migrations.slice(0, 1))).toEqual([1]);
    expect(await migratePostgres(database, migrations)).toEqual([2]);
    expect(await migratePostgres(database, migrations)).toEqual([]);
    const applied = await database.query('SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version');
    expect(applied.rows).toEqual([
      { version: 1, name: 'accounts', checksum: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown, applied_at: expect.any(Date) as unknown },
      { version: 2, name: 'entries', checksum: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown, applied_at: expect.any(Date) as unknown },
    ]);
    const tables = await database.query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name',
    );
    expect(tables.rows.map((row) => row.table_name)).toEqual(['accounts', 'entries', 'schema_migrations']);
  });

  it('applies each migration exactly once when several processes start together', async () => {
    const results = await Promise.all([pool(1), pool(1), pool(1), pool(1)].map((database) => migratePostgres(database, migrations)));
    expect(results.flat().sort()).toEqual([1, 2]);
  });

  it('rolls back a failing migration and keeps the ones before it', async () => {
    const database = pool();
    const broken: Migration = { version: 3, name: 'broken', sqlite: 'unused', postgres: 'CREATE TABLE half (id INTEGER); SELECT nonsense_function();' };
    await expect(migratePostgres(database, [...migrations, broken])).rejects.toThrow(/nonsense_function/);
    const versions = await database.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(versions.rows.map((row) => row.version)).toEqual([1, 2]);
    const half = await database.query("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'half'");
    expect(half.rowCount).toBe(0);
  });

  it('refuses to run when an applied migration has changed', async () => {
    const database = pool();
    await migratePostgres(database, migrations);
    const edited = [migrations[0]!, { ...migrations[1]!, postgres: `${migrations[1]!.postgres} -- edited` }];
    await expect(migratePostgres(database, edited)).rejects.toThrow(MigrationError);
    await expect(migratePostgres(database, edited)).rejects.toThrow(/Migration 2 \(entries\) has changed since it was applied/);
  });

  it('migrates on a dedicated client too', async () => {
    const client = await connectPostgresClient({ url, schema: temporary.schema });
    try {
      expect(await migratePostgres(client, migrations)).toEqual([1, 2]);
      const schema = await client.query<{ schema: string }>('SELECT current_schema() AS schema');
      expect(schema.rows[0]?.schema).toBe(temporary.schema);
    } finally {
      await client.end();
    }
  });

  it('survives a connection dropped by the server', async () => {
    const errors: Error[] = [];
    const database = createPostgresPool({ url, schema: temporary.schema, max: 2, onConnectionError: (error) => errors.push(error) });
    pools.push(database);
    const pid = (await database.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    const killer = pool(1);
    await killer.query('SELECT pg_terminate_backend($1)', [pid]);
    // The idle connection's error is reported, not thrown; the pool carries on with a new one.
    await expect.poll(() => errors.length, { timeout: 5_000 }).toBeGreaterThan(0);
    const after = await database.query<{ ok: number }>('SELECT 1 AS ok');
    expect(after.rows).toEqual([{ ok: 1 }]);

    const client = await connectPostgresClient({ url, schema: temporary.schema, onConnectionError: (error) => errors.push(error) });
    const client_pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    const errors_before = errors.length;
    await killer.query('SELECT pg_terminate_backend($1)', [client_pid]);
    await expect.poll(() => errors.length, { timeout: 5_000 }).toBeGreaterThan(errors_before);
    await client.end().catch(() => undefined);
  });
});
