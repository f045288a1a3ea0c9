// @ts-check
// Checkpoints the services' SQLite files on a thread of their own.
//
// A checkpoint copies the pages of the write-ahead log back into the database file and fsyncs
// both. Left to SQLite, it runs inside whichever COMMIT crosses the `wal_autocheckpoint`
// threshold, on the main thread, where it stopped every request in the process: measured on the
// API benchmark's write pattern, it was two thirds of the time spent in COMMIT. Here a connection
// of its own to each file runs PASSIVE checkpoints on a timer. PASSIVE never waits for a lock:
// it copies what no reader still needs and leaves the rest for the next round, and the writer
// starts the log over from the beginning once everything in it has been copied.
//
// Plain JavaScript (type-checked through JSDoc) so that the thread starts without a TypeScript
// loader, whichever way the process itself was started.
import { parentPort } from 'node:worker_threads';
import Database from 'better-sqlite3';

/** How often every watched file is checkpointed. */
const checkpoint_interval_ms = 50;

/**
 * @typedef {{ kind: 'watch', id: number, file: string, busy_timeout_ms: number }
 *   | { kind: 'unwatch', id: number, file: string }} Request
 */

/** @type {Map<string, { db: Database.Database, watchers: number }>} */
const connections = new Map();

/** @param {string} file */
function checkpoint(file) {
  const connection = connections.get(file);
  if (connection === undefined) return;
  try {
    connection.db.pragma('wal_checkpoint(PASSIVE)');
  } catch (error) {
    // The main connection still checkpoints by itself past its own (higher) threshold, so a
    // failed round only delays the copy; the next round tries again.
    parentPort?.postMessage({ kind: 'checkpoint_failed', file, message: error instanceof Error ? error.message : String(error) });
  }
}

/** @param {Request} request */
function handle(request) {
  if (request.kind === 'watch') {
    const existing = connections.get(request.file);
    if (existing !== undefined) {
      existing.watchers += 1;
      return;
    }
    const db = new Database(request.file, { fileMustExist: true });
    db.pragma(`busy_timeout = ${request.busy_timeout_ms}`);
    // NORMAL: the checkpoint fsyncs the log before copying it and the database file after.
    db.pragma('synchronous = NORMAL');
    connections.set(request.file, { db, watchers: 1 });
    return;
  }
  const connection = connections.get(request.file);
  if (connection === undefined) return;
  connection.watchers -= 1;
  if (connection.watchers > 0) return;
  connections.delete(request.file);
  connection.db.close();
}

parentPort?.on('message', (/** @type {Request} */ request) => {
  try {
    handle(request);
    parentPort?.postMessage({ kind: 'done', id: request.id });
  } catch (error) {
    parentPort?.postMessage({ kind: 'failed', id: request.id, message: error instanceof Error ? error.message : String(error) });
  }
});

setInterval(() => {
  for (const file of connections.keys()) checkpoint(file);
}, checkpoint_interval_ms);
