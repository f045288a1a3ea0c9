// The runner: leases runs of one saga from the owning service's database and moves them through
// the saga's steps, recording every change as a fenced write with an appended transition.
//
// - Leases. A run is held by one holder at a time: its fence (a number that grows with every new
//   holder) and a lease (due_ms). Whoever starts a run holds it first; a run whose lease ran out, or
//   whose retry or wait time came, is leased again by any runner (`leaseDue`, in bounded batches),
//   with the next fence. Every write a holder makes is conditional on its fence, so a holder that
//   was taken over (it was slow, or its process died and came back) can never record anything.
// - Renewal. While a holder drives a run it renews the lease every `lease_renewal_interval_ms`
//   with a fenced write, so a live holder keeps its run however long its steps take, and the run
//   of a holder that died is due one short lease after its last renewal.
// - Crash-resume. A run's row says which step comes next and what the done steps handed back; a new
//   holder continues from there. Steps declared without a checkpoint are run again after a crash
//   (they must be idempotent); every other step's result, and the service's writes for it, are
//   committed together before the next step starts, so none of them is applied twice.
// - Failure. A step whose result is `fail`, or whose retries are spent, ends the forward path; the
//   compensations of the done steps then run newest first, each given what its step handed back
//   and recorded as it finishes, so a crash in the middle resumes the undoing where it stopped. A
//   step that handed back nothing has nothing to undo and is passed over.
import { randomBytes } from 'node:crypto';
import { assert, isAssertionError } from '../assert';
import { systemClock, type Clock } from '../clock';
import type { Database } from '../db/database';
import type { GroupCommitter } from '../db/group-commit';
import { type RandomSource, type SagaDefinition, type SagaStep, type StepOutcome, type StepResult } from './definition';
import {
  appendTransitions,
  cancelRun,
  finished_run_statuses,
  findRun,
  insertRun,
  isRunTransitionAllowed,
  leaseDueRuns,
  leaseRunIfDue,
  listTransitions,
  renewRunLease,
  takeOverRun,
  updateRun,
  type RunRecord,
  type RunStatus,
  type StepRecord,
  type TransitionRecord,
} from './store';

/** Runs one lease takes at most; a pass that finds more leaves them to the next. */
export const saga_lease_batch_max = 1_000;
/** A transition's reason is cut to this many characters (it may hold a party's error message). */
export const transition_reason_length_max = 500;
/**
 * Renewals a lease lasts at least. A holder renews every interval; with three to a lease, one
 * renewal may fail (a dropped connection) and the next still lands in time if its write takes
 * less than one more interval. So a lease must be at least three times a database write's worst
 * case, and that, not the steps' timeouts, is what a service chooses its lease against.
 */
export const saga_lease_renewals_min = 3;

export type SagaLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/** A run held by this holder: drive it before the lease runs out. */
export interface Lease {
  readonly run: RunRecord;
  /** See StepContext.resumed. */
  readonly resumed: boolean;
}

export interface DriveOutcome {
  readonly run_id: string;
  /** Where the run stands after this drive; `fenced` when another holder took it over meanwhile. */
  readonly status: RunStatus | 'fenced';
  readonly step: string;
  /** Why it stopped where it did (a retry's or failure's reason), if it did not succeed. */
  readonly reason: string | null;
}

export interface SagaRunnerOptions<Input, Context> {
  readonly saga: SagaDefinition<Input, Context>;
  readonly database: Database;
  /** The service's group committer: the runner's commits then share the service's. */
  readonly commits?: GroupCommitter;
  readonly clock?: Clock;
  /**
   * How long a holder owns a run past its last renewal: a dead holder's run is due this long after
   * the holder stopped renewing. At least saga_lease_renewals_min renewal intervals.
   */
  readonly lease_ms: number;
  /** How often a holder renews the lease of a run it drives; lease_ms / saga_lease_renewals_min by default. */
  readonly lease_renewal_interval_ms?: number;
  readonly random?: RandomSource;
  /** Who this runner is, in leases and transitions (a random name by default). */
  readonly holder?: string;
  readonly log?: SagaLog;
}

