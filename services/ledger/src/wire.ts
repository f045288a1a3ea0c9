// The ledger's JSON wire form. Ids and user_data_128 travel as decimal strings (they reach 2^128),
// timestamps as decimal strings (nanoseconds pass 2^53), flags as arrays of names, and amounts,
// balances, timeouts and the smaller user data as JSON integers, which the ledger keeps within
// 2^53 - 1 so that every JSON client reads them exactly.
import { assert } from '@paygrid/kernel';
import {
  AccountFlags,
  TransferFlags,
  amount_max,
  batch_events_max,
  code_max,
  emptyAccountEvent,
  emptyTransferEvent,
  id_max,
  ledger_max,
  timeout_max,
  user_data_32_max,
  type Account,
  type AccountBalance,
  type AccountEvent,
  type AccountFlagName,
  type PendingStatus,
  type Transfer,
  type TransferEvent,
  type TransferFlagName,
} from './types';

const decimal_id = { type: 'string', pattern: '^(0|[1-9][0-9]{0,38})$', maxLength: 39 } as const;
const safe_integer = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;

const account_flag_names = Object.keys(AccountFlags) as AccountFlagName[];
const transfer_flag_names = Object.keys(TransferFlags) as TransferFlagName[];

export const account_event_schema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'ledger', 'code'],
  properties: {
    id: decimal_id,
    ledger: { type: 'integer', minimum: 0, maximum: ledger_max },
    code: { type: 'integer', minimum: 0, maximum: code_max },
    flags: { type: 'array', items: { type: 'string', enum: account_flag_names }, uniqueItems: true, maxItems: account_flag_names.length },
    user_data_128: decimal_id,
    user_data_64: safe_integer,
    user_data_32: { type: 'integer', minimum: 0, maximum: user_data_32_max },
    debits_pending: safe_integer,
    debits_posted: safe_integer,
    credits_pending: safe_integer,
    credits_posted: safe_integer,
    timestamp: { type: 'string', pattern: '^[0-9]{1,19}$' },
  },
} as const;

export const transfer_event_schema = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: {
    id: decimal_id,
    debit_account_id: decimal_id,
    credit_account_id: decimal_id,
    amount: safe_integer,
    pending_id: decimal_id,
    user_data_128: decimal_id,
    user_data_64: safe_integer,
    user_data_32: { type: 'integer', minimum: 0, maximum: user_data_32_max },
    timeout: { type: 'integer', minimum: 0, maximum: timeout_max },
    ledger: { type: 'integer', minimum: 0, maximum: ledger_max },
    code: { type: 'integer', minimum: 0, maximum: code_max },
    flags: { type: 'array', items: { type: 'string', enum: transfer_flag_names }, uniqueItems: true, maxItems: transfer_flag_names.length },
    timestamp: { type: 'string', pattern: '^[0-9]{1,19}$' },
  },
} as const;

export const create_accounts_body_schema = {
  type: 'object',
  additionalProperties: false,
  required: ['accounts'],
  properties: { accounts: { type: 'array', minItems: 1, maxItems: batch_events_max, items: account_event_schema } },
} as const;

export const create_transfers_body_schema = {
  type: 'object',
  additionalProperties: false,
  required: ['transfers'],
  properties: { transfers: { type: 'array', minItems: 1, maxItems: batch_events_max, items: transfer_event_schema } },
} as const;

export const lookup_body_schema = {
  type: 'object',
  additionalProperties: false,
  required: ['ids'],
  properties: { ids: { type: 'array', minItems: 1, maxItems: batch_events_max, items: decimal_id } },
} as const;

export interface AccountWire {
  id: string;
  ledger: number;
  code: number;
  flags?: AccountFlagName[];
  user_data_128?: string;
  user_data_64?: number;
  user_data_32?: number;
  debits_pending?: number;
  debits_posted?: number;
  credits_pending?: number;
  credits_posted?: number;
  timestamp?: string;
}

export interface TransferWire {
  id: string;
  debit_account_id?: string;
  credit_account_id?: string;
  amount?: number;
  pending_id?: string;
  user_data_128?: string;
  user_data_64?: number;
  user_data_32?: number;
  timeout?: number;
  ledger?: number;
  code?: number;
  flags?: TransferFlagName[];
  timestamp?: string;
}

/** A well-formed value the schema cannot judge: an id past 2^128 - 1. */
export class WireRangeError extends Error {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(message);
  }
}

export function parseId(value: string, param: string): bigint {
  const id = BigInt(value);
  if (id > id_max) throw new WireRangeError(param, `${param} must be at most 2^128 - 1`);
  return id;
}

function optionalId(value: string | undefined, param: string): bigint {
  return value === undefined ? 0n : parseId(value, param);
}

