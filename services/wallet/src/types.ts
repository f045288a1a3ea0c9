// The wallet service's wire shapes, inputs and ports. Every object is returned already in wire
// shape: snake_case fields, an `object` name, `created` in unix seconds, `livemode`, and amounts as
// bigint minor units (the gateway writes them as JSON integers).
import type { BankLiveSupport, Page, PageRequest, Tenant } from '@paygrid/kernel';

export const wallet_statuses = ['active', 'frozen'] as const;
export type WalletStatus = (typeof wallet_statuses)[number];

export const operation_statuses = ['pending', 'succeeded', 'failed'] as const;
export type OperationStatus = (typeof operation_statuses)[number];

/** What an operation does; one `wallet_operations` row each. */
export const operation_types = ['top_up', 'transfer', 'payment', 'withdrawal', 'refund', 'top_up_reversal', 'top_up_restoration'] as const;
export type OperationType = (typeof operation_types)[number];

export const transaction_types = ['top_up', 'transfer_in', 'transfer_out', 'payment', 'withdrawal', 'refund', 'top_up_reversal', 'top_up_restoration'] as const;
export type WalletTransactionType = (typeof transaction_types)[number];

/**
 * A wallet's balance, read from its ledger account:
 * - `available` = credits_posted − debits_posted − debits_pending: what the customer may spend
 *   now. Money on hold for a withdrawal is no longer available.
 * - `pending` = debits_pending + credits_pending: money in flight (withdrawals on hold at the
 *   bank). A withdrawal that succeeds takes it out for good; one that fails puts it back into
 *   `available`.
 */
export interface WalletBalance {
  readonly available: bigint;
  readonly pending: bigint;
}

export interface Wallet {
  readonly id: string;
  readonly object: 'wallet';
  readonly customer: string;
  /** Lower-case ISO 4217. */
  readonly currency: string;
  readonly status: WalletStatus;
  readonly balance: WalletBalance;
  readonly created: number;
  readonly livemode: boolean;
}

/**
 * Where a top-up's money came from: a simulated bank deposit (test mode only), or a card (or other)
 * payment the payments service took for the wallet, out of the merchant's balance.
 */
export const top_up_sources = ['simulated_bank_deposit', 'payment_intent'] as const;
export type TopUpSource = (typeof top_up_sources)[number];

export interface TopUp {
  readonly id: string;
  readonly object: 'top_up';
  readonly wallet: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly source: TopUpSource;
  /** The payment intent (pi_…) that paid for the top-up; null for a simulated bank deposit. */
  readonly payment_intent: string | null;
  readonly status: OperationStatus;
  readonly failure_code: string | null;
  readonly created: number;
  readonly livemode: boolean;
}

export interface WalletTransfer {
  readonly id: string;
  readonly object: 'wallet_transfer';
  readonly source: string;
  readonly destination: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly description: string | null;
  readonly status: OperationStatus;
  readonly failure_code: string | null;
  readonly created: number;
  readonly livemode: boolean;
}

export interface WalletPayment {
  readonly id: string;
  readonly object: 'wallet_payment';
  readonly wallet: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly description: string | null;
  readonly status: OperationStatus;
  readonly failure_code: string | null;
  readonly created: number;
  readonly livemode: boolean;
}

/**
 * Money returned from the merchant's balance to the wallet a payment came from (the payments
 * service refunding a wallet payment). A payment may be refunded in several parts, never beyond
 * its amount.
 */
export interface WalletRefund {
  readonly id: string;
  readonly object: 'wallet_refund';
  readonly wallet: string;
  /** The refunded wallet payment (wpy_…). */
  readonly payment: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly status: OperationStatus;
  readonly failure_code: string | null;
  readonly created: number;
  readonly livemode: boolean;
}

/**
 * Money a refund of a top-up's payment takes back out of the wallet, to the merchant's balance,
 * before the payments service returns it to the card. A top-up may be reversed in several parts,
 * never beyond its amount.
 */
export interface TopUpReversal {
  readonly id: string;
  readonly object: 'top_up_reversal';
  readonly wallet: string;
  /** The reversed top-up (tu_…). */
  readonly top_up: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly status: OperationStatus;
  readonly failure_code: string | null;
  readonly created: number;
  readonly livemode: boolean;
}

/**
 * Money a top-up reversal took out of the wallet, put back: the payments service took it back for
 * a refund, and the card then refused that refund. It undoes exactly one reversal, for its whole
 * amount, and the top-up may be reversed again afterwards.
 */
export interface TopUpRestoration {
  readonly id: string;
  readonly object: 'top_up_restoration';
  readonly wallet: string;
  /** The reversal (tur_…) whose money came back. */
  readonly top_up_reversal: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly status: OperationStatus;
  readonly failure_code: string | null;
  readonly created: number;
  readonly livemode: boolean;
}

