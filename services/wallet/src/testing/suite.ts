// The wallet service's behaviour, run on SQLite and on PostgreSQL (service.test.ts), each time
// against a real ledger on the same kind of store.
import { ApiError, ManualClock, type Tenant } from '@paygrid/kernel';
import { TransferCode, amount_max, merchantBalanceAccountId, merchantPlatformAccountId } from '@paygrid/ledger';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { simulated_bank_account_numbers } from '../bank';
import { LedgerLayout, legacyOperationTransferId, settlementTransferId, walletAccountId } from '../chart';
import { operationTransferId } from '../operation-ids';
import { insertOperation, insertStep, listProjectionCursors, listSteps } from '../store';
import { outbox_retention_ms_default, type WalletService } from '../service';
import type { Wallet } from '../types';
import { answerLosingLedger, eventually, newTenant, newWallet, unavailableLedger, unreachableBank, type Harness } from './harness';

const bank_account = (account_number: string = simulated_bank_account_numbers.succeeds) => ({
  account_holder_name: 'Jenny Rosen',
  routing_number: '110000000',
  account_number,
});

/** A clock far ahead of the system clock, so that the suite's other services never find its rows due. */
function futureClock(): ManualClock {
  return new ManualClock(Date.UTC(2030, 0, 1, 12));
}

async function expectApiError(work: Promise<unknown>, expected: { type: string; code: string; param?: string }): Promise<ApiError> {
  const error: unknown = await work.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ApiError);
  const api_error = error as ApiError;
  expect({ type: api_error.type, code: api_error.code, ...(expected.param === undefined ? {} : { param: api_error.param }) }).toEqual(expected);
  return api_error;
}

