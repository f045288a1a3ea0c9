// Sending an operation's chain to the ledger and reading the answer. The ledger is the book of
// record: whatever it answers decides the operation, and every way it can answer maps to one of a
// few outcomes here, so that the callers (the projected path and the recorded saga) agree.
import { LRUCache } from 'lru-cache';
import { assert, type Database, type Tenant } from '@paygrid/kernel';
import { TransferCode, type CreateTransferResult, type LedgerClient, type Transfer, type TransferEvent } from '@paygrid/ledger';
import type { CurrencyCode } from '@paygrid/money';
import {
  LedgerLayout,
  accountEventsOf,
  allowanceTransferEvents,
  isOperationTransfer,
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

/** What an event does in a wallet chain. */
export type Role = 'grant' | 'take_back' | 'usage' | 'money';

interface Plan {
  readonly events: TransferEvent[];
  readonly roles: Role[];
  /** The allowance the chain grants, remembered once it is applied. */
  readonly granting: { readonly wallet_id: string; readonly allowance: Allowance } | undefined;
}

/** What this instance knows of a wallet's allowance: `undefined` when it must look in the ledger. */
interface AllowanceEntry {
  readonly known: Allowance | 'none' | undefined;
}

function limitsKey(tenant: Tenant, currency: CurrencyCode): string {
  return `${tenant.merchant_id}:${tenant.livemode ? 'live' : 'test'}:${currency}`;
}

/** What the wallet service does with the ledger's answer to one event of a chain. */
export type ResultDecision =
  /** The movement is in the ledger already (its id answered `exists`). */
  | { readonly kind: 'applied' }
  /** A refusal the customer can act on: the operation fails with a 4xx and a refusal marker. */
  | { readonly kind: 'refused'; readonly reason: RefusalReasonName }
  /** An account the chain touches is not in the ledger yet: create it and send again. */
  | { readonly kind: 'create_accounts' }
  /** Another request granted the allowance version this chain grants: take it as granted and send again. */
  | { readonly kind: 'take_granted' }
  /** The allowance moved on from the version this instance knew: read it again and send again. */
  | { readonly kind: 'forget_allowance' }
  /** The operation's transfer id holds something: read it to learn whether it is this operation. */
  | { readonly kind: 'look_up' }
  /** The service built a chain the ledger cannot take: a bug, for a person (500 api_error). */
  | { readonly kind: 'broken' };

const refused = (reason: RefusalReasonName): ResultDecision => ({ kind: 'refused', reason });
const broken: ResultDecision = { kind: 'broken' };

/** A balance constraint refused an event: which one is the customer's to act on. */
function exceedsCreditsDecision(role: Role): ResultDecision {
  switch (role) {
    case 'money':
      return refused('insufficient_funds');
    case 'usage':
    case 'take_back':
      return refused('wallet_limit_exceeded');
    case 'grant':
      // A grant debits the merchant's control account, which has no balance constraint.
      return broken;
  }
}

/** The event's id is taken by the same event: what that means for each role. */
function existsDecision(role: Role): ResultDecision {
  switch (role) {
    case 'money':
      return { kind: 'applied' };
    case 'grant':
      // Granted already, by another request, here or in another instance, maybe not committed yet
      // (so not in what a lookup reads).
      return { kind: 'take_granted' };
    case 'take_back':
      return { kind: 'forget_allowance' };
    case 'usage':
      return { kind: 'look_up' };
  }
}

/**
 * Every answer the ledger can give to an event of a wallet chain, by the event's role, decided in
 * one exhaustive switch: a result code added to the ledger does not compile until it is decided
 * here. Only answers that a well-formed request cannot cause are `broken`: each says why below.
 */
export function decisionOf(role: Role, result: CreateTransferResult): ResultDecision {
  switch (result) {
    // send() decides on the event that failed on its own, which is never one of these two.
    case 'ok':
    case 'linked_event_failed':
      return broken;
    // Accounts are created on first use (platform, merchant and control accounts), or again when
    // a crash came between a wallet's row and its accounts. Creating one that exists answers `exists`.
    case 'debit_account_not_found':
    case 'credit_account_not_found':
      return { kind: 'create_accounts' };
    // Only a wallet's control account is ever closed, by a freeze, and only the control events touch it.
    case 'debit_account_already_closed':
    case 'credit_account_already_closed':
      return role === 'money' ? broken : refused('wallet_frozen');
    case 'exceeds_credits':
      return exceedsCreditsDecision(role);
    // No wallet account limits its credits by its debits, and no wallet chain balances a credit.
    case 'exceeds_debits':
      return broken;
    // A balance in the books would pass the ledger's amount_max (2^53 - 1): the wallet's, or an
    // account that adds up every movement (the merchant's funding, the day's usage).
    case 'overflows_debits_pending':
    case 'overflows_credits_pending':
    case 'overflows_debits_posted':
    case 'overflows_credits_posted':
    case 'overflows_debits':
    case 'overflows_credits':
      return refused('amount_too_large');
    case 'exists':
      return existsDecision(role);
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
      return role === 'grant' || role === 'take_back' ? { kind: 'forget_allowance' } : { kind: 'look_up' };
    // The chains send() builds create transfers (plain or pending) and never post or void one.
    case 'pending_transfer_not_found':
    case 'pending_transfer_not_pending':
    case 'pending_transfer_has_different_debit_account_id':
    case 'pending_transfer_has_different_credit_account_id':
    case 'pending_transfer_has_different_ledger':
    case 'pending_transfer_has_different_code':
    case 'exceeds_pending_transfer_amount':
    case 'pending_transfer_has_different_amount':
    case 'pending_transfer_already_posted':
    case 'pending_transfer_already_voided':
    case 'pending_transfer_expired':
    case 'pending_id_must_be_zero':
    case 'pending_id_must_not_be_zero':
    case 'pending_id_must_not_be_int_max':
    case 'pending_id_must_be_different':
      return broken;
    // The shape of every event is the chart's (chart.ts), from a request the gateway validated: a
    // positive amount, known accounts and ledgers, a timeout of at most a day. These are its bugs.
    case 'linked_event_chain_open':
    case 'timestamp_must_be_zero':
    case 'reserved_flag':
    case 'id_must_not_be_zero':
    case 'id_must_not_be_int_max':
    case 'flags_are_mutually_exclusive':
    case 'debit_account_id_must_not_be_zero':
    case 'debit_account_id_must_not_be_int_max':
    case 'credit_account_id_must_not_be_zero':
    case 'credit_account_id_must_not_be_int_max':
    case 'accounts_must_be_different':
    case 'timeout_reserved_for_pending_transfer':
    case 'closing_transfer_must_be_pending':
    case 'amount_must_not_be_zero':
    case 'ledger_must_not_be_zero':
    case 'code_must_not_be_zero':
    case 'accounts_must_have_the_same_ledger':
    case 'transfer_must_have_the_same_ledger_as_accounts':
    case 'overflows_timeout':
      return broken;
    default: {
      const unmapped: never = result;
      return unmapped;
    }
  }
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
  /**
   * Each wallet's allowance as this instance last learned it. An entry is replaced, never changed,
   * so that a lookup can tell whether someone learned something newer while it was under way.
   */
  readonly #allowances = new LRUCache<string, AllowanceEntry>({ max: allowance_cache_entries_max });

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
    const entry = this.#allowances.get(wallet_id);
    if (entry?.known !== undefined) return entry.known === 'none' ? undefined : entry.known;
    const [grant] = await this.#ledger.getAccountTransfers({
      account_id: walletControlAccountId(wallet_id),
      code: TransferCode.wallet_limit_funding,
      limit: 1,
      debits: false,
      credits: true,
      reversed: true,
    });
    const allowance = grant === undefined ? undefined : { version: grant.user_data_32, amount: grant.amount };
    // A request that applied or met a grant while this lookup was under way knows better than what
    // the lookup read before that grant committed: keep its entry. Overwriting it sent every chain
    // of a busy wallet round again, granting an allowance the ledger already held.
    if (this.#allowances.get(wallet_id) === entry) this.#allowances.set(wallet_id, { known: allowance ?? 'none' });
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
        if (plan.granting !== undefined) this.#allowances.set(plan.granting.wallet_id, { known: plan.granting.allowance });
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
    const decision = decisionOf(role, result);
    switch (decision.kind) {
      case 'create_accounts':
        await this.createAccounts(operation);
        return 'resend';
      case 'applied':
        return { kind: 'applied', existing: undefined, result };
      case 'refused':
        return { kind: 'refused', reason: decision.reason, result };
      case 'take_granted': {
        const limits = await this.limitsOf({ merchant_id: operation.merchant_id, livemode: operation.livemode }, operation.currency);
        assert(operation.source_wallet_id !== null && limits.per_day_max !== null);
        this.#allowances.set(operation.source_wallet_id, { known: { version: limits.day_limit_version, amount: limits.per_day_max } });
        return 'resend';
      }
      case 'forget_allowance':
        return this.#forgetAllowance(operation);
      case 'look_up':
        return this.existing(operation);
      case 'broken':
        return { kind: 'broken', result };
    }
  }

  #forgetAllowance(operation: OperationRecord): 'resend' {
    assert(operation.source_wallet_id !== null);
    // A new entry, not a deletion: a lookup that began before this must not write its stale view back.
    this.#allowances.set(operation.source_wallet_id, { known: undefined });
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
    const same = operationTypeOfCode(transfer.code) === operation.type && isOperationTransfer(operation, transfer);
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
