// A span around every call the payments service makes to a connector (tracing in the kernel), so
// that a trace shows how long the provider took and what it answered. The span names the
// connector and the call, never the card, the amount's owner or the provider's raw answer. Nothing
// of the trace is sent to the provider: it is outside Paygrid. With tracing off the connector is
// returned as it is.
import { SpanKind, SpanStatusCode, tracingEnabled, withSpan, type Span } from '@paygrid/kernel';
import type { Connector } from './connector';

/** Marks the span failed for an outcome that is neither a success nor a decision (an unknown outcome). */
function recordOutcome(span: Span | undefined, outcome: { readonly status: string }): void {
  span?.setAttribute('paygrid.connector.outcome', outcome.status);
  if (outcome.status === 'unknown') span?.setStatus({ code: SpanStatusCode.ERROR, message: 'the provider did not answer with an outcome' });
}

export function traceConnector(connector: Connector): Connector {
  if (!tracingEnabled()) return connector;
  const call = async <Outcome extends { readonly status: string }>(operation: string, work: () => Promise<Outcome>): Promise<Outcome> =>
    withSpan(`connector ${connector.method} ${operation}`, { kind: SpanKind.CLIENT, attributes: { 'paygrid.connector.method': connector.method, 'paygrid.connector.operation': operation } }, async (span) => {
      const outcome = await work();
      recordOutcome(span, outcome);
      return outcome;
    });
  return {
    method: connector.method,
    authorize: (request, options) => call('authorize', () => connector.authorize(request, options)),
    capture: (provider_reference, amount, options) => call('capture', () => connector.capture(provider_reference, amount, options)),
    void: (provider_reference, options) => call('void', () => connector.void(provider_reference, options)),
    refund: (provider_reference, amount, options) => call('refund', () => connector.refund(provider_reference, amount, options)),
    status: (idempotency_reference, options) => call('status', () => connector.status(idempotency_reference, options)),
    parseNotification: (headers, raw_body) =>
      withSpan(`connector ${connector.method} notification`, { kind: SpanKind.INTERNAL, attributes: { 'paygrid.connector.method': connector.method } }, () => connector.parseNotification(headers, raw_body)),
  };
}
