// A saga declared as data: an ordered table of steps, each with its action, its compensation, and
// its retry policy and timeout, in the shape of Medusa's `createStep(id, invoke, compensate)`.
//
// A step's action calls whatever it must, outside any transaction, and answers with a result:
//   next     done; the runner moves to the next step, carrying the output (and the compensation's
//            input, when the step has a compensation);
//   retry    it could not finish (a party did not answer): the runner tries again after the
//            step's backoff, and fails the run once the step's tries are spent;
//   wait     nothing failed, but the work must wait (for a customer, a bank, a poll time);
//   stop     the work is moot (what it was for is gone): the run ends as canceled;
//   fail     it failed for good: the runner compensates the steps done before, newest first.
// A step's `record` writes what its result means to the service's own rows, in the same commit
// that records the run's progress, so the service's rows and the run never disagree.
//
// A step with `checkpoint: false` is not recorded on its own: its result rides in memory to the
// next commit (the next checkpointed step, or the run's end). Such a step must be safe to run
// again after a crash, because a new holder resumes from the last commit: a ledger transfer with a
// derived id (the ledger answers `exists`), or a question to a provider. This is what lets a
// request wait for one durable commit where a step-by-step record would cost one per step.
import { assert } from '../assert';
import type { Database } from '../db/database';

/** Returns a number in [0, 1): Math.random by default, fixed in tests. */
export type RandomSource = () => number;

/** How a step is retried: how many tries it gets, and the wait before each retry. */
export interface RetryPolicy {
  /** Tries at most, the first included; the step has failed for good after the last. */
  readonly tries_max: number;
  /** The wait before retry number `retry` (1 for the first retry). */
  readonly delayMs: (retry: number, random: RandomSource) => number;
}

/** The longest any declared wait may be: a week. */
export const saga_delay_ms_max = 7 * 24 * 60 * 60 * 1_000;
/** Tries of one step at most, however a policy is declared. */
export const saga_tries_max = 100_000;
/** Steps of one saga at most. */
export const saga_steps_max = 32;
/** The longest a step's action may run before the runner treats it as unfinished. */
export const step_timeout_ms_max = 60 * 60 * 1_000;

/** `first_delay_ms` before the first retry, doubled for each one after it, never more than `delay_max_ms`. */
export function doublingRetry(policy: { readonly first_delay_ms: number; readonly delay_max_ms: number; readonly tries_max: number }): RetryPolicy {
  assert(Number.isSafeInteger(policy.first_delay_ms) && policy.first_delay_ms >= 0, 'first_delay_ms is a non-negative integer');
  assert(Number.isSafeInteger(policy.delay_max_ms) && policy.delay_max_ms >= policy.first_delay_ms && policy.delay_max_ms <= saga_delay_ms_max, 'delay_max_ms is at least first_delay_ms and at most a week');
  assert(Number.isSafeInteger(policy.tries_max) && policy.tries_max >= 1 && policy.tries_max <= saga_tries_max, 'tries_max is a positive integer');
  return {
    tries_max: policy.tries_max,
    delayMs: (retry) => {
      let delay_ms = policy.first_delay_ms;
      for (let count = 1; count < retry && delay_ms < policy.delay_max_ms; count += 1) delay_ms *= 2;
      return Math.min(delay_ms, policy.delay_max_ms);
    },
  };
}

/**
 * A fixed schedule: retry number n waits `delays_ms[n - 1]`, lengthened by a random amount up to
 * `jitter_percent` of it, so that the retries of work that failed together (a receiver's outage)
 * do not all come back at the same instant. The jitter only ever adds, so the schedule is the
 * shortest time the step keeps trying. The step gets `delays_ms.length + 1` tries.
 */
