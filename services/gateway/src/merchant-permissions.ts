// What a merchant may do, in one table: its status (active or suspended) by its KYC status
// (pending, verified or rejected) by the mode of the key (test or live) by what the route does.
// Every route that takes a merchant's key declares its action where it is registered
// (`config.action`); the gateway refuses a route without one when the route is registered, and
// looks the caller's cell up on every request, after the key and the signature are checked and
// before the body is validated, an idempotency key is claimed or any service is called. The merchant's
// state is read afresh with the key on every request (identity's authentication_sql caches no
// row), so an operator's change applies to the very next request. Decision 65.
import type { FastifyRequest, RouteOptions } from 'fastify';
import type { KycStatus, Merchant, MerchantStatus } from '@paygrid/identity';
import { ApiError, assert } from '@paygrid/kernel';
import type { MerchantCaller } from './authentication';

/**
 * What a merchant route does, as far as the merchant's state is concerned.
 * - `read`: reads the merchant's own objects and nothing else (every GET).
 * - `write`: creates or changes objects that hold no money and move none (customers, wallets and
 *   their limits or freezes, orders, webhook endpoints, event resends, account settings).
 * - `move_money`: moves money or starts what moves it (card tokens, payment intents and their
 *   confirmation, capture and cancellation, refunds, wallet top-ups, payments, transfers and
 *   withdrawals, and the test helpers that complete or report money movements).
 * - `manage_keys`: rolls or revokes the merchant's own API keys.
 */
export const merchant_actions = ['read', 'write', 'move_money', 'manage_keys'] as const;
export type MerchantAction = (typeof merchant_actions)[number];

export const modes = ['test', 'live'] as const;
export type Mode = (typeof modes)[number];

/** Why a merchant may not do something, named after the state that forbids it. */
export const merchant_refusal_codes = ['merchant_suspended', 'kyc_not_verified', 'kyc_rejected'] as const;
export type MerchantRefusalCode = (typeof merchant_refusal_codes)[number];

export type Verdict = 'allowed' | MerchantRefusalCode;

/**
 * The table. A suspended merchant keeps reading its records and managing its keys (a suspension is
 * often about a leaked key, which it must be able to roll) and does nothing else, in either mode.
 * An active merchant does everything in test mode, where no money is real, whatever its KYC. In
 * live mode: verified does everything; pending (a merchant sent back for review after its live
 * keys were issued) reads, configures and manages keys but moves no money until it is verified;
 * rejected reads its live records and manages its keys, and neither moves money nor adds to its
 * live records. Written whole, cell by cell, so that a reader sees every answer without rules.
 */
export const merchant_permissions: Readonly<Record<MerchantStatus, Readonly<Record<KycStatus, Readonly<Record<Mode, Readonly<Record<MerchantAction, Verdict>>>>>>>> = {
  active: {
    pending: {
      test: { read: 'allowed', write: 'allowed', move_money: 'allowed', manage_keys: 'allowed' },
      live: { read: 'allowed', write: 'allowed', move_money: 'kyc_not_verified', manage_keys: 'allowed' },
    },
    verified: {
      test: { read: 'allowed', write: 'allowed', move_money: 'allowed', manage_keys: 'allowed' },
      live: { read: 'allowed', write: 'allowed', move_money: 'allowed', manage_keys: 'allowed' },
    },
    rejected: {
      test: { read: 'allowed', write: 'allowed', move_money: 'allowed', manage_keys: 'allowed' },
      live: { read: 'allowed', write: 'kyc_rejected', move_money: 'kyc_rejected', manage_keys: 'allowed' },
    },
  },
  suspended: {
    pending: {
      test: { read: 'allowed', write: 'merchant_suspended', move_money: 'merchant_suspended', manage_keys: 'allowed' },
      live: { read: 'allowed', write: 'merchant_suspended', move_money: 'merchant_suspended', manage_keys: 'allowed' },
    },
    verified: {
      test: { read: 'allowed', write: 'merchant_suspended', move_money: 'merchant_suspended', manage_keys: 'allowed' },
      live: { read: 'allowed', write: 'merchant_suspended', move_money: 'merchant_suspended', manage_keys: 'allowed' },
    },
    rejected: {
      test: { read: 'allowed', write: 'merchant_suspended', move_money: 'merchant_suspended', manage_keys: 'allowed' },
      live: { read: 'allowed', write: 'merchant_suspended', move_money: 'merchant_suspended', manage_keys: 'allowed' },
    },
  },
};

const refusal_messages: Record<MerchantRefusalCode, string> = {
  merchant_suspended: 'This merchant account is suspended: it can read its records and manage its API keys, nothing else. Nothing was done',
  kyc_not_verified: "This merchant's KYC is not verified: live mode can read, configure and manage keys, but moves no money until it is. Nothing was done",
  kyc_rejected: "This merchant's KYC was rejected: live mode can read its records and manage its API keys, nothing else. Nothing was done",
};

export function modeOf(livemode: boolean): Mode {
  return livemode ? 'live' : 'test';
}

export function merchantVerdict(merchant: Pick<Merchant, 'status' | 'kyc_status'>, mode: Mode, action: MerchantAction): Verdict {
  return merchant_permissions[merchant.status][merchant.kyc_status][mode][action];
}

/** True when some merchant in some state is refused the action: its routes can answer 403. */
export function actionCanBeRefused(action: MerchantAction): boolean {
  return Object.values(merchant_permissions).some((by_kyc) => Object.values(by_kyc).some((by_mode) => Object.values(by_mode).some((by_action) => by_action[action] !== 'allowed')));
}

/** Refuses the request with 403 `permission_error` when the caller's cell says so; changes nothing. */
export function requireMerchantPermission(request: FastifyRequest, caller: MerchantCaller): void {
  const action = request.routeOptions.config.action;
  // Registration refuses a merchant route without an action (checkRouteAction), so this is a bug.
  assert(action !== undefined, `the merchant route ${request.routeOptions.url ?? request.url} declares no action`);
  const verdict = merchantVerdict(caller.merchant, modeOf(caller.tenant.livemode), action);
  if (verdict !== 'allowed') throw new ApiError('permission_error', verdict, refusal_messages[verdict]);
}

/**
 * Called for every route as it is registered: a route that takes a merchant's key must say what it
 * does, and a route that takes none must not (the action would be read by nothing). A mistake
 * stops the gateway from starting, so no route can reach a merchant unchecked.
 */
export function checkRouteAction(route: Pick<RouteOptions, 'method' | 'url' | 'config'>): void {
  const config = route.config ?? {};
  const takes_merchant_key = config.auth === 'secret' || config.auth === 'publishable';
  const name = `${String(route.method)} ${route.url}`;
  if (takes_merchant_key) {
    assert(config.action !== undefined && merchant_actions.includes(config.action), `${name} takes a merchant's key but declares no action (merchant-permissions.ts)`);
  } else {
    assert(config.action === undefined, `${name} takes no merchant key but declares the action '${String(config.action)}'`);
  }
}
