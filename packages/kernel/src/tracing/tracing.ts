// OpenTelemetry tracing, hand-placed at our own ports (HTTP server and upstreams, the database,
// the bus, the outbox, the ledger's batches, connectors, webhook deliveries) rather than by
// monkey-patching libraries: we know where a unit of work begins and ends, and what its name is.
//
// It is off unless startTracing() ran, which the platform does only when
// OTEL_EXPORTER_OTLP_ENDPOINT is set. Off, every helper here checks one module flag and calls the
// work straight through: no SDK is loaded into the process's state, no span object is made, no
// header is written. On, the SDK's tracer provider, its AsyncLocalStorage context manager and the
// W3C trace-context propagator are registered globally (one process, one provider), and spans go
// to a batch processor with a bounded queue that exports over OTLP/HTTP in JSON.
//
// Context travels as the W3C `traceparent` (and `tracestate`) header: on HTTP between services,
// in bus message headers, and stored with an outbox event or a webhook event so that work done
// later (the relay's publish, a delivery) continues the trace of the request that caused it.
import { randomUUID } from 'node:crypto';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanContext,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-node';
import { assert } from '../assert';

export { SpanKind, SpanStatusCode, type Attributes, type Context, type Span, type SpanContext } from '@opentelemetry/api';

/** The W3C trace-context header that carries the trace and the parent span. */
export const traceparent_header = 'traceparent';
export const tracestate_header = 'tracestate';

/** Spans waiting for export, at most; past this the newest are dropped (and counted by the SDK), never queued without bound. */
export const span_queue_max = 2_048;
/** Spans in one OTLP request, at most. */
export const span_export_batch_max = 512;
/** How long spans wait before a batch is exported, at most. */
export const span_export_delay_ms = 2_000;
/** How long one OTLP request may take. */
export const span_export_timeout_ms = 10_000;
/** Links one batch span carries at most: a batch of thousands of callers links the first ones. */
export const batch_span_links_max = 128;

const tracer_name = '@paygrid/kernel';

/** Set by startTracing and cleared by its shutdown; every helper reads it first. */
let enabled = false;

export function tracingEnabled(): boolean {
  return enabled;
}

export interface StartTracingOptions {
  /** `service.name` of every span this process makes (tracingServiceName). */
  readonly service_name: string;
  /** The OTLP/HTTP base URL (OTEL_EXPORTER_OTLP_ENDPOINT); spans go to `<endpoint>/v1/traces`. */
  readonly endpoint?: string;
  /**
   * For tests: export to this exporter, span by span (SimpleSpanProcessor), instead of the OTLP
   * exporter behind a batch processor.
   */
  readonly exporter?: SpanExporter;
  /** More resource attributes (the services this process runs). */
  readonly attributes?: Attributes;
}

export interface Tracing {
  readonly service_name: string;
  /** Sends what is queued (waiting at most span_export_timeout_ms), then stops tracing in this process. */
  shutdown(): Promise<void>;
}

/** The OTLP/HTTP traces URL of an endpoint, as the OpenTelemetry specification builds it. */
export function tracesUrl(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}

/**
 * Starts the SDK for this process and registers it globally. One process has one tracer provider:
 * starting a second before the first shut down is a bug.
 */
export function startTracing(options: StartTracingOptions): Tracing {
  assert(!enabled, 'tracing is started once per process');
  assert(options.endpoint !== undefined || options.exporter !== undefined, 'tracing needs an endpoint or an exporter');
  const processor =
    options.exporter !== undefined
      ? new SimpleSpanProcessor(options.exporter)
      : new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl(options.endpoint ?? ''), timeoutMillis: span_export_timeout_ms }), {
          maxQueueSize: span_queue_max,
          maxExportBatchSize: span_export_batch_max,
          scheduledDelayMillis: span_export_delay_ms,
          exportTimeoutMillis: span_export_timeout_ms,
        });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.service_name, 'service.instance.id': randomUUID(), ...options.attributes }),
    spanProcessors: [processor],
  });
  // The W3C trace context only: baggage would carry whatever a caller put in it to every service.
  provider.register({ propagator: new W3CTraceContextPropagator() });
  enabled = true;
  let stopped: Promise<void> | undefined;
  return {
    service_name: options.service_name,
    shutdown: () => {
      stopped ??= (async () => {
        try {
          await provider.shutdown();
        } finally {
          enabled = false;
          trace.disable();
          context.disable();
          propagation.disable();
        }
      })();
      return stopped;
    },
  };
}

/** `paygrid` for the all-in-one process, `paygrid-<service>` (joined by `-`) for a process that runs some. */
export function tracingServiceName(services: readonly string[], every_service: readonly string[]): string {
  const all = every_service.every((service) => services.includes(service));
  return all ? 'paygrid' : `paygrid-${services.join('-')}`;
}

function tracer() {
  return trace.getTracer(tracer_name);
}

export interface SpanOptions {
  readonly kind?: SpanKind;
  readonly attributes?: Attributes;
  readonly links?: readonly Link[];
  /** The parent; the active context when absent. */
  readonly parent?: Context;
}

/** Records a failure on a span: its status, and the exception as an event. */
export function recordFailure(span: Span, error: unknown): void {
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  if (error instanceof Error) span.recordException(error);
}

