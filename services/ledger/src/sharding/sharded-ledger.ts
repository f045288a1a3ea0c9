// The ledger over several PostgreSQL databases ("shards"), each with its own single writer.
//
// Every account lives on the shard its id hashes to on the ring (ring.ts). A request whose events
// all stay on one shard goes to that shard's writer as it is. Everything else (a transfer between
// two shards, a linked chain across shards, a request whose events need each other across shards)
// goes through the coordinator here, in rounds: the coordinator holds the writers of the shards a
// round touches (each stops between two batches), runs the ledger's own rules over copies of their
// accounts and transfers in one state machine, exactly as a single ledger would, and hands each
// shard what was decided for it. A transfer between shards becomes two legs, one per shard, against
// clearing accounts (clearing.ts). Each shard writes its part as a prepared PostgreSQL transaction;
// once every shard has prepared, the decision is logged (decision-log.ts) and the prepared
// transactions are committed. Only then are the round's requests answered.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { assert, createPostgresPool } from '@paygrid/kernel';
import { ledger_schema_default, migrateLedgerStore } from '../open';
import type { CreateAccountResult, CreateTransferResult, EventResult } from '../results';
import { LedgerService, type LedgerClient, type LedgerServiceOptions } from '../service';
import { LedgerStateMachine, type ImportedEvent } from '../state-machine';
import type { AccountFilter, LedgerStore, QueryFilter, StoredAccount, StoredTransfer } from '../store';
import { PostgresLedgerStore } from '../store-postgres';
import { AccountFlags, TransferFlags, hasFlag, pendingExpiresAt, type AccountBalance, type AccountEvent, type Transfer, type TransferEvent } from '../types';
import { WireRangeError } from '../wire';
import { LedgerUnavailableError, system_clock, type WriterClock, type WriterHold } from '../writer';
import { clearing_id_prefix, clearingAccountEvent, isClearingAccountId, legsOf, mergeLegs, otherLegShard, parseClearingAccountId } from './clearing';
import { DecisionLog, gidOf, gidPrefix, roundOfGid } from './decision-log';
import { HashRing, type ShardMap } from './ring';
import { verifyShards, type ShardedVerifyReport } from './verify-shards';
import { claimShardIdentity, latestShardMap, migrateShardMapStore, readLedgerIdentity, saveShardMap } from './shard-map-store';

/** The coordinator's schema, in the first shard's database: the shard map and the decision log. */
export const coordinator_schema_default = 'paygrid_ledger_coordinator';
/**
 * Timestamps of a sharded ledger step by this much: the coordinator takes residue 0 and shard i
 * residue i + 1, so no two events of the whole ledger share a timestamp (15 shards at most).
 */
export const timestamp_stride = 16n;
/** One round decides at most this many events, gathered from many requests. */
export const round_events_max = 8190;
/** A round retried because it needed clearing accounts that did not exist yet, at most this often. */
const round_attempts_max = 3;
/** Between attempts to finish a decided round's prepared transactions, while a shard cannot be reached. */
const finish_retry_ms = 200;

/**
 * Where a test kills the coordinator (SIGKILL) to prove recovery: after the first shard prepared,
 * after all prepared, after the decision is logged, after the first shard committed.
 */
export type TwoPhaseFailpoint = 'after_first_prepare' | 'after_all_prepares' | 'after_decision' | 'after_first_commit';
export const two_phase_failpoints: readonly TwoPhaseFailpoint[] = ['after_first_prepare', 'after_all_prepares', 'after_decision', 'after_first_commit'];

export interface ShardedLedgerOptions {
  /** One PostgreSQL URL per shard, in the order the shards were created (`LEDGER_SHARD_URLS`). */
  readonly shard_urls: readonly string[];
  /** The ledger's schema in every shard's database. */
  readonly schema?: string;
  readonly coordinator_schema?: string;
  readonly migrate: boolean;
  /** Virtual nodes per shard on the ring of a new ledger; an existing ledger keeps its map's. */
  readonly virtual_nodes?: number;
  readonly writer?: Omit<LedgerServiceOptions, 'ownership' | 'timestamp_spacing' | 'before_load'>;
  readonly clock?: WriterClock;
  /** Tests only: kill this process at `point` of the `round`-th round that commits (counting from 1). */
  readonly failpoint?: { readonly point: TwoPhaseFailpoint; readonly round: number };
  readonly log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

interface Shard {
  readonly index: number;
  readonly store: LedgerStore;
  readonly service: LedgerService;
}

type RoundUnit =
  | { readonly kind: 'accounts'; readonly events: readonly AccountEvent[]; readonly resolve: (results: CreateAccountResult[]) => void; readonly reject: (error: Error) => void }
  | { readonly kind: 'transfers'; readonly events: readonly TransferEvent[]; readonly resolve: (results: CreateTransferResult[]) => void; readonly reject: (error: Error) => void };

/** What `recoverPrepared` found and did, per shard. */
export interface RecoveryReport {
  readonly committed: number;
  readonly rolled_back: number;
}

export class ShardedLedger implements LedgerClient {
  private readonly ring: HashRing;
  private readonly shards: readonly Shard[];
  private readonly decisions: DecisionLog;
  private readonly coordinator_pool: pg.Pool;
  private readonly ledger_id: string;
  private readonly clock: WriterClock;
  private readonly failpoint: ShardedLedgerOptions['failpoint'];
  private readonly log: NonNullable<ShardedLedgerOptions['log']>;
  /** Ids of transfers some request is creating now: a second request with one of them waits. */
  private readonly ids_in_flight = new Map<bigint, Promise<void>>();
  private readonly clearing_known = new Set<bigint>();
  private round_queue: RoundUnit[] = [];
  private round_running = false;
  private round_idle: Promise<void> = Promise.resolve();
  /** Random per process, so that two coordinators' rounds never share a transaction id. */
  private readonly round_nonce = randomBytes(4).toString('hex');
  private round_counter = 0;
  /** Rounds whose prepared transactions have all been committed: their decisions may go. */
  private finished_rounds: string[] = [];
  private last_round_timestamp = 0n;
  private closed = false;
  /** The recovery done at open, for tests and the log. */
  readonly recovered: RecoveryReport;

