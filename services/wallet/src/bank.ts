// A bank that lives in the process, for development and tests. Like Stripe's test bank accounts,
// the account number decides what happens to a withdrawal, so a test (or a person trying the API)
// can pick an outcome. Because the outcome is derived from the account number, a fresh
// SimulatedBank after a restart answers `status` exactly as the old one would have, once the
// wallet service has submitted the withdrawal again (submitting is idempotent).
//
// It takes test-mode withdrawals only. A live-mode one fails at once with
// `livemode_not_configured` (so the wallet voids its hold and the money goes back), whatever the
// account number: a simulated bank that "paid" real withdrawals would let money leave the books
// that never reached anyone (decision 39). Its `live_support` says so to the platform, which
// refuses live withdrawals before they are recorded.
import { assert, type BankLiveSupport } from '@paygrid/kernel';
import type {
  BankPort,
  BankSettlementListener,
  BankStatusReport,
  BankWithdrawalRequest,
  SettlementOutcome,
} from './types';

/** The account numbers with a fixed behaviour; any other number succeeds. */
export const simulated_bank_account_numbers = {
  succeeds: '000123456789',
  fails_account_closed: '000111111116',
  stays_pending: '000222222227',
} as const;

/** The failure code of a withdrawal to the closed test account. */
export const simulated_bank_failure_code = 'account_closed';
/** The failure code of a withdrawal a test failed by hand (Stripe's generic payout failure). */
export const test_completion_failure_code = 'could_not_process';
/** The failure code of every live-mode withdrawal: the simulated bank pays no real money out. */
export const simulated_bank_livemode_failure_code = 'livemode_not_configured';
/** What the simulated bank can do with real money: nothing. */
export const simulated_bank_live_support: BankLiveSupport = Object.freeze({ name: 'the simulated bank', payouts: false, incoming_transfers: false });
/** Withdrawals the bank keeps track of at once; past this it refuses new ones. */
export const simulated_bank_withdrawals_max = 100_000;

type Scenario = 'succeeds' | 'fails' | 'stays_pending' | 'refused_live';

interface TrackedWithdrawal {
  scenario: Scenario;
  /** Set when a test completed the withdrawal; it overrides the scenario. */
  completion: SettlementOutcome | undefined;
  timer: NodeJS.Timeout | undefined;
}

export interface SimulatedBankOptions {
  /** How long after submission (or test completion) the bank reports the outcome. */
  readonly delay_ms?: number;
}

export class SimulatedBank implements BankPort {
  /** Neither live payouts nor live incoming transfers: the platform turns those capabilities off. */
  readonly live_support: BankLiveSupport = simulated_bank_live_support;
  readonly #delay_ms: number;
  readonly #withdrawals = new Map<string, TrackedWithdrawal>();
  readonly #listeners: BankSettlementListener[] = [];
  #closed = false;

  constructor(options: SimulatedBankOptions = {}) {
    const delay_ms = options.delay_ms ?? 0;
    assert(Number.isSafeInteger(delay_ms) && delay_ms >= 0, 'SimulatedBank delay_ms must be a non-negative integer');
    this.#delay_ms = delay_ms;
  }

  /** Idempotent by withdrawal id: a second submission of a withdrawal the bank knows changes nothing. */
  // eslint-disable-next-line @typescript-eslint/require-await
  async submit(request: BankWithdrawalRequest): Promise<void> {
    assert(!this.#closed, 'SimulatedBank used after close()');
    if (this.#withdrawals.has(request.withdrawal_id)) return;
    if (this.#withdrawals.size >= simulated_bank_withdrawals_max) throw new Error('the simulated bank is tracking too many withdrawals');
    const scenario = request.livemode ? 'refused_live' : scenarioFor(request.bank_account.account_number);
    const tracked: TrackedWithdrawal = { scenario, completion: undefined, timer: undefined };
    this.#withdrawals.set(request.withdrawal_id, tracked);
    this.#schedule(request.withdrawal_id, tracked);
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async status(withdrawal_id: string): Promise<BankStatusReport> {
    const tracked = this.#withdrawals.get(withdrawal_id);
    // A withdrawal the bank has not (yet) received has not been paid: it is still pending.
    if (tracked === undefined) return { status: 'pending', failure_code: null };
    return reportFor(tracked);
  }

  onSettled(listener: BankSettlementListener): void {
    this.#listeners.push(listener);
  }

  /** Finishes a test-mode withdrawal the way a test asks, whatever its account number said. */
  // eslint-disable-next-line @typescript-eslint/require-await
  async completeForTest(withdrawal_id: string, outcome: SettlementOutcome): Promise<void> {
    const tracked = this.#withdrawals.get(withdrawal_id) ?? { scenario: 'stays_pending', completion: undefined, timer: undefined };
    // A live withdrawal has already failed here; no test may turn it into a payout.
    if (tracked.scenario === 'refused_live') throw new Error('the simulated bank never completes a live-mode withdrawal');
    clearTimeout(tracked.timer);
    tracked.completion = outcome;
    this.#withdrawals.set(withdrawal_id, tracked);
    this.#schedule(withdrawal_id, tracked);
  }

  /** Withdrawals still tracked: submitted and not yet reported. */
  get tracked_count(): number {
    return this.#withdrawals.size;
  }

  close(): void {
    this.#closed = true;
    for (const tracked of this.#withdrawals.values()) clearTimeout(tracked.timer);
    this.#withdrawals.clear();
  }

  #schedule(withdrawal_id: string, tracked: TrackedWithdrawal): void {
    const report = reportFor(tracked);
    if (report.status === 'pending') return;
    const outcome = report.status;
    tracked.timer = setTimeout(() => {
      // Once reported, the bank forgets the withdrawal, so the map stays bounded. If the report
      // was lost, the wallet service submits again and gets the same outcome.
      this.#withdrawals.delete(withdrawal_id);
      if (this.#closed) return;
      for (const listener of this.#listeners) listener(withdrawal_id, outcome, report.failure_code ?? undefined);
    }, this.#delay_ms);
    tracked.timer.unref();
  }
}

function scenarioFor(account_number: string): Scenario {
  if (account_number === simulated_bank_account_numbers.fails_account_closed) return 'fails';
  if (account_number === simulated_bank_account_numbers.stays_pending) return 'stays_pending';
  return 'succeeds';
}

function reportFor(tracked: TrackedWithdrawal): BankStatusReport {
  if (tracked.scenario === 'refused_live') return { status: 'failed', failure_code: simulated_bank_livemode_failure_code };
  if (tracked.completion === 'succeeded') return { status: 'succeeded', failure_code: null };
  if (tracked.completion === 'failed') return { status: 'failed', failure_code: test_completion_failure_code };
  if (tracked.scenario === 'succeeds') return { status: 'succeeded', failure_code: null };
  if (tracked.scenario === 'fails') return { status: 'failed', failure_code: simulated_bank_failure_code };
  return { status: 'pending', failure_code: null };
}
