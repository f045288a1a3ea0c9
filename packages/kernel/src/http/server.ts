import { createServer as createHttpsServer } from 'node:https';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { fastify, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { assert } from '../assert';
import { ApiError } from '../errors';
import { randomId } from '../ids';
import { deadline_header, parseDeadlineHeader, runWithDeadline } from '../transport/deadline';
import type { Logger } from '../logger';
import { mapError } from './error-mapping';
import { jsonContentTypeParser } from './json-body-parser';
import { createHttpMetrics } from './metrics';
import { Readiness } from './readiness';
import { rewriteUrlWithoutCardNumbers, urlCardNumberRefusal } from './url-card-guard';
import { strictSchemaController } from './validator-compiler';
import { traceRequests } from './tracing';

export const body_limit_bytes_default = 1024 * 1024;
/** A request that takes longer than this is cut off; nothing we serve should come close. */
export const request_timeout_ms = 30_000;
/**
 * The longest deadline a caller may hand down in `paygrid-deadline-ms`: no more than the server
 * itself would let the request run.
 */
export const incoming_deadline_ms_max = request_timeout_ms;
/** The longest request path quoted back in a route_not_found message. */
const quoted_path_length_max = 200;

export interface CreateHttpServerOptions {
  readonly logger: Logger;
  readonly bodyLimitBytes?: number;
  /**
   * A registry shared by several servers in one process. Without one, the server gets its own
   * registry with the default process metrics.
   */
  readonly registry?: Registry;
  /**
   * Called after a failed assertion has been answered with a 500 and logged at fatal level.
   * A failed assertion means the code is wrong: the process host should shut down.
   */
  readonly onAssertionFailure?: (error: unknown) => void;
  /**
   * Serve HTTPS with this certificate and key (PEM). Only TLS 1.2 and newer are offered, and
   * every response carries Strict-Transport-Security. With `require_client_certificate`, a
   * caller must present a certificate signed by `ca` (mutual TLS between services); the TLS
   * handshake refuses any other.
   */
  readonly tls?: {
    readonly cert: string | Buffer;
    readonly key: string | Buffer;
    readonly ca?: string | Buffer;
    readonly require_client_certificate?: boolean;
  };
  /**
   * Serve `/metrics` on this server, behind this check (the operator key): it throws, or
   * rejects, with the ApiError to answer when the request may not read the metrics. Without it
   * this server does not serve `/metrics` at all, and `createMetricsServer` serves them on a
   * listener of their own. Metrics are never served to anyone who asks: they describe the
   * platform's traffic, routes and errors.
   */
  readonly metrics_authenticate?: (request: FastifyRequest) => void | Promise<void>;
}

export const tls_version_min = 'TLSv1.2';
/** One year, as HSTS preload lists ask for. */
export const hsts_max_age_seconds = 31_536_000;

/** A route as registered: its method (one line per method) and its full path, prefix included. */
export interface RegisteredRoute {
  readonly method: string;
  readonly url: string;
}

export interface HttpServer {
  readonly app: FastifyInstance;
  /**
   * Every route registered on the server so far, in order, HEAD routes included: suites that must
   * reach every route (the API fuzz) read the table here, so a new route cannot go unnoticed.
   */
  readonly routes: readonly RegisteredRoute[];
  readonly metrics: { readonly registry: Registry };
  /** Add checks with `readiness.add(name, async () => {...})`; `/readyz` runs them. */
  readonly readiness: Readiness;
}

export function createHttpServer(options: CreateHttpServerOptions): HttpServer {
  const body_limit_bytes = options.bodyLimitBytes ?? body_limit_bytes_default;
  const metrics = createHttpMetrics(options.registry);
  const readiness = new Readiness();
  const https_options = options.tls === undefined ? undefined : httpsOptions(options.tls);
  const app: FastifyInstance = fastify<Server, IncomingMessage, ServerResponse, FastifyBaseLogger>({
    loggerInstance: options.logger,
    bodyLimit: body_limit_bytes,
    requestTimeout: request_timeout_ms,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Requests that arrive while closing are refused below, in the one wire shape.
    return503OnClosing: false,
    schemaController: strictSchemaController(),
    // Clients quote this id when they report a problem; it is also on every log line.
    requestIdHeader: false,
    genReqId: () => randomId('req'),
    // Before routing and before the request is logged: a card number in the URL is redacted
    // here, and the request refused by the first onRequest hook below (url-card-guard.ts).
    rewriteUrl: rewriteUrlWithoutCardNumbers,
    // The router's own errors (a path whose percent-encoding is broken, such as /v1/wallets/%zz)
    // never reach the error handler below; they get the same mapping and the one wire shape.
    frameworkErrors: (error, request, reply) => {
      const { apiError } = mapError(error, { request_id: request.id, body_limit_bytes });
      request.log.info({ error_type: apiError.type, error_code: apiError.code }, 'request refused');
      void (reply as FastifyReply).code(apiError.statusCode).send(apiError.toWire());
    },
    ...(https_options === undefined
      ? {}
      : {
          serverFactory: (handler: (request: IncomingMessage, response: ServerResponse) => void) => createHttpsServer(https_options, handler),
        }),
  });

  // First of all, so that every route registered afterwards, in any plugin, is listed.
  const routes: RegisteredRoute[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) routes.push({ method, url: route.url });
  });

  // Before every other hook, so that a refused request has its span too.
  traceRequests(app);

  app.addHook('onRequest', (request, _reply, done) => {
    const refusal = urlCardNumberRefusal(request.raw);
    if (refusal === undefined) done();
    else done(refusal);
  });

  // A caller's deadline (transport/deadline.ts) applies to the calls its handler makes: the rest
  // of the request runs inside the context entered here. Fastify keeps that context across body
  // parsing (its content-type parser resumes in the request's async scope); the two-hop test in
  // transport/http-upstream.test.ts checks it through a body, an async hook and an async handler.
  app.addHook('onRequest', (request, _reply, done) => {
    const timeout_ms = parseDeadlineHeader(request.headers[deadline_header], incoming_deadline_ms_max);
    if (timeout_ms === undefined) done();
    else runWithDeadline(timeout_ms, done);
  });

  app.addHook('onSend', (request, reply, payload, done) => {
    void reply.header('request-id', request.id);
    if (options.tls !== undefined) void reply.header('strict-transport-security', `max-age=${hsts_max_age_seconds}; includeSubDomains`);
    done(null, payload);
  });

  // JSON only: with no other parser registered, any other content type with a body is a 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, jsonContentTypeParser);

  app.setErrorHandler((error, request, reply) => {
    const { apiError, severity } = mapError(error, { request_id: request.id, body_limit_bytes });
    const fields = { error_type: apiError.type, error_code: apiError.code };
    if (severity === 'bug') request.log.fatal({ err: error }, 'assertion failed while handling a request');
    else if (severity === 'internal') request.log.error({ err: error }, 'request failed');
    else if (severity === 'unavailable') request.log.warn(fields, apiError.message);
    else request.log.info(fields, 'request refused');
    void reply.code(apiError.statusCode).send(apiError.toWire());
    if (severity === 'bug') options.onAssertionFailure?.(error);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?', 1)[0] ?? '';
    const quoted = path.length > quoted_path_length_max ? `${path.slice(0, quoted_path_length_max)}...` : path;
    const error = new ApiError('not_found_error', 'route_not_found', `No route for ${request.method} ${quoted}`);
    void reply.code(error.statusCode).send(error.toWire());
  });

  // Graceful shutdown: once close() begins, requests still arriving on open keep-alive
  // connections are refused (and the connection closed) while those in flight finish.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (_request, reply, done) => {
    if (!closing) {
      done();
      return;
    }
    void reply.header('connection', 'close');
    done(new ApiError('service_unavailable_error', 'shutting_down', 'This server is shutting down; retry the request'));
  });

  app.addHook('onResponse', (request, reply, done) => {
    metrics.requestDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    done();
  });

  // Probes and scrapes come every few seconds: keep them out of the info-level request log.
  const quiet = { logLevel: 'warn' } as const;

  app.get('/healthz', quiet, () => ({ status: 'ok' }));

  app.get('/readyz', quiet, async (request, reply) => {
    const failures = await readiness.run();
    if (failures.length === 0) return { status: 'ok' };
    for (const failure of failures) request.log.warn({ err: failure.error, check: failure.name }, 'readiness check failed');
    const error = new ApiError('service_unavailable_error', 'not_ready', `Not ready: ${failures.map((failure) => failure.name).join(', ')}`);
    return reply.code(error.statusCode).send(error.toWire());
  });

  const authenticate = options.metrics_authenticate;
  if (authenticate !== undefined) {
    app.get('/metrics', { ...quiet, onRequest: async (request) => authenticate(request) }, async (_request, reply) => sendMetrics(metrics.registry, reply));
  }

  return { app, routes, metrics: { registry: metrics.registry }, readiness };
}

