// @ts-check
// Write-ahead-log checkpoints for the embedded services' SQLite files, on a thread of their own.
//
// SQLite copies the write-ahead log back into the database file (a checkpoint) every 1,000 pages
// by default, inside whichever COMMIT crosses that mark, and then fsyncs the file. better-sqlite3
// is synchronous, so that commit would stop the whole process for the copy and the fsync: every
// request in flight waits, which shows as a latency spike. Here a second connection to each file
// checkpoints on a timer instead, beside the services rather than in their way. A PASSIVE
// checkpoint never waits for readers or writers, and writers never wait for it.
//
// This file is plain JavaScript (type-checked through JSDoc) so that the thread starts without a
// TypeScript loader, whichever way the process itself was started.
import { parentPort } from 'node:worker_threads';
import Database from 'better-sqlite3';

/** How often each watched file is checkpointed. */
const checkpoint_interval_ms = 250;
/** How long this connection waits for another's lock when it opens a file. */
const busy_timeout_ms = 5_000;

/**
 * @typedef {{ type: 'watch', file: string }} WatchMessage
 * @typedef {{ type: 'unwatch', file: string, request: number }} UnwatchMessage
 * @typedef {{ type: 'failed', file: string, message: string }} FailedReply
 * @typedef {{ type: 'unwatched', request: number }} UnwatchedReply
 */

/**
 * One connection per watched file, with how many adapters in this process watch it.
 * @type {Map<string, { db: import('better-sqlite3').Database, watchers: number }>} */
const watched = new Map();

/**
 * @param {string} file
 * @returns {string | undefined} why the file cannot be watched, if it cannot
 */
function watch(file) {
  const entry = watched.get(file);
  if (entry !== undefined) {
    entry.watchers += 1;
    return undefined;
  }
  try {
    const db = new Database(file, { fileMustExist: true });
    db.pragma(`busy_timeout = ${busy_timeout_ms}`);
    // The services' own connection fsyncs every commit; this one only checkpoints, and FULL
    // makes each checkpoint fsync the database file before the log may be started over.
    db.pragma('synchronous = FULL');
    watched.set(file, { db, watchers: 1 });
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** @param {string} file */
function unwatch(file) {
  const entry = watched.get(file);
  if (entry === undefined) return;
  entry.watchers -= 1;
  if (entry.watchers > 0) return;
  watched.delete(file);
  entry.db.close();
}

function checkpointAll() {
  for (const [file, entry] of watched) {
    try {
      entry.db.pragma('wal_checkpoint(PASSIVE)');
    } catch (error) {
      // A checkpoint that fails now (the file is busy or gone) is tried again on the next tick;
      // the log only grows meanwhile, and nothing committed is at risk.
      const message = error instanceof Error ? error.message : String(error);
      parentPort?.postMessage(/** @type {FailedReply} */ ({ type: 'failed', file, message }));
    }
  }
}

if (parentPort !== null) {
  const port = parentPort;
  const timer = setInterval(checkpointAll, checkpoint_interval_ms);
  port.on('message', (/** @type {WatchMessage | UnwatchMessage | 'close'} */ message) => {
    if (message === 'close') {
      clearInterval(timer);
      for (const file of [...watched.keys()]) {
        const entry = watched.get(file);
        if (entry !== undefined) entry.watchers = 1;
        unwatch(file);
      }
      port.close();
      return;
    }
    if (message.type === 'watch') {
      const failure = watch(message.file);
      if (failure !== undefined) port.postMessage(/** @type {FailedReply} */ ({ type: 'failed', file: message.file, message: failure }));
      return;
    }
    unwatch(message.file);
    port.postMessage(/** @type {UnwatchedReply} */ ({ type: 'unwatched', request: message.request }));
  });
}