/** A bank account as it is shown: never the full account number. */
export interface BankAccountDisplay {
  readonly account_holder_name: string;
  readonly routing_number: string;
  readonly last4: string;
  /** Upper-case ISO 3166-1 alpha-2. */
  readonly country: string;
}

export interface Withdrawal {
  readonly id: string;
  readonly object: 'withdrawal';
  readonly wallet: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly status: OperationStatus;
  readonly failure_code: string | null;
  readonly bank_account: BankAccountDisplay;
  readonly created: number;
  readonly livemode: boolean;
}

/** One line of a wallet's history: an operation seen from this wallet. */
export interface WalletTransaction {
  /** The operation's id (tu_, wtr_, wpy_, wd_, wrf_, tur_ or tus_). */
  readonly id: string;
  readonly object: 'wallet_transaction';
  readonly wallet: string;
  readonly type: WalletTransactionType;
  /** Signed from this wallet's point of view: negative when money leaves it. */
  readonly amount: bigint;
  readonly currency: string;
  readonly status: OperationStatus;
  readonly created: number;
  readonly livemode: boolean;
}

/** Limits on outgoing money (transfers, payments, withdrawals) per merchant, mode and currency. */
export interface WalletLimits {
  readonly object: 'wallet_limits';
  readonly currency: string;
  /** The largest single outgoing operation; null means no limit. */
  readonly per_transaction_max: bigint | null;
  /** The most one wallet may send out per UTC day (pending and succeeded operations); null means no limit. */
  readonly per_day_max: bigint | null;
  readonly livemode: boolean;
}

// Inputs. Amounts are bigint minor units; the service validates everything itself.

export interface CreateWalletInput {
  readonly customer: string;
  readonly currency: string;
}

export interface UpdateWalletInput {
  readonly status: WalletStatus;
}

export interface ListWalletsFilter {
  readonly customer?: string;
}

export interface TopUpInput {
  readonly amount: bigint;
  readonly idempotency_key?: string;
}

export interface TopUpFromPaymentInput {
  readonly amount: bigint;
  /** The payment intent that took the money (pi_…); the top-up names it. */
  readonly payment_intent: string;
  /** Required: the payments service derives it from the intent, so a retry meets the first top-up. */
  readonly idempotency_key: string;
}

export interface ReverseTopUpInput {
  readonly amount: bigint;
  /** Required: the payments service derives it from its refund attempt. */
  readonly idempotency_key: string;
}

export interface RestoreTopUpReversalInput {
  /** Required: the payments service derives it from its refund, so a retry meets the first restoration. */
  readonly idempotency_key: string;
}

export interface TransferInput {
  readonly source: string;
  readonly destination: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly description?: string;
  readonly idempotency_key?: string;
}

export interface PayInput {
  readonly amount: bigint;
  readonly description?: string;
  readonly idempotency_key?: string;
}

export interface RefundPaymentInput {
  readonly amount: bigint;
  readonly idempotency_key?: string;
}

export interface BankAccountInput {
  readonly account_holder_name: string;
  /** Nine digits (an ABA routing number). */
  readonly routing_number: string;
  /** Four to seventeen digits. */
  readonly account_number: string;
  /** Two letters; 'US' when left out. */
  readonly country?: string;
}

export interface WithdrawInput {
  readonly amount: bigint;
  readonly bank_account: BankAccountInput;
  readonly idempotency_key?: string;
}

export interface SetLimitsInput {
  readonly currency: string;
  /** Left out: unchanged. null: no limit. */
  readonly per_transaction_max?: bigint | null;
  readonly per_day_max?: bigint | null;
}

export type SettlementOutcome = 'succeeded' | 'failed';

// Ports.

/** The identity service's answer to "does this customer belong to this tenant?". */
export interface CustomerDirectory {
  customerExists(tenant: Tenant, customer_id: string): Promise<boolean>;
}

export interface BankWithdrawalRequest {
  readonly withdrawal_id: string;
  readonly amount: bigint;
  /** Lower-case ISO 4217. */
  readonly currency: string;
  readonly bank_account: {
    readonly account_holder_name: string;
    readonly routing_number: string;
    readonly account_number: string;
    readonly country: string;
  };
  readonly livemode: boolean;
}

export type BankWithdrawalStatus = 'pending' | 'succeeded' | 'failed';

/** What the bank says about one withdrawal. `failure_code` is set only when it failed. */
export interface BankStatusReport {
  readonly status: BankWithdrawalStatus;
  readonly failure_code: string | null;
}

export type BankSettlementListener = (withdrawal_id: string, outcome: SettlementOutcome, failure_code?: string) => void;

