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
import { clearing_account_code, clearing_id_prefix, clearingAccountEvent, clearingAccountId, isClearingAccountId, legsOf, mergeLegs, otherLegShard, parseClearingAccountId } from './clearing';
import { DecisionLog, gidOf, gidPrefix, roundOfGid } from './decision-log';
import { allShardMaps, beginAddition, finishAddition, latestAddition, migrateAdditions } from './additions';
import { shards_max, type ShardMap } from './ring';
import { ShardRouting, isMoveTransferId, moveTransferId } from './routing';
import { accountsOf, verifyShards, type ShardedVerifyReport } from './verify-shards';
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
/** Accounts moved to a new shard in one round (the freeze covers this many at a time). */
export const move_chunk_accounts_default = 256;
/** How long `addShard` waits for accounts with pending amounts before it reports them as waiting. */
export const shard_addition_wait_ms_default = 60_000;
const shard_addition_retry_ms = 200;
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
  readonly url: string;
  readonly store: LedgerStore;
  readonly service: LedgerService;
}

type RoundUnit =
  | { readonly kind: 'accounts'; readonly events: readonly AccountEvent[]; readonly resolve: (results: CreateAccountResult[]) => void; readonly reject: (error: Error) => void }
  | { readonly kind: 'transfers'; readonly events: readonly TransferEvent[]; readonly resolve: (results: CreateTransferResult[]) => void; readonly reject: (error: Error) => void };
/** A chunk of accounts to move from one shard to the shard being added; it runs as a round of its own. */
type MoveUnit = {
  readonly kind: 'move';
  readonly from: number;
  readonly account_ids: readonly bigint[];
  readonly resolve: (moved: bigint[]) => void;
  readonly reject: (error: Error) => void;
};

/** An addition refused before anything changed (a URL already in use, too many shards, another addition open). */
export class ShardAdditionRefused extends Error {
  override name = 'ShardAdditionRefused';
}

/** What `addShard` did. */
export interface ShardAdditionReport {
  readonly version: number;
  readonly shard_index: number;
  /** Shards after the addition. */
  readonly shards: number;
  /** Accounts on the other shards when this call began (clearing accounts and moved-away copies not counted). */
  readonly accounts: number;
  readonly moved: number;
  readonly moved_fraction: number;
  /** 1 / shards: what a perfect ring would move. */
  readonly ideal_fraction: number;
  /** Accounts the new shard should hold that still have pending amounts on their old shard. */
  readonly waiting: number;
  readonly done: boolean;
}

/** Where a request's events go (`planTransfers`). */
interface TransferPlan {
  readonly local: boolean;
  readonly shard_by_id: ReadonlyMap<bigint, number>;
  readonly event_shard: ReadonlyMap<number, number>;
}

function samePlan(first: TransferPlan, second: TransferPlan): boolean {
  if (first.local !== second.local || first.event_shard.size !== second.event_shard.size) return false;
  for (const [index, shard] of first.event_shard) if (second.event_shard.get(index) !== shard) return false;
  return true;
}

/** What `recoverPrepared` found and did, per shard. */
export interface RecoveryReport {
  readonly committed: number;
  readonly rolled_back: number;
}

