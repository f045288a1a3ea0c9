import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock';
import type { Database, ServiceDatabase } from '../db/database';
import { GroupCommitter } from '../db/group-commit';
import { openDatabase } from '../db/open-database';
import { createPostgresPool } from '../db/postgres';
import { createPostgresDatabase } from '../db/postgres-database';
import { describeWithPostgres, temporaryDirectory, withTemporarySchema } from '../testing';
import {
  defineSaga,
  defineStep,
  doublingRetry,
  fail,
  next,
  no_retry,
  retry,
  scheduledRetry,
  stop,
  wait,
  type SagaDefinition,
  type StepContext,
  type StepResult,
} from './definition';
import { SagaRunner, type DriveOutcome, type Lease } from './runner';
import { findRun, listTransitions, sagaMigration, type RunRecord } from './store';

const lease_ms = 60_000;
const step_timeout_ms = 5_000;
/**
 * The renewal interval of the heartbeat tests, in real milliseconds, while leases run on the
 * manual clock: a test moves the clock past a lease and sees within real milliseconds whether a
 * renewal followed.
 */
const renewal_interval_ms = 10;
/** How long a heartbeat test waits for what a renewal must have done by then. */
const renewal_wait_ms_max = 5_000;
const step_names = ['reserve', 'charge', 'ship', 'notify'] as const;
type StepName = (typeof step_names)[number];

/**
 * Stands in for the parties a saga calls: each effect is applied once per key, as a ledger applies
 * a transfer once per derived id, and every call is counted, so a test can tell a step that ran
 * twice (allowed, if it is idempotent) from an effect applied twice (never allowed).
 */
class World {
  readonly calls = new Map<string, number>();
  readonly applied = new Map<string, string>();

  apply(key: string, what: string): void {
    this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
    if (!this.applied.has(key)) this.applied.set(key, what);
  }

  undo(key: string): void {
    this.calls.set(`undo:${key}`, (this.calls.get(`undo:${key}`) ?? 0) + 1);
    this.applied.delete(key);
  }
}

/** A process dying at this point: the runner treats it as a bug and records nothing more. */
class SimulatedCrash extends Error {
  override readonly name = 'AssertionError';
}

interface Context {
  readonly order: string;
}