export function scheduledRetry(policy: { readonly delays_ms: readonly number[]; readonly jitter_percent: number }): RetryPolicy {
  const delays_ms = [...policy.delays_ms];
  assert(delays_ms.length < saga_tries_max, 'a retry schedule is shorter than saga_tries_max');
  for (const delay_ms of delays_ms) assert(Number.isSafeInteger(delay_ms) && delay_ms >= 0 && delay_ms <= saga_delay_ms_max, 'scheduled delays are integers of milliseconds from 0 to a week');
  assert(Number.isSafeInteger(policy.jitter_percent) && policy.jitter_percent >= 0 && policy.jitter_percent <= 100, 'jitter_percent is 0 to 100');
  return {
    tries_max: delays_ms.length + 1,
    delayMs: (retry, random) => {
      const base_ms = delays_ms[retry - 1];
      assert(base_ms !== undefined, 'a scheduled retry is within its schedule');
      const jitter_span_ms = Math.floor((base_ms * policy.jitter_percent) / 100);
      return base_ms + Math.min(jitter_span_ms, Math.floor(random() * (jitter_span_ms + 1)));
    },
  };
}

/** One try and no retry: a step whose failure is final at once. */
export const no_retry: RetryPolicy = { tries_max: 1, delayMs: () => 0 };

export type StepResult<Output> =
  | { readonly kind: 'next'; readonly output: Output; readonly compensation_input: unknown }
  | { readonly kind: 'retry'; readonly reason: string; readonly delay_at_least_ms: number }
  | { readonly kind: 'wait'; readonly reason: string; readonly until_ms: number | null }
  | { readonly kind: 'stop'; readonly reason: string }
  | { readonly kind: 'fail'; readonly reason: string };

/** The step is done. `compensation_input` is what its compensation needs to undo it (an id), if anything. */
export function next<Output>(output: Output, compensation_input?: unknown): StepResult<Output> {
  return { kind: 'next', output, compensation_input: compensation_input ?? null };
}

/** The step could not finish; try again after the backoff, and after at least `delay_at_least_ms` (a receiver's Retry-After). */
export function retry(reason: string, delay_at_least_ms = 0): StepResult<never> {
  assert(Number.isSafeInteger(delay_at_least_ms) && delay_at_least_ms >= 0 && delay_at_least_ms <= saga_delay_ms_max, 'a retry waits 0 ms to a week');
  return { kind: 'retry', reason, delay_at_least_ms };
}

/** Nothing failed; come back at `until_ms`, or only when something outside takes the run over (null). */
export function wait(reason: string, until_ms: number | null): StepResult<never> {
  assert(until_ms === null || Number.isSafeInteger(until_ms), 'a wait ends at an integer time in milliseconds, or never by itself');
  return { kind: 'wait', reason, until_ms };
}

/** What the run was for is gone: end it as canceled, with nothing to undo. */
export function stop(reason: string): StepResult<never> {
  return { kind: 'stop', reason };
}

/** The step failed for good: undo the steps before it. */
export function fail(reason: string): StepResult<never> {
  return { kind: 'fail', reason };
}

/**
 * What the runner decided about a step's result, as the step's `record` sees it: a retry past the
 * step's last try has become a failure (`retries_exhausted`), and a retry carries the time it is due.
 */
export type StepOutcome<Output> =
  | { readonly kind: 'next'; readonly output: Output }
  | { readonly kind: 'retry'; readonly reason: string; readonly due_ms: number }
  | { readonly kind: 'wait'; readonly reason: string; readonly until_ms: number | null }
  | { readonly kind: 'stop'; readonly reason: string }
  | { readonly kind: 'fail'; readonly reason: string };

export interface StepContext<Input, Context> {
  readonly run_id: string;
  readonly input: Input;
  /** The service's state for this run: carried by the caller that drives it, or loaded by the saga. */
  readonly context: Context;
  /** Outputs of the steps done so far, by step name. */
  readonly outputs: Readonly<Record<string, unknown>>;
  /** Results of this step that were retries or waits, in a row, before this try. */
  readonly tries: number;
  /**
   * False for the holder that started the run (or took it over with news, see SagaRunner.takeOver):
   * it knows nothing was tried yet. True for a holder that took the run over after a lease ran
   * out: an earlier holder may have acted and died before recording, so an outside call should
   * ask what became of it before repeating it.
   */
  readonly resumed: boolean;
  /** Aborted when the step's timeout passes. */
  readonly signal: AbortSignal;
  readonly now_ms: number;
}

