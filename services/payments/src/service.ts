// The payments service: orders, payment intents, their attempts, refunds and bank transfers.
//
// Every movement of money is a saga of small steps, and no database transaction is ever held
// across a call to an outside party (a connector, the wallet service, the ledger). An attempt (one
// call to an outside party) is recorded with its intent's new status and committed first; the
// saga declared in saga.ts then calls the provider, moves the money in the ledger as one chain
// whose transfer ids are derived from the attempt, and records the answer with everything it means
// in one commit. The request waits for those commits only: the attempt's, the ledger's, the
// answer's. It reads nothing back from the root handle between them (on SQLite every such read
// waits for a sync of unrelated commits): the steps carry what they wrote, and what a request
// answers is the intent the last step wrote.
//
// This file holds the first step of every request (record the attempt) and the background work;
// saga.ts holds the rest. The ledger hold for a payment is placed only after the provider
// authorised it, so a decline has nothing to compensate. A crash anywhere leaves a run whose lease
// runs out; recovery takes it over and continues from its last commit, asking the provider
// (`status`) about a call whose answer was lost rather than guessing, and meeting `exists` for
// every transfer already in the ledger.
import type { Connector, PaymentMethodType } from '@paygrid/connectors';
import { LRUCache } from 'lru-cache';
import {
  ApiError,
  GroupCommitter,
  assert,
  isAssertionError,
  live_capabilities_none,
  payment_method_live_capability,
  requireLiveCapability,
  systemClock,
  type Clock,
  type Database,
  type LiveCapabilities,
  type Page,
  type PageRequest,
  type Tenant,
} from '@paygrid/kernel';
import type { LedgerClient } from '@paygrid/ledger';
import { amount_max, type CurrencyCode } from '@paygrid/money';
import { LedgerChart, merchantAccountId, receivableAccountId } from './chart';
import type { WalletClient } from '@paygrid/wallet';
import { crash_steps, invalid, logFailure, missing, unexpectedState, type CrashStep, type PaymentsContext, type PaymentsLog, type PaymentsSettings } from './context';
import { checkFeeSchedule, fee_schedule_default, type FeeSchedule } from './fees';
import { pruneEvents, relay_batch_max, relay_close_passes_max, relayEvents } from './outbox';
import { bankTransferReference, fromNotification } from './outcomes';
import { orderedId } from './ids';
import { PaymentSaga } from './saga';
import {
  findAttemptByConfirmKey,
  findAttemptById,
  findIntent,
  findIntentByBankReference,
  findIntentById,
  findIntentByIdempotencyKey,
  findOrder,
  findRefund,
  findRefundByIdempotencyKey,
  insertIntent,
  insertOrder,
  insertRefund,
  insertReview,
  insertStatusChange,
  listAttemptsOfIntent,
  listExpiredAuthorizations,
  listIntents,
  listIntentsOfOrder,
  listOrders,
  listRefunds,
  listReviews,
  sumOpenRefunds,
  updateAttempt,
  type AttemptRecord,
  type IntentRecord,
  type OrderRecord,
  type RefundRecord,
  type ReviewRecord,
} from './store';
import { intent_transitions, transition } from './transitions';
import type {
  BankTransferReview,
  CancelPaymentIntentInput,
  CapturePaymentIntentInput,
  ConfirmPaymentIntentInput,
  CreateOrderInput,
  CreatePaymentIntentInput,
  CreateRefundInput,
  EventPublisher,
  IncomingBankTransfer,
  ListPaymentIntentsFilter,
  ListRefundsFilter,
  NotificationMethod,
  NotificationResult,
  Order,
  PaymentAttempt,
  PaymentIntent,
  PaymentMethodInput,
  PaymentsClient,
  Refund,
  TokenDirectory,
} from './types';
import {
  checkAmount,
  checkCancellationReason,
  checkCaptureMethod,
  checkCurrency,
  checkIdempotencyKey,
  checkLineItems,
  checkOptionalText,
  checkPaymentMethod,
  checkReturnUrl,
  checkText,
  description_length_max,
  isPlausibleId,
  merchant_reference_length_max,
} from './validation';
import { attemptToWire, intentToWire, orderToWire, refundToWire, reviewToWire, secondsOf } from './wire';
import { cancelIntent, checkAttemptBudget, emit, newAttempt, order_intents_max, recordAttemptStatus, recordNewAttempt, writeIntent } from './writes';

export { crash_steps, type CrashStep, type PaymentsLog } from './context';
export { attempts_per_intent_max, orderStatusOf } from './writes';
export { relay_batch_max } from './outbox';

/** How long a manual-capture authorization waits for its capture: Stripe's seven days. */
export const capture_window_ms_default = 7 * 24 * 60 * 60 * 1_000;
export const connector_timeout_ms_default = 10_000;
/** How long a saga step's ledger call may take before the step is tried again (by its id: `exists`). */
export const ledger_timeout_ms_default = 10_000;
/**
 * How long an attempt in flight stays its holder's after the holder's last renewal: the runner
 * renews it every third of it (5 s) while it drives the attempt, however long the provider takes,
 * so this bounds how long a payment whose instance died stays `processing` (with the recovery
 * interval after it). A live holder loses the attempt only if two renewals in a row fail to commit
 * within 5 s each; a loaded PostgreSQL commits a one-row update in milliseconds to a few hundred,
 * and 5 s covers a stall (a checkpoint's writes, a lock held by a big batch) with room to spare.
 * A shorter lease would let such a stall hand a live payment to recovery, which asks the provider
 * again: harmless, but a second call for nothing.
 */
export const attempt_lease_ms_default = 15_000;
/** How often a payment waiting for the customer (3-D Secure, a wallet app) asks its provider. */
export const action_poll_interval_ms_default = 30_000;
/** The first retry after a step could not finish; it doubles with each failure in a row. */
export const retry_delay_ms_default = 5_000;
/** The longest wait between two retries of one attempt. */
export const retry_delay_max_ms_default = 10 * 60_000;
/**
 * How long a payment may wait for a customer its provider has not seen yet (an Alipay page never
 * opened) before it is failed; longer than the providers' own page expiry (30 minutes).
 */
export const action_unseen_ms_max_default = 60 * 60 * 1_000;
export const recovery_interval_ms_default = 5_000;
export const expiry_interval_ms_default = 60_000;
export const relay_interval_ms_default = 1_000;
/** Published events are kept this long, then pruned. */
export const outbox_retention_ms_default = 7 * 24 * 60 * 60 * 1_000;
/** Attempts one recovery pass handles at most; the next pass takes the rest. */
export const recovery_batch_max = 100;
/** Expired authorizations one expiry pass cancels at most. */
export const expiry_batch_max = 100;
/**
 * Intents whose unchanging fields (tenant, amount, currency, capture method, top-up wallet) are kept
 * in memory, so that a confirmation checks its payment method without reading the intent back from
 * the root handle first.
 */