  private constructor(fields: {
    ring: HashRing;
    shards: Shard[];
    decisions: DecisionLog;
    coordinator_pool: pg.Pool;
    ledger_id: string;
    options: ShardedLedgerOptions;
    recovered: RecoveryReport;
  }) {
    this.ring = fields.ring;
    this.shards = fields.shards;
    this.decisions = fields.decisions;
    this.coordinator_pool = fields.coordinator_pool;
    this.ledger_id = fields.ledger_id;
    this.clock = fields.options.clock ?? system_clock;
    this.failpoint = fields.options.failpoint;
    this.log = fields.options.log ?? (() => undefined);
    this.recovered = fields.recovered;
  }

  /**
   * Opens every shard: reads (or makes) the shard map, checks each database is the shard its
   * position says, takes every shard's writer fence, finishes whatever two-phase commits a
   * crashed coordinator left prepared, and only then loads each shard's state.
   */
  static async open(options: ShardedLedgerOptions): Promise<ShardedLedger> {
    const urls = options.shard_urls;
    if (urls.length === 0) throw new Error('a sharded ledger needs at least one shard URL');
    const schema = options.schema ?? ledger_schema_default;
    const log = options.log ?? (() => undefined);
    const first_url = urls[0];
    assert(first_url !== undefined);
    const coordinator_pool = createPostgresPool({ url: first_url, schema: options.coordinator_schema ?? coordinator_schema_default, max: 2 });
    const opened: Shard[] = [];
    try {
      if (options.migrate) await migrateShardedLedger(options);
      const ledger_id = await readLedgerIdentity(coordinator_pool);
      const map = await shardMapFor(coordinator_pool, urls.length, options.virtual_nodes);
      const ring = new HashRing(map);
      const decisions = new DecisionLog(coordinator_pool);

      const stores = await Promise.all(
        urls.map(async (url, position) => {
          const shard_index = map.shard_indexes[position];
          assert(shard_index !== undefined);
          const pool = createPostgresPool({ url, schema, max: 4 });
          try {
            await claimShardIdentity(pool, ledger_id, shard_index);
          } catch (error) {
            await pool.end();
            throw error;
          }
          return { shard_index, store: new PostgresLedgerStore({ pool, schema, url, owns_pool: true }) };
        }),
      );

      // Every writer takes its fence, then waits here until all have theirs and the prepared
      // transactions are finished; a fence held on every shard means no other coordinator runs.
      let arrived = 0;
      let recovered: RecoveryReport = { committed: 0, rolled_back: 0 };
      let all_arrived: () => void = () => undefined;
      const all_fences = new Promise<void>((resolve) => (all_arrived = resolve));
      const recovery = all_fences.then(async () => {
        recovered = await recoverPrepared(stores.map(({ store }) => store), decisions, ledger_id, log);
      });
      const services = await Promise.all(
        stores.map(({ shard_index, store }) =>
          LedgerService.open(store, {
            ...options.writer,
            ...(options.clock === undefined ? {} : { clock: options.clock }),
            timestamp_spacing: { stride: timestamp_stride, residue: BigInt(shard_index + 1) },
            ownership: {
              owns: (id) => ring.shardOf(id) === shard_index,
              isClearingAccount: (id) => parseClearingAccountId(id)?.own === shard_index,
            },
            before_load: async () => {
              arrived += 1;
              if (arrived === stores.length) all_arrived();
              await recovery;
            },
          }).then((service) => {
            opened.push({ index: shard_index, store, service });
            return { index: shard_index, store, service };
          }),
        ),
      );
      if (recovered.committed + recovered.rolled_back > 0) log('warn', 'finished two-phase commits a stopped coordinator left prepared', { ...recovered });
      return new ShardedLedger({ ring, shards: services, decisions, coordinator_pool, ledger_id, options, recovered });
    } catch (error) {
      for (const shard of opened) await shard.service.close().catch(() => undefined);
      await coordinator_pool.end().catch(() => undefined);
      throw error;
    }
  }

