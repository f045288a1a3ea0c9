// Pieces every message shares: account and agent identifications, amounts with their currency,
// dates, and the checks that run on them before anything is written.
import { money, parseCurrency, type Money } from '@paygrid/money';
import { controlSum, exactDecimalEquals, formatAmount, parseAmount, parseExactDecimal } from './amount';
import { validateIban, type IbanRefusalCode } from './iban';
import { attribute, checkText, child, element, optionalText, requiredText, XmlReadError, type XmlElement } from './xml';

/** Lengths of the schemas' text types (Max35Text and its kin), named after them. */
export const max35_text_length = 35;
export const max34_text_length = 34;
export const max70_text_length = 70;
export const max105_text_length = 105;
export const max140_text_length = 140;

/** An account: an IBAN where the country has them, otherwise the bank's own account number. */
export type AccountIdentification = { readonly iban: string } | { readonly other: string };

/** A bank: its BIC where it has one, otherwise an identifier the two sides agreed on. */
export type AgentIdentification = { readonly bic: string } | { readonly other: string };

/** BICFIDec2014Identifier in the schemas. */
const bic_pattern = /^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?$/;
/** An xs:date of the form the schemas use, such as 2026-12-06. */
const date_pattern = /^\d{4}-\d{2}-\d{2}$/;

/** Collects the problems of one input, so that a writer reports all of them at once. */
export class InputProblems {
  readonly errors: string[] = [];

  text(field: string, text: string, length_max: number): string {
    const problem = checkText(field, text, length_max);
    if (problem !== undefined) this.errors.push(problem);
    return text;
  }

  optionalText(field: string, text: string | undefined, length_max: number): string | undefined {
    return text === undefined ? undefined : this.text(field, text, length_max);
  }

  date(field: string, text: string): string {
    // A date that does not survive the round trip (2026-02-30 becomes March 2) is not a date.
    const time = date_pattern.test(text) ? Date.parse(`${text}T00:00:00Z`) : Number.NaN;
    if (Number.isNaN(time) || new Date(time).toISOString().slice(0, 10) !== text) {
      this.errors.push(`${field} must be a date such as 2026-12-06; got ${JSON.stringify(text)}.`);
    }
    return text;
  }

  amount(field: string, value: Money): string {
    const formatted = formatAmount(value.amount, value.currency);
    if (!formatted.ok) {
      this.errors.push(...formatted.errors.map((error) => `${field}: ${error}`));
      return '0';
    }
    return formatted.value;
  }

  account(field: string, account: AccountIdentification): XmlElement {
    if ('iban' in account) {
      const checked = validateIban(account.iban);
      if (!checked.ok) {
        this.errors.push(`${field}: ${checked.code}: ${checked.message}`);
        return element('Id', [element('IBAN', account.iban)]);
      }
      return element('Id', [element('IBAN', checked.iban)]);
    }
    return element('Id', [element('Othr', [element('Id', this.text(`${field}.other`, account.other, max34_text_length))])]);
  }

  agent(field: string, agent: AgentIdentification): XmlElement {
    if ('bic' in agent) {
      if (!bic_pattern.test(agent.bic)) this.errors.push(`${field}.bic must be a BIC of 8 or 11 upper-case letters and digits; got ${JSON.stringify(agent.bic)}.`);
      return element('FinInstnId', [element('BICFI', agent.bic)]);
    }
    return element('FinInstnId', [element('Othr', [element('Id', this.text(`${field}.other`, agent.other, max35_text_length))])]);
  }
}

/**
 * Refuses an identifier used twice in one file: the bank's status report (pain.002, pacs.002)
 * names transactions by them, so a repeated one could not be matched back to one payment.
 */
export class UniqueIdentifiers {
  private readonly seen = new Map<string, string>();

  constructor(private readonly problems: InputProblems) {}

  check(kind: string, field: string, identifier: string): string {
    const key = `${kind}:${identifier}`;
    const first = this.seen.get(key);
    if (first === undefined) this.seen.set(key, field);
    else this.problems.errors.push(`${field} repeats ${kind} ${JSON.stringify(identifier)} of ${first}; each must be unique in the file.`);
    return identifier;
  }
}

/** A creation time as the schemas' xs:dateTime, in UTC. */
export function isoDateTime(time: Date): string {
  return time.toISOString();
}

/** Reads an amount element (text plus Ccy attribute) into Money; an unknown currency or a bad amount names the element. */
export function readMoney(node: unknown, path: string): Money {
  const text = requiredText(node);
  const code = attribute(node, 'Ccy') ?? '';
  const currency = parseCurrency(code, `Element '${path}' attribute Ccy`);
  if (!currency.ok) throw new XmlReadError(currency.message, 'currency_unknown');
  const minor = parseAmount(text, currency.value, `Element '${path}'`);
  if (!minor.ok) throw new XmlReadError(minor.errors.join(' '), minor.code);
  return money(minor.value, currency.value);
}

export function readAccount(node: unknown, path: string): AccountIdentification {
  const id = child(node, 'Id');
  const iban = optionalText(id, 'IBAN');
  if (iban !== undefined) return { iban };
  const other = optionalText(id, 'Othr', 'Id');
  if (other !== undefined) return { other };
  throw new XmlReadError(`Element '${path}/Id' has neither IBAN nor Othr/Id.`);
}

/**
 * Why an IBAN read from a file fails the IBAN check, or undefined when it passes or the account is
 * not an IBAN. The XSD checks only the IBAN's shape; a bank rejects a failing one (AC01).
 */
export function ibanRefusalOf(account: AccountIdentification | undefined): IbanRefusalCode | undefined {
  if (account === undefined || !('iban' in account)) return undefined;
  const checked = validateIban(account.iban);
  return checked.ok ? undefined : checked.code;
}

export function readAgent(node: unknown): AgentIdentification | undefined {
  const institution = child(node, 'FinInstnId');
  const bic = optionalText(institution, 'BICFI');
  if (bic !== undefined) return { bic };
  const other = optionalText(institution, 'Othr', 'Id');
  if (other !== undefined) return { other };
  return undefined;
}

/** A date-or-time choice (Dt or DtTm), as its text. */
export function readDateChoice(node: unknown): string | undefined {
  return optionalText(node, 'Dt') ?? optionalText(node, 'DtTm');
}

/** Reads a count such as NbOfTxs (Max15NumericText, below 2^53 so a number is exact). */
export function readCount(text: string | undefined): number | undefined {
  return text === undefined ? undefined : Number.parseInt(text, 10);
}

/**
 * Compares what a header declares (NbOfTxs, CtrlSum) with the transactions it heads, and adds a
 * sentence naming the element for each difference.
 */
export function checkDeclaredTotals(
  inconsistencies: string[],
  path: string,
  amounts: readonly Money[],
  declared_count: number | undefined,
  declared_sum: string | undefined,
): void {
  if (declared_count !== undefined && declared_count !== amounts.length) {
    inconsistencies.push(`Element '${path}/NbOfTxs' says ${declared_count} transactions; the file has ${amounts.length}.`);
  }
  if (declared_sum === undefined) return;
  const computed = controlSum(amounts);
  const declared = parseExactDecimal(declared_sum);
  const computed_decimal = computed.ok ? parseExactDecimal(computed.value) : undefined;
  if (declared === undefined || computed_decimal === undefined || !exactDecimalEquals(declared, computed_decimal)) {
    inconsistencies.push(`Element '${path}/CtrlSum' says ${declared_sum}; the amounts add up to ${computed.ok ? computed.value : 'more than the control sum limit'}.`);
  }
}
