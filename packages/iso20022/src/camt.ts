// camt.054.001.08 (debit/credit notification: an incoming credit as it happens) and camt.053.001.08
// (end-of-day statement: balances and every entry), written by the bank simulator and read for
// reconciliation. Both carry the same entries (Ntry).
import { formatMinorUnits, money, type CurrencyCode, type Money } from '@paygrid/money';
import {
  InputProblems,
  isoDateTime,
  max140_text_length,
  max35_text_length,
  readAccount,
  readDateChoice,
  readMoney,
  type AccountIdentification,
} from './common';
import { finishDocument, readDocument } from './message';
import { refuse, type Iso20022Result } from './result';
import { child, children, element, optionalText, requiredText, XmlReadError, type XmlElement } from './xml';

/** The most entries in one notification or statement written here: a busy account's day. */
export const camt_entries_max = 100_000;

export type CreditDebit = 'credit' | 'debit';

/**
 * An entry's status from ExternalEntryStatus1Code: BOOK is booked and moves the booked balance;
 * PDNG (pending) and INFO (information only) do not.
 */
export type EntryStatus = 'BOOK' | 'PDNG' | 'INFO';

export interface CamtEntry {
  readonly amount: Money;
  readonly creditDebit: CreditDebit;
  /** Default BOOK. */
  readonly status?: EntryStatus;
  readonly bookingDate: string;
  readonly valueDate?: string;
  readonly accountServicerReference?: string;
  readonly endToEndId?: string;
  /** Unstructured remittance information (Ustrd), such as the payer's reference for a pay-in. */
  readonly remittanceInformation?: string;
}

export interface Camt054Notification {
  readonly messageId: string;
  readonly createdAt: Date;
  readonly notificationId: string;
  readonly account: AccountIdentification;
  readonly entries: readonly CamtEntry[];
}

export interface Camt053Statement {
  readonly messageId: string;
  readonly createdAt: Date;
  readonly statementId: string;
  readonly account: AccountIdentification;
  /** The opening booked balance, negative when the account is overdrawn. */
  readonly openingBalance: Money;
  readonly openingDate: string;
  readonly closingDate: string;
  /** Every entry must be in the balance's currency. The closing balance is computed from them. */
  readonly entries: readonly CamtEntry[];
}

/** Writes a debit/credit notification as camt.054.001.08. */
export function writeCamt054(notification: Camt054Notification): Iso20022Result<string> {
  if (notification.entries.length > camt_entries_max) {
    return refuse('batch_too_large', `the notification has ${notification.entries.length} entries; one file holds at most ${camt_entries_max}.`);
  }
  const problems = new InputProblems();
  const body = element('BkToCstmrDbtCdtNtfctn', [
    writeCamtGroupHeader(problems, notification.messageId, notification.createdAt),
    element('Ntfctn', [
      element('Id', problems.text('notificationId', notification.notificationId, max35_text_length)),
      element('CreDtTm', isoDateTime(notification.createdAt)),
      element('Acct', [problems.account('account', notification.account)]),
      ...notification.entries.map((entry, index) => writeCamtEntry(problems, `entries[${index}]`, entry)),
    ]),
  ]);
  if (problems.errors.length > 0) return refuse('text_invalid', ...problems.errors);
  return finishDocument('camt.054.001.08', body);
}

/**
 * Writes an end-of-day statement as camt.053.001.08, with the opening booked balance given and the
 * closing booked balance computed from it and the booked entries, so that it always adds up.
 */
