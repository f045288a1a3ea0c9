import { Worker } from 'node:worker_threads';

/**
 * Starts a plain-JavaScript worker file. A worker inherits the process's Node.js flags, and
 * `--input-type` (set when the process runs a script given with `-e`) refuses to start a worker
 * from a file; Paygrid's workers need no flags of their own, so that one is left out.
 */
export function startWorkerFile(file: URL): Worker {
  const exec_argv = process.execArgv.filter((flag) => !flag.startsWith('--input-type'));
  return new Worker(file, { execArgv: exec_argv });
}
