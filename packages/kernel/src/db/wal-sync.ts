// Durable commits for a SQLite connection without an fsync on the main thread.
//
// With `synchronous = FULL`, every COMMIT in WAL mode fsyncs the write-ahead log inside the
// better-sqlite3 call, so the whole process (every service in it) stops while the disk works:
// a profile of the API benchmark put a quarter of the main thread in COMMIT. With
// `synchronous = NORMAL`, COMMIT only appends its frames to the log (the operating system's
// cache); SQLite still fsyncs the log before a checkpoint copies it into the database file. What
// NORMAL gives up is the last commits on a power loss, so this syncer takes that part back: after
// a commit, the caller waits for an fdatasync of the log file that started after the commit was
// written. The fdatasync runs on libuv's thread pool, so the main thread goes on with other work,
// and one fdatasync covers every commit written before it began (group commit for free).
//
// Why this is as durable as FULL: the log is append-only between checkpoints and each frame is
// checksummed with the frames before it. An fdatasync of the log puts every frame appended before
// it on disk; at recovery SQLite replays the log up to the last commit frame whose checksum chain
// is whole. A commit whose caller was answered was before a completed fdatasync, so it is replayed.
// A checkpoint that resets the log first fsyncs the log and the database file itself (NORMAL
// keeps those syncs), so nothing answered lives only in a log that is being overwritten.
import { close, fdatasync, openSync } from 'node:fs';

/** Puts the file's written data on disk. Injected in tests to hold or fail a sync. */
export type SyncFile = (fd: number) => Promise<void>;

const fdatasyncOnThreadPool: SyncFile = (fd) => new Promise((done, fail) => fdatasync(fd, (error) => (error === null ? done() : fail(error))));

export class WalDurabilityError extends Error {
  override readonly name = 'WalDurabilityError';
}

export class WalSyncer {
  readonly #wal_path: string;
  readonly #sync: SyncFile;
  #fd: number | undefined;
  /** Commits written to the log so far, counted; `#commits_durable` trails it. */
  #commits_written = 0;
  #commits_durable = 0;
  #in_flight: Promise<void> | undefined;
  /** After a failed fdatasync nothing about the log's contents on disk is known: every later call fails. */
  #failure: WalDurabilityError | undefined;

  constructor(database_path: string, sync: SyncFile = fdatasyncOnThreadPool) {
    this.#wal_path = `${database_path}-wal`;
    this.#sync = sync;
  }

  get failure(): WalDurabilityError | undefined {
    return this.#failure;
  }

  /** Whether some commit is written to the log but not yet known to be on disk. */
  get pending(): boolean {
    return this.#commits_durable < this.#commits_written;
  }

  /** Call right after a COMMIT (or an autocommit write) returns: its frames are in the log now. */
  noteCommit(): void {
    this.#commits_written += 1;
  }

  /** Resolves once every commit noted before this call is on disk. */
  async durable(): Promise<void> {
    const target = this.#commits_written;
    while (this.#commits_durable < target) {
      if (this.#failure !== undefined) throw this.#failure;
      // A sync already running may have started before our commit was written, so after it we
      // look again; commits that arrive meanwhile share the next one.
      if (this.#in_flight === undefined) {
        const sync = this.#syncOnce();
        this.#in_flight = sync;
        void sync.finally(() => {
          if (this.#in_flight === sync) this.#in_flight = undefined;
        });
      }
      await this.#in_flight;
    }
    if (this.#failure !== undefined) throw this.#failure;
  }

  async #syncOnce(): Promise<void> {
    const covered = this.#commits_written;
    try {
      // Opened at the first sync: by then a commit has been written, so the log file exists.
      // SQLite keeps the same file while any connection is open (it deletes it only at the last
      // close), and this syncer is closed before its connection.
      this.#fd ??= openSync(this.#wal_path, 'r');
      await this.#sync(this.#fd);
      this.#commits_durable = covered;
    } catch (error) {
      this.#failure = new WalDurabilityError(`the SQLite write-ahead log ${this.#wal_path} could not be made durable; no more writes are taken`, { cause: error });
    }
  }

  /** Waits for the commits written so far, then lets the file go. */
  async close(): Promise<void> {
    try {
      await this.durable();
    } finally {
      const fd = this.#fd;
      this.#fd = undefined;
      if (fd !== undefined) await new Promise<void>((done) => close(fd, () => done()));
    }
  }
}
