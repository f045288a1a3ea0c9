// Customer wallets, the money that moves between them, wallet limits, test helpers, and the
// merchant's own balance.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, requireLiveCapability, type LiveCapabilities } from '@paygrid/kernel';
import { merchantBalanceAccountId, type LedgerClient } from '@paygrid/ledger';
import { currency_codes, type CurrencyCode } from '@paygrid/money';
import type { WalletClient } from '@paygrid/wallet';
import { merchantOf } from '../authentication';
import { idempotencyOption as idempotency } from '../idempotency';
import { IdParams, List, ListQuery } from '@paygrid/kernel/api-schemas';
import { Balance } from '@paygrid/ledger/api-schemas';
import {
  CreateWalletBody,
  CreateWalletTransferBody,
  CurrencyParams,
  PayBody,
  TopUp,
  TopUpBody,
  UpdateWalletBody,
  UpdateWalletLimitsBody,
  Wallet,
  WalletLimits,
  WalletPayment,
  WalletsQuery,
  WalletTransaction,
  WalletTransfer,
  WithdrawBody,
  Withdrawal,
} from '@paygrid/wallet/api-schemas';
import { found, listOf, pageOf, routeSchema } from './route-helpers';


function testModeOnly(request: FastifyRequest): void {
  if (merchantOf(request).tenant.livemode) {
    throw new ApiError('invalid_request_error', 'test_mode_only', 'Test helpers work only with test-mode keys');
  }
}

