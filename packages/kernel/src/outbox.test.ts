import { describe, expect, it } from 'vitest';
import type { ServiceDatabase } from './db/database';
import { openDatabase } from './db/open-database';
import { createPostgresPool } from './db/postgres';
import { createPostgresDatabase } from './db/postgres-database';
import { appendOutboxEvent, outboxMigration, outboxTraceContextMigration, outbox_prune_batch_max, pruneOutbox, relayOutbox, type PublishedEvent } from './outbox';
import { describeWithPostgres, temporaryDirectory, withTemporarySchema } from './testing';

type Opened = { database: ServiceDatabase; cleanup: () => Promise<void> };

const tenant = { merchant_id: 'mer_1', livemode: false };
const event = (id: string) => ({ id, type: 'thing.happened', object: { id: 'thing_1', amount: 12n }, sequence: 1, created: 1 });

function describeOutbox(dialect: string, open: () => Promise<Opened>): void {
  describe(`the transactional outbox on ${dialect}`, () => {
    it('keeps events only with their change, relays them in order, and retries from the first failure', async () => {
      const { database, cleanup } = await open();
      try {
        await database.migrate([outboxMigration(1, 'test_events'), outboxTraceContextMigration(2, 'test_events')]);
        await database.transaction((tx) => appendOutboxEvent(tx, 'test_events', tenant, event('evt_1')));
        // A change that is rolled back takes its event with it.
        await expect(
          database.transaction(async (tx) => {
            await appendOutboxEvent(tx, 'test_events', tenant, event('evt_rolled_back'));
            throw new Error('the change failed');
          }),
        ).rejects.toThrow('the change failed');
        await database.transaction((tx) => appendOutboxEvent(tx, 'test_events', tenant, event('evt_2')));
        await database.transaction((tx) => appendOutboxEvent(tx, 'test_events', tenant, event('evt_3')));

        const seen: PublishedEvent[] = [];
        let fail_on: string | undefined = 'evt_2';
        const failures: string[] = [];
        const publish = (_: unknown, published: PublishedEvent) => {
          if (published.id === fail_on) return Promise.reject(new Error('receiver down'));
          seen.push(published);
          return Promise.resolve();
        };
        const options = { now_ms: 1, onFailure: (id: string) => failures.push(id) };
        // One pass hands out every event in order; evt_3 goes out although evt_2 failed, but only
        // evt_1 is marked, so the next pass starts again at evt_2 and evt_3 goes out twice.
        expect(await relayOutbox(database, 'test_events', publish, options)).toBe(1);
        expect(failures).toEqual(['evt_2']);
        fail_on = undefined;
        expect(await relayOutbox(database, 'test_events', publish, options)).toBe(2);
        expect(await relayOutbox(database, 'test_events', publish, options)).toBe(0);
        expect(seen.map((published) => published.id)).toEqual(['evt_1', 'evt_3', 'evt_2', 'evt_3']);
        expect(seen[0]?.data.object).toEqual({ id: 'thing_1', amount: 12 });
      } finally {
        await database.close();
        await cleanup();
      }
    });

    it('prunes published events older than the cut-off, never unpublished ones, looking only at the oldest', async () => {
      const { database, cleanup } = await open();
      try {
        await database.migrate([outboxMigration(1, 'test_events'), outboxTraceContextMigration(2, 'test_events')]);
        const ids = (await database.transaction(async (tx) => {
          const appended: string[] = [];
          for (let index = 0; index < outbox_prune_batch_max + 5; index += 1) {
            appended.push(`evt_${index}`);
            await appendOutboxEvent(tx, 'test_events', tenant, event(`evt_${index}`));
          }
          return appended;
        }));
        // The first two published long ago, the third just now; the rest never.
        await database.execute('UPDATE test_events SET published_ms = ? WHERE id IN (?, ?)', [1_000, ids[0], ids[1]]);
        await database.execute('UPDATE test_events SET published_ms = ? WHERE id = ?', [5_000, ids[2]]);
        expect(await pruneOutbox(database, 'test_events', 1_000)).toBe(0);
        expect(await pruneOutbox(database, 'test_events', 4_000)).toBe(2);
        const left = await database.query<{ id: string }>('SELECT id FROM test_events ORDER BY sequence LIMIT 2');
        expect(left.map((row) => row.id)).toEqual([ids[2], ids[3]]);
        // Published events beyond the oldest batch wait for a later pass.
        const beyond = ids[outbox_prune_batch_max + 4];
        await database.execute('UPDATE test_events SET published_ms = ? WHERE id = ?', [1_000, beyond]);
        expect(await pruneOutbox(database, 'test_events', 4_000)).toBe(0);
        const count = await database.query<{ events: number }>('SELECT count(*) AS events FROM test_events');
        expect(Number(count[0]?.events)).toBe(outbox_prune_batch_max + 3);
      } finally {
        await database.close();
        await cleanup();
      }
    });
  });
}

describeOutbox('SQLite', async () => {
  const directory = await temporaryDirectory();
  const database = await openDatabase({ config: { DATA_DIR: directory.path, DATABASE_URL: undefined }, service: 'outbox' });
  return { database, cleanup: () => directory.remove() };
});

describeWithPostgres('the transactional outbox on PostgreSQL', (url) => {
  describeOutbox('PostgreSQL', async () => {
    const temporary = await withTemporarySchema(url);
    const pool = createPostgresPool({ url, schema: temporary.schema, max: 2 });
    const database = createPostgresDatabase(pool, { dialect: 'postgres', url, schema: temporary.schema });
    return { database, cleanup: () => temporary.drop() };
  });
});
