// One circuit breaker per upstream. While most recent calls to a service fail, more calls only
// add load to something already down and make every caller wait for its timeout; an open circuit
// answers at once instead, and a few trial calls after a cool-down find out whether it is back.
import { assert } from '../assert';

export type CircuitState = 'closed' | 'open' | 'half_open';

/** Every transition the breaker may make; `transition` refuses anything else. */
export const circuit_transitions: Readonly<Record<CircuitState, readonly CircuitState[]>> = {
  closed: ['open'],
  open: ['half_open'],
  half_open: ['closed', 'open'],
};

export interface CircuitBreakerOptions {
  /** The share of failed calls in the window, from 0 to 1, at or above which the circuit opens. */
  readonly failure_ratio_max: number;
  /** Fewer calls than this in the window never open the circuit: two failures of two is noise. */
  readonly window_calls_min: number;
  /** Only calls that ended this recently count. */
  readonly window_ms: number;
  /** The most outcomes kept, so that the window stays bounded under any load. */
  readonly window_calls_max: number;
  /** How long the circuit stays open before trial calls are let through. */
  readonly open_ms: number;
  /** Trial calls in flight at once while half-open; this many successes close the circuit. */
  readonly half_open_calls_max: number;
}

export const circuit_breaker_defaults: CircuitBreakerOptions = {
  failure_ratio_max: 0.5,
  window_calls_min: 10,
  window_ms: 10_000,
  window_calls_max: 100,
  open_ms: 5_000,
  half_open_calls_max: 3,
};

interface Outcome {
  readonly at_ms: number;
  readonly failed: boolean;
}

/**
 * How a call ended for the breaker: `abandoned` when it never reached the service for a reason
 * that is not the service's (the caller's deadline had already passed), so it counts for nothing.
 */
export type CircuitOutcome = 'succeeded' | 'failed' | 'abandoned';

/** A permit to make one call, to be settled with its outcome (exactly once). */
export interface CircuitPermit {
  settle(outcome: CircuitOutcome): void;
}

export class CircuitBreaker {
  #state: CircuitState = 'closed';
  #opened_at_ms = 0;
  /** Counts openings, so that a trial admitted before the last one can be told apart. */
  #generation = 0;
  /** A ring of recent outcomes, oldest first once full. */
  readonly #outcomes: Outcome[] = [];
  #trials_in_flight = 0;
  #trial_successes = 0;

  constructor(
    private readonly options: CircuitBreakerOptions,
    private readonly now_ms: () => number,
    private readonly on_transition: (state: CircuitState) => void = () => {},
  ) {
    assert(options.failure_ratio_max > 0 && options.failure_ratio_max <= 1, 'failure_ratio_max must be in (0, 1]');
    assert(options.window_calls_min >= 1, 'window_calls_min must be at least 1');
    assert(options.window_calls_max >= options.window_calls_min, 'window_calls_max must be at least window_calls_min');
    assert(options.half_open_calls_max >= 1, 'half_open_calls_max must be at least 1');
  }

  get state(): CircuitState {
    this.#coolDown();
    return this.#state;
  }

  /** A permit for one call, or undefined when the call must fail fast. */
  admit(): CircuitPermit | undefined {
    this.#coolDown();
    if (this.#state === 'open') return undefined;
    if (this.#state === 'closed') return this.#permit(false);
    if (this.#trials_in_flight >= this.options.half_open_calls_max) return undefined;
    this.#trials_in_flight += 1;
    return this.#permit(true);
  }

  #permit(trial: boolean): CircuitPermit {
    // A trial settled after the circuit moved on (say, another trial failed first) is ignored:
    // it was admitted under a state that no longer holds.
    const generation = this.#generation;
    let settled = false;
    return {
      settle: (outcome) => {
        assert(!settled, 'a circuit permit is settled once');
        settled = true;
        if (trial) this.#settleTrial(outcome, generation);
        else if (outcome !== 'abandoned') this.#record(outcome === 'failed');
      },
    };
  }

  #settleTrial(outcome: CircuitOutcome, generation: number): void {
    if (this.#state !== 'half_open' || generation !== this.#generation) return;
    this.#trials_in_flight -= 1;
    if (outcome === 'abandoned') return;
    if (outcome === 'failed') {
      this.#open();
      return;
    }
    this.#trial_successes += 1;
    if (this.#trial_successes >= this.options.half_open_calls_max) {
      this.#outcomes.length = 0;
      this.#transition('closed');
    }
  }

  #record(failed: boolean): void {
    // Calls admitted while closed may finish after the circuit opened; they change nothing then.
    if (this.#state !== 'closed') return;
    const now = this.now_ms();
    if (this.#outcomes.length >= this.options.window_calls_max) this.#outcomes.shift();
    this.#outcomes.push({ at_ms: now, failed });
    if (!failed) return;
    let calls = 0;
    let failures = 0;
    for (const outcome of this.#outcomes) {
      if (now - outcome.at_ms > this.options.window_ms) continue;
      calls += 1;
      if (outcome.failed) failures += 1;
    }
    if (calls >= this.options.window_calls_min && failures / calls >= this.options.failure_ratio_max) this.#open();
  }

  #open(): void {
    this.#opened_at_ms = this.now_ms();
    this.#generation += 1;
    this.#transition('open');
  }

  #coolDown(): void {
    if (this.#state === 'open' && this.now_ms() - this.#opened_at_ms >= this.options.open_ms) {
      this.#trials_in_flight = 0;
      this.#trial_successes = 0;
      this.#transition('half_open');
    }
  }

  #transition(target: CircuitState): void {
    assert(circuit_transitions[this.#state].includes(target), `circuit may not go from ${this.#state} to ${target}`);
    this.#state = target;
    this.on_transition(target);
  }
}
