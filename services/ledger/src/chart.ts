// The chart of accounts that Paygrid's services share. Services never keep a table that maps
// "merchant X's USD balance" to a ledger id: the id is derived from the account's name, so any
// service (in any process) computes the same id and creates the account idempotently, because
// creating an account that exists with the same fields answers `exists`.
import { createHash } from 'node:crypto';
import { assert } from '@paygrid/kernel/assert';
import { currencies, type CurrencyCode } from '@paygrid/money';
import { id_max } from './types';

/**
 * Test-mode money lives on ledgers of its own, so that test and live balances can never be
 * mixed by a transfer: the ledger refuses a transfer between accounts on different ledgers.
 */
export const test_ledger_offset = 1_000_000;

/** The ledger (a currency in one mode) is the ISO 4217 numeric code, offset in test mode. */
export function ledgerFor(currency: CurrencyCode, livemode: boolean): number {
  const numeric = currencies[currency].numeric;
  return livemode ? numeric : test_ledger_offset + numeric;
}

/**
 * Control accounts (limits, freezes, refusals) hold no money: they live on a ledger of their own per
 * currency and mode, so that no sum over a money ledger ever includes them, and linked transfers
 * tie them to the money transfers they guard.
 */
export const control_ledger_offset = 2_000_000;

/** The control ledger beside a currency's money ledger in one mode. */
export function controlLedgerFor(currency: CurrencyCode, livemode: boolean): number {
  return control_ledger_offset + ledgerFor(currency, livemode);
}

/** Account codes: what kind of account this is. Never renumber one once used. */
export const AccountCode = {
  customer_wallet: 100,
  /**
   * A wallet's control account (control ledger): its balance is what the wallet may still send
   * today, and a freeze closes it, so that every outgoing movement, linked to a debit of it, is
   * refused in the commit that would move the money.
   */
  wallet_control: 110,
  /** Where a wallet's daily allowances come from (control ledger), one per wallet so nothing shared accumulates them. */
  wallet_allowance_source: 120,
  /**
   * A wallet's gate (control ledger): an unlimited wallet's outgoing movements credit it 1 unit
   * each, and a freeze closes it beside the control account, so they meet the freeze.
   */
  wallet_gate: 130,
  merchant_balance: 200,
  /** Money a payment method owes the platform for authorised and captured payments: may go negative. */
  payments_receivable: 300,
  /** The platform's fees taken from merchants. */
  platform_fees: 400,
  /** A merchant's control account (control ledger): source of wallets' allowances, sink of their usage. */
  merchant_control: 210,
  /** A merchant's refusal record (control ledger): the other side of the markers that fix a refused operation's outcome. */
  merchant_refusals: 220,
  /** Money arriving from outside (bank deposits, simulated in test mode): may go negative. */
  bank_deposits: 900,
  /** Money leaving to bank accounts (withdrawals and payouts): may go negative. */
  bank_withdrawals: 910,
} as const;
export type AccountCodeName = keyof typeof AccountCode;

/** Transfer codes: why money moved. Never renumber one once used. */
export const TransferCode = {
  wallet_top_up: 1,
  wallet_transfer: 2,
  wallet_payment: 3,
  wallet_withdrawal: 4,
  payment_authorization: 10,
  payment_refund: 11,
  payment_fee: 12,
  wallet_refund: 13,
  /** A refund of a wallet top-up's payment takes the money back out of the wallet. */
  wallet_top_up_reversal: 14,
  /** A reversal's money goes back into the wallet when the card refund it was made for failed. */
  wallet_top_up_restoration: 15,
  /** Control ledger: a wallet's daily allowance for one limit version, granted. */
  wallet_limit_funding: 20,
  /** Control ledger: the allowance of the version it replaces, taken back in the same chain. */
  wallet_limit_unfunding: 21,
  /** Control ledger: what an outgoing movement uses of the wallet's allowance (pending until UTC midnight, or voided at once when no daily limit is set). */
  wallet_usage: 22,
  /** Control ledger: a freeze, a pending closing transfer on the wallet's control account; voiding it unfreezes. */
  wallet_freeze: 24,
  /** Control ledger: a refused operation's marker, taking the operation's transfer id so that no retry can later succeed under it. */
  wallet_refusal: 25,
} as const;
export type TransferCodeName = keyof typeof TransferCode;

/**
 * A 128-bit id from a name: the first 16 bytes of SHA-256("paygrid:" + name). Ids 0 and 2^128-1
 * are reserved by the ledger; SHA-256 landing on either is not a practical concern, but it is
 * asserted all the same.
 */
export function derivedId(name: string): bigint {
  const digest = createHash('sha256').update(`paygrid:${name}`).digest();
  const id = digest.readBigUInt64BE(0) * 2n ** 64n + digest.readBigUInt64BE(8);
  assert(id !== 0n && id !== id_max, 'derived ledger id hit a reserved value');
  return id;
}

function modeName(livemode: boolean): string {
  return livemode ? 'live' : 'test';
}

/** The ledger account behind a merchant's balance in one currency and mode. */
export function merchantBalanceAccountId(merchant_id: string, currency: CurrencyCode, livemode: boolean): bigint {
  return derivedId(`account:merchant_balance:${merchant_id}:${modeName(livemode)}:${currency}`);
}

/** The platform-side roles: where money enters (bank_deposits) or leaves (bank_withdrawals), what providers owe, the fees. */
export type PlatformAccountRole = 'bank_deposits' | 'bank_withdrawals' | 'payments_receivable' | 'platform_fees';

/**
 * The first chart's platform-side account for a role, one shared by every merchant in a currency
 * and mode. Every total an account keeps is capped at 2^53 − 1, so one merchant's volume could
 * fill a shared account and refuse every other merchant's movements (decision 67). New movements
 * use `merchantPlatformAccountId`; these accounts keep their balances and history, and the pending
 * transfers against them are posted or voided by id, which takes the pending's own accounts.
 */
export function sharedPlatformAccountId(role: PlatformAccountRole, currency: CurrencyCode, livemode: boolean): bigint {
  return derivedId(`account:platform:${role}:${modeName(livemode)}:${currency}`);
}

/**
 * A merchant's platform-side account for a role, in one currency and mode: the platform's side of
 * that merchant's movements only, so nothing one merchant does can fill an account another
 * merchant's movements use (decision 67).
 */
export function merchantPlatformAccountId(role: PlatformAccountRole, merchant_id: string, currency: CurrencyCode, livemode: boolean): bigint {
  return derivedId(`account:platform:${role}:${merchant_id}:${modeName(livemode)}:${currency}`);
}
