import { assert } from './assert';

/** The source of wall-clock time, injected so that tests are deterministic. */
export interface Clock {
  /** Milliseconds since the Unix epoch, an integer. */
  now(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
};

/** 2025-01-01T00:00:00.000Z: a fixed, readable starting point for tests. */
const manual_clock_start_ms = Date.UTC(2025, 0, 1);

/** A clock that moves only when told to. Time never goes backwards. */
export class ManualClock implements Clock {
  #now_ms: number;

  constructor(start_ms: number = manual_clock_start_ms) {
    assert(Number.isSafeInteger(start_ms), 'ManualClock start must be an integer number of milliseconds');
    this.#now_ms = start_ms;
  }

  now(): number {
    return this.#now_ms;
  }

  set(now_ms: number): void {
    assert(Number.isSafeInteger(now_ms), 'ManualClock.set() takes an integer number of milliseconds');
    assert(now_ms >= this.#now_ms, 'ManualClock.set() must not move time backwards');
    this.#now_ms = now_ms;
  }

  advance(duration_ms: number): void {
    assert(Number.isSafeInteger(duration_ms), 'ManualClock.advance() takes an integer number of milliseconds');
    assert(duration_ms >= 0, 'ManualClock.advance() must not move time backwards');
    this.#now_ms += duration_ms;
  }
}
