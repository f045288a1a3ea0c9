// The wallet's recorded operations as sagas declared on the kernel's runner (decision 72). A
// recorded operation (a withdrawal, a top-up paid by a payment intent, a refund, a top-up reversal
// or restoration) is written before the ledger is called, because it carries what the ledger cannot
// (a bank account, another service's id) or was checked against other operations under a row lock.
// Its run has the operation's id, and the operation's row is its context: the run holds only where
// the work stands (step, fence, lease, tries), the row holds what the work is.
//
// wallet_movement: every recorded operation but a withdrawal, and a projected movement whose send
// found the ledger unreachable (its row is written then, so that recovery finishes it).
//
// | step | action, outside any transaction                        | records (in the runner's commit)              |
// |------|--------------------------------------------------------|-----------------------------------------------|
// | move | send the operation's chain (its id derived: a resend   | the ledger's answer: succeeded, and its event; |
// |      | meets `exists`); unreachable: retry                    | or failed with its failure_code                |
//
// wallet_withdrawal:
//
// | step       | action                                                         | checkpoint | records                        |
// |------------|----------------------------------------------------------------|------------|--------------------------------|
// | hold       | send the chain that places the hold                            | yes        | the answer (hold placed, or failed) |
// | submit     | hand the withdrawal to the bank (idempotent by its id)         | no         |                                |
// | await_bank | the holder that placed the hold waits for the bank's word; a   | wait: yes  |                                |
// |            | holder after a wait submits again and asks; an answer is       |            |                                |
// |            | recorded as the settlement decision before it goes on          |            |                                |
// | settle     | post or void the hold as decided                               | the end    | succeeded or failed, and its event |
//
// The hold is a checkpoint because the bank may answer as soon as it is submitted: the decision
// (service.ts `#decideSettlement`) needs the hold recorded to accept it. A bank's notification,
// or a test completing a withdrawal, records the decision and takes the run over at `submit`,
// `await_bank` or `settle`, fencing out a holder that was waiting, and drives it to the end.
//
// Nothing here gives up by itself: a ledger or bank that does not answer is retried with doubling
// delays for as long as saga_tries_max allows, and each failed try is logged. A settlement the
// ledger refuses means the books and the table disagree; it is retried and logged for a person.
import {
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
  type RetryPolicy,
  type SagaDefinition,
  type StepOutcome,
} from '@paygrid/kernel';
import type { LedgerClient } from '@paygrid/ledger';
import { LedgerLayout, settlementTransferEvent, usageVoidEvent, type RefusalReasonName } from './chart';
import type { ChainOutcome, Movements } from './movement';
import { findOperationById, finishOperation, insertStep, recordLedgerAnswer, type OperationRecord } from './store';
import { operation_transitions, transition } from './transitions';
import type { BankPort, BankWithdrawalRequest, OperationStatus, SettlementOutcome } from './types';

export const movement_saga_name = 'wallet_movement';
export const withdrawal_saga_name = 'wallet_withdrawal';

/** Steps of the withdrawal saga that a settlement decision may take the run over at. */
export const settlement_takeover_steps: readonly string[] = ['submit', 'await_bank', 'settle'];

/** The longest wait between tries of a step: a ledger or bank that stays away is asked every ten minutes. */
export const wallet_step_delay_max_ms = 600_000;

export type WalletSagaLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/** Why an operation failed, as its row records it (service.ts FailureCode). */
export type RecordedFailureCode = RefusalReasonName | 'idempotency_key_reused' | 'ledger_refused';

/** A run's context: the operation's row, and what this holder has learned and recorded of it. */
export interface OperationRun {
  /** The row as the run found or decided it (a withdrawal's settlement decision lands here). */
  operation: OperationRecord;
  /** The row as this holder last recorded it: what a request that drove the run answers with. */
  latest: OperationRecord;
  /** The ledger's answer to the operation's chain, set by `move` or `hold` for its record. */
  answer: { readonly ledger_result: string; readonly failure_code: RecordedFailureCode | null } | undefined;
}

/** What the wallet service lends its sagas. */
export interface WalletSagaServices {
  readonly movements: Movements;
  readonly ledger: LedgerClient;
  readonly bank: BankPort;
  /** Writes an event about an operation into the outbox, in the caller's transaction. */
  readonly announce: (transaction: Database, operation: OperationRecord, now_ms: number) => Promise<void>;
  /**
   * Records the bank's answer as the withdrawal's settlement decision (unless one is recorded
   * already, which then stands) and returns the row as decided. It does not take the run over.
   */
  readonly recordBankAnswer: (withdrawal_id: string, outcome: SettlementOutcome, failure_code: string | undefined) => Promise<OperationRecord>;
  /** The request the bank is given for a withdrawal (its account number unsealed in memory). */
  readonly bankRequest: (operation: OperationRecord) => Promise<BankWithdrawalRequest>;
  readonly log: WalletSagaLog;
  /** The first wait after a ledger or bank did not answer; it doubles from there. */
  readonly retry_delay_ms: number;
  /** How long a withdrawal waits for its bank's word before asking. */
  readonly bank_poll_interval_ms: number;
  /** Each step's timeout; four of them fit in the runner's lease. */
  readonly step_timeout_ms: number;
}

