// When a failed delivery is tried again. The schedule is the list of delays after each failed
// attempt: the first attempt goes out at once, the second `schedule[0]` after the first failed,
// and so on, so a delivery makes `schedule.length + 1` attempts in all.
import { assert, scheduledRetry } from '@paygrid/kernel';

const ms_per_second = 1_000;
const ms_per_minute = 60 * ms_per_second;
const ms_per_hour = 60 * ms_per_minute;

/**
 * Standard Webhooks' example schedule, cut after 10 hours: 8 attempts over about 27.6 hours, so
 * that a receiver down for a whole day still gets every event once it is back.
 */
export const retry_schedule_ms_default: readonly number[] = [
  5 * ms_per_second,
  5 * ms_per_minute,
  30 * ms_per_minute,
  2 * ms_per_hour,
  5 * ms_per_hour,
  10 * ms_per_hour,
  10 * ms_per_hour,
];

/** Retries per delivery at most, whatever the configured schedule. */
export const retry_schedule_length_max = 32;
/** A single delay at most: a week. */
export const retry_delay_ms_max = 7 * 24 * ms_per_hour;
/**
 * Each delay is lengthened by a random amount up to this share of it, so that the retries of
 * deliveries that failed together (a receiver's outage) do not all return at the same instant.
 */
export const retry_jitter_percent = 20;
/** A receiver's Retry-After is honoured up to this long. */
export const retry_after_ms_max = ms_per_hour;

/** Returns a number in [0, 1); Math.random by default, fixed in tests. */
export type RandomSource = () => number;

export function checkSchedule(schedule: readonly number[]): readonly number[] {
  assert(schedule.length <= retry_schedule_length_max, `a retry schedule has at most ${String(retry_schedule_length_max)} delays`);
  for (const delay_ms of schedule) {
    assert(Number.isSafeInteger(delay_ms) && delay_ms >= 0 && delay_ms <= retry_delay_ms_max, 'retry delays are integers of milliseconds from 0 to a week');
  }
  return [...schedule];
}

/**
 * The delay before the next attempt after `attempts` failed ones, or undefined when the schedule
 * is spent. The jitter only ever adds: the schedule is the shortest time a delivery keeps trying,
 * so "retried for 27 hours" stays true. (Full jitter, a delay drawn from [0, d], would spread
 * retries more, but could also squeeze a day of retries into minutes.)
 */
export function retryDelayMs(schedule: readonly number[], attempts: number, random: RandomSource, retry_after_ms?: number): number | undefined {
  assert(Number.isSafeInteger(attempts) && attempts >= 1, 'a retry follows at least one attempt');
  // The delivery saga's `send` step retries by this same policy (service.ts).
  const policy = scheduledRetry({ delays_ms: schedule, jitter_percent: retry_jitter_percent });
  if (attempts >= policy.tries_max) return undefined;
  const delay_ms = policy.delayMs(attempts, random);
  if (retry_after_ms === undefined) return delay_ms;
  return Math.max(delay_ms, Math.min(retry_after_ms, retry_after_ms_max));
}

/** The least time a delivery keeps trying, from its first attempt to its last. */
export function scheduleSpanMs(schedule: readonly number[]): number {
  return schedule.reduce((sum, delay_ms) => sum + delay_ms, 0);
}

/**
 * Parses a Retry-After header given in seconds (the form receivers use for 429 and 503). The
 * HTTP-date form is ignored: the schedule applies.
 */
export function parseRetryAfterMs(header: string | null): number | undefined {
  if (header === null || !/^[0-9]{1,9}$/.test(header.trim())) return undefined;
  return Number(header.trim()) * ms_per_second;
}
