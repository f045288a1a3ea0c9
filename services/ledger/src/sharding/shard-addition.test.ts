// Adding a shard under load. A 2-shard ledger takes transfers from several clients while a third
// shard is added and the accounts the new ring gives it are moved, chunk by chunk; accounts with
// pending transfers wait until those are posted. No transfer may fail, every balance must be what
// the transfers made it, every account's history must read as one ledger's (merged across the
// shards it lived on, with the moves left out, page by page), and verify must pass.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresUrl } from '@paygrid/kernel/testing';
import { AccountFlags, TransferFlags, emptyAccountEvent, emptyTransferEvent, type Transfer } from '../types';
import { ShardedLedger } from './sharded-ledger';
import { createShardDatabases, preparedTransactions, type ShardDatabases } from './testing';

const database_url = postgresUrl();
const ledger = 9;
const account_count = 300;
const clients = 6;
const pending_count = 6;

describe.runIf(database_url !== undefined)('adding a ledger shard under load', () => {
  let databases: ShardDatabases;
  beforeAll(async () => {
    databases = await createShardDatabases(database_url ?? '', 3);
  }, 60_000);
  afterAll(async () => {
    await databases?.drop();
  }, 60_000);

  it('moves about a third of the accounts to the new shard while transfers keep succeeding', async () => {
    const suffix = randomBytes(4).toString('hex');
    const [first, second, third] = databases.urls;
    const options = { schema: `ledger_${suffix}`, coordinator_schema: `coordinator_${suffix}`, writer: { batch_wait_ms: 1 } };
    let sharded = await ShardedLedger.open({ ...options, shard_urls: [first ?? '', second ?? ''], migrate: true });
    try {
      const ids = Array.from({ length: account_count }, (_unused, index) => BigInt(index + 1));
      const created = await sharded.createAccounts(ids.map((id) => emptyAccountEvent({ id, ledger, code: 1, flags: id % 7n === 0n ? AccountFlags.history : 0 })));
      expect(created.every((answer) => answer.result === 'ok')).toBe(true);

      const debits = new Map<bigint, bigint>();
      const credits = new Map<bigint, bigint>();
      const history = new Map<bigint, Set<bigint>>();
      const record = (id: bigint, debit: bigint, credit: bigint, amount: bigint): void => {
        debits.set(debit, (debits.get(debit) ?? 0n) + amount);
        credits.set(credit, (credits.get(credit) ?? 0n) + amount);
        for (const account of [debit, credit]) history.set(account, new Set([...(history.get(account) ?? []), id]));
      };
      let next_id = 1_000_000n;
      // Pending transfers hold their accounts on their shard until they are posted.
      const pendings: { id: bigint; debit: bigint; credit: bigint }[] = [];
      for (let index = 0; index < pending_count; index++) {
        const pending = { id: next_id++, debit: BigInt(index * 2 + 1), credit: BigInt(index * 2 + 2) };
        const [answer] = await sharded.createTransfers([emptyTransferEvent({ id: pending.id, debit_account_id: pending.debit, credit_account_id: pending.credit, amount: 50n, ledger, code: 2, flags: TransferFlags.pending })]);
        expect(answer?.result).toBe('ok');
        pendings.push(pending);
      }

      let running = true;
      const failures: string[] = [];
      let sent = 0;
      let random = 0x2545f491;
      const pick = (): bigint => {
        random ^= random << 13;
        random ^= random >>> 17;
        random ^= random << 5;
        return BigInt((random >>> 0) % account_count) + 1n;
      };
      const client = async (): Promise<void> => {
        while (running) {
          const debit = pick();
          let credit = pick();
          if (credit === debit) credit = (debit % BigInt(account_count)) + 1n;
          const id = next_id++;
          const amount = BigInt(Number(id % 97n) + 1);
          const [answer] = await sharded.createTransfers([emptyTransferEvent({ id, debit_account_id: debit, credit_account_id: credit, amount, ledger, code: 1 })]);
          if (answer?.result === 'ok') record(id, debit, credit, amount);
          else failures.push(`${id}: ${answer?.result ?? 'nothing'}`);
          sent += 1;
        }
      };
      const load = Promise.all(Array.from({ length: clients }, client));
      // The pending transfers are posted while the addition waits for them.
      const posting = (async () => {
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        for (const pending of pendings) {
          const id = next_id++;
          const [answer] = await sharded.createTransfers([emptyTransferEvent({ id, pending_id: pending.id, flags: TransferFlags.post_pending_transfer })]);
          expect(answer?.result).toBe('ok');
          record(id, pending.debit, pending.credit, 50n);
          history.get(pending.debit)?.add(pending.id);
          history.get(pending.credit)?.add(pending.id);
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const report = await sharded.addShard(third ?? '', { wait_ms_max: 30_000, chunk_accounts: 32 });
      await posting;
      running = false;
      await load;

      expect(failures).toEqual([]);
      expect(report.done).toBe(true);
      expect(report.shards).toBe(3);
      expect(report.accounts).toBe(account_count);
      expect(report.moved_fraction).toBeGreaterThan(0.15);
      expect(report.moved_fraction).toBeLessThan(0.5);
      console.log(
        `[shard addition] moved ${report.moved} of ${report.accounts} accounts (${(report.moved_fraction * 100).toFixed(1)}%, ideal ${(report.ideal_fraction * 100).toFixed(1)}%) while ${sent} transfers ran beside it`,
      );
      const on_new = ids.filter((id) => sharded.shardOf(id) === report.shard_index);
      expect(on_new.length).toBe(report.moved);

      const check = async (ledger_now: ShardedLedger): Promise<void> => {
        const accounts = await ledger_now.lookupAccounts(ids);
        expect(accounts).toHaveLength(account_count);
        for (const account of accounts) {
          expect([account.id, account.debits_posted, account.credits_posted, account.debits_pending, account.credits_pending]).toEqual([
            account.id,
            debits.get(account.id) ?? 0n,
            credits.get(account.id) ?? 0n,
            0n,
            0n,
          ]);
        }
        // A moved account's history reads as one ledger's, whole and page by page.
        for (const id of on_new.slice(0, 12)) {
          const whole = await ledger_now.getAccountTransfers({ account_id: id, limit: 10_000, debits: true, credits: true, reversed: false });
          expect(new Set(whole.map((transfer) => transfer.id))).toEqual(history.get(id) ?? new Set());
          const paged: Transfer[] = [];
          let after = 0n;
          for (;;) {
            const page = await ledger_now.getAccountTransfers({ account_id: id, limit: 3, debits: true, credits: true, reversed: false, timestamp_min: after + 1n });
            paged.push(...page);
            if (page.length < 3) break;
            after = page[page.length - 1]?.timestamp ?? after;
          }
          expect(paged.map((transfer) => transfer.id)).toEqual(whole.map((transfer) => transfer.id));
          if (id % 7n === 0n) {
            const balances = await ledger_now.getAccountBalances({ account_id: id, limit: 10_000, debits: true, credits: true, reversed: false });
            expect(balances.map((row) => row.timestamp)).toEqual(whole.map((transfer) => transfer.timestamp));
            expect(balances[balances.length - 1]?.debits_posted ?? 0n).toBe(debits.get(id) ?? 0n);
          }
        }
        const verified = await ledger_now.verify();
        expect(verified.problem).toBeUndefined();
        for (const url of databases.urls) expect((await preparedTransactions(url)).filter((gid) => gid.startsWith('pgl:'))).toEqual([]);
      };
      await check(sharded);
      // After a restart with the three URLs, the map has three shards and routes the same.
      await sharded.close();
      sharded = await ShardedLedger.open({ ...options, shard_urls: databases.urls, migrate: false });
      expect(sharded.shardMap.shard_indexes).toEqual([0, 1, 2]);
      await check(sharded);
      await expect(ShardedLedger.open({ ...options, shard_urls: [first ?? '', second ?? ''], migrate: false })).rejects.toThrow(/3 shards, but 2 shard URLs/);
    } finally {
      await sharded.close();
    }
  }, 180_000);
});
