import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { postgresUrl, withTemporarySchema } from '@paygrid/kernel/testing';
import { openLedgerStore, type LedgerStoreLocation } from './open';
import { verifyLedger } from './verify';
import { countEvents, workload } from './testing/generators';
import { ReferenceLedger } from './testing/reference-model';
import { LedgerService } from './service';
import { TransferFlags, emptyAccountEvent, emptyTransferEvent } from './types';
import { LedgerWriter, type WriterClock } from './writer';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** The same suite runs on SQLite always and on PostgreSQL when DATABASE_URL is set. */
const database_url = postgresUrl();
const adapters: { name: string; location: () => Promise<{ location: LedgerStoreLocation; cleanup: () => Promise<void> }> }[] = [
  {
    name: 'SQLite',
    location: () => {
      const folder = mkdtempSync(join(tmpdir(), 'ledger-writer-'));
      return Promise.resolve({
        location: { kind: 'sqlite', file: join(folder, 'ledger.sqlite') },
        cleanup: () => Promise.resolve(rmSync(folder, { recursive: true, force: true })),
      });
    },
  },
  ...(database_url === undefined
    ? []
    : [
        {
          name: 'PostgreSQL',
          location: async () => {
            const temporary = await withTemporarySchema(database_url);
            return { location: { kind: 'postgres' as const, url: database_url, schema: temporary.schema }, cleanup: () => temporary.drop() };
          },
        },
      ]),
];

class ManualClock implements WriterClock {
  constructor(public now: bigint) {}
  nowNs(): bigint {
    return this.now;
  }
}

describe.each(adapters)('ledger writer on $name', ({ name, location: makeLocation }) => {
  it('agrees with the reference model through prefetch, eviction, persistence and restarts', async () => {
    let events = 0;
    await fc.assert(
      fc.asyncProperty(workload, async (batches) => {
        const { location, cleanup } = await makeLocation();
        cleanups.push(cleanup);
        const clock = new ManualClock(1_700_000_000_000_000_000n);
        let store = await openLedgerStore(location, { migrate: true });
        let writer = new LedgerWriter({ store, clock, batch_wait_ms: 0, expiry_wake_up: false });
        // Close whatever is open even when an expectation fails, or shrinking would leak
        // connections run after run.
        try {
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
              store = await openLedgerStore(location, { migrate: true });
              writer = new LedgerWriter({ store, clock, batch_wait_ms: 0, expiry_wake_up: false });
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
          const report = await verifyLedger(store);
          expect(report.problem).toBeUndefined();
          expect(report.ok).toBe(true);
        } finally {
          await writer.stop();
          await store.close();
        }
        events += countEvents(batches);
      }),
      { numRuns: name === 'SQLite' ? 80 : 30 },
    );
    console.log(`[ledger writer] ${events} events through the ${name} writer matched the reference model`);
    // Hundreds of small commits one after another, each a hop to the commit thread and an fsync:
    // about 20 s alone, but three times that when the rest of the suite loads both cores.
  }, 180_000);
});

describe('ledger writer expiry wake-up', () => {
  it('releases an expired pending transfer on time with no request to carry it', async () => {
    const { location, cleanup } = await adapters[0]!.location();
    cleanups.push(cleanup);
    const store = await openLedgerStore(location, { migrate: true });
    const writer = new LedgerWriter({ store, batch_wait_ms: 0 });
    await writer.start();
    try {
      await writer.createAccounts([emptyAccountEvent({ id: 1n, ledger: 1, code: 1 }), emptyAccountEvent({ id: 2n, ledger: 1, code: 1 })]);
      const results = await writer.createTransfers([
        emptyTransferEvent({ id: 7n, debit_account_id: 1n, credit_account_id: 2n, amount: 40n, ledger: 1, code: 1, flags: TransferFlags.pending, timeout: 1 }),
      ]);
      expect(results).toEqual(['ok']);
      expect((await store.lookupAccounts([1n]))[0]?.debits_pending).toBe(40n);
      await new Promise((resolve) => setTimeout(resolve, 1_400));
      expect((await store.lookupAccounts([1n]))[0]?.debits_pending).toBe(0n);
      expect((await store.lookupTransfers([7n]))[0]?.status).toBe('expired');
      expect((await verifyLedger(store)).ok).toBe(true);
    } finally {
      await writer.stop();
      await store.close();
    }
  });
});

