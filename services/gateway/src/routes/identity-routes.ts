// Operator routes (merchants, their keys, the audit log) and a merchant's own account, keys and
// customers.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { IdentityClient } from '@paygrid/identity';
import { live_capability_names, type LiveCapabilities } from '@paygrid/kernel';
import { callerOf, merchantOf } from '../authentication';
import {
  Account,
  ApiKey,
  ApiKeyWithSecret,
  AuditEvent,
  AuditEventsQuery,
  CreateApiKeyBody,
  CreateCustomerBody,
  CreateMerchantBody,
  Customer,
  Merchant,
  MerchantCreated,
  MerchantKeyParams,
  RollBody,
  SigningSecretRolled,
  UpdateAccountBody,
  UpdateMerchantBody,
} from '@paygrid/identity/api-schemas';
import { IdParams, List, ListQuery } from '@paygrid/kernel/api-schemas';
import { found, listOf, pageOf, routeSchema } from './route-helpers';

/** The wire form of the live capabilities: each one's status, and what is missing when inactive. */
export function liveCapabilitiesToWire(capabilities: LiveCapabilities): Record<string, { status: 'active' | 'inactive'; missing: string | null }> {
  const wire: Record<string, { status: 'active' | 'inactive'; missing: string | null }> = {};
  // The adapter's own description (a host) stays in the operator's log; merchants see only the status.
  for (const name of live_capability_names) {
    const capability = capabilities[name];
    wire[name] = capability.status === 'active' ? { status: 'active', missing: null } : { status: 'inactive', missing: capability.missing };
  }
  return wire;
}

