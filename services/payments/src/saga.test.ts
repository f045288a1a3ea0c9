// The payment saga when the commit that records an answer fails. The runner runs a failed shared
// commit's writes once more alone; those writes must then be the same as the first time (the
// attempt's history row included), and a request whose commit failed for good must answer what is
// durable, leaving the rest to recovery.
import { test_card_numbers } from '@paygrid/connectors';
import { findRun, listTransitions, type Database } from '@paygrid/kernel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attempt_lease_ms_default } from './service';
import { listStatusChanges } from './store';
import { newTenant, openSqliteHarness, type Harness } from './testing/harness';

/**
 * The payments database, except that transactions number `failing` (counted from 1) fail after
 * their work ran, as a commit that fails whole does: nothing of them is kept.
 */
function failingCommits(database: Database, failing: readonly number[]): Database {
  let count = 0;
  return {
    dialect: database.dialect,
    query: (sql, params) => database.query(sql, params),
    execute: (sql, params) => database.execute(sql, params),
    transaction: (work) => {
      count += 1;
      const fails = failing.includes(count);
      return database.transaction(async (tx) => {
        const result = await work(tx);
        if (fails) throw new Error(`commit ${count} failed`);
        return result;
      });
    },
    close: () => database.close(),
  };
}

describe('the payment saga when a commit fails', () => {
  let harness: Harness;

  beforeAll(async () => {
    harness = await openSqliteHarness();
  });

  afterAll(async () => {
    await harness.close();
  });

  it('writes the answer once when its shared commit failed and the runner wrote it again alone', async () => {
    const tenant = newTenant();
    // Commit 1 creates the intent, commit 2 records the attempt; commit 3, the answer's, fails whole;
    // commit 4 is its retry alone.
    const payments = harness.service({ database: failingCommits(harness.database, [3]) });
    const created = await payments.createPaymentIntent(tenant, { amount: 10_000n, currency: 'usd' });
    const before = await harness.books(tenant);
    const confirmed = await payments.confirmPaymentIntent(tenant, created.id, { payment_method: { type: 'card', token: harness.card(tenant, test_card_numbers.succeeds) } });
    expect(confirmed).toMatchObject({ status: 'succeeded', amount_received: 10_000n });
    expect(await harness.payments.getPaymentIntent(tenant, created.id)).toEqual(confirmed);
    const [attempt] = (await harness.payments.listAttempts(tenant, created.id)).data;
    expect(attempt).toMatchObject({ status: 'succeeded' });
    expect((await listStatusChanges(harness.database, attempt?.id ?? '')).map((row) => row.to_status)).toEqual(['pending', 'succeeded']);
    expect((await listStatusChanges(harness.database, created.id)).map((row) => row.to_status)).toEqual(['requires_payment_method', 'processing', 'succeeded']);
    expect((await listTransitions(harness.database, attempt?.id ?? '')).map((row) => row.to_status)).toEqual(['running', 'succeeded']);
    expect((await harness.books(tenant, 'USD', before)).merchant).toEqual({ debits_pending: 0n, debits_posted: 320n, credits_pending: 0n, credits_posted: 10_000n });
  });

  it('answers what is durable when the answer cannot be recorded, and recovery records it once', async () => {
    const tenant = newTenant();
    // The answer's commit and its retry alone both fail.
    const payments = harness.service({ database: failingCommits(harness.database, [3, 4]) });
    const created = await payments.createPaymentIntent(tenant, { amount: 10_000n, currency: 'usd' });
    const confirmed = await payments.confirmPaymentIntent(tenant, created.id, { payment_method: { type: 'card', token: harness.card(tenant, test_card_numbers.succeeds) } });
    // The money moved (the ledger's commit is the book of record), the answer is not recorded.
    expect(confirmed).toMatchObject({ status: 'processing', amount_received: 0n });
    expect(await harness.payments.getPaymentIntent(tenant, created.id)).toEqual(confirmed);
    expect((await harness.books(tenant)).merchant.credits_posted).toBe(10_000n);
    const [attempt] = (await harness.payments.listAttempts(tenant, created.id)).data;
    expect(await findRun(harness.database, attempt?.id ?? '')).toMatchObject({ status: 'running', fence: 1 });
    harness.clock.advance(attempt_lease_ms_default);
    await harness.payments.recoverPending();
    expect(await harness.payments.getPaymentIntent(tenant, created.id)).toMatchObject({ status: 'succeeded', amount_received: 10_000n });
    expect((await listStatusChanges(harness.database, attempt?.id ?? '')).map((row) => row.to_status)).toEqual(['pending', 'succeeded']);
    // Asked again, the acquirer answered the same; the chain met `exists`: the money moved once.
    expect((await harness.books(tenant)).merchant).toEqual({ debits_pending: 0n, debits_posted: 320n, credits_pending: 0n, credits_posted: 10_000n });
  });
});
