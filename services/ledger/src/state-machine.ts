import { assert } from '@paygrid/kernel/assert';
import type { CreateAccountResult, CreateTransferResult } from './results';
import {
  AccountFlags,
  TransferFlags,
  account_flags_known,
  amount_max,
  hasFlag,
  id_max,
  nanoseconds_per_second,
  pendingExpiresAt,
  timestamp_max,
  transfer_flags_known,
  type Account,
  type AccountBalance,
  type AccountEvent,
  type PendingStatus,
  type Transfer,
  type TransferEvent,
} from './types';
import { ExpiryQueue } from './expiry-queue';

/** A change to one pending transfer's status, kept so the store can persist it. */
export interface PendingResolution {
  readonly id: bigint;
  readonly status: Exclude<PendingStatus, 'pending'>;
  readonly timestamp: bigint;
}

/**
 * Everything one batch changed, in the order it happened. The store persists exactly this in one
 * database transaction, and the hash chain is computed over it.
 */
export interface BatchEffects {
  readonly timestamp_first: bigint;
  readonly timestamp_last: bigint;
  /** New accounts with the flags they were created with (`closed` may change later in the batch). */
  readonly accounts_created: { readonly account: Account; readonly created_flags: number }[];
  readonly transfers_created: Transfer[];
  readonly pending_resolved: PendingResolution[];
  readonly accounts_touched: Set<Account>;
  readonly balances: AccountBalance[];
}

interface AccountSnapshot {
  readonly account: Account;
  readonly flags: number;
  readonly debits_pending: bigint;
  readonly debits_posted: bigint;
  readonly credits_pending: bigint;
  readonly credits_posted: bigint;
}

type UndoEntry =
  | { readonly kind: 'account_created'; readonly id: bigint }
  | { readonly kind: 'account_changed'; readonly snapshot: AccountSnapshot }
  | { readonly kind: 'transfer_created'; readonly id: bigint }
  | { readonly kind: 'pending_status'; readonly id: bigint; readonly previous: PendingStatus };

interface EffectLengths {
  readonly accounts_created: number;
  readonly transfers_created: number;
  readonly pending_resolved: number;
  readonly balances: number;
}

/**
 * The ledger's rules, applied in memory by the single writer. It is synchronous and does no I/O:
 * the writer prefetches every transfer a batch may reference into `transfers` before it runs, and
 * persists the batch's effects after. Accounts are all in memory, so a hot account costs nothing
 * more than a cold one.
 */
/**
 * How a state machine numbers events. A sharded ledger gives each shard, and its coordinator, a
 * residue of its own modulo one stride, so that no two events anywhere share a timestamp and
 * transfers merged from several shards still sort and paginate by timestamp alone.
 */
export interface TimestampSpacing {
  readonly stride: bigint;
  readonly residue: bigint;
}

export const timestamps_consecutive: TimestampSpacing = { stride: 1n, residue: 0n };

/**
 * An event applied as decided elsewhere: a sharded ledger's coordinator runs the rules over the
 * accounts of several shards at once and hands each shard what it decided, to apply as given.
 */
export type ImportedEvent =
  | { readonly kind: 'account'; readonly account: Account }
  | { readonly kind: 'transfer'; readonly transfer: Transfer };

export class LedgerStateMachine {
  readonly accounts = new Map<bigint, Account>();
  /** The working set: every transfer a batch may reference must be here when the batch runs. */
  readonly transfers = new Map<bigint, Transfer>();
  /** Status of every pending transfer in the working set. */
  readonly pending_status = new Map<bigint, PendingStatus>();
  readonly expiry_queue = new ExpiryQueue();
  /** The timestamp of the last event committed; every new one is strictly greater. */
  commit_timestamp = 0n;

  private effects: BatchEffects | null = null;
  private next_timestamp = 0n;
  private undo_log: UndoEntry[] | null = null;
  private undo_effect_lengths: EffectLengths | null = null;

  constructor(private readonly spacing: TimestampSpacing = timestamps_consecutive) {
    assert(spacing.stride >= 1n && spacing.residue >= 0n && spacing.residue < spacing.stride);
  }

