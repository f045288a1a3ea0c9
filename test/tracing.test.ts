// One card payment is one trace: its confirmation enters at the gateway and crosses payments, the
// vault, the card connector, the ledger and, through the outbox and the bus, webhooks and the
// delivery to the merchant's endpoint. The platform exports over OTLP/HTTP to a receiver this suite
// runs on 127.0.0.1; the suite finds the confirmation's server span at the gateway and asserts that
// its trace holds spans of every process and that every span's parent is in it. Broken
// propagation anywhere (a missing traceparent on a call, on a bus message, or on a stored event)
// puts the spans after the break in another trace, and the suite fails.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tracingEnabled } from '@paygrid/kernel';
import { describeWithPostgresNatsAndRedis } from '@paygrid/kernel/testing';
import { Paygrid, verifyWebhook } from '@paygrid/sdk';
import { waitFor, type Deployment } from './support/acceptance';
import { startDistributedTestDeployment, type DistributedTestDeployment } from './support/distributed';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver';
import { startTestPlatform, type TestPlatform } from './support/platform';

const confirm_span = 'POST /v1/payment_intents/:id/confirm';
/** Spans reach the receiver within the batch processor's 2 s delay; the rest is the machine's load. */
const spans_wait_ms = 45_000;

/** Pays 20.00 by card through the public API, with a webhook endpoint listening; resolves once the endpoint got the payment's success. */
async function payByCard(deployment: Deployment): Promise<{ readonly intent_id: string }> {
  const operator = new Paygrid({ api_key: deployment.operator_key, base_url: deployment.url });
  const created = await operator.merchants.create({ name: 'Traced', email: 'owner@traced.example' });
  const merchant = new Paygrid({ api_key: created.secret_key, signing_secret: created.signing_secret, base_url: deployment.url });
  const publishable = new Paygrid({ api_key: created.publishable_key, base_url: deployment.url });
  const received: string[] = [];
  let secret = '';
  const receiver: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      try {
        const event = verifyWebhook({ secret, headers: request.headers, body }) as { type: string };
        received.push(event.type);
        response.writeHead(204).end();
      } catch {
        response.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((done) => receiver.listen(0, '127.0.0.1', done));
  try {
    const address = receiver.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const endpoint = await merchant.webhookEndpoints.create({ url: `http://127.0.0.1:${port}/hooks`, enabled_events: ['payment_intent.succeeded'] });
    secret = endpoint.secret;
    const token = await publishable.tokens.create({ card: { number: '4242424242424242', exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' } });
    const intent = await merchant.paymentIntents.create({ amount: 2_000, currency: 'usd' });
    const confirmed = await merchant.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: token.id } });
    expect(confirmed.status).toBe('succeeded');
    await waitFor(() => Promise.resolve(received.includes('payment_intent.succeeded') ? true : undefined), 'the webhook of the payment', 30_000);
    return { intent_id: intent.id };
  } finally {
    receiver.closeAllConnections();
    await new Promise<void>((done) => receiver.close(() => done()));
  }
}

/** The spans of the trace whose gateway server span confirmed this payment. */
function traceOf(spans: readonly ReceivedSpan[], gateway_service: string): { readonly root: ReceivedSpan | undefined; readonly spans: ReceivedSpan[] } {
  const confirmations = spans.filter((span) => span.service === gateway_service && span.name === confirm_span);
  // One payment was confirmed in this deployment, so there is one such span.
  const root = confirmations.length === 1 ? confirmations[0] : undefined;
  return { root, spans: root === undefined ? [] : spans.filter((span) => span.trace_id === root.trace_id) };
}

/** Spans whose parent is not in the trace; the root, and only the root, has no parent. */
function danglingParents(trace: readonly ReceivedSpan[]): ReceivedSpan[] {
  const ids = new Set(trace.map((span) => span.span_id));
  return trace.filter((span) => span.parent_span_id !== '' && !ids.has(span.parent_span_id));
}

function describeTrace(trace: readonly ReceivedSpan[]): string {
  return trace.map((span) => `${span.service}: ${span.name} (${span.span_id} <- ${span.parent_span_id || 'root'})`).join('\n');
}

/** Waits until the trace holds a span matching every expectation and no span whose parent is missing. */
async function completeTrace(receiver: OtlpReceiver, gateway_service: string, expected: readonly { readonly service: string; readonly name: RegExp }[]): Promise<ReceivedSpan[]> {
  let last: ReceivedSpan[] = [];
  try {
    return await waitFor(
      () => {
        const { spans } = traceOf(receiver.spans, gateway_service);
        last = spans;
        const complete = expected.every((want) => spans.some((span) => span.service === want.service && want.name.test(span.name)));
        return Promise.resolve(complete && danglingParents(spans).length === 0 ? spans : undefined);
      },
      'the payment trace to arrive whole',
      spans_wait_ms,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; the trace holds:\n${describeTrace(last)}\nrefused by the receiver: ${receiver.refused.join('; ')}`, { cause: error });
  }
}

function expectOneConsistentTrace(trace: readonly ReceivedSpan[]): void {
  expect(new Set(trace.map((span) => span.trace_id)).size).toBe(1);
  const roots = trace.filter((span) => span.parent_span_id === '');
  expect(roots.map((span) => span.name)).toEqual([confirm_span]);
  expect(danglingParents(trace)).toEqual([]);
  expect(new Set(trace.map((span) => span.span_id)).size).toBe(trace.length);
}

describe('tracing, all in one process', () => {
  let receiver: OtlpReceiver;
  let test: TestPlatform;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    test = await startTestPlatform({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint } });
  }, 60_000);
  afterAll(async () => {
    await test.close();
    await receiver.close();
  }, 60_000);

  it('makes one payment one trace, from the confirmation to the webhook delivery', async () => {
    await payByCard({ url: test.url, operator_key: test.operator_key, sandboxes: { alipay: '', wechat_pay: '' } });
    const trace = await completeTrace(receiver, 'paygrid', [
      { service: 'paygrid', name: /^POST \/v1\/payment_intents\/:id\/confirm$/ },
      { service: 'paygrid', name: /^connector card authorize$/ },
      { service: 'paygrid', name: /^ledger batch$/ },
      { service: 'paygrid', name: /^publish payments\.events\.payment_intent$/ },
      { service: 'paygrid', name: /^process payments\.events\.payment_intent$/ },
      { service: 'paygrid', name: /^webhook deliver payment_intent\.succeeded$/ },
    ]);
    expectOneConsistentTrace(trace);
    expect(trace.find((span) => span.name === 'ledger batch')?.attributes['paygrid.ledger.batch.events']).toEqual(expect.any(Number));
  }, 120_000);
});

describe('tracing, not configured', () => {
  it('starts no SDK without OTEL_EXPORTER_OTLP_ENDPOINT, and a traced platform stops its SDK on close', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const traced = await startTestPlatform({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint } });
      expect(tracingEnabled()).toBe(true);
      await traced.close();
      expect(tracingEnabled()).toBe(false);
      const untraced = await startTestPlatform();
      try {
        expect(tracingEnabled()).toBe(false);
        const received = receiver.spans.length;
        expect((await fetch(`${untraced.url}/v1/balance`, { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } })).status).toBe(401);
        await new Promise((done) => setTimeout(done, 2_500));
        expect(receiver.spans.length).toBe(received);
      } finally {
        await untraced.close();
      }
    } finally {
      await receiver.close();
    }
  }, 60_000);
});

describeWithPostgresNatsAndRedis('tracing, every service its own process', (urls) => {
  let receiver: OtlpReceiver;
  let deployment: DistributedTestDeployment;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    deployment = await startDistributedTestDeployment(urls, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
  }, 120_000);
  afterAll(async () => {
    await deployment.stop();
    await receiver.close();
  }, 60_000);

  it('makes one payment one trace across the gateway, payments, vault, connector, ledger and webhooks', async () => {
    await payByCard(deployment);
    const trace = await completeTrace(receiver, 'paygrid-gateway', [
      { service: 'paygrid-gateway', name: /^POST payments$/ },
      { service: 'paygrid-payments', name: /^POST \/internal\/payments\// },
      { service: 'paygrid-payments', name: /^connector card authorize$/ },
      { service: 'paygrid-vault', name: /^POST \/internal\/vault\// },
      { service: 'paygrid-ledger', name: /^POST \/v1\/ledger\/transfers$/ },
      { service: 'paygrid-ledger', name: /^ledger batch$/ },
      { service: 'paygrid-payments', name: /^publish payments\.events\.payment_intent$/ },
      { service: 'paygrid-webhooks', name: /^process payments\.events\.payment_intent$/ },
      { service: 'paygrid-webhooks', name: /^webhook deliver payment_intent\.succeeded$/ },
    ]);
    expectOneConsistentTrace(trace);
    const services = new Set(trace.map((span) => span.service));
    for (const service of ['paygrid-gateway', 'paygrid-payments', 'paygrid-vault', 'paygrid-ledger', 'paygrid-webhooks']) expect(services).toContain(service);
    // The ledger's server span continues the payments process's client span, across the process boundary.
    const ledger_server = trace.find((span) => span.service === 'paygrid-ledger' && span.name === 'POST /v1/ledger/transfers');
    const its_parent = trace.find((span) => span.span_id === ledger_server?.parent_span_id);
    expect(its_parent?.service).not.toBe('paygrid-ledger');
    expect(receiver.refused).toEqual([]);
  }, 180_000);
});
