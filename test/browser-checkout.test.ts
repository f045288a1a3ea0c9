// A checkout page in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) loads a page that uses the browser build of the SDK to create a card token
// with a publishable key. From an origin the merchant allowed it gets the token; from another
// origin, and for a secret-key route from anywhere, the browser itself refuses the answer.
//
// Without /usr/bin/chromium the suite fails in CI (CI=true), where .ci/run installs it, and is
// skipped with a [skip] line elsewhere.
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporaryDirectory, type TemporaryDirectory } from '@paygrid/kernel/testing';
import { bundleForBrowser } from '@paygrid/sdk/browser-bundle';
import { createTestMerchant, freePort, startTestPlatform, type TestPlatform } from './support/platform';

const chromium_path = '/usr/bin/chromium';
/** The browser's own chatter (updates, sync, QUIC probes) is off: the test talks only to 127.0.0.1 and localhost. */
const chromium_args = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const chromium_present = existsSync(chromium_path);
const in_ci = process.env.CI === 'true';
if (!chromium_present && !in_ci) console.warn(`[skip] browser suites skipped: ${chromium_path} is missing (apt-get install chromium)`);

/** What the page reports back from one call: the token's id, or the error's class and message. */
type PageResult = { readonly ok: true; readonly id: string } | { readonly ok: false; readonly name: string; readonly message: string };

const page_html = `<!doctype html>
<html><head><meta charset="utf-8"><title>Checkout</title></head>
<body><p>Checkout</p>
<script type="module">
  import { PaygridBrowser } from '/paygrid-browser.js';
  window.createToken = async (base_url, publishable_key) => {
    const paygrid = new PaygridBrowser({ publishable_key, base_url, max_retries: 0 });
    try {
      const token = await paygrid.tokens.create({ card: { number: '4242 4242 4242 4242', exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' } });
      return { ok: true, id: token.id };
    } catch (error) {
      return { ok: false, name: error.constructor.name, message: String(error.message) };
    }
  };
  window.rawFetch = async (url, key) => {
    try {
      const response = await fetch(url, { headers: { authorization: 'Bearer ' + key } });
      return { ok: true, id: String(response.status) };
    } catch (error) {
      return { ok: false, name: error.constructor.name, message: String(error.message) };
    }
  };
  window.ready = true;
</script></body></html>`;

/** Serves the checkout page and the SDK bundle, as a merchant's web server would. */
async function startPageServer(port: number, bundle: string): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.url === '/paygrid-browser.js') {
      response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(bundle);
    } else if (request.url === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page_html);
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
  return server;
}

describe.skipIf(!chromium_present && !in_ci)('checkout in a real browser', () => {
  let test: TestPlatform;
  let merchant: Awaited<ReturnType<typeof createTestMerchant>>;
  let profile: TemporaryDirectory;
  let context: BrowserContext;
  const page_servers: Server[] = [];
  let allowed_origin: string;
  let other_origin: string;

  /** How many POST /v1/tokens the platform answered with this status, from its own metrics. */
  async function tokenAnswers(status: number): Promise<number> {
    const response = await fetch(`${test.url}/metrics`, { headers: { authorization: `Bearer ${test.operator_key}` } });
    const line = `paygrid_http_request_duration_seconds_count{method="POST",route="/v1/tokens",status_code="${status}"} `;
    const found = (await response.text()).split('\n').find((candidate) => candidate.startsWith(line));
    return found === undefined ? 0 : Number.parseInt(found.slice(line.length), 10);
  }

  beforeAll(async () => {
    if (!chromium_present) throw new Error(`${chromium_path} is missing; .ci/run installs it with apt-get install chromium`);
    test = await startTestPlatform();
    merchant = await createTestMerchant(test, 'Browser shop');
    const bundle = await bundleForBrowser();
    const [allowed_port, other_port] = [await freePort(), await freePort()];
    page_servers.push(await startPageServer(allowed_port, bundle.code), await startPageServer(other_port, bundle.code));
    allowed_origin = `http://127.0.0.1:${allowed_port}`;
    // Same machine, another origin: another host name and another port.
    other_origin = `http://localhost:${other_port}`;
    await merchant.client.account.update({ allowed_origins: [allowed_origin] });
    profile = await temporaryDirectory();
    context = await chromium.launchPersistentContext(profile.path, { executablePath: chromium_path, headless: true, args: chromium_args });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await profile?.remove();
    await Promise.all(page_servers.map((server) => new Promise((done) => server.close(done))));
    await test?.close();
  });

  async function openCheckout(origin: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => (globalThis as unknown as { ready?: boolean }).ready === true);
    return page;
  }

  function createToken(page: Page, key: string): Promise<PageResult> {
    return page.evaluate(
      async ([base_url, publishable_key]) => {
        const run = (globalThis as unknown as { createToken: (url: string, key: string) => Promise<PageResult> }).createToken;
        return run(base_url, publishable_key);
      },
      [test.url, key] as const,
    );
  }

  it('creates a token from a page on an allowed origin', async () => {
    const page = await openCheckout(allowed_origin);
    const result = await createToken(page, merchant.publishable_key);
    expect(result).toEqual({ ok: true, id: expect.stringMatching(/^tok_/) as unknown });
    await page.close();
  });

  it('fails in the browser from a page on another origin, refused by the server as well', async () => {
    const page = await openCheckout(other_origin);
    const [refused_before, created_before] = [await tokenAnswers(403), await tokenAnswers(200)];
    const result = await createToken(page, merchant.publishable_key);
    // The answer has no Access-Control-Allow-Origin: fetch rejects, and the SDK reports a connection error.
    expect(result).toMatchObject({ ok: false, name: 'ConnectionError' });
    // The server refused it too (origin_not_allowed), so no token was made for a page that could not read it.
    expect([await tokenAnswers(403), await tokenAnswers(200)]).toEqual([refused_before + 1, created_before]);
    await page.close();
  });

  it('cannot read a secret-key route even from the allowed origin', async () => {
    const page = await openCheckout(allowed_origin);
    const result = await page.evaluate(
      async ([url, key]) => {
        const run = (globalThis as unknown as { rawFetch: (url: string, key: string) => Promise<PageResult> }).rawFetch;
        return run(url, key);
      },
      [`${test.url}/v1/customers`, merchant.secret_key] as const,
    );
    expect(result).toMatchObject({ ok: false, name: 'TypeError' });
    await page.close();
  });
});
