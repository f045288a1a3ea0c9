import Database from 'better-sqlite3';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ledger_migrations } from './migrations';
import { SqliteLedgerStore } from './store-sqlite';
import { countEvents, workload } from './testing/generators';
import { ReferenceLedger } from './testing/reference-model';
import { LedgerWriter, type WriterClock } from './writer';

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function openStore(file: string): SqliteLedgerStore {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)');
  if (db.prepare('SELECT count(*) AS n FROM schema_version').get() !== undefined && (db.prepare('SELECT count(*) AS n FROM schema_version').get() as { n: number }).n === 0) {
    for (const migration of ledger_migrations) db.exec(migration.sqlite);
    db.prepare('INSERT INTO schema_version VALUES (1)').run();
  }
  return new SqliteLedgerStore(db);
}

class ManualClock implements WriterClock {
  constructor(public now: bigint) {}
  nowNs(): bigint {
    return this.now;
  }
}

describe('ledger writer on SQLite', () => {
  it('agrees with the reference model through prefetch, eviction, persistence and restarts', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'ledger-writer-'));
    folders.push(folder);
    let run = 0;
    let events = 0;
    await fc.assert(
      fc.asyncProperty(workload, async (batches) => {
        const file = join(folder, `run-${run++}.sqlite`);
        const clock = new ManualClock(1_700_000_000_000_000_000n);
        let store = openStore(file);
        let writer = new LedgerWriter({ store, clock, batch_wait_ms: 0 });
        await writer.start();
        const model = new ReferenceLedger();
        for (const [index, each] of batches.entries()) {
          clock.now += each.advance_ns;
          const pending = each.operations.map((operation) =>
            operation.kind === 'accounts' ? writer.createAccounts(operation.events) : writer.createTransfers(operation.events),
          );
          const actual = await Promise.all(pending);
          expect(actual).toEqual(model.batch(clock.now, each.operations));
          if (index % 7 === 6) {
            await writer.stop();
            await store.close();
            store = openStore(file);
            writer = new LedgerWriter({ store, clock, batch_wait_ms: 0 });
            await writer.start();
            // Batches whose events all failed leave nothing on disk, so a restarted writer numbers
            // from the last commit or the clock. Real clocks move on across a restart; so does this one.
            clock.now += 1_000_000_000n;
          }
        }
        const stored = await store.lookupAccounts([...model.state.accounts.keys()]);
        expect(new Map(stored.map((account) => [account.id, account]))).toEqual(model.state.accounts);
        expect(new Map(writer.accounts)).toEqual(model.state.accounts);
        const transfers = await store.lookupTransfers([...model.state.transfers.keys()]);
        expect(new Map(transfers.map(({ transfer }) => [transfer.id, transfer]))).toEqual(model.state.transfers);
        await writer.stop();
        await store.close();
        events += countEvents(batches);
      }),
      { numRuns: 25 },
    );
    console.log(`[ledger writer] ${events} events through the SQLite writer matched the reference model`);
  });
});
