// Writing state in one transaction: a status change of an intent, order, refund or attempt is
// checked against its table, appended to the history, and announced by an outbox event in the
// same transaction, so that the books of this service, its history and its events never disagree.
import { assert, currentTraceparent, type Database, type Lease } from '@paygrid/kernel';
import { orderedId } from './ids';
import { invalid, unexpectedState, type PaymentsContext } from './context';
import {
  countAttemptsOfIntent,
  encodeJson,
  findAttemptById,
  findOrderById,
  insertAttempt,
  insertEvent,
  insertStatusChange,
  listIntentsOfOrder,
  updateAttempt,
  updateIntent,
  updateOrderStatus,
  type AttemptRecord,
  type IntentRecord,
  type OrderRecord,
} from './store';
import { intent_transitions, order_transitions, transition } from './transitions';
import type { AttemptStatus, CancellationReason, EventObject, IntentStatus, OrderStatus, PaymentEventType } from './types';
import { intentToWire, orderToWire, secondsOf } from './wire';

/** Confirmations, captures, voids and refunds of one intent, together. */
export const attempts_per_intent_max = 1_000;
/** An order has one live intent at a time; its canceled ones are bounded by this. */
export const order_intents_max = 1_000;

export interface IntentChange {
  readonly status?: IntentStatus;
  readonly reason: string;
  readonly fields?: Partial<Omit<IntentRecord, 'id' | 'merchant_id' | 'livemode' | 'status' | 'version' | 'created'>>;
  /** Emits this event (and bumps the version); a status change always emits one. */
  readonly event?: PaymentEventType;
}

/** The event each status is announced with, when nothing more specific is given. */
const status_events: Record<IntentStatus, PaymentEventType> = {
  requires_payment_method: 'payment_intent.payment_failed',
  requires_confirmation: 'payment_intent.created',
  requires_action: 'payment_intent.requires_action',
  processing: 'payment_intent.processing',
  requires_capture: 'payment_intent.amount_capturable_updated',
  succeeded: 'payment_intent.succeeded',
  canceled: 'payment_intent.canceled',
};

/** Applies a change to a locked intent: the transition table, the history row, the event, the order. */
export async function writeIntent(context: PaymentsContext, tx: Database, current: IntentRecord, change: IntentChange, now_ms: number): Promise<IntentRecord> {
  const status = change.status ?? current.status;
  const moved = status !== current.status;
  if (moved) assert(transition(intent_transitions, current.status, status) === 'ok', `payment intent ${current.status} → ${status} is not in the table`);
  const event = change.event ?? (moved ? status_events[status] : undefined);
  const next: IntentRecord = { ...current, ...change.fields, status, version: event === undefined ? current.version : current.version + 1 };
  await updateIntent(tx, next);
  if (moved) {
    await insertStatusChange(tx, { object_type: 'payment_intent', object_id: current.id, from_status: current.status, to_status: status, reason: change.reason, created_ms: now_ms });
  }
  if (event !== undefined) await emit(tx, next, event, intentToWire(next), next.version, now_ms);
  const refunded = next.amount_refunded !== current.amount_refunded;
  if (next.order_id !== null && (moved || refunded)) await syncOrder(context, tx, next.order_id, now_ms);
  return next;
}

/** An order follows its payments: paid, refunded in part or in full, or canceled. */
async function syncOrder(context: PaymentsContext, tx: Database, order_id: string, now_ms: number): Promise<void> {
  const order = await findOrderById(tx, order_id, true);
  assert(order !== undefined, 'an intent names a missing order');
  const status = orderStatusOf(await listIntentsOfOrder(tx, order_id, order_intents_max));
  if (status === order.status) return;
  if (transition(order_transitions, order.status, status) !== 'ok') {
    context.log('error', 'an order cannot follow its payments', { order: order.id, from: order.status, to: status });
    return;
  }
  const next: OrderRecord = { ...order, status, version: order.version + 1 };
  await updateOrderStatus(tx, order.id, status, next.version);
  await insertStatusChange(tx, { object_type: 'order', object_id: order.id, from_status: order.status, to_status: status, reason: 'payments', created_ms: now_ms });
  await emit(tx, next, 'order.updated', orderToWire(next), next.version, now_ms);
}

export async function recordAttemptStatus(tx: Database, attempt: AttemptRecord, from: AttemptStatus | null, to: AttemptStatus, reason: string, now_ms: number): Promise<void> {
  await insertStatusChange(tx, { object_type: 'payment_attempt', object_id: attempt.id, from_status: from, to_status: to, reason, created_ms: now_ms });
}

/** Writes an event into the outbox, in the caller's transaction. */
export async function emit(
  tx: Database,
  owner: { readonly id: string; readonly merchant_id: string; readonly livemode: boolean },
  type: PaymentEventType,
  object: EventObject,
  version: number,
  now_ms: number,
): Promise<void> {
  await insertEvent(tx, {
    id: orderedId('evt', now_ms),
    merchant_id: owner.merchant_id,
    livemode: owner.livemode,
    type,
    object_id: owner.id,
    object_version: version,
    data: encodeJson(object),
    created: secondsOf(now_ms),
    traceparent: currentTraceparent(),
  });
}