  /** The shard map this ledger routes by. */
  get shardMap(): ShardMap {
    return this.ring.map;
  }

  shardOf(account_id: bigint): number {
    return this.ring.shardOf(account_id);
  }

  // -- Writes --------------------------------------------------------------------------------

  async createAccounts(events: readonly AccountEvent[]): Promise<EventResult<CreateAccountResult>[]> {
    const reserved = events.find((event) => isClearingAccountId(event.id));
    if (reserved !== undefined) throw new WireRangeError('id', `account ids whose high 64 bits are 0x${clearingPrefixHex()} are reserved for the sharded ledger's clearing accounts`);
    const units = linkedUnits(events);
    const local = units.every((unit) => new Set(unit.map((event) => this.ring.shardOf(event.id))).size === 1);
    const results = local
      ? await this.dispatchLocal(events, (event) => this.ring.shardOf(event.id), (shard, sub) => shard.service.createAccounts(sub))
      : await this.enqueueRound<CreateAccountResult>({ kind: 'accounts', events });
    return results.map((result, index) => ({ index, id: events[index]?.id ?? 0n, result }));
  }

  async createTransfers(events: readonly TransferEvent[]): Promise<EventResult<CreateTransferResult>[]> {
    const reserved = events.find((event) => isClearingAccountId(event.debit_account_id) || isClearingAccountId(event.credit_account_id));
    if (reserved !== undefined) throw new WireRangeError('debit_account_id', `clearing accounts (high 64 bits 0x${clearingPrefixHex()}) are moved only by the sharded ledger itself`);
    const release = await this.claimIds(events.map((event) => event.id));
    try {
      const shards_of = await this.transferShards(events);
      const units = linkedUnits(events.map((event, index) => ({ event, index })).map((entry) => ({ ...entry, flags: entry.event.flags })));
      const unit_shard = units.map((unit) => {
        const shards = new Set(unit.flatMap(({ index }) => shards_of[index] ?? []));
        return shards.size <= 1 ? ([...shards][0] ?? 0) : undefined;
      });
      let local = unit_shard.every((shard) => shard !== undefined);
      if (local) {
        // One id twice in a request, on two shards: only one ledger can tell the second one apart.
        const shard_by_id = new Map<bigint, number>();
        units.forEach((unit, unit_index) => {
          for (const { event } of unit) {
            const shard = unit_shard[unit_index] ?? 0;
            if ((shard_by_id.get(event.id) ?? shard) !== shard) local = false;
            shard_by_id.set(event.id, shard);
          }
        });
        if (local) local = !(await this.idsExistElsewhere(shard_by_id));
      }
      const event_shard = new Map<number, number>();
      units.forEach((unit, unit_index) => unit.forEach(({ index }) => event_shard.set(index, unit_shard[unit_index] ?? 0)));
      const results = local
        ? await this.dispatchLocal(events, (_event, index) => event_shard.get(index) ?? 0, (shard, sub) => shard.service.createTransfers(sub))
        : await this.enqueueRound<CreateTransferResult>({ kind: 'transfers', events });
      return results.map((result, index) => ({ index, id: events[index]?.id ?? 0n, result }));
    } finally {
      release();
    }
  }

  /**
   * The shards each event touches: its accounts', or for a post or void that leaves them zero,
   * its pending transfer's (looked up on every shard, or found earlier in the same request).
   */
  private async transferShards(events: readonly TransferEvent[]): Promise<number[][]> {
    const resolving = (event: TransferEvent): boolean => hasFlag(event.flags, TransferFlags.post_pending_transfer) || hasFlag(event.flags, TransferFlags.void_pending_transfer);
    const in_request = new Map<bigint, TransferEvent>();
    for (const event of events) if (!resolving(event)) in_request.set(event.id, event);
    const wanted = events.filter((event) => resolving(event) && event.pending_id !== 0n && !in_request.has(event.pending_id)).map((event) => event.pending_id);
    const found = wanted.length === 0 ? new Map<bigint, StoredTransfer>() : await this.lookupMerged(wanted);
    return events.map((event) => {
      // The accounts an event names go to their shards' writers even where a post or void names
      // others than its pending transfer's (which it then fails for).
      const accounts = [event.debit_account_id, event.credit_account_id];
      if (resolving(event)) {
        const pending = found.get(event.pending_id)?.transfer ?? in_request.get(event.pending_id);
        if (pending !== undefined) accounts.push(pending.debit_account_id, pending.credit_account_id);
      }
      return [...new Set(accounts.filter((id) => id !== 0n).map((id) => this.ring.shardOf(id)))];
    });
  }

