// The wallet service. Customers' money lives only in the ledger: a wallet is a row that says who
// owns which ledger account, and every movement of money is a saga that records its intent here,
// commits, calls the ledger (and for withdrawals, the bank) outside any transaction, and records
// the answer. Recovery finishes whatever a crash or an outage left halfway.
import {
  ApiError,
  GroupCommitter,
  appendOutboxEvent,
  assert,
  checkAmount,
  checkCurrency,
  checkIdempotencyKey,
  checkText,
  invalidRequest,
  isAssertionError,
  isPlausibleId,
  randomId,
  relayOutbox,
  pruneOutbox,
  systemClock,
  type Clock,
  type Database,
  type OutboxPublisher,
  type Page,
  type PageRequest,
  type Tenant,
} from '@paygrid/kernel';
import type { CreateTransferResult, LedgerClient, Account, TransferEvent } from '@paygrid/ledger';
import type { CurrencyCode } from '@paygrid/money';
import { test_completion_failure_code } from './bank';
import { accountEventsOf, operationTransferEvent, operationTransferId, settlementTransferEvent, walletAccountEvent, walletAccountId } from './chart';
import {
  claimOperation,
  findLimits,
  findOperation,
  findOperationById,
  findOperationByIdempotencyKey,
  findWallet,
  findWalletOfCustomer,
  finishOperation,
  insertOperation,
  insertStep,
  insertWallet,
  listDueOperations,
  listOperationsOfType,
  listOperationsOfWallet,
  listWallets,
  postponeOperation,
  recordLedgerResult,
  recordSettlementIntent,
  releaseOperation,
  saveLimits,
  scheduleOperation,
  sumOutgoingSince,
  sumRefundsOfPayment,
  sumReversalsOfTopUp,
  findRestorationOfReversal,
  updateWalletStatus,
  type OperationRecord,
  type WalletRecord,
} from './store';
import { wallet_events_table } from './migrations';
import { operation_transitions, transition, wallet_transitions } from './transitions';
import type {
  BankPort,
  CreateWalletInput,
  CustomerDirectory,
  ListWalletsFilter,
  OperationStatus,
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
 * How long one attempt owns a pending operation before recovery may take it over. Far longer
 * than any ledger call should take, so that a slow attempt and a recovery never both send.
 */
export const attempt_lease_ms_default = 60_000;
/** After the ledger was unreachable, how long until recovery tries again. */
export const retry_delay_ms_default = 5_000;
/** How often recovery asks the bank about a withdrawal it has not heard back on. */
export const bank_poll_interval_ms_default = 60_000;
/** Operations one recovery pass handles at most; the next pass takes the rest. */
export const recovery_batch_max = 100;

const ms_per_second = 1_000;
const ms_per_day = 86_400_000;

export type WalletLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export interface WalletServiceOptions {
  readonly database: Database;
  readonly ledger: LedgerClient;
  readonly customers: CustomerDirectory;
  readonly bank: BankPort;
  readonly clock?: Clock;
  readonly recovery_interval_ms?: number;
  /** Published events older than this leave the outbox (default 7 days). */
  readonly outbox_retention_ms?: number;
  readonly attempt_lease_ms?: number;
  readonly retry_delay_ms?: number;
  readonly bank_poll_interval_ms?: number;
  readonly log?: WalletLog;
  /**
   * Where events go (the webhooks service): `wallet.transfer.completed`,
   * `wallet.withdrawal.succeeded`, `wallet.withdrawal.failed`, `wallet.top_up.succeeded`,
   * `wallet.top_up.reversed` and `wallet.top_up.restored`, written to an outbox in the same
   * transaction as the change and relayed from there. Without it no event is written.
   */
  readonly events?: OutboxPublisher;
}

export interface RecoveryReport {
  /** Operations whose ledger transfer was sent again. */
  transfers_sent: number;
  /** Withdrawals on hold whose bank was asked. */
  withdrawals_checked: number;
  /** Withdrawal settlements (post or void) sent again. */
  settlements_sent: number;
  /** Operations that could not be advanced this time (the ledger or the bank was unreachable). */
  failures: number;
}

const id_prefixes: Record<OperationType, string> = {
  top_up: 'tu',
  transfer: 'wtr',
  payment: 'wpy',
  withdrawal: 'wd',
  refund: 'wrf',
  top_up_reversal: 'tur',
  top_up_restoration: 'tus',
};

/** What a request asks to move, checked, before it meets the database. */
interface MoveIntent {
  readonly type: OperationType;
  /** The wallet whose row is locked: the source, or a top-up's destination. */
  readonly wallet_id: string;
  readonly wallet_param: string;
  /** A transfer's destination. */
  readonly destination_id?: string;
  /** A transfer names its currency; other operations take the wallet's. */
  readonly currency?: CurrencyCode;
  readonly amount: bigint;
  readonly description: string | null;
  readonly idempotency_key: string | null;
  readonly bank_account: CheckedBankAccount | null;
  /** A top-up paid by a payment intent names it; a simulated deposit leaves it out. */
  readonly payment_intent_id?: string;
}

/** What differs between operations when they are first recorded. */
type NewOperation = Pick<OperationRecord, 'type' | 'source_wallet_id' | 'destination_wallet_id' | 'amount' | 'currency' | 'idempotency_key'> &
  Partial<Pick<OperationRecord, 'description' | 'bank_account' | 'refunded_payment_id' | 'payment_intent_id' | 'reversed_top_up_id' | 'restored_reversal_id'>>;

interface Begun {
  readonly operation: OperationRecord;
  /** Set when this caller owns the send; unset when replaying an operation someone else handles. */
  readonly attempt: number | undefined;
}

interface Advanced {
  readonly operation: OperationRecord;
  readonly refusal: ApiError | undefined;
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

function utcDayStartSeconds(ms: number): number {
  return secondsOf(Math.floor(ms / ms_per_day) * ms_per_day);
}

function unavailable(message: string): ApiError {
  return new ApiError('service_unavailable_error', 'ledger_unavailable', message);
}

/** The error a request gets for an operation the ledger refused: the same on every replay. */
function refusalOf(operation: OperationRecord): ApiError | undefined {
  if (operation.status !== 'failed' || isAccepted(operation.ledger_result)) return undefined;
  if (operation.failure_code === 'insufficient_funds') {
    const wallet = operation.source_wallet_id ?? '';
    return invalidRequest('insufficient_funds', `Wallet ${wallet} does not have ${operation.amount} available for ${operation.id}`, 'amount');
  }
  return new ApiError('api_error', 'ledger_refused', `The ledger refused the transfer of ${operation.id} (${operation.ledger_result ?? 'unknown'})`);
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

export class WalletService implements WalletClient {
  readonly #database: Database;
  /** The saga's own writes (record the operation, record the ledger's answer) share commits. */
  readonly #commits: GroupCommitter;
  readonly #ledger: LedgerClient;
  readonly #customers: CustomerDirectory;
  readonly #bank: BankPort;
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
    this.#clock = options.clock ?? systemClock;
    this.#recovery_interval_ms = options.recovery_interval_ms ?? recovery_interval_ms_default;
    this.#outbox_retention_ms = options.outbox_retention_ms ?? outbox_retention_ms_default;
    this.#attempt_lease_ms = options.attempt_lease_ms ?? attempt_lease_ms_default;
    this.#retry_delay_ms = options.retry_delay_ms ?? retry_delay_ms_default;
    this.#bank_poll_interval_ms = options.bank_poll_interval_ms ?? bank_poll_interval_ms_default;
    this.#log = options.log ?? (() => undefined);
    for (const value of [this.#recovery_interval_ms, this.#outbox_retention_ms, this.#attempt_lease_ms, this.#retry_delay_ms, this.#bank_poll_interval_ms]) {
      assert(Number.isSafeInteger(value) && value > 0, 'wallet service intervals are positive integers of milliseconds');
    }
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

  /** Finishes what earlier processes left pending, then keeps doing so on a timer. */
  async start(): Promise<void> {
    assert(!this.#started, 'the wallet service is already started');
    assert(!this.#closed, 'the wallet service was closed');
    this.#started = true;
    await this.recoverPending();
    this.#scheduleRecovery();
  }

  /** Stops the timer and waits for background work. The database and ledger belong to the caller. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    while (this.#background.size > 0) await Promise.all([...this.#background]);
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
    // The row is committed; if the ledger cannot take the account now, the first transfer that
    // meets a missing account creates it (see #sendTransfer), so the wallet is usable either way.
    try {
      const [answer] = await this.#ledger.createAccounts([walletAccountEvent(id, currency, tenant.livemode)]);
      if (answer === undefined || !isAccepted(answer.result)) {
        this.#log('error', 'the ledger refused a wallet account', { wallet: id, result: answer?.result });
      }
    } catch (error) {
      this.#logFailure('creating a wallet account; it will be created on first use', error, { wallet: id });
    }
    return walletToWire(wallet, zero_balance);
  }

  async getWallet(tenant: Tenant, id: string): Promise<Wallet> {
    const wallet = await this.#requireWallet(this.#database, tenant, id, 'id');
    const [balance] = await this.#balances([wallet]);
    return walletToWire(wallet, balance ?? zero_balance);
  }

  async listWallets(tenant: Tenant, page: PageRequest, filter: ListWalletsFilter = {}): Promise<Page<Wallet>> {
    const customer = filter.customer === undefined ? undefined : checkText(filter.customer, 'customer', customer_id_length_max);
    const listed = await listWallets(this.#database, tenant, page, customer);
    const balances = await this.#balances(listed.data);
    return { data: listed.data.map((wallet, index) => walletToWire(wallet, balances[index] ?? zero_balance)), has_more: listed.has_more };
  }

  async updateWallet(tenant: Tenant, id: string, input: UpdateWalletInput): Promise<Wallet> {
    const status = checkWalletStatus(input.status);
    const wallet = await this.#database.transaction(async (tx) => {
      const current = await this.#requireWallet(tx, tenant, id, 'id', { lock: true });
      if (current.status === status) return current;
      if (transition(wallet_transitions, current.status, status) !== 'ok') {
        throw invalidRequest('not_allowed', `A ${current.status} wallet cannot become ${status}`, 'status');
      }
      await updateWalletStatus(tx, current.id, status);
      return { ...current, status };
    });
    const [balance] = await this.#balances([wallet]);
    return walletToWire(wallet, balance ?? zero_balance);
  }

  // Money movement.

  async topUp(tenant: Tenant, wallet_id: string, input: TopUpInput): Promise<TopUp> {
    const amount = checkAmount(input.amount);
    const idempotency_key = checkIdempotencyKey(input.idempotency_key);
    if (tenant.livemode) {
      throw invalidRequest('top_up_source_unavailable', 'Simulated bank deposits exist in test mode only; live wallets are topped up by card payments', 'wallet');
    }
    const operation = await this.#move(tenant, {
      type: 'top_up',
      wallet_id: this.#plausibleId(wallet_id, 'wallet'),
      wallet_param: 'wallet',
      amount,
      description: null,
      idempotency_key,
      bank_account: null,
    });
    return topUpToWire(operation);
  }

  async topUpFromPayment(tenant: Tenant, wallet_id: string, input: TopUpFromPaymentInput): Promise<TopUp> {
    const amount = checkAmount(input.amount);
    const idempotency_key = this.#requiredIdempotencyKey(input.idempotency_key);
    if (!isPlausibleId(input.payment_intent)) throw invalidRequest('parameter_invalid', 'payment_intent must be a payment intent id', 'payment_intent');
    // Unlike a simulated deposit this works in live mode: the money is real, the payments service
    // captured it. It is incoming money, so #begin neither checks frozen status nor limits.
    const operation = await this.#move(tenant, {
      type: 'top_up',
      wallet_id: this.#plausibleId(wallet_id, 'wallet'),
      wallet_param: 'wallet',
      amount,
      description: null,
      idempotency_key,
      bank_account: null,
      payment_intent_id: input.payment_intent,
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

  async transfer(tenant: Tenant, input: TransferInput): Promise<WalletTransfer> {
    const amount = checkAmount(input.amount);
    const currency = checkCurrency(input.currency);
    const description = checkOptionalText(input.description, 'description', description_length_max);
    const idempotency_key = checkIdempotencyKey(input.idempotency_key);
    const operation = await this.#move(tenant, {
      type: 'transfer',
      wallet_id: this.#plausibleId(input.source, 'source'),
      wallet_param: 'source',
      destination_id: this.#plausibleId(input.destination, 'destination'),
      currency,
      amount,
      description,
      idempotency_key,
      bank_account: null,
    });
    return transferToWire(operation);
  }

  async pay(tenant: Tenant, wallet_id: string, input: PayInput): Promise<WalletPayment> {
    const amount = checkAmount(input.amount);
    const description = checkOptionalText(input.description, 'description', description_length_max);
    const idempotency_key = checkIdempotencyKey(input.idempotency_key);
    const operation = await this.#move(tenant, {
      type: 'payment',
      wallet_id: this.#plausibleId(wallet_id, 'wallet'),
      wallet_param: 'wallet',
      amount,
      description,
      idempotency_key,
      bank_account: null,
    });
    return paymentToWire(operation);
  }

  async withdraw(tenant: Tenant, wallet_id: string, input: WithdrawInput): Promise<Withdrawal> {
    const amount = checkAmount(input.amount);
    const bank_account = checkBankAccount(input.bank_account);
    const idempotency_key = checkIdempotencyKey(input.idempotency_key);
    const operation = await this.#move(tenant, {
      type: 'withdrawal',
      wallet_id: this.#plausibleId(wallet_id, 'wallet'),
      wallet_param: 'wallet',
      amount,
      description: null,
      idempotency_key,
      bank_account,
    });
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
    const settlement_failure_code = outcome === 'failed' ? (failure_code ?? test_completion_failure_code) : null;
    const decision = await this.#database.transaction(async (tx) => {
      const operation = await findOperationById(tx, id, { lock: true });
      if (operation === undefined || operation.type !== 'withdrawal') throw missing('withdrawal', id, 'id');
      const settled_otherwise = () => invalidRequest('withdrawal_already_settled', `Withdrawal ${id} is already settled as ${operation.settlement_outcome ?? operation.status}`, 'outcome');
      if (operation.status !== 'pending') {
        // The same outcome again is a repeated notification: nothing to do.
        if (operation.status === outcome) return { operation, settle: false };
        throw settled_otherwise();
      }
      if (!isAccepted(operation.ledger_result)) {
        throw invalidRequest('withdrawal_not_submitted', `Withdrawal ${id} has no hold placed yet, so it cannot be settled`, 'id');
      }
      if (operation.settlement_outcome !== null) {
        if (operation.settlement_outcome !== outcome) throw settled_otherwise();
        return { operation, settle: true };
      }
      // The decision is recorded before the ledger is told, so that a crash in between resumes
      // the same decision, and a contrary one is refused from here on.
      const now_ms = this.#clock.now();
      await recordSettlementIntent(tx, id, outcome, settlement_failure_code, now_ms + this.#attempt_lease_ms);
      await insertStep(tx, { operation_id: id, from_status: 'pending', to_status: 'pending', reason: `settlement_requested:${outcome}`, created_ms: now_ms });
      const decided: OperationRecord = { ...operation, settlement_outcome: outcome, settlement_failure_code };
      return { operation: decided, settle: true };
    });
    if (!decision.settle) return withdrawalToWire(decision.operation);
    return withdrawalToWire(await this.#applySettlement(decision.operation));
  }

  async completeWithdrawalForTest(tenant: Tenant, id: string, outcome: SettlementOutcome): Promise<Withdrawal> {
    if (tenant.livemode) throw invalidRequest('test_mode_only', 'Withdrawals are completed by hand in test mode only', 'id');
    if (outcome !== 'succeeded' && outcome !== 'failed') throw invalidRequest('parameter_invalid', 'outcome must be succeeded or failed', 'outcome');
    const operation = await this.#requireOperation(tenant, id, 'withdrawal');
    if (operation.status === 'pending' && isAccepted(operation.ledger_result) && operation.settlement_outcome === null && this.#bank.completeForTest !== undefined) {
      // The simulated bank learns the outcome too, so that its own status agrees with ours.
      await this.#bank.completeForTest(operation.id, outcome);
    }
    return this.settleWithdrawal(operation.id, outcome, outcome === 'failed' ? test_completion_failure_code : undefined);
  }

  // Reads.

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
    const wallet = await this.#requireWallet(this.#database, tenant, wallet_id, 'wallet');
    const listed = await listOperationsOfWallet(this.#database, tenant, wallet.id, page);
    return { data: listed.data.map((operation) => transactionToWire(operation, wallet.id)), has_more: listed.has_more };
  }

  // Limits.

  async getLimits(tenant: Tenant, currency_input: string): Promise<WalletLimits> {
    const currency = checkCurrency(currency_input);
    const limits = await findLimits(this.#database, tenant, currency);
    return { object: 'wallet_limits', currency: currency.toLowerCase(), ...limits, livemode: tenant.livemode };
  }

  async setLimits(tenant: Tenant, input: SetLimitsInput): Promise<WalletLimits> {
    const currency = checkCurrency(input.currency);
    const per_transaction_max = input.per_transaction_max === undefined ? undefined : checkLimit(input.per_transaction_max, 'per_transaction_max');
    const per_day_max = input.per_day_max === undefined ? undefined : checkLimit(input.per_day_max, 'per_day_max');
    const limits = await this.#database.transaction(async (tx) => {
      const current = await findLimits(tx, tenant, currency);
      const next = {
        per_transaction_max: per_transaction_max === undefined ? current.per_transaction_max : per_transaction_max,
        per_day_max: per_day_max === undefined ? current.per_day_max : per_day_max,
      };
      await saveLimits(tx, tenant, currency, next, this.#clock.now());
      return next;
    });
    return { object: 'wallet_limits', currency: currency.toLowerCase(), ...limits, livemode: tenant.livemode };
  }

  // Recovery.

  /**
   * One recovery pass: every pending operation whose lease has run out is advanced. A transfer
   * with no recorded ledger answer is sent again with the same id (the ledger answers `exists` if
   * the first one went through); a withdrawal on hold is submitted to the bank again (idempotent)
   * and the bank asked; a decided settlement is sent again.
   */
  async recoverPending(): Promise<RecoveryReport> {
    this.#relaySoon();
    await this.pruneOutbox().catch((error: unknown) => {
      if (isAssertionError(error)) throw error;
      this.#logFailure('pruning published wallet events; the next pass tries again', error);
    });
    const report: RecoveryReport = { transfers_sent: 0, withdrawals_checked: 0, settlements_sent: 0, failures: 0 };
    const now_ms = this.#clock.now();
    const due = await listDueOperations(this.#database, now_ms, recovery_batch_max);
    for (const operation of due) {
      try {
        await this.#recoverOne(operation, now_ms, report);
      } catch (error) {
        if (isAssertionError(error)) throw error;
        report.failures += 1;
        this.#logFailure('recovering a wallet operation; the next pass tries again', error, { operation: operation.id });
      }
    }
    return report;
  }

  async #recoverOne(operation: OperationRecord, now_ms: number, report: RecoveryReport): Promise<void> {
    if (operation.ledger_result === null) {
      const attempt = await claimOperation(this.#database, operation, now_ms, this.#attempt_lease_ms);
      if (attempt === undefined) return;
      report.transfers_sent += 1;
      const advanced = await this.#sendAndRecord(operation, attempt);
      if (advanced.refusal !== undefined) this.#log('info', 'a recovered operation was refused by the ledger', { operation: operation.id, code: advanced.refusal.code });
      return;
    }
    // Only a withdrawal stays pending once the ledger has answered: its hold waits for the bank.
    assert(operation.type === 'withdrawal' && isAccepted(operation.ledger_result), 'a pending operation with a ledger answer is a withdrawal on hold');
    if (operation.settlement_outcome !== null) {
      if (!(await postponeOperation(this.#database, operation, now_ms + this.#attempt_lease_ms))) return;
      report.settlements_sent += 1;
      await this.#applySettlement(operation);
      return;
    }
    if (!(await postponeOperation(this.#database, operation, now_ms + this.#bank_poll_interval_ms))) return;
    report.withdrawals_checked += 1;
    // The first submission may never have arrived (a crash right after the hold), so submit
    // again before asking: the bank ignores a withdrawal it already has.
    await this.#submitToBank(operation);
    const answer = await this.#bank.status(operation.id);
    if (answer.status !== 'pending') await this.settleWithdrawal(operation.id, answer.status, answer.failure_code ?? undefined);
  }

  #scheduleRecovery(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#track(
        this.recoverPending().then(
          (report) => {
            if (report.failures > 0) this.#log('warn', 'a recovery pass left operations pending', { ...report });
          },
          (error: unknown) => this.#logFailure('a recovery pass', error),
        ).finally(() => this.#scheduleRecovery()),
      );
    }, this.#recovery_interval_ms);
    // Recovery never keeps the process alive on its own.
    this.#timer.unref();
  }

  #track(work: Promise<void>): void {
    this.#background.add(work);
    void work.finally(() => this.#background.delete(work));
  }

  // The saga.

  /** Step 1 in one transaction, then steps 2 and 3. Throws the refusal, if any. */
  async #move(tenant: Tenant, intent: MoveIntent): Promise<OperationRecord> {
    return this.#run(tenant, intent.idempotency_key, (tx) => this.#begin(tx, tenant, intent));
  }

  /** Runs step 1 (`begin`, in one transaction), then steps 2 and 3. Throws the refusal, if any. */
  async #run(tenant: Tenant, idempotency_key: string | null, begin: (tx: Database) => Promise<Begun>): Promise<OperationRecord> {
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
    if (begun.attempt === undefined) {
      const refusal = refusalOf(begun.operation);
      if (refusal !== undefined) throw refusal;
      return begun.operation;
    }
    const advanced = await this.#sendAndRecord(begun.operation, begun.attempt);
    if (advanced.refusal !== undefined) throw advanced.refusal;
    return advanced.operation;
  }

  /** Step 1: lock, replay or check, and record the operation as pending. */
  async #begin(tx: Database, tenant: Tenant, intent: MoveIntent): Promise<Begun> {
    const wallet = await this.#requireWallet(tx, tenant, intent.wallet_id, intent.wallet_param, { lock: true });
    const source_wallet_id = intent.type === 'top_up' ? null : wallet.id;
    const destination_wallet_id = intent.type === 'top_up' ? wallet.id : (intent.destination_id ?? null);
    const now_ms = this.#clock.now();

    if (intent.idempotency_key !== null) {
      const existing = await findOperationByIdempotencyKey(tx, tenant, intent.idempotency_key);
      if (existing !== undefined) {
        const same =
          existing.type === intent.type &&
          existing.source_wallet_id === source_wallet_id &&
          existing.destination_wallet_id === destination_wallet_id &&
          existing.payment_intent_id === (intent.payment_intent_id ?? null) &&
          existing.amount === intent.amount;
        if (!same) throw new ApiError('idempotency_error', 'idempotency_key_reused', 'This idempotency_key was used for a different operation', 'idempotency_key');
        // Resume an operation whose sender died; one still in flight elsewhere is left to it.
        if (existing.status === 'pending' && existing.ledger_result === null) {
          const attempt = await claimOperation(tx, existing, now_ms, this.#attempt_lease_ms);
          return { operation: existing, attempt };
        }
        return { operation: existing, attempt: undefined };
      }
    }

    let currency = wallet.currency;
    if (intent.destination_id !== undefined) {
      if (intent.destination_id === wallet.id) throw invalidRequest('wallets_must_be_different', 'A transfer needs two different wallets', 'destination');
      const destination = await this.#requireWallet(tx, tenant, intent.destination_id, 'destination');
      if (intent.currency !== wallet.currency || intent.currency !== destination.currency) {
        throw invalidRequest(
          'currency_mismatch',
          `The transfer is in ${(intent.currency ?? wallet.currency).toLowerCase()}; wallet ${wallet.id} holds ${wallet.currency.toLowerCase()} and wallet ${destination.id} holds ${destination.currency.toLowerCase()}`,
          'currency',
        );
      }
      currency = destination.currency;
    }
    const outgoing = intent.type !== 'top_up';
    if (outgoing) {
      // Money may still arrive in a frozen wallet; it only cannot leave.
      if (wallet.status === 'frozen') throw invalidRequest('wallet_frozen', `Wallet ${wallet.id} is frozen and cannot send money`, intent.wallet_param);
      await this.#checkLimits(tx, tenant, wallet, intent.amount, now_ms);
    }

    return this.#recordOperation(tx, tenant, now_ms, {
      type: intent.type,
      source_wallet_id,
      destination_wallet_id,
      amount: intent.amount,
      currency,
      description: intent.description,
      idempotency_key: intent.idempotency_key,
      bank_account: intent.bank_account,
      payment_intent_id: intent.payment_intent_id ?? null,
    });
  }

  /**
   * Step 1 of a refund: lock the paying wallet (so that two refunds of one payment cannot both fit
   * under its amount), replay by idempotency key, check what is left to refund, and record it.
   */
  async #beginRefund(tx: Database, tenant: Tenant, payment_id: string, amount: bigint, idempotency_key: string | null): Promise<Begun> {
    const payment = await findOperation(tx, tenant, payment_id, 'payment');
    if (payment === undefined || payment.source_wallet_id === null) throw missing('wallet payment', payment_id, 'payment');
    const wallet = await this.#requireWallet(tx, tenant, payment.source_wallet_id, 'payment', { lock: true });
    const now_ms = this.#clock.now();

    if (idempotency_key !== null) {
      const existing = await findOperationByIdempotencyKey(tx, tenant, idempotency_key);
      if (existing !== undefined) {
        const same = existing.type === 'refund' && existing.refunded_payment_id === payment.id && existing.amount === amount;
        if (!same) throw new ApiError('idempotency_error', 'idempotency_key_reused', 'This idempotency_key was used for a different operation', 'idempotency_key');
        if (existing.status === 'pending' && existing.ledger_result === null) {
          const attempt = await claimOperation(tx, existing, now_ms, this.#attempt_lease_ms);
          return { operation: existing, attempt };
        }
        return { operation: existing, attempt: undefined };
      }
    }

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
    const wallet = await this.#requireWallet(tx, tenant, top_up.destination_wallet_id, 'top_up', { lock: true });
    const now_ms = this.#clock.now();

    const existing = await findOperationByIdempotencyKey(tx, tenant, idempotency_key);
    if (existing !== undefined) {
      const same = existing.type === 'top_up_reversal' && existing.reversed_top_up_id === top_up.id && existing.amount === amount;
      if (!same) throw new ApiError('idempotency_error', 'idempotency_key_reused', 'This idempotency_key was used for a different operation', 'idempotency_key');
      if (existing.status === 'pending' && existing.ledger_result === null) {
        const attempt = await claimOperation(tx, existing, now_ms, this.#attempt_lease_ms);
        return { operation: existing, attempt };
      }
      return { operation: existing, attempt: undefined };
    }

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
    const wallet = await this.#requireWallet(tx, tenant, reversal.source_wallet_id, 'top_up_reversal', { lock: true });
    const now_ms = this.#clock.now();

    const existing = await findOperationByIdempotencyKey(tx, tenant, idempotency_key);
    if (existing !== undefined) {
      const same = existing.type === 'top_up_restoration' && existing.restored_reversal_id === reversal.id;
      if (!same) throw new ApiError('idempotency_error', 'idempotency_key_reused', 'This idempotency_key was used for a different operation', 'idempotency_key');
      if (existing.status === 'pending' && existing.ledger_result === null) {
        const attempt = await claimOperation(tx, existing, now_ms, this.#attempt_lease_ms);
        return { operation: existing, attempt };
      }
      return { operation: existing, attempt: undefined };
    }

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
   * The last part of every operation's first step: record it as pending, with its first attempt
   * leased to this caller, and the first row of its history.
   */
  async #recordOperation(tx: Database, tenant: Tenant, now_ms: number, fields: NewOperation): Promise<Begun> {
    const id = randomId(id_prefixes[fields.type]);
    const operation: OperationRecord = {
      description: null,
      bank_account: null,
      refunded_payment_id: null,
      payment_intent_id: null,
      reversed_top_up_id: null,
      restored_reversal_id: null,
      ...fields,
      id,
      merchant_id: tenant.merchant_id,
      livemode: tenant.livemode,
      status: 'pending',
      failure_code: null,
      ledger_transfer_id: operationTransferId(id),
      ledger_result: null,
      settlement_outcome: null,
      settlement_failure_code: null,
      attempt: 1,
      next_attempt_ms: now_ms + this.#attempt_lease_ms,
      created: secondsOf(now_ms),
    };
    await insertOperation(tx, operation);
    await insertStep(tx, { operation_id: id, from_status: null, to_status: 'pending', reason: 'created', created_ms: now_ms });
    return { operation, attempt: 1 };
  }

  async #checkLimits(tx: Database, tenant: Tenant, wallet: WalletRecord, amount: bigint, now_ms: number): Promise<void> {
    const limits = await findLimits(tx, tenant, wallet.currency);
    if (limits.per_transaction_max !== null && amount > limits.per_transaction_max) {
      throw invalidRequest('wallet_limit_exceeded', `${amount} is over the per-transaction limit of ${limits.per_transaction_max}`, 'amount');
    }
    if (limits.per_day_max !== null) {
      // The row lock on the wallet keeps two concurrent operations from both fitting under the limit.
      const sent_today = await sumOutgoingSince(tx, wallet.id, utcDayStartSeconds(now_ms));
      if (sent_today + amount > limits.per_day_max) {
        throw invalidRequest('wallet_limit_exceeded', `Wallet ${wallet.id} has sent ${sent_today} today; ${amount} more is over the daily limit of ${limits.per_day_max}`, 'amount');
      }
    }
  }

  /** Steps 2 and 3: send the operation's transfer, outside any transaction, and record the answer. */
  async #sendAndRecord(operation: OperationRecord, attempt: number): Promise<Advanced> {
    let result: CreateTransferResult;
    try {
      result = await this.#sendTransfer(operation);
    } catch (error) {
      if (isAssertionError(error)) throw error;
      this.#logFailure('sending a wallet transfer to the ledger; recovery will send it again', error, { operation: operation.id });
      await releaseOperation(this.#database, operation.id, attempt, this.#clock.now() + this.#retry_delay_ms);
      throw unavailable(`The ledger is unavailable; ${operation.id} is pending and will be retried`);
    }
    return this.#recordResult(operation, attempt, result);
  }

  async #sendTransfer(operation: OperationRecord): Promise<CreateTransferResult> {
    const event = operationTransferEvent(operation);
    let result = await this.#createTransfer(event);
    if (result === 'debit_account_not_found' || result === 'credit_account_not_found') {
      // Accounts are created on first use (platform and merchant accounts), or again when a crash
      // came between a wallet's row and its account. Creating one that exists answers `exists`.
      const answers = await this.#ledger.createAccounts(accountEventsOf(operation));
      for (const answer of answers) {
        if (!isAccepted(answer.result)) this.#log('warn', 'the ledger refused an account the wallet service needs', { account: answer.id.toString(), result: answer.result });
      }
      result = await this.#createTransfer(event);
    }
    return result;
  }

  async #createTransfer(event: TransferEvent): Promise<CreateTransferResult> {
    const answers = await this.#ledger.createTransfers([event]);
    const answer = answers[0];
    assert(answers.length === 1 && answer !== undefined && answer.index === 0, 'the ledger answers each event once');
    return answer.result;
  }

  async #recordResult(operation: OperationRecord, attempt: number, result: CreateTransferResult): Promise<Advanced> {
    const now_ms = this.#clock.now();
    const accepted = isAccepted(result);
    let status: OperationStatus = 'failed';
    let failure_code: string | null = null;
    if (accepted) {
      // A withdrawal's hold is placed; it stays pending until the bank answers.
      status = operation.type === 'withdrawal' ? 'pending' : 'succeeded';
    } else if (result === 'exceeds_credits') {
      failure_code = 'insufficient_funds';
    } else {
      // Any other refusal means the service built a transfer the ledger cannot take: a bug or a
      // broken chart of accounts, for a person to look at.
      failure_code = 'ledger_refused';
      this.#log('error', 'the ledger refused a wallet transfer', { operation: operation.id, result });
    }
    assert(status === 'pending' || transition(operation_transitions, 'pending', status) === 'ok');
    // The operation is read back in the same unit of work: a read after the commit would wait
    // for the sync of every commit written meanwhile, and shows nothing this one does not.
    const { recorded, current } = await this.#commits.run(async (tx) => {
      const written = await recordLedgerResult(tx, operation.id, attempt, {
        ledger_result: result,
        status,
        failure_code,
        next_attempt_ms: now_ms + this.#bank_poll_interval_ms,
      });
      if (written) {
        const reason = status === 'pending' ? `hold_placed:${result}` : `ledger:${result}`;
        await insertStep(tx, { operation_id: operation.id, from_status: 'pending', to_status: status, reason, created_ms: now_ms });
        const announcement = status === 'succeeded' ? announcementOfSuccess({ ...operation, status, failure_code }) : undefined;
        if (announcement !== undefined) await this.#announce(tx, operation, announcement.type, announcement.object, now_ms);
      }
      return { recorded: written, current: await findOperationById(tx, operation.id) };
    });
    if (recorded) this.#relaySoon();
    assert(current !== undefined, 'an operation being sent disappeared');
    if (!recorded) {
      // Another attempt took the operation over after this one's lease ran out. Both sent the
      // same transfer id, so their answers agree unless one was refused before the other went
      // through; that must never go unnoticed.
      if (accepted && current.status === 'failed' && !isAccepted(current.ledger_result)) {
        this.#log('error', 'the ledger accepted a transfer for an operation recorded as failed; it needs a person', { operation: operation.id, result });
      }
      return { operation: current, refusal: refusalOf(current) };
    }
    if (accepted && current.type === 'withdrawal') await this.#submitToBank(current);
    return { operation: current, refusal: refusalOf(current) };
  }

  /** Hands a withdrawal with its hold placed to the bank. A failure is left to recovery. */
  async #submitToBank(operation: OperationRecord): Promise<void> {
    const account = operation.bank_account;
    assert(operation.type === 'withdrawal' && account !== null && operation.source_wallet_id !== null, 'only withdrawals go to the bank');
    try {
      await this.#bank.submit({
        withdrawal_id: operation.id,
        amount: operation.amount,
        currency: operation.currency.toLowerCase(),
        bank_account: account,
        livemode: operation.livemode,
      });
    } catch (error) {
      if (isAssertionError(error)) throw error;
      this.#logFailure('submitting a withdrawal to the bank; recovery will submit it again', error, { withdrawal: operation.id });
    }
  }

  /** Posts or voids a withdrawal's hold as decided, then records the outcome. */
  async #applySettlement(operation: OperationRecord): Promise<OperationRecord> {
    const outcome = operation.settlement_outcome;
    assert(outcome !== null, 'a settlement is applied only once decided');
    let result: CreateTransferResult;
    try {
      result = await this.#createTransfer(settlementTransferEvent(operation, outcome));
    } catch (error) {
      if (isAssertionError(error)) throw error;
      this.#logFailure('settling a withdrawal in the ledger; recovery will send it again', error, { withdrawal: operation.id });
      await scheduleOperation(this.#database, operation.id, this.#clock.now() + this.#retry_delay_ms);
      throw unavailable(`The ledger is unavailable; the settlement of ${operation.id} will be retried`);
    }
    if (!isAccepted(result)) {
      // The hold is missing or was resolved the other way, although the decision is fenced: the
      // books and this table disagree, and a person must look.
      this.#log('error', 'the ledger refused a withdrawal settlement', { withdrawal: operation.id, outcome, result });
      throw new ApiError('api_error', 'ledger_refused', `The ledger refused to settle ${operation.id} (${result})`);
    }
    assert(transition(operation_transitions, 'pending', outcome) === 'ok');
    const now_ms = this.#clock.now();
    const failure_code = outcome === 'failed' ? operation.settlement_failure_code : null;
    await this.#database.transaction(async (tx) => {
      const ended = await finishOperation(tx, operation.id, outcome, failure_code);
      if (!ended) return;
      await insertStep(tx, { operation_id: operation.id, from_status: 'pending', to_status: outcome, reason: `ledger:${result}`, created_ms: now_ms });
      const type = outcome === 'succeeded' ? 'wallet.withdrawal.succeeded' : 'wallet.withdrawal.failed';
      await this.#announce(tx, operation, type, withdrawalToWire({ ...operation, status: outcome, failure_code }), now_ms);
    });
    this.#relaySoon();
    const current = await findOperationById(this.#database, operation.id);
    assert(current !== undefined, 'a withdrawal being settled disappeared');
    return current;
  }

  // Events.

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
      do {
        this.#relay_again = false;
        await relayOutbox(this.#database, wallet_events_table, events, {
          now_ms: this.#clock.now(),
          onFailure: (event, error) => this.#logFailure('publishing a wallet event; the relay tries again', error, { event }),
        });
      } while (this.#relay_again && !this.#closed);
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

  async #requireWallet(database: Database, tenant: Tenant, id: string, param: string, options: { lock: boolean } = { lock: false }): Promise<WalletRecord> {
    const wallet = isPlausibleId(id) ? await findWallet(database, tenant, id, options) : undefined;
    if (wallet === undefined) throw missing('wallet', String(id).slice(0, 64), param);
    return wallet;
  }

  async #requireOperation(tenant: Tenant, id: string, type: OperationType): Promise<OperationRecord> {
    const operation = isPlausibleId(id) ? await findOperation(this.#database, tenant, id, type) : undefined;
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

  /** Balances of the wallets, in order, from one ledger lookup. */
  async #balances(wallets: readonly WalletRecord[]): Promise<WalletBalance[]> {
    if (wallets.length === 0) return [];
    let accounts: Account[];
    try {
      accounts = await this.#ledger.lookupAccounts(wallets.map((wallet) => wallet.ledger_account_id));
    } catch (error) {
      if (isAssertionError(error)) throw error;
      this.#logFailure('reading wallet balances', error);
      throw unavailable('The ledger is unavailable; balances cannot be read now');
    }
    const by_id = new Map(accounts.map((account) => [account.id, account]));
    return wallets.map((wallet) => balanceOf(by_id.get(wallet.ledger_account_id)));
  }

  #logFailure(what: string, error: unknown, fields: Record<string, unknown> = {}): void {
    const message = error instanceof Error ? error.message : String(error);
    this.#log(isAssertionError(error) ? 'error' : 'warn', `failed: ${what}`, { ...fields, error: message });
  }
}
