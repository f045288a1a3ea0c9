// Platform-side accounts are each merchant's own (decision 67). Every total an account keeps is
// capped at 2^53 − 1; while the accounts for simulated bank deposits and payments' receivables were
// shared by every merchant in a currency and mode, one merchant's volume filled them and every other
// merchant's top-ups and card payments in that currency were refused. Driven through the public
// API, with the probe's concurrency: tens of simultaneous requests from the second merchant.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Paygrid } from '@paygrid/sdk';
import { createTestMerchant, startTestPlatform, type TestPlatform } from './support/platform';

/** The ledger's amount_max: no total in the books may pass it. */
const amount_max = Number.MAX_SAFE_INTEGER;
/** Simultaneous requests of each kind from the second merchant. */
const concurrent_requests = 24;

describe('platform-side accounts', () => {
  let test: TestPlatform;

  beforeAll(async () => {
    test = await startTestPlatform();
  }, 30_000);

  afterAll(async () => {
    await test.close();
  });

  async function cardToken(publishable_key: string): Promise<string> {
    const publishable = new Paygrid({ api_key: publishable_key, base_url: test.url });
    const token = await publishable.tokens.create({ card: { number: '4242424242424242', exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' } });
    return token.id;
  }

  it("one merchant filling its platform-side accounts never refuses another merchant's top-ups or card payments", async () => {
    // JPY has no minor unit, so amount_max is a plain (if absurd) yen amount.
    const heavy = await createTestMerchant(test, 'Heavy');
    const heavy_customer = await heavy.client.customers.create({ name: 'Whale' });
    const heavy_wallet = await heavy.client.wallets.create({ customer: heavy_customer.id, currency: 'jpy' });
    await heavy.client.wallets.topUp(heavy_wallet.id, { amount: amount_max });
    const heavy_payment = await heavy.client.paymentIntents.create({ amount: amount_max, currency: 'jpy' });
    const paid = await heavy.client.paymentIntents.confirm(heavy_payment.id, { payment_method: { type: 'card', token: await cardToken(heavy.publishable_key) } });
    expect(paid.status).toBe('succeeded');
    // The heavy merchant's own accounts are full: its next top-up is refused, for it alone.
    await expect(heavy.client.wallets.topUp(heavy_wallet.id, { amount: 1 })).rejects.toMatchObject({ status: 400, code: 'amount_too_large' });

    const light = await createTestMerchant(test, 'Light');
    const customers = await Promise.all(Array.from({ length: concurrent_requests }, async (_, index) => light.client.customers.create({ name: `Customer ${index}` })));
    const wallets = await Promise.all(customers.map(async (customer) => light.client.wallets.create({ customer: customer.id, currency: 'jpy' })));
    const top_ups = await Promise.allSettled(wallets.map(async (wallet) => light.client.wallets.topUp(wallet.id, { amount: 1_000 })));
    const payments = await Promise.allSettled(
      Array.from({ length: concurrent_requests }, async () => {
        const intent = await light.client.paymentIntents.create({ amount: 500, currency: 'jpy' });
        return light.client.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: await cardToken(light.publishable_key) } });
      }),
    );
    const refusals = [...top_ups, ...payments].flatMap((result) => (result.status === 'rejected' ? [String((result.reason as { code?: unknown }).code ?? result.reason)] : []));
    expect(refusals).toEqual([]);
    expect(payments.map((result) => (result.status === 'fulfilled' ? result.value.status : 'refused'))).toEqual(Array.from({ length: concurrent_requests }, () => 'succeeded'));
    for (const wallet of wallets) expect((await light.client.wallets.retrieve(wallet.id)).balance.available).toBe(1_000);
    const balance = await light.client.balance.retrieve();
    const yen = balance.available.find((entry) => entry.currency === 'jpy');
    expect(yen?.amount).toBeGreaterThan(0);
  }, 60_000);
});
