// Typed methods over the route table. Each method names its route from `route`, so every
// request the SDK can make appears in `sdk_routes`.

import type { QueryValue } from './encoding';
import { route, type SdkRoute } from './routes';
import type {
  Account,
  AccountUpdateParams,
  ApiKey,
  ApiKeyCreateParams,
  ApiKeyRollParams,
  ApiKeyWithSecret,
  AuditEvent,
  AuditEventListParams,
  Balance,
  Customer,
  CustomerCreateParams,
  List,
  ListParams,
  Merchant,
  MerchantCreated,
  MerchantCreateParams,
  MerchantUpdateParams,
  RequestOptions,
  SigningSecretRolled,
  SigningSecretRollParams,
  TopUp,
  TopUpCreateParams,
  Wallet,
  WalletCreateParams,
  WalletLimits,
  WalletLimitsUpdateParams,
  WalletListParams,
  WalletPayment,
  WalletPaymentCreateParams,
  WalletTransaction,
  WalletTransfer,
  WalletTransferCreateParams,
  WalletUpdateParams,
  Withdrawal,
  WithdrawalCreateParams,
} from './types';

export interface RouteInput {
  readonly body?: unknown;
  readonly query?: Readonly<Record<string, QueryValue>>;
  readonly options?: RequestOptions | undefined;
}

export type RouteCall = <T>(route: SdkRoute, parameters: Readonly<Record<string, string>>, input?: RouteInput) => Promise<T>;

/** Operator key: create and manage merchants, their API keys and signing secrets. */
export class MerchantsResource {
  constructor(private readonly call: RouteCall) {}

  /** The response holds the merchant's first keys and signing secret; they are not shown again. */
  create(params: MerchantCreateParams, options?: RequestOptions): Promise<MerchantCreated> {
    return this.call(route.merchants_create, {}, { body: params, options });
  }

  retrieve(id: string): Promise<Merchant> {
    return this.call(route.merchants_retrieve, { id });
  }

  list(params: ListParams = {}): Promise<List<Merchant>> {
    return this.call(route.merchants_list, {}, { query: { ...params } });
  }

  update(id: string, params: MerchantUpdateParams, options?: RequestOptions): Promise<Merchant> {
    return this.call(route.merchants_update, { id }, { body: params, options });
  }

  createApiKey(id: string, params: ApiKeyCreateParams, options?: RequestOptions): Promise<ApiKeyWithSecret> {
    return this.call(route.merchants_create_api_key, { id }, { body: params, options });
  }

  listApiKeys(id: string, params: ListParams = {}): Promise<List<ApiKey>> {
    return this.call(route.merchants_list_api_keys, { id }, { query: { ...params } });
  }

  rollApiKey(id: string, key_id: string, params: ApiKeyRollParams = {}, options?: RequestOptions): Promise<ApiKeyWithSecret> {
    return this.call(route.merchants_roll_api_key, { id, key: key_id }, { body: params, options });
  }

  revokeApiKey(id: string, key_id: string, options?: RequestOptions): Promise<ApiKey> {
    return this.call(route.merchants_revoke_api_key, { id, key: key_id }, { options });
  }

  rollSigningSecret(id: string, params: SigningSecretRollParams = {}, options?: RequestOptions): Promise<SigningSecretRolled> {
    return this.call(route.merchants_roll_signing_secret, { id }, { body: params, options });
  }
}

/** Operator key: the append-only log of administrative actions. */
export class AuditEventsResource {
  constructor(private readonly call: RouteCall) {}

  list(params: AuditEventListParams = {}): Promise<List<AuditEvent>> {
    return this.call(route.audit_events_list, {}, { query: { ...params } });
  }
}

/** Secret key: the merchant the key belongs to. */
export class AccountResource {
  constructor(private readonly call: RouteCall) {}

  retrieve(): Promise<Account> {
    return this.call(route.account_retrieve, {});
  }

  update(params: AccountUpdateParams, options?: RequestOptions): Promise<Account> {
    return this.call(route.account_update, {}, { body: params, options });
  }
}

/** Secret key: the merchant's own API keys. */
export class ApiKeysResource {
  constructor(private readonly call: RouteCall) {}

  list(params: ListParams = {}): Promise<List<ApiKey>> {
    return this.call(route.api_keys_list, {}, { query: { ...params } });
  }

