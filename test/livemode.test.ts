// Live keys on a platform with no live adapters, as a newcomer meets it after `npm start`: every
// request that would need a card acquirer, Alipay, WeChat Pay or a bank is refused with
// livemode_not_configured (or the test-only refusal that already applied), and no row of any
// service's database nor of the ledger changes. Wallet payments and transfers, which move money
// only inside the ledger, still work live.
//
// The live card payments whose capture and refund are refused were made in an earlier run of the
// same data folder, while a card acquirer was configured (this test's stand-in for a real one):
// the platform then restarts without it, as an operator who removed the acquirer would.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CardAcquirerSimulator,
  startCardAcquirerServer,
  test_card_numbers,
  type AcquirerAuthorizeRequest,
  type AcquirerAuthorizeResult,
  type AcquirerCallOptions,
  type CardAcquirerServer,
} from '@paygrid/connectors';
import { temporaryDirectory, type TemporaryDirectory } from '@paygrid/kernel/testing';
import { Paygrid } from '@paygrid/sdk';
import { snapshotDatabases } from './support/database-digest';
import { startTestPlatform, type TestPlatform } from './support/platform';

/** A real acquirer takes live payments; the simulator refuses them, so this stand-in hides the mode from it. */
class StandInForARealAcquirer extends CardAcquirerSimulator {
  override authorize(request: AcquirerAuthorizeRequest, options?: AcquirerCallOptions): Promise<AcquirerAuthorizeResult> {
    return super.authorize({ ...request, livemode: false }, options);
  }
}

