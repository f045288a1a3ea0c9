// A ledger refusal that no resend changes never leaves a payment stuck (decision 68). The provider
// has already authorized or taken the money when the chain is sent, so the attempt fails with a
// clear code, the intent or refund ends with it (and its event), and the saga's compensation gives
// the money back at the provider: a void, or a refund of what was taken. Here the merchant's own
// balance is filled close to the ledger's amount_max, the one refusal a well-formed payment meets.
import { test_card_numbers, type Connector } from '@paygrid/connectors';
import { findRun, type Tenant } from '@paygrid/kernel';
import { describeWithPostgres } from '@paygrid/kernel/testing';
import { AccountCode, TransferCode, amount_max, derivedId, emptyAccountEvent, emptyTransferEvent, ledgerFor, type LedgerClient } from '@paygrid/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerChart, merchantAccountId } from './chart';
import { retry_delay_max_ms_default } from './service';
import { newTenant, openPostgresHarness, openSqliteHarness, type Harness } from './testing/harness';

/** Simultaneous confirmations racing for the last room in the merchant's balance. */
const concurrent_confirmations = 24;
/** Payments that fit in the room left. */
const payments_with_room = 3n;
const payment_amount = 1_000n;

function refusalSuite(open: () => Promise<Harness>): void {
  let harness: Harness;

  beforeAll(async () => {
    harness = await open();
  });

  afterAll(async () => {
    await harness.close();
  });

  /** Moves `amount` into (credit) or out of (debit) the merchant's USD balance, from an account of the test's own. */
  async function fill(tenant: Tenant, side: 'credit' | 'debit', amount: bigint): Promise<void> {
    const ledger = ledgerFor('USD', tenant.livemode);
    const merchant = merchantAccountId({ merchant_id: tenant.merchant_id, currency: 'USD', livemode: tenant.livemode, chart: LedgerChart.per_merchant });
    const other = derivedId(`test:filler:${tenant.merchant_id}`);
    await harness.ledger.createAccounts([
      emptyAccountEvent({ id: merchant, ledger, code: AccountCode.merchant_balance, flags: 0 }),
      emptyAccountEvent({ id: other, ledger, code: AccountCode.bank_deposits, flags: 0 }),
    ]);
    const [answer] = await harness.ledger.createTransfers([
      emptyTransferEvent({
        id: derivedId(`test:fill:${tenant.merchant_id}:${side}`),
        debit_account_id: side === 'credit' ? other : merchant,
        credit_account_id: side === 'credit' ? merchant : other,
        amount,
        ledger,
        code: TransferCode.wallet_top_up,
      }),
    ]);
    expect(answer?.result).toBe('ok');
  }

  /** The ledger, except that balances cannot be read: the check before the provider is skipped, as for requests that race past it. */
  function blindLedger(): LedgerClient {
    return new Proxy(harness.ledger, {
      get(target, key, receiver) {
        if (key === 'lookupAccounts') return () => Promise.reject(new Error('balances unreadable in this test'));
        const value: unknown = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  it('ends every confirmation it refuses requires_payment_method with amount_too_large and refunds the card, under concurrency', async () => {
    const tenant = newTenant();
    await fill(tenant, 'credit', amount_max - payments_with_room * payment_amount);
    const payments = harness.service({ ledger: blindLedger() });
    const intents = await Promise.all(Array.from({ length: concurrent_confirmations }, async () => payments.createPaymentIntent(tenant, { amount: payment_amount, currency: 'usd' })));
    const confirmed = await Promise.all(
      intents.map(async (intent) => payments.confirmPaymentIntent(tenant, intent.id, { payment_method: { type: 'card', token: harness.card(tenant, test_card_numbers.succeeds) } })),
    );
    const statuses = confirmed.map((intent) => intent.status);
    expect(statuses.filter((status) => status === 'succeeded')).toHaveLength(Number(payments_with_room));
    expect(statuses.filter((status) => status === 'requires_payment_method')).toHaveLength(concurrent_confirmations - Number(payments_with_room));
    for (const intent of confirmed) {
      const stored = await harness.payments.getPaymentIntent(tenant, intent.id);
      expect(stored.status).toBe(intent.status);
      const [attempt] = (await harness.payments.listAttempts(tenant, intent.id)).data;
      expect(attempt?.provider_reference).toBeTruthy();
      const at_acquirer = harness.acquirer.authorization(attempt?.provider_reference ?? '');
      if (intent.status === 'succeeded') {
        expect(at_acquirer).toMatchObject({ amount_captured: payment_amount, amount_refunded: 0n });
        continue;
      }
      expect(stored.last_payment_error).toMatchObject({ code: 'amount_too_large' });
      expect(attempt).toMatchObject({ status: 'failed', error: { code: 'amount_too_large' } });
      // Taken at once by the acquirer (automatic capture), and given back whole.
      expect(at_acquirer).toMatchObject({ amount_captured: payment_amount, amount_refunded: payment_amount });
      expect(await findRun(harness.database, attempt?.id ?? '')).toMatchObject({ status: 'compensated' });
    }
    await harness.payments.relayOutbox();
    for (const intent of confirmed.filter((each) => each.status !== 'succeeded')) {
      expect(harness.publisher.of(intent.id).map((event) => event.type)).toEqual(['payment_intent.created', 'payment_intent.processing', 'payment_intent.payment_failed']);
    }
    const books = await harness.books(tenant);
    expect(books.merchant.credits_posted).toBe(amount_max);
    expect(books.receivable).toMatchObject({ debits_pending: 0n, debits_posted: payments_with_room * payment_amount });
  });

  it('cancels a capture it refuses with amount_too_large, refunds it at the acquirer and releases the hold', async () => {
    const tenant = newTenant();
    const intent = await harness.payments.createPaymentIntent(tenant, { amount: payment_amount, currency: 'usd', capture_method: 'manual' });
    const authorized = await harness.payments.confirmPaymentIntent(tenant, intent.id, { payment_method: { type: 'card', token: harness.card(tenant, test_card_numbers.succeeds) } });
    expect(authorized.status).toBe('requires_capture');
    // The capture posts the hold (which never passes a total: it counted already) and takes the
    // fee from the merchant's balance, whose debits are now one unit short of full.
    await fill(tenant, 'debit', amount_max - 1n);
    const captured = await harness.payments.capturePaymentIntent(tenant, intent.id);
    expect(captured).toMatchObject({ status: 'canceled', cancellation_reason: 'automatic', last_payment_error: { code: 'amount_too_large' }, amount_capturable: 0n, amount_received: 0n });
    const attempts = (await harness.payments.listAttempts(tenant, intent.id, { limit: 10 })).data;
    const authorization = attempts.find((attempt) => attempt.operation === 'authorize');
    expect(attempts.find((attempt) => attempt.operation === 'capture')).toMatchObject({ status: 'failed', error: { code: 'amount_too_large' } });
    expect(harness.acquirer.authorization(authorization?.provider_reference ?? '')).toMatchObject({ amount_captured: payment_amount, amount_refunded: payment_amount });
    const books = await harness.books(tenant);
    expect(books.merchant).toMatchObject({ credits_pending: 0n, credits_posted: 0n });
    expect(books.receivable).toMatchObject({ debits_pending: 0n, debits_posted: 0n });
  });

  it('fails a refund whose hold it refuses with amount_too_large, asking nothing of the acquirer', async () => {
    const tenant = newTenant();
    const intent = await harness.payments.createPaymentIntent(tenant, { amount: payment_amount, currency: 'usd' });
    const paid = await harness.payments.confirmPaymentIntent(tenant, intent.id, { payment_method: { type: 'card', token: harness.card(tenant, test_card_numbers.succeeds) } });
    expect(paid.status).toBe('succeeded');
    // The refund's hold adds to the debits of the merchant's balance, now 100 short of full.
    await fill(tenant, 'debit', amount_max - (await harness.books(tenant)).merchant.debits_posted - 100n);
    const refund = await harness.payments.createRefund(tenant, { payment_intent: intent.id, amount: 500n });
    expect(refund).toMatchObject({ status: 'failed', failure_reason: 'amount_too_large' });
    const [attempt] = (await harness.payments.listAttempts(tenant, intent.id)).data;
    expect(harness.acquirer.authorization(attempt?.provider_reference ?? '')).toMatchObject({ amount_refunded: 0n });
    expect((await harness.payments.getPaymentIntent(tenant, intent.id)).amount_refunded).toBe(0n);
  });

  it('gives the money back after a restart when the provider could not be reached at first', async () => {
    const tenant = newTenant();
    await fill(tenant, 'credit', amount_max);
    const card = harness.connectors.card;
    expect(card).toBeDefined();
    let refunds_refused = 1;
    const unreachable_once = new Proxy(card as Connector, {
      get(target, key, receiver) {
        if (key === 'refund' && refunds_refused > 0) {
          refunds_refused -= 1;
          return () => Promise.reject(new Error('acquirer unreachable'));
        }
        const value: unknown = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const first = harness.service({ ledger: blindLedger(), connectors: { ...harness.connectors, card: unreachable_once } });
    const intent = await first.createPaymentIntent(tenant, { amount: payment_amount, currency: 'usd' });
    const refused = await first.confirmPaymentIntent(tenant, intent.id, { payment_method: { type: 'card', token: harness.card(tenant, test_card_numbers.succeeds) } });
    expect(refused).toMatchObject({ status: 'requires_payment_method', last_payment_error: { code: 'amount_too_large' } });
    const [attempt] = (await harness.payments.listAttempts(tenant, intent.id)).data;
    expect(await findRun(harness.database, attempt?.id ?? '')).toMatchObject({ status: 'compensating', step: 'call' });
    expect(harness.acquirer.authorization(attempt?.provider_reference ?? '')).toMatchObject({ amount_refunded: 0n });
    // Another process on the same database (a restart) resumes the undoing when its time comes.
    const restarted = harness.service();
    harness.clock.advance(retry_delay_max_ms_default + 1_000);
    await restarted.recoverPending();
    expect(await findRun(harness.database, attempt?.id ?? '')).toMatchObject({ status: 'compensated' });
    expect(harness.acquirer.authorization(attempt?.provider_reference ?? '')).toMatchObject({ amount_captured: payment_amount, amount_refunded: payment_amount });
    expect((await harness.payments.getPaymentIntent(tenant, intent.id)).status).toBe('requires_payment_method');
  });
}

describe('a ledger refusal the saga cannot retry, on SQLite', () => {
  refusalSuite(() => openSqliteHarness());
});

describeWithPostgres('a ledger refusal the saga cannot retry, on PostgreSQL', (url) => {
  refusalSuite(() => openPostgresHarness(url));
});
