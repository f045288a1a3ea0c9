// Every route the SDK calls, in OpenAPI path syntax. Resource methods call only through these
// tables, so `sdk_routes` is exactly the set of public `/v1` requests the SDK can make (the
// gateway's tests compare it with the OpenAPI document so the two cannot drift), and
// `ledger_sdk_routes` is the set of operator requests to the ledger's own API, which the ledger
// serves and docs/ledger.md documents (it is not part of the gateway's OpenAPI document).

export type HttpMethod = 'GET' | 'POST' | 'PATCH';

export interface SdkRoute {
  readonly method: HttpMethod;
  /** OpenAPI path template, e.g. '/v1/wallets/{id}/top_ups'. */
  readonly path: string;
}

export const route = {
  // Operator key.
  merchants_create: { method: 'POST', path: '/v1/merchants' },
  merchants_retrieve: { method: 'GET', path: '/v1/merchants/{id}' },
  merchants_list: { method: 'GET', path: '/v1/merchants' },
  merchants_update: { method: 'PATCH', path: '/v1/merchants/{id}' },
  merchants_create_api_key: { method: 'POST', path: '/v1/merchants/{id}/api_keys' },
  merchants_list_api_keys: { method: 'GET', path: '/v1/merchants/{id}/api_keys' },
  merchants_roll_api_key: { method: 'POST', path: '/v1/merchants/{id}/api_keys/{key}/roll' },
  merchants_revoke_api_key: { method: 'POST', path: '/v1/merchants/{id}/api_keys/{key}/revoke' },
  merchants_roll_signing_secret: { method: 'POST', path: '/v1/merchants/{id}/signing_secret/roll' },
  audit_events_list: { method: 'GET', path: '/v1/audit_events' },

  // Secret key.
  account_retrieve: { method: 'GET', path: '/v1/account' },
  account_update: { method: 'PATCH', path: '/v1/account' },
  api_keys_list: { method: 'GET', path: '/v1/api_keys' },
  api_keys_roll: { method: 'POST', path: '/v1/api_keys/{id}/roll' },
  api_keys_revoke: { method: 'POST', path: '/v1/api_keys/{id}/revoke' },
  customers_create: { method: 'POST', path: '/v1/customers' },
  customers_retrieve: { method: 'GET', path: '/v1/customers/{id}' },
  customers_list: { method: 'GET', path: '/v1/customers' },
  wallets_create: { method: 'POST', path: '/v1/wallets' },
  wallets_retrieve: { method: 'GET', path: '/v1/wallets/{id}' },
  wallets_list: { method: 'GET', path: '/v1/wallets' },
  wallets_update: { method: 'PATCH', path: '/v1/wallets/{id}' },
  wallets_top_up: { method: 'POST', path: '/v1/wallets/{id}/top_ups' },
  wallets_pay: { method: 'POST', path: '/v1/wallets/{id}/payments' },
  wallets_withdraw: { method: 'POST', path: '/v1/wallets/{id}/withdrawals' },
  wallets_list_transactions: { method: 'GET', path: '/v1/wallets/{id}/transactions' },
  wallet_transfers_create: { method: 'POST', path: '/v1/wallet_transfers' },
  wallet_transfers_retrieve: { method: 'GET', path: '/v1/wallet_transfers/{id}' },
  wallet_transfers_list: { method: 'GET', path: '/v1/wallet_transfers' },
  withdrawals_retrieve: { method: 'GET', path: '/v1/withdrawals/{id}' },
  wallet_limits_retrieve: { method: 'GET', path: '/v1/wallet_limits/{currency}' },
  wallet_limits_update: { method: 'POST', path: '/v1/wallet_limits/{currency}' },
  test_helpers_withdrawals_succeed: { method: 'POST', path: '/v1/test_helpers/withdrawals/{id}/succeed' },
  test_helpers_withdrawals_fail: { method: 'POST', path: '/v1/test_helpers/withdrawals/{id}/fail' },
  balance_retrieve: { method: 'GET', path: '/v1/balance' },

  // Payments.
  tokens_create: { method: 'POST', path: '/v1/tokens' },
  orders_create: { method: 'POST', path: '/v1/orders' },
  orders_retrieve: { method: 'GET', path: '/v1/orders/{id}' },
  orders_list: { method: 'GET', path: '/v1/orders' },
  payment_intents_create: { method: 'POST', path: '/v1/payment_intents' },
  payment_intents_retrieve: { method: 'GET', path: '/v1/payment_intents/{id}' },
  payment_intents_list: { method: 'GET', path: '/v1/payment_intents' },
  payment_intents_confirm: { method: 'POST', path: '/v1/payment_intents/{id}/confirm' },
  payment_intents_capture: { method: 'POST', path: '/v1/payment_intents/{id}/capture' },
  payment_intents_cancel: { method: 'POST', path: '/v1/payment_intents/{id}/cancel' },
  payment_intents_list_attempts: { method: 'GET', path: '/v1/payment_intents/{id}/attempts' },
  refunds_create: { method: 'POST', path: '/v1/refunds' },
  refunds_retrieve: { method: 'GET', path: '/v1/refunds/{id}' },
  refunds_list: { method: 'GET', path: '/v1/refunds' },
  webhook_endpoints_create: { method: 'POST', path: '/v1/webhook_endpoints' },
  webhook_endpoints_retrieve: { method: 'GET', path: '/v1/webhook_endpoints/{id}' },
  webhook_endpoints_list: { method: 'GET', path: '/v1/webhook_endpoints' },
  webhook_endpoints_update: { method: 'PATCH', path: '/v1/webhook_endpoints/{id}' },
  webhook_endpoints_list_attempts: { method: 'GET', path: '/v1/webhook_endpoints/{id}/attempts' },
  events_retrieve: { method: 'GET', path: '/v1/events/{id}' },
  events_list: { method: 'GET', path: '/v1/events' },
  events_resend: { method: 'POST', path: '/v1/events/{id}/resend' },
  test_helpers_bank_transfers_create: { method: 'POST', path: '/v1/test_helpers/bank_transfers' },
  bank_transfer_reviews_list: { method: 'GET', path: '/v1/bank_transfer_reviews' },
} as const satisfies Record<string, SdkRoute>;