export function writeCamt053(statement: Camt053Statement): Iso20022Result<string> {
  if (statement.entries.length > camt_entries_max) {
    return refuse('batch_too_large', `the statement has ${statement.entries.length} entries; one file holds at most ${camt_entries_max}.`);
  }
  const problems = new InputProblems();
  const currency = statement.openingBalance.currency;
  let closing = statement.openingBalance.amount;
  statement.entries.forEach((entry, index) => {
    if (entry.amount.currency !== currency) problems.errors.push(`entries[${index}].amount is in ${entry.amount.currency}; the statement is in ${currency}.`);
    if ((entry.status ?? 'BOOK') !== 'BOOK') return;
    closing += entry.creditDebit === 'credit' ? entry.amount.amount : -entry.amount.amount;
  });
  const body = element('BkToCstmrStmt', [
    writeCamtGroupHeader(problems, statement.messageId, statement.createdAt),
    element('Stmt', [
      element('Id', problems.text('statementId', statement.statementId, max35_text_length)),
      element('CreDtTm', isoDateTime(statement.createdAt)),
      element('Acct', [problems.account('account', statement.account)]),
      writeCamtBalance(problems, 'OPBD', money(statement.openingBalance.amount, currency), problems.date('openingDate', statement.openingDate)),
      writeCamtBalance(problems, 'CLBD', money(closing, currency), problems.date('closingDate', statement.closingDate)),
      ...statement.entries.map((entry, index) => writeCamtEntry(problems, `entries[${index}]`, entry)),
    ]),
  ]);
  if (problems.errors.length > 0) return refuse('text_invalid', ...problems.errors);
  return finishDocument('camt.053.001.08', body);
}

function writeCamtGroupHeader(problems: InputProblems, message_id: string, created_at: Date): XmlElement {
  return element('GrpHdr', [element('MsgId', problems.text('messageId', message_id, max35_text_length)), element('CreDtTm', isoDateTime(created_at))]);
}

function writeCamtBalance(problems: InputProblems, type: 'OPBD' | 'CLBD', balance: Money, date: string): XmlElement {
  const magnitude = money(balance.amount < 0n ? -balance.amount : balance.amount, balance.currency);
  return element('Bal', [
    element('Tp', [element('CdOrPrtry', [element('Cd', type)])]),
    element('Amt', problems.amount(`${type} balance`, magnitude), { Ccy: balance.currency }),
    element('CdtDbtInd', balance.amount < 0n ? 'DBIT' : 'CRDT'),
    element('Dt', [element('Dt', date)]),
  ]);
}

function writeCamtEntry(problems: InputProblems, field: string, entry: CamtEntry): XmlElement {
  const indicator = entry.creditDebit === 'credit' ? 'CRDT' : 'DBIT';
  const amount = problems.amount(`${field}.amount`, entry.amount);
  const reference = problems.optionalText(`${field}.accountServicerReference`, entry.accountServicerReference, max35_text_length);
  const end_to_end_id = problems.optionalText(`${field}.endToEndId`, entry.endToEndId, max35_text_length);
  const remittance = problems.optionalText(`${field}.remittanceInformation`, entry.remittanceInformation, max140_text_length);
  const has_details = end_to_end_id !== undefined || remittance !== undefined;
  return element('Ntry', [
    element('Amt', amount, { Ccy: entry.amount.currency }),
    element('CdtDbtInd', indicator),
    element('Sts', [element('Cd', entry.status ?? 'BOOK')]),
    element('BookgDt', [element('Dt', problems.date(`${field}.bookingDate`, entry.bookingDate))]),
    entry.valueDate === undefined ? undefined : element('ValDt', [element('Dt', problems.date(`${field}.valueDate`, entry.valueDate))]),
    reference === undefined ? undefined : element('AcctSvcrRef', reference),
    // Domain PMNT (payments), family RCDT (received) or ICDT (issued) credit transfers; the sub
    // family is not known here, so it is OTHR.
    element('BkTxCd', [element('Domn', [element('Cd', 'PMNT'), element('Fmly', [element('Cd', entry.creditDebit === 'credit' ? 'RCDT' : 'ICDT'), element('SubFmlyCd', 'OTHR')])])]),
    has_details
      ? element('NtryDtls', [
          element('TxDtls', [
            end_to_end_id === undefined ? undefined : element('Refs', [element('EndToEndId', end_to_end_id)]),
            element('Amt', amount, { Ccy: entry.amount.currency }),
            element('CdtDbtInd', indicator),
            remittance === undefined ? undefined : element('RmtInf', [element('Ustrd', remittance)]),
          ]),
        ])
      : undefined,
  ]);
}

export interface CamtReadTransaction {
  readonly endToEndId: string | undefined;
  readonly amount: Money | undefined;
  /** The unstructured remittance lines (Ustrd), joined by a space. */
  readonly remittanceInformation: string | undefined;
  /** The structured creditor reference (Strd/CdtrRefInf/Ref), such as an RF reference. */
  readonly creditorReference: string | undefined;
}

