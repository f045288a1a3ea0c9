// The payment saga, declared as data on the kernel's runner: one run per attempt (one call to a
// party outside this service's commit), the same four steps for every operation.
//
// | step       | action, outside any transaction                                  | checkpoint | compensation               |
// |------------|------------------------------------------------------------------|------------|----------------------------|
// | set_aside  | a card refund's hold on the merchant's balance (ledger)           | no         | void that hold             |
// | call       | call the provider; a holder that took over asks it instead       | no         | give the money back there  |
// | move_money | the answer's ledger chain, each id derived from the attempt      | no         |                            |
// | finish     | nothing outside: records the answer, statuses, events, follow-up | the end    |                            |
//
// One durable commit per money movement. The attempt is recorded (intent) and committed before the
// saga runs; from there the request waits for the ledger's commit and for one commit of this
// service, the one that records the answer with everything it means. Nothing in between needs a
// commit of its own: the provider keeps the answer (a holder that takes the attempt over after a
// crash asks it: `status`, or the same call again under the same reference), and every ledger
// transfer has an id derived from the attempt or intent, so sending the chain again after a crash
// meets `exists`. The steps in between therefore carry their results in memory to `finish`.
//
// An answer that ends the forward path (a decline, a refund the provider refused) is a `fail`: its
// record writes what it means, and the runner then compensates the done steps (a refund's hold is
// released). So is a ledger refusal that no resend changes (decision 68): the attempt fails with
// `amount_too_large` or `ledger_refused`, the intent or refund ends with that code, and `call`'s
// compensation voids or refunds at the provider what it authorized or took. An answer still to
// come is a `wait` (a customer at a 3-D Secure page, a bank transfer not yet arrived) or a `retry`
// (no answer: unknown), each recorded with what it changes.
import type { PaymentMethodType } from '@paygrid/connectors';
import {
  SagaRunner,
  assert,
  defineSaga,
  defineStep,
  doublingRetry,
  fail,
  isAssertionError,
  next,
  retry,
  wait,
  type Database,
  type DriveOutcome,
  type Lease,
  type SagaDefinition,
  type StepContext,
  type StepOutcome,
  type StepResult,
} from '@paygrid/kernel';
import { TransferCode, TransferFlags, type CreateTransferResult, type TransferEvent } from '@paygrid/ledger';
import type { CurrencyCode } from '@paygrid/money';
import { ProviderCalls, isProviderUndo, type ProviderUndo } from './calls';
import { accountEventsOf, authorizationHold, bankTransferReceipt, feeTransfer, postHold, refundHold, voidHold, type Books } from './chart';
import { LedgerRefusal, booksOf, logFailure, type AttemptRuns, type CrashStep, type PaymentsContext } from './context';
import { feeFor } from './fees';
import type { CallOutcome } from './outcomes';
import {
  findAttemptById,
  findAttemptOfRefund,
  findIntentById,
  findRefundById,
  insertStatusChange,
  updateAttempt,
  updateRefund,
  type AttemptRecord,
  type IntentRecord,
  type RefundRecord,
} from './store';
import { attempt_transitions, refund_transitions, transition } from './transitions';
import { emit, newAttempt, recordAttemptStatus, recordNewAttempt, writeIntent } from './writes';
import { refundToWire } from './wire';

export { topUpIdempotencyKey, topUpRestorationIdempotencyKey } from './calls';

/** The saga's name in saga_runs: a run has its attempt's id. */
export const payment_saga_name = 'payment_attempt';
/**
 * Tries of one step at most. At the longest delay between tries (10 minutes by default) this is
 * about two years: a payment step is never given up on by itself, and every failed try is logged,
 * so a person is warned long before.
 */
export const payment_step_tries_max = 100_000;
/** `finish` calls no one; its action returns at once, and its writes run in the runner's commit. */
export const finish_step_timeout_ms = 1_000;
/** Attempts one drive goes through at most: an attempt and its follow-ups (authorize, capture, top-up). */
const attempts_per_drive_max = 8;

const card_like_methods: readonly PaymentMethodType[] = ['card', 'alipay', 'wechat_pay'];

/** A drive's end: the context as it left it, and where its last run stands. */
export interface DrivenAttempt {
  readonly context: AttemptContext;
  readonly status: DriveOutcome['status'] | 'unreachable';
}

/** The steps' shared state while a run is driven; the steps' records keep it current. */
export interface AttemptContext {
  attempt: AttemptRecord;
  intent: IntentRecord;
  /** A verified notification's answer, which settles the call without calling. */
  readonly notified?: CallOutcome;
  /** The call's answer, carried from `call` to `move_money` and `finish`. */
  answer?: CallOutcome;
  /** The refund, once this drive has ended it. */
  refund?: RefundRecord;
  /** The ledger's refusal that ended the forward path, for the failing step's record. */
  refusal?: LedgerRefusal;
  /** An attempt the answer calls for next (a capture, a top-up, a card refund, a restoration). */
  follow_up?: { readonly attempt: AttemptRecord; readonly lease: Lease };
  /**
   * The state before the commit the steps are heading for. A record starts from it: the runner runs
   * a commit's writes again alone when a shared commit failed whole, and what the first run wrote
   * into this context then never happened. A drive whose commit failed answers from it too.
   */
  base?: { readonly attempt: AttemptRecord; readonly intent: IntentRecord; readonly refund: RefundRecord | undefined };
}

/** Remembers the state the next commit starts from. */
function keepBase(context: AttemptContext): void {
  context.base = { attempt: context.attempt, intent: context.intent, refund: context.refund };
}

/** Puts the context back as it was before the commit being written (or that failed). */
function fromBase(context: AttemptContext): void {
  const base = context.base;
  if (base === undefined) return;
  context.attempt = base.attempt;
  context.intent = base.intent;
  if (base.refund === undefined) delete context.refund;
  else context.refund = base.refund;
  delete context.follow_up;
}

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

/** Where a follow-up attempt has been recorded by the one before it, and is not yet driven. */
const checkpoints_after_follow_up: Record<AttemptRecord['operation'], CrashStep | undefined> = {
  authorize: undefined,
  capture: 'after_capture_recorded',
  void: undefined,
  refund: 'after_refund_recorded',
  top_up: 'after_top_up_recorded',
  top_up_reversal: undefined,
  top_up_restoration: 'after_restoration_recorded',
};

