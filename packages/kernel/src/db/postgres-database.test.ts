// The PostgreSQL adapter names the statements it sends with parameters, so that each connection
// parses and plans one only once; a statement whose result changed under it (a migration gave a
// table another column) runs unnamed from then on, without the caller seeing a refusal.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { describeWithPostgres, withTemporarySchema, type TemporarySchema } from '../testing';
import { createPostgresPool, postgresApplicationName } from './postgres';
import { createPostgresDatabase } from './postgres-database';
import type { ServiceDatabase } from './database';

describeWithPostgres('PostgreSQL adapter: named statements', (url) => {
  let temporary: TemporarySchema;
  let database: ServiceDatabase;

  beforeEach(async () => {
    temporary = await withTemporarySchema(url);
    // One connection, so that every statement below meets the statements prepared before it.
    database = createPostgresDatabase(createPostgresPool({ url, schema: temporary.schema, max: 1 }), { dialect: 'postgres', url, schema: temporary.schema });
    await database.execute('CREATE TABLE probes (id TEXT PRIMARY KEY, amount BIGINT NOT NULL)');
  });

  afterEach(async () => {
    await database.close();
    await temporary.drop();
  });

  it('prepares a statement with parameters once per connection and leaves one without parameters unnamed', async () => {
    await database.execute('INSERT INTO probes (id, amount) VALUES (?, ?)', ['a', 1]);
    await database.execute('INSERT INTO probes (id, amount) VALUES (?, ?)', ['b', 2]);
    expect(await database.query('SELECT amount FROM probes WHERE id = ?', ['b'])).toEqual([{ amount: 2 }]);
    const prepared = await database.query<{ name: string; statement: string }>('SELECT name, statement FROM pg_prepared_statements ORDER BY statement');
    expect(prepared.map((row) => row.statement)).toEqual(['INSERT INTO probes (id, amount) VALUES ($1, $2)', 'SELECT amount FROM probes WHERE id = $1']);
    for (const row of prepared) expect(row.name).toMatch(/^paygrid_[0-9a-f]{24}$/);
  });

  it('answers a statement whose result changed under its prepared form, and runs it unnamed from then on', async () => {
    await database.execute('INSERT INTO probes (id, amount) VALUES (?, ?)', ['a', 1]);
    expect(await database.query('SELECT * FROM probes WHERE id = ?', ['a'])).toEqual([{ id: 'a', amount: 1 }]);
    await database.execute('ALTER TABLE probes ADD COLUMN note TEXT');
    expect(await database.query('SELECT * FROM probes WHERE id = ?', ['a'])).toEqual([{ id: 'a', amount: 1, note: null }]);
    expect(await database.query('SELECT * FROM probes WHERE id = ?', ['a'])).toEqual([{ id: 'a', amount: 1, note: null }]);
  });

  it('refuses such a statement inside a transaction, which it aborted, and runs it unnamed in the retry', async () => {
    await database.execute('INSERT INTO probes (id, amount) VALUES (?, ?)', ['a', 1]);
    const read = async () => database.transaction(async (tx) => tx.query('SELECT * FROM probes WHERE amount = ?', [1]));
    expect(await read()).toEqual([{ id: 'a', amount: 1 }]);
    await database.execute('ALTER TABLE probes ADD COLUMN note TEXT');
    await expect(read()).rejects.toThrow(/cached plan must not change result type/);
    expect(await read()).toEqual([{ id: 'a', amount: 1, note: null }]);
  });

  it('names its connections after the service schema, for pg_stat_activity', async () => {
    const [row] = await database.query<{ application_name: string }>('SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()');
    expect(row?.application_name).toBe(postgresApplicationName(temporary.schema));
  });
});
