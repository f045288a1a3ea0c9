import { assert, currentSpanContext, isAssertionError, recordFailure, startBatchSpan, tracingEnabled, type Span, type SpanContext } from '@paygrid/kernel';
import { compareResolutions, encodeSealedBatch, hashSealedBytes, sealAccount, type SealedBatch } from './codec';
import type { CreateAccountResult, CreateTransferResult } from './results';
import { LedgerStateMachine, timestamps_consecutive, type BatchEffects, type ImportedEvent, type TimestampSpacing } from './state-machine';
import type { BatchCommit, LedgerStore, StoredTransfer } from './store';
import { AccountFlags, batch_events_max, pendingExpiresAt, type Account, type AccountEvent, type TransferEvent } from './types';

/** setTimeout's largest delay; a later expiry simply re-arms the timer when it fires. */
const timer_delay_max_ms = 2_147_483_647;

/** How long the writer gathers concurrent requests before it applies them, at most. */
export const batch_wait_ms_default = 1;
/** One database transaction carries at most this many events, gathered from many requests. */
export const commit_events_max = batch_events_max * 4;
/** Queued events below which the writer does not split the queue to start its pipeline. */
export const pipeline_split_events_min = 1024;
/** Requests waiting for the writer, at most; past this the writer refuses new work. */
export const queue_events_max = commit_events_max * 16;
/** Between attempts to take the fence again and reload, while the store cannot be reached. */
export const recover_retry_ms = 500;

export interface WriterClock {
  /** Wall-clock time in nanoseconds since the Unix epoch. */
  nowNs(): bigint;
}

export const system_clock: WriterClock = {
  nowNs: () => BigInt(Date.now()) * 1_000_000n,
};

export class LedgerUnavailableError extends Error {
  override name = 'LedgerUnavailableError';
}

/**
 * A request named an account that this shard's writer does not own under its shard map: the
 * router that sent it holds another map. Nothing was applied; route again with the current map.
 */
export class ShardOwnershipError extends LedgerUnavailableError {
  override name = 'ShardOwnershipError';
}

/** Which accounts a shard's writer may touch: its own under the shard map, and its clearing accounts. */
export interface WriterOwnership {
  owns(account_id: bigint): boolean;
  /** This shard's clearing accounts: stand-ins for other shards, never closed by a transfer. */
  isClearingAccount(account_id: bigint): boolean;
}

/**
 * What a held writer shows its coordinator: copies of the accounts asked for (those it has) and
 * the transfers asked for with their pending status (those it has), read while nothing can change
 * them, and the last timestamp it committed.
 */
export interface WriterView {
  readonly accounts: Account[];
  readonly transfers: StoredTransfer[];
  readonly commit_timestamp: bigint;
}

/**
 * A writer stopped between two batches for a coordinator, which may write one batch of imported
 * events through it with two-phase commit. The writer takes no other batch until `release`.
 */
export interface WriterHold {
  readonly view: WriterView;
  /**
   * Applies `events` as decided (see `LedgerStateMachine.importEvents`) in a batch spanning
   * [timestamp_first, timestamp_last], and writes it as the prepared transaction `gid`.
   * On failure nothing is prepared for certain only if the store said so; the caller finishes
   * `gid` either way, and the writer has reloaded its state.
   */
  prepare(gid: string, timestamp_first: bigint, timestamp_last: bigint, events: readonly ImportedEvent[]): Promise<void>;
  /** Commits or rolls back what `prepare` wrote; after a rollback the writer reloads its state. */
  finish(outcome: 'commit' | 'rollback'): Promise<void>;
  /** Lets the writer go on with its queue. Call once, after `finish` if `prepare` was called. */
  release(): void;
}

// `caller` is the span the request came from (undefined with tracing off), which the batch span
// takes as parent or link.
type Request =
  | { kind: 'accounts'; events: readonly AccountEvent[]; resolve: (results: CreateAccountResult[]) => void; reject: (error: Error) => void; caller?: SpanContext }
  | { kind: 'transfers'; events: readonly TransferEvent[]; resolve: (results: CreateTransferResult[]) => void; reject: (error: Error) => void; caller?: SpanContext };
type HoldRequest = {
  kind: 'hold';
  events: readonly [];
  account_ids: readonly bigint[];
  transfer_ids: readonly bigint[];
  resolve: (hold: WriterHold) => void;
  reject: (error: Error) => void;
};
type QueuedRequest = Request | HoldRequest;

