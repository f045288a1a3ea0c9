// Helpers for tests (imports vitest): integration suites run against real PostgreSQL, NATS and
// Redis when their URLs are set, and say once, clearly, that they were skipped when not.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, it } from 'vitest';
import { luhnValid } from './card-number';
import { quoteIdentifier } from './db/postgres';

/** Appends the Luhn check digit, making any digit string pass the Luhn check (test card numbers). */
export function withLuhnCheckDigit(partial: string): string {
  for (let digit = 0; digit <= 9; digit += 1) {
    const candidate = `${partial}${digit}`;
    if (luhnValid(candidate)) return candidate;
  }
  throw new Error('some check digit always completes a Luhn sum');
}

const announced_skips = new Set<string>();

function serviceUrl(variable: string, what: string): string | undefined {
  const url = process.env[variable];
  if (url !== undefined && url !== '') return url;
  if (!announced_skips.has(variable)) {
    announced_skips.add(variable);
    console.warn(`[skip] ${what} suites skipped: ${variable} is not set`);
  }
  return undefined;
}

export function postgresUrl(): string | undefined {
  return serviceUrl('DATABASE_URL', 'PostgreSQL');
}

export function natsUrl(): string | undefined {
  return serviceUrl('NATS_URL', 'NATS');
}

export function redisUrl(): string | undefined {
  return serviceUrl('REDIS_URL', 'Redis');
}

function describeWith(url: string | undefined, variable: string, name: string, suite: (url: string) => void): void {
  if (url === undefined) {
    // The suite body is not run at all: it would see no URL.
    describe.skip(name, () => {
      it(`needs ${variable}`, () => undefined);
    });
    return;
  }
  describe(name, () => {
    suite(url);
  });
}

/** A describe block that runs only when DATABASE_URL is set, and receives it. */
export function describeWithPostgres(name: string, suite: (url: string) => void): void {
  describeWith(postgresUrl(), 'DATABASE_URL', name, suite);
}

export function describeWithNats(name: string, suite: (url: string) => void): void {
  describeWith(natsUrl(), 'NATS_URL', name, suite);
}

export function describeWithRedis(name: string, suite: (url: string) => void): void {
  describeWith(redisUrl(), 'REDIS_URL', name, suite);
}

export interface InfrastructureUrls {
  readonly postgres: string;
  readonly nats: string;
  readonly redis: string;
}

/** A describe block for suites that need PostgreSQL, NATS and Redis together (the distributed mode). */
export function describeWithPostgresNatsAndRedis(name: string, suite: (urls: InfrastructureUrls) => void): void {
  const postgres = postgresUrl();
  const nats = natsUrl();
  const redis = redisUrl();
  if (postgres === undefined || nats === undefined || redis === undefined) {
    describe.skip(name, () => {
      it('needs DATABASE_URL, NATS_URL and REDIS_URL', () => undefined);
    });
    return;
  }
  describe(name, () => {
    suite({ postgres, nats, redis });
  });
}

export interface TemporarySchema {
  /** A fresh schema name such as `t_k3x9...`; pass it to createPostgresPool. */
  readonly schema: string;
  /** Drops the schema and everything in it. */
  drop(): Promise<void>;
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Creates a uniquely named schema so that concurrent test files never see each other's tables. */
export async function withTemporarySchema(url: string): Promise<TemporarySchema> {
  const schema = `t_${randomBytes(8).toString('hex')}`;
  await withClient(url, (client) => client.query(`CREATE SCHEMA ${quoteIdentifier(schema)}`));
  return {
    schema,
    drop: async () => {
      await withClient(url, (client) => client.query(`DROP SCHEMA IF EXISTS ${quoteIdentifier(schema)} CASCADE`));
    },
  };
}

export interface TemporaryDirectory {
  readonly path: string;
  remove(): Promise<void>;
}

export async function temporaryDirectory(): Promise<TemporaryDirectory> {
  const path = await mkdtemp(join(tmpdir(), 'paygrid-'));
  return {
    path,
    remove: () => rm(path, { recursive: true, force: true }),
  };
}
export { expectSameRefusal, rejectionOf, rpc_test_operator_key, serveOverRpc, type ServedOverRpc } from './rpc/testing';

/** The OpenTelemetry SDK's exporter that keeps spans in memory: startTracing({ exporter }) in a test reads them back. */
export { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
export { describeWithPrivatePostgres, privatePostgresUnavailableReason, startPrivatePostgres, type PostgresStopMode, type PrivatePostgres } from './testing-postgres-cluster';
