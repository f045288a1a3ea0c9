// The payments service's behaviour, run on SQLite and on PostgreSQL (service.test.ts), each time
// against a real ledger, a real wallet service and the connectors' own sandboxes.
import { test_card_numbers, type Connector } from '@paygrid/connectors';
import { ApiError, randomId, type Tenant } from '@paygrid/kernel';
import { TransferCode } from '@paygrid/ledger';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { holdTransferId, postTransferId } from '../chart';
import type { PaymentsService } from '../service';
import { listEventsOfTenant, listStatusChanges } from '../store';
import type { Wallet } from '@paygrid/wallet';
import type { PaymentIntent } from '../types';
import { bank_transfer_reference_pattern } from '../validation';
import { newTenant, type Harness } from './harness';

async function expectApiError(work: Promise<unknown>, expected: { type: string; code: string; param?: string }): Promise<ApiError> {
  const error: unknown = await work.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ApiError);
  const api_error = error as ApiError;
  expect({ type: api_error.type, code: api_error.code, ...(expected.param === undefined ? {} : { param: api_error.param }) }).toEqual(expected);
  return api_error;
}

/** Wraps a connector so that its authorize answers are lost after the provider acted (a crash between steps 2 and 3). */
function answerLosing(connector: Connector): Connector {
  return {
    method: connector.method,
    authorize: async (request, options) => {
      await connector.authorize(request, options);
      throw new Error('connection lost after the provider answered (test)');
    },
    capture: (reference, amount, options) => connector.capture(reference, amount, options),
    void: (reference, options) => connector.void(reference, options),
    refund: (reference, amount, options) => connector.refund(reference, amount, options),
    status: (reference, options) => connector.status(reference, options),
    parseNotification: (headers, body) => connector.parseNotification(headers, body),
  };
}

/** Wraps a connector so that authorize never reaches the provider, and the caller cannot tell. */
function neverReaching(connector: Connector): Connector {
  return {
    ...answerLosing(connector),
    authorize: () => Promise.reject(new Error('connection reset before the request was sent (test)')),
  };
}