/** Resolves once `check` holds, looking every few milliseconds; fails after renewal_wait_ms_max. */
async function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline_ms = Date.now() + renewal_wait_ms_max;
  while (!(await check())) {
    if (Date.now() > deadline_ms) throw new Error(`${what} did not happen within ${renewal_wait_ms_max} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * The saga with `ship` given far longer than any heartbeat test waits, so that what ends a step in
 * flight there is its holder being taken over, never its timeout.
 */
function patientShip(saga: SagaDefinition<{ order: string }, Context>): SagaDefinition<{ order: string }, Context> {
  return defineSaga({ ...saga, steps: saga.steps.map((step) => (step.name === 'ship' ? { ...step, timeout_ms: 20 * renewal_wait_ms_max } : step)) });
}

type Behaviour = (step: StepContext<{ order: string }, Context>) => Promise<StepResult<unknown>> | StepResult<unknown>;

interface Fixture {
  readonly database: ServiceDatabase;
  readonly clock: ManualClock;
  readonly world: World;
  /** Per step, what its action does instead of succeeding (absent: apply its effect, hand back its key). */
  readonly behaviour: Partial<Record<StepName, Behaviour>>;
  readonly compensation_order: string[];
  saga(options?: { checkpoint_charge?: boolean; compensation_failures?: number }): SagaDefinition<{ order: string }, Context>;
  runner(
    saga?: SagaDefinition<{ order: string }, Context>,
    options?: { holder?: string; commits?: boolean; lease_renewal_interval_ms?: number; database?: Database },
  ): SagaRunner<{ order: string }, Context>;
  start(runner: SagaRunner<{ order: string }, Context>, id: string, status?: 'running' | 'ready' | 'waiting', due_ms?: number | null): Promise<Lease>;
  /** The service's own rows written by the steps' `record`, as `step:kind` per run. */
  records(run_id: string): Promise<string[]>;
}

function sagaSuite(open: () => Promise<{ database: ServiceDatabase; cleanup: () => Promise<void> }>): void {
  let fixture: Fixture;
  let cleanup: () => Promise<void>;

  beforeEach(async () => {
    const opened = await open();
    cleanup = async () => {
      await opened.database.close();
      await opened.cleanup();
    };
    const database = opened.database;
    await database.migrate([sagaMigration(1), { version: 2, name: 'records', sqlite: recordsSql('sequence INTEGER PRIMARY KEY AUTOINCREMENT'), postgres: recordsSql('sequence BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY') }]);
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const world = new World();
    const behaviour: Fixture['behaviour'] = {};
    const compensation_order: string[] = [];
    const saga: Fixture['saga'] = (options = {}) => {
      let compensation_failures = options.compensation_failures ?? 0;
      const step = (name: StepName, checkpoint = true) =>
        defineStep<{ order: string }, Context, string>({
          name,
          checkpoint,
          timeout_ms: step_timeout_ms,
          retry: doublingRetry({ first_delay_ms: 1_000, delay_max_ms: 8_000, tries_max: 4 }),
          action: async (context) => {
            const instead = behaviour[name];
            if (instead !== undefined) return (await instead(context)) as StepResult<string>;
            const key = `${name}:${context.run_id}`;
            world.apply(key, context.input.order);
            // `ship` has nothing to undo, so it hands back nothing.
            return next(key, name === 'ship' ? undefined : key);
          },
          compensation:
            name === 'notify'
              ? undefined
              : async (input) => {
                  compensation_order.push(`${name}:${typeof input === 'string' ? input : 'nothing'}`);
                  if (compensation_failures > 0) {
                    compensation_failures -= 1;
                    throw new Error(`could not undo ${name}`);
                  }
                  // Given nothing, a compensation does nothing.
                  if (typeof input === 'string') world.undo(input);
                  return Promise.resolve();
                },
          record: async (transaction, outcome, record) => {
            await transaction.execute('INSERT INTO records (run_id, step, kind, order_ref) VALUES (?, ?, ?, ?)', [record.run_id, name, outcome.kind, record.context.order]);
          },
        });
      return defineSaga<{ order: string }, Context>({
        name: 'test_order',
        steps: [step('reserve'), step('charge', options.checkpoint_charge ?? false), step('ship'), step('notify')],
        load: async (run_id, input, loading) => {
          const [row] = await loading.query<{ present: number }>('SELECT COUNT(*) AS present FROM gone WHERE run_id = ?', [run_id]);
          return Number(row?.present ?? 0) > 0 ? undefined : { order: input.order };
        },
      });
    };
    fixture = {
      database,
      clock,
      world,
      behaviour,
      compensation_order,
      saga,
      runner: (definition = saga(), options = {}) =>
        new SagaRunner({
          saga: definition,
          database: options.database ?? database,
          clock,
          lease_ms,
          random: () => 0.5,
          ...(options.holder === undefined ? {} : { holder: options.holder }),
          ...(options.lease_renewal_interval_ms === undefined ? {} : { lease_renewal_interval_ms: options.lease_renewal_interval_ms }),
          ...(options.commits === true ? { commits: new GroupCommitter(database) } : {}),
        }),
      start: (runner, id, status = 'running', due_ms) =>
        database.transaction((transaction) => runner.start(transaction, { id, input: { order: `order of ${id}` }, status, ...(due_ms === undefined ? {} : { due_ms }) })),
      records: async (run_id) => {
        const rows = await database.query<{ step: string; kind: string }>('SELECT step, kind FROM records WHERE run_id = ? ORDER BY sequence', [run_id]);
        return rows.map((row) => `${row.step}:${row.kind}`);
      },
    };
  });

  afterEach(async () => {
    await cleanup();
  });

  it('runs the steps in order and records each checkpoint with its writes, in one commit each', async () => {
    const runner = fixture.runner();
    const lease = await fixture.start(runner, 'run_1');
    expect(await runner.drive(lease, { order: 'carried' })).toEqual({ run_id: 'run_1', status: 'succeeded', step: 'notify', reason: null });
    expect([...fixture.world.applied.keys()]).toEqual(['reserve:run_1', 'charge:run_1', 'ship:run_1', 'notify:run_1']);
    // `charge` has no checkpoint: its writes ride in the commit of `ship`, in order.
    expect(await fixture.records('run_1')).toEqual(['reserve:next', 'charge:next', 'ship:next', 'notify:next']);
    const orders = await fixture.database.query<{ order_ref: string }>('SELECT DISTINCT order_ref FROM records WHERE run_id = ?', ['run_1']);
    expect(orders).toEqual([{ order_ref: 'carried' }]);
    const transitions = await listTransitions(fixture.database, 'run_1');
    expect(transitions.map((row) => [row.from_step, row.to_step, row.from_status, row.to_status, row.reason])).toEqual([
      [null, 'reserve', null, 'running', 'started'],
      ['reserve', 'charge', 'running', 'running', 'done:reserve'],
      ['charge', 'notify', 'running', 'running', 'done:ship'],
      ['notify', 'notify', 'running', 'succeeded', 'succeeded'],
    ]);
    const run = await findRun(fixture.database, 'run_1');
    expect(run).toMatchObject({ status: 'succeeded', due_ms: null, fence: 1, tries: 0, error: null });
    expect(run?.outputs).toMatchObject({ reserve: { output: 'reserve:run_1', compensation_input: 'reserve:run_1', compensated: false }, ship: { compensation_input: null } });
  });

  it('does not write a step without a checkpoint until the next commit', async () => {
    const runner = fixture.runner();
    let seen_during_ship: RunRecord | undefined;
    fixture.behaviour.ship = async (context) => {
      seen_during_ship = await findRun(fixture.database, context.run_id);
      return next('shipped');
    };
    await runner.drive(await fixture.start(runner, 'run_1'), { order: 'o' });
    // While `ship` ran, the row still said `charge` came next: a crash then would run `charge` again.
    expect(seen_during_ship).toMatchObject({ step: 'charge', status: 'running' });
    expect(seen_during_ship?.outputs).not.toHaveProperty('charge');
  });

  it('retries a step with its backoff, leaving it alone until it is due, and counts the tries', async () => {
    const runner = fixture.runner();
    let answers = 0;
    fixture.behaviour.ship = () => {
      answers += 1;
      return answers <= 2 ? retry(`carrier down ${answers}`) : next('shipped');
    };
    const start_ms = fixture.clock.now();
    expect(await runner.drive(await fixture.start(runner, 'run_1'), { order: 'o' })).toMatchObject({ status: 'retrying', step: 'ship', reason: 'carrier down 1' });
    expect(await findRun(fixture.database, 'run_1')).toMatchObject({ status: 'retrying', tries: 1, due_ms: start_ms + 1_000, holder: null });
    expect(await fixture.records('run_1')).toEqual(['reserve:next', 'charge:next', 'ship:retry']);
    fixture.clock.advance(999);
    expect(await runner.leaseDue(10)).toEqual([]);
    fixture.clock.advance(1);
    const [second] = await runner.leaseDue(10);
    expect(second?.run).toMatchObject({ status: 'running', fence: 2, tries: 1, due_ms: fixture.clock.now() + lease_ms });
    expect(second?.resumed).toBe(true);
    if (second === undefined) throw new Error('not leased');
    expect(await runner.drive(second)).toMatchObject({ status: 'retrying' });
    // Doubled: the second retry waits 2 s.
    expect(await findRun(fixture.database, 'run_1')).toMatchObject({ tries: 2, due_ms: fixture.clock.now() + 2_000 });
    fixture.clock.advance(2_000);
    const outcomes = await runner.runDue(10);
    expect(outcomes).toEqual([{ run_id: 'run_1', status: 'succeeded', step: 'notify', reason: null }]);
    expect(await findRun(fixture.database, 'run_1')).toMatchObject({ status: 'succeeded', tries: 0 });
    // The done steps were never run again: only `ship` was retried.
    expect(fixture.world.calls.get('reserve:run_1')).toBe(1);
    expect(fixture.world.calls.get('charge:run_1')).toBe(1);
    expect(await fixture.records('run_1')).toEqual(['reserve:next', 'charge:next', 'ship:retry', 'ship:retry', 'ship:next', 'notify:next']);
  });

  it('follows a schedule with jitter that only adds, and a receiver asking for longer', async () => {
    let random = 0;
    const policy = scheduledRetry({ delays_ms: [100, 1_000, 10_000], jitter_percent: 20 });
    expect(policy.tries_max).toBe(4);
    expect([1, 2, 3].map((count) => policy.delayMs(count, () => random))).toEqual([100, 1_000, 10_000]);
    random = 0.999_999;
    expect([1, 2, 3].map((count) => policy.delayMs(count, () => random))).toEqual([120, 1_200, 12_000]);
    const saga = fixture.saga();
    const scheduled = defineSaga({ ...saga, steps: saga.steps.map((step) => (step.name === 'ship' ? { ...step, retry: policy } : step)) });
    const runner = fixture.runner(scheduled);
    fixture.behaviour.ship = () => retry('busy', 30_000);
    await runner.drive(await fixture.start(runner, 'run_1'), { order: 'o' });
    expect(await findRun(fixture.database, 'run_1')).toMatchObject({ due_ms: fixture.clock.now() + 30_000 });
  });

  it('fails a step whose tries are spent, and undoes the done steps newest first with what they handed back', async () => {
    const runner = fixture.runner();
    fixture.behaviour.notify = () => retry('mail server down');
    await runner.drive(await fixture.start(runner, 'run_1'), { order: 'o' });
    for (let round = 0; round < 3; round += 1) {
      fixture.clock.advance(8_000);
      await runner.runDue(10);
    }
    const run = await findRun(fixture.database, 'run_1');
    expect(run).toMatchObject({ status: 'compensated', due_ms: null, error: 'retries_exhausted:mail server down' });
    // `ship` handed back nothing: it had nothing to undo, and its compensation was passed over.
    expect(fixture.compensation_order).toEqual(['charge:charge:run_1', 'reserve:reserve:run_1']);
    expect([...fixture.world.applied.keys()]).toEqual(['ship:run_1']);
    expect(await fixture.records('run_1')).toEqual(['reserve:next', 'charge:next', 'ship:next', 'notify:retry', 'notify:retry', 'notify:retry', 'notify:fail']);
    const transitions = await listTransitions(fixture.database, 'run_1');
    expect(transitions.slice(-3).map((row) => [row.to_step, row.to_status, row.reason])).toEqual([
      ['charge', 'compensating', 'fail:retries_exhausted:mail server down'],
      ['reserve', 'compensating', 'compensated:charge'],
      ['reserve', 'compensated', 'compensated:reserve'],
    ]);
  });

  it('ends as failed when a step fails and nothing before it can be undone', async () => {
    const runner = fixture.runner();
    fixture.behaviour.reserve = () => fail('out of stock');
    expect(await runner.drive(await fixture.start(runner, 'run_1'), { order: 'o' })).toEqual({ run_id: 'run_1', status: 'failed', step: 'reserve', reason: 'out of stock' });
    expect(fixture.compensation_order).toEqual([]);
    expect(await fixture.records('run_1')).toEqual(['reserve:fail']);
  });

  it('retries a compensation that fails, and resumes the undoing after a crash where it stopped', async () => {
    const runner = fixture.runner(fixture.saga({ compensation_failures: 1 }));
    fixture.behaviour.notify = () => fail('address unknown');
    expect(await runner.drive(await fixture.start(runner, 'run_1'), { order: 'o' })).toMatchObject({ status: 'compensating', step: 'charge' });
    expect(await findRun(fixture.database, 'run_1')).toMatchObject({ status: 'compensating', tries: 1, due_ms: fixture.clock.now() + 1_000 });
    // The next holder dies while undoing `charge`, after its compensation was refused once.
    const crashing = fixture.runner(fixture.saga());
    fixture.clock.advance(1_000);
    const original_undo = fixture.world.undo.bind(fixture.world);
    fixture.world.undo = (key) => {
      if (key.startsWith('charge')) throw new SimulatedCrash('killed while undoing charge');
      original_undo(key);
    };
    const [lease] = await crashing.leaseDue(10);
    if (lease === undefined) throw new Error('not leased');
    await expect(crashing.drive(lease)).rejects.toThrow('killed while undoing charge');
    expect(await findRun(fixture.database, 'run_1')).toMatchObject({ status: 'compensating', step: 'charge' });
    fixture.world.undo = original_undo;
    fixture.clock.advance(lease_ms);
    await fixture.runner(fixture.saga()).runDue(10);
    expect(await findRun(fixture.database, 'run_1')).toMatchObject({ status: 'compensated' });
    expect(fixture.compensation_order).toEqual(['charge:charge:run_1', 'charge:charge:run_1', 'charge:charge:run_1', 'reserve:reserve:run_1']);
    expect([...fixture.world.applied.keys()]).toEqual(['ship:run_1']);
  });

  for (const [index, crash_before] of step_names.entries()) {
    for (const after_effect of [false, true]) {
      it(`resumes after a crash ${after_effect ? 'after the outside effect of' : 'before'} ${crash_before}, and applies nothing twice`, async () => {
        const dying = fixture.runner(fixture.saga(), { holder: 'dying' });
        fixture.behaviour[crash_before] = (context) => {
          if (after_effect) fixture.world.apply(`${crash_before}:${context.run_id}`, context.input.order);
          throw new SimulatedCrash(`killed at ${crash_before}`);
        };
        const lease = await fixture.start(dying, 'run_1');
        await expect(dying.drive(lease, { order: 'o' })).rejects.toThrow(`killed at ${crash_before}`);
        delete fixture.behaviour[crash_before];
        // A new process: nothing is due until the dead holder's lease runs out.
        const recovering = fixture.runner(fixture.saga(), { holder: 'recovering' });
        fixture.clock.advance(lease_ms - 1);
        expect(await recovering.leaseDue(10)).toEqual([]);
        fixture.clock.advance(1);
        expect(await recovering.runDue(10)).toEqual([{ run_id: 'run_1', status: 'succeeded', step: 'notify', reason: null }]);
        expect([...fixture.world.applied.keys()].sort()).toEqual(step_names.map((name) => `${name}:run_1`).sort());
        // The service's own rows: every step's written once, whatever was run again.
        expect(await fixture.records('run_1')).toEqual(step_names.map((name) => `${name}:next`));
        // A step with a checkpoint before the crash was never run again; `charge` (none) may be.
        for (const [earlier, name] of step_names.entries()) {
          if (earlier >= index) continue;
          const rerun_allowed = name === 'charge' && crash_before === 'ship';
          expect(fixture.world.calls.get(`${name}:run_1`)).toBe(rerun_allowed ? 2 : 1);
        }
        const transitions = await listTransitions(fixture.database, 'run_1');
        expect(transitions.find((row) => row.holder === 'recovering')).toMatchObject({ from_status: 'running', to_status: 'running', reason: 'leased:lease_expired', fence: 2 });
      });
    }
  }

  it('refuses the record of a holder whose lease ran out and was taken over', async () => {
    const slow = fixture.runner(fixture.saga(), { holder: 'slow' });
    let release: (result: StepResult<unknown>) => void = () => undefined;
    fixture.behaviour.ship = () => new Promise((resolve) => (release = resolve));
    const slow_drive = slow.drive(await fixture.start(slow, 'run_1'), { order: 'o' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    // The lease runs out while `ship` is in flight; another runner takes the run and finishes it.
    fixture.clock.advance(lease_ms);
    delete fixture.behaviour.ship;
    const fast = fixture.runner(fixture.saga(), { holder: 'fast' });
    expect(await fast.runDue(10)).toMatchObject([{ status: 'succeeded' }]);
    release(next('late'));
    expect(await slow_drive).toEqual({ run_id: 'run_1', status: 'fenced', step: 'charge', reason: 'taken_over' });
    expect(await findRun(fixture.database, 'run_1')).toMatchObject({ status: 'succeeded', fence: 2, holder: 'fast' });
    // Nothing the slow holder did after the takeover was written.
    expect(await fixture.records('run_1')).toEqual(['reserve:next', 'charge:next', 'ship:next', 'notify:next']);
  });

  describe('lease renewal', () => {
    /** `ship` in flight until the test releases it; `abandoned` once its signal is aborted. */
    function holdShip(): { started: () => boolean; abandoned: () => boolean; release: (result: StepResult<unknown>) => void } {
      let started = false;
      let abandoned = false;
      let release: (result: StepResult<unknown>) => void = () => undefined;
      fixture.behaviour.ship = (context) => {
        started = true;
        context.signal.addEventListener('abort', () => (abandoned = true));
        return new Promise((resolve) => (release = resolve));
      };
      return { started: () => started, abandoned: () => abandoned, release: (result) => release(result) };
    }

    /** Starts run_1 for `holder`, renewing every renewal_interval_ms, and drives it until `ship` is in flight. */
    async function driveUntilShip(holder: string, database?: Database): Promise<{ driving: Promise<DriveOutcome>; ship: ReturnType<typeof holdShip> }> {
      const runner = fixture.runner(patientShip(fixture.saga()), { holder, lease_renewal_interval_ms: renewal_interval_ms, ...(database === undefined ? {} : { database }) });
      const ship = holdShip();
      const driving = runner.drive(await fixture.start(runner, 'run_1'), { order: 'o' });
      await eventually(ship.started, '`ship` to start');
      return { driving, ship };
    }

    /**
     * Moves the clock on half a lease at a time, `halves` times, waiting each time for the holder
     * to renew the lease of run_1 at the new time, and checks that `other` cannot take the run.
     */
    async function renewedThrough(halves: number, other: SagaRunner<{ order: string }, Context>): Promise<void> {
      for (let half = 0; half < halves; half += 1) {
        fixture.clock.advance(lease_ms / 2);
        await eventually(async () => (await findRun(fixture.database, 'run_1'))?.due_ms === fixture.clock.now() + lease_ms, 'a renewal of the lease');
        expect(await other.leaseDue(10)).toEqual([]);
        expect(await other.leaseIfDue('run_1')).toBeUndefined();
      }
    }

    it('keeps a run whose step outlasts the lease while its holder lives', async () => {
      const { driving, ship } = await driveUntilShip('holding');
      // Three leases pass with `ship` in flight: nobody may take the run.
      await renewedThrough(6, fixture.runner(fixture.saga(), { holder: 'other' }));
      ship.release(next('shipped'));
      expect(await driving).toEqual({ run_id: 'run_1', status: 'succeeded', step: 'notify', reason: null });
      expect(ship.abandoned()).toBe(false);
      expect(await findRun(fixture.database, 'run_1')).toMatchObject({ status: 'succeeded', fence: 1, holder: 'holding' });
      // A renewal is not a change of the run's state: the history has no row for it.
      expect((await listTransitions(fixture.database, 'run_1')).map((row) => row.reason)).toEqual(['started', 'done:reserve', 'done:ship', 'succeeded']);
    });

    it('lets another runner take over the run of a holder that stopped renewing, one lease after its last renewal', async () => {
      // The dying holder's process: once it is dead, nothing it does reaches the database.
      let dead = false;
      const gone = () => Promise.reject(new Error('the process is gone'));
      const process_database: Database = {
        dialect: fixture.database.dialect,
        query: (sql, params) => (dead ? gone() : fixture.database.query(sql, params)),
        execute: (sql, params) => (dead ? gone() : fixture.database.execute(sql, params)),
        transaction: (work) => (dead ? gone() : fixture.database.transaction(work)),
        close: () => fixture.database.close(),
      };
      const { driving: dying_drive, ship } = await driveUntilShip('dying', process_database);
      const recovering = fixture.runner(fixture.saga(), { holder: 'recovering' });
      // Alive for two leases: renewed, never taken.
      await renewedThrough(4, recovering);
      // The process dies with `ship` in flight. Its lease still runs out only a whole lease after
      // its last renewal, however many renewals it misses meanwhile.
      dead = true;
      fixture.clock.advance(lease_ms - 1);
      await new Promise((resolve) => setTimeout(resolve, 5 * renewal_interval_ms));
      expect(await recovering.leaseDue(10)).toEqual([]);
      fixture.clock.advance(1);
      delete fixture.behaviour.ship;
      expect(await recovering.runDue(10)).toEqual([{ run_id: 'run_1', status: 'succeeded', step: 'notify', reason: null }]);
      const transitions = await listTransitions(fixture.database, 'run_1');
      expect(transitions.find((row) => row.holder === 'recovering')).toMatchObject({ from_status: 'running', to_status: 'running', reason: 'leased:lease_expired', fence: 2 });
      // Whatever the dead holder's step ends with reaches nothing.
      ship.release(next('late'));
      await expect(dying_drive).rejects.toThrow('the process is gone');
      expect(await fixture.records('run_1')).toEqual(['reserve:next', 'charge:next', 'ship:next', 'notify:next']);
    });

    it('writes nothing in a renewal after a takeover, abandons the old holder\'s step and refuses its record', async () => {
      const { driving: slow_drive, ship } = await driveUntilShip('slow');
      // News takes the run over while its holder lives and renews.
      const news = fixture.runner(fixture.saga(), { holder: 'news' });
      const taken = await news.takeOver('run_1', { reason: 'news' });
      if (taken === undefined) throw new Error('not taken');
      expect(taken.run).toMatchObject({ fence: 2, holder: 'news', due_ms: fixture.clock.now() + lease_ms });
      // The clock moves on, so a renewal by the old holder would write a later due time.
      fixture.clock.advance(lease_ms / 2);
      // The old holder's next renewal finds the fence taken: it abandons `ship` and ends fenced,
      // long before `ship`'s timeout.
      await eventually(ship.abandoned, 'the old holder to abandon `ship`');
      expect(await slow_drive).toEqual({ run_id: 'run_1', status: 'fenced', step: 'charge', reason: 'taken_over' });
      await new Promise((resolve) => setTimeout(resolve, 5 * renewal_interval_ms));
      expect(await findRun(fixture.database, 'run_1')).toMatchObject({ fence: 2, holder: 'news', due_ms: taken.run.due_ms });
      // The abandoned step's late answer is recorded nowhere; the new holder's run is whole.
      ship.release(next('late'));
      delete fixture.behaviour.ship;
      expect(await news.drive(taken, { order: 'o' })).toMatchObject({ status: 'succeeded' });
      expect(await fixture.records('run_1')).toEqual(['reserve:next', 'charge:next', 'ship:next', 'notify:next']);
      expect((await listTransitions(fixture.database, 'run_1')).filter((row) => row.holder === 'slow').map((row) => row.reason)).toEqual(['started', 'done:reserve']);
    });
  });

  it('lets news take a waiting run over at once, fencing out its holder', async () => {
    const runner = fixture.runner();
    fixture.behaviour.ship = (context) => (context.tries === 0 && context.resumed ? wait('for the parcel', null) : next('shipped'));
    // A run parked with no time of its own is never leased; only a takeover moves it.
    const lease = await fixture.start(runner, 'run_1', 'waiting', null);
    expect(lease.run).toMatchObject({ status: 'waiting', due_ms: null });
    fixture.clock.advance(10 * lease_ms);
    expect(await runner.leaseDue(10)).toEqual([]);
    expect(await runner.takeOver('run_1', { at_steps: ['ship'], reason: 'news' })).toBeUndefined();
    const taken = await runner.takeOver('run_1', { at_steps: ['reserve'], reason: 'news' });
    expect(taken?.run).toMatchObject({ status: 'running', fence: 2 });
    expect(taken?.resumed).toBe(false);
    if (taken === undefined) throw new Error('not taken');
    // A second takeover moves the fence on again: the first holder can no longer record.
    const again = await runner.takeOver('run_1', { reason: 'more news' });
    expect(await runner.drive(taken, { order: 'o' })).toMatchObject({ status: 'fenced' });
    if (again === undefined) throw new Error('not taken');
    expect(await runner.drive(again, { order: 'o' })).toMatchObject({ status: 'succeeded' });
    expect(await fixture.records('run_1')).toEqual(['reserve:next', 'charge:next', 'ship:next', 'notify:next']);
  });

  it('parks a waiting step until its time, and ends a moot run as canceled', async () => {
    const runner = fixture.runner();
    fixture.behaviour.ship = (context) => (context.tries < 2 ? wait(`poll ${context.tries}`, context.now_ms + 30_000) : stop('order withdrawn'));
    expect(await runner.drive(await fixture.start(runner, 'run_1'), { order: 'o' })).toMatchObject({ status: 'waiting' });
    fixture.clock.advance(29_999);
    expect(await runner.runDue(10)).toEqual([]);
    fixture.clock.advance(1);
    expect(await runner.runDue(10)).toMatchObject([{ status: 'waiting' }]);
    fixture.clock.advance(30_000);
    expect(await runner.runDue(10)).toMatchObject([{ status: 'canceled', reason: 'order withdrawn' }]);
    expect(await fixture.records('run_1')).toEqual(['reserve:next', 'charge:next', 'ship:wait', 'ship:wait', 'ship:stop']);
    expect(fixture.compensation_order).toEqual([]);
  });

  it('cancels a run whose work item is gone, and lets a service cancel one, fencing out its holder', async () => {
    const runner = fixture.runner();
    await fixture.start(runner, 'run_1', 'ready');
    await fixture.database.execute('INSERT INTO gone (run_id) VALUES (?)', ['run_1']);
    expect(await runner.runDue(10)).toEqual([{ run_id: 'run_1', status: 'canceled', step: 'reserve', reason: 'work_item_missing' }]);
    const held = await fixture.start(runner, 'run_2');
    expect(await fixture.database.transaction((transaction) => runner.cancel(transaction, 'run_2', 'customer gave up'))).toBe(true);
    expect(await runner.drive(held, { order: 'o' })).toMatchObject({ status: 'fenced' });
    expect(await findRun(fixture.database, 'run_2')).toMatchObject({ status: 'canceled', error: 'customer gave up', due_ms: null });
    expect(await fixture.database.transaction((transaction) => runner.cancel(transaction, 'run_2', 'again'))).toBe(false);
  });

  it('gives up on a step that outlives its timeout, and tells it so', async () => {
    const saga = fixture.saga();
    const quick = defineSaga({ ...saga, steps: saga.steps.map((step) => (step.name === 'ship' ? { ...step, timeout_ms: 30 } : step)) });
    const runner = fixture.runner(quick);
    let aborted = false;
    fixture.behaviour.ship = (context) =>
      new Promise(() => {
        context.signal.addEventListener('abort', () => (aborted = true));
      });
    expect(await runner.drive(await fixture.start(runner, 'run_1'), { order: 'o' })).toMatchObject({ status: 'retrying', reason: 'timeout after 30 ms' });
    expect(aborted).toBe(true);
  });

  it('leases in bounded batches, soonest due first, each run to one holder', async () => {
    const runner = fixture.runner();
    for (let index = 0; index < 25; index += 1) await fixture.start(runner, `run_${String(index).padStart(2, '0')}`, 'ready', fixture.clock.now() - index);
    const first = await runner.leaseDue(10);
    expect(first.map((lease) => lease.run.id)).toEqual(Array.from({ length: 10 }, (_, index) => `run_${String(24 - index).padStart(2, '0')}`));
    expect((await runner.leaseDue(10)).length).toBe(10);
    expect((await runner.leaseDue(10)).length).toBe(5);
    expect(await runner.leaseDue(10)).toEqual([]);
    await expect(runner.leaseDue(0)).rejects.toThrow();
  });

  it('leases one run on request only once it is due', async () => {
    const runner = fixture.runner();
    fixture.behaviour.ship = () => new Promise(() => undefined);
    const first = await fixture.start(runner, 'run_1');
    void runner.drive(first, { order: 'o' }).catch(() => undefined);
    // Held by a holder whose lease still runs: a retry under the same key must not take it.
    expect(await runner.leaseIfDue('run_1')).toBeUndefined();
    fixture.clock.advance(lease_ms);
    delete fixture.behaviour.ship;
    const resumed = await fixture.database.transaction((transaction) => runner.leaseIfDue('run_1', { transaction }));
    expect(resumed?.run).toMatchObject({ fence: 2, status: 'running' });
    expect(resumed?.resumed).toBe(true);
    expect(await runner.leaseIfDue('run_1')).toBeUndefined();
    expect(await runner.leaseIfDue('run_missing')).toBeUndefined();
  });

  it('never leases one run to two runners leasing at the same time', async () => {
    for (let index = 0; index < 40; index += 1) await fixture.start(fixture.runner(), `run_${index}`, 'ready');
    const runners = [fixture.runner(undefined, { holder: 'a', commits: true }), fixture.runner(undefined, { holder: 'b', commits: true }), fixture.runner(undefined, { holder: 'c' })];
    const leased = (await Promise.all(runners.flatMap((runner) => [runner.leaseDue(7), runner.leaseDue(7), runner.leaseDue(7)]))).flat();
    const ids = leased.map((lease) => lease.run.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(40);
  });

  it('keeps the transitions append-only', async () => {
    const runner = fixture.runner();
    await runner.drive(await fixture.start(runner, 'run_1'), { order: 'o' });
    await expect(fixture.database.execute("UPDATE saga_transitions SET reason = 'rewritten'")).rejects.toThrow(/append-only/);
    await expect(fixture.database.execute('DELETE FROM saga_transitions')).rejects.toThrow(/append-only/);
  });

  it('shares the service\'s group commits', async () => {
    const runner = fixture.runner(undefined, { commits: true });
    const leases = await Promise.all(Array.from({ length: 20 }, (_, index) => fixture.start(runner, `run_${index}`)));
    const outcomes = await Promise.all(leases.map((lease) => runner.drive(lease, { order: 'o' })));
    expect(outcomes.every((outcome) => outcome.status === 'succeeded')).toBe(true);
    const [row] = await fixture.database.query<{ count: number }>("SELECT COUNT(*) AS count FROM records WHERE kind = 'next'");
    expect(Number(row?.count)).toBe(80);
  });

  it('writes a commit again alone when the shared commit it joined failed whole, and only once', async () => {
    let failures_left = 1;
    const failing: Database = {
      dialect: fixture.database.dialect,
      query: (sql, params) => fixture.database.query(sql, params),
      execute: (sql, params) => fixture.database.execute(sql, params),
      // The group's commit fails after every unit ran: nothing of it is kept.
      transaction: (work) =>
        fixture.database.transaction(async (transaction) => {
          const result = await work(transaction);
          if (failures_left > 0) {
            failures_left -= 1;
            throw new Error('the shared commit failed');
          }
          return result;
        }),
      close: () => fixture.database.close(),
    };
    const runner = new SagaRunner({ saga: fixture.saga(), database: fixture.database, commits: new GroupCommitter(failing), clock: fixture.clock, lease_ms });
    const lease = await fixture.start(runner, 'run_1');
    expect(await runner.drive(lease, { order: 'o' })).toMatchObject({ status: 'succeeded' });
    expect(failures_left).toBe(0);
    expect(await fixture.records('run_1')).toEqual(['reserve:next', 'charge:next', 'ship:next', 'notify:next']);
    expect((await listTransitions(fixture.database, 'run_1')).map((row) => row.reason)).toEqual(['started', 'done:reserve', 'done:ship', 'succeeded']);
  });

  it('refuses a lease that a live holder could lose between renewals, and badly declared steps', () => {
    const runner = (options: { lease_ms: number; lease_renewal_interval_ms?: number }) => new SagaRunner({ saga: fixture.saga(), database: fixture.database, ...options });
    expect(() => runner({ lease_ms, lease_renewal_interval_ms: lease_ms / 3 + 1 })).toThrow(/renewal intervals/);
    expect(() => runner({ lease_ms: 2 })).toThrow(/renewal interval/);
    expect(() => runner({ lease_ms, lease_renewal_interval_ms: 0 })).toThrow(/renewal interval/);
    // Renewed, a lease may be shorter than the steps' timeouts together (4 × 5 s here).
    expect(() => runner({ lease_ms: step_timeout_ms })).not.toThrow();
    expect(() => defineStep({ name: 'Bad Name', action: () => Promise.resolve(next(1)), retry: no_retry, timeout_ms: 10 })).toThrow();
    expect(() => defineStep({ name: 'slow', action: () => Promise.resolve(next(1)), retry: no_retry, timeout_ms: 0 })).toThrow();
    const saga = fixture.saga();
    expect(() => defineSaga({ ...saga, steps: [...saga.steps, ...saga.steps.slice(0, 1)] })).toThrow(/different names/);
  });
}

const recordsSql = (sequence: string) => `
CREATE TABLE records (${sequence}, run_id TEXT NOT NULL, step TEXT NOT NULL, kind TEXT NOT NULL, order_ref TEXT NOT NULL);
CREATE TABLE gone (run_id TEXT NOT NULL);
`;

describe('sagas on SQLite', () => {
  sagaSuite(async () => {
    const directory = await temporaryDirectory();
    const database = await openDatabase({ config: { DATA_DIR: directory.path, DATABASE_URL: undefined }, service: 'saga' });
    return { database, cleanup: () => directory.remove() };
  });
});

describeWithPostgres('sagas on PostgreSQL', (url) => {
  sagaSuite(async () => {
    const temporary = await withTemporarySchema(url);
    const database = createPostgresDatabase(createPostgresPool({ url, schema: temporary.schema, max: 4 }), { dialect: 'postgres', url, schema: temporary.schema });
    return { database, cleanup: () => temporary.drop() };
  });
});