export interface WriterMetrics {
  /** After a batch is durable: its events, its requests, the seconds from taking it to its commit, and the transfers it created. */
  observeBatch(events: number, requests: number, commit_seconds: number, transfers_created: number): void;
}

export interface LedgerWriterOptions {
  readonly store: LedgerStore;
  readonly clock?: WriterClock;
  readonly batch_wait_ms?: number;
  /**
   * Wake up when the next pending transfer expires, to release it on time even when no request
   * comes. Tests that drive the clock by hand turn this off so that only their batches run.
   */
  readonly expiry_wake_up?: boolean;
  readonly metrics?: WriterMetrics;
  readonly log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  /** How this writer numbers events: a shard of a sharded ledger has a residue of its own. */
  readonly timestamp_spacing?: TimestampSpacing;
  /** A shard's writer refuses requests that name accounts of other shards. */
  readonly ownership?: WriterOwnership;
  /**
   * Runs once the fence is first held and before the state is loaded: a sharded ledger finishes
   * the two-phase commits a crashed coordinator left prepared there, so the load sees their outcome.
   */
  readonly before_load?: () => Promise<void>;
}

/**
 * The single writer of one ledger database. Concurrent requests queue here; the writer gathers
 * them for at most `batch_wait_ms`, prefetches the transfers they reference, applies them in
 * memory, commits the whole batch in one database transaction, and only then answers. Nothing is
 * acknowledged before it is durable, and a failed commit answers every request in the batch with
 * an error and reloads the state from the store, so memory never runs ahead of disk.
 */
export class LedgerWriter {
  private state: LedgerStateMachine;
  private readonly store: LedgerStore;
  private readonly timestamp_spacing: TimestampSpacing;
  private readonly ownership: WriterOwnership | undefined;
  private readonly before_load: (() => Promise<void>) | undefined;
  private readonly clock: WriterClock;
  private readonly batch_wait_ms: number;
  private readonly expiry_wake_up: boolean;
  private readonly metrics: WriterMetrics | undefined;
  private readonly log: NonNullable<LedgerWriterOptions['log']>;
  private queue: QueuedRequest[] = [];
  private queued_events = 0;
  private running = false;
  private started = false;
  private stopping = false;
  /** Between losing the fence (or a failed commit) and holding it again with the state reloaded. */
  private recovering = false;
  private last_batch_id = 0n;
  /** The batch being written, resolving to whether it committed. */
  private in_flight: Promise<boolean> | undefined;
  /** Whether the store is writing a batch right now (`in_flight` may have finished already). */
  private committing = false;
  /** Wakes a drain that waits on a commit when new work arrives. */
  private on_arrival: (() => void) | undefined;
  /** Batches are numbered as they are applied; `touched` maps a transfer to the last one that read or wrote it. */
  private applied_sequence = 0;
  private committed_sequence = 0;
  private readonly touched = new Map<bigint, number>();
  /**
   * At least the largest transfer id in the store: an event whose id is above it is new, with no
   * need to ask the store. Ids that grow with time (as TigerBeetle recommends, for the same
   * reason) then cost no lookup at all; random ids lose nothing. It is raised when a batch is
   * sealed, so after a failed commit it may run ahead of the store, which keeps it a bound.
   */
  private transfer_id_max = 0n;
  private last_hash: Buffer = Buffer.alloc(32);
  private expiry_timer: NodeJS.Timeout | undefined;
  private idle: Promise<void> = Promise.resolve();
  private idle_resolve: (() => void) | undefined;

  constructor(options: LedgerWriterOptions) {
    this.store = options.store;
    this.clock = options.clock ?? system_clock;
    this.batch_wait_ms = options.batch_wait_ms ?? batch_wait_ms_default;
    this.expiry_wake_up = options.expiry_wake_up ?? true;
    this.metrics = options.metrics;
    this.log = options.log ?? (() => undefined);
    this.timestamp_spacing = options.timestamp_spacing ?? timestamps_consecutive;
    this.ownership = options.ownership;
    this.before_load = options.before_load;
    this.state = new LedgerStateMachine(this.timestamp_spacing);
  }

