// The public REST API `/v1`: authentication, request signatures, rate limits, idempotency keys,
// compression and CORS (cors.ts) around the routes of identity and wallet, and the OpenAPI document that
// the same schemas produce.
import { constants as zlib } from 'node:zlib';
import compress from '@fastify/compress';
import swagger from '@fastify/swagger';
import type { FastifyInstance, RouteOptions } from 'fastify';
import type { IdentityClient } from '@paygrid/identity';
import { identity_api_schemas } from '@paygrid/identity/api-schemas';
import { ApiError, systemClock, type Cache, type Clock, type LiveCapabilities, type TokenBucket } from '@paygrid/kernel';
import { kernel_api_schemas } from '@paygrid/kernel/api-schemas';
import type { LedgerClient } from '@paygrid/ledger';
import { ledger_api_schemas } from '@paygrid/ledger/api-schemas';
import type { PaymentsClient } from '@paygrid/payments';
import { payments_api_schemas } from '@paygrid/payments/api-schemas';
import type { VaultClient } from '@paygrid/vault';
import { vault_api_schemas } from '@paygrid/vault/api-schemas';
import type { WalletClient } from '@paygrid/wallet';
import { wallet_api_schemas } from '@paygrid/wallet/api-schemas';
import type { WebhooksClient } from '@paygrid/webhooks';
import { webhooks_api_schemas } from '@paygrid/webhooks/api-schemas';
import { createAuthenticator, optionalCallerOf } from './authentication';
import { createAuthenticationCache, credentialsEpochs, identityBumpingEpochs } from './authentication-cache';
import { refuseCardNumbers } from './card-data-guard';
import { renderDocsPage } from './docs-page';
import { allowCheckoutOrigin, registerCors } from './cors';
import { claimIdempotencyKey, settleIdempotencyKey, type IdempotencyStore } from './idempotency';
import type { IdempotencyKeys } from './idempotency-seal';
import { actionCanBeRefused, checkRouteAction, requireMerchantPermission } from './merchant-permissions';
import { verifyRequestSignature } from './request-signing';
import { registerIdentityRoutes } from './routes/identity-routes';
import { registerPaymentRoutes } from './routes/payment-routes';
import { errorResponse } from './routes/route-helpers';
import { registerWalletRoutes } from './routes/wallet-routes';
import { bigintsToNumbers } from './wire';

export interface GatewayOptions {
  readonly identity: IdentityClient;
  readonly wallet: WalletClient;
  readonly ledger: LedgerClient;
  readonly payments: PaymentsClient;
  readonly vault: VaultClient;
  readonly webhooks: WebhooksClient;
  readonly cache: Cache;
  /**
   * The keys that seal idempotency records, derived from the platform's key-encryption keys (the
   * keyring the vault and identity use), so the same in every replica (idempotency-seal.ts). Made
   * by the platform as soon as the keyring is loaded, before a rotation can retire a key.
   */
  readonly idempotency_keys: IdempotencyKeys;
  /** The platform operator's key (PAYGRID_OPERATOR_KEY). */
  readonly operator_key: string;
  /** What live mode may do, decided by the platform at start: shown on GET /v1/account, enforced on withdrawals. */
  readonly live_capabilities: LiveCapabilities;
  /** Each API key's token bucket. */
  readonly rate_limit: TokenBucket;
  /**
   * The dashboard's origin, allowed by CORS on every route. Checkout pages are allowed on the
   * publishable-key routes by their merchant's allowed_origins (cors.ts).
   */
  readonly dashboard_origin?: string;
  /**
   * Whether identity runs in another process, reached over HTTP. With the shared cache (Redis),
   * the gateway then keeps authentications for a few seconds (authentication-cache.ts); in one
   * process the call is a function call and is not cached.
   */
  readonly identity_is_remote?: boolean;
  readonly clock?: Clock;
}

/**
 * Adds the 403 of the table of what a merchant may do to a route's documented answers, as the
 * route is registered; the document is built from the same objects later.
 */
function documentPermissionRefusal(route: RouteOptions): void {
  const response: unknown = route.schema?.response;
  if (response === null || typeof response !== 'object') return;
  const by_status = response as Record<string, unknown>;
  by_status['403'] ??= errorResponse(
    "The merchant's state does not allow this action (permission_error: merchant_suspended, kyc_not_verified or kyc_rejected; see What a merchant may do). Nothing was done",
  );
}

/** Responses smaller than this are sent as they are: compressing them costs more than it saves. */
export const compression_threshold_bytes = 1024;
/** Brotli's default quality (11) is far too slow for API responses; 4 compresses about as well as gzip, faster. */
const brotli_quality = 4;

