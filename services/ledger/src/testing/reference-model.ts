// A deliberately simple model of the ledger's rules, for property tests. It keeps everything in
// plain maps, copies the whole state before each linked chain and throws the copy away on failure,
// and recomputes nothing incrementally. It is slow and obviously correct; the real state machine
// is fast and must agree with it on every result and every balance.
import { AccountFlags as A, TransferFlags as T, amount_max, id_max, timestamp_max } from '../types';
import type { Account, AccountEvent, PendingStatus, TransferEvent } from '../types';

/** The model's accounts are the ledger's, with every field writable. */
export type ModelAccount = { -readonly [Field in keyof Account]: Account[Field] };

export type ModelTransfer = TransferEvent;

interface ModelState {
  accounts: Map<bigint, ModelAccount>;
  transfers: Map<bigint, ModelTransfer>;
  status: Map<bigint, PendingStatus>;
}

const known_account_flags = A.linked | A.debits_must_not_exceed_credits | A.credits_must_not_exceed_debits | A.history | A.closed;
const known_transfer_flags = 0xff;

function has(flags: number, flag: number): boolean {
  return (flags & flag) !== 0;
}

function copyState(state: ModelState): ModelState {
  return {
    accounts: new Map([...state.accounts].map(([id, account]) => [id, { ...account }])),
    transfers: new Map(state.transfers),
    status: new Map(state.status),
  };
}

export class ReferenceLedger {
  state: ModelState = { accounts: new Map(), transfers: new Map(), status: new Map() };
  private commit = 0n;
  private clock = 0n;

  /** Runs one batch of operations at wall-clock time `now`, as the writer would. */
  batch(
    now: bigint,
    operations: readonly ({ kind: 'accounts'; events: AccountEvent[] } | { kind: 'transfers'; events: TransferEvent[] })[],
  ): string[][] {
    const total = operations.reduce((sum, operation) => sum + operation.events.length, 0);
    const first = now > this.commit ? now : this.commit + 1n;
    this.clock = first;
    this.expire(first);
    const results = operations.map((operation) =>
      operation.kind === 'accounts'
        ? this.chains(operation.events, (event, timestamp) => this.account(event, timestamp))
        : this.chains(operation.events, (event, timestamp) => this.transfer(event, timestamp)),
    );
    this.commit = first + BigInt(Math.max(total, 1)) - 1n;
    return results;
  }

  private expire(now: bigint): void {
    for (const [id, status] of this.state.status) {
      const pending = this.state.transfers.get(id);
      if (status !== 'pending' || pending === undefined || pending.timeout === 0) continue;
      if (pending.timestamp + BigInt(pending.timeout) * 1_000_000_000n > now) continue;
      this.release(pending, 'expired');
    }
  }

  private release(pending: ModelTransfer, status: PendingStatus): void {
    const debit = this.state.accounts.get(pending.debit_account_id);
    const credit = this.state.accounts.get(pending.credit_account_id);
    if (debit === undefined || credit === undefined) throw new Error('model: pending names a missing account');
    debit.debits_pending -= pending.amount;
    credit.credits_pending -= pending.amount;
    if (status !== 'posted') {
      if (has(pending.flags, T.closing_debit)) debit.flags &= ~A.closed;
      if (has(pending.flags, T.closing_credit)) credit.flags &= ~A.closed;
    }
    this.state.status.set(pending.id, status);
  }

  private chains<E extends { flags: number }>(events: E[], run: (event: E, timestamp: bigint) => string): string[] {
    const results: string[] = [];
    let index = 0;
    while (index < events.length) {
      // Find the chain: this event and every following one while the previous was linked.
      let end = index;
      while (end < events.length - 1 && has(events[end]!.flags, A.linked)) end++;
      const chain = events.slice(index, end + 1);
      const open = has(chain[chain.length - 1]!.flags, A.linked);
      // Only a chain can need undoing: a lone event that fails changed nothing.
      const saved = chain.length > 1 || open ? copyState(this.state) : this.state;
      const chain_results: string[] = [];
      let failed = -1;
      for (let offset = 0; offset < chain.length; offset++) {
        const timestamp = this.clock++;
        if (failed >= 0) {
          chain_results.push('linked_event_failed');
          continue;
        }
        if (open && offset === chain.length - 1) {
          chain_results.push('linked_event_chain_open');
          failed = offset;
          continue;
        }
        const result = run(chain[offset]!, timestamp);
        chain_results.push(result);
        if (result !== 'ok') failed = offset;
      }
      if (failed >= 0 && chain.length > 1) {
        this.state = saved;
        for (let offset = 0; offset < failed; offset++) chain_results[offset] = 'linked_event_failed';
        if (open) chain_results[chain.length - 1] = 'linked_event_chain_open';
      } else if (failed >= 0 && open) {
        this.state = saved;
      }
      results.push(...chain_results);
      index = end + 1;
    }
    return results;
  }

