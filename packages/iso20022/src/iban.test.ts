import { describe, expect, it } from 'vitest';
import { last4, validateIban } from './iban';

describe('validateIban', () => {
  it.each([
    'GB82WEST12345698765432',
    'DE89370400440532013000',
    'FR1420041010050500013M02606',
    'NL91ABNA0417164300',
    'CH9300762011623852957',
    'NO9386011117947',
    'BE68539007547034',
    'IT60X0542811101000000123456',
    'ES9121000418450200051332',
  ])('accepts %s', (iban) => {
    expect(validateIban(iban)).toEqual({ ok: true, iban });
  });

  it('normalizes the printed form with spaces and lower case', () => {
    expect(validateIban('gb82 west 1234 5698 7654 32')).toEqual({ ok: true, iban: 'GB82WEST12345698765432' });
  });

  it('refuses a changed check digit', () => {
    expect(validateIban('GB83WEST12345698765432')).toMatchObject({ ok: false, code: 'invalid_iban_check_digits' });
    expect(validateIban('DE89370400440532013001')).toMatchObject({ ok: false, code: 'invalid_iban_check_digits' });
  });

  it('refuses a wrong length for the country', () => {
    expect(validateIban('DE8937040044053201300')).toMatchObject({ ok: false, code: 'invalid_iban_length' });
    expect(validateIban('NL91ABNA04171643000')).toMatchObject({ ok: false, code: 'invalid_iban_length' });
    expect(validateIban('GB82'.padEnd(80, '1'))).toMatchObject({ ok: false, code: 'invalid_iban_length' });
  });

  it('refuses an unknown country and bad characters', () => {
    expect(validateIban('ZZ82WEST12345698765432')).toMatchObject({ ok: false, code: 'invalid_iban_country' });
    expect(validateIban('GB82-WEST-1234')).toMatchObject({ ok: false, code: 'invalid_iban_characters' });
    expect(validateIban('')).toMatchObject({ ok: false, code: 'invalid_iban_characters' });
  });

  it('shows only the last four characters', () => {
    expect(last4('GB82 WEST 1234 5698 7654 32')).toBe('5432');
  });
});
