// Schemas of the payment routes: card tokens, orders, payment intents, refunds, webhook endpoints
// and events. Same rules as schemas.ts: request bodies refuse unknown properties.
import { Type, type TSchema } from '@sinclair/typebox';
import { Amount, Currency, Description, Id, ListQuery, Livemode, Name, Timestamp, id_length_max } from './schemas';

const nullable = <Schema extends TSchema>(schema: Schema) => Type.Union([schema, Type.Null()]);

export const url_length_max = 2048;
export const line_items_max = 100;
export const enabled_events_max = 50;
export const merchant_reference_length_max = 255;

export const Token = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('token'),
    card: Type.Object({
      brand: Type.String(),
      last4: Type.String(),
      exp_month: Type.Integer(),
      exp_year: Type.Integer(),
      fingerprint: Type.String(),
      funding: Type.String(),
    }),
    created: Timestamp,
    livemode: Livemode,
    used: Type.Boolean(),
  },
  { $id: 'Token' },
);

export const LineItem = Type.Object({ description: Type.String(), quantity: Type.Integer(), unit_amount: Type.Integer(), amount: Type.Integer() });

export const Order = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('order'),
    currency: Currency,
    line_items: Type.Array(LineItem),
    amount_total: Type.Integer(),
    merchant_reference: nullable(Type.String()),
    status: Type.Union(['open', 'paid', 'partially_refunded', 'refunded', 'canceled'].map((status) => Type.Literal(status))),
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'Order' },
);

export const PaymentIntent = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('payment_intent'),
    amount: Type.Integer(),
    amount_capturable: Type.Integer(),
    amount_received: Type.Integer(),
    amount_refunded: Type.Integer(),
    currency: Currency,
    capture_method: Type.Union([Type.Literal('automatic'), Type.Literal('manual')]),
    status: Type.Union(
      ['requires_payment_method', 'requires_confirmation', 'requires_action', 'processing', 'requires_capture', 'succeeded', 'canceled'].map((status) => Type.Literal(status)),
    ),
    order: nullable(Type.String()),
    payment_method_type: nullable(Type.String()),
    next_action: nullable(Type.Object({}, { additionalProperties: true })),
    last_payment_error: nullable(Type.Object({ code: Type.String(), message: Type.String() })),
    cancellation_reason: nullable(Type.String()),
    capture_before: nullable(Timestamp),
    top_up_wallet: nullable(Type.String({ description: 'The wallet the captured money tops up.' })),
    top_up: nullable(Type.String({ description: "The wallet's top-up, once the captured money is in the wallet." })),
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'PaymentIntent' },
);

export const PaymentAttempt = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('payment_attempt'),
    intent: Type.String({ description: 'The payment intent.' }),
    refund: nullable(Type.String({ description: 'The refund a refund attempt carries out.' })),
    operation: Type.String(),
    status: Type.String(),
    amount: Type.Integer(),
    provider_reference: nullable(Type.String()),
    error: nullable(Type.Object({ code: Type.String(), message: Type.String() })),
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'PaymentAttempt' },
);

export const Refund = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('refund'),
    payment_intent: Type.String(),
    amount: Type.Integer(),
    currency: Currency,
    status: Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed')]),
    failure_reason: nullable(Type.String()),
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'Refund' },
);

export const BankTransferReview = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('bank_transfer_review'),
    reference: Type.String(),
    amount: Type.Integer(),
    currency: Currency,
    status: Type.String(),
    reason: Type.String(),
    payment_intent: nullable(Type.String()),
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'BankTransferReview' },
);

export const WebhookEndpoint = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('webhook_endpoint'),
    url: Type.String(),
    enabled_events: Type.Array(Type.String()),
    status: Type.Union([Type.Literal('enabled'), Type.Literal('disabled')]),
    description: nullable(Type.String()),
    secret_last4: Type.String({ description: "The signing secret's last four characters: the whole secret is shown only when the endpoint is created." }),
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'WebhookEndpoint' },
);

export const WebhookEndpointCreated = Type.Composite([WebhookEndpoint, Type.Object({ secret: Type.String({ description: 'whsec_...: shown only in this response.' }) })]);

export const Event = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('event'),
    type: Type.String(),
    data: Type.Object({ object: Type.Object({}, { additionalProperties: true }) }),
    sequence: Type.Integer({ description: "The object's own version: order events about one object by it." }),
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'Event' },
);

