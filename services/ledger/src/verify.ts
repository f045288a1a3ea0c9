import { genesis_hash, hashBatch } from './codec';
import type { LedgerSnapshot, LedgerStore } from './store';
import { TransferFlags, hasFlag, type Transfer } from './types';

export interface VerifyReport {
  readonly ok: boolean;
  readonly batches: number;
  readonly accounts: number;
  readonly transfers: number;
  /** The first problem found, in words; absent when the ledger verifies. */
  readonly problem?: string;
  /** The batch the problem was found in, when it is a batch's problem. */
  readonly bad_batch?: bigint;
  /**
   * The last batch's hash in hex (the genesis hash when there is none), present when the ledger
   * verifies: with `batches` (ids run 1 to `batches`), it names the head of the chain, so that a
   * copy can be compared with its original (`paygrid backup` writes it in its manifest).
   */
  readonly head_hash?: string;
}

interface DerivedBalances {
  ledger: number;
  debits_pending: bigint;
  debits_posted: bigint;
  credits_pending: bigint;
  credits_posted: bigint;
}

/** Batches read per query while walking the chain. */
const verify_page_size = 500;

/**
 * Proves the journal: walks the hash chain from the first batch, recomputing each batch's hash
 * from the rows it sealed, replays every transfer into balances of its own, and compares them with
 * the balances the store holds. Stops at the first problem and names it.
 */
export async function verifyLedger(store: Pick<LedgerStore, 'readSnapshot'>): Promise<VerifyReport> {
  return store.readSnapshot((snapshot) => verifySnapshot(snapshot));
}

async function verifySnapshot(store: LedgerSnapshot): Promise<VerifyReport> {
  const derived = new Map<bigint, DerivedBalances>();
  const pending = new Map<bigint, Transfer>();
  const resolved = new Set<bigint>();
  let previous_hash: Buffer = genesis_hash;
  let expected_id = 1n;
  let batches = 0;
  let transfers = 0;
  const fail = (problem: string, bad_batch?: bigint): VerifyReport => ({
    ok: false,
    batches,
    accounts: derived.size,
    transfers,
    problem,
    ...(bad_batch === undefined ? {} : { bad_batch }),
  });

  for (let after = 0n; ; ) {
    const page = await store.readBatches(after, verify_page_size);
    if (page.length === 0) break;
    for (const batch of page) {
      if (batch.id !== expected_id) return fail(`batch ${expected_id} is missing (found batch ${batch.id} next)`, expected_id);
      if (!batch.previous_hash.equals(previous_hash)) return fail(`batch ${batch.id} does not chain to the batch before it`, batch.id);
      const sealed = await store.readSealedBatch(batch);
      if (
        sealed.accounts.length !== batch.accounts_created ||
        sealed.transfers.length !== batch.transfers_created ||
        sealed.resolutions.length !== batch.pending_resolved
      ) {
        return fail(
          `batch ${batch.id} sealed ${batch.accounts_created} accounts, ${batch.transfers_created} transfers and ${batch.pending_resolved} resolutions, but the store holds ${sealed.accounts.length}, ${sealed.transfers.length} and ${sealed.resolutions.length}`,
          batch.id,
        );
      }
      if (!hashBatch(previous_hash, sealed).equals(batch.hash)) {
        return fail(`batch ${batch.id}: its rows do not match its hash (altered after commit)`, batch.id);
      }
      for (const account of sealed.accounts) {
        derived.set(account.id, { ledger: account.ledger, debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n });
      }
      for (const transfer of sealed.transfers) {
        const debit = derived.get(transfer.debit_account_id);
        const credit = derived.get(transfer.credit_account_id);
        if (debit === undefined || credit === undefined) return fail(`batch ${batch.id}: transfer ${transfer.id} names an account that does not exist`, batch.id);
        if (debit.ledger !== transfer.ledger || credit.ledger !== transfer.ledger) {
          return fail(`batch ${batch.id}: transfer ${transfer.id} crosses ledgers`, batch.id);
        }
        if (hasFlag(transfer.flags, TransferFlags.pending)) {
          debit.debits_pending += transfer.amount;
          credit.credits_pending += transfer.amount;
          pending.set(transfer.id, transfer);
        } else if (!hasFlag(transfer.flags, TransferFlags.void_pending_transfer)) {
          debit.debits_posted += transfer.amount;
          credit.credits_posted += transfer.amount;
        }
        transfers += 1;
      }
      for (const resolution of sealed.resolutions) {
        const held = pending.get(resolution.id);
        if (held === undefined || resolved.has(resolution.id)) {
          return fail(`batch ${batch.id}: pending transfer ${resolution.id} is resolved but was never pending`, batch.id);
        }
        resolved.add(resolution.id);
        const debit = derived.get(held.debit_account_id);
        const credit = derived.get(held.credit_account_id);
        if (debit === undefined || credit === undefined) return fail(`batch ${batch.id}: pending transfer ${held.id} lost its accounts`, batch.id);
        debit.debits_pending -= held.amount;
        credit.credits_pending -= held.amount;
      }
      previous_hash = batch.hash;
      expected_id += 1n;
      batches += 1;
      after = batch.id;
    }
  }

  // Every stored balance must equal the sum of its transfers, and every ledger must balance.
  const totals = new Map<number, { debits_pending: bigint; debits_posted: bigint; credits_pending: bigint; credits_posted: bigint }>();
  let stored_accounts = 0;
  for (let after = -1n; ; ) {
    const page = await store.readAccounts(after, verify_page_size * 10);
    if (page.length === 0) break;
    for (const account of page) {
      stored_accounts += 1;
      const expected = derived.get(account.id);
      if (expected === undefined) return fail(`account ${account.id} is in the store but in no batch`);
      for (const field of ['debits_pending', 'debits_posted', 'credits_pending', 'credits_posted'] as const) {
        if (account[field] !== expected[field]) {
          return fail(`account ${account.id}: stored ${field} ${account[field]} but its transfers sum to ${expected[field]}`);
        }
      }
      const total = totals.get(account.ledger) ?? { debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n };
      total.debits_pending += account.debits_pending;
      total.debits_posted += account.debits_posted;
      total.credits_pending += account.credits_pending;
      total.credits_posted += account.credits_posted;
      totals.set(account.ledger, total);
      after = account.timestamp;
    }
  }
  if (stored_accounts !== derived.size) return fail(`the batches created ${derived.size} accounts but the store holds ${stored_accounts}`);
  for (const [ledger, total] of totals) {
    if (total.debits_posted !== total.credits_posted) {
      return fail(`ledger ${ledger}: posted debits ${total.debits_posted} differ from posted credits ${total.credits_posted}`);
    }
    if (total.debits_pending !== total.credits_pending) {
      return fail(`ledger ${ledger}: pending debits ${total.debits_pending} differ from pending credits ${total.credits_pending}`);
    }
  }
  for (let after = 0n; ; ) {
    const page = await store.readPendingStatuses(after, verify_page_size * 10);
    if (page.length === 0) break;
    for (const { id, status } of page) {
      if (!pending.has(id)) return fail(`pending transfer ${id} has a status but no transfer`);
      if ((status === 'pending') === resolved.has(id)) return fail(`pending transfer ${id}: status ${status} disagrees with the journal`);
      after = id;
    }
  }
  return { ok: true, batches, accounts: derived.size, transfers, head_hash: previous_hash.toString('hex') };
}
