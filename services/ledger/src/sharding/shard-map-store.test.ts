// The shard map's store on real PostgreSQL, each test in a schema of its own.
import type pg from 'pg';
import { afterEach, expect, it } from 'vitest';
import { createPostgresPool } from '@paygrid/kernel';
import { describeWithPostgres, withTemporarySchema } from '@paygrid/kernel/testing';
import type { ShardMap } from './ring';
import { claimShardIdentity, latestShardMap, migrateShardMapStore, readLedgerIdentity, readShardIdentity, saveShardMap } from './shard-map-store';

describeWithPostgres('ledger shard map store on PostgreSQL', (database_url) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A pool on a fresh schema; several connections, so that concurrent calls really race. */
  async function temporaryPool(): Promise<pg.Pool> {
    const temporary = await withTemporarySchema(database_url);
    cleanups.push(() => temporary.drop());
    const pool = createPostgresPool({ url: database_url, schema: temporary.schema, max: 4 });
    cleanups.push(() => pool.end());
    return pool;
  }

  async function migratedPool(): Promise<pg.Pool> {
    const pool = await temporaryPool();
    await migrateShardMapStore(pool);
    return pool;
  }

  const first: ShardMap = { version: 1, shard_indexes: [0, 1, 2], virtual_nodes: 128 };

  it('migrates idempotently, also when started twice at once', async () => {
    const pool = await temporaryPool();
    await Promise.all([migrateShardMapStore(pool), migrateShardMapStore(pool), migrateShardMapStore(pool)]);
    await migrateShardMapStore(pool);
    expect(await latestShardMap(pool)).toBeUndefined();
  });

  it('saves version 1 first, then returns the newest', async () => {
    const pool = await migratedPool();
    expect(await saveShardMap(pool, first)).toBe('saved');
    expect(await latestShardMap(pool)).toEqual(first);
    const second: ShardMap = { version: 2, shard_indexes: [0, 1, 2, 3], virtual_nodes: 128 };
    expect(await saveShardMap(pool, second)).toBe('saved');
    expect(await latestShardMap(pool)).toEqual(second);
    expect(await saveShardMap(pool, { ...first, version: 3, shard_indexes: [0, 1, 2, 3, 4] })).toBe('saved');
    expect((await latestShardMap(pool))?.version).toBe(3);
  });

  it('refuses a version already taken', async () => {
    const pool = await migratedPool();
    expect(await saveShardMap(pool, first)).toBe('saved');
    expect(await saveShardMap(pool, { ...first, shard_indexes: [0] })).toBe('version_taken');
    expect(await saveShardMap(pool, { version: 2, shard_indexes: [0, 1], virtual_nodes: 64 })).toBe('saved');
    expect(await saveShardMap(pool, first)).toBe('version_taken');
    expect(await latestShardMap(pool)).toEqual({ version: 2, shard_indexes: [0, 1], virtual_nodes: 64 });
  });

  it('saves exactly one of two concurrent saves of the same version', async () => {
    const pool = await migratedPool();
    expect(await saveShardMap(pool, first)).toBe('saved');
    for (let round = 0; round < 10; round += 1) {
      const version = round + 2;
      const left: ShardMap = { version, shard_indexes: [0, 1, 2, 3], virtual_nodes: 128 };
      const right: ShardMap = { version, shard_indexes: [0, 1, 2, 4], virtual_nodes: 128 };
      const results = await Promise.all([saveShardMap(pool, left), saveShardMap(pool, right)]);
      expect([...results].sort()).toEqual(['saved', 'version_taken']);
      expect(await latestShardMap(pool)).toEqual(results[0] === 'saved' ? left : right);
    }
  });

  it('throws on an invalid map or a version that skips versions, and saves nothing', async () => {
    const pool = await migratedPool();
    await expect(saveShardMap(pool, { ...first, shard_indexes: [2, 1] })).rejects.toThrow(/invalid shard map: shard indexes must be sorted/);
    await expect(saveShardMap(pool, { ...first, shard_indexes: [15] })).rejects.toThrow(/invalid shard map: shard indexes must be integers from 0 to 14/);
    await expect(saveShardMap(pool, { ...first, virtual_nodes: 0 })).rejects.toThrow(/invalid shard map: shard map virtual_nodes/);
    await expect(saveShardMap(pool, { ...first, version: 0 })).rejects.toThrow(/invalid shard map: shard map version/);
    await expect(saveShardMap(pool, { ...first, version: 3 })).rejects.toThrow(/version 3: the latest is 0/);
    expect(await latestShardMap(pool)).toBeUndefined();
  });

  it('makes the ledger id once and keeps it, also when first started several times at once', async () => {
    const pool = await migratedPool();
    const concurrent = await Promise.all([readLedgerIdentity(pool), readLedgerIdentity(pool), readLedgerIdentity(pool), readLedgerIdentity(pool)]);
    expect(concurrent[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(concurrent).size).toBe(1);
    expect(await readLedgerIdentity(pool)).toBe(concurrent[0]);
    const other = await migratedPool();
    expect(await readLedgerIdentity(other)).not.toBe(concurrent[0]);
  });

  it('records which shard a database is, and refuses another shard index or another ledger', async () => {
    const pool = await temporaryPool();
    expect(await readShardIdentity(pool)).toBeUndefined();
    await Promise.all([claimShardIdentity(pool, 'abcdef0123456789', 2), claimShardIdentity(pool, 'abcdef0123456789', 2)]);
    await claimShardIdentity(pool, 'abcdef0123456789', 2);
    expect(await readShardIdentity(pool)).toEqual({ ledger_id: 'abcdef0123456789', shard_index: 2 });
    await expect(claimShardIdentity(pool, 'abcdef0123456789', 1)).rejects.toThrow(
      'this database is shard 2 of ledger abcdef0123456789, not shard 1: LEDGER_SHARD_URLS must list shards in the order they were created',
    );
    await expect(claimShardIdentity(pool, '0123456789abcdef', 2)).rejects.toThrow(
      'this database is shard 2 of ledger abcdef0123456789, not of ledger 0123456789abcdef',
    );
    expect(await readShardIdentity(pool)).toEqual({ ledger_id: 'abcdef0123456789', shard_index: 2 });
  });

  it('lets only one of two concurrent first claims with different shard indexes stand', async () => {
    const pool = await temporaryPool();
    const results = await Promise.allSettled([claimShardIdentity(pool, 'abcdef0123456789', 0), claimShardIdentity(pool, 'abcdef0123456789', 1)]);
    expect(results.map((result) => result.status).sort()).toEqual(['fulfilled', 'rejected']);
    const identity = await readShardIdentity(pool);
    expect(identity?.shard_index).toBe(results[0]?.status === 'fulfilled' ? 0 : 1);
  });
});
