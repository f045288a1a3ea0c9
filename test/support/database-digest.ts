// Digests of the platform's embedded databases (one SQLite file per service, the ledger's too),
// for suites that prove a refused request changed nothing.
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';

export type TableDigest = { readonly rows: number; readonly sha256: string };

/** A wallet instance's projection cursor beats every few seconds while it lives: its heartbeat is liveness, not data. */
function columnsOf(table: string): string {
  return table === 'wallet_projection_cursors' ? 'instance_id, last_transfer_id' : '*';
}

function databaseFiles(data_dir: string): string[] {
  return readdirSync(data_dir).filter((name) => name.endsWith('.sqlite')).sort();
}

function tablesOf(database: BetterSqlite3.Database): string[] {
  return database.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[];
}

/** Every table of every SQLite file in the data folder (the ledger's too): its row count and a digest of its rows. */
export function snapshotDatabases(data_dir: string): Record<string, Record<string, TableDigest>> {
  const snapshot: Record<string, Record<string, TableDigest>> = {};
  for (const file of databaseFiles(data_dir)) {
    const database = new BetterSqlite3(join(data_dir, file), { readonly: true, fileMustExist: true });
    try {
      database.defaultSafeIntegers(true);
      const digests: Record<string, TableDigest> = {};
      for (const table of tablesOf(database)) {
        const rows = (database.prepare(`SELECT ${columnsOf(table)} FROM "${table}"`).raw().all() as unknown[][]).map((row) =>
          JSON.stringify(row, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value)),
        );
        rows.sort();
        digests[table] = { rows: rows.length, sha256: createHash('sha256').update(rows.join('\n')).digest('hex') };
      }
      snapshot[file] = digests;
    } finally {
      database.close();
    }
  }
  return snapshot;
}

/**
 * A digest cheap enough to take after every one of many thousands of requests: the row count of
 * every table, and every ledger account's balances (what money a refused request could have moved).
 * An update that leaves counts and balances alone is not seen; snapshotDatabases sees everything.
 */
export interface CheapDigest {
  /** `file/table rows` lines, then one line per ledger account with its four balances. */
  take(): string;
  close(): void;
}

export function openCheapDigest(data_dir: string): CheapDigest {
  const databases = databaseFiles(data_dir).map((file) => new BetterSqlite3(join(data_dir, file), { readonly: true, fileMustExist: true }));
  const reads: (() => string)[] = [];
  for (const [index, database] of databases.entries()) {
    database.defaultSafeIntegers(true);
    const file = databaseFiles(data_dir)[index] ?? '';
    const tables = tablesOf(database);
    const counts = tables.map((table) => ({ table, count: database.prepare(`SELECT count(*) FROM "${table}"`).pluck() }));
    reads.push(() => counts.map(({ table, count }) => `${file}/${table} ${String(count.get())}`).join('\n'));
    if (tables.includes('ledger_balances')) {
      const balances = database.prepare('SELECT account_key, debits_pending, debits_posted, credits_pending, credits_posted FROM ledger_balances ORDER BY account_key').raw();
      reads.push(() => balances.all().map((row) => (row as unknown[]).map(String).join(' ')).join('\n'));
    }
  }
  return {
    take: () => reads.map((read) => read()).join('\n'),
    close: () => {
      for (const database of databases) database.close();
    },
  };
}
