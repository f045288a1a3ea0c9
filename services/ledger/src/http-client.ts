// The ledger's client for a process that does not hold the ledger: the same `LedgerClient` as the
// in-process `LedgerService`, spoken over HTTP through an `Upstream`. The wallet and payments hold
// one or the other and cannot tell them apart: every method answers with the same objects (bigint
// amounts and ids, the same `index` and `id` per result, the same order), and every way the ledger
// can be unreachable is the same `LedgerUnavailableError` the in-process writer throws.
//
// Like TigerBeetle's clients, it gathers concurrent calls into one request: the ledger's speed comes
// from large batches, and a process serving many requests at once makes many small calls.
import { AsyncResource } from 'node:async_hooks';
import { ApiError, assert, currentSpanContext, recordFailure, runInSpan, startBatchSpan, tracingEnabled, type SpanContext } from '@paygrid/kernel';
import { UpstreamUnavailableError, type Upstream, type UpstreamRequest, type UpstreamResponse } from '@paygrid/kernel/transport';
import { ledger_body_limit_bytes, list_limit_max } from './api';
import {
  account_record_bytes,
  decodeAccountEvents,
  decodeResults,
  encodeAccounts,
  encodeIds,
  encodeTransfers,
  ledger_binary_media_type,
  transfer_record_bytes,
} from './binary-wire';
import { create_account_result_by_code, create_transfer_result_by_code } from './result-codes';
import type { CreateAccountResult, CreateTransferResult, EventResult } from './results';
import type { LedgerClient } from './service';
import type { AccountFilter, QueryFilter, StoredAccount, StoredTransfer } from './store';
import {
  TransferFlags,
  amount_max,
  batch_events_max,
  id_max,
  timestamp_max,
  type AccountBalance,
  type AccountEvent,
  type PendingStatus,
  type Transfer,
  type TransferEvent,
} from './types';
import { LedgerUnavailableError } from './writer';

/**
 * Events one request carries at most: the route's batch limit, and what fits its body limit
 * (8,190 records of 128 bytes are just over 1 MiB of the 4 MiB allowed, so the batch limit binds).
 */
export const http_client_request_events_max = Math.min(
  batch_events_max,
  Math.floor(ledger_body_limit_bytes / Math.max(account_record_bytes, transfer_record_bytes)),
);
/**
 * Distinct ids one lookup request carries at most. Transfers are looked up in JSON, whose ids are
 * at most 41 bytes each with quotes and comma: 8,190 of them are about 330 KiB, well inside 4 MiB.
 */
export const http_client_lookup_ids_max = batch_events_max;
/**
 * Events waiting to be sent, at most: past this the client refuses new writes with
 * `LedgerUnavailableError`, as an overloaded writer does, instead of growing while the ledger is
 * slow. Sixteen full requests: the benchmark's 64 busy callers keep about 160 events waiting.
 */
export const http_client_queue_events_max = batch_events_max * 16;
/** Ids waiting to be looked up, at most, for the same reason. */
export const http_client_queue_ids_max = batch_events_max * 16;
/**
 * Write batches in flight by default. One keeps calls in the order they were made, as the
 * writer's queue does in process: a call made before another is applied before it, even when the
 * caller did not wait for the first (two requests on two connections may arrive in either order).
 */
export const http_client_writes_in_flight_default = 1;
/** Write batches in flight, at most, for a client that gives up that order for throughput. */
export const http_client_writes_in_flight_max = 8;
/** Lookup batches in flight, at most. Lookups are reads; their order never mattered. */
export const http_client_lookups_in_flight_max = 4;

export interface LedgerHttpClientMetrics {
  /** One request sent: how many calls it gathered, how many events or ids, and how long it took. */
  observeRequest(route: 'accounts' | 'transfers' | 'accounts_lookup' | 'transfers_lookup', calls: number, items: number, seconds: number): void;
}

export interface LedgerHttpClientOptions {
  /** The ledger service's upstream (one address, or a balanced set of instances). */
  readonly upstream: Upstream;
  /** The `authorization` header value: `Bearer <operator key>`. */
  readonly authorization?: string;
  /** Further headers for every request. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Each request's deadline; without it the upstream's (or the incoming request's) applies. */
  readonly timeout_ms?: number;
  /** 1 (the default) keeps calls in order; see `http_client_writes_in_flight_default`. */
  readonly writes_in_flight?: number;
  readonly metrics?: LedgerHttpClientMetrics;
}