  /**
   * Opens a batch of `event_count` events at wall-clock time `now_ns`: assigns its timestamps and
   * expires every pending transfer whose timeout has passed by then.
   */
  beginBatch(now_ns: bigint, event_count: number): void {
    assert(this.effects === null, 'a batch is already open');
    assert(event_count >= 0);
    const { stride, residue } = this.spacing;
    const earliest = now_ns > this.commit_timestamp ? now_ns : this.commit_timestamp + 1n;
    const timestamp_first = earliest + ((residue - (earliest % stride) + stride) % stride);
    const timestamp_last = timestamp_first + (BigInt(Math.max(event_count, 1)) - 1n) * stride;
    assert(timestamp_last <= timestamp_max, 'timestamp overflow');
    this.effects = emptyEffects(timestamp_first, timestamp_last);
    this.next_timestamp = timestamp_first;
    this.expirePendingTransfers(timestamp_first);
  }

  /**
   * Opens a batch of imported events (`importEvents`) that carry their own timestamps, all within
   * [timestamp_first, timestamp_last] and after every timestamp this machine has committed. It
   * expires pending transfers as of `timestamp_first`, as the batch that decided the events did.
   */
  beginImportBatch(timestamp_first: bigint, timestamp_last: bigint): void {
    assert(this.effects === null, 'a batch is already open');
    assert(timestamp_first > this.commit_timestamp, 'imported events must come after every committed one');
    assert(timestamp_first <= timestamp_last && timestamp_last <= timestamp_max);
    this.effects = emptyEffects(timestamp_first, timestamp_last);
    // Not idle even if nothing is imported: the batch spans its timestamps.
    this.next_timestamp = timestamp_last + 1n;
    this.expirePendingTransfers(timestamp_first);
  }

  /**
   * Applies events decided by a coordinator, in order, without checking them again: the
   * coordinator ran these rules over the same accounts while this machine's writer was held, so
   * each one is known to succeed. Pending flags close only accounts that `closes` admits (a
   * shard's clearing account stands in for an account of another shard and is never closed).
   * The events apply all or none: any surprise is a bug and ends the process.
   */
  importEvents(events: readonly ImportedEvent[], closes: (account_id: bigint) => boolean): void {
    const effects = this.currentEffects();
    let previous = this.commit_timestamp;
    for (const event of events) {
      const timestamp = event.kind === 'account' ? event.account.timestamp : event.transfer.timestamp;
      assert(timestamp > previous && timestamp >= effects.timestamp_first && timestamp <= effects.timestamp_last, 'imported events keep their order');
      previous = timestamp;
      if (event.kind === 'account') this.importAccount(event.account);
      else this.importTransfer(event.transfer, closes);
    }
  }

  private importAccount(account: Account): void {
    assert(!this.accounts.has(account.id), 'an imported account exists already');
    assert(account.debits_pending === 0n && account.debits_posted === 0n && account.credits_pending === 0n && account.credits_posted === 0n);
    const created: Account = { ...account };
    this.accounts.set(created.id, created);
    this.currentEffects().accounts_created.push({ account: created, created_flags: created.flags });
  }

  private importTransfer(transfer: Transfer, closes: (account_id: bigint) => boolean): void {
    assert(!this.transfers.has(transfer.id), 'an imported transfer exists already');
    const resolving = hasFlag(transfer.flags, TransferFlags.post_pending_transfer) || hasFlag(transfer.flags, TransferFlags.void_pending_transfer);
    if (resolving) {
      const pending = this.transfers.get(transfer.pending_id);
      assert(pending !== undefined && this.pending_status.get(pending.id) === 'pending', 'an imported post or void names a transfer not pending here');
      const debit = this.accounts.get(pending.debit_account_id);
      const credit = this.accounts.get(pending.credit_account_id);
      assert(debit !== undefined && credit !== undefined, 'an imported post or void names a missing account');
      assert(transfer.debit_account_id === pending.debit_account_id && transfer.credit_account_id === pending.credit_account_id);
      const posting = hasFlag(transfer.flags, TransferFlags.post_pending_transfer);
      this.recordTransfer(transfer);
      this.resolvePending(pending, debit, credit, posting ? 'posted' : 'voided', transfer.timestamp);
      if (posting) {
        debit.debits_posted += transfer.amount;
        credit.credits_posted += transfer.amount;
      }
      this.recordBalances(transfer, debit, credit);
      return;
    }
    const debit = this.accounts.get(transfer.debit_account_id);
    const credit = this.accounts.get(transfer.credit_account_id);
    assert(debit !== undefined && credit !== undefined, 'an imported transfer names a missing account');
    this.recordTransfer(transfer);
    this.changeAccount(debit);
    this.changeAccount(credit);
    if (hasFlag(transfer.flags, TransferFlags.pending)) {
      debit.debits_pending += transfer.amount;
      credit.credits_pending += transfer.amount;
      this.setPendingStatus(transfer.id, 'pending');
      if (transfer.timeout > 0) this.expiry_queue.push(transfer.id, pendingExpiresAt(transfer));
      if (hasFlag(transfer.flags, TransferFlags.closing_debit) && closes(debit.id)) debit.flags |= AccountFlags.closed;
      if (hasFlag(transfer.flags, TransferFlags.closing_credit) && closes(credit.id)) credit.flags |= AccountFlags.closed;
    } else {
      debit.debits_posted += transfer.amount;
      credit.credits_posted += transfer.amount;
    }
    this.recordBalances(transfer, debit, credit);
  }

