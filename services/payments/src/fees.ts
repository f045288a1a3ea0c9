// The platform's fee on a captured payment, in exact integer arithmetic.
import { assert } from '@paygrid/kernel';

export interface FeeSchedule {
  /** Hundredths of a percent of the captured amount: 290 is 2.9 %. */
  readonly basis_points: number;
  /** Added to the percentage, in the payment's minor units. */
  readonly fixed_minor: bigint;
}

/** Stripe's standard card pricing: 2.9 % + 30 minor units. */
export const fee_schedule_default: FeeSchedule = { basis_points: 290, fixed_minor: 30n };

export const basis_points_per_unit = 10_000n;
/** A fee above 100 % of the amount makes no sense; the schedule is refused at construction. */
export const basis_points_max = 10_000;

export function checkFeeSchedule(schedule: FeeSchedule): void {
  assert(Number.isSafeInteger(schedule.basis_points), 'fee basis_points is an integer');
  assert(schedule.basis_points >= 0 && schedule.basis_points <= basis_points_max, `fee basis_points is from 0 to ${basis_points_max}`);
  assert(typeof schedule.fixed_minor === 'bigint' && schedule.fixed_minor >= 0n, 'fee fixed_minor is a bigint of at least 0');
}

/**
 * amount × basis_points / 10 000, rounded half up, plus the fixed part, and never more than the
 * amount itself (a small payment cannot leave the merchant owing the platform).
 */
export function feeFor(amount: bigint, schedule: FeeSchedule): bigint {
  assert(amount >= 0n, 'a fee is computed on an amount of at least 0');
  const scaled = amount * BigInt(schedule.basis_points);
  // Half up: add half the divisor before the integer division (all values are non-negative).
  const percentage = (scaled * 2n + basis_points_per_unit) / (basis_points_per_unit * 2n);
  const fee = percentage + schedule.fixed_minor;
  return fee > amount ? amount : fee;
}
