import { describe, expect, it } from 'vitest';
import { AssertionError, assert } from './assert';
import { ManualClock, systemClock } from './clock';
import { randomId } from './ids';

describe('assert', () => {
  it('throws an AssertionError when the condition is false', () => {
    expect(() => assert(1 + 1 === 2)).not.toThrow();
    expect(() => assert(false, 'debits must equal credits')).toThrow(new AssertionError('debits must equal credits'));
  });
});

describe('clocks', () => {
  it('reads the system time in integer milliseconds', () => {
    const before = Date.now();
    const now = systemClock.now();
    expect(Number.isInteger(now)).toBe(true);
    expect(now).toBeGreaterThanOrEqual(before);
  });

  it('moves a manual clock only when told, and never backwards', () => {
    const clock = new ManualClock(1_000);
    expect(clock.now()).toBe(1_000);
    clock.advance(250);
    expect(clock.now()).toBe(1_250);
    clock.set(5_000);
    expect(clock.now()).toBe(5_000);
    expect(() => clock.set(4_999)).toThrow(AssertionError);
    expect(() => clock.advance(-1)).toThrow(AssertionError);
    expect(() => clock.advance(0.5)).toThrow(AssertionError);
    expect(new ManualClock().now()).toBe(Date.UTC(2025, 0, 1));
  });
});

describe('randomId', () => {
  it('is the prefix, an underscore and 24 base62 characters', () => {
    const ids = new Set(Array.from({ length: 1_000 }, () => randomId('mer')));
    expect(ids.size).toBe(1_000);
    for (const id of ids) expect(id).toMatch(/^mer_[0-9A-Za-z]{24}$/);
  });

  it('draws from injected randomness, rejecting bytes that would bias the alphabet', () => {
    // 248..255 are rejected; 0 is '0', 61 is 'z', 62 wraps to '0'.
    const pattern = [255, 0, 61, 62, 248];
    let drawn = 0;
    const bytes = (size: number) =>
      Uint8Array.from({ length: size }, () => {
        drawn += 1;
        return pattern[(drawn - 1) % pattern.length] ?? 0;
      });
    expect(randomId('pay', bytes)).toBe(`pay_${'0z0'.repeat(8)}`);
    expect(() => randomId('Bad Prefix')).toThrow(AssertionError);
  });

  it('spreads characters evenly', () => {
    const counts = new Map<string, number>();
    for (let index = 0; index < 2_000; index += 1) {
      for (const character of randomId('t').slice(2)) counts.set(character, (counts.get(character) ?? 0) + 1);
    }
    expect(counts.size).toBe(62);
    // 48,000 characters over 62 symbols: about 774 each.
    for (const count of counts.values()) expect(count).toBeGreaterThan(600);
  });
});
