// Wire objects and parameters of the payment routes. Amounts are integers in minor units.
import type { AmountInput, ListParams } from './types';

export interface Token {
  readonly id: string;
  readonly object: 'token';
  readonly card: { readonly brand: string; readonly last4: string; readonly exp_month: number; readonly exp_year: number; readonly fingerprint: string; readonly funding: string };
  readonly created: number;
  readonly livemode: boolean;
  readonly used: boolean;
}

export interface TokenCreateParams {
  readonly card: { readonly number: string; readonly exp_month: number; readonly exp_year: number; readonly cvc: string };
}

export type OrderStatus = 'open' | 'paid' | 'partially_refunded' | 'refunded' | 'canceled';

export interface Order {
  readonly id: string;
  readonly object: 'order';
  readonly currency: string;
  readonly line_items: readonly { readonly description: string; readonly quantity: number; readonly unit_amount: number; readonly amount: number }[];
  readonly amount_total: number;
  readonly merchant_reference: string | null;
  readonly status: OrderStatus;
  readonly created: number;
  readonly livemode: boolean;
}

export interface OrderCreateParams {
  readonly currency: string;
  readonly line_items: readonly { readonly description: string; readonly quantity: number; readonly unit_amount: AmountInput }[];
  readonly merchant_reference?: string;
}

export type PaymentIntentStatus = 'requires_payment_method' | 'requires_confirmation' | 'requires_action' | 'processing' | 'requires_capture' | 'succeeded' | 'canceled';

export interface PaymentIntent {
  readonly id: string;
  readonly object: 'payment_intent';
  readonly amount: number;
  readonly amount_capturable: number;
  readonly amount_received: number;
  readonly amount_refunded: number;
  readonly currency: string;
  readonly capture_method: 'automatic' | 'manual';
  readonly status: PaymentIntentStatus;
  readonly order: string | null;
  readonly payment_method_type: string | null;
  readonly next_action: Readonly<Record<string, unknown>> | null;
  readonly last_payment_error: { readonly code: string; readonly message: string } | null;
  readonly cancellation_reason: string | null;
  readonly capture_before: number | null;
  /** The wallet (`wal_…`) the captured money tops up; null for an ordinary payment. */
  readonly top_up_wallet: string | null;
  /** The wallet's top-up (`tu_…`), once the captured money is in the wallet. */
  readonly top_up: string | null;
  readonly created: number;
  readonly livemode: boolean;
}

export interface PaymentIntentCreateParams {
  readonly amount: AmountInput;
  readonly currency: string;
  readonly capture_method?: 'automatic' | 'manual';
  readonly order?: string;
  readonly description?: string;
  /** A wallet of the same currency: once the payment is captured, the money tops it up. */
  readonly top_up_wallet?: string;
}

export type PaymentMethodParams =
  | { readonly type: 'card'; readonly token: string }
  | { readonly type: 'wallet'; readonly wallet: string }
  | { readonly type: 'alipay' }
  | { readonly type: 'wechat_pay' }
  | { readonly type: 'bank_transfer' };

export interface PaymentIntentConfirmParams {
  readonly payment_method: PaymentMethodParams;
  readonly return_url?: string;
}

export interface PaymentAttempt {
  readonly id: string;
  readonly object: 'payment_attempt';
  readonly intent: string;
  readonly refund: string | null;
  readonly operation: string;
  readonly status: string;
  readonly amount: number;
  readonly provider_reference: string | null;
  readonly error: { readonly code: string; readonly message: string } | null;
  readonly created: number;
  readonly livemode: boolean;
}

export interface Refund {
  readonly id: string;
  readonly object: 'refund';
  readonly payment_intent: string;
  readonly amount: number;
  readonly currency: string;
  readonly status: 'pending' | 'succeeded' | 'failed';
  readonly failure_reason: string | null;
  readonly created: number;
  readonly livemode: boolean;
}

export interface BankTransferReview {
  readonly id: string;
  readonly object: 'bank_transfer_review';
  readonly reference: string;
  readonly amount: number;
  readonly currency: string;
  readonly status: string;
  readonly reason: string;
  readonly payment_intent: string | null;
  readonly created: number;
  readonly livemode: boolean;
}

export interface WebhookEndpoint {
  readonly id: string;
  readonly object: 'webhook_endpoint';
  readonly url: string;
  readonly enabled_events: readonly string[];
  readonly status: 'enabled' | 'disabled';
  readonly description: string | null;
  /** The signing secret's last four characters; the whole secret is shown only at creation. */
  readonly secret_last4: string;
  readonly created: number;
  readonly livemode: boolean;
}

export interface WebhookEndpointCreated extends WebhookEndpoint {
  /** `whsec_…`: shown only in this response. */
  readonly secret: string;
}

export interface Event {
  readonly id: string;
  readonly object: 'event';
  readonly type: string;
  readonly data: { readonly object: Readonly<Record<string, unknown>> };
  readonly sequence: number;
  readonly created: number;
  readonly livemode: boolean;
}

export interface DeliveryAttempt {
  readonly id: string;
  readonly object: 'webhook_delivery_attempt';
  readonly event: string;
  readonly endpoint: string;
  readonly delivery: string;
  readonly attempt_number: number;
  readonly status: 'succeeded' | 'failed';
  readonly response_status: number | null;
  readonly response_body: string | null;
  readonly error: string | null;
  readonly duration_ms: number;
  readonly created: number;
  readonly livemode: boolean;
}

export interface Delivery {
  readonly id: string;
  readonly object: 'webhook_delivery';
  readonly event: string;
  readonly endpoint: string;
  readonly kind: string;
  readonly status: string;
  readonly attempts: number;
  readonly next_attempt: number | null;
  readonly created: number;
  readonly livemode: boolean;
}

export interface EventListParams extends ListParams {
  readonly type?: string;
}
