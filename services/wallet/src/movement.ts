// Sending an operation's chain to the ledger and reading the answer. The ledger is the book of
// record: whatever it answers decides the operation, and every way it can answer maps to one of a
// few outcomes here, so that the callers (the projected path and the recorded saga) agree.
import { LRUCache } from 'lru-cache';
import { assert, type Database, type Tenant } from '@paygrid/kernel';
import { TransferCode, TransferFlags, type CreateTransferResult, type LedgerClient, type Transfer, type TransferEvent } from '@paygrid/ledger';
import type { CurrencyCode } from '@paygrid/money';
import {
  LedgerLayout,
  accountEventsOf,
  allowanceTransferEvents,
  isOutgoing,
  operationFingerprint,
  operationTransferEvent,
  operationTypeOfCode,
  refusalReasonName,
  usageTransferEvent,
  walletControlAccountId,
  type Allowance,
  type RefusalReasonName,
} from './chart';
import { findLimits, type LimitsRecord, type OperationRecord } from './store';

/** How long a merchant's limits are read from memory before the database is asked again: a change reaches every instance within this. */
export const limits_cache_ttl_ms = 1_000;
/** Merchant limit sets and wallet allowances kept in memory, at most. */
export const limits_cache_entries_max = 10_000;
export const allowance_cache_entries_max = 100_000;
/** Sends of one chain at most: a stale allowance or a missing account costs one more each. */
export const chain_sends_max = 4;

export type ChainOutcome =
  /** The movement is in the ledger: made now, or found there from an earlier send (`existing`). */
  | { readonly kind: 'applied'; readonly existing: Transfer | undefined; readonly result: CreateTransferResult }
  /** The ledger refused the movement for a reason the customer can act on. */
  | { readonly kind: 'refused'; readonly reason: RefusalReasonName; readonly result: CreateTransferResult }
  /** The operation's id holds a refusal marker: an earlier send of the same operation was refused. */
  | { readonly kind: 'marked'; readonly reason: RefusalReasonName }
  /** The operation's id holds something else: its idempotency key was used for a different operation. */
  | { readonly kind: 'conflict' }
  /** A refusal that means the service built a chain the ledger cannot take: a bug, for a person. */
  | { readonly kind: 'broken'; readonly result: CreateTransferResult };

type Role = 'grant' | 'take_back' | 'usage' | 'money';

interface Plan {
  readonly events: TransferEvent[];
  readonly roles: Role[];
  /** The allowance the chain grants, remembered once it is applied. */
  readonly granting: { readonly wallet_id: string; readonly allowance: Allowance } | undefined;
}

function limitsKey(tenant: Tenant, currency: CurrencyCode): string {
  return `${tenant.merchant_id}:${tenant.livemode ? 'live' : 'test'}:${currency}`;
}

/**
 * What the wallet service knows of limits and allowances, cached, and the chains it sends. One per
 * service instance; it holds no state the ledger does not also hold, so a stale entry costs a
 * resend, never a wrong answer.
 */
export class Movements {
  readonly #database: Database;
  readonly #ledger: LedgerClient;
  readonly #now: () => number;
  readonly #log: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  readonly #limits = new LRUCache<string, { readonly limits: Promise<LimitsRecord>; readonly expires_ms: number }>({ max: limits_cache_entries_max });
  readonly #allowances = new LRUCache<string, Allowance | 'none'>({ max: allowance_cache_entries_max });

  constructor(options: {
    readonly database: Database;
    readonly ledger: LedgerClient;
    readonly now: () => number;
    readonly log: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  }) {
    this.#database = options.database;
    this.#ledger = options.ledger;
    this.#now = options.now;
    this.#log = options.log;
  }

