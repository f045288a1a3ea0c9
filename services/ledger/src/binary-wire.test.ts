import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ApiError } from '@paygrid/kernel';
import {
  account_record_bytes,
  decodeAccountEvents,
  decodeIds,
  decodeResults,
  decodeTransferEvents,
  encodeAccounts,
  encodeIds,
  encodeResults,
  encodeTransfers,
  result_record_bytes,
  transfer_record_bytes,
} from './binary-wire';
import { create_account_result_by_code, create_account_result_codes, create_transfer_result_by_code, create_transfer_result_codes } from './result-codes';
import { create_account_results, create_transfer_results, type EventResult } from './results';
import { amount_max, batch_events_max, id_max, timestamp_max, type AccountEvent, type TransferEvent } from './types';

// Values that stress every path of the field readers: zero, small, around 2^32 and 2^53, and the
// full width of the field.
const u128 = fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 0xffff_ffffn }), fc.bigInt({ min: 0n, max: amount_max }), fc.bigInt({ min: 0n, max: id_max }));
const safe = fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 0x1_0000_0000n }), fc.bigInt({ min: 0n, max: amount_max }), fc.constant(amount_max));
const u64_timestamp = fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: timestamp_max }));
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u16 = fc.integer({ min: 0, max: 0xffff });

const transfer_event: fc.Arbitrary<TransferEvent> = fc.record({
  id: u128,
  debit_account_id: u128,
  credit_account_id: u128,
  amount: safe,
  pending_id: u128,
  user_data_128: u128,
  user_data_64: safe,
  user_data_32: u32,
  timeout: u32,
  ledger: u32,
  code: u16,
  flags: u16,
  timestamp: u64_timestamp,
});

const account_event: fc.Arbitrary<AccountEvent> = fc.record({
  id: u128,
  ledger: u32,
  code: u16,
  flags: u16,
  user_data_128: u128,
  user_data_64: safe,
  user_data_32: u32,
  debits_pending: safe,
  debits_posted: safe,
  credits_pending: safe,
  credits_posted: safe,
  timestamp: u64_timestamp,
});

// A reference encoder written the slow, obvious way at TigerBeetle's offsets, so that a layout
// mistake made the same way in the encoder and the decoder still fails here.
function u128At(out: Buffer, at: number, value: bigint): void {
  out.writeBigUInt64LE(value & 0xffff_ffff_ffff_ffffn, at);
  out.writeBigUInt64LE(value >> 64n, at + 8);
}

function referenceTransfer(event: TransferEvent): Buffer {
  const out = Buffer.alloc(128);
  u128At(out, 0, event.id);
  u128At(out, 16, event.debit_account_id);
  u128At(out, 32, event.credit_account_id);
  u128At(out, 48, event.amount);
  u128At(out, 64, event.pending_id);
  u128At(out, 80, event.user_data_128);
  out.writeBigUInt64LE(event.user_data_64, 96);
  out.writeUInt32LE(event.user_data_32, 104);
  out.writeUInt32LE(event.timeout, 108);
  out.writeUInt32LE(event.ledger, 112);
  out.writeUInt16LE(event.code, 116);
  out.writeUInt16LE(event.flags, 118);
  out.writeBigUInt64LE(event.timestamp, 120);
  return out;
}

function referenceAccount(event: AccountEvent): Buffer {
  const out = Buffer.alloc(128);
  u128At(out, 0, event.id);
  u128At(out, 16, event.debits_pending);
  u128At(out, 32, event.debits_posted);
  u128At(out, 48, event.credits_pending);
  u128At(out, 64, event.credits_posted);
  u128At(out, 80, event.user_data_128);
  out.writeBigUInt64LE(event.user_data_64, 96);
  out.writeUInt32LE(event.user_data_32, 104);
  // 108..111 reserved, zero.
  out.writeUInt32LE(event.ledger, 112);
  out.writeUInt16LE(event.code, 116);
  out.writeUInt16LE(event.flags, 118);
  out.writeBigUInt64LE(event.timestamp, 120);
  return out;
}