export function registerIdentityRoutes(app: FastifyInstance, options: { readonly identity: IdentityClient; readonly live_capabilities: LiveCapabilities }): void {
  const { identity } = options;
  const live_capabilities = liveCapabilitiesToWire(options.live_capabilities);
  const v1 = app.withTypeProvider<TypeBoxTypeProvider>();
  const operator = { auth: 'operator' } as const;
  // A merchant's routes say what they do, for the table of what a merchant may do (merchant-permissions.ts).
  const read = { auth: 'secret', action: 'read' } as const;
  const write = { auth: 'secret', action: 'write' } as const;
  const manage_keys = { auth: 'secret', action: 'manage_keys' } as const;
  // Routes whose answer shows a secret once (authentication.ts, `returns_secret`).
  const operator_returning_secret = { auth: 'operator', returns_secret: true } as const;
  const manage_keys_returning_secret = { auth: 'secret', action: 'manage_keys', returns_secret: true } as const;

  // Merchants, for operators.

  v1.post('/merchants', { config: operator_returning_secret, schema: routeSchema('Merchants', 'Create a merchant', { body: CreateMerchantBody, response: MerchantCreated }) }, async (request) => {
    const created = await identity.createMerchant(request.body, callerOf(request).actor);
    return { ...created.merchant, secret_key: created.secret_key, publishable_key: created.publishable_key, signing_secret: created.signing_secret };
  });

  v1.get('/merchants', { config: operator, schema: routeSchema('Merchants', 'List merchants', { querystring: ListQuery, response: List(Type.Ref(Merchant)) }) }, async (request) =>
    listOf('/v1/merchants', await identity.listMerchants(pageOf(request.query))),
  );

  v1.get('/merchants/:id', { config: operator, schema: routeSchema('Merchants', 'Retrieve a merchant', { params: IdParams, response: Type.Ref(Merchant) }) }, async (request) =>
    found(await identity.getMerchant(request.params.id), 'merchant', request.params.id),
  );

  v1.patch(
    '/merchants/:id',
    { config: operator, schema: routeSchema('Merchants', 'Update a merchant: suspend, reactivate, record KYC, require signatures', { params: IdParams, body: UpdateMerchantBody, response: Type.Ref(Merchant) }) },
    async (request) => identity.updateMerchant(request.params.id, request.body, callerOf(request).actor),
  );

  v1.post(
    '/merchants/:id/api_keys',
    { config: operator_returning_secret, schema: routeSchema('Merchants', "Create an API key for a merchant (live keys need verified KYC)", { params: IdParams, body: CreateApiKeyBody, response: ApiKeyWithSecret }) },
    async (request) => {
      const created = await identity.createApiKey(request.params.id, request.body, callerOf(request).actor);
      return { ...created.api_key, secret: created.secret };
    },
  );

  v1.get(
    '/merchants/:id/api_keys',
    { config: operator, schema: routeSchema('Merchants', "List a merchant's API keys", { params: IdParams, querystring: ListQuery, response: List(Type.Ref(ApiKey)) }) },
    async (request) => listOf(`/v1/merchants/${request.params.id}/api_keys`, await identity.listApiKeys(request.params.id, pageOf(request.query))),
  );

  v1.post(
    '/merchants/:id/api_keys/:key/roll',
    { config: operator_returning_secret, schema: routeSchema('Merchants', "Roll a merchant's API key", { params: MerchantKeyParams, body: Type.Optional(RollBody), response: ApiKeyWithSecret }) },
    async (request) => {
      const rolled = await identity.rollApiKey(request.params.id, request.params.key, request.body ?? {}, callerOf(request).actor);
      return { ...rolled.api_key, secret: rolled.secret };
    },
  );

  v1.post(
    '/merchants/:id/api_keys/:key/revoke',
    { config: operator, schema: routeSchema('Merchants', "Revoke a merchant's API key", { params: MerchantKeyParams, response: Type.Ref(ApiKey) }) },
    async (request) => identity.revokeApiKey(request.params.id, request.params.key, callerOf(request).actor),
  );

  v1.post(
    '/merchants/:id/signing_secret/roll',
    {
      config: operator_returning_secret,
      schema: routeSchema('Merchants', "Roll a merchant's request-signing secret", {
        params: IdParams,
        body: Type.Optional(RollBody),
        response: SigningSecretRolled,
      }),
    },
    async (request) => identity.rollSigningSecret(request.params.id, request.body ?? {}, callerOf(request).actor),
  );

  v1.get('/audit_events', { config: operator, schema: routeSchema('Audit log', 'List audit events, newest first', { querystring: AuditEventsQuery, response: List(Type.Ref(AuditEvent)) }) }, async (request) => {
    const { target, actor, ...page } = request.query;
    const filter = { ...(target === undefined ? {} : { target_id: target }), ...(actor === undefined ? {} : { actor_id: actor }) };
    return listOf('/v1/audit_events', await identity.listAuditEvents(pageOf(page), filter));
  });

  // The calling merchant's own account and keys.

  v1.get(
    '/account',
    { config: read, schema: routeSchema('Account', 'Retrieve your merchant account, with what live mode can do on this platform', { response: Type.Ref(Account) }) },
    async (request) => {
      const { merchant } = merchantOf(request);
      return { ...found(await identity.getMerchant(merchant.id), 'merchant', merchant.id), live_capabilities };
    },
  );

  v1.patch(
    '/account',
    {
      config: write,
      schema: routeSchema('Account', 'Update your account: mandatory request signing, browser origins, card-number guard exemptions', {
        body: UpdateAccountBody,
        response: Type.Ref(Account),
      }),
    },
    async (request) => {
      const caller = merchantOf(request);
      // Only these fields: the rest of a merchant (status, KYC) is the operator's to change.
      const { signing_required, allowed_origins, card_number_guard_exempt_fields } = request.body;
      const merchant = await identity.updateMerchant(
        caller.merchant.id,
        {
          ...(signing_required === undefined ? {} : { signing_required }),
          ...(allowed_origins === undefined ? {} : { allowed_origins }),
          ...(card_number_guard_exempt_fields === undefined ? {} : { card_number_guard_exempt_fields }),
        },
        caller.actor,
      );
      return { ...merchant, live_capabilities };
    },
  );

  v1.get('/api_keys', { config: read, schema: routeSchema('Account', 'List your API keys', { querystring: ListQuery, response: List(Type.Ref(ApiKey)) }) }, async (request) =>
    listOf('/v1/api_keys', await identity.listApiKeys(merchantOf(request).merchant.id, pageOf(request.query))),
  );

  v1.post('/api_keys/:id/roll', { config: manage_keys_returning_secret, schema: routeSchema('Account', 'Roll one of your API keys', { params: IdParams, body: Type.Optional(RollBody), response: ApiKeyWithSecret }) }, async (request) => {
    const caller = merchantOf(request);
    const rolled = await identity.rollApiKey(caller.merchant.id, request.params.id, request.body ?? {}, caller.actor);
    return { ...rolled.api_key, secret: rolled.secret };
  });

  v1.post('/api_keys/:id/revoke', { config: manage_keys, schema: routeSchema('Account', 'Revoke one of your API keys', { params: IdParams, response: Type.Ref(ApiKey) }) }, async (request) => {
    const caller = merchantOf(request);
    return identity.revokeApiKey(caller.merchant.id, request.params.id, caller.actor);
  });

  // Customers.

  v1.post('/customers', { config: write, schema: routeSchema('Customers', 'Create a customer', { body: CreateCustomerBody, response: Type.Ref(Customer) }) }, async (request) =>
    identity.createCustomer(merchantOf(request).tenant, request.body),
  );

  v1.get('/customers', { config: read, schema: routeSchema('Customers', 'List customers', { querystring: ListQuery, response: List(Type.Ref(Customer)) }) }, async (request) =>
    listOf('/v1/customers', await identity.listCustomers(merchantOf(request).tenant, pageOf(request.query))),
  );

  v1.get('/customers/:id', { config: read, schema: routeSchema('Customers', 'Retrieve a customer', { params: IdParams, response: Type.Ref(Customer) }) }, async (request) =>
    found(await identity.getCustomer(merchantOf(request).tenant, request.params.id), 'customer', request.params.id),
  );
}
