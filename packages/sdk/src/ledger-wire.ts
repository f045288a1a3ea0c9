// The ledger's binary encoding on the client side: TigerBeetle's 128-byte Account and Transfer
// records, little-endian, and the 32-byte result records the ledger answers with. docs/ledger.md
// ("Binary encoding") is the reference.
//
// The SDK depends only on Node built-ins, so the layouts, flags and numeric result codes are
// written out here rather than imported from @paygrid/ledger, which defines them (binary-wire.ts,
// result-codes.ts). ledger-wire.test.ts checks that the two agree byte for byte and code for code.
//
// This module checks what a record can hold (a u128, a u32, a known flag); the ledger checks its
// own limits (amounts and balances at most 2^53 - 1) and answers a 400 for a value past them, in
// either encoding alike.

import type {
  LedgerAccount,
  LedgerAccountCreateParams,
  LedgerAccountFlag,
  LedgerEventResult,
  LedgerId,
  LedgerInteger,
  LedgerTransfer,
  LedgerTransferCreateParams,
  LedgerTransferFlag,
} from './ledger-types';

export const ledger_binary_media_type = 'application/vnd.paygrid.ledger.v1+binary';
export const ledger_account_record_bytes = 128;
export const ledger_transfer_record_bytes = 128;
export const ledger_id_record_bytes = 16;
export const ledger_result_record_bytes = 32;
/** One request carries at most this many events or ids. */
export const ledger_batch_events_max = 8190;

export const ledger_account_flags = {
  linked: 1 << 0,
  debits_must_not_exceed_credits: 1 << 1,
  credits_must_not_exceed_debits: 1 << 2,
  history: 1 << 3,
  closed: 1 << 5,
} as const;

export const ledger_transfer_flags = {
  linked: 1 << 0,
  pending: 1 << 1,
  post_pending_transfer: 1 << 2,
  void_pending_transfer: 1 << 3,
  balancing_debit: 1 << 4,
  balancing_credit: 1 << 5,
  closing_debit: 1 << 6,
  closing_credit: 1 << 7,
} as const;

/** The ledger's numeric result codes (TigerBeetle's numbers where the names match). */
export const ledger_create_account_result_codes = {
  ok: 0,
  linked_event_failed: 1,
  linked_event_chain_open: 2,
  timestamp_must_be_zero: 3,
  reserved_flag: 5,
  id_must_not_be_zero: 6,
  id_must_not_be_int_max: 7,
  exists_with_different_flags: 15,
  exists_with_different_user_data_128: 16,
  exists_with_different_user_data_64: 17,
  exists_with_different_user_data_32: 18,
  exists_with_different_ledger: 19,
  exists_with_different_code: 20,
  exists: 21,
  flags_are_mutually_exclusive: 8,
  debits_pending_must_be_zero: 9,
  debits_posted_must_be_zero: 10,
  credits_pending_must_be_zero: 11,
  credits_posted_must_be_zero: 12,
  ledger_must_not_be_zero: 13,
  code_must_not_be_zero: 14,
} as const;

