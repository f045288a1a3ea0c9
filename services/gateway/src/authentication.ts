// Who is calling: the operator (the platform's own key, or an operator's `opk_` key), or a
// merchant with a secret (`sk_`) or publishable (`pk_`) key, in test or live mode. Every route
// says which callers it takes; anything else is refused before the route runs.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Actor, ApiKey, IdentityClient, Merchant } from '@paygrid/identity';
import { ApiError, assert, type Tenant } from '@paygrid/kernel';
import type { AuthenticationCache } from './authentication-cache';
import type { MerchantAction } from './merchant-permissions';

/** Which callers a route takes. Publishable keys may only create card tokens. */
export type RouteAuth = 'none' | 'operator' | 'secret' | 'publishable';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
    /**
     * What a route that takes a merchant's key does: the gateway looks it up in the table of what
     * a merchant may do, by the merchant's status, KYC status and the key's mode, before the route
     * runs (merchant-permissions.ts). Required on every such route, checked as it is registered.
     */
    action?: MerchantAction;
    /**
     * A payment provider's notification: verified by the provider's signature, and not merchant
     * input, so the card-number guard does not read it. Providers' own long numbers (trade numbers,
     * transaction ids) pass the Luhn check one time in ten.
     */
    provider_notification?: boolean;
    /**
     * The response carries a secret shown only once (an API key, a signing secret, a webhook
     * endpoint's secret). It is sent with `Cache-Control: no-store`, and a test walks every
     * route's response schema and fails on a secret-looking field of a route without this flag
     * (response-secrets.ts), so that each route handing out a credential is declared where it is
     * registered. Its idempotency record is sealed like every other (idempotency-seal.ts).
     */
    returns_secret?: boolean;
  }
}

export type Caller =
  | { readonly kind: 'operator'; readonly actor: Actor; readonly rate_key: string }
  | {
      readonly kind: 'merchant';
      readonly actor: Actor;
      readonly tenant: Tenant;
      readonly merchant: Merchant;
      readonly api_key: ApiKey;
      readonly signing_secrets: readonly string[];
      readonly rate_key: string;
    };

export type MerchantCaller = Extract<Caller, { kind: 'merchant' }>;

const callers = new WeakMap<FastifyRequest, Caller>();

export function callerOf(request: FastifyRequest): Caller {
  const caller = callers.get(request);
  assert(caller !== undefined, 'callerOf() on a route that is not authenticated');
  return caller;
}

export function merchantOf(request: FastifyRequest): MerchantCaller {
  const caller = callerOf(request);
  assert(caller.kind === 'merchant', 'merchantOf() on a route that does not take merchant keys');
  return caller;
}

/** Present when the request was authenticated (for hooks that run on every route). */
export function optionalCallerOf(request: FastifyRequest): Caller | undefined {
  return callers.get(request);
}

const bearer_pattern = /^Bearer ([\x21-\x7e]{1,512})$/;
const merchant_key_pattern = /^(sk|pk)_(test|live)_/;
const operator_key_prefix = 'opk_';
export const root_operator_id = 'op_root';

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

const refusals = {
  api_key_missing: 'No API key provided: send Authorization: Bearer <key>',
  api_key_invalid: 'Invalid API key provided',
  api_key_expired: 'This API key has expired; use the key that replaced it',
  api_key_revoked: 'This API key has been revoked',
  operator_key_required: 'This endpoint takes an operator key',
  secret_key_required: 'This endpoint takes a secret key (sk_...), not a publishable key',
} as const;

function refuse(code: keyof typeof refusals): ApiError {
  return new ApiError('authentication_error', code, refusals[code]);
}

export interface Authenticator {
  authenticate(request: FastifyRequest, auth: RouteAuth): Promise<void>;
}

export interface AuthenticatorOptions {
  readonly identity: IdentityClient;
  readonly operator_key: string;
  /** Answers merchants' keys from the gateway's cache when identity is remote (authentication-cache.ts). */
  readonly authentication_cache?: AuthenticationCache;
}

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const merchant_keys = options.authentication_cache ?? options.identity;
  // Both sides are hashed before the constant-time comparison, so that neither the contents nor
  // the length of the operator key leak through timing.
  const operator_key_hash = sha256(options.operator_key);

  async function operatorCaller(presented: string): Promise<Caller | undefined> {
    if (timingSafeEqual(sha256(presented), operator_key_hash)) {
      return { kind: 'operator', actor: { type: 'operator', id: root_operator_id }, rate_key: root_operator_id };
    }
    if (!presented.startsWith(operator_key_prefix)) return undefined;
    const operator = await options.identity.authenticateOperator(presented);
    if (operator === undefined) return undefined;
    return { kind: 'operator', actor: { type: 'operator', id: operator.id }, rate_key: operator.id };
  }

  async function merchantCaller(presented: string): Promise<MerchantCaller> {
    const result = await merchant_keys.authenticate(presented);
    if (!result.ok) throw refuse(result.code);
    return {
      kind: 'merchant',
      actor: { type: 'merchant', id: result.merchant.id },
      tenant: { merchant_id: result.merchant.id, livemode: result.livemode },
      merchant: result.merchant,
      api_key: result.api_key,
      signing_secrets: result.signing_secrets,
      rate_key: result.api_key.id,
    };
  }

  return {
    async authenticate(request, auth) {
      if (auth === 'none') return;
      const header = request.headers.authorization;
      if (header === undefined) throw refuse('api_key_missing');
      const presented = bearer_pattern.exec(header)?.[1];
      if (presented === undefined) throw refuse('api_key_invalid');
      if (auth === 'operator') {
        const caller = await operatorCaller(presented);
        if (caller !== undefined) {
          callers.set(request, caller);
          return;
        }
        throw refuse(merchant_key_pattern.test(presented) ? 'operator_key_required' : 'api_key_invalid');
      }
      if (!merchant_key_pattern.test(presented)) throw refuse('api_key_invalid');
      const caller = await merchantCaller(presented);
      if (caller.api_key.type === 'publishable' && auth !== 'publishable') throw refuse('secret_key_required');
      callers.set(request, caller);
    },
  };
}
