// The numeric result codes of the ledger's binary wire, one table per operation, defined once.
// Every name of ours that TigerBeetle also has keeps TigerBeetle's number (its
// `CreateAccountStatus` / `CreateTransferStatus` enums), so a client that knows TigerBeetle's codes
// reads ours. `ok` is 0, TigerBeetle's number for it up to 0.16 (newer releases renamed it
// `created` and moved it to 2^32 - 1; we keep 0 because our JSON name is still `ok`).
// `amount_must_not_be_zero` is 18, the number TigerBeetle gave it before it retired the rule.
// Precedence is the order of `results.ts`, not of these numbers, exactly as in TigerBeetle.
import { create_account_results, create_transfer_results, type CreateAccountResult, type CreateTransferResult } from './results';

export const create_account_result_codes = {
  ok: 0,
  linked_event_failed: 1,
  linked_event_chain_open: 2,
  timestamp_must_be_zero: 3,
  reserved_flag: 5,
  id_must_not_be_zero: 6,
  id_must_not_be_int_max: 7,
  exists_with_different_flags: 15,
  exists_with_different_user_data_128: 16,
  exists_with_different_user_data_64: 17,
  exists_with_different_user_data_32: 18,
  exists_with_different_ledger: 19,
  exists_with_different_code: 20,
  exists: 21,
  flags_are_mutually_exclusive: 8,
  debits_pending_must_be_zero: 9,
  debits_posted_must_be_zero: 10,
  credits_pending_must_be_zero: 11,
  credits_posted_must_be_zero: 12,
  ledger_must_not_be_zero: 13,
  code_must_not_be_zero: 14,
} as const satisfies Record<CreateAccountResult, number>;

export const create_transfer_result_codes = {
  ok: 0,
  linked_event_failed: 1,
  linked_event_chain_open: 2,
  timestamp_must_be_zero: 3,
  reserved_flag: 4,
  id_must_not_be_zero: 5,
  id_must_not_be_int_max: 6,
  exists_with_different_flags: 36,
  exists_with_different_pending_id: 40,
  exists_with_different_timeout: 44,
  exists_with_different_debit_account_id: 37,
  exists_with_different_credit_account_id: 38,
  exists_with_different_amount: 39,
  exists_with_different_user_data_128: 41,
  exists_with_different_user_data_64: 42,
  exists_with_different_user_data_32: 43,
  exists_with_different_ledger: 67,
  exists_with_different_code: 45,
  exists: 46,
  flags_are_mutually_exclusive: 7,
  debit_account_id_must_not_be_zero: 8,
  debit_account_id_must_not_be_int_max: 9,
  credit_account_id_must_not_be_zero: 10,
  credit_account_id_must_not_be_int_max: 11,
  accounts_must_be_different: 12,
  pending_id_must_be_zero: 13,
  pending_id_must_not_be_zero: 14,
  pending_id_must_not_be_int_max: 15,
  pending_id_must_be_different: 16,
  timeout_reserved_for_pending_transfer: 17,
  closing_transfer_must_be_pending: 64,
  amount_must_not_be_zero: 18,
  ledger_must_not_be_zero: 19,
  code_must_not_be_zero: 20,
  debit_account_not_found: 21,
  credit_account_not_found: 22,
  accounts_must_have_the_same_ledger: 23,
  transfer_must_have_the_same_ledger_as_accounts: 24,
  pending_transfer_not_found: 25,
  pending_transfer_not_pending: 26,
  pending_transfer_has_different_debit_account_id: 27,
  pending_transfer_has_different_credit_account_id: 28,
  pending_transfer_has_different_ledger: 29,
  pending_transfer_has_different_code: 30,
  exceeds_pending_transfer_amount: 31,
  pending_transfer_has_different_amount: 32,
  pending_transfer_already_posted: 33,
  pending_transfer_already_voided: 34,
  pending_transfer_expired: 35,
  debit_account_already_closed: 65,
  credit_account_already_closed: 66,
  overflows_debits_pending: 47,
  overflows_credits_pending: 48,
  overflows_debits_posted: 49,
  overflows_credits_posted: 50,
  overflows_debits: 51,
  overflows_credits: 52,
  overflows_timeout: 53,
  exceeds_credits: 54,
  exceeds_debits: 55,
} as const satisfies Record<CreateTransferResult, number>;

function byCode<Result extends string>(names: readonly Result[], codes: Readonly<Record<Result, number>>): ReadonlyMap<number, Result> {
  return new Map(names.map((name) => [codes[name], name]));
}

/** Code → name, for reading a binary answer back. */
export const create_account_result_by_code = byCode(create_account_results, create_account_result_codes);
export const create_transfer_result_by_code = byCode(create_transfer_results, create_transfer_result_codes);
