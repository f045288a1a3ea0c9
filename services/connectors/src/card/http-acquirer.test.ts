// The HTTP acquirer transport against an HTTPS acquirer this test starts, with certificates it
// makes: a private CA, the acquirer's server certificate, and client certificates for mutual TLS.
// Every call must carry the credential the acquirer asks for, card data travels only over TLS
// (plain http only to this machine), and a caller without the right credential moves nothing.
import { randomBytes } from 'node:crypto';
import selfsigned from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AssertionError, randomId } from '@paygrid/kernel';
import type { AuthorizeRequest } from '../connector';
import type { AcquirerCard } from './acquirer';
import { CardConnector, type CardVault } from './card-connector';
import { createHttpCardAcquirer, type HttpCardAcquirer, type HttpCardAcquirerOptions } from './http-acquirer';
import { startCardAcquirerServer, type CardAcquirerServer } from './server';
import { CardAcquirerSimulator, test_card_numbers } from './simulator';

const day_ms = 24 * 60 * 60 * 1_000;
const timeout_ms = 3_000;

interface Pem {
  readonly cert: string;
  readonly key: string;
}

async function certificateAuthority(name: string): Promise<Pem> {
  const pems = await selfsigned.generate([{ name: 'commonName', value: name }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + day_ms),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

async function signedBy(authority: Pem, name: string, usage: 'server' | 'client'): Promise<Pem> {
  const pems = await selfsigned.generate([{ name: 'commonName', value: name }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + day_ms),
    ca: { key: authority.key, cert: authority.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      usage === 'server' ? { name: 'extKeyUsage', serverAuth: true } : { name: 'extKeyUsage', clientAuth: true },
      ...(usage === 'server' ? [{ name: 'subjectAltName' as const, altNames: [{ type: 7 as const, ip: '127.0.0.1' }, { type: 2 as const, value: 'localhost' }] }] : []),
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

class TestVault implements CardVault {
  readonly #cards = new Map<string, AcquirerCard>();

  add(number: string): string {
    const token = randomId('tok');
    this.#cards.set(token, { number, exp_month: 12, exp_year: new Date().getUTCFullYear() + 3, cvc: '123' });
    return token;
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async detokenize(token_id: string): Promise<AcquirerCard> {
    const card = this.#cards.get(token_id);
    if (card === undefined) throw new Error(`No such token: ${token_id}`);
    return card;
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async eraseCvc(): Promise<void> {
    return undefined;
  }
}

function payment(token: string): AuthorizeRequest {
  return {
    merchant_id: 'mer_test',
    livemode: false,
    amount: 1_500n,
    currency: 'USD',
    payment_method: { type: 'card', token },
    capture_method: 'automatic',
    description: 'Order 7',
  };
}

describe('the HTTP card acquirer over TLS, with its credentials', () => {
  let authority: Pem;
  let stranger_authority: Pem;
  let client: Pem;
  let stranger_client: Pem;
  let server_certificate: Pem;
  const token = randomBytes(24).toString('base64url');
  const vault = new TestVault();
  const acquirers: HttpCardAcquirer[] = [];
  const servers: CardAcquirerServer[] = [];

  beforeAll(async () => {
    authority = await certificateAuthority('Test acquirer CA');
    stranger_authority = await certificateAuthority('Someone else');
    server_certificate = await signedBy(authority, 'localhost', 'server');
    client = await signedBy(authority, 'paygrid', 'client');
    stranger_client = await signedBy(stranger_authority, 'paygrid', 'client');
  });

  afterAll(async () => {
    for (const acquirer of acquirers) await acquirer.close();
    for (const server of servers) await server.close();
  });

  function connectorFor(options: HttpCardAcquirerOptions): { connector: CardConnector; acquirer: HttpCardAcquirer } {
    const acquirer = createHttpCardAcquirer(options);
    acquirers.push(acquirer);
    return { connector: new CardConnector({ cards: vault, acquirer }), acquirer };
  }

  async function start(options: Parameters<typeof startCardAcquirerServer>[1]): Promise<{ server: CardAcquirerServer; simulator: CardAcquirerSimulator }> {
    const simulator = new CardAcquirerSimulator();
    const server = await startCardAcquirerServer(simulator, options);
    servers.push(server);
    return { server, simulator };
  }

  async function pays(connector: CardConnector): Promise<boolean> {
    const reference = randomId('att');
    const outcome = await connector.authorize(payment(vault.add(test_card_numbers.succeeds)), { idempotency_reference: reference, timeout_ms });
    return outcome.status === 'authorized';
  }

  it('authenticates with a bearer secret over https to an acquirer signed by a private CA', async () => {
    const { server, simulator } = await start({ bearer_token: token, tls: { cert: server_certificate.cert, key: server_certificate.key } });
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const { connector, acquirer } = connectorFor({ url: server.url, bearer_token: token, ca: authority.cert });
    expect(acquirer.authentication).toEqual(['bearer']);
    const reference = randomId('att');
    const outcome = await connector.authorize(payment(vault.add(test_card_numbers.succeeds)), { idempotency_reference: reference, timeout_ms });
    expect(outcome).toMatchObject({ status: 'authorized', captured: true });
    expect(await connector.status(reference, { timeout_ms })).toMatchObject({ status: 'captured', amount_captured: 1_500n });
    if (outcome.status !== 'authorized') throw new Error('expected authorized');
    expect(simulator.authorization(outcome.provider_reference)).toMatchObject({ state: 'captured', card_last4: '4242' });

    // The wrong secret, or none, is refused at the door: the acquirer sees no payment.
    for (const bearer_token of ['x'.repeat(32), undefined]) {
      const intruder = connectorFor({ url: server.url, ca: authority.cert, ...(bearer_token === undefined ? {} : { bearer_token }) }).connector;
      const refused = randomId('att');
      const answer = await intruder.authorize(payment(vault.add(test_card_numbers.succeeds)), { idempotency_reference: refused, timeout_ms });
      expect(answer).toMatchObject({ status: 'unknown', reason: expect.stringContaining('refused our credentials (HTTP 401)') as unknown });
      await expect(intruder.status(refused, { timeout_ms })).rejects.toMatchObject({ code: 'provider_unavailable' });
      expect(await simulator.status(refused)).toEqual({ status: 'not_found' });
    }

    // Without the private CA the acquirer's certificate is not trusted, so nothing is sent.
    expect(await pays(connectorFor({ url: server.url, bearer_token: token }).connector)).toBe(false);
  });

  it('authenticates with a client certificate (mutual TLS), and a connection without the right one is refused', async () => {
    const { server, simulator } = await start({ tls: { cert: server_certificate.cert, key: server_certificate.key, client_ca: authority.cert } });
    const { connector, acquirer } = connectorFor({ url: server.url, client_certificate: client, ca: authority.cert });
    expect(acquirer.authentication).toEqual(['mutual_tls']);
    expect(await pays(connector)).toBe(true);

    const without = connectorFor({ url: server.url, ca: authority.cert, bearer_token: token }).connector;
    const reference = randomId('att');
    expect(await without.authorize(payment(vault.add(test_card_numbers.succeeds)), { idempotency_reference: reference, timeout_ms })).toMatchObject({ status: 'unknown' });
    expect(await simulator.status(reference)).toEqual({ status: 'not_found' });
    expect(await pays(connectorFor({ url: server.url, client_certificate: stranger_client, ca: authority.cert }).connector)).toBe(false);
  });

  it('sends both credentials when both are configured', async () => {
    const { server } = await start({ bearer_token: token, tls: { cert: server_certificate.cert, key: server_certificate.key, client_ca: authority.cert } });
    const both = connectorFor({ url: server.url, bearer_token: token, client_certificate: client, ca: authority.cert });
    expect(both.acquirer.authentication).toEqual(['bearer', 'mutual_tls']);
    expect(await pays(both.connector)).toBe(true);
    // Either credential alone falls short of what this acquirer asks for.
    expect(await pays(connectorFor({ url: server.url, client_certificate: client, ca: authority.cert }).connector)).toBe(false);
    expect(await pays(connectorFor({ url: server.url, bearer_token: token, ca: authority.cert }).connector)).toBe(false);
  });

  it('sends card data over plain http only to this machine', () => {
    expect(() => createHttpCardAcquirer({ url: 'http://10.0.0.7:8443', bearer_token: token })).toThrow(AssertionError);
    expect(() => createHttpCardAcquirer({ url: 'http://acquirer.example', bearer_token: token })).toThrow(AssertionError);
    expect(() => createHttpCardAcquirer({ url: 'http://127.0.0.1:9', client_certificate: client })).toThrow(AssertionError);
    for (const url of ['http://127.0.0.1:9', 'http://localhost:9', 'http://[::1]:9', 'https://acquirer.example']) {
      const acquirer = createHttpCardAcquirer({ url, bearer_token: token });
      acquirers.push(acquirer);
    }
  });
});
