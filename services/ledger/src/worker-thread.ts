import { Worker } from 'node:worker_threads';

/**
 * Starts one of the ledger's plain-JavaScript worker files. A worker inherits the process's Node.js
 * flags, and `--input-type` (set when the process runs a script given with `-e`) refuses to start
 * a worker from a file; the workers need no flags of their own, so that one is left out.
 */
export function startLedgerWorker(file: URL): Worker {
  const exec_argv = process.execArgv.filter((flag) => !flag.startsWith('--input-type'));
  return new Worker(file, { execArgv: exec_argv });
}

/** A buffer's bytes as an ArrayBuffer of their own, to move to a worker without a copy. */
export function ownArrayBuffer(bytes: Buffer): ArrayBuffer {
  const { buffer } = bytes;
  if (buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength) return buffer;
  return Uint8Array.prototype.slice.call(bytes).buffer;
}