  /** Becomes the writer (waiting for the fence if another writer holds it) and loads the state. */
  async start(): Promise<void> {
    assert(!this.started, 'the writer is already started');
    await this.acquireWriter();
    if (this.before_load !== undefined) await this.before_load();
    await this.reload();
    this.started = true;
    this.scheduleExpiry();
  }

  createAccounts(events: readonly AccountEvent[]): Promise<CreateAccountResult[]> {
    return new Promise((resolve, reject) => this.enqueue({ kind: 'accounts', events, resolve, reject, caller: currentSpanContext() }));
  }

  createTransfers(events: readonly TransferEvent[]): Promise<CreateTransferResult[]> {
    return new Promise((resolve, reject) => this.enqueue({ kind: 'transfers', events, resolve, reject, caller: currentSpanContext() }));
  }

  /**
   * Stops the writer after the requests queued before this one have committed, and shows the
   * accounts and transfers asked for as they are then; nothing changes them until the hold is
   * released. A sharded ledger's coordinator decides transfers between shards this way.
   */
  hold(account_ids: readonly bigint[], transfer_ids: readonly bigint[]): Promise<WriterHold> {
    return new Promise((resolve, reject) => this.enqueue({ kind: 'hold', events: [], account_ids, transfer_ids, resolve, reject }));
  }

  /** At least the largest transfer id this writer's ledger holds (see `transfer_id_max` below). */
  get transferIdMax(): bigint {
    return this.transfer_id_max;
  }

  /**
   * Whether the writer can commit now: started, not stopping, holding the fence, and not in the
   * middle of reloading after a failure. Readiness says so; writes meanwhile are refused at once.
   */
  get holdsFence(): boolean {
    return this.started && !this.stopping && !this.recovering && this.store.holdsWriter();
  }

  /** Stops taking work and waits for the batch in flight and everything queued to commit. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.expiry_timer);
    while (this.running || this.queue.length > 0) await this.idle;
  }

  private enqueue(request: QueuedRequest): void {
    if (!this.started || this.stopping) {
      request.reject(new LedgerUnavailableError('the ledger writer is not running'));
      return;
    }
    // Without the fence nothing can be written; the caller retries with the same ids rather than
    // wait here for a database that may be gone for long.
    if (!this.store.holdsWriter()) {
      request.reject(new LedgerUnavailableError('the ledger writer lost its database connection and with it its fence; it is taking it again'));
      return;
    }
    assert(request.events.length <= batch_events_max, 'requests are validated before they reach the writer');
    const stranger = this.strangerAccount(request);
    if (stranger !== undefined) {
      request.reject(new ShardOwnershipError(`account ${stranger} does not belong to this ledger shard under its shard map`));
      return;
    }
    if (this.queued_events + request.events.length > queue_events_max) {
      request.reject(new LedgerUnavailableError('the ledger writer is overloaded; retry later'));
      return;
    }
    this.queue.push(request);
    this.queued_events += request.events.length;
    this.on_arrival?.();
    // Gathering for a moment lets concurrent requests share one commit.
    this.kick(this.batch_wait_ms);
  }

  /** The first account a request names that this shard does not own, if the writer is a shard's. */
  private strangerAccount(request: QueuedRequest): bigint | undefined {
    const ownership = this.ownership;
    if (ownership === undefined) return undefined;
    const foreign = (id: bigint): boolean => id !== 0n && !ownership.owns(id) && !ownership.isClearingAccount(id);
    if (request.kind === 'accounts') return request.events.find((event) => foreign(event.id))?.id;
    if (request.kind === 'transfers') {
      for (const event of request.events) {
        if (foreign(event.debit_account_id)) return event.debit_account_id;
        if (foreign(event.credit_account_id)) return event.credit_account_id;
      }
    }
    return undefined;
  }

  private kick(delay_ms: number): void {
    if (this.running) return;
    this.running = true;
    this.idle = new Promise((resolve) => (this.idle_resolve = resolve));
    // No wait means the next turn of the event loop, which still gathers the requests made
    // together: a timer of 0 ms waits a whole millisecond in Node.js.
    if (delay_ms === 0) setImmediate(() => void this.drain());
    else setTimeout(() => void this.drain(), delay_ms);
  }