export function paymentsSuite(open: () => Promise<Harness>): void {
  let harness: Harness;
  let payments: PaymentsService;

  beforeAll(async () => {
    harness = await open();
    payments = harness.payments;
  });

  afterAll(async () => {
    const report = await harness.ledger.verify();
    await harness.close();
    expect(report.problem).toBeUndefined();
  });

  async function cardIntent(tenant: Tenant, number: string, input: { amount?: bigint; capture_method?: 'automatic' | 'manual'; service?: PaymentsService } = {}): Promise<PaymentIntent> {
    const service = input.service ?? payments;
    const intent = await service.createPaymentIntent(tenant, { amount: input.amount ?? 10_000n, currency: 'usd', capture_method: input.capture_method ?? 'automatic' });
    return service.confirmPaymentIntent(tenant, intent.id, { payment_method: { type: 'card', token: harness.card(tenant, number) }, return_url: 'https://shop.example/return' });
  }

  async function eventTypes(object_id: string): Promise<[string, number][]> {
    await payments.relayOutbox();
    return harness.publisher.of(object_id).map((event) => [event.type, event.sequence]);
  }

  it('creates orders with exact totals, and refuses malformed ones', async () => {
    const tenant = newTenant();
    const order = await payments.createOrder(tenant, {
      currency: 'USD',
      line_items: [
        { description: 'Tea', quantity: 3, unit_amount: 1_999n },
        { description: 'Cup', quantity: 1, unit_amount: 4_500n },
      ],
      merchant_reference: 'cart-42',
    });
    expect(order).toMatchObject({ object: 'order', currency: 'usd', amount_total: 10_497n, merchant_reference: 'cart-42', status: 'open', livemode: false });
    expect(order.id).toMatch(/^ord_[0-9A-Za-z]{24}$/);
    expect(order.line_items).toEqual([
      { description: 'Tea', quantity: 3, unit_amount: 1_999n, amount: 5_997n },
      { description: 'Cup', quantity: 1, unit_amount: 4_500n, amount: 4_500n },
    ]);
    expect(await payments.getOrder(tenant, order.id)).toEqual(order);
    expect((await payments.listOrders(tenant, {})).data).toEqual([order]);
    await expectApiError(payments.getOrder(newTenant(), order.id), { type: 'not_found_error', code: 'resource_missing', param: 'id' });

    await expectApiError(payments.createOrder(tenant, { currency: 'usd', line_items: [] }), { type: 'invalid_request_error', code: 'parameter_invalid', param: 'line_items' });
    await expectApiError(payments.createOrder(tenant, { currency: 'usd', line_items: [{ description: 'x', quantity: 0, unit_amount: 1n }] }), {
      type: 'invalid_request_error',
      code: 'parameter_invalid',
      param: 'line_items[0].quantity',
    });
    await expectApiError(payments.createOrder(tenant, { currency: 'usd', line_items: [{ description: 'x', quantity: 1, unit_amount: 0n }] }), {
      type: 'invalid_request_error',
      code: 'amount_invalid',
      param: 'line_items',
    });
    await expectApiError(payments.createOrder(tenant, { currency: 'usd', line_items: [{ description: 'x', quantity: 2, unit_amount: 2n ** 52n }] }), {
      type: 'invalid_request_error',
      code: 'amount_invalid',
      param: 'line_items',
    });
    await expectApiError(payments.createOrder(tenant, { currency: 'xyz', line_items: [{ description: 'x', quantity: 1, unit_amount: 1n }] }), {
      type: 'invalid_request_error',
      code: 'currency_unknown',
      param: 'currency',
    });
  });

  it('takes a card payment with automatic capture: hold, post and fee in the ledger, events in order', async () => {
    const tenant = newTenant();
    const before = await harness.books(tenant);
    const intent = await cardIntent(tenant, test_card_numbers.succeeds);
    expect(intent).toMatchObject({
      object: 'payment_intent',
      amount: 10_000n,
      amount_capturable: 0n,
      amount_received: 10_000n,
      amount_refunded: 0n,
      currency: 'usd',
      capture_method: 'automatic',
      status: 'succeeded',
      order: null,
      payment_method_type: 'card',
      next_action: null,
      last_payment_error: null,
      cancellation_reason: null,
      capture_before: null,
      livemode: false,
    });
    expect(intent.id).toMatch(/^pi_/);
    // 2.9 % of 10 000 is 290, plus 30.
    expect(await harness.books(tenant, 'USD', before)).toEqual({
      merchant: { debits_pending: 0n, debits_posted: 320n, credits_pending: 0n, credits_posted: 10_000n },
      receivable: { debits_pending: 0n, debits_posted: 10_000n, credits_pending: 0n, credits_posted: 0n },
      fees: { debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 320n },
    });
    const attempts = (await payments.listAttempts(tenant, intent.id)).data;
    expect(attempts).toHaveLength(1);
    const [attempt] = attempts;
    expect(attempt).toMatchObject({ object: 'payment_attempt', intent: intent.id, operation: 'authorize', status: 'succeeded', amount: 10_000n, error: null });
    expect(attempt?.id).toMatch(/^pa_/);
    // The acquirer was called with the attempt id as its idempotency reference, and took the money once.
    const view = harness.acquirer.authorization(attempt?.provider_reference ?? '');
    expect(view).toMatchObject({ reference: attempt?.id, state: 'captured', amount_captured: 10_000n });
    // The hold and its post are named after the attempt.
    const [hold, post] = await harness.ledger.lookupTransfers([holdTransferId(attempt?.id ?? ''), postTransferId(attempt?.id ?? '')]);
    expect(hold?.transfer).toMatchObject({ amount: 10_000n, code: TransferCode.payment_authorization });
    expect(post?.transfer.amount).toBe(10_000n);

    expect(await eventTypes(intent.id)).toEqual([
      ['payment_intent.created', 1],
      ['payment_intent.processing', 2],
      ['payment_intent.succeeded', 3],
    ]);
    const succeeded = harness.publisher.of(intent.id).at(-1);
    expect(succeeded?.data.object).toEqual(intent);
    expect(succeeded?.id).toMatch(/^evt_/);
    // Every status change is a row of its own.
    const history = await listStatusChanges(harness.database, intent.id);
    expect(history.map((row) => [row.from_status, row.to_status])).toEqual([
      [null, 'requires_payment_method'],
      ['requires_payment_method', 'processing'],
      ['processing', 'succeeded'],
    ]);
    expect(await payments.getPaymentIntent(tenant, intent.id)).toEqual(intent);
    expect((await payments.listPaymentIntents(tenant, {})).data).toEqual([intent]);
  });

  it('declines each failing test card with its code, moves no money, and lets the customer retry', async () => {
    const cases = [
      [test_card_numbers.card_declined, 'card_declined'],
      [test_card_numbers.insufficient_funds, 'insufficient_funds'],
      [test_card_numbers.expired_card, 'expired_card'],
      [test_card_numbers.incorrect_cvc, 'incorrect_cvc'],
      [test_card_numbers.processing_error, 'processing_error'],
    ] as const;
    for (const [number, code] of cases) {
      const tenant = newTenant();
      const intent = await cardIntent(tenant, number);
      expect(intent).toMatchObject({ status: 'requires_payment_method', amount_received: 0n, last_payment_error: { code } });
      const [attempt] = (await payments.listAttempts(tenant, intent.id)).data;
      expect(attempt).toMatchObject({ status: 'failed', error: { code } });
      const books = await harness.books(tenant);
      expect(books.merchant).toEqual({ debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n });
      expect(await eventTypes(intent.id)).toEqual([
        ['payment_intent.created', 1],
        ['payment_intent.processing', 2],
        ['payment_intent.payment_failed', 3],
      ]);
      // The same intent takes another card.
      const retried = await payments.confirmPaymentIntent(tenant, intent.id, { payment_method: { type: 'card', token: harness.card(tenant, test_card_numbers.succeeds) } });
      expect(retried).toMatchObject({ status: 'succeeded', amount_received: 10_000n, last_payment_error: null });
      expect((await payments.listAttempts(tenant, intent.id)).data.map((each) => each.status)).toEqual(['succeeded', 'failed']);
    }
  });

  it('holds with manual capture, then captures part and releases the rest', async () => {
    const tenant = newTenant();
    const before = await harness.books(tenant);
    const authorized = await cardIntent(tenant, test_card_numbers.succeeds, { capture_method: 'manual' });
    expect(authorized).toMatchObject({ status: 'requires_capture', amount_capturable: 10_000n, amount_received: 0n });
    expect(authorized.capture_before).toBe(Math.floor((harness.clock.now() + 7 * 24 * 3_600_000) / 1000));
    expect(await harness.books(tenant, 'USD', before)).toMatchObject({
      merchant: { debits_pending: 0n, debits_posted: 0n, credits_pending: 10_000n, credits_posted: 0n },
      receivable: { debits_pending: 10_000n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n },
    });
    await expectApiError(payments.capturePaymentIntent(tenant, authorized.id, { amount: 10_001n }), { type: 'invalid_request_error', code: 'amount_too_large', param: 'amount' });

    const captured = await payments.capturePaymentIntent(tenant, authorized.id, { amount: 6_000n });
    expect(captured).toMatchObject({ status: 'succeeded', amount_capturable: 0n, amount_received: 6_000n, capture_before: null });
    // 2.9 % of 6 000 is 174, plus 30; the other 4 000 is released.
    expect(await harness.books(tenant, 'USD', before)).toEqual({
      merchant: { debits_pending: 0n, debits_posted: 204n, credits_pending: 0n, credits_posted: 6_000n },
      receivable: { debits_pending: 0n, debits_posted: 6_000n, credits_pending: 0n, credits_posted: 0n },
      fees: { debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 204n },
    });
    const attempts = (await payments.listAttempts(tenant, captured.id)).data;
    expect(attempts.map((each) => [each.operation, each.status, each.amount])).toEqual([
      ['capture', 'succeeded', 6_000n],
      ['authorize', 'succeeded', 10_000n],
    ]);
    expect(harness.acquirer.authorization(attempts[1]?.provider_reference ?? '')).toMatchObject({ state: 'captured', amount_captured: 6_000n });
    expect(await eventTypes(captured.id)).toEqual([
      ['payment_intent.created', 1],
      ['payment_intent.processing', 2],
      ['payment_intent.amount_capturable_updated', 3],
      ['payment_intent.processing', 4],
      ['payment_intent.succeeded', 5],
    ]);
    await expectApiError(payments.capturePaymentIntent(tenant, captured.id), { type: 'invalid_request_error', code: 'payment_intent_unexpected_state' });
  });

  it('captures the whole authorization when no amount is given', async () => {
    const tenant = newTenant();
    const authorized = await cardIntent(tenant, test_card_numbers.succeeds, { capture_method: 'manual', amount: 2_500n });
    const captured = await payments.capturePaymentIntent(tenant, authorized.id);
    expect(captured).toMatchObject({ status: 'succeeded', amount_received: 2_500n });
    expect((await harness.books(tenant)).merchant).toEqual({ debits_pending: 0n, debits_posted: 103n, credits_pending: 0n, credits_posted: 2_500n });
  });

  it('cancels an authorization: voids it at the acquirer and in the ledger', async () => {
    const tenant = newTenant();
    const before = await harness.books(tenant);
    const authorized = await cardIntent(tenant, test_card_numbers.succeeds, { capture_method: 'manual' });
    const canceled = await payments.cancelPaymentIntent(tenant, authorized.id, { cancellation_reason: 'requested_by_customer' });
    expect(canceled).toMatchObject({ status: 'canceled', cancellation_reason: 'requested_by_customer', amount_capturable: 0n, amount_received: 0n });
    expect(await harness.books(tenant, 'USD', before)).toMatchObject({
      merchant: { debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n },
      receivable: { debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n },
    });
    const attempts = (await payments.listAttempts(tenant, canceled.id)).data;
    expect(attempts.map((each) => [each.operation, each.status])).toEqual([
      ['void', 'succeeded'],
      ['authorize', 'succeeded'],
    ]);
    expect(harness.acquirer.authorization(attempts[1]?.provider_reference ?? '')?.state).toBe('voided');
    await expectApiError(payments.capturePaymentIntent(tenant, canceled.id), { type: 'invalid_request_error', code: 'payment_intent_unexpected_state' });
    await expectApiError(payments.cancelPaymentIntent(tenant, canceled.id), { type: 'invalid_request_error', code: 'payment_intent_unexpected_state' });

    // An intent not yet confirmed is canceled without any call.
    const fresh = await payments.createPaymentIntent(tenant, { amount: 100n, currency: 'usd' });
    expect(await payments.cancelPaymentIntent(tenant, fresh.id)).toMatchObject({ status: 'canceled', cancellation_reason: null });
    await expectApiError(payments.cancelPaymentIntent(tenant, fresh.id, { cancellation_reason: 'bored' as 'abandoned' }), {
      type: 'invalid_request_error',
      code: 'parameter_invalid',
      param: 'cancellation_reason',
    });
    // A succeeded payment cannot be canceled.
    const paid = await cardIntent(tenant, test_card_numbers.succeeds, { amount: 100n });
    await expectApiError(payments.cancelPaymentIntent(tenant, paid.id), { type: 'invalid_request_error', code: 'payment_intent_unexpected_state' });
  });

  it('expires an uncaptured authorization after the capture window: voided and canceled as expired', async () => {
    const tenant = newTenant();
    const authorized = await cardIntent(tenant, test_card_numbers.succeeds, { capture_method: 'manual' });
    harness.clock.advance(7 * 24 * 3_600_000 - 1_000);
    await payments.expireAuthorizations();
    expect((await payments.getPaymentIntent(tenant, authorized.id)).status).toBe('requires_capture');
    harness.clock.advance(1_000);
    await expectApiError(payments.capturePaymentIntent(tenant, authorized.id), { type: 'invalid_request_error', code: 'payment_intent_unexpected_state' });
    // Other tests' authorizations may expire in the same pass; this one must be among them.
    expect(await payments.expireAuthorizations()).toBeGreaterThanOrEqual(1);
    expect(await payments.getPaymentIntent(tenant, authorized.id)).toMatchObject({ status: 'canceled', cancellation_reason: 'expired', amount_capturable: 0n });
    expect((await harness.books(tenant)).merchant).toEqual({ debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n });
    const [void_attempt, authorization] = (await payments.listAttempts(tenant, authorized.id)).data;
    expect(void_attempt).toMatchObject({ operation: 'void', status: 'succeeded' });
    expect(harness.acquirer.authorization(authorization?.provider_reference ?? '')?.state).toBe('voided');
    expect((await eventTypes(authorized.id)).at(-1)).toEqual(['payment_intent.canceled', 4]);
  });

  it('asks for 3-D Secure, and succeeds once the customer approves (found by polling the acquirer)', async () => {
    const tenant = newTenant();
    const intent = await cardIntent(tenant, test_card_numbers.requires_authentication);
    expect(intent).toMatchObject({ status: 'requires_action', next_action: { type: 'redirect_to_url' } });
    const [attempt] = (await payments.listAttempts(tenant, intent.id)).data;
    expect(attempt).toMatchObject({ operation: 'authorize', status: 'pending' });
    expect((await harness.books(tenant)).merchant.credits_pending).toBe(0n);
    // Not yet approved: a poll leaves it waiting.
    harness.clock.advance(30_000);
    await payments.recoverPending();
    expect((await payments.getPaymentIntent(tenant, intent.id)).status).toBe('requires_action');

    expect(harness.acquirer.completeChallenge(attempt?.provider_reference ?? '', 'approve')).toMatchObject({ ok: true, state: 'captured' });
    harness.clock.advance(60_000);
    await payments.recoverPending();
    expect(await payments.getPaymentIntent(tenant, intent.id)).toMatchObject({ status: 'succeeded', amount_received: 10_000n, next_action: null });
    expect((await harness.books(tenant)).merchant).toEqual({ debits_pending: 0n, debits_posted: 320n, credits_pending: 0n, credits_posted: 10_000n });
    expect(await eventTypes(intent.id)).toEqual([
      ['payment_intent.created', 1],
      ['payment_intent.processing', 2],
      ['payment_intent.requires_action', 3],
      ['payment_intent.processing', 4],
      ['payment_intent.succeeded', 5],
    ]);
  });

  it('fails the payment when the customer denies 3-D Secure, and cancels one left waiting', async () => {
    const tenant = newTenant();
    const denied = await cardIntent(tenant, test_card_numbers.requires_authentication, { capture_method: 'manual' });
    const [attempt] = (await payments.listAttempts(tenant, denied.id)).data;
    harness.acquirer.completeChallenge(attempt?.provider_reference ?? '', 'deny');
    harness.clock.advance(30_000);
    await payments.recoverPending();
    expect(await payments.getPaymentIntent(tenant, denied.id)).toMatchObject({ status: 'requires_payment_method', last_payment_error: { code: 'authentication_failed' }, next_action: null });

    const waiting = await cardIntent(tenant, test_card_numbers.requires_authentication, { capture_method: 'manual' });
    const canceled = await payments.cancelPaymentIntent(tenant, waiting.id, { cancellation_reason: 'abandoned' });
    expect(canceled).toMatchObject({ status: 'canceled', next_action: null });
    const attempts = (await payments.listAttempts(tenant, waiting.id)).data;
    expect(attempts.map((each) => [each.operation, each.status])).toEqual([
      ['void', 'failed'],
      ['authorize', 'failed'],
    ]);
    expect(attempts[1]?.error?.code).toBe('payment_intent_canceled');
    // The challenge can no longer be completed into money: the intent is final.
    harness.acquirer.completeChallenge(attempts[1]?.provider_reference ?? '', 'approve');
    harness.clock.advance(60_000);
    await payments.recoverPending();
    expect((await payments.getPaymentIntent(tenant, waiting.id)).status).toBe('canceled');
    expect((await harness.books(tenant)).merchant).toEqual({ debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n });
  });

  it('settles a timed-out authorization by asking the acquirer: processing, then succeeded', async () => {
    const tenant = newTenant();
    const impatient = harness.service({ connector_timeout_ms: 200, attempt_lease_ms: 60_000 });
    const intent = await cardIntent(tenant, test_card_numbers.network_timeout, { service: impatient });
    expect(intent).toMatchObject({ status: 'processing', amount_received: 0n });
    const [attempt] = (await payments.listAttempts(tenant, intent.id)).data;
    expect(attempt).toMatchObject({ operation: 'authorize', status: 'unknown' });
    // The acquirer took the money although the answer never came.
    expect(harness.acquirer.authorization(harness.acquirer.authorization(attempt?.provider_reference ?? '')?.provider_reference ?? '')).toBeUndefined();
    // Nothing in the ledger until the outcome is known.
    expect((await harness.books(tenant)).merchant.credits_posted).toBe(0n);

    // The retry timer has not come yet.
    await impatient.recoverPending();
    expect((await payments.getPaymentIntent(tenant, intent.id)).status).toBe('processing');
    harness.clock.advance(5_000);
    await impatient.recoverPending();
    expect(await payments.getPaymentIntent(tenant, intent.id)).toMatchObject({ status: 'succeeded', amount_received: 10_000n });
    const [settled] = (await payments.listAttempts(tenant, intent.id)).data;
    expect(settled).toMatchObject({ status: 'succeeded' });
    expect(harness.acquirer.authorization(settled?.provider_reference ?? '')).toMatchObject({ reference: attempt?.id, state: 'captured', amount_captured: 10_000n });
    expect((await harness.books(tenant)).merchant).toEqual({ debits_pending: 0n, debits_posted: 320n, credits_pending: 0n, credits_posted: 10_000n });
    const history = await listStatusChanges(harness.database, attempt?.id ?? '');
    expect(history.map((row) => row.to_status)).toEqual(['pending', 'unknown', 'succeeded']);
  });

  it('settles a timed-out manual authorization as requires_capture', async () => {
    const tenant = newTenant();
    const impatient = harness.service({ connector_timeout_ms: 200, attempt_lease_ms: 60_000 });
    const intent = await cardIntent(tenant, test_card_numbers.network_timeout, { service: impatient, capture_method: 'manual' });
    expect(intent.status).toBe('processing');
    harness.clock.advance(5_000);
    await impatient.recoverPending();
    expect(await payments.getPaymentIntent(tenant, intent.id)).toMatchObject({ status: 'requires_capture', amount_capturable: 10_000n });
    expect((await harness.books(tenant)).merchant.credits_pending).toBe(10_000n);
  });

  it('recovers a lost answer by asking the acquirer, and fails a payment that never reached it', async () => {
    const tenant = newTenant();
    const card = harness.connectors.card;
    if (card === undefined) throw new Error('no card connector');
    const losing = harness.service({ connectors: { ...harness.connectors, card: answerLosing(card) } });
    const lost = await cardIntent(tenant, test_card_numbers.succeeds, { service: losing });
    expect(lost.status).toBe('processing');
    const unreached = harness.service({ connectors: { ...harness.connectors, card: neverReaching(card) } });
    const never = await cardIntent(tenant, test_card_numbers.succeeds, { service: unreached });
    expect(never.status).toBe('processing');

    harness.clock.advance(5_000);
    await payments.recoverPending();
    expect(await payments.getPaymentIntent(tenant, lost.id)).toMatchObject({ status: 'succeeded', amount_received: 10_000n });
    expect(await payments.getPaymentIntent(tenant, never.id)).toMatchObject({ status: 'requires_payment_method', last_payment_error: { code: 'processing_error' } });
    const [failed] = (await payments.listAttempts(tenant, never.id)).data;
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'processing_error' } });
    // Only the payment that reached the acquirer moved money, once.
    expect((await harness.books(tenant)).merchant).toEqual({ debits_pending: 0n, debits_posted: 320n, credits_pending: 0n, credits_posted: 10_000n });
    // The customer may try again.
    const retried = await payments.confirmPaymentIntent(tenant, never.id, { payment_method: { type: 'card', token: harness.card(tenant, test_card_numbers.succeeds) } });
    expect(retried.status).toBe('succeeded');
  });

  it('refunds in parts up to what was captured, refusing more, with the order following', async () => {
    const tenant = newTenant();
    const order = await payments.createOrder(tenant, { currency: 'usd', line_items: [{ description: 'Tea', quantity: 4, unit_amount: 2_500n }] });
    await expectApiError(payments.createPaymentIntent(tenant, { amount: 9_999n, currency: 'usd', order: order.id }), { type: 'invalid_request_error', code: 'amount_mismatch', param: 'amount' });
    await expectApiError(payments.createPaymentIntent(tenant, { amount: 10_000n, currency: 'eur', order: order.id }), { type: 'invalid_request_error', code: 'currency_mismatch', param: 'currency' });
    await expectApiError(payments.createPaymentIntent(newTenant(), { amount: 10_000n, currency: 'usd', order: order.id }), { type: 'not_found_error', code: 'resource_missing', param: 'order' });
    const before = await harness.books(tenant);
    const created = await payments.createPaymentIntent(tenant, { amount: 10_000n, currency: 'usd', order: order.id });
    expect(created.order).toBe(order.id);
    await expectApiError(payments.createPaymentIntent(tenant, { amount: 10_000n, currency: 'usd', order: order.id }), { type: 'invalid_request_error', code: 'order_has_payment_intent', param: 'order' });
    await expectApiError(payments.createRefund(tenant, { payment_intent: created.id }), { type: 'invalid_request_error', code: 'payment_intent_unexpected_state', param: 'payment_intent' });
    const paid = await payments.confirmPaymentIntent(tenant, created.id, { payment_method: { type: 'card', token: harness.card(tenant, test_card_numbers.succeeds) } });
    expect(paid.status).toBe('succeeded');
    expect((await payments.getOrder(tenant, order.id)).status).toBe('paid');

    const first = await payments.createRefund(tenant, { payment_intent: paid.id, amount: 3_000n, idempotency_key: 'refund-a' });
    expect(first).toMatchObject({ object: 'refund', payment_intent: paid.id, amount: 3_000n, currency: 'usd', status: 'succeeded', failure_reason: null, livemode: false });
    expect(first.id).toMatch(/^re_/);
    expect(await payments.createRefund(tenant, { payment_intent: paid.id, amount: 3_000n, idempotency_key: 'refund-a' })).toEqual(first);
    await expectApiError(payments.createRefund(tenant, { payment_intent: paid.id, amount: 1n, idempotency_key: 'refund-a' }), { type: 'idempotency_error', code: 'idempotency_key_reused', param: 'idempotency_key' });
    expect((await payments.getOrder(tenant, order.id)).status).toBe('partially_refunded');
    expect((await payments.getPaymentIntent(tenant, paid.id)).amount_refunded).toBe(3_000n);
    // The refund comes out of the merchant's balance; the fee stays with the platform.
    expect(await harness.books(tenant, 'USD', before)).toEqual({
      merchant: { debits_pending: 0n, debits_posted: 3_320n, credits_pending: 0n, credits_posted: 10_000n },
      receivable: { debits_pending: 0n, debits_posted: 10_000n, credits_pending: 0n, credits_posted: 3_000n },
      fees: { debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 320n },
    });

    await expectApiError(payments.createRefund(tenant, { payment_intent: paid.id, amount: 7_001n }), { type: 'invalid_request_error', code: 'refund_exceeds_captured', param: 'amount' });
    const rest = await payments.createRefund(tenant, { payment_intent: paid.id });
    expect(rest).toMatchObject({ amount: 7_000n, status: 'succeeded' });
    await expectApiError(payments.createRefund(tenant, { payment_intent: paid.id, amount: 1n }), { type: 'invalid_request_error', code: 'refund_exceeds_captured', param: 'amount' });
    await expectApiError(payments.createRefund(tenant, { payment_intent: paid.id }), { type: 'invalid_request_error', code: 'refund_exceeds_captured', param: 'amount' });
    expect((await payments.getOrder(tenant, order.id)).status).toBe('refunded');
    expect(await payments.getPaymentIntent(tenant, paid.id)).toMatchObject({ status: 'succeeded', amount_refunded: 10_000n });
    const [refund_attempt] = (await payments.listAttempts(tenant, paid.id)).data;
    expect(refund_attempt).toMatchObject({ operation: 'refund', status: 'succeeded', refund: rest.id });
    const authorization = (await payments.listAttempts(tenant, paid.id)).data.at(-1);
    expect(harness.acquirer.authorization(authorization?.provider_reference ?? '')).toMatchObject({ amount_captured: 10_000n, amount_refunded: 10_000n });
    expect((await harness.books(tenant)).merchant).toEqual({ debits_pending: 0n, debits_posted: 10_320n, credits_pending: 0n, credits_posted: 10_000n });

    expect((await payments.listRefunds(tenant, {})).data.map((each) => each.id)).toEqual([rest.id, first.id]);
    expect((await payments.listRefunds(tenant, {}, { payment_intent: paid.id })).data).toHaveLength(2);
    expect(await payments.getRefund(tenant, first.id)).toEqual(first);
    await expectApiError(payments.getRefund(newTenant(), first.id), { type: 'not_found_error', code: 'resource_missing', param: 'id' });
    expect(await eventTypes(first.id)).toEqual([
      ['refund.created', 1],
      ['refund.succeeded', 2],
    ]);
    expect(await eventTypes(order.id)).toEqual([
      ['order.created', 1],
      ['order.updated', 2],
      ['order.updated', 3],
      ['order.updated', 4],
    ]);
    expect(harness.publisher.of(order.id).map((event) => (event.data.object as { status: string }).status)).toEqual(['open', 'paid', 'partially_refunded', 'refunded']);
  });

  it('voids the refund hold when the provider refuses a refund, and leaves the amount refundable', async () => {
    const tenant = newTenant();
    const card = harness.connectors.card;
    if (card === undefined) throw new Error('no card connector');
    const refusing = harness.service({
      connectors: { ...harness.connectors, card: { ...answerLosing(card), authorize: (request, options) => card.authorize(request, options), refund: () => Promise.resolve({ status: 'failed', code: 'provider_refused', message: 'No (test)' }) } },
    });
    const paid = await cardIntent(tenant, test_card_numbers.succeeds, { service: refusing });
    const refused = await refusing.createRefund(tenant, { payment_intent: paid.id, amount: 4_000n });
    expect(refused).toMatchObject({ status: 'failed', failure_reason: 'provider_refused', amount: 4_000n });
    // The hold on the merchant's balance was released: only the fee is taken.
    expect((await harness.books(tenant)).merchant).toEqual({ debits_pending: 0n, debits_posted: 320n, credits_pending: 0n, credits_posted: 10_000n });
    expect(await harness.ledger.lookupTransfers([holdTransferId((await payments.listAttempts(tenant, paid.id)).data[0]?.id ?? '')])).toMatchObject([{ status: 'voided' }]);
    expect(await payments.getPaymentIntent(tenant, paid.id)).toMatchObject({ amount_refunded: 0n });
    expect(await eventTypes(refused.id)).toEqual([
      ['refund.created', 1],
      ['refund.failed', 2],
    ]);
    // A failed refund does not count against what is left to refund.
    const full = await payments.createRefund(tenant, { payment_intent: paid.id });
    expect(full).toMatchObject({ status: 'succeeded', amount: 10_000n });
  });

  it('cancels an order whose only intent is canceled with nothing paid', async () => {
    const tenant = newTenant();
    const order = await payments.createOrder(tenant, { currency: 'usd', line_items: [{ description: 'Tea', quantity: 1, unit_amount: 700n }] });
    const intent = await payments.createPaymentIntent(tenant, { amount: 700n, currency: 'usd', order: order.id, capture_method: 'manual' });
    await payments.confirmPaymentIntent(tenant, intent.id, { payment_method: { type: 'card', token: harness.card(tenant, test_card_numbers.succeeds) } });
    expect((await payments.getOrder(tenant, order.id)).status).toBe('open');
    await payments.cancelPaymentIntent(tenant, intent.id);
    expect((await payments.getOrder(tenant, order.id)).status).toBe('canceled');
    await expectApiError(payments.createPaymentIntent(tenant, { amount: 700n, currency: 'usd', order: order.id }), { type: 'invalid_request_error', code: 'order_not_open', param: 'order' });
    expect((await payments.listPaymentIntents(tenant, {}, { order: order.id })).data.map((each) => each.id)).toEqual([intent.id]);
  });

  it('pays from a wallet and refunds to it, with the fee in the ledger; refuses manual capture and a short wallet', async () => {
    const tenant = newTenant();
    const wallet = await harness.fundedWallet(tenant, 5_000n);
    const before = await harness.books(tenant);
    const intent = await payments.createPaymentIntent(tenant, { amount: 3_000n, currency: 'usd', description: 'Order 7' });
    const paid = await payments.confirmPaymentIntent(tenant, intent.id, { payment_method: { type: 'wallet', wallet: wallet.id } });
    expect(paid).toMatchObject({ status: 'succeeded', amount_received: 3_000n, payment_method_type: 'wallet' });
    expect((await harness.wallets.getWallet(tenant, wallet.id)).balance.available).toBe(2_000n);
    const [attempt] = (await payments.listAttempts(tenant, paid.id)).data;
    expect(attempt).toMatchObject({ operation: 'authorize', status: 'succeeded' });
    expect(attempt?.provider_reference).toMatch(/^wpy_/);
    // The wallet moved 3 000 to the merchant; the fee (87 + 30) went to the platform.
    expect(await harness.books(tenant, 'USD', before)).toEqual({
      merchant: { debits_pending: 0n, debits_posted: 117n, credits_pending: 0n, credits_posted: 3_000n },
      receivable: { debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n },
      fees: { debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 117n },
    });

    const refund = await payments.createRefund(tenant, { payment_intent: paid.id, amount: 1_000n });
    expect(refund.status).toBe('succeeded');
    expect((await harness.wallets.getWallet(tenant, wallet.id)).balance.available).toBe(3_000n);
    expect((await harness.books(tenant)).merchant).toEqual({ debits_pending: 0n, debits_posted: 1_117n, credits_pending: 0n, credits_posted: 3_000n });
    const history = (await harness.wallets.listTransactions(tenant, wallet.id, {})).data;
    expect(history.map((line) => [line.type, line.amount])).toEqual([
      ['refund', 1_000n],
      ['payment', -3_000n],
      ['top_up', 5_000n],
    ]);

    const manual = await payments.createPaymentIntent(tenant, { amount: 100n, currency: 'usd', capture_method: 'manual' });
    await expectApiError(payments.confirmPaymentIntent(tenant, manual.id, { payment_method: { type: 'wallet', wallet: wallet.id } }), {
      type: 'invalid_request_error',
      code: 'capture_method_unsupported',
      param: 'capture_method',
    });
    const big = await payments.createPaymentIntent(tenant, { amount: 10_000n, currency: 'usd' });
    const short = await payments.confirmPaymentIntent(tenant, big.id, { payment_method: { type: 'wallet', wallet: wallet.id } });
    expect(short).toMatchObject({ status: 'requires_payment_method', last_payment_error: { code: 'insufficient_funds' } });
    await expectApiError(payments.confirmPaymentIntent(tenant, big.id, { payment_method: { type: 'wallet', wallet: 'wal_missing' } }), {
      type: 'not_found_error',
      code: 'resource_missing',
      param: 'payment_method[wallet]',
    });
    const euro = await harness.fundedWallet(tenant, 100n, 'eur');
    await expectApiError(payments.confirmPaymentIntent(tenant, big.id, { payment_method: { type: 'wallet', wallet: euro.id } }), {
      type: 'invalid_request_error',
      code: 'currency_mismatch',
      param: 'payment_method[wallet]',
    });
    expect((await harness.wallets.getWallet(tenant, wallet.id)).balance.available).toBe(3_000n);
  });

  /** A wallet of a new customer of the tenant, holding nothing. */
  async function emptyWallet(tenant: Tenant, currency = 'usd'): Promise<Wallet> {
    const customer = randomId('cus');
    harness.customers.add(tenant, customer);
    return harness.wallets.createWallet(tenant, { customer, currency });
  }

  async function walletAvailable(tenant: Tenant, wallet_id: string): Promise<bigint> {
    return (await harness.wallets.getWallet(tenant, wallet_id)).balance.available;
  }

  async function topUpIntent(tenant: Tenant, wallet_id: string, number: string, input: { amount?: bigint; capture_method?: 'automatic' | 'manual' } = {}): Promise<PaymentIntent> {
    const intent = await payments.createPaymentIntent(tenant, { amount: input.amount ?? 10_000n, currency: 'usd', capture_method: input.capture_method ?? 'automatic', top_up_wallet: wallet_id });
    expect(intent).toMatchObject({ top_up_wallet: wallet_id, top_up: null });
    return payments.confirmPaymentIntent(tenant, intent.id, { payment_method: { type: 'card', token: harness.card(tenant, number) }, return_url: 'https://shop.example/return' });
  }

  it('tops a wallet up from a card payment: the wallet gains the amount, the merchant pays only the fee', async () => {
    const tenant = newTenant();
    const wallet = await emptyWallet(tenant);
    const before = await harness.books(tenant);
    const paid = await topUpIntent(tenant, wallet.id, test_card_numbers.succeeds);
    expect(paid).toMatchObject({ status: 'succeeded', amount_received: 10_000n, top_up_wallet: wallet.id });
    expect(paid.top_up).toMatch(/^tu_/);
    expect(await walletAvailable(tenant, wallet.id)).toBe(10_000n);
    // The card money landed in the merchant's balance and went on to the wallet; the fee stays.
    expect(await harness.books(tenant, 'USD', before)).toEqual({
      merchant: { debits_pending: 0n, debits_posted: 10_320n, credits_pending: 0n, credits_posted: 10_000n },
      receivable: { debits_pending: 0n, debits_posted: 10_000n, credits_pending: 0n, credits_posted: 0n },
      fees: { debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 320n },
    });
    const attempts = (await payments.listAttempts(tenant, paid.id)).data;
    expect(attempts.map((attempt) => [attempt.operation, attempt.status, attempt.amount])).toEqual([
      ['top_up', 'succeeded', 10_000n],
      ['authorize', 'succeeded', 10_000n],
    ]);
    expect(attempts[0]?.provider_reference).toBe(paid.top_up);
    expect(await harness.wallets.getTopUp(tenant, paid.top_up ?? '')).toMatchObject({ wallet: wallet.id, amount: 10_000n, source: 'payment_intent', payment_intent: paid.id, status: 'succeeded' });
    const history = (await harness.wallets.listTransactions(tenant, wallet.id, {})).data;
    expect(history.map((line) => [line.id, line.type, line.amount])).toEqual([[paid.top_up, 'top_up', 10_000n]]);
    expect(await eventTypes(paid.id)).toEqual([
      ['payment_intent.created', 1],
      ['payment_intent.processing', 2],
      ['payment_intent.succeeded', 3],
    ]);
    // Recovery has nothing left to do, and never tops up twice.
    harness.clock.advance(120_000);
    await payments.recoverPending();
    expect(await walletAvailable(tenant, wallet.id)).toBe(10_000n);
  });

  it('tops up once 3-D Secure is approved, and not at all for a declined card', async () => {
    const tenant = newTenant();
    const wallet = await emptyWallet(tenant);
    const challenged = await topUpIntent(tenant, wallet.id, test_card_numbers.requires_authentication);
    expect(challenged).toMatchObject({ status: 'requires_action', top_up: null });
    expect(await walletAvailable(tenant, wallet.id)).toBe(0n);
    const [authorization] = (await payments.listAttempts(tenant, challenged.id)).data;
    harness.acquirer.completeChallenge(authorization?.provider_reference ?? '', 'approve');
    harness.clock.advance(60_000);
    await payments.recoverPending();
    const approved = await payments.getPaymentIntent(tenant, challenged.id);
    expect(approved).toMatchObject({ status: 'succeeded', amount_received: 10_000n });
    expect(approved.top_up).toMatch(/^tu_/);
    expect(await walletAvailable(tenant, wallet.id)).toBe(10_000n);
    expect((await harness.books(tenant)).merchant).toEqual({ debits_pending: 0n, debits_posted: 10_320n, credits_pending: 0n, credits_posted: 10_000n });

    const declined = await topUpIntent(tenant, wallet.id, test_card_numbers.card_declined);
    expect(declined).toMatchObject({ status: 'requires_payment_method', top_up: null, last_payment_error: { code: 'card_declined' } });
    expect((await payments.listAttempts(tenant, declined.id)).data.map((attempt) => attempt.operation)).toEqual(['authorize']);
    expect(await walletAvailable(tenant, wallet.id)).toBe(10_000n);
    expect((await harness.books(tenant)).merchant).toEqual({ debits_pending: 0n, debits_posted: 10_320n, credits_pending: 0n, credits_posted: 10_000n });
  });

  it('tops up the captured amount of a partial manual capture', async () => {
    const tenant = newTenant();
    const wallet = await emptyWallet(tenant);
    const held = await topUpIntent(tenant, wallet.id, test_card_numbers.succeeds, { capture_method: 'manual' });
    expect(held).toMatchObject({ status: 'requires_capture', top_up: null });
    expect(await walletAvailable(tenant, wallet.id)).toBe(0n);
    const captured = await payments.capturePaymentIntent(tenant, held.id, { amount: 6_000n });
    expect(captured).toMatchObject({ status: 'succeeded', amount_received: 6_000n });
    expect(await harness.wallets.getTopUp(tenant, captured.top_up ?? '')).toMatchObject({ amount: 6_000n, payment_intent: held.id });
    expect(await walletAvailable(tenant, wallet.id)).toBe(6_000n);
    // Fee on 6 000: 174 + 30.
    expect((await harness.books(tenant)).merchant).toEqual({ debits_pending: 0n, debits_posted: 6_204n, credits_pending: 0n, credits_posted: 6_000n });
  });

  it('refunds a top-up by taking the money back out of the wallet first, in parts, and refuses once it is spent', async () => {
    const tenant = newTenant();
    const wallet = await emptyWallet(tenant);
    const paid = await topUpIntent(tenant, wallet.id, test_card_numbers.succeeds);

    const first = await payments.createRefund(tenant, { payment_intent: paid.id, amount: 4_000n });
    expect(first).toMatchObject({ status: 'succeeded', amount: 4_000n });
    expect(await walletAvailable(tenant, wallet.id)).toBe(6_000n);
    // wallet → merchant 4 000, then merchant → card 4 000: the merchant is still down only the fee.
    expect((await harness.books(tenant)).merchant).toEqual({ debits_pending: 0n, debits_posted: 14_320n, credits_pending: 0n, credits_posted: 14_000n });
    expect(harness.acquirer.authorization((await payments.listAttempts(tenant, paid.id)).data.find((attempt) => attempt.operation === 'authorize')?.provider_reference ?? '')).toMatchObject({ amount_refunded: 4_000n });
    const attempts = (await payments.listAttempts(tenant, paid.id)).data;
    expect(attempts.map((attempt) => [attempt.operation, attempt.status, attempt.refund])).toEqual([
      ['refund', 'succeeded', first.id],
      ['top_up_reversal', 'succeeded', first.id],
      ['top_up', 'succeeded', null],
      ['authorize', 'succeeded', null],
    ]);
    expect(attempts[1]?.provider_reference).toMatch(/^tur_/);
    expect(await eventTypes(first.id)).toEqual([
      ['refund.created', 1],
      ['refund.succeeded', 2],
    ]);

    // The customer spends most of the rest: the wallet cannot give 4 000 back, and nothing moves.
    await harness.wallets.pay(tenant, wallet.id, { amount: 5_000n });
    const books_before = await harness.books(tenant);
    await expectApiError(payments.createRefund(tenant, { payment_intent: paid.id, amount: 4_000n, idempotency_key: 'refund-spent' }), {
      type: 'invalid_request_error',
      code: 'insufficient_funds',
      param: 'amount',
    });
    // A replay answers the same.
    await expectApiError(payments.createRefund(tenant, { payment_intent: paid.id, amount: 4_000n, idempotency_key: 'refund-spent' }), {
      type: 'invalid_request_error',
      code: 'insufficient_funds',
      param: 'amount',
    });
    expect(await walletAvailable(tenant, wallet.id)).toBe(1_000n);
    expect(await harness.books(tenant)).toEqual(books_before);
    const [refused] = (await payments.listRefunds(tenant, {}, { payment_intent: paid.id })).data;
    expect(refused).toMatchObject({ status: 'failed', failure_reason: 'insufficient_funds', amount: 4_000n });
    expect(await payments.getPaymentIntent(tenant, paid.id)).toMatchObject({ amount_refunded: 4_000n });

    // What the wallet still holds can be refunded; the total never passes the top-up.
    const second = await payments.createRefund(tenant, { payment_intent: paid.id, amount: 1_000n });
    expect(second.status).toBe('succeeded');
    expect(await walletAvailable(tenant, wallet.id)).toBe(0n);
    expect(await payments.getPaymentIntent(tenant, paid.id)).toMatchObject({ amount_refunded: 5_000n });
    const history = (await harness.wallets.listTransactions(tenant, wallet.id, {})).data;
    expect(history.map((line) => [line.type, line.amount, line.status])).toEqual([
      ['top_up_reversal', -1_000n, 'succeeded'],
      ['top_up_reversal', -4_000n, 'failed'],
      ['payment', -5_000n, 'succeeded'],
      ['top_up_reversal', -4_000n, 'succeeded'],
      ['top_up', 10_000n, 'succeeded'],
    ]);
    await expectApiError(payments.createRefund(tenant, { payment_intent: paid.id, amount: 5_001n }), { type: 'invalid_request_error', code: 'refund_exceeds_captured', param: 'amount' });
  });

  it('puts a top-up refund back into the wallet when the card refuses it: the refund fails and nobody loses money', async () => {
    const tenant = newTenant();
    const wallet = await emptyWallet(tenant);
    const before = await harness.books(tenant);
    const paid = await topUpIntent(tenant, wallet.id, test_card_numbers.refund_fails);
    expect(await walletAvailable(tenant, wallet.id)).toBe(10_000n);

    const refused = await payments.createRefund(tenant, { payment_intent: paid.id, amount: 4_000n });
    expect(refused).toMatchObject({ status: 'failed', failure_reason: 'provider_refused', amount: 4_000n });
    // The wallet gave 4 000 to the merchant's balance, the card refused it, and the wallet got it back.
    expect(await walletAvailable(tenant, wallet.id)).toBe(10_000n);
    expect(await harness.books(tenant, 'USD', before)).toEqual({
      merchant: { debits_pending: 0n, debits_posted: 14_320n, credits_pending: 0n, credits_posted: 14_000n },
      receivable: { debits_pending: 0n, debits_posted: 10_000n, credits_pending: 0n, credits_posted: 0n },
      fees: { debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 320n },
    });
    const authorization = (await payments.listAttempts(tenant, paid.id)).data.find((attempt) => attempt.operation === 'authorize');
    expect(harness.acquirer.authorization(authorization?.provider_reference ?? '')).toMatchObject({ amount_captured: 10_000n, amount_refunded: 0n });
    expect(await payments.getPaymentIntent(tenant, paid.id)).toMatchObject({ amount_received: 10_000n, amount_refunded: 0n });

    // The compensation is an attempt of its own, and the wallet's restoration names the reversal.
    const attempts = (await payments.listAttempts(tenant, paid.id)).data;
    expect(attempts.map((attempt) => [attempt.operation, attempt.status, attempt.refund])).toEqual([
      ['top_up_restoration', 'succeeded', refused.id],
      ['refund', 'failed', refused.id],
      ['top_up_reversal', 'succeeded', refused.id],
      ['top_up', 'succeeded', null],
      ['authorize', 'succeeded', null],
    ]);
    const [restoration_attempt, , reversal_attempt] = attempts;
    expect(restoration_attempt?.provider_reference).toMatch(/^tus_/);
    const restoration = await harness.wallets.getTopUpRestoration(tenant, restoration_attempt?.provider_reference ?? '');
    expect(restoration).toMatchObject({ wallet: wallet.id, top_up_reversal: reversal_attempt?.provider_reference, amount: 4_000n, status: 'succeeded' });
    // Asked again with the key derived from the refund, the wallet answers the same restoration.
    expect(await harness.wallets.restoreTopUpReversal(tenant, reversal_attempt?.provider_reference ?? '', { idempotency_key: `${refused.id}:top_up_restoration` })).toEqual(restoration);
    expect(await eventTypes(refused.id)).toEqual([
      ['refund.created', 1],
      ['refund.failed', 2],
    ]);
    const history = (await harness.wallets.listTransactions(tenant, wallet.id, {})).data;
    expect(history.map((line) => [line.type, line.amount, line.status])).toEqual([
      ['top_up_restoration', 4_000n, 'succeeded'],
      ['top_up_reversal', -4_000n, 'succeeded'],
      ['top_up', 10_000n, 'succeeded'],
    ]);

    // Recovery has nothing left to do, and never credits the wallet twice.
    harness.clock.advance(120_000);
    await payments.recoverPending();
    expect(await walletAvailable(tenant, wallet.id)).toBe(10_000n);

    // The failed refund counts for nothing: the whole amount may be tried again, with the same end.
    const again = await payments.createRefund(tenant, { payment_intent: paid.id });
    expect(again).toMatchObject({ status: 'failed', failure_reason: 'provider_refused', amount: 10_000n });
    expect(await walletAvailable(tenant, wallet.id)).toBe(10_000n);
    expect((await harness.books(tenant)).merchant).toEqual({ debits_pending: 0n, debits_posted: 24_320n, credits_pending: 0n, credits_posted: 24_000n });
  });

  it('finishes a restoration the wallet could not take at once: the refund stays pending until the wallet is whole', async () => {
    const tenant = newTenant();
    const wallet = await emptyWallet(tenant);
    const paid = await topUpIntent(tenant, wallet.id, test_card_numbers.refund_fails);
    const wallets = harness.wallets;
    const working = wallets.restoreTopUpReversal.bind(wallets);
    // The wallet service is down when the saga reaches the compensation.
    wallets.restoreTopUpReversal = () => Promise.reject(new ApiError('service_unavailable_error', 'ledger_unavailable', 'The wallet is down (test)'));
    let pending;
    try {
      pending = await payments.createRefund(tenant, { payment_intent: paid.id, amount: 4_000n });
    } finally {
      wallets.restoreTopUpReversal = working;
    }
    expect(pending).toMatchObject({ status: 'pending', failure_reason: null });
    expect((await payments.listAttempts(tenant, paid.id)).data[0]).toMatchObject({ operation: 'top_up_restoration', status: 'unknown' });
    expect(await walletAvailable(tenant, wallet.id)).toBe(6_000n);
    // A pending refund still counts: the money it moved cannot be refunded a second time meanwhile.
    await expectApiError(payments.createRefund(tenant, { payment_intent: paid.id, amount: 6_001n }), { type: 'invalid_request_error', code: 'refund_exceeds_captured', param: 'amount' });

    harness.clock.advance(120_000);
    await payments.recoverPending();
    expect(await payments.getRefund(tenant, pending.id)).toMatchObject({ status: 'failed', failure_reason: 'provider_refused' });
    expect(await walletAvailable(tenant, wallet.id)).toBe(10_000n);
    harness.clock.advance(120_000);
    await payments.recoverPending();
    expect(await walletAvailable(tenant, wallet.id)).toBe(10_000n);
    expect((await harness.books(tenant)).merchant).toEqual({ debits_pending: 0n, debits_posted: 14_320n, credits_pending: 0n, credits_posted: 14_000n });
    expect(await eventTypes(pending.id)).toEqual([
      ['refund.created', 1],
      ['refund.failed', 2],
    ]);
  });

  it('refuses a top-up wallet of another currency, another merchant or none, and paying a top-up from a wallet', async () => {
    const tenant = newTenant();
    const euro = await emptyWallet(tenant, 'eur');
    await expectApiError(payments.createPaymentIntent(tenant, { amount: 100n, currency: 'usd', top_up_wallet: euro.id }), {
      type: 'invalid_request_error',
      code: 'currency_mismatch',
      param: 'top_up_wallet',
    });
    const other = newTenant();
    const theirs = await emptyWallet(other);
    await expectApiError(payments.createPaymentIntent(tenant, { amount: 100n, currency: 'usd', top_up_wallet: theirs.id }), { type: 'not_found_error', code: 'resource_missing', param: 'top_up_wallet' });
    await expectApiError(payments.createPaymentIntent({ ...other, livemode: true }, { amount: 100n, currency: 'usd', top_up_wallet: theirs.id }), {
      type: 'not_found_error',
      code: 'resource_missing',
      param: 'top_up_wallet',
    });
    await expectApiError(payments.createPaymentIntent(tenant, { amount: 100n, currency: 'usd', top_up_wallet: 'wal_missing' }), { type: 'not_found_error', code: 'resource_missing', param: 'top_up_wallet' });

    const mine = await emptyWallet(tenant);
    const funded = await harness.fundedWallet(tenant, 1_000n);
    const intent = await payments.createPaymentIntent(tenant, { amount: 100n, currency: 'usd', top_up_wallet: mine.id, idempotency_key: 'top-up-intent' });
    expect(await payments.createPaymentIntent(tenant, { amount: 100n, currency: 'usd', top_up_wallet: mine.id, idempotency_key: 'top-up-intent' })).toEqual(intent);
    await expectApiError(payments.createPaymentIntent(tenant, { amount: 100n, currency: 'usd', idempotency_key: 'top-up-intent' }), {
      type: 'idempotency_error',
      code: 'idempotency_key_reused',
      param: 'idempotency_key',
    });
    await expectApiError(payments.confirmPaymentIntent(tenant, intent.id, { payment_method: { type: 'wallet', wallet: funded.id } }), {
      type: 'invalid_request_error',
      code: 'payment_method_unsupported',
      param: 'payment_method[type]',
    });
    expect(await walletAvailable(tenant, funded.id)).toBe(1_000n);
    expect((await payments.getPaymentIntent(tenant, intent.id)).status).toBe('requires_payment_method');
  });

  it('finishes a top-up the wallet could not take at capture: the intent has succeeded, recovery moves the money once', async () => {
    const tenant = newTenant();
    const wallet = await emptyWallet(tenant);
    const wallets = harness.wallets;
    const working = wallets.topUpFromPayment.bind(wallets);
    // The wallet service is down when the saga reaches the top-up step.
    wallets.topUpFromPayment = () => Promise.reject(new ApiError('service_unavailable_error', 'ledger_unavailable', 'The wallet is down (test)'));
    let paid: PaymentIntent;
    try {
      paid = await topUpIntent(tenant, wallet.id, test_card_numbers.succeeds);
    } finally {
      wallets.topUpFromPayment = working;
    }
    expect(paid).toMatchObject({ status: 'succeeded', amount_received: 10_000n, top_up: null });
    expect((await payments.listAttempts(tenant, paid.id)).data[0]).toMatchObject({ operation: 'top_up', status: 'unknown' });
    expect(await walletAvailable(tenant, wallet.id)).toBe(0n);
    // Nothing is in the wallet to take back yet.
    await expectApiError(payments.createRefund(tenant, { payment_intent: paid.id }), { type: 'invalid_request_error', code: 'payment_intent_unexpected_state', param: 'payment_intent' });

    harness.clock.advance(120_000);
    await payments.recoverPending();
    const recovered = await payments.getPaymentIntent(tenant, paid.id);
    expect(recovered.top_up).toMatch(/^tu_/);
    expect(await walletAvailable(tenant, wallet.id)).toBe(10_000n);
    harness.clock.advance(120_000);
    await payments.recoverPending();
    expect(await walletAvailable(tenant, wallet.id)).toBe(10_000n);
    expect((await harness.books(tenant)).merchant).toEqual({ debits_pending: 0n, debits_posted: 10_320n, credits_pending: 0n, credits_posted: 10_000n });
  });

  it('matches a bank transfer by reference, and holds mismatched and unmatched ones for review', async () => {
    const tenant = newTenant();
    const before = await harness.books(tenant, 'EUR');
    const intent = await payments.createPaymentIntent(tenant, { amount: 25_000n, currency: 'eur' });
    const waiting = await payments.confirmPaymentIntent(tenant, intent.id, { payment_method: { type: 'bank_transfer' } });
    expect(waiting).toMatchObject({ status: 'processing', payment_method_type: 'bank_transfer', next_action: { type: 'bank_transfer_instructions' } });
    const reference = waiting.next_action?.type === 'bank_transfer_instructions' ? waiting.next_action.reference : '';
    expect(reference).toMatch(bank_transfer_reference_pattern);
    // No timer is needed: the intent waits for its money.
    harness.clock.advance(3_600_000);
    await payments.recoverPending();
    expect((await payments.getPaymentIntent(tenant, intent.id)).status).toBe('processing');

    const short = await payments.reportIncomingBankTransfer(tenant, { reference, amount: 24_999n, currency: 'eur' });
    expect(short).toMatchObject({ object: 'bank_transfer_review', status: 'held', reason: 'amount_mismatch', reference, amount: 24_999n, currency: 'eur', payment_intent: intent.id });
    expect(short.id).toMatch(/^btr_/);
    const unknown = await payments.reportIncomingBankTransfer(tenant, { reference: 'PGAAAAAAAAAA', amount: 25_000n, currency: 'eur' });
    expect(unknown).toMatchObject({ reason: 'unmatched', payment_intent: null });
    // Another merchant cannot claim the reference.
    expect(await payments.reportIncomingBankTransfer(newTenant(), { reference, amount: 25_000n, currency: 'eur' })).toMatchObject({ reason: 'unmatched' });
    expect((await payments.getPaymentIntent(tenant, intent.id)).status).toBe('processing');

    const paid = await payments.reportIncomingBankTransfer(tenant, { reference: reference.toLowerCase(), amount: 25_000n, currency: 'EUR' });
    expect(paid).toMatchObject({ object: 'payment_intent', id: intent.id, status: 'succeeded', amount_received: 25_000n, next_action: null });
    // 2.9 % of 25 000 is 725, plus 30.
    expect(await harness.books(tenant, 'EUR', before)).toEqual({
      merchant: { debits_pending: 0n, debits_posted: 755n, credits_pending: 0n, credits_posted: 25_000n },
      receivable: { debits_pending: 0n, debits_posted: 25_000n, credits_pending: 0n, credits_posted: 0n },
      fees: { debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 755n },
    });
    // The same money reported twice has nowhere to go.
    expect(await payments.reportIncomingBankTransfer(tenant, { reference, amount: 25_000n, currency: 'eur' })).toMatchObject({ reason: 'unmatched', payment_intent: intent.id });
    const reviews = await payments.listBankTransferReviews(tenant, {});
    expect(reviews.data.map((review) => review.reason)).toEqual(['unmatched', 'unmatched', 'amount_mismatch']);
    await expectApiError(payments.createRefund(tenant, { payment_intent: intent.id }), { type: 'invalid_request_error', code: 'refund_unsupported', param: 'payment_intent' });

    const manual = await payments.createPaymentIntent(tenant, { amount: 100n, currency: 'eur', capture_method: 'manual' });
    await expectApiError(payments.confirmPaymentIntent(tenant, manual.id, { payment_method: { type: 'bank_transfer' } }), { type: 'invalid_request_error', code: 'capture_method_unsupported', param: 'capture_method' });
    // A bank transfer still waiting may be canceled; its money is then unmatched.
    const second = await payments.createPaymentIntent(tenant, { amount: 100n, currency: 'eur' });
    const second_waiting = await payments.confirmPaymentIntent(tenant, second.id, { payment_method: { type: 'bank_transfer' } });
    expect(await payments.cancelPaymentIntent(tenant, second.id)).toMatchObject({ status: 'canceled' });
    const late_reference = second_waiting.next_action?.type === 'bank_transfer_instructions' ? second_waiting.next_action.reference : '';
    expect(await payments.reportIncomingBankTransfer(tenant, { reference: late_reference, amount: 100n, currency: 'eur' })).toMatchObject({ reason: 'unmatched' });
  });

  it('takes an Alipay payment through its sandbox: redirect, verified notification, once', async () => {
    const tenant = newTenant();
    const intent = await payments.createPaymentIntent(tenant, { amount: 12_345n, currency: 'cny', description: 'Order 42' });
    const waiting = await payments.confirmPaymentIntent(tenant, intent.id, { payment_method: { type: 'alipay' }, return_url: 'https://shop.example/return' });
    expect(waiting).toMatchObject({ status: 'requires_action', next_action: { type: 'redirect_to_url' } });
    const url = waiting.next_action?.type === 'redirect_to_url' ? waiting.next_action.url : '';
    const [attempt] = (await payments.listAttempts(tenant, intent.id)).data;
    // A poll before the customer opens the page finds no trade, and keeps waiting.
    harness.clock.advance(30_000);
    await payments.recoverPending();
    expect((await payments.getPaymentIntent(tenant, intent.id)).status).toBe('requires_action');

    // The customer opens the page and pays; Alipay notifies the merchant endpoint.
    expect((await fetch(url)).status).toBe(200);
    const delivery = await harness.alipay.pay(attempt?.id ?? '');
    expect(delivery).toMatchObject({ status: 200, acknowledged: true });
    expect(await payments.getPaymentIntent(tenant, intent.id)).toMatchObject({ status: 'succeeded', amount_received: 12_345n, payment_method_type: 'alipay' });
    // 2.9 % of 12 345 is 358.005, rounded to 358, plus 30.
    expect((await harness.books(tenant, 'CNY')).merchant).toEqual({ debits_pending: 0n, debits_posted: 388n, credits_pending: 0n, credits_posted: 12_345n });

    // The same notification again changes nothing; a forged one is refused.
    const body = new URLSearchParams(delivery?.params ?? {}).toString();
    expect(await payments.handleNotification('alipay', {}, body)).toMatchObject({ ok: true, acknowledgement: { body: 'success' } });
    expect((await harness.books(tenant, 'CNY')).merchant.credits_posted).toBe(12_345n);
    const forged = new URLSearchParams({ ...delivery?.params, total_amount: '0.01' }).toString();
    expect(await payments.handleNotification('alipay', {}, forged)).toMatchObject({ ok: false });
    expect(await payments.handleNotification('alipay', {}, 'garbage')).toMatchObject({ ok: false });

    const refund = await payments.createRefund(tenant, { payment_intent: intent.id, amount: 345n });
    expect(refund.status).toBe('succeeded');
    expect(harness.alipay.trade(attempt?.id ?? '')).toMatchObject({ refunded: 345n });
    // Alipay takes the money at once: a manual capture is declined by the connector.
    const manual = await payments.createPaymentIntent(tenant, { amount: 100n, currency: 'cny', capture_method: 'manual' });
    expect(await payments.confirmPaymentIntent(tenant, manual.id, { payment_method: { type: 'alipay' } })).toMatchObject({
      status: 'requires_payment_method',
      last_payment_error: { code: 'payment_method_unavailable' },
    });
  });

  it('takes a WeChat Pay payment through its sandbox: QR code, encrypted notification', async () => {
    const tenant = newTenant();
    const intent = await payments.createPaymentIntent(tenant, { amount: 8_888n, currency: 'cny' });
    const waiting = await payments.confirmPaymentIntent(tenant, intent.id, { payment_method: { type: 'wechat_pay' } });
    expect(waiting).toMatchObject({ status: 'requires_action', next_action: { type: 'display_qr_code' } });
    const [attempt] = (await payments.listAttempts(tenant, intent.id)).data;
    const delivery = await harness.wechat.pay(attempt?.id ?? '');
    expect(delivery).toMatchObject({ acknowledged: true });
    expect(await payments.getPaymentIntent(tenant, intent.id)).toMatchObject({ status: 'succeeded', amount_received: 8_888n });
    expect((await harness.books(tenant, 'CNY')).merchant.credits_posted).toBe(8_888n);
    expect(await payments.handleNotification('wechat_pay', delivery.headers, delivery.body)).toMatchObject({ ok: true });
    expect(await payments.handleNotification('wechat_pay', { ...delivery.headers, 'wechatpay-signature': 'AAAA' }, delivery.body)).toMatchObject({ ok: false });
    expect((await harness.books(tenant, 'CNY')).merchant.credits_posted).toBe(8_888n);

    // A QR code never paid is closed when the intent is canceled.
    const second = await payments.createPaymentIntent(tenant, { amount: 100n, currency: 'cny' });
    await payments.confirmPaymentIntent(tenant, second.id, { payment_method: { type: 'wechat_pay' } });
    expect(await payments.cancelPaymentIntent(tenant, second.id)).toMatchObject({ status: 'canceled' });
    const [closing, opened] = (await payments.listAttempts(tenant, second.id)).data;
    expect(closing).toMatchObject({ operation: 'void', status: 'succeeded' });
    expect(harness.wechat.order(opened?.id ?? '')?.trade_state).toBe('CLOSED');
  });

  it('keeps idempotent requests idempotent and tenants apart', async () => {
    const tenant = newTenant();
    const first = await payments.createPaymentIntent(tenant, { amount: 500n, currency: 'usd', idempotency_key: 'create-1' });
    expect(await payments.createPaymentIntent(tenant, { amount: 500n, currency: 'usd', idempotency_key: 'create-1' })).toEqual(first);
    await expectApiError(payments.createPaymentIntent(tenant, { amount: 501n, currency: 'usd', idempotency_key: 'create-1' }), {
      type: 'idempotency_error',
      code: 'idempotency_key_reused',
      param: 'idempotency_key',
    });
    // Another tenant may use the same key.
    const other = newTenant();
    expect((await payments.createPaymentIntent(other, { amount: 500n, currency: 'usd', idempotency_key: 'create-1' })).id).not.toBe(first.id);

    const token = harness.card(tenant, test_card_numbers.succeeds);
    const confirmed = await payments.confirmPaymentIntent(tenant, first.id, { payment_method: { type: 'card', token }, idempotency_key: 'confirm-1' });
    expect(await payments.confirmPaymentIntent(tenant, first.id, { payment_method: { type: 'card', token }, idempotency_key: 'confirm-1' })).toEqual(confirmed);
    expect((await payments.listAttempts(tenant, first.id)).data).toHaveLength(1);
    expect((await harness.books(tenant)).merchant.credits_posted).toBe(500n);

    await expectApiError(payments.getPaymentIntent(other, first.id), { type: 'not_found_error', code: 'resource_missing', param: 'id' });
    await expectApiError(payments.confirmPaymentIntent(other, first.id, { payment_method: { type: 'bank_transfer' } }), { type: 'not_found_error', code: 'resource_missing', param: 'id' });
    await expectApiError(payments.createRefund(other, { payment_intent: first.id }), { type: 'not_found_error', code: 'resource_missing', param: 'payment_intent' });
    await expectApiError(payments.listAttempts(other, first.id), { type: 'not_found_error', code: 'resource_missing', param: 'id' });
    // A card token of another tenant is not usable.
    const theirs = await payments.createPaymentIntent(other, { amount: 500n, currency: 'usd' });
    await expectApiError(payments.confirmPaymentIntent(other, theirs.id, { payment_method: { type: 'card', token } }), { type: 'not_found_error', code: 'resource_missing', param: 'payment_method[token]' });
    // Test mode and live mode are apart too.
    await expectApiError(payments.getPaymentIntent({ ...tenant, livemode: true }, first.id), { type: 'not_found_error', code: 'resource_missing', param: 'id' });
    await expectApiError(payments.confirmPaymentIntent(tenant, first.id, { payment_method: { type: 'card', token } }), { type: 'invalid_request_error', code: 'payment_intent_unexpected_state' });
    await expectApiError(payments.createPaymentIntent(tenant, { amount: 0n, currency: 'usd' }), { type: 'invalid_request_error', code: 'amount_invalid', param: 'amount' });
    await expectApiError(payments.confirmPaymentIntent(tenant, first.id, { payment_method: { type: 'cash' } as never }), { type: 'invalid_request_error', code: 'parameter_invalid', param: 'payment_method[type]' });
  });

  it('publishes the outbox at least once and in order, retrying when the bus is down', async () => {
    const tenant = newTenant();
    const relay = harness.service();
    harness.publisher.failing = true;
    const intent = await cardIntent(tenant, test_card_numbers.succeeds, { service: relay });
    expect(await relay.relayOutbox()).toBe(0);
    expect(harness.publisher.of(intent.id)).toEqual([]);
    harness.publisher.failing = false;
    while ((await relay.relayOutbox()) > 0) {
      // Drains everything earlier tests left unpublished too.
    }
    const events = harness.publisher.of(intent.id);
    expect(events.map((event) => [event.type, event.sequence])).toEqual([
      ['payment_intent.created', 1],
      ['payment_intent.processing', 2],
      ['payment_intent.succeeded', 3],
    ]);
    expect(events.map((event) => event.livemode)).toEqual([false, false, false]);
    // An event published again (at least once) keeps its id: one id per object version.
    const ids_by_version = new Map<string, Set<string>>();
    for (const event of harness.publisher.events) {
      const key = `${event.data.object.id}:${event.sequence}`;
      ids_by_version.set(key, (ids_by_version.get(key) ?? new Set()).add(event.id));
    }
    expect([...ids_by_version.values()].every((ids) => ids.size === 1)).toBe(true);
    expect(await relay.relayOutbox()).toBe(0);
    // Published events are pruned only after their retention.
    await relay.pruneOutbox();
    expect(await listEventsOfTenant(harness.database, tenant, 10)).toHaveLength(3);
    harness.clock.advance(7 * 24 * 3_600_000 + 1);
    expect(await relay.pruneOutbox()).toBeGreaterThanOrEqual(3);
    expect(await listEventsOfTenant(harness.database, tenant, 10)).toEqual([]);
  });
}
