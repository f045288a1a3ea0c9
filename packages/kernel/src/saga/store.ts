// Where sagas keep their state: two tables in the owning service's database. A run is one work
// item (a payment attempt, a webhook delivery, a wallet operation), named by the service's own id
// for it; its row says which step comes next, who holds it (the fence), and when a runner may take
// it (due_ms). Every change of a run appends a transition, never overwritten, so its history is
// queryable (STYLE.md point 5).
import { assert } from '../assert';
import type { Database } from '../db/database';
import type { Migration } from '../db/migrations';
import { appendOnlyTriggers, rowLockClause } from '../db/sql-helpers';

export const saga_runs_table = 'saga_runs';
export const saga_transitions_table = 'saga_transitions';

export const run_statuses = ['ready', 'running', 'waiting', 'retrying', 'compensating', 'succeeded', 'failed', 'compensated', 'canceled'] as const;
export type RunStatus = (typeof run_statuses)[number];

/**
 * A run's states, as a table (STYLE.md point 5).
 * - ready: started and not held; any runner may lease it at once.
 * - running: held by the holder with the current fence until due_ms (its lease).
 * - waiting: parked, not failed, until due_ms, or (due_ms NULL) until something takes it over.
 * - retrying: parked after a try that could not finish, until its backoff ends.
 * - compensating: undoing the done steps after a failure, held or parked like running.
 * - succeeded, failed, compensated, canceled: finished, with nothing left to do.
 * running → running is a checkpoint, or a lease taken over after it ran out.
 */
export const run_transitions: Record<RunStatus, readonly RunStatus[]> = {
  ready: ['running', 'canceled'],
  running: ['running', 'waiting', 'retrying', 'compensating', 'succeeded', 'failed', 'compensated', 'canceled'],
  waiting: ['running', 'canceled'],
  retrying: ['running', 'canceled'],
  compensating: ['compensating', 'compensated', 'failed'],
  succeeded: [],
  failed: [],
  compensated: [],
  canceled: [],
};

export const finished_run_statuses: readonly RunStatus[] = ['succeeded', 'failed', 'compensated', 'canceled'];

export function isRunTransitionAllowed(from: RunStatus, to: RunStatus): boolean {
  return run_transitions[from].includes(to);
}

/** A step's recorded result: its output, what its compensation needs, and whether that ran. */
export interface StepRecord {
  readonly output: unknown;
  readonly compensation_input: unknown;
  readonly compensated: boolean;
}

export interface RunRecord {
  readonly id: string;
  readonly saga: string;
  /** The step to run next; while compensating, the step being undone; once finished, the last one. */
  readonly step: string;
  readonly status: RunStatus;
  readonly fence: number;
  /** Retries and waits of the current step in a row. */
  readonly tries: number;
  readonly due_ms: number | null;
  readonly holder: string | null;
  readonly input: unknown;
  readonly outputs: Readonly<Record<string, StepRecord>>;
  readonly error: string | null;
  readonly created_ms: number;
  readonly updated_ms: number;
}

export interface TransitionRecord {
  readonly run_id: string;
  readonly saga: string;
  readonly fence: number;
  readonly from_step: string | null;
  readonly to_step: string;
  readonly from_status: RunStatus | null;
  readonly to_status: RunStatus;
  readonly reason: string;
  readonly holder: string | null;
  readonly created_ms: number;
}

/**
 * The two tables, for a service's own migration (with its data moved over in the same version).
 * They are written on every saga's hot path, so each costs as few pages as it can: a run is stored
 * in the B-tree of its id (WITHOUT ROWID on SQLite), with no second copy of the key, and a
 * transition is appended under a plain rowid (no AUTOINCREMENT, which writes sqlite_sequence on
 * every insert; the table is append-only, so rowids still only grow).
 */