  endBatch(): BatchEffects {
    const effects = this.effects;
    assert(effects !== null, 'no batch is open');
    assert(this.undo_log === null, 'a linked chain is still open');
    assert(this.next_timestamp <= effects.timestamp_last + this.spacing.stride);
    // An empty batch that expired nothing (an idle wake-up) leaves no trace, not even a timestamp.
    const idle = this.next_timestamp === effects.timestamp_first && effects.pending_resolved.length === 0;
    if (!idle) this.commit_timestamp = effects.timestamp_last;
    this.effects = null;
    return effects;
  }

  /** The earliest moment at which some pending transfer expires, if any does. */
  nextExpiry(): bigint | undefined {
    return this.expiry_queue.peekValid((id, expires_at) => this.isPendingExpiringAt(id, expires_at));
  }

  createAccounts(events: readonly AccountEvent[]): CreateAccountResult[] {
    return this.executeChains(events, (event, timestamp) => this.createAccount(event, timestamp));
  }

  createTransfers(events: readonly TransferEvent[]): CreateTransferResult[] {
    return this.executeChains(events, (event, timestamp) => this.createTransfer(event, timestamp));
  }

  /**
   * Applies events in order, with TigerBeetle's linked-chain rule: a chain of events joined by the
   * `linked` flag succeeds or fails as one, and a chain left open at the end of the request fails.
   */
  private executeChains<Event extends { readonly flags: number }, Result extends string>(
    events: readonly Event[],
    execute: (event: Event, timestamp: bigint) => Result | 'ok',
  ): (Result | 'ok' | 'linked_event_failed' | 'linked_event_chain_open')[] {
    const results: (Result | 'ok' | 'linked_event_failed' | 'linked_event_chain_open')[] = [];
    let chain_start: number | null = null;
    let chain_broken = false;
    for (let index = 0; index < events.length; index++) {
      const event = events[index];
      assert(event !== undefined);
      const timestamp = this.takeTimestamp();
      const linked = hasFlag(event.flags, AccountFlags.linked);
      let result: Result | 'ok' | 'linked_event_failed' | 'linked_event_chain_open';
      if (linked && chain_start === null) {
        chain_start = index;
        this.openScope();
      }
      if (linked && index === events.length - 1) {
        result = 'linked_event_chain_open';
      } else if (chain_broken) {
        result = 'linked_event_failed';
      } else {
        result = execute(event, timestamp);
      }
      if (result !== 'ok' && chain_start !== null && !chain_broken) {
        chain_broken = true;
        this.rollbackScope();
        for (let earlier = chain_start; earlier < index; earlier++) results[earlier] = 'linked_event_failed';
      }
      results[index] = result;
      if (chain_start !== null && (!linked || result === 'linked_event_chain_open')) {
        if (!chain_broken) this.closeScope();
        chain_start = null;
        chain_broken = false;
      }
    }
    assert(this.undo_log === null);
    return results;
  }

  private takeTimestamp(): bigint {
    const effects = this.effects;
    assert(effects !== null, 'no batch is open');
    const timestamp = this.next_timestamp;
    assert(timestamp <= effects.timestamp_last, 'more events than the batch declared');
    this.next_timestamp += this.spacing.stride;
    return timestamp;
  }