function httpsOptions(tls: NonNullable<CreateHttpServerOptions['tls']>) {
  const require_client_certificate = tls.require_client_certificate === true;
  assert(!require_client_certificate || tls.ca !== undefined, 'require_client_certificate needs the ca that signs client certificates');
  return {
    cert: tls.cert,
    key: tls.key,
    minVersion: tls_version_min,
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    ...(require_client_certificate ? { requestCert: true, rejectUnauthorized: true } : {}),
  } as const;
}

async function sendMetrics(registry: Registry, reply: FastifyReply): Promise<FastifyReply> {
  const text = await registry.metrics();
  return reply.type(registry.contentType).send(text);
}

export interface CreateMetricsServerOptions {
  readonly logger: Logger;
  /** The registry of the server whose metrics this listener serves (`HttpServer.metrics.registry`). */
  readonly registry: Registry;
}

/**
 * A second HTTP server that serves only `GET /metrics`, for a port that only the scraper can
 * reach (METRICS_PORT): the public port then has no `/metrics` at all. It takes no body and
 * answers everything else with a 404 in the one error shape.
 */
export function createMetricsServer(options: CreateMetricsServerOptions): FastifyInstance {
  const app: FastifyInstance = fastify<Server, IncomingMessage, ServerResponse, FastifyBaseLogger>({
    loggerInstance: options.logger,
    requestTimeout: request_timeout_ms,
    requestIdHeader: false,
    genReqId: () => randomId('req'),
  });
  app.removeAllContentTypeParsers();
  app.setNotFoundHandler((request, reply) => {
    const error = new ApiError('not_found_error', 'route_not_found', `This port serves only GET /metrics`);
    void reply.code(error.statusCode).send(error.toWire());
  });
  app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => sendMetrics(options.registry, reply));
  return app;
}
