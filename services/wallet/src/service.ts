// The wallet service. Customers' money lives only in the ledger, and the ledger is the book of
// record: a wallet is a row that says who owns which ledger accounts, and every movement is one
// linked chain of ledger transfers whose id is the operation's own number (operation-ids.ts).
//
// Two paths lead to the ledger:
// - Projected (top-ups from the simulated bank, transfers, payments): the request waits for one
//   durable commit, the ledger's. The operation's row, history and event are a projection written
//   behind the answer (projection.ts) and rebuilt from the ledger after a crash. Limits and freezes
//   are control transfers linked to the movement (chart.ts), so they hold in that same commit.
//   An operation with a description waits for its row too, because only the row holds the text.
// - Recorded (withdrawals, top-ups paid by a payment intent, refunds, reversals, restorations): the
//   operation carries what the ledger cannot (a bank account, another service's id) or is checked
//   against other operations under a row lock, so it is recorded before the ledger is called, with
//   a run of its saga (saga.ts) in the same commit: record, commit, call, record the answer. The
//   kernel's saga runner leases the runs, and recovery drives whatever a crash left halfway.
import { LRUCache } from 'lru-cache';
import {
  ApiError,
  GroupCommitter,
  SagaRunner,
  appendOutboxEvent,
  assert,
  checkAmount,
  checkCurrency,
  checkIdempotencyKey,
  checkText,
  invalidRequest,
  isAssertionError,
  liveModeNotConfigured,
  isPlausibleId,
  randomId,
  relayOutbox,
  outbox_relay_batch_max,
  pruneOutbox,
  systemClock,
  type Clock,
  type Database,
  type DriveOutcome,
  type Lease,
  type OutboxPublisher,
  type Page,
  type PageRequest,
  type Tenant,
} from '@paygrid/kernel';
import { AccountFlags, TransferCode, type Account, type LedgerClient, type Transfer } from '@paygrid/ledger';
import type { Keyring } from '@paygrid/kernel/envelope';
import { amount_max, type CurrencyCode } from '@paygrid/money';
import { test_completion_failure_code } from './bank';
import { BankAccountSealer } from './bank-accounts';
import {
  LedgerLayout,
  RefusalReason,
  TransferOrigin,
  day_limit_max,
  freezeTransferEvents,
  isOutgoing,
  merchantControlAccountEvents,
  refusalMarkerEvent,
  unfreezeTransferEvents,
  walletAccountEvent,
  walletAccountId,
  walletControlAccountEvents,
  walletControlAccountId,
  type RefusalReasonName,
} from './chart';
import { Movements, type ChainOutcome } from './movement';
import { operationIdOf, operationValue, operationValueOf } from './operation-ids';
import { Projection, operationOfTransfer, rebuildFromLedger } from './projection';
import { movementSaga, settlement_takeover_steps, withdrawalSaga, type OperationRun, type WalletSagaServices } from './saga';
import {
  findLimits,
  findOperation,
  findOperationById,
  findOperationByIdempotencyKey,
  findWallet,
  findWalletById,
  findWalletOfCustomer,
  insertWallet,
  findWalletsByLedgerAccounts,
  insertOperation,
  insertOperationsIfAbsent,
  insertStep,
  listOperationsOfType,
  listOperationsOfWallet,
  listWallets,
  recordSettlementIntent,
  saveLimits,
  sumRefundsOfPayment,
  sumReversalsOfTopUp,
  findRestorationOfReversal,
  updateWalletStatus,
  type OperationRecord,
  type WalletRecord,
} from './store';
import { wallet_events_table } from './migrations';
import { transition, wallet_transitions } from './transitions';
import type {
  BankPort,
  BankWithdrawalRequest,
  CreateWalletInput,
  CustomerDirectory,
  ListWalletsFilter,
  OperationType,
  PayInput,
  RefundPaymentInput,
  RestoreTopUpReversalInput,
  ReverseTopUpInput,
  SetLimitsInput,
  SettlementOutcome,
  TopUp,
  TopUpFromPaymentInput,
  TopUpInput,
  TopUpRestoration,
  TopUpReversal,
  TransferInput,
  UpdateWalletInput,
  Wallet,
  WalletBalance,
  WalletClient,
  WalletLimits,
  WalletPayment,
  WalletRefund,
  WalletStatus,
  WalletTransaction,
  WalletTransfer,
  Withdrawal,
  WithdrawInput,
} from './types';
import { checkBankAccount, checkLimit, checkOptionalText, checkWalletStatus, customer_id_length_max, description_length_max, type CheckedBankAccount } from './validation';
import {
  balanceOf,
  paymentToWire,
  refundToWire,
  topUpRestorationToWire,
  topUpReversalToWire,
  topUpToWire,
  transactionToWire,
  transferToWire,
  walletToWire,
  withdrawalToWire,
  zero_balance,
} from './wire';

/** How often the background recovery looks for unfinished operations. */
export const recovery_interval_ms_default = 5_000;
/** How long a published event stays in the outbox; the webhooks service keeps its own copy. */
export const outbox_retention_ms_default = 7 * 24 * 60 * 60 * 1_000;
/**
 * How long one holder owns an operation's saga run before recovery may take it over. Far longer
 * than any ledger or bank call should take, so that a slow holder and a recovery never both send;
 * each of a withdrawal's four steps gets a quarter of it as its timeout.
 */
export const attempt_lease_ms_default = 60_000;
/** Steps of the longest wallet saga (a withdrawal's): the lease is shared out among them as timeouts. */
const saga_steps_longest = 4;
/** How long a repeated settlement waits for the holder applying it, and how often it looks. */
export const settlement_wait_ms_max = 5_000;
const settlement_wait_poll_ms = 5;
/** How a takeover that carries a settlement decision begins its reason, in the run's transitions. */
const settlement_takeover_reason = 'settlement_decided:';
/** After the ledger was unreachable, how long until recovery tries again. */
export const retry_delay_ms_default = 5_000;
/** How often recovery asks the bank about a withdrawal it has not heard back on. */
export const bank_poll_interval_ms_default = 60_000;
/** Under load, how long the relay gathers events before its next pass. */
export const relay_gather_ms = 20;
/** Relay passes close() runs at most, to send what the outbox holds before the process stops. */
export const relay_close_passes_max = 10;
/** Operations one recovery pass handles at most; the next pass takes the rest. */
export const recovery_batch_max = 100;
/** Wallet rows kept in memory: their fields never change (a wallet's status lives in the ledger). */
export const wallet_cache_entries_max = 100_000;
const closed_flag = AccountFlags.closed;
/** Frozen wallets one start-up pass carries from the table into the ledger, per page. */
const frozen_reconcile_page_max = 500;

const ms_per_second = 1_000;

export type WalletLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export interface WalletServiceOptions {
  readonly database: Database;
  readonly ledger: LedgerClient;
  readonly customers: CustomerDirectory;
  readonly bank: BankPort;
  /** Seals withdrawals' account numbers (bank-accounts.ts); shared with the other services that seal, so that a rotation switches all at once. */
  readonly keyring: Keyring;
  readonly clock?: Clock;
  readonly recovery_interval_ms?: number;
  /** Published events older than this leave the outbox (default 7 days). */
  readonly outbox_retention_ms?: number;
  readonly attempt_lease_ms?: number;
  readonly retry_delay_ms?: number;
  readonly bank_poll_interval_ms?: number;
  readonly log?: WalletLog;
  /**
   * Where events go (the platform's publisher puts them on the bus, subject `wallet.events.<object>`,
   * and resolves once each is safe there): `wallet.transfer.completed`,
   * `wallet.withdrawal.succeeded`, `wallet.withdrawal.failed`, `wallet.top_up.succeeded`,
   * `wallet.top_up.reversed` and `wallet.top_up.restored`, written to an outbox in the same
   * transaction as the operation's row and relayed from there. Without it no event is written.
   */
  readonly events?: OutboxPublisher;
  /**
   * This is the only wallet instance on its database: the all-in-one process, which runs only
   * while it holds the ledger's fence. At start it then rebuilds every other instance's answered,
   * unwritten movements at once; otherwise it waits until their cursors stop beating.
   */
  readonly sole_instance?: boolean;
}

export interface RecoveryReport {
  /** Saga runs leased and driven: their lease ran out, or their retry or poll time came. */
  runs_driven: number;
  /** Runs that finished (succeeded or failed) in this pass. */
  runs_finished: number;
  /** Runs that could not be advanced this time (the ledger or the bank was unreachable), or failed to drive. */
  failures: number;
}

/** A projected movement as a request asks for it, checked, before it meets the ledger. */
interface ProjectedIntent {
  readonly type: 'top_up' | 'transfer' | 'payment';
  /** The wallet money leaves, or a top-up's destination. */
  readonly wallet_id: string;
  readonly wallet_param: string;
  /** A transfer's destination. */
  readonly destination_id?: string;
  /** A transfer names its currency; other operations take the wallet's. */
  readonly currency?: CurrencyCode;
  readonly amount: bigint;
  readonly description: string | null;
  readonly idempotency_key: string | null;
}

/** What a withdrawal asks, checked. */
interface WithdrawalIntent {
  readonly wallet_id: string;
  readonly amount: bigint;
  readonly idempotency_key: string | null;
  readonly bank_account: CheckedBankAccount;
}