  private createAccount(event: AccountEvent, timestamp: bigint): CreateAccountResult {
    if (event.timestamp !== 0n) return 'timestamp_must_be_zero';
    if ((event.flags & ~account_flags_known) !== 0) return 'reserved_flag';
    if (event.id === 0n) return 'id_must_not_be_zero';
    if (event.id === id_max) return 'id_must_not_be_int_max';

    const existing = this.accounts.get(event.id);
    if (existing !== undefined) return createAccountExists(event, existing);

    if (
      hasFlag(event.flags, AccountFlags.debits_must_not_exceed_credits) &&
      hasFlag(event.flags, AccountFlags.credits_must_not_exceed_debits)
    ) {
      return 'flags_are_mutually_exclusive';
    }
    if (event.debits_pending !== 0n) return 'debits_pending_must_be_zero';
    if (event.debits_posted !== 0n) return 'debits_posted_must_be_zero';
    if (event.credits_pending !== 0n) return 'credits_pending_must_be_zero';
    if (event.credits_posted !== 0n) return 'credits_posted_must_be_zero';
    if (event.ledger === 0) return 'ledger_must_not_be_zero';
    if (event.code === 0) return 'code_must_not_be_zero';

    const account: Account = {
      id: event.id,
      ledger: event.ledger,
      code: event.code,
      flags: event.flags,
      user_data_128: event.user_data_128,
      user_data_64: event.user_data_64,
      user_data_32: event.user_data_32,
      debits_pending: 0n,
      debits_posted: 0n,
      credits_pending: 0n,
      credits_posted: 0n,
      timestamp,
    };
    this.accounts.set(account.id, account);
    this.undo_log?.push({ kind: 'account_created', id: account.id });
    this.currentEffects().accounts_created.push({ account, created_flags: account.flags });
    return 'ok';
  }