describe.each(adapters)('ledger writer pipelining on $name', ({ name, location: makeLocation }) => {
  it('answers the same as the reference model while batches overlap their commits', async () => {
    let overlapped = 0;
    await fc.assert(
      fc.asyncProperty(workload, async (batches) => {
        const { location, cleanup } = await makeLocation();
        cleanups.push(cleanup);
        const store = await openLedgerStore(location, { migrate: true });
        // Slow commits make later requests gather into batches applied while earlier ones write;
        // slow enough that this holds on a loaded machine too.
        const commit = store.commit.bind(store);
        let committing = false;
        store.commit = async (batch) => {
          committing = true;
          await new Promise((resolve) => setTimeout(resolve, 10));
          await commit(batch);
          committing = false;
        };
        // A clock that stands still numbers events the same however they are grouped. The writer
        // reads it as it applies a batch, so it also counts the batches applied while another
        // was being written: the pipelining under test.
        const clock = new ManualClock(1_700_000_000_000_000_000n);
        const nowNs = clock.nowNs.bind(clock);
        clock.nowNs = () => {
          if (committing) overlapped += 1;
          return nowNs();
        };
        const writer = new LedgerWriter({ store, clock, batch_wait_ms: 0, expiry_wake_up: false });
        await writer.start();
        try {
          const operations = batches.flatMap((each) => each.operations);
          const pending: Promise<string[]>[] = [];
          for (const operation of operations) {
            pending.push(operation.kind === 'accounts' ? writer.createAccounts(operation.events) : writer.createTransfers(operation.events));
            // Requests arrive while earlier batches are still being written.
            await new Promise((resolve) => setTimeout(resolve, 1));
          }
          const actual = await Promise.all(pending);
          const model = new ReferenceLedger();
          expect(actual).toEqual(model.batch(clock.now, operations));
          const stored = await store.lookupAccounts([...model.state.accounts.keys()]);
          expect(new Map(stored.map((account) => [account.id, account]))).toEqual(model.state.accounts);
          const report = await verifyLedger(store);
          expect(report.problem).toBeUndefined();
        } finally {
          await writer.stop();
          await store.close();
        }
      }),
      // Most random batches change nothing and commit nothing, so overlaps are a handful per run;
      // 40 runs keep the count clear of the bar on PostgreSQL under a loaded suite (20 runs gave
      // 18 and 20 there).
      { numRuns: 40 },
    );
    console.log(`[ledger writer] ${name}: ${overlapped} batches applied while another was being written`);
    expect(overlapped).toBeGreaterThan(20);
  });
});

