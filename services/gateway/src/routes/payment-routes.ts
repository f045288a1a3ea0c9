// Card tokens, orders, payment intents, refunds, bank-transfer test helpers, webhook endpoints
// and events; and the providers' notification endpoints.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ApiError, rawBodyOf } from '@paygrid/kernel';
import type { PaymentsClient } from '@paygrid/payments';
import type { VaultClient } from '@paygrid/vault';
import type { WebhooksClient } from '@paygrid/webhooks';
import { merchantOf } from '../authentication';
import { idempotencyOption as idempotency } from '../idempotency';
import { IdParams, List, ListQuery } from '@paygrid/kernel/api-schemas';
import {
  BankTransferReview,
  CancelPaymentIntentBody,
  CapturePaymentIntentBody,
  ConfirmPaymentIntentBody,
  CreateOrderBody,
  CreatePaymentIntentBody,
  CreateRefundBody,
  IncomingBankTransferBody,
  Order,
  PaymentAttempt,
  PaymentIntent,
  Refund,
} from '@paygrid/payments/api-schemas';
import { CreateTokenBody, Token } from '@paygrid/vault/api-schemas';
import {
  CreateWebhookEndpointBody,
  Delivery,
  DeliveryAttempt,
  Event,
  EventsQuery,
  ResendEventBody,
  UpdateWebhookEndpointBody,
  WebhookEndpoint,
  WebhookEndpointCreated,
} from '@paygrid/webhooks/api-schemas';
import { found, listOf, pageOf, routeSchema } from './route-helpers';

export interface PaymentRoutesOptions {
  readonly payments: PaymentsClient;
  readonly vault: VaultClient;
  readonly webhooks: WebhooksClient;
}


