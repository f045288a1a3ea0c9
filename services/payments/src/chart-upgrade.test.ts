// Payments made before the platform-side accounts became each merchant's own (decision 67) keep the
// accounts every merchant shared: their row says so (`ledger_chart`, 1 for every row migration 5
// found), so their captures, fees and refunds balance against the receivable their authorization
// debited, while new payments use the merchant's own.
import { test_card_numbers } from '@paygrid/connectors';
import { sharedPlatformAccountId, type Account } from '@paygrid/ledger';
import { describeWithPostgres } from '@paygrid/kernel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerChart, feesAccountId, receivableAccountId } from './chart';
import { newTenant, openPostgresHarness, openSqliteHarness, type Harness } from './testing/harness';

function totals(account: Account | undefined): { debits: bigint; credits: bigint } {
  return { debits: (account?.debits_pending ?? 0n) + (account?.debits_posted ?? 0n), credits: (account?.credits_pending ?? 0n) + (account?.credits_posted ?? 0n) };
}

function upgradeSuite(open: () => Promise<Harness>): void {
  let harness: Harness;

  beforeAll(async () => {
    harness = await open();
  });

  afterAll(async () => {
    await harness.close();
  });

  it("books an older intent's capture, fee and refund on the shared accounts its authorization used, and a new intent's on the merchant's own", async () => {
    const tenant = newTenant();
    const older = await harness.payments.createPaymentIntent(tenant, { amount: 10_000n, currency: 'usd', capture_method: 'manual' });
    // The row as migration 5 leaves one created before it.
    await harness.database.execute('UPDATE payment_intents SET ledger_chart = ? WHERE id = ?', [LedgerChart.shared, older.id]);
    const shared_receivable = sharedPlatformAccountId('payments_receivable', 'USD', false);
    const shared_fees = sharedPlatformAccountId('platform_fees', 'USD', false);
    const own = { merchant_id: tenant.merchant_id, currency: 'USD' as const, livemode: false, chart: LedgerChart.per_merchant };
    const receivable_before = totals(await harness.account(shared_receivable));
    const fees_before = totals(await harness.account(shared_fees));

    // A process started after the upgrade (it reads the row afresh).
    const payments = harness.service();
    const card = harness.card(tenant, test_card_numbers.succeeds);
    expect((await payments.confirmPaymentIntent(tenant, older.id, { payment_method: { type: 'card', token: card } })).status).toBe('requires_capture');
    expect((await payments.capturePaymentIntent(tenant, older.id)).status).toBe('succeeded');
    expect((await payments.createRefund(tenant, { payment_intent: older.id, amount: 4_000n })).status).toBe('succeeded');
    const receivable_after = totals(await harness.account(shared_receivable));
    expect(receivable_after.debits - receivable_before.debits).toBe(10_000n);
    expect(receivable_after.credits - receivable_before.credits).toBe(4_000n);
    expect(totals(await harness.account(shared_fees)).credits - fees_before.credits).toBeGreaterThan(0n);
    // Nothing of the older payment touched the merchant's own receivable or fees.
    expect(totals(await harness.account(receivableAccountId(own)))).toEqual({ debits: 0n, credits: 0n });
    expect(totals(await harness.account(feesAccountId(own)))).toEqual({ debits: 0n, credits: 0n });

    const newer = await payments.createPaymentIntent(tenant, { amount: 3_000n, currency: 'usd' });
    expect((await payments.confirmPaymentIntent(tenant, newer.id, { payment_method: { type: 'card', token: harness.card(tenant, test_card_numbers.succeeds) } })).status).toBe('succeeded');
    expect((await payments.createRefund(tenant, { payment_intent: newer.id, amount: 1_000n })).status).toBe('succeeded');
    expect(totals(await harness.account(receivableAccountId(own)))).toEqual({ debits: 3_000n, credits: 1_000n });
    expect(totals(await harness.account(shared_receivable))).toEqual(receivable_after);
    expect((await harness.ledger.verify()).problem).toBeUndefined();
  });
}

describe('payments made under the shared chart, on SQLite', () => {
  upgradeSuite(() => openSqliteHarness());
});

describeWithPostgres('payments made under the shared chart, on PostgreSQL', (url) => {
  upgradeSuite(() => openPostgresHarness(url));
});
