// The ledger's data model follows TigerBeetle's: fixed fields, flags as bit sets, and ids and
// timestamps that order everything. Amounts and balances are bigint minor units; the wire keeps
// them within 2^53 - 1 so that every JSON client reads them exactly.

/** The largest amount or balance the ledger holds: JSON integers stay exact up to here. */
export const amount_max = BigInt(Number.MAX_SAFE_INTEGER);
export const id_max = (1n << 128n) - 1n;
export const user_data_128_max = id_max;
export const user_data_64_max = amount_max;
export const user_data_32_max = 0xffff_ffff;
export const ledger_max = 0xffff_ffff;
export const code_max = 0xffff;
export const timeout_max = 0xffff_ffff;
/** Timestamps are nanoseconds since the Unix epoch and must fit a signed 64-bit column. */
export const timestamp_max = (1n << 63n) - 1n;
export const nanoseconds_per_second = 1_000_000_000n;
/** One request carries at most this many events, as in TigerBeetle. */
export const batch_events_max = 8190;

export const AccountFlags = {
  linked: 1 << 0,
  debits_must_not_exceed_credits: 1 << 1,
  credits_must_not_exceed_debits: 1 << 2,
  history: 1 << 3,
  closed: 1 << 5,
} as const;
export type AccountFlagName = keyof typeof AccountFlags;
export const account_flags_known = Object.values(AccountFlags).reduce((all, bit) => all | bit, 0);

export const TransferFlags = {
  linked: 1 << 0,
  pending: 1 << 1,
  post_pending_transfer: 1 << 2,
  void_pending_transfer: 1 << 3,
  balancing_debit: 1 << 4,
  balancing_credit: 1 << 5,
  closing_debit: 1 << 6,
  closing_credit: 1 << 7,
} as const;
export type TransferFlagName = keyof typeof TransferFlags;
export const transfer_flags_known = Object.values(TransferFlags).reduce((all, bit) => all | bit, 0);

/** What a client asks for when it creates an account. Balances must be zero. */
export interface AccountEvent {
  id: bigint;
  ledger: number;
  code: number;
  flags: number;
  user_data_128: bigint;
  user_data_64: bigint;
  user_data_32: number;
  debits_pending: bigint;
  debits_posted: bigint;
  credits_pending: bigint;
  credits_posted: bigint;
  timestamp: bigint;
}

export interface Account {
  readonly id: bigint;
  readonly ledger: number;
  readonly code: number;
  /** Mutable only through `closed`: closing transfers close and voids reopen. */
  flags: number;
  readonly user_data_128: bigint;
  readonly user_data_64: bigint;
  readonly user_data_32: number;
  debits_pending: bigint;
  debits_posted: bigint;
  credits_pending: bigint;
  credits_posted: bigint;
  readonly timestamp: bigint;
}

export interface TransferEvent {
  id: bigint;
  debit_account_id: bigint;
  credit_account_id: bigint;
  amount: bigint;
  pending_id: bigint;
  user_data_128: bigint;
  user_data_64: bigint;
  user_data_32: number;
  /** Seconds after the transfer's timestamp at which a pending transfer expires; 0 never. */
  timeout: number;
  ledger: number;
  code: number;
  flags: number;
  timestamp: bigint;
}

export type Transfer = Readonly<TransferEvent>;

export type PendingStatus = 'pending' | 'posted' | 'voided' | 'expired';

export interface AccountBalance {
  readonly account_id: bigint;
  readonly timestamp: bigint;
  readonly debits_pending: bigint;
  readonly debits_posted: bigint;
  readonly credits_pending: bigint;
  readonly credits_posted: bigint;
}

export function emptyAccountEvent(fields: Partial<AccountEvent> & { id: bigint }): AccountEvent {
  return {
    ledger: 0,
    code: 0,
    flags: 0,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    debits_pending: 0n,
    debits_posted: 0n,
    credits_pending: 0n,
    credits_posted: 0n,
    timestamp: 0n,
    ...fields,
  };
}

export function emptyTransferEvent(fields: Partial<TransferEvent> & { id: bigint }): TransferEvent {
  return {
    debit_account_id: 0n,
    credit_account_id: 0n,
    amount: 0n,
    pending_id: 0n,
    user_data_128: 0n,
    user_data_64: 0n,
    user_data_32: 0,
    timeout: 0,
    ledger: 0,
    code: 0,
    flags: 0,
    timestamp: 0n,
    ...fields,
  };
}

export function hasFlag(flags: number, flag: number): boolean {
  return (flags & flag) !== 0;
}

export function pendingExpiresAt(transfer: Transfer): bigint {
  return transfer.timestamp + BigInt(transfer.timeout) * nanoseconds_per_second;
}
