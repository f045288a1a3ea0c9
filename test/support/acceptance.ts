// The acceptance journeys: what a merchant does with Paygrid, over the public HTTP API only, so
// that the same journeys run against the all-in-one process and against the distributed mode (every
// service its own process) and the two cannot drift apart (test/acceptance.test.ts).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { expect } from 'vitest';
import { IdempotencyError, InvalidRequestError, Paygrid, verifyWebhook, type PaymentIntent } from '@paygrid/sdk';

/** A running deployment, in whichever mode. */
export interface Deployment {
  readonly url: string;
  readonly operator_key: string;
  /** The base URLs of the Alipay and WeChat Pay sandboxes the deployment's payments use. */
  readonly sandboxes: { readonly alipay: string; readonly wechat_pay: string };
}

export async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeout_ms = 20_000): Promise<T> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

async function signUp(deployment: Deployment, name: string) {
  const operator = new Paygrid({ api_key: deployment.operator_key, base_url: deployment.url });
  const created = await operator.merchants.create({ name, email: `owner@${name.toLowerCase().replace(/\W/g, '')}.example` });
  const client = new Paygrid({ api_key: created.secret_key, signing_secret: created.signing_secret, base_url: deployment.url });
  return { operator, created, client };
}

/** An operator signs a merchant up; its customers top up, pay each other and the merchant, withdraw, and read their history. */
export async function walletJourney(deployment: Deployment): Promise<void> {
  const { operator, created, client: merchant } = await signUp(deployment, 'Acme Coffee');
  expect(created.id).toMatch(/^mer_/);
  expect(created.secret_key).toMatch(/^sk_test_/);
  expect(created.publishable_key).toMatch(/^pk_test_/);
  expect(created.status).toBe('active');
  expect((await merchant.account.retrieve()).id).toBe(created.id);

  const alice = await merchant.customers.create({ name: 'Alice', email: 'alice@example.com' });
  const bob = await merchant.customers.create({ name: 'Bob' });
  expect(alice.id).toMatch(/^cus_/);
  expect(alice.livemode).toBe(false);
  const alice_wallet = await merchant.wallets.create({ customer: alice.id, currency: 'usd' });
  const bob_wallet = await merchant.wallets.create({ customer: bob.id, currency: 'usd' });
  expect(alice_wallet.id).toMatch(/^wal_/);
  expect(alice_wallet.balance).toEqual({ available: 0, pending: 0 });

  expect(await merchant.wallets.topUp(alice_wallet.id, { amount: 10_000 })).toMatchObject({ object: 'top_up', amount: 10_000, status: 'succeeded' });
  const sent = await merchant.walletTransfers.create({ source: alice_wallet.id, destination: bob_wallet.id, amount: 2_500, currency: 'usd', description: 'lunch' });
  expect(sent.id).toMatch(/^wtr_/);
  expect(sent.status).toBe('succeeded');
  expect(await merchant.walletTransfers.retrieve(sent.id)).toMatchObject({ id: sent.id, amount: 2_500 });
  expect(await merchant.wallets.pay(bob_wallet.id, { amount: 1_000, description: 'flat white' })).toMatchObject({ object: 'wallet_payment', status: 'succeeded' });

  const withdrawal = await merchant.wallets.withdraw(alice_wallet.id, {
    amount: 3_000,
    bank_account: { account_holder_name: 'Alice', routing_number: '110000000', account_number: '000123456789' },
  });
  expect(withdrawal.bank_account.last4).toBe('6789');
  expect(JSON.stringify(withdrawal)).not.toContain('000123456789');
  const settled = await waitFor(async () => {
    const current = await merchant.withdrawals.retrieve(withdrawal.id);
    return current.status === 'pending' ? undefined : current;
  }, 'the withdrawal to settle');
  expect(settled.status).toBe('succeeded');
  // A withdrawal the bank refuses gives the money back.
  const refused = await merchant.wallets.withdraw(alice_wallet.id, {
    amount: 500,
    bank_account: { account_holder_name: 'Alice', routing_number: '110000000', account_number: '000111111116' },
  });
  const failed = await waitFor(async () => {
    const current = await merchant.withdrawals.retrieve(refused.id);
    return current.status === 'pending' ? undefined : current;
  }, 'the refused withdrawal to settle');
  expect(failed.status).toBe('failed');

  expect((await merchant.wallets.retrieve(alice_wallet.id)).balance).toEqual({ available: 4_500, pending: 0 });
  expect((await merchant.wallets.retrieve(bob_wallet.id)).balance).toEqual({ available: 1_500, pending: 0 });
  expect((await merchant.balance.retrieve()).available).toEqual([{ amount: 1_000, currency: 'usd' }]);

  // The wallet's history is a projection written behind the answer: it catches up.
  const history = await waitFor(async () => {
    const page = await merchant.wallets.listTransactions(alice_wallet.id, { limit: 10 });
    return page.data.length === 4 ? page : undefined;
  }, "Alice's history");
  expect(history.data.map((line) => [line.type, line.amount, line.status])).toEqual([
    ['withdrawal', -500, 'failed'],
    ['withdrawal', -3_000, 'succeeded'],
    ['transfer_out', -2_500, 'succeeded'],
    ['top_up', 10_000, 'succeeded'],
  ]);
  const first_page = await merchant.wallets.listTransactions(alice_wallet.id, { limit: 2 });
  expect(first_page.has_more).toBe(true);
  const second_page = await merchant.wallets.listTransactions(alice_wallet.id, { limit: 2, starting_after: first_page.data[1]?.id });
  expect(second_page.data.map((line) => line.type)).toEqual(['transfer_out', 'top_up']);
  expect(second_page.has_more).toBe(false);
  const back = await merchant.wallets.listTransactions(alice_wallet.id, { limit: 2, ending_before: second_page.data[0]?.id });
  expect(back.data.map((line) => line.id)).toEqual(first_page.data.map((line) => line.id));
  const bob_history = await waitFor(async () => {
    const page = await merchant.wallets.listTransactions(bob_wallet.id);
    return page.data.length === 2 ? page : undefined;
  }, "Bob's history");
  expect(bob_history.data.map((line) => [line.type, line.amount])).toEqual([
    ['payment', -1_000],
    ['transfer_in', 2_500],
  ]);

  // An idempotent retry returns the same transfer and moves nothing twice.
  const again = await merchant.walletTransfers.create({ source: bob_wallet.id, destination: alice_wallet.id, amount: 100, currency: 'usd' }, { idempotency_key: 'acceptance-retry-1' });
  const replay = await merchant.walletTransfers.create({ source: bob_wallet.id, destination: alice_wallet.id, amount: 100, currency: 'usd' }, { idempotency_key: 'acceptance-retry-1' });
  expect(replay.id).toBe(again.id);
  await expect(merchant.walletTransfers.create({ source: bob_wallet.id, destination: alice_wallet.id, amount: 999, currency: 'usd' }, { idempotency_key: 'acceptance-retry-1' })).rejects.toBeInstanceOf(IdempotencyError);
  expect((await merchant.wallets.retrieve(bob_wallet.id)).balance.available).toBe(1_400);

  // Keys: the operator rolls the merchant's key with a grace period; both work until it ends.
  const keys = await operator.merchants.listApiKeys(created.id);
  const secret_key = keys.data.find((key) => key.type === 'secret' && !key.livemode);
  expect(secret_key?.redacted).toMatch(/^sk_test_/);
  const rolled = await operator.merchants.rollApiKey(created.id, secret_key?.id ?? '', { expires_in_seconds: 3600 });
  expect(rolled.secret).toMatch(/^sk_test_/);
  await new Paygrid({ api_key: rolled.secret, base_url: deployment.url }).customers.list();
  await merchant.customers.list();

  // Every operator action is in the audit log.
  const audit = await operator.auditEvents.list({ limit: 100, target: created.id });
  expect(audit.data.map((event) => event.action)).toContain('merchant.created');
  const rolls = await operator.auditEvents.list({ limit: 100 });
  expect(rolls.data.some((event) => event.action === 'api_key.rolled' && event.actor.type === 'operator')).toBe(true);
}

