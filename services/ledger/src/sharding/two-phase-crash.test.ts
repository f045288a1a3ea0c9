// The two-phase commit crash test. A child process coordinates transfers between shards and is
// SIGKILLed at each point of a round in turn: after one shard prepared, after all prepared, after
// the decision was logged, after the first shard committed. The ledger is then opened again here,
// which recovers: no prepared transaction may remain, no transfer may be half applied (one leg
// without the other), every acknowledged transfer must be there exactly once, and verify passes.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresUrl } from '@paygrid/kernel/testing';
import { openLedgerStore } from '../open';
import { accountsByShard, startCrashChild } from '../testing/crash-children';
import type { TwoPhaseCrashChildConfig } from '../testing/two-phase-crash-child';
import { emptyAccountEvent, emptyTransferEvent } from '../types';
import { isClearingAccountId } from './clearing';
import { ShardedLedger, two_phase_failpoints, type TwoPhaseFailpoint } from './sharded-ledger';
import { createShardDatabases, preparedTransactions, type ShardDatabases } from './testing';

const database_url = postgresUrl();
const child_timeout_ms = 60_000;
const ledger = 5;
const first_id = 50_000n;

/** Runs the child until it ends (at its failpoint), bounded in time. */
async function runChild(config: TwoPhaseCrashChildConfig): Promise<{ signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const child = startCrashChild(config);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      child.kill();
      reject(new Error(`the crash-test child took longer than ${child_timeout_ms} ms: ${child.stderr()}`));
    }, child_timeout_ms);
  });
  try {
    const signal = await Promise.race([child.exited, timeout]);
    return { signal, stdout: child.stdout(), stderr: child.stderr() };
  } finally {
    clearTimeout(timer);
  }
}

/** What recovery must have done, by the point the coordinator died at. */
const expected_recovery: Record<TwoPhaseFailpoint, 'rolled_back' | 'committed'> = {
  after_first_prepare: 'rolled_back',
  after_all_prepares: 'rolled_back',
  after_decision: 'committed',
  after_first_commit: 'committed',
};

describe.runIf(database_url !== undefined)('two-phase commit across ledger shards, coordinator killed', () => {
  let databases: ShardDatabases;
  beforeAll(async () => {
    databases = await createShardDatabases(database_url ?? '', 3);
  }, 60_000);
  afterAll(async () => {
    await databases?.drop();
  }, 60_000);

  it.each(two_phase_failpoints)('recovers after a SIGKILL %s', async (failpoint) => {
    const suffix = randomBytes(4).toString('hex');
    const options = { shard_urls: databases.urls, schema: `ledger_${suffix}`, coordinator_schema: `coordinator_${suffix}`, writer: { batch_wait_ms: 0 } };
    // Accounts on every shard, paired across shards.
    const setup = await ShardedLedger.open({ ...options, migrate: true });
    const [zero, one, two] = accountsByShard(setup, 2);
    const pairs: [bigint, bigint][] = [
      [zero[0] ?? 0n, one[0] ?? 0n],
      [one[1] ?? 0n, two[0] ?? 0n],
      [two[1] ?? 0n, zero[1] ?? 0n],
    ];
    const accounts = pairs.flat();
    expect((await setup.createAccounts(accounts.map((id) => emptyAccountEvent({ id, ledger, code: 1 })))).map((answer) => answer.result)).toEqual(accounts.map(() => 'ok'));
    await setup.close();

    const child = await runChild({
      shard_urls: [...databases.urls],
      schema: options.schema,
      coordinator_schema: options.coordinator_schema,
      failpoint: { point: failpoint, round: 3 },
      pairs: pairs.map(([debit, credit]) => [debit.toString(), credit.toString()]),
      ledger,
      first_id: first_id.toString(),
      requests_per_wave: 3,
      waves_max: 20,
    });
    expect(child.stdout).not.toContain('waves ended');
    expect(child.signal, child.stderr).toBe('SIGKILL');
    const acknowledged = [...child.stdout.matchAll(/^ack (\d+)$/gm)].map((match) => BigInt(match[1] ?? '0'));
    const attempted = [...child.stdout.matchAll(/^(?:ack|refused) (\d+)/gm)].length;
    expect(attempted).toBe(acknowledged.length);
    expect(acknowledged.length).toBeGreaterThanOrEqual(3);
    const left_prepared = (await Promise.all(databases.urls.map(preparedTransactions))).flat().filter((gid) => gid.startsWith('pgl:'));
    expect(left_prepared.length).toBeGreaterThan(0);

    const recovered = await ShardedLedger.open({ ...options, migrate: false });
    try {
      expect(recovered.recovered[expected_recovery[failpoint]]).toBeGreaterThan(0);
      expect(recovered.recovered[expected_recovery[failpoint] === 'committed' ? 'rolled_back' : 'committed']).toBe(0);
      for (const url of databases.urls) expect((await preparedTransactions(url)).filter((gid) => left_prepared.includes(gid))).toEqual([]);
      // Every id the child could have used: acknowledged ones once, whole; others whole or absent.
      const candidate_ids = Array.from({ length: acknowledged.length + 12 }, (_unused, index) => first_id + BigInt(index));
      const legs = new Map<bigint, number>();
      for (const url of databases.urls) {
        const store = await openLedgerStore({ kind: 'postgres', url, schema: options.schema }, { migrate: false });
        try {
          for (const { transfer } of await store.lookupTransfers(candidate_ids)) {
            expect(isClearingAccountId(transfer.debit_account_id) || isClearingAccountId(transfer.credit_account_id)).toBe(true);
            legs.set(transfer.id, (legs.get(transfer.id) ?? 0) + 1);
          }
        } finally {
          await store.close();
        }
      }
      for (const count of legs.values()) expect(count).toBe(2);
      const found = await recovered.lookupTransfers(candidate_ids);
      const found_ids = new Set(found.map(({ transfer }) => transfer.id));
      for (const id of acknowledged) expect(found_ids.has(id), `acknowledged transfer ${id}`).toBe(true);
      expect(found.length).toBe(found_ids.size);
      // The round the coordinator died in is there in full (decided) or not at all (undecided).
      const in_killed_round = [...found_ids].filter((id) => !acknowledged.includes(id));
      if (expected_recovery[failpoint] === 'committed') expect(in_killed_round.length).toBeGreaterThan(0);
      else expect(in_killed_round).toEqual([]);
      // A retry of every transfer the child sent answers exists, or commits what never was.
      const retried = await recovered.createTransfers(
        found.map(({ transfer }) => emptyTransferEvent({ id: transfer.id, debit_account_id: transfer.debit_account_id, credit_account_id: transfer.credit_account_id, amount: 10n, ledger, code: 1 })),
      );
      expect(retried.every((answer) => answer.result === 'exists')).toBe(true);
      const report = await recovered.verify();
      expect(report.problem).toBeUndefined();
      expect(report.ok).toBe(true);
    } finally {
      await recovered.close();
    }
  }, 120_000);
});