  private createTransfer(event: TransferEvent, timestamp: bigint): CreateTransferResult {
    if (event.timestamp !== 0n) return 'timestamp_must_be_zero';
    if ((event.flags & ~transfer_flags_known) !== 0) return 'reserved_flag';
    if (event.id === 0n) return 'id_must_not_be_zero';
    if (event.id === id_max) return 'id_must_not_be_int_max';

    const existing = this.transfers.get(event.id);
    if (existing !== undefined) return this.createTransferExists(event, existing);

    if (
      hasFlag(event.flags, TransferFlags.post_pending_transfer) ||
      hasFlag(event.flags, TransferFlags.void_pending_transfer)
    ) {
      return this.postOrVoidPendingTransfer(event, timestamp);
    }

    if (event.debit_account_id === 0n) return 'debit_account_id_must_not_be_zero';
    if (event.debit_account_id === id_max) return 'debit_account_id_must_not_be_int_max';
    if (event.credit_account_id === 0n) return 'credit_account_id_must_not_be_zero';
    if (event.credit_account_id === id_max) return 'credit_account_id_must_not_be_int_max';
    if (event.credit_account_id === event.debit_account_id) return 'accounts_must_be_different';
    if (event.pending_id !== 0n) return 'pending_id_must_be_zero';
    const is_pending = hasFlag(event.flags, TransferFlags.pending);
    if (!is_pending && event.timeout !== 0) return 'timeout_reserved_for_pending_transfer';
    const closing_debit = hasFlag(event.flags, TransferFlags.closing_debit);
    const closing_credit = hasFlag(event.flags, TransferFlags.closing_credit);
    if (!is_pending && (closing_debit || closing_credit)) return 'closing_transfer_must_be_pending';
    const balancing_debit = hasFlag(event.flags, TransferFlags.balancing_debit);
    const balancing_credit = hasFlag(event.flags, TransferFlags.balancing_credit);
    if (!balancing_debit && !balancing_credit && event.amount === 0n) return 'amount_must_not_be_zero';
    if (event.ledger === 0) return 'ledger_must_not_be_zero';
    if (event.code === 0) return 'code_must_not_be_zero';

    const debit = this.accounts.get(event.debit_account_id);
    if (debit === undefined) return 'debit_account_not_found';
    const credit = this.accounts.get(event.credit_account_id);
    if (credit === undefined) return 'credit_account_not_found';
    if (debit.ledger !== credit.ledger) return 'accounts_must_have_the_same_ledger';
    if (event.ledger !== debit.ledger) return 'transfer_must_have_the_same_ledger_as_accounts';
    if (hasFlag(debit.flags, AccountFlags.closed)) return 'debit_account_already_closed';
    if (hasFlag(credit.flags, AccountFlags.closed)) return 'credit_account_already_closed';

    // A balancing transfer moves at most `amount` (zero meaning no limit), and no more than
    // what brings the balancing side's account level.
    let amount = event.amount;
    if (balancing_debit || balancing_credit) {
      if (amount === 0n) amount = amount_max;
      if (balancing_debit) {
        const debit_room = debit.credits_posted - debit.debits_posted - debit.debits_pending;
        amount = minimum(amount, debit_room > 0n ? debit_room : 0n);
        if (amount === 0n) return 'exceeds_credits';
      }
      if (balancing_credit) {
        const credit_room = credit.debits_posted - credit.credits_posted - credit.credits_pending;
        amount = minimum(amount, credit_room > 0n ? credit_room : 0n);
        if (amount === 0n) return 'exceeds_debits';
      }
    }

    if (is_pending) {
      if (amount + debit.debits_pending > amount_max) return 'overflows_debits_pending';
      if (amount + credit.credits_pending > amount_max) return 'overflows_credits_pending';
    }
    if (amount + debit.debits_posted > amount_max) return 'overflows_debits_posted';
    if (amount + credit.credits_posted > amount_max) return 'overflows_credits_posted';
    if (amount + debit.debits_pending + debit.debits_posted > amount_max) return 'overflows_debits';
    if (amount + credit.credits_pending + credit.credits_posted > amount_max) return 'overflows_credits';
    if (timestamp + BigInt(event.timeout) * nanoseconds_per_second > timestamp_max) return 'overflows_timeout';

    if (
      hasFlag(debit.flags, AccountFlags.debits_must_not_exceed_credits) &&
      debit.debits_pending + debit.debits_posted + amount > debit.credits_posted
    ) {
      return 'exceeds_credits';
    }
    if (
      hasFlag(credit.flags, AccountFlags.credits_must_not_exceed_debits) &&
      credit.credits_pending + credit.credits_posted + amount > credit.debits_posted
    ) {
      return 'exceeds_debits';
    }

    // From here on the transfer succeeds.
    const transfer: Transfer = { ...event, amount, timestamp };
    this.recordTransfer(transfer);
    this.changeAccount(debit);
    this.changeAccount(credit);
    if (is_pending) {
      debit.debits_pending += amount;
      credit.credits_pending += amount;
      this.setPendingStatus(transfer.id, 'pending');
      if (transfer.timeout > 0) this.expiry_queue.push(transfer.id, pendingExpiresAt(transfer));
      if (closing_debit) debit.flags |= AccountFlags.closed;
      if (closing_credit) credit.flags |= AccountFlags.closed;
    } else {
      debit.debits_posted += amount;
      credit.credits_posted += amount;
    }
    this.recordBalances(transfer, debit, credit);
    return 'ok';
  }