/**
 * Any answer but a 2xx or a 503: the request was malformed or not allowed, which is a bug in this
 * client or its configuration (a wrong operator key), never a state of the ledger. It carries the
 * answer's error shape, `{ error: { type, code, message, param? } }`.
 */
export class LedgerRequestError extends Error {
  override readonly name = 'LedgerRequestError';

  constructor(
    readonly status: number,
    readonly type: string,
    readonly code: string,
    message: string,
    readonly param: string | undefined,
  ) {
    super(`The ledger answered ${status} ${type}/${code}: ${message}${param === undefined ? '' : ` (${param})`}`);
  }
}

type WriteCall =
  | {
      readonly kind: 'accounts';
      readonly events: readonly AccountEvent[];
      readonly resolve: (results: EventResult<CreateAccountResult>[]) => void;
      readonly reject: (error: Error) => void;
      readonly caller?: SpanContext;
    }
  | {
      readonly kind: 'transfers';
      readonly events: readonly TransferEvent[];
      readonly resolve: (results: EventResult<CreateTransferResult>[]) => void;
      readonly reject: (error: Error) => void;
  readonly caller?: SpanContext;
    };

interface LookupCall<Found> {
  readonly ids: readonly bigint[];
  readonly resolve: (found: Found[]) => void;
  readonly reject: (error: Error) => void;
  /** The span the call came from (undefined with tracing off): the request's span takes it as parent or link. */
  readonly caller?: SpanContext;
}

/**
 * The ledger over HTTP. Writes (createAccounts, createTransfers) and account lookups travel in
 * TigerBeetle's binary records; transfer lookups and listings in JSON, which carries what the
 * binary layout cannot (a pending transfer's status) and pages the listings.
 *
 * One thing a caller must already allow for, and must not forget here: a LedgerUnavailableError
 * from this client may come after the ledger applied the call (the answer was lost on the way
 * back), which in process happens only when a commit's own acknowledgement is lost. Sending the
 * same events again, with the same ids, is always right: what was applied answers `exists`.
 */
export class LedgerHttpClient implements LedgerClient {
  private readonly upstream: Upstream;
  private readonly headers: Readonly<Record<string, string>>;
  private readonly timeout_ms: number | undefined;
  private readonly writes_in_flight_max: number;
  private readonly metrics: LedgerHttpClientMetrics | undefined;
  private readonly writes: WriteCall[] = [];
  private writes_queued_events = 0;
  private writes_in_flight = 0;
  private writes_scheduled = false;
  private readonly account_lookups: LookupBatcher<StoredAccount>;
  private readonly transfer_lookups: LookupBatcher<StoredTransfer>;
  private closed = false;
  private readonly drained: (() => void)[] = [];
  /**
   * Batches are sent in the client's own async context, the one it was made in, and never in the
   * context of the call that happened to come first: a batch carries many callers' events, and the
   * first caller's request deadline (which the upstream applies to calls made in its context)
   * would otherwise govern everyone's. The upstream's own timeout bounds every batch. Traces are
   * joined on purpose instead (inBatchSpan): the first traced caller parents the batch's span, and
   * the others are linked to it.
   */
  private readonly own_context = new AsyncResource('LedgerHttpClient');

  constructor(options: LedgerHttpClientOptions) {
    const writes_in_flight = options.writes_in_flight ?? http_client_writes_in_flight_default;
    assert(Number.isInteger(writes_in_flight) && writes_in_flight >= 1, 'writes_in_flight is at least 1');
    assert(writes_in_flight <= http_client_writes_in_flight_max, `writes_in_flight is at most ${http_client_writes_in_flight_max}`);
    this.upstream = options.upstream;
    this.headers = { ...options.headers, ...(options.authorization === undefined ? {} : { authorization: options.authorization }) };
    this.timeout_ms = options.timeout_ms;
    this.writes_in_flight_max = writes_in_flight;
    this.metrics = options.metrics;
    const later = (work: () => void) => this.later(work);
    this.account_lookups = new LookupBatcher((ids) => this.lookupAccountsNow(ids), (account) => account.id, copyAccount, later, () => this.onIdle());
    this.transfer_lookups = new LookupBatcher((ids) => this.lookupTransfersNow(ids), (stored) => stored.transfer.id, copyStoredTransfer, later, () => this.onIdle());
  }

