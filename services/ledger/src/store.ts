import type { SealedBatch } from './codec';
import type { Account, AccountBalance, PendingStatus, Transfer } from './types';

/** What the writer needs to resume where the last one stopped. */
export interface LoadedLedger {
  readonly accounts: Account[];
  /** Every pending transfer that is still pending: they stay in memory until resolved. */
  readonly pending: Transfer[];
  readonly last_batch_id: bigint;
  readonly last_hash: Buffer;
  readonly commit_timestamp: bigint;
  /** The largest transfer id stored (0 if none): an id above it cannot be in the store. */
  readonly transfer_id_max: bigint;
}

export interface StoredTransfer {
  readonly transfer: Transfer;
  /** Set for pending transfers only. */
  readonly status: PendingStatus | undefined;
}

/** An account's balances as one batch left them. */
export interface BalanceSnapshot {
  /** The account's timestamp, which keys its balance row. */
  readonly account_key: bigint;
  readonly debits_pending: bigint;
  readonly debits_posted: bigint;
  readonly credits_pending: bigint;
  readonly credits_posted: bigint;
  readonly closed: boolean;
}

/**
 * One batch, as the writer commits it: plain values copied when the batch was applied, so that
 * the writer may apply the next batch while this one is still being written.
 */
export interface BatchCommit {
  readonly sealed: SealedBatch;
  /** `sealed` in the encoding the hash covers (`encodeSealedBatch`), made once by the writer. */
  readonly sealed_bytes: Buffer;
  readonly previous_hash: Buffer;
  readonly hash: Buffer;
  /** Balances of every account the batch created (insert) or changed (update). */
  readonly balances: readonly BalanceSnapshot[];
  /** Balance history rows for accounts with the `history` flag. */
  readonly history: readonly AccountBalance[];
  /** The integer keys of the accounts each new transfer debits and credits, in transfer order. */
  readonly transfer_account_keys: readonly (readonly [debit: bigint, credit: bigint])[];
}

export interface StoredBatch {
  readonly id: bigint;
  readonly timestamp_first: bigint;
  readonly timestamp_last: bigint;
  readonly accounts_created: number;
  readonly transfers_created: number;
  readonly pending_resolved: number;
  readonly previous_hash: Buffer;
  readonly hash: Buffer;
}

/** TigerBeetle's AccountFilter: which transfers (or balances) of one account to list. */
export interface AccountFilter {
  readonly account_id: bigint;
  readonly user_data_128?: bigint;
  readonly user_data_64?: bigint;
  readonly user_data_32?: number;
  readonly code?: number;
  readonly timestamp_min?: bigint;
  readonly timestamp_max?: bigint;
  readonly limit: number;
  readonly debits: boolean;
  readonly credits: boolean;
  /** Newest first when set. */
  readonly reversed: boolean;
}

/**
 * TigerBeetle's QueryFilter: transfers of any account, selected by their own fields, in timestamp
 * order. Services use it to find what they wrote, e.g. to rebuild a projection after a crash.
 */
export interface QueryFilter {
  readonly user_data_128?: bigint;
  readonly user_data_64?: bigint;
  readonly user_data_32?: number;
  readonly ledger?: number;
  readonly code?: number;
  readonly timestamp_min?: bigint;
  readonly timestamp_max?: bigint;
  readonly limit: number;
  /** Newest first when set. */
  readonly reversed: boolean;
}

/** A stored account with its balances and current flags. */
export type StoredAccount = Account;

/**
 * The ledger's storage port. The writer is its only mutator: it loads once, prefetches the
 * transfers each batch references, and commits each batch in one transaction. Reads may come from
 * anywhere and see only committed batches.
 */
export interface LedgerStore {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * Waits until this process is the only writer of this ledger (fencing). `onLost` hears, once,
   * when the fence taken here is lost again (PostgreSQL's lock lives as long as the writer's
   * connection, which a database restart ends); the store then refuses to commit until
   * `acquireWriter` takes the fence again.
   */
  acquireWriter(onWaiting: (message: string) => void, onLost?: () => void): Promise<void>;
  /** Whether this store holds the writer's fence now, so that a commit could go through. */
  holdsWriter(): boolean;
  load(): Promise<LoadedLedger>;
  prefetchTransfers(ids: readonly bigint[]): Promise<StoredTransfer[]>;
  commit(batch: BatchCommit): Promise<void>;

  /**
   * Two-phase commit of one leg of a transfer between shards (issue 15), the participant's side.
   * Writes one batch exactly as `commit` does, on the writer's connection, but ends the transaction
   * with PREPARE TRANSACTION `gid` instead of COMMIT: the batch is durable but invisible, its row
   * locks held, until `finishPrepared`. Fails whole (nothing prepared) or not at all.
   *
   * The prepared transaction keeps the row locks of every balance it changed. A later ordinary
   * commit that changes one of those balances waits on them, and since commits run one after
   * another on the writer's connection, the writer commits nothing more on this shard until the
   * decision arrives and `finishPrepared` runs (on another connection, as it must).
   */
  prepare(batch: BatchCommit, gid: string): Promise<void>;
  /**
   * COMMIT PREPARED or ROLLBACK PREPARED `gid`. Idempotent: returns 'finished' if it did it now and
   * 'absent' if no such prepared transaction exists (already finished, or never prepared); the
   * caller's decision log tells which case is which. Works whether or not this store holds the
   * writer's fence (recovery runs it before a new writer loads the state), so it runs on a pool
   * connection, not the writer's.
   */
  finishPrepared(gid: string, outcome: 'commit' | 'rollback'): Promise<'finished' | 'absent'>;
  /** The gids of this store's database in pg_prepared_xacts that start with `prefix`, oldest first. */
  listPrepared(prefix: string): Promise<string[]>;

  lookupAccounts(ids: readonly bigint[]): Promise<StoredAccount[]>;
  lookupTransfers(ids: readonly bigint[]): Promise<StoredTransfer[]>;
  getAccountTransfers(filter: AccountFilter): Promise<Transfer[]>;
  getAccountBalances(filter: AccountFilter): Promise<AccountBalance[]>;
  queryTransfers(filter: QueryFilter): Promise<Transfer[]>;

  /**
   * Runs `work` against one consistent snapshot of the store, on a connection of its own, so that
   * a writer committing meanwhile is not seen halfway (`ledger verify` runs beside live writers).
   */
  readSnapshot<T>(work: (snapshot: LedgerSnapshot) => Promise<T>): Promise<T>;

  close(): Promise<void>;
}

/** Reads for `ledger verify`, all from one snapshot. */
export interface LedgerSnapshot {
  /** Batches in order, then what each one sealed. */
  readBatches(after_id: bigint, limit: number): Promise<StoredBatch[]>;
  readSealedBatch(batch: StoredBatch): Promise<SealedBatch>;
  /** Every account with its stored balances, in timestamp order. */
  readAccounts(after_timestamp: bigint, limit: number): Promise<StoredAccount[]>;
  /** Every pending transfer's current status. */
  readPendingStatuses(after_id: bigint, limit: number): Promise<{ id: bigint; status: PendingStatus }[]>;
}
