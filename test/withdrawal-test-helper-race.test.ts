// Test helpers that complete a withdrawal race safely (decision 62): of tens of simultaneous
// succeed and fail calls on one withdrawal the first the wallet records wins, the other outcome is
// refused with 409 withdrawal_already_completed, repeats of the winner answer 200, and afterwards
// the wallet's status, the wallet's balance, the ledger's hold and what the simulated bank
// reported all tell the same story.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PaygridError, type Withdrawal } from '@paygrid/sdk';
import { createTestMerchant, startTestPlatform, type TestPlatform } from './support/platform';

const unlimited = { GATEWAY_RATE_LIMIT_PER_SECOND: '1000000', GATEWAY_RATE_LIMIT_BURST: '1000000' };
const racing_calls = 40;
const rounds = 4;
const top_up_amount = 100_000;
const withdrawal_amount = 3_000;
/** The simulated bank keeps a withdrawal to this account pending until a test helper decides it. */
const stays_pending_account = '000222222227';

async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, timeout_ms = 10_000): Promise<T> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 20));
  }
}

describe('withdrawal test helpers', () => {
  let test: TestPlatform;
  /** Every outcome the simulated bank reported, by withdrawal id. */
  const reported = new Map<string, string[]>();

  beforeAll(async () => {
    test = await startTestPlatform({ env: unlimited });
    const bank = test.platform.simulated_bank;
    if (bank === undefined) throw new Error('the platform runs no simulated bank');
    bank.onSettled((withdrawal_id, outcome) => reported.set(withdrawal_id, [...(reported.get(withdrawal_id) ?? []), outcome]));
  });

  afterAll(async () => {
    await test.close();
  });

  it('one outcome wins concurrent succeed and fail calls; the other gets 409 withdrawal_already_completed; wallet, ledger and bank agree', async () => {
    const merchant = await createTestMerchant(test, 'Shop');
    const client = merchant.client;
    const customer = await client.customers.create({ name: 'Alice' });
    const wallet = await client.wallets.create({ customer: customer.id, currency: 'usd' });
    await client.wallets.topUp(wallet.id, { amount: top_up_amount });
    let expected_available = top_up_amount;
    const winners = new Set<string>();

    for (let round = 0; round < rounds; round += 1) {
      const withdrawal = await client.wallets.withdraw(wallet.id, {
        amount: withdrawal_amount,
        bank_account: { account_holder_name: 'Alice', routing_number: '110000000', account_number: stays_pending_account },
      });
      expect(withdrawal.status).toBe('pending');
      // Half ask for success, half for failure, interleaved, all at once.
      const calls = Array.from({ length: racing_calls }, (_, index) => (index % 2 === round % 2 ? 'succeed' : 'fail'));
      const settled = await Promise.allSettled(calls.map((call) => client.testHelpers.withdrawals[call](withdrawal.id)));

      const answered = settled.filter((result): result is PromiseFulfilledResult<Withdrawal> => result.status === 'fulfilled').map((result) => result.value.status);
      expect(answered.length).toBeGreaterThan(0);
      const winner = answered[0];
      expect(winner === 'succeeded' || winner === 'failed').toBe(true);
      winners.add(String(winner));
      // Every 200 names the one winning outcome: the winning call and the repeats of it.
      expect(new Set(answered)).toEqual(new Set([winner]));
      const winning_call = winner === 'succeeded' ? 'succeed' : 'fail';
      settled.forEach((result, index) => {
        if (calls[index] === winning_call) {
          expect(result.status).toBe('fulfilled');
          return;
        }
        expect(result.status).toBe('rejected');
        const error: unknown = result.status === 'rejected' ? result.reason : undefined;
        expect(error).toBeInstanceOf(PaygridError);
        const refused = error as PaygridError;
        expect([refused.status, refused.type, refused.code]).toEqual([409, 'idempotency_error', 'withdrawal_already_completed']);
      });

      // The wallet's record, the ledger's balances and the bank's report agree.
      expect((await client.withdrawals.retrieve(withdrawal.id)).status).toBe(winner);
      if (winner === 'succeeded') expected_available -= withdrawal_amount;
      expect((await client.wallets.retrieve(wallet.id)).balance).toEqual({ available: expected_available, pending: 0 });
      const reports = await waitFor(() => reported.get(withdrawal.id), `the bank's report on ${withdrawal.id}`);
      // A moment more for any later report, which must say the same.
      await new Promise((done) => setTimeout(done, 100));
      expect(new Set(reported.get(withdrawal.id))).toEqual(new Set([winner]));
      expect(reports.length).toBeGreaterThan(0);

      // Later calls: the winner again is answered 200, the other outcome 409, and nothing moves.
      expect((await client.testHelpers.withdrawals[winning_call](withdrawal.id)).status).toBe(winner);
      const losing_call = winning_call === 'succeed' ? 'fail' : 'succeed';
      await expect(client.testHelpers.withdrawals[losing_call](withdrawal.id)).rejects.toMatchObject({ status: 409, code: 'withdrawal_already_completed' });
      expect((await client.wallets.retrieve(wallet.id)).balance).toEqual({ available: expected_available, pending: 0 });
    }
  });
});