export const intent_cache_entries_max = 100_000;

/** The fields of an intent that never change once it is created. */
type FixedIntentFields = Pick<IntentRecord, 'id' | 'merchant_id' | 'livemode' | 'amount' | 'currency' | 'capture_method' | 'top_up_wallet_id' | 'ledger_chart'>;

export interface PaymentsServiceOptions {
  readonly database: Database;
  readonly ledger: LedgerClient;
  /** The connectors by method; wallet payments go through `wallet`, bank transfers need none. */
  readonly connectors: Partial<Record<PaymentMethodType, Connector>>;
  readonly wallet: WalletClient;
  readonly tokens: TokenDirectory;
  readonly events: EventPublisher;
  /**
   * What live mode may do here, decided by the platform from its configuration: a live request for
   * a method without a real adapter is refused with livemode_not_configured before anything is
   * written. Without it, live mode allows wallet payments only.
   */
  readonly live_capabilities?: LiveCapabilities;
  readonly clock?: Clock;
  readonly fees?: FeeSchedule;
  readonly capture_window_ms?: number;
  readonly connector_timeout_ms?: number;
  readonly ledger_timeout_ms?: number;
  readonly attempt_lease_ms?: number;
  readonly action_poll_interval_ms?: number;
  readonly retry_delay_ms?: number;
  readonly retry_delay_max_ms?: number;
  readonly action_unseen_ms_max?: number;
  readonly recovery_interval_ms?: number;
  readonly expiry_interval_ms?: number;
  readonly relay_interval_ms?: number;
  readonly outbox_retention_ms?: number;
  /** Fault injection: the process SIGKILLs itself when the saga reaches this step. */
  readonly crash_at?: CrashStep;
  readonly log?: PaymentsLog;
}

export interface RecoveryReport {
  /** Attempts taken over and advanced (asked about, applied, or polled). */
  attempts_recovered: number;
  /** Attempts that could not be advanced this time; the next pass tries again. */
  failures: number;
}

/** An intent a confirmation may move to processing: not already processing, paid, waiting on the customer or closed. */
function confirmable(intent: IntentRecord): boolean {
  return transition(intent_transitions, intent.status, 'processing') === 'ok' && intent.status !== 'requires_action' && intent.status !== 'requires_capture';
}

export class PaymentsService implements PaymentsClient {
  readonly #context: PaymentsContext;
  readonly #saga: PaymentSaga;
  readonly #database: Database;
  readonly #commits: GroupCommitter;
  readonly #connectors: Partial<Record<PaymentMethodType, Connector>>;
  readonly #wallet: WalletClient;
  readonly #tokens: TokenDirectory;
  readonly #events: EventPublisher;
  readonly #live_capabilities: LiveCapabilities;
  readonly #clock: Clock;
  readonly #recovery_interval_ms: number;
  readonly #expiry_interval_ms: number;
  readonly #relay_interval_ms: number;
  readonly #outbox_retention_ms: number;
  readonly #crash_at: CrashStep | undefined;
  readonly #log: PaymentsLog;
  #started = false;
  #closed = false;
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Background work (timer passes, relay kicks) that close() waits for. */
  readonly #background = new Set<Promise<void>>();
  /** Relay passes run one after another, so events leave in order. */
  #relay_chain: Promise<unknown> = Promise.resolve();
  #relay_kicked = false;
  readonly #fixed_intents = new LRUCache<string, FixedIntentFields>({ max: intent_cache_entries_max });