function flagBits<Name extends string>(names: readonly Name[] | undefined, table: Readonly<Record<Name, number>>): number {
  return (names ?? []).reduce((bits, name) => bits | table[name], 0);
}

function flagNames<Name extends string>(bits: number, table: Readonly<Record<Name, number>>): Name[] {
  return (Object.keys(table) as Name[]).filter((name) => (bits & table[name]) !== 0);
}

function amount(value: number | undefined): bigint {
  // The schema admits only safe integers here, so the conversion is exact.
  return value === undefined ? 0n : BigInt(value);
}

export function accountEventFromWire(wire: AccountWire, param: string): AccountEvent {
  return emptyAccountEvent({
    id: parseId(wire.id, `${param}.id`),
    ledger: wire.ledger,
    code: wire.code,
    flags: flagBits(wire.flags, AccountFlags),
    user_data_128: optionalId(wire.user_data_128, `${param}.user_data_128`),
    user_data_64: amount(wire.user_data_64),
    user_data_32: wire.user_data_32 ?? 0,
    debits_pending: amount(wire.debits_pending),
    debits_posted: amount(wire.debits_posted),
    credits_pending: amount(wire.credits_pending),
    credits_posted: amount(wire.credits_posted),
    timestamp: timestampFromWire(wire.timestamp, `${param}.timestamp`),
  });
}

export function transferEventFromWire(wire: TransferWire, param: string): TransferEvent {
  return emptyTransferEvent({
    id: parseId(wire.id, `${param}.id`),
    debit_account_id: optionalId(wire.debit_account_id, `${param}.debit_account_id`),
    credit_account_id: optionalId(wire.credit_account_id, `${param}.credit_account_id`),
    amount: amount(wire.amount),
    pending_id: optionalId(wire.pending_id, `${param}.pending_id`),
    user_data_128: optionalId(wire.user_data_128, `${param}.user_data_128`),
    user_data_64: amount(wire.user_data_64),
    user_data_32: wire.user_data_32 ?? 0,
    timeout: wire.timeout ?? 0,
    ledger: wire.ledger ?? 0,
    code: wire.code ?? 0,
    flags: flagBits(wire.flags, TransferFlags),
    timestamp: timestampFromWire(wire.timestamp, `${param}.timestamp`),
  });
}

function timestampFromWire(value: string | undefined, param: string): bigint {
  if (value === undefined) return 0n;
  const timestamp = BigInt(value);
  if (timestamp >= 1n << 63n) throw new WireRangeError(param, `${param} must be below 2^63`);
  return timestamp;
}

/** Balances never pass 2^53 - 1 (the ledger refuses with `overflows_*`), so they convert exactly. */
function jsonInteger(value: bigint): number {
  assert(value >= 0n && value <= amount_max, 'a ledger value left the JSON-safe range');
  return Number(value);
}

export function accountToWire(account: Account) {
  return {
    object: 'ledger_account' as const,
    id: account.id.toString(),
    ledger: account.ledger,
    code: account.code,
    flags: flagNames(account.flags, AccountFlags),
    user_data_128: account.user_data_128.toString(),
    user_data_64: jsonInteger(account.user_data_64),
    user_data_32: account.user_data_32,
    debits_pending: jsonInteger(account.debits_pending),
    debits_posted: jsonInteger(account.debits_posted),
    credits_pending: jsonInteger(account.credits_pending),
    credits_posted: jsonInteger(account.credits_posted),
    timestamp: account.timestamp.toString(),
  };
}

export function transferToWire(transfer: Transfer, status?: PendingStatus) {
  return {
    object: 'ledger_transfer' as const,
    id: transfer.id.toString(),
    debit_account_id: transfer.debit_account_id.toString(),
    credit_account_id: transfer.credit_account_id.toString(),
    amount: jsonInteger(transfer.amount),
    pending_id: transfer.pending_id.toString(),
    user_data_128: transfer.user_data_128.toString(),
    user_data_64: jsonInteger(transfer.user_data_64),
    user_data_32: transfer.user_data_32,
    timeout: transfer.timeout,
    ledger: transfer.ledger,
    code: transfer.code,
    flags: flagNames(transfer.flags, TransferFlags),
    timestamp: transfer.timestamp.toString(),
    ...(status === undefined ? {} : { pending_status: status }),
  };
}

export function balanceToWire(balance: AccountBalance) {
  return {
    object: 'ledger_account_balance' as const,
    account_id: balance.account_id.toString(),
    timestamp: balance.timestamp.toString(),
    debits_pending: jsonInteger(balance.debits_pending),
    debits_posted: jsonInteger(balance.debits_posted),
    credits_pending: jsonInteger(balance.credits_pending),
    credits_posted: jsonInteger(balance.credits_posted),
  };
}
