// The payments service's wire shapes, inputs and ports. Every object is returned already in wire
// shape: snake_case fields, an `object` name, `created` in unix seconds, `livemode`, lower-case
// currencies, and amounts as bigint minor units (the gateway writes them as JSON integers).
import type { NextAction, PaymentMethodType } from '@paygrid/connectors';
import type { Page, PageRequest, Tenant } from '@paygrid/kernel';

/** Stripe's PaymentIntent statuses. The allowed moves between them are in transitions.ts. */
export const intent_statuses = [
  'requires_payment_method',
  'requires_confirmation',
  'requires_action',
  'processing',
  'requires_capture',
  'succeeded',
  'canceled',
] as const;
export type IntentStatus = (typeof intent_statuses)[number];

export const capture_methods = ['automatic', 'manual'] as const;
export type CaptureMethod = (typeof capture_methods)[number];

export const order_statuses = ['open', 'paid', 'partially_refunded', 'refunded', 'canceled'] as const;
export type OrderStatus = (typeof order_statuses)[number];

/**
 * `top_up` moves a top-up intent's captured money from the merchant's balance into its wallet;
 * `top_up_reversal` takes a refund's amount back out of that wallet before the card is refunded;
 * `top_up_restoration` puts it back into the wallet when the card refund then fails. All three are
 * calls to the wallet service.
 */
export const attempt_operations = ['authorize', 'capture', 'void', 'refund', 'top_up', 'top_up_reversal', 'top_up_restoration'] as const;
export type AttemptOperation = (typeof attempt_operations)[number];

/**
 * An attempt is one call to an outside party. `pending`: recorded, and either in flight or
 * waiting for the customer or a notification; `unknown`: the call ended without an answer and the
 * provider will be asked; `succeeded` and `failed` are the provider's answer.
 */
export const attempt_statuses = ['pending', 'succeeded', 'failed', 'unknown'] as const;
export type AttemptStatus = (typeof attempt_statuses)[number];

export const refund_statuses = ['pending', 'succeeded', 'failed'] as const;
export type RefundStatus = (typeof refund_statuses)[number];

export const review_reasons = ['unmatched', 'amount_mismatch'] as const;
export type ReviewReason = (typeof review_reasons)[number];

/**
 * Stripe's cancellation reasons a caller may give; `expired` (an authorization past its capture
 * window) and `automatic` (a capture the ledger refused, decision 68) are set by the service alone.
 */
export const cancellation_reasons = ['duplicate', 'fraudulent', 'requested_by_customer', 'abandoned'] as const;
export type CancellationReason = (typeof cancellation_reasons)[number] | 'expired' | 'automatic';

/** The methods whose providers send asynchronous notifications. */
export type NotificationMethod = 'card' | 'alipay' | 'wechat_pay';

export interface LineItem {
  readonly description: string;
  readonly quantity: number;
  readonly unit_amount: bigint;
  /** unit_amount × quantity, exactly. */
  readonly amount: bigint;
}

export interface Order {
  readonly id: string;
  readonly object: 'order';
  /** Lower-case ISO 4217. */
  readonly currency: string;
  readonly line_items: readonly LineItem[];
  readonly amount_total: bigint;
  readonly merchant_reference: string | null;
  readonly status: OrderStatus;
  readonly created: number;
  readonly livemode: boolean;
}

export interface PaymentError {
  readonly code: string;
  readonly message: string;
}

export interface PaymentIntent {
  readonly id: string;
  readonly object: 'payment_intent';
  readonly amount: bigint;
  /** What a capture may still take (manual capture, while `requires_capture`). */
  readonly amount_capturable: bigint;
  readonly amount_received: bigint;
  /** Succeeded refunds. */
  readonly amount_refunded: bigint;
  readonly currency: string;
  readonly capture_method: CaptureMethod;
  readonly status: IntentStatus;
  readonly order: string | null;
  readonly description: string | null;
  readonly payment_method_type: PaymentMethodType | null;
  readonly next_action: NextAction | null;
  readonly last_payment_error: PaymentError | null;
  readonly cancellation_reason: CancellationReason | null;
  /** Unix seconds after which an uncaptured authorization is voided and the intent canceled. */
  readonly capture_before: number | null;
  /** The wallet (wal_…) the captured money tops up; null for an ordinary payment. */
  readonly top_up_wallet: string | null;
  /** The wallet's top-up (tu_…), once the captured money is in the wallet. */
  readonly top_up: string | null;
  readonly created: number;
  readonly livemode: boolean;
}

