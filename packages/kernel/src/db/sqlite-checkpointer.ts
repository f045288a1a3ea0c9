// The main thread's side of the checkpoint thread (`sqlite-checkpoint-worker.js`). One thread
// serves every SQLite file the process opens through the Database port; it starts with the first
// file and stops with the last.
import { Worker } from 'node:worker_threads';

type Reply = { type: 'failed'; file: string; message: string } | { type: 'unwatched'; request: number };

/** What a watched file is told when its checkpoints cannot run on the thread. */
export type CheckpointFailure = (message: string) => void;

class SqliteCheckpointThread {
  #worker: Worker | undefined;
  readonly #failure_by_file = new Map<string, CheckpointFailure[]>();
  readonly #unwatching = new Map<number, () => void>();
  #next_request = 1;

  /** Starts checkpointing `file` on the thread; `onFailure` hears if that is impossible. */
  watch(file: string, onFailure: CheckpointFailure): void {
    const listeners = this.#failure_by_file.get(file) ?? [];
    listeners.push(onFailure);
    this.#failure_by_file.set(file, listeners);
    this.#started().postMessage({ type: 'watch', file });
  }

  /**
   * Stops checkpointing `file` for one watcher, and resolves once the thread has closed its
   * connection if that was the last, so that the caller's connection is the file's last one
   * and its close checkpoints and removes the log as usual.
   */
  async unwatch(file: string, onFailure: CheckpointFailure): Promise<void> {
    const listeners = (this.#failure_by_file.get(file) ?? []).filter((listener) => listener !== onFailure);
    if (listeners.length > 0) this.#failure_by_file.set(file, listeners);
    else this.#failure_by_file.delete(file);
    const worker = this.#worker;
    if (worker === undefined) return;
    const request = this.#next_request++;
    const unwatched = new Promise<void>((resolve) => this.#unwatching.set(request, resolve));
    // A thread with an answer outstanding keeps the process alive until it answers.
    worker.ref();
    worker.postMessage({ type: 'unwatch', file, request });
    await unwatched;
    if (this.#failure_by_file.size === 0 && this.#unwatching.size === 0 && this.#worker === worker) {
      this.#worker = undefined;
      worker.postMessage('close');
    }
  }

  #started(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(new URL('./sqlite-checkpoint-worker.js', import.meta.url));
    // Checkpoints are housekeeping: they never keep the process alive.
    worker.unref();
    worker.on('message', (reply: Reply) => {
      if (reply.type === 'failed') {
        for (const listener of this.#failure_by_file.get(reply.file) ?? []) listener(reply.message);
        return;
      }
      const resolve = this.#unwatching.get(reply.request);
      this.#unwatching.delete(reply.request);
      if (this.#unwatching.size === 0) worker.unref();
      resolve?.();
    });
    const stopped = (message: string): void => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      for (const resolve of this.#unwatching.values()) resolve();
      this.#unwatching.clear();
      for (const listeners of this.#failure_by_file.values()) for (const listener of listeners) listener(message);
      this.#failure_by_file.clear();
    };
    worker.on('error', (error) => stopped(error.message));
    worker.on('exit', (code) => stopped(`the checkpoint thread stopped (exit code ${code})`));
    this.#worker = worker;
    return worker;
  }
}

/** The process's one checkpoint thread. */
export const sqlite_checkpoints = new SqliteCheckpointThread();
