// @ts-check
// The embedded ledger's committer, on a thread of its own.
//
// better-sqlite3 is synchronous. Committing on the main thread would stop the writer from applying
// the next batch, and the whole process from serving requests, while SQLite writes the batch and
// waits for fsync. Here the commit runs beside them on the second core, as PostgreSQL's commit runs
// in its own server process, so the writer's two-deep pipeline works the same on both stores.
//
// This file is plain JavaScript (type-checked through JSDoc) so that the thread starts without a
// TypeScript loader, whichever way the process itself was started.
//
// A batch arrives as two buffers:
// - `sealed`: the batch exactly as the hash chain covers it (`encodeSealedBatch` in codec.ts);
// - `tail`: what the store writes besides (`encodeCommitTail` in sqlite-commit.ts).
// Both are fixed-width and big-endian; ids are 16 bytes, which is also how they are stored.
import { parentPort } from 'node:worker_threads';
import Database from 'better-sqlite3';

/** Mirrors `status_codes` in codec.ts. */
const status_by_code = ['', 'posted', 'voided', 'expired'];
const pending_flag = 1 << 1;
const id_bytes = 16;
const hash_bytes = 32;
/** Write-ahead log between checkpoints. */
const wal_autocheckpoint_bytes = 64 * 1024 * 1024;
/** Mirrors `sealed_transfer_bytes` in codec.ts. */
const transfer_record_bytes = 120;

/**
 * @typedef {object} CommitterOptions
 * @property {string} file
 * @property {number} busy_timeout_ms
 * @property {number} cache_kib
 */

/**
 * @typedef {object} CommitRequest
 * @property {ArrayBuffer} sealed
 * @property {ArrayBuffer} tail
 */

/**
 * Opens the ledger file as the kernel's `openSqlite` does for durable money data, and prepares the
 * statements a commit runs.
 * @param {CommitterOptions} options
 */
