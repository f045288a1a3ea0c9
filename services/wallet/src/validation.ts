// Input checks. The gateway validates requests too, but the service stands on its own: every
// value that reaches a table or the ledger has been checked here. The checks every service makes
// alike (amounts, currencies, text, idempotency keys, ids) come from the kernel; these are the
// wallet's own.
import { checkAmount, checkText, invalidRequest } from '@paygrid/kernel';
import type { BankAccountInput, WalletStatus } from './types';
import { wallet_statuses } from './types';

export const description_length_max = 500;
export const account_holder_name_length_max = 100;
export const customer_id_length_max = 255;

const routing_number_pattern = /^[0-9]{9}$/;
const account_number_pattern = /^[0-9]{4,17}$/;
const country_pattern = /^[A-Za-z]{2}$/;
export const bank_country_default = 'US';

/** A limit: null (no limit) or a valid amount. */
export function checkLimit(value: unknown, param: string): bigint | null {
  if (value === null) return null;
  return checkAmount(value, param);
}

/** Optional text: absent is null. Unlike checkText, a present value may be blank. */
export function checkOptionalText(value: unknown, param: string, length_max: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > length_max) {
    throw invalidRequest('parameter_invalid', `${param} must be a string of at most ${length_max} characters`, param);
  }
  return value;
}

export function checkWalletStatus(value: unknown): WalletStatus {
  const status = wallet_statuses.find((known) => known === value);
  if (status === undefined) throw invalidRequest('parameter_invalid', `status must be one of ${wallet_statuses.join(', ')}`, 'status');
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
    throw invalidRequest('parameter_missing', 'bank_account is required', 'bank_account');
  }
  const account_holder_name = checkText(value.account_holder_name, 'bank_account.account_holder_name', account_holder_name_length_max);
  if (typeof value.routing_number !== 'string' || !routing_number_pattern.test(value.routing_number)) {
    throw invalidRequest('parameter_invalid', 'bank_account.routing_number must be 9 digits', 'bank_account.routing_number');
  }
  if (typeof value.account_number !== 'string' || !account_number_pattern.test(value.account_number)) {
    throw invalidRequest('parameter_invalid', 'bank_account.account_number must be 4 to 17 digits', 'bank_account.account_number');
  }
  const country = value.country ?? bank_country_default;
  if (typeof country !== 'string' || !country_pattern.test(country)) {
    throw invalidRequest('parameter_invalid', 'bank_account.country must be a two-letter ISO 3166-1 code', 'bank_account.country');
  }
  return { account_holder_name, routing_number: value.routing_number, account_number: value.account_number, country: country.toUpperCase() };
}