  createAccounts(events: readonly AccountEvent[]): Promise<EventResult<CreateAccountResult>[]> {
    return new Promise((resolve, reject) => this.enqueueWrite({ kind: 'accounts', events, resolve, reject, caller: currentSpanContext() }));
  }

  createTransfers(events: readonly TransferEvent[]): Promise<EventResult<CreateTransferResult>[]> {
    return new Promise((resolve, reject) => this.enqueueWrite({ kind: 'transfers', events, resolve, reject, caller: currentSpanContext() }));
  }

  lookupAccounts(ids: readonly bigint[]): Promise<StoredAccount[]> {
    if (this.closed) return Promise.reject(closedError());
    return this.account_lookups.lookup(ids);
  }

  lookupTransfers(ids: readonly bigint[]): Promise<StoredTransfer[]> {
    if (this.closed) return Promise.reject(closedError());
    return this.transfer_lookups.lookup(ids);
  }

  getAccountTransfers(filter: AccountFilter): Promise<Transfer[]> {
    if (this.closed) return Promise.reject(closedError());
    checkAccountFilter(filter);
    return this.listPages(filter, `/v1/ledger/accounts/${filter.account_id}/transfers`, accountFilterQuery(filter), transferFromWire);
  }

  getAccountBalances(filter: AccountFilter): Promise<AccountBalance[]> {
    if (this.closed) return Promise.reject(closedError());
    checkAccountFilter(filter);
    return this.listPages(filter, `/v1/ledger/accounts/${filter.account_id}/balances`, accountFilterQuery(filter), balanceFromWire);
  }

  queryTransfers(filter: QueryFilter): Promise<Transfer[]> {
    if (this.closed) return Promise.reject(closedError());
    return this.listPages(filter, '/v1/ledger/transfers', queryFilterQuery(filter), transferFromWire);
  }

  /**
   * Stops taking calls and waits for everything queued and in flight to be answered. The upstream
   * is its owner's to close.
   */
  async close(): Promise<void> {
    this.closed = true;
    while (!this.idle()) await new Promise<void>((resolve) => this.drained.push(resolve));
  }

  // -------------------------------------------------------------------------------------------
  // Writes.

  private enqueueWrite(call: WriteCall): void {
    if (this.closed) {
      call.reject(closedError());
      return;
    }
    // The writer asserts the same: a larger call is a bug in the caller, which the route would
    // refuse whole.
    assert(call.events.length <= batch_events_max, `a ledger call carries at most ${batch_events_max} events`);
    if (this.writes_queued_events + call.events.length > http_client_queue_events_max) {
      call.reject(new LedgerUnavailableError('the ledger client is overloaded; retry later'));
      return;
    }
    this.writes.push(call);
    this.writes_queued_events += call.events.length;
    this.scheduleWrites();
  }

  /**
   * Sends on the next turn of the event loop, not at once: every call made meanwhile (the callers
   * an answer just woke up, a request's parallel steps) joins the same request.
   */
  private scheduleWrites(): void {
    if (this.writes_scheduled || this.writes.length === 0 || this.writes_in_flight >= this.writes_in_flight_max) return;
    this.writes_scheduled = true;
    this.later(() => {
      this.writes_scheduled = false;
      while (this.writes.length > 0 && this.writes_in_flight < this.writes_in_flight_max) void this.sendWrites(this.takeWriteBatch());
    });
  }

  /** Runs `work` on the next turn of the event loop, in the client's own context. */
  private later(work: () => void): void {
    this.own_context.runInAsyncScope(() => setImmediate(work));
  }

  /**
   * The longest run of queued calls, oldest first, of one kind, that fits one request. A call whose
   * last event is `linked` leaves its chain open, which the ledger answers with
   * `linked_event_chain_open` only at the end of a request: followed by another caller's events,
   * the chain would run on into them. Such a call therefore ends its batch, where its answer is
   * exactly the one it would get alone. Every other call ends with a closed chain, so chains never
   * cross from one caller into the next, and the ledger answers each event as it would have in a
   * request of its own (it applies a request's events in order, as the writer applies queued calls).
   */
  private takeWriteBatch(): WriteCall[] {
    const kind = this.writes[0]?.kind;
    let taken = 0;
    let events = 0;
    for (const next of this.writes) {
      if (taken > 0 && (next.kind !== kind || events + next.events.length > http_client_request_events_max)) break;
      taken += 1;
      events += next.events.length;
      if (chainLeftOpen(next.events)) break;
    }
    this.writes_queued_events -= events;
    return this.writes.splice(0, taken);
  }