  roll(key_id: string, params: ApiKeyRollParams = {}, options?: RequestOptions): Promise<ApiKeyWithSecret> {
    return this.call(route.api_keys_roll, { id: key_id }, { body: params, options });
  }

  revoke(key_id: string, options?: RequestOptions): Promise<ApiKey> {
    return this.call(route.api_keys_revoke, { id: key_id }, { options });
  }
}

export class CustomersResource {
  constructor(private readonly call: RouteCall) {}

  create(params: CustomerCreateParams = {}, options?: RequestOptions): Promise<Customer> {
    return this.call(route.customers_create, {}, { body: params, options });
  }

  retrieve(id: string): Promise<Customer> {
    return this.call(route.customers_retrieve, { id });
  }

  list(params: ListParams = {}): Promise<List<Customer>> {
    return this.call(route.customers_list, {}, { query: { ...params } });
  }
}

export class WalletsResource {
  constructor(private readonly call: RouteCall) {}

  create(params: WalletCreateParams, options?: RequestOptions): Promise<Wallet> {
    return this.call(route.wallets_create, {}, { body: params, options });
  }

  retrieve(id: string): Promise<Wallet> {
    return this.call(route.wallets_retrieve, { id });
  }

  list(params: WalletListParams = {}): Promise<List<Wallet>> {
    return this.call(route.wallets_list, {}, { query: { ...params } });
  }

  update(id: string, params: WalletUpdateParams, options?: RequestOptions): Promise<Wallet> {
    return this.call(route.wallets_update, { id }, { body: params, options });
  }

  topUp(id: string, params: TopUpCreateParams, options?: RequestOptions): Promise<TopUp> {
    return this.call(route.wallets_top_up, { id }, { body: params, options });
  }

  pay(id: string, params: WalletPaymentCreateParams, options?: RequestOptions): Promise<WalletPayment> {
    return this.call(route.wallets_pay, { id }, { body: params, options });
  }

  withdraw(id: string, params: WithdrawalCreateParams, options?: RequestOptions): Promise<Withdrawal> {
    return this.call(route.wallets_withdraw, { id }, { body: params, options });
  }

  listTransactions(id: string, params: ListParams = {}): Promise<List<WalletTransaction>> {
    return this.call(route.wallets_list_transactions, { id }, { query: { ...params } });
  }
}

export class WalletTransfersResource {
  constructor(private readonly call: RouteCall) {}

  create(params: WalletTransferCreateParams, options?: RequestOptions): Promise<WalletTransfer> {
    return this.call(route.wallet_transfers_create, {}, { body: params, options });
  }

  retrieve(id: string): Promise<WalletTransfer> {
    return this.call(route.wallet_transfers_retrieve, { id });
  }

  list(params: ListParams = {}): Promise<List<WalletTransfer>> {
    return this.call(route.wallet_transfers_list, {}, { query: { ...params } });
  }
}

export class WithdrawalsResource {
  constructor(private readonly call: RouteCall) {}

  retrieve(id: string): Promise<Withdrawal> {
    return this.call(route.withdrawals_retrieve, { id });
  }
}

export class WalletLimitsResource {
  constructor(private readonly call: RouteCall) {}

  retrieve(currency: string): Promise<WalletLimits> {
    return this.call(route.wallet_limits_retrieve, { currency });
  }

  update(currency: string, params: WalletLimitsUpdateParams, options?: RequestOptions): Promise<WalletLimits> {
    return this.call(route.wallet_limits_update, { currency }, { body: params, options });
  }
}

/** Test mode only: settle a pending withdrawal as the simulated bank would. */
export class TestHelperWithdrawalsResource {
  constructor(private readonly call: RouteCall) {}

  succeed(id: string, options?: RequestOptions): Promise<Withdrawal> {
    return this.call(route.test_helpers_withdrawals_succeed, { id }, { options });
  }

  fail(id: string, options?: RequestOptions): Promise<Withdrawal> {
    return this.call(route.test_helpers_withdrawals_fail, { id }, { options });
  }
}

export class TestHelpersResource {
  readonly withdrawals: TestHelperWithdrawalsResource;

  constructor(call: RouteCall) {
    this.withdrawals = new TestHelperWithdrawalsResource(call);
  }
}

export class BalanceResource {
  constructor(private readonly call: RouteCall) {}

  retrieve(): Promise<Balance> {
    return this.call(route.balance_retrieve, {});
  }
}