export function registerPaymentRoutes(app: FastifyInstance, options: PaymentRoutesOptions): void {
  const { payments, vault, webhooks } = options;
  const v1 = app.withTypeProvider<TypeBoxTypeProvider>();
  // Each route says what it does, for the table of what a merchant may do (merchant-permissions.ts).
  const read = { auth: 'secret', action: 'read' } as const;
  const write = { auth: 'secret', action: 'write' } as const;
  const move_money = { auth: 'secret', action: 'move_money' } as const;

  v1.post(
    '/tokens',
    { config: { auth: 'publishable', action: 'move_money' }, schema: routeSchema('Tokens', 'Turn card details into a single-use token (publishable key)', { body: CreateTokenBody, response: Type.Ref(Token) }) },
    async (request) => vault.createToken(merchantOf(request).tenant, request.body.card),
  );

  v1.post('/orders', { config: write, schema: routeSchema('Orders', 'Create an order; its total is computed from the line items', { body: CreateOrderBody, response: Type.Ref(Order) }) }, async (request) => {
    const { line_items, ...rest } = request.body;
    return payments.createOrder(merchantOf(request).tenant, {
      ...rest,
      line_items: line_items.map((item) => ({ ...item, unit_amount: BigInt(item.unit_amount) })),
    });
  });
  v1.get('/orders', { config: read, schema: routeSchema('Orders', 'List orders', { querystring: ListQuery, response: List(Type.Ref(Order)) }) }, async (request) =>
    listOf('/v1/orders', await payments.listOrders(merchantOf(request).tenant, pageOf(request.query))),
  );
  v1.get('/orders/:id', { config: read, schema: routeSchema('Orders', 'Retrieve an order', { params: IdParams, response: Type.Ref(Order) }) }, async (request) =>
    found(await payments.getOrder(merchantOf(request).tenant, request.params.id), 'order', request.params.id),
  );

  v1.post(
    '/payment_intents',
    { config: move_money, schema: routeSchema('Payment intents', 'Create a payment intent', { body: CreatePaymentIntentBody, response: Type.Ref(PaymentIntent) }) },
    async (request) => {
      const { amount, ...rest } = request.body;
      return payments.createPaymentIntent(merchantOf(request).tenant, { ...rest, amount: BigInt(amount), ...idempotency(request) });
    },
  );
  v1.get('/payment_intents', { config: read, schema: routeSchema('Payment intents', 'List payment intents', { querystring: ListQuery, response: List(Type.Ref(PaymentIntent)) }) }, async (request) =>
    listOf('/v1/payment_intents', await payments.listPaymentIntents(merchantOf(request).tenant, pageOf(request.query))),
  );
  v1.get('/payment_intents/:id', { config: read, schema: routeSchema('Payment intents', 'Retrieve a payment intent', { params: IdParams, response: Type.Ref(PaymentIntent) }) }, async (request) =>
    found(await payments.getPaymentIntent(merchantOf(request).tenant, request.params.id), 'payment_intent', request.params.id),
  );
  v1.post(
    '/payment_intents/:id/confirm',
    {
      config: move_money,
      schema: routeSchema('Payment intents', 'Confirm a payment intent with a payment method: card token, wallet, Alipay, WeChat Pay or bank transfer', {
        params: IdParams,
        body: ConfirmPaymentIntentBody,
        response: Type.Ref(PaymentIntent),
      }),
    },
    async (request) => payments.confirmPaymentIntent(merchantOf(request).tenant, request.params.id, { ...request.body, ...idempotency(request) }),
  );
  v1.post(
    '/payment_intents/:id/capture',
    { config: move_money, schema: routeSchema('Payment intents', 'Capture a manual-capture payment, all or part of it (the rest is released)', { params: IdParams, body: CapturePaymentIntentBody, response: Type.Ref(PaymentIntent) }) },
    async (request) => {
      const amount = request.body.amount;
      return payments.capturePaymentIntent(merchantOf(request).tenant, request.params.id, amount === undefined ? {} : { amount: BigInt(amount) });
    },
  );
  v1.post(
    '/payment_intents/:id/cancel',
    { config: move_money, schema: routeSchema('Payment intents', 'Cancel a payment intent; a held authorization is released', { params: IdParams, body: CancelPaymentIntentBody, response: Type.Ref(PaymentIntent) }) },
    async (request) => payments.cancelPaymentIntent(merchantOf(request).tenant, request.params.id, request.body),
  );
  v1.get(
    '/payment_intents/:id/attempts',
    { config: read, schema: routeSchema('Payment intents', "List a payment intent's attempts against its connector", { params: IdParams, querystring: ListQuery, response: List(Type.Ref(PaymentAttempt)) }) },
    async (request) => listOf(`/v1/payment_intents/${request.params.id}/attempts`, await payments.listAttempts(merchantOf(request).tenant, request.params.id, pageOf(request.query))),
  );

  v1.post('/refunds', { config: move_money, schema: routeSchema('Refunds', 'Refund a payment, fully or partly', { body: CreateRefundBody, response: Type.Ref(Refund) }) }, async (request) => {
    const { amount, payment_intent } = request.body;
    return payments.createRefund(merchantOf(request).tenant, { payment_intent, ...(amount === undefined ? {} : { amount: BigInt(amount) }), ...idempotency(request) });
  });
  v1.get('/refunds', { config: read, schema: routeSchema('Refunds', 'List refunds', { querystring: ListQuery, response: List(Type.Ref(Refund)) }) }, async (request) =>
    listOf('/v1/refunds', await payments.listRefunds(merchantOf(request).tenant, pageOf(request.query))),
  );
  v1.get('/refunds/:id', { config: read, schema: routeSchema('Refunds', 'Retrieve a refund', { params: IdParams, response: Type.Ref(Refund) }) }, async (request) =>
    found(await payments.getRefund(merchantOf(request).tenant, request.params.id), 'refund', request.params.id),
  );

  v1.post(
    '/test_helpers/bank_transfers',
    {
      config: move_money,
      schema: routeSchema('Test helpers', 'Report an incoming bank transfer as the bank would: it pays the intent with that reference, or is held for review', {
        body: IncomingBankTransferBody,
        response: Type.Union([Type.Ref(PaymentIntent), Type.Ref(BankTransferReview)]),
      }),
    },
    async (request) => {
      const { tenant } = merchantOf(request);
      if (tenant.livemode) throw new ApiError('invalid_request_error', 'test_mode_only', 'Test helpers work only with test-mode keys');
      return payments.reportIncomingBankTransfer(tenant, { ...request.body, amount: BigInt(request.body.amount) });
    },
  );
  v1.get(
    '/bank_transfer_reviews',
    { config: read, schema: routeSchema('Payment intents', 'List incoming bank transfers held for review', { querystring: ListQuery, response: List(Type.Ref(BankTransferReview)) }) },
    async (request) => listOf('/v1/bank_transfer_reviews', await payments.listBankTransferReviews(merchantOf(request).tenant, pageOf(request.query))),
  );

  v1.post(
    '/webhook_endpoints',
    // Its answer shows the endpoint's `whsec_` signing secret, once (authentication.ts, `returns_secret`).
    { config: { auth: 'secret', action: 'write', returns_secret: true }, schema: routeSchema('Webhooks', 'Register a webhook endpoint; its signing secret is shown only here', { body: CreateWebhookEndpointBody, response: WebhookEndpointCreated }) },
    async (request) => {
      const created = await webhooks.createEndpoint(merchantOf(request).tenant, request.body);
      return { ...created.endpoint, secret: created.secret };
    },
  );
  v1.get('/webhook_endpoints', { config: read, schema: routeSchema('Webhooks', 'List webhook endpoints', { querystring: ListQuery, response: List(Type.Ref(WebhookEndpoint)) }) }, async (request) =>
    listOf('/v1/webhook_endpoints', await webhooks.listEndpoints(merchantOf(request).tenant, pageOf(request.query))),
  );
  v1.get('/webhook_endpoints/:id', { config: read, schema: routeSchema('Webhooks', 'Retrieve a webhook endpoint', { params: IdParams, response: Type.Ref(WebhookEndpoint) }) }, async (request) =>
    found(await webhooks.getEndpoint(merchantOf(request).tenant, request.params.id), 'webhook_endpoint', request.params.id),
  );
  v1.patch(
    '/webhook_endpoints/:id',
    { config: write, schema: routeSchema('Webhooks', 'Change, disable or re-enable a webhook endpoint', { params: IdParams, body: UpdateWebhookEndpointBody, response: Type.Ref(WebhookEndpoint) }) },
    async (request) => webhooks.updateEndpoint(merchantOf(request).tenant, request.params.id, request.body),
  );
  v1.get(
    '/webhook_endpoints/:id/attempts',
    { config: read, schema: routeSchema('Webhooks', "The endpoint's delivery log: every attempt with its response code", { params: IdParams, querystring: ListQuery, response: List(Type.Ref(DeliveryAttempt)) }) },
    async (request) =>
      listOf(`/v1/webhook_endpoints/${request.params.id}/attempts`, await webhooks.listDeliveryAttempts(merchantOf(request).tenant, { endpoint: request.params.id }, pageOf(request.query))),
  );
  v1.get('/events', { config: read, schema: routeSchema('Webhooks', 'List events, newest first', { querystring: EventsQuery, response: List(Type.Ref(Event)) }) }, async (request) => {
    const { type, ...page } = request.query;
    return listOf('/v1/events', await webhooks.listEvents(merchantOf(request).tenant, pageOf(page), type === undefined ? {} : { type }));
  });
  v1.get('/events/:id', { config: read, schema: routeSchema('Webhooks', 'Retrieve an event', { params: IdParams, response: Type.Ref(Event) }) }, async (request) =>
    found(await webhooks.getEvent(merchantOf(request).tenant, request.params.id), 'event', request.params.id),
  );
  v1.post(
    '/events/:id/resend',
    { config: write, schema: routeSchema('Webhooks', 'Deliver an event to an endpoint again, now (one attempt, no retries)', { params: IdParams, body: ResendEventBody, response: Type.Ref(Delivery) }) },
    async (request) => webhooks.resendEvent(merchantOf(request).tenant, request.params.id, request.body.endpoint),
  );

  // Providers post their notifications here, signed their own way (not with a Paygrid key), and
  // Alipay's are form-encoded: this scope reads any body as text and lets the connector verify it.
  app.register(
    (notifications, _options, done) => {
      notifications.removeAllContentTypeParsers();
      notifications.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, next) => {
        next(null, body);
      });
      for (const method of ['alipay', 'wechat_pay'] as const) {
        notifications.post(`/notifications/${method}`, { config: { provider_notification: true }, schema: { hide: true } }, async (request, reply) => {
          const body = typeof request.body === 'string' ? request.body : (rawBodyOf(request) ?? '');
          const headers: Record<string, string | undefined> = {};
          for (const [name, value] of Object.entries(request.headers)) headers[name] = Array.isArray(value) ? value.join(', ') : value;
          const handled = await payments.handleNotification(method, headers, body);
          if (!handled.ok) {
            request.log.warn({ method, reason: handled.reason }, 'refused a provider notification');
            throw new ApiError('invalid_request_error', 'notification_invalid', 'The notification could not be verified');
          }
          return reply.code(handled.acknowledgement.status).type(handled.acknowledgement.content_type).send(handled.acknowledgement.body);
        });
      }
      done();
    },
  );
}