  private async sendWrites(batch: WriteCall[]): Promise<void> {
    this.writes_in_flight += 1;
    const started_at = process.hrtime.bigint();
    const kind = batch[0]?.kind;
    assert(kind !== undefined, 'a write batch holds at least one call');
    try {
      const { body, ids } = encodeWriteBatch(batch);
      // A batch of empty calls has nothing to send; the ledger would refuse an empty body.
      const results = ids.length === 0 ? [] : await inBatchSpan(`ledger client ${kind}`, batch, ids.length, () => this.sendEvents(kind, body, ids));
      let offset = 0;
      for (const call of batch) {
        const own = results.slice(offset, offset + call.events.length);
        const base = offset;
        offset += call.events.length;
        // Each caller sees its own events numbered from 0, as in a request of its own.
        if (call.kind === 'accounts') call.resolve(own.map(({ index, id, result }) => ({ index: index - base, id, result: accountResult(result) })));
        else call.resolve(own.map(({ index, id, result }) => ({ index: index - base, id, result: transferResult(result) })));
      }
      if (ids.length > 0) this.metrics?.observeRequest(kind, batch.length, ids.length, secondsSince(started_at));
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      for (const call of batch) call.reject(failure);
    } finally {
      this.writes_in_flight -= 1;
      this.scheduleWrites();
      this.onIdle();
    }
  }

  private async sendEvents(kind: 'accounts' | 'transfers', body: Buffer, ids: readonly bigint[]): Promise<EventResult<string>[]> {
    const answer = await this.send({
      method: 'POST',
      path: `/v1/ledger/${kind}`,
      headers: { 'content-type': ledger_binary_media_type, accept: ledger_binary_media_type },
      body,
      // Safe to send twice: every event carries its id, and the ledger applies an id once. A
      // repeat is answered `exists` (or `exists_with_different_*` for a different event under the
      // same id, which a repeat of these bytes cannot be), and no second movement happens. So an
      // upstream may retry this on another instance after a failure that may have reached the
      // ledger; the caller then sees `exists` for what the lost attempt applied, as it would when
      // it retried after a LedgerUnavailableError itself.
      idempotent: true,
    });
    expectMediaType(answer.headers['content-type'], ledger_binary_media_type);
    const results: EventResult<string>[] =
      kind === 'accounts' ? decodeResults(answer.body, create_account_result_by_code) : decodeResults(answer.body, create_transfer_result_by_code);
    // The split back to callers relies on one result per event, in event order.
    assert(results.length === ids.length, 'the ledger answered a different number of results than events');
    results.forEach((result, index) => {
      assert(result.index === index, 'the ledger answered results out of order');
      assert(result.id === ids[index], 'the ledger answered a result for another id');
    });
    return results;
  }

  // -------------------------------------------------------------------------------------------
  // Lookups.

  /** Accounts by id, in TigerBeetle's 128-byte layout, which carries every field of an account. */
  private async lookupAccountsNow(ids: readonly bigint[]): Promise<StoredAccount[]> {
    const started_at = process.hrtime.bigint();
    const answer = await this.send({
      method: 'POST',
      path: '/v1/ledger/accounts/lookup',
      headers: { 'content-type': ledger_binary_media_type, accept: ledger_binary_media_type },
      body: encodeIds(ids),
      idempotent: true,
    });
    expectMediaType(answer.headers['content-type'], ledger_binary_media_type);
    const accounts = answer.body.length === 0 ? [] : answerOrAssert(() => decodeAccountEvents(answer.body));
    this.metrics?.observeRequest('accounts_lookup', 1, ids.length, secondsSince(started_at));
    return accounts;
  }

