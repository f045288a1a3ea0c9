import { createServer, type Server } from 'node:net';
import { createVerify, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, ManualClock, randomId } from '@paygrid/kernel';
import type { AuthorizeRequest } from '../connector';
import { readPrivateKey } from '../internal/rsa';
import { startNotificationReceiver, type NotificationReceiver } from '../testing/notification-receiver';
import { AlipayConnector, type AlipayConnectorConfig } from './alipay-connector';
import { AlipaySandbox } from './sandbox';
import { alipaySignContent, formatAlipayTimestamp, formatYuan, parseYuan, signAlipayRequest } from './signing';

function pemPair(): { private_key: string; public_key: string } {
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    private_key: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    public_key: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

const app_keys = pemPair();
const alipay_keys = pemPair();
const other_keys = pemPair();
const app_id = '2021000000000001';
const timeout_ms = 2_000;

function payment(overrides: Partial<AuthorizeRequest> = {}): AuthorizeRequest {
  return {
    merchant_id: 'mer_test',
    livemode: false,
    amount: 12_345n,
    currency: 'CNY',
    payment_method: { type: 'alipay' },
    capture_method: 'automatic',
    return_url: 'https://shop.example/return',
    description: 'Order 42: tea & cups',
    ...overrides,
  };
}

describe('Alipay RSA2 signing', () => {
  it('signs the sorted non-empty parameters except sign, as node:crypto verifies independently', () => {
    const params = {
      timestamp: '2025-01-01 08:00:00',
      method: 'alipay.trade.query',
      app_id,
      sign_type: 'RSA2',
      charset: 'utf-8',
      version: '1.0',
      notify_url: '',
      biz_content: '{"out_trade_no":"att_1"}',
    };
    const signed = signAlipayRequest(params, readPrivateKey(app_keys.private_key));
    const content =
      'app_id=2021000000000001&biz_content={"out_trade_no":"att_1"}&charset=utf-8&method=alipay.trade.query' +
      '&sign_type=RSA2&timestamp=2025-01-01 08:00:00&version=1.0';
    expect(alipaySignContent(signed, ['sign'])).toBe(content);
    expect(signed).not.toHaveProperty('notify_url');
    // PKCS #1 v1.5 signatures are deterministic: the same key and content give the same bytes.
    expect(signed['sign']).toBe(cryptoSign('sha256', Buffer.from(content, 'utf8'), app_keys.private_key).toString('base64'));
    const verifier = createVerify('RSA-SHA256');
    verifier.update(content, 'utf8');
    expect(verifier.verify(app_keys.public_key, signed['sign'] ?? '', 'base64')).toBe(true);
    const tampered = createVerify('RSA-SHA256');
    tampered.update(content.replace('att_1', 'att_2'), 'utf8');
    expect(tampered.verify(app_keys.public_key, signed['sign'] ?? '', 'base64')).toBe(false);
  });

  it('leaves sign and sign_type out of a notification, and sorts by ASCII', () => {
    expect(alipaySignContent({ sign: 'x', sign_type: 'RSA2', b: '2', B: '1', a: 'é a+b', empty: '' }, ['sign', 'sign_type'])).toBe('B=1&a=é a+b&b=2');
  });

  it('writes Beijing time and yuan without floats', () => {
    expect(formatAlipayTimestamp(Date.UTC(2025, 0, 1, 16, 30, 5))).toBe('2025-01-02 00:30:05');
    expect(formatYuan(1n)).toBe('0.01');
    expect(formatYuan(12_345n)).toBe('123.45');
    expect(formatYuan(9_007_199_254_740_991n)).toBe('90071992547409.91');
    expect(parseYuan('90071992547409.91')).toBe(9_007_199_254_740_991n);
    expect(parseYuan('0.1')).toBe(10n);
    expect(parseYuan('1.001')).toBeUndefined();
    expect(parseYuan('0.00')).toBeUndefined();
  });
});

describe('AlipayConnector with the Alipay sandbox', () => {
  let sandbox: AlipaySandbox;
  let receiver: NotificationReceiver;
  let connector: AlipayConnector;
  let config: AlipayConnectorConfig;
  const clock = new ManualClock(Date.now());

  beforeAll(async () => {
    sandbox = await AlipaySandbox.start({ app_id, app_public_key: app_keys.public_key, alipay_private_key: alipay_keys.private_key, clock });
    expect(sandbox.alipay_public_key).toBe(alipay_keys.public_key);
    receiver = await startNotificationReceiver();
    config = {
      gateway_url: sandbox.gateway_url,
      app_id,
      app_private_key: app_keys.private_key,
      alipay_public_key: sandbox.alipay_public_key,
      notify_url: receiver.url,
      clock,
    };
    connector = new AlipayConnector(config);
    receiver.use(async (headers, body) => connector.parseNotification(headers, body));
  });

  afterAll(async () => {
    await sandbox.close();
    await receiver.close();
  });

  async function openPage(reference: string, overrides: Partial<AuthorizeRequest> = {}): Promise<string> {
    const outcome = await connector.authorize(payment(overrides), { idempotency_reference: reference, timeout_ms });
    if (outcome.status !== 'requires_action' || outcome.next_action.type !== 'redirect_to_url') throw new Error('expected a redirect');
    const page = await fetch(outcome.next_action.url);
    expect(page.status).toBe(200);
    return outcome.next_action.url;
  }

  it('sends the customer to the cashier page, then takes a verified notification when they pay', async () => {
    const reference = randomId('att');
    const outcome = await connector.authorize(payment(), { idempotency_reference: reference, timeout_ms });
    expect(outcome).toMatchObject({ status: 'requires_action', provider_reference: reference, next_action: { type: 'redirect_to_url' } });
    if (outcome.status !== 'requires_action' || outcome.next_action.type !== 'redirect_to_url') throw new Error('expected a redirect');
    const url = new URL(outcome.next_action.url);
    expect(`${url.origin}${url.pathname}`).toBe(sandbox.gateway_url);
    expect(url.searchParams.get('method')).toBe('alipay.trade.page.pay');
    expect(url.searchParams.get('sign_type')).toBe('RSA2');
    expect(url.searchParams.get('format')).toBe('JSON');
    expect(url.searchParams.get('notify_url')).toBe(receiver.url);
    expect(url.searchParams.get('timestamp')).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    expect(JSON.parse(url.searchParams.get('biz_content') ?? '')).toMatchObject({
      out_trade_no: reference,
      total_amount: '123.45',
      subject: 'Order 42: tea   cups',
      product_code: 'FAST_INSTANT_TRADE_PAY',
    });

    // The trade exists once the customer's browser has opened the page.
    expect(await connector.status(reference, { timeout_ms })).toEqual({ status: 'not_found' });
    const page = await fetch(url);
    expect(await page.text()).toContain('123.45');
    expect(await connector.status(reference, { timeout_ms })).toEqual({ status: 'requires_action' });

    const delivery = await sandbox.pay(reference);
    expect(delivery).toMatchObject({ status: 200, acknowledged: true });
    expect(delivery?.params).toMatchObject({ out_trade_no: reference, trade_status: 'TRADE_SUCCESS', total_amount: '123.45', sign_type: 'RSA2' });
    expect(receiver.received.at(-1)).toEqual({
      ok: true,
      notification: { idempotency_reference: reference, provider_reference: reference, status: 'captured', amount: 12_345n },
      acknowledgement: { status: 200, body: 'success', content_type: 'text/plain; charset=utf-8' },
    });
    expect(await connector.status(reference, { timeout_ms })).toEqual({ status: 'captured', provider_reference: reference, amount_captured: 12_345n });
  });

  it('takes no live-mode payment: the sandbox creates no trade for one, nor for a page request that does not say test mode', async () => {
    const reference = randomId('att');
    const outcome = await connector.authorize(payment({ livemode: true }), { idempotency_reference: reference, timeout_ms });
    if (outcome.status !== 'requires_action' || outcome.next_action.type !== 'redirect_to_url') throw new Error('expected a redirect');
    const url = new URL(outcome.next_action.url);
    expect(JSON.parse(url.searchParams.get('biz_content') ?? '')).toMatchObject({ passback_params: 'paygrid_livemode%3Dtrue' });
    const page = await fetch(url);
    expect(page.status).toBe(400);
    expect(await page.text()).toContain('ACQ.ACCESS_FORBIDDEN');
    expect(sandbox.trade(reference)).toBeUndefined();
    expect(await connector.status(reference, { timeout_ms })).toEqual({ status: 'not_found' });
    expect((await fetch(`${sandbox.url}/sandbox/trades/${reference}/pay`, { method: 'POST' })).status).toBe(404);

    // Signed correctly but silent about the mode: refused too, since a stand-in must fail closed.
    const silent: Record<string, unknown> = { ...(JSON.parse(url.searchParams.get('biz_content') ?? '') as Record<string, unknown>), out_trade_no: randomId('att') };
    delete silent['passback_params'];
    const unsigned: Record<string, string> = { ...Object.fromEntries(url.searchParams), biz_content: JSON.stringify(silent) };
    delete unsigned['sign'];
    const resigned = signAlipayRequest(unsigned, readPrivateKey(app_keys.private_key));
    const silent_page = await fetch(`${sandbox.gateway_url}?${new URLSearchParams(resigned).toString()}`);
    expect(silent_page.status).toBe(400);
    expect(await silent_page.text()).toContain('ACQ.ACCESS_FORBIDDEN');
    expect(sandbox.trade(String(silent.out_trade_no))).toBeUndefined();

    // The same request in test mode opens the cashier page.
    const test_mode = await connector.authorize(payment(), { idempotency_reference: randomId('att'), timeout_ms });
    if (test_mode.status !== 'requires_action' || test_mode.next_action.type !== 'redirect_to_url') throw new Error('expected a redirect');
    expect((await fetch(test_mode.next_action.url)).status).toBe(200);
  });

  it('refuses a tampered notification and one signed with another key', async () => {
    const reference = randomId('att');
    await openPage(reference);
    const delivery = await sandbox.pay(reference);
    if (delivery === undefined) throw new Error('expected a delivery');
    const genuine = new URLSearchParams(delivery.params).toString();
    expect(await connector.parseNotification({}, genuine)).toMatchObject({ ok: true });

    const tampered = new URLSearchParams({ ...delivery.params, total_amount: '0.01' }).toString();
    expect(await connector.parseNotification({}, tampered)).toMatchObject({ ok: false });

    const { sign: _sign, ...unsigned } = delivery.params;
    const forged_sign = cryptoSign('sha256', Buffer.from(alipaySignContent(unsigned, ['sign', 'sign_type'])), other_keys.private_key).toString('base64');
    expect(await connector.parseNotification({}, new URLSearchParams({ ...unsigned, sign: forged_sign }).toString())).toMatchObject({ ok: false });
    expect(await connector.parseNotification({}, new URLSearchParams(unsigned).toString())).toMatchObject({ ok: false });

    // Posted over HTTP, a forged notification is answered 400, never "success".
    const response = await fetch(receiver.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: tampered,
    });
    expect(response.status).toBe(400);
  });

  it('refuses a tampered page request, as Alipay does, with invalid-signature', async () => {
    const outcome = await connector.authorize(payment(), { idempotency_reference: randomId('att'), timeout_ms });
    if (outcome.status !== 'requires_action' || outcome.next_action.type !== 'redirect_to_url') throw new Error('expected a redirect');
    const url = new URL(outcome.next_action.url);
    const biz = url.searchParams.get('biz_content') ?? '';
    url.searchParams.set('biz_content', biz.replace('"123.45"', '"0.01"'));
    const page = await fetch(url);
    expect(page.status).toBe(400);
    expect(await page.text()).toContain('isv.invalid-signature');
  });

  it('answers a request signed with the wrong key with Alipay error shape, and status throws', async () => {
    const form = signAlipayRequest(
      {
        app_id,
        method: 'alipay.trade.query',
        charset: 'utf-8',
        sign_type: 'RSA2',
        timestamp: formatAlipayTimestamp(Date.now()),
        version: '1.0',
        biz_content: '{"out_trade_no":"att_x"}',
      },
      readPrivateKey(other_keys.private_key),
    );
    const response = await fetch(sandbox.gateway_url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8' },
      body: new URLSearchParams(form).toString(),
    });
    const body = (await response.json()) as { alipay_trade_query_response: Record<string, string>; sign: string };
    expect(body.alipay_trade_query_response).toMatchObject({ code: '40002', msg: 'Invalid Arguments', sub_code: 'isv.invalid-signature' });
    expect(typeof body.sign).toBe('string');

    const impostor = new AlipayConnector({ ...config, app_private_key: other_keys.private_key });
    const status = impostor.status(randomId('att'), { timeout_ms });
    await expect(status).rejects.toBeInstanceOf(ApiError);
    await expect(status).rejects.toMatchObject({ code: 'provider_unavailable' });
  });

  it('does not trust an answer that is not signed with the Alipay public key', async () => {
    const reference = randomId('att');
    await openPage(reference);
    const misled = new AlipayConnector({ ...config, alipay_public_key: other_keys.public_key });
    await expect(misled.status(reference, { timeout_ms })).rejects.toMatchObject({ code: 'provider_unavailable' });
    expect(await misled.refund(reference, 100n, { idempotency_reference: randomId('re'), timeout_ms })).toMatchObject({ status: 'unknown' });
  });

  it('refunds once per reference and never more than was paid', async () => {
    const reference = randomId('att');
    await openPage(reference);
    expect(await connector.refund(reference, 100n, { idempotency_reference: randomId('re'), timeout_ms })).toMatchObject({
      status: 'failed',
      code: 'unexpected_state',
    });
    await sandbox.pay(reference);
    const first = { idempotency_reference: randomId('re'), timeout_ms };
    expect(await connector.refund(reference, 10_000n, first)).toEqual({ status: 'succeeded' });
    expect(await connector.refund(reference, 10_000n, first)).toEqual({ status: 'succeeded' });
    expect(sandbox.trade(reference)).toMatchObject({ refunded: 10_000n, status: 'TRADE_SUCCESS' });
    expect(await connector.refund(reference, 2_346n, { idempotency_reference: randomId('re'), timeout_ms })).toMatchObject({
      status: 'failed',
      code: 'amount_too_large',
    });
    expect(await connector.refund(reference, 2_345n, { idempotency_reference: randomId('re'), timeout_ms })).toEqual({ status: 'succeeded' });
    expect(sandbox.trade(reference)).toMatchObject({ refunded: 12_345n, status: 'TRADE_CLOSED' });
    // Refunded in full, the trade is closed, but the money was taken: status still says captured.
    expect(await connector.status(reference, { timeout_ms })).toEqual({ status: 'captured', provider_reference: reference, amount_captured: 12_345n });
    expect(await connector.refund('att_missing', 100n, { idempotency_reference: randomId('re'), timeout_ms })).toMatchObject({
      status: 'failed',
      code: 'resource_missing',
    });
  });

  it('closes an unpaid trade on void, and the customer can no longer pay', async () => {
    const reference = randomId('att');
    const url = await openPage(reference);
    expect(await connector.void(reference, { idempotency_reference: randomId('void'), timeout_ms })).toEqual({ status: 'succeeded' });
    expect(await connector.void(reference, { idempotency_reference: randomId('void'), timeout_ms })).toEqual({ status: 'succeeded' });
    expect(await connector.status(reference, { timeout_ms })).toEqual({ status: 'voided' });
    const page = await fetch(url);
    expect(await page.text()).toContain('ACQ.TRADE_HAS_CLOSE');
    expect(await connector.void('att_never_opened', { idempotency_reference: randomId('void'), timeout_ms })).toMatchObject({
      status: 'failed',
      code: 'resource_missing',
    });
  });

  it('lets an unpaid trade expire at time_expire', async () => {
    const reference = randomId('att');
    const short = new AlipayConnector({ ...config, trade_expire_seconds: 60 });
    const outcome = await short.authorize(payment(), { idempotency_reference: reference, timeout_ms });
    if (outcome.status !== 'requires_action' || outcome.next_action.type !== 'redirect_to_url') throw new Error('expected a redirect');
    await fetch(outcome.next_action.url);
    clock.advance(61_000);
    expect(await connector.status(reference, { timeout_ms })).toEqual({ status: 'voided' });
  });

  it('refuses manual capture, other currencies, and has nothing to capture', async () => {
    const call = { idempotency_reference: randomId('att'), timeout_ms };
    expect(await connector.authorize(payment({ capture_method: 'manual' }), call)).toMatchObject({
      status: 'declined',
      code: 'payment_method_unavailable',
    });
    expect(await connector.authorize(payment({ currency: 'USD' }), call)).toMatchObject({ status: 'declined', code: 'payment_method_unavailable' });
    expect(await connector.capture()).toMatchObject({ status: 'failed', code: 'capture_not_supported' });
  });
});

describe('AlipayConnector without an answer', () => {
  let silent: Server;
  let gateway_url: string;

  beforeAll(async () => {
    // Accepts connections and never answers, like a gateway stuck behind a load balancer.
    silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    gateway_url = `http://127.0.0.1:${address.port}/gateway.do`;
  });

  afterAll(async () => {
    silent.close();
    await new Promise((resolve) => setTimeout(resolve, 0));
  });

  it('returns unknown for a refund and throws for status', async () => {
    const connector = new AlipayConnector({
      gateway_url,
      app_id,
      app_private_key: app_keys.private_key,
      alipay_public_key: app_keys.public_key,
      notify_url: 'https://shop.example/notify',
    });
    expect(await connector.refund('att_1', 100n, { idempotency_reference: 're_1', timeout_ms: 100 })).toMatchObject({ status: 'unknown' });
    await expect(connector.status('att_1', { timeout_ms: 100 })).rejects.toMatchObject({ type: 'service_unavailable_error' });
  });
});
