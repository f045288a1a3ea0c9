// Payments end to end over the HTTP API, as a merchant meets them: card tokens from a
// publishable key, payment intents by every method, capture, cancel and refunds, the merchant's
// balance straight from the ledger, and signed webhooks to a receiver that fails, then recovers.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidRequestError, Paygrid, verifyWebhook, type PaymentIntent } from '@paygrid/sdk';
import { createTestMerchant, startTestPlatform, type TestPlatform } from './support/platform';

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeout_ms = 15_000): Promise<T> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

async function readBody(request: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of request) body += (chunk as Buffer).toString();
  return body;
}

describe('payments end to end over HTTP', () => {
  let test: TestPlatform;
  let merchant: Awaited<ReturnType<typeof createTestMerchant>>;
  let publishable: Paygrid;
  let receiver: Server;
  let receiver_url: string;
  let failures_left = 3;
  const received = new Map<string, { type: string; sequence: number }>();
  let webhook_secret = '';

  beforeAll(async () => {
    receiver = createServer((request, response) => {
      void readBody(request).then((body) => {
        // The receiver is down for its first deliveries; Paygrid must retry until it is back.
        if (failures_left > 0) {
          failures_left -= 1;
          response.writeHead(503).end();
          return;
        }
        try {
          const event = verifyWebhook({ secret: webhook_secret, headers: request.headers, body }) as { id: string; type: string; sequence: number };
          received.set(event.id, { type: event.type, sequence: event.sequence });
          response.writeHead(204).end();
        } catch {
          response.writeHead(400).end();
        }
      });
    });
    await new Promise<void>((done) => receiver.listen(0, '127.0.0.1', done));
    const address = receiver.address();
    receiver_url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/hooks`;
    // A one-day capture window shows that PAYMENTS_CAPTURE_WINDOW_SECONDS reaches the payments service.
    test = await startTestPlatform({ env: { WEBHOOK_RETRY_SCHEDULE_MS: '50,100,200,400,800', PAYMENTS_CAPTURE_WINDOW_SECONDS: '86400' } });
    merchant = await createTestMerchant(test, 'Shop');
    publishable = new Paygrid({ api_key: merchant.publishable_key, base_url: test.url });
    const endpoint = await merchant.client.webhookEndpoints.create({ url: receiver_url, enabled_events: ['*'] });
    expect(endpoint.secret).toMatch(/^whsec_/);
    webhook_secret = endpoint.secret;
  });

  afterAll(async () => {
    await test.close();
    await new Promise((done) => receiver.close(done));
  });

  const card = (number: string) => publishable.tokens.create({ card: { number, exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' } });

  async function pay(number: string, capture_method: 'automatic' | 'manual' = 'automatic', amount = 2_000): Promise<PaymentIntent> {
    const token = await card(number);
    const intent = await merchant.client.paymentIntents.create({ amount, currency: 'usd', capture_method });
    expect(intent.status).toBe('requires_payment_method');
    return merchant.client.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: token.id } });
  }

  it('tokenizes cards with a publishable key, which may do nothing else', async () => {
    const token = await card('4242 4242 4242 4242');
    expect(token).toMatchObject({ object: 'token', card: { brand: 'visa', last4: '4242' } });
    expect(JSON.stringify(token)).not.toContain('4242424242424242');
    await expect(publishable.paymentIntents.create({ amount: 100, currency: 'usd' })).rejects.toMatchObject({ code: 'secret_key_required' });
    await expect(card('4242424242424241')).rejects.toBeInstanceOf(InvalidRequestError);
  });

  it('takes a card payment, captures it at once and shows it in the balance', async () => {
    const before = await merchant.client.balance.retrieve();
    const intent = await pay('4242424242424242');
    expect(intent.status).toBe('succeeded');
    expect(intent.amount_received).toBe(2_000);
    const after = await merchant.client.balance.retrieve();
    const available = (balance: typeof before) => balance.available.find((entry) => entry.currency === 'usd')?.amount ?? 0;
    // The platform's fee (2.9 % + 30) is its own ledger transfer out of the merchant's balance.
    expect(available(after) - available(before)).toBe(2_000 - 88);
  });

  it('declines each failing test card with its code and moves no money', async () => {
    for (const [number, code] of [
      ['4000000000000002', 'card_declined'],
      ['4000000000009995', 'insufficient_funds'],
      ['4000000000000069', 'expired_card'],
      ['4000000000000127', 'incorrect_cvc'],
      ['4000000000000119', 'processing_error'],
    ] as const) {
      const intent = await pay(number).catch((error: unknown) => error);
      const current = intent instanceof Error ? undefined : (intent as PaymentIntent);
      const id = current?.id ?? ((await merchant.client.paymentIntents.list({ limit: 1 })).data[0]?.id ?? '');
      const latest = await merchant.client.paymentIntents.retrieve(id);
      expect(latest.status, number).toBe('requires_payment_method');
      expect(latest.last_payment_error?.code, number).toBe(code);
      expect(latest.amount_received).toBe(0);
    }
  });

  it('holds money for manual capture, captures part of it and refunds up to the captured amount', async () => {
    const intent = await pay('4242424242424242', 'manual', 5_000);
    expect(intent.status).toBe('requires_capture');
    expect(intent.amount_capturable).toBe(5_000);
    // The window is the platform's setting (one day here), not the default seven days.
    const capture_window_seconds = (intent.capture_before ?? 0) - intent.created;
    expect(capture_window_seconds).toBeGreaterThanOrEqual(86_399);
    expect(capture_window_seconds).toBeLessThanOrEqual(86_401);
    const captured = await merchant.client.paymentIntents.capture(intent.id, { amount: 3_000 });
    expect(captured).toMatchObject({ status: 'succeeded', amount_received: 3_000, amount_capturable: 0 });
    const first = await merchant.client.refunds.create({ payment_intent: intent.id, amount: 1_000 });
    expect(first.status).toBe('succeeded');
    await expect(merchant.client.refunds.create({ payment_intent: intent.id, amount: 2_500 })).rejects.toBeInstanceOf(InvalidRequestError);
    const rest = await merchant.client.refunds.create({ payment_intent: intent.id });
    expect(rest.amount).toBe(2_000);
    await expect(merchant.client.refunds.create({ payment_intent: intent.id, amount: 1 })).rejects.toBeInstanceOf(InvalidRequestError);
    expect((await merchant.client.paymentIntents.retrieve(intent.id)).amount_refunded).toBe(3_000);
  });

  it('cancels a held payment and refuses to capture it afterwards', async () => {
    const intent = await pay('4242424242424242', 'manual');
    const canceled = await merchant.client.paymentIntents.cancel(intent.id, { cancellation_reason: 'requested_by_customer' });
    expect(canceled.status).toBe('canceled');
    await expect(merchant.client.paymentIntents.capture(intent.id)).rejects.toMatchObject({ code: 'payment_intent_unexpected_state' });
  });

  it('completes a 3-D Secure challenge through its URL', async () => {
    const intent = await pay('4000000000003220');
    expect(intent.status).toBe('requires_action');
    expect(intent.next_action).toMatchObject({ type: 'redirect_to_url' });
    const url = String((intent.next_action as { url?: string } | null)?.url);
    const challenge = new URL(url);
    const approve = await fetch(`${challenge.origin}${challenge.pathname}/approve`, { method: 'POST', redirect: 'manual' });
    expect(approve.status).toBeLessThan(400);
    const done = await waitFor(async () => {
      const current = await merchant.client.paymentIntents.retrieve(intent.id);
      // After the challenge the payment passes through processing (the capture) on its way to succeeded.
      return current.status === 'requires_action' || current.status === 'processing' ? undefined : current;
    }, 'the challenged payment to finish');
    expect(done.status).toBe('succeeded');
  });

  it('pays from a customer wallet and refunds to it', async () => {
    const customer = await merchant.client.customers.create({ name: 'Wanda' });
    const wallet = await merchant.client.wallets.create({ customer: customer.id, currency: 'usd' });
    await merchant.client.wallets.topUp(wallet.id, { amount: 5_000 });
    const friend = await merchant.client.wallets.create({ customer: (await merchant.client.customers.create({ name: 'Fred' })).id, currency: 'usd' });
    const gift = await merchant.client.walletTransfers.create({ source: wallet.id, destination: friend.id, amount: 300, currency: 'usd' });
    await merchant.client.walletTransfers.create({ source: friend.id, destination: wallet.id, amount: 300, currency: 'usd' });
    await waitFor(async () => {
      const events = await merchant.client.events.list({ type: 'wallet.transfer.completed', limit: 10 });
      return events.data.some((event) => event.data.object.id === gift.id) ? true : undefined;
    }, 'the wallet transfer event');
    const intent = await merchant.client.paymentIntents.create({ amount: 1_200, currency: 'usd' });
    const paid = await merchant.client.paymentIntents.confirm(intent.id, { payment_method: { type: 'wallet', wallet: wallet.id } });
    expect(paid.status).toBe('succeeded');
    expect((await merchant.client.wallets.retrieve(wallet.id)).balance.available).toBe(3_800);
    await merchant.client.refunds.create({ payment_intent: intent.id, amount: 200 });
    const refunded = await waitFor(async () => {
      const current = await merchant.client.wallets.retrieve(wallet.id);
      return current.balance.available === 4_000 ? current : undefined;
    }, 'the refund to reach the wallet');
    expect(refunded.balance.available).toBe(4_000);
    const history = await merchant.client.wallets.listTransactions(wallet.id);
    expect(history.data.map((line) => [line.type, line.amount])).toEqual([
      ['refund', 200],
      ['payment', -1_200],
      ['transfer_in', 300],
      ['transfer_out', -300],
      ['top_up', 5_000],
    ]);
  });

  it('tops a wallet up from a card payment, after 3-D Secure too, and refunds back through the wallet', async () => {
    const usd = (balance: Awaited<ReturnType<typeof merchant.client.balance.retrieve>>) => balance.available.find((entry) => entry.currency === 'usd')?.amount ?? 0;
    const customer = await merchant.client.customers.create({ name: 'Tomas' });
    const wallet = await merchant.client.wallets.create({ customer: customer.id, currency: 'usd' });
    const before = await merchant.client.balance.retrieve();

    const token = await card('4242424242424242');
    const intent = await merchant.client.paymentIntents.create({ amount: 10_000, currency: 'usd', top_up_wallet: wallet.id });
    expect(intent).toMatchObject({ status: 'requires_payment_method', top_up_wallet: wallet.id, top_up: null });
    const paid = await merchant.client.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: token.id } });
    expect(paid).toMatchObject({ status: 'succeeded', amount_received: 10_000, top_up_wallet: wallet.id });
    expect(paid.top_up).toMatch(/^tu_/);
    expect((await merchant.client.wallets.retrieve(wallet.id)).balance.available).toBe(10_000);
    // The money went on to the wallet; the merchant is down the fee (290 + 30) only.
    expect(usd(await merchant.client.balance.retrieve()) - usd(before)).toBe(-320);

    const challenged = await merchant.client.paymentIntents.create({ amount: 1_000, currency: 'usd', top_up_wallet: wallet.id });
    const waiting = await merchant.client.paymentIntents.confirm(challenged.id, { payment_method: { type: 'card', token: (await card('4000000000003220')).id } });
    expect(waiting).toMatchObject({ status: 'requires_action', top_up: null });
    const challenge = new URL(String((waiting.next_action as { url?: string } | null)?.url));
    await fetch(`${challenge.origin}${challenge.pathname}/approve`, { method: 'POST', redirect: 'manual' });
    const approved = await waitFor(async () => {
      const current = await merchant.client.paymentIntents.retrieve(challenged.id);
      return current.top_up === null ? undefined : current;
    }, 'the challenged top-up to reach the wallet');
    expect(approved.status).toBe('succeeded');
    expect((await merchant.client.wallets.retrieve(wallet.id)).balance.available).toBe(11_000);

    const refund = await merchant.client.refunds.create({ payment_intent: paid.id, amount: 4_000 });
    expect(refund.status).toBe('succeeded');
    expect((await merchant.client.wallets.retrieve(wallet.id)).balance.available).toBe(7_000);
    // The customer spends the money: it cannot be taken back, and the refund is refused.
    await merchant.client.wallets.pay(wallet.id, { amount: 6_500 });
    const balance_before_refusal = usd(await merchant.client.balance.retrieve());
    await expect(merchant.client.refunds.create({ payment_intent: paid.id, amount: 1_000 })).rejects.toMatchObject({ code: 'insufficient_funds', param: 'amount' });
    expect((await merchant.client.wallets.retrieve(wallet.id)).balance.available).toBe(500);
    expect(usd(await merchant.client.balance.retrieve())).toBe(balance_before_refusal);
    const history = await merchant.client.wallets.listTransactions(wallet.id);
    expect(history.data.map((line) => [line.type, line.amount, line.status])).toEqual([
      ['top_up_reversal', -1_000, 'failed'],
      ['payment', -6_500, 'succeeded'],
      ['top_up_reversal', -4_000, 'succeeded'],
      ['top_up', 1_000, 'succeeded'],
      ['top_up', 10_000, 'succeeded'],
    ]);

    // A card that refuses its refund: the money taken out of the wallet for it goes back into it.
    const refusing = await merchant.client.paymentIntents.create({ amount: 2_000, currency: 'usd', top_up_wallet: wallet.id });
    const refusing_paid = await merchant.client.paymentIntents.confirm(refusing.id, { payment_method: { type: 'card', token: (await card('4000000000005126')).id } });
    expect(refusing_paid.status).toBe('succeeded');
    expect((await merchant.client.wallets.retrieve(wallet.id)).balance.available).toBe(2_500);
    const balance_before_refused = usd(await merchant.client.balance.retrieve());
    const refused = await merchant.client.refunds.create({ payment_intent: refusing.id, amount: 2_000 });
    expect(refused).toMatchObject({ status: 'failed', failure_reason: 'provider_refused', amount: 2_000 });
    expect((await merchant.client.wallets.retrieve(wallet.id)).balance.available).toBe(2_500);
    expect(usd(await merchant.client.balance.retrieve())).toBe(balance_before_refused);
    const restored = (await merchant.client.wallets.listTransactions(wallet.id)).data.slice(0, 3);
    expect(restored.map((line) => [line.type, line.amount, line.status])).toEqual([
      ['top_up_restoration', 2_000, 'succeeded'],
      ['top_up_reversal', -2_000, 'succeeded'],
      ['top_up', 2_000, 'succeeded'],
    ]);
    // The wallet announced the top-up, its reversal and its restoration.
    for (const [type, id] of [
      ['wallet.top_up.succeeded', refusing_paid.top_up],
      ['wallet.top_up.reversed', restored[1]?.id],
      ['wallet.top_up.restored', restored[0]?.id],
    ] as const) {
      await waitFor(async () => {
        const events = await merchant.client.events.list({ type, limit: 10 });
        return events.data.some((event) => event.data.object.id === id) ? true : undefined;
      }, `the ${type} event`);
    }

    await expect(merchant.client.paymentIntents.confirm(intent.id, { payment_method: { type: 'wallet', wallet: wallet.id } })).rejects.toMatchObject({
      code: 'payment_method_unsupported',
    });

    // Another merchant's wallet does not exist here; a wallet of another currency is refused.
    const other = await createTestMerchant(test, 'Other shop');
    const theirs = await other.client.wallets.create({ customer: (await other.client.customers.create({ name: 'Olga' })).id, currency: 'usd' });
    await expect(merchant.client.paymentIntents.create({ amount: 100, currency: 'usd', top_up_wallet: theirs.id })).rejects.toMatchObject({
      status: 404,
      code: 'resource_missing',
      param: 'top_up_wallet',
    });
    const euro = await merchant.client.wallets.create({ customer: customer.id, currency: 'eur' });
    await expect(merchant.client.paymentIntents.create({ amount: 100, currency: 'usd', top_up_wallet: euro.id })).rejects.toMatchObject({
      code: 'currency_mismatch',
      param: 'top_up_wallet',
    });
  });

  it('waits for a bank transfer by reference and holds mismatches for review', async () => {
    const intent = await merchant.client.paymentIntents.create({ amount: 7_500, currency: 'usd' });
    const waiting = await merchant.client.paymentIntents.confirm(intent.id, { payment_method: { type: 'bank_transfer' } });
    expect(waiting.status).toBe('processing');
    expect(waiting.next_action).toMatchObject({ type: 'bank_transfer_instructions' });
    const reference = String((waiting.next_action as { reference?: string } | null)?.reference);
    const partial = await merchant.client.bankTransfers.report({ reference, amount: 7_000, currency: 'usd' });
    expect(partial.object).toBe('bank_transfer_review');
    const unmatched = await merchant.client.bankTransfers.report({ reference: 'PGNOSUCHREF0', amount: 100, currency: 'usd' });
    expect(unmatched.object).toBe('bank_transfer_review');
    expect((await merchant.client.paymentIntents.retrieve(intent.id)).status).toBe('processing');
    const paid = await merchant.client.bankTransfers.report({ reference, amount: 7_500, currency: 'usd' });
    expect(paid).toMatchObject({ object: 'payment_intent', status: 'succeeded' });
    expect((await merchant.client.bankTransfers.listReviews()).data.length).toBeGreaterThanOrEqual(2);
  });

  it('takes Alipay and WeChat Pay through their sandboxes and signed notifications', async () => {
    const providers = test.platform.providers;
    const sandboxUrl = (endpoint: { mode: string; url?: string } | undefined) => (endpoint?.mode === 'sandbox' ? (endpoint.url ?? '') : '');
    expect(providers).toMatchObject({ alipay: { mode: 'sandbox' }, wechat_pay: { mode: 'sandbox' } });
    for (const [method, pay_path] of [
      ['alipay', (reference: string) => `${sandboxUrl(providers?.alipay)}/sandbox/trades/${reference}/pay`],
      ['wechat_pay', (reference: string) => `${sandboxUrl(providers?.wechat_pay)}/sandbox/orders/${reference}/pay`],
    ] as const) {
      const intent = await merchant.client.paymentIntents.create({ amount: 8_800, currency: 'cny' });
      const confirmed = await merchant.client.paymentIntents.confirm(intent.id, { payment_method: { type: method }, return_url: 'http://127.0.0.1:9/done' });
      expect(['requires_action', 'processing'], method).toContain(confirmed.status);
      const attempts = await merchant.client.paymentIntents.listAttempts(intent.id);
      const reference = attempts.data.find((attempt) => attempt.operation === 'authorize')?.id ?? '';
      if (method === 'alipay') {
        // Alipay creates the trade when the customer opens the page.
        const page = await fetch(String((confirmed.next_action as { url?: string } | null)?.url));
        expect(page.status).toBeLessThan(400);
      }
      const paid = await fetch(pay_path(reference), { method: 'POST', redirect: 'manual' });
      expect(paid.status, `${method} sandbox pay`).toBeLessThan(400);
      const done = await waitFor(async () => {
        const current = await merchant.client.paymentIntents.retrieve(intent.id);
        return current.status === 'succeeded' ? current : undefined;
      }, `the ${method} payment to succeed`);
      expect(done.amount_received).toBe(8_800);
    }
    // A forged notification is refused.
    const forged = await fetch(`${test.url}/v1/notifications/alipay`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'out_trade_no=pa_x&trade_status=TRADE_SUCCESS&sign=Zm9yZ2Vk&sign_type=RSA2',
    });
    expect(forged.status).toBe(400);
    // Providers' own long numbers (trade numbers, transaction ids) pass the Luhn check one time in
    // ten; a notification is judged by its signature, never refused as a card number.
    const with_luhn_valid_number = await fetch(`${test.url}/v1/notifications/alipay`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'out_trade_no=pa_x&trade_no=4242424242424242&trade_status=TRADE_SUCCESS&sign=Zm9yZ2Vk&sign_type=RSA2',
    });
    expect(with_luhn_valid_number.status).toBe(400);
    expect(((await with_luhn_valid_number.json()) as { error: { code: string } }).error.code).toBe('notification_invalid');
  });

  it('delivers every event, signed, to a receiver that failed and recovered', async () => {
    const events = await merchant.client.events.list({ limit: 100 });
    expect(events.data.length).toBeGreaterThan(2);
    expect(events.data.map((event) => event.type)).toContain('payment_intent.succeeded');
    expect(events.data.map((event) => event.type)).toContain('wallet.transfer.completed');
    await waitFor(() => Promise.resolve(events.data.every((event) => received.has(event.id)) ? true : undefined), 'every event to reach the receiver', 20_000);
    const attempts = await merchant.client.webhookEndpoints.list();
    const endpoint = attempts.data[0]?.id ?? '';
    const log = await merchant.client.webhookEndpoints.listAttempts(endpoint, { limit: 100 });
    expect(log.data.some((attempt) => attempt.response_status === 503)).toBe(true);
    expect(log.data.some((attempt) => attempt.status === 'succeeded')).toBe(true);
  });
});

describe('the platform fee from PAYMENTS_FEE_BPS and PAYMENTS_FEE_FIXED', () => {
  let test: TestPlatform;

  beforeAll(async () => {
    test = await startTestPlatform({ env: { PAYMENTS_FEE_BPS: '150', PAYMENTS_FEE_FIXED: '7' } });
  });

  afterAll(async () => {
    await test.close();
  });

  it('takes the configured fee out of the merchant balance, not the default one', async () => {
    const merchant = await createTestMerchant(test, 'Fees Ltd');
    const publishable = new Paygrid({ api_key: merchant.publishable_key, base_url: test.url });
    const token = await publishable.tokens.create({ card: { number: '4242424242424242', exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' } });
    const intent = await merchant.client.paymentIntents.create({ amount: 4_000, currency: 'usd' });
    expect((await merchant.client.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: token.id } })).status).toBe('succeeded');
    const balance = await merchant.client.balance.retrieve();
    // 1.5 % of 4,000 is 60, and 7 fixed: 67, where the default schedule (2.9 % + 30) takes 146.
    expect(balance.available.find((entry) => entry.currency === 'usd')?.amount).toBe(4_000 - 67);
  });
});
