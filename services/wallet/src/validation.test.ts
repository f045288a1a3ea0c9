import { ApiError, checkAmount } from '@paygrid/kernel';
import { amount_max } from '@paygrid/ledger';
import { describe, expect, it } from 'vitest';
import { checkBankAccount, checkLimit } from './validation';

function refusal(work: () => unknown): { code: string; param: string | undefined } {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return { code: (error as ApiError).code, param: (error as ApiError).param };
  }
  throw new Error('expected a refusal');
}

const account = { account_holder_name: 'Jenny Rosen', routing_number: '110000000', account_number: '000123456789' };

describe('validation', () => {
  // The kernel's checkAmount bounds amounts by money's amount_max; this holds it to the ledger's.
  it('accepts amounts from 1 to amount_max only', () => {
    expect(checkAmount(1n)).toBe(1n);
    expect(checkAmount(amount_max)).toBe(amount_max);
    for (const bad of [0n, -5n, amount_max + 1n, 1, 1.5, '1', null, undefined]) {
      expect(refusal(() => checkAmount(bad))).toEqual({ code: 'amount_invalid', param: 'amount' });
    }
    expect(checkLimit(null, 'per_day_max')).toBeNull();
    expect(refusal(() => checkLimit(0n, 'per_day_max'))).toEqual({ code: 'amount_invalid', param: 'per_day_max' });
  });

  it('checks bank accounts field by field, with US as the default country', () => {
    expect(checkBankAccount(account)).toEqual({ ...account, country: 'US' });
    expect(checkBankAccount({ ...account, country: 'gb' }).country).toBe('GB');
    expect(checkBankAccount({ ...account, account_number: '1234' }).account_number).toBe('1234');
    const cases: [Record<string, unknown>, string][] = [
      [{ account_holder_name: '' }, 'bank_account.account_holder_name'],
      [{ account_holder_name: 'x'.repeat(101) }, 'bank_account.account_holder_name'],
      [{ routing_number: '11000000' }, 'bank_account.routing_number'],
      [{ routing_number: '11000000a' }, 'bank_account.routing_number'],
      [{ account_number: '123' }, 'bank_account.account_number'],
      [{ account_number: '1'.repeat(18) }, 'bank_account.account_number'],
      [{ account_number: '1234-5678' }, 'bank_account.account_number'],
      [{ country: 'USA' }, 'bank_account.country'],
      [{ country: '1A' }, 'bank_account.country'],
    ];
    for (const [change, param] of cases) {
      expect(refusal(() => checkBankAccount({ ...account, ...change }))).toEqual({ code: 'parameter_invalid', param });
    }
    expect(refusal(() => checkBankAccount(undefined))).toEqual({ code: 'parameter_missing', param: 'bank_account' });
  });
});