  private account(event: AccountEvent, timestamp: bigint): string {
    if (event.timestamp !== 0n) return 'timestamp_must_be_zero';
    if ((event.flags & ~known_account_flags) !== 0) return 'reserved_flag';
    if (event.id === 0n) return 'id_must_not_be_zero';
    if (event.id === id_max) return 'id_must_not_be_int_max';
    const existing = this.state.accounts.get(event.id);
    if (existing) {
      if ((event.flags | A.closed) !== (existing.flags | A.closed)) return 'exists_with_different_flags';
      if (event.user_data_128 !== existing.user_data_128) return 'exists_with_different_user_data_128';
      if (event.user_data_64 !== existing.user_data_64) return 'exists_with_different_user_data_64';
      if (event.user_data_32 !== existing.user_data_32) return 'exists_with_different_user_data_32';
      if (event.ledger !== existing.ledger) return 'exists_with_different_ledger';
      if (event.code !== existing.code) return 'exists_with_different_code';
      return 'exists';
    }
    if (has(event.flags, A.debits_must_not_exceed_credits) && has(event.flags, A.credits_must_not_exceed_debits)) {
      return 'flags_are_mutually_exclusive';
    }
    if (event.debits_pending !== 0n) return 'debits_pending_must_be_zero';
    if (event.debits_posted !== 0n) return 'debits_posted_must_be_zero';
    if (event.credits_pending !== 0n) return 'credits_pending_must_be_zero';
    if (event.credits_posted !== 0n) return 'credits_posted_must_be_zero';
    if (event.ledger === 0) return 'ledger_must_not_be_zero';
    if (event.code === 0) return 'code_must_not_be_zero';
    this.state.accounts.set(event.id, { ...event, timestamp });
    return 'ok';
  }

  private transfer(t: TransferEvent, timestamp: bigint): string {
    if (t.timestamp !== 0n) return 'timestamp_must_be_zero';
    if ((t.flags & ~known_transfer_flags) !== 0) return 'reserved_flag';
    if (t.id === 0n) return 'id_must_not_be_zero';
    if (t.id === id_max) return 'id_must_not_be_int_max';
    const resolving = has(t.flags, T.post_pending_transfer) || has(t.flags, T.void_pending_transfer);
    const e = this.state.transfers.get(t.id);
    if (e) {
      if (t.flags !== e.flags) return 'exists_with_different_flags';
      if (t.pending_id !== e.pending_id) return 'exists_with_different_pending_id';
      if (t.timeout !== e.timeout) return 'exists_with_different_timeout';
      // Zero fields in a post or void inherit from the pending transfer.
      const p = resolving ? this.state.transfers.get(e.pending_id)! : undefined;
      const inherit = <V>(value: V, zero: V, inherited: V): V => (p && value === zero ? inherited : value);
      if (resolving ? t.debit_account_id !== 0n && t.debit_account_id !== e.debit_account_id : t.debit_account_id !== e.debit_account_id) {
        return 'exists_with_different_debit_account_id';
      }
      if (resolving ? t.credit_account_id !== 0n && t.credit_account_id !== e.credit_account_id : t.credit_account_id !== e.credit_account_id) {
        return 'exists_with_different_credit_account_id';
      }
      const balancing = has(t.flags, T.balancing_debit) || has(t.flags, T.balancing_credit);
      if (balancing ? t.amount > 0n && t.amount < e.amount : inherit(t.amount, 0n, p?.amount ?? 0n) !== e.amount) {
        return 'exists_with_different_amount';
      }
      if (inherit(t.user_data_128, 0n, p?.user_data_128 ?? 0n) !== e.user_data_128) return 'exists_with_different_user_data_128';
      if (inherit(t.user_data_64, 0n, p?.user_data_64 ?? 0n) !== e.user_data_64) return 'exists_with_different_user_data_64';
      if (inherit(t.user_data_32, 0, p?.user_data_32 ?? 0) !== e.user_data_32) return 'exists_with_different_user_data_32';
      if (inherit(t.ledger, 0, e.ledger) !== e.ledger) return 'exists_with_different_ledger';
      if (inherit(t.code, 0, e.code) !== e.code) return 'exists_with_different_code';
      return 'exists';
    }
    return resolving ? this.resolve(t, timestamp) : this.move(t, timestamp);
  }

