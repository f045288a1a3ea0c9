// @ts-check
// The PostgreSQL ledger's writer connection, on a thread of its own.
//
// A commit is a handful of statements in one transaction, and each waits for an event loop to
// read the answer and send the next. On the main thread that loop is busy applying the next batch
// for tens of milliseconds at a time, so the commit stood still meanwhile and applying and
// committing took turns instead of overlapping. Here the connection has a loop of its own.
//
// This thread holds the fence too: the advisory lock is a property of the session, and the session
// that writes must be the one that holds it. If the connection breaks, the thread says so and stops
// writing; the main thread then starts a new one, which waits for the lock like any other writer.
//
// This file is plain JavaScript (type-checked through JSDoc) so that the thread starts without a
// TypeScript loader, whichever way the process itself was started.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parentPort } from 'node:worker_threads';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';

/**
 * @typedef {object} AcquireMessage
 * @property {'acquire'} type
 * @property {string} url
 * @property {string} search_path the ledger's schema, quoted
 * @property {number} lock_class
 * @property {string} lock_name hashed by PostgreSQL into the lock's second key
 * @property {number} lock_retry_ms
 * @property {number} connect_timeout_ms
 * @property {string} setup_sql run once the lock is held
 *
 * @typedef {{ copy: string, rows: ArrayBuffer } | { sql: string, params: unknown[], expected_row_count?: number, refusal?: string }} CommitStep
 * @typedef {{ type: 'commit', steps: CommitStep[], prepare_gid?: string }} CommitMessage
 *   With `prepare_gid`, the transaction ends with PREPARE TRANSACTION instead of COMMIT (two-phase
 *   commit of one leg of a transfer between shards): durable, invisible and holding its row locks
 *   until another connection runs COMMIT PREPARED or ROLLBACK PREPARED.
 */

/**
 * The gids this thread prepares. PREPARE TRANSACTION takes its gid as a literal, not a bind
 * parameter, so the gid is pasted into the statement: only letters, digits and `:._-` may appear,
 * at most 199 of them (PostgreSQL's 200 bytes hold a terminating zero too). The main thread's
 * `prepared_gid_pattern` is the same; it is checked again here because this is where the text
 * becomes SQL.
 */
const prepared_gid_pattern = /^[A-Za-z0-9:._-]{1,199}$/;

if (parentPort === null) throw new Error('postgres-commit-worker.js runs as a worker thread');
const port = parentPort;

/** @type {pg.Client | undefined} */
let client;
let broken = false;
/** Commits run one after another, in the order they were sent. */
let chain = Promise.resolve();

/**
 * Message payloads arrive as Uint8Arrays; the driver sends only Buffers as bytea.
 * @param {unknown} value
 * @returns {unknown}
 */
function asDriverValue(value) {
  if (Array.isArray(value)) return value.map(asDriverValue);
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return value;
}

/** @param {unknown} error */
function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

/** @param {AcquireMessage} message */
async function acquire(message) {
  const connecting = new pg.Client({
    connectionString: message.url,
    options: `-c search_path=${message.search_path}`,
    connectionTimeoutMillis: message.connect_timeout_ms,
  });
  // A dropped connection must not end the process: it breaks the fence, and the main thread hears.
  connecting.on('error', (error) => {
    if (broken) return;
    broken = true;
    port.postMessage({ type: 'broken', message: messageOf(error) });
  });
  connecting.on('end', () => {
    if (broken) return;
    broken = true;
    port.postMessage({ type: 'broken', message: 'the ledger writer connection ended' });
  });
  try {
    await connecting.connect();
    await holdLock(connecting, message);
    await connecting.query(message.setup_sql);
  } catch (error) {
    broken = true;
    await connecting.end().catch(() => undefined);
    throw error;
  }
  client = connecting;
}

/**
 * Waits for the ledger's advisory lock on this session, telling the main thread once who holds it.
 * @param {pg.Client} connecting
 * @param {AcquireMessage} message
 */
async function holdLock(connecting, message) {
  let warned = false;
  for (;;) {
    /** @type {pg.QueryResult<{ locked: boolean }>} */
    const result = await connecting.query('SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked', [message.lock_class, message.lock_name]);
    if (result.rows[0]?.locked === true) break;
    if (!warned) {
      /** @type {pg.QueryResult<{ pid: number }>} */
      const holder = await connecting.query(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = hashtext($2)::oid AND granted",
        [message.lock_class, message.lock_name],
      );
      port.postMessage({ type: 'waiting', pid: holder.rows[0]?.pid ?? null });
      warned = true;
    }
    await new Promise((resolve) => setTimeout(resolve, message.lock_retry_ms));
  }
}

/**
 * PREPARE TRANSACTION for `gid`, quoted as a literal once it is known to need no escaping.
 * @param {string} gid
 */
function prepareStatement(gid) {
  if (!prepared_gid_pattern.test(gid)) throw new Error(`a prepared transaction's gid must match ${String(prepared_gid_pattern)}`);
  return `PREPARE TRANSACTION '${gid}'`;
}

/**
 * One batch in one transaction. If PREPARE TRANSACTION itself fails (the gid is taken, or the
 * server allows no prepared transactions), PostgreSQL has rolled the transaction back already, and
 * the ROLLBACK below only draws a warning that none is in progress.
 * @param {CommitMessage} message
 */
async function commit(message) {
  const writer = client;
  if (writer === undefined || broken) throw new Error('the ledger writer connection is lost; the fence must be taken again');
  await writer.query('BEGIN');
  try {
    for (const step of message.steps) {
      if ('copy' in step) {
        await pipeline(Readable.from([Buffer.from(step.rows)]), writer.query(copyStreams.from(step.copy)));
        continue;
      }
      const result = await writer.query(step.sql, /** @type {unknown[]} */ (asDriverValue(step.params)));
      if (step.expected_row_count !== undefined && result.rowCount !== step.expected_row_count) throw new Error(step.refusal ?? 'a statement changed an unexpected number of rows');
    }
    if (message.prepare_gid === undefined) await writer.query('COMMIT');
    else await writer.query(prepareStatement(message.prepare_gid));
  } catch (error) {
    await writer.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

port.on('message', (/** @type {AcquireMessage | CommitMessage | { type: 'close' }} */ message) => {
  if (message.type === 'acquire') {
    acquire(message).then(
      () => port.postMessage({ type: 'acquired' }),
      (error) => port.postMessage({ type: 'acquire_failed', message: messageOf(error) }),
    );
    return;
  }
  // Commits and prepares share this one chain: they run one after another, in the order sent.
  if (message.type === 'commit') {
    chain = chain.then(() =>
      commit(message).then(
        () => port.postMessage({ type: 'committed' }),
        (error) => port.postMessage({ type: 'commit_failed', message: messageOf(error) }),
      ),
    );
    return;
  }
  // Ending the session releases the advisory lock, letting a standby take over at once.
  broken = true;
  void chain.then(async () => {
    await client?.end().catch(() => undefined);
    port.close();
  });
});
