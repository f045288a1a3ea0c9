// What the crash test and its child processes share: the child's configuration and the payment
// every scenario takes. Kept apart from crash-child.ts, which runs as soon as it is loaded.
import type { Tenant } from '@paygrid/kernel';
import type { CrashStep } from '../context';

/**
 * `top_up` pays into a wallet; `top_up_refund` then refunds part of it, out of the wallet first;
 * `top_up_refund_fails` does the same with a card that refuses every refund, so the money taken out
 * of the wallet must go back into it. `books_full` pays (automatic capture) into a merchant balance
 * that has no room left for it, past the check before the provider (as a request racing past it
 * would): the ledger refuses the hold, and the acquirer must give the money back (decision 68).
 */
export type CrashFlow = 'automatic' | 'manual' | 'capture' | 'cancel' | 'refund' | 'top_up' | 'top_up_refund' | 'top_up_refund_fails' | 'books_full';

export interface CrashChildConfig {
  readonly directory: string;
  readonly acquirer_url: string;
  readonly phase: 'run' | 'recover';
  readonly flow: CrashFlow;
  readonly crash_at?: CrashStep;
}

export const crash_tenant: Tenant = { merchant_id: 'acct_crashtest', livemode: false };
export const crash_card_token = 'tok_crashtest';
export const crash_customer = 'cus_crashtest';
export const crash_amount = 10_000n;
export const crash_capture_amount = 6_000n;
export const crash_refund_amount = 4_000n;