export const ledger_create_transfer_result_codes = {
  ok: 0,
  linked_event_failed: 1,
  linked_event_chain_open: 2,
  timestamp_must_be_zero: 3,
  reserved_flag: 4,
  id_must_not_be_zero: 5,
  id_must_not_be_int_max: 6,
  exists_with_different_flags: 36,
  exists_with_different_pending_id: 40,
  exists_with_different_timeout: 44,
  exists_with_different_debit_account_id: 37,
  exists_with_different_credit_account_id: 38,
  exists_with_different_amount: 39,
  exists_with_different_user_data_128: 41,
  exists_with_different_user_data_64: 42,
  exists_with_different_user_data_32: 43,
  exists_with_different_ledger: 67,
  exists_with_different_code: 45,
  exists: 46,
  flags_are_mutually_exclusive: 7,
  debit_account_id_must_not_be_zero: 8,
  debit_account_id_must_not_be_int_max: 9,
  credit_account_id_must_not_be_zero: 10,
  credit_account_id_must_not_be_int_max: 11,
  accounts_must_be_different: 12,
  pending_id_must_be_zero: 13,
  pending_id_must_not_be_zero: 14,
  pending_id_must_not_be_int_max: 15,
  pending_id_must_be_different: 16,
  timeout_reserved_for_pending_transfer: 17,
  closing_transfer_must_be_pending: 64,
  amount_must_not_be_zero: 18,
  ledger_must_not_be_zero: 19,
  code_must_not_be_zero: 20,
  debit_account_not_found: 21,
  credit_account_not_found: 22,
  accounts_must_have_the_same_ledger: 23,
  transfer_must_have_the_same_ledger_as_accounts: 24,
  pending_transfer_not_found: 25,
  pending_transfer_not_pending: 26,
  pending_transfer_has_different_debit_account_id: 27,
  pending_transfer_has_different_credit_account_id: 28,
  pending_transfer_has_different_ledger: 29,
  pending_transfer_has_different_code: 30,
  exceeds_pending_transfer_amount: 31,
  pending_transfer_has_different_amount: 32,
  pending_transfer_already_posted: 33,
  pending_transfer_already_voided: 34,
  pending_transfer_expired: 35,
  debit_account_already_closed: 65,
  credit_account_already_closed: 66,
  overflows_debits_pending: 47,
  overflows_credits_pending: 48,
  overflows_debits_posted: 49,
  overflows_credits_posted: 50,
  overflows_debits: 51,
  overflows_credits: 52,
  overflows_timeout: 53,
  exceeds_credits: 54,
  exceeds_debits: 55,
} as const;

const u128_max = (1n << 128n) - 1n;
const u64_max = (1n << 64n) - 1n;
const low_64_mask = u64_max;
const word = 0x1_0000_0000;
const decimal_id_pattern = /^(0|[1-9][0-9]{0,38})$/;

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// ---------------------------------------------------------------------------------------------
// Checking what the caller passed.

function u128(value: LedgerId | undefined, name: string): bigint {
  if (value === undefined) return 0n;
  if (typeof value === 'string') {
    if (!decimal_id_pattern.test(value)) throw new RangeError(`${name} must be a decimal string of up to 39 digits, got '${value}'.`);
    value = BigInt(value);
  }
  if (typeof value !== 'bigint') throw new TypeError(`${name} must be a bigint or a decimal string.`);
  if (value < 0n || value > u128_max) throw new RangeError(`${name} must be from 0 to 2^128 - 1.`);
  return value;
}

function unsigned(value: LedgerInteger | undefined, name: string, max: bigint): bigint {
  if (value === undefined) return 0n;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`${name} is ${String(value)}: pass a safe integer or a bigint.`);
    value = BigInt(value);
  }
  if (typeof value !== 'bigint') throw new TypeError(`${name} must be a number or a bigint.`);
  if (value < 0n || value > max) throw new RangeError(`${name} must be from 0 to ${max.toString()}.`);
  return value;
}

function small(value: number | undefined, name: string, max: number): number {
  if (value === undefined) return 0;
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`${name} must be an integer from 0 to ${String(max)}, got ${String(value)}.`);
  return value;
}

function flagBits<Name extends string>(names: readonly Name[] | undefined, table: Readonly<Record<Name, number>>, name: string): number {
  let bits = 0;
  for (const flag of names ?? []) {
    if (!Object.hasOwn(table, flag)) throw new TypeError(`${name} has an unknown flag '${String(flag)}'.`);
    bits |= table[flag];
  }
  return bits;
}

function flagNames<Name extends string>(bits: number, table: Readonly<Record<Name, number>>): Name[] {
  return (Object.keys(table) as Name[]).filter((name) => (bits & table[name]) !== 0);
}

