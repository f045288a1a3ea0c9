// The wallet's own rows about movements the ledger has already made: a projection, written behind
// the answer. A request waits for one durable commit, the ledger's; its operation row, history
// step and outbox event join a queue that is written in group commits of many operations. After a
// crash, whatever was answered but not yet written is rebuilt from the ledger (rebuildFromLedger):
// each transfer names its operation (its id is the operation's number) and carries what the row
// needs.
//
// Every instance keeps a cursor: the transfer of the last operation it wrote, in the order the
// ledger committed them. The queue is first in, first out, and operations join it in the order the
// ledger answered, so everything an instance answered before its cursor is written. A restart (a
// new instance) rebuilds from the cursors of instances that stopped beating, then removes them.
import { assert, isAssertionError, randomId, appendOutboxEvents, type Database } from '@paygrid/kernel';
import type { LedgerClient, Transfer } from '@paygrid/ledger';
import { LedgerLayout, TransferOrigin, operationTypeOfCode } from './chart';
import { wallet_events_table } from './migrations';
import { operationIdOf } from './operation-ids';
import {
  deleteProjectionCursor,
  findWalletsByLedgerAccounts,
  insertOperationsIfAbsent,
  insertSteps,
  listProjectionCursors,
  saveProjectionCursor,
  touchProjectionCursor,
  type OperationRecord,
  type WalletRecord,
} from './store';
import type { OperationStatus } from './types';

/** Operations one projection commit writes at most. */
export const projection_batch_max = 512;
/** Answered operations waiting to be written, at most; past this, new movements wait for room. */
export const projection_queue_max = 8_192;
/** After a failed projection commit, how long until the next try (the rows are already acknowledged). */
export const projection_retry_delay_ms = 200;
/** How long a read waits for this instance's answered operations to be written, at most. */
export const projection_settle_wait_ms_max = 5_000;
/** An instance whose cursor has not moved for this long is taken for dead, and its answers are rebuilt from the ledger. */
export const projection_cursor_lease_ms = 30_000;
const timestamp_max = (1n << 63n) - 1n;
/** Ledger transfers one rebuild page reads. */
export const rebuild_page_transfers_max = 500;

export type ProjectionLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/** What a movement's row looks like once the ledger has answered, and the event it announces, if any. */
export interface ProjectionEntry {
  readonly operation: OperationRecord;
  /** The history step's reason (`ledger:ok`, `ledger:exceeds_credits`, …). */
  readonly reason: string;
  readonly announcement: { readonly type: string; readonly object: object } | undefined;
  /** Whether the operation's id is a transfer in the ledger (a movement or a refusal marker): only those move the cursor. */
  readonly in_ledger: boolean;
}

interface Waiting {
  readonly entry: ProjectionEntry;
  readonly resolve: () => void;
}

export interface ProjectionOptions {
  readonly database: Database;
  readonly instance_id: string;
  readonly now: () => number;
  /** Called after a commit that wrote events, so that the relay sends them. */
  readonly onEventsWritten: () => void;
  readonly log: ProjectionLog;
}

/** The step and event rows that go with the operations inserted now (not with those that were there). */
async function writeOperations(tx: Database, entries: readonly ProjectionEntry[], now_ms: number): Promise<number> {
  // A projected operation's idempotency key lives in its transfer id (derived from it), where
  // every retry meets it; keeping it in the row too would only cost a unique index entry per row.
  const inserted = await insertOperationsIfAbsent(
    tx,
    entries.map((entry) => (entry.operation.origin === TransferOrigin.projected ? { ...entry.operation, idempotency_key: null } : entry.operation)),
  );
  const fresh = entries.filter((entry) => inserted.has(entry.operation.id));
  await insertSteps(
    tx,
    fresh.flatMap((entry) => {
      const { operation } = entry;
      const steps: { operation_id: string; from_status: OperationStatus | null; to_status: OperationStatus; reason: string; created_ms: number }[] = [
        { operation_id: operation.id, from_status: null, to_status: 'pending', reason: 'created', created_ms: operation.created_ms },
      ];
      if (operation.status !== 'pending') steps.push({ operation_id: operation.id, from_status: 'pending', to_status: operation.status, reason: entry.reason, created_ms: now_ms });
      return steps;
    }),
  );
  // Each operation is announced once, when it ends, so its events are version 1.
  const events = fresh.flatMap((entry) =>
    entry.announcement === undefined
      ? []
      : [
          {
            tenant: { merchant_id: entry.operation.merchant_id, livemode: entry.operation.livemode },
            event: { id: randomId('evt'), type: entry.announcement.type, object: { ...entry.announcement.object }, sequence: 1, created: Math.floor(now_ms / 1_000) },
          },
        ],
  );
  await appendOutboxEvents(tx, wallet_events_table, events);
  return events.length;
}

export class Projection {
  readonly #database: Database;
  readonly #instance_id: string;
  readonly #now: () => number;
  readonly #onEventsWritten: () => void;
  readonly #log: ProjectionLog;
  #queue: Waiting[] = [];
  #flushing: Promise<void> | undefined;
  /** Resolved when the queue has room again; set while it is full. */
  #room: Promise<void> | undefined;
  #room_resolve: (() => void) | undefined;
  #closed = false;

