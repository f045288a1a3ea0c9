// A database that cannot be reached is told apart from a query it refused: the first is a 503 the
// client retries, the second stays what it was. Checked on the driver's real errors, from a
// PostgreSQL cluster of the suite's own that it stops and starts, and the pool is checked to
// recover by itself once the server is back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithPrivatePostgres, startPrivatePostgres, type PrivatePostgres } from '../testing';
import { mapError } from '../http/error-mapping';
import { createPostgresPool } from './postgres';
import { createPostgresDatabase } from './postgres-database';
import type { ServiceDatabase } from './database';
import { isDatabaseUnavailableError } from './unavailable';

const context = { request_id: 'req_test', body_limit_bytes: 1_000 };

function withCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('isDatabaseUnavailableError', () => {
  it('knows a server going away or not there yet', () => {
    expect(isDatabaseUnavailableError(withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'))).toBe(true);
    expect(isDatabaseUnavailableError(withCode('terminating connection due to administrator command', '57P01'))).toBe(true);
    expect(isDatabaseUnavailableError(withCode('the database system is starting up', '57P03'))).toBe(true);
    expect(isDatabaseUnavailableError(withCode('connection failure', '08006'))).toBe(true);
    expect(isDatabaseUnavailableError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isDatabaseUnavailableError(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isDatabaseUnavailableError(new AggregateError([withCode('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED')]))).toBe(true);
    expect(isDatabaseUnavailableError(new Error('the commit failed', { cause: withCode('x', '57P01') }))).toBe(true);
  });

  it('leaves a refused query, and anything else, alone', () => {
    expect(isDatabaseUnavailableError(withCode('duplicate key value violates unique constraint', '23505'))).toBe(false);
    expect(isDatabaseUnavailableError(withCode('syntax error at or near "SELEC"', '42601'))).toBe(false);
    expect(isDatabaseUnavailableError(withCode('could not serialize access', '40001'))).toBe(false);
    expect(isDatabaseUnavailableError(new Error('something else'))).toBe(false);
    expect(isDatabaseUnavailableError('ECONNREFUSED')).toBe(false);
    expect(isDatabaseUnavailableError(undefined)).toBe(false);
  });

  it('makes the request a 503 database_unavailable, and anything else still a 500', () => {
    const down = mapError(withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'), context);
    expect(down.severity).toBe('unavailable');
    expect(down.apiError.statusCode).toBe(503);
    expect(down.apiError.toWire()).toMatchObject({ error: { type: 'service_unavailable_error', code: 'database_unavailable' } });
    const refused = mapError(withCode('duplicate key value violates unique constraint', '23505'), context);
    expect(refused.apiError.statusCode).toBe(500);
    expect(refused.apiError.code).toBe('internal_error');
  });
});

describeWithPrivatePostgres('a service database when PostgreSQL restarts', () => {
  let cluster: PrivatePostgres;
  let database: ServiceDatabase;

  beforeAll(async () => {
    cluster = await startPrivatePostgres();
    // The server ending idle connections is expected here: nothing to warn about.
    database = createPostgresDatabase(createPostgresPool({ url: cluster.url, schema: 'restarted', max: 4, onConnectionError: () => undefined }), {
      dialect: 'postgres',
      url: cluster.url,
      schema: 'restarted',
    });
  }, 60_000);
  afterAll(async () => {
    try {
      await database?.close();
    } finally {
      await cluster?.remove();
    }
  }, 60_000);

  it('fails as unavailable while the server is down, and recovers by itself when it returns', async () => {
    await database.execute('CREATE TABLE counts (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)');
    await database.execute('INSERT INTO counts (id, value) VALUES (1, 0)');
    // Every pooled connection is open and idle when the server goes: each must be replaced.
    await Promise.all([1, 2, 3, 4].map(() => database.transaction(async (tx) => tx.query('SELECT pg_sleep(0.05)'))));

    await cluster.stop('immediate');
    for (let attempt = 0; attempt < 6; attempt += 1) {
      const failed = await database.query('SELECT value FROM counts').catch((error: unknown) => error);
      expect(isDatabaseUnavailableError(failed), String(failed)).toBe(true);
      const failed_write = await database.transaction((tx) => tx.execute('UPDATE counts SET value = value + 1 WHERE id = 1')).catch((error: unknown) => error);
      expect(isDatabaseUnavailableError(failed_write), String(failed_write)).toBe(true);
    }

    await cluster.start();
    // The first queries may still meet a server finishing its start; within seconds all succeed.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const outcome = await database.transaction((tx) => tx.execute('UPDATE counts SET value = value + 1 WHERE id = 1')).catch((error: unknown) => error);
      if (!(outcome instanceof Error)) break;
      expect(isDatabaseUnavailableError(outcome), String(outcome)).toBe(true);
      if (Date.now() > deadline) throw outcome;
      await new Promise((done) => setTimeout(done, 100));
    }
    // Every connection of the pool works again, and nothing failed was written.
    const answers = await Promise.all([1, 2, 3, 4].map(() => database.transaction(async (tx) => tx.query<{ value: number }>('SELECT value FROM counts WHERE id = 1'))));
    expect(answers.map((rows) => rows[0]?.value)).toEqual([1, 1, 1, 1]);
  }, 90_000);
});
