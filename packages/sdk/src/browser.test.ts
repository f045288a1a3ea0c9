import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PaygridBrowser, PermissionError, ConnectionError, randomIdempotencyKey } from './browser';
import { browser_entry, bundleForBrowser } from './browser-bundle';

const source_folder = dirname(browser_entry);

describe('the browser build', () => {
  it('bundles for browsers from the SDK sources alone, importing nothing from Node', async () => {
    const bundle = await bundleForBrowser();
    expect(bundle.inputs).toContain(browser_entry);
    for (const input of bundle.inputs) {
      expect(input.startsWith(`${source_folder}/`), input).toBe(true);
      expect(input).not.toMatch(/node:|node_modules/);
    }
    // Neither the Node client, nor signing or webhooks (which need node:crypto), is in it.
    for (const file of ['client.ts', 'signing.ts', 'webhooks.ts', 'index.ts', 'browser-bundle.ts']) expect(bundle.inputs).not.toContain(join(source_folder, file));
    expect(bundle.code).not.toMatch(/["']node:|\brequire\(/);
    expect(bundle.code).toContain('PaygridBrowser');
  });

  it('refuses to bundle the Node entry, which does import from Node: the check above can fail', async () => {
    await expect(bundleForBrowser(join(source_folder, 'index.ts'))).rejects.toThrow(/node:crypto/);
  });
});

describe('PaygridBrowser', () => {
  it('takes only publishable keys', () => {
    for (const key of ['sk_test_abc', 'sk_live_abc', 'opk_abc', '', 'pk_abc']) {
      expect(() => new PaygridBrowser({ publishable_key: key })).toThrow(TypeError);
    }
    expect(() => new PaygridBrowser({ publishable_key: 'pk_test_abc' })).not.toThrow();
  });

  it('creates a token with the key, JSON and an idempotency key, and no header a page could not send without asking', async () => {
    const sent: { url: string; init: RequestInit | undefined; self: unknown }[] = [];
    const fetch_like = function (this: unknown, input: string | URL | Request, init?: RequestInit): Promise<Response> {
      sent.push({ url: input instanceof Request ? input.url : input.toString(), init, self: this });
      return Promise.resolve(new Response(JSON.stringify({ id: 'tok_1', object: 'token' }), { status: 200, headers: { 'content-type': 'application/json' } }));
    };
    const paygrid = new PaygridBrowser({ publishable_key: 'pk_test_abc', base_url: 'https://api.example.com', fetch: fetch_like });
    const token = await paygrid.tokens.create({ card: { number: '4242424242424242', exp_month: 12, exp_year: 2040, cvc: '123' } });
    expect(token.id).toBe('tok_1');
    expect(sent).toHaveLength(1);
    const [request] = sent;
    expect(request?.url).toBe('https://api.example.com/v1/tokens');
    // A browser's fetch refuses to run as a method of anything but the window.
    expect(request?.self).toBeUndefined();
    const headers = request?.init?.headers as Record<string, string>;
    expect(Object.keys(headers).sort()).toEqual(['accept', 'authorization', 'content-type', 'idempotency-key']);
    expect(headers.authorization).toBe('Bearer pk_test_abc');
    expect(headers['idempotency-key']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('turns a refusal into a typed error and a refused answer into a connection error', async () => {
    const refused = new PaygridBrowser({
      publishable_key: 'pk_test_abc',
      max_retries: 0,
      fetch: () => Promise.resolve(new Response(JSON.stringify({ error: { type: 'permission_error', code: 'origin_not_allowed', message: 'no' } }), { status: 403 })),
    });
    await expect(refused.tokens.create({ card: { number: '4242424242424242', exp_month: 12, exp_year: 2040, cvc: '123' } })).rejects.toBeInstanceOf(PermissionError);
    // What a browser does with an answer that lacks the allow-origin header.
    const blocked = new PaygridBrowser({ publishable_key: 'pk_test_abc', max_retries: 0, fetch: () => Promise.reject(new TypeError('Failed to fetch')) });
    await expect(blocked.tokens.create({ card: { number: '4242424242424242', exp_month: 12, exp_year: 2040, cvc: '123' } })).rejects.toBeInstanceOf(ConnectionError);
  });
});

describe('randomIdempotencyKey', () => {
  it('draws version 4 UUIDs, never the same twice', () => {
    const keys = new Set(Array.from({ length: 1000 }, () => randomIdempotencyKey()));
    expect(keys.size).toBe(1000);
    for (const key of keys) expect(key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