export const DeliveryAttempt = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('webhook_delivery_attempt'),
    event: Type.String(),
    endpoint: Type.String(),
    delivery: Type.String(),
    attempt_number: Type.Integer(),
    status: Type.Union([Type.Literal('succeeded'), Type.Literal('failed')]),
    response_status: nullable(Type.Integer()),
    response_body: nullable(Type.String({ description: 'The first KiB of the answer.' })),
    error: nullable(Type.String()),
    duration_ms: Type.Integer(),
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'DeliveryAttempt' },
);

export const Delivery = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('webhook_delivery'),
    event: Type.String(),
    endpoint: Type.String(),
    kind: Type.String(),
    status: Type.String(),
    attempts: Type.Integer(),
    next_attempt: nullable(Timestamp),
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'Delivery' },
);

// Request bodies.

export const CreateTokenBody = Type.Object(
  {
    card: Type.Object(
      {
        number: Type.String({ minLength: 12, maxLength: 23, pattern: '^[0-9 ]+$' }),
        exp_month: Type.Integer({ minimum: 1, maximum: 12 }),
        exp_year: Type.Integer({ minimum: 2000, maximum: 2100 }),
        cvc: Type.String({ pattern: '^[0-9]{3,4}$' }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export const CreateOrderBody = Type.Object(
  {
    currency: Currency,
    line_items: Type.Array(
      Type.Object(
        { description: Name, quantity: Type.Integer({ minimum: 1, maximum: 1_000_000 }), unit_amount: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }) },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: line_items_max },
    ),
    merchant_reference: Type.Optional(Type.String({ maxLength: merchant_reference_length_max })),
  },
  { additionalProperties: false },
);

export const PaymentMethodBody = Type.Union([
  Type.Object({ type: Type.Literal('card'), token: Id('tok') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('wallet'), wallet: Id('wal') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('alipay') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('wechat_pay') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('bank_transfer') }, { additionalProperties: false }),
]);

const ReturnUrl = Type.String({ maxLength: url_length_max, pattern: '^https?://' });

export const CreatePaymentIntentBody = Type.Object(
  {
    amount: Amount,
    currency: Currency,
    capture_method: Type.Optional(Type.Union([Type.Literal('automatic'), Type.Literal('manual')])),
    order: Type.Optional(Id('ord')),
    description: Type.Optional(Description),
    // A wallet of the same currency: once the payment is captured, the money moves from the
    // merchant's balance into it, and the merchant bears the fee.
    top_up_wallet: Type.Optional(Id('wal')),
  },
  { additionalProperties: false },
);

export const ConfirmPaymentIntentBody = Type.Object({ payment_method: PaymentMethodBody, return_url: Type.Optional(ReturnUrl) }, { additionalProperties: false });
export const CapturePaymentIntentBody = Type.Object({ amount: Type.Optional(Amount) }, { additionalProperties: false });
export const CancelPaymentIntentBody = Type.Object(
  {
    cancellation_reason: Type.Optional(
      Type.Union([Type.Literal('duplicate'), Type.Literal('fraudulent'), Type.Literal('requested_by_customer'), Type.Literal('abandoned')]),
    ),
  },
  { additionalProperties: false },
);
export const CreateRefundBody = Type.Object({ payment_intent: Id('pi'), amount: Type.Optional(Amount) }, { additionalProperties: false });
export const IncomingBankTransferBody = Type.Object(
  { reference: Type.String({ minLength: 1, maxLength: 64 }), amount: Amount, currency: Currency },
  { additionalProperties: false },
);

export const CreateWebhookEndpointBody = Type.Object(
  {
    url: Type.String({ maxLength: url_length_max, pattern: '^https?://' }),
    enabled_events: Type.Array(Type.String({ maxLength: 100 }), { minItems: 1, maxItems: enabled_events_max }),
    description: Type.Optional(Description),
  },
  { additionalProperties: false },
);
export const UpdateWebhookEndpointBody = Type.Object(
  {
    url: Type.Optional(Type.String({ maxLength: url_length_max, pattern: '^https?://' })),
    enabled_events: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), { minItems: 1, maxItems: enabled_events_max })),
    status: Type.Optional(Type.Union([Type.Literal('enabled'), Type.Literal('disabled')])),
  },
  { additionalProperties: false, minProperties: 1 },
);
export const ResendEventBody = Type.Object({ endpoint: Id('we') }, { additionalProperties: false });
export const EventsQuery = Type.Composite([ListQuery, Type.Object({ type: Type.Optional(Type.String({ maxLength: id_length_max })) })], { additionalProperties: false });

export const payment_schemas = [Token, Order, PaymentIntent, PaymentAttempt, Refund, BankTransferReview, WebhookEndpoint, Event, DeliveryAttempt, Delivery];
