// A card token pays once (decision 61), over the HTTP API on SQLite and on PostgreSQL: of many
// confirmations racing with one token exactly one reaches the acquirer and the ledger, the others
// are refused with token_already_used, and so is any later use, even of the same intent after a
// decline.
import { afterAll, describe, expect, it } from 'vitest';
import { generateKeyEncryptionKey } from '@paygrid/kernel/envelope';
import { postgresUrl } from '@paygrid/kernel/testing';
import { Paygrid, PaygridError, type PaymentIntent } from '@paygrid/sdk';
import { createTestMerchant, startTestPlatform, type TestPlatform } from './support/platform';
import { scratchDatabase, type ScratchDatabase } from './support/secrets-search';

const unlimited = { GATEWAY_RATE_LIMIT_PER_SECOND: '1000000', GATEWAY_RATE_LIMIT_BURST: '1000000' };
const racing_confirmations = 30;
const amount = 2_000;
/** The platform's fee on `amount` (2.9 % + 30), a ledger transfer out of the merchant's balance. */
const fee = 88;

async function refusalOf(promise: Promise<unknown>): Promise<{ status: number | undefined; type: string; code: string; param: string | undefined }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof PaygridError) return { status: error.status, type: error.type, code: error.code, param: error.param };
    throw error;
  }
  throw new Error('expected a refusal');
}

function describeSingleUse(store: string, start: () => Promise<TestPlatform>): void {
  describe(`card tokens are single-use (${store})`, () => {
    let test: TestPlatform | undefined;
    afterAll(async () => {
      await test?.close();
    });

    async function setUp() {
      await test?.close();
      test = undefined;
      test = await start();
      const merchant = await createTestMerchant(test, 'Shop');
      const publishable = new Paygrid({ api_key: merchant.publishable_key, base_url: test.url });
      const card = (number: string) => publishable.tokens.create({ card: { number, exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' } });
      const available = async () => (await merchant.client.balance.retrieve()).available.find((entry) => entry.currency === 'usd')?.amount ?? 0;
      return { merchant, card, available };
    }

    it('a token pays exactly one of 30 concurrent confirmations; the others, and every later use, get token_already_used', async () => {
      const { merchant, card, available } = await setUp();
      const token = await card('4242424242424242');
      const intents = await Promise.all(Array.from({ length: racing_confirmations }, () => merchant.client.paymentIntents.create({ amount, currency: 'usd' })));
      const before = await available();

      const settled = await Promise.allSettled(intents.map((intent) => merchant.client.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: token.id } })));
      const paid = settled.filter((result): result is PromiseFulfilledResult<PaymentIntent> => result.status === 'fulfilled');
      expect(paid).toHaveLength(1);
      expect(paid[0]?.value.status).toBe('succeeded');
      for (const result of settled) {
        if (result.status === 'fulfilled') continue;
        const error: unknown = result.reason;
        expect(error).toBeInstanceOf(PaygridError);
        const refused = error as PaygridError;
        expect([refused.status, refused.type, refused.code, refused.param]).toEqual([400, 'invalid_request_error', 'token_already_used', 'payment_method[token]']);
      }

      // Exactly one attempt was made, so exactly one reached the acquirer; the refused intents are untouched.
      let attempts = 0;
      for (const intent of intents) {
        attempts += (await merchant.client.paymentIntents.listAttempts(intent.id)).data.length;
        const now = await merchant.client.paymentIntents.retrieve(intent.id);
        expect(now.status).toBe(intent.id === paid[0]?.value.id ? 'succeeded' : 'requires_payment_method');
      }
      expect(attempts).toBe(1);
      // And the ledger moved one payment's money.
      expect((await available()) - before).toBe(amount - fee);

      // Sequential reuse on a fresh intent is refused the same way.
      const later = await merchant.client.paymentIntents.create({ amount, currency: 'usd' });
      expect(await refusalOf(merchant.client.paymentIntents.confirm(later.id, { payment_method: { type: 'card', token: token.id } }))).toEqual({
        status: 400,
        type: 'invalid_request_error',
        code: 'token_already_used',
        param: 'payment_method[token]',
      });
      expect((await merchant.client.paymentIntents.listAttempts(later.id)).data).toHaveLength(0);
      // A new token for the same card pays it.
      const fresh = await card('4242424242424242');
      expect((await merchant.client.paymentIntents.confirm(later.id, { payment_method: { type: 'card', token: fresh.id } })).status).toBe('succeeded');
    });

    it('a token is consumed by its first attempt even when the card is declined', async () => {
      const { merchant, card } = await setUp();
      const token = await card('4000000000000002');
      const intent = await merchant.client.paymentIntents.create({ amount, currency: 'usd' });
      const declined = await merchant.client.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: token.id } });
      expect(declined.status).toBe('requires_payment_method');
      expect(declined.last_payment_error?.code).toBe('card_declined');
      // Confirming the same intent again with the same token is a second use.
      expect((await refusalOf(merchant.client.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: token.id } }))).code).toBe('token_already_used');
      expect((await merchant.client.paymentIntents.listAttempts(intent.id)).data).toHaveLength(1);
    });

    it('a confirmation refused before its attempt is recorded gives the token back', async () => {
      const { merchant, card } = await setUp();
      const token = await card('4242424242424242');
      const intent = await merchant.client.paymentIntents.create({ amount, currency: 'usd' });
      await merchant.client.paymentIntents.cancel(intent.id);
      expect((await refusalOf(merchant.client.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: token.id } }))).code).toBe('payment_intent_unexpected_state');
      const other = await merchant.client.paymentIntents.create({ amount, currency: 'usd' });
      expect((await merchant.client.paymentIntents.confirm(other.id, { payment_method: { type: 'card', token: token.id } })).status).toBe('succeeded');
    });
  });
}

describeSingleUse('SQLite', () => startTestPlatform({ env: unlimited }));

const database_url = postgresUrl();
let scratch: ScratchDatabase | undefined;
afterAll(async () => {
  await scratch?.drop();
});
if (database_url !== undefined) {
  describeSingleUse('PostgreSQL', async () => {
    await scratch?.drop();
    scratch = await scratchDatabase(database_url, 'paygrid_tokens');
    return startTestPlatform({ env: { ...unlimited, DATABASE_URL: scratch.url, PAYGRID_VAULT_KEK: generateKeyEncryptionKey().exportHex() } });
  });
}
