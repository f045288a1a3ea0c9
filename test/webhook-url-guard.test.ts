// The webhook URL guard as merchants meet it over the API: a live key cannot point webhooks at
// internal addresses; a test key can in embedded mode (local development needs it) unless
// WEBHOOK_TEST_MODE_PRIVATE_URLS=false, as in a distributed install; and an operator of a
// private install can allow private addresses with WEBHOOK_ALLOW_PRIVATE_URLS. Only literal
// addresses and localhost are used, so nothing here asks outside DNS or sends outside 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidRequestError, Paygrid } from '@paygrid/sdk';
import { createTestMerchant, startTestPlatform, type TestPlatform } from './support/platform';

async function liveClient(test: TestPlatform): Promise<{ readonly live: Paygrid; readonly test_mode: Paygrid }> {
  const merchant = await createTestMerchant(test, 'Hooks Ltd');
  // Live keys need a verified merchant.
  await test.operator.merchants.update(merchant.id, { kyc_status: 'verified' });
  const key = await test.operator.merchants.createApiKey(merchant.id, { type: 'secret', livemode: true });
  return { live: new Paygrid({ api_key: key.secret, base_url: test.url }), test_mode: merchant.client };
}

async function refusal(work: Promise<unknown>): Promise<InvalidRequestError> {
  const error: unknown = await work.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(InvalidRequestError);
  return error as InvalidRequestError;
}

describe('webhook endpoint URLs over the API', () => {
  let test: TestPlatform;
  let clients: Awaited<ReturnType<typeof liveClient>>;

  beforeAll(async () => {
    test = await startTestPlatform();
    clients = await liveClient(test);
  });

  afterAll(async () => {
    await test.close();
  });

  it('refuses live-mode endpoints on http or on internal addresses with url_not_allowed', async () => {
    for (const url of ['http://127.0.0.1:9/hooks', 'https://127.0.0.1/hooks', 'https://10.1.1.1/hooks', 'https://169.254.169.254/latest/meta-data/', 'https://[::1]/hooks', 'https://localhost/hooks']) {
      const error = await refusal(clients.live.webhookEndpoints.create({ url, enabled_events: ['*'] }));
      expect({ status: error.status, type: error.type, code: error.code, param: error.param }, url).toEqual({
        status: 400,
        type: 'invalid_request_error',
        code: 'url_not_allowed',
        param: 'url',
      });
    }
    expect((await clients.live.webhookEndpoints.list()).data).toEqual([]);
  });

  it('accepts a live endpoint on a public address, and test-mode endpoints on 127.0.0.1', async () => {
    const live = await clients.live.webhookEndpoints.create({ url: 'https://203.0.113.7/hooks', enabled_events: ['*'] });
    expect(live).toMatchObject({ livemode: true, url: 'https://203.0.113.7/hooks' });
    // Disabled at once, so that no later event could send anything beyond this machine.
    expect(await clients.live.webhookEndpoints.update(live.id, { status: 'disabled' })).toMatchObject({ status: 'disabled' });
    const local = await clients.test_mode.webhookEndpoints.create({ url: 'http://127.0.0.1:9/hooks', enabled_events: ['*'] });
    expect(local).toMatchObject({ livemode: false, url: 'http://127.0.0.1:9/hooks' });
  });
});

describe('webhook endpoint URLs with WEBHOOK_TEST_MODE_PRIVATE_URLS=false', () => {
  let test: TestPlatform;

  beforeAll(async () => {
    test = await startTestPlatform({ env: { WEBHOOK_TEST_MODE_PRIVATE_URLS: 'false' } });
  });

  afterAll(async () => {
    await test.close();
  });

  it('refuses test-mode endpoints on internal addresses, as a distributed install does by default', async () => {
    const merchant = await createTestMerchant(test, 'Guarded Test Mode Ltd');
    for (const url of ['http://127.0.0.1:9/hooks', 'http://169.254.169.254/latest/meta-data/', 'http://[::1]/hooks']) {
      const error = await refusal(merchant.client.webhookEndpoints.create({ url, enabled_events: ['*'] }));
      expect({ status: error.status, code: error.code, param: error.param }, url).toEqual({ status: 400, code: 'url_not_allowed', param: 'url' });
    }
    const public_endpoint = await merchant.client.webhookEndpoints.create({ url: 'http://203.0.113.7/hooks', enabled_events: ['*'] });
    expect(public_endpoint).toMatchObject({ livemode: false });
    // Disabled at once, so that no later event could send anything beyond this machine.
    expect(await merchant.client.webhookEndpoints.update(public_endpoint.id, { status: 'disabled' })).toMatchObject({ status: 'disabled' });
  });
});

describe('webhook endpoint URLs with WEBHOOK_ALLOW_PRIVATE_URLS=true', () => {
  let test: TestPlatform;

  beforeAll(async () => {
    test = await startTestPlatform({ env: { WEBHOOK_ALLOW_PRIVATE_URLS: 'true' } });
  });

  afterAll(async () => {
    await test.close();
  });

  it('accepts live endpoints on private addresses, but still only over https', async () => {
    const { live } = await liveClient(test);
    expect(await live.webhookEndpoints.create({ url: 'https://10.1.1.1/hooks', enabled_events: ['*'] })).toMatchObject({ livemode: true });
    const error = await refusal(live.webhookEndpoints.create({ url: 'http://10.1.1.1/hooks', enabled_events: ['*'] }));
    expect(error.code).toBe('url_not_allowed');
  });
});
