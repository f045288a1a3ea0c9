// The ledger's binary wire, beside JSON for bulk clients: TigerBeetle's fixed 128-byte Account and
// Transfer layouts, little-endian, with 128-bit ids and amounts, and fixed-size result records.
// docs/ledger.md ("Binary encoding") is the reference for the layouts below.
//
// This is a hot path: a full request is 8,190 records. Fields are read and written in place
// through one DataView per body (its accessors are several times faster than Buffer's), a value
// below 2^53 becomes one BigInt from two 32-bit reads, and no Buffer is made per record or field. Every limit the JSON wire enforces is enforced here too, before the ledger
// sees anything, so a malformed body is refused whole and writes nothing.
import { ApiError, assert } from '@paygrid/kernel';
import type { EventResult } from './results';
import { amount_max, batch_events_max, id_max, timestamp_max, type AccountEvent, type TransferEvent } from './types';

/** The media type of binary bodies, for requests and their answers alike. */
export const ledger_binary_media_type = 'application/vnd.paygrid.ledger.v1+binary';

export const account_record_bytes = 128;
export const transfer_record_bytes = 128;
/** A lookup request is a list of ids, each an unsigned 128-bit little-endian integer. */
export const id_record_bytes = 16;
/** One result per event: id (16), index (4), result code (4), reserved (8). */
export const result_record_bytes = 32;

/** Byte offsets of TigerBeetle's `Account` (tigerbeetle.zig), which this layout is. */
export const account_layout = {
  id: 0,
  debits_pending: 16,
  debits_posted: 32,
  credits_pending: 48,
  credits_posted: 64,
  user_data_128: 80,
  user_data_64: 96,
  user_data_32: 104,
  reserved: 108,
  ledger: 112,
  code: 116,
  flags: 118,
  timestamp: 120,
} as const;

/** Byte offsets of TigerBeetle's `Transfer`. */
export const transfer_layout = {
  id: 0,
  debit_account_id: 16,
  credit_account_id: 32,
  amount: 48,
  pending_id: 64,
  user_data_128: 80,
  user_data_64: 96,
  user_data_32: 104,
  timeout: 108,
  ledger: 112,
  code: 116,
  flags: 118,
  timestamp: 120,
} as const;

export const result_layout = { id: 0, index: 16, result: 20, reserved: 24 } as const;

const word = 0x1_0000_0000;
/** The high 32-bit word of a value at or below 2^53 - 1 is below this. */
const safe_high_word_limit = 0x20_0000;
const low_64_mask = (1n << 64n) - 1n;

// ---------------------------------------------------------------------------------------------
// Reading and writing fields in place.

function viewOf(bytes: Buffer): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** An unsigned 64-bit field, as a bigint. Values below 2^53 cost one BigInt from one number. */
function readU64(view: DataView, at: number): bigint {
  const low = view.getUint32(at, true);
  const high = view.getUint32(at + 4, true);
  if (high === 0) return low === 0 ? 0n : BigInt(low);
  if (high < safe_high_word_limit) return BigInt(high * word + low);
  return view.getBigUint64(at, true);
}

/** An unsigned 128-bit field, as a bigint. */
function readU128(view: DataView, at: number): bigint {
  if (view.getUint32(at + 8, true) === 0 && view.getUint32(at + 12, true) === 0) return readU64(view, at);
  return (view.getBigUint64(at + 8, true) << 64n) | view.getBigUint64(at, true);
}

/**
 * An unsigned 128-bit (or 64-bit, with `bytes` 8) field that must be at most 2^53 - 1, as the
 * JSON wire limits amounts, balances and `user_data_64`. Undefined when it is larger.
 */
function readSafe(view: DataView, at: number, bytes: 8 | 16): bigint | undefined {
  const high = view.getUint32(at + 4, true);
  if (high >= safe_high_word_limit) return undefined;
  if (bytes === 16 && (view.getUint32(at + 8, true) !== 0 || view.getUint32(at + 12, true) !== 0)) return undefined;
  const low = view.getUint32(at, true);
  if (high === 0) return low === 0 ? 0n : BigInt(low);
  return BigInt(high * word + low);
}

/**
 * Writes an unsigned 64-bit value into zeroed bytes. Converting to a number first is exact for
 * the common case: a value at or above 2^53 converts to at least 2^53.
 */
function writeU64(view: DataView, value: bigint, at: number): void {
  const number = Number(value);
  if (number === 0) return;
  if (number <= Number.MAX_SAFE_INTEGER) {
    view.setUint32(at, number >>> 0, true);
    view.setUint32(at + 4, Math.floor(number / word), true);
    return;
  }
  view.setBigUint64(at, value, true);
}

/** Writes an unsigned 128-bit value into zeroed bytes. */
function writeU128(view: DataView, value: bigint, at: number): void {
  if (Number(value) <= Number.MAX_SAFE_INTEGER) {
    writeU64(view, value, at);
    return;
  }
  assert(value <= id_max, 'a 128-bit field is out of range');
  view.setBigUint64(at, value & low_64_mask, true);
  view.setBigUint64(at + 8, value >> 64n, true);
}

