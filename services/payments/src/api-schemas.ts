// The public API's objects and request bodies that payments owns: orders, payment intents, their
// attempts, refunds and held bank transfers (decision 87). The gateway validates and serialises
// with these, and the SDK's types are their Static<>; bodies refuse unknown properties.
import { Type } from '@sinclair/typebox';
import { Amount, amount_max, Currency, Description, HttpUrl, Id, Livemode, Name, nullable, OpenObject, Timestamp } from '@paygrid/kernel/api-schemas';

export const line_items_max = 100;
export const merchant_reference_length_max = 255;

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
    description: nullable(Type.String({ description: 'What the payment is for, as the merchant gave it; shown to the provider.' })),
    status: Type.Union(
      ['requires_payment_method', 'requires_confirmation', 'requires_action', 'processing', 'requires_capture', 'succeeded', 'canceled'].map((status) => Type.Literal(status)),
    ),
    order: nullable(Type.String()),
    payment_method_type: nullable(Type.String()),
    next_action: nullable(OpenObject()),
    last_payment_error: nullable(Type.Object({ code: Type.String(), message: Type.String() })),
    cancellation_reason: nullable(Type.String()),
    capture_before: nullable(Timestamp),
    top_up_wallet: nullable(Type.String({ description: 'The wallet the captured money tops up; null for an ordinary payment.' })),
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

// Request bodies.

export const CreateOrderBody = Type.Object(
  {
    currency: Currency,
    line_items: Type.Array(
      Type.Object(
        { description: Name, quantity: Type.Integer({ minimum: 1, maximum: 1_000_000 }), unit_amount: Type.Integer({ minimum: 0, maximum: amount_max }) },
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

export const CreatePaymentIntentBody = Type.Object(
  {
    amount: Amount,
    currency: Currency,
    capture_method: Type.Optional(Type.Union([Type.Literal('automatic'), Type.Literal('manual')])),
    order: Type.Optional(Id('ord')),
    description: Type.Optional(Description),
    // The merchant bears the fee of a payment that tops up a wallet, not the customer.
    top_up_wallet: Type.Optional(Id('wal', "A wallet (wal_) of the same currency: once the payment is captured, the money moves from the merchant's balance into it.")),
  },
  { additionalProperties: false },
);

export const ConfirmPaymentIntentBody = Type.Object({ payment_method: PaymentMethodBody, return_url: Type.Optional(HttpUrl) }, { additionalProperties: false });
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

/** The named schemas of this module, registered once by the gateway so the OpenAPI document refers to them by name. */
export const payments_api_schemas = [Order, PaymentIntent, PaymentAttempt, Refund, BankTransferReview];
