import { createDecipheriv, createVerify, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { fastify } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, randomId } from '@paygrid/kernel';
import type { AuthorizeRequest, CallOptions } from '../connector';
import { startNotificationReceiver, type NotificationReceiver } from '../testing/notification-receiver';
import { WeChatPaySandbox } from './sandbox';
import { decryptResource, encryptResource, formatAuthorization, parseAuthorization, requestMessage, requestNonce } from './signing';
import { WeChatPayConnector, type WeChatPayConnectorConfig } from './wechat-pay-connector';

function pemPair(): { private_key: string; public_key: string } {
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    private_key: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    public_key: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

const merchant_keys = pemPair();
const other_keys = pemPair();
const mchid = '1900009191';
const appid = 'wxd678efh567hg6787';
const serial_no = '408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB';
const api_v3_key = 'abcdefghijklmnopqrstuvwxyz012345';
const timeout_ms = 2_000;

function payment(overrides: Partial<AuthorizeRequest> = {}): AuthorizeRequest {
  return {
    merchant_id: 'mer_test',
    livemode: false,
    amount: 8_888n,
    currency: 'CNY',
    payment_method: { type: 'wechat_pay' },
    capture_method: 'automatic',
    description: 'Order 42',
    ...overrides,
  };
}

function call(reference = randomId('att')): CallOptions {
  return { idempotency_reference: reference, timeout_ms };
}

describe('WeChat Pay v3 request signing', () => {
  it('sends the WECHATPAY2-SHA256-RSA2048 header over METHOD, URL, timestamp, nonce and body', async () => {
    // A recorder in place of WeChat Pay: it keeps what arrives and answers 500.
    const recorder = fastify({ logger: false });
    const seen: { method: string; url: string; authorization: string; body: string }[] = [];
    recorder.removeAllContentTypeParsers();
    recorder.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
      done(null, body);
    });
    recorder.all('/*', async (request, reply) => {
      seen.push({ method: request.method, url: request.url, authorization: request.headers.authorization ?? '', body: typeof request.body === 'string' ? request.body : '' });
      return reply.code(500).send('');
    });
    const base_url = `${await recorder.listen({ host: '127.0.0.1', port: 0 })}/base`;
    try {
      const connector = new WeChatPayConnector({
        base_url,
        mchid,
        serial_no,
        merchant_private_key: merchant_keys.private_key,
        platform_public_key: other_keys.public_key,
        api_v3_key,
        notify_url: 'https://shop.example/notify',
        appid,
      });
      expect(await connector.authorize(payment(), call('att_header_test'))).toMatchObject({ status: 'unknown' });
      await expect(connector.status('att_header_test', { timeout_ms })).rejects.toBeInstanceOf(ApiError);
      expect(seen).toHaveLength(2);
      const [post, get] = seen;
      if (post === undefined || get === undefined) throw new Error('expected two requests');
      expect(post.url).toBe('/base/v3/pay/transactions/native');
      expect(get.url).toBe(`/base/v3/pay/transactions/out-trade-no/att_header_test?mchid=${mchid}`);
      expect(JSON.parse(post.body)).toMatchObject({
        appid,
        mchid,
        out_trade_no: 'att_header_test',
        notify_url: 'https://shop.example/notify',
        amount: { total: 8888, currency: 'CNY' },
        attach: 'paygrid_livemode=false',
      });
      for (const request of seen) {
        expect(request.authorization).toMatch(
          /^WECHATPAY2-SHA256-RSA2048 mchid="1900009191",nonce_str="[0-9A-F]{32}",signature="[A-Za-z0-9+/=]+",timestamp="\d{10}",serial_no="408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB"$/,
        );
        const fields = parseAuthorization(request.authorization);
        if (fields === undefined) throw new Error('unreadable header');
        const verifier = createVerify('RSA-SHA256');
        verifier.update(`${request.method}\n${request.url}\n${fields.timestamp}\n${fields.nonce_str}\n${request.body}\n`, 'utf8');
        expect(verifier.verify(merchant_keys.public_key, fields.signature, 'base64')).toBe(true);
      }
    } finally {
      await recorder.close();
    }
  });

  it('round-trips AEAD_AES_256_GCM resources, and refuses a wrong key or associated data', () => {
    const ciphertext = encryptResource(api_v3_key, '{"a":1}', 'abcdefghijkl', 'transaction');
    expect(decryptResource(api_v3_key, ciphertext, 'abcdefghijkl', 'transaction')).toBe('{"a":1}');
    expect(decryptResource('ABCDEFGHIJKLMNOPQRSTUVWXYZ012345', ciphertext, 'abcdefghijkl', 'transaction')).toBeUndefined();
    expect(decryptResource(api_v3_key, ciphertext, 'abcdefghijkl', 'certificate')).toBeUndefined();
  });
});