/** Clears the bits of a random record that would put a limited field out of range. */
function clampSafe(record: Uint8Array, at: number, bytes: 8 | 16): void {
  // 2^53 - 1 fills bytes 0..5 and the low 5 bits of byte 6.
  record[at + 6] = (record[at + 6] ?? 0) & 0x1f;
  for (let offset = 7; offset < bytes; offset += 1) record[at + offset] = 0;
}

const random_transfer_record = fc.uint8Array({ minLength: 128, maxLength: 128 }).map((record) => {
  clampSafe(record, 48, 16);
  clampSafe(record, 96, 8);
  record[127] = (record[127] ?? 0) & 0x7f;
  return record;
});

const random_account_record = fc.uint8Array({ minLength: 128, maxLength: 128 }).map((record) => {
  for (const at of [16, 32, 48, 64]) clampSafe(record, at, 16);
  clampSafe(record, 96, 8);
  record.fill(0, 108, 112);
  record[127] = (record[127] ?? 0) & 0x7f;
  return record;
});

function badRequest(decode: () => unknown): ApiError {
  try {
    decode();
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error('expected the body to be refused');
}

describe('binary wire codec', () => {
  it('round-trips transfers exactly, at TigerBeetle’s offsets', () => {
    fc.assert(
      fc.property(fc.array(transfer_event, { minLength: 1, maxLength: 40 }), (events) => {
        const bytes = encodeTransfers(events);
        expect(bytes.length).toBe(events.length * transfer_record_bytes);
        expect(bytes).toEqual(Buffer.concat(events.map(referenceTransfer)));
        expect(decodeTransferEvents(bytes)).toEqual(events);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips accounts exactly, at TigerBeetle’s offsets', () => {
    fc.assert(
      fc.property(fc.array(account_event, { minLength: 1, maxLength: 40 }), (events) => {
        const bytes = encodeAccounts(events);
        expect(bytes.length).toBe(events.length * account_record_bytes);
        expect(bytes).toEqual(Buffer.concat(events.map(referenceAccount)));
        expect(decodeAccountEvents(bytes)).toEqual(events);
      }),
      { numRuns: 300 },
    );
  });

  it('reads any valid record and writes the same bytes back', () => {
    fc.assert(
      fc.property(fc.array(random_transfer_record, { minLength: 1, maxLength: 20 }), fc.array(random_account_record, { minLength: 1, maxLength: 20 }), (transfers, accounts) => {
        const transfer_bytes = Buffer.concat(transfers);
        expect(encodeTransfers(decodeTransferEvents(transfer_bytes))).toEqual(transfer_bytes);
        const account_bytes = Buffer.concat(accounts);
        expect(encodeAccounts(decodeAccountEvents(account_bytes))).toEqual(account_bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips lookup ids and results', () => {
    fc.assert(
      fc.property(fc.array(u128, { minLength: 1, maxLength: 50 }), (ids) => {
        expect(decodeIds(encodeIds(ids))).toEqual(ids);
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(u128, fc.constantFrom(...create_transfer_results)), { maxLength: 50 }), (pairs) => {
        const results: EventResult<(typeof create_transfer_results)[number]>[] = pairs.map(([id, result], index) => ({ index, id, result }));
        const bytes = encodeResults(results, create_transfer_result_codes);
        expect(bytes.length).toBe(results.length * result_record_bytes);
        expect(decodeResults(bytes, create_transfer_result_by_code)).toEqual(results);
      }),
    );
    const accounts = create_account_results.map((result, index) => ({ index, id: BigInt(index + 1), result }));
    expect(decodeResults(encodeResults(accounts, create_account_result_codes), create_account_result_by_code)).toEqual(accounts);
  });

  it('writes a result record as documented', () => {
    const bytes = encodeResults([{ index: 7, id: (1n << 64n) + 5n, result: 'exceeds_credits' as const }], create_transfer_result_codes);
    expect(bytes.readBigUInt64LE(0)).toBe(5n);
    expect(bytes.readBigUInt64LE(8)).toBe(1n);
    expect(bytes.readUInt32LE(16)).toBe(7);
    expect(bytes.readUInt32LE(20)).toBe(54);
    expect(bytes.readBigUInt64LE(24)).toBe(0n);
  });

  it('gives every result its own code, TigerBeetle’s where the names match', () => {
    for (const codes of [create_account_result_codes, create_transfer_result_codes]) {
      const numbers = Object.values(codes);
      expect(new Set(numbers).size).toBe(numbers.length);
    }
    expect(Object.keys(create_account_result_codes).sort()).toEqual([...create_account_results].sort());
    expect(Object.keys(create_transfer_result_codes).sort()).toEqual([...create_transfer_results].sort());
    // Spot checks against TigerBeetle's CreateTransferStatus and CreateAccountStatus.
    expect(create_transfer_result_codes.exists).toBe(46);
    expect(create_transfer_result_codes.exceeds_credits).toBe(54);
    expect(create_transfer_result_codes.exists_with_different_ledger).toBe(67);
    expect(create_account_result_codes.exists).toBe(21);
    expect(create_account_result_codes.reserved_flag).toBe(5);
  });

  it('refuses bodies of the wrong length or size, naming the problem', () => {
    expect(badRequest(() => decodeTransferEvents(Buffer.alloc(0))).code).toBe('binary_body_invalid');
    expect(badRequest(() => decodeTransferEvents(Buffer.alloc(129))).message).toContain('not a multiple of 128');
    expect(badRequest(() => decodeAccountEvents(Buffer.alloc(64))).code).toBe('binary_body_invalid');
    expect(badRequest(() => decodeTransferEvents(Buffer.alloc((batch_events_max + 1) * 128))).message).toContain('at most 8190');
    expect(badRequest(() => decodeIds(Buffer.alloc(24))).code).toBe('binary_body_invalid');
    expect(badRequest(() => decodeIds(Buffer.alloc((batch_events_max + 1) * 16))).code).toBe('binary_body_invalid');
    expect(decodeTransferEvents(Buffer.alloc(batch_events_max * 128))).toHaveLength(batch_events_max);
  });

  it('refuses values past the ledger’s limits, naming the field', () => {
    const transfer = (edit: (record: Buffer) => void): ApiError => {
      const body = Buffer.alloc(256);
      edit(body.subarray(128));
      return badRequest(() => decodeTransferEvents(body));
    };
    expect(transfer((record) => record.writeBigUInt64LE(amount_max + 1n, 48)).param).toBe('transfers[1].amount');
    expect(transfer((record) => record.writeUInt8(1, 56)).param).toBe('transfers[1].amount');
    expect(transfer((record) => record.writeUInt8(1, 63)).param).toBe('transfers[1].amount');
    expect(transfer((record) => record.writeBigUInt64LE(amount_max + 1n, 96)).param).toBe('transfers[1].user_data_64');
    expect(transfer((record) => record.writeBigUInt64LE(1n << 63n, 120)).param).toBe('transfers[1].timestamp');
    const account = (edit: (record: Buffer) => void): ApiError => {
      const body = Buffer.alloc(128);
      edit(body);
      return badRequest(() => decodeAccountEvents(body));
    };
    expect(account((record) => record.writeUInt32LE(1, 108)).param).toBe('accounts[0].reserved');
    expect(account((record) => record.writeBigUInt64LE(amount_max + 1n, 16)).param).toBe('accounts[0].debits_pending');
    expect(account((record) => record.writeUInt8(1, 79)).param).toBe('accounts[0].credits_posted');
    expect(account((record) => record.writeBigUInt64LE(1n << 63n, 120)).param).toBe('accounts[0].timestamp');
    // At the limits exactly, everything is accepted.
    const edge = Buffer.alloc(128);
    edge.writeBigUInt64LE(amount_max, 48);
    edge.writeBigUInt64LE(amount_max, 96);
    edge.writeBigUInt64LE(timestamp_max, 120);
    expect(decodeTransferEvents(edge)[0]).toMatchObject({ amount: amount_max, user_data_64: amount_max, timestamp: timestamp_max });
  });
});
