// The participant's side of two-phase commit in the PostgreSQL store (issue 15: a transfer between
// two ledger shards is two legs, one per shard, each prepared and then committed or rolled back).
// Every test runs against a real server, which must allow prepared transactions (.ci/run sees to it).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isAssertionError } from '@paygrid/kernel';
import { describeWithPostgres, temporaryDirectory, withTemporarySchema, type TemporarySchema } from '@paygrid/kernel/testing';
import { compareResolutions, encodeSealedBatch, hashSealedBytes, sealAccount, type SealedBatch } from './codec';
import { openLedgerStore } from './open';
import { LedgerStateMachine } from './state-machine';
import type { BatchCommit, LedgerStore } from './store';
import { AccountFlags, emptyAccountEvent, emptyTransferEvent, type AccountEvent, type TransferEvent } from './types';
import { verifyLedger } from './verify';

/** How long a commit stuck behind a prepared transaction's row locks is watched before it is released. */
const blocked_commit_watch_ms = 300;

/**
 * One shard as the writer drives it: a store holding the fence, and a state machine whose batches
 * are sealed the way `LedgerWriter.seal` seals them. Batches are built here but written by the test.
 */
interface Shard {
  readonly store: LedgerStore;
  /** Applies `events` as one batch in memory and returns it sealed, ready to commit or prepare. */
  readonly batch: (accounts: readonly AccountEvent[], transfers: readonly TransferEvent[]) => BatchCommit;
  /** Forgets memory and reloads from the store, as the writer does after a batch failed to commit. */
  readonly reload: () => Promise<void>;
}

async function openShard(url: string, schema: string, options: { acquire: boolean } = { acquire: true }): Promise<Shard> {
  const store = await openLedgerStore({ kind: 'postgres', url, schema }, { migrate: true });
  let state = new LedgerStateMachine();
  let last_batch_id = 0n;
  let last_hash: Buffer = Buffer.alloc(32);
  let now_ns = BigInt(Date.now()) * 1_000_000n;
  const reload = async (): Promise<void> => {
    const loaded = await store.load();
    state = new LedgerStateMachine();
    for (const account of loaded.accounts) state.accounts.set(account.id, account);
    state.commit_timestamp = loaded.commit_timestamp;
    last_batch_id = loaded.last_batch_id;
    last_hash = loaded.last_hash;
  };
  if (options.acquire) {
    await store.acquireWriter(() => undefined);
    await reload();
  }
  return {
    store,
    reload,
    batch: (accounts, transfers) => {
      now_ns += 1_000_000n;
      state.beginBatch(now_ns, accounts.length + transfers.length);
      const account_results = state.createAccounts(accounts);
      const transfer_results = state.createTransfers(transfers);
      expect([...account_results, ...transfer_results].filter((result) => result !== 'ok')).toEqual([]);
      const effects = state.endBatch();
      // As `LedgerWriter.seal` does it: the sealed batch, its hash chained on the last one, and
      // the balances of every account created or touched.
      const sealed: SealedBatch = {
        id: last_batch_id + 1n,
        timestamp_first: effects.timestamp_first,
        timestamp_last: effects.timestamp_last,
        accounts: effects.accounts_created.map(({ account, created_flags }) => sealAccount(account, created_flags)),
        transfers: effects.transfers_created,
        resolutions: [...effects.pending_resolved].sort(compareResolutions),
      };
      const sealed_bytes = encodeSealedBatch(last_hash, sealed);
      const hash = hashSealedBytes(sealed_bytes);
      const accountKey = (id: bigint): bigint => {
        const account = state.accounts.get(id);
        if (account === undefined) throw new Error(`account ${id} is not in memory`);
        return account.timestamp;
      };
      const commit: BatchCommit = {
        sealed,
        sealed_bytes,
        previous_hash: last_hash,
        hash,
        balances: [...new Set([...effects.accounts_created.map(({ account }) => account), ...effects.accounts_touched])].map((account) => ({
          account_key: account.timestamp,
          debits_pending: account.debits_pending,
          debits_posted: account.debits_posted,
          credits_pending: account.credits_pending,
          credits_posted: account.credits_posted,
          closed: (account.flags & AccountFlags.closed) !== 0,
        })),
        history: effects.balances,
        transfer_account_keys: effects.transfers_created.map((transfer) => [accountKey(transfer.debit_account_id), accountKey(transfer.credit_account_id)] as const),
      };
      last_batch_id = sealed.id;
      last_hash = hash;
      return commit;
    },
  };
}

