// Records to wire shapes.
import type { AttemptRecord, IntentRecord, OrderRecord, RefundRecord, ReviewRecord } from './store';
import type { BankTransferReview, Order, PaymentAttempt, PaymentIntent, Refund } from './types';

const ms_per_second = 1_000;

export function secondsOf(ms: number): number {
  return Math.floor(ms / ms_per_second);
}

export function orderToWire(order: OrderRecord): Order {
  return {
    id: order.id,
    object: 'order',
    currency: order.currency.toLowerCase(),
    line_items: order.line_items.map((item) => ({ ...item })),
    amount_total: order.amount_total,
    merchant_reference: order.merchant_reference,
    status: order.status,
    created: order.created,
    livemode: order.livemode,
  };
}

export function intentToWire(intent: IntentRecord): PaymentIntent {
  return {
    id: intent.id,
    object: 'payment_intent',
    amount: intent.amount,
    amount_capturable: intent.amount_capturable,
    amount_received: intent.amount_received,
    amount_refunded: intent.amount_refunded,
    currency: intent.currency.toLowerCase(),
    capture_method: intent.capture_method,
    status: intent.status,
    order: intent.order_id,
    description: intent.description,
    payment_method_type: intent.payment_method_type,
    next_action: intent.next_action,
    last_payment_error: intent.last_payment_error,
    cancellation_reason: intent.cancellation_reason,
    capture_before: intent.capture_before_ms === null ? null : secondsOf(intent.capture_before_ms),
    top_up_wallet: intent.top_up_wallet_id,
    top_up: intent.top_up_id,
    created: intent.created,
    livemode: intent.livemode,
  };
}

export function attemptToWire(attempt: AttemptRecord): PaymentAttempt {
  return {
    id: attempt.id,
    object: 'payment_attempt',
    intent: attempt.intent_id,
    refund: attempt.refund_id,
    operation: attempt.operation,
    status: attempt.status,
    amount: attempt.amount,
    provider_reference: attempt.provider_reference,
    error: attempt.error,
    created: attempt.created,
    livemode: attempt.livemode,
  };
}

export function refundToWire(refund: RefundRecord): Refund {
  return {
    id: refund.id,
    object: 'refund',
    payment_intent: refund.intent_id,
    amount: refund.amount,
    currency: refund.currency.toLowerCase(),
    status: refund.status,
    failure_reason: refund.failure_reason,
    created: refund.created,
    livemode: refund.livemode,
  };
}

export function reviewToWire(review: ReviewRecord): BankTransferReview {
  return {
    id: review.id,
    object: 'bank_transfer_review',
    status: 'held',
    reason: review.reason,
    reference: review.reference,
    amount: review.amount,
    currency: review.currency.toLowerCase(),
    payment_intent: review.intent_id,
    created: review.created,
    livemode: review.livemode,
  };
}