export function newAttempt(
  intent: IntentRecord,
  operation: AttemptRecord['operation'],
  amount: bigint,
  now_ms: number,
  fields: { provider_reference: string | null; refund_id?: string },
): AttemptRecord {
  return {
    id: orderedId('pa', now_ms),
    merchant_id: intent.merchant_id,
    livemode: intent.livemode,
    intent_id: intent.id,
    refund_id: fields.refund_id ?? null,
    operation,
    status: 'pending',
    amount,
    payment_method: null,
    return_url: null,
    waiting: false,
    provider_reference: fields.provider_reference,
    amount_captured: null,
    error: null,
    applied: false,
    confirm_idempotency_key: null,
    created: secondsOf(now_ms),
  };
}

/**
 * Records a new attempt in the caller's transaction, with its first status and its saga run, and
 * returns the run's lease: the caller drives it once the transaction has committed (and recovery
 * does, should the caller die first).
 */
export async function recordNewAttempt(context: PaymentsContext, tx: Database, attempt: AttemptRecord, reason: string, now_ms: number): Promise<Lease> {
  await insertAttempt(tx, attempt);
  await recordAttemptStatus(tx, attempt, null, 'pending', reason, now_ms);
  return context.runs.start(tx, attempt);
}

export async function checkAttemptBudget(tx: Database, intent: IntentRecord): Promise<void> {
  if ((await countAttemptsOfIntent(tx, intent.id)) >= attempts_per_intent_max) {
    throw invalid('payment_intent_attempts_exhausted', `PaymentIntent ${intent.id} has reached ${attempts_per_intent_max} attempts; create a new one`);
  }
}

/**
 * Cancels a locked intent and returns the void attempt that releases the money at the provider,
 * if there is one. The decision is recorded first; the void and the ledger follow as its
 * compensation, and recovery finishes them after a crash.
 */
export async function cancelIntent(
  context: PaymentsContext,
  tx: Database,
  intent: IntentRecord,
  reason: CancellationReason | null,
): Promise<{ readonly intent: IntentRecord; readonly void_attempt: { readonly attempt: AttemptRecord; readonly lease: Lease } | undefined }> {
  if (transition(intent_transitions, intent.status, 'canceled') !== 'ok') throw unexpectedState(intent, 'cancel');
  const now_ms = context.clock.now();
  const authorization = intent.authorization_attempt_id === null ? undefined : await findAttemptById(tx, intent.authorization_attempt_id);
  let void_attempt: AttemptRecord | undefined;
  if (intent.status === 'requires_action' || intent.status === 'processing') {
    // Only a payment that waits for the customer or for a notification may be canceled here; one
    // with a call in flight is refused, and the caller tries again once it has an answer.
    if (authorization === undefined || authorization.status !== 'pending' || !authorization.waiting) {
      throw invalid('payment_intent_unexpected_state', `PaymentIntent ${intent.id} has a call to its provider in flight; try again shortly`);
    }
    const stopped: AttemptRecord = {
      ...authorization,
      status: 'failed',
      waiting: false,
      error: { code: 'payment_intent_canceled', message: 'The payment intent was canceled while waiting' },
      applied: true,
    };
    await updateAttempt(tx, stopped);
    // Ending its run moves the fence on, so a poll of this attempt in flight records nothing.
    await context.runs.cancel(tx, authorization.id, 'payment_intent_canceled');
    await recordAttemptStatus(tx, authorization, authorization.status, 'failed', 'payment_intent_canceled', now_ms);
    if (authorization.provider_reference !== null && authorization.payment_method?.type !== 'bank_transfer') {
      // Close the payment at the provider, so that the customer cannot complete it any more.
      void_attempt = newAttempt(intent, 'void', intent.amount, now_ms, { provider_reference: authorization.provider_reference });
    }
  } else if (intent.status === 'requires_capture') {
    void_attempt = newAttempt(intent, 'void', intent.amount, now_ms, { provider_reference: intent.provider_reference });
  }
  const lease = void_attempt === undefined ? undefined : await recordNewAttempt(context, tx, void_attempt, 'created', now_ms);
  const canceled = await writeIntent(
    context,
    tx,
    intent,
    {
      status: 'canceled',
      reason: `canceled:${reason ?? 'unspecified'}`,
      fields: { cancellation_reason: reason, amount_capturable: 0n, capture_before_ms: null, next_action: null },
    },
    now_ms,
  );
  return { intent: canceled, void_attempt: void_attempt === undefined || lease === undefined ? undefined : { attempt: void_attempt, lease } };
}

/** What an order's payments make of it. */
export function orderStatusOf(intents: readonly IntentRecord[]): OrderStatus {
  const paid = intents.filter((intent) => intent.status === 'succeeded');
  if (paid.length > 0) {
    const received = paid.reduce((sum, intent) => sum + intent.amount_received, 0n);
    const refunded = paid.reduce((sum, intent) => sum + intent.amount_refunded, 0n);
    if (refunded === 0n) return 'paid';
    return refunded >= received ? 'refunded' : 'partially_refunded';
  }
  if (intents.length > 0 && intents.every((intent) => intent.status === 'canceled')) return 'canceled';
  return 'open';
}