  private move(t: TransferEvent, timestamp: bigint): string {
    const pending = has(t.flags, T.pending);
    const closing = has(t.flags, T.closing_debit) || has(t.flags, T.closing_credit);
    const balancing = has(t.flags, T.balancing_debit) || has(t.flags, T.balancing_credit);
    if (t.debit_account_id === 0n) return 'debit_account_id_must_not_be_zero';
    if (t.debit_account_id === id_max) return 'debit_account_id_must_not_be_int_max';
    if (t.credit_account_id === 0n) return 'credit_account_id_must_not_be_zero';
    if (t.credit_account_id === id_max) return 'credit_account_id_must_not_be_int_max';
    if (t.debit_account_id === t.credit_account_id) return 'accounts_must_be_different';
    if (t.pending_id !== 0n) return 'pending_id_must_be_zero';
    if (!pending && t.timeout !== 0) return 'timeout_reserved_for_pending_transfer';
    if (!pending && closing) return 'closing_transfer_must_be_pending';
    if (!balancing && t.amount === 0n) return 'amount_must_not_be_zero';
    if (t.ledger === 0) return 'ledger_must_not_be_zero';
    if (t.code === 0) return 'code_must_not_be_zero';
    const dr = this.state.accounts.get(t.debit_account_id);
    if (!dr) return 'debit_account_not_found';
    const cr = this.state.accounts.get(t.credit_account_id);
    if (!cr) return 'credit_account_not_found';
    if (dr.ledger !== cr.ledger) return 'accounts_must_have_the_same_ledger';
    if (t.ledger !== dr.ledger) return 'transfer_must_have_the_same_ledger_as_accounts';
    if (has(dr.flags, A.closed)) return 'debit_account_already_closed';
    if (has(cr.flags, A.closed)) return 'credit_account_already_closed';
    let amount = t.amount === 0n ? amount_max : t.amount;
    if (has(t.flags, T.balancing_debit)) {
      const room = dr.credits_posted - (dr.debits_posted + dr.debits_pending);
      if (room < amount) amount = room < 0n ? 0n : room;
      if (amount === 0n) return 'exceeds_credits';
    }
    if (has(t.flags, T.balancing_credit)) {
      const room = cr.debits_posted - (cr.credits_posted + cr.credits_pending);
      if (room < amount) amount = room < 0n ? 0n : room;
      if (amount === 0n) return 'exceeds_debits';
    }
    if (pending && dr.debits_pending + amount > amount_max) return 'overflows_debits_pending';
    if (pending && cr.credits_pending + amount > amount_max) return 'overflows_credits_pending';
    if (dr.debits_posted + amount > amount_max) return 'overflows_debits_posted';
    if (cr.credits_posted + amount > amount_max) return 'overflows_credits_posted';
    if (dr.debits_posted + dr.debits_pending + amount > amount_max) return 'overflows_debits';
    if (cr.credits_posted + cr.credits_pending + amount > amount_max) return 'overflows_credits';
    if (timestamp + BigInt(t.timeout) * 1_000_000_000n > timestamp_max) return 'overflows_timeout';
    if (has(dr.flags, A.debits_must_not_exceed_credits) && dr.debits_posted + dr.debits_pending + amount > dr.credits_posted) {
      return 'exceeds_credits';
    }
    if (has(cr.flags, A.credits_must_not_exceed_debits) && cr.credits_posted + cr.credits_pending + amount > cr.debits_posted) {
      return 'exceeds_debits';
    }
    this.state.transfers.set(t.id, { ...t, amount, timestamp });
    if (pending) {
      dr.debits_pending += amount;
      cr.credits_pending += amount;
      this.state.status.set(t.id, 'pending');
      if (has(t.flags, T.closing_debit)) dr.flags |= A.closed;
      if (has(t.flags, T.closing_credit)) cr.flags |= A.closed;
    } else {
      dr.debits_posted += amount;
      cr.credits_posted += amount;
    }
    return 'ok';
  }

