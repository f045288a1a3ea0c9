// The saga engine: moves one attempt (one call to an outside party) through its steps.
//
//   2. call the provider, outside any transaction, with the attempt's id as idempotency reference
//      (in recovery: ask the provider what became of the call, rather than guess);
//   3. record the answer, fenced by the holder number, in one transaction with the intent's status;
//   4. apply it to the ledger, each transfer's id derived from the attempt, so a repeat is `exists`;
//   5. mark the attempt applied and write the final statuses and events, in one transaction.
//
// Step 1 (record the attempt and commit) is the caller's: the service, when a request asks for a
// confirmation, capture, cancellation or refund. Each step is idempotent, so recovery may run any
// of them again after a crash; the holder number (`attempt`) keeps two holders from both recording.
import type { Connector, PaymentMethodType } from '@paygrid/connectors';
import { ApiError, assert, isAssertionError, type Database } from '@paygrid/kernel';
import { TransferCode, type CreateTransferResult, type TransferEvent } from '@paygrid/ledger';
import { accountEventsOf, authorizationHold, bankTransferReceipt, feeTransfer, postHold, refundHold, voidHold, type Books } from './chart';
import { LedgerRefusal, booksOf, logFailure, messageOf, tenantOf, type CrashStep, type PaymentsContext } from './context';
import { feeFor } from './fees';
import { fromAuthorizationStatus, fromAuthorizeOutcome, fromSimpleOutcome, type CallOutcome } from './outcomes';
import {
  findAttemptById,
  findAttemptOfRefund,
  findIntentById,
  findRefundById,
  insertAttempt,
  insertStatusChange,
  postponeAttempt,
  updateAttempt,
  updateRefund,
  type AttemptRecord,
  type IntentRecord,
  type RefundRecord,
} from './store';
import { attempt_transitions, refund_transitions, transition } from './transitions';
import type { AttemptStatus, PaymentError } from './types';
import { emit, newAttempt, recordAttemptStatus, writeIntent } from './writes';
import { refundToWire } from './wire';

/** `first`: the holder that recorded the attempt makes the call. `recover`: a later holder asks. */
export type Mode = 'first' | 'recover';

/** Steps one drive of a saga takes at most (call, record, apply, and a follow-up capture). */
const drive_steps_max = 8;

const checkpoints_after_call: Record<AttemptRecord['operation'], CrashStep> = {
  authorize: 'after_connector_call',
  capture: 'after_capture_call',
  void: 'after_void_call',
  refund: 'after_refund_call',
  top_up: 'after_top_up_call',
  top_up_reversal: 'after_reversal_call',
  top_up_restoration: 'after_restoration_call',
};

const checkpoints_after_record: Record<AttemptRecord['operation'], CrashStep | undefined> = {
  authorize: 'after_result_recorded',
  capture: 'after_capture_result_recorded',
  void: undefined,
  refund: 'after_refund_result_recorded',
  top_up: 'after_top_up_result_recorded',
  top_up_reversal: 'after_reversal_result_recorded',
  top_up_restoration: 'after_restoration_result_recorded',
};

/** Where a follow-up attempt has been recorded by the step before it, and is not yet driven. */
const checkpoints_after_follow_up: Record<AttemptRecord['operation'], CrashStep | undefined> = {
  authorize: undefined,
  capture: 'after_capture_recorded',
  void: undefined,
  refund: 'after_refund_recorded',
  top_up: 'after_top_up_recorded',
  top_up_reversal: undefined,
  top_up_restoration: 'after_restoration_recorded',
};

/**
 * The wallet's idempotency key for the top-up of an intent: an intent captures once, so it tops up
 * once, and every retry (and recovery after a crash) meets the same top-up.
 */
export function topUpIdempotencyKey(intent_id: string): string {
  return `${intent_id}:top_up`;
}

/**
 * The wallet's idempotency key for the restoration of a refund's reversal: a refund restores at
 * most once, so every retry (and recovery after a crash) meets the same restoration, and the
 * wallet is never credited twice.
 */
export function topUpRestorationIdempotencyKey(refund_id: string): string {
  return `${refund_id}:top_up_restoration`;
}

function isAccepted(result: CreateTransferResult, also: readonly CreateTransferResult[] = []): boolean {
  return result === 'ok' || result === 'exists' || also.includes(result);
}

export class PaymentSaga {
  readonly #context: PaymentsContext;

  constructor(context: PaymentsContext) {
    this.#context = context;
  }