/**
 * Runs `work` inside a new span, active for everything `work` calls, and ends it when `work`
 * settles; a rejection marks the span failed. With tracing off, runs `work` and nothing else.
 */
export async function withSpan<T>(name: string, options: SpanOptions, work: (span: Span | undefined) => Promise<T>): Promise<T> {
  if (!enabled) return work(undefined);
  const parent = options.parent ?? context.active();
  const span = tracer().startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, ...(options.attributes === undefined ? {} : { attributes: options.attributes }), ...(options.links === undefined ? {} : { links: [...options.links] }) }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => work(span));
  } catch (error) {
    recordFailure(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/**
 * Starts a span that the caller ends (a server span that lives from a request's first hook to its
 * response); undefined with tracing off. `activeContext` gives the context to run its work in.
 */
export function startSpan(name: string, options: SpanOptions): Span | undefined {
  if (!enabled) return undefined;
  return tracer().startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, ...(options.attributes === undefined ? {} : { attributes: options.attributes }), ...(options.links === undefined ? {} : { links: [...options.links] }) }, options.parent ?? context.active());
}

/** Runs `work` with `span` active (for what it calls), in `parent` or the active context. */
export function runInSpan<T>(span: Span, work: () => T, parent: Context = context.active()): T {
  return context.with(trace.setSpan(parent, span), work);
}

const header_getter: TextMapGetter<Readonly<Record<string, string | string[] | undefined>>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const direct = carrier[key];
    if (direct !== undefined) return direct;
    // Bus headers keep the case they were written in; HTTP headers come lower-cased.
    const found = Object.keys(carrier).find((name) => name.toLowerCase() === key);
    return found === undefined ? undefined : carrier[found];
  },
};

const header_setter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/** The context a caller sent in its headers (`traceparent`), or the root context when none or tracing is off. */
export function extractContext(headers: Readonly<Record<string, string | string[] | undefined>>): Context {
  if (!enabled) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, headers, header_getter);
}

/**
 * `headers` with the active span's `traceparent` (and `tracestate`) added, to send to a service
 * that continues the trace; `headers` itself, unchanged, with tracing off or outside any span.
 */
export function withTraceHeaders<Headers extends Readonly<Record<string, string>>>(headers: Headers | undefined, parent: Context = context.active()): Headers | Record<string, string> | undefined {
  if (!enabled || trace.getSpanContext(parent) === undefined) return headers;
  const carrier: Record<string, string> = {};
  propagation.inject(parent, carrier, header_setter);
  return { ...headers, ...carrier };
}

/**
 * The active span's `traceparent`, to store beside work that runs later (an outbox event): null
 * with tracing off or outside any span.
 */
export function currentTraceparent(): string | null {
  if (!enabled) return null;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier, header_setter);
  return carrier[traceparent_header] ?? null;
}

/** The context a stored `traceparent` names (the root context for null or with tracing off). */
export function contextOfTraceparent(traceparent: string | null | undefined): Context {
  if (!enabled || traceparent === null || traceparent === undefined) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { [traceparent_header]: traceparent }, header_getter);
}

/**
 * Runs `work` as a continuation of the trace a stored `traceparent` names, and outside any trace
 * when it names none: never in whatever context the caller happens to be in (a relay pass kicked
 * by one request publishes the events of others too). Straight through with tracing off.
 */
export function runWithTraceparent<T>(traceparent: string | null | undefined, work: () => T): T {
  if (!enabled) return work();
  return context.with(contextOfTraceparent(traceparent), work);
}

/** The active span's context, kept by work queued for a batch to link or parent it; undefined with tracing off. */
export function currentSpanContext(): SpanContext | undefined {
  if (!enabled) return undefined;
  return trace.getSpanContext(context.active());
}

/** Binds `work` to the active context, so that it runs there whoever calls it (a queued unit of a shared commit). */
export function bindToActiveContext<Work extends (...args: never[]) => unknown>(work: Work): Work {
  if (!enabled) return work;
  return context.bind(context.active(), work);
}

/**
 * A span for work done once for many callers (a ledger batch): the first traced caller is its
 * parent, so a lone caller (the usual case at low load) finds the batch inside its own trace, and
 * every other caller gets a link to it, up to batch_span_links_max. Undefined with tracing off;
 * the caller ends it.
 */
export function startBatchSpan(name: string, callers: readonly (SpanContext | undefined)[], attributes: Attributes): Span | undefined {
  if (!enabled) return undefined;
  let parent: SpanContext | undefined;
  const links: Link[] = [];
  for (const caller of callers) {
    if (caller === undefined) continue;
    if (parent === undefined) parent = caller;
    else if (links.length < batch_span_links_max) links.push({ context: caller });
  }
  const parent_context = parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, parent);
  return tracer().startSpan(name, { kind: SpanKind.INTERNAL, attributes, links }, parent_context);
}

/** `trace_id` and `span_id` of the active span, for a log line; undefined with tracing off or outside any span. */
export function logTraceFields(): { readonly trace_id: string; readonly span_id: string } | undefined {
  if (!enabled) return undefined;
  const span_context = trace.getSpanContext(context.active());
  if (span_context === undefined) return undefined;
  return { trace_id: span_context.traceId, span_id: span_context.spanId };
}