  private postOrVoidPendingTransfer(event: TransferEvent, timestamp: bigint): CreateTransferResult {
    const posting = hasFlag(event.flags, TransferFlags.post_pending_transfer);
    const voiding = hasFlag(event.flags, TransferFlags.void_pending_transfer);
    assert(posting || voiding);
    if (posting && voiding) return 'flags_are_mutually_exclusive';
    const exclusive =
      TransferFlags.pending |
      TransferFlags.balancing_debit |
      TransferFlags.balancing_credit |
      TransferFlags.closing_debit |
      TransferFlags.closing_credit;
    if ((event.flags & exclusive) !== 0) return 'flags_are_mutually_exclusive';
    if (event.pending_id === 0n) return 'pending_id_must_not_be_zero';
    if (event.pending_id === id_max) return 'pending_id_must_not_be_int_max';
    if (event.pending_id === event.id) return 'pending_id_must_be_different';
    if (event.timeout !== 0) return 'timeout_reserved_for_pending_transfer';

    const pending = this.transfers.get(event.pending_id);
    if (pending === undefined) return 'pending_transfer_not_found';
    if (!hasFlag(pending.flags, TransferFlags.pending)) return 'pending_transfer_not_pending';
    if (event.debit_account_id !== 0n && event.debit_account_id !== pending.debit_account_id) {
      return 'pending_transfer_has_different_debit_account_id';
    }
    if (event.credit_account_id !== 0n && event.credit_account_id !== pending.credit_account_id) {
      return 'pending_transfer_has_different_credit_account_id';
    }
    if (event.ledger !== 0 && event.ledger !== pending.ledger) return 'pending_transfer_has_different_ledger';
    if (event.code !== 0 && event.code !== pending.code) return 'pending_transfer_has_different_code';
    const amount = event.amount > 0n ? event.amount : pending.amount;
    if (amount > pending.amount) return 'exceeds_pending_transfer_amount';
    if (voiding && amount < pending.amount) return 'pending_transfer_has_different_amount';

    const status = this.pending_status.get(pending.id);
    assert(status !== undefined, 'a pending transfer in the working set has no status');
    if (status === 'posted') return 'pending_transfer_already_posted';
    if (status === 'voided') return 'pending_transfer_already_voided';
    if (status === 'expired') return 'pending_transfer_expired';
    if (pending.timeout > 0 && pendingExpiresAt(pending) <= timestamp) return 'pending_transfer_expired';

    const debit = this.accounts.get(pending.debit_account_id);
    const credit = this.accounts.get(pending.credit_account_id);
    assert(debit !== undefined && credit !== undefined, 'a pending transfer names a missing account');
    // The pending transfer that closed an account may still be posted or voided; nothing else
    // may touch a closed account.
    if (hasFlag(debit.flags, AccountFlags.closed) && !hasFlag(pending.flags, TransferFlags.closing_debit)) {
      return 'debit_account_already_closed';
    }
    if (hasFlag(credit.flags, AccountFlags.closed) && !hasFlag(pending.flags, TransferFlags.closing_credit)) {
      return 'credit_account_already_closed';
    }
    if (posting) {
      assert(debit.debits_pending >= pending.amount && credit.credits_pending >= pending.amount);
      if (amount + debit.debits_posted > amount_max) return 'overflows_debits_posted';
      if (amount + credit.credits_posted > amount_max) return 'overflows_credits_posted';
    }

    // From here on the transfer succeeds.
    const transfer: Transfer = {
      id: event.id,
      debit_account_id: pending.debit_account_id,
      credit_account_id: pending.credit_account_id,
      amount,
      pending_id: event.pending_id,
      user_data_128: event.user_data_128 !== 0n ? event.user_data_128 : pending.user_data_128,
      user_data_64: event.user_data_64 !== 0n ? event.user_data_64 : pending.user_data_64,
      user_data_32: event.user_data_32 !== 0 ? event.user_data_32 : pending.user_data_32,
      timeout: 0,
      ledger: pending.ledger,
      code: pending.code,
      flags: event.flags,
      timestamp,
    };
    this.recordTransfer(transfer);
    this.resolvePending(pending, debit, credit, posting ? 'posted' : 'voided', timestamp);
    if (posting) {
      debit.debits_posted += amount;
      credit.credits_posted += amount;
    }
    this.recordBalances(transfer, debit, credit);
    return 'ok';
  }

