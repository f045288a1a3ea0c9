import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, ManualClock, isWellFormedCardNumber, randomId } from '@paygrid/kernel';
import type { AuthorizeOutcome, AuthorizeRequest, DeclineCode } from '../connector';
import type { AcquirerCard, CardAcquirer } from './acquirer';
import { CardConnector, type CardVault } from './card-connector';
import { redactCardNumbers } from './redaction';
import { startCardAcquirerServer, type CardAcquirerServer } from './server';
import { CardAcquirerSimulator, simulator_livemode_message, test_card_numbers } from './simulator';

/** A vault double: tokens map to cards, and every CVC erasure is recorded. */
class TestVault implements CardVault {
  readonly cards = new Map<string, { number: string; exp_month: number; exp_year: number; cvc: string | null }>();
  readonly erased: string[] = [];

  add(number: string, exp_year = 2030, exp_month = 12): string {
    const token = randomId('tok');
    this.cards.set(token, { number, exp_month, exp_year, cvc: '123' });
    return token;
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async detokenize(token_id: string): Promise<AcquirerCard> {
    const card = this.cards.get(token_id);
    if (card === undefined) throw new Error(`No such token: ${token_id}`);
    return { ...card };
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async eraseCvc(token_id: string): Promise<void> {
    const card = this.cards.get(token_id);
    if (card !== undefined) card.cvc = null;
    this.erased.push(token_id);
  }
}

const timeout_ms = 2_000;

function request(token: string, overrides: Partial<AuthorizeRequest> = {}): AuthorizeRequest {
  return {
    merchant_id: 'mer_test',
    livemode: false,
    amount: 1_000n,
    currency: 'USD',
    payment_method: { type: 'card', token },
    capture_method: 'manual',
    description: 'Order 42',
    ...overrides,
  };
}

function call(reference = randomId('att')): { idempotency_reference: string; timeout_ms: number } {
  return { idempotency_reference: reference, timeout_ms };
}

function serialize(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item));
}

const all_card_numbers = [...Object.values(test_card_numbers), '5555555555554444'];

interface Harness {
  readonly simulator: CardAcquirerSimulator;
  readonly vault: TestVault;
  readonly connector: CardConnector;
  /** Completes a 3-D Secure challenge the way this transport's customer would. */
  completeChallenge(outcome: AuthorizeOutcome, decision: 'approve' | 'deny'): Promise<void>;
}

const transports = ['in-process', 'http'] as const;