export class ShardedLedger implements LedgerClient {
  private readonly routing: ShardRouting;
  private shards: Shard[];
  private readonly options: ShardedLedgerOptions;
  private readonly decisions: DecisionLog;
  private readonly coordinator_pool: pg.Pool;
  private readonly ledger_id: string;
  private readonly clock: WriterClock;
  private readonly failpoint: ShardedLedgerOptions['failpoint'];
  private readonly log: NonNullable<ShardedLedgerOptions['log']>;
  /** Accounts being moved to a new shard now: a request that names one waits for the move. */
  private readonly frozen = new Map<bigint, Promise<void>>();
  /** Ids of transfers some request is creating now: a second request with one of them waits. */
  private readonly ids_in_flight = new Map<bigint, Promise<void>>();
  private readonly clearing_known = new Set<bigint>();
  private round_queue: (RoundUnit | MoveUnit)[] = [];
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
    routing: ShardRouting;
    shards: Shard[];
    decisions: DecisionLog;
    coordinator_pool: pg.Pool;
    ledger_id: string;
    options: ShardedLedgerOptions;
    recovered: RecoveryReport;
  }) {
    this.routing = fields.routing;
    this.shards = fields.shards;
    this.options = fields.options;
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
      await shardMapFor(coordinator_pool, urls.length, options.virtual_nodes);
      const routing = new ShardRouting(await allShardMaps(coordinator_pool));
      const map = routing.ring.map;
      const addition = await latestAddition(coordinator_pool);
      const previous = routing.previous;
      if (addition?.state === 'moving' && addition.version === map.version && previous !== undefined) {
        // Until the stopped addition carries on, an account not on the new shard is where it was.
        routing.addition = { before: previous, shard_index: addition.shard_index, moved: new Set() };
      }
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
          return { shard_index, url, store: new PostgresLedgerStore({ pool, schema, url, owns_pool: true }) };
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
        stores.map(({ shard_index, url, store }) =>
          LedgerService.open(store, {
            ...options.writer,
            ...(options.clock === undefined ? {} : { clock: options.clock }),
            ...shardWriterOptions(routing, shard_index),
            before_load: async () => {
              arrived += 1;
              if (arrived === stores.length) all_arrived();
              await recovery;
            },
          }).then((service) => {
            opened.push({ index: shard_index, url, store, service });
            return { index: shard_index, url, store, service };
          }),
        ),
      );
      if (recovered.committed + recovered.rolled_back > 0) log('warn', 'finished two-phase commits a stopped coordinator left prepared', { ...recovered });
      if (routing.addition !== undefined) {
        const added = services.find((shard) => shard.index === routing.addition?.shard_index);
        assert(added !== undefined, 'the shard being added is among the URLs');
        for (const id of await liveAccountIds(added.store)) routing.addition.moved.add(id);
      }
      return new ShardedLedger({ routing, shards: services, decisions, coordinator_pool, ledger_id, options, recovered });
    } catch (error) {
      for (const shard of opened) await shard.service.close().catch(() => undefined);
      await coordinator_pool.end().catch(() => undefined);
      throw error;
    }
  }

  /** The shard map this ledger routes by. */
  get shardMap(): ShardMap {
    return this.routing.ring.map;
  }

  /** The shard that holds the account now. */
  shardOf(account_id: bigint): number {
    return this.routing.route(account_id);
  }

  // -- Writes --------------------------------------------------------------------------------

  async createAccounts(events: readonly AccountEvent[]): Promise<EventResult<CreateAccountResult>[]> {
    const reserved = events.find((event) => isClearingAccountId(event.id));
    if (reserved !== undefined) throw new WireRangeError('id', `account ids whose high 64 bits are 0x${clearingPrefixHex()} are reserved for the sharded ledger's clearing accounts`);
    const ids = events.map((event) => event.id);
    for (;;) {
      await this.untilUnfrozen(ids);
      await this.placeNewAccounts(ids);
      // From here to the dispatch nothing awaits, so no move can start in between.
      if (this.anyFrozen(ids)) continue;
      const units = linkedUnits(events);
      const local = units.every((unit) => new Set(unit.map((event) => this.routing.route(event.id))).size === 1);
      const results = local
        ? await this.dispatchLocal(events, (event) => this.routing.route(event.id), (shard, sub) => shard.service.createAccounts(sub))
        : await this.enqueueRound<CreateAccountResult>({ kind: 'accounts', events });
      return results.map((result, index) => ({ index, id: events[index]?.id ?? 0n, result }));
    }
  }

  async createTransfers(events: readonly TransferEvent[]): Promise<EventResult<CreateTransferResult>[]> {
    const reserved = events.find((event) => isClearingAccountId(event.debit_account_id) || isClearingAccountId(event.credit_account_id));
    if (reserved !== undefined) throw new WireRangeError('debit_account_id', `clearing accounts (high 64 bits 0x${clearingPrefixHex()}) are moved only by the sharded ledger itself`);
    const release = await this.claimIds(events.map((event) => event.id));
    try {
      const accounts_of = await this.transferAccounts(events);
      const named = accounts_of.flat();
      for (;;) {
        await this.untilUnfrozen(named);
        const plan = this.planTransfers(events, accounts_of);
        if (plan.local && !(await this.idsExistElsewhere(plan.shard_by_id))) {
          // The check above awaited: route again, and go round if a move began or ended meanwhile.
          const again = this.planTransfers(events, accounts_of);
          if (this.anyFrozen(named) || !samePlan(plan, again)) continue;
          const results = await this.dispatchLocal(events, (_event, index) => again.event_shard.get(index) ?? 0, (shard, sub) => shard.service.createTransfers(sub));
          return results.map((result, index) => ({ index, id: events[index]?.id ?? 0n, result }));
        }
        const results = await this.enqueueRound<CreateTransferResult>({ kind: 'transfers', events });
        return results.map((result, index) => ({ index, id: events[index]?.id ?? 0n, result }));
      }
    } finally {
      release();
    }
  }

  /**
   * Where a request's events go now: whether every linked unit stays on one shard (and an id is
   * not used on two shards in the request), and each event's shard. Synchronous, from the routing.
   */
  private planTransfers(events: readonly TransferEvent[], accounts_of: readonly bigint[][]): TransferPlan {
    const units = linkedUnits(events.map((event, index) => ({ event, index, flags: event.flags })));
    const unit_shard = units.map((unit) => {
      const shards = new Set(unit.flatMap(({ index }) => (accounts_of[index] ?? []).map((id) => this.routing.route(id))));
      return shards.size <= 1 ? ([...shards][0] ?? 0) : undefined;
    });
    let local = unit_shard.every((shard) => shard !== undefined);
    // One id twice in a request, on two shards: only one ledger can tell the second one apart.
    const shard_by_id = new Map<bigint, number>();
    const event_shard = new Map<number, number>();
    units.forEach((unit, unit_index) => {
      const shard = unit_shard[unit_index] ?? 0;
      for (const { event, index } of unit) {
        if ((shard_by_id.get(event.id) ?? shard) !== shard) local = false;
        shard_by_id.set(event.id, shard);
        event_shard.set(index, shard);
      }
    });
    return { local, shard_by_id, event_shard };
  }

  /**
   * The accounts each event touches: those it names, and for a post or void its pending
   * transfer's (looked up on every shard, or found earlier in the same request). An event that
   * names others than its pending transfer's goes to their shards too, and fails there as it would.
   */
  private async transferAccounts(events: readonly TransferEvent[]): Promise<bigint[][]> {
    const resolving = (event: TransferEvent): boolean => hasFlag(event.flags, TransferFlags.post_pending_transfer) || hasFlag(event.flags, TransferFlags.void_pending_transfer);
    const in_request = new Map<bigint, TransferEvent>();
    for (const event of events) if (!resolving(event)) in_request.set(event.id, event);
    const wanted = events.filter((event) => resolving(event) && event.pending_id !== 0n && !in_request.has(event.pending_id)).map((event) => event.pending_id);
    const found = wanted.length === 0 ? new Map<bigint, StoredTransfer>() : await this.lookupMerged(wanted);
    return events.map((event) => {
      const accounts = [event.debit_account_id, event.credit_account_id];
      if (resolving(event)) {
        const pending = found.get(event.pending_id)?.transfer ?? in_request.get(event.pending_id);
        if (pending !== undefined) accounts.push(pending.debit_account_id, pending.credit_account_id);
      }
      return [...new Set(accounts.filter((id) => id !== 0n))];
    });
  }

  /** Waits while any of these accounts is being moved to a new shard (its short freeze). */
  private async untilUnfrozen(account_ids: readonly bigint[]): Promise<void> {
    for (;;) {
      const moving = account_ids.flatMap((id) => this.frozen.get(id) ?? []);
      if (moving.length === 0) return;
      await Promise.all(moving);
    }
  }

  private anyFrozen(account_ids: readonly bigint[]): boolean {
    return this.frozen.size > 0 && account_ids.some((id) => this.frozen.has(id));
  }

  /**
   * While a shard is being added, an account the new ring gives it is created there, unless it
   * exists on its old shard (not yet moved): then the request goes there and answers `exists`.
   */
  private async placeNewAccounts(account_ids: readonly bigint[]): Promise<void> {
    const addition = this.routing.addition;
    if (addition === undefined) return;
    const candidates = account_ids.filter((id) => id !== 0n && this.routing.ring.shardOf(id) === addition.shard_index && !addition.moved.has(id));
    if (candidates.length === 0) return;
    const by_shard = new Map<number, bigint[]>();
    for (const id of candidates) by_shard.set(addition.before.shardOf(id), [...(by_shard.get(addition.before.shardOf(id)) ?? []), id]);
    const existing = new Set<bigint>();
    for (const [index, ids] of by_shard) for (const account of await this.shardAt(index).store.lookupAccounts(ids)) existing.add(account.id);
    for (const id of candidates) if (!existing.has(id)) addition.moved.add(id);
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
      this.queueRoundUnit(queued);
    });
  }

  private queueRoundUnit(unit: RoundUnit | MoveUnit): void {
    this.round_queue.push(unit);
    if (this.round_running) return;
    this.round_running = true;
    let idle: () => void = () => undefined;
    this.round_idle = new Promise((resolve_idle) => (idle = resolve_idle));
    // The next turn of the event loop gathers the requests made together into one round.
    setImmediate(() => void this.driveRounds().finally(idle));
  }

  /**
   * Moves accounts from shard `from` to the shard being added, as one two-phase round: on the new
   * shard each account is created with its flags and fields and given its posted debits and
   * credits against the clearing account for `from`; on `from`, its old copy is given the same
   * amounts the other way, so it nets to zero there, both shards balance and the clearing accounts
   * mirror. The moving accounts are frozen meanwhile (requests naming them wait); an account with
   * pending amounts is not moved this time (its pending transfers live on `from`). Answers the
   * accounts moved.
   */
  private async runMove(unit: MoveUnit): Promise<void> {
    const addition = this.routing.addition;
    if (addition === undefined) {
      unit.resolve([]);
      return;
    }
    let thaw: () => void = () => undefined;
    const thawed = new Promise<void>((resolve) => (thaw = resolve));
    for (const id of unit.account_ids) this.frozen.set(id, thawed);
    try {
      const ledgers = new Set((await this.shardAt(unit.from).store.lookupAccounts(unit.account_ids)).map((account) => account.ledger));
      await this.createClearingAccounts([...ledgers].map((ledger) => clearingAccountId(addition.shard_index, unit.from, ledger)));
      const source = await this.shardAt(unit.from).service.hold(unit.account_ids, []);
      let target: WriterHold;
      try {
        target = await this.shardAt(addition.shard_index).service.hold([], []);
      } catch (error) {
        source.release();
        throw error;
      }
      const holds = new Map([[unit.from, source], [addition.shard_index, target]]);
      let moved: bigint[] = [];
      try {
        let timestamp = alignedAfter([this.last_round_timestamp, source.view.commit_timestamp, target.view.commit_timestamp]);
        const timestamp_first = timestamp;
        const next = (): bigint => {
          const taken = timestamp;
          timestamp += timestamp_stride;
          return taken;
        };
        const into: ImportedEvent[] = [];
        const out_of: ImportedEvent[] = [];
        for (const account of source.view.accounts) {
          if (account.debits_pending !== 0n || account.credits_pending !== 0n) continue;
          if (this.routing.ring.shardOf(account.id) !== addition.shard_index || addition.moved.has(account.id)) continue;
          into.push({ kind: 'account', account: { ...account, timestamp: next(), debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n } });
          const there = clearingAccountId(addition.shard_index, unit.from, account.ledger);
          const here = clearingAccountId(unit.from, addition.shard_index, account.ledger);
          const move = (amount: bigint, leaving: boolean): void => {
            const at = next();
            const fields = { id: moveTransferId(at), amount, pending_id: 0n, user_data_128: 0n, user_data_64: 0n, user_data_32: 0, timeout: 0, ledger: account.ledger, code: clearing_account_code, flags: 0, timestamp: at };
            // Debits move as debits of the new copy and credits of the old; credits the other way.
            into.push({ kind: 'transfer', transfer: leaving ? { ...fields, debit_account_id: account.id, credit_account_id: there } : { ...fields, debit_account_id: there, credit_account_id: account.id } });
            out_of.push({ kind: 'transfer', transfer: leaving ? { ...fields, debit_account_id: here, credit_account_id: account.id } : { ...fields, debit_account_id: account.id, credit_account_id: here } });
          };
          if (account.debits_posted > 0n) move(account.debits_posted, true);
          if (account.credits_posted > 0n) move(account.credits_posted, false);
          moved.push(account.id);
        }
        if (moved.length > 0) {
          this.last_round_timestamp = timestamp - timestamp_stride;
          const imports = new Map<number, ImportedEvent[]>([[addition.shard_index, into]]);
          if (out_of.length > 0) imports.set(unit.from, out_of);
          else {
            holds.delete(unit.from);
            source.release();
          }
          await this.commitRound(imports, holds, timestamp_first, this.last_round_timestamp);
          for (const id of moved) addition.moved.add(id);
        }
      } catch (error) {
        moved = [];
        throw error;
      } finally {
        for (const hold of holds.values()) hold.release();
      }
      unit.resolve(moved);
    } catch (error) {
      unit.reject(error instanceof Error ? error : new Error(String(error)));
    } finally {
      for (const id of unit.account_ids) if (this.frozen.get(id) === thawed) this.frozen.delete(id);
      thaw();
    }
  }

  private async driveRounds(): Promise<void> {
    try {
      while (this.round_queue.length > 0) {
        const first = this.round_queue[0];
        if (first?.kind === 'move') {
          this.round_queue.shift();
          await this.runMove(first);
          continue;
        }
        const units: RoundUnit[] = [];
        let events = 0;
        while (this.round_queue.length > 0) {
          const next = this.round_queue[0];
          assert(next !== undefined);
          if (next.kind === 'move') break;
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
    const involved = [...new Set([...account_ids].map((id) => this.routing.route(id)))].sort((a, b) => a - b);
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
        const ids = [...account_ids].filter((id) => this.routing.route(id) === index);
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
      if (event.kind === 'account') add(this.routing.route(event.account.id), event);
      else for (const leg of legsOf(event.transfer, (id) => this.routing.route(id))) add(leg.shard, { kind: 'transfer', transfer: leg.transfer });
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
    // The transfers that moved accounts to a new shard are the ledger's own bookkeeping.
    return ids.flatMap((id) => (isMoveTransferId(id) ? [] : (merged.get(id) ?? [])));
  }

  /**
   * An account's transfers, each leg shown as the transfer it is part of. An account that moved to
   * a new shard has its history on each shard it lived on, merged as one.
   */
  async getAccountTransfers(filter: AccountFilter): Promise<Transfer[]> {
    const homes = this.routing.homes(filter.account_id).filter((index) => this.shards.some((shard) => shard.index === index));
    const rows = await mergedListing(
      homes.map((index) => (limit: number) => this.shardAt(index).store.getAccountTransfers({ ...filter, limit })),
      filter.limit,
      filter.reversed,
      (row) => !isMoveTransferId(row.id),
    );
    return this.completeLegs(rows);
  }

  /** An account's balance history, from each shard it lived on, without the steps of its moves. */
  async getAccountBalances(filter: AccountFilter): Promise<AccountBalance[]> {
    const homes = this.routing.homes(filter.account_id).filter((index) => this.shards.some((shard) => shard.index === index));
    if (homes.length === 1) return this.shardAt(homes[0] ?? 0).store.getAccountBalances(filter);
    const moves = new Set<bigint>();
    return mergedListing(
      homes.map((index) => async (limit: number) => {
        const page = await this.shardAt(index).store.getAccountBalances({ ...filter, limit });
        // A balance row made by a move has the move transfer's timestamp, which names its id.
        const found = await this.shardAt(index).store.lookupTransfers(page.map((row) => moveTransferId(row.timestamp)));
        for (const { transfer } of found) moves.add(transfer.timestamp);
        return page;
      }),
      filter.limit,
      filter.reversed,
      (row) => !moves.has(row.timestamp),
    );
  }

  /** The shard an account lives on: a clearing account's is in its id. */
  private homeShard(account_id: bigint): number {
    return this.routing.route(account_id);
  }

  /** Every shard's matches, merged by timestamp (unique across the ledger; two legs share theirs). */
  async queryTransfers(filter: QueryFilter): Promise<Transfer[]> {
    const rows = await mergedListing(
      this.shards.map((shard) => (limit: number) => shard.store.queryTransfers({ ...filter, limit })),
      filter.limit,
      filter.reversed,
      (row) => !isMoveTransferId(row.id),
    );
    return this.completeLegs(rows);
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

  /**
   * Adds a shard at `url` (an empty database, or the one a stopped addition was filling) and moves
   * to it the accounts the new ring gives it, chunk by chunk, each chunk frozen only while its own
   * round runs; other accounts keep working throughout. Accounts with pending amounts wait on their
   * shard until those resolve, up to `wait_ms_max`; if some still wait then, the addition stays
   * open (routing stays right meanwhile) and running this again with the same URL carries on.
   */
  async addShard(url: string, options: { readonly wait_ms_max?: number; readonly chunk_accounts?: number } = {}): Promise<ShardAdditionReport> {
    const wait_ms_max = options.wait_ms_max ?? shard_addition_wait_ms_default;
    const chunk_accounts = options.chunk_accounts ?? move_chunk_accounts_default;
    let addition = this.routing.addition;
    if (addition !== undefined) {
      const adding = this.shardAt(addition.shard_index);
      if (adding.url !== url) throw new ShardAdditionRefused(`shard ${addition.shard_index} (${describeUrl(adding.url)}) is still being added; finish it first with that URL`);
    } else {
      if (this.shards.some((shard) => shard.url === url)) throw new ShardAdditionRefused(`${describeUrl(url)} is already a shard of this ledger`);
      const map = this.routing.ring.map;
      const shard_index = Math.max(...map.shard_indexes) + 1;
      if (shard_index >= shards_max) throw new ShardAdditionRefused(`a sharded ledger has at most ${shards_max} shards`);
      const schema = this.options.schema ?? ledger_schema_default;
      await migrateLedgerStore({ kind: 'postgres', url, schema });
      const pool = createPostgresPool({ url, schema, max: 4 });
      let store: LedgerStore;
      try {
        await claimShardIdentity(pool, this.ledger_id, shard_index);
        store = new PostgresLedgerStore({ pool, schema, url, owns_pool: true });
      } catch (error) {
        await pool.end();
        throw error;
      }
      const next: ShardMap = { version: map.version + 1, shard_indexes: [...map.shard_indexes, shard_index], virtual_nodes: map.virtual_nodes };
      if ((await beginAddition(this.coordinator_pool, next, shard_index)) !== 'begun') {
        await store.close();
        throw new Error(`shard map version ${next.version} was taken by another process: is a second ledger running on these shards?`);
      }
      const service = await LedgerService.open(store, {
        ...this.options.writer,
        ...(this.options.clock === undefined ? {} : { clock: this.options.clock }),
        ...shardWriterOptions(this.routing, shard_index),
      });
      this.shards = [...this.shards, { index: shard_index, url, store, service }];
      // The new map and the addition take effect together: no account moves until it is moved.
      const before = this.routing.ring;
      this.routing.addMap(next);
      addition = { before, shard_index, moved: new Set() };
      this.routing.addition = addition;
      this.log('info', 'adding a ledger shard', { shard: shard_index, version: next.version });
    }
    const deadline = Date.now() + wait_ms_max;
    let accounts: number | undefined;
    let moved = 0;
    let waiting = 0;
    for (;;) {
      const candidates = new Map<number, bigint[]>();
      let live = 0;
      for (const shard of this.shards) {
        if (shard.index === addition.shard_index) continue;
        for (const id of await liveAccountIds(shard.store)) {
          // Retired copies of accounts moved before are not this shard's to move.
          if (this.routing.route(id) !== shard.index) continue;
          live += 1;
          if (this.routing.ring.shardOf(id) === addition.shard_index) candidates.set(shard.index, [...(candidates.get(shard.index) ?? []), id]);
        }
      }
      accounts ??= live;
      waiting = [...candidates.values()].reduce((sum, ids) => sum + ids.length, 0);
      if (waiting === 0) break;
      let progress = 0;
      for (const [from, ids] of candidates) {
        for (let first = 0; first < ids.length; first += chunk_accounts) {
          const done = await this.queueMove(from, ids.slice(first, first + chunk_accounts));
          progress += done.length;
        }
      }
      moved += progress;
      if (progress === 0) {
        if (Date.now() >= deadline) break;
        await new Promise((resolve) => setTimeout(resolve, shard_addition_retry_ms));
      }
    }
    const shards = this.routing.ring.map.shard_indexes.length;
    const report = { version: this.routing.ring.map.version, shard_index: addition.shard_index, shards, accounts: accounts ?? 0, moved, moved_fraction: accounts === undefined || accounts === 0 ? 0 : moved / accounts, ideal_fraction: 1 / shards, waiting, done: waiting === 0 };
    if (waiting === 0) {
      await finishAddition(this.coordinator_pool, report.version);
      this.routing.addition = undefined;
    }
    this.log('info', report.done ? 'added a ledger shard' : 'a ledger shard addition waits for pending transfers', { ...report });
    return report;
  }

  private queueMove(from: number, account_ids: readonly bigint[]): Promise<bigint[]> {
    if (this.closed) return Promise.reject(new LedgerUnavailableError('the sharded ledger is closed'));
    return new Promise((resolve, reject) => this.queueRoundUnit({ kind: 'move', from, account_ids, resolve, reject }));
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
    await migrateAdditions(coordinator_pool);
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

/** A shard writer's numbering and ownership: its own residue, and the accounts the routing gives it. */
function shardWriterOptions(routing: ShardRouting, shard_index: number): Pick<LedgerServiceOptions, 'timestamp_spacing' | 'ownership'> {
  return {
    timestamp_spacing: { stride: timestamp_stride, residue: BigInt(shard_index + 1) },
    ownership: {
      owns: (id) => routing.route(id) === shard_index,
      isClearingAccount: (id) => parseClearingAccountId(id)?.own === shard_index,
    },
  };
}

/** The ids of a store's accounts other than clearing accounts (retired copies included). */
async function liveAccountIds(store: Pick<LedgerStore, 'readSnapshot'>): Promise<bigint[]> {
  return (await accountsOf(store, (account) => !isClearingAccountId(account.id))).map((account) => account.id);
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

/** Rows read per shard while a merged listing grows, at most. */
const merged_listing_rows_max = 1 << 20;

/**
 * The first `limit` rows, in timestamp order, of several shards' ordered listings, leaving out
 * what `keep` rejects and repeats of one id (two legs). Each shard is asked for `limit` rows, and
 * for twice as many again while the merge is short: a merged row counts only up to the earliest
 * last row of a shard that returned a full page, since that shard may hold earlier rows unread
 * beyond it. Timestamps are unique across the ledger, so the result is exact.
 */
async function mergedListing<Row extends { readonly timestamp: bigint }>(
  sources: readonly ((limit: number) => Promise<Row[]>)[],
  limit: number,
  reversed: boolean,
  keep: (row: Row) => boolean,
): Promise<Row[]> {
  const before = (a: bigint, b: bigint): boolean => (reversed ? a > b : a < b);
  for (let asked = limit; ; asked = Math.min(asked * 2, merged_listing_rows_max)) {
    const pages = await Promise.all(sources.map((source) => source(asked)));
    let cutoff: bigint | undefined;
    for (const page of pages) {
      const last = page[page.length - 1];
      if (page.length < asked || last === undefined) continue;
      if (cutoff === undefined || before(last.timestamp, cutoff)) cutoff = last.timestamp;
    }
    const seen = new Set<string>();
    const merged = pages
      .flat()
      .filter((row) => {
        const key = `${row.timestamp}:${'id' in row ? String(row.id) : ''}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return keep(row) && (cutoff === undefined || !before(cutoff, row.timestamp));
      })
      .sort((a, b) => (reversed ? compareBigint(b.timestamp, a.timestamp) : compareBigint(a.timestamp, b.timestamp)));
    if (merged.length >= limit || cutoff === undefined || asked >= merged_listing_rows_max) return merged.slice(0, limit);
  }
}

/** The first coordinator timestamp (residue 0) after every one given. */
function alignedAfter(timestamps: readonly bigint[]): bigint {
  const latest = timestamps.reduce((max, each) => (each > max ? each : max), 0n);
  return (latest / timestamp_stride + 1n) * timestamp_stride;
}

function timestampOf(event: ImportedEvent): bigint {
  return event.kind === 'account' ? event.account.timestamp : event.transfer.timestamp;
}

function compareBigint(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A URL for messages, without its password. */
function describeUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}

function clearingPrefixHex(): string {
  return clearing_id_prefix.toString(16);
}
