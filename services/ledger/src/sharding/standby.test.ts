// A sharded ledger's writers killed mid-batch: a child process serves transfers within shards and
// between them until it is SIGKILLed; a standby, waiting meanwhile for every shard's fence (the
// advisory lock on each writer's connection), takes over, finishes what was left prepared, and
// serves. Nothing the killed writers acknowledged may be missing, and nothing may be half applied.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresUrl } from '@paygrid/kernel/testing';
import { openLedgerStore } from '../open';
import { accountsByShard, startCrashChild } from '../testing/crash-children';
import type { TwoPhaseCrashChildConfig } from '../testing/two-phase-crash-child';
import { emptyAccountEvent, emptyTransferEvent } from '../types';
import { isClearingAccountId } from './clearing';
import { ShardedLedger } from './sharded-ledger';
import { createShardDatabases, preparedTransactions, type ShardDatabases } from './testing';

const database_url = postgresUrl();
const ledger = 6;
const first_id = 70_000n;
/** Acknowledged transfers to wait for before the kill: enough that batches are in flight. */
const acknowledged_before_kill = 40;
const wait_max_ms = 60_000;

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + wait_max_ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.runIf(database_url !== undefined)('sharded ledger writers killed under load', () => {
  let databases: ShardDatabases;
  beforeAll(async () => {
    databases = await createShardDatabases(database_url ?? '', 3);
  }, 60_000);
  afterAll(async () => {
    await databases?.drop();
  }, 60_000);

  it('lets a waiting standby take every shard over, losing nothing acknowledged', async () => {
    const suffix = randomBytes(4).toString('hex');
    const options = { shard_urls: databases.urls, schema: `ledger_${suffix}`, coordinator_schema: `coordinator_${suffix}`, writer: { batch_wait_ms: 0 } };
    const setup = await ShardedLedger.open({ ...options, migrate: true });
    const [zero, one, two] = accountsByShard(setup, 3);
    // Within shards and between them, so that plain batches and rounds are both in flight.
    const pairs: [bigint, bigint][] = [
      [zero[0] ?? 0n, zero[1] ?? 0n],
      [zero[2] ?? 0n, one[0] ?? 0n],
      [one[1] ?? 0n, one[2] ?? 0n],
      [one[0] ?? 0n, two[0] ?? 0n],
      [two[1] ?? 0n, two[2] ?? 0n],
      [two[0] ?? 0n, zero[0] ?? 0n],
    ];
    const accounts = [...zero, ...one, ...two];
    expect((await setup.createAccounts(accounts.map((id) => emptyAccountEvent({ id, ledger, code: 1 })))).every((answer) => answer.result === 'ok')).toBe(true);
    await setup.close();

    const config: TwoPhaseCrashChildConfig = {
      shard_urls: [...databases.urls],
      schema: options.schema,
      coordinator_schema: options.coordinator_schema,
      pairs: pairs.map(([debit, credit]) => [debit.toString(), credit.toString()]),
      ledger,
      first_id: first_id.toString(),
      requests_per_wave: 6,
      waves_max: 5_000,
    };
    const child = startCrashChild(config);
    const exited = child.exited;
    let standby: ShardedLedger | undefined;
    try {
      await until(() => (child.stdout().match(/^ack /gm)?.length ?? 0) >= acknowledged_before_kill || !child.running(), 'the child to acknowledge transfers');
      expect(child.running(), child.stderr()).toBe(true);
      // The standby waits for the fences the child holds.
      let standby_ready = false;
      const opening = ShardedLedger.open({ ...options, migrate: false }).then((opened) => {
        standby_ready = true;
        return opened;
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(standby_ready).toBe(false);
      child.kill();
      expect(await exited).toBe('SIGKILL');
      standby = await opening;

      const stdout = child.stdout();
      const acknowledged = [...stdout.matchAll(/^ack (\d+)$/gm)].map((match) => BigInt(match[1] ?? '0'));
      expect(stdout).not.toMatch(/^refused/m);
      const highest = acknowledged.reduce((max, id) => (id > max ? id : max), first_id);
      const candidate_ids = Array.from({ length: Number(highest - first_id) + 40 }, (_unused, index) => first_id + BigInt(index));
      const found = await standby.lookupTransfers(candidate_ids);
      const found_ids = new Set(found.map(({ transfer }) => transfer.id));
      const missing = acknowledged.filter((id) => !found_ids.has(id));
      expect(missing).toEqual([]);
      // Every transfer is whole: a transfer within a shard is one row, one between shards two legs.
      const rows = new Map<bigint, number>();
      for (const url of databases.urls) {
        const store = await openLedgerStore({ kind: 'postgres', url, schema: options.schema }, { migrate: false });
        try {
          for (const { transfer } of await store.lookupTransfers(candidate_ids)) rows.set(transfer.id, (rows.get(transfer.id) ?? 0) + 1);
        } finally {
          await store.close();
        }
      }
      for (const { transfer } of found) {
        const between_shards = standby.shardOf(transfer.debit_account_id) !== standby.shardOf(transfer.credit_account_id);
        expect(rows.get(transfer.id)).toBe(between_shards ? 2 : 1);
        expect(isClearingAccountId(transfer.debit_account_id) || isClearingAccountId(transfer.credit_account_id)).toBe(false);
      }
      expect(rows.size).toBe(found.length);
      for (const url of databases.urls) expect((await preparedTransactions(url)).filter((gid) => gid.startsWith('pgl:'))).toEqual([]);
      const report = await standby.verify();
      expect(report.problem).toBeUndefined();
      // And it serves: a transfer between shards after the takeover.
      const [after] = await standby.createTransfers([emptyTransferEvent({ id: highest + 1_000n, debit_account_id: zero[0] ?? 0n, credit_account_id: two[0] ?? 0n, amount: 5n, ledger, code: 1 })]);
      expect(after?.result).toBe('ok');
      console.log(`[sharded standby] took over after ${acknowledged.length} acknowledged transfers; ${found.length - acknowledged.length} more were committed but not yet acknowledged; recovery committed ${standby.recovered.committed} and rolled back ${standby.recovered.rolled_back} prepared batches`);
    } finally {
      if (child.running()) child.kill();
      await exited;
      await standby?.close();
    }
  }, 120_000);
});
