// The state machines, as tables. One function applies each and refuses anything else; the service
// turns a refusal of a caller's request into ApiError('payment_intent_unexpected_state').
import type { AttemptStatus, IntentStatus, OrderStatus, RefundStatus } from './types';

/**
 * A payment intent. `processing` means the service is working with an outside party (a call in
 * flight, or money on its way as a bank transfer or an asynchronous method) and always has either a
 * timer on it (the attempt's lease) or a notification to wait for.
 *
 * - Confirming moves requires_payment_method or requires_confirmation to processing.
 * - The provider's answer moves processing (or requires_action, when the customer has acted) to
 *   requires_action, requires_capture, succeeded, or back to requires_payment_method on a decline.
 * - A capture moves requires_capture to processing, then to succeeded, or back to requires_capture
 *   when the provider refused it.
 * - Canceling is possible until the money is taken, and from processing only while nothing is in
 *   flight (a bank transfer or an asynchronous method waiting for its notification).
 * - requires_confirmation is in the table for Stripe's sake; this service confirms with the
 *   payment method in one call, so nothing reaches it today.
 */
export const intent_transitions: Record<IntentStatus, readonly IntentStatus[]> = {
  requires_payment_method: ['requires_confirmation', 'processing', 'canceled'],
  requires_confirmation: ['requires_payment_method', 'processing', 'canceled'],
  requires_action: ['processing', 'requires_capture', 'succeeded', 'requires_payment_method', 'canceled'],
  processing: ['requires_action', 'requires_capture', 'succeeded', 'requires_payment_method', 'canceled'],
  requires_capture: ['processing', 'succeeded', 'canceled'],
  succeeded: [],
  canceled: [],
};

/** An order follows its payments; paid and canceled orders never reopen. */
export const order_transitions: Record<OrderStatus, readonly OrderStatus[]> = {
  open: ['paid', 'canceled'],
  paid: ['partially_refunded', 'refunded'],
  partially_refunded: ['refunded'],
  refunded: [],
  canceled: [],
};

/**
 * An attempt (one call to an outside party). An unknown outcome is settled by asking the provider;
 * the answer may be that the customer still has to act, which puts the attempt back to pending
 * (waiting).
 */
export const attempt_transitions: Record<AttemptStatus, readonly AttemptStatus[]> = {
  pending: ['succeeded', 'failed', 'unknown'],
  unknown: ['pending', 'succeeded', 'failed'],
  succeeded: [],
  failed: [],
};

export const refund_transitions: Record<RefundStatus, readonly RefundStatus[]> = {
  pending: ['succeeded', 'failed'],
  succeeded: [],
  failed: [],
};

export type TransitionResult = 'ok' | 'not_allowed';

export function transition<State extends string>(table: Record<State, readonly State[]>, from: State, to: State): TransitionResult {
  return table[from].includes(to) ? 'ok' : 'not_allowed';
}
