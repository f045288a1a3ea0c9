// Live mode in the payments service: a live request for a payment method without a real adapter
// is refused with livemode_not_configured before anything is written, and wallet payments, which
// need no outside party, go through. A live authorization made while a method was configured
// cannot be captured or refunded once the platform restarts without it.
import { CardConnector, test_card_numbers, type AcquirerAuthorizeRequest, type CardAcquirer } from '@paygrid/connectors';
import { ApiError, decideLiveCapabilities, live_capabilities_none, randomId, type LiveCapabilities, type Tenant } from '@paygrid/kernel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PaymentsService } from './service';
import { newTenant, openSqliteHarness, type Harness } from './testing/harness';

const payment_tables = ['payment_orders', 'payment_intents', 'payment_attempts', 'payment_refunds', 'bank_transfer_reviews', 'payment_status_changes', 'payment_events'] as const;

/** Live capabilities as a platform with a real card acquirer configured would decide them. */
const card_configured: LiveCapabilities = decideLiveCapabilities(
  { CARD_ACQUIRER: { url: 'https://acquirer.example', bearer_token: undefined, client_certificate: undefined, ca: undefined }, ALIPAY: undefined, WECHAT_PAY: undefined },
  undefined,
);

async function refusal(work: Promise<unknown>): Promise<ApiError> {
  const error: unknown = await work.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe('live mode in the payments service', () => {
  let harness: Harness;
  /** The platform's default: no real adapter but the ledger. */
  let unconfigured: PaymentsService;
  /** A platform whose card acquirer is real (here: one that takes live payments, standing in for it). */
  let configured: PaymentsService;

  beforeAll(async () => {
    harness = await openSqliteHarness();
    unconfigured = harness.service();
    // The simulator refuses live money on its own; a real acquirer would not, so this test's
    // "real" acquirer hands live requests to the simulator as if they were test ones.
    const real_acquirer: CardAcquirer = {
      authorize: (request: AcquirerAuthorizeRequest, options) => harness.acquirer.authorize({ ...request, livemode: false }, options),
      capture: (request, options) => harness.acquirer.capture(request, options),
      void: (request, options) => harness.acquirer.void(request, options),
      refund: (request, options) => harness.acquirer.refund(request, options),
      status: (reference, options) => harness.acquirer.status(reference, options),
    };
    configured = harness.service({
      connectors: { ...harness.connectors, card: new CardConnector({ cards: harness.vault, acquirer: real_acquirer }) },
      live_capabilities: card_configured,
    });
  });

  afterAll(async () => {
    await harness.close();
  });

  async function rowCounts(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const table of payment_tables) {
      const [row] = await harness.database.query<{ count: number | bigint }>(`SELECT COUNT(*) AS count FROM ${table}`);
      counts[table] = Number(row?.count ?? -1);
    }
    return counts;
  }

  async function liveWallet(tenant: Tenant, amount: bigint): Promise<string> {
    const customer = randomId('cus');
    harness.customers.add(tenant, customer);
    const wallet = await harness.wallets.createWallet(tenant, { customer, currency: 'usd' });
    // Live wallets are funded by card payments; the wallet's side of one is all this needs.
    await harness.wallets.topUpFromPayment(tenant, wallet.id, { amount, payment_intent: randomId('pi'), idempotency_key: randomId('key') });
    return wallet.id;
  }

  it('refuses a live confirm by card, Alipay, WeChat Pay or bank transfer before anything is written', async () => {
    const live = newTenant(true);
    const usd = await unconfigured.createPaymentIntent(live, { amount: 2_000n, currency: 'usd' });
    const cny = await unconfigured.createPaymentIntent(live, { amount: 2_000n, currency: 'cny' });
    const counts = await rowCounts();
    const books = await harness.books(live);
    const methods = [
      [usd.id, { type: 'card', token: harness.card(live, test_card_numbers.succeeds) }, 'card payments'],
      [cny.id, { type: 'alipay' }, 'Alipay payments'],
      [cny.id, { type: 'wechat_pay' }, 'WeChat Pay payments'],
      [usd.id, { type: 'bank_transfer' }, 'bank transfer payments'],
    ] as const;
    for (const [intent, payment_method, label] of methods) {
      const error = await refusal(unconfigured.confirmPaymentIntent(live, intent, { payment_method }));
      expect({ type: error.type, code: error.code, param: error.param }).toEqual({ type: 'invalid_request_error', code: 'livemode_not_configured', param: 'payment_method[type]' });
      expect(error.message).toContain(`Live-mode ${label} are not configured`);
    }
    // Refused before the intent is even read: an id of nothing gets the same answer, not a 404.
    expect((await refusal(unconfigured.confirmPaymentIntent(live, 'pi_nothing', { payment_method: { type: 'alipay' } }))).code).toBe('livemode_not_configured');
    expect(await rowCounts()).toEqual(counts);
    expect(await harness.books(live)).toEqual(books);
    expect((await unconfigured.getPaymentIntent(live, usd.id)).status).toBe('requires_payment_method');

    // Test mode is untouched: the same card pays at the simulator.
    const test_mode = newTenant();
    const intent = await unconfigured.createPaymentIntent(test_mode, { amount: 2_000n, currency: 'usd' });
    const paid = await unconfigured.confirmPaymentIntent(test_mode, intent.id, { payment_method: { type: 'card', token: harness.card(test_mode, test_card_numbers.succeeds) } });
    expect(paid.status).toBe('succeeded');
  });

  it('takes live wallet payments, which need no outside party', async () => {
    const live = newTenant(true);
    const wallet = await liveWallet(live, 5_000n);
    const intent = await unconfigured.createPaymentIntent(live, { amount: 1_200n, currency: 'usd' });
    const paid = await unconfigured.confirmPaymentIntent(live, intent.id, { payment_method: { type: 'wallet', wallet } });
    expect(paid).toMatchObject({ status: 'succeeded', amount_received: 1_200n, livemode: true });
    expect((await harness.wallets.getWallet(live, wallet)).balance.available).toBe(3_800n);
    const refund = await unconfigured.createRefund(live, { payment_intent: intent.id, amount: 200n });
    expect(refund.status).toBe('succeeded');
    expect((await harness.wallets.getWallet(live, wallet)).balance.available).toBe(4_000n);
  });

  it('lets a platform with a real card acquirer take live cards, and refuses their capture and refund once it has none', async () => {
    const live = newTenant(true);
    const held = await configured.createPaymentIntent(live, { amount: 3_000n, currency: 'usd', capture_method: 'manual' });
    expect((await configured.confirmPaymentIntent(live, held.id, { payment_method: { type: 'card', token: harness.card(live, test_card_numbers.succeeds) } })).status).toBe('requires_capture');
    const taken = await configured.createPaymentIntent(live, { amount: 4_000n, currency: 'usd' });
    expect((await configured.confirmPaymentIntent(live, taken.id, { payment_method: { type: 'card', token: harness.card(live, test_card_numbers.succeeds) } })).status).toBe('succeeded');
    // The default (nothing configured) refuses the same confirm, so the difference is the capability.
    const third = await configured.createPaymentIntent(live, { amount: 100n, currency: 'usd' });
    expect((await refusal(unconfigured.confirmPaymentIntent(live, third.id, { payment_method: { type: 'card', token: harness.card(live, test_card_numbers.succeeds) } }))).code).toBe('livemode_not_configured');

    // The platform restarts without its acquirer: the live card intents stay as they were.
    const counts = await rowCounts();
    const books = await harness.books(live);
    const capture = await refusal(unconfigured.capturePaymentIntent(live, held.id, { amount: 1_000n }));
    expect({ code: capture.code, param: capture.param }).toEqual({ code: 'livemode_not_configured', param: undefined });
    const refund = await refusal(unconfigured.createRefund(live, { payment_intent: taken.id, amount: 500n }));
    expect({ code: refund.code, param: refund.param }).toEqual({ code: 'livemode_not_configured', param: 'payment_intent' });
    expect(await rowCounts()).toEqual(counts);
    expect(await harness.books(live)).toEqual(books);
    expect((await unconfigured.getPaymentIntent(live, held.id)).status).toBe('requires_capture');

    // With the acquirer back, both go through.
    expect((await configured.capturePaymentIntent(live, held.id, { amount: 1_000n })).status).toBe('succeeded');
    expect((await configured.createRefund(live, { payment_intent: taken.id, amount: 500n })).status).toBe('succeeded');
  });

  it('defaults to live wallet payments only', () => {
    for (const [name, capability] of Object.entries(live_capabilities_none)) {
      expect(capability.status, name).toBe(name === 'wallet_payments' ? 'active' : 'inactive');
    }
  });
});