  constructor(options: ProjectionOptions) {
    this.#database = options.database;
    this.#instance_id = options.instance_id;
    this.#now = options.now;
    this.#onEventsWritten = options.onEventsWritten;
    this.#log = options.log;
  }

  get instance_id(): string {
    return this.#instance_id;
  }

  /**
   * Places this instance's cursor at the ledger's newest transfer, before it answers anything: a
   * crash from now on is rebuilt from there.
   */
  async claimCursor(ledger: LedgerClient): Promise<void> {
    const [newest] = await ledger.queryTransfers({ limit: 1, reversed: true });
    await saveProjectionCursor(this.#database, { instance_id: this.#instance_id, last_transfer_id: newest?.id ?? 0n, heartbeat_ms: this.#now() });
  }

  /** Resolves when a movement may be sent: the queue of answered, unwritten operations is bounded. */
  room(): Promise<void> {
    return this.#room ?? Promise.resolve();
  }

  /** Queues an answered operation's rows; the promise resolves once they are durable. */
  write(entry: ProjectionEntry): Promise<void> {
    assert(!this.#closed, 'the projection is closed');
    const written = new Promise<void>((resolve) => this.#queue.push({ entry, resolve }));
    if (this.#queue.length >= projection_queue_max && this.#room === undefined) {
      this.#room = new Promise((resolve) => (this.#room_resolve = resolve));
    }
    this.#kick();
    return written;
  }

  /**
   * Resolves once every operation queued before the call is written, so that reads see their own
   * writes; or after `wait_ms_max`, when the database is failing and the queue cannot drain: a read
   * then answers without the newest rows rather than hang (movements themselves are in the ledger).
   */
  async settled(wait_ms_max: number = projection_settle_wait_ms_max): Promise<void> {
    const deadline_ms = Date.now() + wait_ms_max;
    while (this.#queue.length > 0 || this.#flushing !== undefined) {
      const remaining_ms = deadline_ms - Date.now();
      if (remaining_ms <= 0) return;
      let timer: NodeJS.Timeout | undefined;
      const flushed = this.#flushing ?? Promise.resolve();
      await (Number.isFinite(remaining_ms) ? Promise.race([flushed, new Promise((resolve) => (timer = setTimeout(resolve, remaining_ms)))]) : flushed);
      clearTimeout(timer);
      if (this.#flushing === undefined && this.#queue.length > 0) this.#kick();
    }
  }

  /** Keeps the cursor's heartbeat fresh while nothing is written, so no one takes this instance for dead. */
  async heartbeat(): Promise<void> {
    await touchProjectionCursor(this.#database, this.#instance_id, this.#now());
  }

  /** Writes what is queued, then gives the cursor up: a clean stop leaves nothing to rebuild. */
  async close(): Promise<void> {
    await this.settled(Number.POSITIVE_INFINITY);
    this.#closed = true;
    await deleteProjectionCursor(this.#database, this.#instance_id);
  }

  #kick(): void {
    if (this.#flushing !== undefined) return;
    // One turn of the event loop lets the movements answered together join one commit.
    this.#flushing = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#flushAll());
  }

  async #flushAll(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.slice(0, projection_batch_max);
        try {
          await this.#commit(batch.map((waiting) => waiting.entry));
        } catch (error) {
          if (isAssertionError(error)) throw error;
          // The rows are acknowledged already: keep them and try again; a crash meanwhile is
          // rebuilt from the ledger.
          this.#log('error', 'failed: writing wallet operations behind the ledger; retrying', { error: error instanceof Error ? error.message : String(error), operations: batch.length });
          await new Promise((resolve) => setTimeout(resolve, projection_retry_delay_ms));
          continue;
        }
        this.#queue.splice(0, batch.length);
        for (const waiting of batch) waiting.resolve();
        if (this.#room !== undefined && this.#queue.length < projection_queue_max / 2) {
          this.#room_resolve?.();
          this.#room = undefined;
          this.#room_resolve = undefined;
        }
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  async #commit(entries: readonly ProjectionEntry[]): Promise<void> {
    const now_ms = this.#now();
    const last_in_ledger = entries.findLast((entry) => entry.in_ledger);
    // Deferred durability: these rows, their events and the cursor are rebuilt from the ledger if a
    // power loss takes the commit back, and they go together (one transaction, synced in order with
    // the next commit anyone waits for), so the cursor never runs ahead of the rows. Waiting for
    // the disk here would only put a sync of this file beside each of the ledger's on the same disk.
    const events = await this.#database.transaction(
      async (tx) => {
        const written = await writeOperations(tx, entries, now_ms);
        if (last_in_ledger !== undefined) {
          await saveProjectionCursor(tx, { instance_id: this.#instance_id, last_transfer_id: last_in_ledger.operation.ledger_transfer_id, heartbeat_ms: now_ms });
        }
        return written;
      },
      { durability: 'deferred' },
    );
    if (events > 0) this.#onEventsWritten();
  }
}

/** The event an operation's success announces when its row is rebuilt, if any. */
export type Announce = (operation: OperationRecord) => { readonly type: string; readonly object: object } | undefined;

/**
 * Rebuilds, from the ledger, the rows of movements that instances which stopped beating answered
 * but never wrote, and removes their cursors. Only transfers written to be projected
 * (TransferOrigin.projected) are rebuilt: every other operation's row was written before its
 * transfer. Returns how many rows it wrote.
 */
export async function rebuildFromLedger(options: {
  readonly database: Database;
  readonly ledger: LedgerClient;
  readonly own_instance_id: string;
  readonly now_ms: number;
  /**
   * Whether every other cursor belongs to a process that is gone: true for the all-in-one process,
   * which runs only while it holds the ledger's fence. Otherwise only cursors whose heartbeat is
   * older than projection_cursor_lease_ms are taken over.
   */
  readonly sole_instance: boolean;
  readonly announce: Announce;
  readonly log: ProjectionLog;
}): Promise<number> {
  const { database, ledger, now_ms } = options;
  const dead = (await listProjectionCursors(database)).filter(
    (cursor) => cursor.instance_id !== options.own_instance_id && (options.sole_instance || cursor.heartbeat_ms <= now_ms - projection_cursor_lease_ms),
  );
  if (dead.length === 0) return 0;
  // Start after the earliest cursor: its transfer and everything before it are written. A cursor
  // claimed on an empty ledger (id 0) means from the start.
  let timestamp_min = 0n;
  const positions = dead.map((cursor) => cursor.last_transfer_id);
  if (!positions.includes(0n)) {
    const found = await ledger.lookupTransfers(positions);
    assert(found.length === new Set(positions).size, 'a projection cursor names a transfer the ledger has');
    timestamp_min = found.reduce((earliest, { transfer }) => (transfer.timestamp < earliest ? transfer.timestamp : earliest), timestamp_max) + 1n;
  }
  let rebuilt = 0;
  for (;;) {
    const page = await ledger.queryTransfers({ timestamp_min, limit: rebuild_page_transfers_max, reversed: false });
    const projected = page.filter((transfer) => transfer.user_data_32 === TransferOrigin.projected && transfer.pending_id === 0n && operationTypeOfCode(transfer.code) !== undefined);
    if (projected.length > 0) {
      const wallets = await findWalletsByLedgerAccounts(database, [...new Set(projected.flatMap((transfer) => [transfer.debit_account_id, transfer.credit_account_id]))]);
      const entries: ProjectionEntry[] = [];
      for (const transfer of projected) {
        const operation = operationOfTransfer(transfer, wallets);
        if (operation === undefined) {
          options.log('error', 'a projected wallet transfer names no known wallet; it needs a person', { transfer: transfer.id.toString() });
          continue;
        }
        entries.push({ operation, reason: 'rebuilt_from_ledger', announcement: options.announce(operation), in_ledger: true });
      }
      const events = await database.transaction(async (tx) => writeOperations(tx, entries, now_ms));
      rebuilt += entries.length;
      if (events > 0) options.log('info', 'wallet events rebuilt from the ledger', { events });
    }
    const last = page.at(-1);
    if (last === undefined || page.length < rebuild_page_transfers_max) break;
    timestamp_min = last.timestamp + 1n;
  }
  for (const cursor of dead) await deleteProjectionCursor(database, cursor.instance_id);
  if (rebuilt > 0) options.log('warn', 'wallet operations answered before a crash were rebuilt from the ledger', { rebuilt });
  return rebuilt;
}

/** The row of a projected movement, from its transfer and the wallets its accounts belong to. */
export function operationOfTransfer(transfer: Transfer, wallets: ReadonlyMap<bigint, WalletRecord>): OperationRecord | undefined {
  const type = operationTypeOfCode(transfer.code);
  if (type === undefined) return undefined;
  const source = wallets.get(transfer.debit_account_id);
  const destination = wallets.get(transfer.credit_account_id);
  const owner = type === 'top_up' ? destination : source;
  if (owner === undefined) return undefined;
  if (type === 'transfer' && destination === undefined) return undefined;
  const created_ms = Number(transfer.user_data_64);
  return {
    id: operationIdOf(type, transfer.id),
    merchant_id: owner.merchant_id,
    livemode: owner.livemode,
    type,
    source_wallet_id: type === 'top_up' ? null : owner.id,
    destination_wallet_id: type === 'top_up' ? owner.id : type === 'transfer' ? (destination?.id ?? null) : null,
    amount: transfer.amount,
    currency: owner.currency,
    description: null,
    status: 'succeeded',
    failure_code: null,
    idempotency_key: null,
    ledger_transfer_id: transfer.id,
    ledger_result: 'ok',
    settlement_outcome: null,
    settlement_failure_code: null,
    bank_account: null,
    refunded_payment_id: null,
    payment_intent_id: null,
    reversed_top_up_id: null,
    restored_reversal_id: null,
    created: Math.floor(created_ms / 1_000),
    created_ms,
    ledger_layout: LedgerLayout.book_of_record,
    origin: TransferOrigin.projected,
  };
}
