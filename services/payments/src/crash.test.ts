// The crash test. For each step of the payment saga, a child process takes a payment and is
// SIGKILLed at that step; a second child starts on the same files and recovers. The card acquirer
// runs here, in the test process, as an HTTP server, so that what it was told survives the
// crash. Afterwards the payment must be final or correctly waiting, the ledger must agree with
// what the acquirer says it took and gave back, and nothing may have been charged twice.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CardAcquirerSimulator, startCardAcquirerServer, type CardAcquirerServer } from '@paygrid/connectors';
import { amount_max } from '@paygrid/ledger';
import { temporaryDirectory } from '@paygrid/kernel/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CrashStep } from './context';
import { feeFor, fee_schedule_default } from './fees';
import { crash_amount, crash_capture_amount, crash_refund_amount, type CrashChildConfig, type CrashFlow } from './testing/crash-shared';

const package_directory = join(dirname(fileURLToPath(import.meta.url)), '..');
/** One child never takes longer than this; a hung child fails the test instead of stalling it. */
const child_timeout_ms = 30_000;
/** Scenarios run this many at a time: each has its own files, and the machine has two cores. */
const scenarios_in_parallel = 3;

interface ChildResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runChild(config: CrashChildConfig): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/testing/crash-child.ts', JSON.stringify(config)], {
      cwd: package_directory,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`a crash-test child took longer than ${child_timeout_ms} ms: ${stderr}`));
    }, child_timeout_ms);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

interface Balances {
  readonly debits_pending: string;
  readonly debits_posted: string;
  readonly credits_pending: string;
  readonly credits_posted: string;
}

interface Summary {
  readonly intent: { id: string; status: string; amount_received: string; amount_refunded: string; top_up: string | null } | null;
  /** The topped-up wallet's balance, in the top-up flows. */
  readonly wallet: { available: string; pending: string } | null;
  readonly attempts: { id: string; operation: string; status: string; provider_reference: string | null }[];
  readonly refunds: { status: string; amount: string }[];
  readonly merchant: Balances;
  readonly receivable: Balances;
  readonly fees: Balances;
  readonly ledger_problem: unknown;
}

interface Scenario {
  readonly flow: CrashFlow;
  readonly crash_at: CrashStep;
  /** The intent's status once recovered, and what the acquirer holds or took. */
  readonly status: string;
}

const scenarios: Scenario[] = [
  // An authorization the acquirer never saw fails, and the customer may try again.
  { flow: 'automatic', crash_at: 'after_attempt_recorded', status: 'requires_payment_method' },
  { flow: 'automatic', crash_at: 'after_connector_call', status: 'succeeded' },
  { flow: 'automatic', crash_at: 'after_result_recorded', status: 'succeeded' },
  { flow: 'automatic', crash_at: 'after_ledger_hold', status: 'succeeded' },
  { flow: 'automatic', crash_at: 'after_ledger_post', status: 'succeeded' },
  { flow: 'manual', crash_at: 'after_attempt_recorded', status: 'requires_payment_method' },
  { flow: 'manual', crash_at: 'after_connector_call', status: 'requires_capture' },
  { flow: 'manual', crash_at: 'after_result_recorded', status: 'requires_capture' },
  { flow: 'manual', crash_at: 'after_ledger_hold', status: 'requires_capture' },
  { flow: 'capture', crash_at: 'after_capture_recorded', status: 'succeeded' },
  { flow: 'capture', crash_at: 'after_capture_call', status: 'succeeded' },
  { flow: 'capture', crash_at: 'after_capture_result_recorded', status: 'succeeded' },
  { flow: 'capture', crash_at: 'after_capture_posted', status: 'succeeded' },
  { flow: 'cancel', crash_at: 'after_void_recorded', status: 'canceled' },
  { flow: 'cancel', crash_at: 'after_void_call', status: 'canceled' },
  { flow: 'refund', crash_at: 'after_refund_recorded', status: 'succeeded' },
  { flow: 'refund', crash_at: 'after_refund_hold', status: 'succeeded' },
  { flow: 'refund', crash_at: 'after_refund_call', status: 'succeeded' },
  { flow: 'refund', crash_at: 'after_refund_result_recorded', status: 'succeeded' },
  // A top-up intent: the captured money must reach the wallet exactly once.
  { flow: 'top_up', crash_at: 'after_ledger_post', status: 'succeeded' },
  { flow: 'top_up', crash_at: 'after_top_up_recorded', status: 'succeeded' },
  { flow: 'top_up', crash_at: 'after_top_up_call', status: 'succeeded' },
  { flow: 'top_up', crash_at: 'after_top_up_result_recorded', status: 'succeeded' },
  // Its refund: out of the wallet first, then back to the card, each exactly once.
  { flow: 'top_up_refund', crash_at: 'after_reversal_recorded', status: 'succeeded' },
  { flow: 'top_up_refund', crash_at: 'after_reversal_call', status: 'succeeded' },
  { flow: 'top_up_refund', crash_at: 'after_reversal_result_recorded', status: 'succeeded' },
  { flow: 'top_up_refund', crash_at: 'after_refund_recorded', status: 'succeeded' },
  { flow: 'top_up_refund', crash_at: 'after_refund_call', status: 'succeeded' },
  // The card refuses that refund: the money taken out of the wallet goes back into it, exactly once.
  { flow: 'top_up_refund_fails', crash_at: 'after_refund_call', status: 'succeeded' },
  { flow: 'top_up_refund_fails', crash_at: 'after_refund_result_recorded', status: 'succeeded' },
  { flow: 'top_up_refund_fails', crash_at: 'after_restoration_recorded', status: 'succeeded' },
  { flow: 'top_up_refund_fails', crash_at: 'after_restoration_call', status: 'succeeded' },
  { flow: 'top_up_refund_fails', crash_at: 'after_restoration_result_recorded', status: 'succeeded' },
  // The ledger refuses the hold of money the acquirer took (decision 68): the payment ends, and the
  // acquirer gives the money back exactly once, whether the crash came before the undo or after it.
  { flow: 'books_full', crash_at: 'after_connector_call', status: 'requires_payment_method' },
  { flow: 'books_full', crash_at: 'after_provider_undo', status: 'requires_payment_method' },
];