/** What `set_aside` hands its compensation: enough to name the refund's hold and its ledger. */
interface HoldReference {
  readonly attempt_id: string;
  readonly currency: CurrencyCode;
  readonly livemode: boolean;
}

function isHoldReference(value: unknown): value is HoldReference {
  if (typeof value !== 'object' || value === null) return false;
  const fields = value as Record<string, unknown>;
  return typeof fields.attempt_id === 'string' && typeof fields.currency === 'string' && typeof fields.livemode === 'boolean';
}

/** An answer already on the attempt (money that arrived, or a row from before attempts were runs). */
function recordedAnswer(attempt: AttemptRecord): CallOutcome | undefined {
  if (attempt.status === 'failed') return { kind: 'failed', code: attempt.error?.code ?? 'unknown', message: attempt.error?.message ?? '' };
  if (attempt.status !== 'succeeded') return undefined;
  if (attempt.operation === 'authorize') {
    assert(attempt.provider_reference !== null || attempt.payment_method?.type === 'bank_transfer', 'a succeeded authorization names its provider payment');
    return { kind: 'authorized', provider_reference: attempt.provider_reference ?? attempt.id, amount_captured: attempt.amount_captured };
  }
  return attempt.provider_reference === null ? { kind: 'succeeded' } : { kind: 'succeeded', provider_reference: attempt.provider_reference };
}

/**
 * The call's answer, as the runner hands it to the steps after `call` (carried in memory, or read
 * back from the run's row when a holder resumed there).
 */
function answerOf(output: unknown): CallOutcome {
  assert(typeof output === 'object' && output !== null && typeof (output as { kind?: unknown }).kind === 'string', 'the steps after call have its answer');
  return output as CallOutcome;
}

function isAccepted(result: CreateTransferResult, also: readonly CreateTransferResult[]): boolean {
  return result === 'ok' || result === 'exists' || also.includes(result);
}

/**
 * What a ledger refusal of a payment chain means, for the log, the failure code and the person who
 * reads it. Every code is placed in one exhaustive switch, so a code the ledger adds does not
 * compile until it is. None changes when the chain is sent again, so none is retried: the attempt
 * fails, and what the provider took is given back (decision 68). The one refusal a well-formed
 * request could cause, a total of the merchant's own accounts passing amount_max, is refused before
 * the provider is called (service.ts `#checkBooksRoom`); only confirmations racing past that check
 * meet it here, and they end `amount_too_large`.
 */
export function paymentRefusalMeaning(result: CreateTransferResult): 'accepted' | 'books_full' | 'hold_resolved' | 'chart_broken' {
  switch (result) {
    case 'ok':
    case 'exists':
      return 'accepted';
    // A total of the receivables, the merchant's balance or the fees would pass amount_max: only
    // requests that raced past the check before the provider call get here.
    case 'overflows_debits_pending':
    case 'overflows_credits_pending':
    case 'overflows_debits_posted':
    case 'overflows_credits_posted':
    case 'overflows_debits':
    case 'overflows_credits':
      return 'books_full';
    // A hold posted or voided already, or another way than asked: the intent's state machine lets
    // only one capture or cancel through, so the books and the intent disagree.
    case 'pending_transfer_not_found':
    case 'pending_transfer_not_pending':
    case 'pending_transfer_already_posted':
    case 'pending_transfer_already_voided':
    case 'pending_transfer_expired':
    case 'exceeds_pending_transfer_amount':
      return 'hold_resolved';
    // Payment accounts have no balance constraint (chart.ts), accounts are created before a resend,
    // ids are derived from the attempt, and every field comes from the chart: these are bugs.
    case 'linked_event_failed':
    case 'linked_event_chain_open':
    case 'timestamp_must_be_zero':
    case 'reserved_flag':
    case 'id_must_not_be_zero':
    case 'id_must_not_be_int_max':
    case 'exists_with_different_flags':
    case 'exists_with_different_pending_id':
    case 'exists_with_different_timeout':
    case 'exists_with_different_debit_account_id':
    case 'exists_with_different_credit_account_id':
    case 'exists_with_different_amount':
    case 'exists_with_different_user_data_128':
    case 'exists_with_different_user_data_64':
    case 'exists_with_different_user_data_32':
    case 'exists_with_different_ledger':
    case 'exists_with_different_code':
    case 'flags_are_mutually_exclusive':
    case 'debit_account_id_must_not_be_zero':
    case 'debit_account_id_must_not_be_int_max':
    case 'credit_account_id_must_not_be_zero':
    case 'credit_account_id_must_not_be_int_max':
    case 'accounts_must_be_different':
    case 'pending_id_must_be_zero':
    case 'pending_id_must_not_be_zero':
    case 'pending_id_must_not_be_int_max':
    case 'pending_id_must_be_different':
    case 'timeout_reserved_for_pending_transfer':
    case 'closing_transfer_must_be_pending':
    case 'amount_must_not_be_zero':
    case 'ledger_must_not_be_zero':
    case 'code_must_not_be_zero':
    case 'debit_account_not_found':
    case 'credit_account_not_found':
    case 'accounts_must_have_the_same_ledger':
    case 'transfer_must_have_the_same_ledger_as_accounts':
    case 'pending_transfer_has_different_debit_account_id':
    case 'pending_transfer_has_different_credit_account_id':
    case 'pending_transfer_has_different_ledger':
    case 'pending_transfer_has_different_code':
    case 'pending_transfer_has_different_amount':
    case 'debit_account_already_closed':
    case 'credit_account_already_closed':
    case 'exceeds_credits':
    case 'exceeds_debits':
    case 'overflows_timeout':
      return 'chart_broken';
    default: {
      const unmapped: never = result;
      return unmapped;
    }
  }
}

/** `first_ms`, doubled for each count after the first, and never more than `max_ms`. */
function doubling(first_ms: number, count: number, max_ms: number): number {
  let delay = first_ms;
  for (let step = 1; step < count && delay < max_ms; step += 1) delay *= 2;
  return Math.min(delay, max_ms);
}

export class PaymentSaga {
  readonly #context: PaymentsContext;
  readonly #calls: ProviderCalls;
  readonly #runner: SagaRunner<null, AttemptContext>;