export interface CamtReadEntry {
  readonly amount: Money;
  readonly creditDebit: CreditDebit;
  readonly reversal: boolean;
  /** The status code (Sts/Cd), such as BOOK or PDNG. */
  readonly status: string | undefined;
  readonly bookingDate: string | undefined;
  readonly valueDate: string | undefined;
  readonly accountServicerReference: string | undefined;
  /** The end-to-end id and remittance of the entry's one transaction; undefined when it has several or none. */
  readonly endToEndId: string | undefined;
  readonly remittanceInformation: string | undefined;
  readonly creditorReference: string | undefined;
  readonly transactions: readonly CamtReadTransaction[];
}

export interface Camt054Message {
  readonly messageId: string;
  readonly createdAt: string;
  readonly notifications: readonly { readonly id: string; readonly account: AccountIdentification; readonly entries: readonly CamtReadEntry[] }[];
}

export interface CamtReadBalance {
  /** Signed: negative when the balance is a debit (overdrawn). */
  readonly amount: Money;
  readonly date: string | undefined;
}

export interface Camt053ReadStatement {
  readonly id: string;
  readonly account: AccountIdentification;
  readonly openingBalance: CamtReadBalance;
  readonly closingBalance: CamtReadBalance;
  readonly entries: readonly CamtReadEntry[];
}

export interface Camt053Message {
  readonly messageId: string;
  readonly createdAt: string;
  readonly statements: readonly Camt053ReadStatement[];
}

/** Reads a camt.054.001.08 after validating it against the XSD. */
export function readCamt054(xml: string): Iso20022Result<Camt054Message> {
  return readDocument(xml, 'camt.054.001.08', (document) => {
    const root = child(document, 'BkToCstmrDbtCdtNtfctn');
    return {
      ok: true,
      value: {
        messageId: requiredText(root, 'GrpHdr', 'MsgId'),
        createdAt: requiredText(root, 'GrpHdr', 'CreDtTm'),
        notifications: children(root, 'Ntfctn').map((notification, index) => {
          const path = `Ntfctn[${index + 1}]`;
          return {
            id: requiredText(notification, 'Id'),
            account: readAccount(child(notification, 'Acct'), `${path}/Acct`),
            entries: children(notification, 'Ntry').map((entry, entry_index) => readCamtEntry(entry, `${path}/Ntry[${entry_index + 1}]`)),
          };
        }),
      },
    };
  });
}

/**
 * Reads a camt.053.001.08 after validating it against the XSD, and refuses the whole file when any
 * statement's opening booked balance plus its booked credits minus its booked debits is not its
 * closing booked balance: a statement that does not add up cannot be reconciled against.
 */
export function readCamt053(xml: string): Iso20022Result<Camt053Message> {
  return readDocument(xml, 'camt.053.001.08', (document) => {
    const root = child(document, 'BkToCstmrStmt');
    const statements = children(root, 'Stmt').map((statement, index) => readCamt053Statement(statement, `Stmt[${index + 1}]`));
    const failures: string[] = [];
    for (const [index, statement] of statements.entries()) {
      const failure = checkCamt053Balances(statement, `Stmt[${index + 1}]`);
      if (failure !== undefined) failures.push(failure);
    }
    if (failures.length > 0) return refuse('statement_does_not_balance', ...failures);
    return {
      ok: true,
      value: { messageId: requiredText(root, 'GrpHdr', 'MsgId'), createdAt: requiredText(root, 'GrpHdr', 'CreDtTm'), statements },
    };
  });
}