describe('payments survive a crash at every step of the saga', () => {
  let simulator: CardAcquirerSimulator;
  let server: CardAcquirerServer;
  const results = new Map<string, Promise<{ killed: ChildResult; summary: Summary }>>();

  async function runScenario(scenario: Scenario): Promise<{ killed: ChildResult; summary: Summary }> {
    const directory = await temporaryDirectory();
    try {
      const base = { directory: directory.path, acquirer_url: server.url, flow: scenario.flow };
      const killed = await runChild({ ...base, phase: 'run', crash_at: scenario.crash_at });
      const recovered = await runChild({ ...base, phase: 'recover' });
      if (recovered.code !== 0) throw new Error(`the recovering child failed: ${recovered.stderr}`);
      return { killed, summary: JSON.parse(recovered.stdout.trim().split('\n').at(-1) ?? '{}') as Summary };
    } finally {
      await directory.remove();
    }
  }

  beforeAll(async () => {
    simulator = new CardAcquirerSimulator();
    server = await startCardAcquirerServer(simulator);
    // Scenarios run a few at a time; each test below waits for its own.
    let running: Promise<unknown> = Promise.resolve();
    const lanes: Promise<unknown>[] = Array.from({ length: scenarios_in_parallel }, () => Promise.resolve());
    scenarios.forEach((scenario, index) => {
      const lane = index % scenarios_in_parallel;
      const result = (lanes[lane] ?? running).then(() => runScenario(scenario));
      lanes[lane] = result.catch(() => undefined);
      results.set(`${scenario.flow}:${scenario.crash_at}`, result);
    });
    running = Promise.all(lanes);
    await running;
  }, 360_000);

  afterAll(async () => {
    await server.close();
  });

  for (const scenario of scenarios) {
    it(`${scenario.flow} payment, killed ${scenario.crash_at.replaceAll('_', ' ')}`, async () => {
      const result = results.get(`${scenario.flow}:${scenario.crash_at}`);
      if (result === undefined) throw new Error('scenario not run');
      const { killed, summary } = await result;
      // The first process really died at the step, and did not finish on its own.
      expect({ signal: killed.signal, stdout: killed.stdout }).toEqual({ signal: 'SIGKILL', stdout: '' });
      expect(summary.ledger_problem).toBeNull();
      expect(summary.intent?.status).toBe(scenario.status);

      // What the acquirer says happened, over every authorization attempt of the intent.
      let captured = 0n;
      let refunded = 0n;
      let held = 0n;
      let live_authorizations = 0;
      for (const attempt of summary.attempts.filter((each) => each.operation === 'authorize')) {
        const status = await simulator.status(attempt.id);
        if (status.status === 'not_found' || status.status === 'declined') continue;
        live_authorizations += 1;
        const view = simulator.authorization('provider_reference' in status ? status.provider_reference : (attempt.provider_reference ?? ''));
        if (status.status === 'captured') captured += status.amount_captured;
        if (status.status === 'authorized') held += view?.amount ?? 0n;
        refunded += view?.amount_refunded ?? 0n;
      }
      // Never charged twice: one authorization at most reached the acquirer.
      expect(live_authorizations).toBeLessThanOrEqual(1);
      // Every attempt is settled: nothing left pending or unknown.
      expect(summary.attempts.filter((attempt) => attempt.status === 'pending' || attempt.status === 'unknown')).toEqual([]);

      if (scenario.flow === 'books_full') {
        // Taken once, given back once, and nothing of it in the books: the merchant's balance holds
        // only what filled it, and its receivable and fees never moved.
        expect({ captured, refunded, held }).toEqual({ captured: crash_amount, refunded: crash_amount, held: 0n });
        expect(summary.attempts.map((attempt) => [attempt.operation, attempt.status])).toEqual([['authorize', 'failed']]);
        expect(summary.merchant).toEqual({ debits_pending: '0', debits_posted: '0', credits_pending: '0', credits_posted: String(amount_max - crash_amount + 1n) });
        const untouched = { debits_pending: '0', debits_posted: '0', credits_pending: '0', credits_posted: '0' };
        expect({ receivable: summary.receivable, fees: summary.fees }).toEqual({ receivable: untouched, fees: untouched });
        expect(summary.intent).toMatchObject({ amount_received: '0', amount_refunded: '0' });
        return;
      }

      const fee = captured === 0n ? 0n : feeFor(captured, fee_schedule_default);
      // A top-up moves what was captured on to the wallet, and a refund first takes it back; when
      // the card then refuses the refund, the restoration puts it back into the wallet.
      const refund_fails = scenario.flow === 'top_up_refund_fails';
      const top_up_flow = scenario.flow === 'top_up' || scenario.flow === 'top_up_refund' || refund_fails;
      const topped_up = top_up_flow ? captured : 0n;
      const reversed = refund_fails ? crash_refund_amount : top_up_flow ? refunded : 0n;
      const restored = refund_fails ? crash_refund_amount : 0n;
      expect(summary.merchant).toEqual({
        debits_pending: '0',
        debits_posted: String(fee + refunded + topped_up + restored),
        credits_pending: String(held),
        credits_posted: String(captured + reversed),
      });
      if (top_up_flow) {
        expect(summary.intent?.top_up).toMatch(/^tu_/);
        expect(summary.wallet).toEqual({ available: String(topped_up - reversed + restored), pending: '0' });
      } else {
        expect(summary.intent?.top_up).toBeNull();
      }
      expect(summary.receivable).toEqual({ debits_pending: String(held), debits_posted: String(captured), credits_pending: '0', credits_posted: String(refunded) });
      expect(summary.fees).toEqual({ debits_pending: '0', debits_posted: '0', credits_pending: '0', credits_posted: String(fee) });
      expect(summary.intent?.amount_received).toBe(String(captured));
      expect(summary.intent?.amount_refunded).toBe(String(refunded));

      const expected_captured: Record<CrashFlow, bigint> = {
        automatic: crash_amount,
        manual: 0n,
        capture: crash_capture_amount,
        cancel: 0n,
        refund: crash_amount,
        top_up: crash_amount,
        top_up_refund: crash_amount,
        top_up_refund_fails: crash_amount,
        books_full: 0n,
      };
      expect(captured).toBe(scenario.status === 'requires_payment_method' ? 0n : expected_captured[scenario.flow]);
      expect(held).toBe(scenario.status === 'requires_capture' ? crash_amount : 0n);
      if (scenario.flow === 'refund' || scenario.flow === 'top_up_refund') {
        expect(refunded).toBe(crash_refund_amount);
        expect(summary.refunds).toEqual([{ status: 'succeeded', amount: String(crash_refund_amount) }]);
      }
      if (refund_fails) {
        // Nothing went back to the card, the refund failed, and its one restoration succeeded.
        expect(refunded).toBe(0n);
        expect(summary.refunds).toEqual([{ status: 'failed', amount: String(crash_refund_amount) }]);
        expect(summary.attempts.filter((attempt) => attempt.operation !== 'authorize').map((attempt) => [attempt.operation, attempt.status])).toEqual([
          ['top_up_restoration', 'succeeded'],
          ['refund', 'failed'],
          ['top_up_reversal', 'succeeded'],
          ['top_up', 'succeeded'],
        ]);
        expect(summary.attempts[0]?.provider_reference).toMatch(/^tus_/);
      }
    });
  }
});
