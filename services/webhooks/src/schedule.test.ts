import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSchedule, parseRetryAfterMs, retry_after_ms_max, retry_jitter_percent, retry_schedule_ms_default, retryDelayMs, scheduleSpanMs } from './schedule';

const ms_per_hour = 3_600_000;

describe('retry schedule', () => {
  it('keeps trying for more than a day by default, in 8 attempts', () => {
    expect(retry_schedule_ms_default).toHaveLength(7);
    expect(scheduleSpanMs(retry_schedule_ms_default)).toBeGreaterThanOrEqual(24 * ms_per_hour);
    expect(scheduleSpanMs(retry_schedule_ms_default)).toBeLessThan(28 * ms_per_hour);
    // Backoff: no delay is shorter than the one before it.
    for (let index = 1; index < retry_schedule_ms_default.length; index += 1) {
      expect(retry_schedule_ms_default[index]).toBeGreaterThanOrEqual(retry_schedule_ms_default[index - 1] ?? 0);
    }
  });

  it('waits each delay plus up to its jitter share, and stops when the schedule is spent', () => {
    const schedule = [1_000, 60_000];
    expect(retryDelayMs(schedule, 1, () => 0)).toBe(1_000);
    expect(retryDelayMs(schedule, 1, () => 0.999_999)).toBe(1_000 + (1_000 * retry_jitter_percent) / 100);
    expect(retryDelayMs(schedule, 2, () => 0.5)).toBe(60_000 + 6_000);
    expect(retryDelayMs(schedule, 3, () => 0)).toBeUndefined();
    expect(retryDelayMs([], 1, () => 0)).toBeUndefined();
  });

  it('never shortens a delay, never more than the jitter share lengthens it (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 10 * ms_per_hour }), { minLength: 1, maxLength: 10 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (schedule, random) => {
        for (let attempts = 1; attempts <= schedule.length; attempts += 1) {
          const base = schedule[attempts - 1] ?? 0;
          const delay = retryDelayMs(schedule, attempts, () => random) ?? -1;
          expect(Number.isSafeInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(base);
          expect(delay).toBeLessThanOrEqual(base + (base * retry_jitter_percent) / 100);
        }
        expect(retryDelayMs(schedule, schedule.length + 1, () => random)).toBeUndefined();
      }),
    );
  });

  it('honours a Retry-After longer than the schedule, up to a bound', () => {
    expect(retryDelayMs([1_000], 1, () => 0, 30_000)).toBe(30_000);
    expect(retryDelayMs([1_000], 1, () => 0, 10)).toBe(1_000);
    expect(retryDelayMs([1_000], 1, () => 0, 10 * retry_after_ms_max)).toBe(retry_after_ms_max);
    expect(parseRetryAfterMs('120')).toBe(120_000);
    expect(parseRetryAfterMs(' 5 ')).toBe(5_000);
    expect(parseRetryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT')).toBeUndefined();
    expect(parseRetryAfterMs('-1')).toBeUndefined();
    expect(parseRetryAfterMs(null)).toBeUndefined();
  });

  it('refuses a schedule that is not a short list of sane delays', () => {
    expect(() => checkSchedule([1.5])).toThrow(/retry delays/);
    expect(() => checkSchedule([-1])).toThrow(/retry delays/);
    expect(() => checkSchedule(Array.from({ length: 33 }, () => 1))).toThrow(/at most/);
    expect(checkSchedule([0, 5])).toEqual([0, 5]);
  });
});