  /**
   * Whether a transfer id a request would create on one shard exists on another. An id above the
   * largest any other shard holds cannot, and costs no read: ids that grow with time cost nothing.
   */
  private async idsExistElsewhere(shard_by_id: ReadonlyMap<bigint, number>): Promise<boolean> {
    for (const other of this.shards) {
      const ids = [...shard_by_id].filter(([id, shard]) => shard !== other.index && id !== 0n && id <= other.service.transferIdMax).map(([id]) => id);
      if (ids.length === 0) continue;
      if ((await other.store.lookupTransfers(ids)).length > 0) return true;
    }
    return false;
  }

  /** Sends each shard its events, in request order, and puts the answers back in that order. */
  private async dispatchLocal<Event, Result extends string>(
    events: readonly Event[],
    shardOfEvent: (event: Event, index: number) => number,
    send: (shard: Shard, events: Event[]) => Promise<EventResult<Result>[]>,
  ): Promise<Result[]> {
    const by_shard = new Map<number, { events: Event[]; positions: number[] }>();
    events.forEach((event, index) => {
      const shard = shardOfEvent(event, index);
      let group = by_shard.get(shard);
      if (group === undefined) by_shard.set(shard, (group = { events: [], positions: [] }));
      group.events.push(event);
      group.positions.push(index);
    });
    const results: Result[] = new Array<Result>(events.length);
    await Promise.all(
      [...by_shard].map(async ([shard_index, group]) => {
        const shard = this.shards.find((candidate) => candidate.index === shard_index);
        assert(shard !== undefined, 'the ring names a shard this ledger has');
        const answers = await send(shard, group.events);
        answers.forEach((answer, position) => {
          const index = group.positions[position];
          assert(index !== undefined);
          results[index] = answer.result;
        });
      }),
    );
    return results;
  }

  /** Waits until no other request is creating any of `ids`, then claims them until `release`. */
  private async claimIds(ids: readonly bigint[]): Promise<() => void> {
    const unique = [...new Set(ids)];
    for (;;) {
      const busy = unique.flatMap((id) => this.ids_in_flight.get(id) ?? []);
      if (busy.length === 0) break;
      await Promise.all(busy);
    }
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (done = resolve));
    for (const id of unique) this.ids_in_flight.set(id, finished);
    return () => {
      for (const id of unique) if (this.ids_in_flight.get(id) === finished) this.ids_in_flight.delete(id);
      done();
    };
  }

  // -- Rounds --------------------------------------------------------------------------------

  private enqueueRound<Result extends CreateAccountResult | CreateTransferResult>(
    unit: { kind: 'accounts'; events: readonly AccountEvent[] } | { kind: 'transfers'; events: readonly TransferEvent[] },
  ): Promise<Result[]> {
    if (this.closed) return Promise.reject(new LedgerUnavailableError('the sharded ledger is closed'));
    return new Promise<Result[]>((resolve, reject) => {
      // The casts restore the pairing of a unit's kind with its results, which the union loses.
      const queued: RoundUnit =
        unit.kind === 'accounts'
          ? { kind: 'accounts', events: unit.events, resolve: (results) => resolve(results as Result[]), reject }
          : { kind: 'transfers', events: unit.events, resolve: (results) => resolve(results as Result[]), reject };
      this.round_queue.push(queued);
      if (!this.round_running) {
        this.round_running = true;
        let idle: () => void = () => undefined;
        this.round_idle = new Promise((resolve_idle) => (idle = resolve_idle));
        // The next turn of the event loop gathers the requests made together into one round.
        setImmediate(() => void this.driveRounds().finally(idle));
      }
    });
  }

  private async driveRounds(): Promise<void> {
    try {
      while (this.round_queue.length > 0) {
        const units: RoundUnit[] = [];
        let events = 0;
        while (this.round_queue.length > 0) {
          const next = this.round_queue[0];
          assert(next !== undefined);
          if (units.length > 0 && events + next.events.length > round_events_max) break;
          this.round_queue.shift();
          units.push(next);
          events += next.events.length;
        }
        await this.runRound(units);
      }
    } finally {
      this.round_running = false;
    }
  }

  private async runRound(units: readonly RoundUnit[]): Promise<void> {
    try {
      for (let attempt = 1; ; attempt++) {
        const outcome = await this.tryRound(units);
        if (outcome.kind === 'done') return;
        if (attempt >= round_attempts_max) throw new Error('a round kept needing new clearing accounts');
        await this.createClearingAccounts(outcome.clearing_missing);
      }
    } catch (error) {
      const failure = error instanceof LedgerUnavailableError ? error : new LedgerUnavailableError(`the sharded ledger could not commit: ${error instanceof Error ? error.message : String(error)}`);
      for (const unit of units) unit.reject(failure);
    }
  }

