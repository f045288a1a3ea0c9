// The payments service over HTTP: every call made through the RPC client gives what the same call
// on the service gives, results and ApiErrors alike, with every amount still a bigint.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { test_card_numbers } from '@paygrid/connectors';
import { expectSameRefusal, serveOverRpc, type ServedOverRpc } from '@paygrid/kernel/testing';
import { wallet_contract, type WalletClient } from '@paygrid/wallet';
import { payments_contract } from './contract';
import type { PaymentsService } from './service';
import { newTenant, openSqliteHarness, type Harness } from './testing/harness';
import type { PaymentsClient } from './types';

let harness: Harness;
let payments: PaymentsService;
let served: ServedOverRpc<PaymentsClient>;
let remote: PaymentsClient;

beforeAll(async () => {
  harness = await openSqliteHarness();
  payments = harness.payments;
  served = await serveOverRpc(payments_contract, payments);
  remote = served.remote;
});

afterAll(async () => {
  await served.close();
  const report = await harness.ledger.verify();
  await harness.close();
  expect(report.problem).toBeUndefined();
});


describe('payments over RPC', () => {
  it('takes orders and card payments, captures part and refunds, as the service does', async () => {
    const tenant = newTenant();
    const order = await remote.createOrder(tenant, { currency: 'usd', line_items: [{ description: 'Tea', quantity: 3, unit_amount: 1_250n }] });
    expect(order.amount_total).toBe(3_750n);
    expect(order).toEqual(await payments.getOrder(tenant, order.id));

    const intent = await remote.createPaymentIntent(tenant, { amount: 3_750n, currency: 'usd', capture_method: 'manual', order: order.id, idempotency_key: 'intent-1' });
    expect(await remote.createPaymentIntent(tenant, { amount: 3_750n, currency: 'usd', capture_method: 'manual', order: order.id, idempotency_key: 'intent-1' })).toEqual(intent);
    const token = harness.card(tenant, test_card_numbers.succeeds);
    const authorized = await remote.confirmPaymentIntent(tenant, intent.id, { payment_method: { type: 'card', token }, return_url: 'https://shop.example/return' });
    expect(authorized).toMatchObject({ status: 'requires_capture', amount_capturable: 3_750n });
    expect(authorized).toEqual(await payments.getPaymentIntent(tenant, intent.id));

    const captured = await remote.capturePaymentIntent(tenant, intent.id, { amount: 3_000n });
    expect(captured).toMatchObject({ status: 'succeeded', amount_received: 3_000n });
    expect(typeof captured.amount_received).toBe('bigint');
    const refund = await remote.createRefund(tenant, { payment_intent: intent.id, amount: 1_000n });
    expect(refund).toEqual(await payments.getRefund(tenant, refund.id));
    expect(await remote.listRefunds(tenant, {}, { payment_intent: intent.id })).toEqual(await payments.listRefunds(tenant, {}, { payment_intent: intent.id }));
    expect(await remote.listAttempts(tenant, intent.id)).toEqual(await payments.listAttempts(tenant, intent.id));

    // An optional argument left out reaches the service left out: everything capturable is captured.
    const whole = await remote.createPaymentIntent(tenant, { amount: 500n, currency: 'usd', capture_method: 'manual' });
    await remote.confirmPaymentIntent(tenant, whole.id, { payment_method: { type: 'card', token: harness.card(tenant, test_card_numbers.succeeds) } });
    expect(await remote.capturePaymentIntent(tenant, whole.id)).toMatchObject({ status: 'succeeded', amount_received: 500n });
    const canceled = await remote.createPaymentIntent(tenant, { amount: 700n, currency: 'usd' });
    expect(await remote.cancelPaymentIntent(tenant, canceled.id)).toMatchObject({ status: 'canceled', cancellation_reason: null });
  });

  it('pays from a wallet and settles bank transfers as the service does', async () => {
    const tenant = newTenant();
    const wallet = await harness.fundedWallet(tenant, 5_000n);
    const intent = await remote.createPaymentIntent(tenant, { amount: 1_200n, currency: 'usd' });
    const paid = await remote.confirmPaymentIntent(tenant, intent.id, { payment_method: { type: 'wallet', wallet: wallet.id } });
    expect(paid).toMatchObject({ status: 'succeeded', payment_method_type: 'wallet', amount_received: 1_200n });

    const waiting_intent = await payments.createPaymentIntent(tenant, { amount: 2_500n, currency: 'eur' });
    const waiting = await remote.confirmPaymentIntent(tenant, waiting_intent.id, { payment_method: { type: 'bank_transfer' } });
    const reference = waiting.next_action?.type === 'bank_transfer_instructions' ? waiting.next_action.reference : '';
    expect(waiting.next_action).toEqual({ type: 'bank_transfer_instructions', reference });
    const review = await remote.reportIncomingBankTransfer(tenant, { reference, amount: 2_499n, currency: 'eur' });
    expect(review).toMatchObject({ object: 'bank_transfer_review', reason: 'amount_mismatch', amount: 2_499n });
    expect(await remote.listBankTransferReviews(tenant, {})).toEqual(await payments.listBankTransferReviews(tenant, {}));
    expect(await remote.reportIncomingBankTransfer(tenant, { reference, amount: 2_500n, currency: 'eur' })).toMatchObject({ object: 'payment_intent', status: 'succeeded' });
  });

  it('lists with pagination as the service does', async () => {
    const tenant = newTenant();
    for (let index = 0; index < 3; index += 1) {
      await payments.createOrder(tenant, { currency: 'usd', line_items: [{ description: `Item ${index}`, quantity: 1, unit_amount: 100n }] });
      await payments.createPaymentIntent(tenant, { amount: 100n + BigInt(index), currency: 'usd' });
    }
    const orders = await remote.listOrders(tenant, { limit: 2 });
    expect(orders).toEqual(await payments.listOrders(tenant, { limit: 2 }));
    expect(orders.has_more).toBe(true);
    const cursor = orders.data[1]?.id;
    expect(await remote.listOrders(tenant, { limit: 2, starting_after: cursor })).toEqual(await payments.listOrders(tenant, { limit: 2, starting_after: cursor }));
    const intents = await remote.listPaymentIntents(tenant, { limit: 2 });
    expect(intents).toEqual(await payments.listPaymentIntents(tenant, { limit: 2 }));
    expect(intents.data.map((intent) => typeof intent.amount)).toEqual(['bigint', 'bigint']);
    expect(await remote.listPaymentIntents(tenant, { ending_before: intents.data[1]?.id })).toEqual(await payments.listPaymentIntents(tenant, { ending_before: intents.data[1]?.id }));
  });

  it('answers notifications as the service does, header values left undefined included', async () => {
    const headers = { 'content-type': 'application/x-www-form-urlencoded', signature: undefined };
    expect(await remote.handleNotification('alipay', headers, 'garbage')).toEqual(await payments.handleNotification('alipay', headers, 'garbage'));
    expect(await remote.handleNotification('wechat_pay', {}, '{}')).toMatchObject({ ok: false });
  });

  it('refuses what the service refuses, with the same ApiError', async () => {
    const tenant = newTenant();
    await expectSameRefusal(payments.getPaymentIntent(tenant, 'pi_missing'), remote.getPaymentIntent(tenant, 'pi_missing'));
    await expectSameRefusal(payments.createPaymentIntent(tenant, { amount: -1n, currency: 'usd' }), remote.createPaymentIntent(tenant, { amount: -1n, currency: 'usd' }));
    await expectSameRefusal(
      payments.createOrder(tenant, { currency: 'usd', line_items: [] }),
      remote.createOrder(tenant, { currency: 'usd', line_items: [] }),
    );
    const intent = await payments.createPaymentIntent(tenant, { amount: 100n, currency: 'usd' });
    const unexpected = await expectSameRefusal(payments.capturePaymentIntent(tenant, intent.id), remote.capturePaymentIntent(tenant, intent.id));
    expect(unexpected.code).toBe('payment_intent_unexpected_state');
    await expectSameRefusal(
      payments.confirmPaymentIntent(tenant, intent.id, { payment_method: { type: 'card', token: 'tok_missing' } }),
      remote.confirmPaymentIntent(tenant, intent.id, { payment_method: { type: 'card', token: 'tok_missing' } }),
    );
  });

  it('takes an unexpected failure of the wallet across processes as an unknown outcome, and recovers it', async () => {
    // The wallet moves the money and then fails unexpectedly, once: in another process that reaches
    // payments as the generic 500, after which the payment may or may not have been made.
    const wallets = harness.wallets;
    let failures_left = 1;
    const failing_once = new Proxy(wallets, {
      get(target, property, receiver) {
        if (property === 'pay') {
          return async (...args: Parameters<WalletClient['pay']>) => {
            const payment = await target.pay(...args);
            if (failures_left > 0) {
              failures_left -= 1;
              throw new TypeError('the wallet failed after paying (test)');
            }
            return payment;
          };
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const wallet_served = await serveOverRpc(wallet_contract, failing_once as WalletClient);
    try {
      const over_rpc = harness.service({ wallet: wallet_served.remote });
      const tenant = newTenant();
      const wallet = await harness.fundedWallet(tenant, 5_000n);
      const intent = await over_rpc.createPaymentIntent(tenant, { amount: 1_500n, currency: 'usd' });
      const confirmed = await over_rpc.confirmPaymentIntent(tenant, intent.id, { payment_method: { type: 'wallet', wallet: wallet.id } });
      expect(confirmed.status).toBe('processing');
      expect(confirmed.last_payment_error).toBeNull();

      harness.clock.advance(5_000);
      await over_rpc.recoverPending();
      expect(await over_rpc.getPaymentIntent(tenant, intent.id)).toMatchObject({ status: 'succeeded', amount_received: 1_500n });
      // The retry met the first payment (same idempotency key): the wallet paid once.
      expect((await wallets.getWallet(tenant, wallet.id)).balance.available).toBe(3_500n);
    } finally {
      await wallet_served.close();
    }
  });
});
