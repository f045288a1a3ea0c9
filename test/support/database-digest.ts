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
  /** `file/table rows` lines, then one line per ledger account that holds anything, with its four balances. */
  take(): string;
  /**
   * The number of ledger accounts, which `take` leaves out: the wallet makes accounts on first use,
   * even for a movement it then refuses. A refused request to the ledger's own API makes none.
   */
  takeLedgerAccounts(): string;
  close(): void;
}

export interface CheapDigestOptions {
  /** Tables left out, such as those that background work fills at its own pace. */
  readonly ignore?: (file: string, table: string) => boolean;
  /**
   * Ledger transfer codes left out of the transfer count and taken back out of the balances (a
   * refused wallet operation's marker, which is the record of the refusal, not a movement).
   */
  readonly ignored_transfer_codes?: readonly number[];
}

export function openCheapDigest(data_dir: string, options: CheapDigestOptions = {}): CheapDigest {
  const files = databaseFiles(data_dir);
  const databases = files.map((file) => new BetterSqlite3(join(data_dir, file), { readonly: true, fileMustExist: true }));
  const ignored_codes = (options.ignored_transfer_codes ?? []).map(Number).filter(Number.isSafeInteger).join(', ');
  const reads: (() => string)[] = [];
  const account_reads: (() => string)[] = [];
  for (const [index, database] of databases.entries()) {
    database.defaultSafeIntegers(true);
    const file = files[index] ?? '';
    const tables = tablesOf(database).filter((table) => options.ignore?.(file, table) !== true);
    const is_ledger = tables.includes('ledger_balances') && tables.includes('ledger_transfers');
    const counts = tables
      // A batch is a commit of the ledger, whatever it holds; what it holds is counted below. An
      // account is made on first use, even by a movement then refused: an account that holds
      // nothing is not counted, its balances are read below.
      .filter((table) => !(is_ledger && ['ledger_batches', 'ledger_accounts', 'ledger_balances'].includes(table)))
      .map((table) => {
        const ignored = is_ledger && table === 'ledger_transfers' && ignored_codes !== '' ? ` WHERE code NOT IN (${ignored_codes})` : '';
        return { table, count: database.prepare(`SELECT count(*) FROM "${table}"${ignored}`).pluck() };
      });
    reads.push(() => counts.map(({ table, count }) => `${file}/${table} ${String(count.get())}`).join('\n'));
    if (is_ledger) {
      const accounts = database.prepare('SELECT count(*) FROM ledger_accounts').pluck();
      account_reads.push(() => `${file}/ledger_accounts ${String(accounts.get())}`);
      const balances = database.prepare('SELECT account_key, debits_pending, debits_posted, credits_pending, credits_posted FROM ledger_balances ORDER BY account_key').raw();
      const ignored_debits = database
        .prepare(`SELECT debit_account_key, sum(amount) FROM ledger_transfers WHERE code IN (${ignored_codes === '' ? 'NULL' : ignored_codes}) GROUP BY debit_account_key`)
        .raw();
      const ignored_credits = database
        .prepare(`SELECT credit_account_key, sum(amount) FROM ledger_transfers WHERE code IN (${ignored_codes === '' ? 'NULL' : ignored_codes}) GROUP BY credit_account_key`)
        .raw();
      reads.push(() => {
        const debited = new Map((ignored_debits.all() as [bigint, bigint][]).map(([key, amount]) => [key, amount]));
        const credited = new Map((ignored_credits.all() as [bigint, bigint][]).map(([key, amount]) => [key, amount]));
        return (balances.all() as [bigint, bigint, bigint, bigint, bigint][])
          .map(([key, debits_pending, debits_posted, credits_pending, credits_posted]) => [key, debits_pending, debits_posted - (debited.get(key) ?? 0n), credits_pending, credits_posted - (credited.get(key) ?? 0n)])
          .filter(([, ...amounts]) => amounts.some((amount) => amount !== 0n))
          .map((balance) => balance.join(' '))
          .join('\n');
      });
    }
  }
  return {
    take: () => reads.map((read) => read()).join('\n'),
    takeLedgerAccounts: () => account_reads.map((read) => read()).join('\n'),
    close: () => {
      for (const database of databases) database.close();
    },
  };
}
