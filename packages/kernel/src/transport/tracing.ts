// A client span around every call one service makes to another (tracing/tracing.ts), with the
// W3C `traceparent` of that span sent along, so the callee's server span continues the caller's
// trace. Retries happen inside the one span: it is one call to the service, however many
// instances it took. With tracing off the call goes straight through.
import { SpanKind, SpanStatusCode, tracingEnabled, withSpan, withTraceHeaders } from '../tracing/tracing';
import type { UpstreamRequest, UpstreamResponse } from './upstream';

/** Answers from this status on mark the client span failed. */
const server_error_status_min = 500;

export async function tracedUpstreamRequest(service: string, request: UpstreamRequest, send: (request: UpstreamRequest) => Promise<UpstreamResponse>): Promise<UpstreamResponse> {
  if (!tracingEnabled()) return send(request);
  // The path without its query: ids in it are fine on a span, query strings may carry anything.
  const path = request.path.split('?', 1)[0] ?? request.path;
  return withSpan(`${request.method} ${service}`, { kind: SpanKind.CLIENT, attributes: { 'http.request.method': request.method, 'peer.service': service, 'url.path': path } }, async (span) => {
    const headers = withTraceHeaders(request.headers);
    const response = await send(headers === undefined ? request : { ...request, headers });
    span?.setAttribute('http.response.status_code', response.status);
    if (response.status >= server_error_status_min) span?.setStatus({ code: SpanStatusCode.ERROR });
    return response;
  });
}
