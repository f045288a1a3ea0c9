// The gateway's idempotency record when a service it calls stops answering (multi-process mode).
// A call that is not idempotent by itself (creating a wallet) and may have reached its service is
// answered 503 `wallet_outcome_unknown`. Running it again under the same key could create a second
// wallet, so the answer is kept and replayed, and the service sees the call once. A 5xx that
// carried nothing out frees the key, and a retry runs again.
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Paygrid, PaygridError } from '@paygrid/sdk';
import { startPlatform, type RunningPlatform } from '../apps/cli/src/platform';
import { freePort } from './support/platform';
import { temporaryDirectory } from '@paygrid/kernel/testing';

type WalletAnswer = 'drop_connection' | 'shutting_down' | 'slow_refusal';

/** How long the stand-in takes over a slow refusal: longer than the client waits. */
const slow_refusal_ms = 1_500;

/** Stands in for a wallet process: healthy to its health checks, and answers createWallet as told. */
class StandInWallet {
  answer: WalletAnswer = 'drop_connection';
  create_wallet_calls = 0;
  readonly #server: Server;

  constructor() {
    this.#server = createServer((request, response) => this.#handle(request, response));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    if (request.url === '/readyz' || request.url === '/healthz') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (request.url !== '/internal/wallet/createWallet') {
      response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"type":"invalid_request_error","code":"resource_missing","message":"not here"}}');
      return;
    }
    this.create_wallet_calls += 1;
    request.resume();
    request.on('end', () => {
      if (this.answer === 'slow_refusal') {
        setTimeout(() => {
          response
            .writeHead(400, { 'content-type': 'application/json' })
            .end('{"error":{"type":"invalid_request_error","code":"wallet_exists","message":"The customer already has a wallet in this currency"}}');
        }, slow_refusal_ms);
        return;
      }
      if (this.answer === 'drop_connection') {
        // The request arrived and nothing came back: the wallet may have created the wallet.
        request.socket.destroy();
        return;
      }
      response
        .writeHead(503, { 'content-type': 'application/json' })
        .end('{"error":{"type":"service_unavailable_error","code":"shutting_down","message":"The service is shutting down"}}');
    });
  }
}

/**
 * A fetch for a client that gives up: it sends the request and, when the caller aborts, closes the
 * connection as a client that goes away does. (Node's own fetch keeps the connection of a request
 * whose body was sent, so the server would never learn that its client left.)
 */
const fetchThatHangsUp: typeof fetch = (input, init) =>
  new Promise<Response>((_resolve, reject) => {
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const outgoing = httpRequest(new URL(input instanceof Request ? input.url : String(input)), { method: init?.method ?? 'GET', headers });
    outgoing.on('error', () => undefined);
    init?.signal?.addEventListener('abort', () => {
      outgoing.destroy();
      reject(new DOMException('The client gave up', 'AbortError'));
    });
    outgoing.end(init?.body as string | undefined);
  });

describe('an idempotency key whose request met a service that stopped answering', () => {
  const wallet = new StandInWallet();
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
  let platform: RunningPlatform;
  let merchant: Paygrid;
  let customer_id: string;
  let merchant_secret_key: string;
  let merchant_signing_secret: string;

  beforeAll(async () => {
    directory = await temporaryDirectory();
    const operator_key = `op-test-${randomBytes(24).toString('hex')}`;
    const wallet_url = await wallet.listen();
    platform = await startPlatform({
      services: ['gateway', 'identity', 'ledger', 'vault', 'webhooks', 'payments'],
      port: await freePort(),
      env: {
        DATA_DIR: directory.path,
        PAYGRID_OPERATOR_KEY: operator_key,
        LOG_LEVEL: 'silent',
        WALLET_SERVICE_URLS: wallet_url,
      },
    });
    const operator = new Paygrid({ api_key: operator_key, base_url: platform.url, max_retries: 0 });
    const created = await operator.merchants.create({ name: 'Acme' });
    merchant_secret_key = created.secret_key;
    merchant_signing_secret = created.signing_secret;
    merchant = new Paygrid({ api_key: created.secret_key, signing_secret: created.signing_secret, base_url: platform.url, max_retries: 0 });
    customer_id = (await merchant.customers.create({ name: 'Alice' })).id;
  });

  afterAll(async () => {
    await platform.close();
    await wallet.close();
    await directory.remove();
  });

  async function refusal(call: Promise<unknown>): Promise<PaygridError> {
    const error = await call.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(PaygridError);
    return error as PaygridError;
  }

  it('replays wallet_outcome_unknown to a retry with the same key, and never sends the create again', async () => {
    wallet.answer = 'drop_connection';
    const idempotency_key = `create-${randomBytes(6).toString('hex')}`;
    const first = await refusal(merchant.wallets.create({ customer: customer_id, currency: 'usd' }, { idempotency_key }));
    expect(first.status).toBe(503);
    expect(first.code).toBe('wallet_outcome_unknown');
    expect(wallet.create_wallet_calls).toBe(1);

    for (let retry = 0; retry < 3; retry += 1) {
      const again = await refusal(merchant.wallets.create({ customer: customer_id, currency: 'usd' }, { idempotency_key }));
      expect(again.status).toBe(503);
      expect(again.code).toBe('wallet_outcome_unknown');
    }
    expect(wallet.create_wallet_calls).toBe(1);
  });

  it('frees the key after a 5xx that carried nothing out, so a retry runs again', async () => {
    wallet.answer = 'shutting_down';
    const before = wallet.create_wallet_calls;
    const idempotency_key = `create-${randomBytes(6).toString('hex')}`;
    const first = await refusal(merchant.wallets.create({ customer: customer_id, currency: 'usd' }, { idempotency_key }));
    expect(first.status).toBe(503);
    expect(first.code).toBe('shutting_down');
    const again = await refusal(merchant.wallets.create({ customer: customer_id, currency: 'usd' }, { idempotency_key }));
    expect(again.code).toBe('shutting_down');
    expect(wallet.create_wallet_calls).toBe(before + 2);
  });

  it('keeps the key of a request whose client went away, until the request has its answer', async () => {
    wallet.answer = 'slow_refusal';
    const before = wallet.create_wallet_calls;
    const idempotency_key = `create-${randomBytes(6).toString('hex')}`;
    const impatient = new Paygrid({ api_key: merchant_secret_key, signing_secret: merchant_signing_secret, base_url: platform.url, max_retries: 0, timeout_ms: 200, fetch: fetchThatHangsUp });
    const gave_up = await impatient.wallets.create({ customer: customer_id, currency: 'usd' }, { idempotency_key }).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(gave_up).toBeInstanceOf(Error);

    // The first request still runs in the gateway, so a retry finds the key in use, not free.
    const while_running = await refusal(merchant.wallets.create({ customer: customer_id, currency: 'usd' }, { idempotency_key }));
    expect(while_running.code).toBe('idempotency_key_in_use');

    await new Promise((resolve) => setTimeout(resolve, slow_refusal_ms + 500));
    const replayed = await refusal(merchant.wallets.create({ customer: customer_id, currency: 'usd' }, { idempotency_key }));
    expect(replayed.code).toBe('wallet_exists');
    expect(wallet.create_wallet_calls).toBe(before + 1);
  });
});
