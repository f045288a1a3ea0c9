// The webhooks service. Producers publish events; each is stored with one delivery per matching
// enabled endpoint, in one transaction. A delivery is a saga of one step (`send`, declared below as
// data on the kernel's runner): a bounded delivery loop leases due deliveries' runs, sends each as
// a Standard Webhooks request outside any transaction, and records the attempt in the commit that
// records the run: a 2xx answer ends the delivery, anything else is retried on the schedule until
// it is spent. Deliveries are at least once: a process that dies mid-attempt leaves its lease to
// run out, and then another process sends the delivery again.
import {
  ApiError,
  contextOfTraceparent,
  currentTraceparent,
  SpanKind,
  SpanStatusCode,
  withSpan,
  GroupCommitter,
  SagaRunner,
  assert,
  defineSaga,
  defineStep,
  fail,
  invalidRequest,
  isAssertionError,
  next,
  randomId,
  retry,
  scheduledRetry,
  stop,
  systemClock,
  type Clock,
  type Database,
  type Lease,
  type Page,
  type PageRequest,
  type SagaDefinition,
  type StepOutcome,
  type Tenant,
} from '@paygrid/kernel';
import { checkRewrapBatchSize, rewrapStore, sealLegacyRows, SealedFieldError, type Keyring, type RewrapBatchResult, type RewrapOptions, type RewrapResult, type WrappedKeyStore } from '@paygrid/kernel/envelope';
import { EndpointSecrets, secretLast4 } from './secrets';
import { checkSchedule, retry_after_ms_max, retry_jitter_percent, retry_schedule_ms_default, type RandomSource } from './schedule';
import { delivery_timeout_ms_default, delivery_timeout_ms_max, error_length_max, sendAttempt, type AttemptOutcome } from './sender';
import { newEndpointSecret, signDelivery } from './signing';
import {
  advanceDelivery,
  countEndpoints,
  countSecretKeysByKek,
  deleteEndpoint,
  delivery_saga_name,
  enabledEndpoints,
  findDelivery,
  findEndpoint,
  findEndpointById,
  findEvent,
  findEventById,
  insertAttempt,
  insertDelivery,
  insertEndpoint,
  insertEvent,
  legacySecrets,
  listAttempts,
  listEndpoints,
  listEvents,
  markEndpointAnswering,
  markEndpointFailing,
  rewrapSecretKey,
  sealLegacySecret,
  secretKeysNotUnder,
  updateEndpoint,
  type DeliveryRecord,
  type EndpointRecord,
  type EventRecord,
} from './store';
import { endpoint_transitions, transition } from './transitions';
import { Agent } from 'undici';
import { WebhookUrlGuard, lookupAddresses, publicOnlyLookup, type AddressLookup, type WebhookMode } from './url-guard';
import {
  all_events_wildcard,
  type CreatedWebhookEndpoint,
  type CreateEndpointInput,
  type DeletedWebhookEndpoint,
  type ListDeliveryAttemptsFilter,
  type ListEventsFilter,
  type PublishEventInput,
  type UpdateEndpointInput,
  type WebhookDelivery,
  type WebhookDeliveryAttempt,
  type WebhookEndpoint,
  type WebhookEvent,
  type WebhookEventType,
  type WebhooksClient,
} from './types';
import {
  checkCount,
  checkDescription,
  checkEnabledEvents,
  checkEndpointStatus,
  checkEventId,
  checkEventType,
  checkUrl,
  encodeEventBody,
  isPlainObject,
  isPlausibleId,
} from './validation';
import { attemptToWire, deliveryToWire, endpointToWire, eventToWire, secondsOf } from './wire';

/** Deliveries one process sends at the same time, at most. */
export const deliveries_in_flight_max_default = 32;
/** Deliveries one claim takes at most. */
export const claim_batch_max = 100;
/** How often the loop looks for retries that have come due (new events wake it at once). */
export const poll_interval_ms_default = 1_000;
/**
 * How long a claimed delivery stays its process's after the process's last renewal of the lease.
 * The runner renews it every third of it (5 s) while the request is in flight, however long the
 * receiver takes, so this bounds how long a delivery a dead process claimed waits to be sent
 * again. It is chosen against a loaded PostgreSQL's write, as payments' attempt lease is: a live
 * process loses a delivery only if two renewals in a row fail to commit within 5 s each, and a
 * delivery lost that way is sent twice.
 */
export const delivery_lease_ms_default = 15_000;
/** Endpoints per merchant and mode, as Stripe allows: it also bounds the fan-out of one event. */
export const endpoints_per_tenant_max = 16;
/** A receiver's answer of 410 Gone means it wants no more events: its endpoint is disabled at once. */
export const gone_status = 410;
/** Endpoints sealed per transaction by the start-up step that seals secrets stored in plain text. */
export const legacy_sealing_batch_size = 500;