export function walletSuite(open: () => Promise<Harness>): void {
  let harness: Harness;
  let wallets: WalletService;

  beforeAll(async () => {
    harness = await open();
    wallets = harness.wallets;
  });

  afterAll(async () => {
    const report = await harness.ledger.verify();
    await harness.close();
    expect(report.problem).toBeUndefined();
  });

  async function funded(tenant: Tenant, amount: bigint, currency = 'usd'): Promise<Wallet> {
    const wallet = await newWallet(harness, wallets, tenant, currency);
    await wallets.topUp(tenant, wallet.id, { amount });
    return wallets.getWallet(tenant, wallet.id);
  }

  async function available(tenant: Tenant, wallet_id: string): Promise<bigint> {
    return (await wallets.getWallet(tenant, wallet_id)).balance.available;
  }

  it('creates one wallet per customer and currency, with its own ledger account', async () => {
    const tenant = newTenant();
    harness.customers.add(tenant, 'cus_a');
    const wallet = await wallets.createWallet(tenant, { customer: 'cus_a', currency: 'USD' });
    expect(wallet).toMatchObject({ object: 'wallet', customer: 'cus_a', currency: 'usd', status: 'active', balance: { available: 0n, pending: 0n }, livemode: false });
    expect(wallet.id).toMatch(/^wal_[0-9A-Za-z]{24}$/);
    const [account] = await harness.ledger.lookupAccounts([walletAccountId(wallet.id)]);
    expect(account).toBeDefined();
    expect(await wallets.getWallet(tenant, wallet.id)).toEqual(wallet);

    await expectApiError(wallets.createWallet(tenant, { customer: 'cus_a', currency: 'usd' }), { type: 'invalid_request_error', code: 'wallet_exists', param: 'customer' });
    const euro = await wallets.createWallet(tenant, { customer: 'cus_a', currency: 'eur' });
    expect(euro.currency).toBe('eur');
    await expectApiError(wallets.createWallet(tenant, { customer: 'cus_unknown', currency: 'usd' }), { type: 'not_found_error', code: 'resource_missing', param: 'customer' });
    await expectApiError(wallets.createWallet(tenant, { customer: 'cus_a', currency: 'xyz' }), { type: 'invalid_request_error', code: 'currency_unknown', param: 'currency' });

    const listed = await wallets.listWallets(tenant, {});
    expect(listed.data.map((each) => each.id)).toEqual([euro.id, wallet.id]);
    const of_customer = await wallets.listWallets(tenant, { limit: 1 }, { customer: 'cus_a' });
    expect(of_customer).toEqual({ data: [euro], has_more: true });
    expect((await wallets.listWallets(tenant, {}, { customer: 'cus_other' })).data).toEqual([]);
  });

  it('tops up in test mode and shows the balance; live top-ups are refused', async () => {
    const tenant = newTenant();
    const wallet = await newWallet(harness, wallets, tenant);
    const top_up = await wallets.topUp(tenant, wallet.id, { amount: 5_000n });
    expect(top_up).toMatchObject({ object: 'top_up', wallet: wallet.id, amount: 5_000n, currency: 'usd', source: 'simulated_bank_deposit', status: 'succeeded', failure_code: null, livemode: false });
    expect(top_up.id).toMatch(/^tu_/);
    expect((await wallets.getWallet(tenant, wallet.id)).balance).toEqual({ available: 5_000n, pending: 0n });
    expect(await wallets.getTopUp(tenant, top_up.id)).toEqual(top_up);
    // The deposit comes from the merchant's own platform-side account (decision 67), which saw nothing else.
    const [deposits] = await harness.ledger.lookupAccounts([merchantPlatformAccountId('bank_deposits', tenant.merchant_id, 'USD', false)]);
    expect(deposits?.debits_posted).toBe(5_000n);

    const live = newTenant(true);
    const live_wallet = await newWallet(harness, wallets, live);
    expect(live_wallet.livemode).toBe(true);
    await expectApiError(wallets.topUp(live, live_wallet.id, { amount: 100n }), { type: 'invalid_request_error', code: 'top_up_source_unavailable' });
  });

  it('refuses amounts that are not positive integers within the ledger maximum', async () => {
    const tenant = newTenant();
    const wallet = await funded(tenant, 100n);
    const other = await newWallet(harness, wallets, tenant);
    for (const amount of [0n, -1n, amount_max + 1n, 10 as unknown as bigint, '10' as unknown as bigint]) {
      await expectApiError(wallets.topUp(tenant, wallet.id, { amount }), { type: 'invalid_request_error', code: 'amount_invalid', param: 'amount' });
      await expectApiError(wallets.transfer(tenant, { source: wallet.id, destination: other.id, amount, currency: 'usd' }), {
        type: 'invalid_request_error',
        code: 'amount_invalid',
        param: 'amount',
      });
      await expectApiError(wallets.pay(tenant, wallet.id, { amount }), { type: 'invalid_request_error', code: 'amount_invalid', param: 'amount' });
      await expectApiError(wallets.withdraw(tenant, wallet.id, { amount, bank_account: bank_account() }), { type: 'invalid_request_error', code: 'amount_invalid', param: 'amount' });
    }
    expect(await available(tenant, wallet.id)).toBe(100n);
    expect((await wallets.listTransactions(tenant, wallet.id, {})).data).toHaveLength(1);
  });

  it('moves exact amounts between wallets and shows them in both histories with signs', async () => {
    const tenant = newTenant();
    const alice = await funded(tenant, 10_000n);
    const bob = await newWallet(harness, wallets, tenant);
    const transfer = await wallets.transfer(tenant, { source: alice.id, destination: bob.id, amount: 2_501n, currency: 'usd', description: 'dinner' });
    expect(transfer).toMatchObject({ object: 'wallet_transfer', source: alice.id, destination: bob.id, amount: 2_501n, currency: 'usd', description: 'dinner', status: 'succeeded', failure_code: null });
    expect(transfer.id).toMatch(/^wtr_/);
    expect(await available(tenant, alice.id)).toBe(7_499n);
    expect(await available(tenant, bob.id)).toBe(2_501n);
    const back = await wallets.transfer(tenant, { source: bob.id, destination: alice.id, amount: 1n, currency: 'USD' });

    const alice_history = await wallets.listTransactions(tenant, alice.id, {});
    expect(alice_history.data.map((line) => [line.type, line.amount, line.status])).toEqual([
      ['transfer_in', 1n, 'succeeded'],
      ['transfer_out', -2_501n, 'succeeded'],
      ['top_up', 10_000n, 'succeeded'],
    ]);
    expect(alice_history.data[1]).toMatchObject({ id: transfer.id, object: 'wallet_transaction', wallet: alice.id, currency: 'usd', livemode: false });
    const bob_history = await wallets.listTransactions(tenant, bob.id, {});
    expect(bob_history.data.map((line) => [line.id, line.type, line.amount])).toEqual([
      [back.id, 'transfer_out', -1n],
      [transfer.id, 'transfer_in', 2_501n],
    ]);
    const page = await wallets.listTransactions(tenant, alice.id, { limit: 1, starting_after: alice_history.data[0]?.id ?? '' });
    expect(page.data.map((line) => line.id)).toEqual([transfer.id]);
    expect(page.has_more).toBe(true);

    expect(await wallets.getTransfer(tenant, transfer.id)).toEqual(transfer);
    expect((await wallets.listTransfers(tenant, {})).data.map((each) => each.id)).toEqual([back.id, transfer.id]);
  });

  it('refuses a transfer beyond the available balance and moves nothing', async () => {
    const tenant = newTenant();
    const alice = await funded(tenant, 1_000n);
    const bob = await newWallet(harness, wallets, tenant);
    await expectApiError(wallets.transfer(tenant, { source: alice.id, destination: bob.id, amount: 1_001n, currency: 'usd' }), {
      type: 'invalid_request_error',
      code: 'insufficient_funds',
      param: 'amount',
    });
    await expectApiError(wallets.pay(tenant, alice.id, { amount: 1_001n }), { type: 'invalid_request_error', code: 'insufficient_funds', param: 'amount' });
    await expectApiError(wallets.withdraw(tenant, alice.id, { amount: 1_001n, bank_account: bank_account() }), {
      type: 'invalid_request_error',
      code: 'insufficient_funds',
      param: 'amount',
    });
    expect((await wallets.getWallet(tenant, alice.id)).balance).toEqual({ available: 1_000n, pending: 0n });
    expect((await wallets.getWallet(tenant, bob.id)).balance).toEqual({ available: 0n, pending: 0n });
    const [failed] = (await wallets.listTransfers(tenant, {})).data;
    expect(failed).toMatchObject({ status: 'failed', failure_code: 'insufficient_funds' });
    // An exact spend of everything is fine.
    await wallets.transfer(tenant, { source: alice.id, destination: bob.id, amount: 1_000n, currency: 'usd' });
    expect(await available(tenant, alice.id)).toBe(0n);
  });

  it('refuses mismatched currencies and a transfer to the same wallet', async () => {
    const tenant = newTenant();
    const usd = await funded(tenant, 500n);
    const eur = await newWallet(harness, wallets, tenant, 'eur');
    const other_usd = await newWallet(harness, wallets, tenant);
    await expectApiError(wallets.transfer(tenant, { source: usd.id, destination: eur.id, amount: 1n, currency: 'usd' }), { type: 'invalid_request_error', code: 'currency_mismatch', param: 'currency' });
    await expectApiError(wallets.transfer(tenant, { source: usd.id, destination: other_usd.id, amount: 1n, currency: 'eur' }), {
      type: 'invalid_request_error',
      code: 'currency_mismatch',
      param: 'currency',
    });
    await expectApiError(wallets.transfer(tenant, { source: usd.id, destination: usd.id, amount: 1n, currency: 'usd' }), {
      type: 'invalid_request_error',
      code: 'wallets_must_be_different',
      param: 'destination',
    });
    expect(await available(tenant, usd.id)).toBe(500n);
  });

  it('pays the merchant from a wallet', async () => {
    const tenant = newTenant();
    const wallet = await funded(tenant, 900n);
    const payment = await wallets.pay(tenant, wallet.id, { amount: 350n, description: 'order 42' });
    expect(payment).toMatchObject({ object: 'wallet_payment', wallet: wallet.id, amount: 350n, currency: 'usd', description: 'order 42', status: 'succeeded', failure_code: null });
    expect(payment.id).toMatch(/^wpy_/);
    expect(await available(tenant, wallet.id)).toBe(550n);
    const [merchant] = await harness.ledger.lookupAccounts([merchantBalanceAccountId(tenant.merchant_id, 'USD', false)]);
    expect(merchant).toMatchObject({ credits_posted: 350n, debits_posted: 0n, flags: 0 });
    expect(await wallets.getPayment(tenant, payment.id)).toEqual(payment);
    const [line] = (await wallets.listTransactions(tenant, wallet.id, {})).data;
    expect(line).toMatchObject({ id: payment.id, type: 'payment', amount: -350n });
  });

  it('refunds a wallet payment in parts, back from the merchant balance, never beyond the payment', async () => {
    const tenant = newTenant();
    const wallet = await funded(tenant, 1_000n);
    const payment = await wallets.pay(tenant, wallet.id, { amount: 600n });
    const merchant_id = merchantBalanceAccountId(tenant.merchant_id, 'USD', false);

    const first = await wallets.refundPayment(tenant, payment.id, { amount: 200n, idempotency_key: 'refund-1' });
    expect(first).toMatchObject({ object: 'wallet_refund', wallet: wallet.id, payment: payment.id, amount: 200n, currency: 'usd', status: 'succeeded', failure_code: null, livemode: false });
    expect(first.id).toMatch(/^wrf_/);
    expect(await available(tenant, wallet.id)).toBe(600n);
    const [merchant] = await harness.ledger.lookupAccounts([merchant_id]);
    expect(merchant).toMatchObject({ credits_posted: 600n, debits_posted: 200n });
    const [transfer] = await harness.ledger.lookupTransfers([operationTransferId(first.id)]);
    expect(transfer?.transfer).toMatchObject({ debit_account_id: merchant_id, credit_account_id: walletAccountId(wallet.id), amount: 200n, code: TransferCode.wallet_refund });

    // The same key replays; a different request under it is refused.
    expect(await wallets.refundPayment(tenant, payment.id, { amount: 200n, idempotency_key: 'refund-1' })).toEqual(first);
    await expectApiError(wallets.refundPayment(tenant, payment.id, { amount: 300n, idempotency_key: 'refund-1' }), { type: 'idempotency_error', code: 'idempotency_key_reused', param: 'idempotency_key' });

    await expectApiError(wallets.refundPayment(tenant, payment.id, { amount: 401n }), { type: 'invalid_request_error', code: 'refund_exceeds_payment', param: 'amount' });
    // A frozen wallet still receives refunds: it is incoming money.
    await wallets.updateWallet(tenant, wallet.id, { status: 'frozen' });
    const rest = await wallets.refundPayment(tenant, payment.id, { amount: 400n });
    expect(rest.status).toBe('succeeded');
    expect(await available(tenant, wallet.id)).toBe(1_000n);
    await expectApiError(wallets.refundPayment(tenant, payment.id, { amount: 1n }), { type: 'invalid_request_error', code: 'refund_exceeds_payment', param: 'amount' });

    const history = await wallets.listTransactions(tenant, wallet.id, {});
    expect(history.data.map((line) => [line.type, line.amount])).toEqual([
      ['refund', 400n],
      ['refund', 200n],
      ['payment', -600n],
      ['top_up', 1_000n],
    ]);

    await expectApiError(wallets.refundPayment(tenant, 'wpy_missing', { amount: 1n }), { type: 'not_found_error', code: 'resource_missing', param: 'payment' });
    // Another merchant's payment reads as missing.
    await expectApiError(wallets.refundPayment(newTenant(), payment.id, { amount: 1n }), { type: 'not_found_error', code: 'resource_missing', param: 'payment' });
    // A refund is not a payment: it cannot be refunded.
    await expectApiError(wallets.refundPayment(tenant, first.id, { amount: 1n }), { type: 'not_found_error', code: 'resource_missing', param: 'payment' });
    await expectApiError(wallets.refundPayment(tenant, payment.id, { amount: 0n }), { type: 'invalid_request_error', code: 'amount_invalid', param: 'amount' });
  });

  it('tops up from a payment intent out of the merchant balance, live too, into a frozen wallet, with no limits', async () => {
    const tenant = newTenant(true);
    const wallet = await newWallet(harness, wallets, tenant);
    const merchant_id = merchantBalanceAccountId(tenant.merchant_id, 'USD', true);
    await wallets.setLimits(tenant, { currency: 'usd', per_transaction_max: 100n, per_day_max: 100n });
    await wallets.updateWallet(tenant, wallet.id, { status: 'frozen' });

    const top_up = await wallets.topUpFromPayment(tenant, wallet.id, { amount: 5_000n, payment_intent: 'pi_topuptopuptopup', idempotency_key: 'pi_topuptopuptopup:top_up' });
    expect(top_up).toMatchObject({ object: 'top_up', wallet: wallet.id, amount: 5_000n, currency: 'usd', source: 'payment_intent', payment_intent: 'pi_topuptopuptopup', status: 'succeeded', livemode: true });
    expect(await available(tenant, wallet.id)).toBe(5_000n);
    const [transfer] = await harness.ledger.lookupTransfers([operationTransferId(top_up.id)]);
    expect(transfer?.transfer).toMatchObject({ debit_account_id: merchant_id, credit_account_id: walletAccountId(wallet.id), amount: 5_000n, code: TransferCode.wallet_top_up });
    // The same key replays the first top-up; another intent under it is refused.
    expect(await wallets.topUpFromPayment(tenant, wallet.id, { amount: 5_000n, payment_intent: 'pi_topuptopuptopup', idempotency_key: 'pi_topuptopuptopup:top_up' })).toEqual(top_up);
    await expectApiError(wallets.topUpFromPayment(tenant, wallet.id, { amount: 5_000n, payment_intent: 'pi_othertopuptopup', idempotency_key: 'pi_topuptopuptopup:top_up' }), {
      type: 'idempotency_error',
      code: 'idempotency_key_reused',
      param: 'idempotency_key',
    });
    await expectApiError(wallets.topUpFromPayment(tenant, wallet.id, { amount: 1n, payment_intent: 'pi_x', idempotency_key: '' }), { type: 'invalid_request_error', code: 'parameter_invalid', param: 'idempotency_key' });
    await expectApiError(wallets.topUpFromPayment(newTenant(true), wallet.id, { amount: 1n, payment_intent: 'pi_x', idempotency_key: 'k' }), { type: 'not_found_error', code: 'resource_missing', param: 'wallet' });
    expect(await wallets.getTopUp(tenant, top_up.id)).toEqual(top_up);
  });

  it('reverses a top-up from a payment in parts, back to the merchant balance, never beyond the top-up or the wallet balance', async () => {
    const tenant = newTenant();
    const wallet = await newWallet(harness, wallets, tenant);
    const merchant_id = merchantBalanceAccountId(tenant.merchant_id, 'USD', false);
    const top_up = await wallets.topUpFromPayment(tenant, wallet.id, { amount: 1_000n, payment_intent: 'pi_reversereverse', idempotency_key: 'pi_reversereverse:top_up' });
    // A frozen wallet still gives the money back, and the reversal is not spending: limits do not apply.
    await wallets.setLimits(tenant, { currency: 'usd', per_transaction_max: 10n, per_day_max: 10n });
    await wallets.updateWallet(tenant, wallet.id, { status: 'frozen' });

    const first = await wallets.reverseTopUp(tenant, top_up.id, { amount: 300n, idempotency_key: 'reversal-1' });
    expect(first).toMatchObject({ object: 'top_up_reversal', wallet: wallet.id, top_up: top_up.id, amount: 300n, currency: 'usd', status: 'succeeded', failure_code: null });
    expect(first.id).toMatch(/^tur_/);
    expect(await available(tenant, wallet.id)).toBe(700n);
    const [transfer] = await harness.ledger.lookupTransfers([operationTransferId(first.id)]);
    expect(transfer?.transfer).toMatchObject({ debit_account_id: walletAccountId(wallet.id), credit_account_id: merchant_id, amount: 300n, code: TransferCode.wallet_top_up_reversal });
    expect(await wallets.reverseTopUp(tenant, top_up.id, { amount: 300n, idempotency_key: 'reversal-1' })).toEqual(first);
    expect(await wallets.getTopUpReversal(tenant, first.id)).toEqual(first);
    await expectApiError(wallets.reverseTopUp(tenant, top_up.id, { amount: 701n, idempotency_key: 'reversal-2' }), { type: 'invalid_request_error', code: 'reversal_exceeds_top_up', param: 'amount' });

    // Spent money cannot be taken back: the ledger refuses, and nothing moves.
    await wallets.updateWallet(tenant, wallet.id, { status: 'active' });
    await wallets.setLimits(tenant, { currency: 'usd', per_transaction_max: null, per_day_max: null });
    await wallets.pay(tenant, wallet.id, { amount: 600n });
    await expectApiError(wallets.reverseTopUp(tenant, top_up.id, { amount: 200n, idempotency_key: 'reversal-3' }), { type: 'invalid_request_error', code: 'insufficient_funds', param: 'amount' });
    // The replay answers the same refusal.
    await expectApiError(wallets.reverseTopUp(tenant, top_up.id, { amount: 200n, idempotency_key: 'reversal-3' }), { type: 'invalid_request_error', code: 'insufficient_funds', param: 'amount' });
    expect(await available(tenant, wallet.id)).toBe(100n);
    const [merchant] = await harness.ledger.lookupAccounts([merchant_id]);
    expect(merchant).toMatchObject({ debits_posted: 1_000n, credits_posted: 900n });

    const history = await wallets.listTransactions(tenant, wallet.id, {});
    expect(history.data.map((line) => [line.type, line.amount, line.status])).toEqual([
      ['top_up_reversal', -200n, 'failed'],
      ['payment', -600n, 'succeeded'],
      ['top_up_reversal', -300n, 'succeeded'],
      ['top_up', 1_000n, 'succeeded'],
    ]);

    // A simulated deposit has no payment to refund; other tenants' top-ups read as missing.
    const deposit = await wallets.topUp(tenant, wallet.id, { amount: 50n });
    await expectApiError(wallets.reverseTopUp(tenant, deposit.id, { amount: 1n, idempotency_key: 'reversal-4' }), { type: 'invalid_request_error', code: 'top_up_not_reversible', param: 'top_up' });
    await expectApiError(wallets.reverseTopUp(newTenant(), top_up.id, { amount: 1n, idempotency_key: 'reversal-5' }), { type: 'not_found_error', code: 'resource_missing', param: 'top_up' });
    await expectApiError(wallets.reverseTopUp(tenant, top_up.id, { amount: 1n, idempotency_key: '' }), { type: 'invalid_request_error', code: 'parameter_invalid', param: 'idempotency_key' });
  });

  it('restores a reversal once, in full, back into the wallet, after which the top-up may be reversed again', async () => {
    const tenant = newTenant();
    const wallet = await newWallet(harness, wallets, tenant);
    const merchant_id = merchantBalanceAccountId(tenant.merchant_id, 'USD', false);
    const top_up = await wallets.topUpFromPayment(tenant, wallet.id, { amount: 1_000n, payment_intent: 'pi_restorerestore', idempotency_key: 'pi_restorerestore:top_up' });
    const reversal = await wallets.reverseTopUp(tenant, top_up.id, { amount: 1_000n, idempotency_key: 'restore-reversal-1' });
    expect(await available(tenant, wallet.id)).toBe(0n);
    await expectApiError(wallets.reverseTopUp(tenant, top_up.id, { amount: 1n, idempotency_key: 'restore-reversal-2' }), { type: 'invalid_request_error', code: 'reversal_exceeds_top_up', param: 'amount' });

    // Incoming money: a frozen wallet still receives it.
    await wallets.updateWallet(tenant, wallet.id, { status: 'frozen' });
    const restoration = await wallets.restoreTopUpReversal(tenant, reversal.id, { idempotency_key: 're_restore:top_up_restoration' });
    expect(restoration).toMatchObject({ object: 'top_up_restoration', wallet: wallet.id, top_up_reversal: reversal.id, amount: 1_000n, currency: 'usd', status: 'succeeded', failure_code: null });
    expect(restoration.id).toMatch(/^tus_/);
    expect(await available(tenant, wallet.id)).toBe(1_000n);
    const [transfer] = await harness.ledger.lookupTransfers([operationTransferId(restoration.id)]);
    expect(transfer?.transfer).toMatchObject({ debit_account_id: merchant_id, credit_account_id: walletAccountId(wallet.id), amount: 1_000n, code: TransferCode.wallet_top_up_restoration });
    const [merchant] = await harness.ledger.lookupAccounts([merchant_id]);
    expect(merchant).toMatchObject({ debits_posted: 2_000n, credits_posted: 1_000n });

    // The same key replays the first restoration and moves nothing; another key is refused.
    expect(await wallets.restoreTopUpReversal(tenant, reversal.id, { idempotency_key: 're_restore:top_up_restoration' })).toEqual(restoration);
    expect(await wallets.getTopUpRestoration(tenant, restoration.id)).toEqual(restoration);
    await expectApiError(wallets.restoreTopUpReversal(tenant, reversal.id, { idempotency_key: 'another-key' }), { type: 'invalid_request_error', code: 'reversal_already_restored', param: 'top_up_reversal' });
    expect(await available(tenant, wallet.id)).toBe(1_000n);

    // The restored money may be reversed again (a later refund), and that reversal restored in turn.
    await wallets.updateWallet(tenant, wallet.id, { status: 'active' });
    const again = await wallets.reverseTopUp(tenant, top_up.id, { amount: 1_000n, idempotency_key: 'restore-reversal-3' });
    expect(again.status).toBe('succeeded');
    expect(await available(tenant, wallet.id)).toBe(0n);

    // Only money that left the wallet comes back: a refused reversal cannot be restored.
    await wallets.restoreTopUpReversal(tenant, again.id, { idempotency_key: 're_again:top_up_restoration' });
    await wallets.pay(tenant, wallet.id, { amount: 1_000n });
    await expectApiError(wallets.reverseTopUp(tenant, top_up.id, { amount: 500n, idempotency_key: 'restore-reversal-4' }), { type: 'invalid_request_error', code: 'insufficient_funds', param: 'amount' });
    const refused = (await wallets.listTransactions(tenant, wallet.id, {})).data[0];
    expect(refused).toMatchObject({ type: 'top_up_reversal', status: 'failed' });
    await expectApiError(wallets.restoreTopUpReversal(tenant, refused?.id ?? '', { idempotency_key: 'restore-refused' }), { type: 'invalid_request_error', code: 'reversal_not_restorable', param: 'top_up_reversal' });
    await expectApiError(wallets.restoreTopUpReversal(tenant, top_up.id, { idempotency_key: 'restore-top-up' }), { type: 'not_found_error', code: 'resource_missing', param: 'top_up_reversal' });
    await expectApiError(wallets.restoreTopUpReversal(newTenant(), reversal.id, { idempotency_key: 'restore-other' }), { type: 'not_found_error', code: 'resource_missing', param: 'top_up_reversal' });
    await expectApiError(wallets.restoreTopUpReversal(tenant, reversal.id, { idempotency_key: '' }), { type: 'invalid_request_error', code: 'parameter_invalid', param: 'idempotency_key' });

    const history = await wallets.listTransactions(tenant, wallet.id, {});
    expect(history.data.map((line) => [line.type, line.amount, line.status])).toEqual([
      ['top_up_reversal', -500n, 'failed'],
      ['payment', -1_000n, 'succeeded'],
      ['top_up_restoration', 1_000n, 'succeeded'],
      ['top_up_reversal', -1_000n, 'succeeded'],
      ['top_up_restoration', 1_000n, 'succeeded'],
      ['top_up_reversal', -1_000n, 'succeeded'],
      ['top_up', 1_000n, 'succeeded'],
    ]);
  });

  it('announces top-ups, their reversals and restorations through the outbox, and a refused reversal not at all', async () => {
    const tenant = newTenant();
    const published: { type: string; object: Record<string, unknown>; sequence: number }[] = [];
    const announcing = harness.service({
      events: (event_tenant, event) => {
        if (event_tenant.merchant_id === tenant.merchant_id) published.push({ type: event.type, object: event.data.object, sequence: event.sequence });
        return Promise.resolve();
      },
    });
    const wallet = await newWallet(harness, announcing, tenant);
    const deposit = await announcing.topUp(tenant, wallet.id, { amount: 200n });
    const top_up = await announcing.topUpFromPayment(tenant, wallet.id, { amount: 1_000n, payment_intent: 'pi_announceannounce', idempotency_key: 'pi_announceannounce:top_up' });
    const reversal = await announcing.reverseTopUp(tenant, top_up.id, { amount: 400n, idempotency_key: 'announce-reversal-1' });
    const restoration = await announcing.restoreTopUpReversal(tenant, reversal.id, { idempotency_key: 'announce-restoration' });
    await announcing.pay(tenant, wallet.id, { amount: 1_200n });
    await expectApiError(announcing.reverseTopUp(tenant, top_up.id, { amount: 400n, idempotency_key: 'announce-reversal-2' }), { type: 'invalid_request_error', code: 'insufficient_funds', param: 'amount' });
    await eventually(() => Promise.resolve(published.length >= 4));
    expect(published.map((event) => [event.type, event.object.id, event.sequence])).toEqual([
      ['wallet.top_up.succeeded', deposit.id, 1],
      ['wallet.top_up.succeeded', top_up.id, 1],
      ['wallet.top_up.reversed', reversal.id, 1],
      ['wallet.top_up.restored', restoration.id, 1],
    ]);
    // Each event carries the object as the API shows it.
    expect(published[1]?.object).toMatchObject({ object: 'top_up', wallet: wallet.id, amount: 1_000, source: 'payment_intent', payment_intent: 'pi_announceannounce', status: 'succeeded' });
    expect(published[2]?.object).toMatchObject({ object: 'top_up_reversal', top_up: top_up.id, amount: 400, status: 'succeeded' });
    expect(published[3]?.object).toMatchObject({ object: 'top_up_restoration', top_up_reversal: reversal.id, amount: 400, status: 'succeeded' });
  });

  it('prunes published events from its outbox once they are older than the retention, and keeps the rest', async () => {
    const tenant = newTenant();
    const clock = new ManualClock(Date.now());
    const published: string[] = [];
    const announcing = harness.service({
      clock,
      events: (event_tenant, event) => {
        if (event_tenant.merchant_id === tenant.merchant_id) published.push(event.id);
        return Promise.resolve();
      },
    });
    const wallet = await newWallet(harness, announcing, tenant);
    await announcing.topUp(tenant, wallet.id, { amount: 200n });
    await eventually(() => Promise.resolve(published.length === 1));
    const outboxRows = async () =>
      Number((await harness.database.query<{ events: number }>('SELECT count(*) AS events FROM wallet_events WHERE merchant_id = ?', [tenant.merchant_id]))[0]?.events);
    expect(await outboxRows()).toBe(1);
    // A day is not long enough.
    clock.advance(24 * 60 * 60 * 1_000);
    await announcing.recoverPending();
    expect(await outboxRows()).toBe(1);
    clock.advance(outbox_retention_ms_default);
    // Each pass looks at the oldest events only, and other tests share this outbox.
    while ((await announcing.pruneOutbox()) > 0) continue;
    expect(await outboxRows()).toBe(0);
  });

  it('refuses to refund a payment that failed', async () => {
    const tenant = newTenant();
    const wallet = await funded(tenant, 10n);
    await expectApiError(wallets.pay(tenant, wallet.id, { amount: 11n }), { type: 'invalid_request_error', code: 'insufficient_funds', param: 'amount' });
    const [failed] = (await wallets.listTransactions(tenant, wallet.id, {})).data;
    expect(failed?.status).toBe('failed');
    await expectApiError(wallets.refundPayment(tenant, failed?.id ?? '', { amount: 1n }), { type: 'invalid_request_error', code: 'payment_not_refundable', param: 'payment' });
  });

  it('enforces the per-transaction and per-day limits, across UTC midnight, moving nothing when refused', async () => {
    const tenant = newTenant();
    const clock = new ManualClock(Date.UTC(2030, 2, 10, 22, 0));
    // The ledger expires a day's usage at midnight by its own time, so it shares the test's clock.
    const limited = harness.service({ clock, ledger: await harness.ledgerOnClock(clock) });
    const available = async (_tenant: Tenant, wallet_id: string) => (await limited.getWallet(tenant, wallet_id)).balance.available;
    const wallet = await newWallet(harness, limited, tenant);
    const other = await newWallet(harness, limited, tenant);
    await limited.topUp(tenant, wallet.id, { amount: 100_000n });
    expect(await limited.getLimits(tenant, 'usd')).toEqual({ object: 'wallet_limits', currency: 'usd', per_transaction_max: null, per_day_max: null, livemode: false });
    expect(await limited.setLimits(tenant, { currency: 'USD', per_transaction_max: 1_000n, per_day_max: 2_500n })).toEqual({
      object: 'wallet_limits',
      currency: 'usd',
      per_transaction_max: 1_000n,
      per_day_max: 2_500n,
      livemode: false,
    });
    // The limits belong to test mode of this merchant only.
    expect((await limited.getLimits({ ...tenant, livemode: true }, 'usd')).per_day_max).toBeNull();

    await expectApiError(limited.transfer(tenant, { source: wallet.id, destination: other.id, amount: 1_001n, currency: 'usd' }), {
      type: 'invalid_request_error',
      code: 'wallet_limit_exceeded',
      param: 'amount',
    });
    await limited.transfer(tenant, { source: wallet.id, destination: other.id, amount: 1_000n, currency: 'usd' });
    await limited.pay(tenant, wallet.id, { amount: 1_000n });
    await expectApiError(limited.withdraw(tenant, wallet.id, { amount: 501n, bank_account: bank_account() }), {
      type: 'invalid_request_error',
      code: 'wallet_limit_exceeded',
      param: 'amount',
    });
    await expectApiError(limited.pay(tenant, wallet.id, { amount: 501n }), { type: 'invalid_request_error', code: 'wallet_limit_exceeded', param: 'amount' });
    const history_before = (await limited.listTransactions(tenant, wallet.id, {})).data;
    expect(await available(tenant, wallet.id)).toBe(98_000n);
    // The ledger refused the last two in the commit that would have moved the money; they are in
    // the history as failed. The per-transaction refusal never reached the ledger and left nothing.
    expect(history_before.map((line) => [line.type, line.status])).toEqual([
      ['payment', 'failed'],
      ['withdrawal', 'failed'],
      ['payment', 'succeeded'],
      ['transfer_out', 'succeeded'],
      ['top_up', 'succeeded'],
    ]);
    await limited.pay(tenant, wallet.id, { amount: 500n });

    // One minute before midnight the day is still full; at midnight it starts again.
    clock.set(Date.UTC(2030, 2, 10, 23, 59));
    await expectApiError(limited.pay(tenant, wallet.id, { amount: 1n }), { type: 'invalid_request_error', code: 'wallet_limit_exceeded', param: 'amount' });
    // The ledger releases a day's usage at midnight by its own timestamps, which run a few
    // nanoseconds ahead of the wall clock (each is unique); one second after midnight all is back.
    clock.set(Date.UTC(2030, 2, 11, 0, 0, 1));
    await limited.pay(tenant, wallet.id, { amount: 1_000n });
    await limited.pay(tenant, wallet.id, { amount: 1_000n });
    await expectApiError(limited.pay(tenant, wallet.id, { amount: 501n }), { type: 'invalid_request_error', code: 'wallet_limit_exceeded', param: 'amount' });
    expect(await available(tenant, wallet.id)).toBe(95_500n);
    // Incoming money is not limited.
    await limited.transfer(tenant, { source: other.id, destination: wallet.id, amount: 1_000n, currency: 'usd' });
    await limited.topUp(tenant, wallet.id, { amount: 50_000n });

    // Clearing a limit with null; leaving a field out keeps it.
    expect(await limited.setLimits(tenant, { currency: 'usd', per_day_max: null })).toMatchObject({ per_transaction_max: 1_000n, per_day_max: null });
    await limited.pay(tenant, wallet.id, { amount: 1_000n });
    await expectApiError(limited.setLimits(tenant, { currency: 'usd', per_day_max: 0n }), { type: 'invalid_request_error', code: 'amount_invalid', param: 'per_day_max' });
  });

  it('refuses outgoing money from a frozen wallet and still accepts incoming', async () => {
    const tenant = newTenant();
    const frozen = await funded(tenant, 1_000n);
    const other = await funded(tenant, 1_000n);
    const updated = await wallets.updateWallet(tenant, frozen.id, { status: 'frozen' });
    expect(updated).toMatchObject({ status: 'frozen', balance: { available: 1_000n, pending: 0n } });
    await expectApiError(wallets.transfer(tenant, { source: frozen.id, destination: other.id, amount: 1n, currency: 'usd' }), {
      type: 'invalid_request_error',
      code: 'wallet_frozen',
      param: 'source',
    });
    await expectApiError(wallets.pay(tenant, frozen.id, { amount: 1n }), { type: 'invalid_request_error', code: 'wallet_frozen', param: 'wallet' });
    await expectApiError(wallets.withdraw(tenant, frozen.id, { amount: 1n, bank_account: bank_account() }), { type: 'invalid_request_error', code: 'wallet_frozen', param: 'wallet' });
    await wallets.transfer(tenant, { source: other.id, destination: frozen.id, amount: 200n, currency: 'usd' });
    await wallets.topUp(tenant, frozen.id, { amount: 300n });
    expect(await available(tenant, frozen.id)).toBe(1_500n);
    await expectApiError(wallets.updateWallet(tenant, frozen.id, { status: 'closed' as 'active' }), { type: 'invalid_request_error', code: 'parameter_invalid', param: 'status' });
    await wallets.updateWallet(tenant, frozen.id, { status: 'active' });
    await wallets.pay(tenant, frozen.id, { amount: 1n });
    expect(await available(tenant, frozen.id)).toBe(1_499n);
  });

  it('keeps merchants and modes apart: another tenant’s objects read as missing', async () => {
    const tenant = newTenant();
    const stranger = newTenant();
    const live = { ...tenant, livemode: true };
    const wallet = await funded(tenant, 1_000n);
    const theirs = await funded(stranger, 1_000n);
    const transfer = await wallets.transfer(tenant, { source: wallet.id, destination: (await newWallet(harness, wallets, tenant)).id, amount: 10n, currency: 'usd' });
    const not_found = { type: 'not_found_error', code: 'resource_missing' };
    for (const outsider of [stranger, live]) {
      await expectApiError(wallets.getWallet(outsider, wallet.id), { ...not_found, param: 'id' });
      await expectApiError(wallets.updateWallet(outsider, wallet.id, { status: 'frozen' }), { ...not_found, param: 'id' });
      await expectApiError(wallets.pay(outsider, wallet.id, { amount: 1n }), { ...not_found, param: 'wallet' });
      await expectApiError(wallets.listTransactions(outsider, wallet.id, {}), { ...not_found, param: 'wallet' });
      await expectApiError(wallets.getTransfer(outsider, transfer.id), { ...not_found, param: 'id' });
      expect((await wallets.listTransfers(outsider, {})).data).toEqual([]);
    }
    // Moving money into or out of another merchant's wallet is impossible.
    await expectApiError(wallets.transfer(tenant, { source: wallet.id, destination: theirs.id, amount: 1n, currency: 'usd' }), { ...not_found, param: 'destination' });
    await expectApiError(wallets.transfer(tenant, { source: theirs.id, destination: wallet.id, amount: 1n, currency: 'usd' }), { ...not_found, param: 'source' });
    await expectApiError(wallets.topUp(tenant, theirs.id, { amount: 1n }), { ...not_found, param: 'wallet' });
    // A live wallet and a test wallet of the same merchant never meet.
    const live_wallet = await newWallet(harness, wallets, live);
    await expectApiError(wallets.transfer(tenant, { source: wallet.id, destination: live_wallet.id, amount: 1n, currency: 'usd' }), { ...not_found, param: 'destination' });
    await expectApiError(wallets.getTransfer(tenant, 'wtr_doesnotexist'), { ...not_found, param: 'id' });
    // A transfer id is not a payment id.
    await expectApiError(wallets.getPayment(tenant, transfer.id), { ...not_found, param: 'id' });
    expect(await available(tenant, wallet.id)).toBe(990n);
    expect(await available(stranger, theirs.id)).toBe(1_000n);
  });

  it('holds a withdrawal, then posts it when the bank pays', async () => {
    const tenant = newTenant();
    const wallet = await funded(tenant, 10_000n);
    const withdrawal = await wallets.withdraw(tenant, wallet.id, { amount: 4_000n, bank_account: { ...bank_account(simulated_bank_account_numbers.stays_pending), country: 'us' } });
    expect(withdrawal).toMatchObject({
      object: 'withdrawal',
      wallet: wallet.id,
      amount: 4_000n,
      currency: 'usd',
      status: 'pending',
      failure_code: null,
      bank_account: { account_holder_name: 'Jenny Rosen', routing_number: '110000000', last4: '2227', country: 'US' },
    });
    expect(withdrawal.id).toMatch(/^wd_/);
    expect(JSON.stringify(withdrawal, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value))).not.toContain('000222222227');
    // At rest the account number is sealed: the row holds only its last four digits in the clear.
    const [row] = await harness.database.query<Record<string, unknown>>('SELECT * FROM wallet_operations WHERE id = ?', [withdrawal.id]);
    const stored = Buffer.concat(Object.values(row ?? {}).map((value) => (Buffer.isBuffer(value) ? value : Buffer.from(String(value)))));
    expect(stored.includes(Buffer.from('000222222227'))).toBe(false);
    expect(row).toMatchObject({ bank_account_number: null, bank_account_last4: '2227', bank_kek_id: harness.keyring.current.id });
    // Nothing but a sealed number can be written, whatever code writes the row.
    await expect(harness.database.execute("UPDATE wallet_operations SET bank_account_number = '000222222227' WHERE id = ?", [withdrawal.id])).rejects.toThrow(/sealed/);
    expect((await wallets.getWallet(tenant, wallet.id)).balance).toEqual({ available: 6_000n, pending: 4_000n });
    // The held money cannot be spent twice.
    await expectApiError(wallets.pay(tenant, wallet.id, { amount: 6_001n }), { type: 'invalid_request_error', code: 'insufficient_funds', param: 'amount' });

    const done = await wallets.completeWithdrawalForTest(tenant, withdrawal.id, 'succeeded');
    expect(done).toMatchObject({ id: withdrawal.id, status: 'succeeded', failure_code: null });
    expect((await wallets.getWallet(tenant, wallet.id)).balance).toEqual({ available: 6_000n, pending: 0n });
    const [posted] = await harness.ledger.lookupTransfers([settlementTransferId(withdrawal.id, 'succeeded')]);
    expect(posted?.transfer.amount).toBe(4_000n);
    // Settling again the same way is a no-op; the other way is refused.
    expect(await wallets.settleWithdrawal(withdrawal.id, 'succeeded')).toEqual(done);
    await expectApiError(wallets.settleWithdrawal(withdrawal.id, 'failed', 'account_closed'), { type: 'invalid_request_error', code: 'withdrawal_already_settled' });
    expect((await wallets.getWallet(tenant, wallet.id)).balance).toEqual({ available: 6_000n, pending: 0n });
    const steps = await listSteps(harness.database, withdrawal.id);
    // The bank's own notification races this call to post; whichever records first leaves the
    // step, and the other changes nothing.
    expect(steps.map((step) => step.reason)).toEqual(['created', 'hold_placed:ok', 'settlement_requested:succeeded', expect.stringMatching(/^ledger:(ok|exists)$/)]);
    await expectApiError(wallets.completeWithdrawalForTest({ ...tenant, livemode: true }, withdrawal.id, 'succeeded'), { type: 'invalid_request_error', code: 'test_mode_only' });
  });

  it('one outcome wins concurrent test completions of a withdrawal; the other gets 409 withdrawal_already_completed; wallet, ledger and bank agree', async () => {
    // The bank answers after a moment, as one over HTTP would: every racing call is in flight at once.
    const bank = harness.bank;
    const slow_bank = {
      live_support: bank.live_support,
      submit: (request: Parameters<typeof bank.submit>[0]) => bank.submit(request),
      status: (withdrawal_id: string) => bank.status(withdrawal_id),
      onSettled: (listener: Parameters<typeof bank.onSettled>[0]) => bank.onSettled(listener),
      completeForTest: async (withdrawal_id: string, outcome: 'succeeded' | 'failed') => {
        await new Promise((done) => setTimeout(done, Math.floor(Math.random() * 5)));
        await bank.completeForTest(withdrawal_id, outcome);
      },
    };
    const reported = new Map<string, string[]>();
    bank.onSettled((withdrawal_id, outcome) => reported.set(withdrawal_id, [...(reported.get(withdrawal_id) ?? []), outcome]));
    const instance = harness.service({ bank: slow_bank, recovery_interval_ms: 60_000 });
    await instance.start();
    const tenant = newTenant();
    const wallet = await funded(tenant, 100_000n);
    let available = 100_000n;
    for (let round = 0; round < 3; round += 1) {
      const withdrawal = await instance.withdraw(tenant, wallet.id, { amount: 1_000n, bank_account: bank_account(simulated_bank_account_numbers.stays_pending) });
      const outcomes = Array.from({ length: 30 }, (_, index) => (index % 2 === round % 2 ? 'succeeded' : 'failed'));
      const settled = await Promise.allSettled(outcomes.map((outcome) => instance.completeWithdrawalForTest(tenant, withdrawal.id, outcome)));
      const first = settled.find((result) => result.status === 'fulfilled');
      const winner = first?.status === 'fulfilled' ? first.value.status : undefined;
      expect(winner === 'succeeded' || winner === 'failed').toBe(true);
      settled.forEach((result, index) => {
        if (outcomes[index] === winner) {
          expect(result.status === 'fulfilled' ? result.value.status : result.reason).toBe(winner);
          return;
        }
        const error: unknown = result.status === 'rejected' ? result.reason : undefined;
        expect(error).toBeInstanceOf(ApiError);
        const refused = error as ApiError;
        expect([refused.type, refused.code, refused.param]).toEqual(['idempotency_error', 'withdrawal_already_completed', 'id']);
      });
      expect((await instance.getWithdrawal(tenant, withdrawal.id)).status).toBe(winner);
      if (winner === 'succeeded') available -= 1_000n;
      expect((await instance.getWallet(tenant, wallet.id)).balance).toEqual({ available, pending: 0n });
      const [hold] = await harness.ledger.lookupTransfers([operationTransferId(withdrawal.id)]);
      expect(hold?.status).toBe(winner === 'succeeded' ? 'posted' : 'voided');
      // Whatever the bank reported, however many times, is the outcome the wallet recorded.
      await eventually(() => Promise.resolve(reported.has(withdrawal.id)));
      await new Promise((done) => setTimeout(done, 50));
      expect(new Set(reported.get(withdrawal.id))).toEqual(new Set([winner]));
    }
  });

  it('settles withdrawals as the simulated bank decides, and voids a failed one so the money comes back', async () => {
    const tenant = newTenant();
    const wallet = await funded(tenant, 10_000n);
    const paid = await wallets.withdraw(tenant, wallet.id, { amount: 1_000n, bank_account: bank_account(simulated_bank_account_numbers.succeeds) });
    const refused = await wallets.withdraw(tenant, wallet.id, { amount: 2_000n, bank_account: bank_account(simulated_bank_account_numbers.fails_account_closed) });
    await eventually(async () => (await wallets.getWithdrawal(tenant, paid.id)).status !== 'pending' && (await wallets.getWithdrawal(tenant, refused.id)).status !== 'pending');
    expect(await wallets.getWithdrawal(tenant, paid.id)).toMatchObject({ status: 'succeeded', failure_code: null });
    expect(await wallets.getWithdrawal(tenant, refused.id)).toMatchObject({ status: 'failed', failure_code: 'account_closed' });
    expect((await wallets.getWallet(tenant, wallet.id)).balance).toEqual({ available: 9_000n, pending: 0n });
    const [voided] = await harness.ledger.lookupTransfers([operationTransferId(refused.id)]);
    expect(voided?.status).toBe('voided');
    const history = await wallets.listTransactions(tenant, wallet.id, {});
    expect(history.data.map((line) => [line.type, line.amount, line.status])).toEqual([
      ['withdrawal', -2_000n, 'failed'],
      ['withdrawal', -1_000n, 'succeeded'],
      ['top_up', 10_000n, 'succeeded'],
    ]);

    const by_hand = await wallets.withdraw(tenant, wallet.id, { amount: 500n, bank_account: bank_account(simulated_bank_account_numbers.stays_pending) });
    expect((await wallets.getWallet(tenant, wallet.id)).balance).toEqual({ available: 8_500n, pending: 500n });
    expect(await wallets.completeWithdrawalForTest(tenant, by_hand.id, 'failed')).toMatchObject({ status: 'failed', failure_code: 'could_not_process' });
    expect((await wallets.getWallet(tenant, wallet.id)).balance).toEqual({ available: 9_000n, pending: 0n });
  });

  it('returns the same operation for a repeated idempotency key and moves money once', async () => {
    const tenant = newTenant();
    const alice = await funded(tenant, 1_000n);
    const bob = await newWallet(harness, wallets, tenant);
    const input = { source: alice.id, destination: bob.id, amount: 300n, currency: 'usd', idempotency_key: 'key-1' };
    const first = await wallets.transfer(tenant, input);
    const again = await wallets.transfer(tenant, input);
    expect(again).toEqual(first);
    expect(await available(tenant, alice.id)).toBe(700n);
    await expectApiError(wallets.transfer(tenant, { ...input, amount: 301n }), { type: 'idempotency_error', code: 'idempotency_key_reused', param: 'idempotency_key' });
    await expectApiError(wallets.pay(tenant, alice.id, { amount: 300n, idempotency_key: 'key-1' }), { type: 'idempotency_error', code: 'idempotency_key_reused' });
    // The same key in another tenant is another operation.
    const elsewhere = newTenant();
    const carol = await funded(elsewhere, 1_000n);
    const dave = await newWallet(harness, wallets, elsewhere);
    const theirs = await wallets.transfer(elsewhere, { ...input, source: carol.id, destination: dave.id });
    expect(theirs.id).not.toBe(first.id);

    // A refused operation is refused the same way on replay, even once the money is there.
    const refused = { amount: 5_000n, idempotency_key: 'key-2' };
    await expectApiError(wallets.pay(tenant, alice.id, refused), { type: 'invalid_request_error', code: 'insufficient_funds' });
    await wallets.topUp(tenant, alice.id, { amount: 10_000n });
    await expectApiError(wallets.pay(tenant, alice.id, refused), { type: 'invalid_request_error', code: 'insufficient_funds' });
    expect(await available(tenant, alice.id)).toBe(10_700n);

    const top_up = await wallets.topUp(tenant, bob.id, { amount: 5n, idempotency_key: 'key-3' });
    expect(await wallets.topUp(tenant, bob.id, { amount: 5n, idempotency_key: 'key-3' })).toEqual(top_up);
    const withdrawal = await wallets.withdraw(tenant, alice.id, { amount: 100n, bank_account: bank_account(simulated_bank_account_numbers.stays_pending), idempotency_key: 'key-4' });
    expect(await wallets.withdraw(tenant, alice.id, { amount: 100n, bank_account: bank_account(simulated_bank_account_numbers.stays_pending), idempotency_key: 'key-4' })).toEqual(withdrawal);
    expect((await wallets.getWallet(tenant, alice.id)).balance).toEqual({ available: 10_600n, pending: 100n });
    expect(await available(tenant, bob.id)).toBe(305n);
  });

  it('leaves an operation pending when the ledger is down, and recovery completes it exactly once', async () => {
    const tenant = newTenant();
    const clock = futureClock();
    const alice = await funded(tenant, 1_000n);
    const bob = await newWallet(harness, wallets, tenant);
    const down = harness.service({ clock, ledger: unavailableLedger(harness.ledger) });
    await expectApiError(down.transfer(tenant, { source: alice.id, destination: bob.id, amount: 400n, currency: 'usd' }), {
      type: 'service_unavailable_error',
      code: 'ledger_unavailable',
    });
    const [pending] = (await wallets.listTransfers(tenant, {})).data;
    expect(pending).toMatchObject({ status: 'pending', amount: 400n });
    expect(await available(tenant, alice.id)).toBe(1_000n);

    // The ledger is back; after the retry delay, recovery sends the same transfer.
    const recovering = harness.service({ clock });
    clock.advance(5_000);
    await recovering.recoverPending();
    expect(await wallets.getTransfer(tenant, pending?.id ?? '')).toMatchObject({ status: 'succeeded' });
    expect(await available(tenant, alice.id)).toBe(600n);
    expect(await available(tenant, bob.id)).toBe(400n);
    clock.advance(3_600_000);
    await recovering.recoverPending();
    expect(await available(tenant, alice.id)).toBe(600n);
  });

  it('recovers an operation whose ledger answer was lost: the ledger says it exists, and money moved once', async () => {
    const tenant = newTenant();
    const clock = futureClock();
    const alice = await funded(tenant, 1_000n);
    const bob = await newWallet(harness, wallets, tenant);
    const losing = harness.service({ clock, ledger: answerLosingLedger(harness.ledger) });
    await expectApiError(losing.transfer(tenant, { source: alice.id, destination: bob.id, amount: 250n, currency: 'usd' }), {
      type: 'service_unavailable_error',
      code: 'ledger_unavailable',
    });
    const [line] = (await wallets.listTransactions(tenant, alice.id, {})).data;
    expect(line).toMatchObject({ type: 'transfer_out', status: 'pending' });
    // The money has moved, although the operation does not know yet.
    expect(await available(tenant, alice.id)).toBe(750n);

    const recovering = harness.service({ clock });
    clock.advance(5_000);
    await recovering.recoverPending();
    expect(await wallets.getTransfer(tenant, line?.id ?? '')).toMatchObject({ status: 'succeeded' });
    expect(await available(tenant, alice.id)).toBe(750n);
    expect(await available(tenant, bob.id)).toBe(250n);
    expect((await listSteps(harness.database, line?.id ?? '')).map((step) => step.reason)).toEqual(['created', 'ledger:exists']);
    await wallets.transfer(tenant, { source: alice.id, destination: bob.id, amount: 750n, currency: 'usd' });
    expect(await available(tenant, alice.id)).toBe(0n);
  });

  it('recovers an operation left pending by a process that died after step 1, when its lease runs out', async () => {
    const tenant = newTenant();
    const clock = futureClock();
    const alice = await funded(tenant, 1_000n);
    const bob = await newWallet(harness, wallets, tenant);
    const id = 'wtr_recoveryrecoveryrecovery';
    const now_ms = clock.now();
    // Exactly what step 1 commits (the row, its first step and its saga run), and nothing after it.
    await harness.database.transaction(async (tx) => {
      await insertOperation(tx, {
        id,
        merchant_id: tenant.merchant_id,
        livemode: false,
        type: 'transfer',
        source_wallet_id: alice.id,
        destination_wallet_id: bob.id,
        amount: 123n,
        currency: 'USD',
        description: null,
        status: 'pending',
        failure_code: null,
        idempotency_key: null,
        ledger_transfer_id: legacyOperationTransferId(id),
        ledger_result: null,
        settlement_outcome: null,
        settlement_failure_code: null,
        bank_account: null,
        refunded_payment_id: null,
        payment_intent_id: null,
        reversed_top_up_id: null,
        restored_reversal_id: null,
        created: Math.floor(now_ms / 1000),
        created_ms: now_ms,
        // A row as the saga wrote it before the ledger was the book of record.
        ledger_layout: LedgerLayout.legacy,
        origin: 0,
      });
      await insertStep(tx, { operation_id: id, from_status: null, to_status: 'pending', reason: 'created', created_ms: now_ms });
      // Its saga run, held by the process that died, leased for a minute.
      await tx.execute(
        `INSERT INTO saga_runs (id, saga, step, status, fence, tries, due_ms, holder, input, outputs, error, created_ms, updated_ms)
         VALUES (?, 'wallet_movement', 'move', 'running', 1, 0, ?, 'a_process_that_died', 'null', '{}', NULL, ?, ?)`,
        [id, now_ms + 60_000, now_ms, now_ms],
      );
    });

    // While the dead process's lease runs, a new process leaves the operation alone.
    const early = harness.service({ clock });
    await early.start();
    expect(await wallets.getTransfer(tenant, id)).toMatchObject({ status: 'pending' });
    await early.close();

    clock.advance(60_000);
    const restarted = harness.service({ clock });
    await restarted.start();
    expect(await wallets.getTransfer(tenant, id)).toMatchObject({ status: 'succeeded' });
    expect(await available(tenant, alice.id)).toBe(877n);
    expect(await available(tenant, bob.id)).toBe(123n);
    clock.advance(600_000);
    await restarted.recoverPending();
    const second = harness.service({ clock });
    await second.start();
    expect(await available(tenant, alice.id)).toBe(877n);
    expect(await available(tenant, bob.id)).toBe(123n);
    const transfers = await harness.ledger.getAccountTransfers({ account_id: walletAccountId(bob.id), limit: 10, debits: true, credits: true, reversed: false });
    expect(transfers).toHaveLength(1);
  });

  it('recovers a withdrawal whose bank never heard of it: submits again after a restart and settles', async () => {
    const tenant = newTenant();
    const clock = futureClock();
    const wallet = await funded(tenant, 5_000n);
    const cut_off = harness.service({ clock, bank: unreachableBank });
    const refused = await cut_off.withdraw(tenant, wallet.id, { amount: 1_500n, bank_account: bank_account(simulated_bank_account_numbers.fails_account_closed) });
    const paid = await cut_off.withdraw(tenant, wallet.id, { amount: 500n, bank_account: bank_account(simulated_bank_account_numbers.succeeds) });
    expect(refused.status).toBe('pending');
    expect((await wallets.getWallet(tenant, wallet.id)).balance).toEqual({ available: 3_000n, pending: 2_000n });

    clock.advance(60_000);
    const restarted = harness.service({ clock });
    await restarted.start();
    await eventually(async () => (await wallets.getWithdrawal(tenant, refused.id)).status !== 'pending' && (await wallets.getWithdrawal(tenant, paid.id)).status !== 'pending');
    expect(await wallets.getWithdrawal(tenant, refused.id)).toMatchObject({ status: 'failed', failure_code: 'account_closed' });
    expect(await wallets.getWithdrawal(tenant, paid.id)).toMatchObject({ status: 'succeeded' });
    expect((await wallets.getWallet(tenant, wallet.id)).balance).toEqual({ available: 4_500n, pending: 0n });
  });

  it('finishes a decided settlement that the ledger did not take at the time', async () => {
    const tenant = newTenant();
    const clock = futureClock();
    const wallet = await funded(tenant, 5_000n);
    const withdrawal = await wallets.withdraw(tenant, wallet.id, { amount: 700n, bank_account: bank_account(simulated_bank_account_numbers.stays_pending) });
    const down = harness.service({ clock, ledger: unavailableLedger(harness.ledger) });
    await expectApiError(down.settleWithdrawal(withdrawal.id, 'failed', 'account_frozen'), { type: 'service_unavailable_error', code: 'ledger_unavailable' });
    expect(await wallets.getWithdrawal(tenant, withdrawal.id)).toMatchObject({ status: 'pending' });
    // The decision stands: the other outcome is refused from now on.
    await expectApiError(wallets.settleWithdrawal(withdrawal.id, 'succeeded'), { type: 'invalid_request_error', code: 'withdrawal_already_settled' });

    clock.advance(5_000);
    const recovering = harness.service({ clock });
    await recovering.recoverPending();
    expect(await wallets.getWithdrawal(tenant, withdrawal.id)).toMatchObject({ status: 'failed', failure_code: 'account_frozen' });
    expect((await wallets.getWallet(tenant, wallet.id)).balance).toEqual({ available: 5_000n, pending: 0n });
  });

  it('retries in the background once started, without being asked', async () => {
    const tenant = newTenant();
    const clock = futureClock();
    const alice = await funded(tenant, 1_000n);
    const bob = await newWallet(harness, wallets, tenant);
    const down = harness.service({ clock, ledger: unavailableLedger(harness.ledger) });
    await expectApiError(down.transfer(tenant, { source: alice.id, destination: bob.id, amount: 10n, currency: 'usd' }), {
      type: 'service_unavailable_error',
      code: 'ledger_unavailable',
    });
    const background = harness.service({ clock, recovery_interval_ms: 10 });
    await background.start();
    clock.advance(5_000);
    await eventually(async () => (await available(tenant, bob.id)) === 10n);
    await background.close();
    expect(await available(tenant, alice.id)).toBe(990n);
  });

  it('creates a missing wallet account on demand', async () => {
    const tenant = newTenant();
    const down = harness.service({ ledger: unavailableLedger(harness.ledger) });
    const customer = 'cus_ondemand';
    harness.customers.add(tenant, customer);
    const wallet = await down.createWallet(tenant, { customer, currency: 'usd' });
    expect(await harness.ledger.lookupAccounts([walletAccountId(wallet.id)])).toEqual([]);
    expect((await wallets.getWallet(tenant, wallet.id)).balance).toEqual({ available: 0n, pending: 0n });
    await wallets.topUp(tenant, wallet.id, { amount: 42n });
    expect(await available(tenant, wallet.id)).toBe(42n);
  });

  it('lets exactly as many concurrent transfers through as the balance pays for, never going negative', async () => {
    const tenant = newTenant();
    const source = await funded(tenant, 2_000n);
    const destination = await newWallet(harness, wallets, tenant);
    let lowest = 2_000n;
    let running = true;
    const watcher = (async () => {
      while (running) {
        const balance = (await wallets.getWallet(tenant, source.id)).balance.available;
        if (balance < lowest) lowest = balance;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    const outcomes = await Promise.allSettled(
      Array.from({ length: 50 }, () => wallets.transfer(tenant, { source: source.id, destination: destination.id, amount: 100n, currency: 'usd' })),
    );
    running = false;
    await watcher;
    const succeeded = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const refused = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(succeeded).toHaveLength(20);
    expect(refused).toHaveLength(30);
    for (const outcome of refused) expect((outcome.reason as ApiError).code).toBe('insufficient_funds');
    expect(lowest).toBeGreaterThanOrEqual(0n);
    expect((await wallets.getWallet(tenant, source.id)).balance).toEqual({ available: 0n, pending: 0n });
    expect(await available(tenant, destination.id)).toBe(2_000n);
    const [account] = await harness.ledger.lookupAccounts([walletAccountId(source.id)]);
    expect(account?.debits_posted).toBe(2_000n);
  });

  it('holds the daily limit under concurrency: the ledger serializes the check', async () => {
    const tenant = newTenant();
    const source = await funded(tenant, 100_000n);
    const destination = await newWallet(harness, wallets, tenant);
    await wallets.setLimits(tenant, { currency: 'usd', per_day_max: 500n });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 12 }, () => wallets.transfer(tenant, { source: source.id, destination: destination.id, amount: 100n, currency: 'usd' })),
    );
    // One comparison of every outcome, so that a failure shows what each refused request was told.
    const told = outcomes.map((outcome) => (outcome.status === 'fulfilled' ? 'sent' : `${(outcome.reason as ApiError).code}: ${(outcome.reason as Error).message}`));
    expect(told.map((each) => (each.startsWith('wallet_limit_exceeded:') ? 'wallet_limit_exceeded' : each)).sort(), told.join('\n')).toEqual(
      [...Array<string>(5).fill('sent'), ...Array<string>(7).fill('wallet_limit_exceeded')].sort(),
    );
    expect(await available(tenant, destination.id)).toBe(500n);
  });

  it('lowers and raises a daily limit mid-day against what the wallet has already sent today', async () => {
    const tenant = newTenant();
    const clock = new ManualClock(Date.UTC(2030, 4, 1, 9, 0));
    const limited = harness.service({ clock, ledger: await harness.ledgerOnClock(clock) });
    const wallet = await newWallet(harness, limited, tenant);
    const other = await newWallet(harness, limited, tenant);
    await limited.topUp(tenant, wallet.id, { amount: 10_000n });
    await limited.setLimits(tenant, { currency: 'usd', per_day_max: 1_000n });
    await limited.pay(tenant, wallet.id, { amount: 800n });
    // Lowered below what was sent today: nothing more today, and the refusal moves nothing.
    await limited.setLimits(tenant, { currency: 'usd', per_day_max: 500n });
    await expectApiError(limited.pay(tenant, wallet.id, { amount: 1n }), { type: 'invalid_request_error', code: 'wallet_limit_exceeded', param: 'amount' });
    // Raised: today's 800 still counts against it.
    await limited.setLimits(tenant, { currency: 'usd', per_day_max: 2_000n });
    await expectApiError(limited.transfer(tenant, { source: wallet.id, destination: other.id, amount: 1_201n, currency: 'usd' }), {
      type: 'invalid_request_error',
      code: 'wallet_limit_exceeded',
      param: 'amount',
    });
    await limited.transfer(tenant, { source: wallet.id, destination: other.id, amount: 1_200n, currency: 'usd' });
    expect((await limited.getWallet(tenant, wallet.id)).balance.available).toBe(8_000n);
    // Lifted: no allowance is consulted, and a wallet of a merchant with no limit was never granted one.
    await limited.setLimits(tenant, { currency: 'usd', per_day_max: null });
    await limited.pay(tenant, wallet.id, { amount: 5_000n });
    expect((await limited.getWallet(tenant, wallet.id)).balance.available).toBe(3_000n);
    await expectApiError(limited.setLimits(tenant, { currency: 'usd', per_day_max: 1n << 40n }), { type: 'invalid_request_error', code: 'amount_invalid', param: 'per_day_max' });
  });

  it('refuses a frozen wallet\'s money on every instance from the freeze on, since the ledger holds the freeze', async () => {
    const tenant = newTenant();
    const source = await funded(tenant, 1_000n);
    const destination = await newWallet(harness, wallets, tenant);
    const other_instance = harness.service();
    // The other instance has read the wallet and moved money before the freeze.
    await other_instance.transfer(tenant, { source: source.id, destination: destination.id, amount: 100n, currency: 'usd' });
    await wallets.updateWallet(tenant, source.id, { status: 'frozen' });
    await expectApiError(other_instance.transfer(tenant, { source: source.id, destination: destination.id, amount: 1n, currency: 'usd' }), {
      type: 'invalid_request_error',
      code: 'wallet_frozen',
      param: 'source',
    });
    expect((await other_instance.getWallet(tenant, source.id)).status).toBe('frozen');
    // Freezing twice is one freeze; unfreezing from the other instance lets money go again.
    await wallets.updateWallet(tenant, source.id, { status: 'frozen' });
    await other_instance.updateWallet(tenant, source.id, { status: 'active' });
    await wallets.pay(tenant, source.id, { amount: 1n });
    expect(await available(tenant, source.id)).toBe(899n);
    // A second freeze and unfreeze get transfers of their own.
    await other_instance.updateWallet(tenant, source.id, { status: 'frozen' });
    await expectApiError(wallets.pay(tenant, source.id, { amount: 1n }), { type: 'invalid_request_error', code: 'wallet_frozen', param: 'wallet' });
    await wallets.updateWallet(tenant, source.id, { status: 'active' });
    await wallets.pay(tenant, source.id, { amount: 1n });
    expect(await available(tenant, source.id)).toBe(898n);
  });

  it('rebuilds from the ledger, once, the movements a dead instance answered but never wrote', async () => {
    const tenant = newTenant();
    const alice = await funded(tenant, 1_000n);
    const bob = await newWallet(harness, wallets, tenant);
    const before = new Set((await listProjectionCursors(harness.database)).map((cursor) => cursor.instance_id));
    const dying = harness.service();
    await dying.start();
    const dying_cursor = (await listProjectionCursors(harness.database)).find((cursor) => !before.has(cursor.instance_id));
    expect(dying_cursor).toBeDefined();
    const answered = [
      await dying.transfer(tenant, { source: alice.id, destination: bob.id, amount: 10n, currency: 'usd' }),
      await dying.transfer(tenant, { source: alice.id, destination: bob.id, amount: 20n, currency: 'usd', idempotency_key: 'rebuilt-1' }),
      await dying.pay(tenant, alice.id, { amount: 30n }),
    ];
    // As if the process died after the ledger answered and before its rows were written: the rows
    // are gone and the cursor never moved past where the instance claimed it.
    await dying.listTransfers(tenant, {});
    await harness.database.execute(`DELETE FROM wallet_operations WHERE id IN (${answered.map(() => '?').join(', ')})`, answered.map((each) => each.id));
    await harness.database.execute('UPDATE wallet_projection_cursors SET last_transfer_id = ?, heartbeat_ms = 0 WHERE instance_id = ?', [
      (dying_cursor?.last_transfer_id ?? 0n).toString(),
      dying_cursor?.instance_id ?? '',
    ]);
    expect((await wallets.listTransactions(tenant, alice.id, {})).data.map((line) => line.id)).not.toContain(answered[0]?.id);

    const restarted = harness.service();
    await restarted.start();
    const history = (await restarted.listTransactions(tenant, alice.id, {})).data;
    expect(history.map((line) => [line.id, line.type, line.amount, line.status])).toEqual([
      [answered[2]?.id, 'payment', -30n, 'succeeded'],
      [answered[1]?.id, 'transfer_out', -20n, 'succeeded'],
      [answered[0]?.id, 'transfer_out', -10n, 'succeeded'],
      [expect.stringMatching(/^tu_/), 'top_up', 1_000n, 'succeeded'],
    ]);
    // The rebuilt rows read as the first answers did, and the dead cursor is gone.
    expect(await restarted.getTransfer(tenant, answered[0]?.id ?? '')).toEqual(answered[0]);
    expect((await listProjectionCursors(harness.database)).some((each) => each.instance_id === dying_cursor?.instance_id)).toBe(false);
    // A retry under the key meets the same transfer; nothing moved twice, nothing is listed twice.
    expect(await restarted.transfer(tenant, { source: alice.id, destination: bob.id, amount: 20n, currency: 'usd', idempotency_key: 'rebuilt-1' })).toEqual(answered[1]);
    const again = harness.service();
    await again.start();
    expect((await again.listTransactions(tenant, alice.id, {})).data).toHaveLength(4);
    expect(await available(tenant, alice.id)).toBe(940n);
    expect(await available(tenant, bob.id)).toBe(30n);
  });
}