  /** Creates clearing accounts (both sides of each pair), remembering the ones that exist. */
  private async createClearingAccounts(ids: readonly bigint[]): Promise<void> {
    const events = new Map<number, AccountEvent[]>();
    for (const id of ids) {
      const clearing = parseClearingAccountId(id);
      assert(clearing !== undefined);
      for (const [own, other] of [[clearing.own, clearing.other], [clearing.other, clearing.own]] as const) {
        const event = clearingAccountEvent(own, other, clearing.ledger);
        if (this.clearing_known.has(event.id)) continue;
        const list = events.get(own) ?? [];
        if (!list.some((existing) => existing.id === event.id)) list.push(event);
        events.set(own, list);
      }
    }
    await Promise.all(
      [...events].map(async ([own, list]) => {
        const shard = this.shardAt(own);
        for (const answer of await shard.service.createAccounts(list)) {
          if (answer.result !== 'ok' && answer.result !== 'exists') throw new Error(`creating a clearing account failed: ${answer.result}`);
          this.clearing_known.add(answer.id);
        }
      }),
    );
  }

  private shardAt(index: number): Shard {
    const shard = this.shards.find((candidate) => candidate.index === index);
    assert(shard !== undefined, 'the ring names a shard this ledger has');
    return shard;
  }

  /**
   * One attempt at a round: hold, decide, prepare, log, commit, answer. Returns the clearing
   * accounts it needed and found missing, having released everything, if any were.
   */
  private async tryRound(units: readonly RoundUnit[]): Promise<{ kind: 'done' } | { kind: 'retry'; clearing_missing: bigint[] }> {
    // What the round reads: its accounts, and every transfer its events name, from every shard.
    const account_ids = new Set<bigint>();
    const transfer_ids = new Set<bigint>();
    for (const unit of units) {
      if (unit.kind === 'accounts') {
        for (const event of unit.events) account_ids.add(event.id);
        continue;
      }
      for (const event of unit.events) {
        account_ids.add(event.debit_account_id);
        account_ids.add(event.credit_account_id);
        transfer_ids.add(event.id);
        transfer_ids.add(event.pending_id);
      }
    }
    account_ids.delete(0n);
    transfer_ids.delete(0n);
    const existing = await this.lookupRows([...transfer_ids]);
    // A post or void touches its pending transfer's accounts, whatever the event says.
    for (const transfer of mergeLegs(existing).values()) {
      if (hasFlag(transfer.transfer.flags, TransferFlags.pending)) {
        account_ids.add(transfer.transfer.debit_account_id);
        account_ids.add(transfer.transfer.credit_account_id);
      }
    }
    const involved = [...new Set([...account_ids].map((id) => this.ring.shardOf(id)))].sort((a, b) => a - b);
    const holds = new Map<number, WriterHold>();
    const released = new Set<number>();
    const releaseAll = (): void => {
      for (const [index, hold] of holds) {
        if (released.has(index)) continue;
        released.add(index);
        hold.release();
      }
    };
    try {
      for (const index of involved) {
        const ids = [...account_ids].filter((id) => this.ring.shardOf(id) === index);
        holds.set(index, await this.shardAt(index).service.hold(ids, [...transfer_ids]));
      }
    } catch (error) {
      releaseAll();
      throw error;
    }

    let decided: { results: string[][]; imports: Map<number, ImportedEvent[]>; timestamp_first: bigint; timestamp_last: bigint };
    try {
      decided = this.decide(units, holds, existing);
    } catch (error) {
      releaseAll();
      throw error;
    }
    const clearing_missing = [...new Set([...decided.imports.values()].flat().flatMap((event) => (event.kind === 'transfer' ? [event.transfer.debit_account_id, event.transfer.credit_account_id] : [])))].filter(
      (id) => isClearingAccountId(id) && !this.clearing_known.has(id),
    );
    if (clearing_missing.length > 0) {
      releaseAll();
      return { kind: 'retry', clearing_missing };
    }
    // Shards the round only read go on at once.
    for (const [index, hold] of holds) {
      if (decided.imports.has(index)) continue;
      released.add(index);
      hold.release();
    }
    try {
      if (decided.imports.size > 0) await this.commitRound(decided.imports, holds, decided.timestamp_first, decided.timestamp_last);
    } finally {
      releaseAll();
    }
    units.forEach((unit, index) => {
      const results = decided.results[index];
      assert(results !== undefined && results.length === unit.events.length);
      // The state machine's results for each kind are that kind's closed union.
      if (unit.kind === 'accounts') unit.resolve(results as CreateAccountResult[]);
      else unit.resolve(results as CreateTransferResult[]);
    });
    return { kind: 'done' };
  }

