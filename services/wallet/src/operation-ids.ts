// Operation ids and the ledger transfer that carries each operation's money are one 128-bit
// number, written two ways: the transfer id in the ledger, and `<prefix>_<22 base62 digits>` on
// the wire. So the ledger, the book of record, names every operation: a projection row lost in a
// crash is rebuilt from the transfer alone, and a retry with the same idempotency key derives the
// same number and meets the first transfer as `exists`.
import { randomFillSync } from 'node:crypto';
import { assert, type Tenant } from '@paygrid/kernel';
import { derivedId, id_max } from '@paygrid/ledger';
import type { OperationType } from './types';

const base62_alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** 62^22 > 2^128, so 22 digits hold every 128-bit number. */
export const operation_digits = 22;
const operation_id_pattern = /^([a-z]{2,3})_([0-9A-Za-z]{22})$/;

export const operation_prefixes: Record<OperationType, string> = {
  top_up: 'tu',
  transfer: 'wtr',
  payment: 'wpy',
  withdrawal: 'wd',
  refund: 'wrf',
  top_up_reversal: 'tur',
  top_up_restoration: 'tus',
};

/** The wire id of the operation whose transfer id is `value`. */
export function operationIdOf(type: OperationType, value: bigint): string {
  assert(value > 0n && value < id_max, 'an operation number is a valid transfer id');
  let digits = '';
  let rest = value;
  for (let index = 0; index < operation_digits; index += 1) {
    digits = base62_alphabet.charAt(Number(rest % 62n)) + digits;
    rest /= 62n;
  }
  return `${operation_prefixes[type]}_${digits}`;
}

/** The transfer id behind a wire id, or undefined when the id is not one of this scheme. */
export function operationValueOf(id: string): bigint | undefined {
  const match = operation_id_pattern.exec(id);
  if (match === null) return undefined;
  let value = 0n;
  for (const digit of match[2] ?? '') value = value * 62n + BigInt(base62_alphabet.indexOf(digit));
  return value > 0n && value < id_max ? value : undefined;
}

/** The ledger transfer that carries an operation's money, from the operation's wire id. */
export function operationTransferId(id: string): bigint {
  const value = operationValueOf(id);
  assert(value !== undefined, 'operationTransferId takes the id of an operation made in the book-of-record layout');
  return value;
}

/**
 * The operation's number: derived from the merchant, the mode and the idempotency key when there
 * is one, so that every retry, from any instance and after any crash, names the same transfer; a
 * fresh random number otherwise. The operation's type is left out on purpose: one key used for two
 * kinds of operation names one transfer, and the ledger answers the second `exists_with_different_*`.
 */
export function operationValue(tenant: Tenant, idempotency_key: string | null): bigint {
  if (idempotency_key !== null) {
    return derivedId(`wallet_operation:${tenant.merchant_id}:${tenant.livemode ? 'live' : 'test'}:${idempotency_key}`);
  }
  const bytes = randomFillSync(Buffer.alloc(16));
  const value = (bytes.readBigUInt64BE(0) << 64n) | bytes.readBigUInt64BE(8);
  // 0 and 2^128 - 1 are reserved by the ledger; drawing either is not a practical concern.
  return value === 0n || value === id_max ? 1n : value;
}
