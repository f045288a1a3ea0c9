import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadPlatformConfig } from '@paygrid/kernel';
import { basis_points_max, checkFeeSchedule, fee_schedule_default, feeFor } from './fees';
import { capture_window_ms_default } from './service';

describe('feeFor', () => {
  it('takes 2.9 % rounded half up, plus 30, by default', () => {
    expect(feeFor(10_000n, fee_schedule_default)).toBe(320n);
    expect(feeFor(6_000n, fee_schedule_default)).toBe(204n);
    // 12 345 × 2.9 % = 358.005: rounded to 358.
    expect(feeFor(12_345n, fee_schedule_default)).toBe(388n);
    // 50 × 2.9 % = 1.45 → 1; 52 × 2.9 % = 1.508 → 2; 1 500 × 2.9 % = 43.5 → 44 (half up).
    expect(feeFor(50n, { basis_points: 290, fixed_minor: 0n })).toBe(1n);
    expect(feeFor(52n, { basis_points: 290, fixed_minor: 0n })).toBe(2n);
    expect(feeFor(1_500n, { basis_points: 290, fixed_minor: 0n })).toBe(44n);
  });

  it('never takes more than the amount', () => {
    expect(feeFor(20n, fee_schedule_default)).toBe(20n);
    expect(feeFor(0n, fee_schedule_default)).toBe(0n);
    expect(feeFor(2n ** 53n - 1n, { basis_points: 10_000, fixed_minor: 1n })).toBe(2n ** 53n - 1n);
  });

  it('agrees with a rational reference: |fee − exact| ≤ ½ before the cap, and the cap holds', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }), fc.integer({ min: 0, max: 10_000 }), fc.bigInt({ min: 0n, max: 1_000n }), (amount, basis_points, fixed_minor) => {
        const fee = feeFor(amount, { basis_points, fixed_minor });
        expect(fee >= 0n && fee <= amount).toBe(true);
        // The percentage part is exact ± ½: 2 × 10 000 × part lies within 10 000 of 2 × amount × bps.
        const uncapped = fee < amount;
        if (uncapped) {
          const part = fee - fixed_minor;
          const twice_exact = 2n * amount * BigInt(basis_points);
          const twice_part = 2n * 10_000n * part;
          expect(twice_part - twice_exact <= 10_000n && twice_exact - twice_part < 10_000n).toBe(true);
        }
      }),
    );
  });

  it('refuses a schedule that makes no sense', () => {
    expect(() => checkFeeSchedule({ basis_points: 10_001, fixed_minor: 0n })).toThrow();
    expect(() => checkFeeSchedule({ basis_points: -1, fixed_minor: 0n })).toThrow();
    expect(() => checkFeeSchedule({ basis_points: 1.5, fixed_minor: 0n })).toThrow();
    expect(() => checkFeeSchedule({ basis_points: 0, fixed_minor: -1n })).toThrow();
    expect(() => checkFeeSchedule(fee_schedule_default)).not.toThrow();
  });
});

describe('the platform configuration', () => {
  it('defaults to the same fee schedule and capture window as the service', () => {
    // The kernel cannot import this service, so it repeats the defaults; this keeps them equal.
    const config = loadPlatformConfig({});
    expect({ basis_points: config.PAYMENTS_FEE_BPS, fixed_minor: BigInt(config.PAYMENTS_FEE_FIXED) }).toEqual(fee_schedule_default);
    expect(config.PAYMENTS_CAPTURE_WINDOW_SECONDS * 1_000).toBe(capture_window_ms_default);
    expect(config.PAYMENTS_FEE_BPS).toBeLessThanOrEqual(basis_points_max);
  });
});