describe('WeChatPayConnector with the WeChat Pay sandbox', () => {
  let sandbox: WeChatPaySandbox;
  let receiver: NotificationReceiver;
  let connector: WeChatPayConnector;
  let config: WeChatPayConnectorConfig;

  beforeAll(async () => {
    sandbox = await WeChatPaySandbox.start({ mchid, appid, merchant_serial_no: serial_no, merchant_public_key: merchant_keys.public_key, api_v3_key });
    receiver = await startNotificationReceiver();
    config = {
      base_url: sandbox.url,
      mchid,
      serial_no,
      merchant_private_key: merchant_keys.private_key,
      platform_public_key: sandbox.platform_public_key,
      platform_serial_no: sandbox.platform_serial_no,
      api_v3_key,
      notify_url: receiver.url,
      appid,
    };
    connector = new WeChatPayConnector(config);
    receiver.use(async (headers, body) => connector.parseNotification(headers, body));
  });

  afterAll(async () => {
    await sandbox.close();
    await receiver.close();
  });

  async function createOrder(reference = randomId('att')): Promise<string> {
    const outcome = await connector.authorize(payment(), call(reference));
    expect(outcome).toMatchObject({ status: 'requires_action', provider_reference: reference, next_action: { type: 'display_qr_code' } });
    return reference;
  }

  it('shows a QR code, then takes a verified, decrypted notification when the customer pays', async () => {
    const reference = randomId('att');
    expect(await connector.status(reference, { timeout_ms })).toEqual({ status: 'not_found' });
    const outcome = await connector.authorize(payment(), call(reference));
    if (outcome.status !== 'requires_action' || outcome.next_action.type !== 'display_qr_code') throw new Error('expected a QR code');
    expect(outcome.next_action.data).toMatch(/^weixin:\/\/wxpay\/bizpayurl\?pr=/);
    // Asked again, WeChat Pay answers with the same order.
    expect(await connector.authorize(payment(), call(reference))).toEqual(outcome);
    expect(await connector.status(reference, { timeout_ms })).toEqual({ status: 'requires_action' });

    const delivery = await sandbox.pay(reference);
    expect(delivery).toMatchObject({ status: 204, acknowledged: true });
    expect(receiver.received.at(-1)).toEqual({
      ok: true,
      notification: { idempotency_reference: reference, provider_reference: reference, status: 'captured', amount: 8_888n },
      acknowledgement: { status: 204, body: '', content_type: 'text/plain; charset=utf-8' },
    });
    expect(await connector.status(reference, { timeout_ms })).toEqual({ status: 'captured', provider_reference: reference, amount_captured: 8_888n });
    // A repeated authorize after payment reports the payment.
    expect(await connector.authorize(payment(), call(reference))).toEqual({ status: 'authorized', provider_reference: reference, captured: true });
  });

  it('sends a notification that node:crypto verifies and decrypts on its own', async () => {
    const reference = await createOrder();
    const delivery = await sandbox.pay(reference);
    const headers = delivery.headers;
    const verifier = createVerify('RSA-SHA256');
    verifier.update(`${headers['wechatpay-timestamp']}\n${headers['wechatpay-nonce']}\n${delivery.body}\n`, 'utf8');
    expect(verifier.verify(sandbox.platform_public_key, headers['wechatpay-signature'] ?? '', 'base64')).toBe(true);
    const envelope = JSON.parse(delivery.body) as { event_type: string; resource: { algorithm: string; ciphertext: string; nonce: string; associated_data: string } };
    expect(envelope.event_type).toBe('TRANSACTION.SUCCESS');
    expect(envelope.resource.algorithm).toBe('AEAD_AES_256_GCM');
    const bytes = Buffer.from(envelope.resource.ciphertext, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', Buffer.from(api_v3_key), Buffer.from(envelope.resource.nonce));
    decipher.setAAD(Buffer.from(envelope.resource.associated_data));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    const transaction = JSON.parse(Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString('utf8')) as Record<string, unknown>;
    expect(transaction).toMatchObject({ mchid, appid, out_trade_no: reference, trade_state: 'SUCCESS', amount: { total: 8888, currency: 'CNY' } });
  });

  it('refuses tampered notifications, and ones it cannot decrypt', async () => {
    const reference = await createOrder();
    const delivery = await sandbox.pay(reference);
    expect(await connector.parseNotification(delivery.headers, delivery.body)).toMatchObject({ ok: true });

    const envelope = JSON.parse(delivery.body) as { resource: { ciphertext: string } };
    const flipped = envelope.resource.ciphertext.startsWith('A') ? `B${envelope.resource.ciphertext.slice(1)}` : `A${envelope.resource.ciphertext.slice(1)}`;
    const tampered_body = delivery.body.replace(envelope.resource.ciphertext, flipped);
    expect(await connector.parseNotification(delivery.headers, tampered_body)).toMatchObject({ ok: false });
    expect(await connector.parseNotification({ ...delivery.headers, 'wechatpay-nonce': 'ABC' }, delivery.body)).toMatchObject({ ok: false });
    const { 'wechatpay-signature': _signature, ...unsigned } = delivery.headers;
    expect(await connector.parseNotification(unsigned, delivery.body)).toMatchObject({ ok: false });
    expect(await connector.parseNotification({ ...delivery.headers, 'wechatpay-timestamp': '1500000000' }, delivery.body)).toMatchObject({ ok: false });

    // Signed correctly, but the APIv3 key is not ours: the resource does not decrypt.
    const stranger = new WeChatPayConnector({ ...config, api_v3_key: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345' });
    expect(await stranger.parseNotification(delivery.headers, delivery.body)).toMatchObject({ ok: false, reason: expect.stringContaining('decrypt') as unknown });

    const response = await fetch(receiver.url, { method: 'POST', headers: { ...delivery.headers }, body: tampered_body });
    expect(response.status).toBe(400);
  });

  it('takes no live-mode payment: the sandbox creates no order for one, nor for an order that does not say test mode', async () => {
    const reference = randomId('att');
    const outcome = await connector.authorize(payment({ livemode: true }), call(reference));
    expect(outcome).toMatchObject({ status: 'declined', code: 'payment_method_unavailable' });
    if (outcome.status !== 'declined') throw new Error('expected a decline');
    expect(outcome.message).toContain('403 NO_AUTH');
    expect(sandbox.order(reference)).toBeUndefined();
    expect(await connector.status(reference, { timeout_ms })).toEqual({ status: 'not_found' });
    expect((await fetch(`${sandbox.url}/sandbox/orders/${reference}/pay`, { method: 'POST' })).status).toBe(404);

    // Signed correctly but silent about the mode: refused too, since a stand-in must fail closed.
    const silent_reference = randomId('att');
    const body = JSON.stringify({ appid, mchid, description: 'Order 43', out_trade_no: silent_reference, notify_url: receiver.url, amount: { total: 100, currency: 'CNY' } });
    const path = '/v3/pay/transactions/native';
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce_str = requestNonce();
    const signature = cryptoSign('sha256', Buffer.from(requestMessage('POST', path, timestamp, nonce_str, body)), merchant_keys.private_key).toString('base64');
    const response = await fetch(`${sandbox.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: formatAuthorization({ mchid, nonce_str, signature, timestamp, serial_no }) },
      body,
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: 'NO_AUTH' });
    expect(sandbox.order(silent_reference)).toBeUndefined();

    // The same payment in test mode gets its QR code.
    await createOrder();
  });

  it('refuses a request signed with another key: 401 SIGN_ERROR', async () => {
    const impostor = new WeChatPayConnector({ ...config, merchant_private_key: other_keys.private_key });
    const outcome = await impostor.authorize(payment(), call());
    expect(outcome).toMatchObject({ status: 'declined', code: 'processing_error' });
    if (outcome.status !== 'declined') throw new Error('expected a decline');
    expect(outcome.message).toContain('401 SIGN_ERROR');
    await expect(impostor.status(randomId('att'), { timeout_ms })).rejects.toMatchObject({ code: 'provider_unavailable' });

    // A genuine header replayed with another body does not verify either.
    const response = await fetch(`${sandbox.url}/v3/pay/transactions/native`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'WECHATPAY2-SHA256-RSA2048 mchid="1900009191",nonce_str="A",signature="AAAA",timestamp="1",serial_no="x"' },
      body: '{}',
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ code: 'SIGN_ERROR', message: 'The signature is wrong.' });
  });

  it('does not believe answers that are not signed with the platform key', async () => {
    const misled = new WeChatPayConnector({ ...config, platform_public_key: other_keys.public_key });
    expect(await misled.authorize(payment(), call())).toMatchObject({ status: 'unknown' });
    await expect(misled.status(randomId('att'), { timeout_ms })).rejects.toMatchObject({ type: 'service_unavailable_error' });
  });

  it('refunds once per reference and never more than was paid', async () => {
    const reference = await createOrder();
    expect(await connector.refund(reference, 100n, call())).toMatchObject({ status: 'failed', code: 'provider_refused' });
    await sandbox.pay(reference);
    const first = call();
    expect(await connector.refund(reference, 5_000n, first)).toEqual({ status: 'succeeded' });
    expect(await connector.refund(reference, 5_000n, first)).toEqual({ status: 'succeeded' });
    expect(sandbox.order(reference)).toMatchObject({ refunded: 5_000n, trade_state: 'REFUND' });
    expect(await connector.refund(reference, 3_889n, call())).toMatchObject({ status: 'failed', code: 'provider_refused' });
    expect(await connector.refund(reference, 3_888n, call())).toEqual({ status: 'succeeded' });
    expect(sandbox.order(reference)).toMatchObject({ refunded: 8_888n });
    expect(await connector.status(reference, { timeout_ms })).toEqual({ status: 'captured', provider_reference: reference, amount_captured: 8_888n });
    expect(await connector.refund('att_missing_order', 100n, call())).toMatchObject({ status: 'failed', code: 'resource_missing' });
  });

  it('closes an unpaid order on void, and refuses to close a paid one', async () => {
    const reference = await createOrder();
    expect(await connector.void(reference, call())).toEqual({ status: 'succeeded' });
    expect(await connector.void(reference, call())).toEqual({ status: 'succeeded' });
    expect(await connector.status(reference, { timeout_ms })).toEqual({ status: 'voided' });
    expect(await connector.authorize(payment(), call(reference))).toMatchObject({ status: 'declined', code: 'payment_method_unavailable' });

    const paid = await createOrder();
    await sandbox.pay(paid);
    expect(await connector.void(paid, call())).toMatchObject({ status: 'failed', code: 'unexpected_state' });
    expect(await connector.void('att_missing_order', call())).toMatchObject({ status: 'failed', code: 'resource_missing' });
  });

  it('refuses manual capture, other currencies, and has nothing to capture', async () => {
    expect(await connector.authorize(payment({ capture_method: 'manual' }), call())).toMatchObject({ status: 'declined', code: 'payment_method_unavailable' });
    expect(await connector.authorize(payment({ currency: 'USD' }), call())).toMatchObject({ status: 'declined', code: 'payment_method_unavailable' });
    expect(await connector.capture()).toMatchObject({ status: 'failed', code: 'capture_not_supported' });
  });
});