export function sagaTables(): { readonly sqlite: string; readonly postgres: string } {
  const statuses = run_statuses.map((status) => `'${status}'`).join(', ');
  const tables = (dialect: 'sqlite' | 'postgres') => `
CREATE TABLE ${saga_runs_table} (
  id TEXT NOT NULL PRIMARY KEY,
  saga TEXT NOT NULL,
  step TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN (${statuses})),
  fence INTEGER NOT NULL CHECK (fence >= 1),
  tries INTEGER NOT NULL CHECK (tries >= 0),
  due_ms BIGINT,
  holder TEXT,
  input TEXT NOT NULL,
  outputs TEXT NOT NULL,
  error TEXT,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL
)${dialect === 'sqlite' ? ' WITHOUT ROWID' : ''};
CREATE INDEX ${saga_runs_table}_due ON ${saga_runs_table} (saga, due_ms) WHERE due_ms IS NOT NULL;
CREATE TABLE ${saga_transitions_table} (
  ${dialect === 'sqlite' ? 'sequence INTEGER PRIMARY KEY' : 'sequence BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY'},
  run_id TEXT NOT NULL,
  saga TEXT NOT NULL,
  fence INTEGER NOT NULL,
  from_step TEXT,
  to_step TEXT NOT NULL,
  from_status TEXT CHECK (from_status IN (${statuses})),
  to_status TEXT NOT NULL CHECK (to_status IN (${statuses})),
  reason TEXT NOT NULL,
  holder TEXT,
  created_ms BIGINT NOT NULL
);
CREATE INDEX ${saga_transitions_table}_run ON ${saga_transitions_table} (run_id, sequence);
`;
  const append_only = appendOnlyTriggers(saga_transitions_table);
  return { sqlite: tables('sqlite') + append_only.sqlite, postgres: tables('postgres') + append_only.postgres };
}

/** The two tables as a migration step of their own, for a service with no data to move. */
export function sagaMigration(version: number): Migration {
  const tables = sagaTables();
  return { version, name: 'saga runs and their transitions', sqlite: tables.sqlite, postgres: tables.postgres };
}

// JSON with exact bigints: a bigint is written as {"$bigint":"123"} and read back as 123n, so that
// amounts in a run's input or a step's output keep every digit.
const bigint_tag = '$bigint';

export function encodeSagaJson(value: unknown): string {
  return JSON.stringify(value, (_key, field: unknown) => (typeof field === 'bigint' ? { [bigint_tag]: field.toString() } : field)) ?? 'null';
}

export function decodeSagaJson(text: string): unknown {
  return JSON.parse(text, (_key, field: unknown) => {
    if (typeof field === 'object' && field !== null && !Array.isArray(field)) {
      const tagged = (field as Record<string, unknown>)[bigint_tag];
      if (typeof tagged === 'string' && Object.keys(field).length === 1) return BigInt(tagged);
    }
    return field;
  });
}

interface RunRow {
  readonly id: string;
  readonly saga: string;
  readonly step: string;
  readonly status: string;
  readonly fence: number;
  readonly tries: number;
  readonly due_ms: number | null;
  readonly holder: string | null;
  readonly input: string;
  readonly outputs: string;
  readonly error: string | null;
  readonly created_ms: number;
  readonly updated_ms: number;
}

function statusOf(value: string): RunStatus {
  const found = run_statuses.find((status) => status === value);
  assert(found !== undefined, `saga run status "${value}" read from the database is not one this code knows`);
  return found;
}

function outputsOf(text: string): Record<string, StepRecord> {
  const parsed = decodeSagaJson(text);
  assert(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed), 'a saga run keeps its outputs as an object');
  return parsed as Record<string, StepRecord>;
}

function runFromRow(row: RunRow): RunRecord {
  return {
    id: row.id,
    saga: row.saga,
    step: row.step,
    status: statusOf(row.status),
    fence: Number(row.fence),
    tries: Number(row.tries),
    due_ms: row.due_ms === null ? null : Number(row.due_ms),
    holder: row.holder,
    input: decodeSagaJson(row.input),
    outputs: outputsOf(row.outputs),
    error: row.error,
    created_ms: Number(row.created_ms),
    updated_ms: Number(row.updated_ms),
  };
}

const run_columns = 'id, saga, step, status, fence, tries, due_ms, holder, input, outputs, error, created_ms, updated_ms';

