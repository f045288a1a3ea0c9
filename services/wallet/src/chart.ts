// How wallet operations map onto the shared chart of accounts: which ledger accounts each one
// debits and credits, the control transfers linked to it, and the account events that create them
// on first use.
//
// Every outgoing movement (transfer, payment, withdrawal) is one linked chain:
//
//   [allowance grant, when the wallet's allowance is behind the merchant's daily limit]
//   usage    a limited wallet: wallet control -> merchant control, pending until UTC midnight, the amount;
//            an unlimited wallet: merchant control -> wallet gate, 1 unit, posted
//   money    the movement itself (the operation's transfer)
//
// A limited wallet's usage is refused `exceeds_credits` once the day's allowance is used; any
// usage is refused `..._account_already_closed` while the wallet is frozen (a freeze closes the
// control account and the gate, together). Both refusals happen in the commit that would move the money, so no number of
// wallet instances can let a movement past a limit or a freeze. Control accounts live on a control
// ledger of their own (controlLedgerFor), so they never mix with money, and nothing shared by
// wallets accumulates: allowances come from an account of each wallet's own.
import { LRUCache } from 'lru-cache';
import {
  AccountCode,
  AccountFlags,
  TransferCode,
  TransferFlags,
  controlLedgerFor,
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
import { assert, type Tenant } from '@paygrid/kernel';
import type { OperationRecord } from './store';
import type { OperationType, SettlementOutcome } from './types';

/**
 * The largest daily limit. Every limit version a wallet lives through is granted once from the
 * wallet's own allowance source, whose debits may not pass the ledger's 2^53 - 1: with limits
 * below 2^40 a wallet can go through at least 8,192 limit changes.
 */
export const day_limit_max = (1n << 40n) - 1n;
/** What an unlimited wallet's outgoing movement credits its gate: enough to meet a freeze. */
const unlimited_usage_amount = 1n;

const seconds_per_day = 86_400;
const ms_per_second = 1_000;

/** Where an operation's transfer was written from; kept in the transfer's `user_data_32`. */
export const TransferOrigin = {
  /** The operation's row is written behind the answer, and rebuilt from the ledger after a crash. */
  projected: 1,
  /** The operation's row was recorded before the ledger was called (it holds what the ledger cannot). */
  recorded: 2,
} as const;

/** How an operation's transfers are laid out; kept in its row. */
export const LedgerLayout = {
  /** Before the ledger was the book of record: the transfer id derived from the operation id, no control chain. */
  legacy: 1,
  /** The transfer id is the operation's number, user data name its origin and time, and outgoing movements carry the control chain. */
  book_of_record: 2,
} as const;

/** Account ids derived lately, kept: every movement names its wallets' accounts, and each is a SHA-256. */
const derived_account_ids_max = 100_000;
const derived_account_ids = new LRUCache<string, bigint>({ max: derived_account_ids_max });

function derivedAccountId(name: string): bigint {
  let id = derived_account_ids.get(name);
  if (id === undefined) {
    id = derivedId(name);
    derived_account_ids.set(name, id);
  }
  return id;
}

function modeName(livemode: boolean): string {
  return livemode ? 'live' : 'test';
}

/** A wallet's ledger account: derived from the wallet id, so no table maps one to the other. */
export function walletAccountId(wallet_id: string): bigint {
  return derivedAccountId(`account:wallet:${wallet_id}`);
}

/** A wallet's control account on the control ledger: its daily allowance, closed while frozen. */
export function walletControlAccountId(wallet_id: string): bigint {
  return derivedAccountId(`account:wallet_control:${wallet_id}`);
}

/** A wallet's gate: an unlimited wallet's movements pass through it, and a freeze closes it. */
export function walletGateAccountId(wallet_id: string): bigint {
  return derivedAccountId(`account:wallet_gate:${wallet_id}`);
}

/** Where a wallet's allowances come from and go back to: one per wallet, so no account shared by wallets accumulates them. */
export function walletAllowanceSourceAccountId(wallet_id: string): bigint {
  return derivedAccountId(`account:wallet_allowance_source:${wallet_id}`);
}

export function merchantControlAccountId(tenant: Tenant, currency: CurrencyCode): bigint {
  return derivedAccountId(`account:merchant_control:${tenant.merchant_id}:${modeName(tenant.livemode)}:${currency}`);
}

export function merchantRefusalsAccountId(tenant: Tenant, currency: CurrencyCode): bigint {
  return derivedAccountId(`account:merchant_refusals:${tenant.merchant_id}:${modeName(tenant.livemode)}:${currency}`);
}

/** The legacy layout's transfer id, derived from the operation id. */
export function legacyOperationTransferId(operation_id: string): bigint {
  return derivedId(`transfer:${operation_id}`);
}

/** The transfer that posts (succeeded) or voids (failed) a withdrawal's hold. */
export function settlementTransferId(withdrawal_id: string, outcome: SettlementOutcome): bigint {
  return derivedId(`transfer:${withdrawal_id}:${outcome === 'succeeded' ? 'post' : 'void'}`);
}

export function usageTransferId(money_transfer_id: bigint): bigint {
  return derivedId(`transfer:wallet_usage:${money_transfer_id}`);
}

export function usageReleaseTransferId(money_transfer_id: bigint): bigint {
  return derivedId(`transfer:wallet_usage_release:${money_transfer_id}`);
}

export function freezeTransferId(wallet_id: string, freeze_number: number): bigint {
  return derivedId(`transfer:wallet_freeze:${wallet_id}:${freeze_number}`);
}

export function freezeGateTransferId(wallet_id: string, freeze_number: number): bigint {
  return derivedId(`transfer:wallet_freeze_gate:${wallet_id}:${freeze_number}`);
}

export function unfreezeTransferId(wallet_id: string, freeze_number: number): bigint {
  return derivedId(`transfer:wallet_unfreeze:${wallet_id}:${freeze_number}`);
}

/** A customer's wallet may never spend more than it holds: the ledger enforces it. */
export function walletAccountEvent(wallet_id: string, currency: CurrencyCode, livemode: boolean): AccountEvent {
  return emptyAccountEvent({
    id: walletAccountId(wallet_id),
    ledger: ledgerFor(currency, livemode),
    code: AccountCode.customer_wallet,
    flags: AccountFlags.debits_must_not_exceed_credits,
  });
}

export function walletControlAccountEvent(wallet_id: string, currency: CurrencyCode, livemode: boolean): AccountEvent {
  return emptyAccountEvent({
    id: walletControlAccountId(wallet_id),
    ledger: controlLedgerFor(currency, livemode),
    code: AccountCode.wallet_control,
    flags: AccountFlags.debits_must_not_exceed_credits,
  });
}

/** The wallet's control accounts: its allowance (and freeze), and its gate. */
export function walletControlAccountEvents(wallet_id: string, currency: CurrencyCode, livemode: boolean): AccountEvent[] {
  return [
    walletControlAccountEvent(wallet_id, currency, livemode),
    emptyAccountEvent({ id: walletGateAccountId(wallet_id), ledger: controlLedgerFor(currency, livemode), code: AccountCode.wallet_gate, flags: 0 }),
  ];
}

export function walletAllowanceSourceAccountEvent(wallet_id: string, currency: CurrencyCode, livemode: boolean): AccountEvent {
  return emptyAccountEvent({
    id: walletAllowanceSourceAccountId(wallet_id),
    ledger: controlLedgerFor(currency, livemode),
    code: AccountCode.wallet_allowance_source,
    flags: 0,
  });
}

/** The merchant's control accounts: usage and freezes go to and come from one, refusals are recorded against the other. Neither has a balance limit. */
export function merchantControlAccountEvents(tenant: Tenant, currency: CurrencyCode): AccountEvent[] {
  const ledger = controlLedgerFor(currency, tenant.livemode);
  return [
    emptyAccountEvent({ id: merchantControlAccountId(tenant, currency), ledger, code: AccountCode.merchant_control, flags: 0 }),
    emptyAccountEvent({ id: merchantRefusalsAccountId(tenant, currency), ledger, code: AccountCode.merchant_refusals, flags: 0 }),
  ];
}

/** Platform and merchant accounts have no balance limit: money from outside may take them negative. */
function unlimitedAccountEvent(id: bigint, code: number, currency: CurrencyCode, livemode: boolean): AccountEvent {
  return emptyAccountEvent({ id, ledger: ledgerFor(currency, livemode), code, flags: 0 });
}

function merchantBalanceAccountEvent(operation: OperationRecord): AccountEvent {
  const { currency, livemode } = operation;
  return unlimitedAccountEvent(merchantBalanceAccountId(operation.merchant_id, currency, livemode), AccountCode.merchant_balance, currency, livemode);
}

interface Legs {
  readonly debit: AccountEvent;
  readonly credit: AccountEvent;
  readonly code: number;
}

function legsOf(operation: OperationRecord): Legs {
  const { currency, livemode } = operation;
  const source = operation.source_wallet_id;
  const destination = operation.destination_wallet_id;
  switch (operation.type) {
    case 'top_up':
      assert(destination !== null, 'a top-up has a destination wallet');
      return {
        // A top-up paid by a payment intent comes out of the merchant's balance, where the payments
        // service landed the captured money; a simulated deposit comes from the bank.
        debit:
          operation.payment_intent_id === null
            ? unlimitedAccountEvent(merchantPlatformAccountId('bank_deposits', operation.merchant_id, currency, livemode), AccountCode.bank_deposits, currency, livemode)
            : merchantBalanceAccountEvent(operation),
        credit: walletAccountEvent(destination, currency, livemode),
        code: TransferCode.wallet_top_up,
      };
    case 'transfer':
      assert(source !== null && destination !== null, 'a transfer has a source and a destination wallet');
      return {
        debit: walletAccountEvent(source, currency, livemode),
        credit: walletAccountEvent(destination, currency, livemode),
        code: TransferCode.wallet_transfer,
      };
    case 'payment':
      assert(source !== null, 'a payment has a source wallet');
      return { debit: walletAccountEvent(source, currency, livemode), credit: merchantBalanceAccountEvent(operation), code: TransferCode.wallet_payment };
    case 'refund':
      assert(destination !== null, 'a refund has a destination wallet');
      return { debit: merchantBalanceAccountEvent(operation), credit: walletAccountEvent(destination, currency, livemode), code: TransferCode.wallet_refund };
    case 'top_up_reversal':
      assert(source !== null, 'a top-up reversal has a source wallet');
      return { debit: walletAccountEvent(source, currency, livemode), credit: merchantBalanceAccountEvent(operation), code: TransferCode.wallet_top_up_reversal };
    case 'top_up_restoration':
      assert(destination !== null, 'a top-up restoration has a destination wallet');
      return {
        // The mirror of the reversal it undoes: the merchant's balance gives the money back.
        debit: merchantBalanceAccountEvent(operation),
        credit: walletAccountEvent(destination, currency, livemode),
        code: TransferCode.wallet_top_up_restoration,
      };
    case 'withdrawal':
      assert(source !== null, 'a withdrawal has a source wallet');
      return {
        debit: walletAccountEvent(source, currency, livemode),
        credit: unlimitedAccountEvent(merchantPlatformAccountId('bank_withdrawals', operation.merchant_id, currency, livemode), AccountCode.bank_withdrawals, currency, livemode),
        code: TransferCode.wallet_withdrawal,
      };
  }
}

/** The operation types whose money leaves a wallet at the customer's wish: limits and freezes apply to them. */
export function isOutgoing(type: OperationType): boolean {
  return type === 'transfer' || type === 'payment' || type === 'withdrawal';
}

/** The operation type behind a money transfer code, for rebuilding rows from the ledger. */
export function operationTypeOfCode(code: number): OperationType | undefined {
  switch (code) {
    case TransferCode.wallet_top_up:
      return 'top_up';
    case TransferCode.wallet_transfer:
      return 'transfer';
    case TransferCode.wallet_payment:
      return 'payment';
    case TransferCode.wallet_withdrawal:
      return 'withdrawal';
    case TransferCode.wallet_refund:
      return 'refund';
    case TransferCode.wallet_top_up_reversal:
      return 'top_up_reversal';
    case TransferCode.wallet_top_up_restoration:
      return 'top_up_restoration';
    default:
      return undefined;
  }
}

/** The accounts an operation's chain touches, to create them when the ledger has not seen them. */
export function accountEventsOf(operation: OperationRecord): AccountEvent[] {
  const legs = legsOf(operation);
  const events = [legs.debit, legs.credit];
  if (operation.ledger_layout === LedgerLayout.book_of_record && isOutgoing(operation.type)) {
    assert(operation.source_wallet_id !== null);
    const tenant = { merchant_id: operation.merchant_id, livemode: operation.livemode };
    events.push(
      ...walletControlAccountEvents(operation.source_wallet_id, operation.currency, operation.livemode),
      walletAllowanceSourceAccountEvent(operation.source_wallet_id, operation.currency, operation.livemode),
      ...merchantControlAccountEvents(tenant, operation.currency),
    );
  }
  return events;
}

/**
 * The operation's money transfer. A withdrawal's is pending, with no timeout: the money is held
 * until the bank answers, however long that takes. In the book-of-record layout the transfer
 * carries the operation's creation time (ms) and origin, so that its row can be rebuilt from it.
 */
export function operationTransferEvent(operation: OperationRecord): TransferEvent {
  const legs = legsOf(operation);
  const book_of_record = operation.ledger_layout === LedgerLayout.book_of_record;
  return emptyTransferEvent({
    id: operation.ledger_transfer_id,
    debit_account_id: legs.debit.id,
    credit_account_id: legs.credit.id,
    amount: operation.amount,
    ledger: legs.debit.ledger,
    code: legs.code,
    flags: operation.type === 'withdrawal' ? TransferFlags.pending : 0,
    timeout: 0,
    user_data_64: book_of_record ? BigInt(operation.created_ms) : 0n,
    user_data_32: book_of_record ? operation.origin : 0,
  });
}

/**
 * The ids an operation's money transfer may name on its platform side: the merchant's own account,
 * and for a transfer created before decision 67, the account every merchant shared. A chain sent
 * again after the change (a retry under the key, recovery) then meets the first transfer's
 * `exists_with_different_…` and is recognised as the same movement.
 */
function platformLegIds(operation: OperationRecord, id: bigint): readonly bigint[] {
  const { currency, livemode } = operation;
  const shared = [sharedPlatformAccountId('bank_deposits', currency, livemode), sharedPlatformAccountId('bank_withdrawals', currency, livemode)];
  const own = [merchantPlatformAccountId('bank_deposits', operation.merchant_id, currency, livemode), merchantPlatformAccountId('bank_withdrawals', operation.merchant_id, currency, livemode)];
  const index = own.indexOf(id);
  const legacy = shared[index];
  return legacy === undefined ? [id] : [id, legacy];
}

/** Whether a stored transfer is the operation's money movement, whichever chart its platform side was made under. */
export function isOperationTransfer(operation: OperationRecord, transfer: Pick<TransferEvent, 'debit_account_id' | 'credit_account_id' | 'amount' | 'ledger' | 'flags'>): boolean {
  const expected = operationTransferEvent(operation);
  return (
    platformLegIds(operation, expected.debit_account_id).includes(transfer.debit_account_id) &&
    platformLegIds(operation, expected.credit_account_id).includes(transfer.credit_account_id) &&
    transfer.amount === expected.amount &&
    transfer.ledger === expected.ledger &&
    (transfer.flags & TransferFlags.pending) === (expected.flags & TransferFlags.pending)
  );
}

/** Seconds from `now_ms` to the next UTC midnight: at least 1, because a pending timeout of 0 means never. */
export function secondsToUtcMidnight(now_ms: number): number {
  const seconds_today = Math.floor(now_ms / ms_per_second) % seconds_per_day;
  return seconds_per_day - seconds_today;
}

/** A wallet's allowance as one daily-limit version granted it: the version and the amount. */
export interface Allowance {
  readonly version: number;
  readonly amount: bigint;
}

/**
 * The linked pair that moves a limited wallet's allowance from `previous` (undefined: never
 * granted) to `next`: grant the new amount, take back the old. Each version is granted and taken
 * back once at most (the ids derive from wallet and version), so a retry, or a second instance with
 * a stale view, meets `exists` and learns it must look again. Taking back the old allowance is
 * refused `exceeds_credits` when the wallet has used more today than the new limit allows, which is
 * exactly when it may not send. A wallet whose limit is lifted keeps its last allowance untouched:
 * unlimited movements never consult it.
 */
export function allowanceTransferEvents(wallet: { readonly id: string; readonly currency: CurrencyCode; readonly livemode: boolean }, previous: Allowance | undefined, next: Allowance): TransferEvent[] {
  const ledger = controlLedgerFor(wallet.currency, wallet.livemode);
  const control = walletControlAccountId(wallet.id);
  const source = walletAllowanceSourceAccountId(wallet.id);
  const events = [
    emptyTransferEvent({
      id: derivedId(`transfer:wallet_allowance:${wallet.id}:${next.version}:grant`),
      debit_account_id: source,
      credit_account_id: control,
      amount: next.amount,
      ledger,
      code: TransferCode.wallet_limit_funding,
      user_data_32: next.version,
      flags: TransferFlags.linked,
    }),
  ];
  if (previous !== undefined) {
    events.push(
      emptyTransferEvent({
        id: derivedId(`transfer:wallet_allowance:${wallet.id}:${previous.version}:take_back`),
        debit_account_id: control,
        credit_account_id: source,
        amount: previous.amount,
        ledger,
        code: TransferCode.wallet_limit_unfunding,
        user_data_32: previous.version,
        flags: TransferFlags.linked,
      }),
    );
  }
  return events;
}

/**
 * The control transfer an outgoing movement links before its money transfer. A limited wallet's
 * usage debits its allowance and stays pending until the UTC midnight after the operation was
 * created, when the ledger expires it and the allowance is whole again; its timeout derives from
 * the operation's creation time, so a resend builds the same transfer. An unlimited wallet's usage
 * credits its gate 1 unit, posted (no balance check, nothing held): it is there only to meet a
 * freeze, which closes the gate. The merchant's control account and the gate grow by one unit a
 * movement, 2^53 − 1 movements before either would overflow.
 */
export function usageTransferEvent(operation: OperationRecord, limited: boolean): TransferEvent {
  assert(isOutgoing(operation.type) && operation.source_wallet_id !== null, 'only outgoing movements use an allowance');
  const tenant = { merchant_id: operation.merchant_id, livemode: operation.livemode };
  const merchant_control = merchantControlAccountId(tenant, operation.currency);
  return emptyTransferEvent({
    id: usageTransferId(operation.ledger_transfer_id),
    debit_account_id: limited ? walletControlAccountId(operation.source_wallet_id) : merchant_control,
    credit_account_id: limited ? merchant_control : walletGateAccountId(operation.source_wallet_id),
    amount: limited ? operation.amount : unlimited_usage_amount,
    ledger: controlLedgerFor(operation.currency, operation.livemode),
    code: TransferCode.wallet_usage,
    flags: TransferFlags.linked | (limited ? TransferFlags.pending : 0),
    timeout: limited ? secondsToUtcMidnight(operation.created_ms) : 0,
  });
}

/** Gives back what a limited withdrawal that failed used of the day's allowance, as if it had never been sent. */
export function usageVoidEvent(operation: OperationRecord): TransferEvent {
  return emptyTransferEvent({ id: usageReleaseTransferId(operation.ledger_transfer_id), pending_id: usageTransferId(operation.ledger_transfer_id), flags: TransferFlags.void_pending_transfer });
}

/** Refusal reasons kept in a refusal marker's `user_data_32`. */
export const RefusalReason = {
  insufficient_funds: 1,
  wallet_limit_exceeded: 2,
  wallet_frozen: 3,
  amount_too_large: 4,
} as const;
export type RefusalReasonName = keyof typeof RefusalReason;

export function refusalReasonName(code: number): RefusalReasonName | undefined {
  return (Object.keys(RefusalReason) as RefusalReasonName[]).find((name) => RefusalReason[name] === code);
}

/** What a retry under the same idempotency key must repeat exactly: the kind, the wallets, the amount and the currency. */
export function operationFingerprint(operation: Pick<OperationRecord, 'type' | 'source_wallet_id' | 'destination_wallet_id' | 'amount' | 'currency'>): bigint {
  return derivedId(`wallet_operation_fingerprint:${operation.type}:${operation.source_wallet_id ?? ''}:${operation.destination_wallet_id ?? ''}:${operation.amount}:${operation.currency}`);
}

/**
 * A refused operation's marker: it takes the operation's transfer id on the control ledger, so a
 * retry under the same key can never move money later (it meets the marker), and it keeps why the
 * operation was refused and a fingerprint of what was asked.
 */
export function refusalMarkerEvent(operation: OperationRecord, reason: RefusalReasonName): TransferEvent {
  const tenant = { merchant_id: operation.merchant_id, livemode: operation.livemode };
  return emptyTransferEvent({
    id: operation.ledger_transfer_id,
    debit_account_id: merchantControlAccountId(tenant, operation.currency),
    credit_account_id: merchantRefusalsAccountId(tenant, operation.currency),
    amount: 1n,
    ledger: controlLedgerFor(operation.currency, operation.livemode),
    code: TransferCode.wallet_refusal,
    user_data_128: operationFingerprint(operation),
    user_data_64: BigInt(operation.created_ms),
    user_data_32: RefusalReason[reason],
  });
}

/**
 * A freeze: two linked pending transfers that close the wallet's control account and its gate
 * until they are voided, so that limited and unlimited movements alike meet it.
 */
export function freezeTransferEvents(tenant: Tenant, wallet_id: string, currency: CurrencyCode, freeze_number: number): TransferEvent[] {
  const fields = {
    debit_account_id: merchantControlAccountId(tenant, currency),
    amount: 1n,
    ledger: controlLedgerFor(currency, tenant.livemode),
    code: TransferCode.wallet_freeze,
    user_data_32: freeze_number,
  };
  return [
    emptyTransferEvent({ ...fields, id: freezeTransferId(wallet_id, freeze_number), credit_account_id: walletControlAccountId(wallet_id), flags: TransferFlags.linked | TransferFlags.pending | TransferFlags.closing_credit }),
    emptyTransferEvent({ ...fields, id: freezeGateTransferId(wallet_id, freeze_number), credit_account_id: walletGateAccountId(wallet_id), flags: TransferFlags.pending | TransferFlags.closing_credit }),
  ];
}

export function unfreezeTransferEvents(wallet_id: string, freeze_number: number): TransferEvent[] {
  return [
    emptyTransferEvent({ id: unfreezeTransferId(wallet_id, freeze_number), pending_id: freezeTransferId(wallet_id, freeze_number), flags: TransferFlags.linked | TransferFlags.void_pending_transfer }),
    emptyTransferEvent({ id: derivedId(`transfer:wallet_unfreeze_gate:${wallet_id}:${freeze_number}`), pending_id: freezeGateTransferId(wallet_id, freeze_number), flags: TransferFlags.void_pending_transfer }),
  ];
}

/**
 * Posts or voids a withdrawal's hold, for its whole amount. The accounts are left zero, so the
 * ledger takes the hold's own: a hold placed against the shared bank_withdrawals account before
 * decision 67 settles as well as one placed against the merchant's own, and a settlement sent
 * before the change and sent again meets `exists` (zero matches what was inherited).
 */
export function settlementTransferEvent(operation: OperationRecord, outcome: SettlementOutcome): TransferEvent {
  assert(operation.type === 'withdrawal', 'only withdrawals are settled');
  const legs = legsOf(operation);
  return emptyTransferEvent({
    id: settlementTransferId(operation.id, outcome),
    pending_id: operation.ledger_transfer_id,
    amount: operation.amount,
    ledger: legs.debit.ledger,
    code: legs.code,
    flags: outcome === 'succeeded' ? TransferFlags.post_pending_transfer : TransferFlags.void_pending_transfer,
  });
}
