import type { Migration } from './migrations';

/**
 * The database port for ordinary services, with a SQLite adapter (embedded) and a PostgreSQL
 * adapter (production) behind it. SQL is written once with `?` placeholders; the PostgreSQL
 * adapter numbers them. Write portable SQL: integers, text and blobs read back alike on both.
 * Integer columns read as numbers; a value beyond ±(2^53 - 1) is refused rather than rounded,
 * so keep such values (128-bit ids, large amounts) in TEXT or BLOB and convert to bigint.
 * Parameters may be strings, numbers, bigints, booleans (1 and 0 in SQLite), null or Buffers.
 */
export interface Database {
  readonly dialect: 'sqlite' | 'postgres';
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  execute(sql: string, params?: readonly unknown[]): Promise<{ rowCount: number }>;
  /**
   * Runs `work` in one transaction, committed when it resolves and rolled back when it throws.
   * Use only `tx` inside: in SQLite the root handle waits for the transaction to end, so using
   * it inside would deadlock (that is caught by an assertion). `tx.transaction` nests with a
   * savepoint. Never call an outside party inside a transaction.
   */
  transaction<T>(work: (tx: Database) => Promise<T>, options?: TransactionOptions): Promise<T>;
  close(): Promise<void>;
}

export interface TransactionOptions {
  /**
   * `sync` (the default): the transaction resolves once its commit is on disk. `deferred`: it
   * resolves once committed, and reaches the disk with the next commit that is waited for (or a
   * checkpoint): a process crash takes nothing back, a power loss may take back the deferred
   * commits not yet synced, whole and in order. Only for writes that can be rebuilt from
   * elsewhere, such as a projection of the ledger; PostgreSQL's `synchronous_commit = off` is the
   * same thing. Nested transactions (savepoints) take the outermost one's.
   */
  readonly durability?: 'sync' | 'deferred';
}

export type DatabaseLocation =
  | { readonly dialect: 'sqlite'; readonly file: string }
  | { readonly dialect: 'postgres'; readonly url: string; readonly schema: string };

/** A service's database, as opened from the platform config: it knows where it is and migrates. */
export interface ServiceDatabase extends Database {
  readonly location: DatabaseLocation;
  /** Applies pending migrations and returns the versions applied. */
  migrate(migrations: readonly Migration[]): Promise<number[]>;
}

export class UnsafeIntegerError extends RangeError {
  override readonly name = 'UnsafeIntegerError';
}

/** Converts an integer read from a database to a number, refusing one that would round. */
export function safeIntegerFromDatabase(value: bigint | string, column: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number)) {
    throw new UnsafeIntegerError(`Column "${column}" holds the integer ${String(value)}, beyond ±(2^53 - 1); store it as TEXT and convert it to bigint`);
  }
  return number;
}