/** What differs between recorded operations when they are first recorded. */
type NewOperation = Pick<OperationRecord, 'type' | 'source_wallet_id' | 'destination_wallet_id' | 'amount' | 'currency' | 'idempotency_key'> &
  Partial<Pick<OperationRecord, 'description' | 'refunded_payment_id' | 'payment_intent_id' | 'reversed_top_up_id' | 'restored_reversal_id'>> & {
    /** A withdrawal's account as asked: #recordOperation seals its number before the row is written. */
    readonly bank_account?: CheckedBankAccount;
  };

interface Begun {
  readonly operation: OperationRecord;
  /** Set when this caller holds the operation's saga run; unset when replaying an operation someone else handles. */
  readonly lease: Lease | undefined;
}

function missing(what: string, id: string, param: string): ApiError {
  return new ApiError('not_found_error', 'resource_missing', `No such ${what}: '${id}'`, param);
}

function isAccepted(result: string | null): boolean {
  return result === 'ok' || result === 'exists';
}

function secondsOf(ms: number): number {
  return Math.floor(ms / ms_per_second);
}

function unavailable(message: string): ApiError {
  return new ApiError('service_unavailable_error', 'ledger_unavailable', message);
}

function keyReused(): ApiError {
  return new ApiError('idempotency_error', 'idempotency_key_reused', 'This idempotency_key was used for a different operation', 'idempotency_key');
}

/** The parameter a refusal of an outgoing operation points at. */
function walletParamOf(type: OperationType): string {
  return type === 'transfer' ? 'source' : 'wallet';
}

/** Why an operation failed in the ledger, as recorded in its `failure_code`. */
export type FailureCode = RefusalReasonName | 'idempotency_key_reused' | 'ledger_refused';

/** A recorded failure code read back; one this version does not know is the ledger's refusal. */
function failureCodeFrom(recorded: string | null): FailureCode {
  if (recorded === 'idempotency_key_reused' || recorded === 'ledger_refused') return recorded;
  return recorded !== null && Object.hasOwn(RefusalReason, recorded) ? (recorded as RefusalReasonName) : 'ledger_refused';
}

/**
 * The error a refused operation gets: the same on every replay, whoever answers it. Every failure
 * is a 4xx the caller can act on but `ledger_refused`, which only a chain the service built wrong
 * gets (movement.ts `decisionOf` says which answers those are).
 */
export function refusalError(operation: Pick<OperationRecord, 'id' | 'type' | 'amount' | 'source_wallet_id'>, reason: FailureCode, ledger_result: string | null): ApiError {
  const wallet = operation.source_wallet_id ?? '';
  switch (reason) {
    case 'insufficient_funds':
      return invalidRequest('insufficient_funds', `Wallet ${wallet} does not have ${operation.amount} available for ${operation.id}`, 'amount');
    case 'wallet_limit_exceeded':
      return invalidRequest('wallet_limit_exceeded', `Wallet ${wallet} has no daily allowance left for ${operation.amount} more (${operation.id})`, 'amount');
    case 'wallet_frozen':
      return invalidRequest('wallet_frozen', `Wallet ${wallet} is frozen and cannot send money`, walletParamOf(operation.type));
    case 'amount_too_large':
      return invalidRequest('amount_too_large', `Moving ${operation.amount} would take a balance in the books past ${amount_max} minor units (${operation.id})`, 'amount');
    case 'idempotency_key_reused':
      return keyReused();
    case 'ledger_refused':
      return new ApiError('api_error', 'ledger_refused', `The ledger refused the transfer of ${operation.id} (${ledger_result ?? 'unknown'})`);
    default: {
      const unmapped: never = reason;
      return unmapped;
    }
  }
}

/** The error a request gets for a recorded operation that failed: the same on every replay. */
function refusalOf(operation: OperationRecord): ApiError | undefined {
  if (operation.status !== 'failed' || isAccepted(operation.ledger_result)) return undefined;
  return refusalError(operation, failureCodeFrom(operation.failure_code), operation.ledger_result);
}

/**
 * The event an operation's success announces, if any. Payments and refunds are announced by the
 * payments service (as the payment intent's and refund's events), and a withdrawal only when the
 * bank settles it, so these are the operations whose success is the end of the story.
 */
function announcementOfSuccess(operation: OperationRecord): { readonly type: string; readonly object: object } | undefined {
  switch (operation.type) {
    case 'transfer':
      return { type: 'wallet.transfer.completed', object: transferToWire(operation) };
    case 'top_up':
      return { type: 'wallet.top_up.succeeded', object: topUpToWire(operation) };
    case 'top_up_reversal':
      return { type: 'wallet.top_up.reversed', object: topUpReversalToWire(operation) };
    case 'top_up_restoration':
      return { type: 'wallet.top_up.restored', object: topUpRestorationToWire(operation) };
    case 'payment':
    case 'refund':
    case 'withdrawal':
      return undefined;
  }
}

/** A settlement asked for: the first decision, a repeat of it, or contrary to it. */
interface SettlementDecision {
  readonly kind: 'decided' | 'repeat' | 'contrary';
  readonly operation: OperationRecord;
  /** The withdrawal's run, taken over to apply the decision (decided only, when asked to take over). */
  readonly lease: Lease | undefined;
}

/** A wallet's balance and status, read from its two ledger accounts. */
interface WalletState {
  readonly balance: WalletBalance;
  readonly status: WalletStatus;
}

export class WalletService implements WalletClient {
  readonly #database: Database;
  /** The recorded saga's own writes (record the operation, record the ledger's answer) share commits. */
  readonly #commits: GroupCommitter;
  readonly #ledger: LedgerClient;
  readonly #movements: Movements;
  readonly #projection: Projection;
  readonly #customers: CustomerDirectory;
  readonly #bank: BankPort;
  readonly #bank_accounts: BankAccountSealer;
  readonly #clock: Clock;
  readonly #recovery_interval_ms: number;
  readonly #outbox_retention_ms: number;
  readonly #events: OutboxPublisher | undefined;
  /** One relay pass at a time; a request for another while one runs is folded into a follow-up. */
  #relaying: Promise<void> | undefined;
  #relay_again = false;
  readonly #attempt_lease_ms: number;
  readonly #retry_delay_ms: number;
  readonly #bank_poll_interval_ms: number;
  readonly #log: WalletLog;
  readonly #sole_instance: boolean;
  /** Runs of recorded movements (every recorded operation but withdrawals) and of withdrawals. */
  readonly #movement_runs: SagaRunner<null, OperationRun>;
  readonly #withdrawal_runs: SagaRunner<null, OperationRun>;
  /** Wallet rows never change but for their status, which lives in the ledger: safe to keep. */
  readonly #wallets = new LRUCache<string, WalletRecord>({ max: wallet_cache_entries_max });
  #started = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  /** Background work (recovery passes, bank notifications) that close() waits for. */
  readonly #background = new Set<Promise<void>>();