  /**
   * Runs the round's events through the ledger's own rules over copies of what the held shards
   * and the other shards' stores show, and splits what they did by shard.
   */
  private decide(units: readonly RoundUnit[], holds: ReadonlyMap<number, WriterHold>, existing: readonly StoredTransfer[]) {
    const machine = new LedgerStateMachine({ stride: timestamp_stride, residue: 0n });
    let commit_timestamp = this.last_round_timestamp;
    const rows: StoredTransfer[] = [...existing];
    for (const hold of holds.values()) {
      for (const account of hold.view.accounts) machine.accounts.set(account.id, { ...account });
      rows.push(...hold.view.transfers);
      if (hold.view.commit_timestamp > commit_timestamp) commit_timestamp = hold.view.commit_timestamp;
    }
    // Held shards' rows come last and win: they are read under the hold, the others before it.
    for (const { transfer, status } of mergeLegs(rows).values()) {
      machine.transfers.set(transfer.id, transfer);
      if (status === undefined) continue;
      machine.pending_status.set(transfer.id, status);
      // Only a pending transfer whose accounts are held can expire in this round; the others
      // expire on their own shards, which this round does not write.
      const held = machine.accounts.has(transfer.debit_account_id) && machine.accounts.has(transfer.credit_account_id);
      if (status === 'pending' && transfer.timeout > 0 && held) machine.expiry_queue.push(transfer.id, pendingExpiresAt(transfer));
    }
    machine.commit_timestamp = commit_timestamp;
    const event_count = units.reduce((sum, unit) => sum + unit.events.length, 0);
    machine.beginBatch(this.clock.nowNs(), event_count);
    const results: string[][] = units.map((unit) => (unit.kind === 'accounts' ? machine.createAccounts(unit.events) : machine.createTransfers(unit.events)));
    const effects = machine.endBatch();
    this.last_round_timestamp = machine.commit_timestamp;

    const imports = new Map<number, ImportedEvent[]>();
    const add = (shard: number, event: ImportedEvent): void => {
      const list = imports.get(shard) ?? [];
      list.push(event);
      imports.set(shard, list);
    };
    const accounts = effects.accounts_created.map(({ account, created_flags }) => ({
      kind: 'account' as const,
      account: { ...account, flags: created_flags, debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n },
    }));
    const transfers = effects.transfers_created.map((transfer) => ({ kind: 'transfer' as const, transfer }));
    const ordered: ImportedEvent[] = [...accounts, ...transfers].sort((a, b) => compareBigint(timestampOf(a), timestampOf(b)));
    for (const event of ordered) {
      if (event.kind === 'account') add(this.ring.shardOf(event.account.id), event);
      else for (const leg of legsOf(event.transfer, (id) => this.ring.shardOf(id))) add(leg.shard, { kind: 'transfer', transfer: leg.transfer });
    }
    return { results, imports, timestamp_first: effects.timestamp_first, timestamp_last: effects.timestamp_last };
  }

  /** Two-phase commit of one round's imports across the shards that have any. */
  private async commitRound(imports: ReadonlyMap<number, ImportedEvent[]>, holds: ReadonlyMap<number, WriterHold>, timestamp_first: bigint, timestamp_last: bigint): Promise<void> {
    const round = `${this.round_nonce}.${++this.round_counter}`;
    const participants = [...imports.keys()].sort((a, b) => a - b);
    const holdOf = (index: number): WriterHold => {
      const hold = holds.get(index);
      assert(hold !== undefined);
      return hold;
    };
    const prepared: number[] = [];
    const failed: number[] = [];
    // With a failpoint set, the shards go one at a time, so that "after the first" means one.
    const prepareOne = async (index: number): Promise<void> => {
      const events = imports.get(index);
      assert(events !== undefined);
      try {
        await holdOf(index).prepare(gidOf(this.ledger_id, round, index), timestamp_first, timestamp_last, events);
        prepared.push(index);
        if (prepared.length === 1) this.reachFailpoint('after_first_prepare');
      } catch (error) {
        failed.push(index);
        throw error;
      }
    };
    try {
      if (this.failpoint === undefined) {
        const outcomes = await Promise.allSettled(participants.map(prepareOne));
        const failure = outcomes.find((outcome) => outcome.status === 'rejected');
        if (failure !== undefined) throw failure.reason;
      } else {
        for (const index of participants) await prepareOne(index);
      }
    } catch (error) {
      // Presumed abort: nothing is logged, and every shard rolls back what it may have prepared.
      await Promise.all([
        ...prepared.map((index) => this.finishUntilDone(() => holdOf(index).finish('rollback'))),
        ...failed.map((index) => this.finishUntilDone(async () => void (await this.shardAt(index).store.finishPrepared(gidOf(this.ledger_id, round, index), 'rollback')))),
      ]);
      throw error;
    }
    this.reachFailpoint('after_all_prepares');
    try {
      await this.decisions.decideCommit(round, this.finished_rounds);
      this.finished_rounds = [];
    } catch (error) {
      // The decision may or may not be on disk: only the log can say, once it can be read.
      const committed = await this.untilAnswered(() => this.decisions.isCommitted(round));
      this.log('warn', 'the decision of a ledger round could not be confirmed; read it back', { round, committed, error: error instanceof Error ? error.message : String(error) });
      if (!committed) {
        await Promise.all(prepared.map((index) => this.finishUntilDone(() => holdOf(index).finish('rollback'))));
        throw error;
      }
    }
    this.reachFailpoint('after_decision');
    if (this.failpoint === undefined) {
      await Promise.all(participants.map((index) => this.finishUntilDone(() => holdOf(index).finish('commit'))));
    } else {
      for (const [position, index] of participants.entries()) {
        await this.finishUntilDone(() => holdOf(index).finish('commit'));
        if (position === 0) this.reachFailpoint('after_first_commit');
      }
    }
    this.finished_rounds.push(round);
  }