async function readBody(request: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of request) body += (chunk as Buffer).toString();
  return body;
}

/**
 * Card payments by every path (captured at once, held and captured in part, refunded, declined,
 * challenged), Alipay and WeChat Pay through their sandboxes, and every event signed to a webhook
 * receiver that is down at first.
 */
export async function paymentsJourney(deployment: Deployment): Promise<void> {
  const { client: merchant, created } = await signUp(deployment, 'Shop');
  const publishable = new Paygrid({ api_key: created.publishable_key, base_url: deployment.url });
  const received = new Map<string, string>();
  let failures_left = 2;
  let webhook_secret = '';
  const receiver: Server = createServer((request, response) => {
    void readBody(request).then((body) => {
      if (failures_left > 0) {
        failures_left -= 1;
        response.writeHead(503).end();
        return;
      }
      try {
        const event = verifyWebhook({ secret: webhook_secret, headers: request.headers, body }) as { id: string; type: string };
        received.set(event.id, event.type);
        response.writeHead(204).end();
      } catch {
        response.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((done) => receiver.listen(0, '127.0.0.1', done));
  try {
    const address = receiver.address();
    const endpoint = await merchant.webhookEndpoints.create({ url: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/hooks`, enabled_events: ['*'] });
    webhook_secret = endpoint.secret;

    const card = (number: string) => publishable.tokens.create({ card: { number, exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' } });
    async function pay(number: string, capture_method: 'automatic' | 'manual' = 'automatic', amount = 2_000): Promise<PaymentIntent> {
      const token = await card(number);
      const intent = await merchant.paymentIntents.create({ amount, currency: 'usd', capture_method });
      return merchant.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: token.id } });
    }

    const captured_at_once = await pay('4242424242424242');
    expect(captured_at_once).toMatchObject({ status: 'succeeded', amount_received: 2_000 });
    expect((await merchant.balance.retrieve()).available).toEqual([{ amount: 2_000 - 88, currency: 'usd' }]);

    const declined = await pay('4000000000000002').catch(() => undefined);
    const latest = await merchant.paymentIntents.retrieve(declined?.id ?? (await merchant.paymentIntents.list({ limit: 1 })).data[0]?.id ?? '');
    expect(latest).toMatchObject({ status: 'requires_payment_method', amount_received: 0 });
    expect(latest.last_payment_error?.code).toBe('card_declined');

    // Held, then captured in part, then refunded up to what was captured.
    const held = await pay('4242424242424242', 'manual', 5_000);
    expect(held.status).toBe('requires_capture');
    expect(await merchant.paymentIntents.capture(held.id, { amount: 3_000 })).toMatchObject({ status: 'succeeded', amount_received: 3_000 });
    expect((await merchant.refunds.create({ payment_intent: held.id, amount: 1_000 })).status).toBe('succeeded');
    await expect(merchant.refunds.create({ payment_intent: held.id, amount: 2_500 })).rejects.toBeInstanceOf(InvalidRequestError);
    expect((await merchant.refunds.create({ payment_intent: held.id })).amount).toBe(2_000);

    const canceled = await pay('4242424242424242', 'manual');
    expect((await merchant.paymentIntents.cancel(canceled.id, { cancellation_reason: 'requested_by_customer' })).status).toBe('canceled');
    await expect(merchant.paymentIntents.capture(canceled.id)).rejects.toMatchObject({ code: 'payment_intent_unexpected_state' });

    const challenged = await pay('4000000000003220');
    expect(challenged.status).toBe('requires_action');
    const challenge = new URL(String((challenged.next_action as { url?: string } | null)?.url));
    expect((await fetch(`${challenge.origin}${challenge.pathname}/approve`, { method: 'POST', redirect: 'manual' })).status).toBeLessThan(400);
    const after_challenge = await waitFor(async () => {
      const current = await merchant.paymentIntents.retrieve(challenged.id);
      return current.status === 'requires_action' || current.status === 'processing' ? undefined : current;
    }, 'the challenged payment to finish');
    expect(after_challenge.status).toBe('succeeded');

    for (const [method, pay_path] of [
      ['alipay', (reference: string) => `${deployment.sandboxes.alipay}/sandbox/trades/${reference}/pay`],
      ['wechat_pay', (reference: string) => `${deployment.sandboxes.wechat_pay}/sandbox/orders/${reference}/pay`],
    ] as const) {
      const intent = await merchant.paymentIntents.create({ amount: 8_800, currency: 'cny' });
      const confirmed = await merchant.paymentIntents.confirm(intent.id, { payment_method: { type: method }, return_url: 'http://127.0.0.1:9/done' });
      expect(['requires_action', 'processing'], method).toContain(confirmed.status);
      const attempts = await merchant.paymentIntents.listAttempts(intent.id);
      const reference = attempts.data.find((attempt) => attempt.operation === 'authorize')?.id ?? '';
      // Alipay creates the trade when the customer opens the page.
      if (method === 'alipay') expect((await fetch(String((confirmed.next_action as { url?: string } | null)?.url))).status).toBeLessThan(400);
      expect((await fetch(pay_path(reference), { method: 'POST', redirect: 'manual' })).status, `${method} sandbox pay`).toBeLessThan(400);
      const done = await waitFor(async () => {
        const current = await merchant.paymentIntents.retrieve(intent.id);
        return current.status === 'succeeded' ? current : undefined;
      }, `the ${method} payment to succeed`);
      expect(done.amount_received).toBe(8_800);
    }

    // Every event the merchant can list reaches the receiver once it is back, signed.
    const listed = await waitFor(async () => {
      const events = await merchant.events.list({ limit: 100 });
      return events.data.length > 0 && events.data.every((event) => received.has(event.id)) ? events : undefined;
    }, 'every event to reach the webhook receiver', 30_000);
    expect(listed.data.map((event) => event.type)).toContain('payment_intent.succeeded');
  } finally {
    await new Promise((done) => receiver.close(done));
  }
}