// ---------------------------------------------------------------------------------------------
// Writing records: into zeroed bytes, so fields that are zero are left alone.

function writeU64(view: DataView, value: bigint, at: number): void {
  const number = Number(value);
  if (number === 0) return;
  // Exact: a value at or above 2^53 converts to at least 2^53.
  if (number <= Number.MAX_SAFE_INTEGER) {
    view.setUint32(at, number >>> 0, true);
    view.setUint32(at + 4, Math.floor(number / word), true);
    return;
  }
  view.setBigUint64(at, value, true);
}

function writeU128(view: DataView, value: bigint, at: number): void {
  if (Number(value) <= Number.MAX_SAFE_INTEGER) {
    writeU64(view, value, at);
    return;
  }
  view.setBigUint64(at, value & low_64_mask, true);
  view.setBigUint64(at + 8, value >> 64n, true);
}

function batchSize(count: number, what: string): void {
  if (count < 1 || count > ledger_batch_events_max) throw new RangeError(`A ledger request takes 1 to ${String(ledger_batch_events_max)} ${what}, got ${String(count)}.`);
}

/** Account events as one binary request body for `POST /v1/ledger/accounts`. */
export function encodeLedgerAccounts(accounts: readonly LedgerAccountCreateParams[]): Uint8Array {
  batchSize(accounts.length, 'accounts');
  const out = new Uint8Array(accounts.length * ledger_account_record_bytes);
  const view = viewOf(out);
  accounts.forEach((account, index) => {
    const at = index * ledger_account_record_bytes;
    const name = `accounts[${String(index)}]`;
    writeU128(view, u128(account.id, `${name}.id`), at);
    // Balances (16..79) are zero in a new account; reserved (108..111) is zero.
    writeU128(view, u128(account.user_data_128, `${name}.user_data_128`), at + 80);
    writeU64(view, unsigned(account.user_data_64, `${name}.user_data_64`, u64_max), at + 96);
    view.setUint32(at + 104, small(account.user_data_32, `${name}.user_data_32`, 0xffff_ffff), true);
    view.setUint32(at + 112, small(account.ledger, `${name}.ledger`, 0xffff_ffff), true);
    view.setUint16(at + 116, small(account.code, `${name}.code`, 0xffff), true);
    view.setUint16(at + 118, flagBits(account.flags, ledger_account_flags, `${name}.flags`), true);
  });
  return out;
}

/** Transfer events as one binary request body for `POST /v1/ledger/transfers`. */
export function encodeLedgerTransfers(transfers: readonly LedgerTransferCreateParams[]): Uint8Array {
  batchSize(transfers.length, 'transfers');
  const out = new Uint8Array(transfers.length * ledger_transfer_record_bytes);
  const view = viewOf(out);
  transfers.forEach((transfer, index) => {
    const at = index * ledger_transfer_record_bytes;
    const name = `transfers[${String(index)}]`;
    writeU128(view, u128(transfer.id, `${name}.id`), at);
    writeU128(view, u128(transfer.debit_account_id, `${name}.debit_account_id`), at + 16);
    writeU128(view, u128(transfer.credit_account_id, `${name}.credit_account_id`), at + 32);
    writeU128(view, unsigned(transfer.amount, `${name}.amount`, u128_max), at + 48);
    writeU128(view, u128(transfer.pending_id, `${name}.pending_id`), at + 64);
    writeU128(view, u128(transfer.user_data_128, `${name}.user_data_128`), at + 80);
    writeU64(view, unsigned(transfer.user_data_64, `${name}.user_data_64`, u64_max), at + 96);
    view.setUint32(at + 104, small(transfer.user_data_32, `${name}.user_data_32`, 0xffff_ffff), true);
    view.setUint32(at + 108, small(transfer.timeout, `${name}.timeout`, 0xffff_ffff), true);
    view.setUint32(at + 112, small(transfer.ledger, `${name}.ledger`, 0xffff_ffff), true);
    view.setUint16(at + 116, small(transfer.code, `${name}.code`, 0xffff), true);
    view.setUint16(at + 118, flagBits(transfer.flags, ledger_transfer_flags, `${name}.flags`), true);
  });
  return out;
}

