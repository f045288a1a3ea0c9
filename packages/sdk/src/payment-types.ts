// Wire objects and parameters of the payment routes: the Static<> types of the schemas that
// payments, the vault and webhooks define (decision 87), read-only throughout. Amounts are
// integers in minor units.
import type { Static } from '@sinclair/typebox';
import type {
  BankTransferReview as BankTransferReviewSchema,
  ConfirmPaymentIntentBody,
  CreateOrderBody,
  CreatePaymentIntentBody,
  Order as OrderSchema,
  PaymentAttempt as PaymentAttemptSchema,
  PaymentIntent as PaymentIntentSchema,
  Refund as RefundSchema,
} from '@paygrid/payments/api-schemas';
import type { CreateTokenBody, Token as TokenSchema } from '@paygrid/vault/api-schemas';
import type {
  Delivery as DeliverySchema,
  DeliveryAttempt as DeliveryAttemptSchema,
  Event as EventSchema,
  EventsQuery,
  WebhookEndpoint as WebhookEndpointSchema,
  WebhookEndpointCreated as WebhookEndpointCreatedSchema,
} from '@paygrid/webhooks/api-schemas';
import type { ParamsOf, WireOf, WithAmountInputs } from './types';

export type Token = WireOf<typeof TokenSchema>;
export type TokenCreateParams = ParamsOf<typeof CreateTokenBody>;

export type Order = WireOf<typeof OrderSchema>;
export type OrderStatus = Order['status'];
type OrderBody = Static<typeof CreateOrderBody>;
/** Each line item's unit_amount takes an AmountInput, as every amount the SDK sends does. */
export type OrderCreateParams = WithAmountInputs<Omit<OrderBody, 'line_items'>> & {
  readonly line_items: readonly WithAmountInputs<OrderBody['line_items'][number], 'unit_amount'>[];
};

export type PaymentIntent = WireOf<typeof PaymentIntentSchema>;
export type PaymentIntentStatus = PaymentIntent['status'];
export type PaymentIntentCreateParams = ParamsOf<typeof CreatePaymentIntentBody, 'amount'>;
export type PaymentIntentConfirmParams = ParamsOf<typeof ConfirmPaymentIntentBody>;
export type PaymentMethodParams = PaymentIntentConfirmParams['payment_method'];

export type PaymentAttempt = WireOf<typeof PaymentAttemptSchema>;
export type Refund = WireOf<typeof RefundSchema>;
export type BankTransferReview = WireOf<typeof BankTransferReviewSchema>;

export type WebhookEndpoint = WireOf<typeof WebhookEndpointSchema>;
export type WebhookEndpointCreated = WireOf<typeof WebhookEndpointCreatedSchema>;

export type Event = WireOf<typeof EventSchema>;
export type DeliveryAttempt = WireOf<typeof DeliveryAttemptSchema>;
export type Delivery = WireOf<typeof DeliverySchema>;

export type EventListParams = ParamsOf<typeof EventsQuery>;