/** A step's action, or a compensation, ran past the step's timeout. */
class StepTimeout extends Error {
  override readonly name = 'StepTimeout';
}

/** A holder's commit, or a renewal of its lease, found the run's fence moved on. */
class FenceLost extends Error {
  override readonly name = 'FenceLost';
}

/** The renewals of one drive's lease, from the drive's start to its end, whichever way it ends. */
interface LeaseRenewal {
  /** Aborted when a renewal finds the run taken over: the drive's step in flight is abandoned. */
  readonly taken_over: AbortSignal;
  /** Stops renewing, and waits for a renewal in flight, so that nothing is written after the drive. */
  stop(): Promise<void>;
}

interface PendingRecord<Input, Context> {
  readonly step: SagaStep<Input, Context>;
  readonly outcome: StepOutcome<unknown>;
}

function reasonOf(reason: string): string {
  return reason.length <= transition_reason_length_max ? reason : reason.slice(0, transition_reason_length_max);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class SagaRunner<Input, Context> {
  readonly #saga: SagaDefinition<Input, Context>;
  readonly #database: Database;
  readonly #commits: GroupCommitter | undefined;
  readonly #clock: Clock;
  readonly #lease_ms: number;
  readonly #lease_renewal_interval_ms: number;
  readonly #random: RandomSource;
  readonly #holder: string;
  readonly #log: SagaLog;
  readonly #index_of_step: ReadonlyMap<string, number>;

  constructor(options: SagaRunnerOptions<Input, Context>) {
    this.#saga = options.saga;
    this.#database = options.database;
    this.#commits = options.commits;
    this.#clock = options.clock ?? systemClock;
    this.#lease_ms = options.lease_ms;
    this.#lease_renewal_interval_ms = options.lease_renewal_interval_ms ?? Math.floor(options.lease_ms / saga_lease_renewals_min);
    this.#random = options.random ?? Math.random;
    this.#holder = options.holder ?? `runner_${randomBytes(8).toString('hex')}`;
    this.#log = options.log ?? (() => undefined);
    this.#index_of_step = new Map(options.saga.steps.map((step, index) => [step.name, index]));
    assert(Number.isSafeInteger(this.#lease_ms) && this.#lease_ms > 0, 'a saga lease is a positive integer of milliseconds');
    assert(Number.isSafeInteger(this.#lease_renewal_interval_ms) && this.#lease_renewal_interval_ms > 0, 'a saga lease renewal interval is a positive integer of milliseconds');
    // A live holder keeps its run however long its steps take, because it renews the lease; what
    // must hold is that it cannot lose the lease between two renewals (see saga_lease_renewals_min).
    assert(
      this.#lease_ms >= saga_lease_renewals_min * this.#lease_renewal_interval_ms,
      `the lease of saga ${options.saga.name} lasts at least saga_lease_renewals_min renewal intervals`,
    );
  }

  get saga(): SagaDefinition<Input, Context> {
    return this.#saga;
  }

  get holder(): string {
    return this.#holder;
  }

  /**
   * Records a new run in the caller's transaction, with the service's own rows for it, and returns
   * its lease: `running` (the default) is held by the caller, who drives it once the transaction
   * has committed; `ready` is left to whichever runner leases it first; `waiting` is parked until
   * `due_ms` (never by itself when null: only a takeover moves it).
   */
  async start(
    transaction: Database,
    run: { readonly id: string; readonly input: Input; readonly status?: 'running' | 'ready' | 'waiting'; readonly due_ms?: number | null },
  ): Promise<Lease> {
    const now_ms = this.#clock.now();
    const status = run.status ?? 'running';
    const first = this.#saga.steps[0];
    assert(first !== undefined, 'a saga has a first step');
    const due_ms = status === 'running' ? now_ms + this.#lease_ms : status === 'ready' ? (run.due_ms ?? now_ms) : (run.due_ms ?? null);
    const record: RunRecord = {
      id: run.id,
      saga: this.#saga.name,
      step: first.name,
      status,
      fence: 1,
      tries: 0,
      due_ms,
      holder: status === 'running' ? this.#holder : null,
      input: run.input,
      outputs: {},
      error: null,
      created_ms: now_ms,
      updated_ms: now_ms,
    };
    await insertRun(transaction, record);
    await appendTransitions(transaction, [this.#transition(null, record, 'started', now_ms)]);
    return { run: record, resumed: false };
  }

  /** Leases up to `limit` due runs (their lease ran out, or their retry or wait time came). */
  async leaseDue(limit: number): Promise<Lease[]> {
    assert(Number.isSafeInteger(limit) && limit >= 1 && limit <= saga_lease_batch_max, 'a lease takes 1 to saga_lease_batch_max runs');
    const now_ms = this.#clock.now();
    const runs = await this.#inTransaction((transaction) =>
      leaseDueRuns(transaction, { saga: this.#saga.name, now_ms, limit, lease_ms: this.#lease_ms, holder: this.#holder }),
    );
    return runs.map((run) => ({ run, resumed: true }));
  }

  /**
   * Leases one run if it is due, as `leaseDue` would (a resumed lease): for a retry under the same
   * idempotency key that finds the first sender dead. In the caller's transaction when given one.
   */
  async leaseIfDue(id: string, options: { readonly transaction?: Database } = {}): Promise<Lease | undefined> {
    const lease = (transaction: Database) => leaseRunIfDue(transaction, { id, now_ms: this.#clock.now(), lease_ms: this.#lease_ms, holder: this.#holder });
    const run = options.transaction === undefined ? await this.#inTransaction(lease) : await lease(options.transaction);
    return run === undefined ? undefined : { run, resumed: true };
  }

  /**
   * Takes an unfinished run over at once, whatever its lease, because news settles what it waits
   * for (a provider's verified notification, money that arrived): its holder is fenced out, and the
   * new holder drives it with the news in its context. Only a run at one of `at_steps` is taken.
   * In the caller's transaction when given one (with the service's writes for the news).
   */
  async takeOver(id: string, options: { readonly at_steps?: readonly string[]; readonly reason: string; readonly transaction?: Database }): Promise<Lease | undefined> {
    const take = (transaction: Database) =>
      takeOverRun(transaction, { id, now_ms: this.#clock.now(), lease_ms: this.#lease_ms, holder: this.#holder, at_steps: options.at_steps, reason: options.reason });
    const run = options.transaction === undefined ? await this.#inTransaction(take) : await take(options.transaction);
    return run === undefined ? undefined : { run, resumed: false };
  }

  /** Ends an unfinished run as canceled in the caller's transaction, fencing out its holder. */
  async cancel(transaction: Database, id: string, reason: string): Promise<boolean> {
    return cancelRun(transaction, { id, now_ms: this.#clock.now(), reason: reasonOf(reason), holder: this.#holder });
  }

  async find(id: string, database: Database = this.#database): Promise<RunRecord | undefined> {
    return findRun(database, id);
  }

  async transitions(id: string, database: Database = this.#database): Promise<TransitionRecord[]> {
    return listTransitions(database, id);
  }

  /** Leases due runs and drives them one after another; for recovery passes. */
  async runDue(limit: number): Promise<DriveOutcome[]> {
    const outcomes: DriveOutcome[] = [];
    for (const lease of await this.leaseDue(limit)) outcomes.push(await this.drive(lease));
    return outcomes;
  }

  /**
   * Moves a held run as far as it can go: until it finishes, parks (a retry or a wait), or finds
   * it was taken over. `context` is the service's state for the run when the caller has it (the
   * request that started it); without it the saga loads it.
   */
  async drive(lease: Lease, context?: Context): Promise<DriveOutcome> {
    assert(lease.run.saga === this.#saga.name, `a run of saga ${lease.run.saga} was given to the runner of ${this.#saga.name}`);
    if (lease.run.status !== 'running' && lease.run.status !== 'compensating') return this.#outcome(lease.run, lease.run.error);
    const renewal = this.#renewLease(lease.run);
    try {
      return await this.#driveHeld(lease, context, renewal.taken_over);
    } finally {
      await renewal.stop();
    }
  }

  /** `drive` with the lease being renewed; `taken_over` is aborted when a renewal finds it taken. */
  async #driveHeld(lease: Lease, context: Context | undefined, taken_over: AbortSignal): Promise<DriveOutcome> {
    let recorded = lease.run;
    let carried: Context;
    if (context === undefined) {
      const loaded = await this.#saga.load(recorded.id, recorded.input as Input, this.#database);
      if (loaded === undefined) {
        const now_ms = this.#clock.now();
        const canceled: RunRecord = { ...recorded, status: 'canceled', due_ms: null, error: 'work_item_missing', updated_ms: now_ms };
        const written = await this.#commit(recorded, canceled, [], 'work_item_missing', undefined);
        return written ? this.#outcome(canceled, 'work_item_missing') : this.#fenced(recorded);
      }
      carried = loaded;
    } else {
      carried = context;
    }
    let current = recorded;
    let pending: PendingRecord<Input, Context>[] = [];
    // Each round either moves to the next step, undoes one, or returns: a bound for the loop.
    const rounds_max = this.#saga.steps.length * 2 + 2;
    for (let round = 0; round < rounds_max; round += 1) {
      if (current.status === 'compensating') {
        const compensated = await this.#compensateOne(recorded, carried, taken_over);
        if (compensated === 'fenced') return this.#fenced(recorded);
        recorded = compensated;
        current = compensated;
        // A compensation that must be retried parks the run; one that finished moves to the next.
        if (compensated.status !== 'compensating' || compensated.tries > 0) return this.#outcome(compensated, compensated.error);
        continue;
      }
      const index = this.#indexOf(current.step);
      const step = this.#saga.steps[index];
      assert(step !== undefined, 'a run names a step of its saga');
      const result = await this.#runAction(step, current, carried, lease.resumed, taken_over);
      if (result === 'fenced') return this.#fenced(recorded);
      const now_ms = this.#clock.now();
      if (result.kind === 'next') {
        const outputs: Record<string, StepRecord> = { ...current.outputs, [step.name]: { output: result.output, compensation_input: result.compensation_input, compensated: false } };
        pending.push({ step, outcome: { kind: 'next', output: result.output } });
        const following = this.#saga.steps[index + 1];
        const next: RunRecord =
          following === undefined
            ? { ...current, status: 'succeeded', tries: 0, due_ms: null, outputs, error: null, updated_ms: now_ms }
            : { ...current, step: following.name, status: 'running', tries: 0, due_ms: now_ms + this.#lease_ms, outputs, error: null, updated_ms: now_ms };
        if (following !== undefined && !step.checkpoint) {
          // Carried to the next commit; see the header of definition.ts.
          current = next;
          continue;
        }
        if (!(await this.#commit(recorded, next, pending, following === undefined ? 'succeeded' : `done:${step.name}`, carried))) return this.#fenced(recorded);
        recorded = next;
        current = next;
        pending = [];
        if (following === undefined) return this.#outcome(next, null);
        continue;
      }
      const resolved = this.#resolve(step, current, result, now_ms);
      pending.push({ step, outcome: resolved.outcome });
      const next = resolved.next;
      if (!(await this.#commit(recorded, next, pending, resolved.reason, carried))) return this.#fenced(recorded);
      recorded = next;
      current = next;
      pending = [];
      if (next.status !== 'compensating') return this.#outcome(next, next.error);
    }
    this.#log('error', 'a saga run took more rounds than its steps allow', { saga: this.#saga.name, run: recorded.id });
    return this.#outcome(recorded, 'rounds_exhausted');
  }

  /** What a retry, wait, stop or failure makes of the run. */
  #resolve(step: SagaStep<Input, Context>, current: RunRecord, result: Exclude<StepResult<unknown>, { kind: 'next' }>, now_ms: number): { next: RunRecord; outcome: StepOutcome<unknown>; reason: string } {
    const tries = current.tries + 1;
    switch (result.kind) {
      case 'retry': {
        if (tries < step.retry.tries_max) {
          const due_ms = now_ms + Math.max(step.retry.delayMs(tries, this.#random), result.delay_at_least_ms);
          const reason = reasonOf(result.reason);
          return { next: { ...current, status: 'retrying', tries, due_ms, holder: null, error: reason, updated_ms: now_ms }, outcome: { kind: 'retry', reason, due_ms }, reason: `retry:${reason}` };
        }
        return this.#failed(step, current, reasonOf(`retries_exhausted:${result.reason}`), now_ms);
      }
      case 'wait': {
        const reason = reasonOf(result.reason);
        return {
          next: { ...current, status: 'waiting', tries, due_ms: result.until_ms, holder: null, error: null, updated_ms: now_ms },
          outcome: { kind: 'wait', reason, until_ms: result.until_ms },
          reason: `wait:${reason}`,
        };
      }
      case 'stop': {
        const reason = reasonOf(result.reason);
        return { next: { ...current, status: 'canceled', due_ms: null, holder: null, error: reason, updated_ms: now_ms }, outcome: { kind: 'stop', reason }, reason: `stop:${reason}` };
      }
      case 'fail':
        return this.#failed(step, current, reasonOf(result.reason), now_ms);
    }
  }

  /** A failed step: undo the done steps that have a compensation, newest first, or end as failed. */
  #failed(step: SagaStep<Input, Context>, current: RunRecord, reason: string, now_ms: number): { next: RunRecord; outcome: StepOutcome<unknown>; reason: string } {
    const undo = this.#nextToCompensate(current, this.#indexOf(step.name));
    const next: RunRecord =
      undo === undefined
        ? { ...current, status: 'failed', due_ms: null, holder: null, error: reason, updated_ms: now_ms }
        : { ...current, step: undo.name, status: 'compensating', tries: 0, due_ms: now_ms + this.#lease_ms, error: reason, updated_ms: now_ms };
    return { next, outcome: { kind: 'fail', reason }, reason: `fail:${reason}` };
  }

  /**
   * The newest done step before `before_index` whose compensation has not run. A step that handed
   * back nothing (null) has nothing to undo, so it is passed over rather than called with nothing.
   */
  #nextToCompensate(run: RunRecord, before_index: number): SagaStep<Input, Context> | undefined {
    for (let index = before_index - 1; index >= 0; index -= 1) {
      const step = this.#saga.steps[index];
      assert(step !== undefined);
      const done = run.outputs[step.name];
      if (step.compensation !== undefined && done !== undefined && !done.compensated && done.compensation_input !== null) return step;
    }
    return undefined;
  }

  /** Runs the compensation of the run's current step, and records it (or its retry). */
  async #compensateOne(recorded: RunRecord, carried: Context, taken_over: AbortSignal): Promise<RunRecord | 'fenced'> {
    const index = this.#indexOf(recorded.step);
    const step = this.#saga.steps[index];
    assert(step?.compensation !== undefined, 'a compensating run names a step with a compensation');
    const done = recorded.outputs[step.name];
    assert(done !== undefined, 'a compensated step was done');
    let failure: string | undefined;
    const controller = new AbortController();
    try {
      await this.#withTimeout(step.compensation(done.compensation_input, { run_id: recorded.id, signal: controller.signal }), step.timeout_ms, controller, taken_over);
    } catch (error) {
      if (isAssertionError(error)) throw error;
      if (error instanceof FenceLost) return 'fenced';
      failure = error instanceof StepTimeout ? 'timeout' : messageOf(error);
    }
    const now_ms = this.#clock.now();
    let next: RunRecord;
    let reason: string;
    if (failure === undefined) {
      const outputs = { ...recorded.outputs, [step.name]: { ...done, compensated: true } };
      const undo = this.#nextToCompensate({ ...recorded, outputs }, index);
      next =
        undo === undefined
          ? { ...recorded, outputs, status: 'compensated', tries: 0, due_ms: null, holder: null, updated_ms: now_ms }
          : { ...recorded, outputs, step: undo.name, tries: 0, due_ms: now_ms + this.#lease_ms, updated_ms: now_ms };
      reason = `compensated:${step.name}`;
    } else {
      const tries = recorded.tries + 1;
      reason = reasonOf(`compensation_failed:${step.name}:${failure}`);
      next =
        tries < step.retry.tries_max
          ? { ...recorded, tries, due_ms: now_ms + step.retry.delayMs(tries, this.#random), holder: null, updated_ms: now_ms }
          : { ...recorded, status: 'failed', tries, due_ms: null, holder: null, error: reason, updated_ms: now_ms };
      if (next.status === 'failed') this.#log('error', 'a saga compensation failed for good; it needs a person', { saga: this.#saga.name, run: recorded.id, step: step.name, error: failure });
    }
    return (await this.#commit(recorded, next, [], reason, carried)) ? next : 'fenced';
  }

  /** Runs a step's action; 'fenced' when a renewal found the run taken over while it ran. */
  async #runAction(step: SagaStep<Input, Context>, run: RunRecord, context: Context, resumed: boolean, taken_over: AbortSignal): Promise<StepResult<unknown> | 'fenced'> {
    const controller = new AbortController();
    try {
      return await this.#withTimeout(
        step.action({
          run_id: run.id,
          input: run.input as Input,
          context,
          outputs: Object.fromEntries(Object.entries(run.outputs).map(([name, done]) => [name, done.output])),
          tries: run.tries,
          resumed,
          signal: controller.signal,
          now_ms: this.#clock.now(),
        }),
        step.timeout_ms,
        controller,
        taken_over,
      );
    } catch (error) {
      // A bug ends the process; anything else thrown is a step that could not finish.
      if (isAssertionError(error)) throw error;
      if (error instanceof FenceLost) return 'fenced';
      if (error instanceof StepTimeout) return { kind: 'retry', reason: `timeout after ${step.timeout_ms} ms`, delay_at_least_ms: 0 };
      this.#log('warn', 'a saga step could not finish; it is retried', { saga: this.#saga.name, run: run.id, step: step.name, error: messageOf(error) });
      return { kind: 'retry', reason: messageOf(error), delay_at_least_ms: 0 };
    }
  }

  /**
   * Waits for a step's work until its timeout (StepTimeout) or until a renewal finds the run taken
   * over (FenceLost), aborting the step's signal either way.
   *
   * A step of a holder that was taken over is abandoned at once rather than left to finish. Its
   * result could not be recorded (the fence refuses the commit), and the new holder repeats the
   * work or asks what became of it (derived ids, `resumed`), so finishing it would only hold a
   * connection, a delivery slot or a provider call open, and keep two holders acting at once for
   * longer. Aborting stops the waiting, not what a party already did: the new holder finds that
   * out, as it does after a timeout.
   */
  async #withTimeout<T>(work: Promise<T>, timeout_ms: number, controller: AbortController, taken_over: AbortSignal): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    let abandon: (() => void) | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new StepTimeout());
      }, timeout_ms);
      abandon = () => {
        controller.abort();
        reject(new FenceLost());
      };
      if (taken_over.aborted) abandon();
      else taken_over.addEventListener('abort', abandon, { once: true });
    });
    try {
      return await Promise.race([work, deadline]);
    } finally {
      clearTimeout(timer);
      if (abandon !== undefined) taken_over.removeEventListener('abort', abandon);
    }
  }

  /**
   * Renews the lease of a run being driven every lease_renewal_interval_ms, fenced, until `stop`.
   * A renewal still writing when the next is due is not doubled: that interval is skipped. One that
   * fails (the database unreachable) is logged and tried again at the next interval; the lease
   * survives one such failure (saga_lease_renewals_min). One that finds the fence taken, the run
   * canceled or finished aborts `taken_over` and renews no more. The timer is unref'd: a drive in
   * flight never keeps a process alive that is otherwise done.
   */
  #renewLease(run: RunRecord): LeaseRenewal {
    const taken_over = new AbortController();
    let stopped = false;
    let in_flight: Promise<void> | undefined;
    const renew = async (): Promise<void> => {
      const due_ms = this.#clock.now() + this.#lease_ms;
      try {
        const held = await this.#inTransaction((transaction) => renewRunLease(transaction, { id: run.id, fence: run.fence, due_ms }));
        // After `stop`, a renewal that finds the run parked or finished met the drive's own last
        // commit, not another holder.
        if (held || stopped) return;
        clearInterval(timer);
        taken_over.abort();
        this.#log('info', 'a saga run was taken over while its holder drove it; its step in flight is abandoned', { saga: this.#saga.name, run: run.id, fence: run.fence });
      } catch (error) {
        if (isAssertionError(error)) throw error;
        this.#log('warn', 'a saga lease could not be renewed; the next renewal tries again', { saga: this.#saga.name, run: run.id, error: messageOf(error) });
      }
    };
    const timer = setInterval(() => {
      if (in_flight !== undefined) return;
      in_flight = renew().finally(() => {
        in_flight = undefined;
      });
    }, this.#lease_renewal_interval_ms);
    timer.unref();
    return {
      taken_over: taken_over.signal,
      stop: async () => {
        stopped = true;
        clearInterval(timer);
        await in_flight;
      },
    };
  }

  /**
   * Writes the run's new state (fenced by the holder's fence), appends its transition, and runs
   * the steps' own writes, in one commit. Returns false when the fence had moved on: then nothing
   * of it was written.
   */
  async #commit(recorded: RunRecord, next: RunRecord, records: readonly PendingRecord<Input, Context>[], reason: string, context: Context | undefined): Promise<boolean> {
    assert(next.status === recorded.status || isRunTransitionAllowed(recorded.status, next.status), `saga run ${recorded.status} → ${next.status} is not in the table`);
    const now_ms = next.updated_ms;
    const work = async (transaction: Database) => {
      if (!(await updateRun(transaction, next, recorded.fence))) throw new FenceLost();
      await appendTransitions(transaction, [this.#transition(recorded, next, reason, now_ms)]);
      for (const { step, outcome } of records) {
        if (step.record === undefined) continue;
        assert(context !== undefined, 'a step with writes has its context');
        await step.record(transaction, outcome, { run_id: next.id, input: next.input as Input, context, now_ms });
      }
    };
    try {
      await this.#inTransaction(work);
      return true;
    } catch (error) {
      if (error instanceof FenceLost) return false;
      throw error;
    }
  }

  /**
   * Runs `work` in the service's group commit, or in a transaction of its own. A shared commit that
   * failed as a whole (on PostgreSQL, a deadlock with another process's batch aborts it) left
   * nothing durable, so the work is run once more alone.
   */
  async #inTransaction<T>(work: (transaction: Database) => Promise<T>): Promise<T> {
    if (this.#commits === undefined) return this.#database.transaction(work);
    try {
      return await this.#commits.run(work);
    } catch (error) {
      if (isAssertionError(error) || error instanceof FenceLost) throw error;
    }
    return this.#database.transaction(work);
  }

  #transition(from: RunRecord | null, to: RunRecord, reason: string, now_ms: number): TransitionRecord {
    return {
      run_id: to.id,
      saga: to.saga,
      fence: to.fence,
      from_step: from?.step ?? null,
      to_step: to.step,
      from_status: from?.status ?? null,
      to_status: to.status,
      reason: reasonOf(reason),
      holder: this.#holder,
      created_ms: now_ms,
    };
  }

  #indexOf(step: string): number {
    const index = this.#index_of_step.get(step);
    assert(index !== undefined, `saga ${this.#saga.name} has no step ${step}`);
    return index;
  }

  #outcome(run: RunRecord, reason: string | null): DriveOutcome {
    return { run_id: run.id, status: run.status, step: run.step, reason };
  }

  #fenced(run: RunRecord): DriveOutcome {
    return { run_id: run.id, status: 'fenced', step: run.step, reason: 'taken_over' };
  }
}

/** Whether a run has finished. */
export function isRunFinished(run: RunRecord): boolean {
  return finished_run_statuses.includes(run.status);
}
