// Group commit for the Database port. A durable commit costs an fsync, and a service that
// commits once per request spends its time waiting on the disk, one request after another. The
// committer gathers the units of work that arrive while a commit is in flight, runs them one after
// another inside ONE transaction, each in a savepoint of its own, and commits once for all of
// them. A unit that throws rolls back only its own savepoint and rejects only its own caller;
// every caller is answered only after the commit that holds its work is durable.
import { assert } from '../assert';
import { bindToActiveContext } from '../tracing/tracing';
import type { Database } from './database';

/** The most units of work one commit carries, so that one batch never holds the database long. */
export const group_commit_units_max = 512;

interface Unit {
  readonly work: (transaction: Database) => Promise<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

export class GroupCommitter {
  readonly #database: Database;
  readonly #units_max: number;
  #queue: Unit[] = [];
  #flushing = false;

  constructor(database: Database, options: { readonly units_max?: number } = {}) {
    this.#database = database;
    this.#units_max = options.units_max ?? group_commit_units_max;
    assert(Number.isSafeInteger(this.#units_max) && this.#units_max >= 1, 'group commit units_max must be a positive integer');
  }

  /**
   * Runs `work` in a savepoint of a shared transaction and resolves with its result once that
   * transaction has committed. Use only the handle it is given, and never call an outside party
   * inside it: other callers' work waits for it.
   */
  run<T>(work: (transaction: Database) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // Each unit runs in its own caller's context (its trace), not in whichever caller's context
      // the shared commit happens to start from.
      this.#queue.push({ work: bindToActiveContext(work), resolve: resolve as (value: unknown) => void, reject });
      if (!this.#flushing) this.#scheduleFlush();
    });
  }

  #scheduleFlush(): void {
    this.#flushing = true;
    // One turn of the event loop lets the requests that arrived together join the same commit.
    setImmediate(() => {
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    const units = this.#queue.splice(0, this.#units_max);
    const outcomes: Outcome[] = [];
    try {
      await this.#database.transaction(async (transaction) => {
        for (const unit of units) {
          try {
            outcomes.push({ ok: true, value: await transaction.transaction(unit.work) });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      });
      units.forEach((unit, index) => {
        const outcome = outcomes[index];
        assert(outcome !== undefined, 'group commit lost a unit outcome');
        if (outcome.ok) unit.resolve(outcome.value);
        else unit.reject(outcome.error);
      });
    } catch (error) {
      // The commit itself failed: nothing of this batch is durable, so every caller hears so.
      for (const unit of units) unit.reject(error);
    }
    if (this.#queue.length > 0) this.#scheduleFlush();
    else this.#flushing = false;
  }
}
