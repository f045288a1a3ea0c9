// Expected failures are values. Each code names the rule the input broke, and the list is in
// order of precedence: when an input breaks several rules, the first one listed is reported.

export const money_error_codes = [
  'currency_unknown',
  'amount_invalid',
  'amount_not_integer',
  'too_many_fraction_digits',
  'amount_negative',
  'amount_zero',
  'amount_too_large',
] as const;
export type MoneyErrorCode = (typeof money_error_codes)[number];

export interface MoneyRefusal {
  readonly ok: false;
  readonly code: MoneyErrorCode;
  /** A sentence for a person: what was wrong and what is accepted instead. */
  readonly message: string;
}

export type MoneyResult<Value> = { readonly ok: true; readonly value: Value } | MoneyRefusal;

export function refuse(code: MoneyErrorCode, message: string): MoneyRefusal {
  return { ok: false, code, message };
}

/** Quotes a piece of input for an error message, cut short so that a huge input stays out of logs. */
export function quote(value: string): string {
  const quote_length_max = 40;
  const shown = value.length > quote_length_max ? `${value.slice(0, quote_length_max)}…` : value;
  return JSON.stringify(shown);
}