  constructor(options: WalletServiceOptions) {
    this.#database = options.database;
    this.#commits = new GroupCommitter(options.database);
    this.#events = options.events;
    this.#ledger = options.ledger;
    this.#customers = options.customers;
    this.#bank = options.bank;
    this.#bank_accounts = new BankAccountSealer(options.keyring);
    this.#clock = options.clock ?? systemClock;
    this.#recovery_interval_ms = options.recovery_interval_ms ?? recovery_interval_ms_default;
    this.#outbox_retention_ms = options.outbox_retention_ms ?? outbox_retention_ms_default;
    this.#attempt_lease_ms = options.attempt_lease_ms ?? attempt_lease_ms_default;
    this.#retry_delay_ms = options.retry_delay_ms ?? retry_delay_ms_default;
    this.#bank_poll_interval_ms = options.bank_poll_interval_ms ?? bank_poll_interval_ms_default;
    this.#log = options.log ?? (() => undefined);
    this.#sole_instance = options.sole_instance ?? false;
    for (const value of [this.#recovery_interval_ms, this.#outbox_retention_ms, this.#attempt_lease_ms, this.#retry_delay_ms, this.#bank_poll_interval_ms]) {
      assert(Number.isSafeInteger(value) && value > 0, 'wallet service intervals are positive integers of milliseconds');
    }
    this.#movements = new Movements({ database: this.#database, ledger: this.#ledger, now: () => this.#clock.now(), log: this.#log });
    this.#projection = new Projection({
      database: this.#database,
      instance_id: randomId('wins'),
      now: () => this.#clock.now(),
      onEventsWritten: () => this.#relaySoon(),
      log: this.#log,
    });
    const services: WalletSagaServices = {
      movements: this.#movements,
      ledger: this.#ledger,
      bank: this.#bank,
      announce: (tx, operation, now_ms) => this.#announceEnd(tx, operation, now_ms),
      recordBankAnswer: (withdrawal_id, outcome, failure_code) => this.#recordBankAnswer(withdrawal_id, outcome, failure_code),
      bankRequest: (operation) => this.#bankRequest(operation),
      log: this.#log,
      retry_delay_ms: this.#retry_delay_ms,
      bank_poll_interval_ms: this.#bank_poll_interval_ms,
      step_timeout_ms: Math.floor(this.#attempt_lease_ms / saga_steps_longest),
    };
    const runner = { database: this.#database, commits: this.#commits, clock: this.#clock, lease_ms: this.#attempt_lease_ms, log: this.#log };
    this.#movement_runs = new SagaRunner({ ...runner, saga: movementSaga(services) });
    this.#withdrawal_runs = new SagaRunner({ ...runner, saga: withdrawalSaga(services) });
    // Registered at once, so that no notification is missed between construction and start().
    this.#bank.onSettled((withdrawal_id, outcome, failure_code) => {
      if (this.#closed) return;
      this.#track(
        this.settleWithdrawal(withdrawal_id, outcome, failure_code).then(
          () => undefined,
          (error: unknown) => this.#logFailure('settling a withdrawal the bank reported failed; recovery will ask the bank again', error, { withdrawal_id, outcome }),
        ),
      );
    });
  }

  /**
   * Takes a projection cursor, rebuilds from the ledger what stopped instances answered but never
   * wrote, carries freezes recorded before the ledger kept them into the ledger, finishes what
   * earlier processes left pending, then keeps doing so on a timer.
   */
  async start(): Promise<void> {
    assert(!this.#started, 'the wallet service is already started');
    assert(!this.#closed, 'the wallet service was closed');
    this.#started = true;
    await this.#projection.claimCursor(this.#ledger);
    await this.#rebuild(this.#sole_instance);
    await this.#carryFreezesIntoLedger();
    await this.recoverPending();
    this.#scheduleRecovery();
  }

  /**
   * Stops the timer, writes what the projection holds, waits for background work, and relays what
   * the outbox holds. The database, ledger and event publisher belong to the caller, who closes the
   * publisher after.
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    while (this.#background.size > 0) await Promise.all([...this.#background]);
    await this.#projection.settled(Number.POSITIVE_INFINITY);
    if (this.#started) await this.#projection.close();
    if (this.#started) await this.#flushOutbox();
  }

  /** The relay's last passes: events the projection just wrote go out now, not at the next start (they would then, at least once). */
  async #flushOutbox(): Promise<void> {
    const events = this.#events;
    if (events === undefined) return;
    for (let pass = 0; pass < relay_close_passes_max; pass += 1) {
      try {
        const published = await relayOutbox(this.#database, wallet_events_table, events, {
          now_ms: this.#clock.now(),
          onFailure: (event, error) => this.#logFailure('publishing a wallet event at close; the next start publishes it', error, { event }),
        });
        if (published < outbox_relay_batch_max) return;
      } catch (error) {
        if (isAssertionError(error)) throw error;
        this.#logFailure('relaying wallet events at close; the next start relays them', error);
        return;
      }
    }
  }

  // Wallets.

  async createWallet(tenant: Tenant, input: CreateWalletInput): Promise<Wallet> {
    const currency = checkCurrency(input.currency);
    const customer = checkText(input.customer, 'customer', customer_id_length_max);
    if (!(await this.#customers.customerExists(tenant, customer))) throw missing('customer', customer, 'customer');
    const id = randomId('wal');
    const wallet: WalletRecord = {
      id,
      merchant_id: tenant.merchant_id,
      livemode: tenant.livemode,
      customer,
      currency,
      status: 'active',
      ledger_account_id: walletAccountId(id),
      created: secondsOf(this.#clock.now()),
    };
    const exists = () => invalidRequest('wallet_exists', `Customer ${customer} already has a ${currency.toLowerCase()} wallet`, 'customer');
    try {
      await this.#database.transaction(async (tx) => {
        if ((await findWalletOfCustomer(tx, tenant, customer, currency)) !== undefined) throw exists();
        await insertWallet(tx, wallet);
      });
    } catch (error) {
      // Two requests for the same wallet race past the check; the unique constraint stops one.
      if (error instanceof ApiError || isAssertionError(error)) throw error;
      if ((await findWalletOfCustomer(this.#database, tenant, customer, currency)) !== undefined) throw exists();
      throw error;
    }
    this.#wallets.set(id, wallet);
    // The row is committed; if the ledger cannot take the accounts now, the first movement that
    // meets a missing account creates them, so the wallet is usable either way.
    try {
      const answers = await this.#ledger.createAccounts([
        walletAccountEvent(id, currency, tenant.livemode),
        ...walletControlAccountEvents(id, currency, tenant.livemode),
        ...merchantControlAccountEvents(tenant, currency),
      ]);
      for (const answer of answers) {
        if (!isAccepted(answer.result)) this.#log('error', 'the ledger refused a wallet account', { wallet: id, account: answer.id.toString(), result: answer.result });
      }
    } catch (error) {
      this.#logFailure('creating a wallet account; it will be created on first use', error, { wallet: id });
    }
    return walletToWire(wallet, zero_balance);
  }

  async getWallet(tenant: Tenant, id: string): Promise<Wallet> {
    const wallet = await this.#requireWallet(tenant, id, 'id');
    const [state] = await this.#states([wallet]);
    return this.#walletWire(wallet, state);
  }

  async listWallets(tenant: Tenant, page: PageRequest, filter: ListWalletsFilter = {}): Promise<Page<Wallet>> {
    const customer = filter.customer === undefined ? undefined : checkText(filter.customer, 'customer', customer_id_length_max);
    const listed = await listWallets(this.#database, tenant, page, customer);
    const states = await this.#states(listed.data);
    return { data: listed.data.map((wallet, index) => this.#walletWire(wallet, states[index])), has_more: listed.has_more };
  }

  /**
   * Freezes or unfreezes a wallet in the ledger: a freeze is a pending transfer that closes the
   * wallet's control account, which every outgoing movement is linked to, and unfreezing voids it.
   * The freeze holds from the commit that answers this call, on every instance.
   */
  async updateWallet(tenant: Tenant, id: string, input: UpdateWalletInput): Promise<Wallet> {
    const status = checkWalletStatus(input.status);
    const wallet = await this.#requireWallet(tenant, id, 'id');
    const [state] = await this.#states([wallet]);
    const current = state?.status ?? 'active';
    if (current !== status) {
      if (transition(wallet_transitions, current, status) !== 'ok') {
        throw invalidRequest('not_allowed', `A ${current} wallet cannot become ${status}`, 'status');
      }
      await this.#setFrozen(wallet, status === 'frozen');
    }
    // The table's status is a projection of the ledger's, for lists and reports.
    await updateWalletStatus(this.#database, wallet.id, status);
    const [after] = await this.#states([wallet]);
    return this.#walletWire(wallet, after);
  }

  async #setFrozen(wallet: WalletRecord, frozen: boolean): Promise<void> {
    const tenant = { merchant_id: wallet.merchant_id, livemode: wallet.livemode };
    await this.#ensureControlAccounts(wallet);
    const [latest] = await this.#ledger.getAccountTransfers({
      account_id: walletControlAccountId(wallet.id),
      code: TransferCode.wallet_freeze,
      limit: 1,
      debits: false,
      credits: true,
      reversed: true,
    });
    // The newest freeze is the pending one while the wallet is frozen; freezes are numbered so that
    // each freeze and unfreeze has an id of its own, and a repeated request meets `exists`.
    const events = frozen ? freezeTransferEvents(tenant, wallet.id, wallet.currency, (latest?.user_data_32 ?? 0) + 1) : latest === undefined ? [] : unfreezeTransferEvents(wallet.id, latest.user_data_32);
    if (events.length === 0) return;
    const answers = await this.#unavailableAsError(() => this.#ledger.createTransfers(events), 'The ledger is unavailable; the wallet status cannot change now');
    // The pair is linked: the first failure says what happened to both.
    const result = answers.find((answer) => answer.result !== 'linked_event_failed')?.result;
    const settled = result === 'ok' || result === 'exists' || result === 'credit_account_already_closed' || result === 'pending_transfer_already_voided';
    if (!settled) {
      this.#log('error', 'the ledger refused a wallet freeze or unfreeze', { wallet: wallet.id, frozen, result });
      throw new ApiError('api_error', 'ledger_refused', `The ledger refused to ${frozen ? 'freeze' : 'unfreeze'} wallet ${wallet.id} (${result ?? 'no answer'})`);
    }
  }

  /** Wallets whose control account the ledger does not have yet (created before it, or while it was down) get it now. */
  async #ensureControlAccounts(wallet: WalletRecord): Promise<void> {
    const tenant = { merchant_id: wallet.merchant_id, livemode: wallet.livemode };
    await this.#unavailableAsError(
      () => this.#ledger.createAccounts([walletAccountEvent(wallet.id, wallet.currency, wallet.livemode), ...walletControlAccountEvents(wallet.id, wallet.currency, wallet.livemode), ...merchantControlAccountEvents(tenant, wallet.currency)]),
      'The ledger is unavailable; the wallet status cannot change now',
    );
  }

  /** Wallets frozen before freezes lived in the ledger are frozen there too, once, at start. */
  async #carryFreezesIntoLedger(): Promise<void> {
    let after = 0;
    for (;;) {
      const rows = await this.#database.query<{ sequence: number; id: string }>(
        "SELECT sequence, id FROM wallets WHERE status = 'frozen' AND sequence > ? ORDER BY sequence LIMIT ?",
        [after, frozen_reconcile_page_max],
      );
      for (const row of rows) {
        const wallet = await findWalletById(this.#database, row.id);
        if (wallet === undefined) continue;
        const [control] = await this.#ledger.lookupAccounts([walletControlAccountId(wallet.id)]);
        if (control !== undefined && (control.flags & closed_flag) !== 0) continue;
        try {
          await this.#setFrozen(wallet, true);
        } catch (error) {
          if (isAssertionError(error)) throw error;
          this.#logFailure('carrying a freeze into the ledger; the next start tries again', error, { wallet: wallet.id });
        }
      }
      const last = rows.at(-1);
      if (last === undefined || rows.length < frozen_reconcile_page_max) return;
      after = last.sequence;
    }
  }

  // Money movement.

  async topUp(tenant: Tenant, wallet_id: string, input: TopUpInput): Promise<TopUp> {
    const amount = checkAmount(input.amount);
    const idempotency_key = checkIdempotencyKey(input.idempotency_key);
    if (tenant.livemode) {
      throw invalidRequest('top_up_source_unavailable', 'Simulated bank deposits exist in test mode only; live wallets are topped up by card payments', 'wallet');
    }
    const operation = await this.#moveProjected(tenant, {
      type: 'top_up',
      wallet_id: this.#plausibleId(wallet_id, 'wallet'),
      wallet_param: 'wallet',
      amount,
      description: null,
      idempotency_key,
    });
    return topUpToWire(operation);
  }

  async transfer(tenant: Tenant, input: TransferInput): Promise<WalletTransfer> {
    const amount = checkAmount(input.amount);
    const currency = checkCurrency(input.currency);
    const description = checkOptionalText(input.description, 'description', description_length_max);
    const idempotency_key = checkIdempotencyKey(input.idempotency_key);
    const operation = await this.#moveProjected(tenant, {
      type: 'transfer',
      wallet_id: this.#plausibleId(input.source, 'source'),
      wallet_param: 'source',
      destination_id: this.#plausibleId(input.destination, 'destination'),
      currency,
      amount,
      description,
      idempotency_key,
    });
    return transferToWire(operation);
  }

  async pay(tenant: Tenant, wallet_id: string, input: PayInput): Promise<WalletPayment> {
    const amount = checkAmount(input.amount);
    const description = checkOptionalText(input.description, 'description', description_length_max);
    const idempotency_key = checkIdempotencyKey(input.idempotency_key);
    const operation = await this.#moveProjected(tenant, {
      type: 'payment',
      wallet_id: this.#plausibleId(wallet_id, 'wallet'),
      wallet_param: 'wallet',
      amount,
      description,
      idempotency_key,
    });
    return paymentToWire(operation);
  }

  async topUpFromPayment(tenant: Tenant, wallet_id: string, input: TopUpFromPaymentInput): Promise<TopUp> {
    const amount = checkAmount(input.amount);
    const idempotency_key = this.#requiredIdempotencyKey(input.idempotency_key);
    if (!isPlausibleId(input.payment_intent)) throw invalidRequest('parameter_invalid', 'payment_intent must be a payment intent id', 'payment_intent');
    const payment_intent_id = input.payment_intent;
    const id = this.#plausibleId(wallet_id, 'wallet');
    // Unlike a simulated deposit this works in live mode: the money is real, the payments service
    // captured it. It is incoming money, so neither freezes nor limits apply. It is recorded first
    // because the ledger cannot hold the payment intent it names.
    const operation = await this.#run(tenant, idempotency_key, async (tx) => {
      const wallet = await this.#lockedWallet(tx, tenant, id, 'wallet');
      const existing = await this.#replayByKey(tx, tenant, idempotency_key, (found) => found.type === 'top_up' && found.destination_wallet_id === wallet.id && found.payment_intent_id === payment_intent_id && found.amount === amount);
      if (existing !== undefined) return existing;
      return this.#recordOperation(tx, tenant, this.#clock.now(), {
        type: 'top_up',
        source_wallet_id: null,
        destination_wallet_id: wallet.id,
        amount,
        currency: wallet.currency,
        idempotency_key,
        payment_intent_id,
      });
    });
    return topUpToWire(operation);
  }

  async reverseTopUp(tenant: Tenant, top_up_id: string, input: ReverseTopUpInput): Promise<TopUpReversal> {
    const amount = checkAmount(input.amount);
    const idempotency_key = this.#requiredIdempotencyKey(input.idempotency_key);
    const id = this.#plausibleId(top_up_id, 'top_up', 'top-up');
    const operation = await this.#run(tenant, idempotency_key, (tx) => this.#beginReversal(tx, tenant, id, amount, idempotency_key));
    return topUpReversalToWire(operation);
  }

  async restoreTopUpReversal(tenant: Tenant, top_up_reversal_id: string, input: RestoreTopUpReversalInput): Promise<TopUpRestoration> {
    const idempotency_key = this.#requiredIdempotencyKey(input.idempotency_key);
    const id = this.#plausibleId(top_up_reversal_id, 'top_up_reversal', 'top-up reversal');
    const operation = await this.#run(tenant, idempotency_key, (tx) => this.#beginRestoration(tx, tenant, id, idempotency_key));
    return topUpRestorationToWire(operation);
  }

  async withdraw(tenant: Tenant, wallet_id: string, input: WithdrawInput): Promise<Withdrawal> {
    const amount = checkAmount(input.amount);
    const bank_account = checkBankAccount(input.bank_account);
    const idempotency_key = checkIdempotencyKey(input.idempotency_key);
    // Live money leaves only through a bank that can pay it out, refused before anything is written.
    if (tenant.livemode && !this.#bank.live_support.payouts) {
      throw liveModeNotConfigured('withdrawals', `no bank that pays out live money is configured (${this.#bank.live_support.name} serves test mode only)`, 'bank_account');
    }
    const intent: WithdrawalIntent = { wallet_id: this.#plausibleId(wallet_id, 'wallet'), amount, idempotency_key, bank_account };
    const wallet = await this.#requireWallet(tenant, intent.wallet_id, 'wallet');
    await this.#checkTransactionLimit(tenant, wallet.currency, amount);
    const operation = await this.#run(tenant, idempotency_key, (tx) => this.#beginWithdrawal(tx, tenant, intent));
    return withdrawalToWire(operation);
  }

  async refundPayment(tenant: Tenant, payment_id: string, input: RefundPaymentInput): Promise<WalletRefund> {
    const amount = checkAmount(input.amount);
    const idempotency_key = checkIdempotencyKey(input.idempotency_key);
    const id = this.#plausibleId(payment_id, 'payment', 'wallet payment');
    const operation = await this.#run(tenant, idempotency_key, (tx) => this.#beginRefund(tx, tenant, id, amount, idempotency_key));
    return refundToWire(operation);
  }

  async settleWithdrawal(withdrawal_id: string, outcome: SettlementOutcome, failure_code?: string): Promise<Withdrawal> {
    if (outcome !== 'succeeded' && outcome !== 'failed') throw invalidRequest('parameter_invalid', 'outcome must be succeeded or failed', 'outcome');
    const id = this.#plausibleId(withdrawal_id, 'id', 'withdrawal');
    const decision = await this.#decideSettlement(id, outcome, failure_code, { take_over: true });
    if (decision.kind === 'contrary') {
      throw invalidRequest('withdrawal_already_settled', `Withdrawal ${id} is already settled as ${decision.operation.settlement_outcome ?? decision.operation.status}`, 'outcome');
    }
    return withdrawalToWire(await this.#settle(decision));
  }

  /**
   * One transaction, under the operation's row lock: the first outcome asked for is recorded as
   * the withdrawal's settlement decision, and every contrary one after it is answered `contrary`.
   * The same outcome again is a repeat. With `take_over`, a decision still to be applied takes the
   * withdrawal's saga run over in the same transaction (its holder waiting for the bank is fenced
   * out), and the lease comes back for the caller to drive once committed.
   */
  async #decideSettlement(id: string, outcome: SettlementOutcome, failure_code: string | undefined, options: { readonly take_over: boolean }): Promise<SettlementDecision> {
    const settlement_failure_code = outcome === 'failed' ? (failure_code ?? test_completion_failure_code) : null;
    return this.#database.transaction(async (tx): Promise<SettlementDecision> => {
      const operation = await findOperationById(tx, id, { lock: true });
      if (operation === undefined || operation.type !== 'withdrawal') throw missing('withdrawal', id, 'id');
      if (operation.status !== 'pending') {
        // The same outcome again is a repeated notification: nothing to do.
        return { kind: operation.status === outcome ? 'repeat' : 'contrary', operation, lease: undefined };
      }
      if (!isAccepted(operation.ledger_result)) {
        throw invalidRequest('withdrawal_not_submitted', `Withdrawal ${id} has no hold placed yet, so it cannot be settled`, 'id');
      }
      let decided = operation;
      if (operation.settlement_outcome !== null) {
        if (operation.settlement_outcome !== outcome) return { kind: 'contrary', operation, lease: undefined };
      } else {
        // The decision is recorded before the ledger is told, so that a crash in between resumes
        // the same decision, and a contrary one is refused from here on.
        await recordSettlementIntent(tx, id, outcome, settlement_failure_code);
        await insertStep(tx, { operation_id: id, from_status: 'pending', to_status: 'pending', reason: `settlement_requested:${outcome}`, created_ms: this.#clock.now() });
        decided = { ...operation, settlement_outcome: outcome, settlement_failure_code };
      }
      if (!options.take_over) return { kind: 'decided', operation: decided, lease: undefined };
      // A holder that took the run over for this very decision is left to apply it (should it
      // die, recovery leases the run once its lease runs out); any other holder does not know the
      // decision, and is fenced out.
      const run = await this.#withdrawal_runs.find(id, tx);
      const applying =
        run !== undefined &&
        run.status === 'running' &&
        (await this.#withdrawal_runs.transitions(id, tx)).findLast((each) => each.fence === run.fence)?.reason.startsWith(settlement_takeover_reason) === true;
      const lease = applying ? undefined : await this.#withdrawal_runs.takeOver(id, { at_steps: settlement_takeover_steps, reason: `${settlement_takeover_reason}${outcome}`, transaction: tx });
      return { kind: 'decided', operation: decided, lease };
    });
  }

  /**
   * Drives a decided settlement to its end, when this caller took the run over; otherwise the
   * run's holder is applying it (or will, at its next lease), and the row is answered as it is.
   */
  async #settle(decision: SettlementDecision): Promise<OperationRecord> {
    if (decision.kind !== 'decided') return decision.operation;
    if (decision.lease === undefined) return this.#settledRow(decision.operation);
    const context: OperationRun = { operation: decision.operation, latest: decision.operation, answer: undefined };
    const driven = await this.#withdrawal_runs.drive(decision.lease, context);
    this.#relaySoon();
    if (driven.status === 'retrying' && driven.reason === 'ledger_unavailable') {
      throw unavailable(`The ledger is unavailable; the settlement of ${decision.operation.id} will be retried`);
    }
    if (driven.status === 'retrying') throw new ApiError('api_error', 'ledger_refused', `The ledger refused to settle ${decision.operation.id} (${driven.reason ?? 'no answer'})`);
    return driven.status === 'fenced' ? this.#settledRow(decision.operation) : context.latest;
  }

  /**
   * The row of a withdrawal whose decided settlement another holder is applying: it is waited for
   * (a ledger call), up to settlement_wait_ms_max, so that every caller of the same outcome answers
   * the settled withdrawal, as the first does; past that the row is answered as it stands.
   */
  async #settledRow(decided: OperationRecord): Promise<OperationRecord> {
    // Real time, not the service's clock: this waits for another caller's work, not for a schedule.
    const deadline_ms = Date.now() + settlement_wait_ms_max;
    for (;;) {
      const row = (await findOperationById(this.#database, decided.id)) ?? decided;
      if (row.status !== 'pending' || Date.now() >= deadline_ms) return row;
      await new Promise((resolve) => setTimeout(resolve, settlement_wait_poll_ms));
    }
  }

  /** The bank answered a recovery's question: its answer is the decision, unless one is recorded already, which stands. */
  async #recordBankAnswer(id: string, outcome: SettlementOutcome, failure_code: string | undefined): Promise<OperationRecord> {
    const decision = await this.#decideSettlement(id, outcome, failure_code, { take_over: false });
    return decision.operation;
  }

  /**
   * A test decides a withdrawal's outcome, as its bank would (decision 62). The wallet decides
   * first, under the operation's row lock, and only then tells the simulated bank, so that of any
   * number of racing calls the one the wallet recorded is the one the bank reports: the first
   * outcome wins, the same outcome again is answered with the withdrawal (200), and the other one
   * is refused with 409 `withdrawal_already_completed`.
   */
  async completeWithdrawalForTest(tenant: Tenant, id: string, outcome: SettlementOutcome): Promise<Withdrawal> {
    if (tenant.livemode) throw invalidRequest('test_mode_only', 'Withdrawals are completed by hand in test mode only', 'id');
    if (outcome !== 'succeeded' && outcome !== 'failed') throw invalidRequest('parameter_invalid', 'outcome must be succeeded or failed', 'outcome');
    const operation = await this.#requireOperation(tenant, id, 'withdrawal');
    const decision = await this.#decideSettlement(operation.id, outcome, undefined, { take_over: true });
    if (decision.kind === 'contrary') {
      const current = decision.operation;
      throw new ApiError(
        'idempotency_error',
        'withdrawal_already_completed',
        `Withdrawal ${current.id} is already completed as ${current.settlement_outcome ?? current.status}; it cannot be made to ${outcome === 'succeeded' ? 'succeed' : 'fail'}`,
        'id',
      );
    }
    if (decision.kind === 'repeat') return withdrawalToWire(decision.operation);
    // The simulated bank learns the decided outcome, so that its own report agrees with ours.
    if (this.#bank.completeForTest !== undefined) await this.#bank.completeForTest(operation.id, outcome);
    return withdrawalToWire(await this.#settle(decision));
  }

  // Reads. Each first waits for this instance's answered operations to be written, so a caller
  // reads its own writes; an operation answered by another instance and not yet written is found
  // in the ledger by its id.

  async getTopUp(tenant: Tenant, id: string): Promise<TopUp> {
    return topUpToWire(await this.#requireOperation(tenant, id, 'top_up'));
  }

  async getTopUpReversal(tenant: Tenant, id: string): Promise<TopUpReversal> {
    return topUpReversalToWire(await this.#requireOperation(tenant, id, 'top_up_reversal'));
  }

  async getTopUpRestoration(tenant: Tenant, id: string): Promise<TopUpRestoration> {
    return topUpRestorationToWire(await this.#requireOperation(tenant, id, 'top_up_restoration'));
  }

  async getTransfer(tenant: Tenant, id: string): Promise<WalletTransfer> {
    return transferToWire(await this.#requireOperation(tenant, id, 'transfer'));
  }

  async listTransfers(tenant: Tenant, page: PageRequest): Promise<Page<WalletTransfer>> {
    await this.#projection.settled();
    const listed = await listOperationsOfType(this.#database, tenant, 'transfer', page);
    return { data: listed.data.map(transferToWire), has_more: listed.has_more };
  }

  async getPayment(tenant: Tenant, id: string): Promise<WalletPayment> {
    return paymentToWire(await this.#requireOperation(tenant, id, 'payment'));
  }

  async getWithdrawal(tenant: Tenant, id: string): Promise<Withdrawal> {
    return withdrawalToWire(await this.#requireOperation(tenant, id, 'withdrawal'));
  }

  async listTransactions(tenant: Tenant, wallet_id: string, page: PageRequest): Promise<Page<WalletTransaction>> {
    const wallet = await this.#requireWallet(tenant, wallet_id, 'wallet');
    await this.#projection.settled();
    const listed = await listOperationsOfWallet(this.#database, tenant, wallet.id, page);
    return { data: listed.data.map((operation) => transactionToWire(operation, wallet.id)), has_more: listed.has_more };
  }

  // Limits.

  async getLimits(tenant: Tenant, currency_input: string): Promise<WalletLimits> {
    const currency = checkCurrency(currency_input);
    const limits = await findLimits(this.#database, tenant, currency);
    return { object: 'wallet_limits', currency: currency.toLowerCase(), per_transaction_max: limits.per_transaction_max, per_day_max: limits.per_day_max, livemode: tenant.livemode };
  }

  /**
   * Sets a merchant's limits in one currency and mode. A change of the daily limit raises its
   * version; each wallet's allowance in the ledger moves to it with the wallet's next outgoing
   * movement, in that movement's chain. Other instances read the change within limits_cache_ttl_ms.
   */
  async setLimits(tenant: Tenant, input: SetLimitsInput): Promise<WalletLimits> {
    const currency = checkCurrency(input.currency);
    const per_transaction_max = input.per_transaction_max === undefined ? undefined : checkLimit(input.per_transaction_max, 'per_transaction_max');
    const per_day_max = input.per_day_max === undefined ? undefined : checkLimit(input.per_day_max, 'per_day_max');
    if (per_day_max !== undefined && per_day_max !== null && per_day_max > day_limit_max) {
      throw invalidRequest('amount_invalid', `per_day_max must be at most ${day_limit_max}`, 'per_day_max');
    }
    const limits = await this.#database.transaction(async (tx) => {
      const current = await findLimits(tx, tenant, currency);
      const next_day_max = per_day_max === undefined ? current.per_day_max : per_day_max;
      const next = {
        per_transaction_max: per_transaction_max === undefined ? current.per_transaction_max : per_transaction_max,
        per_day_max: next_day_max,
        day_limit_version: next_day_max === current.per_day_max ? current.day_limit_version : current.day_limit_version + 1,
      };
      await saveLimits(tx, tenant, currency, next, this.#clock.now());
      return next;
    });
    this.#movements.forgetLimits(tenant, currency);
    return { object: 'wallet_limits', currency: currency.toLowerCase(), per_transaction_max: limits.per_transaction_max, per_day_max: limits.per_day_max, livemode: tenant.livemode };
  }

  // Recovery.

  /**
   * One recovery pass: every saga run whose lease ran out, or whose retry or poll time came, is
   * leased and driven. A send with no recorded answer is sent again with the same ids (the ledger
   * answers `exists` if the first went through); a withdrawal on hold is submitted to its bank again
   * (idempotent) and the bank asked; a decided settlement is sent again.
   */
  async recoverPending(): Promise<RecoveryReport> {
    this.#relaySoon();
    await this.#projection.heartbeat();
    // Another instance that stopped beating may have left answered movements unwritten.
    await this.#rebuild(false).catch((error: unknown) => {
      if (isAssertionError(error)) throw error;
      this.#logFailure('rebuilding wallet operations from the ledger; the next pass tries again', error);
    });
    await this.pruneOutbox().catch((error: unknown) => {
      if (isAssertionError(error)) throw error;
      this.#logFailure('pruning published wallet events; the next pass tries again', error);
    });
    const report: RecoveryReport = { runs_driven: 0, runs_finished: 0, failures: 0 };
    for (const runner of [this.#movement_runs, this.#withdrawal_runs]) {
      for (const lease of await runner.leaseDue(recovery_batch_max)) {
        report.runs_driven += 1;
        let driven: DriveOutcome;
        try {
          driven = await runner.drive(lease);
        } catch (error) {
          if (isAssertionError(error)) throw error;
          report.failures += 1;
          this.#logFailure('recovering a wallet operation; the next pass tries again', error, { operation: lease.run.id });
          continue;
        }
        this.#relaySoon();
        if (driven.status === 'retrying') report.failures += 1;
        if (driven.status === 'succeeded' || driven.status === 'failed') report.runs_finished += 1;
      }
    }
    return report;
  }

  async #rebuild(sole_instance: boolean): Promise<void> {
    await rebuildFromLedger({
      database: this.#database,
      ledger: this.#ledger,
      own_instance_id: this.#projection.instance_id,
      now_ms: this.#clock.now(),
      sole_instance,
      announce: announcementOfSuccess,
      log: this.#log,
    });
  }

  #scheduleRecovery(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#track(
        this.recoverPending()
          .then(
            (report) => {
              if (report.failures > 0) this.#log('warn', 'a recovery pass left operations pending', { ...report });
            },
            (error: unknown) => this.#logFailure('a recovery pass', error),
          )
          .finally(() => this.#scheduleRecovery()),
      );
    }, this.#recovery_interval_ms);
    // Recovery never keeps the process alive on its own.
    this.#timer.unref();
  }

  #track(work: Promise<void>): void {
    this.#background.add(work);
    void work.finally(() => this.#background.delete(work));
  }

  // The projected path.

  /**
   * A top-up, transfer or payment: checked against what never changes (the wallets, the currency,
   * the per-transaction limit), then sent to the ledger as one chain that the ledger alone accepts
   * or refuses. The answer waits for the ledger's commit; the operation's row is written behind it,
   * unless it has a description, which only the row can keep.
   */
  async #moveProjected(tenant: Tenant, intent: ProjectedIntent): Promise<OperationRecord> {
    const wallet = await this.#requireWallet(tenant, intent.wallet_id, intent.wallet_param);
    let destination: WalletRecord | undefined;
    if (intent.destination_id !== undefined) {
      if (intent.destination_id === wallet.id) throw invalidRequest('wallets_must_be_different', 'A transfer needs two different wallets', 'destination');
      destination = await this.#requireWallet(tenant, intent.destination_id, 'destination');
      if (intent.currency !== wallet.currency || intent.currency !== destination.currency) {
        throw invalidRequest(
          'currency_mismatch',
          `The transfer is in ${(intent.currency ?? wallet.currency).toLowerCase()}; wallet ${wallet.id} holds ${wallet.currency.toLowerCase()} and wallet ${destination.id} holds ${destination.currency.toLowerCase()}`,
          'currency',
        );
      }
    }
    if (isOutgoing(intent.type)) await this.#checkTransactionLimit(tenant, wallet.currency, intent.amount);
    const value = operationValue(tenant, intent.idempotency_key);
    const now_ms = this.#clock.now();
    const operation: OperationRecord = {
      ...this.#newOperationFields(tenant, intent.type, value, now_ms),
      source_wallet_id: intent.type === 'top_up' ? null : wallet.id,
      destination_wallet_id: intent.type === 'top_up' ? wallet.id : (destination?.id ?? null),
      amount: intent.amount,
      currency: wallet.currency,
      description: intent.description,
      idempotency_key: intent.idempotency_key,
      origin: TransferOrigin.projected,
    };
    await this.#projection.room();
    let outcome: ChainOutcome;
    try {
      outcome = await this.#movements.send(operation);
    } catch (error) {
      if (isAssertionError(error) || error instanceof ApiError) throw error;
      // The movement may or may not be in the ledger. A pending row lets recovery find out and
      // finish it with the same transfer id; the caller may also retry with its idempotency key.
      this.#logFailure('sending a wallet movement to the ledger; recovery will send it again', error, { operation: operation.id });
      // It is written before the answer, with a run that recovery drives, so that nothing is left
      // to chance by a crash meanwhile.
      await this.#commits.run(async (tx) => {
        const inserted = await insertOperationsIfAbsent(tx, [{ ...operation, idempotency_key: null }]);
        if (!inserted.has(operation.id)) return;
        await insertStep(tx, { operation_id: operation.id, from_status: null, to_status: 'pending', reason: 'created', created_ms: operation.created_ms });
        await this.#movement_runs.start(tx, { id: operation.id, input: null, status: 'ready', due_ms: this.#clock.now() + this.#retry_delay_ms });
      });
      throw unavailable(`The ledger is unavailable; ${operation.id} is pending and will be retried`);
    }
    switch (outcome.kind) {
      case 'applied': {
        if (outcome.existing !== undefined || outcome.result === 'exists') return this.#replayed(operation, outcome.existing);
        const succeeded: OperationRecord = { ...operation, status: 'succeeded', ledger_result: outcome.result };
        const written = this.#projection.write({ operation: succeeded, reason: `ledger:${outcome.result}`, announcement: announcementOfSuccess(succeeded), in_ledger: true });
        if (operation.description !== null) await written;
        return succeeded;
      }
      case 'refused':
        return this.#fixRefusal(operation, outcome.reason, outcome.result);
      case 'marked':
        throw refusalError(operation, outcome.reason, null);
      case 'conflict':
        throw keyReused();
      case 'broken':
        this.#log('error', 'the ledger refused a wallet movement', { operation: operation.id, result: outcome.result });
        throw refusalError(operation, 'ledger_refused', outcome.result);
    }
  }

  /**
   * A refusal is final only once it is in the ledger: a marker takes the operation's transfer id,
   * so that a retry under the same key can never move the money later (say, once funds arrive). A
   * concurrent retry that got there first decides instead, whichever way it went.
   */
  async #fixRefusal(operation: OperationRecord, reason: RefusalReasonName, result: string): Promise<OperationRecord> {
    let answer: string | undefined;
    try {
      [answer] = (await this.#ledger.createTransfers([refusalMarkerEvent(operation, reason)])).map((each) => each.result);
    } catch (error) {
      if (isAssertionError(error)) throw error;
      this.#logFailure('recording a wallet refusal in the ledger', error, { operation: operation.id });
      throw unavailable(`The ledger is unavailable; retry ${operation.id} with the same idempotency key`);
    }
    if (answer === 'ok') {
      const failed: OperationRecord = { ...operation, status: 'failed', failure_code: reason, ledger_result: result };
      void this.#projection.write({ operation: failed, reason: `ledger:${result}`, announcement: undefined, in_ledger: true });
      throw refusalError(operation, reason, result);
    }
    const decided = await this.#movements.existing(operation);
    if (decided.kind === 'applied') return this.#replayed(operation, decided.existing);
    if (decided.kind === 'marked') throw refusalError(operation, decided.reason, null);
    if (decided.kind === 'conflict') throw keyReused();
    this.#log('error', 'the ledger refused a wallet refusal marker', { operation: operation.id, result: answer });
    throw refusalError(operation, 'ledger_refused', answer ?? null);
  }

  /** The operation a retry meets: its row if written, else rebuilt from its transfer in the ledger. */
  async #replayed(operation: OperationRecord, existing: Transfer | undefined): Promise<OperationRecord> {
    await this.#projection.settled();
    const row = await findOperationById(this.#database, operation.id);
    // A row left pending by a send whose answer was lost: the ledger has the movement, so it
    // succeeded, whatever recovery has not recorded yet.
    if (row !== undefined) return row.status === 'pending' && row.type !== 'withdrawal' ? { ...row, status: 'succeeded', ledger_result: 'exists' } : row;
    const transfer = existing ?? (await this.#ledger.lookupTransfers([operation.ledger_transfer_id]))[0]?.transfer;
    assert(transfer !== undefined, 'a movement the ledger says exists can be looked up');
    const created_ms = transfer.user_data_64 === 0n ? operation.created_ms : Number(transfer.user_data_64);
    return { ...operation, status: 'succeeded', ledger_result: 'exists', created_ms, created: secondsOf(created_ms) };
  }

  async #checkTransactionLimit(tenant: Tenant, currency: CurrencyCode, amount: bigint): Promise<void> {
    const limits = await this.#movements.limitsOf(tenant, currency);
    if (limits.per_transaction_max !== null && amount > limits.per_transaction_max) {
      throw invalidRequest('wallet_limit_exceeded', `${amount} is over the per-transaction limit of ${limits.per_transaction_max}`, 'amount');
    }
  }

  /** The fields every new operation starts with, in the book-of-record layout. */
  #newOperationFields(tenant: Tenant, type: OperationType, value: bigint, now_ms: number): Omit<OperationRecord, 'source_wallet_id' | 'destination_wallet_id' | 'amount' | 'currency' | 'idempotency_key' | 'origin'> {
    return {
      id: operationIdOf(type, value),
      merchant_id: tenant.merchant_id,
      livemode: tenant.livemode,
      type,
      description: null,
      status: 'pending',
      failure_code: null,
      ledger_transfer_id: value,
      ledger_result: null,
      settlement_outcome: null,
      settlement_failure_code: null,
      bank_account: null,
      refunded_payment_id: null,
      payment_intent_id: null,
      reversed_top_up_id: null,
      restored_reversal_id: null,
      created: secondsOf(now_ms),
      created_ms: now_ms,
      ledger_layout: LedgerLayout.book_of_record,
    };
  }

  // The recorded saga.

  /** Runs step 1 (`begin`, in one group commit), then steps 2 and 3. Throws the refusal, if any. */
  async #run(tenant: Tenant, idempotency_key: string | null, begin: (tx: Database) => Promise<Begun>): Promise<OperationRecord> {
    // Rows list in the order they were written: movements this instance answered before are
    // written first, so a history shows them before this one, and checks in `begin` see them.
    await this.#projection.settled();
    let begun: Begun;
    try {
      begun = await this.#commits.run(begin);
    } catch (error) {
      // Two requests with one idempotency key for different wallets lock different rows and race
      // past the lookup; the unique index stops the second. Run it again to meet the first.
      if (idempotency_key === null || error instanceof ApiError || isAssertionError(error)) throw error;
      if ((await findOperationByIdempotencyKey(this.#database, tenant, idempotency_key)) === undefined) throw error;
      begun = await this.#commits.run(begin);
    }
    const operation = begun.lease === undefined ? begun.operation : await this.#drive(begun.operation, begun.lease);
    const refusal = refusalOf(operation);
    if (refusal !== undefined) throw refusal;
    return operation;
  }

  /** Steps 2 and 3: drives the operation's run (send the chain, record the answer; a withdrawal goes on to its bank). */
  async #drive(operation: OperationRecord, lease: Lease): Promise<OperationRecord> {
    const context: OperationRun = { operation, latest: operation, answer: undefined };
    const driven = await this.#runnerOf(operation).drive(lease, context);
    // The run's commits may have written events.
    this.#relaySoon();
    if (driven.status === 'fenced') {
      // Another holder took the run over after this one's lease ran out (or a settlement took it
      // over); the row says what it recorded.
      const current = await findOperationById(this.#database, operation.id);
      assert(current !== undefined, 'an operation being sent disappeared');
      return current;
    }
    if (driven.status === 'retrying' && driven.reason === 'ledger_unavailable' && context.latest.ledger_result === null) {
      throw unavailable(`The ledger is unavailable; ${operation.id} is pending and will be retried`);
    }
    return context.latest;
  }

  #runnerOf(operation: OperationRecord): SagaRunner<null, OperationRun> {
    return operation.type === 'withdrawal' ? this.#withdrawal_runs : this.#movement_runs;
  }

  /**
   * The operation recorded under the idempotency key, if any: refused as a reused key when it is
   * not the same operation, resumed when its sender died before the ledger answered, and returned
   * as it is otherwise.
   */
  async #replayByKey(tx: Database, tenant: Tenant, idempotency_key: string | null, same: (existing: OperationRecord) => boolean): Promise<Begun | undefined> {
    if (idempotency_key === null) return undefined;
    const existing = await findOperationByIdempotencyKey(tx, tenant, idempotency_key);
    if (existing === undefined) return undefined;
    if (!same(existing)) throw keyReused();
    // Resume an operation whose sender died; one still in flight elsewhere is left to it.
    if (existing.status === 'pending' && existing.ledger_result === null) {
      const lease = await this.#runnerOf(existing).leaseIfDue(existing.id, { transaction: tx });
      return { operation: existing, lease };
    }
    return { operation: existing, lease: undefined };
  }

  /** Step 1 of a withdrawal (its per-transaction limit checked before): replay by key, and record it with the bank account the bank will need. */
  async #beginWithdrawal(tx: Database, tenant: Tenant, intent: WithdrawalIntent): Promise<Begun> {
    const wallet = await this.#lockedWallet(tx, tenant, intent.wallet_id, 'wallet');
    const existing = await this.#replayByKey(tx, tenant, intent.idempotency_key, (found) => found.type === 'withdrawal' && found.source_wallet_id === wallet.id && found.amount === intent.amount);
    if (existing !== undefined) return existing;
    return this.#recordOperation(tx, tenant, this.#clock.now(), {
      type: 'withdrawal',
      source_wallet_id: wallet.id,
      destination_wallet_id: null,
      amount: intent.amount,
      currency: wallet.currency,
      idempotency_key: intent.idempotency_key,
      bank_account: intent.bank_account,
    });
  }

  /**
   * Step 1 of a refund: lock the paying wallet (so that two refunds of one payment cannot both fit
   * under its amount), replay by idempotency key, check what is left to refund, and record it.
   */
  async #beginRefund(tx: Database, tenant: Tenant, payment_id: string, amount: bigint, idempotency_key: string | null): Promise<Begun> {
    const payment = await findOperation(tx, tenant, payment_id, 'payment');
    if (payment === undefined || payment.source_wallet_id === null) throw missing('wallet payment', payment_id, 'payment');
    const wallet = await this.#lockedWallet(tx, tenant, payment.source_wallet_id, 'payment');
    const now_ms = this.#clock.now();

    const existing = await this.#replayByKey(tx, tenant, idempotency_key, (found) => found.type === 'refund' && found.refunded_payment_id === payment.id && found.amount === amount);
    if (existing !== undefined) return existing;

    if (payment.status !== 'succeeded') {
      throw invalidRequest('payment_not_refundable', `Wallet payment ${payment.id} is ${payment.status}; only a succeeded payment can be refunded`, 'payment');
    }
    // Pending refunds count: their money is on its way back already.
    const refunded = await sumRefundsOfPayment(tx, payment.id);
    if (refunded + amount > payment.amount) {
      throw invalidRequest(
        'refund_exceeds_payment',
        `Wallet payment ${payment.id} was ${payment.amount} and ${refunded} of it is refunded or being refunded; ${amount} more is too much`,
        'amount',
      );
    }

    return this.#recordOperation(tx, tenant, now_ms, {
      type: 'refund',
      source_wallet_id: null,
      destination_wallet_id: wallet.id,
      amount,
      currency: payment.currency,
      idempotency_key,
      refunded_payment_id: payment.id,
    });
  }

  /**
   * Step 1 of a top-up reversal: lock the wallet (so that two reversals of one top-up cannot both
   * fit under its amount), replay by idempotency key, check what is left to reverse, and record it.
   * The ledger decides whether the wallet still holds the money (`debits_must_not_exceed_credits`).
   */
  async #beginReversal(tx: Database, tenant: Tenant, top_up_id: string, amount: bigint, idempotency_key: string): Promise<Begun> {
    const top_up = await findOperation(tx, tenant, top_up_id, 'top_up');
    if (top_up === undefined || top_up.destination_wallet_id === null) throw missing('top-up', top_up_id, 'top_up');
    const wallet = await this.#lockedWallet(tx, tenant, top_up.destination_wallet_id, 'top_up');
    const now_ms = this.#clock.now();

    const existing = await this.#replayByKey(tx, tenant, idempotency_key, (found) => found.type === 'top_up_reversal' && found.reversed_top_up_id === top_up.id && found.amount === amount);
    if (existing !== undefined) return existing;

    // A simulated deposit has no payment to refund, so nothing may take it back.
    if (top_up.payment_intent_id === null || top_up.status !== 'succeeded') {
      throw invalidRequest('top_up_not_reversible', `Top-up ${top_up.id} is ${top_up.status} and ${top_up.payment_intent_id === null ? 'was not paid by a payment intent' : 'paid by a payment intent'}; only a succeeded top-up from a payment can be reversed`, 'top_up');
    }
    // Pending reversals count: their money is on its way out already.
    const reversed = await sumReversalsOfTopUp(tx, top_up.id);
    if (reversed + amount > top_up.amount) {
      throw invalidRequest('reversal_exceeds_top_up', `Top-up ${top_up.id} was ${top_up.amount} and ${reversed} of it is reversed or being reversed; ${amount} more is too much`, 'amount');
    }

    return this.#recordOperation(tx, tenant, now_ms, {
      type: 'top_up_reversal',
      source_wallet_id: wallet.id,
      destination_wallet_id: null,
      amount,
      currency: top_up.currency,
      idempotency_key,
      reversed_top_up_id: top_up.id,
    });
  }

  /**
   * Step 1 of a restoration: lock the wallet, replay by idempotency key, check that the reversal
   * succeeded and is not restored already, and record the restoration of its whole amount. The
   * lock keeps two restorations of one reversal from both passing the check.
   */
  async #beginRestoration(tx: Database, tenant: Tenant, reversal_id: string, idempotency_key: string): Promise<Begun> {
    const reversal = await findOperation(tx, tenant, reversal_id, 'top_up_reversal');
    if (reversal === undefined || reversal.source_wallet_id === null) throw missing('top-up reversal', reversal_id, 'top_up_reversal');
    const wallet = await this.#lockedWallet(tx, tenant, reversal.source_wallet_id, 'top_up_reversal');
    const now_ms = this.#clock.now();

    const existing = await this.#replayByKey(tx, tenant, idempotency_key, (found) => found.type === 'top_up_restoration' && found.restored_reversal_id === reversal.id);
    if (existing !== undefined) return existing;

    // Only money that left the wallet can come back, and only once.
    if (reversal.status !== 'succeeded') {
      throw invalidRequest('reversal_not_restorable', `Top-up reversal ${reversal.id} is ${reversal.status}; only a succeeded reversal moved money that can be restored`, 'top_up_reversal');
    }
    const restored = await findRestorationOfReversal(tx, reversal.id);
    if (restored !== undefined) {
      throw invalidRequest('reversal_already_restored', `Top-up reversal ${reversal.id} is restored already by ${restored.id}`, 'top_up_reversal');
    }

    return this.#recordOperation(tx, tenant, now_ms, {
      type: 'top_up_restoration',
      source_wallet_id: null,
      destination_wallet_id: wallet.id,
      amount: reversal.amount,
      currency: reversal.currency,
      idempotency_key,
      restored_reversal_id: reversal.id,
    });
  }

  /**
   * The last part of every recorded operation's first step: record it as pending, with its saga
   * run held by this caller, and the first row of its history.
   */
  async #recordOperation(tx: Database, tenant: Tenant, now_ms: number, fields: NewOperation): Promise<Begun> {
    const { bank_account, ...rest } = fields;
    const base = this.#newOperationFields(tenant, fields.type, operationValue(tenant, fields.idempotency_key), now_ms);
    const operation: OperationRecord = {
      ...base,
      ...rest,
      // The full account number is sealed before it reaches the database, bound to this withdrawal.
      bank_account: bank_account === undefined ? null : this.#bank_accounts.seal(base, bank_account),
      origin: TransferOrigin.recorded,
    };
    await insertOperation(tx, operation);
    await insertStep(tx, { operation_id: operation.id, from_status: null, to_status: 'pending', reason: 'created', created_ms: now_ms });
    const lease = await this.#runnerOf(operation).start(tx, { id: operation.id, input: null });
    return { operation, lease };
  }

  /** What the bank is given for a withdrawal. */
  // eslint-disable-next-line @typescript-eslint/require-await
  async #bankRequest(operation: OperationRecord): Promise<BankWithdrawalRequest> {
    const account = operation.bank_account;
    assert(operation.type === 'withdrawal' && account !== null && operation.source_wallet_id !== null, 'only withdrawals go to the bank');
    return {
      withdrawal_id: operation.id,
      amount: operation.amount,
      currency: operation.currency.toLowerCase(),
      // Opened in memory for the bank only; a resend after a restart opens it from the row again.
      bank_account: this.#bank_accounts.open(operation, account),
      livemode: operation.livemode,
    };
  }

  // Events.

  /** The event that announces how a recorded operation ended, if its end is announced, in the caller's transaction. */
  async #announceEnd(tx: Database, operation: OperationRecord, now_ms: number): Promise<void> {
    if (operation.type === 'withdrawal') {
      if (operation.status === 'pending') return;
      const type = operation.status === 'succeeded' ? 'wallet.withdrawal.succeeded' : 'wallet.withdrawal.failed';
      await this.#announce(tx, operation, type, withdrawalToWire(operation), now_ms);
      return;
    }
    const announcement = operation.status === 'succeeded' ? announcementOfSuccess(operation) : undefined;
    if (announcement !== undefined) await this.#announce(tx, operation, announcement.type, announcement.object, now_ms);
  }

  /** Writes an event about an operation into the outbox, in the caller's transaction. */
  async #announce(tx: Database, operation: OperationRecord, type: string, object: object, now_ms: number): Promise<void> {
    if (this.#events === undefined) return;
    // Each operation is announced once, when it ends, so its events are version 1.
    await appendOutboxEvent(tx, wallet_events_table, { merchant_id: operation.merchant_id, livemode: operation.livemode }, {
      id: randomId('evt'),
      type,
      object: { ...object },
      sequence: 1,
      created: secondsOf(now_ms),
    });
  }

  /** Relays the outbox in the background; recovery passes relay too, so nothing waits forever. */
  #relaySoon(): void {
    const events = this.#events;
    if (events === undefined || this.#closed) return;
    if (this.#relaying !== undefined) {
      this.#relay_again = true;
      return;
    }
    const pass = async (): Promise<void> => {
      for (;;) {
        this.#relay_again = false;
        const published = await relayOutbox(this.#database, wallet_events_table, events, {
          now_ms: this.#clock.now(),
          onFailure: (event, error) => this.#logFailure('publishing a wallet event; the relay tries again', error, { event }),
        });
        if (!this.#relay_again || this.#closed) return;
        // Under load, events arrive with every projection commit: gathering them for a moment
        // lets one pass (and one commit of the receiver's) carry many, unless a full pass is waiting.
        if (published < outbox_relay_batch_max) await new Promise((resolve) => setTimeout(resolve, relay_gather_ms));
      }
    };
    const running = pass()
      .catch((error: unknown) => this.#logFailure('relaying wallet events', error))
      .finally(() => {
        this.#relaying = undefined;
      });
    this.#relaying = running;
    this.#track(running);
  }

  /** Deletes events published longer ago than the outbox retention; recovery passes call it. */
  async pruneOutbox(): Promise<number> {
    return pruneOutbox(this.#database, wallet_events_table, this.#clock.now() - this.#outbox_retention_ms);
  }

  // Helpers.

  /** The payments service's calls must be idempotent: it retries them after a crash. */
  #requiredIdempotencyKey(value: string | undefined): string {
    const key = checkIdempotencyKey(value);
    if (key === null) throw invalidRequest('parameter_missing', 'idempotency_key is required', 'idempotency_key');
    return key;
  }

  #plausibleId(value: unknown, param: string, what = 'wallet'): string {
    if (!isPlausibleId(value)) throw missing(what, typeof value === 'string' ? value.slice(0, 64) : String(value), param);
    return value;
  }

  /** The tenant's wallet, from memory when this instance has read it before: wallet rows never change but for their status. */
  async #requireWallet(tenant: Tenant, id: string, param: string): Promise<WalletRecord> {
    const cached = this.#wallets.get(id);
    if (cached !== undefined) {
      if (cached.merchant_id === tenant.merchant_id && cached.livemode === tenant.livemode) return cached;
      throw missing('wallet', id, param);
    }
    const wallet = isPlausibleId(id) ? await findWallet(this.#database, tenant, id) : undefined;
    if (wallet === undefined) throw missing('wallet', String(id).slice(0, 64), param);
    this.#wallets.set(wallet.id, wallet);
    return wallet;
  }

  /** The tenant's wallet, locked for the transaction (PostgreSQL), for checks that compare operations of one wallet. */
  async #lockedWallet(tx: Database, tenant: Tenant, id: string, param: string): Promise<WalletRecord> {
    const wallet = isPlausibleId(id) ? await findWallet(tx, tenant, id, { lock: true }) : undefined;
    if (wallet === undefined) throw missing('wallet', String(id).slice(0, 64), param);
    return wallet;
  }

  async #requireOperation(tenant: Tenant, id: string, type: OperationType): Promise<OperationRecord> {
    await this.#projection.settled();
    let operation = isPlausibleId(id) ? await findOperation(this.#database, tenant, id, type) : undefined;
    if (operation === undefined && isPlausibleId(id)) operation = await this.#operationFromLedger(tenant, id, type);
    const names: Record<OperationType, string> = {
      top_up: 'top-up',
      transfer: 'wallet transfer',
      payment: 'wallet payment',
      withdrawal: 'withdrawal',
      refund: 'wallet refund',
      top_up_reversal: 'top-up reversal',
      top_up_restoration: 'top-up restoration',
    };
    if (operation === undefined) throw missing(names[type], String(id).slice(0, 64), 'id');
    return operation;
  }

  /** A projected operation another instance answered and has not written yet, read from its transfer. */
  async #operationFromLedger(tenant: Tenant, id: string, type: OperationType): Promise<OperationRecord | undefined> {
    const value = operationValueOf(id);
    if (value === undefined || operationIdOf(type, value) !== id) return undefined;
    const [found] = await this.#ledger.lookupTransfers([value]);
    if (found === undefined || found.transfer.user_data_32 !== TransferOrigin.projected) return undefined;
    const wallets = await findWalletsByLedgerAccounts(this.#database, [found.transfer.debit_account_id, found.transfer.credit_account_id]);
    const operation = operationOfTransfer(found.transfer, wallets);
    if (operation === undefined || operation.type !== type || operation.merchant_id !== tenant.merchant_id || operation.livemode !== tenant.livemode) return undefined;
    return operation;
  }

  /** Balances and statuses of the wallets, in order, from one ledger lookup of their money and control accounts. */
  async #states(wallets: readonly WalletRecord[]): Promise<(WalletState | undefined)[]> {
    if (wallets.length === 0) return [];
    let accounts: Account[];
    try {
      accounts = await this.#ledger.lookupAccounts(wallets.flatMap((wallet) => [wallet.ledger_account_id, walletControlAccountId(wallet.id)]));
    } catch (error) {
      if (isAssertionError(error)) throw error;
      this.#logFailure('reading wallet balances', error);
      throw unavailable('The ledger is unavailable; balances cannot be read now');
    }
    const by_id = new Map(accounts.map((account) => [account.id, account]));
    return wallets.map((wallet) => {
      const control = by_id.get(walletControlAccountId(wallet.id));
      // A wallet whose control account the ledger does not have yet keeps the status of its row.
      const status: WalletStatus = control === undefined ? wallet.status : (control.flags & closed_flag) !== 0 ? 'frozen' : 'active';
      return { balance: balanceOf(by_id.get(wallet.ledger_account_id)), status };
    });
  }

  #walletWire(wallet: WalletRecord, state: WalletState | undefined): Wallet {
    return walletToWire({ ...wallet, status: state?.status ?? wallet.status }, state?.balance ?? zero_balance);
  }

  async #unavailableAsError<T>(work: () => Promise<T>, message: string): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (isAssertionError(error) || error instanceof ApiError) throw error;
      this.#logFailure(message, error);
      throw unavailable(message);
    }
  }

  #logFailure(what: string, error: unknown, fields: Record<string, unknown> = {}): void {
    const message = error instanceof Error ? error.message : String(error);
    this.#log(isAssertionError(error) ? 'error' : 'warn', `failed: ${what}`, { ...fields, error: message });
  }
}