const account = (id: bigint, flags = 0): AccountEvent => emptyAccountEvent({ id, ledger: 1, code: 1, flags });
const transfer = (id: bigint, debit_account_id: bigint, credit_account_id: bigint, amount: bigint): TransferEvent =>
  emptyTransferEvent({ id, debit_account_id, credit_account_id, amount, ledger: 1, code: 1 });

/** The same server, another database of it. */
function urlOfDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describeWithPostgres('PostgreSQL ledger store: two-phase commit, the participant side', (database_url) => {
  // Gids are the whole cluster's: a prefix of this run's own keeps parallel runs and leftovers apart.
  const prefix = `paygrid-test:${randomBytes(6).toString('hex')}:`;
  const schemas: TemporarySchema[] = [];
  const stores: LedgerStore[] = [];

  const shard = async (options?: { acquire: boolean }, schema?: string): Promise<Shard> => {
    if (schema === undefined) {
      const temporary = await withTemporarySchema(database_url);
      schemas.push(temporary);
      schema = temporary.schema;
    }
    const opened = await openShard(database_url, schema, options);
    stores.push(opened.store);
    return opened;
  };

  // A prepared transaction left behind holds its locks forever and keeps DROP SCHEMA waiting, so
  // whatever this run prepared, in whichever database, is rolled back before anything is dropped.
  afterEach(async () => {
    const leftovers = await withClient(database_url, (client) =>
      client.query<{ gid: string; database: string }>('SELECT gid, database FROM pg_prepared_xacts WHERE starts_with(gid, $1)', [prefix]),
    );
    for (const { gid, database } of leftovers.rows) {
      await withClient(urlOfDatabase(database_url, database), (client) => client.query(`ROLLBACK PREPARED '${gid}'`));
    }
    for (const store of stores.splice(0)) await store.close();
    for (const schema of schemas.splice(0)) await schema.drop();
  });

  it('prepares a batch that stays invisible until COMMIT PREPARED, then shows it whole, balances and all', async () => {
    const { store, batch } = await shard();
    await store.commit(batch([account(1n), account(2n)], []));
    // Accounts 1 and 2 existed before, so their balances take the unnest path; account 3 is new.
    const prepared = batch([account(3n)], [transfer(10n, 1n, 2n, 7n), transfer(11n, 2n, 3n, 3n)]);
    expect(prepared.balances.length).toBe(3);
    const gid = `${prefix}visible`;
    await store.prepare(prepared, gid);

    expect(await store.listPrepared(prefix)).toEqual([gid]);
    expect(await store.lookupAccounts([1n, 2n, 3n])).toMatchObject([{ id: 1n, debits_posted: 0n }, { id: 2n, credits_posted: 0n }]);
    expect(await store.lookupTransfers([10n, 11n])).toEqual([]);

    expect(await store.finishPrepared(gid, 'commit')).toBe('finished');
    expect(await store.listPrepared(prefix)).toEqual([]);
    expect(await store.lookupAccounts([1n, 2n, 3n])).toMatchObject([
      { id: 1n, debits_posted: 7n, credits_posted: 0n },
      { id: 2n, debits_posted: 3n, credits_posted: 7n },
      { id: 3n, debits_posted: 0n, credits_posted: 3n },
    ]);
    expect((await store.lookupTransfers([10n, 11n])).map((stored) => stored.transfer.id)).toEqual([10n, 11n]);
    // The writer's session used its temporary table for the first commit; this one, ordinary
    // again, uses it after the prepare, and the chain of hashes still verifies.
    await store.commit(batch([], [transfer(12n, 3n, 1n, 1n)]));
    const report = await verifyLedger(store);
    expect(report.problem).toBeUndefined();
    expect(report).toMatchObject({ ok: true, batches: 3, transfers: 3 });
  });

  it('rolls a prepared batch back for good, and the same batch then commits the ordinary way', async () => {
    const { store, batch } = await shard();
    await store.commit(batch([account(1n), account(2n)], []));
    const leg = batch([], [transfer(10n, 1n, 2n, 5n)]);
    const gid = `${prefix}rollback`;
    await store.prepare(leg, gid);
    expect(await store.finishPrepared(gid, 'rollback')).toBe('finished');
    expect(await store.lookupTransfers([10n])).toEqual([]);
    expect(await store.lookupAccounts([1n])).toMatchObject([{ debits_posted: 0n }]);
    // Finishing again, either way, finds nothing: the decision log, not the store, says which.
    expect(await store.finishPrepared(gid, 'rollback')).toBe('absent');
    expect(await store.finishPrepared(gid, 'commit')).toBe('absent');
    expect(await store.lookupTransfers([10n])).toEqual([]);

    await store.commit(leg);
    expect(await store.lookupAccounts([1n, 2n])).toMatchObject([{ debits_posted: 5n }, { credits_posted: 5n }]);
    expect((await verifyLedger(store)).ok).toBe(true);
  });

  it('answers finished, then absent, for the same gid, and absent for one never prepared', async () => {
    const { store, batch } = await shard();
    const gid = `${prefix}twice`;
    await store.prepare(batch([account(1n)], []), gid);
    expect(await store.finishPrepared(gid, 'commit')).toBe('finished');
    expect(await store.finishPrepared(gid, 'commit')).toBe('absent');
    expect(await store.finishPrepared(`${prefix}never`, 'commit')).toBe('absent');
    expect(await store.lookupAccounts([1n])).toMatchObject([{ id: 1n }]);
  });

  it('lists only its own database and prefix, oldest first, taking the prefix literally', async () => {
    const first = await shard();
    const second = await shard();
    const gids = [`${prefix}x_1`, `${prefix}xy2`, `${prefix}x_3`];
    await first.store.prepare(first.batch([account(1n)], []), gids[0]!);
    // Another schema of the same database is another shard's, yet the same database's list.
    await second.store.prepare(second.batch([account(1n)], []), gids[1]!);
    await first.store.prepare(first.batch([account(2n)], []), gids[2]!);
    // A transaction prepared in another database of the same server is not this store's.
    const elsewhere = `${prefix}x_elsewhere`;
    await withClient(urlOfDatabase(database_url, 'postgres'), async (client) => {
      await client.query('BEGIN');
      await client.query(`PREPARE TRANSACTION '${elsewhere}'`);
    });

    expect(await first.store.listPrepared(prefix)).toEqual(gids);
    // `_` and `%` mean nothing special: `x_` does not match `xy`.
    expect(await first.store.listPrepared(`${prefix}x_`)).toEqual([gids[0], gids[2]]);
    expect(await first.store.listPrepared(`${prefix}x%`)).toEqual([]);
    expect(await first.store.listPrepared(`${prefix}z`)).toEqual([]);
    // PostgreSQL finishes a prepared transaction only from its own database: that is an error, not "absent".
    expect(String(await rejectionOf(first.store.finishPrepared(elsewhere, 'rollback')))).toMatch(/another database/);

    // Either shard's store may finish any of its database's gids: the gid, not the schema, names it.
    expect(await second.store.finishPrepared(gids[0]!, 'commit')).toBe('finished');
    expect(await first.store.finishPrepared(gids[1]!, 'commit')).toBe('finished');
    expect(await first.store.finishPrepared(gids[2]!, 'rollback')).toBe('finished');
    expect(await first.store.lookupAccounts([1n, 2n])).toMatchObject([{ id: 1n }]);
    expect(await second.store.lookupAccounts([1n])).toMatchObject([{ id: 1n }]);
  });

  it('keeps a prepared batch after the writer connection ends, for a store without the fence to finish', async () => {
    const temporary = await withTemporarySchema(database_url);
    schemas.push(temporary);
    const before = await shard(undefined, temporary.schema);
    await before.store.commit(before.batch([account(1n), account(2n)], []));
    const gid = `${prefix}survives`;
    await before.store.prepare(before.batch([], [transfer(10n, 1n, 2n, 9n)]), gid);
    await before.store.close();
    stores.splice(stores.indexOf(before.store), 1);

    // Recovery: a store that has not taken the fence finds the gid and finishes it.
    const recovery = await shard({ acquire: false }, temporary.schema);
    expect(recovery.store.holdsWriter()).toBe(false);
    expect(await recovery.store.listPrepared(prefix)).toEqual([gid]);
    expect(await recovery.store.lookupTransfers([10n])).toEqual([]);
    expect(await recovery.store.finishPrepared(gid, 'commit')).toBe('finished');

    // The next writer loads the finished batch like any other.
    const after = await shard(undefined, temporary.schema);
    expect(await after.store.lookupAccounts([1n, 2n])).toMatchObject([{ debits_posted: 9n }, { credits_posted: 9n }]);
    await after.store.commit(after.batch([], [transfer(11n, 2n, 1n, 4n)]));
    expect(await after.store.lookupAccounts([1n])).toMatchObject([{ debits_posted: 9n, credits_posted: 4n }]);
    expect((await verifyLedger(after.store)).ok).toBe(true);
  });

  it('prepares nothing when a statement fails, and the writer goes on', async () => {
    const { store, batch } = await shard();
    await store.commit(batch([account(1n), account(2n)], [transfer(10n, 1n, 2n, 1n)]));
    const leg = batch([], [transfer(11n, 1n, 2n, 2n)]);
    // The same leg, but its transfer reuses a stored id: the COPY fails after the balances were
    // updated, and the whole transaction must go with it.
    const first_transfer = leg.sealed.transfers[0]!;
    const duplicate: BatchCommit = { ...leg, sealed: { ...leg.sealed, transfers: [{ ...first_transfer, id: 10n }] } };
    const gid = `${prefix}fails`;
    expect(String(await rejectionOf(store.prepare(duplicate, gid)))).toMatch(/duplicate key/);
    expect(await store.listPrepared(prefix)).toEqual([]);
    expect(await store.finishPrepared(gid, 'commit')).toBe('absent');
    expect(await store.lookupAccounts([1n])).toMatchObject([{ debits_posted: 1n }]);
    expect(store.holdsWriter()).toBe(true);

    // The gid is free again, and the writer's connection prepares the right leg with it.
    await store.prepare(leg, gid);
    expect(await store.finishPrepared(gid, 'commit')).toBe('finished');
    expect(await store.lookupAccounts([1n])).toMatchObject([{ debits_posted: 3n }]);
    expect((await verifyLedger(store)).ok).toBe(true);
  });

  it('fails a prepare whose gid is already prepared, keeping the first one', async () => {
    const { store, batch, reload } = await shard();
    const gid = `${prefix}taken`;
    await store.prepare(batch([account(1n)], []), gid);
    const error = await rejectionOf(store.prepare(batch([account(2n)], []), gid));
    expect(String(error)).toMatch(/already in use/);
    expect(await store.listPrepared(prefix)).toEqual([gid]);
    expect(await store.finishPrepared(gid, 'commit')).toBe('finished');
    expect(await store.lookupAccounts([1n, 2n])).toMatchObject([{ id: 1n }]);
    await reload();
    await store.commit(batch([account(2n)], []));
    expect(await store.lookupAccounts([1n, 2n])).toMatchObject([{ id: 1n }, { id: 2n }]);
  });

  it('refuses a gid that could not be pasted into PREPARE TRANSACTION as it is', async () => {
    const { store, batch } = await shard();
    const leg = batch([account(1n)], []);
    for (const gid of ["x'; COMMIT; --", '', 'a b', 'é', 'x'.repeat(200)]) {
      expect(isAssertionError(await rejectionOf(store.prepare(leg, gid)))).toBe(true);
      expect(isAssertionError(await rejectionOf(store.finishPrepared(gid, 'rollback')))).toBe(true);
    }
    // The longest gid PostgreSQL takes goes through: 199 bytes, its buffer's 200 less the final zero.
    const longest = `${prefix}${'y'.repeat(199 - prefix.length)}`;
    await store.prepare(leg, longest);
    expect(await store.finishPrepared(longest, 'rollback')).toBe('finished');
  });

  it('holds a later commit of the same balances until the prepared batch is finished', async () => {
    const { store, batch } = await shard();
    await store.commit(batch([account(1n), account(2n)], []));
    const gid = `${prefix}blocks`;
    await store.prepare(batch([], [transfer(10n, 1n, 2n, 5n)]), gid);
    let committed = false;
    const next = store.commit(batch([], [transfer(11n, 1n, 2n, 6n)])).then(() => (committed = true));
    await new Promise((resolve) => setTimeout(resolve, blocked_commit_watch_ms));
    expect(committed).toBe(false);

    // What recovery (or the coordinator's decision) does: find the gid and finish it.
    expect(await store.listPrepared(prefix)).toEqual([gid]);
    expect(await store.finishPrepared(gid, 'commit')).toBe('finished');
    await next;
    expect(await store.lookupAccounts([1n, 2n])).toMatchObject([{ debits_posted: 11n }, { credits_posted: 11n }]);
    expect((await verifyLedger(store)).ok).toBe(true);
  });
});

describe('SQLite ledger store: two-phase commit', () => {
  it('refuses to prepare or finish, and has nothing prepared to list', async () => {
    const directory = await temporaryDirectory();
    const store = await openLedgerStore({ kind: 'sqlite', file: join(directory.path, 'ledger.sqlite') }, { migrate: true });
    try {
      expect(await store.listPrepared('')).toEqual([]);
      expect(String(await rejectionOf(store.finishPrepared('leg-1', 'commit')))).toMatch(/needs the PostgreSQL ledger store/);
    } finally {
      await store.close();
      await directory.remove();
    }
  });
});