  /**
   * Transfers by id, in JSON: the 128-byte layout has no room for a pending transfer's status
   * (`posted`, `voided`, `expired`), which the in-process lookup returns and callers read.
   */
  private async lookupTransfersNow(ids: readonly bigint[]): Promise<StoredTransfer[]> {
    const started_at = process.hrtime.bigint();
    const answer = await this.send({
      method: 'POST',
      path: '/v1/ledger/transfers/lookup',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ids: ids.map(String) }),
      idempotent: true,
    });
    const found = listFromWire(answer, (row) => ({ transfer: transferFromWire(row), status: pendingStatusFromWire(row.pending_status) }));
    this.metrics?.observeRequest('transfers_lookup', 1, ids.length, secondsSince(started_at));
    return found.data;
  }

  // -------------------------------------------------------------------------------------------
  // Listings.

  /**
   * A listing of up to `filter.limit` rows, in pages of at most the route's 100: each page starts
   * past the last row's timestamp. Rows are keyed by timestamp (a transfer's, or the balance row's,
   * which is its transfer's), so pages neither overlap nor skip. A transfer committed between two
   * pages can only have a later timestamp than every committed one: newest-first listings never
   * see it, and oldest-first ones see it as a single read made a moment later would.
   */
  private async listPages<Row extends { readonly timestamp: bigint }>(
    filter: { readonly limit: number; readonly reversed: boolean; readonly timestamp_min?: bigint; readonly timestamp_max?: bigint },
    path: string,
    query: URLSearchParams,
    fromWire: (row: WireRow) => Row,
  ): Promise<Row[]> {
    assert(Number.isSafeInteger(filter.limit) && filter.limit >= 0, 'a listing limit is a whole number');
    const rows: Row[] = [];
    let timestamp_min = filter.timestamp_min ?? 0n;
    let timestamp_max = filter.timestamp_max ?? timestamp_max_query;
    while (rows.length < filter.limit && timestamp_min <= timestamp_max) {
      const page_limit = Math.min(filter.limit - rows.length, list_limit_max);
      query.set('limit', String(page_limit));
      query.set('timestamp_min', String(timestamp_min));
      query.set('timestamp_max', String(timestamp_max));
      const answer = await this.send({ method: 'GET', path: `${path}?${query.toString()}`, idempotent: true });
      const page = listFromWire(answer, fromWire);
      assert(page.data.length <= page_limit, 'the ledger answered more rows than asked');
      rows.push(...page.data);
      const last = page.data[page.data.length - 1];
      if (!page.has_more || last === undefined) break;
      if (filter.reversed) timestamp_max = last.timestamp - 1n;
      else timestamp_min = last.timestamp + 1n;
    }
    return rows;
  }

  // -------------------------------------------------------------------------------------------
  // The wire.

  /** One request; every way of not getting an answer from the ledger is LedgerUnavailableError. */
  private async send(request: UpstreamRequest): Promise<UpstreamResponse> {
    let answer: UpstreamResponse;
    try {
      answer = await this.upstream.request({
        ...request,
        headers: { ...this.headers, ...request.headers },
        ...(this.timeout_ms === undefined ? {} : { timeout_ms: this.timeout_ms }),
      });
    } catch (error) {
      if (error instanceof UpstreamUnavailableError) throw new LedgerUnavailableError(`the ledger could not be reached: ${error.message}`, { cause: error });
      throw error;
    }
    if (answer.status >= 200 && answer.status < 300) return answer;
    const wire = wireError(answer.body);
    // Every 503 means "not now": the writer is not running or is overloaded (`ledger_unavailable`),
    // the server is shutting down (`shutting_down`), or a proxy has no instance to send to. In
    // process these are all LedgerUnavailableError, and callers retry it.
    if (answer.status === 503) throw new LedgerUnavailableError(`the ledger is unavailable: ${wire.code}: ${wire.message}`);
    throw new LedgerRequestError(answer.status, wire.type, wire.code, wire.message, wire.param);
  }

  private idle(): boolean {
    return this.writes.length === 0 && this.writes_in_flight === 0 && this.account_lookups.idle() && this.transfer_lookups.idle();
  }

  private onIdle(): void {
    if (this.drained.length === 0 || !this.idle()) return;
    for (const resolve of this.drained.splice(0)) resolve();
  }
}