// ---------------------------------------------------------------------------------------------
// Requests.

function bodyInvalid(message: string): ApiError {
  return new ApiError('invalid_request_error', 'binary_body_invalid', message);
}

function fieldInvalid(param: string, message: string): ApiError {
  return new ApiError('invalid_request_error', 'parameter_invalid', `${param} ${message}`, param);
}

/** How many records a body holds, or a 400 when its length or count is out of bounds. */
function recordCount(body: Buffer, record_bytes: number, what: string): number {
  if (body.length === 0) throw bodyInvalid(`The request body is empty; send 1 to ${batch_events_max} ${what} of ${record_bytes} bytes each`);
  if (body.length % record_bytes !== 0) {
    throw bodyInvalid(`The request body is ${body.length} bytes, not a multiple of ${record_bytes}: ${what} are ${record_bytes} bytes each`);
  }
  const count = body.length / record_bytes;
  if (count > batch_events_max) throw bodyInvalid(`The request body holds ${count} ${what}; at most ${batch_events_max} are allowed`);
  return count;
}

const amount_limit_message = `must be at most ${amount_max} (2^53 - 1)`;

function safeField(view: DataView, at: number, bytes: 8 | 16, param: string): bigint {
  const value = readSafe(view, at, bytes);
  if (value === undefined) throw fieldInvalid(param, amount_limit_message);
  return value;
}

function timestampField(view: DataView, at: number, param: string): bigint {
  const value = readU64(view, at);
  if (value > timestamp_max) throw fieldInvalid(param, 'must be below 2^63');
  return value;
}

/**
 * Decodes a `POST /v1/ledger/accounts` body. Balances must be within 2^53 - 1 (the ledger then
 * answers `*_must_be_zero` for any that is not zero, as for JSON), `reserved` must be zero.
 * Unknown flag bits pass through and are answered with `reserved_flag`, as TigerBeetle does.
 */
export function decodeAccountEvents(body: Buffer): AccountEvent[] {
  const count = recordCount(body, account_record_bytes, 'accounts');
  const view = viewOf(body);
  const events = new Array<AccountEvent>(count);
  for (let index = 0; index < count; index += 1) {
    const at = index * account_record_bytes;
    const param = `accounts[${index}]`;
    if (view.getUint32(at + account_layout.reserved, true) !== 0) throw fieldInvalid(`${param}.reserved`, 'must be zero');
    events[index] = {
      id: readU128(view, at + account_layout.id),
      ledger: view.getUint32(at + account_layout.ledger, true),
      code: view.getUint16(at + account_layout.code, true),
      flags: view.getUint16(at + account_layout.flags, true),
      user_data_128: readU128(view, at + account_layout.user_data_128),
      user_data_64: safeField(view, at + account_layout.user_data_64, 8, `${param}.user_data_64`),
      user_data_32: view.getUint32(at + account_layout.user_data_32, true),
      debits_pending: safeField(view, at + account_layout.debits_pending, 16, `${param}.debits_pending`),
      debits_posted: safeField(view, at + account_layout.debits_posted, 16, `${param}.debits_posted`),
      credits_pending: safeField(view, at + account_layout.credits_pending, 16, `${param}.credits_pending`),
      credits_posted: safeField(view, at + account_layout.credits_posted, 16, `${param}.credits_posted`),
      timestamp: timestampField(view, at + account_layout.timestamp, `${param}.timestamp`),
    };
  }
  return events;
}

/** Decodes a `POST /v1/ledger/transfers` body. `amount` and `user_data_64` must be within 2^53 - 1. */
export function decodeTransferEvents(body: Buffer): TransferEvent[] {
  const count = recordCount(body, transfer_record_bytes, 'transfers');
  const view = viewOf(body);
  const events = new Array<TransferEvent>(count);
  for (let index = 0; index < count; index += 1) {
    const at = index * transfer_record_bytes;
    const param = `transfers[${index}]`;
    events[index] = {
      id: readU128(view, at + transfer_layout.id),
      debit_account_id: readU128(view, at + transfer_layout.debit_account_id),
      credit_account_id: readU128(view, at + transfer_layout.credit_account_id),
      amount: safeField(view, at + transfer_layout.amount, 16, `${param}.amount`),
      pending_id: readU128(view, at + transfer_layout.pending_id),
      user_data_128: readU128(view, at + transfer_layout.user_data_128),
      user_data_64: safeField(view, at + transfer_layout.user_data_64, 8, `${param}.user_data_64`),
      user_data_32: view.getUint32(at + transfer_layout.user_data_32, true),
      timeout: view.getUint32(at + transfer_layout.timeout, true),
      ledger: view.getUint32(at + transfer_layout.ledger, true),
      code: view.getUint16(at + transfer_layout.code, true),
      flags: view.getUint16(at + transfer_layout.flags, true),
      timestamp: timestampField(view, at + transfer_layout.timestamp, `${param}.timestamp`),
    };
  }
  return events;
}

