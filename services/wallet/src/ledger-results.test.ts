// Every result code the ledger has, for every role an event plays in a wallet chain, decided and
// given a public answer: the table below is the whole mapping, so that moving a code from a 4xx to
// a 500 (or back) is a visible change, and a code the ledger adds fails here until it is placed.
// test/ledger-results.test.ts drives the reachable ones through the API.
import { describe, expect, it } from 'vitest';
import { create_transfer_results, type CreateTransferResult } from '@paygrid/ledger';
import { RefusalReason, type RefusalReasonName } from './chart';
import { decisionOf, type ResultDecision, type Role } from './movement';
import { refusalError, type FailureCode } from './service';

const roles: readonly Role[] = ['grant', 'take_back', 'usage', 'money'];

type Expected = ResultDecision['kind'] | RefusalReasonName;
const by_role = (grant: Expected, take_back: Expected, usage: Expected, money: Expected): Record<Role, Expected> => ({ grant, take_back, usage, money });
const every_role = (expected: Expected) => by_role(expected, expected, expected, expected);
const exists_with_different = by_role('forget_allowance', 'forget_allowance', 'look_up', 'look_up');

/** The answers a well-formed request can meet, and what each means in each role. */
const answered: Partial<Record<CreateTransferResult, Record<Role, Expected>>> = {
  debit_account_not_found: every_role('create_accounts'),
  credit_account_not_found: every_role('create_accounts'),
  debit_account_already_closed: by_role('wallet_frozen', 'wallet_frozen', 'wallet_frozen', 'broken'),
  credit_account_already_closed: by_role('wallet_frozen', 'wallet_frozen', 'wallet_frozen', 'broken'),
  exceeds_credits: by_role('broken', 'wallet_limit_exceeded', 'wallet_limit_exceeded', 'insufficient_funds'),
  overflows_debits_pending: every_role('amount_too_large'),
  overflows_credits_pending: every_role('amount_too_large'),
  overflows_debits_posted: every_role('amount_too_large'),
  overflows_credits_posted: every_role('amount_too_large'),
  overflows_debits: every_role('amount_too_large'),
  overflows_credits: every_role('amount_too_large'),
  exists: by_role('take_granted', 'forget_allowance', 'look_up', 'applied'),
  exists_with_different_flags: exists_with_different,
  exists_with_different_pending_id: exists_with_different,
  exists_with_different_timeout: exists_with_different,
  exists_with_different_debit_account_id: exists_with_different,
  exists_with_different_credit_account_id: exists_with_different,
  exists_with_different_amount: exists_with_different,
  exists_with_different_user_data_128: exists_with_different,
  exists_with_different_user_data_64: exists_with_different,
  exists_with_different_user_data_32: exists_with_different,
  exists_with_different_ledger: exists_with_different,
  exists_with_different_code: exists_with_different,
};

/** The answers only a chain the service built wrong can get: 500 api_error ledger_refused, for a person. */
const internal: readonly CreateTransferResult[] = [
  'ok',
  'linked_event_failed',
  'linked_event_chain_open',
  'timestamp_must_be_zero',
  'reserved_flag',
  'id_must_not_be_zero',
  'id_must_not_be_int_max',
  'flags_are_mutually_exclusive',
  'debit_account_id_must_not_be_zero',
  'debit_account_id_must_not_be_int_max',
  'credit_account_id_must_not_be_zero',
  'credit_account_id_must_not_be_int_max',
  'accounts_must_be_different',
  'pending_id_must_be_zero',
  'pending_id_must_not_be_zero',
  'pending_id_must_not_be_int_max',
  'pending_id_must_be_different',
  'timeout_reserved_for_pending_transfer',
  'closing_transfer_must_be_pending',
  'amount_must_not_be_zero',
  'ledger_must_not_be_zero',
  'code_must_not_be_zero',
  'accounts_must_have_the_same_ledger',
  'transfer_must_have_the_same_ledger_as_accounts',
  'pending_transfer_not_found',
  'pending_transfer_not_pending',
  'pending_transfer_has_different_debit_account_id',
  'pending_transfer_has_different_credit_account_id',
  'pending_transfer_has_different_ledger',
  'pending_transfer_has_different_code',
  'exceeds_pending_transfer_amount',
  'pending_transfer_has_different_amount',
  'pending_transfer_already_posted',
  'pending_transfer_already_voided',
  'pending_transfer_expired',
  'exceeds_debits',
  'overflows_timeout',
];

function expectedOf(result: CreateTransferResult, role: Role): Expected {
  return answered[result]?.[role] ?? 'broken';
}

function kindOf(decision: ResultDecision): Expected {
  return decision.kind === 'refused' ? decision.reason : decision.kind;
}

const operation = { id: 'wtr_1', type: 'transfer', amount: 100n, source_wallet_id: 'wal_1' } as const;

describe('the ledger results a wallet chain can meet', () => {
  it('places every code of the ledger once: answered, or internal', () => {
    for (const result of create_transfer_results) {
      expect([result, answered[result] !== undefined || internal.includes(result)]).toEqual([result, true]);
      expect([result, answered[result] !== undefined && internal.includes(result)]).toEqual([result, false]);
    }
    expect(Object.keys(answered).length + internal.length).toBe(create_transfer_results.length);
  });

  it.each(create_transfer_results.flatMap((result) => roles.map((role) => [result, role] as const)))('decides %s for a %s event as the table says', (result, role) => {
    expect(kindOf(decisionOf(role, result))).toBe(expectedOf(result, role));
  });

  it('gives every refusal a 4xx that names the rule, and only a chain built wrong a 500', () => {
    const reasons = Object.keys(RefusalReason) as RefusalReasonName[];
    for (const reason of reasons) {
      const error = refusalError(operation, reason, 'exceeds_credits');
      expect([reason, error.statusCode, error.type, error.code]).toEqual([reason, 400, 'invalid_request_error', reason]);
    }
    const reused = refusalError(operation, 'idempotency_key_reused' satisfies FailureCode, 'exists_with_different_amount');
    expect([reused.statusCode, reused.code]).toEqual([409, 'idempotency_key_reused']);
    const broken = refusalError(operation, 'ledger_refused', 'reserved_flag');
    expect([broken.statusCode, broken.type, broken.code]).toEqual([500, 'api_error', 'ledger_refused']);
  });

  it('refuses with a reason the refusal marker can keep', () => {
    const reasons = new Set<string>(Object.keys(RefusalReason));
    for (const result of create_transfer_results) {
      for (const role of roles) {
        const decision = decisionOf(role, result);
        if (decision.kind === 'refused') expect(reasons.has(decision.reason)).toBe(true);
      }
    }
  });
});
