// The wallet service over HTTP: every call made through the RPC client gives what the same call on
// the service gives, results and ApiErrors alike, with every amount still a bigint.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomId, type Tenant } from '@paygrid/kernel';
import { expectSameRefusal, serveOverRpc, type ServedOverRpc } from '@paygrid/kernel/testing';
import { simulated_bank_account_numbers } from './bank';
import { wallet_contract } from './contract';
import type { WalletService } from './service';
import { newTenant, openSqliteHarness, type Harness } from './testing/harness';
import type { Wallet, WalletClient } from './types';

const bank_account = { account_holder_name: 'Jenny Rosen', routing_number: '110000000', account_number: simulated_bank_account_numbers.succeeds };

let harness: Harness;
let wallets: WalletService;
let served: ServedOverRpc<WalletClient>;
let remote: WalletClient;
let tenant: Tenant;

beforeAll(async () => {
  harness = await openSqliteHarness();
  wallets = harness.wallets;
  served = await serveOverRpc(wallet_contract, wallets);
  remote = served.remote;
  tenant = newTenant();
});

afterAll(async () => {
  await served.close();
  const report = await harness.ledger.verify();
  await harness.close();
  expect(report.problem).toBeUndefined();
});

async function remoteWallet(currency = 'usd'): Promise<Wallet> {
  const customer = randomId('cus');
  harness.customers.add(tenant, customer);
  return remote.createWallet(tenant, { customer, currency });
}


describe('wallet over RPC', () => {
  it('creates wallets and moves money as the service does, amounts staying bigints', async () => {
    const alice = await remoteWallet();
    const bob = await remoteWallet();
    expect(alice).toEqual(await wallets.getWallet(tenant, alice.id));

    const top_up = await remote.topUp(tenant, alice.id, { amount: 10_000n, idempotency_key: 'top-up-1' });
    expect(typeof top_up.amount).toBe('bigint');
    expect(top_up).toEqual(await wallets.getTopUp(tenant, top_up.id));
    // The same key again meets the first top-up: the contract counts this call as idempotent.
    expect(await remote.topUp(tenant, alice.id, { amount: 10_000n, idempotency_key: 'top-up-1' })).toEqual(top_up);

    const transfer = await remote.transfer(tenant, { source: alice.id, destination: bob.id, amount: 2_500n, currency: 'usd' });
    expect(transfer).toEqual(await wallets.getTransfer(tenant, transfer.id));
    expect('description' in transfer && transfer.description === null).toBe(true);
    const payment = await remote.pay(tenant, bob.id, { amount: 500n, description: 'coffee' });
    expect(payment).toEqual(await wallets.getPayment(tenant, payment.id));
    const refund = await remote.refundPayment(tenant, payment.id, { amount: 200n });
    expect(refund.amount).toBe(200n);
    const withdrawal = await remote.withdraw(tenant, alice.id, { amount: 1_000n, bank_account });
    expect(withdrawal).toEqual(await wallets.getWithdrawal(tenant, withdrawal.id));
    const settled = await remote.completeWithdrawalForTest(tenant, withdrawal.id, 'succeeded');
    expect(settled.status).toBe('succeeded');
    expect(await remote.completeWithdrawalForTest(tenant, withdrawal.id, 'succeeded')).toEqual(settled);

    const balance = (await remote.getWallet(tenant, alice.id)).balance;
    expect(balance).toEqual({ available: 6_500n, pending: 0n });
    expect(typeof balance.available).toBe('bigint');
    const history = await remote.listTransactions(tenant, alice.id, { limit: 2 });
    expect(history).toEqual(await wallets.listTransactions(tenant, alice.id, { limit: 2 }));
    expect(history.data.map((line) => typeof line.amount)).toEqual(['bigint', 'bigint']);
  });

  it('lists with pagination and filters as the service does', async () => {
    for (let index = 0; index < 3; index += 1) await remoteWallet(index === 0 ? 'eur' : 'usd');
    const first = await remote.listWallets(tenant, { limit: 2 });
    expect(first).toEqual(await wallets.listWallets(tenant, { limit: 2 }));
    expect(first.has_more).toBe(true);
    const cursor = first.data[1]?.id;
    expect(await remote.listWallets(tenant, { limit: 2, starting_after: cursor })).toEqual(await wallets.listWallets(tenant, { limit: 2, starting_after: cursor }));
    const customer = first.data[0]?.customer;
    expect(await remote.listWallets(tenant, {}, { customer })).toEqual(await wallets.listWallets(tenant, {}, { customer }));
    expect(await remote.listTransfers(tenant, { limit: 1 })).toEqual(await wallets.listTransfers(tenant, { limit: 1 }));
  });

  it('keeps null limits apart from absent ones', async () => {
    const limits = await remote.setLimits(tenant, { currency: 'usd', per_transaction_max: 5_000n, per_day_max: null });
    expect(limits).toEqual({ object: 'wallet_limits', currency: 'usd', per_transaction_max: 5_000n, per_day_max: null, livemode: false });
    // per_day_max left out: unchanged; per_transaction_max null: no limit.
    expect(await remote.setLimits(tenant, { currency: 'usd', per_transaction_max: null })).toEqual(await wallets.getLimits(tenant, 'usd'));
    expect(await remote.getLimits(tenant, 'usd')).toEqual({ ...limits, per_transaction_max: null });
  });

  it('refuses what the service refuses, with the same ApiError', async () => {
    const wallet = await remoteWallet();
    await expectSameRefusal(wallets.getWallet(tenant, 'wal_missing'), remote.getWallet(tenant, 'wal_missing'));
    // One key for both, so that the refused operation has one id and the messages, which name it, agree.
    const short = await expectSameRefusal(wallets.pay(tenant, wallet.id, { amount: 1n, idempotency_key: 'short-1' }), remote.pay(tenant, wallet.id, { amount: 1n, idempotency_key: 'short-1' }));
    expect(short.code).toBe('insufficient_funds');
    await expectSameRefusal(wallets.topUp(tenant, wallet.id, { amount: -5n }), remote.topUp(tenant, wallet.id, { amount: -5n }));
    await expectSameRefusal(wallets.createWallet(tenant, { customer: wallet.customer, currency: 'usd' }), remote.createWallet(tenant, { customer: wallet.customer, currency: 'usd' }));
    await expectSameRefusal(wallets.listWallets(tenant, { limit: 0 }), remote.listWallets(tenant, { limit: 0 }));
  });
});