function isAccepted(result: string | null): boolean {
  return result === 'ok' || result === 'exists';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The ledger's answer and the failure code a chain's outcome is recorded with. */
function answerOf(outcome: ChainOutcome): NonNullable<OperationRun['answer']> {
  switch (outcome.kind) {
    case 'applied':
      return { ledger_result: outcome.result, failure_code: null };
    case 'refused':
      return { ledger_result: outcome.result, failure_code: outcome.reason };
    case 'marked':
      return { ledger_result: 'marked', failure_code: outcome.reason };
    case 'conflict':
      return { ledger_result: 'conflict', failure_code: 'idempotency_key_reused' };
    case 'broken':
      return { ledger_result: outcome.result, failure_code: 'ledger_refused' };
  }
}

/** How every wallet step is retried: doubling from the service's retry delay, never given up on by itself. */
function stepRetry(services: WalletSagaServices): RetryPolicy {
  return doublingRetry({ first_delay_ms: services.retry_delay_ms, delay_max_ms: Math.max(services.retry_delay_ms, wallet_step_delay_max_ms), tries_max: 100_000 });
}

/**
 * The step that sends the operation's chain: `move` of a movement, `hold` of a withdrawal. The
 * chain's ids are derived from the operation, so a send after a crash meets `exists`.
 */
function sendStep(name: 'move' | 'hold', services: WalletSagaServices) {
  return defineStep<null, OperationRun, { readonly ledger_result: string }>({
    name,
    action: async ({ context }) => {
      let outcome: ChainOutcome;
      try {
        outcome = await services.movements.send(context.operation);
      } catch (error) {
        if (isAssertionError(error)) throw error;
        services.log('warn', 'failed: sending a wallet operation to the ledger; it is sent again', { operation: context.operation.id, error: messageOf(error) });
        return retry('ledger_unavailable');
      }
      const answer = answerOf(outcome);
      context.answer = answer;
      if (outcome.kind === 'broken') services.log('error', 'the ledger refused a wallet transfer', { operation: context.operation.id, result: outcome.result });
      return answer.failure_code === null ? next({ ledger_result: answer.ledger_result }) : fail(`ledger:${answer.ledger_result}`);
    },
    record: async (transaction, outcome, { context, now_ms }) => {
      if (outcome.kind !== 'next' && outcome.kind !== 'fail') return;
      // A failure that is not the ledger's answer (retries spent, after years) is recorded as the ledger's refusal.
      const answer = context.answer ?? { ledger_result: outcome.kind === 'fail' ? outcome.reason : 'ok', failure_code: outcome.kind === 'fail' ? 'ledger_refused' : null };
      const operation = context.operation;
      // A withdrawal's hold is placed; it stays pending until the bank answers.
      const status: OperationStatus = outcome.kind === 'fail' ? 'failed' : operation.type === 'withdrawal' ? 'pending' : 'succeeded';
      assert(status === 'pending' || transition(operation_transitions, 'pending', status) === 'ok');
      const failure_code = status === 'failed' ? (answer.failure_code ?? 'ledger_refused') : null;
      if (!(await recordLedgerAnswer(transaction, operation.id, { ledger_result: answer.ledger_result, status, failure_code }))) return;
      const reason = status === 'pending' ? `hold_placed:${answer.ledger_result}` : `ledger:${answer.ledger_result}`;
      await insertStep(transaction, { operation_id: operation.id, from_status: 'pending', to_status: status, reason, created_ms: now_ms });
      const recorded: OperationRecord = { ...operation, status, failure_code, ledger_result: answer.ledger_result };
      if (status === 'succeeded') await services.announce(transaction, recorded, now_ms);
      context.latest = recorded;
      context.operation = recorded;
    },
    retry: stepRetry(services),
    timeout_ms: services.step_timeout_ms,
    checkpoint: true,
  });
}

async function loadOperation(run_id: string, database: Database): Promise<OperationRun | undefined> {
  const operation = await findOperationById(database, run_id);
  if (operation === undefined) return undefined;
  return { operation, latest: operation, answer: undefined };
}

/** One step: send the chain, record the answer. */
export function movementSaga(services: WalletSagaServices): SagaDefinition<null, OperationRun> {
  return defineSaga<null, OperationRun>({
    name: movement_saga_name,
    steps: [sendStep('move', services)],
    load: (run_id, _input, database) => loadOperation(run_id, database),
  });
}

/** Hold, submit to the bank, wait for its word, settle; see the file's header. */
export function withdrawalSaga(services: WalletSagaServices): SagaDefinition<null, OperationRun> {
  const policy = stepRetry(services);
  const submit = async (operation: OperationRecord): Promise<string | undefined> => {
    try {
      await services.bank.submit(await services.bankRequest(operation));
      return undefined;
    } catch (error) {
      if (isAssertionError(error)) throw error;
      services.log('warn', 'failed: submitting a withdrawal to the bank; it is submitted again', { withdrawal: operation.id, error: messageOf(error) });
      return 'bank_unavailable';
    }
  };
  return defineSaga<null, OperationRun>({
    name: withdrawal_saga_name,
    steps: [
      sendStep('hold', services),
      defineStep<null, OperationRun, null>({
        name: 'submit',
        action: async ({ context }) => {
          // A withdrawal whose settlement is decided has been answered by its bank already.
          if (context.operation.settlement_outcome !== null) return next(null);
          const failure = await submit(context.operation);
          return failure === undefined ? next(null) : retry(failure);
        },
        retry: policy,
        timeout_ms: services.step_timeout_ms,
        checkpoint: false,
      }),
      defineStep<null, OperationRun, null>({
        name: 'await_bank',
        action: async ({ context, resumed, now_ms }) => {
          const operation = context.operation;
          if (operation.settlement_outcome !== null) return next(null);
          // The holder that just submitted waits for the bank's notification, which takes the run over.
          if (!resumed) return wait('bank_pending', now_ms + services.bank_poll_interval_ms);
          // The first submission may never have arrived (a crash right after it, a bank that
          // forgot it), so submit again before asking: the bank ignores a withdrawal it already has.
          const failure = await submit(operation);
          if (failure !== undefined) return retry(failure);
          let answer;
          try {
            answer = await services.bank.status(operation.id);
          } catch (error) {
            if (isAssertionError(error)) throw error;
            services.log('warn', 'failed: asking the bank about a withdrawal; it is asked again', { withdrawal: operation.id, error: messageOf(error) });
            return retry('bank_unavailable');
          }
          if (answer.status === 'pending') return wait('bank_pending', now_ms + services.bank_poll_interval_ms);
          context.operation = await services.recordBankAnswer(operation.id, answer.status, answer.failure_code ?? undefined);
          return next(null);
        },
        retry: policy,
        timeout_ms: services.step_timeout_ms,
        checkpoint: false,
      }),
      defineStep<null, OperationRun, null>({
        name: 'settle',
        action: async ({ context }) => {
          const operation = context.operation;
          const outcome = operation.settlement_outcome;
          assert(outcome !== null, 'a withdrawal is settled only once decided');
          let result: string | undefined;
          try {
            [result] = (await services.ledger.createTransfers([settlementTransferEvent(operation, outcome)])).map((answer) => answer.result);
          } catch (error) {
            if (isAssertionError(error)) throw error;
            services.log('warn', 'failed: settling a withdrawal in the ledger; it is sent again', { withdrawal: operation.id, error: messageOf(error) });
            return retry('ledger_unavailable');
          }
          if (!isAccepted(result ?? null)) {
            // The hold is missing or was resolved the other way although the decision is fenced:
            // the books and this table disagree, and a person must look.
            services.log('error', 'the ledger refused a withdrawal settlement; it needs a person', { withdrawal: operation.id, outcome, result });
            return retry(`settlement_refused:${result ?? 'no_answer'}`);
          }
          if (outcome === 'failed' && operation.ledger_layout === LedgerLayout.book_of_record) await releaseUsage(services, operation);
          return next(null);
        },
        record: async (transaction, outcome: StepOutcome<null>, { context, now_ms }) => {
          if (outcome.kind !== 'next') return;
          const operation = context.operation;
          const settled = operation.settlement_outcome;
          assert(settled !== null && transition(operation_transitions, 'pending', settled) === 'ok');
          const failure_code = settled === 'failed' ? operation.settlement_failure_code : null;
          if (!(await finishOperation(transaction, operation.id, settled, failure_code))) return;
          await insertStep(transaction, { operation_id: operation.id, from_status: 'pending', to_status: settled, reason: 'ledger:ok', created_ms: now_ms });
          const recorded: OperationRecord = { ...operation, status: settled, failure_code };
          await services.announce(transaction, recorded, now_ms);
          context.latest = recorded;
          context.operation = recorded;
        },
        retry: policy,
        timeout_ms: services.step_timeout_ms,
      }),
    ],
    load: (run_id, _input, database) => loadOperation(run_id, database),
  });
}

/**
 * A failed withdrawal no longer counts against the day's allowance, as if it had never been
 * sent. Only a limited wallet's usage is still pending to void; anything else the ledger answers
 * (released already, expired at midnight, the wallet frozen meanwhile) leaves it to midnight.
 */
async function releaseUsage(services: WalletSagaServices, operation: OperationRecord): Promise<void> {
  try {
    const [answer] = await services.ledger.createTransfers([usageVoidEvent(operation)]);
    if (answer !== undefined && answer.result !== 'ok' && answer.result !== 'exists' && answer.result !== 'pending_transfer_already_voided') {
      services.log('info', 'a failed withdrawal kept its daily usage until midnight', { withdrawal: operation.id, result: answer.result });
    }
  } catch (error) {
    if (isAssertionError(error)) throw error;
    services.log('warn', "failed: giving back a failed withdrawal's daily usage; it expires at midnight", { withdrawal: operation.id, error: messageOf(error) });
  }
}