  private resolve(t: TransferEvent, timestamp: bigint): string {
    const post = has(t.flags, T.post_pending_transfer);
    const voiding = has(t.flags, T.void_pending_transfer);
    if (post && voiding) return 'flags_are_mutually_exclusive';
    if (has(t.flags, T.pending) || has(t.flags, T.balancing_debit) || has(t.flags, T.balancing_credit)) {
      return 'flags_are_mutually_exclusive';
    }
    if (has(t.flags, T.closing_debit) || has(t.flags, T.closing_credit)) return 'flags_are_mutually_exclusive';
    if (t.pending_id === 0n) return 'pending_id_must_not_be_zero';
    if (t.pending_id === id_max) return 'pending_id_must_not_be_int_max';
    if (t.pending_id === t.id) return 'pending_id_must_be_different';
    if (t.timeout !== 0) return 'timeout_reserved_for_pending_transfer';
    const p = this.state.transfers.get(t.pending_id);
    if (!p) return 'pending_transfer_not_found';
    if (!has(p.flags, T.pending)) return 'pending_transfer_not_pending';
    if (t.debit_account_id !== 0n && t.debit_account_id !== p.debit_account_id) return 'pending_transfer_has_different_debit_account_id';
    if (t.credit_account_id !== 0n && t.credit_account_id !== p.credit_account_id) return 'pending_transfer_has_different_credit_account_id';
    if (t.ledger !== 0 && t.ledger !== p.ledger) return 'pending_transfer_has_different_ledger';
    if (t.code !== 0 && t.code !== p.code) return 'pending_transfer_has_different_code';
    const amount = t.amount === 0n ? p.amount : t.amount;
    if (amount > p.amount) return 'exceeds_pending_transfer_amount';
    if (voiding && amount !== p.amount) return 'pending_transfer_has_different_amount';
    const status = this.state.status.get(p.id);
    if (status === 'posted') return 'pending_transfer_already_posted';
    if (status === 'voided') return 'pending_transfer_already_voided';
    if (status === 'expired') return 'pending_transfer_expired';
    if (p.timeout !== 0 && p.timestamp + BigInt(p.timeout) * 1_000_000_000n <= timestamp) return 'pending_transfer_expired';
    const dr = this.state.accounts.get(p.debit_account_id)!;
    const cr = this.state.accounts.get(p.credit_account_id)!;
    if (has(dr.flags, A.closed) && !has(p.flags, T.closing_debit)) return 'debit_account_already_closed';
    if (has(cr.flags, A.closed) && !has(p.flags, T.closing_credit)) return 'credit_account_already_closed';
    if (post && dr.debits_posted + amount > amount_max) return 'overflows_debits_posted';
    if (post && cr.credits_posted + amount > amount_max) return 'overflows_credits_posted';
    this.state.transfers.set(t.id, {
      ...t,
      debit_account_id: p.debit_account_id,
      credit_account_id: p.credit_account_id,
      amount,
      user_data_128: t.user_data_128 === 0n ? p.user_data_128 : t.user_data_128,
      user_data_64: t.user_data_64 === 0n ? p.user_data_64 : t.user_data_64,
      user_data_32: t.user_data_32 === 0 ? p.user_data_32 : t.user_data_32,
      ledger: p.ledger,
      code: p.code,
      timestamp,
    });
    this.release(p, post ? 'posted' : 'voided');
    if (post) {
      dr.debits_posted += amount;
      cr.credits_posted += amount;
    }
    return 'ok';
  }
}
