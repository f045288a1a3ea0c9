// The main thread's side of sqlite-checkpoint-worker.js: one worker thread for every SQLite file
// the process opens through the Database port, started with the first and stopped with the last.
import type { Worker } from 'node:worker_threads';
import { startWorkerFile } from '../worker-thread';
import { sqlite_busy_timeout_ms } from './sqlite';

type Reply =
  | { readonly kind: 'done'; readonly id: number }
  | { readonly kind: 'failed'; readonly id: number; readonly message: string }
  | { readonly kind: 'checkpoint_failed'; readonly file: string; readonly message: string };

class BackgroundCheckpointer {
  #worker: Worker | undefined;
  #next_id = 1;
  readonly #waiting = new Map<number, { readonly done: () => void; readonly fail: (error: Error) => void }>();
  #watched = 0;
  /** Files whose failed checkpoint was reported already: a failing file fails every round. */
  readonly #reported = new Set<string>();

  async watch(file: string): Promise<void> {
    this.#watched += 1;
    try {
      await this.#request({ kind: 'watch', file, busy_timeout_ms: sqlite_busy_timeout_ms });
    } catch (error) {
      this.#watched -= 1;
      throw error;
    }
  }

  async unwatch(file: string): Promise<void> {
    try {
      await this.#request({ kind: 'unwatch', file });
    } finally {
      this.#watched -= 1;
      if (this.#watched === 0) await this.#stop();
    }
  }

  async #request(request: { readonly kind: 'watch' | 'unwatch'; readonly file: string; readonly busy_timeout_ms?: number }): Promise<void> {
    const worker = this.#started();
    const id = this.#next_id;
    this.#next_id += 1;
    // Referenced while a reply is due, so that a process closing its databases waits for it;
    // otherwise the thread never keeps the process alive.
    worker.ref();
    try {
      await new Promise<void>((done, fail) => {
        this.#waiting.set(id, { done, fail });
        worker.postMessage({ ...request, id });
      });
    } finally {
      if (this.#waiting.size === 0) worker.unref();
    }
  }

  #started(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = startWorkerFile(new URL('./sqlite-checkpoint-worker.js', import.meta.url));
    worker.unref();
    worker.on('message', (reply: Reply) => {
      if (reply.kind === 'checkpoint_failed') {
        if (!this.#reported.has(reply.file)) process.emitWarning(`SQLite ${reply.file} could not be checkpointed in the background: ${reply.message}`);
        this.#reported.add(reply.file);
        return;
      }
      const waiting = this.#waiting.get(reply.id);
      this.#waiting.delete(reply.id);
      if (reply.kind === 'done') waiting?.done();
      else waiting?.fail(new Error(`the SQLite checkpoint thread refused: ${reply.message}`));
    });
    const forget = (error: Error) => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const waiting of this.#waiting.values()) waiting.fail(error);
      this.#waiting.clear();
    };
    worker.on('error', forget);
    worker.on('exit', (code) => forget(new Error(`the SQLite checkpoint thread exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  async #stop(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker !== undefined) await worker.terminate();
  }
}

const background_checkpointer = new BackgroundCheckpointer();

/**
 * Checkpoints `file` from the background thread until the returned function is called. The
 * caller's connection should keep a (higher) `wal_autocheckpoint` of its own as a safety net.
 */
export async function checkpointInBackground(file: string): Promise<() => Promise<void>> {
  await background_checkpointer.watch(file);
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    await background_checkpointer.unwatch(file);
  };
}