export type RouteName = keyof typeof route;

/** The ledger's operator API (operator key), in JSON or TigerBeetle's binary layouts. */
export const ledger_route = {
  ledger_accounts_create: { method: 'POST', path: '/v1/ledger/accounts' },
  ledger_transfers_create: { method: 'POST', path: '/v1/ledger/transfers' },
  ledger_accounts_lookup: { method: 'POST', path: '/v1/ledger/accounts/lookup' },
  ledger_transfers_lookup: { method: 'POST', path: '/v1/ledger/transfers/lookup' },
  ledger_accounts_retrieve: { method: 'GET', path: '/v1/ledger/accounts/{id}' },
  ledger_transfers_retrieve: { method: 'GET', path: '/v1/ledger/transfers/{id}' },
} as const satisfies Record<string, SdkRoute>;

export const ledger_sdk_routes: readonly SdkRoute[] = Object.freeze(Object.values(ledger_route).map((entry) => Object.freeze({ ...entry })));

export const sdk_routes: readonly SdkRoute[] = Object.freeze(Object.values(route).map((entry) => Object.freeze({ ...entry })));

const path_parameter_pattern = /\{([a-z_]+)\}/g;

/** The names of a template's path parameters, in order: '/v1/merchants/{id}/api_keys/{key}' → ['id', 'key']. */
export function pathParameterNames(template: string): string[] {
  return [...template.matchAll(path_parameter_pattern)].map((match) => match[1] ?? '');
}

/**
 * Fills a template's parameters, percent-encoding each value. An empty value is refused: it would
 * turn `/v1/wallets/{id}` into `/v1/wallets/`, a different route that lists instead of retrieving.
 */
export function expandPath(template: string, parameters: Readonly<Record<string, string>>): string {
  return template.replace(path_parameter_pattern, (_placeholder, name: string) => {
    const value = parameters[name];
    if (typeof value !== 'string' || value.length === 0) {
      throw new TypeError(`Path parameter '${name}' of ${template} must be a non-empty string.`);
    }
    return encodeURIComponent(value);
  });
}