  /**
   * Same id, same content: `exists`. Same id, different content: the first field that differs,
   * in precedence order. Post and void events may leave fields zero to inherit them from the
   * pending transfer, so zero matches what was inherited.
   */
  private createTransferExists(event: TransferEvent, existing: Transfer): CreateTransferResult {
    assert(event.id === existing.id);
    if (event.flags !== existing.flags) return 'exists_with_different_flags';
    if (event.pending_id !== existing.pending_id) return 'exists_with_different_pending_id';
    if (event.timeout !== existing.timeout) return 'exists_with_different_timeout';
    const resolving =
      hasFlag(event.flags, TransferFlags.post_pending_transfer) ||
      hasFlag(event.flags, TransferFlags.void_pending_transfer);
    if (!resolving) {
      if (event.debit_account_id !== existing.debit_account_id) return 'exists_with_different_debit_account_id';
      if (event.credit_account_id !== existing.credit_account_id) return 'exists_with_different_credit_account_id';
      const balancing =
        hasFlag(event.flags, TransferFlags.balancing_debit) || hasFlag(event.flags, TransferFlags.balancing_credit);
      if (balancing) {
        // A balancing transfer's amount is an upper limit: resubmitting it is `exists` as long as
        // what was moved fits under the limit.
        if (event.amount > 0n && event.amount < existing.amount) return 'exists_with_different_amount';
      } else if (event.amount !== existing.amount) {
        return 'exists_with_different_amount';
      }
      return existsByUserDataLedgerCode(event, existing);
    }
    const pending = this.transfers.get(existing.pending_id);
    assert(pending !== undefined, 'a posting transfer names a pending transfer missing from the working set');
    if (event.debit_account_id !== 0n && event.debit_account_id !== existing.debit_account_id) {
      return 'exists_with_different_debit_account_id';
    }
    if (event.credit_account_id !== 0n && event.credit_account_id !== existing.credit_account_id) {
      return 'exists_with_different_credit_account_id';
    }
    if ((event.amount === 0n ? pending.amount : event.amount) !== existing.amount) return 'exists_with_different_amount';
    if ((event.user_data_128 !== 0n ? event.user_data_128 : pending.user_data_128) !== existing.user_data_128) {
      return 'exists_with_different_user_data_128';
    }
    if ((event.user_data_64 !== 0n ? event.user_data_64 : pending.user_data_64) !== existing.user_data_64) {
      return 'exists_with_different_user_data_64';
    }
    if ((event.user_data_32 !== 0 ? event.user_data_32 : pending.user_data_32) !== existing.user_data_32) {
      return 'exists_with_different_user_data_32';
    }
    if (event.ledger !== 0 && event.ledger !== existing.ledger) return 'exists_with_different_ledger';
    if (event.code !== 0 && event.code !== existing.code) return 'exists_with_different_code';
    return 'exists';
  }

  private expirePendingTransfers(now: bigint): void {
    for (;;) {
      const due = this.expiry_queue.popDue(now, (id, expires_at) => this.isPendingExpiringAt(id, expires_at));
      if (due === undefined) return;
      const pending = this.transfers.get(due);
      assert(pending !== undefined);
      const debit = this.accounts.get(pending.debit_account_id);
      const credit = this.accounts.get(pending.credit_account_id);
      assert(debit !== undefined && credit !== undefined);
      this.resolvePending(pending, debit, credit, 'expired', now);
    }
  }

  private isPendingExpiringAt(id: bigint, expires_at: bigint): boolean {
    const transfer = this.transfers.get(id);
    return (
      transfer !== undefined &&
      this.pending_status.get(id) === 'pending' &&
      transfer.timeout > 0 &&
      pendingExpiresAt(transfer) === expires_at
    );
  }

  /** Releases a pending transfer's hold on both accounts, and reopens what it closed. */
  private resolvePending(
    pending: Transfer,
    debit: Account,
    credit: Account,
    status: Exclude<PendingStatus, 'pending'>,
    timestamp: bigint,
  ): void {
    this.changeAccount(debit);
    this.changeAccount(credit);
    debit.debits_pending -= pending.amount;
    credit.credits_pending -= pending.amount;
    assert(debit.debits_pending >= 0n && credit.credits_pending >= 0n);
    if (status !== 'posted') {
      if (hasFlag(pending.flags, TransferFlags.closing_debit)) debit.flags &= ~AccountFlags.closed;
      if (hasFlag(pending.flags, TransferFlags.closing_credit)) credit.flags &= ~AccountFlags.closed;
    }
    this.setPendingStatus(pending.id, status);
    this.currentEffects().pending_resolved.push({ id: pending.id, status, timestamp });
  }

  private recordTransfer(transfer: Transfer): void {
    this.transfers.set(transfer.id, transfer);
    this.undo_log?.push({ kind: 'transfer_created', id: transfer.id });
    this.currentEffects().transfers_created.push(transfer);
  }

  private recordBalances(transfer: Transfer, debit: Account, credit: Account): void {
    const effects = this.currentEffects();
    for (const account of [debit, credit]) {
      if (!hasFlag(account.flags, AccountFlags.history)) continue;
      effects.balances.push({
        account_id: account.id,
        timestamp: transfer.timestamp,
        debits_pending: account.debits_pending,
        debits_posted: account.debits_posted,
        credits_pending: account.credits_pending,
        credits_posted: account.credits_posted,
      });
    }
  }

