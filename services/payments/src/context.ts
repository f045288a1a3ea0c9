// What the parts of the payments service share: its ports and settings, the steps the crash test
// may stop at, and the small helpers that build errors and read records.
import type { Connector, PaymentMethodType } from '@paygrid/connectors';
import { ApiError, isAssertionError, type Clock, type Database, type GroupCommitter, type Lease, type Tenant } from '@paygrid/kernel';
import type { LedgerClient } from '@paygrid/ledger';
import type { WalletClient } from '@paygrid/wallet';
import type { Books } from './chart';
import type { FeeSchedule } from './fees';
import type { AttemptRecord, IntentRecord } from './store';

export type PaymentsLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/** Where the saga may be told to die, for the crash test. */
export const crash_steps = [
  'after_attempt_recorded',
  'after_connector_call',
  'after_result_recorded',
  'after_ledger_hold',
  'after_ledger_post',
  'after_capture_recorded',
  'after_capture_call',
  'after_capture_result_recorded',
  'after_capture_posted',
  'after_void_recorded',
  'after_void_call',
  'after_refund_recorded',
  'after_refund_hold',
  'after_refund_call',
  'after_refund_result_recorded',
  'after_top_up_recorded',
  'after_top_up_call',
  'after_top_up_result_recorded',
  'after_reversal_recorded',
  'after_reversal_call',
  'after_reversal_result_recorded',
  'after_restoration_recorded',
  'after_restoration_call',
  'after_restoration_result_recorded',
  'after_provider_undo',
] as const;
export type CrashStep = (typeof crash_steps)[number];

export interface PaymentsSettings {
  readonly capture_window_ms: number;
  readonly connector_timeout_ms: number;
  /** How long a ledger call of a saga step may take before the step is retried. */
  readonly ledger_timeout_ms: number;
  readonly attempt_lease_ms: number;
  readonly action_poll_interval_ms: number;
  readonly retry_delay_ms: number;
  readonly retry_delay_max_ms: number;
  /** How long a payment may wait for a customer its provider has not yet seen (a page never opened). */
  readonly action_unseen_ms_max: number;
}

export interface PaymentsContext {
  readonly database: Database;
  /** The service's writes share commits: requests' records, the saga runner's, the relay's marks. */
  readonly commits: GroupCommitter;
  readonly ledger: LedgerClient;
  readonly connectors: Partial<Record<PaymentMethodType, Connector>>;
  readonly wallet: WalletClient;
  readonly clock: Clock;
  readonly fees: FeeSchedule;
  readonly settings: PaymentsSettings;
  readonly log: PaymentsLog;
  /** Fault injection: ends the process at the named step when the crash test asks for it. */
  readonly checkpoint: (step: CrashStep) => void;
  /** The attempts' saga runs (saga.ts): started with each attempt, canceled with a stopped one. */
  readonly runs: AttemptRuns;
}

export interface AttemptRuns {
  /**
   * Starts the run of an attempt recorded in the same transaction. The caller holds it and drives
   * it once the transaction has committed; a bank transfer's run waits for its money instead.
   */
  start(transaction: Database, attempt: AttemptRecord): Promise<Lease>;
  /** Ends an attempt's run (a waiting payment the merchant canceled), fencing out a poll in flight. */
  cancel(transaction: Database, attempt_id: string, reason: string): Promise<boolean>;
}

export function missing(what: string, id: string, param: string): ApiError {
  return new ApiError('not_found_error', 'resource_missing', `No such ${what}: '${id.slice(0, 64)}'`, param);
}

export function invalid(code: string, message: string, param?: string): ApiError {
  return new ApiError('invalid_request_error', code, message, param);
}

export function unexpectedState(intent: IntentRecord, action: string, param?: string): ApiError {
  return invalid('payment_intent_unexpected_state', `You cannot ${action} this PaymentIntent because it has a status of ${intent.status}.`, param);
}

export function booksOf(intent: IntentRecord): Books {
  return { merchant_id: intent.merchant_id, currency: intent.currency, livemode: intent.livemode, chart: intent.ledger_chart };
}

export function tenantOf(record: { readonly merchant_id: string; readonly livemode: boolean }): Tenant {
  return { merchant_id: record.merchant_id, livemode: record.livemode };
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The ledger refused a transfer the service built: a bug or a broken chart, for a person. */
/** What a ledger refusal of a payment chain means (saga.ts `paymentRefusalMeaning`), past `accepted`. */
export type LedgerRefusalMeaning = 'books_full' | 'hold_resolved' | 'chart_broken';

/**
 * The ledger refused a payment chain with an answer no resend changes: the totals it keeps only
 * grow, and the other refusals are a broken chart or a hold resolved another way. The saga ends
 * the attempt on it, with its compensations (decision 68).
 */
export class LedgerRefusal extends Error {
  override readonly name = 'LedgerRefusal';
  readonly meaning: LedgerRefusalMeaning;
  readonly result: string;

  constructor(message: string, meaning: LedgerRefusalMeaning, result: string) {
    super(message);
    this.meaning = meaning;
    this.result = result;
  }

  /** The failure code the attempt, intent or refund shows for it. */
  get failure_code(): 'amount_too_large' | 'ledger_refused' {
    return this.meaning === 'books_full' ? 'amount_too_large' : 'ledger_refused';
  }
}

export function logFailure(log: PaymentsLog, what: string, error: unknown, fields: Record<string, unknown> = {}): void {
  log(isAssertionError(error) || error instanceof LedgerRefusal ? 'error' : 'warn', `failed: ${what}`, { ...fields, error: messageOf(error) });
}