export type WebhooksLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export interface WebhooksServiceOptions {
  readonly database: Database;
  /** Seals endpoints' signing secrets (secrets.ts); shared with the other services that seal, so that a rotation switches all at once. */
  readonly keyring: Keyring;
  readonly clock?: Clock;
  /** How requests reach receivers; the global fetch by default. */
  readonly fetch?: typeof fetch;
  /** Delays in milliseconds before each retry (see retry_schedule_ms_default). */
  readonly schedule?: readonly number[];
  readonly log?: WebhooksLog;
  readonly delivery_timeout_ms?: number;
  readonly lease_ms?: number;
  readonly poll_interval_ms?: number;
  readonly deliveries_in_flight_max?: number;
  /** Jitter source, uniform in [0, 1). */
  readonly random?: RandomSource;
  /**
   * Lets endpoints of both modes receive webhooks on private, loopback and other non-public
   * addresses (a private install's receivers live there). Off by default; https stays required
   * in live mode.
   */
  readonly allow_private_urls?: boolean;
  /**
   * Allows non-public addresses for test-mode endpoints (WEBHOOK_TEST_MODE_PRIVATE_URLS): local
   * development and tests send to http://127.0.0.1. Off unless asked for.
   */
  readonly test_mode_private_urls?: boolean;
  /** How endpoints' host names are resolved for the URL guard and its sockets; the system resolver by default. */
  readonly lookup?: AddressLookup;
  /** Told of every attempt's outcome once it is known, for the delivery metrics. */
  readonly observeAttempt?: (outcome: AttemptOutcome) => void;
}

function missing(what: string, id: string, param: string): ApiError {
  return new ApiError('not_found_error', 'resource_missing', `No such ${what}: '${id}'`, param);
}


function subscribes(endpoint: EndpointRecord, type: WebhookEventType): boolean {
  return endpoint.enabled_events.includes(all_events_wildcard) || endpoint.enabled_events.includes(type);
}

function belongsTo(record: { readonly merchant_id: string; readonly livemode: boolean }, tenant: Tenant): boolean {
  return record.merchant_id === tenant.merchant_id && record.livemode === tenant.livemode;
}

interface ModeGuard {
  readonly guard: WebhookUrlGuard;
  /** Sockets that resolve through the guard's lookup; absent when non-public addresses are allowed. */
  readonly dispatcher: Agent | undefined;
}

function modeGuard(mode: WebhookMode, allow_private_urls: boolean, lookup: AddressLookup): ModeGuard {
  return {
    guard: new WebhookUrlGuard({ mode, allow_private_urls, lookup }),
    dispatcher: allow_private_urls ? undefined : new Agent({ connect: { lookup: publicOnlyLookup(lookup, mode) } }),
  };
}

function modeOf(livemode: boolean): WebhookMode {
  return livemode ? 'live' : 'test';
}

/** A delivery's state while its run is driven: the row, and what the attempt found and did. */
interface DeliveryContext {
  readonly delivery: DeliveryRecord;
  attempt?: { readonly outcome: AttemptOutcome; readonly attempted_ms: number };
  /** The endpoint this attempt got disabled, if it did. */
  disabled?: EndpointRecord;
}

/** Why a delivery stopped for good, as the `send` step reports it. */
const failure_reasons = { gone: 'receiver_gone', manual: 'manual_delivery_failed' } as const;

export class WebhooksService implements WebhooksClient, WrappedKeyStore {
  readonly name = 'webhooks';
  readonly #database: Database;
  readonly #keyring: Keyring;
  readonly #secrets: EndpointSecrets;
  /** Publishes and attempt results share commits: both come in bursts. */
  readonly #commits: GroupCommitter;
  readonly #clock: Clock;
  readonly #fetch: typeof fetch;
  readonly #schedule: readonly number[];
  readonly #log: WebhooksLog;
  readonly #observeAttempt: (outcome: AttemptOutcome) => void;
  readonly #timeout_ms: number;
  readonly #lease_ms: number;
  readonly #poll_interval_ms: number;
  readonly #in_flight_max: number;
  readonly #random: RandomSource;
  /** Each mode's URL guard, and the connection pool of its deliveries (url-guard.ts says why). */
  readonly #guards: Record<WebhookMode, ModeGuard>;
  /** Leases and drives deliveries' runs (the saga is declared in #deliverySaga). */
  readonly #runner: SagaRunner<null, DeliveryContext>;
  #started = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  /** The claim loop while it runs; close() waits for it. */
  #claiming: Promise<void> | undefined;
  /** Set when work may have come due while the claim loop was already running. */
  #claim_again = false;
  readonly #in_flight = new Set<Promise<void>>();