  /**
   * Applies batch after batch, pipelined two deep: while batch K is being written, batch K+1 is
   * prefetched and applied in memory (its commit waits for K's). Requests are answered only when
   * their own batch has committed, and a failed commit fails every batch applied after it too.
   */
  private async drain(): Promise<void> {
    try {
      // Woken because the fence was lost: take it again before anything else.
      if (!this.store.holdsWriter()) await this.recover();
      // Woken by the expiry timer with nothing queued: an empty batch expires what is due.
      if (this.queue.length === 0) await this.runBatch([]);
      for (;;) {
        while (this.queue.length > 0) {
          const next = this.queue[0];
          if (next?.kind === 'hold') {
            this.queue.shift();
            await this.serveHold(next);
          } else {
            await this.runBatch(this.takeBatch());
          }
        }
        if (this.in_flight === undefined) break;
        // While the last batch is written, a request that arrives is applied at once, on top.
        const arrival = new Promise<void>((resolve) => (this.on_arrival = resolve));
        await Promise.race([this.in_flight, arrival]);
        this.on_arrival = undefined;
        if (this.queue.length > 0) continue;
        await this.settleCommit();
        // Answering that batch may have brought new requests while `running` kept them from
        // starting a drain of their own.
        if (this.queue.length === 0) break;
      }
    } finally {
      this.running = false;
      this.idle_resolve?.();
      this.scheduleExpiry();
      // The fence may have been lost while this drain ran and had no failure to notice it by.
      if (!this.stopping && this.started && !this.store.holdsWriter()) this.kick(0);
    }
  }

  /**
   * Takes the store's fence; if it is lost later (PostgreSQL restarted and ended the writer's
   * connection), the writer takes it again at once, not at the next write, which would fail first.
   */
  private async acquireWriter(): Promise<void> {
    await this.store.acquireWriter(
      (message) => this.log('warn', message),
      () => {
        if (!this.started || this.stopping) return;
        this.log('warn', 'the ledger writer lost its fence (its database connection ended); taking it again');
        this.kick(0);
      },
    );
  }