export interface PaymentAttempt {
  /** Also the idempotency reference the provider was called with. */
  readonly id: string;
  readonly object: 'payment_attempt';
  readonly intent: string;
  /** The refund a refund attempt carries out. */
  readonly refund: string | null;
  readonly operation: AttemptOperation;
  readonly status: AttemptStatus;
  readonly amount: bigint;
  readonly provider_reference: string | null;
  readonly error: PaymentError | null;
  readonly created: number;
  readonly livemode: boolean;
}

export interface Refund {
  readonly id: string;
  readonly object: 'refund';
  readonly payment_intent: string;
  readonly amount: bigint;
  readonly currency: string;
  readonly status: RefundStatus;
  readonly failure_reason: string | null;
  readonly created: number;
  readonly livemode: boolean;
}

/** Money that arrived by bank transfer and could not be matched to a payment: held for a person. */
export interface BankTransferReview {
  readonly id: string;
  readonly object: 'bank_transfer_review';
  readonly status: 'held';
  readonly reason: ReviewReason;
  readonly reference: string;
  readonly amount: bigint;
  readonly currency: string;
  /** The intent the reference named, when it named one (amount_mismatch). */
  readonly payment_intent: string | null;
  readonly created: number;
  readonly livemode: boolean;
}

export const event_types = [
  'order.created',
  'order.updated',
  'payment_intent.created',
  'payment_intent.processing',
  'payment_intent.requires_action',
  'payment_intent.amount_capturable_updated',
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
  'payment_intent.canceled',
  'refund.created',
  'refund.succeeded',
  'refund.failed',
] as const;
export type PaymentEventType = (typeof event_types)[number];

export type EventObject = Order | PaymentIntent | Refund;

/**
 * An event as the relay publishes it. `sequence` is the object's own version: it grows by one with
 * every change of that object, so a receiver can tell a stale event from a newer one.
 */
export interface PaymentEvent {
  readonly id: string;
  readonly object: 'event';
  readonly type: PaymentEventType;
  readonly data: { readonly object: EventObject };
  readonly sequence: number;
  readonly created: number;
  readonly livemode: boolean;
}

// Inputs. Amounts are bigint minor units; the service validates everything itself.

export interface LineItemInput {
  readonly description: string;
  readonly quantity: number;
  readonly unit_amount: bigint;
}

export interface CreateOrderInput {
  readonly currency: string;
  readonly line_items: readonly LineItemInput[];
  readonly merchant_reference?: string;
}

export interface CreatePaymentIntentInput {
  readonly amount: bigint;
  readonly currency: string;
  readonly capture_method?: CaptureMethod;
  readonly order?: string;
  readonly description?: string;
  /** A wallet of the tenant in the intent's currency: once captured, the money tops it up. */
  readonly top_up_wallet?: string;
  readonly idempotency_key?: string;
}

export type PaymentMethodInput =
  | { readonly type: 'card'; readonly token: string }
  | { readonly type: 'wallet'; readonly wallet: string }
  | { readonly type: 'alipay' }
  | { readonly type: 'wechat_pay' }
  | { readonly type: 'bank_transfer' };

export interface ConfirmPaymentIntentInput {
  readonly payment_method: PaymentMethodInput;
  readonly return_url?: string;
  readonly idempotency_key?: string;
}

export interface CapturePaymentIntentInput {
  /** Left out: everything capturable. Less than that captures part and releases the rest. */
  readonly amount?: bigint;
}

