// Every ledger result a well-formed wallet request can meet, driven through the public API: each
// gets its own answer (a 4xx naming the rule, or success for the answers that mean "already
// there" or "not created yet"), never `500 api_error ledger_refused`, and a refusal moves nothing.
// services/wallet/src/ledger-results.test.ts proves the same of every code, reachable or not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Paygrid, PaygridError } from '@paygrid/sdk';
import { createTestMerchant, startTestPlatform, type TestPlatform } from './support/platform';

/** The ledger's amount_max: no balance in the books may pass it. */
const amount_max = Number.MAX_SAFE_INTEGER;

interface Refusal {
  readonly status: number | undefined;
  readonly type: string;
  readonly code: string;
  readonly param: string | undefined;
}

async function refusalOf(request: Promise<unknown>): Promise<Refusal> {
  try {
    await request;
  } catch (error) {
    if (error instanceof PaygridError) return { status: error.status, type: error.type, code: error.code, param: error.param };
    throw error;
  }
  throw new Error('the request was not refused');
}

async function availableOf(client: Paygrid, wallet_id: string): Promise<number> {
  return (await client.wallets.retrieve(wallet_id)).balance.available;
}

describe('ledger results through the API', () => {
  let test: TestPlatform;
  let client: Paygrid;

  async function walletWith(amount: number): Promise<string> {
    const customer = await client.customers.create({ name: 'Holder' });
    const wallet = await client.wallets.create({ customer: customer.id, currency: 'usd' });
    if (amount > 0) await client.wallets.topUp(wallet.id, { amount });
    return wallet.id;
  }

  beforeAll(async () => {
    test = await startTestPlatform();
    // A merchant of its own: its platform, funding and control accounts are created on first use,
    // by the first movement (`debit_account_not_found` / `credit_account_not_found`, then a resend).
    client = (await createTestMerchant(test)).client;
  }, 30_000);

  afterAll(async () => {
    await test.close();
  });

  it('creates the accounts a first movement needs (account_not_found) and answers it', async () => {
    const wallet = await walletWith(500);
    expect(await availableOf(client, wallet)).toBe(500);
  });

  it('answers a retry the same (exists), and refuses a reused key for something else', async () => {
    const source = await walletWith(1_000);
    const destination = await walletWith(0);
    const params = { source, destination, amount: 100, currency: 'usd' } as const;
    const first = await client.walletTransfers.create(params, { idempotency_key: `retry-${source}` });
    const again = await client.walletTransfers.create(params, { idempotency_key: `retry-${source}` });
    expect(again.id).toBe(first.id);
    // The gateway's idempotency record answers first; the ledger's exists_with_different_* (a
    // 409 idempotency_key_reused) is the backstop once that record is gone, proven in the unit table.
    expect(await refusalOf(client.walletTransfers.create({ ...params, amount: 200 }, { idempotency_key: `retry-${source}` }))).toMatchObject({
      status: 409,
      code: 'idempotency_key_mismatch',
    });
    expect(await availableOf(client, source)).toBe(900);
  });

  it('refuses a send past the balance (exceeds_credits on the wallet) with insufficient_funds', async () => {
    const source = await walletWith(300);
    const destination = await walletWith(0);
    const refused = await refusalOf(client.walletTransfers.create({ source, destination, amount: 301, currency: 'usd' }));
    expect(refused).toEqual({ status: 400, type: 'invalid_request_error', code: 'insufficient_funds', param: 'amount' });
    expect([await availableOf(client, source), await availableOf(client, destination)]).toEqual([300, 0]);
  });

  it('refuses a send past the day (exceeds_credits on the allowance) with wallet_limit_exceeded', async () => {
    const limited = await createTestMerchant(test, 'Limited');
    const walletOf = async (name: string) => (await limited.client.wallets.create({ customer: (await limited.client.customers.create({ name })).id, currency: 'usd' })).id;
    const source = await walletOf('Source');
    const destination = await walletOf('Destination');
    await limited.client.wallets.topUp(source, { amount: 1_000 });
    await limited.client.walletLimits.update('usd', { per_day_max: 400 });
    await limited.client.walletTransfers.create({ source, destination, amount: 300, currency: 'usd' });
    const refused = await refusalOf(limited.client.walletTransfers.create({ source, destination, amount: 101, currency: 'usd' }));
    expect(refused).toEqual({ status: 400, type: 'invalid_request_error', code: 'wallet_limit_exceeded', param: 'amount' });
    expect(await availableOf(limited.client, source)).toBe(700);
  });

  it('refuses a send from a frozen wallet (account_already_closed) with wallet_frozen', async () => {
    const source = await walletWith(500);
    const destination = await walletWith(0);
    await client.wallets.update(source, { status: 'frozen' });
    const refused = await refusalOf(client.walletTransfers.create({ source, destination, amount: 100, currency: 'usd' }));
    expect(refused).toEqual({ status: 400, type: 'invalid_request_error', code: 'wallet_frozen', param: 'source' });
    const withdrawal = await refusalOf(
      client.wallets.withdraw(source, { amount: 100, bank_account: { account_holder_name: 'Holder', routing_number: '110000000', account_number: '000123456789' } }),
    );
    expect(withdrawal).toMatchObject({ status: 400, code: 'wallet_frozen', param: 'wallet' });
    expect(await availableOf(client, source)).toBe(500);
  });

  it('refuses a movement that would take a balance past amount_max (overflows_*) with amount_too_large, for good', async () => {
    // A merchant and currency of its own: the merchant's account for simulated bank deposits adds up
    // its top-ups in a currency and mode (decision 67), so it is full too.
    const full = await createTestMerchant(test, 'Full');
    const customer = await full.client.customers.create({ name: 'Holder' });
    const wallet = (await full.client.wallets.create({ customer: customer.id, currency: 'eur' })).id;
    await full.client.wallets.topUp(wallet, { amount: amount_max });
    const key = `overflow-${wallet}`;
    const refused = await refusalOf(full.client.wallets.topUp(wallet, { amount: 1 }, { idempotency_key: key }));
    expect(refused).toEqual({ status: 400, type: 'invalid_request_error', code: 'amount_too_large', param: 'amount' });
    expect(await availableOf(full.client, wallet)).toBe(amount_max);
    // The refusal is an operation, kept in the ledger: a retry gets it again, and the history shows it.
    expect(await refusalOf(full.client.wallets.topUp(wallet, { amount: 1 }, { idempotency_key: key }))).toMatchObject({ status: 400, code: 'amount_too_large' });
    const history = await full.client.wallets.listTransactions(wallet);
    expect(history.data.map((line) => [line.type, line.amount, line.status])).toEqual([
      ['top_up', 1, 'failed'],
      ['top_up', amount_max, 'succeeded'],
    ]);
  });

  it('refuses a card payment that would take the books past amount_max before the provider is called, never leaving it processing', async () => {
    const shop = await createTestMerchant(test, 'Shop');
    const publishable = new Paygrid({ api_key: shop.publishable_key, base_url: test.url });
    const card = async () => (await publishable.tokens.create({ card: { number: '4242424242424242', exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' } })).id;
    const first = await shop.client.paymentIntents.create({ amount: amount_max, currency: 'usd' });
    expect((await shop.client.paymentIntents.confirm(first.id, { payment_method: { type: 'card', token: await card() } })).status).toBe('succeeded');
    const second = await shop.client.paymentIntents.create({ amount: 1, currency: 'usd' });
    const refused = await refusalOf(shop.client.paymentIntents.confirm(second.id, { payment_method: { type: 'card', token: await card() } }));
    expect(refused).toEqual({ status: 400, type: 'invalid_request_error', code: 'amount_too_large', param: 'amount' });
    // Nothing was asked of the provider: the intent may still be paid another way, and has no attempt.
    expect((await shop.client.paymentIntents.retrieve(second.id)).status).toBe('requires_payment_method');
  });
});
