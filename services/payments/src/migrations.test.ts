// Version 4 moves unfinished attempts onto saga runs. A database written by version 3 must carry on
// where it stood: an authorization whose answer was lost is asked about and settled, a bank
// transfer keeps waiting for its money and is paid when it arrives, and finished attempts are left
// alone. The lease columns leave payment_attempts.
import { findRun, listTransitions, type ServiceDatabase, type Tenant } from '@paygrid/kernel';
import { describeWithPostgres } from '@paygrid/kernel/testing';
import { describe, expect, it } from 'vitest';
import { payments_migrations } from './migrations';
import { newTenant, openPostgresHarness, openSqliteHarness, type Harness, type HarnessOptions } from './testing/harness';

const amount = 10_000n;
const bank_reference = 'PGMIGRATION01';

/** What version 3 left: an intent and its attempt, as its own statements wrote them. */
async function version3Payment(
  database: ServiceDatabase,
  tenant: Tenant,
  rows: {
    readonly intent: string;
    readonly attempt: string;
    readonly method: Record<string, unknown>;
    readonly status: string;
    readonly waiting: boolean;
    readonly applied: boolean;
    readonly fence: number;
    readonly retries: number;
    readonly next_attempt_ms: number | null;
    readonly bank_reference: string | null;
  },
): Promise<void> {
  await database.execute(
    `INSERT INTO payment_intents (id, merchant_id, livemode, amount, currency, capture_method, status, payment_method_type, amount_capturable, amount_received,
       amount_refunded, bank_transfer_reference, authorization_attempt_id, version, created)
     VALUES (?, ?, ?, ?, 'usd', 'automatic', ?, ?, 0, 0, 0, ?, ?, 2, 0)`,
    [rows.intent, tenant.merchant_id, tenant.livemode, amount, rows.applied ? 'succeeded' : 'processing', rows.method.type, rows.bank_reference, rows.attempt],
  );
  await database.execute(
    `INSERT INTO payment_attempts (id, merchant_id, livemode, intent_id, operation, status, amount, payment_method, waiting, provider_reference, applied, attempt,
       retry_count, next_attempt_ms, created)
     VALUES (?, ?, ?, ?, 'authorize', ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
    [
      rows.attempt,
      tenant.merchant_id,
      tenant.livemode,
      rows.intent,
      rows.status,
      amount,
      JSON.stringify(rows.method),
      rows.waiting,
      rows.bank_reference,
      rows.applied,
      rows.fence,
      rows.retries,
      rows.next_attempt_ms,
    ],
  );
}

function migrationSuite(open: (options: HarnessOptions) => Promise<Harness>): void {
  it('turns unfinished version-3 attempts into runs that go on where they stood', async () => {
    const tenant = newTenant();
    const long_ago_ms = Date.now() - 3_600_000;
    const harness = await open({
      before_migrations: async (database) => {
        await database.migrate(payments_migrations.filter((migration) => migration.version <= 3));
        // The acquirer never saw this one: the process died before the call, and its lease ran out.
        await version3Payment(database, tenant, {
          intent: 'pi_lost',
          attempt: 'pa_lost',
          method: { type: 'card', token: 'tok_gone' },
          status: 'unknown',
          waiting: false,
          applied: false,
          fence: 3,
          retries: 2,
          next_attempt_ms: long_ago_ms,
          bank_reference: null,
        });
        await version3Payment(database, tenant, {
          intent: 'pi_bank',
          attempt: 'pa_bank',
          method: { type: 'bank_transfer' },
          status: 'pending',
          waiting: true,
          applied: false,
          fence: 1,
          retries: 0,
          next_attempt_ms: null,
          bank_reference,
        });
        await version3Payment(database, tenant, {
          intent: 'pi_done',
          attempt: 'pa_done',
          method: { type: 'wallet', wallet: 'wal_gone' },
          status: 'succeeded',
          waiting: false,
          applied: true,
          fence: 1,
          retries: 0,
          next_attempt_ms: null,
          bank_reference: null,
        });
      },
    });
    try {
      // Starting the service ran a recovery pass: the lost authorization was asked about, and the
      // acquirer had never heard of it, so it failed and the customer may try again.
      expect(await harness.payments.getPaymentIntent(tenant, 'pi_lost')).toMatchObject({ status: 'requires_payment_method', last_payment_error: { code: 'processing_error' } });
      expect(await findRun(harness.database, 'pa_lost')).toMatchObject({ saga: 'payment_attempt', status: 'failed', fence: 4, due_ms: null });
      expect((await listTransitions(harness.database, 'pa_lost')).map((row) => [row.from_status, row.to_status, row.reason])).toEqual([
        [null, 'retrying', 'migrated'],
        ['retrying', 'running', 'leased'],
        ['running', 'failed', 'fail:declined:processing_error'],
      ]);
      // The bank transfer waits with no time of its own, until its money arrives.
      expect(await findRun(harness.database, 'pa_bank')).toMatchObject({ status: 'waiting', due_ms: null, fence: 1 });
      const paid = await harness.payments.reportIncomingBankTransfer(tenant, { amount, currency: 'usd', reference: bank_reference });
      expect(paid).toMatchObject({ id: 'pi_bank', status: 'succeeded', amount_received: amount });
      expect(await findRun(harness.database, 'pa_bank')).toMatchObject({ status: 'succeeded', fence: 2 });
      expect((await harness.books(tenant)).merchant).toMatchObject({ credits_posted: amount });
      // Written before version 5, the intent keeps the receivable every merchant shared (decision
      // 67): the money arrived against it, and the merchant's own receivable saw nothing.
      const [chart] = await harness.database.query<{ ledger_chart: number }>("SELECT ledger_chart FROM payment_intents WHERE id = 'pi_bank'");
      expect(Number(chart?.ledger_chart)).toBe(1);
      expect((await harness.books(tenant)).receivable).toMatchObject({ debits_posted: 0n });
      // A finished attempt has no run.
      expect(await findRun(harness.database, 'pa_done')).toBeUndefined();
      const columns = await harness.database.query<Record<string, unknown>>("SELECT * FROM payment_attempts WHERE id = 'pa_done'");
      expect(Object.keys(columns[0] ?? {}).filter((column) => column === 'attempt' || column === 'retry_count' || column === 'next_attempt_ms')).toEqual([]);
    } finally {
      await harness.close();
    }
  });
}

describe('payments migrations on SQLite', () => {
  migrationSuite((options) => openSqliteHarness(options));
});

describeWithPostgres('payments migrations on PostgreSQL', (url) => {
  migrationSuite((options) => openPostgresHarness(url, options));
});
