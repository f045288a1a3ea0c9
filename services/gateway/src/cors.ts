// Cross-origin requests from browsers (CORS). Two kinds of page may call the API:
//
// - the platform's own dashboard (DASHBOARD_ORIGIN), on every route, as an operator or merchant
//   would from a server;
// - a merchant's checkout page, on the publishable-key routes only, from one of the origins the
//   merchant allowed (Merchant.allowed_origins).
//
// Which origins a checkout page may come from depends on the key's merchant, so the decision on a
// real request is made after authentication: the allow-origin header is sent only when a
// publishable key authenticated and its merchant allows the page's origin. Any other request from
// a browser page to a publishable-key route is refused there (403 origin_not_allowed) before the
// route runs, so a page on a foreign origin cannot even create a token it is not allowed to read;
// and the refusal carries no allow-origin header, so the page's fetch fails.
//
// A preflight (OPTIONS) carries no key, so the merchant is unknown when it arrives. For the path of
// a publishable-key route it is answered for any origin a merchant could allow at all, naming only
// that route's methods and the headers a checkout needs: it grants nothing by itself, because the
// real request is then judged as above. Preflights for every other route are answered for the
// dashboard alone, as before, so a browser never sends a secret-key request from anywhere else.
import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isAllowableOrigin } from '@paygrid/identity';
import { ApiError } from '@paygrid/kernel';
import { signature_header } from '@paygrid/sdk/signing';
import type { Caller } from './authentication';
import { idempotency_key_header, idempotent_replayed_header } from './idempotency';

/** How long a browser may keep a preflight's answer. */
export const preflight_max_age_seconds = 600;

const exposed_headers = ['request-id', idempotent_replayed_header, 'retry-after'];
/** A checkout page sends its publishable key, JSON and an idempotency key; it never signs (that takes the secret). */
const checkout_request_headers = ['authorization', 'content-type', idempotency_key_header];

interface PublishableRoute {
  readonly pattern: RegExp;
  readonly methods: string[];
}

/** `/v1/things/:id/act` as a pattern that matches a request path of that route. */
function routePattern(url: string): RegExp {
  const segments = url.split('/').map((segment) => (segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${segments.join('/')}$`);
}

export interface CorsOptions {
  /** The dashboard's origin, allowed on every route. Without one, only checkout pages are. */
  readonly dashboard_origin?: string;
}

/**
 * Registers the CORS handling: preflights and the dashboard's headers through @fastify/cors,
 * deciding per request which rules apply. Call it before the routes are registered, so that it
 * sees which of them take publishable keys.
 */
export async function registerCors(app: FastifyInstance, options: CorsOptions): Promise<void> {
  const publishable_routes: PublishableRoute[] = [];
  app.addHook('onRoute', (route) => {
    if (route.config?.auth !== 'publishable') return;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    publishable_routes.push({ pattern: routePattern(route.url), methods: methods.map((method) => method.toUpperCase()) });
  });

  const dashboard: FastifyCorsOptions = {
    // A list, so that the header is sent only to that origin rather than to every caller.
    origin: options.dashboard_origin === undefined ? false : [options.dashboard_origin],
    methods: ['GET', 'POST', 'PATCH'],
    allowedHeaders: ['authorization', 'content-type', idempotency_key_header, signature_header],
    exposedHeaders: exposed_headers,
    maxAge: preflight_max_age_seconds,
  };

  function corsOptionsFor(request: FastifyRequest): FastifyCorsOptions {
    const origin = request.headers.origin;
    if (request.method !== 'OPTIONS' || origin === undefined || origin === options.dashboard_origin || !isAllowableOrigin(origin)) return dashboard;
    const path = request.url.split('?', 1)[0] ?? '';
    const methods = publishable_routes.filter((route) => route.pattern.test(path)).flatMap((route) => route.methods);
    if (methods.length === 0) return dashboard;
    return { origin: [origin], methods, allowedHeaders: checkout_request_headers, exposedHeaders: exposed_headers, maxAge: preflight_max_age_seconds };
  }

  await app.register(cors, {
    delegator: (request, done) => {
      const chosen = corsOptionsFor(request);
      // The plugin answers a preflight without Origin or Access-Control-Request-Method with a
      // plain-text 400 of its own; it is refused here first, in the one error shape. Where CORS
      // is off (no dashboard, no checkout route) the preflight stays a 404, as before.
      if (request.method === 'OPTIONS' && chosen.origin !== false && (request.headers.origin === undefined || !request.headers['access-control-request-method'])) {
        done(preflightInvalid(), chosen);
        return;
      }
      done(null, chosen);
    },
  });
}

function preflightInvalid(): ApiError {
  return new ApiError('invalid_request_error', 'preflight_invalid', 'A CORS preflight request must carry the Origin and Access-Control-Request-Method headers');
}

/**
 * On a publishable-key route, after authentication: lets the page read the answer when its origin
 * is one its key's merchant allows, and refuses the request otherwise. Requests without an Origin
 * (from servers) and from the dashboard (answered by the plugin) pass as they are.
 */
export function allowCheckoutOrigin(request: FastifyRequest, reply: FastifyReply, caller: Caller | undefined, dashboard_origin: string | undefined): void {
  const origin = request.headers.origin;
  if (origin === undefined || origin === dashboard_origin) return;
  if (caller?.kind !== 'merchant' || caller.api_key.type !== 'publishable') {
    throw new ApiError('permission_error', 'origin_not_allowed', 'Browsers may call this endpoint only with a publishable key (pk_...)');
  }
  if (!caller.merchant.allowed_origins.includes(origin)) {
    throw new ApiError(
      'permission_error',
      'origin_not_allowed',
      `This origin is not in the merchant's allowed_origins; add it with PATCH /v1/account {"allowed_origins": [...]}`,
    );
  }
  void reply.header('access-control-allow-origin', origin);
  void reply.header('access-control-expose-headers', exposed_headers.join(', '));
}
