import { join } from 'node:path';
import { assert } from '../assert';
import type { PlatformConfig } from '../config/platform-config';
import { redactUrlPassword } from '../config/variables';
import type { DatabaseLocation, ServiceDatabase } from './database';
import { createPostgresPool } from './postgres';
import { createPostgresDatabase } from './postgres-database';
import { openSqlite } from './sqlite';
import { createSqliteDatabase } from './sqlite-database';
import { traceDatabase } from './tracing';

/** Short enough that `paygrid_<service>` fits PostgreSQL's 63-byte identifiers. */
const service_name_pattern = /^[a-z][a-z0-9_]{0,39}$/;

export interface OpenDatabaseOptions {
  readonly config: Pick<PlatformConfig, 'DATA_DIR' | 'DATABASE_URL'>;
  readonly service: string;
  /** Connections in the PostgreSQL pool. */
  readonly max?: number;
}

/** Embedded: `${DATA_DIR}/${service}.sqlite`. With DATABASE_URL: schema `paygrid_${service}` there. */
export function resolveDatabaseLocation(options: Pick<OpenDatabaseOptions, 'config' | 'service'>): DatabaseLocation {
  assert(service_name_pattern.test(options.service), `service name must match ${String(service_name_pattern)} (got "${options.service}")`);
  const url = options.config.DATABASE_URL;
  if (url === undefined) return { dialect: 'sqlite', file: join(options.config.DATA_DIR, `${options.service}.sqlite`) };
  return { dialect: 'postgres', url, schema: `paygrid_${options.service}` };
}

/** For start-up banners and logs: the URL's password is replaced by `***`. */
export function describeDatabaseLocation(location: DatabaseLocation): string {
  if (location.dialect === 'sqlite') return `SQLite ${location.file}`;
  return `PostgreSQL ${redactUrlPassword(location.url)} schema ${location.schema}`;
}

/**
 * Opens a service's database; run `migrate` on it when the config says so. PostgreSQL is
 * reached once here, so that a wrong URL or a refused login stops the start with its cause.
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<ServiceDatabase> {
  const location = resolveDatabaseLocation(options);
  if (location.dialect === 'sqlite') return traceDatabase(createSqliteDatabase(openSqlite(location.file), location));
  const pool = createPostgresPool({ url: location.url, schema: location.schema, ...(options.max === undefined ? {} : { max: options.max }) });
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end();
    throw error;
  }
  return traceDatabase(createPostgresDatabase(pool, location));
}