export function registerWalletRoutes(
  app: FastifyInstance,
  options: { readonly wallet: WalletClient; readonly ledger: LedgerClient; readonly live_capabilities: LiveCapabilities },
): void {
  const { wallet, ledger, live_capabilities } = options;
  const v1 = app.withTypeProvider<TypeBoxTypeProvider>();
  // Each route says what it does, for the table of what a merchant may do (merchant-permissions.ts).
  const read = { auth: 'secret', action: 'read' } as const;
  const write = { auth: 'secret', action: 'write' } as const;
  const move_money = { auth: 'secret', action: 'move_money' } as const;

  v1.post('/wallets', { config: write, schema: routeSchema('Wallets', 'Create a wallet for a customer in one currency', { body: CreateWalletBody, response: Type.Ref(Wallet) }) }, async (request) =>
    wallet.createWallet(merchantOf(request).tenant, request.body),
  );

  v1.get('/wallets', { config: read, schema: routeSchema('Wallets', 'List wallets', { querystring: WalletsQuery, response: List(Type.Ref(Wallet)) }) }, async (request) => {
    const { customer, ...page } = request.query;
    return listOf('/v1/wallets', await wallet.listWallets(merchantOf(request).tenant, pageOf(page), customer === undefined ? {} : { customer }));
  });

  v1.get('/wallets/:id', { config: read, schema: routeSchema('Wallets', 'Retrieve a wallet with its balance', { params: IdParams, response: Type.Ref(Wallet) }) }, async (request) =>
    found(await wallet.getWallet(merchantOf(request).tenant, request.params.id), 'wallet', request.params.id),
  );

  v1.patch(
    '/wallets/:id',
    { config: write, schema: routeSchema('Wallets', 'Freeze or unfreeze a wallet (a frozen wallet refuses outgoing money)', { params: IdParams, body: UpdateWalletBody, response: Type.Ref(Wallet) }) },
    async (request) => wallet.updateWallet(merchantOf(request).tenant, request.params.id, request.body),
  );

  v1.post(
    '/wallets/:id/top_ups',
    { config: move_money, schema: routeSchema('Wallets', 'Top up a wallet (in test mode, from a simulated bank deposit)', { params: IdParams, body: TopUpBody, response: Type.Ref(TopUp) }) },
    async (request) => wallet.topUp(merchantOf(request).tenant, request.params.id, { amount: BigInt(request.body.amount), ...idempotency(request) }),
  );

  v1.post(
    '/wallets/:id/payments',
    { config: move_money, schema: routeSchema('Wallets', 'Pay the merchant from a wallet', { params: IdParams, body: PayBody, response: Type.Ref(WalletPayment) }) },
    async (request) => {
      const { amount, description } = request.body;
      return wallet.pay(merchantOf(request).tenant, request.params.id, { amount: BigInt(amount), ...(description === undefined ? {} : { description }), ...idempotency(request) });
    },
  );

  v1.post(
    '/wallets/:id/withdrawals',
    {
      config: move_money,
      schema: routeSchema('Wallets', 'Withdraw to a bank account: the money is held until the bank confirms, and returned if it fails', {
        params: IdParams,
        body: WithdrawBody,
        response: Type.Ref(Withdrawal),
      }),
    },
    async (request) => {
      const { amount, bank_account } = request.body;
      const { tenant } = merchantOf(request);
      // Before the wallet records anything: live money leaves only through a bank adapter that pays out.
      requireLiveCapability(live_capabilities, 'withdrawals', tenant.livemode, 'bank_account');
      return wallet.withdraw(tenant, request.params.id, {
        amount: BigInt(amount),
        bank_account: { ...bank_account, country: bank_account.country ?? 'US' },
        ...idempotency(request),
      });
    },
  );

  v1.get(
    '/wallets/:id/transactions',
    { config: read, schema: routeSchema('Wallets', "List a wallet's transactions, newest first", { params: IdParams, querystring: ListQuery, response: List(Type.Ref(WalletTransaction)) }) },
    async (request) =>
      listOf(`/v1/wallets/${request.params.id}/transactions`, await wallet.listTransactions(merchantOf(request).tenant, request.params.id, pageOf(request.query))),
  );

  v1.post(
    '/wallet_transfers',
    { config: move_money, schema: routeSchema('Wallet transfers', 'Send money from one wallet to another of the same merchant', { body: CreateWalletTransferBody, response: Type.Ref(WalletTransfer) }) },
    async (request) => {
      const { amount, description, ...rest } = request.body;
      return wallet.transfer(merchantOf(request).tenant, { ...rest, amount: BigInt(amount), ...(description === undefined ? {} : { description }), ...idempotency(request) });
    },
  );

  v1.get('/wallet_transfers', { config: read, schema: routeSchema('Wallet transfers', 'List wallet transfers', { querystring: ListQuery, response: List(Type.Ref(WalletTransfer)) }) }, async (request) =>
    listOf('/v1/wallet_transfers', await wallet.listTransfers(merchantOf(request).tenant, pageOf(request.query))),
  );

  v1.get('/wallet_transfers/:id', { config: read, schema: routeSchema('Wallet transfers', 'Retrieve a wallet transfer', { params: IdParams, response: Type.Ref(WalletTransfer) }) }, async (request) =>
    found(await wallet.getTransfer(merchantOf(request).tenant, request.params.id), 'wallet_transfer', request.params.id),
  );

  v1.get('/withdrawals/:id', { config: read, schema: routeSchema('Wallets', 'Retrieve a withdrawal', { params: IdParams, response: Type.Ref(Withdrawal) }) }, async (request) =>
    found(await wallet.getWithdrawal(merchantOf(request).tenant, request.params.id), 'withdrawal', request.params.id),
  );

  v1.get('/wallet_limits/:currency', { config: read, schema: routeSchema('Wallet limits', 'Retrieve the wallet limits for a currency', { params: CurrencyParams, response: Type.Ref(WalletLimits) }) }, async (request) =>
    wallet.getLimits(merchantOf(request).tenant, request.params.currency),
  );

  v1.post(
    '/wallet_limits/:currency',
    {
      config: write,
      schema: routeSchema('Wallet limits', 'Set the per-transaction and per-day limits on outgoing wallet money (null removes a limit)', {
        params: CurrencyParams,
        body: UpdateWalletLimitsBody,
        response: Type.Ref(WalletLimits),
      }),
    },
    async (request) => {
      const { per_transaction_max, per_day_max } = request.body;
      const amountOrNull = (value: number | null) => (value === null ? null : BigInt(value));
      return wallet.setLimits(merchantOf(request).tenant, {
        currency: request.params.currency,
        ...(per_transaction_max === undefined ? {} : { per_transaction_max: amountOrNull(per_transaction_max) }),
        ...(per_day_max === undefined ? {} : { per_day_max: amountOrNull(per_day_max) }),
      });
    },
  );

  for (const outcome of ['succeed', 'fail'] as const) {
    v1.post(
      `/test_helpers/withdrawals/:id/${outcome}`,
      {
        config: move_money,
        schema: routeSchema('Test helpers', `Make a test-mode withdrawal ${outcome === 'succeed' ? 'succeed' : 'fail'} at the simulated bank`, {
          params: IdParams,
          response: Type.Ref(Withdrawal),
          errors: { 409: 'idempotency_error / withdrawal_already_completed: the withdrawal was already completed the other way (succeeded or failed). Nothing was done' },
        }),
      },
      async (request) => {
        testModeOnly(request);
        return wallet.completeWithdrawalForTest(merchantOf(request).tenant, request.params.id, outcome === 'succeed' ? 'succeeded' : 'failed');
      },
    );
  }

  v1.get('/balance', { config: read, schema: routeSchema('Balance', "Your balance per currency, straight from the ledger", { response: Type.Ref(Balance) }) }, async (request) => {
    const { tenant } = merchantOf(request);
    // Balance account ids are derived, so one lookup of every currency finds the ones in use.
    const currency_by_id = new Map<bigint, CurrencyCode>(currency_codes.map((code) => [merchantBalanceAccountId(tenant.merchant_id, code, tenant.livemode), code]));
    const accounts = new Map((await ledger.lookupAccounts([...currency_by_id.keys()])).map((account) => [account.id, account]));
    const available = [];
    const pending = [];
    for (const [id, code] of currency_by_id) {
      const account = accounts.get(id);
      if (account === undefined) continue;
      const currency = code.toLowerCase();
      available.push({ amount: account.credits_posted - account.debits_posted - account.debits_pending, currency });
      pending.push({ amount: account.credits_pending, currency });
    }
    return { object: 'balance' as const, available, pending, livemode: tenant.livemode };
  });
}