/**
 * The bank that pays withdrawals out. `submit` must be idempotent by `withdrawal_id` (as a payout
 * API is by its idempotency key): the wallet service submits again after a crash, because it
 * cannot know whether the first submission arrived.
 */
export interface BankPort {
  /** What the bank can do with real money; a simulated bank can do nothing live. */
  readonly live_support: BankLiveSupport;
  submit(request: BankWithdrawalRequest): Promise<void>;
  status(withdrawal_id: string): Promise<BankStatusReport>;
  onSettled(listener: BankSettlementListener): void;
  /**
   * Test mode only: the bank finishes a withdrawal the way a test asks. Only simulated banks
   * offer it; the wallet service settles the withdrawal itself either way.
   */
  completeForTest?(withdrawal_id: string, outcome: SettlementOutcome): Promise<void>;
}

/** The wallet service's one public interface: the gateway calls it in-process. */
export interface WalletClient {
  createWallet(tenant: Tenant, input: CreateWalletInput): Promise<Wallet>;
  getWallet(tenant: Tenant, id: string): Promise<Wallet>;
  listWallets(tenant: Tenant, page: PageRequest, filter?: ListWalletsFilter): Promise<Page<Wallet>>;
  updateWallet(tenant: Tenant, id: string, input: UpdateWalletInput): Promise<Wallet>;

  topUp(tenant: Tenant, wallet_id: string, input: TopUpInput): Promise<TopUp>;
  transfer(tenant: Tenant, input: TransferInput): Promise<WalletTransfer>;
  pay(tenant: Tenant, wallet_id: string, input: PayInput): Promise<WalletPayment>;
  withdraw(tenant: Tenant, wallet_id: string, input: WithdrawInput): Promise<Withdrawal>;
  /**
   * Returns `amount` of a succeeded wallet payment from the merchant's balance to the wallet it
   * came from. Several partial refunds may follow each other; pending and succeeded refunds together
   * never exceed the payment. Incoming money: a frozen wallet still receives it, and limits do not apply.
   */
  refundPayment(tenant: Tenant, payment_id: string, input: RefundPaymentInput): Promise<WalletRefund>;

  /**
   * Tops the wallet up with money a payment intent took: `amount` moves from the merchant's balance
   * (where the captured money landed) to the wallet. Works in live mode too. Incoming money: a
   * frozen wallet still receives it, and limits do not apply. Idempotent by `idempotency_key`.
   */
  topUpFromPayment(tenant: Tenant, wallet_id: string, input: TopUpFromPaymentInput): Promise<TopUp>;
  /**
   * Takes `amount` of a top-up from a payment back out of the wallet, to the merchant's balance (a
   * refund of that payment). Refused with `insufficient_funds` when the wallet no longer holds it;
   * pending and succeeded reversals together never exceed the top-up. Not outgoing money in the
   * sense of limits, and a frozen wallet allows it: the customer is not spending.
   */
  reverseTopUp(tenant: Tenant, top_up_id: string, input: ReverseTopUpInput): Promise<TopUpReversal>;
  /**
   * Puts a succeeded reversal's whole amount back into the wallet, from the merchant's balance: the
   * compensation when the card refund the reversal was made for failed. One restoration per
   * reversal; the restored amount may be reversed again. Incoming money: a frozen wallet still
   * receives it, and limits do not apply. Idempotent by `idempotency_key`.
   */
  restoreTopUpReversal(tenant: Tenant, top_up_reversal_id: string, input: RestoreTopUpReversalInput): Promise<TopUpRestoration>;

  getTopUp(tenant: Tenant, id: string): Promise<TopUp>;
  getTopUpReversal(tenant: Tenant, id: string): Promise<TopUpReversal>;
  getTopUpRestoration(tenant: Tenant, id: string): Promise<TopUpRestoration>;
  getTransfer(tenant: Tenant, id: string): Promise<WalletTransfer>;
  listTransfers(tenant: Tenant, page: PageRequest): Promise<Page<WalletTransfer>>;
  getPayment(tenant: Tenant, id: string): Promise<WalletPayment>;
  getWithdrawal(tenant: Tenant, id: string): Promise<Withdrawal>;
  listTransactions(tenant: Tenant, wallet_id: string, page: PageRequest): Promise<Page<WalletTransaction>>;

  getLimits(tenant: Tenant, currency: string): Promise<WalletLimits>;
  setLimits(tenant: Tenant, input: SetLimitsInput): Promise<WalletLimits>;

  /** The bank's notification. Idempotent; settling the other way is refused. */
  settleWithdrawal(withdrawal_id: string, outcome: SettlementOutcome, failure_code?: string): Promise<Withdrawal>;
  /** Test mode only (`/v1/test_helpers`): finish a withdrawal as if the bank had. */
  completeWithdrawalForTest(tenant: Tenant, id: string, outcome: SettlementOutcome): Promise<Withdrawal>;
}
