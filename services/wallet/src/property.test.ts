// Random sequences of wallet operations, run against the real service (real ledger, real
// database) and against a model of balances simple enough to be obviously right. After every
// step the two must agree on the outcome and on every balance.
import { ApiError, type Tenant } from '@paygrid/kernel';
import { describeWithPostgres } from '@paygrid/kernel/testing';
import { merchantBalanceAccountId } from '@paygrid/ledger';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulated_bank_account_numbers } from './bank';
import { newTenant, newWallet, openPostgresHarness, openSqliteHarness, type Harness } from './testing/harness';

const wallet_count = 3;

type Step =
  | { readonly kind: 'top_up'; readonly wallet: number; readonly amount: bigint }
  | { readonly kind: 'transfer'; readonly source: number; readonly destination: number; readonly amount: bigint }
  | { readonly kind: 'pay'; readonly wallet: number; readonly amount: bigint }
  | { readonly kind: 'withdraw'; readonly wallet: number; readonly amount: bigint }
  | { readonly kind: 'settle'; readonly pick: number; readonly outcome: 'succeeded' | 'failed' }
  | { readonly kind: 'freeze'; readonly wallet: number; readonly frozen: boolean };

const wallet_index = fc.integer({ min: 0, max: wallet_count - 1 });
const amount = fc.bigInt({ min: 1n, max: 1_000n });
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('top_up' as const), wallet: wallet_index, amount }),
  fc.record({ kind: fc.constant('transfer' as const), source: wallet_index, destination: wallet_index, amount }),
  fc.record({ kind: fc.constant('pay' as const), wallet: wallet_index, amount }),
  fc.record({ kind: fc.constant('withdraw' as const), wallet: wallet_index, amount }),
  fc.record({ kind: fc.constant('settle' as const), pick: fc.nat(), outcome: fc.constantFrom('succeeded' as const, 'failed' as const) }),
  fc.record({ kind: fc.constant('freeze' as const), wallet: wallet_index, frozen: fc.boolean() }),
);

/** The reference: plain numbers per wallet, and the rules written out one by one. */
class Model {
  readonly available: bigint[] = Array.from({ length: wallet_count }, () => 0n);
  readonly pending: bigint[] = Array.from({ length: wallet_count }, () => 0n);
  readonly frozen: boolean[] = Array.from({ length: wallet_count }, () => false);
  merchant = 0n;
  /** Withdrawals on hold, in the order they were made. */
  readonly holds: { id: string; wallet: number; amount: bigint }[] = [];

  /** The error code the step must fail with, or undefined when it must succeed. */
  refusalOf(step: Step): string | undefined {
    switch (step.kind) {
      case 'top_up':
      case 'freeze':
      case 'settle':
        return undefined;
      case 'transfer':
        if (step.source === step.destination) return 'wallets_must_be_different';
        return this.#outgoing(step.source, step.amount);
      case 'pay':
      case 'withdraw':
        return this.#outgoing(step.wallet, step.amount);
    }
  }

  #outgoing(wallet: number, amount: bigint): string | undefined {
    if (this.frozen[wallet] === true) return 'wallet_frozen';
    if (amount > (this.available[wallet] ?? 0n)) return 'insufficient_funds';
    return undefined;
  }

  add(values: bigint[], index: number, amount: bigint): void {
    values[index] = (values[index] ?? 0n) + amount;
  }
}

async function run(harness: Harness, tenant: Tenant, steps: readonly Step[]): Promise<void> {
  const service = harness.wallets;
  const wallets: string[] = [];
  for (let index = 0; index < wallet_count; index += 1) wallets.push((await newWallet(harness, service, tenant)).id);
  const wallet = (index: number): string => wallets[index] ?? '';
  const model = new Model();

  for (const step of steps) {
    const expected = model.refusalOf(step);
    const attempt = async (): Promise<void> => {
      switch (step.kind) {
        case 'top_up':
          await service.topUp(tenant, wallet(step.wallet), { amount: step.amount });
          model.add(model.available, step.wallet, step.amount);
          return;
        case 'transfer':
          await service.transfer(tenant, { source: wallet(step.source), destination: wallet(step.destination), amount: step.amount, currency: 'usd' });
          model.add(model.available, step.source, -step.amount);
          model.add(model.available, step.destination, step.amount);
          return;
        case 'pay':
          await service.pay(tenant, wallet(step.wallet), { amount: step.amount });
          model.add(model.available, step.wallet, -step.amount);
          model.merchant += step.amount;
          return;
        case 'withdraw': {
          const withdrawal = await service.withdraw(tenant, wallet(step.wallet), {
            amount: step.amount,
            bank_account: { account_holder_name: 'Model', routing_number: '110000000', account_number: simulated_bank_account_numbers.stays_pending },
          });
          expect(withdrawal.status).toBe('pending');
          model.add(model.available, step.wallet, -step.amount);
          model.add(model.pending, step.wallet, step.amount);
          model.holds.push({ id: withdrawal.id, wallet: step.wallet, amount: step.amount });
          return;
        }
        case 'settle': {
          if (model.holds.length === 0) return;
          const [hold] = model.holds.splice(step.pick % model.holds.length, 1);
          if (hold === undefined) return;
          const settled = await service.completeWithdrawalForTest(tenant, hold.id, step.outcome);
          expect(settled.status).toBe(step.outcome);
          model.add(model.pending, hold.wallet, -hold.amount);
          if (step.outcome === 'failed') model.add(model.available, hold.wallet, hold.amount);
          return;
        }
        case 'freeze':
          await service.updateWallet(tenant, wallet(step.wallet), { status: step.frozen ? 'frozen' : 'active' });
          model.frozen[step.wallet] = step.frozen;
          return;
      }
    };
    if (expected === undefined) {
      await attempt();
    } else {
      const error = await attempt().then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).code).toBe(expected);
    }

    for (let index = 0; index < wallet_count; index += 1) {
      const { balance } = await service.getWallet(tenant, wallet(index));
      expect(balance).toEqual({ available: model.available[index], pending: model.pending[index] });
    }
  }

  const [merchant] = await harness.ledger.lookupAccounts([merchantBalanceAccountId(tenant.merchant_id, 'USD', false)]);
  expect(merchant?.credits_posted ?? 0n).toBe(model.merchant);
  // Each wallet's history adds up to its balance: succeeded lines, plus withdrawals on hold.
  for (let index = 0; index < wallet_count; index += 1) {
    const lines = (await service.listTransactions(tenant, wallet(index), { limit: 100 })).data;
    const held = lines.filter((line) => line.status === 'pending').reduce((sum, line) => sum - line.amount, 0n);
    const settled = lines.filter((line) => line.status === 'succeeded').reduce((sum, line) => sum + line.amount, 0n);
    expect(held).toBe(model.pending[index]);
    expect(settled - held).toBe(model.available[index]);
  }
}

function propertySuite(open: () => Promise<Harness>, runs: number): void {
  let harness: Harness;
  beforeAll(async () => {
    harness = await open();
  });
  afterAll(async () => {
    const report = await harness.ledger.verify();
    await harness.close();
    expect(report.problem).toBeUndefined();
  });

  it('agrees with a reference model of balances on random sequences of operations', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
        await run(harness, newTenant(), steps);
      }),
      { numRuns: runs },
    );
  });
}

describe('wallet operations against a reference model (SQLite)', () => {
  propertySuite(openSqliteHarness, 50);
});

describeWithPostgres('wallet operations against a reference model (PostgreSQL)', (url) => {
  propertySuite(() => openPostgresHarness(url), 50);
});
