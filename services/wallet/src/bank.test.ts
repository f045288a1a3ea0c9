import { describe, expect, it } from 'vitest';
import { SimulatedBank, simulated_bank_account_numbers, simulated_bank_livemode_failure_code } from './bank';
import type { BankWithdrawalRequest, SettlementOutcome } from './types';

function request(withdrawal_id: string, account_number: string, livemode = false): BankWithdrawalRequest {
  return {
    withdrawal_id,
    amount: 1_000n,
    currency: 'usd',
    bank_account: { account_holder_name: 'Jenny Rosen', routing_number: '110000000', account_number, country: 'US' },
    livemode,
  };
}

function listen(bank: SimulatedBank): { id: string; outcome: SettlementOutcome; failure_code: string | undefined }[] {
  const heard: { id: string; outcome: SettlementOutcome; failure_code: string | undefined }[] = [];
  bank.onSettled((id, outcome, failure_code) => heard.push({ id, outcome, failure_code }));
  return heard;
}

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SimulatedBank', () => {
  it('decides by account number, as Stripe test bank accounts do, and reports asynchronously', async () => {
    const bank = new SimulatedBank();
    const heard = listen(bank);
    await bank.submit(request('wd_paid', simulated_bank_account_numbers.succeeds));
    await bank.submit(request('wd_closed', simulated_bank_account_numbers.fails_account_closed));
    await bank.submit(request('wd_waiting', simulated_bank_account_numbers.stays_pending));
    await bank.submit(request('wd_other', '12345678'));
    expect(heard).toEqual([]);
    expect(await bank.status('wd_paid')).toEqual({ status: 'succeeded', failure_code: null });
    expect(await bank.status('wd_closed')).toEqual({ status: 'failed', failure_code: 'account_closed' });
    expect(await bank.status('wd_waiting')).toEqual({ status: 'pending', failure_code: null });
    expect(await bank.status('wd_other')).toEqual({ status: 'succeeded', failure_code: null });
    await tick();
    expect(heard).toEqual([
      { id: 'wd_paid', outcome: 'succeeded', failure_code: undefined },
      { id: 'wd_closed', outcome: 'failed', failure_code: 'account_closed' },
      { id: 'wd_other', outcome: 'succeeded', failure_code: undefined },
    ]);
    // Reported withdrawals are forgotten; the pending one is still tracked.
    expect(bank.tracked_count).toBe(1);
    bank.close();
  });

  it('keeps a pending withdrawal until a test completes it', async () => {
    const bank = new SimulatedBank();
    const heard = listen(bank);
    await bank.submit(request('wd_1', simulated_bank_account_numbers.stays_pending));
    await tick(5);
    expect(heard).toEqual([]);
    await bank.completeForTest('wd_1', 'failed');
    expect(await bank.status('wd_1')).toEqual({ status: 'failed', failure_code: 'could_not_process' });
    await tick();
    expect(heard).toEqual([{ id: 'wd_1', outcome: 'failed', failure_code: 'could_not_process' }]);
    bank.close();
  });

  it('ignores a second submission of the same withdrawal', async () => {
    const bank = new SimulatedBank();
    const heard = listen(bank);
    await bank.submit(request('wd_1', simulated_bank_account_numbers.succeeds));
    await bank.submit(request('wd_1', simulated_bank_account_numbers.succeeds));
    await tick();
    expect(heard).toHaveLength(1);
    bank.close();
  });

  it('waits the configured delay before reporting', async () => {
    const bank = new SimulatedBank({ delay_ms: 30 });
    const heard = listen(bank);
    await bank.submit(request('wd_1', simulated_bank_account_numbers.succeeds));
    await tick(5);
    expect(heard).toEqual([]);
    await tick(50);
    expect(heard).toHaveLength(1);
    bank.close();
  });

  it('answers the same after a restart once the withdrawal is submitted again', async () => {
    const before = new SimulatedBank({ delay_ms: 10_000 });
    await before.submit(request('wd_1', simulated_bank_account_numbers.fails_account_closed));
    const answer = await before.status('wd_1');
    before.close();
    const after = new SimulatedBank();
    expect(await after.status('wd_1')).toEqual({ status: 'pending', failure_code: null });
    await after.submit(request('wd_1', simulated_bank_account_numbers.fails_account_closed));
    expect(await after.status('wd_1')).toEqual(answer);
    after.close();
  });

  it('reports nothing once closed', async () => {
    const bank = new SimulatedBank();
    const heard = listen(bank);
    await bank.submit(request('wd_1', simulated_bank_account_numbers.succeeds));
    bank.close();
    await tick(5);
    expect(heard).toEqual([]);
  });

  it('pays nothing out in live mode: every live withdrawal fails, whatever the account, and no test can complete one', async () => {
    const bank = new SimulatedBank();
    expect(bank.live_support).toEqual({ name: 'the simulated bank', payouts: false, incoming_transfers: false });
    const heard = listen(bank);
    for (const account_number of Object.values(simulated_bank_account_numbers)) {
      await bank.submit(request(`wd_live_${account_number}`, account_number, true));
      expect(await bank.status(`wd_live_${account_number}`)).toEqual({ status: 'failed', failure_code: simulated_bank_livemode_failure_code });
    }
    await bank.submit(request('wd_live_held', simulated_bank_account_numbers.stays_pending, true));
    await expect(bank.completeForTest('wd_live_held', 'succeeded')).rejects.toThrow('never completes a live-mode withdrawal');
    await tick();
    expect(heard).toHaveLength(4);
    for (const report of heard) expect(report).toMatchObject({ outcome: 'failed', failure_code: 'livemode_not_configured' });
    // The same account numbers still behave as documented in test mode.
    await bank.submit(request('wd_test', simulated_bank_account_numbers.succeeds));
    expect(await bank.status('wd_test')).toEqual({ status: 'succeeded', failure_code: null });
    bank.close();
  });
});