export interface CancelPaymentIntentInput {
  readonly cancellation_reason?: (typeof cancellation_reasons)[number];
}

export interface CreateRefundInput {
  readonly payment_intent: string;
  /** Left out: everything received and not yet refunded (or being refunded). */
  readonly amount?: bigint;
  readonly idempotency_key?: string;
}

export interface IncomingBankTransfer {
  readonly reference: string;
  readonly amount: bigint;
  readonly currency: string;
}

export interface ListPaymentIntentsFilter {
  readonly order?: string;
}

export interface ListRefundsFilter {
  readonly payment_intent?: string;
}

export type NotificationResult =
  | { readonly ok: true; readonly acknowledgement: { readonly status: number; readonly body: string; readonly content_type: string } }
  | { readonly ok: false; readonly reason: string };

// Ports.

/** What claiming a card token for its one use found; the vault's TokenClaim. */
export type CardTokenClaim = 'claimed' | 'held' | 'already_used' | 'missing';

/** The vault, as payments sees it: whether a token is the tenant's, and the claim on its one use. */
export interface TokenDirectory {
  tokenExists(tenant: Tenant, token_id: string): Promise<boolean>;
  /**
   * Atomically takes the token for `claimant`: `claimed` for the first claimant only, `held` when
   * `claimant` took it before, `already_used` for everyone else.
   */
  claimToken(tenant: Tenant, token_id: string, claimant: string): Promise<CardTokenClaim>;
  /** Frees the token again if, and only if, `claimant` holds it. */
  releaseToken(token_id: string, claimant: string): Promise<void>;
}

/** Where the outbox relay publishes (the bus, then webhooks). Receivers de-duplicate by event id. */
export interface EventPublisher {
  publish(tenant: Tenant, event: PaymentEvent): Promise<void>;
}

/** The payments service's one public interface: the gateway calls it in-process. */
export interface PaymentsClient {
  createOrder(tenant: Tenant, input: CreateOrderInput): Promise<Order>;
  getOrder(tenant: Tenant, id: string): Promise<Order>;
  listOrders(tenant: Tenant, page: PageRequest): Promise<Page<Order>>;

  createPaymentIntent(tenant: Tenant, input: CreatePaymentIntentInput): Promise<PaymentIntent>;
  confirmPaymentIntent(tenant: Tenant, id: string, input: ConfirmPaymentIntentInput): Promise<PaymentIntent>;
  capturePaymentIntent(tenant: Tenant, id: string, input?: CapturePaymentIntentInput): Promise<PaymentIntent>;
  cancelPaymentIntent(tenant: Tenant, id: string, input?: CancelPaymentIntentInput): Promise<PaymentIntent>;
  getPaymentIntent(tenant: Tenant, id: string): Promise<PaymentIntent>;
  listPaymentIntents(tenant: Tenant, page: PageRequest, filter?: ListPaymentIntentsFilter): Promise<Page<PaymentIntent>>;
  listAttempts(tenant: Tenant, intent_id: string, page?: PageRequest): Promise<Page<PaymentAttempt>>;

  createRefund(tenant: Tenant, input: CreateRefundInput): Promise<Refund>;
  getRefund(tenant: Tenant, id: string): Promise<Refund>;
  listRefunds(tenant: Tenant, page: PageRequest, filter?: ListRefundsFilter): Promise<Page<Refund>>;

  /** An operator (or a test helper route) reports money that arrived by bank transfer. */
  reportIncomingBankTransfer(tenant: Tenant, input: IncomingBankTransfer): Promise<PaymentIntent | BankTransferReview>;
  listBankTransferReviews(tenant: Tenant, page: PageRequest): Promise<Page<BankTransferReview>>;

  /** A provider's notification: `ok: false` means the gateway answers 400. */
  handleNotification(method: NotificationMethod, headers: Readonly<Record<string, string | undefined>>, raw_body: string): Promise<NotificationResult>;
}