/** Ids as one binary lookup body. */
export function encodeLedgerIds(ids: readonly LedgerId[]): Uint8Array {
  batchSize(ids.length, 'ids');
  const out = new Uint8Array(ids.length * ledger_id_record_bytes);
  const view = viewOf(out);
  ids.forEach((id, index) => writeU128(view, u128(id, `ids[${String(index)}]`), index * ledger_id_record_bytes));
  return out;
}

/** The JSON body of `POST /v1/ledger/accounts`: ids as decimal strings, the rest as given. */
export function ledgerAccountsJson(accounts: readonly LedgerAccountCreateParams[]): { accounts: Record<string, unknown>[] } {
  return { accounts: accounts.map((account) => ({ ...account, id: idText(account.id), ...optionalIdText('user_data_128', account.user_data_128) })) };
}

/** The JSON body of `POST /v1/ledger/transfers`. */
export function ledgerTransfersJson(transfers: readonly LedgerTransferCreateParams[]): { transfers: Record<string, unknown>[] } {
  return {
    transfers: transfers.map((transfer) => ({
      ...transfer,
      id: idText(transfer.id),
      ...optionalIdText('debit_account_id', transfer.debit_account_id),
      ...optionalIdText('credit_account_id', transfer.credit_account_id),
      ...optionalIdText('pending_id', transfer.pending_id),
      ...optionalIdText('user_data_128', transfer.user_data_128),
    })),
  };
}

export function ledgerIdsJson(ids: readonly LedgerId[]): { ids: string[] } {
  return { ids: ids.map(idText) };
}

function idText(id: LedgerId): string {
  return typeof id === 'bigint' ? id.toString() : id;
}

function optionalIdText(name: string, id: LedgerId | undefined): Record<string, string> {
  return id === undefined ? {} : { [name]: idText(id) };
}

// ---------------------------------------------------------------------------------------------
// Reading answers. A malformed answer throws a RangeError; the client reports it as an
// `invalid_response_body` ApiError.

function readU64(view: DataView, at: number): bigint {
  const low = view.getUint32(at, true);
  const high = view.getUint32(at + 4, true);
  if (high === 0) return BigInt(low);
  if (high < 0x20_0000) return BigInt(high * word + low);
  return view.getBigUint64(at, true);
}

function readU128(view: DataView, at: number): bigint {
  if (view.getUint32(at + 8, true) === 0 && view.getUint32(at + 12, true) === 0) return readU64(view, at);
  return (view.getBigUint64(at + 8, true) << 64n) | view.getBigUint64(at, true);
}

/** A balance, amount or user_data_64: the ledger keeps them within 2^53 - 1. */
function readSafeNumber(view: DataView, at: number, bytes: 8 | 16, name: string): number {
  const high = view.getUint32(at + 4, true);
  const wide = bytes === 16 && (view.getUint32(at + 8, true) !== 0 || view.getUint32(at + 12, true) !== 0);
  if (wide || high >= 0x20_0000) throw new RangeError(`The ledger answered ${name} past 2^53 - 1.`);
  return high * word + view.getUint32(at, true);
}

function records(bytes: Uint8Array, record_bytes: number, what: string): number {
  if (bytes.length % record_bytes !== 0) throw new RangeError(`The ledger answered ${String(bytes.length)} bytes of ${what}, not a multiple of ${String(record_bytes)}.`);
  return bytes.length / record_bytes;
}

