// A server span for every request (tracing/tracing.ts), named by its route pattern
// (`POST /v1/payment_intents/:id/confirm`, never the URL with its ids), continuing the caller's
// trace when the request carries a W3C `traceparent`. The rest of the request (hooks, body
// parsing, handler) runs inside the span's context, entered as the deadline's is in server.ts, so
// every span and log line made while serving it belongs to it.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { extractContext, runInSpan, SpanKind, SpanStatusCode, startSpan, tracingEnabled, type Span } from '../tracing/tracing';

const server_spans = new WeakMap<FastifyRequest, Span>();

/** Probes and scrapes come every few seconds from machines: a trace each would bury the real ones. */
const untraced_routes: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

/** Statuses from this one on mark the server span failed (4xx are the caller's mistakes, not ours). */
const server_error_status_min = 500;

/**
 * Adds the hooks, when tracing is on as the server is made (the platform starts tracing first); a
 * server made with tracing off has none, and costs nothing for it.
 */
export function traceRequests(app: FastifyInstance): void {
  if (!tracingEnabled()) return;
  app.addHook('onRequest', (request, _reply, done) => {
    const route = request.routeOptions.url;
    if (route !== undefined && untraced_routes.has(route)) {
      done();
      return;
    }
    const parent = extractContext(request.headers);
    const span = startSpan(route === undefined ? request.method : `${request.method} ${route}`, {
      kind: SpanKind.SERVER,
      parent,
      attributes: { 'http.request.method': request.method, ...(route === undefined ? {} : { 'http.route': route }) },
    });
    if (span === undefined) {
      done();
      return;
    }
    server_spans.set(request, span);
    runInSpan(span, done, parent);
  });

  // The error is recorded as an event; whether the span failed is the status's to say (a refused
  // request is the caller's mistake).
  app.addHook('onError', (request, _reply, error, done) => {
    server_spans.get(request)?.recordException(error);
    done();
  });

  app.addHook('onResponse', (request, reply, done) => {
    endServerSpan(request, reply.statusCode);
    done();
  });

  // A caller that hangs up gets no onResponse.
  app.addHook('onRequestAbort', (request, done) => {
    endServerSpan(request, undefined);
    done();
  });
}

function endServerSpan(request: FastifyRequest, status_code: number | undefined): void {
  const span = server_spans.get(request);
  if (span === undefined) return;
  server_spans.delete(request);
  if (status_code === undefined) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'the caller closed the connection before the answer' });
  } else {
    span.setAttribute('http.response.status_code', status_code);
    if (status_code >= server_error_status_min) span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}