  /** The merchant's limits in a currency and mode, read at most every `limits_cache_ttl_ms`. */
  async limitsOf(tenant: Tenant, currency: CurrencyCode): Promise<LimitsRecord> {
    const key = limitsKey(tenant, currency);
    const now_ms = this.#now();
    const cached = this.#limits.get(key);
    if (cached !== undefined && cached.expires_ms > now_ms) return cached.limits;
    // The read itself is cached, so that the movements arriving together share one.
    const limits = findLimits(this.#database, tenant, currency);
    const entry = { limits, expires_ms: now_ms + limits_cache_ttl_ms };
    this.#limits.set(key, entry);
    try {
      return await limits;
    } catch (error) {
      if (this.#limits.get(key) === entry) this.#limits.delete(key);
      throw error;
    }
  }

  /** This instance changed the limits: the next movement reads them again. */
  forgetLimits(tenant: Tenant, currency: CurrencyCode): void {
    this.#limits.delete(limitsKey(tenant, currency));
  }

  /** The allowance the wallet's control account holds: the newest grant in the ledger, cached. */
  async #allowanceOf(wallet_id: string): Promise<Allowance | undefined> {
    const cached = this.#allowances.get(wallet_id);
    if (cached !== undefined) return cached === 'none' ? undefined : cached;
    const [grant] = await this.#ledger.getAccountTransfers({
      account_id: walletControlAccountId(wallet_id),
      code: TransferCode.wallet_limit_funding,
      limit: 1,
      debits: false,
      credits: true,
      reversed: true,
    });
    const allowance = grant === undefined ? undefined : { version: grant.user_data_32, amount: grant.amount };
    this.#allowances.set(wallet_id, allowance ?? 'none');
    return allowance;
  }

  async #plan(operation: OperationRecord): Promise<Plan> {
    const money = operationTransferEvent(operation);
    if (operation.ledger_layout !== LedgerLayout.book_of_record || !isOutgoing(operation.type)) {
      return { events: [money], roles: ['money'], granting: undefined };
    }
    assert(operation.source_wallet_id !== null);
    const wallet = { id: operation.source_wallet_id, currency: operation.currency, livemode: operation.livemode };
    const limits = await this.limitsOf({ merchant_id: operation.merchant_id, livemode: operation.livemode }, operation.currency);
    const limited = limits.per_day_max !== null;
    const events: TransferEvent[] = [];
    const roles: Role[] = [];
    let granting: Plan['granting'];
    if (limits.per_day_max !== null) {
      const current = await this.#allowanceOf(wallet.id);
      if (current?.version !== limits.day_limit_version) {
        const next = { version: limits.day_limit_version, amount: limits.per_day_max };
        const allowance_events = allowanceTransferEvents(wallet, current, next);
        events.push(...allowance_events);
        roles.push('grant', ...allowance_events.slice(1).map((): Role => 'take_back'));
        granting = { wallet_id: wallet.id, allowance: next };
      }
    }
    events.push(usageTransferEvent(operation, limited), money);
    roles.push('usage', 'money');
    return { events, roles, granting };
  }

  /**
   * Sends the operation's chain and says what became of it. Retries by itself what a resend
   * mends (an allowance another instance moved on, an account the ledger has not seen yet); throws
   * when the ledger cannot be reached, so that the caller treats the outcome as unknown.
   */
  async send(operation: OperationRecord): Promise<ChainOutcome> {
    for (let send = 1; ; send += 1) {
      const plan = await this.#plan(operation);
      const answers = await this.#ledger.createTransfers(plan.events);
      assert(answers.length === plan.events.length, 'the ledger answers each event once');
      const failure = answers.find((answer) => answer.result !== 'ok' && answer.result !== 'linked_event_failed');
      if (failure === undefined) {
        assert(answers.every((answer) => answer.result === 'ok'), 'a chain with no failure is applied whole');
        if (plan.granting !== undefined) this.#allowances.set(plan.granting.wallet_id, plan.granting.allowance);
        return { kind: 'applied', existing: undefined, result: 'ok' };
      }
      const role = plan.roles[failure.index];
      assert(role !== undefined, 'every event of a chain has a role');
      const outcome = await this.#classify(operation, role, failure.result);
      if (outcome !== 'resend') return outcome;
      if (send >= chain_sends_max) return { kind: 'broken', result: failure.result };
    }
  }

  async #classify(operation: OperationRecord, role: Role, result: CreateTransferResult): Promise<ChainOutcome | 'resend'> {
    if (result === 'debit_account_not_found' || result === 'credit_account_not_found') {
      // Accounts are created on first use (platform, merchant and control accounts), or again when
      // a crash came between a wallet's row and its accounts. Creating one that exists answers `exists`.
      await this.createAccounts(operation);
      return 'resend';
    }
    if (result === 'debit_account_already_closed' || result === 'credit_account_already_closed') {
      // Only a wallet's control account is ever closed, by a freeze.
      if (role === 'usage' || role === 'grant' || role === 'take_back') return { kind: 'refused', reason: 'wallet_frozen', result };
      return { kind: 'broken', result };
    }
    switch (role) {
      case 'grant':
        if (result === 'exists') {
          // The wallet was granted this version already (by another request, here or in another
          // instance, maybe not committed yet, so not in what a lookup reads): take it as granted.
          const limits = await this.limitsOf({ merchant_id: operation.merchant_id, livemode: operation.livemode }, operation.currency);
          assert(operation.source_wallet_id !== null && limits.per_day_max !== null);
          this.#allowances.set(operation.source_wallet_id, { version: limits.day_limit_version, amount: limits.per_day_max });
          return 'resend';
        }
        if (result.startsWith('exists')) return this.#forgetAllowance(operation);
        return { kind: 'broken', result };
      case 'take_back':
        if (result === 'exceeds_credits') return { kind: 'refused', reason: 'wallet_limit_exceeded', result };
        // The allowance had moved on from the version this instance knew: look again.
        if (result.startsWith('exists')) return this.#forgetAllowance(operation);
        return { kind: 'broken', result };
      case 'usage':
        if (result === 'exceeds_credits') return { kind: 'refused', reason: 'wallet_limit_exceeded', result };
        if (result.startsWith('exists')) return this.existing(operation);
        return { kind: 'broken', result };
      case 'money':
        if (result === 'exists') return { kind: 'applied', existing: undefined, result };
        if (result.startsWith('exists_with_different')) return this.existing(operation);
        if (result === 'exceeds_credits') return { kind: 'refused', reason: 'insufficient_funds', result };
        return { kind: 'broken', result };
    }
  }

  #forgetAllowance(operation: OperationRecord): 'resend' {
    assert(operation.source_wallet_id !== null);
    this.#allowances.delete(operation.source_wallet_id);
    return 'resend';
  }

  /**
   * What the operation's transfer id already holds: the same movement (a retry with fields that
   * legitimately differ, such as the creation time or the chain's shape), a refusal marker, or
   * something else entirely (an idempotency key reused for another operation).
   */
  async existing(operation: OperationRecord): Promise<ChainOutcome> {
    const [found] = await this.#ledger.lookupTransfers([operation.ledger_transfer_id]);
    if (found === undefined) return { kind: 'broken', result: 'exists' };
    const transfer = found.transfer;
    if (transfer.code === TransferCode.wallet_refusal) {
      const reason = refusalReasonName(transfer.user_data_32);
      if (reason === undefined || transfer.user_data_128 !== operationFingerprint(operation)) return { kind: 'conflict' };
      return { kind: 'marked', reason };
    }
    const expected = operationTransferEvent(operation);
    const same =
      operationTypeOfCode(transfer.code) === operation.type &&
      transfer.debit_account_id === expected.debit_account_id &&
      transfer.credit_account_id === expected.credit_account_id &&
      transfer.amount === expected.amount &&
      transfer.ledger === expected.ledger &&
      (transfer.flags & TransferFlags.pending) === (expected.flags & TransferFlags.pending);
    return same ? { kind: 'applied', existing: transfer, result: 'exists' } : { kind: 'conflict' };
  }

  /** Creates every account the operation's chain touches; `exists` is success. */
  async createAccounts(operation: OperationRecord): Promise<void> {
    const answers = await this.#ledger.createAccounts(accountEventsOf(operation));
    for (const answer of answers) {
      if (answer.result !== 'ok' && answer.result !== 'exists') {
        this.#log('warn', 'the ledger refused an account the wallet service needs', { account: answer.id.toString(), result: answer.result });
      }
    }
  }
}
