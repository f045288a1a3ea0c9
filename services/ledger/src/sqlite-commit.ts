// The main thread's side of the SQLite store's commit thread (`sqlite-commit-worker.js`): encodes
// what a batch writes besides its sealed bytes, sends both buffers without copying them, and
// answers each commit when the thread reports it durable.
import type { Worker } from 'node:worker_threads';
import { assert, startWorkerFile } from '@paygrid/kernel';
import { ownArrayBuffer } from './worker-thread';
import { hash_bytes, writeId } from './codec';
import type { BatchCommit } from './store';

const balance_record_bytes = 8 * 5 + 1;
const transfer_keys_bytes = 8 * 2;
const history_record_bytes = 16 + 8 * 5;

export interface SqliteCommitThreadOptions {
  readonly file: string;
  readonly busy_timeout_ms: number;
  readonly cache_kib: number;
}

/**
 * The tail of a commit: the batch's hash, every changed balance, each new transfer's account keys
 * (in transfer order) and the balance history rows. The layout is read back by
 * `sqlite-commit-worker.js`.
 */
export function encodeCommitTail(batch: BatchCommit): Buffer {
  assert(batch.hash.length === hash_bytes);
  assert(batch.transfer_account_keys.length === batch.sealed.transfers.length, 'every transfer comes with its account keys');
  const size =
    hash_bytes + 4 + batch.balances.length * balance_record_bytes + batch.transfer_account_keys.length * transfer_keys_bytes + 4 + batch.history.length * history_record_bytes;
  const out = Buffer.alloc(size);
  let at = batch.hash.copy(out, 0);
  at = out.writeUInt32BE(batch.balances.length, at);
  for (const balance of batch.balances) {
    at = out.writeBigUInt64BE(balance.account_key, at);
    at = out.writeBigUInt64BE(balance.debits_pending, at);
    at = out.writeBigUInt64BE(balance.debits_posted, at);
    at = out.writeBigUInt64BE(balance.credits_pending, at);
    at = out.writeBigUInt64BE(balance.credits_posted, at);
    at = out.writeUInt8(balance.closed ? 1 : 0, at);
  }
  for (const [debit, credit] of batch.transfer_account_keys) {
    at = out.writeBigUInt64BE(debit, at);
    at = out.writeBigUInt64BE(credit, at);
  }
  at = out.writeUInt32BE(batch.history.length, at);
  for (const balance of batch.history) {
    at = writeId(out, balance.account_id, at);
    at = out.writeBigUInt64BE(balance.timestamp, at);
    at = out.writeBigUInt64BE(balance.debits_pending, at);
    at = out.writeBigUInt64BE(balance.debits_posted, at);
    at = out.writeBigUInt64BE(balance.credits_pending, at);
    at = out.writeBigUInt64BE(balance.credits_posted, at);
  }
  assert(at === size);
  return out;
}

type Reply = { ok: true } | { ok: false; message: string };

interface Waiting {
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * One commit thread with its own connection to the ledger file. Commits are answered in the order
 * they were sent. If the thread dies, every commit waiting on it fails (the writer then reloads
 * its state from the file) and the next commit starts a new thread.
 */
export class SqliteCommitThread {
  #worker: Worker | undefined;
  readonly #waiting: Waiting[] = [];
  #closed = false;

  constructor(private readonly options: SqliteCommitThreadOptions) {}

  commit(batch: BatchCommit): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('the ledger store is closed'));
    const sealed = ownArrayBuffer(batch.sealed_bytes);
    const tail = ownArrayBuffer(encodeCommitTail(batch));
    const worker = this.#started();
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      // A thread with work outstanding keeps the process alive until it answers.
      worker.ref();
      worker.postMessage({ sealed, tail }, [sealed, tail]);
    });
  }

  /** Waits for the commits sent so far, then stops the thread and closes its connection. */
  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    if (worker === undefined) return;
    this.#worker = undefined;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref();
    worker.postMessage('close');
    await exited;
  }

  #started(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = startWorkerFile(new URL('./sqlite-commit-worker.js', import.meta.url));
    worker.unref();
    worker.postMessage({ ...this.options });
    worker.on('message', (reply: Reply) => {
      const waiting = this.#waiting.shift();
      assert(waiting !== undefined, 'the commit thread answered a commit nobody sent');
      if (this.#waiting.length === 0) worker.unref();
      if (reply.ok) waiting.resolve();
      else waiting.reject(new Error(reply.message));
    });
    const failAll = (error: Error): void => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const waiting of this.#waiting.splice(0)) waiting.reject(error);
    };
    worker.on('error', (error) => failAll(error));
    worker.on('exit', (code) => failAll(new Error(`the ledger commit thread stopped (exit code ${code})`)));
    this.#worker = worker;
    return worker;
  }
}