  constructor(options: WebhooksServiceOptions) {
    this.#database = options.database;
    this.#keyring = options.keyring;
    this.#secrets = new EndpointSecrets(options.keyring);
    this.#commits = new GroupCommitter(options.database);
    this.#clock = options.clock ?? systemClock;
    this.#fetch = options.fetch ?? fetch;
    this.#schedule = checkSchedule(options.schedule ?? retry_schedule_ms_default);
    this.#log = options.log ?? (() => undefined);
    this.#observeAttempt = options.observeAttempt ?? (() => undefined);
    this.#timeout_ms = options.delivery_timeout_ms ?? delivery_timeout_ms_default;
    this.#lease_ms = options.lease_ms ?? delivery_lease_ms_default;
    this.#poll_interval_ms = options.poll_interval_ms ?? poll_interval_ms_default;
    this.#in_flight_max = options.deliveries_in_flight_max ?? deliveries_in_flight_max_default;
    this.#random = options.random ?? Math.random;
    const lookup = options.lookup ?? lookupAddresses;
    const allow_private_urls = options.allow_private_urls ?? false;
    this.#guards = {
      live: modeGuard('live', allow_private_urls, lookup),
      test: modeGuard('test', allow_private_urls || (options.test_mode_private_urls ?? false), lookup),
    };
    assert(Number.isSafeInteger(this.#timeout_ms) && this.#timeout_ms > 0 && this.#timeout_ms <= delivery_timeout_ms_max, 'delivery_timeout_ms is 1 ms to a minute');
    // The runner renews the lease while a request is in flight, so the lease need not outlast the
    // request; it checks the lease against its renewals (saga_lease_renewals_min).
    assert(Number.isSafeInteger(this.#poll_interval_ms) && this.#poll_interval_ms > 0, 'poll_interval_ms is a positive integer');
    assert(Number.isSafeInteger(this.#in_flight_max) && this.#in_flight_max >= 1 && this.#in_flight_max <= 1_024, 'deliveries_in_flight_max is 1 to 1024');
    this.#runner = new SagaRunner({
      saga: this.#deliverySaga(),
      database: this.#database,
      commits: this.#commits,
      clock: this.#clock,
      lease_ms: this.#lease_ms,
      random: this.#random,
      log: this.#log,
    });
  }

  /**
   * A delivery as a saga of one step. `send` sends one attempt (or finds the delivery moot); its
   * record appends the attempt to the log and moves the delivery on, in the commit that records
   * the run, fenced by the holder. The schedule is the step's retry policy: a failed attempt is
   * retried after its delay (longer when the receiver asks with Retry-After), and one past the
   * schedule fails the delivery. Nothing is compensated: a request sent cannot be unsent.
   */
  #deliverySaga(): SagaDefinition<null, DeliveryContext> {
    const send = defineStep<null, DeliveryContext, null>({
      name: 'send',
      retry: scheduledRetry({ delays_ms: this.#schedule, jitter_percent: retry_jitter_percent }),
      // The request's own timeout ends it first, and the attempt is recorded as timed out; twice
      // that leaves room for the reads and the address lookup before the request.
      timeout_ms: 2 * this.#timeout_ms,
      action: async ({ context }) => {
        const delivery = context.delivery;
        const endpoint = await findEndpointById(this.#database, delivery.endpoint_id);
        const event = await findEventById(this.#database, delivery.event_id);
        // The endpoint was deleted or disabled after the event: the delivery is dropped, and the
        // merchant can resend it once the endpoint is back.
        if (endpoint === undefined || endpoint.status !== 'enabled' || event === undefined) return stop('endpoint_unavailable');
        assert(belongsTo(endpoint, delivery) && belongsTo(event, delivery), 'a delivery joins an event and an endpoint of its own tenant');
        const attempted_ms = this.#clock.now();
        const outcome = await this.#attempt(endpoint, event, attempted_ms);
        this.#observeAttempt(outcome);
        context.attempt = { outcome, attempted_ms };
        if (outcome.succeeded) return next(null);
        // Standard Webhooks: 410 Gone says the receiver wants no more events from us.
        if (outcome.response_status === gone_status) return fail(failure_reasons.gone);
        if (delivery.kind === 'manual') return fail(failure_reasons.manual);
        const reason = outcome.response_status === null ? (outcome.error ?? 'no answer') : `status ${outcome.response_status}`;
        return retry(reason, outcome.retry_after_ms === undefined ? 0 : Math.min(outcome.retry_after_ms, retry_after_ms_max));
      },
      record: (transaction, outcome, { context }) => this.#recordAttempt(transaction, context, outcome),
    });
    return defineSaga<null, DeliveryContext>({
      name: delivery_saga_name,
      steps: [send],
      load: async (run_id, _input, database) => {
        const delivery = await findDelivery(database, run_id);
        return delivery === undefined ? undefined : { delivery };
      },
    });
  }

  /**
   * Starts the delivery loop. It never keeps the process alive on its own. Secrets left in plain
   * text by a version before sealing are sealed first, and every key they are sealed under must
   * be in the keyring: a missing key stops the start rather than the first delivery.
   */
  async start(): Promise<void> {
    assert(!this.#started, 'the webhooks service is already started');
    assert(!this.#closed, 'the webhooks service was closed');
    const sealed = await this.sealLegacySecrets();
    if (sealed > 0) this.#log('info', 'sealed webhook signing secrets stored in plain text by an earlier version', { endpoints: sealed });
    await this.checkKeys();
    this.#started = true;
    this.#schedulePoll();
    this.#wake();
  }

  /** Stops taking work and waits for the deliveries in flight. The database belongs to the caller. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#claiming;
    while (this.#in_flight.size > 0) await Promise.all([...this.#in_flight]);
    for (const { dispatcher } of Object.values(this.#guards)) {
      // close() may be called again; a pool may be closed only once.
      if (dispatcher !== undefined && !dispatcher.closed) await dispatcher.close();
    }
  }

  // Signing secrets at rest: the start-up step and key rotation.

  /**
   * Seals every signing secret still stored in plain text (endpoints written before migration 3),
   * in batches of one transaction each, and empties the plain-text column. start() runs it:
   * idempotent, and one indexed query when there is nothing left. On SQLite the freed bytes are
   * zeroed (secure_delete), and after sealing anything the file is rebuilt (VACUUM) and the
   * write-ahead log emptied, so that no plain text is left in free pages. Returns how many
   * endpoints it sealed.
   */
  async sealLegacySecrets(options: { readonly batch_size?: number } = {}): Promise<number> {
    const batch_size = checkRewrapBatchSize(options.batch_size ?? legacy_sealing_batch_size);
    const [unsealed] = await this.#database.query<{ id: string }>('SELECT id FROM webhook_endpoints WHERE secret_kek_id IS NULL LIMIT 1');
    if (unsealed === undefined) return 0;
    return sealLegacyRows(this.#database, async (tx) => {
      const rows = await legacySecrets(tx, batch_size);
      let count = 0;
      for (const row of rows) {
        assert(row.secret !== '', `endpoint ${row.id} has a signing secret to seal`);
        if (await sealLegacySecret(tx, row.id, this.#secrets.seal(row, row.secret), secretLast4(row.secret))) count += 1;
      }
      return { count, more: rows.length === batch_size };
    });
  }

  /**
   * Checks that no secret is left unsealed and that every KEK an endpoint's data key is wrapped
   * by is in the keyring; throws SealedFieldError otherwise. Returns the ids of the KEKs in use.
   */
  async checkKeys(): Promise<string[]> {
    const [unsealed] = await this.#database.query<{ id: string }>('SELECT id FROM webhook_endpoints WHERE secret_kek_id IS NULL LIMIT 1');
    assert(unsealed === undefined, `endpoint ${unsealed?.id ?? ''} has a sealed signing secret: sealLegacySecrets runs first`);
    const counts = await this.countDataKeysByKek();
    for (const kek_id of counts.keys()) {
      if (!this.#secrets.holds(kek_id)) {
        const [row] = await this.#database.query<{ id: string }>('SELECT id FROM webhook_endpoints WHERE secret_kek_id = ? LIMIT 1', [kek_id]);
        throw new SealedFieldError('endpoint_secret', `webhook endpoint ${row?.id ?? 'unknown'}`, 'key_unavailable', kek_id);
      }
    }
    return [...counts.keys()].sort();
  }

  /** How many endpoints' data keys each KEK wraps. */
  async countDataKeysByKek(): Promise<Map<string, number>> {
    return countSecretKeysByKek(this.#database);
  }

  /** Re-wraps every endpoint's data key not under the keyring's current KEK; the sealed secrets are not touched. */
  async rewrapDataKeys(options: RewrapOptions = {}): Promise<RewrapResult> {
    return rewrapStore(this, this.#keyring, options);
  }

  /** One transaction: the next batch_size endpoints after `cursor` (a sequence) whose data key is not under the current KEK. */
  async rewrapBatch(cursor: number, batch_size: number): Promise<RewrapBatchResult> {
    const size = checkRewrapBatchSize(batch_size);
    const current_kek_id = this.#secrets.current_kek_id;
    return this.#database.transaction(async (tx) => {
      const rows = await secretKeysNotUnder(tx, current_kek_id, cursor, size);
      let rewrapped = 0;
      for (const row of rows) {
        if (await rewrapSecretKey(tx, row, this.#secrets.rewrap(row, row.kek_id, row.data_key))) rewrapped += 1;
      }
      const last = rows.at(-1);
      return { rewrapped, next_cursor: rows.length < size || last === undefined ? undefined : last.sequence };
    });
  }

  // Endpoints.

  async createEndpoint(tenant: Tenant, input: CreateEndpointInput): Promise<CreatedWebhookEndpoint> {
    const url = await this.#checkEndpointUrl(tenant, input.url);
    const enabled_events = checkEnabledEvents(input.enabled_events);
    const description = checkDescription(input.description);
    const secret = newEndpointSecret();
    const id = randomId('we');
    const endpoint: EndpointRecord = {
      id,
      merchant_id: tenant.merchant_id,
      livemode: tenant.livemode,
      url,
      enabled_events,
      status: 'enabled',
      description,
      // Sealed before it reaches the database: it is shown in plain text only in this answer.
      secret: this.#secrets.seal({ id, merchant_id: tenant.merchant_id, livemode: tenant.livemode }, secret),
      secret_last4: secretLast4(secret),
      version: 1,
      failing_since_ms: null,
      created: secondsOf(this.#clock.now()),
    };
    await this.#database.transaction(async (tx) => {
      if ((await countEndpoints(tx, tenant)) >= endpoints_per_tenant_max) {
        throw invalidRequest('webhook_endpoints_limit_reached', `A merchant may have at most ${String(endpoints_per_tenant_max)} webhook endpoints in each mode`);
      }
      await insertEndpoint(tx, endpoint);
    });
    return { endpoint: endpointToWire(endpoint), secret };
  }

  async getEndpoint(tenant: Tenant, id: string): Promise<WebhookEndpoint> {
    return endpointToWire(await this.#requireEndpoint(this.#database, tenant, id, 'id'));
  }

  async listEndpoints(tenant: Tenant, page: PageRequest): Promise<Page<WebhookEndpoint>> {
    const listed = await listEndpoints(this.#database, tenant, page);
    return { data: listed.data.map(endpointToWire), has_more: listed.has_more };
  }

  async updateEndpoint(tenant: Tenant, id: string, input: UpdateEndpointInput): Promise<WebhookEndpoint> {
    const url = input.url === undefined ? undefined : await this.#checkEndpointUrl(tenant, input.url);
    const enabled_events = input.enabled_events === undefined ? undefined : checkEnabledEvents(input.enabled_events);
    const status = input.status === undefined ? undefined : checkEndpointStatus(input.status);
    const description = input.description === undefined ? undefined : checkDescription(input.description);
    const updated = await this.#database.transaction(async (tx) => {
      const current = await this.#requireEndpoint(tx, tenant, id, 'id', { lock: true });
      if (status !== undefined && status !== current.status && transition(endpoint_transitions, current.status, status) !== 'ok') {
        throw invalidRequest('not_allowed', `A ${current.status} endpoint cannot become ${status}`, 'status');
      }
      const next: EndpointRecord = {
        ...current,
        url: url ?? current.url,
        enabled_events: enabled_events ?? current.enabled_events,
        status: status ?? current.status,
        description: description === undefined ? current.description : description,
        // Enabling an endpoint starts its failure record afresh.
        failing_since_ms: status === 'enabled' && current.status === 'disabled' ? null : current.failing_since_ms,
        version: current.version + 1,
      };
      const changed =
        next.url !== current.url ||
        next.status !== current.status ||
        next.description !== current.description ||
        JSON.stringify(next.enabled_events) !== JSON.stringify(current.enabled_events);
      if (!changed) return current;
      await updateEndpoint(tx, next);
      return next;
    });
    return endpointToWire(updated);
  }

  /**
   * Deletes the endpoint. Its pending deliveries are canceled when they come due; the attempt
   * log keeps its history.
   */
  async deleteEndpoint(tenant: Tenant, id: string): Promise<DeletedWebhookEndpoint> {
    if (!isPlausibleId(id) || !(await deleteEndpoint(this.#database, tenant, id))) throw missing('webhook endpoint', String(id), 'id');
    return { id, object: 'webhook_endpoint', deleted: true };
  }

  // Events.

  /**
   * Stores the event and one delivery per matching enabled endpoint, in one transaction. The same
   * id published again returns the stored event and stores nothing; with different content it is
   * refused, since one of the two producers is wrong.
   */
  async publish(tenant: Tenant, input: PublishEventInput): Promise<WebhookEvent> {
    const id = checkEventId(input.id);
    const type = checkEventType(input.type);
    if (!isPlainObject(input.data) || !isPlainObject(input.data.object)) throw invalidRequest('parameter_invalid', 'data.object must be an object', 'data.object');
    const sequence = checkCount(input.sequence, 'sequence');
    const created = checkCount(input.created, 'created');
    const body = encodeEventBody({ id, object: 'event', type, data: { object: input.data.object }, sequence, created, livemode: tenant.livemode });
    // Taken here, in the caller's context: the shared commit runs the insert later.
    const event: EventRecord = { id, merchant_id: tenant.merchant_id, livemode: tenant.livemode, type, object_sequence: sequence, body, created, traceparent: currentTraceparent() };
    const stored = await this.#commits.run((tx) => this.#storeEvent(tx, tenant, event));
    // Most events go to no endpoint; waking the delivery loop for those would only claim nothing.
    if (stored.deliveries_created > 0) this.#wake();
    return eventToWire(stored.event);
  }

  async getEvent(tenant: Tenant, id: string): Promise<WebhookEvent> {
    return eventToWire(await this.#requireEvent(this.#database, tenant, id, 'id'));
  }

  async listEvents(tenant: Tenant, page: PageRequest, filter: ListEventsFilter = {}): Promise<Page<WebhookEvent>> {
    const type = filter.type === undefined ? undefined : checkEventType(filter.type);
    const listed = await listEvents(this.#database, tenant, page, type);
    return { data: listed.data.map(eventToWire), has_more: listed.has_more };
  }

  // Deliveries.

  async listDeliveryAttempts(tenant: Tenant, filter: ListDeliveryAttemptsFilter, page: PageRequest = {}): Promise<Page<WebhookDeliveryAttempt>> {
    if (filter.event !== undefined && !isPlausibleId(filter.event)) throw invalidRequest('parameter_invalid', 'event must be an event id', 'event');
    if (filter.endpoint !== undefined && !isPlausibleId(filter.endpoint)) throw invalidRequest('parameter_invalid', 'endpoint must be a webhook endpoint id', 'endpoint');
    const listed = await listAttempts(this.#database, tenant, { event_id: filter.event, endpoint_id: filter.endpoint }, page);
    return { data: listed.data.map(attemptToWire), has_more: listed.has_more };
  }

  /**
   * Sends the event to the endpoint again, now, whatever happened before: a new delivery with a
   * single attempt (no retries, and it never counts towards disabling the endpoint). Receivers see
   * the same webhook-id as before, so one that already processed the event can tell.
   */
  async resendEvent(tenant: Tenant, event_id: string, endpoint_id: string): Promise<WebhookDelivery> {
    const delivery = await this.#database.transaction(async (tx) => {
      const event = await this.#requireEvent(tx, tenant, event_id, 'event');
      const endpoint = await this.#requireEndpoint(tx, tenant, endpoint_id, 'endpoint');
      if (endpoint.status !== 'enabled') throw invalidRequest('webhook_endpoint_disabled', `Webhook endpoint ${endpoint.id} is disabled; enable it first`, 'endpoint');
      const record = this.#newDelivery(tenant, event.id, endpoint.id, 'manual');
      await this.#insertDelivery(tx, record);
      return record;
    });
    this.#wake();
    return deliveryToWire(delivery);
  }

  /**
   * Claims the deliveries that are due (up to the free delivery slots) and waits until each has
   * been attempted and recorded; returns how many were claimed. The loop started by start() does
   * this on its own; this is for tools and tests that drive delivery by hand.
   */
  async deliverDue(): Promise<number> {
    const claimed = await this.#claim(Math.min(claim_batch_max, Math.max(0, this.#in_flight_max - this.#in_flight.size)));
    await Promise.all(claimed.map((lease) => this.#launch(lease)));
    return claimed.length;
  }

  // The delivery loop.

  #schedulePoll(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#wake();
      this.#schedulePoll();
    }, this.#poll_interval_ms);
    this.#timer.unref();
  }

  /** Runs the claim loop unless it is running; then it goes round once more. */
  #wake(): void {
    if (!this.#started || this.#closed) return;
    if (this.#claiming !== undefined) {
      this.#claim_again = true;
      return;
    }
    this.#claiming = this.#claimLoop().finally(() => {
      this.#claiming = undefined;
    });
  }

  async #claimLoop(): Promise<void> {
    try {
      for (;;) {
        this.#claim_again = false;
        if (this.#closed) return;
        // A delivery that finishes wakes the loop, so a full house can simply stop here.
        const limit = Math.min(claim_batch_max, this.#in_flight_max - this.#in_flight.size);
        if (limit <= 0) return;
        const claimed = await this.#claim(limit);
        // Claimed rows are sent even when close() came meanwhile: close() waits for them, and
        // leaving them would hold them back for a whole lease.
        for (const lease of claimed) void this.#launch(lease);
        if (claimed.length < limit && !this.#claim_again) return;
      }
    } catch (error) {
      if (isAssertionError(error)) throw error;
      this.#logFailure('claiming due webhook deliveries; the next poll tries again', error);
    }
  }

  async #claim(limit: number): Promise<Lease[]> {
    if (limit <= 0) return [];
    return this.#runner.leaseDue(limit);
  }

  /** Starts one delivery, tracked so that close() waits for it; a slot freed wakes the loop. */
  #launch(lease: Lease): Promise<void> {
    const work = this.#deliver(lease).then(
      () => undefined,
      (error: unknown) => {
        if (isAssertionError(error)) throw error;
        // The lease runs out and another pass sends it again.
        this.#logFailure('a webhook delivery; it is retried when its lease runs out', error, { delivery: lease.run.id });
      },
    );
    this.#in_flight.add(work);
    void work.finally(() => {
      this.#in_flight.delete(work);
      this.#wake();
    });
    return work;
  }

  async #deliver(lease: Lease): Promise<void> {
    const delivery = await findDelivery(this.#database, lease.run.id);
    if (delivery === undefined) {
      // Without its row the run has nothing to send: the runner cancels it.
      await this.#runner.drive(lease);
      return;
    }
    const context: DeliveryContext = { delivery };
    await this.#runner.drive(lease, context);
    if (context.disabled !== undefined) {
      this.#log('warn', 'disabled a webhook endpoint whose deliveries keep failing', { endpoint: context.disabled.id, merchant: context.disabled.merchant_id });
      this.#wake();
    }
  }

  /**
   * The `send` step's record: appends the attempt to the log and moves the delivery on, in the
   * commit that records its run. A failure for good may disable the endpoint (the policy below).
   */
  async #recordAttempt(tx: Database, context: DeliveryContext, outcome: StepOutcome<null>): Promise<void> {
    const delivery = context.delivery;
    if (outcome.kind === 'stop') {
      await advanceDelivery(tx, delivery.id, { status: 'canceled', attempts: delivery.attempts, next_attempt_ms: delivery.next_attempt_ms, first_attempt_ms: delivery.first_attempt_ms });
      return;
    }
    const attempt = context.attempt;
    if (attempt === undefined) {
      // The step could not even try (its reads failed): nothing was sent, and only the time of
      // the next attempt moves.
      if (outcome.kind === 'retry') await advanceDelivery(tx, delivery.id, { status: 'pending', attempts: delivery.attempts, next_attempt_ms: outcome.due_ms, first_attempt_ms: delivery.first_attempt_ms });
      return;
    }
    const { outcome: sent, attempted_ms } = attempt;
    const attempt_number = delivery.attempts + 1;
    const first_attempt_ms = delivery.first_attempt_ms ?? attempted_ms;
    await insertAttempt(tx, {
      id: randomId('wda'),
      merchant_id: delivery.merchant_id,
      livemode: delivery.livemode,
      delivery_id: delivery.id,
      event_id: delivery.event_id,
      endpoint_id: delivery.endpoint_id,
      attempt_number,
      succeeded: sent.succeeded,
      response_status: sent.response_status,
      response_body: sent.response_body,
      error: sent.error,
      duration_ms: sent.duration_ms,
      attempted_ms,
      created: secondsOf(attempted_ms),
    });
    const progress = { attempts: attempt_number, next_attempt_ms: delivery.next_attempt_ms, first_attempt_ms };
    if (sent.succeeded) {
      await markEndpointAnswering(tx, delivery.endpoint_id);
      await advanceDelivery(tx, delivery.id, { ...progress, status: 'succeeded' });
      return;
    }
    await markEndpointFailing(tx, delivery.endpoint_id, attempted_ms);
    if (outcome.kind === 'retry') {
      await advanceDelivery(tx, delivery.id, { ...progress, status: 'pending', next_attempt_ms: outcome.due_ms });
      return;
    }
    assert(outcome.kind === 'fail', 'a failed attempt is retried or fails the delivery');
    await advanceDelivery(tx, delivery.id, { ...progress, status: 'failed' });
    if (outcome.reason === failure_reasons.gone) {
      context.disabled = await this.#disableEndpoint(tx, delivery.endpoint_id);
      return;
    }
    if (delivery.kind === 'manual') return;
    // Out of attempts. The policy: an endpoint is disabled when a delivery has spent its whole
    // schedule (at least the schedule's span, since jitter only adds) and no attempt to the endpoint
    // has succeeded since that delivery's first attempt. One success anywhere in that time keeps it
    // enabled.
    const endpoint = await findEndpointById(tx, delivery.endpoint_id, { lock: true });
    if (endpoint?.status !== 'enabled' || endpoint.failing_since_ms === null || endpoint.failing_since_ms > first_attempt_ms) return;
    context.disabled = await this.#disableEndpoint(tx, endpoint.id);
  }

  /**
   * Disables an endpoint for failing, and publishes webhook_endpoint.disabled to the merchant's
   * other enabled endpoints that subscribe to it, in the caller's transaction.
   */
  async #disableEndpoint(tx: Database, endpoint_id: string): Promise<EndpointRecord | undefined> {
    const current = await findEndpointById(tx, endpoint_id, { lock: true });
    if (current === undefined || transition(endpoint_transitions, current.status, 'disabled') !== 'ok') return undefined;
    const disabled: EndpointRecord = { ...current, status: 'disabled', version: current.version + 1 };
    await updateEndpoint(tx, disabled);
    const tenant: Tenant = { merchant_id: disabled.merchant_id, livemode: disabled.livemode };
    const id = randomId('evt');
    const type = 'webhook_endpoint.disabled';
    const created = secondsOf(this.#clock.now());
    const body = encodeEventBody({ id, object: 'event', type, data: { object: endpointToWire(disabled) }, sequence: disabled.version, created, livemode: disabled.livemode });
    await this.#storeEvent(tx, tenant, { id, merchant_id: disabled.merchant_id, livemode: disabled.livemode, type, object_sequence: disabled.version, body, created, traceparent: currentTraceparent() });
    return disabled;
  }

  // Helpers.

  /** The URL checks every mode shares, then the guard of the tenant's mode. */
  async #checkEndpointUrl(tenant: Tenant, value: unknown): Promise<string> {
    const url = checkUrl(value);
    const refusal = await this.#guards[modeOf(tenant.livemode)].guard.registrationRefusal(url, 'url');
    if (refusal !== undefined) throw invalidRequest('url_not_allowed', refusal, 'url');
    return url;
  }

  /**
   * Sends one attempt, unless the endpoint's URL no longer passes its mode's guard now that its
   * name has been resolved afresh: then nothing is sent, and the attempt fails with the reason,
   * to be retried by the schedule like any failure (the name may be fixed meanwhile).
   */
  async #attempt(endpoint: EndpointRecord, event: EventRecord, attempted_ms: number): Promise<AttemptOutcome> {
    const { guard, dispatcher } = this.#guards[modeOf(endpoint.livemode)];
    const refusal = await guard.deliveryRefusal(endpoint.url);
    if (refusal !== undefined) {
      this.#log('warn', 'refused to send a webhook to a URL the guard does not allow', { endpoint: endpoint.id, merchant: endpoint.merchant_id, reason: refusal });
      return { succeeded: false, response_status: null, response_body: null, error: `url_not_allowed: ${refusal}`.slice(0, error_length_max), duration_ms: 0, retry_after_ms: undefined };
    }
    const headers = signDelivery(this.#secrets.open(endpoint, endpoint.secret), event.id, secondsOf(attempted_ms), event.body);
    // A span per attempt, in the trace that produced the event (its stored traceparent). Nothing
    // of the trace is sent to the receiver: it is outside Paygrid.
    return withSpan(
      `webhook deliver ${event.type}`,
      { kind: SpanKind.CLIENT, parent: contextOfTraceparent(event.traceparent), attributes: { 'paygrid.webhook.event': event.id, 'paygrid.webhook.endpoint': endpoint.id } },
      async (span) => {
        const outcome = await sendAttempt(this.#fetch, { url: endpoint.url, headers, body: event.body, timeout_ms: this.#timeout_ms, ...(dispatcher === undefined ? {} : { dispatcher }) });
        if (outcome.response_status !== null) span?.setAttribute('http.response.status_code', outcome.response_status);
        if (!outcome.succeeded) span?.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error ?? 'the receiver refused the delivery' });
        return outcome;
      },
    );
  }

  async #storeEvent(tx: Database, tenant: Tenant, event: EventRecord): Promise<{ event: EventRecord; deliveries_created: number }> {
    if (await insertEvent(tx, event)) {
      let deliveries_created = 0;
      for (const endpoint of await enabledEndpoints(tx, tenant)) {
        if (!subscribes(endpoint, event.type)) continue;
        await this.#insertDelivery(tx, this.#newDelivery(tenant, event.id, endpoint.id, 'automatic'));
        deliveries_created += 1;
      }
      return { event, deliveries_created };
    }
    const stored = await findEventById(tx, event.id);
    assert(stored !== undefined, 'an event whose insert met a conflict is there to read');
    if (!belongsTo(stored, tenant) || stored.body !== event.body) {
      throw new ApiError('idempotency_error', 'event_exists_with_different_content', `Event ${event.id} was already published with different content`, 'id');
    }
    return { event: stored, deliveries_created: 0 };
  }

  /** A delivery and its run, ready for the delivery loop to lease at once. */
  async #insertDelivery(tx: Database, delivery: DeliveryRecord): Promise<void> {
    await insertDelivery(tx, delivery);
    await this.#runner.start(tx, { id: delivery.id, input: null, status: 'ready', due_ms: delivery.next_attempt_ms });
  }

  #newDelivery(tenant: Tenant, event_id: string, endpoint_id: string, kind: DeliveryRecord['kind']): DeliveryRecord {
    const now_ms = this.#clock.now();
    return {
      id: randomId('wdl'),
      merchant_id: tenant.merchant_id,
      livemode: tenant.livemode,
      event_id,
      endpoint_id,
      kind,
      status: 'pending',
      attempts: 0,
      next_attempt_ms: now_ms,
      first_attempt_ms: null,
      created: secondsOf(now_ms),
    };
  }

  async #requireEndpoint(database: Database, tenant: Tenant, id: string, param: string, options: { lock: boolean } = { lock: false }): Promise<EndpointRecord> {
    const endpoint = isPlausibleId(id) ? await findEndpoint(database, tenant, id, options) : undefined;
    if (endpoint === undefined) throw missing('webhook endpoint', String(id), param);
    return endpoint;
  }

  async #requireEvent(database: Database, tenant: Tenant, id: string, param: string): Promise<EventRecord> {
    const event = isPlausibleId(id) ? await findEvent(database, tenant, id) : undefined;
    if (event === undefined) throw missing('event', String(id), param);
    return event;
  }

  #logFailure(what: string, error: unknown, fields: Record<string, unknown> = {}): void {
    this.#log('error', `failed: ${what}`, { ...fields, error: error instanceof Error ? error.message : String(error) });
  }
}
