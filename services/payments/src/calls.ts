// The calls a payment attempt makes to parties outside this service's commit: the connectors (card
// acquirer, Alipay, WeChat Pay) and the wallet service. Each is idempotent by the attempt's id (or
// a key derived from it), and a holder that takes an attempt over after a crash asks what became of
// the call (`recover`) rather than repeat it blindly. Every answer is mapped to a CallOutcome.
import type { Connector, PaymentMethodType } from '@paygrid/connectors';
import type { CurrencyCode } from '@paygrid/money';
import { ApiError, assert, isAssertionError } from '@paygrid/kernel';
import { logFailure, messageOf, tenantOf, type PaymentsContext } from './context';
import { fromAuthorizationStatus, fromAuthorizeOutcome, fromSimpleOutcome, type CallOutcome } from './outcomes';
import { findAttemptOfRefund, type AttemptRecord, type IntentRecord } from './store';

/** `first`: the holder that recorded the attempt makes the call. `recover`: a later holder asks. */
export type Mode = 'first' | 'recover';

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

/**
 * What undoing a call at its party takes, handed by the `call` step to its compensation: the money a
 * provider (or the customer's wallet) holds or took for a payment the ledger then refused to book
 * (decision 68). Stored in the run's row, so a holder after a crash undoes it as well.
 */
export interface ProviderUndo {
  readonly attempt_id: string;
  readonly merchant_id: string;
  readonly livemode: boolean;
  readonly method: 'card' | 'alipay' | 'wechat_pay' | 'wallet';
  /** `void`: an authorization not captured yet; `refund`: money the provider took. */
  readonly action: 'void' | 'refund';
  readonly provider_reference: string;
  readonly amount: bigint;
  /** A capture's authorization hold, released in the ledger first: the attempt that placed it, and its ledger. */
  readonly hold: { readonly attempt_id: string; readonly currency: CurrencyCode } | null;
}

function isHold(value: unknown): boolean {
  if (value === null) return true;
  if (typeof value !== 'object') return false;
  const fields = value as Record<string, unknown>;
  return typeof fields.attempt_id === 'string' && typeof fields.currency === 'string';
}

const undo_methods: readonly ProviderUndo['method'][] = ['card', 'alipay', 'wechat_pay', 'wallet'];

export function isProviderUndo(value: unknown): value is ProviderUndo {
  if (typeof value !== 'object' || value === null) return false;
  const fields = value as Record<string, unknown>;
  return (
    typeof fields.attempt_id === 'string' &&
    typeof fields.merchant_id === 'string' &&
    typeof fields.livemode === 'boolean' &&
    undo_methods.includes(fields.method as ProviderUndo['method']) &&
    (fields.action === 'void' || fields.action === 'refund') &&
    typeof fields.provider_reference === 'string' &&
    typeof fields.amount === 'bigint' &&
    isHold(fields.hold)
  );
}

/** The idempotency reference of an undo: one per attempt, so a repeated undo is the same one. */
export function undoReference(attempt_id: string): string {
  return `${attempt_id}:undo`;
}

export class ProviderCalls {
  readonly #context: PaymentsContext;

  constructor(context: PaymentsContext) {
    this.#context = context;
  }

  /** The outside call, or for a holder that took the attempt over, the question about a call whose answer is lost. */
  async call(attempt: AttemptRecord, intent: IntentRecord, mode: Mode): Promise<CallOutcome> {
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

  /**
   * Gives back at its party what a call took or holds: voids an authorization, or refunds money
   * taken. Idempotent by the attempt (one undo reference). Returns when done, or when the party
   * refused for good (logged for a person: nothing this service can do changes it); throws when
   * the answer is unknown, so that the runner tries again.
   */
  async undo(undo: ProviderUndo): Promise<void> {
    const tenant = tenantOf(undo);
    const fields = { attempt: undo.attempt_id, method: undo.method, action: undo.action };
    if (undo.method === 'wallet') {
      assert(undo.action === 'refund', 'a wallet payment is taken at once: it is undone by a refund');
      try {
        const refund = await this.#context.wallet.refundPayment(tenant, undo.provider_reference, { amount: undo.amount, idempotency_key: undoReference(undo.attempt_id) });
        if (refund.status === 'pending') throw new Error(`wallet refund ${refund.id} is still pending`);
        if (refund.status === 'failed') this.#context.log('error', 'the wallet refused to give back a payment the ledger refused; it needs a person', { ...fields, failure_code: refund.failure_code });
        return;
      } catch (error) {
        const outcome = this.#walletFailure(error);
        if (outcome.kind === 'unknown') throw new Error(outcome.reason);
        this.#context.log('error', 'the wallet refused to give back a payment the ledger refused; it needs a person', { ...fields, error: outcome.kind === 'failed' ? outcome.code : outcome.kind });
        return;
      }
    }
    const connector = this.#connectorOf(undo.method);
    if (connector === undefined) throw new Error(`no connector for ${undo.method}`);
    const options = { idempotency_reference: undoReference(undo.attempt_id), timeout_ms: this.#context.settings.connector_timeout_ms };
    const outcome = undo.action === 'void' ? await connector.void(undo.provider_reference, options) : await connector.refund(undo.provider_reference, undo.amount, options);
    if (outcome.status === 'unknown') throw new Error(outcome.reason);
    if (outcome.status === 'failed') this.#context.log('error', 'the provider refused to give back a payment the ledger refused; it needs a person', { ...fields, code: outcome.code, message: outcome.message });
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
    // An unexpected error inside the wallet, which reaches a caller in another process as the
    // generic 500 (a caller in the same process sees the error itself, and throws it above): the
    // wallet decided nothing it could say, and the money may have moved, so nothing is known.
    if (error.type === 'api_error' && error.code === 'internal_error') return { kind: 'unknown', reason: error.message };
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
}
