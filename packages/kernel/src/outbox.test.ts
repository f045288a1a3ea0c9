import { describe, expect, it } from 'vitest';
import { openDatabase } from './db/open-database';
import { appendOutboxEvent, outboxMigration, relayOutbox, type PublishedEvent } from './outbox';
import { temporaryDirectory } from './testing';

describe('the transactional outbox', () => {
  it('keeps events only with their change, relays them in order, and retries from the first failure', async () => {
    const directory = await temporaryDirectory();
    const database = await openDatabase({ config: { DATA_DIR: directory.path, DATABASE_URL: undefined }, service: 'outbox' });
    try {
      await database.migrate([outboxMigration(1, 'test_events')]);
      const tenant = { merchant_id: 'mer_1', livemode: false };
      const event = (id: string) => ({ id, type: 'thing.happened', object: { id: 'thing_1', amount: 12n }, sequence: 1, created: 1 });
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
      await directory.remove();
    }
  });
});