  private setPendingStatus(id: bigint, status: PendingStatus): void {
    const previous = this.pending_status.get(id);
    if (this.undo_log !== null) {
      if (previous === undefined) {
        // A pending transfer created inside the chain disappears with `transfer_created`.
        assert(status === 'pending');
      } else {
        this.undo_log.push({ kind: 'pending_status', id, previous });
      }
    }
    this.pending_status.set(id, status);
  }

  /** Call before mutating an account, so that a failed linked chain can restore it. */
  private changeAccount(account: Account): void {
    this.currentEffects().accounts_touched.add(account);
    this.undo_log?.push({
      kind: 'account_changed',
      snapshot: {
        account,
        flags: account.flags,
        debits_pending: account.debits_pending,
        debits_posted: account.debits_posted,
        credits_pending: account.credits_pending,
        credits_posted: account.credits_posted,
      },
    });
  }

  private currentEffects(): BatchEffects {
    assert(this.effects !== null, 'no batch is open');
    return this.effects;
  }

  private openScope(): void {
    assert(this.undo_log === null, 'linked chains do not nest');
    const effects = this.currentEffects();
    this.undo_log = [];
    this.undo_effect_lengths = {
      accounts_created: effects.accounts_created.length,
      transfers_created: effects.transfers_created.length,
      pending_resolved: effects.pending_resolved.length,
      balances: effects.balances.length,
    };
  }

  private closeScope(): void {
    assert(this.undo_log !== null);
    this.undo_log = null;
    this.undo_effect_lengths = null;
  }

  private rollbackScope(): void {
    const undo_log = this.undo_log;
    const lengths = this.undo_effect_lengths;
    assert(undo_log !== null && lengths !== null);
    for (let index = undo_log.length - 1; index >= 0; index--) {
      const entry = undo_log[index];
      assert(entry !== undefined);
      switch (entry.kind) {
        case 'account_created':
          this.accounts.delete(entry.id);
          break;
        case 'account_changed': {
          const { account } = entry.snapshot;
          account.flags = entry.snapshot.flags;
          account.debits_pending = entry.snapshot.debits_pending;
          account.debits_posted = entry.snapshot.debits_posted;
          account.credits_pending = entry.snapshot.credits_pending;
          account.credits_posted = entry.snapshot.credits_posted;
          break;
        }
        case 'transfer_created':
          this.transfers.delete(entry.id);
          this.pending_status.delete(entry.id);
          break;
        case 'pending_status':
          this.pending_status.set(entry.id, entry.previous);
          break;
      }
    }
    const effects = this.currentEffects();
    effects.accounts_created.length = lengths.accounts_created;
    effects.transfers_created.length = lengths.transfers_created;
    effects.pending_resolved.length = lengths.pending_resolved;
    effects.balances.length = lengths.balances;
    this.undo_log = null;
    this.undo_effect_lengths = null;
  }
}

function createAccountExists(event: AccountEvent, existing: Account): CreateAccountResult {
  assert(event.id === existing.id);
  // `closed` changes as closing transfers post and void, so it is not part of identity.
  if ((event.flags & ~AccountFlags.closed) !== (existing.flags & ~AccountFlags.closed)) {
    return 'exists_with_different_flags';
  }
  return existsByUserDataLedgerCode(event, existing);
}

type Identity = Pick<Account, 'user_data_128' | 'user_data_64' | 'user_data_32' | 'ledger' | 'code'>;

/** The fields both exists checks end with, in precedence order. */
function existsByUserDataLedgerCode(
  event: Identity,
  existing: Identity,
): CreateAccountResult & CreateTransferResult {
  if (event.user_data_128 !== existing.user_data_128) return 'exists_with_different_user_data_128';
  if (event.user_data_64 !== existing.user_data_64) return 'exists_with_different_user_data_64';
  if (event.user_data_32 !== existing.user_data_32) return 'exists_with_different_user_data_32';
  if (event.ledger !== existing.ledger) return 'exists_with_different_ledger';
  if (event.code !== existing.code) return 'exists_with_different_code';
  return 'exists';
}

function emptyEffects(timestamp_first: bigint, timestamp_last: bigint): BatchEffects {
  return { timestamp_first, timestamp_last, accounts_created: [], transfers_created: [], pending_resolved: [], accounts_touched: new Set(), balances: [] };
}

function minimum(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
