// Alipay and WeChat Pay configured as real endpoints, purely through environment variables. The
// real gateways cannot be reached from here, so our own sandboxes stand in for them: started
// standalone on 127.0.0.1 with known keys, as an outside provider would be, and given to the
// platform only as URLs, ids and key files. The test proves the configured path was used: the
// platform starts no sandbox of its own, the customer is sent to the standalone sandboxes, and
// their notifications reach PUBLIC_BASE_URL and are accepted, which needs the configured keys.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AlipaySandbox, WeChatPaySandbox, alipay_gateway_path } from '@paygrid/connectors';
import { Paygrid } from '@paygrid/sdk';
import { temporaryDirectory, type TemporaryDirectory } from '@paygrid/kernel/testing';
import { describeProvider } from '../apps/cli/src/platform';
import { createTestMerchant, freePort, startTestPlatform, type TestPlatform } from './support/platform';

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeout_ms = 15_000): Promise<T> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

function rsaKeyPair(): { readonly private_pem: string; readonly public_pem: string } {
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    private_pem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    public_pem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

describe('Alipay and WeChat Pay at configured endpoints', () => {
  let directory: TemporaryDirectory;
  let alipay: AlipaySandbox;
  let wechat_pay: WeChatPaySandbox;
  let test: TestPlatform;
  let public_base_url: string;
  const sandbox_starts = { alipay: 0, wechat_pay: 0 };

  beforeAll(async () => {
    directory = await temporaryDirectory();
    const file = (name: string, content: string) => {
      const path = join(directory.path, name);
      writeFileSync(path, content, { mode: 0o600 });
      return path;
    };
    const alipay_app = rsaKeyPair();
    const alipay_app_id = '2021004199990000';
    alipay = await AlipaySandbox.start({ app_id: alipay_app_id, app_public_key: alipay_app.public_pem, host: '127.0.0.1' });
    const merchant_keys = rsaKeyPair();
    const wechat = { mchid: '1900009191', appid: 'wx8888888888888888', serial_no: randomBytes(20).toString('hex').toUpperCase(), api_v3_key: randomBytes(16).toString('hex') };
    wechat_pay = await WeChatPaySandbox.start({
      mchid: wechat.mchid,
      appid: wechat.appid,
      merchant_serial_no: wechat.serial_no,
      merchant_public_key: merchant_keys.public_pem,
      api_v3_key: wechat.api_v3_key,
      platform_serial_no: 'PUB_KEY_ID_0119990000000000000000000000',
      host: '127.0.0.1',
    });

    // From here on, any sandbox the platform started of its own accord would be counted.
    const alipay_start = AlipaySandbox.start.bind(AlipaySandbox);
    const wechat_pay_start = WeChatPaySandbox.start.bind(WeChatPaySandbox);
    vi.spyOn(AlipaySandbox, 'start').mockImplementation((options) => {
      sandbox_starts.alipay += 1;
      return alipay_start(options);
    });
    vi.spyOn(WeChatPaySandbox, 'start').mockImplementation((options) => {
      sandbox_starts.wechat_pay += 1;
      return wechat_pay_start(options);
    });

    const port = await freePort();
    public_base_url = `http://127.0.0.1:${String(port)}`;
    test = await startTestPlatform({
      port,
      env: {
        PUBLIC_BASE_URL: public_base_url,
        ALIPAY_GATEWAY_URL: `${alipay.url}${alipay_gateway_path}`,
        ALIPAY_APP_ID: alipay_app_id,
        ALIPAY_PRIVATE_KEY_FILE: file('alipay-app-private.pem', alipay_app.private_pem),
        ALIPAY_PUBLIC_KEY_FILE: file('alipay-public.pem', alipay.alipay_public_key),
        WECHAT_PAY_BASE_URL: wechat_pay.url,
        WECHAT_PAY_MCH_ID: wechat.mchid,
        WECHAT_PAY_APP_ID: wechat.appid,
        WECHAT_PAY_SERIAL_NO: wechat.serial_no,
        WECHAT_PAY_PRIVATE_KEY_FILE: file('wechat-merchant-private.pem', merchant_keys.private_pem),
        WECHAT_PAY_PLATFORM_PUBLIC_KEY_FILE: file('wechat-platform-public.pem', wechat_pay.platform_public_key),
        WECHAT_PAY_PLATFORM_SERIAL_NO: wechat_pay.platform_serial_no,
        WECHAT_PAY_API_V3_KEY_FILE: file('wechat-apiv3.key', `${wechat.api_v3_key}\n`),
      },
    });
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await test.close();
    await alipay.close();
    await wechat_pay.close();
    await directory.remove();
  });

  it('starts no sandbox of its own and reports the configured hosts', () => {
    expect(sandbox_starts).toEqual({ alipay: 0, wechat_pay: 0 });
    expect(test.platform.providers).toEqual({
      alipay: { mode: 'configured', host: new URL(alipay.url).host },
      wechat_pay: { mode: 'configured', host: new URL(wechat_pay.url).host },
    });
    // The banner and the start-up log show the host only: no id, path or key.
    const providers = test.platform.providers;
    expect(providers === undefined ? '' : describeProvider(providers.alipay)).toBe(`configured endpoint ${new URL(alipay.url).host}`);
  });

  it('takes an Alipay payment through the configured gateway, with its notification to PUBLIC_BASE_URL', async () => {
    const merchant = await createTestMerchant(test, 'Configured Alipay');
    const intent = await merchant.client.paymentIntents.create({ amount: 6_600, currency: 'cny' });
    const confirmed = await merchant.client.paymentIntents.confirm(intent.id, { payment_method: { type: 'alipay' }, return_url: 'http://127.0.0.1:9/done' });
    expect(confirmed.status).toBe('requires_action');
    const page_url = String((confirmed.next_action as { url?: string } | null)?.url);
    expect(page_url.startsWith(`${alipay.url}${alipay_gateway_path}?`)).toBe(true);
    const attempts = await merchant.client.paymentIntents.listAttempts(intent.id);
    const reference = attempts.data.find((attempt) => attempt.operation === 'authorize')?.id ?? '';
    // The customer opens the cashier page (the sandbox checks the RSA2 signature made with the
    // configured app key), then pays.
    expect((await fetch(page_url)).status).toBe(200);
    expect(alipay.trade(reference)).toMatchObject({ status: 'WAIT_BUYER_PAY', total_amount: 6_600n });
    const delivery = await alipay.pay(reference);
    expect(delivery?.notify_url).toBe(`${public_base_url}/v1/notifications/alipay`);
    const done = await waitFor(async () => {
      const current = await merchant.client.paymentIntents.retrieve(intent.id);
      return current.status === 'succeeded' ? current : undefined;
    }, 'the Alipay payment to succeed');
    expect(done.amount_received).toBe(6_600);
    // The notification verifies with the configured Alipay public key. It is sent again here,
    // now that the payment is settled, because the first delivery races the status poll and a
    // loaded machine can outlast the sandbox's 5-second wait for it.
    const again = await fetch(delivery?.notify_url ?? '', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body: new URLSearchParams(delivery?.params ?? {}).toString(),
    });
    expect({ status: again.status, body: (await again.text()).trim() }).toEqual({ status: 200, body: 'success' });
  });

  it('takes a WeChat Pay payment through the configured API, with its encrypted notification to PUBLIC_BASE_URL', async () => {
    const merchant = await createTestMerchant(test, 'Configured WeChat Pay');
    const intent = await merchant.client.paymentIntents.create({ amount: 7_700, currency: 'cny' });
    const confirmed = await merchant.client.paymentIntents.confirm(intent.id, { payment_method: { type: 'wechat_pay' } });
    expect(confirmed.status).toBe('requires_action');
    expect(confirmed.next_action).toMatchObject({ type: 'display_qr_code' });
    const attempts = await merchant.client.paymentIntents.listAttempts(intent.id);
    const reference = attempts.data.find((attempt) => attempt.operation === 'authorize')?.id ?? '';
    // The order exists at the standalone sandbox, which verified the configured merchant key's signature.
    expect(wechat_pay.order(reference)).toMatchObject({ trade_state: 'NOTPAY', total: 7_700n });
    const delivery = await wechat_pay.pay(reference);
    expect(delivery.notify_url).toBe(`${public_base_url}/v1/notifications/wechat_pay`);
    const done = await waitFor(async () => {
      const current = await merchant.client.paymentIntents.retrieve(intent.id);
      return current.status === 'succeeded' ? current : undefined;
    }, 'the WeChat Pay payment to succeed');
    expect(done.amount_received).toBe(7_700);
    // Sent again once settled (see the Alipay case): 204 means the platform verified the
    // signature with the configured platform key and decrypted the resource with the configured
    // APIv3 key, which nothing else uses.
    const again = await fetch(delivery.notify_url, { method: 'POST', headers: delivery.headers, body: delivery.body });
    expect(again.status).toBe(204);
    // The same notification altered after it was signed is refused.
    const tampered = JSON.parse(delivery.body) as { resource: { ciphertext: string } };
    tampered.resource.ciphertext = Buffer.from('forged').toString('base64');
    const forged = await fetch(delivery.notify_url, { method: 'POST', headers: delivery.headers, body: JSON.stringify(tampered) });
    expect(forged.status).toBe(400);
  });

  it('turns live Alipay and WeChat Pay on, and the sandboxes standing in for them still refuse live money', async () => {
    expect(test.platform.live_capabilities.alipay_payments.status).toBe('active');
    expect(test.platform.live_capabilities.wechat_pay_payments.status).toBe('active');
    const merchant = await createTestMerchant(test, 'Configured, live');
    await test.operator.merchants.update(merchant.id, { kyc_status: 'verified' });
    const live = new Paygrid({ api_key: (await test.operator.merchants.createApiKey(merchant.id, { type: 'secret', livemode: true })).secret, base_url: test.url });
    const account = await live.account.retrieve();
    expect(account.live_capabilities.alipay_payments).toEqual({ status: 'active', missing: null });
    expect(account.live_capabilities.card_payments.status).toBe('inactive');

    // Alipay: the platform builds the page, but the sandbox creates no trade for a live payment.
    const alipay_intent = await live.paymentIntents.create({ amount: 6_600, currency: 'cny' });
    const sent = await live.paymentIntents.confirm(alipay_intent.id, { payment_method: { type: 'alipay' } });
    expect(sent.status).toBe('requires_action');
    const page = await fetch(String((sent.next_action as { url?: string } | null)?.url));
    expect(page.status).toBe(400);
    expect(await page.text()).toContain('ACQ.ACCESS_FORBIDDEN');
    const alipay_reference = (await live.paymentIntents.listAttempts(alipay_intent.id)).data.find((attempt) => attempt.operation === 'authorize')?.id ?? '';
    expect(alipay.trade(alipay_reference)).toBeUndefined();

    // WeChat Pay: the sandbox refuses the order, and the payment is declined with nothing taken.
    const wechat_intent = await live.paymentIntents.create({ amount: 7_700, currency: 'cny' });
    const declined = await live.paymentIntents.confirm(wechat_intent.id, { payment_method: { type: 'wechat_pay' } });
    expect(declined).toMatchObject({ status: 'requires_payment_method', amount_received: 0, last_payment_error: { code: 'payment_method_unavailable' } });
    const wechat_reference = (await live.paymentIntents.listAttempts(wechat_intent.id)).data.find((attempt) => attempt.operation === 'authorize')?.id ?? '';
    expect(wechat_pay.order(wechat_reference)).toBeUndefined();
    expect((await live.balance.retrieve()).available).toEqual([]);
  });
});
