// Expected failures are values. Each code names the rule a file or an input broke; `errors` holds
// sentences for a person, and when the rule concerns one element of a file, the sentence names it.

export const iso20022_error_codes = [
  'xml_too_large',
  'xml_doctype_refused',
  'xml_invalid',
  'message_unsupported',
  'xmllint_failed',
  'text_invalid',
  'amount_invalid',
  'amount_too_large',
  'currency_unknown',
  'control_sum_too_large',
  'batch_empty',
  'batch_too_large',
  'statement_does_not_balance',
] as const;
export type Iso20022ErrorCode = (typeof iso20022_error_codes)[number];

export interface Iso20022Refusal {
  readonly ok: false;
  readonly code: Iso20022ErrorCode;
  /** One sentence per problem found, each naming the element or field it concerns. */
  readonly errors: readonly string[];
}

export type Iso20022Result<Value> = { readonly ok: true; readonly value: Value } | Iso20022Refusal;

export function refuse(code: Iso20022ErrorCode, ...errors: string[]): Iso20022Refusal {
  return { ok: false, code, errors };
}

/** Quotes a piece of input for an error message, cut short so that a huge input stays out of logs. */
export function quote(value: string): string {
  const quote_length_max = 40;
  const shown = value.length > quote_length_max ? `${value.slice(0, quote_length_max)}…` : value;
  return JSON.stringify(shown);
}