describe('ledger writer commit failures', () => {
  it('fails the failed batch and the one applied after it, then carries on from the store', async () => {
    const { location, cleanup } = await adapters[0]!.location();
    cleanups.push(cleanup);
    const store = await openLedgerStore(location, { migrate: true });
    const commit = store.commit.bind(store);
    let calls = 0;
    store.commit = async (batch) => {
      calls += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (calls === 3) throw new Error('disk on fire');
      await commit(batch);
    };
    const writer = new LedgerWriter({ store, batch_wait_ms: 0 });
    await writer.start();
    try {
      await writer.createAccounts([emptyAccountEvent({ id: 1n, ledger: 1, code: 1 }), emptyAccountEvent({ id: 2n, ledger: 1, code: 1 })]);
      const transfer = (id: bigint) => emptyTransferEvent({ id, debit_account_id: 1n, credit_account_id: 2n, amount: 10n, ledger: 1, code: 1 });
      // Batch 2 commits; batch 3 fails while batch 4 is applied on top of it; batch 4 must fail too.
      const second = writer.createTransfers([transfer(20n)]);
      await new Promise((resolve) => setTimeout(resolve, 5));
      const third = writer.createTransfers([transfer(30n)]);
      await new Promise((resolve) => setTimeout(resolve, 25));
      const fourth = writer.createTransfers([transfer(40n)]);
      const settled = await Promise.allSettled([second, third, fourth]);
      expect(settled.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
      const present = (await store.lookupTransfers([20n, 30n, 40n])).map(({ transfer: row }) => row.id);
      expect(present).toEqual([20n]);
      // The writer reloaded from the store: memory agrees with disk, and retries succeed.
      expect(await writer.createTransfers([transfer(30n), transfer(40n), transfer(20n)])).toEqual(['ok', 'ok', 'exists']);
      expect((await store.lookupAccounts([2n]))[0]?.credits_posted).toBe(30n);
      expect((await verifyLedger(store)).ok).toBe(true);
    } finally {
      await writer.stop();
      await store.close();
    }
  });
});

describe('embedded writer fencing', () => {
  it('makes a second writer on the same file wait until the first one closes', async () => {
    const { location, cleanup } = await adapters[0]!.location();
    cleanups.push(cleanup);
    const first = await LedgerService.open(await openLedgerStore(location, { migrate: true }), { batch_wait_ms: 0 });
    const waiting: string[] = [];
    let second: LedgerService | undefined;
    const opening = openLedgerStore(location, { migrate: true }).then((store) =>
      LedgerService.open(store, { batch_wait_ms: 0, log: (_level, message) => waiting.push(message) }),
    );
    void opening.then((service) => (second = service));
    try {
      expect((await first.createAccounts([emptyAccountEvent({ id: 1n, ledger: 1, code: 1 })]))[0]?.result).toBe('ok');
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(second).toBeUndefined();
      expect(waiting.join('\n')).toMatch(/another process is the ledger writer/);
    } finally {
      await first.close();
    }
    const service = await opening;
    try {
      // The second writer loaded what the first committed.
      expect((await service.createAccounts([emptyAccountEvent({ id: 1n, ledger: 1, code: 1 })]))[0]?.result).toBe('exists');
    } finally {
      await service.close();
    }
  });
});

describe.each(adapters)('ledger writer prefetch on $name', ({ location: makeLocation }) => {
  it('asks the store only about ids at or below the largest stored one, and still finds duplicates after a restart', async () => {
    const { location, cleanup } = await makeLocation();
    cleanups.push(cleanup);
    const prefetched: bigint[][] = [];
    const open = async () => {
      const store = await openLedgerStore(location, { migrate: true });
      const prefetchTransfers = store.prefetchTransfers.bind(store);
      store.prefetchTransfers = (ids) => {
        prefetched.push([...ids]);
        return prefetchTransfers(ids);
      };
      return store;
    };
    const transfer = (id: bigint, amount = 5n) => emptyTransferEvent({ id, debit_account_id: 1n, credit_account_id: 2n, amount, ledger: 1, code: 1 });
    let store = await open();
    let writer = new LedgerWriter({ store, batch_wait_ms: 0 });
    await writer.start();
    await writer.createAccounts([emptyAccountEvent({ id: 1n, ledger: 1, code: 1 }), emptyAccountEvent({ id: 2n, ledger: 1, code: 1 })]);
    expect(await writer.createTransfers([transfer(10n), transfer(20n)])).toEqual(['ok', 'ok']);
    // Above everything stored: new without a lookup.
    expect(await writer.createTransfers([transfer(30n)])).toEqual(['ok']);
    expect(prefetched).toEqual([]);
    await writer.stop();
    await store.close();

    // A restart empties memory; the largest id comes back from the store.
    store = await open();
    writer = new LedgerWriter({ store, batch_wait_ms: 0 });
    await writer.start();
    try {
      expect(await writer.createTransfers([transfer(20n), transfer(25n), transfer(40n), transfer(10n, 6n)])).toEqual([
        'exists',
        'ok',
        'ok',
        'exists_with_different_amount',
      ]);
      // 20, 25 and 10 were looked up; 40 was above the largest stored id (30).
      expect(prefetched.flat().sort((a, b) => (a < b ? -1 : 1))).toEqual([10n, 20n, 25n]);
      expect((await verifyLedger(store)).ok).toBe(true);
    } finally {
      await writer.stop();
      await store.close();
    }
  });
});

describe.each(adapters)('ledger transfer queries on $name', ({ location: makeLocation }) => {
  it('finds transfers of any account by their fields and a timestamp range, in order both ways', async () => {
    const { location, cleanup } = await makeLocation();
    cleanups.push(cleanup);
    const service = await LedgerService.open(await openLedgerStore(location, { migrate: true }), { batch_wait_ms: 0 });
    try {
      await service.createAccounts([1n, 2n, 3n].map((id) => emptyAccountEvent({ id, ledger: id === 3n ? 2 : 1, code: 1 })).concat(emptyAccountEvent({ id: 4n, ledger: 2, code: 1 })));
      const transfer = (id: bigint, fields: Partial<Parameters<typeof emptyTransferEvent>[0]>) =>
        emptyTransferEvent({ id, debit_account_id: 1n, credit_account_id: 2n, amount: 1n, ledger: 1, code: 7, ...fields });
      const answers = await service.createTransfers([
        transfer(100n, { user_data_32: 1 }),
        transfer(101n, { code: 8, user_data_32: 1 }),
        transfer(102n, { user_data_32: 2, user_data_64: 9n }),
        transfer(103n, { debit_account_id: 3n, credit_account_id: 4n, ledger: 2, user_data_32: 1, user_data_128: 5n }),
      ]);
      expect(answers.map((answer) => answer.result)).toEqual(['ok', 'ok', 'ok', 'ok']);
      const ids = async (filter: Parameters<typeof service.queryTransfers>[0]) => (await service.queryTransfers(filter)).map((found) => found.id);
      expect(await ids({ limit: 10, reversed: false })).toEqual([100n, 101n, 102n, 103n]);
      expect(await ids({ limit: 2, reversed: true })).toEqual([103n, 102n]);
      expect(await ids({ limit: 10, reversed: false, user_data_32: 1 })).toEqual([100n, 101n, 103n]);
      expect(await ids({ limit: 10, reversed: false, code: 7, ledger: 1 })).toEqual([100n, 102n]);
      expect(await ids({ limit: 10, reversed: false, user_data_64: 9n })).toEqual([102n]);
      expect(await ids({ limit: 10, reversed: false, user_data_128: 5n })).toEqual([103n]);
      const [second] = await service.lookupTransfers([101n]);
      const after = second?.transfer.timestamp ?? 0n;
      expect(await ids({ limit: 10, reversed: false, timestamp_min: after })).toEqual([101n, 102n, 103n]);
      expect(await ids({ limit: 10, reversed: false, timestamp_max: after })).toEqual([100n, 101n]);
    } finally {
      await service.close();
    }
  });
});
