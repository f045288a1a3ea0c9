// The ledger's operator API `/v1/ledger` (docs/ledger.md), as the SDK sends and returns it.
//
// Ids and `user_data_128` are unsigned 128-bit integers: pass a bigint or a decimal string; they
// come back as decimal strings. Amounts, balances and `user_data_64` come back as numbers: the
// ledger keeps each at most 2^53 - 1, so they are exact. Timestamps are nanoseconds since the Unix
// epoch as decimal strings.

import type {
  ledger_create_account_result_codes,
  ledger_create_transfer_result_codes,
  ledger_account_flags,
  ledger_transfer_flags,
} from './ledger-wire';

/**
 * How a batch travels: `json` (the default) or `binary`, TigerBeetle's 128-byte records under
 * `application/vnd.paygrid.ledger.v1+binary`, which is cheaper to build and to parse at both
 * ends. The answer is the same either way, except that binary transfer lookups carry no
 * `pending_status` (the 128-byte layout has no room for it).
 */
export type LedgerEncoding = 'json' | 'binary';

export interface LedgerRequestOptions {
  readonly encoding?: LedgerEncoding;
}

/** An unsigned 128-bit integer: a bigint, or a decimal string. */
export type LedgerId = bigint | string;

/** A non-negative integer: a safe-integer number or a bigint. */
export type LedgerInteger = number | bigint;

export type LedgerAccountFlag = keyof typeof ledger_account_flags;
export type LedgerTransferFlag = keyof typeof ledger_transfer_flags;

export type LedgerCreateAccountResult = keyof typeof ledger_create_account_result_codes;
export type LedgerCreateTransferResult = keyof typeof ledger_create_transfer_result_codes;

export interface LedgerAccountCreateParams {
  readonly id: LedgerId;
  /** u32, e.g. an ISO 4217 numeric currency code. */
  readonly ledger: number;
  /** u16: the account's kind in your chart of accounts. */
  readonly code: number;
  readonly flags?: readonly LedgerAccountFlag[];
  readonly user_data_128?: LedgerId;
  readonly user_data_64?: LedgerInteger;
  readonly user_data_32?: number;
}

export interface LedgerTransferCreateParams {
  readonly id: LedgerId;
  readonly debit_account_id?: LedgerId;
  readonly credit_account_id?: LedgerId;
  /** Minor units, at most 2^53 - 1. */
  readonly amount?: LedgerInteger;
  readonly pending_id?: LedgerId;
  readonly user_data_128?: LedgerId;
  readonly user_data_64?: LedgerInteger;
  readonly user_data_32?: number;
  /** Seconds, for pending transfers. */
  readonly timeout?: number;
  readonly ledger?: number;
  readonly code?: number;
  readonly flags?: readonly LedgerTransferFlag[];
}

/** One result per event, in event order. */
export interface LedgerEventResult<Result extends string> {
  readonly index: number;
  readonly id: string;
  readonly result: Result;
}

export interface LedgerAccount {
  readonly object: 'ledger_account';
  readonly id: string;
  readonly ledger: number;
  readonly code: number;
  readonly flags: LedgerAccountFlag[];
  readonly user_data_128: string;
  readonly user_data_64: number;
  readonly user_data_32: number;
  readonly debits_pending: number;
  readonly debits_posted: number;
  readonly credits_pending: number;
  readonly credits_posted: number;
  readonly timestamp: string;
}

export type LedgerPendingStatus = 'pending' | 'posted' | 'voided' | 'expired';

export interface LedgerTransfer {
  readonly object: 'ledger_transfer';
  readonly id: string;
  readonly debit_account_id: string;
  readonly credit_account_id: string;
  readonly amount: number;
  readonly pending_id: string;
  readonly user_data_128: string;
  readonly user_data_64: number;
  readonly user_data_32: number;
  readonly timeout: number;
  readonly ledger: number;
  readonly code: number;
  readonly flags: LedgerTransferFlag[];
  readonly timestamp: string;
  /** Pending transfers only, and only in JSON answers. */
  readonly pending_status?: LedgerPendingStatus;
}
