// Input checks. The gateway validates requests too, but the service stands on its own: every
// value that reaches a table or the ledger has been checked here.
import { ApiError } from '@paygrid/kernel';
import { amount_max } from '@paygrid/ledger';
import { parseCurrency, type CurrencyCode } from '@paygrid/money';
import type { BankAccountInput, WalletStatus } from './types';
import { wallet_statuses } from './types';

export const description_length_max = 500;
export const account_holder_name_length_max = 100;
export const customer_id_length_max = 255;
export const idempotency_key_length_max = 255;
/** Object ids are a prefix, an underscore and 24 characters; anything far longer is not one. */
export const object_id_length_max = 64;

const routing_number_pattern = /^[0-9]{9}$/;
const account_number_pattern = /^[0-9]{4,17}$/;
const country_pattern = /^[A-Za-z]{2}$/;
export const bank_country_default = 'US';

function invalid(code: string, message: string, param: string): ApiError {
  return new ApiError('invalid_request_error', code, message, param);
}

/** An amount in minor units: an integer bigint above zero and within the ledger's amount_max. */
export function checkAmount(amount: unknown, param = 'amount'): bigint {
  if (typeof amount !== 'bigint' || amount <= 0n || amount > amount_max) {
    throw invalid('amount_invalid', `${param} must be a positive integer number of minor units, at most ${amount_max}`, param);
  }
  return amount;
}

/** A limit: null (no limit) or a valid amount. */
export function checkLimit(value: unknown, param: string): bigint | null {
  if (value === null) return null;
  return checkAmount(value, param);
}

export function checkCurrency(value: unknown, param = 'currency'): CurrencyCode {
  const parsed = parseCurrency(value, param);
  if (!parsed.ok) throw invalid(parsed.code, parsed.message, param);
  return parsed.value;
}

export function checkText(value: unknown, param: string, length_max: number): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > length_max) {
    throw invalid('parameter_invalid', `${param} must be a non-empty string of at most ${length_max} characters`, param);
  }
  return value;
}

export function checkOptionalText(value: unknown, param: string, length_max: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > length_max) {
    throw invalid('parameter_invalid', `${param} must be a string of at most ${length_max} characters`, param);
  }
  return value;
}

export function checkIdempotencyKey(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return checkText(value, 'idempotency_key', idempotency_key_length_max);
}

export function checkWalletStatus(value: unknown): WalletStatus {
  const status = wallet_statuses.find((known) => known === value);
  if (status === undefined) throw invalid('parameter_invalid', `status must be one of ${wallet_statuses.join(', ')}`, 'status');
  return status;
}

export interface CheckedBankAccount {
  readonly account_holder_name: string;
  readonly routing_number: string;
  readonly account_number: string;
  readonly country: string;
}

export function checkBankAccount(value: BankAccountInput | undefined): CheckedBankAccount {
  if (typeof value !== 'object' || value === null) {
    throw invalid('parameter_missing', 'bank_account is required', 'bank_account');
  }
  const account_holder_name = checkText(value.account_holder_name, 'bank_account.account_holder_name', account_holder_name_length_max);
  if (typeof value.routing_number !== 'string' || !routing_number_pattern.test(value.routing_number)) {
    throw invalid('parameter_invalid', 'bank_account.routing_number must be 9 digits', 'bank_account.routing_number');
  }
  if (typeof value.account_number !== 'string' || !account_number_pattern.test(value.account_number)) {
    throw invalid('parameter_invalid', 'bank_account.account_number must be 4 to 17 digits', 'bank_account.account_number');
  }
  const country = value.country ?? bank_country_default;
  if (typeof country !== 'string' || !country_pattern.test(country)) {
    throw invalid('parameter_invalid', 'bank_account.country must be a two-letter ISO 3166-1 code', 'bank_account.country');
  }
  return { account_holder_name, routing_number: value.routing_number, account_number: value.account_number, country: country.toUpperCase() };
}

/** An id given by a caller: refused early when it cannot be one, so it never reaches SQL or logs at length. */
export function isPlausibleId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= object_id_length_max;
}