/**
 * Gathers concurrent lookups of one kind: each request asks for every distinct id once (up to
 * `http_client_lookup_ids_max`), and each caller gets exactly what a lookup of its own ids would
 * return: in the order it asked, ids not found left out, an id asked twice answered twice, each
 * answer an object of its own.
 */
class LookupBatcher<Found> {
  private readonly queue: LookupCall<Found>[] = [];
  private queued_ids = 0;
  private in_flight = 0;
  private scheduled = false;

  constructor(
    private readonly fetch: (ids: readonly bigint[]) => Promise<Found[]>,
    private readonly idOf: (found: Found) => bigint,
    private readonly copy: (found: Found) => Found,
    private readonly later: (work: () => void) => void,
    private readonly onSettled: () => void,
  ) {}

  lookup(ids: readonly bigint[]): Promise<Found[]> {
    if (ids.length === 0) return Promise.resolve([]);
    // A single call larger than the limit still goes (in process it would, and its ids are in
    // memory already); what the limit stops is calls piling up behind a slow ledger.
    if (this.queue.length > 0 && this.queued_ids + ids.length > http_client_queue_ids_max) {
      return Promise.reject(new LedgerUnavailableError('the ledger client is overloaded; retry later'));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ ids, resolve, reject, caller: currentSpanContext() });
      this.queued_ids += ids.length;
      this.schedule();
    });
  }

  idle(): boolean {
    return this.queue.length === 0 && this.in_flight === 0;
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0 || this.in_flight >= http_client_lookups_in_flight_max) return;
    this.scheduled = true;
    this.later(() => {
      this.scheduled = false;
      while (this.queue.length > 0 && this.in_flight < http_client_lookups_in_flight_max) void this.send(this.take());
    });
  }

  /** Calls, oldest first, until their distinct ids fill a request; a larger call goes alone, in several. */
  private take(): { calls: LookupCall<Found>[]; ids: bigint[] } {
    const ids = new Set<bigint>();
    let taken = 0;
    for (const next of this.queue) {
      if (taken > 0 && ids.size + next.ids.length > http_client_lookup_ids_max) break;
      taken += 1;
      this.queued_ids -= next.ids.length;
      for (const id of next.ids) ids.add(id);
    }
    return { calls: this.queue.splice(0, taken), ids: [...ids] };
  }

  private async send({ calls, ids }: { calls: LookupCall<Found>[]; ids: bigint[] }): Promise<void> {
    this.in_flight += 1;
    try {
      const found = new Map<bigint, Found>();
      for (let at = 0; at < ids.length; at += http_client_lookup_ids_max) {
        const chunk = ids.slice(at, at + http_client_lookup_ids_max);
        for (const each of await inBatchSpan('ledger client lookup', calls, chunk.length, () => this.fetch(chunk))) found.set(this.idOf(each), each);
      }
      for (const call of calls) {
        call.resolve(
          call.ids.flatMap((id) => {
            const each = found.get(id);
            return each === undefined ? [] : [this.copy(each)];
          }),
        );
      }
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      for (const call of calls) call.reject(failure);
    } finally {
      this.in_flight -= 1;
      this.schedule();
      this.onSettled();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/**
 * Runs a request sent for many callers inside a span parented by the first traced caller and
 * linked to the others (the batch is sent in the client's own context, which has no trace), so
 * the upstream's client span and the ledger's spans join the callers' traces. Straight through
 * with tracing off.
 */
async function inBatchSpan<T>(name: string, calls: readonly { readonly caller?: SpanContext }[], events: number, send: () => Promise<T>): Promise<T> {
  if (!tracingEnabled()) return send();
  const span = startBatchSpan(name, calls.map((call) => call.caller), { 'paygrid.ledger.batch.events': events, 'paygrid.ledger.batch.requests': calls.length });
  if (span === undefined) return send();
  try {
    return await runInSpan(span, send);
  } catch (error) {
    recordFailure(span, error);
    throw error;
  } finally {
    span.end();
  }
}

function closedError(): LedgerUnavailableError {
  return new LedgerUnavailableError('the ledger client is closed');
}

/** One request's body: the batch's events, caller after caller, and their ids in the same order. */
function encodeWriteBatch(batch: readonly WriteCall[]): { body: Buffer; ids: bigint[] } {
  const accounts: AccountEvent[] = [];
  const transfers: TransferEvent[] = [];
  for (const call of batch) {
    if (call.kind === 'accounts') for (const event of call.events) accounts.push(event);
    else for (const event of call.events) transfers.push(event);
  }
  assert(accounts.length === 0 || transfers.length === 0, 'a write batch holds calls of one kind');
  if (accounts.length > 0) return { body: encodeAccounts(accounts), ids: accounts.map((event) => event.id) };
  return { body: encodeTransfers(transfers), ids: transfers.map((event) => event.id) };
}

function chainLeftOpen(events: readonly { readonly flags: number }[]): boolean {
  const last = events[events.length - 1];
  // `linked` is bit 0 for accounts and transfers alike.
  return last !== undefined && (last.flags & TransferFlags.linked) !== 0;
}

function secondsSince(started_at: bigint): number {
  return Number(process.hrtime.bigint() - started_at) / 1e9;
}

function accountResult(result: string): CreateAccountResult {
  assert(create_account_result_names.has(result), `unknown account result ${result}`);
  return result as CreateAccountResult;
}

function transferResult(result: string): CreateTransferResult {
  assert(create_transfer_result_names.has(result), `unknown transfer result ${result}`);
  return result as CreateTransferResult;
}

const create_account_result_names: ReadonlySet<string> = new Set(create_account_result_by_code.values());
const create_transfer_result_names: ReadonlySet<string> = new Set(create_transfer_result_by_code.values());

function copyAccount(account: StoredAccount): StoredAccount {
  return { ...account };
}

function copyStoredTransfer(stored: StoredTransfer): StoredTransfer {
  return { transfer: { ...stored.transfer }, status: stored.status };
}

/**
 * Reads an answer with a decoder written for requests, which refuses a malformed body with a 400
 * ApiError. In an answer that is the ledger and this client disagreeing about the wire: a bug,
 * not something for a caller to retry.
 */
function answerOrAssert<T>(decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    assert(!(error instanceof ApiError), `the ledger answered a malformed body: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  }
}

function expectMediaType(header: string | string[] | undefined, expected: string): void {
  const value = Array.isArray(header) ? header[0] : header;
  assert(value?.split(';')[0]?.trim() === expected, `the ledger answered ${value ?? 'no content type'} where ${expected} was asked for`);
}

function wireError(body: Buffer): { type: string; code: string; message: string; param: string | undefined } {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    const error = isRecord(parsed) ? parsed.error : undefined;
    if (isRecord(error) && typeof error.type === 'string' && typeof error.code === 'string' && typeof error.message === 'string') {
      return { type: error.type, code: error.code, message: error.message, param: typeof error.param === 'string' ? error.param : undefined };
    }
  } catch {
    // Not our error shape (a proxy's page, say): reported as it came, below.
  }
  return { type: 'api_error', code: 'answer_unreadable', message: body.toString('utf8').slice(0, answer_quoted_bytes_max), param: undefined };
}

/** The most of an unreadable error answer quoted in an error message. */
const answer_quoted_bytes_max = 200;

/** The largest timestamp the listing routes take. */
const timestamp_max_query = timestamp_max;

// ---------------------------------------------------------------------------------------------
// Filters to query strings. Each field the route takes, and only when set: the routes refuse
// unknown parameters, and an unset one means "any".

function checkAccountFilter(filter: AccountFilter): void {
  // The store asserts the same; the route would answer 400.
  assert(filter.debits || filter.credits, 'an account filter names debits, credits or both');
}

function transferFieldsQuery(filter: AccountFilter | QueryFilter): URLSearchParams {
  const query = new URLSearchParams();
  query.set('reversed', String(filter.reversed));
  if (filter.code !== undefined) query.set('code', String(filter.code));
  if (filter.user_data_128 !== undefined) query.set('user_data_128', String(filter.user_data_128));
  if (filter.user_data_64 !== undefined) query.set('user_data_64', String(filter.user_data_64));
  if (filter.user_data_32 !== undefined) query.set('user_data_32', String(filter.user_data_32));
  return query;
}

function accountFilterQuery(filter: AccountFilter): URLSearchParams {
  const query = transferFieldsQuery(filter);
  query.set('debits', String(filter.debits));
  query.set('credits', String(filter.credits));
  return query;
}

function queryFilterQuery(filter: QueryFilter): URLSearchParams {
  const query = transferFieldsQuery(filter);
  if (filter.ledger !== undefined) query.set('ledger', String(filter.ledger));
  return query;
}

// ---------------------------------------------------------------------------------------------
// The JSON wire back to the ledger's types (wire.ts writes it). The ledger's answers are checked
// as they are read: a field that is not what the ledger writes means the two sides disagree about
// the wire, a bug that must not turn into a wrong amount.

type WireRow = Readonly<Record<string, unknown>>;

function isRecord(value: unknown): value is WireRow {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function listFromWire<Row>(answer: { readonly body: Buffer }, fromWire: (row: WireRow) => Row): { data: Row[]; has_more: boolean } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.body.toString('utf8'));
  } catch (error) {
    assert(false, `the ledger answered something other than JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  assert(isRecord(parsed) && parsed.object === 'list' && Array.isArray(parsed.data), 'the ledger answered something other than a list');
  const data: unknown[] = parsed.data;
  return {
    data: data.map((row) => {
      assert(isRecord(row), 'a ledger list holds objects');
      return fromWire(row);
    }),
    has_more: parsed.has_more === true,
  };
}

const decimal = /^(0|[1-9][0-9]{0,38})$/;

function decimalField(row: WireRow, name: string, max: bigint): bigint {
  const value = row[name];
  assert(typeof value === 'string' && decimal.test(value), `the ledger answered ${name} as something other than a decimal string`);
  const parsed = BigInt(value);
  assert(parsed <= max, `the ledger answered ${name} out of range`);
  return parsed;
}

/** An amount, balance or `user_data_64`: a JSON integer within 2^53 - 1, exact as a bigint. */
function amountField(row: WireRow, name: string): bigint {
  const value = row[name];
  assert(typeof value === 'number' && Number.isSafeInteger(value) && value >= 0, `the ledger answered ${name} as something other than a safe integer`);
  const parsed = BigInt(value);
  assert(parsed <= amount_max);
  return parsed;
}

function smallField(row: WireRow, name: string): number {
  const value = row[name];
  assert(typeof value === 'number' && Number.isSafeInteger(value) && value >= 0, `the ledger answered ${name} as something other than an integer`);
  return value;
}

function flagsField(row: WireRow, table: Readonly<Record<string, number>>): number {
  const names = row.flags;
  assert(Array.isArray(names), 'the ledger answered flags as something other than a list');
  let bits = 0;
  for (const name of names) {
    assert(typeof name === 'string' && Object.hasOwn(table, name), `the ledger answered an unknown flag ${String(name)}`);
    bits |= table[name] ?? 0;
  }
  return bits;
}

/** A transfer, with its fields in the order the stores build them. */
function transferFromWire(row: WireRow): Transfer {
  return {
    id: decimalField(row, 'id', id_max),
    debit_account_id: decimalField(row, 'debit_account_id', id_max),
    credit_account_id: decimalField(row, 'credit_account_id', id_max),
    amount: amountField(row, 'amount'),
    pending_id: decimalField(row, 'pending_id', id_max),
    user_data_128: decimalField(row, 'user_data_128', id_max),
    user_data_64: amountField(row, 'user_data_64'),
    user_data_32: smallField(row, 'user_data_32'),
    timeout: smallField(row, 'timeout'),
    ledger: smallField(row, 'ledger'),
    code: smallField(row, 'code'),
    flags: flagsField(row, TransferFlags),
    timestamp: decimalField(row, 'timestamp', timestamp_max),
  };
}

function balanceFromWire(row: WireRow): AccountBalance {
  return {
    account_id: decimalField(row, 'account_id', id_max),
    timestamp: decimalField(row, 'timestamp', timestamp_max),
    debits_pending: amountField(row, 'debits_pending'),
    debits_posted: amountField(row, 'debits_posted'),
    credits_pending: amountField(row, 'credits_pending'),
    credits_posted: amountField(row, 'credits_posted'),
  };
}

const pending_statuses: readonly PendingStatus[] = ['pending', 'posted', 'voided', 'expired'];

function pendingStatusFromWire(value: unknown): PendingStatus | undefined {
  if (value === undefined) return undefined;
  const status = pending_statuses.find((each) => each === value);
  assert(status !== undefined, `the ledger answered an unknown pending status ${JSON.stringify(value)}`);
  return status;
}
