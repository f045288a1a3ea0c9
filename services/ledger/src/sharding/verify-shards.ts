// `ledger verify` for a sharded ledger: every shard's own proof (hash chain, balances replayed,
// every ledger balanced), then the invariant between shards: each pair of clearing accounts mirror
// each other exactly, the credits of one being the debits of the other, pending and posted alike.
import { assert } from '@paygrid/kernel';
import type { LedgerStore, StoredAccount } from '../store';
import { verifyLedger, type VerifyReport } from '../verify';
import { clearingAccountId, isClearingAccountId, parseClearingAccountId } from './clearing';

export interface ShardedVerifyReport extends VerifyReport {
  /** Each shard's own report, in shard order. */
  readonly shards: readonly (VerifyReport & { readonly shard: number })[];
}

/**
 * A round between shards commits on one shard a moment before the other, so a reader beside a
 * live coordinator can see clearing accounts out of step; it reads again this often before it
 * calls a difference a problem.
 */
const mirror_reads_max = 5;
const mirror_read_interval_ms = 200;
/** Accounts read per query while listing a store's accounts. */
const accounts_page_size = 5000;

export async function verifyShards(shards: readonly { readonly index: number; readonly store: Pick<LedgerStore, 'readSnapshot'> }[]): Promise<ShardedVerifyReport> {
  const reports = await Promise.all(shards.map(async ({ index, store }) => ({ ...(await verifyLedger(store)), shard: index })));
  const totals = {
    batches: reports.reduce((sum, report) => sum + report.batches, 0),
    accounts: reports.reduce((sum, report) => sum + report.accounts, 0),
    transfers: reports.reduce((sum, report) => sum + report.transfers, 0),
    shards: reports,
  };
  const bad = reports.find((report) => !report.ok);
  if (bad !== undefined) return { ok: false, ...totals, problem: `shard ${bad.shard}: ${bad.problem ?? 'failed'}`, ...(bad.bad_batch === undefined ? {} : { bad_batch: bad.bad_batch }) };
  let problem: string | undefined;
  for (let read = 1; read <= mirror_reads_max; read++) {
    problem = clearingMismatch((await Promise.all(shards.map(({ store }) => clearingAccountsOf(store)))).flat());
    if (problem === undefined) break;
    if (read < mirror_reads_max) await new Promise((resolve) => setTimeout(resolve, mirror_read_interval_ms));
  }
  return problem === undefined ? { ok: true, ...totals } : { ok: false, ...totals, problem };
}

/** The first pair of clearing accounts that do not mirror each other, in words. */
export function clearingMismatch(clearing: readonly StoredAccount[]): string | undefined {
  const by_id = new Map(clearing.map((account) => [account.id, account]));
  const zero = { debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n };
  for (const account of by_id.values()) {
    const parsed = parseClearingAccountId(account.id);
    assert(parsed !== undefined);
    const other = by_id.get(clearingAccountId(parsed.other, parsed.own, parsed.ledger)) ?? zero;
    if (
      account.credits_posted !== other.debits_posted ||
      account.debits_posted !== other.credits_posted ||
      account.credits_pending !== other.debits_pending ||
      account.debits_pending !== other.credits_pending
    ) {
      return `the clearing account of shard ${parsed.own} for shard ${parsed.other} in ledger ${parsed.ledger} does not mirror its counterpart (credits posted ${account.credits_posted} against debits posted ${other.debits_posted}, debits posted ${account.debits_posted} against credits posted ${other.credits_posted})`;
    }
  }
  return undefined;
}

/** A store's accounts that `keep` admits, with their balances, read page by page from one snapshot. */
export async function accountsOf(store: Pick<LedgerStore, 'readSnapshot'>, keep: (account: StoredAccount) => boolean): Promise<StoredAccount[]> {
  return store.readSnapshot(async (snapshot) => {
    const found: StoredAccount[] = [];
    let after = 0n;
    for (;;) {
      const page = await snapshot.readAccounts(after, accounts_page_size);
      if (page.length === 0) return found;
      for (const account of page) if (keep(account)) found.push(account);
      after = page[page.length - 1]?.timestamp ?? after;
    }
  });
}

function clearingAccountsOf(store: Pick<LedgerStore, 'readSnapshot'>): Promise<StoredAccount[]> {
  return accountsOf(store, (account) => isClearingAccountId(account.id));
}