describe.each(transports)('CardConnector over the %s transport', (transport) => {
  let harness: Harness;
  let server: CardAcquirerServer | undefined;

  beforeAll(async () => {
    const simulator = new CardAcquirerSimulator({ clock: new ManualClock() });
    const vault = new TestVault();
    server = transport === 'http' ? await startCardAcquirerServer(simulator) : undefined;
    const connector = new CardConnector({ cards: vault, acquirer: server === undefined ? simulator : { url: server.url } });
    harness = {
      simulator,
      vault,
      connector,
      completeChallenge: async (outcome, decision) => {
        if (outcome.status !== 'requires_action' || outcome.next_action.type !== 'redirect_to_url') throw new Error('no challenge');
        if (transport === 'in-process') {
          expect(simulator.completeChallenge(outcome.provider_reference, decision)).toMatchObject({ ok: true });
          return;
        }
        // The customer's browser opens the challenge page, then presses a button on it.
        const url = new URL(outcome.next_action.url);
        const page = await fetch(url);
        expect(page.status).toBe(200);
        const html = await page.text();
        expect(html).toContain('3220');
        expect(html).not.toContain(test_card_numbers.requires_authentication);
        const answer = await fetch(new URL(`${url.pathname}/${decision}`, url.origin), { method: 'POST', redirect: 'manual' });
        expect(answer.status).toBe(303);
        expect(answer.headers.get('location')).toBe('https://shop.example/return?order=42');
      },
    };
  });

  afterAll(async () => {
    await server?.close();
  });

  const expected_declines: ReadonlyArray<readonly [string, DeclineCode]> = [
    [test_card_numbers.card_declined, 'card_declined'],
    [test_card_numbers.insufficient_funds, 'insufficient_funds'],
    [test_card_numbers.expired_card, 'expired_card'],
    [test_card_numbers.incorrect_cvc, 'incorrect_cvc'],
    [test_card_numbers.processing_error, 'processing_error'],
  ];

  it.each(expected_declines)('declines %s with %s, and status reports the decline', async (number, code) => {
    const token = harness.vault.add(number);
    const reference = randomId('att');
    const outcome = await harness.connector.authorize(request(token), call(reference));
    expect(outcome).toMatchObject({ status: 'declined', code });
    expect(await harness.connector.status(reference, { timeout_ms })).toEqual({ status: 'declined', code });
    expect(harness.vault.erased).toContain(token);
  });

  it.each([test_card_numbers.succeeds, '5555555555554444'])('authorizes %s and holds the money under manual capture', async (number) => {
    const token = harness.vault.add(number);
    const reference = randomId('att');
    const outcome = await harness.connector.authorize(request(token), call(reference));
    expect(outcome).toMatchObject({ status: 'authorized', captured: false });
    if (outcome.status !== 'authorized') throw new Error('expected authorized');
    expect(await harness.connector.status(reference, { timeout_ms })).toEqual({ status: 'authorized', provider_reference: outcome.provider_reference });
    expect(harness.vault.erased).toContain(token);
  });

  it.each([test_card_numbers.succeeds, test_card_numbers.requires_authentication, test_card_numbers.network_timeout, '5555555555554444'])(
    'declines %s in live mode: the simulator takes test-mode payments only',
    async (number) => {
      const token = harness.vault.add(number);
      const reference = randomId('att');
      const outcome = await harness.connector.authorize(request(token, { livemode: true, capture_method: 'automatic' }), call(reference));
      expect(outcome).toEqual({ status: 'declined', code: 'payment_method_unavailable', message: simulator_livemode_message });
      expect(await harness.connector.status(reference, { timeout_ms })).toEqual({ status: 'declined', code: 'payment_method_unavailable' });
      // Asked again under the same reference, it answers the same: there is never a live authorization to capture.
      expect(await harness.connector.authorize(request(token, { livemode: true, capture_method: 'automatic' }), call(reference))).toMatchObject({ status: 'declined' });
      expect(harness.vault.erased).toContain(token);
    },
  );

  it('captures at once under automatic capture', async () => {
    const token = harness.vault.add(test_card_numbers.succeeds);
    const reference = randomId('att');
    const outcome = await harness.connector.authorize(request(token, { capture_method: 'automatic', amount: 2_500n }), call(reference));
    expect(outcome).toMatchObject({ status: 'authorized', captured: true });
    expect(await harness.connector.status(reference, { timeout_ms })).toMatchObject({ status: 'captured', amount_captured: 2_500n });
  });

  it('never returns the card number, for any test card', async () => {
    for (const number of all_card_numbers) {
      if (number === test_card_numbers.network_timeout) continue;
      const token = harness.vault.add(number);
      const reference = randomId('att');
      const outcome = await harness.connector.authorize(request(token), call(reference));
      const status = await harness.connector.status(reference, { timeout_ms });
      expect(serialize(outcome)).not.toContain(number);
      expect(serialize(status)).not.toContain(number);
    }
  });

  it('answers a repeated authorize with the first outcome and charges once', async () => {
    const token = harness.vault.add(test_card_numbers.succeeds);
    const reference = randomId('att');
    const first = await harness.connector.authorize(request(token, { capture_method: 'automatic' }), call(reference));
    // The CVC has been erased by now, as it would be in production; the answer must not change.
    const second = await harness.connector.authorize(request(token, { capture_method: 'automatic' }), call(reference));
    expect(second).toEqual(first);
    if (first.status !== 'authorized') throw new Error('expected authorized');
    expect(harness.simulator.authorization(first.provider_reference)).toMatchObject({ amount_captured: 1_000n, state: 'captured' });
    expect(harness.vault.cards.get(token)?.cvc).toBeNull();
  });

  it('returns unknown when the acquirer does not answer in time, and status later shows the charge', async () => {
    const token = harness.vault.add(test_card_numbers.network_timeout);
    const reference = randomId('att');
    const started = Date.now();
    const outcome = await harness.connector.authorize(request(token), { idempotency_reference: reference, timeout_ms: 100 });
    expect(outcome.status).toBe('unknown');
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(serialize(outcome)).not.toContain(test_card_numbers.network_timeout);
    expect(harness.vault.erased).toContain(token);
    const status = await harness.connector.status(reference, { timeout_ms });
    expect(status.status).toBe('authorized');
  });

  it('settles a 3-D Secure challenge the customer approves', async () => {
    const token = harness.vault.add(test_card_numbers.requires_authentication);
    const reference = randomId('att');
    const outcome = await harness.connector.authorize(
      request(token, { return_url: 'https://shop.example/return?order=42' }),
      call(reference),
    );
    expect(outcome).toMatchObject({ status: 'requires_action', next_action: { type: 'redirect_to_url' } });
    if (outcome.status !== 'requires_action' || outcome.next_action.type !== 'redirect_to_url') throw new Error('expected a challenge');
    expect(outcome.next_action.url).toContain(`/3ds/${outcome.provider_reference}?return_url=${encodeURIComponent('https://shop.example/return?order=42')}`);
    expect(await harness.connector.status(reference, { timeout_ms })).toEqual({ status: 'requires_action' });
    await harness.completeChallenge(outcome, 'approve');
    expect(await harness.connector.status(reference, { timeout_ms })).toEqual({ status: 'authorized', provider_reference: outcome.provider_reference });
    expect(await harness.connector.capture(outcome.provider_reference, 1_000n, call())).toEqual({ status: 'succeeded' });
  });

  it('declines with authentication_failed when the customer fails the challenge', async () => {
    const token = harness.vault.add(test_card_numbers.requires_authentication);
    const reference = randomId('att');
    const outcome = await harness.connector.authorize(
      request(token, { return_url: 'https://shop.example/return?order=42' }),
      call(reference),
    );
    await harness.completeChallenge(outcome, 'deny');
    expect(await harness.connector.status(reference, { timeout_ms })).toEqual({ status: 'declined', code: 'authentication_failed' });
    if (outcome.status !== 'requires_action') throw new Error('expected a challenge');
    expect(harness.simulator.completeChallenge(outcome.provider_reference, 'approve')).toEqual({ ok: false, reason: 'not_awaiting_challenge' });
  });

  async function authorizeManual(amount = 1_000n): Promise<{ provider_reference: string; reference: string }> {
    const token = harness.vault.add(test_card_numbers.succeeds);
    const reference = randomId('att');
    const outcome = await harness.connector.authorize(request(token, { amount }), call(reference));
    if (outcome.status !== 'authorized') throw new Error('expected authorized');
    return { provider_reference: outcome.provider_reference, reference };
  }

  it('captures part of the hold and releases the rest', async () => {
    const { provider_reference, reference } = await authorizeManual(1_000n);
    expect(await harness.connector.capture(provider_reference, 600n, call())).toEqual({ status: 'succeeded' });
    expect(await harness.connector.status(reference, { timeout_ms })).toEqual({ status: 'captured', provider_reference, amount_captured: 600n });
    // The rest was released: a second capture finds nothing left to take.
    expect(await harness.connector.capture(provider_reference, 400n, call())).toMatchObject({ status: 'failed', code: 'unexpected_state' });
  });

  it('refuses to capture more than was authorised', async () => {
    const { provider_reference } = await authorizeManual(1_000n);
    expect(await harness.connector.capture(provider_reference, 1_001n, call())).toMatchObject({ status: 'failed', code: 'amount_too_large' });
    expect(await harness.connector.capture(provider_reference, 1_000n, call())).toEqual({ status: 'succeeded' });
  });

  it('answers a repeated capture with the first answer', async () => {
    const { provider_reference } = await authorizeManual(1_000n);
    const capture = call();
    expect(await harness.connector.capture(provider_reference, 300n, capture)).toEqual({ status: 'succeeded' });
    expect(await harness.connector.capture(provider_reference, 300n, capture)).toEqual({ status: 'succeeded' });
    expect(harness.simulator.authorization(provider_reference)).toMatchObject({ amount_captured: 300n });
  });

  it('refunds up to the captured amount and no further', async () => {
    const { provider_reference } = await authorizeManual(1_000n);
    expect(await harness.connector.refund(provider_reference, 100n, call())).toMatchObject({ status: 'failed', code: 'unexpected_state' });
    expect(await harness.connector.capture(provider_reference, 800n, call())).toEqual({ status: 'succeeded' });
    expect(await harness.connector.refund(provider_reference, 500n, call())).toEqual({ status: 'succeeded' });
    expect(await harness.connector.refund(provider_reference, 301n, call())).toMatchObject({ status: 'failed', code: 'amount_too_large' });
    const last = call();
    expect(await harness.connector.refund(provider_reference, 300n, last)).toEqual({ status: 'succeeded' });
    // Repeating a refund's reference does not refund twice.
    expect(await harness.connector.refund(provider_reference, 300n, last)).toEqual({ status: 'succeeded' });
    expect(harness.simulator.authorization(provider_reference)).toMatchObject({ amount_refunded: 800n });
    expect(await harness.connector.refund(provider_reference, 1n, call())).toMatchObject({ status: 'failed', code: 'amount_too_large' });
  });

  it('takes the payment of the refund_fails card and refuses every refund of it, the same on a repeat', async () => {
    const token = harness.vault.add(test_card_numbers.refund_fails);
    const outcome = await harness.connector.authorize(request(token, { capture_method: 'automatic', amount: 2_000n }), call(randomId('att')));
    if (outcome.status !== 'authorized') throw new Error('expected authorized');
    expect(outcome.captured).toBe(true);
    const refund = call();
    const refused = { status: 'failed', code: 'provider_refused', message: "The card's issuer refused the refund." };
    expect(await harness.connector.refund(outcome.provider_reference, 500n, refund)).toEqual(refused);
    expect(await harness.connector.refund(outcome.provider_reference, 500n, refund)).toEqual(refused);
    expect(harness.simulator.authorization(outcome.provider_reference)).toMatchObject({ amount_captured: 2_000n, amount_refunded: 0n });
  });

  it('voids a hold, after which it cannot be captured', async () => {
    const { provider_reference, reference } = await authorizeManual();
    expect(await harness.connector.void(provider_reference, call())).toEqual({ status: 'succeeded' });
    expect(await harness.connector.status(reference, { timeout_ms })).toEqual({ status: 'voided' });
    expect(await harness.connector.capture(provider_reference, 1_000n, call())).toMatchObject({ status: 'failed', code: 'unexpected_state' });
  });

  it('reports a missing authorization and an unknown reference', async () => {
    expect(await harness.connector.capture('auth_missing', 100n, call())).toMatchObject({ status: 'failed', code: 'resource_missing' });
    expect(await harness.connector.status(randomId('att'), { timeout_ms })).toEqual({ status: 'not_found' });
  });

  it('declines numbers that fail the Luhn check and cards past their expiry month', async () => {
    expect(isWellFormedCardNumber('4000000000000001')).toBe(false);
    const bad = harness.vault.add('4000000000000001');
    expect(await harness.connector.authorize(request(bad), call())).toMatchObject({ status: 'declined', code: 'card_declined' });
    // The simulator's clock reads January 2025, so December 2024 has run out and January 2025 has not.
    const expired = harness.vault.add(test_card_numbers.succeeds, 2024, 12);
    expect(await harness.connector.authorize(request(expired), call())).toMatchObject({ status: 'declined', code: 'expired_card' });
    const current = harness.vault.add(test_card_numbers.succeeds, 2025, 1);
    expect(await harness.connector.authorize(request(current), call())).toMatchObject({ status: 'authorized' });
  });

  it('declines without calling the acquirer when the vault cannot read the card', async () => {
    const outcome = await harness.connector.authorize(request('tok_missing'), call());
    expect(outcome).toMatchObject({ status: 'declined', code: 'processing_error' });
  });
});

