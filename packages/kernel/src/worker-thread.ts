import { Worker } from 'node:worker_threads';

/**
 * Starts a plain-JavaScript worker file with no Node.js flags. By default a worker inherits the
 * process's flags, and several that are fine for a process refuse a worker: `--input-type` (set
 * when the process runs a script given with `-e`) and `--trace-gc`, for two. Paygrid's workers
 * are plain JavaScript and need no flags, so they get none: a process started with any flags at
 * all still has its ledger commits and checkpoints.
 */
export function startWorkerFile(file: URL): Worker {
  return new Worker(file, { execArgv: [] });
}