/** Decodes a lookup body: 1 to 8,190 ids of 16 bytes each. */
export function decodeIds(body: Buffer): bigint[] {
  const count = recordCount(body, id_record_bytes, 'ids');
  const view = viewOf(body);
  const ids = new Array<bigint>(count);
  for (let index = 0; index < count; index += 1) ids[index] = readU128(view, index * id_record_bytes);
  return ids;
}

// ---------------------------------------------------------------------------------------------
// Records out: lookup answers, and requests for clients and tests.

/** Accounts (or account events) in the 128-byte layout; lookups answer with this. */
export function encodeAccounts(accounts: readonly Readonly<AccountEvent>[]): Buffer {
  const out = Buffer.alloc(accounts.length * account_record_bytes);
  const view = viewOf(out);
  let at = 0;
  for (const account of accounts) {
    writeU128(view, account.id, at + account_layout.id);
    writeU128(view, account.debits_pending, at + account_layout.debits_pending);
    writeU128(view, account.debits_posted, at + account_layout.debits_posted);
    writeU128(view, account.credits_pending, at + account_layout.credits_pending);
    writeU128(view, account.credits_posted, at + account_layout.credits_posted);
    writeU128(view, account.user_data_128, at + account_layout.user_data_128);
    writeU64(view, account.user_data_64, at + account_layout.user_data_64);
    view.setUint32(at + account_layout.user_data_32, account.user_data_32, true);
    view.setUint32(at + account_layout.ledger, account.ledger, true);
    view.setUint16(at + account_layout.code, account.code, true);
    view.setUint16(at + account_layout.flags, account.flags, true);
    writeU64(view, account.timestamp, at + account_layout.timestamp);
    at += account_record_bytes;
  }
  return out;
}

/** Transfers (or transfer events) in the 128-byte layout; lookups answer with this. */
export function encodeTransfers(transfers: readonly Readonly<TransferEvent>[]): Buffer {
  const out = Buffer.alloc(transfers.length * transfer_record_bytes);
  const view = viewOf(out);
  let at = 0;
  for (const transfer of transfers) {
    writeU128(view, transfer.id, at + transfer_layout.id);
    writeU128(view, transfer.debit_account_id, at + transfer_layout.debit_account_id);
    writeU128(view, transfer.credit_account_id, at + transfer_layout.credit_account_id);
    writeU128(view, transfer.amount, at + transfer_layout.amount);
    writeU128(view, transfer.pending_id, at + transfer_layout.pending_id);
    writeU128(view, transfer.user_data_128, at + transfer_layout.user_data_128);
    writeU64(view, transfer.user_data_64, at + transfer_layout.user_data_64);
    view.setUint32(at + transfer_layout.user_data_32, transfer.user_data_32, true);
    view.setUint32(at + transfer_layout.timeout, transfer.timeout, true);
    view.setUint32(at + transfer_layout.ledger, transfer.ledger, true);
    view.setUint16(at + transfer_layout.code, transfer.code, true);
    view.setUint16(at + transfer_layout.flags, transfer.flags, true);
    writeU64(view, transfer.timestamp, at + transfer_layout.timestamp);
    at += transfer_record_bytes;
  }
  return out;
}

export function encodeIds(ids: readonly bigint[]): Buffer {
  const out = Buffer.alloc(ids.length * id_record_bytes);
  const view = viewOf(out);
  ids.forEach((id, index) => writeU128(view, id, index * id_record_bytes));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Results.

/** One 32-byte record per event, in event order, with the numeric code of its result. */
export function encodeResults<Result extends string>(results: readonly EventResult<Result>[], codes: Readonly<Record<Result, number>>): Buffer {
  const out = Buffer.alloc(results.length * result_record_bytes);
  const view = viewOf(out);
  let at = 0;
  for (const { index, id, result } of results) {
    writeU128(view, id, at + result_layout.id);
    view.setUint32(at + result_layout.index, index, true);
    view.setUint32(at + result_layout.result, codes[result], true);
    at += result_record_bytes;
  }
  return out;
}

/** Reads result records back (for tests and in-repository clients); unknown codes are a bug here. */
export function decodeResults<Result extends string>(body: Buffer, by_code: ReadonlyMap<number, Result>): EventResult<Result>[] {
  assert(body.length % result_record_bytes === 0, 'result records are 32 bytes each');
  const view = viewOf(body);
  const results: EventResult<Result>[] = [];
  for (let at = 0; at < body.length; at += result_record_bytes) {
    const code = view.getUint32(at + result_layout.result, true);
    const result = by_code.get(code);
    assert(result !== undefined, `unknown result code ${code}`);
    results.push({ index: view.getUint32(at + result_layout.index, true), id: readU128(view, at + result_layout.id), result });
  }
  return results;
}