export async function registerGateway(app: FastifyInstance, options: GatewayOptions): Promise<void> {
  const clock = options.clock ?? systemClock;
  const { cache } = options;
  const idempotency: IdempotencyStore = { cache, keys: options.idempotency_keys };
  // With a shared cache, other gateways may keep authentications (a replica whose identity is
  // remote), so every change to credentials made here replaces the merchant's epoch, whether or not
  // this gateway keeps any itself. One gateway with the in-memory cache is alone and keeps none.
  const shared_cache = cache.adapter === 'redis';
  const epochs = credentialsEpochs(cache);
  const identity = shared_cache ? identityBumpingEpochs(options.identity, epochs) : options.identity;
  const authentication_cache =
    shared_cache && options.identity_is_remote === true ? createAuthenticationCache({ identity: options.identity, epochs, clock }) : undefined;
  const authenticator = createAuthenticator({
    identity: options.identity,
    operator_key: options.operator_key,
    ...(authentication_cache === undefined ? {} : { authentication_cache }),
  });

  await app.register(compress, {
    encodings: ['br', 'gzip'],
    threshold: compression_threshold_bytes,
    brotliOptions: { params: { [zlib.BROTLI_PARAM_QUALITY]: brotli_quality } },
  });
  await registerCors(app, options.dashboard_origin === undefined ? {} : { dashboard_origin: options.dashboard_origin });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Paygrid API',
        version: '1',
        description: 'The public REST API of Paygrid. Amounts are integers in the minor unit of their currency. See /docs for the guide.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A secret key (sk_test_..., sk_live_...) or, on operator routes, the operator key.' } } },
      security: [{ bearer: [] }],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, index) => (typeof json.$id === 'string' ? json.$id : `schema${index}`) },
    // Only the public API belongs in the document: not probes, metrics or the docs themselves.
    transform: ({ schema, url }) => ({ schema: { ...schema, hide: schema?.hide === true || !url.startsWith('/v1/') }, url }),
  });
  // Each service owns the schemas of its objects (decision 87); registered once each, they are
  // referred to by name in the document.
  for (const schemas of [kernel_api_schemas, identity_api_schemas, wallet_api_schemas, ledger_api_schemas, vault_api_schemas, payments_api_schemas, webhooks_api_schemas]) {
    for (const schema of schemas) app.addSchema(schema);
  }

  await app.register(
    (v1, _options, done) => {
      // Every route that takes a merchant's key says what it does, or the gateway does not start;
      // its document lists the 403 the table can answer.
      v1.addHook('onRoute', (route) => {
        checkRouteAction(route);
        const action = route.config?.action;
        if (action !== undefined && actionCanBeRefused(action)) documentPermissionRefusal(route);
      });
      v1.addHook('onRequest', async (request, reply) => {
        const auth = request.routeOptions.config.auth ?? 'none';
        await authenticator.authenticate(request, auth);
        const caller = optionalCallerOf(request);
        // Before the rate limit, so that a checkout page can read its 429 and Retry-After.
        if (auth === 'publishable') allowCheckoutOrigin(request, reply, caller, options.dashboard_origin);
        if (caller === undefined) return;
        const taken = await cache.takeToken(`rate:${caller.rate_key}`, options.rate_limit);
        if (!taken.allowed) {
          void reply.header('retry-after', String(Math.max(1, Math.ceil(taken.retry_after_ms / 1000))));
          throw new ApiError('rate_limit_error', 'rate_limit_exceeded', 'Too many requests with this API key; retry after the time in Retry-After');
        }
      });
      v1.addHook('preValidation', async (request) => {
        const caller = optionalCallerOf(request);
        if (caller?.kind === 'merchant') {
          await verifyRequestSignature(cache, clock, caller, request);
          // Once the caller is proven, before the body is validated or an idempotency key is claimed:
          // a refusal stores nothing, so the same request runs afresh once the state allows it.
          requireMerchantPermission(request, caller);
        }
        const { auth, provider_notification } = request.routeOptions.config;
        if (auth !== 'publishable' && provider_notification !== true) {
          refuseCardNumbers(request.body, caller?.kind === 'merchant' ? caller.merchant.card_number_guard_exempt_fields : []);
        }
      });
      v1.addHook('preHandler', async (request, reply) => {
        const caller = optionalCallerOf(request);
        if (caller === undefined || (request.method !== 'POST' && request.method !== 'PATCH')) return;
        if (await claimIdempotencyKey(idempotency, caller, request, reply)) return reply;
        return undefined;
      });
      v1.addHook('onSend', async (request, reply, payload) => {
        // A secret shown once is kept by no HTTP cache either, replays included.
        if (request.routeOptions.config.returns_secret === true) void reply.header('cache-control', 'no-store');
        if (typeof payload === 'string') await settleIdempotencyKey(idempotency, request, reply.statusCode, payload);
        return payload;
      });
      // A client that goes away leaves its key claimed: the handler runs on, and onSend still
      // settles the key with its answer. (An onRequestAbort hook used to free the key. Fastify runs
      // it only for a request whose body was not yet read, which never holds a claim; where it did
      // run, it would have let a retry run beside the first request and kept neither answer.)
      v1.addHook('preSerialization', async (_request, _reply, payload) => bigintsToNumbers(payload));

      registerIdentityRoutes(v1, { identity, live_capabilities: options.live_capabilities });
      registerWalletRoutes(v1, { wallet: options.wallet, ledger: options.ledger, live_capabilities: options.live_capabilities });
      registerPaymentRoutes(v1, { payments: options.payments, vault: options.vault, webhooks: options.webhooks });
      done();
    },
    { prefix: '/v1' },
  );

  app.get('/v1/openapi.json', { schema: { hide: true } }, () => app.swagger());
  let docs_page: string | undefined;
  app.get('/docs', { schema: { hide: true } }, async (_request, reply) => {
    docs_page ??= renderDocsPage(app.swagger());
    return reply.type('text/html; charset=utf-8').send(docs_page);
  });
}
