// The public API's security suite: every hostile or malformed request is refused in the one
// error shape, and nothing changes. It runs with the in-memory cache and, when REDIS_URL is set,
// again with the Redis cache adapter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisUrl } from '@paygrid/kernel/testing';
import { signRequest } from '@paygrid/sdk/signing';
import { createTestMerchant, startTestPlatform, type TestPlatform } from './support/platform';

interface RawResponse {
  readonly status: number;
  readonly body: { error?: { type: string; code: string; message: string; param?: string } } & Record<string, unknown>;
  readonly headers: Headers;
}

interface RawRequest {
  readonly method?: string;
  readonly path: string;
  readonly key?: string;
  /** Sent as is when a string, JSON-encoded otherwise. */
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  /** Sign with this secret (over the exact bytes sent) unless a header is given. */
  readonly signing_secret?: string;
}

const caches: { name: string; redis_url?: string }[] = [{ name: 'memory cache' }];
const redis_url = redisUrl();
if (redis_url !== undefined) caches.push({ name: 'Redis cache', redis_url });

describe.each(caches)('API security ($name)', ({ redis_url }) => {
  let test: TestPlatform;
  let merchant: Awaited<ReturnType<typeof createTestMerchant>>;
  let other: Awaited<ReturnType<typeof createTestMerchant>>;
  let source: string;
  let destination: string;
  let other_wallet: string;
  let other_customer: string;

  async function send(request: RawRequest): Promise<RawResponse> {
    const method = request.method ?? (request.body === undefined ? 'GET' : 'POST');
    const body = request.body === undefined ? undefined : typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
    const headers: Record<string, string> = { ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
    if (request.key !== undefined) headers.authorization = `Bearer ${request.key}`;
    if (request.signing_secret !== undefined) headers['paygrid-signature'] = signRequest(request.signing_secret, { method, path: request.path, body: body ?? '' });
    Object.assign(headers, request.headers);
    const response = await fetch(`${test.url}${request.path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await response.text();
    return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as RawResponse['body'], headers: response.headers };
  }

  function expectRefused(response: RawResponse, status: number, type: string, code?: string): void {
    expect(response.status, JSON.stringify(response.body)).toBe(status);
    expect(response.body.error?.type).toBe(type);
    if (code !== undefined) expect(response.body.error?.code).toBe(code);
    expect(typeof response.body.error?.message).toBe('string');
  }

  /** Everything money-related that a refused request must leave as it was. */
  async function snapshot() {
    const [a, b, transfers, history] = await Promise.all([
      merchant.client.wallets.retrieve(source),
      merchant.client.wallets.retrieve(destination),
      merchant.client.walletTransfers.list({ limit: 100 }),
      merchant.client.wallets.listTransactions(source, { limit: 100 }),
    ]);
    return { a: a.balance, b: b.balance, transfers: transfers.data.length, history: history.data.length };
  }

  beforeAll(async () => {
    test = await startTestPlatform(redis_url === undefined ? {} : { redis_url });
    merchant = await createTestMerchant(test, 'Acme');
    other = await createTestMerchant(test, 'Other');
    const alice = await merchant.client.customers.create({ name: 'Alice' });
    const bob = await merchant.client.customers.create({ name: 'Bob' });
    source = (await merchant.client.wallets.create({ customer: alice.id, currency: 'usd' })).id;
    destination = (await merchant.client.wallets.create({ customer: bob.id, currency: 'usd' })).id;
    await merchant.client.wallets.topUp(source, { amount: 10_000 });
    const carol = await other.client.customers.create({ name: 'Carol' });
    other_customer = carol.id;
    other_wallet = (await other.client.wallets.create({ customer: carol.id, currency: 'usd' })).id;
    await other.client.wallets.topUp(other_wallet, { amount: 5_000 });
  });

  afterAll(async () => {
    await test.close();
  });

  const transfer = () => ({ source, destination, amount: 100, currency: 'usd' });

  it('refuses missing, wrong and revoked keys, and a suspended merchant moving money', async () => {
    const before = await snapshot();
    expectRefused(await send({ path: '/v1/wallet_transfers', body: transfer() }), 401, 'authentication_error', 'api_key_missing');
    expectRefused(await send({ path: '/v1/wallet_transfers', body: transfer(), key: 'sk_test_wrongwrongwrongwrongwrongwrongwr' }), 401, 'authentication_error', 'api_key_invalid');
    expectRefused(await send({ path: '/v1/wallet_transfers', body: transfer(), key: 'not a key at all' }), 401, 'authentication_error');
    expectRefused(await send({ path: '/v1/wallet_transfers', body: transfer(), headers: { authorization: `Basic ${merchant.secret_key}` } }), 401, 'authentication_error');

    // A second secret key, revoked: it stops at once, and the merchant's other key still works.
    const spare = await test.operator.merchants.createApiKey(merchant.id, { type: 'secret', livemode: false });
    expect((await send({ path: '/v1/account', key: spare.secret })).status).toBe(200);
    await test.operator.merchants.revokeApiKey(merchant.id, spare.id);
    expectRefused(await send({ path: '/v1/wallet_transfers', body: transfer(), key: spare.secret }), 401, 'authentication_error', 'api_key_revoked');

    await test.operator.merchants.update(merchant.id, { status: 'suspended' });
    // A suspended merchant's keys still authenticate: it reads its records, and moves nothing (decision 65).
    expectRefused(await send({ path: '/v1/wallet_transfers', body: transfer(), key: merchant.secret_key, signing_secret: merchant.signing_secret }), 403, 'permission_error', 'merchant_suspended');
    expect((await send({ path: `/v1/wallets/${source}`, key: merchant.secret_key })).status).toBe(200);
    await test.operator.merchants.update(merchant.id, { status: 'active' });
    expect(await snapshot()).toEqual(before);
  });

  it('refuses a publishable key on a secret-key route, and merchant keys on operator routes', async () => {
    expectRefused(await send({ path: '/v1/wallet_transfers', body: transfer(), key: merchant.publishable_key }), 401, 'authentication_error', 'secret_key_required');
    expectRefused(await send({ path: '/v1/customers', key: merchant.publishable_key }), 401, 'authentication_error', 'secret_key_required');
    expectRefused(await send({ path: '/v1/merchants', body: { name: 'Mallory' }, key: merchant.secret_key }), 401, 'authentication_error', 'operator_key_required');
    expectRefused(await send({ path: `/v1/merchants/${other.id}`, method: 'PATCH', body: { status: 'suspended' }, key: merchant.secret_key }), 401, 'authentication_error');
    expectRefused(await send({ path: '/v1/customers', key: test.operator_key }), 401, 'authentication_error', 'api_key_invalid');
  });

  it('refuses tampered, stale, future, replayed and malformed signatures', async () => {
    const before = await snapshot();
    const key = merchant.secret_key;
    const secret = merchant.signing_secret;
    const body = JSON.stringify(transfer());
    const now = Math.floor(Date.now() / 1000);
    const sign = (method: string, path: string, signed_body: string, options: { now_seconds?: number; nonce?: string } = {}) =>
      signRequest(secret, { method, path, body: signed_body }, options);

    // The body is changed after signing (a larger amount).
    const tampered_body = JSON.stringify({ ...transfer(), amount: 9_000 });
    expectRefused(await send({ path: '/v1/wallet_transfers', body: tampered_body, key, headers: { 'paygrid-signature': sign('POST', '/v1/wallet_transfers', body) } }), 401, 'authentication_error', 'signature_mismatch');
    // The path is changed after signing.
    expectRefused(
      await send({ path: `/v1/wallets/${destination}/top_ups`, body: JSON.stringify({ amount: 100 }), key, headers: { 'paygrid-signature': sign('POST', `/v1/wallets/${source}/top_ups`, JSON.stringify({ amount: 100 })) } }),
      401,
      'authentication_error',
      'signature_mismatch',
    );
    // The query is changed after signing.
    expectRefused(await send({ path: '/v1/customers?limit=2', key, headers: { 'paygrid-signature': sign('GET', '/v1/customers?limit=1', '') } }), 401, 'authentication_error', 'signature_mismatch');
    // The method is changed after signing.
    expectRefused(await send({ path: `/v1/wallets/${source}`, method: 'PATCH', body: '{"status":"frozen"}', key, headers: { 'paygrid-signature': sign('GET', `/v1/wallets/${source}`, '{"status":"frozen"}') } }), 401, 'authentication_error', 'signature_mismatch');
    // The wrong secret.
    expectRefused(await send({ path: '/v1/wallet_transfers', body, key, signing_secret: other.signing_secret }), 401, 'authentication_error', 'signature_mismatch');
    // Stale and future timestamps, just outside the window.
    expectRefused(await send({ path: '/v1/wallet_transfers', body, key, headers: { 'paygrid-signature': sign('POST', '/v1/wallet_transfers', body, { now_seconds: now - 400 }) } }), 401, 'authentication_error', 'signature_timestamp_out_of_range');
    expectRefused(await send({ path: '/v1/wallet_transfers', body, key, headers: { 'paygrid-signature': sign('POST', '/v1/wallet_transfers', body, { now_seconds: now + 400 }) } }), 401, 'authentication_error', 'signature_timestamp_out_of_range');
    // Malformed headers.
    for (const header of ['', 'garbage', `t=${now},v1=abc`, `t=${now},n=short,v1=${'0'.repeat(64)}`, `t=x,n=${'n'.repeat(20)},v1=${'0'.repeat(64)}`]) {
      expectRefused(await send({ path: '/v1/wallet_transfers', body, key, headers: { 'paygrid-signature': header } }), 401, 'authentication_error');
    }
    expect(await snapshot()).toEqual(before);

    // A replay of a good signed request: the first passes, the copy is refused.
    const replayed = sign('GET', `/v1/wallets/${source}`, '');
    expect((await send({ path: `/v1/wallets/${source}`, key, headers: { 'paygrid-signature': replayed } })).status).toBe(200);
    expectRefused(await send({ path: `/v1/wallets/${source}`, key, headers: { 'paygrid-signature': replayed } }), 401, 'authentication_error', 'signature_replayed');
  });

  it('requires a signature once the merchant turns signing on', async () => {
    await merchant.client.account.update({ signing_required: true });
    try {
      expectRefused(await send({ path: `/v1/wallets/${source}`, key: merchant.secret_key }), 401, 'authentication_error', 'signature_missing');
      expect((await send({ path: `/v1/wallets/${source}`, key: merchant.secret_key, signing_secret: merchant.signing_secret })).status).toBe(200);
    } finally {
      await merchant.client.account.update({ signing_required: false });
    }
  });

  it("answers 404 for another merchant's objects and for the other mode's", async () => {
    const before = await snapshot();
    const key = merchant.secret_key;
    const missing = await send({ path: '/v1/wallets/wal_doesnotexist000000000000', key });
    expectRefused(missing, 404, 'not_found_error', 'resource_missing');
    const foreign = await send({ path: `/v1/wallets/${other_wallet}`, key });
    expectRefused(foreign, 404, 'not_found_error', 'resource_missing');
    // The answer for someone else's id reads exactly like the one for an id that does not exist.
    expect(foreign.body.error?.message.replace(other_wallet, 'X')).toBe(missing.body.error?.message.replace('wal_doesnotexist000000000000', 'X'));
    expectRefused(await send({ path: `/v1/customers/${other_customer}`, key }), 404, 'not_found_error');
    expectRefused(await send({ path: `/v1/wallets/${other_wallet}/top_ups`, body: { amount: 100 }, key }), 404, 'not_found_error');
    expectRefused(await send({ path: `/v1/wallets/${other_wallet}/transactions`, key }), 404, 'not_found_error');
    expectRefused(await send({ path: '/v1/wallet_transfers', body: { ...transfer(), source: other_wallet }, key }), 404, 'not_found_error');
    expectRefused(await send({ path: '/v1/wallet_transfers', body: { ...transfer(), destination: other_wallet }, key }), 404, 'not_found_error');
    expectRefused(await send({ path: '/v1/wallets', body: { customer: other_customer, currency: 'usd' }, key }), 404, 'not_found_error');
    expectRefused(await send({ path: `/v1/wallets/${other_wallet}`, method: 'PATCH', body: { status: 'frozen' }, key }), 404, 'not_found_error');
    expect(await snapshot()).toEqual(before);
    expect((await other.client.wallets.retrieve(other_wallet)).balance.available).toBe(5_000);
  });

  it('keeps live data out of reach of test keys, and the other way round', async () => {
    await test.operator.merchants.update(merchant.id, { kyc_status: 'verified' });
    const live = await test.operator.merchants.createApiKey(merchant.id, { type: 'secret', livemode: true });
    const live_customer = await send({ path: '/v1/customers', body: { name: 'Live Larry' }, key: live.secret });
    expect(live_customer.status).toBe(200);
    expect(live_customer.body.livemode).toBe(true);
    const live_customer_id = String(live_customer.body.id);
    expectRefused(await send({ path: `/v1/customers/${live_customer_id}`, key: merchant.secret_key }), 404, 'not_found_error');
    expectRefused(await send({ path: `/v1/wallets/${source}`, key: live.secret }), 404, 'not_found_error');
    expectRefused(await send({ path: '/v1/wallets', body: { customer: live_customer_id, currency: 'usd' }, key: merchant.secret_key }), 404, 'not_found_error');
    const test_customers = await merchant.client.customers.list({ limit: 100 });
    expect(test_customers.data.map((customer) => customer.id)).not.toContain(live_customer_id);
  });

  it('refuses bad amounts, currencies, keys and strings with a 400 and moves nothing', async () => {
    const before = await snapshot();
    const key = merchant.secret_key;
    const raw = (amount: string) => `{"source":"${source}","destination":"${destination}","amount":${amount},"currency":"usd"}`;
    for (const amount of ['100.5', '1.0', '1e3', '-100', '0', '"100"', '9007199254740992', '1e400', 'null', 'true', '[100]']) {
      const response = await send({ path: '/v1/wallet_transfers', body: raw(amount), key });
      expectRefused(response, 400, 'invalid_request_error');
    }
    expectRefused(await send({ path: '/v1/wallet_transfers', body: { ...transfer(), currency: 'xyz' }, key }), 400, 'invalid_request_error');
    expectRefused(await send({ path: '/v1/wallet_transfers', body: { ...transfer(), currency: 'USD' }, key }), 400, 'invalid_request_error');
    expectRefused(await send({ path: '/v1/wallet_transfers', body: { ...transfer(), currency: 'eur' }, key }), 400, 'invalid_request_error');
    expectRefused(await send({ path: '/v1/wallet_transfers', body: { ...transfer(), destination: source }, key }), 400, 'invalid_request_error');
    expectRefused(await send({ path: '/v1/wallet_transfers', body: `{"__proto__":{"admin":true},"source":"${source}","destination":"${destination}","amount":100,"currency":"usd"}`, key }), 400, 'invalid_request_error');
    expectRefused(await send({ path: '/v1/wallet_transfers', body: `{"constructor":{"prototype":{"admin":true}},"source":"${source}","destination":"${destination}","amount":100,"currency":"usd"}`, key }), 400, 'invalid_request_error');
    expectRefused(await send({ path: '/v1/wallet_transfers', body: { ...transfer(), description: 'x'.repeat(1001) }, key }), 400, 'invalid_request_error');
    expectRefused(await send({ path: '/v1/wallet_transfers', body: { ...transfer(), unknown_field: 1 }, key }), 400, 'invalid_request_error');
    expectRefused(await send({ path: '/v1/wallet_transfers', body: '{"source":', key }), 400, 'invalid_request_error');
    expectRefused(await send({ path: '/v1/customers', body: { name: 'n'.repeat(257) }, key }), 400, 'invalid_request_error');
    expectRefused(await send({ path: '/v1/customers', body: { email: 'not-an-email' }, key }), 400, 'invalid_request_error');
    const card_in_text = await send({ path: '/v1/wallet_transfers', body: { ...transfer(), description: 'paid with 4242-4242-4242-4242' }, key });
    expectRefused(card_in_text, 400, 'invalid_request_error', 'card_number_not_allowed');
    expect(JSON.stringify(card_in_text.body)).not.toContain('4242');
    expectRefused(await send({ path: `/v1/wallets/${source}/top_ups`, body: { amount: 1.5 }, key }), 400, 'invalid_request_error');
    expectRefused(await send({ path: `/v1/wallets/${source}/withdrawals`, body: { amount: 100, bank_account: { account_holder_name: 'A', routing_number: '12', account_number: '000123456789' } }, key }), 400, 'invalid_request_error');
    expectRefused(await send({ path: '/v1/customers?limit=101', key }), 400, 'invalid_request_error');
    expectRefused(await send({ path: '/v1/customers?limit=1.5', key }), 400, 'invalid_request_error');
    expectRefused(await send({ path: '/v1/wallet_transfers', body: transfer(), key, headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type_error');
    expectRefused(await send({ path: '/v1/wallet_transfers', body: transfer(), key, headers: { 'idempotency-key': 'k'.repeat(256) } }), 400, 'invalid_request_error', 'idempotency_key_invalid');
    const huge = JSON.stringify({ ...transfer(), description: 'x'.repeat(1024 * 1024) });
    expectRefused(await send({ path: '/v1/wallet_transfers', body: huge, key }), 413, 'request_too_large_error');
    expect(await snapshot()).toEqual(before);

    // More than the wallet holds: refused, and no money moves (the failed attempt is on record).
    const refused = await send({ path: '/v1/wallet_transfers', body: { ...transfer(), amount: 10_000_000 }, key });
    expectRefused(refused, 400, 'invalid_request_error', 'insufficient_funds');
    const after = await snapshot();
    expect([after.a, after.b]).toEqual([before.a, before.b]);
  });

  it('replays an idempotent request, and refuses the key for a different request', async () => {
    const key = merchant.secret_key;
    const headers = { 'idempotency-key': `replay-${Date.now()}` };
    const before = await merchant.client.wallets.retrieve(source);
    const first = await send({ path: '/v1/wallet_transfers', body: transfer(), key, headers });
    expect(first.status).toBe(200);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const second = await send({ path: '/v1/wallet_transfers', body: transfer(), key, headers });
    expect(second.status).toBe(200);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body).toEqual(first.body);
    expectRefused(await send({ path: '/v1/wallet_transfers', body: { ...transfer(), amount: 101 }, key, headers }), 409, 'idempotency_error', 'idempotency_key_mismatch');
    // Another merchant may use the same key for its own request.
    const theirs = await send({ path: `/v1/wallets/${other_wallet}/top_ups`, body: { amount: 1 }, key: other.secret_key, headers });
    expect(theirs.status).toBe(200);
    expect((await merchant.client.wallets.retrieve(source)).balance.available).toBe(before.balance.available - 100);

    // Concurrent requests with one key: exactly one runs; the rest are replays or told to wait.
    const concurrent = { 'idempotency-key': `concurrent-${Date.now()}` };
    const answers = await Promise.all(Array.from({ length: 8 }, () => send({ path: '/v1/wallet_transfers', body: transfer(), key, headers: concurrent })));
    const ids = new Set(answers.filter((answer) => answer.status === 200).map((answer) => answer.body.id));
    expect(ids.size).toBe(1);
    for (const answer of answers.filter((candidate) => candidate.status !== 200)) expectRefused(answer, 409, 'idempotency_error', 'idempotency_key_in_use');
    expect((await merchant.client.wallets.retrieve(source)).balance.available).toBe(before.balance.available - 200);

    // A request that fails validation is not stored: the key still works for a valid request.
    const fresh = { 'idempotency-key': `validation-${Date.now()}` };
    expectRefused(await send({ path: '/v1/wallet_transfers', body: { ...transfer(), amount: -1 }, key, headers: fresh }), 400, 'invalid_request_error');
    expect((await send({ path: '/v1/wallet_transfers', body: transfer(), key, headers: fresh })).status).toBe(200);
  });
});

describe('API rate limits and CORS', () => {
  let test: TestPlatform;

  beforeAll(async () => {
    test = await startTestPlatform({ env: { GATEWAY_RATE_LIMIT_BURST: '5', GATEWAY_RATE_LIMIT_PER_SECOND: '1', DASHBOARD_ORIGIN: 'https://dashboard.example.com' } });
  });

  afterAll(async () => {
    await test.close();
  });

  it('answers 429 with Retry-After once a key spends its burst, per key', async () => {
    const merchant = await createTestMerchant(test);
    const other = await test.operator.merchants.createApiKey(merchant.id, { type: 'secret', livemode: false });
    const statuses: number[] = [];
    let retry_after: string | null = null;
    for (let index = 0; index < 7; index += 1) {
      const response = await fetch(`${test.url}/v1/customers`, { headers: { authorization: `Bearer ${merchant.secret_key}` } });
      statuses.push(response.status);
      if (response.status === 429) {
        retry_after = response.headers.get('retry-after');
        const body = (await response.json()) as { error: { type: string } };
        expect(body.error.type).toBe('rate_limit_error');
      } else {
        await response.arrayBuffer();
      }
    }
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.slice(5)).toEqual([429, 429]);
    expect(Number(retry_after)).toBeGreaterThanOrEqual(1);
    // Another key of the same merchant has a bucket of its own.
    const response = await fetch(`${test.url}/v1/customers`, { headers: { authorization: `Bearer ${other.secret}` } });
    expect(response.status).toBe(200);
  });

  it('allows the dashboard origin and no other', async () => {
    const preflight = (origin: string) =>
      fetch(`${test.url}/v1/customers`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,idempotency-key' } });
    const allowed = await preflight('https://dashboard.example.com');
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://dashboard.example.com');
    expect(allowed.headers.get('access-control-allow-headers')).toContain('idempotency-key');
    const refused = await preflight('https://evil.example.com');
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('compresses large responses with brotli or gzip as asked', async () => {
    for (const encoding of ['br', 'gzip']) {
      const response = await fetch(`${test.url}/v1/openapi.json`, { headers: { 'accept-encoding': encoding } });
      expect(response.headers.get('content-encoding')).toBe(encoding);
      // fetch decodes it: the document still parses.
      expect(((await response.json()) as { openapi: string }).openapi).toBe('3.1.0');
    }
  });
});