export interface RecordContext<Input, Context> {
  readonly run_id: string;
  readonly input: Input;
  readonly context: Context;
  readonly now_ms: number;
}

export interface SagaStep<Input, Context, Output = unknown> {
  readonly name: string;
  readonly action: (step: StepContext<Input, Context>) => Promise<StepResult<Output>>;
  /**
   * Undoes a done step, given the smallest input it needs (what the action handed back as
   * `compensation_input`, an id). It must be idempotent, because the runner calls it again after a
   * crash, and do nothing when given nothing (null). The runner itself passes over a step that
   * handed back nothing: such a step had nothing to undo, and no commit is spent on it.
   */
  readonly compensation: ((compensation_input: unknown, step: { readonly run_id: string; readonly signal: AbortSignal }) => Promise<void>) | undefined;
  /** The service's own writes for a result, in the commit that records it. */
  readonly record: ((transaction: Database, outcome: StepOutcome<Output>, step: RecordContext<Input, Context>) => Promise<void>) | undefined;
  readonly retry: RetryPolicy;
  readonly timeout_ms: number;
  /** Whether the runner commits once this step is done; see the file's header. */
  readonly checkpoint: boolean;
}

export interface SagaDefinition<Input, Context> {
  readonly name: string;
  readonly steps: readonly SagaStep<Input, Context>[];
  /**
   * The service's state for a run that a runner leased (recovery), when the caller carried none.
   * Undefined means what the run was for is gone: the run is canceled.
   */
  readonly load: (run_id: string, input: Input, database: Database) => Promise<Context | undefined>;
}

const name_pattern = /^[a-z][a-z0-9_]{0,62}$/;

/** Declares one step; see the file's header for what each part means. */
export function defineStep<Input, Context, Output>(step: {
  readonly name: string;
  readonly action: (step: StepContext<Input, Context>) => Promise<StepResult<Output>>;
  readonly compensation?: (compensation_input: unknown, step: { readonly run_id: string; readonly signal: AbortSignal }) => Promise<void>;
  readonly record?: (transaction: Database, outcome: StepOutcome<Output>, step: RecordContext<Input, Context>) => Promise<void>;
  readonly retry: RetryPolicy;
  readonly timeout_ms: number;
  readonly checkpoint?: boolean;
}): SagaStep<Input, Context> {
  assert(name_pattern.test(step.name), 'a step name is lower_snake_case');
  assert(Number.isSafeInteger(step.timeout_ms) && step.timeout_ms > 0 && step.timeout_ms <= step_timeout_ms_max, 'a step timeout is 1 ms to an hour');
  assert(Number.isSafeInteger(step.retry.tries_max) && step.retry.tries_max >= 1 && step.retry.tries_max <= saga_tries_max, 'a step has 1 to saga_tries_max tries');
  return {
    name: step.name,
    action: step.action,
    compensation: step.compensation,
    // The runner carries each step's output untyped between steps; the step's own code is typed.
    record: step.record as SagaStep<Input, Context>['record'],
    retry: step.retry,
    timeout_ms: step.timeout_ms,
    checkpoint: step.checkpoint ?? true,
  };
}

/** Declares a saga: a name, its steps in order, and how to load a run's state in recovery. */
export function defineSaga<Input, Context>(saga: SagaDefinition<Input, Context>): SagaDefinition<Input, Context> {
  assert(name_pattern.test(saga.name), 'a saga name is lower_snake_case');
  assert(saga.steps.length >= 1 && saga.steps.length <= saga_steps_max, 'a saga has 1 to saga_steps_max steps');
  const names = new Set(saga.steps.map((step) => step.name));
  assert(names.size === saga.steps.length, 'the steps of a saga have different names');
  return saga;
}
