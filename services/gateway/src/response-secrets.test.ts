// Every route that answers with a secret is declared as such (`returns_secret`), mechanically: the
// real gateway's routes are registered, each response schema is walked, and a secret-looking field
// on an unmarked route fails the test.
import Fastify, { type FastifyInstance, type RouteOptions } from 'fastify';
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { createMemoryCache, live_capability_names, type LiveCapabilities } from '@paygrid/kernel';
import { Keyring, generateKeyEncryptionKey } from '@paygrid/kernel/envelope';
import { registerGateway, type GatewayOptions } from './gateway';
import { IdempotencyKeys } from './idempotency-seal';
import { routesReturningSecrets, secretFieldsOf, type SchemaResolver } from './response-secrets';

/** A service the routes are registered with but never called: registering a route uses none. */
function unused<Service extends object>(name: string): Service {
  return new Proxy({} as Service, {
    get: (_target, property) => {
      throw new Error(`${name}.${String(property)} was used while only registering routes`);
    },
  });
}

const no_live_capabilities = Object.fromEntries(live_capability_names.map((name) => [name, { status: 'inactive', missing: 'nothing, in this test' }])) as unknown as LiveCapabilities;

/** The gateway's routes as registered, and a resolver for the shared schemas they reference. */
async function gatewayRoutes(): Promise<{ routes: RouteOptions[]; resolve: SchemaResolver; app: FastifyInstance }> {
  const app = Fastify();
  const routes: RouteOptions[] = [];
  app.addHook('onRoute', (route) => {
    routes.push(route);
  });
  const options: GatewayOptions = {
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
  };
  await registerGateway(app, options);
  await app.ready();
  const schemas = app.getSchemas();
  const resolve: SchemaResolver = (ref) => schemas[ref.split('#')[0] ?? ref];
  return { routes, resolve, app };
}

describe('routes that answer with a secret', () => {
  it('are all marked returns_secret, and every marked route does answer with one', async () => {
    const { routes, resolve, app } = await gatewayRoutes();
    try {
      const v1_routes = routes.filter((route) => route.url.startsWith('/v1/'));
      // The walk saw the whole API, with the response schemas it is meant to read.
      expect(v1_routes.length).toBeGreaterThan(50);
      const findings = routesReturningSecrets(routes, resolve);
      const unmarked = findings.filter((finding) => !finding.marked);
      expect(unmarked, `routes answering with a secret must set config.returns_secret: ${JSON.stringify(unmarked)}`).toEqual([]);
      expect(findings.map((finding) => finding.route).sort()).toEqual([
        'POST /v1/api_keys/:id/roll',
        'POST /v1/merchants',
        'POST /v1/merchants/:id/api_keys',
        'POST /v1/merchants/:id/api_keys/:key/roll',
        'POST /v1/merchants/:id/signing_secret/roll',
        'POST /v1/webhook_endpoints',
      ]);
      expect(findings.find((finding) => finding.route === 'POST /v1/merchants')?.fields).toEqual(['secret_key', 'signing_secret']);
      // A mark without a secret behind it is a mistake too: the flag would stop meaning anything.
      const marked = routes.filter((route) => route.config?.returns_secret === true);
      const found = new Set(findings.map((finding) => finding.route));
      for (const route of marked) expect(found, `${String(route.method)} ${route.url} is marked but its schema shows no secret`).toContain(`${String(route.method)} ${route.url}`);
    } finally {
      await app.close();
    }
  });

  it('fails a route that answers with a secret without saying so', async () => {
    const { routes, resolve, app } = await gatewayRoutes();
    try {
      const planted: RouteOptions = {
        method: 'POST',
        url: '/v1/things',
        handler: () => undefined,
        config: { auth: 'secret' },
        schema: { response: { 200: Type.Object({ id: Type.String(), data: Type.Array(Type.Object({ client_secret: Type.String() })) }) } },
      };
      const unmarked = routesReturningSecrets([...routes, planted], resolve).filter((finding) => !finding.marked);
      expect(unmarked).toEqual([{ route: 'POST /v1/things', fields: ['data[].client_secret'], marked: false }]);
    } finally {
      await app.close();
    }
  });

  it('reads secret-looking names as whole words, through refs and compositions', () => {
    const shared: Record<string, unknown> = { Inner: Type.Object({ webhook_secret: Type.String() }, { $id: 'Inner' }) };
    const resolve: SchemaResolver = (ref) => shared[ref];
    const schema = Type.Object({
      secret: Type.String(),
      secret_key: Type.String(),
      secrets_count: Type.Integer(),
      secretary: Type.String(),
      secret_last4: Type.String(),
      secret_last4_key: Type.String(),
      publishable_key: Type.String(),
      nested: Type.Union([Type.Ref('Inner'), Type.Object({ keys: Type.Record(Type.String(), Type.Object({ signing_secret: Type.String() })) })]),
    });
    expect(secretFieldsOf(schema, resolve).sort()).toEqual(['nested.keys[/^(.*)$/].signing_secret', 'nested.webhook_secret', 'secret', 'secret_key', 'secret_last4_key']);
    // A reference the walk cannot follow is reported, never taken as clean.
    expect(secretFieldsOf(Type.Ref('Missing'), resolve)).toEqual(['(response): unresolved $ref Missing']);
  });
});
