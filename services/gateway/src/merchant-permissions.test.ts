// The table of what a merchant may do, and the routes' actions: the real gateway's routes are
// registered and every one that takes a merchant's key is listed here with its action, so that a
// new route, or a route whose action changes, shows up as a difference to review. Every cell of the
// table is walked through the HTTP API in test/merchant-permissions.test.ts.
import Fastify, { type FastifyInstance, type RouteOptions } from 'fastify';
import { describe, expect, it } from 'vitest';
import { kyc_statuses, merchant_statuses } from '@paygrid/identity';
import { createMemoryCache, live_capability_names, type LiveCapabilities } from '@paygrid/kernel';
import { Keyring, generateKeyEncryptionKey } from '@paygrid/kernel/envelope';
import { registerGateway } from './gateway';
import { IdempotencyKeys } from './idempotency-seal';
import { actionCanBeRefused, checkRouteAction, merchant_actions, merchant_permissions, merchantVerdict, modes } from './merchant-permissions';

function unused<Service extends object>(name: string): Service {
  return new Proxy({} as Service, {
    get: (_target, property) => {
      throw new Error(`${name}.${String(property)} was used while only registering routes`);
    },
  });
}

const no_live_capabilities = Object.fromEntries(live_capability_names.map((name) => [name, { status: 'inactive', missing: 'nothing, in this test' }])) as unknown as LiveCapabilities;

async function gatewayRoutes(): Promise<{ routes: RouteOptions[]; app: FastifyInstance }> {
  const app = Fastify();
  const routes: RouteOptions[] = [];
  app.addHook('onRoute', (route) => {
    routes.push(route);
  });
  await registerGateway(app, {
    identity: unused('identity'),
    wallet: unused('wallet'),
    ledger: unused('ledger'),
    payments: unused('payments'),
    vault: unused('vault'),
    webhooks: unused('webhooks'),
    cache: createMemoryCache(),
    idempotency_keys: new IdempotencyKeys(new Keyring(generateKeyEncryptionKey())),
    operator_key: 'op-test-routes',
    live_capabilities: no_live_capabilities,
    rate_limit: { capacity: 1, refill_per_second: 1 },
  });
  await app.ready();
  return { routes, app };
}

/** Every route that takes a merchant's key, with what it does. */
const expected_actions: Record<string, string> = {
  'GET /v1/account': 'read',
  'PATCH /v1/account': 'write',
  'GET /v1/api_keys': 'read',
  'POST /v1/api_keys/:id/roll': 'manage_keys',
  'POST /v1/api_keys/:id/revoke': 'manage_keys',
  'POST /v1/customers': 'write',
  'GET /v1/customers': 'read',
  'GET /v1/customers/:id': 'read',
  'POST /v1/wallets': 'write',
  'GET /v1/wallets': 'read',
  'GET /v1/wallets/:id': 'read',
  'PATCH /v1/wallets/:id': 'write',
  'POST /v1/wallets/:id/top_ups': 'move_money',
  'POST /v1/wallets/:id/payments': 'move_money',
  'POST /v1/wallets/:id/withdrawals': 'move_money',
  'GET /v1/wallets/:id/transactions': 'read',
  'POST /v1/wallet_transfers': 'move_money',
  'GET /v1/wallet_transfers': 'read',
  'GET /v1/wallet_transfers/:id': 'read',
  'GET /v1/withdrawals/:id': 'read',
  'GET /v1/wallet_limits/:currency': 'read',
  'POST /v1/wallet_limits/:currency': 'write',
  'POST /v1/test_helpers/withdrawals/:id/succeed': 'move_money',
  'POST /v1/test_helpers/withdrawals/:id/fail': 'move_money',
  'GET /v1/balance': 'read',
  'POST /v1/tokens': 'move_money',
  'POST /v1/orders': 'write',
  'GET /v1/orders': 'read',
  'GET /v1/orders/:id': 'read',
  'POST /v1/payment_intents': 'move_money',
  'GET /v1/payment_intents': 'read',
  'GET /v1/payment_intents/:id': 'read',
  'POST /v1/payment_intents/:id/confirm': 'move_money',
  'POST /v1/payment_intents/:id/capture': 'move_money',
  'POST /v1/payment_intents/:id/cancel': 'move_money',
  'GET /v1/payment_intents/:id/attempts': 'read',
  'POST /v1/refunds': 'move_money',
  'GET /v1/refunds': 'read',
  'GET /v1/refunds/:id': 'read',
  'POST /v1/test_helpers/bank_transfers': 'move_money',
  'GET /v1/bank_transfer_reviews': 'read',
  'POST /v1/webhook_endpoints': 'write',
  'GET /v1/webhook_endpoints': 'read',
  'GET /v1/webhook_endpoints/:id': 'read',
  'PATCH /v1/webhook_endpoints/:id': 'write',
  'GET /v1/webhook_endpoints/:id/attempts': 'read',
  'GET /v1/events': 'read',
  'GET /v1/events/:id': 'read',
  'POST /v1/events/:id/resend': 'write',
};