  /**
   * Takes the next batch off the queue. With no commit in flight, it takes only about half of what
   * waits: the other half is then applied while the first half commits, and the pipeline stays
   * full from then on instead of alternating between applying everything and writing everything.
   * Small queues are not split: applying them takes less time than the extra commit would.
   */
  private takeBatch(): Request[] {
    const taken: Request[] = [];
    const events_max = !this.committing && this.queue.length > 1 && this.queued_events >= pipeline_split_events_min ? Math.ceil(this.queued_events / 2) : commit_events_max;
    let events = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0];
      assert(next !== undefined);
      // A hold waits for everything queued before it, and nothing queued after it goes first.
      if (next.kind === 'hold') break;
      if (taken.length > 0 && events + next.events.length > Math.min(events_max, commit_events_max)) break;
      this.queue.shift();
      taken.push(next);
      events += next.events.length;
    }
    this.queued_events -= events;
    return taken;
  }

  private async runBatch(requests: readonly Request[]): Promise<void> {
    const event_count = requests.reduce((sum, request) => sum + request.events.length, 0);
    const started_at = process.hrtime.bigint();
    let results: unknown[];
    let commit: BatchCommit | undefined;
    const sequence = ++this.applied_sequence;
    // From the first request's span to the commit: parented by the first traced request, linked to
    // the others. An empty batch (the expiry timer's) would only be a trace of one span.
    const span = tracingEnabled() && requests.length > 0
      ? startBatchSpan('ledger batch', requests.map((request) => request.caller), { 'paygrid.ledger.batch.events': event_count, 'paygrid.ledger.batch.requests': requests.length })
      : undefined;
    try {
      await this.prefetch(requests, sequence);
      const state = this.state;
      state.beginBatch(this.clock.nowNs(), event_count);
      results = requests.map((request) =>
        request.kind === 'accounts' ? state.createAccounts(request.events) : state.createTransfers(request.events),
      );
      commit = this.seal(state.endBatch(), sequence);
    } catch (error) {
      // A failed assertion is a bug, not a storage failure: let it end the process.
      if (isAssertionError(error)) throw error;
      endBatchSpan(span, error);
      this.failRequests(requests, error);
      // A failed batch in flight has reloaded the state already; otherwise reload it here.
      if (await this.settleCommit()) await this.recover();
      return;
    }
    // The previous batch must be on disk before this one is written after it. If it failed, this
    // batch was applied on top of state that never reached the disk: it fails too, and the state
    // has been reloaded.
    if (!(await this.settleCommit())) {
      const failure = new Error('an earlier batch failed to commit');
      endBatchSpan(span, failure);
      this.failRequests(requests, failure);
      return;
    }
    // Stores may fail synchronously (better-sqlite3 does); either way it becomes a rejection here.
    this.committing = commit !== undefined;
    const writing = commit === undefined ? Promise.resolve() : Promise.resolve(commit).then((batch) => this.store.commit(batch));
    this.in_flight = writing.then(
      () => {
        this.committing = false;
        this.committed_sequence = sequence;
        this.evict();
        this.metrics?.observeBatch(event_count, requests.length, Number(process.hrtime.bigint() - started_at) / 1e9, commit?.sealed.transfers.length ?? 0);
        endBatchSpan(span, undefined);
        requests.forEach((request, index) => {
          const result = results[index];
          // Each request's results line up with its events; the casts only restore the pairing
          // that the union of request kinds loses.
          if (request.kind === 'accounts') request.resolve(result as CreateAccountResult[]);
          else request.resolve(result as CreateTransferResult[]);
        });
        return true;
      },
      (error: unknown) => {
        this.committing = false;
        endBatchSpan(span, error);
        this.failRequests(requests, error);
        return false;
      },
    );
  }

  /**
   * Serves one hold: the batch in flight is committed first, then the coordinator reads, and may
   * prepare one batch, while this drain waits for its release.
   */
  private async serveHold(request: HoldRequest): Promise<void> {
    let view: WriterView;
    try {
      // An empty batch first expires what is due by now, so that the view shows no pending
      // transfer, and no account it closed, that the coordinator's batch would find expired.
      await this.runBatch([]);
      await this.settleCommit();
      view = await this.viewOf(request.account_ids, request.transfer_ids);
    } catch (error) {
      if (isAssertionError(error)) throw error;
      request.reject(new LedgerUnavailableError(`the ledger shard could not be read: ${error instanceof Error ? error.message : String(error)}`));
      return;
    }
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let prepared: { gid: string; sequence: number } | undefined;
    let finished = false;
    let released_once = false;
    const hold: WriterHold = {
      view,
      prepare: async (gid, timestamp_first, timestamp_last, events) => {
        assert(!released_once && prepared === undefined, 'a hold prepares one batch, before its release');
        assert(events.length > 0, 'a shard with nothing to import is released, not prepared');
        const sequence = ++this.applied_sequence;
        const state = this.state;
        state.beginImportBatch(timestamp_first, timestamp_last);
        state.importEvents(events, (id) => this.ownership?.isClearingAccount(id) !== true);
        const commit = this.seal(state.endBatch(), sequence);
        assert(commit !== undefined, 'an import batch changes the ledger');
        prepared = { gid, sequence };
        try {
          await this.store.prepare(commit, gid);
        } catch (error) {
          // Memory holds the batch; the disk may or may not. The coordinator rolls `gid` back.
          finished = true;
          await this.recover();
          throw error;
        }
      },
      finish: async (outcome) => {
        assert(prepared !== undefined && !finished, 'finish follows one prepare');
        const { gid, sequence } = prepared;
        const answer = await this.store.finishPrepared(gid, outcome);
        finished = true;
        if (outcome === 'rollback') {
          await this.recover();
          return;
        }
        if (answer === 'absent') throw new Error(`the prepared ledger batch ${gid} was committed by a decision, but is no longer prepared`);
        this.committed_sequence = sequence;
        this.evict();
      },
      release: () => {
        assert(!released_once, 'a hold is released once');
        assert(prepared === undefined || finished, 'a prepared hold is finished before its release');
        released_once = true;
        release();
      },
    };
    request.resolve(hold);
    await released;
  }

  /** Copies of what a hold shows: nothing it returns is the writer's own object. */
  private async viewOf(account_ids: readonly bigint[], transfer_ids: readonly bigint[]): Promise<WriterView> {
    const state = this.state;
    const sequence = this.applied_sequence;
    const missing = (id: bigint): boolean => id !== 0n && id <= this.transfer_id_max && !state.transfers.has(id);
    const load = async (ids: readonly bigint[]): Promise<void> => {
      const wanted = [...new Set(ids.filter(missing))];
      if (wanted.length === 0) return;
      for (const { transfer, status } of await this.store.prefetchTransfers(wanted)) {
        state.transfers.set(transfer.id, transfer);
        this.touched.set(transfer.id, sequence);
        if (status !== undefined) state.pending_status.set(transfer.id, status);
      }
    };
    await load(transfer_ids);
    // A post or void names its pending transfer, which the exists check reads.
    await load(transfer_ids.map((id) => state.transfers.get(id)?.pending_id ?? 0n));
    const transfers: StoredTransfer[] = [];
    const shown = new Set<bigint>();
    const show = (id: bigint): void => {
      const transfer = state.transfers.get(id);
      if (transfer === undefined || shown.has(id)) return;
      shown.add(id);
      transfers.push({ transfer, status: state.pending_status.get(id) });
    };
    for (const id of transfer_ids) {
      show(id);
      show(state.transfers.get(id)?.pending_id ?? 0n);
    }
    const accounts: Account[] = [];
    for (const id of new Set(account_ids)) {
      const account = state.accounts.get(id);
      if (account !== undefined) accounts.push({ ...account });
    }
    return { accounts, transfers, commit_timestamp: state.commit_timestamp };
  }

  /** Waits for the batch being written, if any; false if it failed (memory is then ahead of disk). */
  private async settleCommit(): Promise<boolean> {
    const in_flight = this.in_flight;
    this.in_flight = undefined;
    if (in_flight === undefined) return true;
    const committed = await in_flight;
    if (!committed) await this.recover();
    return committed;
  }

  private failRequests(requests: readonly Request[], error: unknown): void {
    const reason = error instanceof Error ? error.message : String(error);
    this.log('error', 'ledger batch failed to commit; reloading state from the store', { error: reason });
    for (const request of requests) request.reject(new LedgerUnavailableError(`the ledger could not commit: ${reason}`));
  }

  /** Loads every transfer the batch may reference that is not already in memory. */
  private async prefetch(requests: readonly Request[], sequence: number): Promise<void> {
    const state = this.state;
    const wanted = new Set<bigint>();
    for (const request of requests) {
      if (request.kind !== 'transfers') continue;
      for (const event of request.events) {
        if (event.id <= this.transfer_id_max && !state.transfers.has(event.id)) wanted.add(event.id);
        if (event.pending_id !== 0n && event.pending_id <= this.transfer_id_max && !state.transfers.has(event.pending_id)) wanted.add(event.pending_id);
      }
    }
    if (wanted.size === 0) return;
    const found = await this.store.prefetchTransfers([...wanted]);
    // A post or void that exists already names its pending transfer, which the exists check reads.
    const referenced = new Set<bigint>();
    for (const { transfer, status } of found) {
      state.transfers.set(transfer.id, transfer);
      this.touched.set(transfer.id, sequence);
      if (status !== undefined) state.pending_status.set(transfer.id, status);
      if (transfer.pending_id !== 0n && !state.transfers.has(transfer.pending_id)) referenced.add(transfer.pending_id);
    }
    if (referenced.size === 0) return;
    for (const { transfer, status } of await this.store.prefetchTransfers([...referenced])) {
      state.transfers.set(transfer.id, transfer);
      this.touched.set(transfer.id, sequence);
      if (status !== undefined) state.pending_status.set(transfer.id, status);
    }
  }

  /**
   * Turns a batch's effects into the values to write, copied now: the next batch will change the
   * same accounts in memory before this one is on disk. Returns nothing for a batch that changed
   * nothing.
   */
  private seal(effects: BatchEffects, sequence: number): BatchCommit | undefined {
    for (const transfer of effects.transfers_created) {
      this.touched.set(transfer.id, sequence);
      if (transfer.id > this.transfer_id_max) this.transfer_id_max = transfer.id;
    }
    for (const resolution of effects.pending_resolved) this.touched.set(resolution.id, sequence);
    const changed = effects.accounts_created.length + effects.transfers_created.length + effects.pending_resolved.length > 0;
    if (!changed) return undefined;
    const sealed: SealedBatch = {
      id: this.last_batch_id + 1n,
      timestamp_first: effects.timestamp_first,
      timestamp_last: effects.timestamp_last,
      accounts: effects.accounts_created.map(({ account, created_flags }) => sealAccount(account, created_flags)),
      transfers: effects.transfers_created,
      resolutions: [...effects.pending_resolved].sort(compareResolutions),
    };
    const sealed_bytes = encodeSealedBatch(this.last_hash, sealed);
    const hash = hashSealedBytes(sealed_bytes);
    const accounts = this.state.accounts;
    const accountKey = (id: bigint): bigint => {
      const account = accounts.get(id);
      assert(account !== undefined, 'a committed transfer names an account the writer does not hold');
      return account.timestamp;
    };
    const commit: BatchCommit = {
      sealed,
      sealed_bytes,
      previous_hash: this.last_hash,
      hash,
      balances: [...new Set([...effects.accounts_created.map(({ account }) => account), ...effects.accounts_touched])].map((account) => ({
        account_key: account.timestamp,
        debits_pending: account.debits_pending,
        debits_posted: account.debits_posted,
        credits_pending: account.credits_pending,
        credits_posted: account.credits_posted,
        closed: (account.flags & AccountFlags.closed) !== 0,
      })),
      history: effects.balances,
      transfer_account_keys: effects.transfers_created.map((transfer) => [accountKey(transfer.debit_account_id), accountKey(transfer.credit_account_id)] as const),
    };
    // The chain moves on now; a failed commit reloads both from the store.
    this.last_batch_id = sealed.id;
    this.last_hash = hash;
    return commit;
  }

  /**
   * Keeps memory bounded: once a batch is on disk, the transfers it read or wrote leave the
   * working set, unless they are still pending or a later batch, not yet on disk, touched them
   * (the store does not know that batch's changes yet, so memory must keep them).
   */
  private evict(): void {
    const state = this.state;
    for (const [id, sequence] of this.touched) {
      if (sequence > this.committed_sequence) continue;
      this.touched.delete(id);
      if (state.pending_status.get(id) === 'pending') continue;
      state.transfers.delete(id);
      state.pending_status.delete(id);
    }
  }

  private async reload(): Promise<void> {
    const loaded = await this.store.load();
    const state = new LedgerStateMachine(this.timestamp_spacing);
    for (const account of loaded.accounts) state.accounts.set(account.id, account);
    for (const transfer of loaded.pending) {
      state.transfers.set(transfer.id, transfer);
      state.pending_status.set(transfer.id, 'pending');
      if (transfer.timeout > 0) state.expiry_queue.push(transfer.id, pendingExpiresAt(transfer));
    }
    state.commit_timestamp = loaded.commit_timestamp;
    this.transfer_id_max = loaded.transfer_id_max;
    this.state = state;
    this.touched.clear();
    this.committed_sequence = this.applied_sequence;
    this.last_batch_id = loaded.last_batch_id;
    this.last_hash = loaded.last_hash;
  }

  /**
   * Takes the fence again (a no-op while it is held) and reloads the state from the store, until
   * both succeed with the fence still held at the end, or the writer stops.
   */
  private async recover(): Promise<void> {
    this.recovering = true;
    try {
      for (;;) {
        try {
          await this.acquireWriter();
          await this.reload();
          // Lost again while reloading: the state read may be fine, but no commit could follow it.
          if (this.store.holdsWriter()) {
            this.log('info', 'the ledger writer holds its fence and has reloaded its state');
            return;
          }
        } catch (error) {
          this.log('error', 'ledger writer could not take its fence or reload; retrying', { error: error instanceof Error ? error.message : String(error) });
        }
        if (this.stopping) return;
        await new Promise((resolve) => setTimeout(resolve, recover_retry_ms));
        if (this.stopping) return;
      }
    } finally {
      this.recovering = false;
    }
  }

  /** Wakes the writer when the next pending transfer expires, so balances release on time. */
  private scheduleExpiry(): void {
    clearTimeout(this.expiry_timer);
    if (this.stopping || this.running || !this.expiry_wake_up) return;
    const next = this.state.nextExpiry();
    if (next === undefined) return;
    const delay_ms = Number((next - this.clock.nowNs()) / 1_000_000n) + 1;
    this.expiry_timer = setTimeout(() => this.kick(0), Math.min(Math.max(delay_ms, 0), timer_delay_max_ms));
    this.expiry_timer.unref();
  }

  /** The in-memory accounts, read-only: for tests and the memory benchmark. */
  get accounts(): ReadonlyMap<bigint, Readonly<Account>> {
    return this.state.accounts;
  }
}

/** Ends a batch's span (when tracing made one), failed when `error` is given. */
function endBatchSpan(span: Span | undefined, error: unknown): void {
  if (span === undefined) return;
  if (error !== undefined) recordFailure(span, error);
  span.end();
}
