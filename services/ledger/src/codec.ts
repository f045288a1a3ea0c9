// Binary forms of ledger values: ids as 16 big-endian bytes (so byte order is numeric order in both
// SQLite and PostgreSQL), and the canonical encoding of a batch that the hash chain covers.
import { createHash } from 'node:crypto';
import { assert } from '@paygrid/kernel/assert';
import type { Account, PendingStatus, Transfer } from './types';

export const hash_bytes = 32;
export const genesis_hash = Buffer.alloc(hash_bytes);

export function idToBytes(id: bigint): Buffer {
  assert(id >= 0n && id < 1n << 128n, 'id out of range');
  const bytes = Buffer.allocUnsafe(16);
  writeId(bytes, id, 0);
  return bytes;
}

export function bytesToId(bytes: Uint8Array): bigint {
  assert(bytes.length === 16, 'an id is 16 bytes');
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return (view.readBigUInt64BE(0) << 64n) | view.readBigUInt64BE(8);
}

export const status_codes: Record<Exclude<PendingStatus, 'pending'>, number> = { posted: 1, voided: 2, expired: 3 };

/** The immutable part of an account: what the hash chain seals. Balances are derived, not sealed. */
export interface SealedAccount {
  readonly id: bigint;
  readonly ledger: number;
  readonly code: number;
  /** The flags the account was created with. */
  readonly flags: number;
  readonly user_data_128: bigint;
  readonly user_data_64: bigint;
  readonly user_data_32: number;
  readonly timestamp: bigint;
}

export interface SealedResolution {
  readonly id: bigint;
  readonly status: Exclude<PendingStatus, 'pending'>;
  readonly timestamp: bigint;
}

export interface SealedBatch {
  readonly id: bigint;
  readonly timestamp_first: bigint;
  readonly timestamp_last: bigint;
  readonly accounts: readonly SealedAccount[];
  readonly transfers: readonly Transfer[];
  /** Sorted by timestamp, then id: the order the store reads them back in. */
  readonly resolutions: readonly SealedResolution[];
}

export const sealed_account_bytes = 16 + 4 + 2 + 2 + 16 + 8 + 4 + 8;
export const sealed_transfer_bytes = 16 + 16 + 16 + 8 + 16 + 16 + 8 + 4 + 4 + 4 + 2 + 2 + 8;
export const sealed_resolution_bytes = 16 + 1 + 8;
export const sealed_header_bytes = hash_bytes + 8 * 3;

/** SHA-256 over the previous hash and a fixed-width encoding of everything the batch created. */
export function hashBatch(previous_hash: Buffer, batch: SealedBatch): Buffer {
  return hashSealedBytes(encodeSealedBatch(previous_hash, batch));
}

export function hashSealedBytes(encoded: Buffer): Buffer {
  return createHash('sha256').update(encoded).digest();
}

/**
 * The fixed-width, big-endian encoding of a batch that the hash chain covers. The SQLite store's
 * commit thread reads the batch from these same bytes (see `sqlite-commit-worker.js`), so the
 * layout is written once and hashed and shipped as it is.
 */
export function encodeSealedBatch(previous_hash: Buffer, batch: SealedBatch): Buffer {
  assert(previous_hash.length === hash_bytes);
  const size =
    sealed_header_bytes + 4 * 3 +
    batch.accounts.length * sealed_account_bytes +
    batch.transfers.length * sealed_transfer_bytes +
    batch.resolutions.length * sealed_resolution_bytes;
  const out = Buffer.alloc(size);
  let at = previous_hash.copy(out, 0);
  at = out.writeBigUInt64BE(batch.id, at);
  at = out.writeBigUInt64BE(batch.timestamp_first, at);
  at = out.writeBigUInt64BE(batch.timestamp_last, at);
  at = out.writeUInt32BE(batch.accounts.length, at);
  for (const account of batch.accounts) {
    at = writeId(out, account.id, at);
    at = out.writeUInt32BE(account.ledger, at);
    at = out.writeUInt16BE(account.code, at);
    at = out.writeUInt16BE(account.flags, at);
    at = writeId(out, account.user_data_128, at);
    at = out.writeBigUInt64BE(account.user_data_64, at);
    at = out.writeUInt32BE(account.user_data_32, at);
    at = out.writeBigUInt64BE(account.timestamp, at);
  }
  at = out.writeUInt32BE(batch.transfers.length, at);
  for (const transfer of batch.transfers) {
    at = writeId(out, transfer.id, at);
    at = writeId(out, transfer.debit_account_id, at);
    at = writeId(out, transfer.credit_account_id, at);
    at = out.writeBigUInt64BE(transfer.amount, at);
    at = writeId(out, transfer.pending_id, at);
    at = writeId(out, transfer.user_data_128, at);
    at = out.writeBigUInt64BE(transfer.user_data_64, at);
    at = out.writeUInt32BE(transfer.user_data_32, at);
    at = out.writeUInt32BE(transfer.timeout, at);
    at = out.writeUInt32BE(transfer.ledger, at);
    at = out.writeUInt16BE(transfer.code, at);
    at = out.writeUInt16BE(transfer.flags, at);
    at = out.writeBigUInt64BE(transfer.timestamp, at);
  }
  at = out.writeUInt32BE(batch.resolutions.length, at);
  for (const resolution of batch.resolutions) {
    at = writeId(out, resolution.id, at);
    at = out.writeUInt8(status_codes[resolution.status], at);
    at = out.writeBigUInt64BE(resolution.timestamp, at);
  }
  assert(at === size);
  return out;
}

/** Writes a 128-bit id as 16 big-endian bytes at `at`; returns the offset after it. */
export function writeId(out: Buffer, id: bigint, at: number): number {
  at = out.writeBigUInt64BE(id >> 64n, at);
  return out.writeBigUInt64BE(id & 0xffff_ffff_ffff_ffffn, at);
}

export function sealAccount(account: Account, created_flags: number): SealedAccount {
  return {
    id: account.id,
    ledger: account.ledger,
    code: account.code,
    flags: created_flags,
    user_data_128: account.user_data_128,
    user_data_64: account.user_data_64,
    user_data_32: account.user_data_32,
    timestamp: account.timestamp,
  };
}

export function compareResolutions(a: SealedResolution, b: SealedResolution): number {
  if (a.timestamp !== b.timestamp) return a.timestamp < b.timestamp ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