describe('what a merchant may do', () => {
  it('has a verdict in every cell, and refuses with the code of the state that forbids', () => {
    for (const status of merchant_statuses) {
      for (const kyc_status of kyc_statuses) {
        for (const mode of modes) {
          expect(Object.keys(merchant_permissions[status][kyc_status][mode]).sort()).toEqual([...merchant_actions].sort());
          for (const action of merchant_actions) {
            const verdict = merchantVerdict({ status, kyc_status }, mode, action);
            // Reading and managing keys are never refused; a suspension outranks KYC; test mode
            // refuses only a suspended merchant.
            if (action === 'read' || action === 'manage_keys') expect(verdict).toBe('allowed');
            else if (status === 'suspended') expect(verdict).toBe('merchant_suspended');
            else if (mode === 'test' || kyc_status === 'verified') expect(verdict).toBe('allowed');
            else if (kyc_status === 'rejected') expect(verdict).toBe('kyc_rejected');
            else expect(verdict).toBe(action === 'move_money' ? 'kyc_not_verified' : 'allowed');
          }
        }
      }
    }
    expect(merchant_actions.filter(actionCanBeRefused)).toEqual(['write', 'move_money']);
  });

  it('gives every route that takes a merchant key exactly one action, and operator routes none', async () => {
    const { routes, app } = await gatewayRoutes();
    try {
      const v1_routes = routes.filter((route) => route.url.startsWith('/v1/') && route.method !== 'HEAD');
      expect(v1_routes.length).toBeGreaterThan(50);
      const merchant_routes = v1_routes.filter((route) => route.config?.auth === 'secret' || route.config?.auth === 'publishable');
      const actions = Object.fromEntries(merchant_routes.map((route) => [`${String(route.method)} ${route.url}`, route.config?.action]));
      expect(actions).toEqual(expected_actions);
      for (const route of v1_routes.filter((candidate) => !merchant_routes.includes(candidate))) expect(route.config?.action).toBeUndefined();
      // The document names the table's 403 on every route whose action some state refuses, and no other.
      const document = app.swagger() as unknown as { paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>> };
      for (const route of merchant_routes) {
        const path = route.url.replace(/:(\w+)/g, '{$1}');
        const responses = document.paths[path]?.[String(route.method).toLowerCase()]?.responses ?? {};
        const action = route.config?.action;
        expect(action !== undefined && actionCanBeRefused(action), `${String(route.method)} ${route.url}`).toBe(responses['403'] !== undefined);
        if (responses['403'] !== undefined) expect(responses['403'].description).toMatch(/merchant_suspended, kyc_not_verified or kyc_rejected/);
      }
    } finally {
      await app.close();
    }
  });

  it('stops a merchant route without an action, or an operator route with one, as it is registered', () => {
    expect(() => checkRouteAction({ method: 'POST', url: '/v1/things', config: { auth: 'secret' } })).toThrow(/declares no action/);
    expect(() => checkRouteAction({ method: 'POST', url: '/v1/tokens', config: { auth: 'publishable' } })).toThrow(/declares no action/);
    expect(() => checkRouteAction({ method: 'GET', url: '/v1/merchants', config: { auth: 'operator', action: 'read' } })).toThrow(/takes no merchant key/);
    expect(() => checkRouteAction({ method: 'POST', url: '/v1/things', config: { auth: 'secret', action: 'move_money' } })).not.toThrow();
  });
});
