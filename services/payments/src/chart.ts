// How payments map onto the shared chart of accounts. Every transfer id is derived from the attempt
// (or intent) it belongs to, so a step repeated after a crash sends the same transfer and the
// ledger answers `exists` instead of moving money twice.
//
// | step                          | debit                | credit               | code                  | flags   |
// |-------------------------------|----------------------|----------------------|-----------------------|---------|
// | authorization hold            | payments receivable  | merchant balance     | payment_authorization | pending |
// | capture (post the hold)       |                      |                      | payment_authorization | post    |
// | cancel / void / expiry        |                      |                      | payment_authorization | void    |
// | bank transfer received        | payments receivable  | merchant balance     | payment_authorization |         |
// | fee on the captured amount    | merchant balance     | platform fees        | payment_fee           |         |
// | refund hold                   | merchant balance     | payments receivable  | payment_refund        | pending |
// | refund succeeded / failed     |                      |                      | payment_refund        | post / void |
//
// Wallet payments move money wallet → merchant balance inside the wallet service (and refunds
// back); only their fee is a payments transfer.
//
// The receivable and the fees are the merchant's own platform-side accounts (decision 67). An
// intent created before that keeps the accounts every merchant shared (`LedgerChart.shared`, kept on
// its row), so that its refunds credit the receivable its authorization debited.
import {
  AccountCode,
  TransferCode,
  TransferFlags,
  derivedId,
  emptyAccountEvent,
  emptyTransferEvent,
  ledgerFor,
  merchantBalanceAccountId,
  merchantPlatformAccountId,
  sharedPlatformAccountId,
  type AccountEvent,
  type TransferEvent,
} from '@paygrid/ledger';
import type { CurrencyCode } from '@paygrid/money';

/** Which chart an intent's platform-side accounts follow; kept on the intent's row. Never renumber one. */
export const LedgerChart = {
  /** Before decision 67: the receivable and the fees shared by every merchant in a currency and mode. */
  shared: 1,
  /** The merchant's own receivable and fees accounts, derived from merchant, mode and currency. */
  per_merchant: 2,
} as const;
export type LedgerChart = (typeof LedgerChart)[keyof typeof LedgerChart];

export interface Books {
  readonly merchant_id: string;
  readonly currency: CurrencyCode;
  readonly livemode: boolean;
  readonly chart: LedgerChart;
}

function platformSideAccountId(books: Books, role: 'payments_receivable' | 'platform_fees'): bigint {
  return books.chart === LedgerChart.shared
    ? sharedPlatformAccountId(role, books.currency, books.livemode)
    : merchantPlatformAccountId(role, books.merchant_id, books.currency, books.livemode);
}

export function receivableAccountId(books: Books): bigint {
  return platformSideAccountId(books, 'payments_receivable');
}

export function feesAccountId(books: Books): bigint {
  return platformSideAccountId(books, 'platform_fees');
}

export function merchantAccountId(books: Books): bigint {
  return merchantBalanceAccountId(books.merchant_id, books.currency, books.livemode);
}

/** The accounts a payment touches. They have no balance limits: receivables may go negative. */
export function accountEventsOf(books: Books): AccountEvent[] {
  const ledger = ledgerFor(books.currency, books.livemode);
  return [
    emptyAccountEvent({ id: receivableAccountId(books), ledger, code: AccountCode.payments_receivable, flags: 0 }),
    emptyAccountEvent({ id: feesAccountId(books), ledger, code: AccountCode.platform_fees, flags: 0 }),
    // Exactly as the wallet service creates it, so either service's event answers `exists`.
    emptyAccountEvent({ id: merchantAccountId(books), ledger, code: AccountCode.merchant_balance, flags: 0 }),
  ];
}

export function holdTransferId(attempt_id: string): bigint {
  return derivedId(`transfer:${attempt_id}:hold`);
}

export function postTransferId(attempt_id: string): bigint {
  return derivedId(`transfer:${attempt_id}:post`);
}

export function voidTransferId(attempt_id: string): bigint {
  return derivedId(`transfer:${attempt_id}:void`);
}

export function receiptTransferId(attempt_id: string): bigint {
  return derivedId(`transfer:${attempt_id}:receipt`);
}

export function feeTransferId(intent_id: string): bigint {
  return derivedId(`transfer:${intent_id}:fee`);
}

/** The authorization hold: the merchant is owed the money, and the provider owes it to us. */
export function authorizationHold(books: Books, attempt_id: string, amount: bigint): TransferEvent {
  return emptyTransferEvent({
    id: holdTransferId(attempt_id),
    debit_account_id: receivableAccountId(books),
    credit_account_id: merchantAccountId(books),
    amount,
    ledger: ledgerFor(books.currency, books.livemode),
    code: TransferCode.payment_authorization,
    flags: TransferFlags.pending,
    timeout: 0,
  });
}

/** Posts `amount` of a hold (authorization or refund); anything less than the hold is released. */
export function postHold(books: Books, attempt_id: string, amount: bigint, code: number): TransferEvent {
  return emptyTransferEvent({
    id: postTransferId(attempt_id),
    pending_id: holdTransferId(attempt_id),
    amount,
    ledger: ledgerFor(books.currency, books.livemode),
    code,
    flags: TransferFlags.post_pending_transfer,
  });
}

/** Voids a whole hold (authorization or refund); only the ledger (currency and mode) is needed. */
export function voidHold(books: Pick<Books, 'currency' | 'livemode'>, attempt_id: string, code: number): TransferEvent {
  return emptyTransferEvent({
    id: voidTransferId(attempt_id),
    pending_id: holdTransferId(attempt_id),
    amount: 0n,
    ledger: ledgerFor(books.currency, books.livemode),
    code,
    flags: TransferFlags.void_pending_transfer,
  });
}

/** Money that arrived by bank transfer: received at once, no hold. */
export function bankTransferReceipt(books: Books, attempt_id: string, amount: bigint): TransferEvent {
  return emptyTransferEvent({
    id: receiptTransferId(attempt_id),
    debit_account_id: receivableAccountId(books),
    credit_account_id: merchantAccountId(books),
    amount,
    ledger: ledgerFor(books.currency, books.livemode),
    code: TransferCode.payment_authorization,
  });
}

/** The platform's fee, taken from the merchant's balance once per intent, when it is captured. */
export function feeTransfer(books: Books, intent_id: string, amount: bigint): TransferEvent {
  return emptyTransferEvent({
    id: feeTransferId(intent_id),
    debit_account_id: merchantAccountId(books),
    credit_account_id: feesAccountId(books),
    amount,
    ledger: ledgerFor(books.currency, books.livemode),
    code: TransferCode.payment_fee,
  });
}

/** A refund's hold: the merchant's balance is set aside while the provider returns the money. */
export function refundHold(books: Books, attempt_id: string, amount: bigint): TransferEvent {
  return emptyTransferEvent({
    id: holdTransferId(attempt_id),
    debit_account_id: merchantAccountId(books),
    credit_account_id: receivableAccountId(books),
    amount,
    ledger: ledgerFor(books.currency, books.livemode),
    code: TransferCode.payment_refund,
    flags: TransferFlags.pending,
    timeout: 0,
  });
}