describe('CardConnector failures', () => {
  it('keeps the card number out of reasons even when the acquirer quotes it', async () => {
    const vault = new TestVault();
    const token = vault.add(test_card_numbers.succeeds);
    const leaky: CardAcquirer = {
      authorize: (acquirer_request) => Promise.reject(new Error(`cannot charge ${acquirer_request.card.number}`)),
      capture: () => Promise.reject(new Error('no')),
      void: () => Promise.reject(new Error('no')),
      refund: () => Promise.reject(new Error('no')),
      status: () => Promise.reject(new Error('no')),
    };
    const connector = new CardConnector({ cards: vault, acquirer: leaky });
    const outcome = await connector.authorize(request(token), call());
    expect(outcome.status).toBe('unknown');
    expect(serialize(outcome)).not.toContain(test_card_numbers.succeeds);
    expect(serialize(outcome)).toContain('[card number]');
    expect(vault.erased).toEqual([token]);
    expect(redactCardNumbers('card 4242 4242 4242 4242 and 4000-0000-0000-0002')).toBe('card [card number] and [card number]');
  });

  it('reports a CVC that could not be erased, without losing the outcome', async () => {
    const vault = new TestVault();
    const token = vault.add(test_card_numbers.succeeds);
    const failures: string[] = [];
    const connector = new CardConnector({
      cards: { detokenize: (id) => vault.detokenize(id), eraseCvc: () => Promise.reject(new Error('vault is down')) },
      acquirer: new CardAcquirerSimulator(),
      onCvcEraseFailure: (token_id, message) => failures.push(`${token_id}: ${message}`),
    });
    expect(await connector.authorize(request(token), call())).toMatchObject({ status: 'authorized' });
    expect(failures).toEqual([`${token}: vault is down`]);
  });

  it('returns unknown when a capture answer arrives after the timeout, although the capture happened', async () => {
    const simulator = new CardAcquirerSimulator({ latency_ms: 200 });
    const vault = new TestVault();
    const connector = new CardConnector({ cards: vault, acquirer: simulator });
    const token = vault.add(test_card_numbers.succeeds);
    const authorized = await connector.authorize(request(token), { idempotency_reference: randomId('att'), timeout_ms: 1_000 });
    if (authorized.status !== 'authorized') throw new Error('expected authorized');
    const capture = await connector.capture(authorized.provider_reference, 1_000n, { idempotency_reference: randomId('cap'), timeout_ms: 20 });
    expect(capture).toMatchObject({ status: 'unknown' });
    expect(simulator.authorization(authorized.provider_reference)).toMatchObject({ state: 'captured' });
  });

  it('returns unknown when the acquirer cannot be reached, and status throws a 503', async () => {
    const simulator = new CardAcquirerSimulator();
    const server = await startCardAcquirerServer(simulator);
    const url = server.url;
    await server.close();
    const vault = new TestVault();
    const connector = new CardConnector({ cards: vault, acquirer: { url } });
    const outcome = await connector.authorize(request(vault.add(test_card_numbers.succeeds)), call());
    expect(outcome).toMatchObject({ status: 'unknown' });
    const status = connector.status(randomId('att'), { timeout_ms });
    await expect(status).rejects.toBeInstanceOf(ApiError);
    await expect(status).rejects.toMatchObject({ type: 'service_unavailable_error', code: 'provider_unavailable' });
  });

  it('refuses malformed requests at the HTTP server without echoing the card', async () => {
    const server = await startCardAcquirerServer(new CardAcquirerSimulator());
    try {
      const response = await fetch(`${server.url}/v1/authorize`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ reference: 'att_1', amount: '10.5', currency: 'USD', capture_method: 'manual', card: { number: test_card_numbers.succeeds } }),
      });
      expect(response.status).toBe(400);
      expect(await response.text()).not.toContain(test_card_numbers.succeeds);
      // The mode is required: an acquirer must never guess whether money is real.
      const card = { number: test_card_numbers.succeeds, exp_month: 12, exp_year: 2040, cvc: '123' };
      const silent = await fetch(`${server.url}/v1/authorize`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ reference: 'att_2', amount: '1000', currency: 'USD', capture_method: 'manual', card }),
      });
      expect(silent.status).toBe(400);
      expect(await silent.json()).toMatchObject({ error: { message: 'livemode must be true or false.' } });
    } finally {
      await server.close();
    }
  });

  it('closes promptly while an authorize answer is being withheld', async () => {
    const simulator = new CardAcquirerSimulator();
    const server = await startCardAcquirerServer(simulator);
    const vault = new TestVault();
    const connector = new CardConnector({ cards: vault, acquirer: { url: server.url } });
    const pending = connector.authorize(request(vault.add(test_card_numbers.network_timeout)), { idempotency_reference: randomId('att'), timeout_ms: 5_000 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await pending).toMatchObject({ status: 'unknown' });
  });
});