  /**
   * Moves one attempt as far as it can go: call (or ask) the provider, record the answer, apply
   * it, and continue with a follow-up attempt (an automatic capture the provider did not take at
   * authorization). Returns false when a step could not finish; the attempt is then scheduled for
   * a retry with backoff.
   */
  async drive(attempt_id: string, fence: number, mode: Mode): Promise<boolean> {
    let current_id = attempt_id;
    let current_fence = fence;
    let current_mode = mode;
    for (let step = 0; step < drive_steps_max; step += 1) {
      const attempt = await findAttemptById(this.#context.database, current_id);
      assert(attempt !== undefined, 'an attempt being driven disappeared');
      if (attempt.attempt !== current_fence || attempt.applied) return true;
      try {
        if (attempt.status === 'pending' || attempt.status === 'unknown') {
          // A bank transfer waits for its money; a waiting attempt is only polled by recovery.
          if (attempt.payment_method?.type === 'bank_transfer') return true;
          if (attempt.waiting && current_mode === 'first') return true;
          const intent = await findIntentById(this.#context.database, attempt.intent_id);
          assert(intent !== undefined, 'an attempt names a missing intent');
          if (attempt.operation === 'refund' && intent.payment_method_type !== 'wallet') {
            // The merchant's money is set aside before the provider is asked to return it.
            await this.#sendTransfer(booksOf(intent), refundHold(booksOf(intent), attempt.id, attempt.amount));
            this.#context.checkpoint('after_refund_hold');
          }
          const outcome = await this.#call(attempt, intent, current_mode);
          this.#context.checkpoint(checkpoints_after_call[attempt.operation]);
          if (!(await this.record(attempt, current_fence, outcome))) return true;
          const checkpoint = checkpoints_after_record[attempt.operation];
          if (checkpoint !== undefined) this.#context.checkpoint(checkpoint);
          if (outcome.kind === 'unknown') return false;
          if (outcome.kind === 'waiting' || outcome.kind === 'still_waiting') return true;
          continue;
        }
        const next = await this.#apply(attempt, current_fence);
        if (next === undefined) return true;
        const checkpoint = checkpoints_after_follow_up[next.operation];
        if (checkpoint !== undefined) this.#context.checkpoint(checkpoint);
        current_id = next.id;
        current_fence = next.attempt;
        current_mode = 'first';
      } catch (error) {
        if (isAssertionError(error)) throw error;
        logFailure(this.#context.log, 'a payment step; recovery will retry it', error, { attempt: attempt.id, operation: attempt.operation });
        await postponeAttempt(this.#context.database, attempt.id, current_fence, this.#context.clock.now() + this.#retryDelay(attempt.retry_count + 1));
        return false;
      }
    }
    this.#context.log('error', 'a payment saga took more steps than it ever should', { attempt: attempt_id });
    return false;
  }

  /** Step 2: the outside call, or in recovery the question about a call whose answer is lost. */
  async #call(attempt: AttemptRecord, intent: IntentRecord, mode: Mode): Promise<CallOutcome> {
    try {
      switch (attempt.operation) {
        case 'authorize':
          return await this.#callAuthorize(attempt, intent, mode);
        case 'capture':
          return await this.#callCapture(attempt, intent, mode);
        case 'void':
          return await this.#callVoid(attempt, intent, mode);
        case 'refund':
          return await this.#callRefund(attempt, intent);
        case 'top_up':
          return await this.#callTopUp(attempt, intent);
        case 'top_up_reversal':
          return await this.#callTopUpReversal(attempt, intent);
        case 'top_up_restoration':
          return await this.#callTopUpRestoration(attempt, intent);
      }
    } catch (error) {
      // A connector answers with values; a throw is a broken connection or a bug in it, and either
      // way nothing is known about what happened at the provider.
      if (isAssertionError(error)) throw error;
      logFailure(this.#context.log, 'a call to a payment provider', error, { attempt: attempt.id });
      return { kind: 'unknown', reason: messageOf(error) };
    }
  }

  #options(attempt: AttemptRecord): { idempotency_reference: string; timeout_ms: number } {
    return { idempotency_reference: attempt.id, timeout_ms: this.#context.settings.connector_timeout_ms };
  }

  #connectorOf(type: PaymentMethodType | null): Connector | undefined {
    if (type === null) return undefined;
    const connector = this.#context.connectors[type];
    if (connector === undefined) this.#context.log('error', 'a payment needs a connector this process does not have', { method: type });
    return connector;
  }

  async #callAuthorize(attempt: AttemptRecord, intent: IntentRecord, mode: Mode): Promise<CallOutcome> {
    const method = attempt.payment_method;
    assert(method !== null && method.type !== 'bank_transfer', 'an authorization that is called has a payment method with a provider');
    if (method.type === 'wallet') return this.#payFromWallet(attempt, intent, method.wallet);
    const connector = this.#connectorOf(method.type);
    if (connector === undefined) return { kind: 'unknown', reason: `no connector for ${method.type}` };
    const authorize = async () =>
      fromAuthorizeOutcome(
        await connector.authorize(
          {
            merchant_id: intent.merchant_id,
            livemode: intent.livemode,
            amount: attempt.amount,
            currency: intent.currency,
            payment_method: method,
            capture_method: intent.capture_method,
            ...(attempt.return_url === null ? {} : { return_url: attempt.return_url }),
            description: intent.description ?? `Payment ${intent.id}`,
          },
          this.#options(attempt),
        ),
        attempt.amount,
      );
    if (mode === 'first') return authorize();
    // Recovery never calls authorize blindly: it asks first. A payment the provider never saw
    // fails (nothing was charged); one it has is settled from its answer.
    const status = await connector.status(attempt.id, { timeout_ms: this.#context.settings.connector_timeout_ms });
    if (status.status === 'not_found' && attempt.waiting) {
      // Some providers (Alipay) create the payment only when the customer opens their page: until
      // then they know nothing of it. A customer who never does is given up on after a while.
      const waited_ms = this.#context.clock.now() - attempt.created * 1_000;
      if (waited_ms < this.#context.settings.action_unseen_ms_max) return { kind: 'still_waiting' };
      return { kind: 'failed', code: 'payment_expired', message: 'The customer never reached the payment page' };
    }
    const settled = fromAuthorizationStatus(status);
    if (settled !== undefined) return settled;
    if (attempt.waiting) return { kind: 'still_waiting' };
    // The provider has the payment waiting for the customer, and this process lost the answer
    // that carried the next action: asking again with the same reference replays that answer.
    return authorize();
  }

  async #payFromWallet(attempt: AttemptRecord, intent: IntentRecord, wallet_id: string): Promise<CallOutcome> {
    // The wallet service is idempotent by key: the attempt's id. Asking again after a lost answer
    // replays the first payment (or finishes it), so recovery asks this same question.
    try {
      const payment = await this.#context.wallet.pay(tenantOf(intent), wallet_id, {
        amount: attempt.amount,
        idempotency_key: attempt.id,
        description: intent.description ?? `Payment ${intent.id}`,
      });
      if (payment.status === 'succeeded') return { kind: 'authorized', provider_reference: payment.id, amount_captured: attempt.amount };
      if (payment.status === 'failed') return { kind: 'failed', code: payment.failure_code ?? 'payment_failed', message: `The wallet payment ${payment.id} failed` };
      return { kind: 'unknown', reason: `wallet payment ${payment.id} is still pending` };
    } catch (error) {
      return this.#walletFailure(error);
    }
  }

  /**
   * Moves a top-up intent's captured money from the merchant's balance into the wallet. The key is
   * derived from the intent, so asking again after a lost answer (or in recovery) replays the first
   * top-up rather than making a second one.
   */
  async #callTopUp(attempt: AttemptRecord, intent: IntentRecord): Promise<CallOutcome> {
    const wallet_id = intent.top_up_wallet_id;
    assert(wallet_id !== null, 'a top-up attempt belongs to a top-up intent');
    try {
      const top_up = await this.#context.wallet.topUpFromPayment(tenantOf(intent), wallet_id, {
        amount: attempt.amount,
        payment_intent: intent.id,
        idempotency_key: topUpIdempotencyKey(intent.id),
      });
      if (top_up.status === 'succeeded') return { kind: 'succeeded', provider_reference: top_up.id };
      if (top_up.status === 'failed') return { kind: 'failed', code: top_up.failure_code ?? 'top_up_failed', message: `The wallet top-up ${top_up.id} failed` };
      return { kind: 'unknown', reason: `wallet top-up ${top_up.id} is still pending` };
    } catch (error) {
      return this.#walletFailure(error);
    }
  }

  /**
   * Takes a refund's amount back out of the topped-up wallet, before the card is refunded. The
   * wallet refuses (`insufficient_funds`) when the customer has spent the money; then nothing moved.
   */
  async #callTopUpReversal(attempt: AttemptRecord, intent: IntentRecord): Promise<CallOutcome> {
    const top_up_id = intent.top_up_id;
    assert(top_up_id !== null, 'a reversal follows a finished top-up');
    try {
      const reversal = await this.#context.wallet.reverseTopUp(tenantOf(intent), top_up_id, { amount: attempt.amount, idempotency_key: attempt.id });
      if (reversal.status === 'succeeded') return { kind: 'succeeded', provider_reference: reversal.id };
      if (reversal.status === 'failed') return { kind: 'failed', code: reversal.failure_code ?? 'top_up_reversal_failed', message: `The wallet reversal ${reversal.id} failed` };
      return { kind: 'unknown', reason: `wallet reversal ${reversal.id} is still pending` };
    } catch (error) {
      return this.#walletFailure(error);
    }
  }

  /**
   * The compensation of a reversal whose card refund failed: the reversed money goes back from the
   * merchant's balance into the wallet. The key is derived from the refund, so asking again after a
   * lost answer (or in recovery) replays the first restoration rather than making a second one.
   */
  async #callTopUpRestoration(attempt: AttemptRecord, intent: IntentRecord): Promise<CallOutcome> {
    const refund_id = attempt.refund_id;
    assert(refund_id !== null, 'a restoration belongs to a refund');
    const reversal = await findAttemptOfRefund(this.#context.database, intent.id, refund_id, 'top_up_reversal');
    assert(reversal?.status === 'succeeded' && reversal.provider_reference !== null, 'a restoration follows a succeeded reversal');
    try {
      const restoration = await this.#context.wallet.restoreTopUpReversal(tenantOf(intent), reversal.provider_reference, { idempotency_key: topUpRestorationIdempotencyKey(refund_id) });
      if (restoration.status === 'succeeded') return { kind: 'succeeded', provider_reference: restoration.id };
      if (restoration.status === 'failed') return { kind: 'failed', code: restoration.failure_code ?? 'top_up_restoration_failed', message: `The wallet restoration ${restoration.id} failed` };
      return { kind: 'unknown', reason: `wallet restoration ${restoration.id} is still pending` };
    } catch (error) {
      return this.#walletFailure(error);
    }
  }

  #walletFailure(error: unknown): CallOutcome {
    if (!(error instanceof ApiError)) throw error;
    // The wallet is down or busy: nothing is decided, and its own recovery finishes what it began.
    if (error.type === 'service_unavailable_error' || error.type === 'rate_limit_error') return { kind: 'unknown', reason: error.message };
    return { kind: 'failed', code: error.code, message: error.message };
  }

  async #callCapture(attempt: AttemptRecord, intent: IntentRecord, mode: Mode): Promise<CallOutcome> {
    const connector = this.#connectorOf(intent.payment_method_type);
    if (connector === undefined) return { kind: 'unknown', reason: `no connector for ${String(intent.payment_method_type)}` };
    const reference = intent.provider_reference;
    assert(reference !== null && intent.authorization_attempt_id !== null, 'a capture follows an authorization');
    const capture = async () => fromSimpleOutcome(await connector.capture(reference, attempt.amount, this.#options(attempt)));
    if (mode === 'first') return capture();
    const status = await connector.status(intent.authorization_attempt_id, { timeout_ms: this.#context.settings.connector_timeout_ms });
    switch (status.status) {
      case 'captured':
        if (status.amount_captured !== attempt.amount) {
          this.#context.log('error', 'the provider captured another amount than asked; it needs a person', { attempt: attempt.id, asked: attempt.amount, captured: status.amount_captured });
        }
        return { kind: 'succeeded' };
      case 'authorized':
        // Not captured yet: the capture call is repeated with the same reference.
        return capture();
      case 'voided':
      case 'declined':
      case 'not_found':
        return { kind: 'failed', code: 'authorization_unavailable', message: `The provider reports the authorization as ${status.status}` };
      case 'requires_action':
      case 'pending':
        return { kind: 'unknown', reason: `the provider reports the authorization as ${status.status}` };
    }
  }

  async #callVoid(attempt: AttemptRecord, intent: IntentRecord, mode: Mode): Promise<CallOutcome> {
    const connector = this.#connectorOf(intent.payment_method_type);
    if (connector === undefined) return { kind: 'unknown', reason: `no connector for ${String(intent.payment_method_type)}` };
    const reference = attempt.provider_reference;
    assert(reference !== null && intent.authorization_attempt_id !== null, 'a void names the provider payment it releases');
    const release = async () => fromSimpleOutcome(await connector.void(reference, this.#options(attempt)));
    if (mode === 'first') return release();
    const status = await connector.status(intent.authorization_attempt_id, { timeout_ms: this.#context.settings.connector_timeout_ms });
    switch (status.status) {
      case 'voided':
      case 'declined':
      case 'not_found':
        return { kind: 'succeeded' };
      case 'captured':
        this.#context.log('error', 'a payment being voided was captured at the provider; it needs a person', { attempt: attempt.id, payment_intent: intent.id });
        return { kind: 'failed', code: 'already_captured', message: 'The provider captured the payment' };
      case 'authorized':
      case 'requires_action':
      case 'pending':
        return release();
    }
  }

  async #callRefund(attempt: AttemptRecord, intent: IntentRecord): Promise<CallOutcome> {
    const reference = intent.provider_reference;
    assert(reference !== null, 'a refunded payment has a provider reference');
    if (intent.payment_method_type === 'wallet') {
      try {
        const refund = await this.#context.wallet.refundPayment(tenantOf(intent), reference, { amount: attempt.amount, idempotency_key: attempt.id });
        if (refund.status === 'succeeded') return { kind: 'succeeded' };
        if (refund.status === 'failed') return { kind: 'failed', code: refund.failure_code ?? 'refund_failed', message: `The wallet refund ${refund.id} failed` };
        return { kind: 'unknown', reason: `wallet refund ${refund.id} is still pending` };
      } catch (error) {
        return this.#walletFailure(error);
      }
    }
    const connector = this.#connectorOf(intent.payment_method_type);
    if (connector === undefined) return { kind: 'unknown', reason: `no connector for ${String(intent.payment_method_type)}` };
    // The provider has no status for refunds; a refund repeated with the same reference is
    // answered with the first outcome, so recovery asks by sending it again.
    return fromSimpleOutcome(await connector.refund(reference, attempt.amount, this.#options(attempt)));
  }

  /** Step 3: records the answer, fenced by the holder. Returns whether it was recorded. */
  async record(attempt: AttemptRecord, fence: number, outcome: CallOutcome): Promise<boolean> {
    return this.#context.commits.run(async (tx) => {
      const intent = await findIntentById(tx, attempt.intent_id, true);
      assert(intent !== undefined, 'an attempt names a missing intent');
      const current = await findAttemptById(tx, attempt.id);
      assert(current !== undefined, 'an attempt being recorded disappeared');
      if (current.attempt !== fence) return false;
      if (current.status !== 'pending' && current.status !== 'unknown') {
        if (outcome.kind === 'authorized') {
          this.#context.log('error', 'the provider took a payment for an attempt already settled; it needs a person', { attempt: attempt.id, status: current.status });
        }
        return false;
      }
      const now_ms = this.#context.clock.now();
      const settle = (status: AttemptStatus, fields: Partial<AttemptRecord>): AttemptRecord => ({
        ...current,
        status,
        waiting: false,
        error: null,
        applied: false,
        retry_count: 0,
        next_attempt_ms: now_ms + this.#context.settings.attempt_lease_ms,
        ...fields,
      });
      let next: AttemptRecord;
      switch (outcome.kind) {
        case 'unknown':
          // A payment waiting for its customer stays waiting when a poll gets no answer.
          next = current.waiting
            ? { ...current, retry_count: current.retry_count + 1, next_attempt_ms: now_ms + this.#pollDelay(current.retry_count + 1) }
            : { ...current, status: 'unknown', retry_count: current.retry_count + 1, next_attempt_ms: now_ms + this.#retryDelay(current.retry_count + 1) };
          break;
        case 'still_waiting':
          next = { ...current, retry_count: current.retry_count + 1, next_attempt_ms: now_ms + this.#pollDelay(current.retry_count + 1) };
          break;
        case 'waiting':
          assert(current.operation === 'authorize', 'only an authorization waits for the customer');
          next = { ...current, status: 'pending', waiting: true, provider_reference: outcome.provider_reference, retry_count: 0, next_attempt_ms: now_ms + this.#context.settings.action_poll_interval_ms };
          break;
        case 'authorized':
          assert(current.operation === 'authorize', 'only an authorization is authorized');
          next = settle('succeeded', { provider_reference: outcome.provider_reference, amount_captured: outcome.amount_captured });
          break;
        case 'succeeded':
          assert(current.operation !== 'authorize', 'an authorization answers authorized, not succeeded');
          next = settle('succeeded', outcome.provider_reference === undefined ? {} : { provider_reference: outcome.provider_reference });
          break;
        case 'failed': {
          const error: PaymentError = { code: outcome.code, message: outcome.message };
          // A failed authorization or capture has nothing to undo in the ledger; a failed void or
          // refund still has its hold to release.
          const done = current.operation === 'authorize' || current.operation === 'capture';
          next = settle('failed', { error, applied: done, next_attempt_ms: done ? null : now_ms + this.#context.settings.attempt_lease_ms });
          break;
        }
      }
      if (!(await updateAttempt(tx, next, fence))) return false;
      if (next.status !== current.status) {
        assert(transition(attempt_transitions, current.status, next.status) === 'ok', `attempt ${current.status} → ${next.status}`);
        await recordAttemptStatus(tx, current, current.status, next.status, outcome.kind, now_ms);
      }
      await this.#recordIntentEffects(tx, intent, next, outcome, now_ms);
      return true;
    });
  }

  /** What an answer changes on the intent, in the same transaction as the answer. */
  async #recordIntentEffects(tx: Database, intent: IntentRecord, attempt: AttemptRecord, outcome: CallOutcome, now_ms: number): Promise<void> {
    if (attempt.operation === 'authorize') {
      // Only the intent's current authorization may move it (an older one was canceled or failed).
      if (intent.authorization_attempt_id !== attempt.id || (intent.status !== 'processing' && intent.status !== 'requires_action')) return;
      switch (outcome.kind) {
        case 'waiting':
          await writeIntent(this.#context, 
            tx,
            intent,
            {
              ...(outcome.intent_status === intent.status ? { event: undefined } : { status: outcome.intent_status }),
              reason: 'provider_waiting',
              fields: { next_action: outcome.next_action, provider_reference: outcome.provider_reference },
            },
            now_ms,
          );
          return;
        case 'authorized':
          await writeIntent(this.#context, 
            tx,
            intent,
            {
              ...(intent.status === 'processing' ? {} : { status: 'processing' }),
              reason: 'authorized',
              fields: { next_action: null, provider_reference: outcome.provider_reference },
            },
            now_ms,
          );
          return;
        case 'failed':
          await writeIntent(this.#context, 
            tx,
            intent,
            {
              status: 'requires_payment_method',
              reason: `declined:${outcome.code}`,
              fields: { next_action: null, last_payment_error: { code: outcome.code, message: outcome.message } },
            },
            now_ms,
          );
          return;
        default:
          return;
      }
    }
    if (attempt.operation === 'capture' && outcome.kind === 'failed' && intent.status === 'processing') {
      // The authorization stands: the merchant may capture again, or cancel; expiry voids it.
      await writeIntent(this.#context, 
        tx,
        intent,
        {
          status: 'requires_capture',
          reason: `capture_failed:${outcome.code}`,
          event: 'payment_intent.payment_failed',
          fields: { last_payment_error: { code: outcome.code, message: outcome.message } },
        },
        now_ms,
      );
    }
  }

  /**
   * Steps 4 and 5: the ledger transfers an answer calls for, then the final statuses and events.
   * Returns a follow-up attempt to drive, if the answer calls for one.
   */
  async #apply(attempt: AttemptRecord, fence: number): Promise<AttemptRecord | undefined> {
    const intent = await findIntentById(this.#context.database, attempt.intent_id);
    assert(intent !== undefined, 'an attempt names a missing intent');
    const books = booksOf(intent);
    switch (attempt.operation) {
      case 'authorize': {
        assert(attempt.status === 'succeeded', 'only a succeeded authorization is left to apply');
        const method = attempt.payment_method?.type;
        const captured = attempt.amount_captured;
        if (method === 'bank_transfer') {
          assert(captured !== null, 'a bank transfer arrives with its amount');
          await this.#sendTransfer(books, bankTransferReceipt(books, attempt.id, captured));
        } else if (method !== 'wallet') {
          await this.#sendTransfer(books, authorizationHold(books, attempt.id, attempt.amount));
          this.#context.checkpoint('after_ledger_hold');
          if (captured !== null) {
            await this.#sendTransfer(books, postHold(books, attempt.id, captured, TransferCode.payment_authorization));
            this.#context.checkpoint('after_ledger_post');
          }
        }
        if (captured !== null) await this.#takeFee(books, intent, captured);
        return this.#finish(attempt, fence, async (tx, locked, now_ms) => {
          if (captured !== null) {
            const succeeded = await writeIntent(this.#context, 
              tx,
              locked,
              { status: 'succeeded', reason: 'captured', fields: { amount_received: captured, amount_capturable: 0n, capture_before_ms: null, next_action: null } },
              now_ms,
            );
            return this.#recordTopUp(tx, succeeded, captured, now_ms);
          }
          if (locked.capture_method === 'manual') {
            await writeIntent(this.#context, 
              tx,
              locked,
              { status: 'requires_capture', reason: 'authorized', fields: { amount_capturable: locked.amount, capture_before_ms: now_ms + this.#context.settings.capture_window_ms, next_action: null } },
              now_ms,
            );
            return undefined;
          }
          // Automatic capture that the provider did not take at once: capture it now.
          const capture = newAttempt(this.#context, locked, 'capture', locked.amount, now_ms, { provider_reference: locked.provider_reference });
          await insertAttempt(tx, capture);
          await recordAttemptStatus(tx, capture, null, 'pending', 'created', now_ms);
          return capture;
        });
      }
      case 'capture': {
        assert(attempt.status === 'succeeded' && intent.authorization_attempt_id !== null, 'only a succeeded capture is left to apply');
        await this.#sendTransfer(books, postHold(books, intent.authorization_attempt_id, attempt.amount, TransferCode.payment_authorization));
        this.#context.checkpoint('after_capture_posted');
        await this.#takeFee(books, intent, attempt.amount);
        return this.#finish(attempt, fence, async (tx, locked, now_ms) => {
          const succeeded = await writeIntent(this.#context, 
            tx,
            locked,
            { status: 'succeeded', reason: 'captured', fields: { amount_received: attempt.amount, amount_capturable: 0n, capture_before_ms: null } },
            now_ms,
          );
          return this.#recordTopUp(tx, succeeded, attempt.amount, now_ms);
        });
      }
      case 'void': {
        if (attempt.status === 'failed') this.#context.log('warn', 'the provider refused a void; the ledger hold is released all the same', { attempt: attempt.id, error: attempt.error });
        const authorization = intent.authorization_attempt_id === null ? undefined : await findAttemptById(this.#context.database, intent.authorization_attempt_id);
        const method = authorization?.payment_method?.type;
        // Only an authorization that succeeded at a card-like provider has a hold in the ledger.
        if (authorization?.status === 'succeeded' && method !== 'wallet' && method !== 'bank_transfer') {
          await this.#sendTransfer(books, voidHold(books, authorization.id, TransferCode.payment_authorization), ['pending_transfer_already_voided']);
        }
        return this.#finish(attempt, fence, () => Promise.resolve(undefined));
      }
      case 'refund': {
        const succeeded = attempt.status === 'succeeded';
        if (intent.payment_method_type !== 'wallet') {
          await this.#sendTransfer(
            books,
            succeeded ? postHold(books, attempt.id, attempt.amount, TransferCode.payment_refund) : voidHold(books, attempt.id, TransferCode.payment_refund),
          );
        }
        return this.#finish(attempt, fence, async (tx, locked, now_ms) => {
          assert(attempt.refund_id !== null, 'a refund attempt names its refund');
          const reversal = succeeded ? undefined : await findAttemptOfRefund(tx, locked.id, attempt.refund_id, 'top_up_reversal');
          if (reversal?.status === 'succeeded') {
            // The wallet gave the money to the merchant's balance for this refund, and the card
            // refused it: the compensation puts it back into the wallet, as its own attempt,
            // recorded here so that a crash leaves it to recovery. The refund stays pending until
            // the wallet is whole again, so that no other refund counts the same money meanwhile.
            const restoration = newAttempt(this.#context, locked, 'top_up_restoration', attempt.amount, now_ms, { provider_reference: null, refund_id: attempt.refund_id });
            await insertAttempt(tx, restoration);
            await recordAttemptStatus(tx, restoration, null, 'pending', `card_refund_failed:${attempt.error?.code ?? 'unknown'}`, now_ms);
            return restoration;
          }
          await this.#finishRefund(tx, locked, attempt.refund_id, succeeded ? null : (attempt.error?.code ?? 'unknown'), now_ms);
          return undefined;
        });
      }
      case 'top_up': {
        if (attempt.status === 'failed') {
          // The merchant's balance holds the customer's captured money and the wallet does not have
          // it: only a bug or a broken chart gets here, so a person must look.
          this.#context.log('error', 'a captured top-up payment could not be moved into its wallet; it needs a person', { attempt: attempt.id, payment_intent: intent.id, error: attempt.error });
        }
        return this.#finish(attempt, fence, async (tx, locked, now_ms) => {
          if (attempt.status === 'succeeded') {
            await writeIntent(this.#context, tx, locked, { reason: 'topped_up', fields: { top_up_id: attempt.provider_reference } }, now_ms);
          }
          return undefined;
        });
      }
      case 'top_up_restoration': {
        if (attempt.status === 'failed') {
          // The wallet refused to take back money it gave the merchant a moment ago: only a bug or
          // a broken chart gets here. The money sits in the merchant's balance; a person must look.
          this.#context.log('error', 'a failed card refund could not be undone in its wallet; it needs a person', { attempt: attempt.id, payment_intent: intent.id, error: attempt.error });
        }
        return this.#finish(attempt, fence, async (tx, locked, now_ms) => {
          assert(attempt.refund_id !== null, 'a restoration attempt names its refund');
          // The refund failed for the reason the card gave, whatever became of the restoration.
          const card_refund = await findAttemptOfRefund(tx, locked.id, attempt.refund_id, 'refund');
          assert(card_refund?.status === 'failed', 'a restoration follows a failed card refund');
          await this.#finishRefund(tx, locked, attempt.refund_id, card_refund.error?.code ?? 'unknown', now_ms);
          return undefined;
        });
      }
      case 'top_up_reversal': {
        return this.#finish(attempt, fence, async (tx, locked, now_ms) => {
          assert(attempt.refund_id !== null, 'a reversal attempt names its refund');
          if (attempt.status === 'failed') {
            // The wallet refused (the customer spent the money): nothing moved, and the refund fails.
            await this.#finishRefund(tx, locked, attempt.refund_id, attempt.error?.code ?? 'unknown', now_ms);
            return undefined;
          }
          // The money is back in the merchant's balance: now the card is refunded.
          const refund = newAttempt(this.#context, locked, 'refund', attempt.amount, now_ms, {
            provider_reference: locked.provider_reference,
            ...(attempt.refund_id === null ? {} : { refund_id: attempt.refund_id }),
          });
          await insertAttempt(tx, refund);
          await recordAttemptStatus(tx, refund, null, 'pending', 'created', now_ms);
          return refund;
        });
      }
    }
  }

  /**
   * A captured top-up intent's next step: the attempt that moves the money into its wallet, in the
   * transaction that records the capture, so that a crash after it leaves the top-up to recovery.
   */
  async #recordTopUp(tx: Database, intent: IntentRecord, captured: bigint, now_ms: number): Promise<AttemptRecord | undefined> {
    if (intent.top_up_wallet_id === null) return undefined;
    const top_up = newAttempt(this.#context, intent, 'top_up', captured, now_ms, { provider_reference: null });
    await insertAttempt(tx, top_up);
    await recordAttemptStatus(tx, top_up, null, 'pending', 'created', now_ms);
    return top_up;
  }

  /**
   * Ends a refund with its events: succeeded when `failure_reason` is null, failed for that reason
   * otherwise (the card's, or a refused reversal's).
   */
  async #finishRefund(tx: Database, intent: IntentRecord, refund_id: string, failure_reason: string | null, now_ms: number): Promise<void> {
    const refund = await findRefundById(tx, refund_id, true);
    assert(refund !== undefined && refund.status === 'pending', 'a refund being finished is pending');
    const succeeded = failure_reason === null;
    const status = succeeded ? 'succeeded' : 'failed';
    assert(transition(refund_transitions, refund.status, status) === 'ok');
    const finished: RefundRecord = { ...refund, status, failure_reason, version: refund.version + 1 };
    await updateRefund(tx, finished);
    await insertStatusChange(tx, { object_type: 'refund', object_id: refund.id, from_status: 'pending', to_status: status, reason: succeeded ? 'provider_succeeded' : `provider_failed:${finished.failure_reason ?? ''}`, created_ms: now_ms });
    await emit(tx, finished, succeeded ? 'refund.succeeded' : 'refund.failed', refundToWire(finished), finished.version, now_ms);
    if (succeeded) await writeIntent(this.#context, tx, intent, { reason: `refunded:${refund.id}`, fields: { amount_refunded: intent.amount_refunded + refund.amount } }, now_ms);
  }

  /** The platform's fee on a captured amount, once per intent. */
  async #takeFee(books: Books, intent: IntentRecord, captured: bigint): Promise<void> {
    const fee = feeFor(captured, this.#context.fees);
    if (fee > 0n) await this.#sendTransfer(books, feeTransfer(books, intent.id, fee));
  }

  /** Step 5: under the intent's lock, marks the attempt applied and makes the final changes. */
  async #finish(
    attempt: AttemptRecord,
    fence: number,
    work: (tx: Database, intent: IntentRecord, now_ms: number) => Promise<AttemptRecord | undefined>,
  ): Promise<AttemptRecord | undefined> {
    return this.#context.commits.run(async (tx) => {
      const intent = await findIntentById(tx, attempt.intent_id, true);
      assert(intent !== undefined, 'an attempt names a missing intent');
      const current = await findAttemptById(tx, attempt.id);
      assert(current !== undefined, 'an attempt being applied disappeared');
      if (current.attempt !== fence || current.applied) return undefined;
      const now_ms = this.#context.clock.now();
      if (!(await updateAttempt(tx, { ...current, applied: true, retry_count: 0, next_attempt_ms: null }, fence))) return undefined;
      return work(tx, intent, now_ms);
    });
  }

  /** Sends one transfer, creating the payment accounts on first use. Throws when it is refused. */
  async #sendTransfer(books: Books, event: TransferEvent, also_accepted: readonly CreateTransferResult[] = []): Promise<void> {
    let result = await this.#createTransfer(event);
    if (result === 'debit_account_not_found' || result === 'credit_account_not_found') {
      // Creating an account that exists with the same fields answers `exists`.
      const answers = await this.#context.ledger.createAccounts(accountEventsOf(books));
      for (const answer of answers) {
        if (answer.result !== 'ok' && answer.result !== 'exists') this.#context.log('error', 'the ledger refused an account payments need', { account: answer.id.toString(), result: answer.result });
      }
      result = await this.#createTransfer(event);
    }
    if (!isAccepted(result, also_accepted)) {
      this.#context.log('error', 'the ledger refused a payment transfer', { transfer: event.id.toString(), code: event.code, result });
      throw new LedgerRefusal(`The ledger refused transfer ${event.id} (${result})`);
    }
  }

  async #createTransfer(event: TransferEvent): Promise<CreateTransferResult> {
    const answers = await this.#context.ledger.createTransfers([event]);
    const answer = answers[0];
    assert(answers.length === 1 && answer?.index === 0, 'the ledger answers each event once');
    return answer.result;
  }

  /** The wait before retry number `count` (from 1): doubling from retry_delay_ms up to the maximum. */
  /** The wait before poll number `count` of a payment waiting for its customer: doubling, up to the maximum. */
  #pollDelay(count: number): number {
    return doubling(this.#context.settings.action_poll_interval_ms, count, this.#context.settings.retry_delay_max_ms);
  }

  /** The wait before retry number `count` (from 1) of a step that could not finish. */
  #retryDelay(count: number): number {
    return doubling(this.#context.settings.retry_delay_ms, count, this.#context.settings.retry_delay_max_ms);
  }
}

/** `first_ms`, doubled for each count after the first, and never more than `max_ms`. */
function doubling(first_ms: number, count: number, max_ms: number): number {
  let delay = first_ms;
  for (let step = 1; step < count && delay < max_ms; step += 1) delay *= 2;
  return Math.min(delay, max_ms);
}