export async function insertRun(database: Database, run: RunRecord): Promise<void> {
  await database.execute(`INSERT INTO ${saga_runs_table} (${run_columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
    run.id,
    run.saga,
    run.step,
    run.status,
    run.fence,
    run.tries,
    run.due_ms,
    run.holder,
    encodeSagaJson(run.input),
    encodeSagaJson(run.outputs),
    run.error,
    run.created_ms,
    run.updated_ms,
  ]);
}

export async function findRun(database: Database, id: string, options: { readonly lock: boolean } = { lock: false }): Promise<RunRecord | undefined> {
  const rows = await database.query<RunRow>(`SELECT ${run_columns} FROM ${saga_runs_table} WHERE id = ?${options.lock ? rowLockClause(database) : ''}`, [id]);
  const row = rows[0];
  return row === undefined ? undefined : runFromRow(row);
}

/**
 * Writes a run's new state, fenced: only while `fence` still holds it (a takeover moves the fence
 * on, and a holder whose lease ran out must not overwrite the new holder's work). Returns whether
 * it was written.
 */
export async function updateRun(database: Database, run: RunRecord, fence: number): Promise<boolean> {
  const result = await database.execute(
    `UPDATE ${saga_runs_table} SET step = ?, status = ?, fence = ?, tries = ?, due_ms = ?, holder = ?, outputs = ?, error = ?, updated_ms = ?
     WHERE id = ? AND fence = ?`,
    [run.step, run.status, run.fence, run.tries, run.due_ms, run.holder, encodeSagaJson(run.outputs), run.error, run.updated_ms, run.id, fence],
  );
  return result.rowCount === 1;
}

/**
 * Renews the lease of a run its holder is driving: moves due_ms on to `due_ms`, only while `fence`
 * still holds the run and the run is held (running or compensating, with a holder). A run its
 * holder parked (a retry, a wait, a compensation to try again) keeps its own due time, and a run
 * taken over, canceled or finished is left alone. Returns whether it renewed. A renewal is not a
 * change of the run's state, so it appends no transition: the history stays one row per change.
 */
export async function renewRunLease(database: Database, options: { readonly id: string; readonly fence: number; readonly due_ms: number }): Promise<boolean> {
  const result = await database.execute(
    `UPDATE ${saga_runs_table} SET due_ms = ? WHERE id = ? AND fence = ? AND status IN ('running', 'compensating') AND holder IS NOT NULL`,
    [options.due_ms, options.id, options.fence],
  );
  return result.rowCount === 1;
}

export async function appendTransitions(database: Database, transitions: readonly TransitionRecord[]): Promise<void> {
  if (transitions.length === 0) return;
  await database.execute(
    `INSERT INTO ${saga_transitions_table} (run_id, saga, fence, from_step, to_step, from_status, to_status, reason, holder, created_ms) VALUES ${transitions
      .map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .join(', ')}`,
    transitions.flatMap((transition) => [
      transition.run_id,
      transition.saga,
      transition.fence,
      transition.from_step,
      transition.to_step,
      transition.from_status,
      transition.to_status,
      transition.reason,
      transition.holder,
      transition.created_ms,
    ]),
  );
}

export async function listTransitions(database: Database, run_id: string): Promise<TransitionRecord[]> {
  const rows = await database.query<Omit<TransitionRecord, 'from_status' | 'to_status'> & { from_status: string | null; to_status: string }>(
    `SELECT run_id, saga, fence, from_step, to_step, from_status, to_status, reason, holder, created_ms FROM ${saga_transitions_table} WHERE run_id = ? ORDER BY sequence`,
    [run_id],
  );
  return rows.map((row) => ({
    ...row,
    fence: Number(row.fence),
    created_ms: Number(row.created_ms),
    from_status: row.from_status === null ? null : statusOf(row.from_status),
    to_status: statusOf(row.to_status),
  }));
}

/** The status a run has once leased: a compensation stays one. */
function leasedStatus(status: RunStatus): RunStatus {
  return status === 'compensating' ? 'compensating' : 'running';
}

/**
 * Leases up to `limit` due runs of one saga, soonest due first: each gets the next fence, a lease
 * until `now_ms + lease_ms`, and a transition. Run it in a transaction. PostgreSQL skips rows another
 * leaser holds (FOR UPDATE SKIP LOCKED), so two processes never lease one run; SQLite runs one
 * transaction at a time, so its leases never overlap.
 */
export async function leaseDueRuns(
  transaction: Database,
  options: { readonly saga: string; readonly now_ms: number; readonly limit: number; readonly lease_ms: number; readonly holder: string },
): Promise<RunRecord[]> {
  assert(Number.isSafeInteger(options.limit) && options.limit >= 1, 'a lease takes at least one run');
  const skip_locked = transaction.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
  const rows = await transaction.query<RunRow>(
    `SELECT ${run_columns} FROM ${saga_runs_table} WHERE saga = ? AND due_ms IS NOT NULL AND due_ms <= ? ORDER BY due_ms LIMIT ?${skip_locked}`,
    [options.saga, options.now_ms, options.limit],
  );
  const due = rows.map(runFromRow);
  return takeLeases(transaction, due, options, 'leased');
}

/**
 * Leases one run, by id, if it is due (its lease ran out, or its retry or wait time came), with the
 * next fence: for a service that resumes one piece of work on request (a retry under the same
 * idempotency key finding its first sender dead). Run it in a transaction.
 */
export async function leaseRunIfDue(
  transaction: Database,
  options: { readonly id: string; readonly now_ms: number; readonly lease_ms: number; readonly holder: string },
): Promise<RunRecord | undefined> {
  const run = await findRun(transaction, options.id, { lock: true });
  if (run === undefined || run.due_ms === null || run.due_ms > options.now_ms) return undefined;
  const [leased] = await takeLeases(transaction, [run], options, 'leased');
  return leased;
}

async function takeLeases(
  transaction: Database,
  runs: readonly RunRecord[],
  options: { readonly now_ms: number; readonly lease_ms: number; readonly holder: string },
  reason: string,
): Promise<RunRecord[]> {
  const leased: RunRecord[] = [];
  for (const run of runs) {
    assert(!finished_run_statuses.includes(run.status), 'a finished run is never leased');
    const next: RunRecord = { ...run, status: leasedStatus(run.status), fence: run.fence + 1, due_ms: options.now_ms + options.lease_ms, holder: options.holder, updated_ms: options.now_ms };
    assert(isRunTransitionAllowed(run.status, next.status), `saga run ${run.status} → ${next.status} is not in the table`);
    // The rows are locked (PostgreSQL) or the transaction is alone (SQLite): the fence still holds.
    if (await updateRun(transaction, next, run.fence)) leased.push(next);
  }
  await appendTransitions(
    transaction,
    leased.map((run) => {
      const before = runs.find((each) => each.id === run.id);
      return {
        run_id: run.id,
        saga: run.saga,
        fence: run.fence,
        from_step: run.step,
        to_step: run.step,
        from_status: before?.status ?? null,
        to_status: run.status,
        reason: before?.status === 'running' || before?.status === 'compensating' ? `${reason}:lease_expired` : reason,
        holder: options.holder,
        created_ms: options.now_ms,
      };
    }),
  );
  return leased;
}

/**
 * Takes one unfinished run over at once, whatever its lease: for news that settles what the
 * current holder is waiting for (a provider's verified notification, money that arrived). Only a
 * run at one of `at_steps` (all steps when absent) is taken. Run it in a transaction.
 */
export async function takeOverRun(
  transaction: Database,
  options: { readonly id: string; readonly now_ms: number; readonly lease_ms: number; readonly holder: string; readonly at_steps: readonly string[] | undefined; readonly reason: string },
): Promise<RunRecord | undefined> {
  const run = await findRun(transaction, options.id, { lock: true });
  if (run === undefined || finished_run_statuses.includes(run.status) || run.status === 'compensating') return undefined;
  if (options.at_steps !== undefined && !options.at_steps.includes(run.step)) return undefined;
  const [taken] = await takeLeases(transaction, [run], options, options.reason);
  return taken;
}

/** Ends an unfinished run as canceled, fencing out its holder. Returns whether it did. */
export async function cancelRun(transaction: Database, options: { readonly id: string; readonly now_ms: number; readonly reason: string; readonly holder: string }): Promise<boolean> {
  const run = await findRun(transaction, options.id, { lock: true });
  if (run === undefined || !isRunTransitionAllowed(run.status, 'canceled')) return false;
  const canceled: RunRecord = { ...run, status: 'canceled', fence: run.fence + 1, due_ms: null, holder: options.holder, error: options.reason, updated_ms: options.now_ms };
  if (!(await updateRun(transaction, canceled, run.fence))) return false;
  await appendTransitions(transaction, [
    {
      run_id: run.id,
      saga: run.saga,
      fence: canceled.fence,
      from_step: run.step,
      to_step: run.step,
      from_status: run.status,
      to_status: 'canceled',
      reason: options.reason,
      holder: options.holder,
      created_ms: options.now_ms,
    },
  ]);
  return true;
}
