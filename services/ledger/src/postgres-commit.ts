// The main thread's side of the PostgreSQL writer thread (`postgres-commit-worker.js`): it starts
// the thread, which connects and takes the ledger's advisory lock, then sends each commit as a list
// of statements and COPY payloads and answers it when the thread reports it committed.
import type { Worker } from 'node:worker_threads';
import { assert, startWorkerFile } from '@paygrid/kernel';
import { ownArrayBuffer } from './worker-thread';

/** One statement of a commit: a binary COPY with its rows, or a query with its parameters. */
export type CommitStep =
  | { readonly copy: string; readonly rows: Buffer }
  | { readonly sql: string; readonly params: readonly unknown[]; readonly expected_row_count?: number; readonly refusal?: string };

export interface PostgresWriterThreadOptions {
  readonly url: string;
  /** The ledger's schema, quoted, for the connection's search_path. */
  readonly search_path: string;
  readonly lock_class: number;
  readonly lock_name: string;
  readonly lock_retry_ms: number;
  readonly connect_timeout_ms: number;
  /** Run once the lock is held, before any commit. */
  readonly setup_sql: string;
}

type Reply =
  | { type: 'waiting'; pid: number | null }
  | { type: 'acquired' }
  | { type: 'acquire_failed'; message: string }
  | { type: 'committed' }
  | { type: 'commit_failed'; message: string }
  | { type: 'broken'; message: string };

interface Waiting {
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * The gids two-phase commit may use. PREPARE TRANSACTION takes its gid as a literal, so it is
 * pasted into the statement: letters, digits and `:._-` need no quoting. PostgreSQL keeps 200
 * bytes with the terminating zero, so a gid has at most 199 ("transaction identifier … is too
 * long" past that), and gids are shared by every database of the cluster, not one per database.
 */
export const prepared_gid_pattern = /^[A-Za-z0-9:._-]{1,199}$/;

/** A gid outside `prepared_gid_pattern` is the caller's bug, not a runtime condition. */
export function assertPreparedGid(gid: string): void {
  assert(prepared_gid_pattern.test(gid), `a prepared transaction's gid must match ${String(prepared_gid_pattern)}, not ${JSON.stringify(gid.slice(0, 220))}`);
}

export const fence_lost = 'the ledger writer connection is lost; the fence must be taken again';

/**
 * One writer thread: one connection, holding the lock from `acquire` until it breaks or `close`.
 * A broken thread fails every commit waiting on it and refuses the next; the store then starts a
 * new thread, which must take the lock again.
 */
export class PostgresWriterThread {
  readonly #worker: Worker;
  readonly #waiting: Waiting[] = [];
  #acquired = false;
  #broken: string | undefined;
  #exited: Promise<void>;
  readonly #onLost: () => void;

  private constructor(worker: Worker, onLost: () => void) {
    this.#worker = worker;
    this.#onLost = onLost;
    this.#exited = new Promise((resolve) => worker.once('exit', () => resolve()));
  }

  /**
   * Starts a thread and resolves once it holds the lock; `onWaiting` hears once if another writer
   * has it, and `onLost` once if the thread, having held the lock, loses it (its connection broke
   * or the thread stopped), whoever closed it.
   */
  static async acquire(
    options: PostgresWriterThreadOptions,
    onWaiting: (holder_pid: number | null) => void,
    onLost: () => void = () => undefined,
  ): Promise<PostgresWriterThread> {
    const thread = new PostgresWriterThread(startWorkerFile(new URL('./postgres-commit-worker.js', import.meta.url)), onLost);
    const acquired = new Promise<void>((resolve, reject) => {
      thread.#worker.on('message', (reply: Reply) => {
        if (reply.type === 'waiting') onWaiting(reply.pid);
        else if (reply.type === 'acquired') resolve();
        else if (reply.type === 'acquire_failed') reject(new Error(reply.message));
        else thread.#answer(reply);
      });
      const stopped = (message: string): void => {
        reject(new Error(message));
        thread.#fail(message);
      };
      thread.#worker.on('error', (error) => stopped(error.message));
      thread.#worker.on('exit', (code) => stopped(`the ledger writer thread stopped (exit code ${code})`));
    });
    thread.#worker.postMessage({ type: 'acquire', ...options });
    try {
      await acquired;
    } catch (error) {
      await thread.#worker.terminate();
      throw error;
    }
    thread.#acquired = true;
    return thread;
  }

  /** Whether commits can still go through this thread. */
  get usable(): boolean {
    return this.#acquired && this.#broken === undefined;
  }

  /**
   * Runs `steps` in one transaction, after every commit sent before. With `prepare_gid`, the
   * transaction ends with PREPARE TRANSACTION `prepare_gid` instead of COMMIT.
   */
  commit(steps: readonly CommitStep[], prepare_gid?: string): Promise<void> {
    if (prepare_gid !== undefined) assertPreparedGid(prepare_gid);
    if (!this.usable) return Promise.reject(new Error(fence_lost));
    const transfer: ArrayBuffer[] = [];
    const message = steps.map((step) => {
      if (!('copy' in step)) return step;
      const rows = ownArrayBuffer(step.rows);
      transfer.push(rows);
      return { copy: step.copy, rows };
    });
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#worker.postMessage({ type: 'commit', steps: message, prepare_gid }, transfer);
    });
  }

  /** Waits for the commits sent so far, then ends the session (releasing the lock) and the thread. */
  async close(): Promise<void> {
    this.#worker.postMessage({ type: 'close' });
    await this.#exited;
  }

  #answer(reply: Reply): void {
    if (reply.type === 'broken') {
      this.#fail(`${fence_lost} (${reply.message})`);
      return;
    }
    const waiting = this.#waiting.shift();
    // A commit in flight when the connection broke was failed then; its own answer comes later.
    if (waiting === undefined) {
      assert(this.#broken !== undefined, 'the ledger writer thread answered a commit nobody sent');
      return;
    }
    if (reply.type === 'committed') waiting.resolve();
    else if (reply.type === 'commit_failed') waiting.reject(new Error(reply.message));
  }

  #fail(message: string): void {
    const first = this.#broken === undefined;
    this.#broken ??= message;
    for (const waiting of this.#waiting.splice(0)) waiting.reject(new Error(message));
    if (first && this.#acquired) this.#onLost();
  }
}