  constructor(options: PaymentsServiceOptions) {
    const settings: PaymentsSettings = {
      capture_window_ms: options.capture_window_ms ?? capture_window_ms_default,
      connector_timeout_ms: options.connector_timeout_ms ?? connector_timeout_ms_default,
      ledger_timeout_ms: options.ledger_timeout_ms ?? ledger_timeout_ms_default,
      attempt_lease_ms: options.attempt_lease_ms ?? attempt_lease_ms_default,
      action_poll_interval_ms: options.action_poll_interval_ms ?? action_poll_interval_ms_default,
      retry_delay_ms: options.retry_delay_ms ?? retry_delay_ms_default,
      retry_delay_max_ms: options.retry_delay_max_ms ?? retry_delay_max_ms_default,
      action_unseen_ms_max: options.action_unseen_ms_max ?? action_unseen_ms_max_default,
    };
    this.#database = options.database;
    this.#commits = new GroupCommitter(options.database);
    this.#connectors = options.connectors;
    this.#wallet = options.wallet;
    this.#tokens = options.tokens;
    this.#events = options.events;
    this.#live_capabilities = options.live_capabilities ?? live_capabilities_none;
    this.#clock = options.clock ?? systemClock;
    this.#recovery_interval_ms = options.recovery_interval_ms ?? recovery_interval_ms_default;
    this.#expiry_interval_ms = options.expiry_interval_ms ?? expiry_interval_ms_default;
    this.#relay_interval_ms = options.relay_interval_ms ?? relay_interval_ms_default;
    this.#outbox_retention_ms = options.outbox_retention_ms ?? outbox_retention_ms_default;
    this.#crash_at = options.crash_at;
    this.#log = options.log ?? (() => undefined);
    const fees = options.fees ?? fee_schedule_default;
    checkFeeSchedule(fees);
    for (const value of [
      settings.capture_window_ms,
      settings.connector_timeout_ms,
      settings.ledger_timeout_ms,
      settings.attempt_lease_ms,
      settings.action_poll_interval_ms,
      settings.retry_delay_ms,
      settings.retry_delay_max_ms,
      settings.action_unseen_ms_max,
      this.#recovery_interval_ms,
      this.#expiry_interval_ms,
      this.#relay_interval_ms,
      this.#outbox_retention_ms,
    ]) {
      assert(Number.isSafeInteger(value) && value > 0, 'payments service durations are positive integers of milliseconds');
    }
    assert(settings.retry_delay_max_ms >= settings.retry_delay_ms, 'retry_delay_max_ms is at least retry_delay_ms');
    assert(options.crash_at === undefined || crash_steps.includes(options.crash_at), 'crash_at names a known step');
    this.#context = {
      database: this.#database,
      commits: this.#commits,
      ledger: options.ledger,
      connectors: this.#connectors,
      wallet: this.#wallet,
      clock: this.#clock,
      fees,
      settings,
      log: this.#log,
      checkpoint: (step) => this.#checkpoint(step),
      // The saga's runner is made from this context, so these reach it once it exists.
      runs: {
        start: (transaction, attempt) => this.#saga.runs.start(transaction, attempt),
        cancel: (transaction, attempt_id, reason) => this.#saga.runs.cancel(transaction, attempt_id, reason),
      },
    };
    // The runner checks that an attempt's lease lasts several of its renewals (saga_lease_renewals_min).
    this.#saga = new PaymentSaga(this.#context);
  }

  /** Finishes what earlier processes left, then keeps recovery, expiry and the relay on timers. */
  async start(): Promise<void> {
    assert(!this.#started, 'the payments service is already started');
    assert(!this.#closed, 'the payments service was closed');
    this.#started = true;
    await this.recoverPending();
    await this.expireAuthorizations();
    await this.relayOutbox();
    this.#every(this.#recovery_interval_ms, async () => {
      const report = await this.recoverPending();
      if (report.failures > 0) this.#log('warn', 'a recovery pass left attempts unfinished', { ...report });
    });
    this.#every(this.#expiry_interval_ms, async () => {
      await this.expireAuthorizations();
      await this.pruneOutbox();
    });
    this.#every(this.#relay_interval_ms, async () => {
      await this.relayOutbox();
    });
  }

  /**
   * Stops the timers, waits for background work, and relays what the outbox holds. The database,
   * ledger, connectors and event publisher belong to the caller, who closes the publisher after.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    while (this.#background.size > 0) await Promise.all([...this.#background]);
    if (this.#started) await this.#flushOutbox();
  }

  /** The relay's last passes: events the last requests wrote go out now, not at the next start (they would then, at least once). */
  async #flushOutbox(): Promise<void> {
    for (let pass = 0; pass < relay_close_passes_max; pass += 1) {
      try {
        if ((await this.relayOutbox()) < relay_batch_max) return;
      } catch (error) {
        if (isAssertionError(error)) throw error;
        logFailure(this.#log, 'relaying events at close; the next start relays them', error);
        return;
      }
    }
  }

  // Orders.

  async createOrder(tenant: Tenant, input: CreateOrderInput): Promise<Order> {
    const currency = checkCurrency(input.currency);
    const { line_items, amount_total } = checkLineItems(input.line_items);
    const merchant_reference = checkOptionalText(input.merchant_reference, 'merchant_reference', merchant_reference_length_max);
    const now_ms = this.#clock.now();
    const order: OrderRecord = {
      id: orderedId('ord', now_ms),
      merchant_id: tenant.merchant_id,
      livemode: tenant.livemode,
      currency,
      line_items,
      amount_total,
      merchant_reference,
      status: 'open',
      version: 1,
      created: secondsOf(now_ms),
    };
    await this.#commits.run(async (tx) => {
      await insertOrder(tx, order);
      await insertStatusChange(tx, { object_type: 'order', object_id: order.id, from_status: null, to_status: 'open', reason: 'created', created_ms: now_ms });
      await emit(tx, order, 'order.created', orderToWire(order), order.version, now_ms);
    });
    this.#kickRelay();
    return orderToWire(order);
  }

  async getOrder(tenant: Tenant, id: string): Promise<Order> {
    const order = isPlausibleId(id) ? await findOrder(this.#database, tenant, id) : undefined;
    if (order === undefined) throw missing('order', String(id), 'id');
    return orderToWire(order);
  }

  async listOrders(tenant: Tenant, page: PageRequest): Promise<Page<Order>> {
    const listed = await listOrders(this.#database, tenant, page);
    return { data: listed.data.map(orderToWire), has_more: listed.has_more };
  }

  // Payment intents.

  async createPaymentIntent(tenant: Tenant, input: CreatePaymentIntentInput): Promise<PaymentIntent> {
    const amount = checkAmount(input.amount);
    const currency = checkCurrency(input.currency);
    const capture_method = checkCaptureMethod(input.capture_method);
    const description = checkOptionalText(input.description, 'description', description_length_max);
    const idempotency_key = checkIdempotencyKey(input.idempotency_key);
    const order_id = input.order === undefined ? null : this.#plausibleId(input.order, 'order', 'order');
    // Checks that ask other services run before any transaction is open.
    const top_up_wallet_id = input.top_up_wallet === undefined ? null : await this.#checkTopUpWallet(tenant, input.top_up_wallet, currency);
    const create = (tx: Database) => this.#createIntent(tx, tenant, { amount, currency, capture_method, description, idempotency_key, order_id, top_up_wallet_id });
    let intent: IntentRecord;
    try {
      intent = await this.#commits.run(create);
    } catch (error) {
      // Two requests with one idempotency key race past the lookup; the unique index stops the
      // second. Run it again to meet the first.
      if (idempotency_key === null || error instanceof ApiError || isAssertionError(error)) throw error;
      if ((await findIntentByIdempotencyKey(this.#database, tenant, idempotency_key)) === undefined) throw error;
      intent = await this.#commits.run(create);
    }
    this.#rememberIntent(intent);
    this.#kickRelay();
    return intentToWire(intent);
  }

  async #createIntent(
    tx: Database,
    tenant: Tenant,
    input: {
      amount: bigint;
      currency: CurrencyCode;
      capture_method: IntentRecord['capture_method'];
      description: string | null;
      idempotency_key: string | null;
      order_id: string | null;
      top_up_wallet_id: string | null;
    },
  ): Promise<IntentRecord> {
    if (input.idempotency_key !== null) {
      const existing = await findIntentByIdempotencyKey(tx, tenant, input.idempotency_key);
      if (existing !== undefined) {
        const same =
          existing.amount === input.amount &&
          existing.currency === input.currency &&
          existing.capture_method === input.capture_method &&
          existing.order_id === input.order_id &&
          existing.top_up_wallet_id === input.top_up_wallet_id;
        if (!same) throw new ApiError('idempotency_error', 'idempotency_key_reused', 'This idempotency_key was used for a different payment intent', 'idempotency_key');
        return existing;
      }
    }
    const now_ms = this.#clock.now();
    if (input.order_id !== null) {
      // The order's row lock keeps two intents from being created for it at once.
      const order = await findOrder(tx, tenant, input.order_id, true);
      if (order === undefined) throw missing('order', input.order_id, 'order');
      if (order.currency !== input.currency) {
        throw invalid('currency_mismatch', `Order ${order.id} is in ${order.currency.toLowerCase()}, not ${input.currency.toLowerCase()}`, 'currency');
      }
      if (order.amount_total !== input.amount) {
        throw invalid('amount_mismatch', `The amount must equal the order's total, ${order.amount_total}`, 'amount');
      }
      if (order.status !== 'open') throw invalid('order_not_open', `Order ${order.id} is ${order.status}`, 'order');
      const live = (await listIntentsOfOrder(tx, order.id, order_intents_max)).filter((intent) => intent.status !== 'canceled');
      if (live.length > 0) throw invalid('order_has_payment_intent', `Order ${order.id} already has payment intent ${live[0]?.id ?? ''}`, 'order');
    }
    const intent: IntentRecord = {
      id: orderedId('pi', now_ms),
      merchant_id: tenant.merchant_id,
      livemode: tenant.livemode,
      amount: input.amount,
      currency: input.currency,
      capture_method: input.capture_method,
      status: 'requires_payment_method',
      order_id: input.order_id,
      description: input.description,
      payment_method_type: null,
      next_action: null,
      last_payment_error: null,
      cancellation_reason: null,
      amount_capturable: 0n,
      amount_received: 0n,
      amount_refunded: 0n,
      capture_before_ms: null,
      bank_transfer_reference: null,
      authorization_attempt_id: null,
      provider_reference: null,
      idempotency_key: input.idempotency_key,
      top_up_wallet_id: input.top_up_wallet_id,
      top_up_id: null,
      ledger_chart: LedgerChart.per_merchant,
      version: 1,
      created: secondsOf(now_ms),
    };
    await insertIntent(tx, intent);
    await insertStatusChange(tx, { object_type: 'payment_intent', object_id: intent.id, from_status: null, to_status: intent.status, reason: 'created', created_ms: now_ms });
    await emit(tx, intent, 'payment_intent.created', intentToWire(intent), intent.version, now_ms);
    return intent;
  }

  async getPaymentIntent(tenant: Tenant, id: string): Promise<PaymentIntent> {
    return intentToWire(await this.#requireIntent(this.#database, tenant, id, 'id'));
  }

  async listPaymentIntents(tenant: Tenant, page: PageRequest, filter: ListPaymentIntentsFilter = {}): Promise<Page<PaymentIntent>> {
    const order = filter.order === undefined ? undefined : this.#plausibleId(filter.order, 'order', 'order');
    const listed = await listIntents(this.#database, tenant, page, order);
    return { data: listed.data.map(intentToWire), has_more: listed.has_more };
  }

  async listAttempts(tenant: Tenant, intent_id: string, page: PageRequest = {}): Promise<Page<PaymentAttempt>> {
    const intent = await this.#requireIntent(this.#database, tenant, intent_id, 'id');
    const listed = await listAttemptsOfIntent(this.#database, tenant, intent.id, page);
    return { data: listed.data.map(attemptToWire), has_more: listed.has_more };
  }

  async confirmPaymentIntent(tenant: Tenant, id: string, input: ConfirmPaymentIntentInput): Promise<PaymentIntent> {
    const payment_method = checkPaymentMethod(input.payment_method);
    // Before anything is read or written: live money needs a real adapter for its method.
    requireLiveCapability(this.#live_capabilities, payment_method_live_capability[payment_method.type], tenant.livemode, 'payment_method[type]');
    const return_url = checkReturnUrl(input.return_url);
    const idempotency_key = checkIdempotencyKey(input.idempotency_key);
    const fixed = await this.#fixedIntent(tenant, id, 'id');
    // Checks that ask other services run before any transaction is open.
    await this.#checkPaymentMethod(tenant, fixed, payment_method);
    await this.#checkBooksRoom(fixed);

    const now_ms = this.#clock.now();
    const attempt_id = orderedId('pa', now_ms);
    const claim = payment_method.type === 'card' ? await this.#claimCardToken(tenant, fixed.id, payment_method.token, idempotency_key, attempt_id) : undefined;
    const begun = await this.#beginConfirmation(tenant, fixed, payment_method, return_url, idempotency_key, attempt_id, now_ms).catch(async (error: unknown) => {
      // A refusal is known to have written nothing: the token paid for nothing and is given back.
      // Any other failure (a lost connection, an unknown commit) keeps it, as a use that may have
      // been recorded must never be followed by a second one.
      if (claim !== undefined && claim.fresh && error instanceof ApiError) await this.#tokens.releaseToken(claim.token, claim.claimant);
      throw error;
    });
    let intent = begun.intent;
    if (begun.started !== undefined) {
      this.#checkpoint('after_attempt_recorded');
      if (!begun.started.attempt.waiting) intent = (await this.#saga.drive(begun.started.lease, { attempt: begun.started.attempt, intent })).context.intent;
    }
    this.#kickRelay();
    return intentToWire(intent);
  }

  /**
   * A card token pays for one payment attempt, ever (decision 61). It is claimed in the vault
   * before the attempt is recorded, so that of any number of confirmations racing with one token
   * exactly one goes on to the acquirer. The claimant is the intent and the confirmation's
   * idempotency key, so a retried confirmation finds the claim its first try made (`held`) and is
   * answered as before; a confirmation without a key is its own claimant (its attempt id), so
   * confirming again, even the same intent after a decline, is a second use.
   */
  async #claimCardToken(
    tenant: Tenant,
    intent_id: string,
    token: string,
    idempotency_key: string | null,
    attempt_id: string,
  ): Promise<{ readonly token: string; readonly claimant: string; readonly fresh: boolean }> {
    const claimant = idempotency_key === null ? `${intent_id}:${attempt_id}` : `${intent_id}:key:${idempotency_key}`;
    const claim = await this.#tokens.claimToken(tenant, token, claimant);
    switch (claim) {
      case 'claimed':
      case 'held':
        return { token, claimant, fresh: claim === 'claimed' };
      case 'missing':
        throw missing('card token', token, 'payment_method[token]');
      case 'already_used': {
        // The intent's state goes first, as it would without the token: confirming a paid intent
        // again is payment_intent_unexpected_state, whatever its token.
        const intent = await this.#requireIntent(this.#database, tenant, intent_id, 'id');
        if (!confirmable(intent)) throw unexpectedState(intent, 'confirm');
        throw invalid('token_already_used', `Card token ${token.slice(0, 64)} was already used; a token pays once, so create a new one`, 'payment_method[token]');
      }
    }
  }

  /** The confirmation's one transaction: the attempt recorded and the intent moved to processing, or the replay of an earlier one. */
  async #beginConfirmation(
    tenant: Tenant,
    fixed: FixedIntentFields,
    payment_method: PaymentMethodInput,
    return_url: string | null,
    idempotency_key: string | null,
    attempt_id: string,
    now_ms: number,
  ) {
    return this.#commits.run(async (tx) => {
      const intent = await this.#requireIntent(tx, tenant, fixed.id, 'id', true);
      if (idempotency_key !== null) {
        const replayed = await findAttemptByConfirmKey(tx, intent.id, idempotency_key);
        if (replayed !== undefined) return { intent, started: undefined };
      }
      if (!confirmable(intent)) throw unexpectedState(intent, 'confirm');
      await checkAttemptBudget(tx, intent);
      const bank_transfer = payment_method.type === 'bank_transfer';
      const reference = bank_transfer ? bankTransferReference() : null;
      const attempt: AttemptRecord = {
        id: attempt_id,
        merchant_id: intent.merchant_id,
        livemode: intent.livemode,
        intent_id: intent.id,
        refund_id: null,
        operation: 'authorize',
        status: 'pending',
        amount: intent.amount,
        payment_method,
        return_url,
        // A bank transfer waits for the money, with no timer: only its arrival moves it.
        waiting: bank_transfer,
        provider_reference: reference,
        amount_captured: null,
        error: null,
        applied: false,
        confirm_idempotency_key: idempotency_key,
        created: secondsOf(now_ms),
      };
      const lease = await recordNewAttempt(this.#context, tx, attempt, 'created', now_ms);
      const processing = await writeIntent(this.#context, tx, intent, {
        status: 'processing',
        reason: `confirmed:${payment_method.type}`,
        fields: {
          payment_method_type: payment_method.type,
          last_payment_error: null,
          next_action: reference === null ? null : { type: 'bank_transfer_instructions', reference },
          bank_transfer_reference: reference ?? intent.bank_transfer_reference,
          authorization_attempt_id: attempt.id,
          provider_reference: null,
        },
      }, now_ms);
      return { intent: processing, started: { attempt, lease } };
    });
  }

  /** A top-up intent's wallet must be the tenant's and hold the intent's currency. */
  async #checkTopUpWallet(tenant: Tenant, value: unknown, currency: CurrencyCode): Promise<string> {
    const wallet_id = this.#plausibleId(value, 'top_up_wallet', 'wallet');
    let wallet_currency: string;
    try {
      wallet_currency = (await this.#wallet.getWallet(tenant, wallet_id)).currency;
    } catch (error) {
      if (error instanceof ApiError && error.type === 'not_found_error') throw missing('wallet', wallet_id, 'top_up_wallet');
      throw error;
    }
    if (wallet_currency !== currency.toLowerCase()) {
      throw invalid('currency_mismatch', `Wallet ${wallet_id} holds ${wallet_currency}; the payment is in ${currency.toLowerCase()}`, 'top_up_wallet');
    }
    return wallet_id;
  }

  /**
   * A payment's hold adds its amount to the merchant's receivable and balance, whose totals the
   * ledger keeps within amount_max (2^53 - 1). Since decision 67 both are the merchant's own, so
   * only the merchant's own volume can fill them. The hold is placed only after the provider took
   * the money, when a refusal can no longer be the customer's answer: the saga then ends the
   * payment and gives the money back at the provider (decision 68). A payment that would pass the
   * limit is therefore refused here, before the provider is asked, with a plain 400. Requests
   * racing past this check meet the ledger's refusal and that compensation. An unreachable ledger
   * leaves the decision to the saga.
   */
  async #checkBooksRoom(intent: FixedIntentFields): Promise<void> {
    const books = { merchant_id: intent.merchant_id, currency: intent.currency, livemode: intent.livemode, chart: intent.ledger_chart };
    let accounts: Awaited<ReturnType<LedgerClient['lookupAccounts']>>;
    try {
      accounts = await this.#context.ledger.lookupAccounts([receivableAccountId(books), merchantAccountId(books)]);
    } catch (error) {
      if (isAssertionError(error)) throw error;
      logFailure(this.#log, 'reading the room left in the books before a payment; the saga will meet the ledger', error, { payment_intent: intent.id });
      return;
    }
    for (const account of accounts) {
      const debits = account.debits_pending + account.debits_posted;
      const credits = account.credits_pending + account.credits_posted;
      if (debits + intent.amount > amount_max || credits + intent.amount > amount_max) {
        throw invalid('amount_too_large', `A payment of ${intent.amount} would take a balance in the books past ${amount_max} minor units`, 'amount');
      }
    }
  }

  async #checkPaymentMethod(tenant: Tenant, intent: FixedIntentFields, method: PaymentMethodInput): Promise<void> {
    if (method.type === 'wallet' && intent.top_up_wallet_id !== null) {
      throw invalid('payment_method_unsupported', `PaymentIntent ${intent.id} tops up wallet ${intent.top_up_wallet_id}; it cannot be paid from a wallet`, 'payment_method[type]');
    }
    if ((method.type === 'wallet' || method.type === 'bank_transfer') && intent.capture_method === 'manual') {
      throw invalid('capture_method_unsupported', `A ${method.type} payment is taken at once; create the intent with capture_method automatic`, 'capture_method');
    }
    if (method.type === 'card' || method.type === 'alipay' || method.type === 'wechat_pay') {
      if (this.#connectors[method.type] === undefined) {
        throw invalid('payment_method_unavailable', `Payments by ${method.type} are not available on this platform`, 'payment_method[type]');
      }
    }
    if (method.type === 'card' && !(await this.#tokens.tokenExists(tenant, method.token))) {
      throw missing('card token', method.token, 'payment_method[token]');
    }
    if (method.type === 'wallet') {
      let currency: string;
      try {
        currency = (await this.#wallet.getWallet(tenant, method.wallet)).currency;
      } catch (error) {
        if (error instanceof ApiError && error.type === 'not_found_error') throw missing('wallet', method.wallet, 'payment_method[wallet]');
        throw error;
      }
      if (currency !== intent.currency.toLowerCase()) {
        throw invalid('currency_mismatch', `Wallet ${method.wallet} holds ${currency}; the payment is in ${intent.currency.toLowerCase()}`, 'payment_method[wallet]');
      }
    }
  }

  async capturePaymentIntent(tenant: Tenant, id: string, input: CapturePaymentIntentInput = {}): Promise<PaymentIntent> {
    const requested = input.amount === undefined ? undefined : checkAmount(input.amount);
    const now_ms = this.#clock.now();
    const begun = await this.#commits.run(async (tx) => {
      const intent = await this.#requireIntent(tx, tenant, id, 'id', true);
      // A live authorization made while the method was configured cannot be captured once it is
      // not: the capture would go to a stand-in (or nowhere) instead of the real provider. Nothing is
      // written yet, so the refusal leaves everything as it was.
      this.#requireLiveMethod(intent, undefined);
      if (intent.status !== 'requires_capture') throw unexpectedState(intent, 'capture');
      if (intent.capture_before_ms !== null && now_ms >= intent.capture_before_ms) {
        throw invalid('payment_intent_unexpected_state', `The authorization of ${intent.id} expired; it is being canceled`);
      }
      const amount = requested ?? intent.amount_capturable;
      if (amount > intent.amount_capturable) {
        throw invalid('amount_too_large', `At most ${intent.amount_capturable} can be captured`, 'amount');
      }
      await checkAttemptBudget(tx, intent);
      const capture = newAttempt(intent, 'capture', amount, now_ms, { provider_reference: intent.provider_reference });
      const lease = await recordNewAttempt(this.#context, tx, capture, 'created', now_ms);
      const processing = await writeIntent(this.#context, tx, intent, { status: 'processing', reason: 'capture_requested', fields: { last_payment_error: null } }, now_ms);
      return { attempt: capture, lease, intent: processing };
    });
    this.#checkpoint('after_capture_recorded');
    const driven = await this.#saga.drive(begun.lease, { attempt: begun.attempt, intent: begun.intent });
    this.#kickRelay();
    return intentToWire(driven.context.intent);
  }

  async cancelPaymentIntent(tenant: Tenant, id: string, input: CancelPaymentIntentInput = {}): Promise<PaymentIntent> {
    const reason = checkCancellationReason(input.cancellation_reason);
    const canceled = await this.#commits.run(async (tx) => cancelIntent(this.#context, tx, await this.#requireIntent(tx, tenant, id, 'id', true), reason));
    let intent = canceled.intent;
    if (canceled.void_attempt !== undefined) {
      this.#checkpoint('after_void_recorded');
      intent = (await this.#saga.drive(canceled.void_attempt.lease, { attempt: canceled.void_attempt.attempt, intent })).context.intent;
    }
    this.#kickRelay();
    return intentToWire(intent);
  }

  // Refunds.

  async createRefund(tenant: Tenant, input: CreateRefundInput): Promise<Refund> {
    const intent_id = this.#plausibleId(input.payment_intent, 'payment_intent', 'payment intent');
    const requested = input.amount === undefined ? undefined : checkAmount(input.amount);
    const idempotency_key = checkIdempotencyKey(input.idempotency_key);
    const now_ms = this.#clock.now();
    const begin = async (tx: Database) => {
      const intent = await this.#requireIntent(tx, tenant, intent_id, 'payment_intent', true);
      if (idempotency_key !== null) {
        const existing = await findRefundByIdempotencyKey(tx, tenant, idempotency_key);
        if (existing !== undefined) {
          const same = existing.intent_id === intent.id && (requested === undefined || requested === existing.amount);
          if (!same) throw new ApiError('idempotency_error', 'idempotency_key_reused', 'This idempotency_key was used for a different refund', 'idempotency_key');
          return { refund: existing, started: undefined, intent };
        }
      }
      // Stripe answers charge_not_captured here too; one code for every status keeps clients simple.
      if (intent.status !== 'succeeded') throw unexpectedState(intent, 'refund', 'payment_intent');
      // Nothing is written yet: a refund through a provider that live mode no longer has is refused whole.
      this.#requireLiveMethod(intent, 'payment_intent');
      if (intent.payment_method_type === 'bank_transfer') {
        throw invalid('refund_unsupported', 'Bank transfer payments are returned by a payout, not a refund', 'payment_intent');
      }
      if (intent.top_up_wallet_id !== null && intent.top_up_id === null) {
        // The money is captured but not yet in the wallet (the top-up step is retrying): there is
        // nothing to take back from the wallet yet.
        throw invalid('payment_intent_unexpected_state', `The top-up of wallet ${intent.top_up_wallet_id} by ${intent.id} is not finished yet; try again shortly`, 'payment_intent');
      }
      // Pending refunds count: their money is on its way back already.
      const remaining = intent.amount_received - (await sumOpenRefunds(tx, intent.id));
      const amount = requested ?? remaining;
      if (amount <= 0n || amount > remaining) {
        throw invalid('refund_exceeds_captured', `${intent.id} has ${remaining} left to refund; ${amount} is too much`, 'amount');
      }
      await checkAttemptBudget(tx, intent);
      const refund_id = orderedId('re', now_ms);
      // A top-up intent's refund first takes the money back out of the wallet; the card refund
      // follows as its own attempt once the wallet has given it back.
      const attempt =
        intent.top_up_id === null
          ? newAttempt(intent, 'refund', amount, now_ms, { provider_reference: intent.provider_reference, refund_id })
          : newAttempt(intent, 'top_up_reversal', amount, now_ms, { provider_reference: null, refund_id });
      const refund: RefundRecord = {
        id: refund_id,
        merchant_id: intent.merchant_id,
        livemode: intent.livemode,
        intent_id: intent.id,
        amount,
        currency: intent.currency,
        status: 'pending',
        failure_reason: null,
        attempt_id: attempt.id,
        idempotency_key,
        version: 1,
        created: secondsOf(now_ms),
      };
      await insertRefund(tx, refund);
      await insertStatusChange(tx, { object_type: 'refund', object_id: refund.id, from_status: null, to_status: 'pending', reason: 'created', created_ms: now_ms });
      const lease = await recordNewAttempt(this.#context, tx, attempt, 'created', now_ms);
      await emit(tx, refund, 'refund.created', refundToWire(refund), refund.version, now_ms);
      return { refund, started: { attempt, lease }, intent };
    };
    let begun: Awaited<ReturnType<typeof begin>>;
    try {
      begun = await this.#commits.run(begin);
    } catch (error) {
      if (idempotency_key === null || error instanceof ApiError || isAssertionError(error)) throw error;
      if ((await findRefundByIdempotencyKey(this.#database, tenant, idempotency_key)) === undefined) throw error;
      begun = await this.#commits.run(begin);
    }
    if (begun.started === undefined) {
      // A replay answers what the refund has become since, read when the transaction did.
      this.#refuseUnreversedRefund(begun.refund, await findAttemptById(this.#database, begun.refund.attempt_id));
      return refundToWire(begun.refund);
    }
    this.#checkpoint(begun.started.attempt.operation === 'top_up_reversal' ? 'after_reversal_recorded' : 'after_refund_recorded');
    const driven = await this.#saga.drive(begun.started.lease, { attempt: begun.started.attempt, intent: begun.intent });
    this.#kickRelay();
    // The refund as the drive left it: ended by the last attempt's record, or still pending.
    const refund = driven.context.refund ?? begun.refund;
    if (refund.status === 'failed') this.#refuseUnreversedRefund(refund, await findAttemptById(this.#database, refund.attempt_id));
    return refundToWire(refund);
  }

  /**
   * A top-up's refund that the wallet refused (the customer spent the money) is answered as a
   * refusal, on the first request and on every replay: it is recorded as failed, and nothing moved.
   */
  #refuseUnreversedRefund(refund: RefundRecord, first: AttemptRecord | undefined): void {
    if (refund.status !== 'failed') return;
    if (first?.operation !== 'top_up_reversal' || first.status !== 'failed') return;
    const code = first.error?.code ?? 'top_up_reversal_failed';
    const message =
      code === 'insufficient_funds'
        ? `The wallet topped up by this payment no longer holds ${refund.amount}; refund ${refund.id} failed and nothing moved`
        : `The wallet refused to give back ${refund.amount} (${code}); refund ${refund.id} failed and nothing moved`;
    throw invalid(code, message, 'amount');
  }

  async getRefund(tenant: Tenant, id: string): Promise<Refund> {
    const refund = isPlausibleId(id) ? await findRefund(this.#database, tenant, id) : undefined;
    if (refund === undefined) throw missing('refund', String(id), 'id');
    return refundToWire(refund);
  }

  async listRefunds(tenant: Tenant, page: PageRequest, filter: ListRefundsFilter = {}): Promise<Page<Refund>> {
    const intent = filter.payment_intent === undefined ? undefined : this.#plausibleId(filter.payment_intent, 'payment_intent', 'payment intent');
    const listed = await listRefunds(this.#database, tenant, page, intent);
    return { data: listed.data.map(refundToWire), has_more: listed.has_more };
  }

  // Bank transfers.

  async reportIncomingBankTransfer(tenant: Tenant, input: IncomingBankTransfer): Promise<PaymentIntent | BankTransferReview> {
    const amount = checkAmount(input.amount);
    const currency = checkCurrency(input.currency);
    // Banks upper-case and pad what payers type; the reference is compared as the bank shows it.
    const reference = checkText(input.reference, 'reference', 64).trim().toUpperCase();
    const now_ms = this.#clock.now();
    const matched = await this.#commits.run(async (tx) => {
      const intent = await findIntentByBankReference(tx, tenant, reference, true);
      const attempt = intent?.authorization_attempt_id === null || intent === undefined ? undefined : await findAttemptById(tx, intent.authorization_attempt_id);
      const waiting =
        intent !== undefined &&
        intent.status === 'processing' &&
        attempt !== undefined &&
        attempt.payment_method?.type === 'bank_transfer' &&
        attempt.status === 'pending' &&
        attempt.waiting;
      const hold = async (reason: ReviewRecord['reason']) => {
        const review: ReviewRecord = {
          id: orderedId('btr', now_ms),
          merchant_id: tenant.merchant_id,
          livemode: tenant.livemode,
          reason,
          reference,
          amount,
          currency,
          intent_id: intent?.id ?? null,
          created: secondsOf(now_ms),
        };
        await insertReview(tx, review);
        this.#log('warn', 'a bank transfer was held for review', { review: review.id, reason, reference });
        return { review, started: undefined };
      };
      // A reference of no intent, or of one that is not waiting for money (paid already, or
      // canceled), is money with nowhere to go: a person decides.
      if (!waiting) return hold('unmatched');
      if (amount !== intent.amount || currency !== intent.currency) return hold('amount_mismatch');
      // The money is the answer: it is recorded on the attempt, and the attempt's run, waiting for
      // it, is taken over in the same commit; the saga then applies it.
      const lease = await this.#saga.takeOver(attempt.id, 'bank_transfer_received', tx);
      assert(lease !== undefined, 'a bank transfer waiting under its intent lock has its run waiting');
      const received: AttemptRecord = { ...attempt, status: 'succeeded', waiting: false, amount_captured: amount };
      await updateAttempt(tx, received);
      await recordAttemptStatus(tx, attempt, attempt.status, 'succeeded', 'bank_transfer_received', now_ms);
      return { review: undefined, started: { attempt: received, lease, intent } };
    });
    if (matched.review !== undefined) return reviewToWire(matched.review);
    assert(matched.started !== undefined);
    const driven = await this.#saga.drive(matched.started.lease, { attempt: matched.started.attempt, intent: matched.started.intent });
    this.#kickRelay();
    return intentToWire(driven.context.intent);
  }

  async listBankTransferReviews(tenant: Tenant, page: PageRequest): Promise<Page<BankTransferReview>> {
    const listed = await listReviews(this.#database, tenant, page);
    return { data: listed.data.map(reviewToWire), has_more: listed.has_more };
  }

  // Notifications.

  async handleNotification(method: NotificationMethod, headers: Readonly<Record<string, string | undefined>>, raw_body: string): Promise<NotificationResult> {
    const connector = this.#connectors[method];
    if (connector === undefined) {
      this.#log('warn', 'a notification arrived for a method with no connector', { method });
      return { ok: false, reason: `no connector for ${method}` };
    }
    const parsed = await connector.parseNotification(headers, raw_body);
    if (!parsed.ok) {
      this.#log('warn', 'a provider notification was refused', { method, reason: parsed.reason });
      return { ok: false, reason: parsed.reason };
    }
    const { notification, acknowledgement } = parsed;
    const attempt = isPlausibleId(notification.idempotency_reference) ? await findAttemptById(this.#database, notification.idempotency_reference) : undefined;
    if (attempt === undefined || attempt.operation !== 'authorize' || attempt.payment_method?.type !== method) {
      // Acknowledged all the same: the provider would only send it again and again.
      this.#log('error', 'a verified notification names no payment attempt of this method', { method, reference: notification.idempotency_reference });
      return { ok: true, acknowledgement };
    }
    const outcome = fromNotification(notification, attempt.amount);
    const lease = await this.#saga.takeOver(attempt.id, `notified:${method}`);
    if (lease === undefined) {
      // Settled already: a repeated notification. One that contradicts the settled answer means
      // money moved at the provider that the books do not show.
      const settled = await findAttemptById(this.#database, attempt.id);
      const agrees = settled !== undefined && (settled.status === 'succeeded') === (outcome.kind === 'authorized');
      if (!agrees) this.#log('error', 'a notification contradicts a settled attempt; it needs a person', { attempt: attempt.id, notification: notification.status, status: settled?.status });
      return { ok: true, acknowledgement };
    }
    // Held now: read what the attempt and its intent are, and settle it with the provider's word.
    const taken = await findAttemptById(this.#database, attempt.id);
    assert(taken !== undefined, 'an attempt taken over disappeared');
    const intent = await findIntentById(this.#database, taken.intent_id);
    assert(intent !== undefined, 'an attempt names a missing intent');
    await this.#saga.drive(lease, { attempt: taken, intent, notified: outcome });
    this.#kickRelay();
    return { ok: true, acknowledgement };
  }

  // Background work.

  /**
   * One recovery pass: every attempt whose lease or poll time has come is taken over and moved on.
   * A call whose answer is unknown is settled by asking the provider; an answer not yet applied is
   * applied; a payment waiting for its customer is polled.
   */
  async recoverPending(): Promise<RecoveryReport> {
    const report: RecoveryReport = { attempts_recovered: 0, failures: 0 };
    const leases = await this.#saga.leaseDue(recovery_batch_max);
    for (const lease of leases) {
      try {
        report.attempts_recovered += 1;
        const resumed = await this.#saga.resume(lease);
        if (resumed === undefined || resumed.status === 'retrying' || resumed.status === 'unreachable') report.failures += 1;
      } catch (error) {
        if (isAssertionError(error)) throw error;
        report.failures += 1;
        logFailure(this.#log, 'recovering a payment attempt; the next pass tries again', error, { attempt: lease.run.id });
      }
    }
    this.#kickRelay();
    return report;
  }

  /** Cancels manual-capture authorizations whose capture window has closed, and voids their holds. */
  async expireAuthorizations(): Promise<number> {
    const now_ms = this.#clock.now();
    const expired = await listExpiredAuthorizations(this.#database, now_ms, expiry_batch_max);
    let count = 0;
    for (const read of expired) {
      try {
        const canceled = await this.#commits.run(async (tx) => {
          const intent = await findIntentById(tx, read.id, true);
          // A capture may have started since the list was read.
          if (intent?.status !== 'requires_capture' || intent.capture_before_ms === null || intent.capture_before_ms > now_ms) return undefined;
          return cancelIntent(this.#context, tx, intent, 'expired');
        });
        if (canceled === undefined) continue;
        count += 1;
        if (canceled.void_attempt !== undefined) await this.#saga.drive(canceled.void_attempt.lease, { attempt: canceled.void_attempt.attempt, intent: canceled.intent });
      } catch (error) {
        if (isAssertionError(error)) throw error;
        logFailure(this.#log, 'expiring an authorization; the next pass tries again', error, { payment_intent: read.id });
      }
    }
    this.#kickRelay();
    return count;
  }

  /**
   * Publishes unpublished events in order and marks those the publisher took (see relayEvents).
   * A failure ends the pass there so that events of one object never overtake each other; the
   * next pass starts there again (at least once: receivers de-duplicate by event id).
   */
  relayOutbox(): Promise<number> {
    const run = this.#relay_chain.then(() => relayEvents(this.#database, this.#commits, this.#events, this.#clock, this.#log));
    this.#relay_chain = run.catch(() => undefined);
    return run;
  }

  /** Deletes events published longer ago than the outbox retention. */
  async pruneOutbox(): Promise<number> {
    return pruneEvents(this.#database, this.#clock.now() - this.#outbox_retention_ms);
  }

  #kickRelay(): void {
    if (!this.#started || this.#closed || this.#relay_kicked) return;
    this.#relay_kicked = true;
    this.#track(
      new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
        this.#relay_kicked = false;
        await this.relayOutbox();
      }),
    );
  }

  /** Runs `work` every `interval_ms`, never overlapping itself; the timer never keeps the process alive. */
  #every(interval_ms: number, work: () => Promise<void>): void {
    const arm = () => {
      if (this.#closed) return;
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        this.#track(work().finally(arm));
      }, interval_ms);
      timer.unref();
      this.#timers.add(timer);
    };
    arm();
  }

  #track(work: Promise<void>): void {
    const tracked = work.catch((error: unknown) => logFailure(this.#log, 'background work', error));
    this.#background.add(tracked);
    void tracked.finally(() => this.#background.delete(tracked));
  }

  // Helpers.

  /** Refuses work on a live intent whose payment method has no real adapter configured now. */
  #requireLiveMethod(intent: IntentRecord, param: string | undefined): void {
    if (intent.payment_method_type === null) return;
    requireLiveCapability(this.#live_capabilities, payment_method_live_capability[intent.payment_method_type], intent.livemode, param);
  }

  #checkpoint(step: CrashStep): void {
    if (this.#crash_at === step) {
      this.#log('warn', 'crashing on purpose (fault injection)', { step });
      process.kill(process.pid, 'SIGKILL');
    }
  }

  #plausibleId(value: unknown, param: string, what: string): string {
    if (!isPlausibleId(value)) throw missing(what, typeof value === 'string' ? value : String(value), param);
    return value;
  }

  /** An intent's unchanging fields, from memory when this instance created or read it before. */
  async #fixedIntent(tenant: Tenant, id: string, param: string): Promise<FixedIntentFields> {
    const cached = isPlausibleId(id) ? this.#fixed_intents.get(id) : undefined;
    if (cached !== undefined && cached.merchant_id === tenant.merchant_id && cached.livemode === tenant.livemode) return cached;
    const intent = await this.#requireIntent(this.#database, tenant, id, param);
    this.#rememberIntent(intent);
    return intent;
  }

  #rememberIntent(intent: IntentRecord): void {
    this.#fixed_intents.set(intent.id, {
      id: intent.id,
      merchant_id: intent.merchant_id,
      livemode: intent.livemode,
      amount: intent.amount,
      currency: intent.currency,
      capture_method: intent.capture_method,
      top_up_wallet_id: intent.top_up_wallet_id,
      ledger_chart: intent.ledger_chart,
    });
  }

  async #requireIntent(database: Database, tenant: Tenant, id: string, param: string, lock = false): Promise<IntentRecord> {
    const intent = isPlausibleId(id) ? await findIntent(database, tenant, id, lock) : undefined;
    if (intent === undefined) throw missing('payment_intent', String(id), param);
    return intent;
  }
}