function readCamt053Statement(statement: unknown, path: string): Camt053ReadStatement {
  const balances = children(statement, 'Bal').map((balance, index) => {
    const amount = readMoney(child(balance, 'Amt'), `${path}/Bal[${index + 1}]/Amt`);
    const debit = requiredText(balance, 'CdtDbtInd') === 'DBIT';
    return {
      type: optionalText(balance, 'Tp', 'CdOrPrtry', 'Cd'),
      balance: { amount: debit ? money(-amount.amount, amount.currency) : amount, date: readDateChoice(child(balance, 'Dt')) },
    };
  });
  // PRCD (previously closed booked) is what some banks give as the opening balance instead of OPBD.
  const opening = balances.find((balance) => balance.type === 'OPBD') ?? balances.find((balance) => balance.type === 'PRCD');
  const closing = balances.find((balance) => balance.type === 'CLBD');
  if (opening === undefined) throw new XmlReadError(`Element '${path}/Bal' has no opening booked balance (OPBD or PRCD).`);
  if (closing === undefined) throw new XmlReadError(`Element '${path}/Bal' has no closing booked balance (CLBD).`);
  return {
    id: requiredText(statement, 'Id'),
    account: readAccount(child(statement, 'Acct'), `${path}/Acct`),
    openingBalance: opening.balance,
    closingBalance: closing.balance,
    entries: children(statement, 'Ntry').map((entry, index) => readCamtEntry(entry, `${path}/Ntry[${index + 1}]`)),
  };
}

function checkCamt053Balances(statement: Camt053ReadStatement, path: string): string | undefined {
  const currency: CurrencyCode = statement.openingBalance.amount.currency;
  if (statement.closingBalance.amount.currency !== currency) {
    return `${path}: the opening balance is in ${currency} and the closing balance in ${statement.closingBalance.amount.currency}.`;
  }
  let credits = 0n;
  let debits = 0n;
  for (const [index, entry] of statement.entries.entries()) {
    if (entry.status !== 'BOOK') continue;
    if (entry.amount.currency !== currency) return `Element '${path}/Ntry[${index + 1}]/Amt' is in ${entry.amount.currency}; the statement's balances are in ${currency}.`;
    if (entry.creditDebit === 'credit') credits += entry.amount.amount;
    else debits += entry.amount.amount;
  }
  const expected = statement.openingBalance.amount.amount + credits - debits;
  const stated = statement.closingBalance.amount.amount;
  if (expected === stated) return undefined;
  const show = (minor: bigint): string => `${formatMinorUnits(minor, currency)} ${currency}`;
  return (
    `${path} (statement ${statement.id}) does not balance: opening ${show(statement.openingBalance.amount.amount)} + booked credits ${show(credits)} - booked debits ${show(debits)} = ${show(expected)}, ` +
    `but the closing balance (CLBD) says ${show(stated)}; the difference is ${show(stated - expected)}.`
  );
}

function readCamtEntry(entry: unknown, path: string): CamtReadEntry {
  // NtryDtls repeats when the bank batches (one per batch); all their transactions belong to the entry.
  const details = children(entry, 'NtryDtls').flatMap((batch) => children(batch, 'TxDtls'));
  const transactions = details.map((transaction, index): CamtReadTransaction => {
    const amount = child(transaction, 'Amt');
    const remittance = child(transaction, 'RmtInf');
    const ustrd = children(remittance, 'Ustrd').map((line) => optionalText(line) ?? '');
    const creditor_reference = children(remittance, 'Strd')
      .map((structured) => optionalText(structured, 'CdtrRefInf', 'Ref'))
      .find((reference) => reference !== undefined);
    return {
      endToEndId: optionalText(transaction, 'Refs', 'EndToEndId'),
      amount: amount === undefined ? undefined : readMoney(amount, `${path}/NtryDtls/TxDtls[${index + 1}]/Amt`),
      remittanceInformation: ustrd.length === 0 ? undefined : ustrd.join(' '),
      creditorReference: creditor_reference,
    };
  });
  const sole = transactions.length === 1 ? transactions[0] : undefined;
  return {
    amount: readMoney(child(entry, 'Amt'), `${path}/Amt`),
    creditDebit: requiredText(entry, 'CdtDbtInd') === 'DBIT' ? 'debit' : 'credit',
    reversal: optionalText(entry, 'RvslInd') === 'true',
    status: optionalText(entry, 'Sts', 'Cd') ?? optionalText(entry, 'Sts', 'Prtry'),
    bookingDate: readDateChoice(child(entry, 'BookgDt')),
    valueDate: readDateChoice(child(entry, 'ValDt')),
    accountServicerReference: optionalText(entry, 'AcctSvcrRef'),
    endToEndId: sole?.endToEndId,
    remittanceInformation: sole?.remittanceInformation,
    creditorReference: sole?.creditorReference,
    transactions,
  };
}