  /** Retries finishing a decided round on a shard until it succeeds: the decision stands. */
  private async finishUntilDone(finish: () => Promise<void>): Promise<void> {
    for (;;) {
      try {
        await finish();
        return;
      } catch (error) {
        this.log('error', 'could not finish a prepared ledger batch; retrying', { error: error instanceof Error ? error.message : String(error) });
        await new Promise((resolve) => setTimeout(resolve, finish_retry_ms));
      }
    }
  }

  private async untilAnswered<T>(ask: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await ask();
      } catch {
        await new Promise((resolve) => setTimeout(resolve, finish_retry_ms));
      }
    }
  }

  private reachFailpoint(point: TwoPhaseFailpoint): void {
    if (this.failpoint?.point !== point || this.failpoint.round !== this.round_counter) return;
    this.log('warn', `failpoint ${point}: killing this process`);
    process.kill(process.pid, 'SIGKILL');
  }

  // -- Reads ---------------------------------------------------------------------------------

  /** Every shard's rows for these transfer ids, with the pending transfers their posts name. */
  private async lookupRows(ids: readonly bigint[]): Promise<StoredTransfer[]> {
    if (ids.length === 0) return [];
    const rows = (await Promise.all(this.shards.map((shard) => shard.store.lookupTransfers(ids)))).flat();
    const known = new Set(rows.map((row) => row.transfer.id));
    const referenced = [...new Set(rows.map((row) => row.transfer.pending_id))].filter((id) => id !== 0n && !known.has(id));
    if (referenced.length === 0) return rows;
    return [...rows, ...(await Promise.all(this.shards.map((shard) => shard.store.lookupTransfers(referenced)))).flat()];
  }

  private async lookupMerged(ids: readonly bigint[]): Promise<Map<bigint, StoredTransfer>> {
    return mergeLegs(await this.lookupRows(ids));
  }

  async lookupAccounts(ids: readonly bigint[]): Promise<StoredAccount[]> {
    const by_shard = new Map<number, bigint[]>();
    for (const id of ids) {
      const shard = this.homeShard(id);
      by_shard.set(shard, [...(by_shard.get(shard) ?? []), id]);
    }
    const found = new Map<bigint, StoredAccount>();
    await Promise.all(
      [...by_shard].map(async ([index, shard_ids]) => {
        if (!this.shards.some((shard) => shard.index === index)) return;
        for (const account of await this.shardAt(index).store.lookupAccounts(shard_ids)) found.set(account.id, account);
      }),
    );
    return ids.flatMap((id) => found.get(id) ?? []);
  }

  async lookupTransfers(ids: readonly bigint[]): Promise<StoredTransfer[]> {
    const merged = mergeLegs((await Promise.all(this.shards.map((shard) => shard.store.lookupTransfers(ids)))).flat());
    return ids.flatMap((id) => merged.get(id) ?? []);
  }

  /** An account's transfers from its shard, each leg shown as the transfer it is part of. */
  async getAccountTransfers(filter: AccountFilter): Promise<Transfer[]> {
    const shard = this.shardAt(this.homeShard(filter.account_id));
    const rows = await shard.store.getAccountTransfers(filter);
    return this.completeLegs(rows);
  }

  async getAccountBalances(filter: AccountFilter): Promise<AccountBalance[]> {
    return this.shardAt(this.homeShard(filter.account_id)).store.getAccountBalances(filter);
  }

  /** The shard an account lives on: a clearing account's is in its id. */
  private homeShard(account_id: bigint): number {
    return parseClearingAccountId(account_id)?.own ?? this.ring.shardOf(account_id);
  }

  /**
   * Every shard's first `limit` matches, merged by timestamp (unique across the ledger). The
   * first `limit` of the merge are right: a transfer among them has fewer than `limit` earlier
   * ones on every shard that holds it, so each of those shards returned it.
   */
  async queryTransfers(filter: QueryFilter): Promise<Transfer[]> {
    const pages = await Promise.all(this.shards.map((shard) => shard.store.queryTransfers(filter)));
    const seen = new Map<bigint, Transfer>();
    for (const transfer of pages.flat()) if (!seen.has(transfer.id)) seen.set(transfer.id, transfer);
    const ordered = [...seen.values()].sort((a, b) => (filter.reversed ? compareBigint(b.timestamp, a.timestamp) : compareBigint(a.timestamp, b.timestamp))).slice(0, filter.limit);
    return this.completeLegs(ordered);
  }

  /** Replaces each leg with its whole transfer, reading the other legs from their shards. */
  private async completeLegs(rows: readonly Transfer[]): Promise<Transfer[]> {
    const wanted = new Map<number, bigint[]>();
    for (const row of rows) {
      const other = otherLegShard(row);
      if (other === undefined) continue;
      wanted.set(other, [...(wanted.get(other) ?? []), row.id]);
    }
    if (wanted.size === 0) return [...rows];
    const other_legs: StoredTransfer[] = [];
    await Promise.all([...wanted].map(async ([index, ids]) => other_legs.push(...(await this.shardAt(index).store.lookupTransfers(ids)))));
    const merged = mergeLegs([...rows.map((transfer) => ({ transfer, status: undefined })), ...other_legs]);
    return rows.flatMap((row) => merged.get(row.id)?.transfer ?? []);
  }

  // -- Operations ----------------------------------------------------------------------------

  /** Ready when every shard's writer holds its fence and answers a read. */
  async checkReady(): Promise<void> {
    await Promise.all(this.shards.map((shard) => shard.service.checkReady()));
  }

  /** Verifies every shard's journal, then that every pair of clearing accounts mirror each other. */
  verify(): Promise<ShardedVerifyReport> {
    return verifyShards(this.shards.map((shard) => ({ index: shard.index, store: shard.store })));
  }

  /** Rounds in flight finish, then every shard's writer finishes its queue and closes. */
  async close(): Promise<void> {
    this.closed = true;
    await this.round_idle;
    await Promise.all(this.shards.map((shard) => shard.service.close()));
    await this.coordinator_pool.end();
  }
}