interface Answer {
  readonly status: number;
  readonly body: { error?: { type: string; code: string; message: string; param?: string } } & Record<string, unknown>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until background work (event relays, deliveries) has settled: two snapshots in a row agree. */
async function settledSnapshot(data_dir: string): Promise<ReturnType<typeof snapshotDatabases>> {
  let previous = snapshotDatabases(data_dir);
  for (let round = 0; round < 30; round += 1) {
    await sleep(400);
    const current = snapshotDatabases(data_dir);
    if (JSON.stringify(current) === JSON.stringify(previous)) return current;
    previous = current;
  }
  throw new Error('the databases never settled');
}

describe('live keys on a platform with no live adapters', () => {
  let directory: TemporaryDirectory;
  let acquirer_server: CardAcquirerServer | undefined;
  let test: TestPlatform;
  let live_secret: string;
  let live_publishable: string;
  let test_secret: string;
  let test_publishable: string;
  let live: Paygrid;
  let wallet_a: string;
  let wallet_b: string;
  let held: string;
  let taken: string;
  let topped_up: string;

  async function send(key: string, path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST'): Promise<Answer> {
    const response = await fetch(`${test.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Answer['body'] };
  }

  function expectLiveRefusal(answer: Answer, param: string | undefined): void {
    expect(answer.status, JSON.stringify(answer.body)).toBe(400);
    expect(answer.body.error).toMatchObject({ type: 'invalid_request_error', code: 'livemode_not_configured' });
    expect(answer.body.error?.param).toBe(param);
    expect(answer.body.error?.message).toMatch(/^Live-mode .+ are not configured on this platform: it needs .+\. Nothing was done/);
  }

  beforeAll(async () => {
    directory = await temporaryDirectory();
    const data_dir = join(directory.path, 'data');
    const token = 'acquirer-bearer-secret-for-this-test-0123456789';
    writeFileSync(join(directory.path, 'acquirer.token'), `${token}\n`, { mode: 0o600 });
    acquirer_server = await startCardAcquirerServer(new StandInForARealAcquirer(), { bearer_token: token });

    // First run: a card acquirer is configured, so live cards are taken.
    const first = await startTestPlatform({ env: { DATA_DIR: data_dir, CARD_ACQUIRER_URL: acquirer_server.url, CARD_ACQUIRER_TOKEN_FILE: join(directory.path, 'acquirer.token') } });
    try {
      expect(first.platform.live_capabilities.card_payments.status).toBe('active');
      const created = await first.operator.merchants.create({ name: 'Live Goods' });
      await first.operator.merchants.update(created.id, { kyc_status: 'verified' });
      live_secret = (await first.operator.merchants.createApiKey(created.id, { type: 'secret', livemode: true })).secret;
      live_publishable = (await first.operator.merchants.createApiKey(created.id, { type: 'publishable', livemode: true })).secret;
      test_secret = created.secret_key;
      test_publishable = created.publishable_key;
      const client = new Paygrid({ api_key: live_secret, base_url: first.url });
      const publishable = new Paygrid({ api_key: live_publishable, base_url: first.url });
      const card = async () => (await publishable.tokens.create({ card: { number: test_card_numbers.succeeds, exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' } })).id;
      expect((await client.account.retrieve()).live_capabilities.card_payments).toEqual({ status: 'active', missing: null });
      wallet_a = (await client.wallets.create({ customer: (await client.customers.create({ name: 'Alice' })).id, currency: 'usd' })).id;
      wallet_b = (await client.wallets.create({ customer: (await client.customers.create({ name: 'Bob' })).id, currency: 'usd' })).id;
      // A live wallet is funded by a card payment.
      const top_up = await client.paymentIntents.create({ amount: 10_000, currency: 'usd', top_up_wallet: wallet_a });
      expect((await client.paymentIntents.confirm(top_up.id, { payment_method: { type: 'card', token: await card() } })).status).toBe('succeeded');
      topped_up = top_up.id;
      const manual = await client.paymentIntents.create({ amount: 3_000, currency: 'usd', capture_method: 'manual' });
      expect((await client.paymentIntents.confirm(manual.id, { payment_method: { type: 'card', token: await card() } })).status).toBe('requires_capture');
      held = manual.id;
      const automatic = await client.paymentIntents.create({ amount: 4_000, currency: 'usd' });
      expect((await client.paymentIntents.confirm(automatic.id, { payment_method: { type: 'card', token: await card() } })).status).toBe('succeeded');
      taken = automatic.id;
    } finally {
      await first.close();
      await acquirer_server.close();
      acquirer_server = undefined;
    }

    // Second run on the same data: nothing but the defaults, as after `npm start`.
    test = await startTestPlatform({ env: { DATA_DIR: data_dir } });
    live = new Paygrid({ api_key: live_secret, base_url: test.url });
    expect((await live.wallets.retrieve(wallet_a)).balance.available).toBe(10_000);
  });

  afterAll(async () => {
    await test.close();
    await acquirer_server?.close();
    await directory.remove();
  });

  it('says on GET /v1/account, to test and live keys alike, that live mode has only wallet payments', async () => {
    for (const key of [live_secret, test_secret]) {
      const account = await send(key, '/v1/account');
      expect(account.status).toBe(200);
      const capabilities = account.body.live_capabilities as Record<string, { status: string; missing: string | null }>;
      expect(Object.fromEntries(Object.entries(capabilities).map(([name, capability]) => [name, capability.status]))).toEqual({
        card_payments: 'inactive',
        alipay_payments: 'inactive',
        wechat_pay_payments: 'inactive',
        wallet_payments: 'active',
        bank_transfer_payments: 'inactive',
        withdrawals: 'inactive',
      });
      expect(capabilities.card_payments?.missing).toContain('CARD_ACQUIRER_URL');
      expect(capabilities.alipay_payments?.missing).toContain('ALIPAY_');
      expect(capabilities.wallet_payments?.missing).toBeNull();
      expect(account.body).toMatchObject({ object: 'merchant', name: 'Live Goods' });
    }
  });

  it('refuses every live request that needs a provider or a bank, and no database row nor ledger balance changes', async () => {
    const data_dir = join(directory.path, 'data');
    // Objects the refused requests name, made first: a live card token, and intents awaiting a method.
    const token = (await send(live_publishable, '/v1/tokens', { card: { number: test_card_numbers.succeeds, exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' } })).body.id as string;
    const usd = (await live.paymentIntents.create({ amount: 2_000, currency: 'usd' })).id;
    const cny = (await live.paymentIntents.create({ amount: 2_000, currency: 'cny' })).id;
    const top_up = (await live.paymentIntents.create({ amount: 500, currency: 'usd', top_up_wallet: wallet_b })).id;
    const before = await settledSnapshot(data_dir);
    const balance_before = await live.balance.retrieve();

    const bank_account = { account_holder_name: 'Alice', routing_number: '110000000', account_number: '000123456789' };
    for (const [intent, payment_method] of [
      [usd, { type: 'card', token }],
      [cny, { type: 'alipay' }],
      [cny, { type: 'wechat_pay' }],
      [usd, { type: 'bank_transfer' }],
      [top_up, { type: 'card', token }],
    ] as const) {
      expectLiveRefusal(await send(live_secret, `/v1/payment_intents/${intent}/confirm`, { payment_method }), 'payment_method[type]');
    }
    expectLiveRefusal(await send(live_secret, `/v1/payment_intents/${held}/capture`, { amount: 1_000 }), undefined);
    expectLiveRefusal(await send(live_secret, '/v1/refunds', { payment_intent: taken, amount: 1_000 }), 'payment_intent');
    expectLiveRefusal(await send(live_secret, '/v1/refunds', { payment_intent: topped_up, amount: 1_000 }), 'payment_intent');
    const withdrawal = await send(live_secret, `/v1/wallets/${wallet_a}/withdrawals`, { amount: 1_000, bank_account });
    expectLiveRefusal(withdrawal, 'bank_account');
    expect(withdrawal.body.error?.message).toContain('the simulated bank does not');
    // Test helpers and simulated deposits were test-only before live capabilities existed, and stay so.
    expect((await send(live_secret, `/v1/wallets/${wallet_a}/top_ups`, { amount: 1_000 })).body.error).toMatchObject({ code: 'top_up_source_unavailable' });
    expect((await send(live_secret, '/v1/test_helpers/bank_transfers', { reference: 'PGREF', amount: 2_000, currency: 'usd' })).body.error).toMatchObject({ code: 'test_mode_only' });
    expect((await send(live_secret, '/v1/test_helpers/withdrawals/wd_doesnotexist/succeed', {})).body.error).toMatchObject({ code: 'test_mode_only' });

    // Long enough for a relay, a delivery or a recovery pass to have written whatever it would.
    await sleep(1_500);
    expect(snapshotDatabases(data_dir)).toEqual(before);
    expect(await live.balance.retrieve()).toEqual(balance_before);
    expect((await live.paymentIntents.retrieve(held)).status).toBe('requires_capture');
    expect((await live.wallets.retrieve(wallet_a)).balance).toEqual({ available: 10_000, pending: 0 });
  });

  it('still moves live money between wallets, and from a wallet to the merchant, inside the ledger', async () => {
    const transfer = await live.walletTransfers.create({ source: wallet_a, destination: wallet_b, amount: 1_250, currency: 'usd' });
    expect(transfer).toMatchObject({ status: 'succeeded', livemode: true });
    const balance = async () => (await live.balance.retrieve()).available.find((entry) => entry.currency === 'usd')?.amount ?? 0;
    const merchant_before = await balance();
    const payment = await live.wallets.pay(wallet_b, { amount: 250, description: 'Coffee' });
    expect(payment).toMatchObject({ status: 'succeeded', livemode: true });
    const intent = await live.paymentIntents.create({ amount: 500, currency: 'usd' });
    const paid = await live.paymentIntents.confirm(intent.id, { payment_method: { type: 'wallet', wallet: wallet_a } });
    expect(paid).toMatchObject({ status: 'succeeded', amount_received: 500, livemode: true });
    expect((await live.refunds.create({ payment_intent: intent.id, amount: 100 })).status).toBe('succeeded');
    expect((await live.wallets.retrieve(wallet_a)).balance.available).toBe(10_000 - 1_250 - 500 + 100);
    expect((await live.wallets.retrieve(wallet_b)).balance.available).toBe(1_250 - 250);
    // The wallet intent's fee comes off the merchant's balance, as for any payment.
    expect(await balance()).toBeGreaterThan(merchant_before);
  });

  it('keeps test mode on the simulators, unchanged', async () => {
    const client = new Paygrid({ api_key: test_secret, base_url: test.url });
    const publishable = new Paygrid({ api_key: test_publishable, base_url: test.url });
    const token = await publishable.tokens.create({ card: { number: test_card_numbers.succeeds, exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' } });
    const intent = await client.paymentIntents.create({ amount: 1_000, currency: 'usd' });
    expect((await client.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: token.id } })).status).toBe('succeeded');
  });
});
