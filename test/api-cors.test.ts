// Browser access to the API, at the HTTP level: a checkout page on one of its merchant's allowed
// origins may call the publishable-key routes; nothing else may, and secret-key routes answer only
// the dashboard. Also the merchant settings behind it (allowed_origins, the card-number guard's
// exemptions) through the API. test/browser-checkout.test.ts drives a real browser against it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withLuhnCheckDigit } from '@paygrid/kernel/testing';
import { createTestMerchant, startTestPlatform, type TestPlatform } from './support/platform';

const dashboard = 'https://dashboard.example.com';
const shop = 'https://shop.example.com';
const local_shop = 'http://127.0.0.1:5173';
const stranger = 'https://stranger.example.com';

const card = { number: '4242424242424242', exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' };

describe('CORS for checkout pages', () => {
  let test: TestPlatform;
  let merchant: Awaited<ReturnType<typeof createTestMerchant>>;
  let other: Awaited<ReturnType<typeof createTestMerchant>>;

  beforeAll(async () => {
    test = await startTestPlatform({ env: { DASHBOARD_ORIGIN: dashboard } });
    merchant = await createTestMerchant(test, 'Shop');
    other = await createTestMerchant(test, 'Other shop');
    await merchant.client.account.update({ allowed_origins: [shop, local_shop] });
    await other.client.account.update({ allowed_origins: [stranger] });
  });

  afterAll(async () => {
    await test.close();
  });

  function preflight(path: string, origin: string, method = 'POST') {
    return fetch(`${test.url}${path}`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'authorization,content-type,idempotency-key' },
    });
  }

  function createToken(key: string, origin?: string) {
    return fetch(`${test.url}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(origin === undefined ? {} : { origin }) },
      body: JSON.stringify({ card }),
    });
  }

  it('shows allowed_origins on the account and refuses origins a browser would not send', async () => {
    const account = await merchant.client.account.retrieve();
    expect(account.allowed_origins).toEqual([shop, local_shop]);
    for (const origin of ['http://shop.example.com', 'https://shop.example.com/', 'https://*.example.com']) {
      const response = await fetch(`${test.url}/v1/account`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${merchant.secret_key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ allowed_origins: [origin] }),
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: string; param: string } }).error).toMatchObject({ code: 'origin_invalid', param: 'allowed_origins' });
    }
    const too_many = Array.from({ length: 11 }, (_, index) => `https://shop${index}.example.com`);
    const response = await fetch(`${test.url}/v1/account`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${merchant.secret_key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ allowed_origins: too_many }),
    });
    expect(response.status).toBe(400);
    // A publishable key cannot change them.
    const with_publishable = await fetch(`${test.url}/v1/account`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${merchant.publishable_key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ allowed_origins: [stranger] }),
    });
    expect(with_publishable.status).toBe(401);
    expect((await merchant.client.account.retrieve()).allowed_origins).toEqual([shop, local_shop]);
    // The operator sees and sets them too.
    expect((await test.operator.merchants.retrieve(merchant.id)).allowed_origins).toEqual([shop, local_shop]);
  });

  it('refuses a preflight without Origin or Access-Control-Request-Method in the one error shape', async () => {
    // The CORS plugin's own answer was a plain-text 400 "Invalid Preflight Request" (found by the API fuzz).
    for (const [path, headers] of [
      ['/v1/tokens', { origin: shop }],
      ['/v1/tokens', { origin: shop, 'access-control-request-method': '' }],
      ['/v1/customers', { origin: dashboard }],
      ['/v1/customers', { 'access-control-request-method': 'POST' }],
    ] as const) {
      const response = await fetch(`${test.url}${path}`, { method: 'OPTIONS', headers });
      expect(response.status, `${path} ${JSON.stringify(headers)}`).toBe(400);
      expect(await response.json()).toEqual({ error: expect.objectContaining({ type: 'invalid_request_error', code: 'preflight_invalid' }) as unknown });
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  it('answers a preflight for a publishable-key route from any origin a merchant could allow, with that route alone', async () => {
    for (const origin of [shop, stranger, 'http://localhost:3000']) {
      const response = await preflight('/v1/tokens', origin);
      expect(response.status).toBe(204);
      expect(response.headers.get('access-control-allow-origin')).toBe(origin);
      expect(response.headers.get('access-control-allow-methods')).toBe('POST');
      const allowed_headers = response.headers.get('access-control-allow-headers') ?? '';
      expect(allowed_headers.split(', ').sort()).toEqual(['authorization', 'content-type', 'idempotency-key']);
      expect(response.headers.get('access-control-allow-credentials')).toBeNull();
      expect(response.headers.get('vary')).toMatch(/origin/i);
    }
    // Origins no merchant could allow get no grant at all.
    for (const origin of ['null', 'http://shop.example.com', 'https://shop.example.com/path']) {
      expect((await preflight('/v1/tokens', origin)).headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  it('answers preflights for secret-key routes only for the dashboard, never for a checkout origin', async () => {
    for (const path of ['/v1/customers', '/v1/payment_intents', '/v1/account', '/v1/tokens/x']) {
      expect((await preflight(path, shop)).headers.get('access-control-allow-origin')).toBeNull();
    }
    expect((await preflight('/v1/customers', dashboard)).headers.get('access-control-allow-origin')).toBe(dashboard);
  });

  it("lets a page on one of the merchant's origins create a token and read the answer", async () => {
    for (const origin of [shop, local_shop]) {
      const response = await createToken(merchant.publishable_key, origin);
      expect(response.status).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBe(origin);
      expect(response.headers.get('access-control-expose-headers')).toContain('request-id');
      expect(response.headers.get('vary')).toMatch(/origin/i);
      expect(((await response.json()) as { id: string }).id).toMatch(/^tok_/);
    }
  });

  it("refuses a page on any other origin, another merchant's included, before the route runs, with no allow-origin header", async () => {
    for (const origin of [stranger, dashboard.replace('dashboard', 'evil'), 'null']) {
      const response = await createToken(merchant.publishable_key, origin);
      expect(response.status).toBe(403);
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
      expect(((await response.json()) as { error: { type: string; code: string } }).error).toEqual(expect.objectContaining({ type: 'permission_error', code: 'origin_not_allowed' }));
    }
    // The other merchant's own key works from its own origin.
    expect((await createToken(other.publishable_key, stranger)).status).toBe(200);
  });

  it('refuses a secret key from a checkout page, and gives no allow-origin header on secret-key routes', async () => {
    const response = await createToken(merchant.secret_key, shop);
    expect(response.status).toBe(403);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    const customers = await fetch(`${test.url}/v1/customers`, { headers: { authorization: `Bearer ${merchant.secret_key}`, origin: shop } });
    expect(customers.headers.get('access-control-allow-origin')).toBeNull();
    const from_dashboard = await fetch(`${test.url}/v1/customers`, { headers: { authorization: `Bearer ${merchant.secret_key}`, origin: dashboard } });
    expect(from_dashboard.status).toBe(200);
    expect(from_dashboard.headers.get('access-control-allow-origin')).toBe(dashboard);
  });

  it('still serves servers, which send no Origin, and publishable keys of merchants that require signatures', async () => {
    expect((await createToken(merchant.publishable_key)).status).toBe(200);
    await merchant.client.account.update({ signing_required: true });
    try {
      // A browser cannot sign (that takes the secret), so mandatory signing is for secret keys.
      expect((await createToken(merchant.publishable_key, shop)).status).toBe(200);
      const unsigned = await fetch(`${test.url}/v1/customers`, { headers: { authorization: `Bearer ${merchant.secret_key}` } });
      expect(unsigned.status).toBe(401);
    } finally {
      await merchant.client.account.update({ signing_required: false });
    }
  });
});

describe('card-number guard exemptions through the API', () => {
  let test: TestPlatform;

  beforeAll(async () => {
    test = await startTestPlatform();
  });

  afterAll(async () => {
    await test.close();
  });

  it('lets IMEIs and long order numbers through, and exempted fields hold numbers that look like cards', async () => {
    const merchant = await createTestMerchant(test, 'Phones');
    const imei = withLuhnCheckDigit('35332011176148');
    const customer = await merchant.client.customers.create({ name: 'Ada', description: `Phone IMEI ${imei}, order 2024000000000000012345` });
    expect(customer.description).toContain(imei);

    // A 16-digit order number that starts with 4 and passes the Luhn check is a Visa number as far
    // as anyone can tell: refused, until the merchant says its references are not card data.
    const order_number = withLuhnCheckDigit('400000123456789');
    const order = { currency: 'usd', line_items: [{ description: 'Phone', quantity: 1, unit_amount: 50_000 }], merchant_reference: order_number };
    await expect(merchant.client.orders.create(order)).rejects.toMatchObject({ code: 'card_number_not_allowed', param: 'merchant_reference' });
    const updated = await merchant.client.account.update({ card_number_guard_exempt_fields: ['merchant_reference'] });
    expect(updated.card_number_guard_exempt_fields).toEqual(['merchant_reference']);
    const created = await merchant.client.orders.create(order);
    expect(created.merchant_reference).toBe(order_number);
    // Only that field: the same number in a line item is still refused.
    await expect(
      merchant.client.orders.create({ ...order, line_items: [{ description: `Phone ${order_number}`, quantity: 1, unit_amount: 50_000 }] }),
    ).rejects.toMatchObject({ code: 'card_number_not_allowed', param: 'line_items[0].description' });
    // Another merchant's exemptions are its own.
    const other = await createTestMerchant(test, 'Other');
    await expect(other.client.orders.create(order)).rejects.toMatchObject({ code: 'card_number_not_allowed' });
    // Fields outside the closed list are refused.
    const response = await fetch(`${test.url}/v1/account`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${merchant.secret_key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ card_number_guard_exempt_fields: ['name'] }),
    });
    expect(response.status).toBe(400);
  });
});