/**
 * Finishes every prepared transaction of this ledger found on the shards: committed if the
 * decision log has its round, rolled back if not. Runs with every shard's fence held.
 */
export async function recoverPrepared(
  stores: readonly LedgerStore[],
  decisions: DecisionLog,
  ledger_id: string,
  log: NonNullable<ShardedLedgerOptions['log']>,
): Promise<RecoveryReport> {
  let committed = 0;
  let rolled_back = 0;
  for (const store of stores) {
    for (const gid of await store.listPrepared(gidPrefix(ledger_id))) {
      const round = roundOfGid(ledger_id, gid);
      assert(round !== undefined);
      const commit = await decisions.isCommitted(round);
      await store.finishPrepared(gid, commit ? 'commit' : 'rollback');
      log('warn', `recovery: ${commit ? 'committed' : 'rolled back'} the prepared ledger batch ${gid}`);
      if (commit) committed += 1;
      else rolled_back += 1;
    }
  }
  await decisions.forgetAll();
  return { committed, rolled_back };
}

/**
 * Runs the sharded ledger's migrations: the coordinator's tables in the first shard's database,
 * and the ledger's in every shard's. Returns the ledger versions applied on each shard.
 */
export async function migrateShardedLedger(options: Pick<ShardedLedgerOptions, 'shard_urls' | 'schema' | 'coordinator_schema'>): Promise<number[][]> {
  const first_url = options.shard_urls[0];
  if (first_url === undefined) throw new Error('a sharded ledger needs at least one shard URL');
  const coordinator_pool = createPostgresPool({ url: first_url, schema: options.coordinator_schema ?? coordinator_schema_default, max: 1 });
  try {
    await migrateShardMapStore(coordinator_pool);
    await DecisionLog.migrate(coordinator_pool);
  } finally {
    await coordinator_pool.end();
  }
  const schema = options.schema ?? ledger_schema_default;
  return Promise.all(options.shard_urls.map((url) => migrateLedgerStore({ kind: 'postgres', url, schema })));
}

/** The map of a new ledger (version 1, shards 0 to N-1), or the stored one checked against the URLs. */
async function shardMapFor(pool: pg.Pool, shard_count: number, virtual_nodes: number | undefined): Promise<ShardMap> {
  const stored = await latestShardMap(pool);
  if (stored !== undefined) {
    if (stored.shard_indexes.length !== shard_count) {
      throw new Error(`the ledger's shard map (version ${stored.version}) has ${stored.shard_indexes.length} shards, but ${shard_count} shard URLs were given`);
    }
    return stored;
  }
  const map: ShardMap = { version: 1, shard_indexes: Array.from({ length: shard_count }, (_unused, index) => index), virtual_nodes: virtual_nodes ?? 128 };
  if ((await saveShardMap(pool, map)) === 'saved') return map;
  const raced = await latestShardMap(pool);
  assert(raced !== undefined);
  return raced;
}

/** Events split into linked chains: a chain and the event that ends it are one unit. */
function linkedUnits<Event extends { readonly flags: number }>(events: readonly Event[]): Event[][] {
  const units: Event[][] = [];
  let current: Event[] = [];
  for (const event of events) {
    current.push(event);
    if (!hasFlag(event.flags, AccountFlags.linked)) {
      units.push(current);
      current = [];
    }
  }
  if (current.length > 0) units.push(current);
  return units;
}

function timestampOf(event: ImportedEvent): bigint {
  return event.kind === 'account' ? event.account.timestamp : event.transfer.timestamp;
}

function compareBigint(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function clearingPrefixHex(): string {
  return clearing_id_prefix.toString(16);
}
