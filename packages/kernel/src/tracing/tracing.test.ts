import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { context, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus } from '../bus/bus';
import { createMemoryBus } from '../bus/memory-bus';
import { createNatsBus } from '../bus/nats-bus';
import { openDatabase } from '../db/open-database';
import { describeWithNats, temporaryDirectory } from '../testing';
import { createHttpServer } from '../http/server';
import { createLogger } from '../logger';
import { singleOriginUpstream } from '../transport/single-origin';
import { currentTraceparent, runWithTraceparent, startTracing, tracesUrl, tracingEnabled, tracingServiceName, withSpan, type Tracing } from './tracing';

const incoming_trace_id = '4bf92f3577b34da6a3ce929d0e0e4736';
const incoming_span_id = '00f067aa0ba902b7';
const incoming_traceparent = `00-${incoming_trace_id}-${incoming_span_id}-01`;

function lines(): { stream: Writable; read: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  return {
    stream,
    read: () =>
      chunks
        .join('')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

let running: Tracing | undefined;
let exporter: InMemorySpanExporter;

function start(): void {
  exporter = new InMemorySpanExporter();
  running = startTracing({ service_name: 'paygrid-test', exporter });
}

afterEach(async () => {
  await running?.shutdown();
  running = undefined;
});

function spanNamed(spans: readonly ReadableSpan[], name: string): ReadableSpan {
  const found = spans.find((span) => span.name === name);
  if (found === undefined) throw new Error(`no span named ${name}; spans: ${spans.map((span) => span.name).join(', ')}`);
  return found;
}

describe('tracing off', () => {
  it('starts no SDK: no provider, no span, no header, no stored context', async () => {
    expect(tracingEnabled()).toBe(false);
    // The API's no-op tracer: what it makes records nothing and has no valid ids.
    const span = trace.getTracer('any').startSpan('nothing');
    expect(span.isRecording()).toBe(false);
    expect(span.spanContext().traceId).toBe('00000000000000000000000000000000');
    span.end();
    let seen: unknown = 'not called';
    await withSpan('work', {}, (inside) => {
      seen = inside;
      expect(currentTraceparent()).toBeNull();
      return Promise.resolve();
    });
    expect(seen).toBeUndefined();
    expect(runWithTraceparent(incoming_traceparent, () => trace.getSpanContext(context.active()))).toBeUndefined();
  });

  it('sends no traceparent between services and logs no trace ids', async () => {
    const output = lines();
    const logger = createLogger({ level: 'info', name: 'test', destination: output.stream });
    const callee = createHttpServer({ logger });
    let received: string | undefined;
    callee.app.get('/v1/seen', (request) => {
      received = request.headers.traceparent as string | undefined;
      request.log.info('inside');
      return { ok: true };
    });
    const address = await callee.app.listen({ host: '127.0.0.1', port: 0 });
    const upstream = singleOriginUpstream({ service: 'callee', origin: address });
    try {
      const response = await upstream.request({ method: 'GET', path: '/v1/seen', idempotent: true });
      expect(response.status).toBe(200);
    } finally {
      await upstream.close();
      await callee.app.close();
    }
    expect(received).toBeUndefined();
    const inside = output.read().find((line) => line.msg === 'inside');
    expect(inside).toBeDefined();
    expect(inside).not.toHaveProperty('trace_id');
  });
});

describe('tracing on', () => {
  it('names the service after what the process runs', () => {
    expect(tracingServiceName(['ledger', 'payments'], ['ledger', 'payments'])).toBe('paygrid');
    expect(tracingServiceName(['payments'], ['ledger', 'payments'])).toBe('paygrid-payments');
    expect(tracesUrl('http://collector:4318/')).toBe('http://collector:4318/v1/traces');
  });

  it('continues an incoming traceparent in a server span named by the route, and logs its ids', async () => {
    start();
    const output = lines();
    const logger = createLogger({ level: 'info', name: 'test', destination: output.stream });
    const server = createHttpServer({ logger });
    server.app.get('/v1/things/:id', (request) => {
      request.log.info('inside the handler');
      return { id: (request.params as { id: string }).id };
    });
    const response = await server.app.inject({ method: 'GET', url: '/v1/things/thing_123', headers: { traceparent: incoming_traceparent } });
    expect(response.statusCode).toBe(200);
    await server.app.close();
    const span = spanNamed(exporter.getFinishedSpans(), 'GET /v1/things/:id');
    expect(span.spanContext().traceId).toBe(incoming_trace_id);
    expect(span.parentSpanContext?.spanId).toBe(incoming_span_id);
    expect(span.attributes['http.response.status_code']).toBe(200);
    const logged = output.read().find((line) => line.msg === 'inside the handler');
    expect(logged).toMatchObject({ trace_id: incoming_trace_id, span_id: span.spanContext().spanId });
  });

  it('sends a client span\'s traceparent to the callee, whose server span is its child', async () => {
    start();
    const logger = createLogger({ level: 'silent', name: 'test' });
    const callee = createHttpServer({ logger });
    let received: string | undefined;
    callee.app.post('/internal/things/:id', (request) => {
      received = request.headers.traceparent as string | undefined;
      return { ok: true };
    });
    const address = await callee.app.listen({ host: '127.0.0.1', port: 0 });
    const upstream = singleOriginUpstream({ service: 'things', origin: address });
    try {
      await withSpan('caller', {}, async () => {
        const response = await upstream.request({ method: 'POST', path: '/internal/things/abc?x=1', headers: { 'content-type': 'application/json' }, body: '{}', idempotent: false });
        expect(response.status).toBe(200);
      });
    } finally {
      await upstream.close();
      await callee.app.close();
    }
    const spans = exporter.getFinishedSpans();
    const caller = spanNamed(spans, 'caller');
    const client = spanNamed(spans, 'POST things');
    const server = spanNamed(spans, 'POST /internal/things/:id');
    expect(client.parentSpanContext?.spanId).toBe(caller.spanContext().spanId);
    expect(client.attributes['url.path']).toBe('/internal/things/abc');
    expect(received).toBe(`00-${client.spanContext().traceId}-${client.spanContext().spanId}-01`);
    expect(server.parentSpanContext?.spanId).toBe(client.spanContext().spanId);
    expect(new Set([caller, client, server].map((span) => span.spanContext().traceId)).size).toBe(1);
  });

  it('continues a stored traceparent (an outbox event\'s) later, and stores none outside a span', async () => {
    start();
    expect(currentTraceparent()).toBeNull();
    let stored: string | null = null;
    await withSpan('request', {}, () => {
      stored = currentTraceparent();
      return Promise.resolve();
    });
    await runWithTraceparent(stored, () => withSpan('relay publish', {}, () => Promise.resolve()));
    const spans = exporter.getFinishedSpans();
    const request = spanNamed(spans, 'request');
    expect(spanNamed(spans, 'relay publish').parentSpanContext?.spanId).toBe(request.spanContext().spanId);
  });

  it('marks a span failed when its work throws, and refuses a second start', async () => {
    start();
    await expect(withSpan('failing', {}, async () => Promise.reject(new Error('broken')))).rejects.toThrow('broken');
    expect(spanNamed(exporter.getFinishedSpans(), 'failing').status).toMatchObject({ code: 2, message: 'broken' });
    expect(() => startTracing({ service_name: 'again', exporter: new InMemorySpanExporter() })).toThrow(/once per process/);
  });
});

/** Publishes inside a span and checks that the subscriber's span continues it, through the message's headers. */
async function busRoundTrip(bus: Bus): Promise<void> {
  start();
  const handled: { headers: Readonly<Record<string, string>>; trace_id: string | undefined }[] = [];
  const subscription = await bus.subscribe({
    subject: 'payments.events.>',
    durable: 'webhooks',
    deliveries_max: 3,
    redelivery_delays_ms: [10],
    handler_timeout_ms: 5_000,
    handler: (message) => {
      handled.push({ headers: message.headers, trace_id: trace.getSpanContext(context.active())?.traceId });
      return Promise.resolve();
    },
  });
  try {
    await withSpan('request', {}, async () => {
      const result = await bus.publish({ subject: 'payments.events.payment_intent', id: `evt_${randomBytes(6).toString('hex')}`, data: '{}' });
      await result.handled;
    });
    for (let waited_ms = 0; handled.length === 0 && waited_ms < 10_000; waited_ms += 20) await new Promise((done) => setTimeout(done, 20));
  } finally {
    await subscription.close();
  }
  const spans = exporter.getFinishedSpans();
  const request = spanNamed(spans, 'request');
  const producer = spanNamed(spans, 'publish payments.events.payment_intent');
  const consumer = spanNamed(spans, 'process payments.events.payment_intent');
  expect(producer.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
  expect(consumer.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
  expect(handled).toHaveLength(1);
  expect(handled[0]?.headers.traceparent).toBe(`00-${producer.spanContext().traceId}-${producer.spanContext().spanId}-01`);
  expect(handled[0]?.trace_id).toBe(request.spanContext().traceId);
}

describe('tracing on: the bus and the database', () => {
  it('carries the trace in the memory bus\'s message headers: the consumer span continues the publisher\'s', async () => {
    const bus = createMemoryBus();
    try {
      await busRoundTrip(bus);
    } finally {
      await bus.close();
    }
  });

  it('spans a transaction and a statement inside a trace, and nothing outside one', async () => {
    start();
    const directory = await temporaryDirectory();
    const database = await openDatabase({ config: { DATA_DIR: directory.path, DATABASE_URL: undefined }, service: 'tracing' });
    try {
      await database.execute('CREATE TABLE things (id TEXT PRIMARY KEY)');
      expect(exporter.getFinishedSpans()).toEqual([]);
      await withSpan('request', {}, async () => {
        await database.transaction(async (tx) => {
          await tx.execute('INSERT INTO things (id) VALUES (?)', ['a']);
          await tx.execute('INSERT INTO things (id) VALUES (?)', ['b']);
        });
        await database.query('SELECT id FROM things');
      });
    } finally {
      await database.close();
      await directory.remove();
    }
    const spans = exporter.getFinishedSpans();
    const request = spanNamed(spans, 'request');
    expect(spans.map((span) => span.name).sort()).toEqual(['SELECT sqlite', 'request', 'transaction sqlite']);
    for (const name of ['SELECT sqlite', 'transaction sqlite']) expect(spanNamed(spans, name).parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(spanNamed(spans, 'SELECT sqlite').attributes).toMatchObject({ 'db.system.name': 'sqlite', 'db.operation.name': 'SELECT' });
  });
});

describeWithNats('tracing on: the NATS bus', (url) => {
  it('carries the trace in NATS message headers: the consumer span continues the publisher\'s', async () => {
    const prefix = `t${randomBytes(6).toString('hex')}`;
    const bus = await createNatsBus({ url, prefix });
    try {
      await busRoundTrip(bus);
    } finally {
      await bus.close();
      const connection = await connect({ servers: url });
      try {
        const manager = await jetstreamManager(connection);
        for await (const stream of manager.streams.list()) {
          if (stream.config.name.startsWith(`${prefix.toUpperCase()}_`)) await manager.streams.delete(stream.config.name);
        }
      } finally {
        await connection.close();
      }
    }
  });
});