export function openCommitter(options) {
  const db = new Database(options.file, { fileMustExist: true });
  const journal_mode = db.pragma('journal_mode', { simple: true });
  if (journal_mode !== 'wal') throw new Error(`the ledger file is not in WAL mode (journal_mode is ${String(journal_mode)})`);
  db.pragma('synchronous = FULL');
  db.pragma(`busy_timeout = ${options.busy_timeout_ms}`);
  db.pragma(`cache_size = -${options.cache_kib}`);
  // SQLite copies the write-ahead log back into the file every `wal_autocheckpoint` pages. One
  // full client batch of 8,190 transfers writes megabytes, so the default (1,000 pages) would
  // checkpoint after nearly every commit, copying hot pages (balances, index edges) each time.
  const page_size = Number(db.pragma('page_size', { simple: true }));
  db.pragma(`wal_autocheckpoint = ${Math.ceil(wal_autocheckpoint_bytes / page_size)}`);
  db.defaultSafeIntegers(true);
  const statements = {
    insertAccount: db.prepare(
      'INSERT INTO ledger_accounts (timestamp, id, ledger, code, flags, user_data_128, user_data_64, user_data_32) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    insertBalance: db.prepare(
      'INSERT INTO ledger_balances (account_key, debits_pending, debits_posted, credits_pending, credits_posted, closed) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    updateBalance: db.prepare(
      'UPDATE ledger_balances SET debits_pending = ?, debits_posted = ?, credits_pending = ?, credits_posted = ?, closed = ? WHERE account_key = ?',
    ),
    insertTransfer: db.prepare(
      `INSERT INTO ledger_transfers (id, debit_account_id, credit_account_id, amount, pending_id, user_data_128, user_data_64, user_data_32,
        timeout, ledger, code, flags, timestamp, debit_account_key, credit_account_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertPending: db.prepare("INSERT INTO ledger_pending_transfers (id, status, resolved_timestamp) VALUES (?, 'pending', NULL)"),
    resolvePending: db.prepare("UPDATE ledger_pending_transfers SET status = ?, resolved_timestamp = ? WHERE id = ? AND status = 'pending'"),
    insertHistory: db.prepare(
      'INSERT INTO ledger_account_balances (account_id, timestamp, debits_pending, debits_posted, credits_pending, credits_posted) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    insertBatch: db.prepare(
      'INSERT INTO ledger_batches (id, timestamp_first, timestamp_last, accounts_created, transfers_created, pending_resolved, previous_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
  };

  /**
   * Writes one batch in one transaction; throws (and writes nothing) if any statement fails.
   * @param {CommitRequest} request
   */
  function commit(request) {
    const sealed = Buffer.from(request.sealed);
    const tail = Buffer.from(request.tail);
    const s = statements;
    db.transaction(() => {
      // The sealed part: header, accounts, transfers, resolutions.
      const previous_hash = sealed.subarray(0, hash_bytes);
      let at = hash_bytes;
      const batch_id = sealed.readBigUInt64BE(at);
      const timestamp_first = sealed.readBigUInt64BE(at + 8);
      const timestamp_last = sealed.readBigUInt64BE(at + 16);
      at += 24;
      const account_count = sealed.readUInt32BE(at);
      at += 4;
      /** @type {Set<bigint>} */
      const created = new Set();
      for (let index = 0; index < account_count; index++) {
        const timestamp = sealed.readBigUInt64BE(at + 52);
        created.add(timestamp);
        s.insertAccount.run(
          timestamp,
          sealed.subarray(at, at + id_bytes),
          sealed.readUInt32BE(at + 16),
          sealed.readUInt16BE(at + 20),
          sealed.readUInt16BE(at + 22),
          sealed.subarray(at + 24, at + 40),
          sealed.readBigUInt64BE(at + 40),
          sealed.readUInt32BE(at + 48),
        );
        at += 60;
      }
      const transfer_count = sealed.readUInt32BE(at);
      at += 4;
      const transfers_at = at;
      at += transfer_count * transfer_record_bytes;
      const resolution_count = sealed.readUInt32BE(at);
      at += 4;
      const resolutions_at = at;
      at += resolution_count * 25;
      if (at !== sealed.length) throw new Error('the sealed batch is not as long as its counts say');

      // The tail: hash, balances, each transfer's account keys, history.
      const hash = tail.subarray(0, hash_bytes);
      let tail_at = hash_bytes;
      const balance_count = tail.readUInt32BE(tail_at);
      tail_at += 4;
      for (let index = 0; index < balance_count; index++) {
        const account_key = tail.readBigUInt64BE(tail_at);
        const debits_pending = tail.readBigUInt64BE(tail_at + 8);
        const debits_posted = tail.readBigUInt64BE(tail_at + 16);
        const credits_pending = tail.readBigUInt64BE(tail_at + 24);
        const credits_posted = tail.readBigUInt64BE(tail_at + 32);
        const closed = tail.readUInt8(tail_at + 40);
        if (created.has(account_key)) s.insertBalance.run(account_key, debits_pending, debits_posted, credits_pending, credits_posted, closed);
        else s.updateBalance.run(debits_pending, debits_posted, credits_pending, credits_posted, closed, account_key);
        tail_at += 41;
      }
      for (let index = 0, record = transfers_at; index < transfer_count; index++, record += transfer_record_bytes) {
        const id = sealed.subarray(record, record + id_bytes);
        const flags = sealed.readUInt16BE(record + 110);
        s.insertTransfer.run(
          id,
          sealed.subarray(record + 16, record + 32),
          sealed.subarray(record + 32, record + 48),
          sealed.readBigUInt64BE(record + 48),
          sealed.subarray(record + 56, record + 72),
          sealed.subarray(record + 72, record + 88),
          sealed.readBigUInt64BE(record + 88),
          sealed.readUInt32BE(record + 96),
          sealed.readUInt32BE(record + 100),
          sealed.readUInt32BE(record + 104),
          sealed.readUInt16BE(record + 108),
          flags,
          sealed.readBigUInt64BE(record + 112),
          tail.readBigUInt64BE(tail_at),
          tail.readBigUInt64BE(tail_at + 8),
        );
        tail_at += 16;
        if ((flags & pending_flag) !== 0) s.insertPending.run(id);
      }
      for (let index = 0, record = resolutions_at; index < resolution_count; index++, record += 25) {
        const id = sealed.subarray(record, record + id_bytes);
        const status = status_by_code[sealed.readUInt8(record + 16)];
        const changed = s.resolvePending.run(status, sealed.readBigUInt64BE(record + 17), id);
        if (changed.changes !== 1) throw new Error(`pending transfer ${id.toString('hex')} was not pending in the store`);
      }
      const history_count = tail.readUInt32BE(tail_at);
      tail_at += 4;
      for (let index = 0; index < history_count; index++) {
        s.insertHistory.run(
          tail.subarray(tail_at, tail_at + id_bytes),
          tail.readBigUInt64BE(tail_at + 16),
          tail.readBigUInt64BE(tail_at + 24),
          tail.readBigUInt64BE(tail_at + 32),
          tail.readBigUInt64BE(tail_at + 40),
          tail.readBigUInt64BE(tail_at + 48),
        );
        tail_at += 56;
      }
      if (tail_at !== tail.length) throw new Error('the commit tail is not as long as its counts say');
      s.insertBatch.run(batch_id, timestamp_first, timestamp_last, account_count, transfer_count, resolution_count, previous_hash, hash);
    })();
  }

  return { commit, close: () => db.close() };
}

// Started as a thread by the SQLite store. The first message says which file to open; each one
// after it is a commit, answered in order, one at a time.
if (parentPort !== null) {
  const port = parentPort;
  /** @type {ReturnType<typeof openCommitter> | undefined} */
  let committer;
  port.on('message', (/** @type {CommitterOptions | CommitRequest | 'close'} */ message) => {
    if (message === 'close') {
      committer?.close();
      port.close();
      return;
    }
    if ('file' in message) {
      committer = openCommitter(message);
      return;
    }
    try {
      if (committer === undefined) throw new Error('the commit thread was not told which file to open');
      committer.commit(message);
      port.postMessage({ ok: true });
    } catch (error) {
      port.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) });
    }
  });
}