function decodeResults<Result extends string>(bytes: Uint8Array, codes: Readonly<Record<Result, number>>): LedgerEventResult<Result>[] {
  const by_code = new Map<number, Result>((Object.keys(codes) as Result[]).map((name) => [codes[name], name]));
  const count = records(bytes, ledger_result_record_bytes, 'results');
  const view = viewOf(bytes);
  const results = new Array<LedgerEventResult<Result>>(count);
  for (let index = 0; index < count; index += 1) {
    const at = index * ledger_result_record_bytes;
    const code = view.getUint32(at + 20, true);
    const result = by_code.get(code);
    if (result === undefined) throw new RangeError(`The ledger answered result code ${String(code)}, which this SDK does not know.`);
    results[index] = { index: view.getUint32(at + 16, true), id: readU128(view, at).toString(), result };
  }
  return results;
}

export function decodeLedgerAccountResults(bytes: Uint8Array): LedgerEventResult<keyof typeof ledger_create_account_result_codes>[] {
  return decodeResults(bytes, ledger_create_account_result_codes);
}

export function decodeLedgerTransferResults(bytes: Uint8Array): LedgerEventResult<keyof typeof ledger_create_transfer_result_codes>[] {
  return decodeResults(bytes, ledger_create_transfer_result_codes);
}

/** Account records (a binary lookup's answer), in the shape the JSON API returns. */
export function decodeLedgerAccounts(bytes: Uint8Array): LedgerAccount[] {
  const count = records(bytes, ledger_account_record_bytes, 'accounts');
  const view = viewOf(bytes);
  const accounts = new Array<LedgerAccount>(count);
  for (let index = 0; index < count; index += 1) {
    const at = index * ledger_account_record_bytes;
    accounts[index] = {
      object: 'ledger_account',
      id: readU128(view, at).toString(),
      ledger: view.getUint32(at + 112, true),
      code: view.getUint16(at + 116, true),
      flags: flagNames<LedgerAccountFlag>(view.getUint16(at + 118, true), ledger_account_flags),
      user_data_128: readU128(view, at + 80).toString(),
      user_data_64: readSafeNumber(view, at + 96, 8, 'user_data_64'),
      user_data_32: view.getUint32(at + 104, true),
      debits_pending: readSafeNumber(view, at + 16, 16, 'debits_pending'),
      debits_posted: readSafeNumber(view, at + 32, 16, 'debits_posted'),
      credits_pending: readSafeNumber(view, at + 48, 16, 'credits_pending'),
      credits_posted: readSafeNumber(view, at + 64, 16, 'credits_posted'),
      timestamp: readU64(view, at + 120).toString(),
    };
  }
  return accounts;
}

/** Transfer records (a binary lookup's answer), in the shape the JSON API returns, without `pending_status`. */
export function decodeLedgerTransfers(bytes: Uint8Array): LedgerTransfer[] {
  const count = records(bytes, ledger_transfer_record_bytes, 'transfers');
  const view = viewOf(bytes);
  const transfers = new Array<LedgerTransfer>(count);
  for (let index = 0; index < count; index += 1) {
    const at = index * ledger_transfer_record_bytes;
    transfers[index] = {
      object: 'ledger_transfer',
      id: readU128(view, at).toString(),
      debit_account_id: readU128(view, at + 16).toString(),
      credit_account_id: readU128(view, at + 32).toString(),
      amount: readSafeNumber(view, at + 48, 16, 'amount'),
      pending_id: readU128(view, at + 64).toString(),
      user_data_128: readU128(view, at + 80).toString(),
      user_data_64: readSafeNumber(view, at + 96, 8, 'user_data_64'),
      user_data_32: view.getUint32(at + 104, true),
      timeout: view.getUint32(at + 108, true),
      ledger: view.getUint32(at + 112, true),
      code: view.getUint16(at + 116, true),
      flags: flagNames<LedgerTransferFlag>(view.getUint16(at + 118, true), ledger_transfer_flags),
      timestamp: readU64(view, at + 120).toString(),
    };
  }
  return transfers;
}
