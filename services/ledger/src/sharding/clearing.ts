// Clearing accounts and legs: how a transfer between two shards is written so that every shard's
// own books still balance.
//
// A transfer from account D on shard a to account C on shard b is stored as two legs with the
// transfer's own id, fields and timestamp: on shard a, D → clearing(a, b); on shard b,
// clearing(b, a) → C. Each clearing account stands in for the other shard, so clearing(a, b)
// receives on shard a exactly what C received on shard b, and the two mirror each other: the
// credits of one are the debits of the other, pending and posted alike (`ledger verify` checks it).
import { emptyAccountEvent, type AccountEvent, type Transfer } from '../types';
import type { StoredTransfer } from '../store';
import type { PendingStatus } from '../types';

/** The high 64 bits of every clearing account id ("PGCLEAR" and a zero byte): ids users never make. */
export const clearing_id_prefix = 0x5047_434c_4541_5200n;
/** The account code of every clearing account. */
export const clearing_account_code = 0xc1ea;

const bits_64 = (1n << 64n) - 1n;

/** The clearing account on shard `own` that stands in for shard `other`, in ledger (currency) `ledger`. */
export function clearingAccountId(own: number, other: number, ledger: number): bigint {
  return (clearing_id_prefix << 64n) | (BigInt(own) << 48n) | (BigInt(other) << 32n) | BigInt(ledger);
}

export interface ClearingAccount {
  readonly own: number;
  readonly other: number;
  readonly ledger: number;
}

export function isClearingAccountId(id: bigint): boolean {
  return id >> 64n === clearing_id_prefix;
}

export function parseClearingAccountId(id: bigint): ClearingAccount | undefined {
  if (!isClearingAccountId(id)) return undefined;
  const low = id & bits_64;
  return { own: Number(low >> 48n), other: Number((low >> 32n) & 0xffffn), ledger: Number(low & 0xffff_ffffn) };
}

/** The event that creates a clearing account (idempotent: a second one answers `exists`). */
export function clearingAccountEvent(own: number, other: number, ledger: number): AccountEvent {
  return emptyAccountEvent({ id: clearingAccountId(own, other, ledger), ledger, code: clearing_account_code, user_data_32: other });
}

/**
 * Splits a transfer decided between two shards into its two legs. A transfer within one shard is
 * its own single "leg".
 */
export function legsOf(transfer: Transfer, shardOf: (account_id: bigint) => number): { shard: number; transfer: Transfer }[] {
  const debit_shard = shardOf(transfer.debit_account_id);
  const credit_shard = shardOf(transfer.credit_account_id);
  if (debit_shard === credit_shard) return [{ shard: debit_shard, transfer }];
  return [
    { shard: debit_shard, transfer: { ...transfer, credit_account_id: clearingAccountId(debit_shard, credit_shard, transfer.ledger) } },
    { shard: credit_shard, transfer: { ...transfer, debit_account_id: clearingAccountId(credit_shard, debit_shard, transfer.ledger) } },
  ];
}

/** A pending status seen on two shards: a resolution seen on either is the transfer's. */
function mergedStatus(first: PendingStatus | undefined, second: PendingStatus | undefined): PendingStatus | undefined {
  if (first === undefined) return second;
  if (second === undefined || first !== 'pending') return first;
  return second;
}

/**
 * The transfers that rows read from several shards stand for, by id: a row that is not a leg is a
 * transfer; two legs with one id are one transfer. A lone leg is a transfer whose other leg is not
 * yet visible (its two-phase commit is finishing): it is left out, as not yet committed.
 */
export function mergeLegs(rows: readonly StoredTransfer[]): Map<bigint, StoredTransfer> {
  const debit_legs = new Map<bigint, StoredTransfer>();
  const credit_legs = new Map<bigint, StoredTransfer>();
  const merged = new Map<bigint, StoredTransfer>();
  for (const row of rows) {
    const { transfer } = row;
    if (isClearingAccountId(transfer.credit_account_id)) debit_legs.set(transfer.id, row);
    else if (isClearingAccountId(transfer.debit_account_id)) credit_legs.set(transfer.id, row);
    else merged.set(transfer.id, row);
  }
  for (const [id, debit_leg] of debit_legs) {
    const credit_leg = credit_legs.get(id);
    if (credit_leg === undefined) continue;
    merged.set(id, {
      transfer: { ...debit_leg.transfer, credit_account_id: credit_leg.transfer.credit_account_id },
      status: mergedStatus(debit_leg.status, credit_leg.status),
    });
  }
  return merged;
}

/** The shard that holds the other leg of `leg`, if it is a leg. */
export function otherLegShard(leg: Transfer): number | undefined {
  return parseClearingAccountId(leg.credit_account_id)?.other ?? parseClearingAccountId(leg.debit_account_id)?.other;
}