  constructor(context: PaymentsContext) {
    this.#context = context;
    this.#calls = new ProviderCalls(context);
    this.#runner = new SagaRunner({
      saga: this.#declare(),
      database: context.database,
      commits: context.commits,
      clock: context.clock,
      lease_ms: context.settings.attempt_lease_ms,
      log: context.log,
    });
  }

  /** Starting and ending attempts' runs, for the service's own transactions. */
  get runs(): AttemptRuns {
    return {
      start: (transaction, attempt) =>
        // A bank transfer waits for its money with no timer: only its arrival moves it.
        attempt.payment_method?.type === 'bank_transfer' && attempt.waiting
          ? this.#runner.start(transaction, { id: attempt.id, input: null, status: 'waiting', due_ms: null })
          : this.#runner.start(transaction, { id: attempt.id, input: null }),
      cancel: (transaction, attempt_id, reason) => this.#runner.cancel(transaction, attempt_id, reason),
    };
  }

  /** The saga, as a table of steps. */
  #declare(): SagaDefinition<null, AttemptContext> {
    const settings = this.#context.settings;
    const patient = doublingRetry({ first_delay_ms: settings.retry_delay_ms, delay_max_ms: settings.retry_delay_max_ms, tries_max: payment_step_tries_max });
    return defineSaga<null, AttemptContext>({
      name: payment_saga_name,
      steps: [
        defineStep<null, AttemptContext, null>({
          name: 'set_aside',
          checkpoint: false,
          retry: patient,
          timeout_ms: settings.ledger_timeout_ms,
          action: ({ context }) => this.#setAside(context),
          compensation: (input) => this.#releaseSetAside(input),
          record: (transaction, outcome, { context, now_ms }) => this.#recordRefusal(transaction, outcome, context, now_ms),
        }),
        defineStep<null, AttemptContext, CallOutcome>({
          name: 'call',
          checkpoint: false,
          retry: patient,
          // Recovery may ask the provider first and then call it again.
          timeout_ms: 2 * settings.connector_timeout_ms,
          action: (step) => this.#call(step),
          compensation: (input) => this.#undoCall(input),
          record: (transaction, outcome, { context, now_ms }) => this.#recordCall(transaction, outcome, context, now_ms),
        }),
        defineStep<null, AttemptContext, null>({
          name: 'move_money',
          checkpoint: false,
          retry: patient,
          timeout_ms: settings.ledger_timeout_ms,
          action: async ({ context, outputs }) => {
            context.answer = answerOf(outputs.call);
            return this.#refusalEnds(context, () => this.#moveMoney(context));
          },
          record: (transaction, outcome, { context, now_ms }) => this.#recordRefusal(transaction, outcome, context, now_ms),
        }),
        defineStep<null, AttemptContext, null>({
          name: 'finish',
          retry: patient,
          timeout_ms: finish_step_timeout_ms,
          action: ({ context, outputs }) => {
            context.answer = answerOf(outputs.call);
            keepBase(context);
            return Promise.resolve(next(null));
          },
          record: async (transaction, outcome, { context, now_ms }) => {
            fromBase(context);
            if (outcome.kind === 'next') await this.#recordAnswer(transaction, context, now_ms);
          },
        }),
      ],
      load: async (run_id, _input, database) => {
        const attempt = await findAttemptById(database, run_id);
        if (attempt === undefined) return undefined;
        const intent = await findIntentById(database, attempt.intent_id);
        assert(intent !== undefined, 'an attempt names a missing intent');
        return { attempt, intent };
      },
    });
  }

  /**
   * Drives an attempt's run, then the follow-ups its answer records, as far as each can go. Returns
   * the context as the last drive left it (its intent is the one the last record wrote) and where
   * the last run stands. A failure to reach the database is logged and left to the lease
   * (`unreachable`): recovery takes the run over when the lease ends.
   */
  async drive(lease: Lease, context: AttemptContext): Promise<DrivenAttempt> {
    keepBase(context);
    let current = context;
    let current_lease = lease;
    for (let round = 0; round < attempts_per_drive_max; round += 1) {
      let outcome: DriveOutcome;
      try {
        outcome = await this.#runner.drive(current_lease, current);
      } catch (error) {
        if (isAssertionError(error)) throw error;
        logFailure(this.#context.log, 'a payment step; recovery will take it over when its lease ends', error, { attempt: current.attempt.id, operation: current.attempt.operation });
        // Nothing of the failed commit happened: answer what was there before it.
        fromBase(current);
        return { context: current, status: 'unreachable' };
      }
      const finished = outcome.status === 'succeeded' || outcome.status === 'failed' || outcome.status === 'compensated';
      const recorded = checkpoints_after_record[current.attempt.operation];
      if (finished && recorded !== undefined) this.#context.checkpoint(recorded);
      const follow_up = current.follow_up;
      if (follow_up === undefined) return { context: current, status: outcome.status };
      const checkpoint = checkpoints_after_follow_up[follow_up.attempt.operation];
      if (checkpoint !== undefined) this.#context.checkpoint(checkpoint);
      current = { attempt: follow_up.attempt, intent: current.intent, ...(current.refund === undefined ? {} : { refund: current.refund }) };
      keepBase(current);
      current_lease = follow_up.lease;
    }
    this.#context.log('error', 'a payment saga went through more attempts in one drive than it ever should', { attempt: context.attempt.id });
    return { context: current, status: 'running' };
  }

  /** Leases up to `limit` attempts whose lease, retry or poll time has come. */
  async leaseDue(limit: number): Promise<Lease[]> {
    return this.#runner.leaseDue(limit);
  }

  /** Drives a leased run whose state this process does not hold (recovery): it is read first. */
  async resume(lease: Lease): Promise<DrivenAttempt | undefined> {
    const attempt = await findAttemptById(this.#context.database, lease.run.id);
    if (attempt === undefined) {
      // The runner cancels a run whose attempt is gone.
      await this.#runner.drive(lease);
      return undefined;
    }
    const intent = await findIntentById(this.#context.database, attempt.intent_id);
    assert(intent !== undefined, 'an attempt names a missing intent');
    return this.drive(lease, { attempt, intent });
  }

  /**
   * Takes an unsettled attempt's run over at once, whatever its lease: news (a verified notification,
   * money that arrived) is the provider's final word, and a call still in flight may only record
   * something older. In the caller's transaction when given one.
   */
  async takeOver(attempt_id: string, reason: string, transaction?: Database): Promise<Lease | undefined> {
    return this.#runner.takeOver(attempt_id, { at_steps: ['set_aside', 'call'], reason, ...(transaction === undefined ? {} : { transaction }) });
  }

  // The steps.

  /** set_aside: a card refund sets the merchant's money aside before the provider is asked to return it. */
  async #setAside(context: AttemptContext): Promise<StepResult<null>> {
    const { attempt, intent } = context;
    if (attempt.operation !== 'refund' || !this.#isCardLike(intent.payment_method_type)) return next(null);
    const books = booksOf(intent);
    const refused = await this.#refusalEnds(context, async () => {
      await this.#sendChain(books, [refundHold(books, attempt.id, attempt.amount)]);
    });
    if (refused.kind === 'fail') return refused;
    this.#context.checkpoint('after_refund_hold');
    const reference: HoldReference = { attempt_id: attempt.id, currency: intent.currency, livemode: intent.livemode };
    return next(null, reference);
  }

  /** set_aside's compensation: a refund the provider refused gives the money back to the merchant. */
  async #releaseSetAside(input: unknown): Promise<void> {
    if (input === null) return;
    assert(isHoldReference(input), 'set_aside hands its compensation a hold reference');
    const event = voidHold(input, input.attempt_id, TransferCode.payment_refund);
    const [answer] = await this.#context.ledger.createTransfers([event]);
    assert(answer !== undefined, 'the ledger answers each event once');
    // Voided already (a crash after the void) and never placed are both nothing left to undo.
    if (isAccepted(answer.result, ['pending_transfer_already_voided', 'pending_transfer_not_found'])) return;
    const meaning = paymentRefusalMeaning(answer.result);
    this.#context.log('error', 'the ledger refused to release a refund hold; it needs a person', { attempt: input.attempt_id, result: answer.result, meaning });
    throw new LedgerRefusal(`The ledger refused to release the hold of ${input.attempt_id} (${answer.result})`, meaning === 'accepted' ? 'chart_broken' : meaning, answer.result);
  }

  /**
   * Runs a step's ledger work. A refusal no resend changes (LedgerRefusal) ends the forward path:
   * kept on the context for the step's record, it fails the step, and the runner compensates. An
   * unreachable ledger throws on, and the step is retried.
   */
  async #refusalEnds(context: AttemptContext, work: () => Promise<void>): Promise<StepResult<null>> {
    try {
      await work();
    } catch (error) {
      if (!(error instanceof LedgerRefusal)) throw error;
      context.refusal = error;
      return fail(`ledger_refused:${error.result}`);
    }
    return next(null);
  }

  /**
   * What undoing a call that went through would take, should the ledger then refuse to book it: an
   * authorization is voided (refunded when the provider captured at once), a capture refunded.
   * Nothing for the rest: a void, a refund and the wallet's own movements (top-ups, reversals,
   * restorations) cannot be taken back at their party, and a bank transfer's money arrived at a
   * bank; a refusal after them is logged for a person (`#moveMoney`).
   */
  #undoOf(attempt: AttemptRecord, intent: IntentRecord, answer: CallOutcome): ProviderUndo | null {
    const method = attempt.payment_method?.type ?? intent.payment_method_type;
    if (method === null || method === 'bank_transfer') return null;
    const base = { attempt_id: attempt.id, merchant_id: intent.merchant_id, livemode: intent.livemode, method, hold: null };
    if (attempt.operation === 'authorize' && answer.kind === 'authorized') {
      const captured = answer.amount_captured;
      if (method === 'wallet') return captured === null ? null : { ...base, action: 'refund', provider_reference: answer.provider_reference, amount: captured };
      return captured === null
        ? { ...base, action: 'void', provider_reference: answer.provider_reference, amount: attempt.amount }
        : { ...base, action: 'refund', provider_reference: answer.provider_reference, amount: captured };
    }
    if (attempt.operation === 'capture' && answer.kind === 'succeeded' && method !== 'wallet' && intent.provider_reference !== null) {
      const hold = intent.authorization_attempt_id === null ? null : { attempt_id: intent.authorization_attempt_id, currency: intent.currency };
      return { ...base, action: 'refund', provider_reference: intent.provider_reference, amount: attempt.amount, hold };
    }
    return null;
  }

  /** call's compensation: the ledger refused to book what the provider did, so the provider gives it back. */
  async #undoCall(input: unknown): Promise<void> {
    if (input === null) return;
    assert(isProviderUndo(input), 'call hands its compensation what undoing it takes');
    if (input.hold !== null) {
      // A capture the ledger refused leaves its authorization's hold pending: release it, as a
      // cancel would (the same void id, so either meets `exists`).
      const [answer] = await this.#context.ledger.createTransfers([voidHold({ currency: input.hold.currency, livemode: input.livemode }, input.hold.attempt_id, TransferCode.payment_authorization)]);
      assert(answer !== undefined, 'the ledger answers each event once');
      if (!isAccepted(answer.result, ['pending_transfer_already_voided', 'pending_transfer_not_found', 'pending_transfer_expired'])) {
        this.#context.log('error', 'the ledger refused to release the hold of a capture it refused; it needs a person', { attempt: input.attempt_id, hold: input.hold.attempt_id, result: answer.result });
      }
    }
    await this.#calls.undo(input);
    this.#context.checkpoint('after_provider_undo');
  }

  /**
   * The record of a step the ledger refused for good: the attempt fails with the refusal's code, and
   * so does what it was for. An authorization's intent asks for a payment method again, as after a
   * decline (nothing stays taken: `call`'s compensation gives it back); a capture's intent is
   * canceled, its authorization refunded and its hold released; a refund fails, having moved
   * nothing. Each with its event. Tries spent on an unreachable ledger (a run of years) leave the
   * attempt to a person, as before.
   */
  async #recordRefusal(tx: Database, outcome: StepOutcome<null>, context: AttemptContext, now_ms: number): Promise<void> {
    if (outcome.kind !== 'fail') return;
    fromBase(context);
    const refusal = context.refusal;
    // Tries spent on a ledger that never answered (a run of years) end the same way, since the
    // compensations give the money back all the same.
    const code = refusal === undefined ? 'ledger_unavailable' : refusal.failure_code;
    const message =
      refusal === undefined
        ? `The ledger could not be reached to book the payment (${outcome.reason}); nothing was kept`
        : code === 'amount_too_large'
          ? `The payment would take a balance in the books past the ledger's limit (${refusal.result}); nothing was kept`
          : `The ledger refused the payment's transfers (${refusal.result}: ${refusal.meaning}); nothing was kept`;
    const reason = refusal === undefined ? 'ledger_unavailable' : `ledger_refused:${refusal.result}`;
    const attempt = context.attempt;
    const answer = context.answer;
    const provider_reference = answer?.kind === 'authorized' ? answer.provider_reference : answer?.kind === 'succeeded' ? (answer.provider_reference ?? attempt.provider_reference) : attempt.provider_reference;
    await this.#settleAttempt(tx, context, { ...attempt, status: 'failed', waiting: false, applied: true, provider_reference, error: { code, message } }, reason, now_ms);
    const intent = await findIntentById(tx, attempt.intent_id, true);
    assert(intent !== undefined, 'an attempt names a missing intent');
    context.intent = intent;
    const last_payment_error = { code, message };
    switch (attempt.operation) {
      case 'authorize':
        if (attempt.payment_method?.type === 'bank_transfer') {
          // Money that arrived at the bank has no provider to give it back through (decision 69).
          this.#context.log('error', 'money arrived by bank transfer for a payment the ledger refused; a person must send it back', { attempt: attempt.id, payment_intent: intent.id, code });
        }
        if (intent.authorization_attempt_id !== attempt.id || (intent.status !== 'processing' && intent.status !== 'requires_action')) return;
        context.intent = await writeIntent(this.#context, tx, intent, { status: 'requires_payment_method', reason, fields: { next_action: null, last_payment_error } }, now_ms);
        return;
      case 'capture':
        if (intent.status !== 'processing') return;
        context.intent = await writeIntent(
          this.#context,
          tx,
          intent,
          { status: 'canceled', reason, fields: { cancellation_reason: 'automatic', amount_capturable: 0n, capture_before_ms: null, next_action: null, last_payment_error } },
          now_ms,
        );
        return;
      case 'refund':
        assert(attempt.refund_id !== null, 'a refund attempt names its refund');
        await this.#finishRefund(tx, context, intent, attempt.refund_id, code, now_ms);
        return;
      case 'void':
      case 'top_up':
      case 'top_up_reversal':
      case 'top_up_restoration':
        return;
    }
  }

  /** call: the provider's answer, from the call itself, from news, or already on the attempt. */
  async #call(step: StepContext<null, AttemptContext>): Promise<StepResult<CallOutcome>> {
    const context = step.context;
    keepBase(context);
    const { attempt, intent } = context;
    let answer = recordedAnswer(attempt) ?? context.notified;
    if (answer === undefined) {
      // A bank transfer waits for its money; only its arrival (a takeover with the answer) moves it.
      if (attempt.payment_method?.type === 'bank_transfer') return wait('awaiting_bank_transfer', null);
      // A payment waiting for its customer is only polled by recovery.
      if (attempt.waiting && !step.resumed) return wait('awaiting_customer', step.now_ms + this.#pollDelay(Math.max(1, step.tries)));
      answer = await this.#calls.call(attempt, intent, step.resumed ? 'recover' : 'first');
      this.#context.checkpoint(checkpoints_after_call[attempt.operation]);
    }
    context.answer = answer;
    const now_ms = this.#context.clock.now();
    switch (answer.kind) {
      case 'unknown':
        // A payment waiting for its customer stays waiting when a poll gets no answer.
        return attempt.waiting ? wait(`no_answer:${answer.reason}`, now_ms + this.#pollDelay(Math.max(1, step.tries))) : retry(answer.reason);
      case 'still_waiting':
        return wait('still_waiting', now_ms + this.#pollDelay(Math.max(1, step.tries)));
      case 'waiting':
        assert(attempt.operation === 'authorize', 'only an authorization waits for the customer');
        return wait(`waiting:${answer.intent_status}`, now_ms + this.#context.settings.action_poll_interval_ms);
      case 'authorized':
        assert(attempt.operation === 'authorize', 'only an authorization is authorized');
        return next(answer, this.#undoOf(attempt, intent, answer));
      case 'succeeded':
        assert(attempt.operation !== 'authorize', 'an authorization answers authorized, not succeeded');
        return next(answer, this.#undoOf(attempt, intent, answer));
      case 'failed':
        // A refused void still has its hold to release in the ledger; every other refusal ends the
        // forward path, and what the call set aside is given back.
        return attempt.operation === 'void' ? next(answer) : fail(`declined:${answer.code}`);
    }
  }

  /** call's writes for an answer that stops the drive: unknown, waiting, or a refusal. */
  async #recordCall(tx: Database, outcome: StepOutcome<CallOutcome>, context: AttemptContext, now_ms: number): Promise<void> {
    fromBase(context);
    const answer = context.answer;
    switch (outcome.kind) {
      case 'retry':
        // No answer: the attempt is unknown until the provider is asked again.
        if (answer?.kind === 'unknown') await this.#settleAttempt(tx, context, { ...context.attempt, status: 'unknown' }, 'unknown', now_ms);
        return;
      case 'wait':
        if (answer?.kind !== 'waiting') return;
        await this.#settleAttempt(tx, context, { ...context.attempt, status: 'pending', waiting: true, provider_reference: answer.provider_reference }, 'waiting', now_ms);
        await this.#intentWaits(tx, context, answer, now_ms);
        return;
      case 'fail':
        if (answer?.kind === 'failed') {
          await this.#recordAnswer(tx, context, now_ms);
          return;
        }
        // Tries spent without an answer (a run of years): what the provider did is unknown.
        this.#context.log('error', 'a payment attempt ran out of tries without an answer; it needs a person', { attempt: context.attempt.id, reason: outcome.reason });
        return;
      case 'next':
      case 'stop':
        return;
    }
  }

  /** move_money: the answer's ledger transfers, as one linked chain, each id derived from the attempt or intent. */
  async #moveMoney(context: AttemptContext): Promise<void> {
    const { attempt, intent } = context;
    const answer = context.answer;
    assert(answer !== undefined, 'move_money follows the call');
    const books = booksOf(intent);
    switch (attempt.operation) {
      case 'authorize': {
        assert(answer.kind === 'authorized', 'only an authorization that went through moves money');
        const method = attempt.payment_method?.type;
        const captured = answer.amount_captured;
        const chain: TransferEvent[] = [];
        if (method === 'bank_transfer') {
          assert(captured !== null, 'a bank transfer arrives with its amount');
          chain.push(bankTransferReceipt(books, attempt.id, captured));
        } else if (method !== 'wallet') {
          chain.push(authorizationHold(books, attempt.id, attempt.amount));
          if (captured !== null) chain.push(postHold(books, attempt.id, captured, TransferCode.payment_authorization));
        }
        if (captured !== null) chain.push(...this.#fee(books, intent, captured));
        await this.#sendChain(books, chain);
        if (method !== 'bank_transfer' && method !== 'wallet') {
          this.#context.checkpoint('after_ledger_hold');
          if (captured !== null) this.#context.checkpoint('after_ledger_post');
        }
        return;
      }
      case 'capture': {
        assert(answer.kind === 'succeeded' && intent.authorization_attempt_id !== null, 'only a capture that went through moves money');
        await this.#sendChain(books, [postHold(books, intent.authorization_attempt_id, attempt.amount, TransferCode.payment_authorization), ...this.#fee(books, intent, attempt.amount)]);
        this.#context.checkpoint('after_capture_posted');
        return;
      }
      case 'void': {
        // Only an authorization that went through at a card-like provider has a hold; a canceled
        // payment that was still waiting never placed one, and the ledger says so (not found).
        if (!this.#isCardLike(intent.payment_method_type) || intent.authorization_attempt_id === null) return;
        const authorization_attempt_id = intent.authorization_attempt_id;
        await this.#afterTheFact(attempt, async () => {
          const results = await this.#sendChain(books, [voidHold(books, authorization_attempt_id, TransferCode.payment_authorization)], [
            'pending_transfer_already_voided',
            'pending_transfer_not_found',
            'pending_transfer_already_posted',
          ]);
          if (results.includes('pending_transfer_already_posted')) {
            this.#context.log('error', 'a payment being voided is captured in the books; it needs a person', { attempt: attempt.id, payment_intent: intent.id });
          }
        });
        return;
      }
      case 'refund':
        assert(answer.kind === 'succeeded', 'only a refund that went through moves money');
        if (this.#isCardLike(intent.payment_method_type)) await this.#afterTheFact(attempt, () => this.#sendChain(books, [postHold(books, attempt.id, attempt.amount, TransferCode.payment_refund)]));
        return;
      case 'top_up':
      case 'top_up_reversal':
      case 'top_up_restoration':
        // The wallet service moved the money itself, in its own ledger chain.
        return;
    }
  }

  /**
   * Books what a provider has done and cannot be asked to undo (a void, a refund). Releasing or
   * posting an existing hold never passes a total (the hold counted already), so only a broken
   * chart refuses one: the provider's answer stands and is recorded, and the hold is left for a
   * person, who is told. An unreachable ledger throws on, and the step is retried.
   */
  async #afterTheFact(attempt: AttemptRecord, work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (error) {
      if (!(error instanceof LedgerRefusal)) throw error;
      this.#context.log('error', 'the ledger refused to book what the provider did; the answer is recorded and the hold needs a person', { attempt: attempt.id, operation: attempt.operation, result: error.result });
    }
  }

  // Recording answers.

  /**
   * A settled answer and everything it means, in one commit: the attempt (applied), the intent's or
   * refund's new status with its events, and the follow-up attempt the answer calls for.
   */
  async #recordAnswer(tx: Database, context: AttemptContext, now_ms: number): Promise<void> {
    const answer = context.answer;
    assert(answer !== undefined && (answer.kind === 'authorized' || answer.kind === 'succeeded' || answer.kind === 'failed'), 'a recorded answer is settled');
    const attempt = context.attempt;
    const settled: AttemptRecord = {
      ...attempt,
      status: answer.kind === 'failed' ? 'failed' : 'succeeded',
      waiting: false,
      applied: true,
      error: answer.kind === 'failed' ? { code: answer.code, message: answer.message } : null,
      ...(answer.kind === 'authorized' ? { provider_reference: answer.provider_reference, amount_captured: answer.amount_captured } : {}),
      ...(answer.kind === 'succeeded' && answer.provider_reference !== undefined ? { provider_reference: answer.provider_reference } : {}),
    };
    await this.#settleAttempt(tx, context, settled, answer.kind, now_ms);
    const intent = await findIntentById(tx, attempt.intent_id, true);
    assert(intent !== undefined, 'an attempt names a missing intent');
    context.intent = intent;
    switch (settled.operation) {
      case 'authorize':
        return this.#recordAuthorization(tx, context, settled, answer, now_ms);
      case 'capture': {
        if (answer.kind === 'failed') {
          if (intent.status !== 'processing') return;
          // The authorization stands: the merchant may capture again, or cancel; expiry voids it.
          context.intent = await writeIntent(
            this.#context,
            tx,
            intent,
            { status: 'requires_capture', reason: `capture_failed:${answer.code}`, event: 'payment_intent.payment_failed', fields: { last_payment_error: { code: answer.code, message: answer.message } } },
            now_ms,
          );
          return;
        }
        const succeeded = await writeIntent(
          this.#context,
          tx,
          intent,
          { status: 'succeeded', reason: 'captured', fields: { amount_received: settled.amount, amount_capturable: 0n, capture_before_ms: null } },
          now_ms,
        );
        context.intent = succeeded;
        await this.#recordTopUp(tx, context, succeeded, settled.amount, now_ms);
        return;
      }
      case 'void':
        if (answer.kind === 'failed') this.#context.log('warn', 'the provider refused a void; the ledger hold is released all the same', { attempt: settled.id, error: settled.error });
        return;
      case 'refund': {
        assert(settled.refund_id !== null, 'a refund attempt names its refund');
        if (answer.kind === 'failed') {
          const reversal = await findAttemptOfRefund(tx, intent.id, settled.refund_id, 'top_up_reversal');
          if (reversal?.status === 'succeeded') {
            // The wallet gave the money to the merchant's balance for this refund, and the card
            // refused it: the compensation puts it back into the wallet, as its own attempt, recorded
            // here so that a crash leaves it to recovery. The refund stays pending until the wallet
            // is whole again, so that no other refund counts the same money meanwhile.
            const restoration = newAttempt(intent, 'top_up_restoration', settled.amount, now_ms, { provider_reference: null, refund_id: settled.refund_id });
            context.follow_up = { attempt: restoration, lease: await recordNewAttempt(this.#context, tx, restoration, `card_refund_failed:${answer.code}`, now_ms) };
            return;
          }
          await this.#finishRefund(tx, context, intent, settled.refund_id, answer.code, now_ms);
          return;
        }
        await this.#finishRefund(tx, context, intent, settled.refund_id, null, now_ms);
        return;
      }
      case 'top_up':
        if (answer.kind === 'failed') {
          // The merchant's balance holds the customer's captured money and the wallet does not have
          // it: only a bug or a broken chart gets here, so a person must look.
          this.#context.log('error', 'a captured top-up payment could not be moved into its wallet; it needs a person', { attempt: settled.id, payment_intent: intent.id, error: settled.error });
          return;
        }
        context.intent = await writeIntent(this.#context, tx, intent, { reason: 'topped_up', fields: { top_up_id: settled.provider_reference } }, now_ms);
        return;
      case 'top_up_reversal': {
        assert(settled.refund_id !== null, 'a reversal attempt names its refund');
        if (answer.kind === 'failed') {
          // The wallet refused (the customer spent the money): nothing moved, and the refund fails.
          await this.#finishRefund(tx, context, intent, settled.refund_id, answer.code, now_ms);
          return;
        }
        // The money is back in the merchant's balance: now the card is refunded.
        const refund = newAttempt(intent, 'refund', settled.amount, now_ms, { provider_reference: intent.provider_reference, refund_id: settled.refund_id });
        context.follow_up = { attempt: refund, lease: await recordNewAttempt(this.#context, tx, refund, 'created', now_ms) };
        return;
      }
      case 'top_up_restoration': {
        assert(settled.refund_id !== null, 'a restoration attempt names its refund');
        if (answer.kind === 'failed') {
          // The wallet refused to take back money it gave the merchant a moment ago: only a bug or
          // a broken chart gets here. The money sits in the merchant's balance; a person must look.
          this.#context.log('error', 'a failed card refund could not be undone in its wallet; it needs a person', { attempt: settled.id, payment_intent: intent.id, error: settled.error });
        }
        // The refund failed for the reason the card gave, whatever became of the restoration.
        const card_refund = await findAttemptOfRefund(tx, intent.id, settled.refund_id, 'refund');
        assert(card_refund?.status === 'failed', 'a restoration follows a failed card refund');
        await this.#finishRefund(tx, context, intent, settled.refund_id, card_refund.error?.code ?? 'unknown', now_ms);
        return;
      }
    }
  }

  /** An authorization's answer on its intent: paid, waiting for a capture, or declined. */
  async #recordAuthorization(tx: Database, context: AttemptContext, attempt: AttemptRecord, answer: CallOutcome, now_ms: number): Promise<void> {
    const intent = context.intent;
    // Only the intent's current authorization may move it (an older one was canceled or failed).
    if (intent.authorization_attempt_id !== attempt.id || (intent.status !== 'processing' && intent.status !== 'requires_action')) {
      if (answer.kind === 'authorized') this.#context.log('error', 'the provider took a payment for an attempt its intent no longer waits for; it needs a person', { attempt: attempt.id, status: intent.status });
      return;
    }
    if (answer.kind === 'failed') {
      context.intent = await writeIntent(
        this.#context,
        tx,
        intent,
        { status: 'requires_payment_method', reason: `declined:${answer.code}`, fields: { next_action: null, last_payment_error: { code: answer.code, message: answer.message } } },
        now_ms,
      );
      return;
    }
    assert(answer.kind === 'authorized', 'an authorization is authorized or declined');
    const provider_fields = { next_action: null, provider_reference: answer.provider_reference };
    // A customer back from a challenge: the intent is processing again before it moves on, as its
    // history and events show.
    const processing =
      intent.status === 'requires_action' ? await writeIntent(this.#context, tx, intent, { status: 'processing', reason: 'authorized', fields: provider_fields }, now_ms) : { ...intent, ...provider_fields };
    const captured = answer.amount_captured;
    if (captured !== null) {
      const succeeded = await writeIntent(
        this.#context,
        tx,
        processing,
        { status: 'succeeded', reason: 'captured', fields: { amount_received: captured, amount_capturable: 0n, capture_before_ms: null, next_action: null } },
        now_ms,
      );
      context.intent = succeeded;
      await this.#recordTopUp(tx, context, succeeded, captured, now_ms);
      return;
    }
    if (processing.capture_method === 'manual') {
      context.intent = await writeIntent(
        this.#context,
        tx,
        processing,
        { status: 'requires_capture', reason: 'authorized', fields: { amount_capturable: processing.amount, capture_before_ms: now_ms + this.#context.settings.capture_window_ms, next_action: null } },
        now_ms,
      );
      return;
    }
    // Automatic capture that the provider did not take at once: capture it now.
    context.intent = intent.status === 'requires_action' ? processing : await writeIntent(this.#context, tx, intent, { reason: 'authorized', fields: provider_fields }, now_ms);
    const capture = newAttempt(context.intent, 'capture', context.intent.amount, now_ms, { provider_reference: answer.provider_reference });
    context.follow_up = { attempt: capture, lease: await recordNewAttempt(this.#context, tx, capture, 'created', now_ms) };
  }

  /** A payment that waits for its customer (or a notification): the intent shows what they must do. */
  async #intentWaits(tx: Database, context: AttemptContext, answer: Extract<CallOutcome, { kind: 'waiting' }>, now_ms: number): Promise<void> {
    const intent = await findIntentById(tx, context.attempt.intent_id, true);
    assert(intent !== undefined, 'an attempt names a missing intent');
    context.intent = intent;
    if (intent.authorization_attempt_id !== context.attempt.id || (intent.status !== 'processing' && intent.status !== 'requires_action')) return;
    context.intent = await writeIntent(
      this.#context,
      tx,
      intent,
      {
        ...(answer.intent_status === intent.status ? { event: undefined } : { status: answer.intent_status }),
        reason: 'provider_waiting',
        fields: { next_action: answer.next_action, provider_reference: answer.provider_reference },
      },
      now_ms,
    );
  }

  /** Writes the attempt's new state and its status history, and keeps the context current. */
  async #settleAttempt(tx: Database, context: AttemptContext, next_attempt: AttemptRecord, reason: string, now_ms: number): Promise<void> {
    const current = context.attempt;
    await updateAttempt(tx, next_attempt);
    if (next_attempt.status !== current.status) {
      assert(transition(attempt_transitions, current.status, next_attempt.status) === 'ok', `attempt ${current.status} → ${next_attempt.status}`);
      await recordAttemptStatus(tx, current, current.status, next_attempt.status, reason, now_ms);
    }
    context.attempt = next_attempt;
  }

  /**
   * A captured top-up intent's next step: the attempt that moves the money into its wallet, in the
   * transaction that records the capture, so that a crash after it leaves the top-up to recovery.
   */
  async #recordTopUp(tx: Database, context: AttemptContext, intent: IntentRecord, captured: bigint, now_ms: number): Promise<void> {
    if (intent.top_up_wallet_id === null) return;
    const top_up = newAttempt(intent, 'top_up', captured, now_ms, { provider_reference: null });
    context.follow_up = { attempt: top_up, lease: await recordNewAttempt(this.#context, tx, top_up, 'created', now_ms) };
  }

  /**
   * Ends a refund with its events: succeeded when `failure_reason` is null, failed for that reason
   * otherwise (the card's, or a refused reversal's).
   */
  async #finishRefund(tx: Database, context: AttemptContext, intent: IntentRecord, refund_id: string, failure_reason: string | null, now_ms: number): Promise<void> {
    const refund = await findRefundById(tx, refund_id, true);
    assert(refund !== undefined && refund.status === 'pending', 'a refund being finished is pending');
    const succeeded = failure_reason === null;
    const status = succeeded ? 'succeeded' : 'failed';
    assert(transition(refund_transitions, refund.status, status) === 'ok');
    const finished: RefundRecord = { ...refund, status, failure_reason, version: refund.version + 1 };
    await updateRefund(tx, finished);
    await insertStatusChange(tx, {
      object_type: 'refund',
      object_id: refund.id,
      from_status: 'pending',
      to_status: status,
      reason: succeeded ? 'provider_succeeded' : `provider_failed:${finished.failure_reason ?? ''}`,
      created_ms: now_ms,
    });
    await emit(tx, finished, succeeded ? 'refund.succeeded' : 'refund.failed', refundToWire(finished), finished.version, now_ms);
    context.refund = finished;
    if (succeeded) context.intent = await writeIntent(this.#context, tx, intent, { reason: `refunded:${refund.id}`, fields: { amount_refunded: intent.amount_refunded + refund.amount } }, now_ms);
  }

  // The ledger.

  /** The platform's fee on a captured amount, once per intent (its id is derived from the intent). */
  #fee(books: Books, intent: IntentRecord, captured: bigint): TransferEvent[] {
    const fee = feeFor(captured, this.#context.fees);
    return fee > 0n ? [feeTransfer(books, intent.id, fee)] : [];
  }

  /**
   * Sends transfers as one linked chain: one ledger commit, all or nothing. A chain sent again (after
   * a crash, or by a holder that took the attempt over) is refused whole, its first transfer being
   * there already; so is a chain an older version of this service sent one transfer at a time and
   * left halfway. The ledger's own record then says which transfers it holds: those must be the
   * ones this chain would make (their ids are derived from the attempt, so anything else is a bug),
   * and only the rest is sent. Returns the ledger's answer for each transfer.
   */
  async #sendChain(books: Books, events: readonly TransferEvent[], also_accepted: readonly CreateTransferResult[] = []): Promise<CreateTransferResult[]> {
    if (events.length === 0) return [];
    const chain = events.map((event, index) => (index < events.length - 1 ? { ...event, flags: event.flags | TransferFlags.linked } : event));
    const results = await this.#createTransfers(books, chain);
    if (results.every((result) => result === 'ok')) return results;
    const stored = new Map((await this.#context.ledger.lookupTransfers(events.map((event) => event.id))).map((found) => [found.transfer.id, found.transfer]));
    if (stored.size === 0) {
      // None of it is in the ledger: the refusal is the chain's own.
      const refusal = results.find((result) => result !== 'ok' && result !== 'linked_event_failed') ?? 'linked_event_failed';
      if (events.length === 1 && also_accepted.includes(refusal)) return results;
      // An answer that means "there already" with nothing stored under the chain's ids is the chart's fault.
      const meaning = ((answer) => (answer === 'accepted' ? 'chart_broken' : answer))(paymentRefusalMeaning(refusal));
      this.#context.log('error', 'the ledger refused a payment transfer', { transfers: events.map((event) => event.id.toString()), codes: events.map((event) => event.code), result: refusal, meaning });
      throw new LedgerRefusal(`The ledger refused transfers ${events.map((event) => event.id).join(', ')} (${refusal}: ${meaning})`, meaning, refusal);
    }
    for (const event of events) {
      const transfer = stored.get(event.id);
      if (transfer === undefined) continue;
      const same =
        transfer.code === event.code &&
        transfer.pending_id === event.pending_id &&
        (event.amount === 0n || transfer.amount === event.amount) &&
        (transfer.flags & ~TransferFlags.linked) === (event.flags & ~TransferFlags.linked);
      if (!same) {
        this.#context.log('error', 'the ledger holds another transfer under a payment transfer id', { transfer: event.id.toString(), code: event.code });
        throw new LedgerRefusal(`The ledger holds another transfer under ${event.id}`, 'chart_broken', 'exists_with_different_fields');
      }
    }
    const missing = events.filter((event) => !stored.has(event.id));
    const sent = await this.#sendChain(books, missing, also_accepted);
    return events.map((event) => (stored.has(event.id) ? 'exists' : (sent[missing.indexOf(event)] ?? 'ok')));
  }

  /** Sends transfers, creating the payment accounts on first use (creating one that exists answers `exists`). */
  async #createTransfers(books: Books, events: readonly TransferEvent[]): Promise<CreateTransferResult[]> {
    const send = async () => {
      const answers = await this.#context.ledger.createTransfers([...events]);
      assert(answers.length === events.length && answers.every((answer, index) => answer.index === index), 'the ledger answers each event once, in order');
      return answers.map((answer) => answer.result);
    };
    const results = await send();
    if (!results.some((result) => result === 'debit_account_not_found' || result === 'credit_account_not_found')) return results;
    const accounts = await this.#context.ledger.createAccounts(accountEventsOf(books));
    for (const answer of accounts) {
      if (answer.result !== 'ok' && answer.result !== 'exists') this.#context.log('error', 'the ledger refused an account payments need', { account: answer.id.toString(), result: answer.result });
    }
    return send();
  }

  #isCardLike(method: PaymentMethodType | null): boolean {
    return method !== null && card_like_methods.includes(method);
  }

  /** The wait before poll number `count` of a payment waiting for its customer: doubling, up to the maximum. */
  #pollDelay(count: number): number {
    return doubling(this.#context.settings.action_poll_interval_ms, count, this.#context.settings.retry_delay_max_ms);
  }
}
