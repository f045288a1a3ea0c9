// pacs.008.001.08 (FI to FI Customer Credit Transfer: an interbank transfer) and pacs.002.001.10
// (FI to FI Payment Status Report: the receiving bank's answer), written and read for the
// interbank rail.
import { type Money } from '@paygrid/money';
import { controlSum } from './amount';
import {
  checkDeclaredTotals,
  ibanRefusalOf,
  InputProblems,
  isoDateTime,
  max140_text_length,
  max35_text_length,
  readAccount,
  readAgent,
  readCount,
  readMoney,
  UniqueIdentifiers,
  type AccountIdentification,
  type AgentIdentification,
} from './common';
import type { IbanRefusalCode } from './iban';
import { finishDocument, readDocument } from './message';
import { refuse, type Iso20022Result } from './result';
import { checkStatusCode, readStatusReasons, writeStatusReasons, type StatusReason, type StatusReasonRead } from './status';
import { child, children, element, optionalText, requiredText } from './xml';

/** The most transactions in one interbank file, as for pain.001. */
export const pacs008_transactions_max = 10_000;
/** The most transaction statuses in one pacs.002. */
export const pacs002_transactions_max = 10_000;

/** SettlementMethod1Code: through an account at the instructed (INDA) or instructing (INGA) agent, a cover (COVE) or a clearing system (CLRG). */
export type SettlementMethod = 'INDA' | 'INGA' | 'COVE' | 'CLRG';
/** ChargeBearerType1Code. */
export type ChargeBearer = 'DEBT' | 'CRED' | 'SHAR' | 'SLEV';

export interface Pacs008Transaction {
  readonly instructionId?: string;
  readonly endToEndId: string;
  readonly transactionId: string;
  /** The interbank settlement amount. */
  readonly amount: Money;
  /** Default SLEV (as the scheme's service level says). */
  readonly chargeBearer?: ChargeBearer;
  readonly debtorName: string;
  readonly debtorAccount: AccountIdentification;
  readonly debtorAgent: AgentIdentification;
  readonly creditorAgent: AgentIdentification;
  readonly creditorName: string;
  readonly creditorAccount: AccountIdentification;
  readonly remittanceInformation?: string;
}

export interface Pacs008Batch {
  readonly messageId: string;
  readonly createdAt: Date;
  /** The interbank settlement date, such as 2026-12-07. */
  readonly settlementDate: string;
  readonly settlementMethod: SettlementMethod;
  readonly instructingAgent?: AgentIdentification;
  readonly instructedAgent?: AgentIdentification;
  readonly transactions: readonly Pacs008Transaction[];
}

/**
 * Writes an interbank batch as pacs.008.001.08, with NbOfTxs and CtrlSum computed from the lines
 * and, when every line is in one currency, the total interbank settlement amount.
 */
export function writePacs008(batch: Pacs008Batch): Iso20022Result<string> {
  const amounts = batch.transactions.map((transaction) => transaction.amount);
  if (amounts.length === 0) return refuse('batch_empty', 'a pacs.008 needs at least one transaction.');
  if (amounts.length > pacs008_transactions_max) {
    return refuse('batch_too_large', `the batch has ${amounts.length} transactions; one file holds at most ${pacs008_transactions_max}.`);
  }
  const sum = controlSum(amounts);
  if (!sum.ok) return sum;
  const problems = new InputProblems();
  const currencies = new Set(amounts.map((amount) => amount.currency));
  const [only_currency] = currencies;
  const total =
    currencies.size === 1 && only_currency !== undefined
      ? element('TtlIntrBkSttlmAmt', sum.value, { Ccy: only_currency })
      : undefined;
  const settlement_date = problems.date('settlementDate', batch.settlementDate);
  const unique = new UniqueIdentifiers(problems);
  const body = element('FIToFICstmrCdtTrf', [
    element('GrpHdr', [
      element('MsgId', problems.text('messageId', batch.messageId, max35_text_length)),
      element('CreDtTm', isoDateTime(batch.createdAt)),
      element('NbOfTxs', String(amounts.length)),
      element('CtrlSum', sum.value),
      total,
      element('IntrBkSttlmDt', settlement_date),
      element('SttlmInf', [element('SttlmMtd', batch.settlementMethod)]),
      batch.instructingAgent === undefined ? undefined : element('InstgAgt', [problems.agent('instructingAgent', batch.instructingAgent)]),
      batch.instructedAgent === undefined ? undefined : element('InstdAgt', [problems.agent('instructedAgent', batch.instructedAgent)]),
    ]),
    ...batch.transactions.map((transaction, index) => {
      const field = `transactions[${index}]`;
      const instruction_id = problems.optionalText(`${field}.instructionId`, transaction.instructionId, max35_text_length);
      const remittance = problems.optionalText(`${field}.remittanceInformation`, transaction.remittanceInformation, max140_text_length);
      return element('CdtTrfTxInf', [
        element('PmtId', [
          instruction_id === undefined ? undefined : element('InstrId', instruction_id),
          element('EndToEndId', problems.text(`${field}.endToEndId`, transaction.endToEndId, max35_text_length)),
          element('TxId', unique.check('TxId', `${field}.transactionId`, problems.text(`${field}.transactionId`, transaction.transactionId, max35_text_length))),
        ]),
        element('IntrBkSttlmAmt', problems.amount(`${field}.amount`, transaction.amount), { Ccy: transaction.amount.currency }),
        element('ChrgBr', transaction.chargeBearer ?? 'SLEV'),
        element('Dbtr', [element('Nm', problems.text(`${field}.debtorName`, transaction.debtorName, max140_text_length))]),
        element('DbtrAcct', [problems.account(`${field}.debtorAccount`, transaction.debtorAccount)]),
        element('DbtrAgt', [problems.agent(`${field}.debtorAgent`, transaction.debtorAgent)]),
        element('CdtrAgt', [problems.agent(`${field}.creditorAgent`, transaction.creditorAgent)]),
        element('Cdtr', [element('Nm', problems.text(`${field}.creditorName`, transaction.creditorName, max140_text_length))]),
        element('CdtrAcct', [problems.account(`${field}.creditorAccount`, transaction.creditorAccount)]),
        remittance === undefined ? undefined : element('RmtInf', [element('Ustrd', remittance)]),
      ]);
    }),
  ]);
  if (problems.errors.length > 0) return refuse('text_invalid', ...problems.errors);
  return finishDocument('pacs.008.001.08', body);
}

export interface Pacs008ReadTransaction {
  readonly instructionId: string | undefined;
  readonly endToEndId: string;
  readonly transactionId: string | undefined;
  readonly amount: Money;
  readonly settlementDate: string | undefined;
  readonly chargeBearer: string;
  readonly debtorName: string | undefined;
  readonly debtorAccount: AccountIdentification | undefined;
  /** Why the debtor's IBAN fails the IBAN check, when it does. */
  readonly debtorIbanRefusal: IbanRefusalCode | undefined;
  readonly debtorAgent: AgentIdentification | undefined;
  readonly creditorAgent: AgentIdentification | undefined;
  readonly creditorName: string | undefined;
  readonly creditorAccount: AccountIdentification | undefined;
  /** Why the creditor's IBAN fails the IBAN check, when it does. */
  readonly creditorIbanRefusal: IbanRefusalCode | undefined;
  readonly remittanceInformation: string | undefined;
}

export interface Pacs008Message {
  readonly messageId: string;
  readonly createdAt: string;
  readonly declaredNumberOfTransactions: number;
  readonly declaredControlSum: string | undefined;
  readonly numberOfTransactions: number;
  readonly controlSum: string;
  readonly settlementDate: string | undefined;
  readonly settlementMethod: string;
  readonly transactions: readonly Pacs008ReadTransaction[];
  /** Declared counts or sums that differ from the transactions, as for readPain001. */
  readonly inconsistencies: readonly string[];
}

/** Reads a pacs.008.001.08 after validating it against the XSD. */
export function readPacs008(xml: string): Iso20022Result<Pacs008Message> {
  return readDocument(xml, 'pacs.008.001.08', (document) => {
    const root = child(document, 'FIToFICstmrCdtTrf');
    const header = child(root, 'GrpHdr');
    const transactions = children(root, 'CdtTrfTxInf').map((transaction, index): Pacs008ReadTransaction => {
      const path = `CdtTrfTxInf[${index + 1}]`;
      const debtor_account_node = child(transaction, 'DbtrAcct');
      const creditor_account_node = child(transaction, 'CdtrAcct');
      const debtor_account = debtor_account_node === undefined ? undefined : readAccount(debtor_account_node, `${path}/DbtrAcct`);
      const creditor_account = creditor_account_node === undefined ? undefined : readAccount(creditor_account_node, `${path}/CdtrAcct`);
      const ustrd = children(child(transaction, 'RmtInf'), 'Ustrd').map((line) => optionalText(line) ?? '');
      return {
        instructionId: optionalText(transaction, 'PmtId', 'InstrId'),
        endToEndId: requiredText(transaction, 'PmtId', 'EndToEndId'),
        transactionId: optionalText(transaction, 'PmtId', 'TxId'),
        amount: readMoney(child(transaction, 'IntrBkSttlmAmt'), `${path}/IntrBkSttlmAmt`),
        settlementDate: optionalText(transaction, 'IntrBkSttlmDt') ?? optionalText(header, 'IntrBkSttlmDt'),
        chargeBearer: requiredText(transaction, 'ChrgBr'),
        debtorName: optionalText(transaction, 'Dbtr', 'Nm'),
        debtorAccount: debtor_account,
        debtorIbanRefusal: ibanRefusalOf(debtor_account),
        debtorAgent: readAgent(child(transaction, 'DbtrAgt')),
        creditorAgent: readAgent(child(transaction, 'CdtrAgt')),
        creditorName: optionalText(transaction, 'Cdtr', 'Nm'),
        creditorAccount: creditor_account,
        creditorIbanRefusal: ibanRefusalOf(creditor_account),
        remittanceInformation: ustrd.length === 0 ? undefined : ustrd.join(' '),
      };
    });
    const amounts = transactions.map((transaction) => transaction.amount);
    const declaredNumberOfTransactions = readCount(requiredText(header, 'NbOfTxs')) ?? 0;
    const declaredControlSum = optionalText(header, 'CtrlSum');
    const inconsistencies: string[] = [];
    checkDeclaredTotals(inconsistencies, 'GrpHdr', amounts, declaredNumberOfTransactions, declaredControlSum);
    const total = child(header, 'TtlIntrBkSttlmAmt');
    if (total !== undefined) {
      const declared_total = readMoney(total, 'GrpHdr/TtlIntrBkSttlmAmt');
      const computed_total = amounts.reduce((sum, amount) => (amount.currency === declared_total.currency ? sum + amount.amount : sum), 0n);
      if (amounts.some((amount) => amount.currency !== declared_total.currency) || computed_total !== declared_total.amount) {
        inconsistencies.push(`Element 'GrpHdr/TtlIntrBkSttlmAmt' says ${requiredText(total)} ${declared_total.currency}; the settlement amounts do not add up to it.`);
      }
    }
    const sum = controlSum(amounts);
    if (!sum.ok) return sum;
    return {
      ok: true,
      value: {
        messageId: requiredText(header, 'MsgId'),
        createdAt: requiredText(header, 'CreDtTm'),
        declaredNumberOfTransactions,
        declaredControlSum,
        numberOfTransactions: transactions.length,
        controlSum: sum.value,
        settlementDate: optionalText(header, 'IntrBkSttlmDt'),
        settlementMethod: requiredText(header, 'SttlmInf', 'SttlmMtd'),
        transactions,
        inconsistencies,
      },
    };
  });
}

export interface Pacs002TransactionStatus {
  readonly originalInstructionId?: string;
  readonly originalEndToEndId: string;
  readonly originalTransactionId?: string;
  readonly status: string;
  readonly reasons?: readonly StatusReason[];
}

export interface Pacs002Report {
  readonly messageId: string;
  readonly createdAt: Date;
  readonly originalMessageId: string;
  /** The original message's name, such as pacs.008.001.08. */
  readonly originalMessageNameId: string;
  readonly groupStatus?: string;
  readonly groupReasons?: readonly StatusReason[];
  readonly transactions: readonly Pacs002TransactionStatus[];
}

/** Writes an interbank status report as pacs.002.001.10, after checking every code and text. */
export function writePacs002(report: Pacs002Report): Iso20022Result<string> {
  if (report.transactions.length > pacs002_transactions_max) {
    return refuse('batch_too_large', `the report has ${report.transactions.length} transaction statuses; one file holds at most ${pacs002_transactions_max}.`);
  }
  const problems = new InputProblems();
  const group_status = checkStatusCode(problems, 'groupStatus', report.groupStatus);
  const body = element('FIToFIPmtStsRpt', [
    element('GrpHdr', [element('MsgId', problems.text('messageId', report.messageId, max35_text_length)), element('CreDtTm', isoDateTime(report.createdAt))]),
    element('OrgnlGrpInfAndSts', [
      element('OrgnlMsgId', problems.text('originalMessageId', report.originalMessageId, max35_text_length)),
      element('OrgnlMsgNmId', problems.text('originalMessageNameId', report.originalMessageNameId, max35_text_length)),
      group_status === undefined ? undefined : element('GrpSts', group_status),
      ...writeStatusReasons(problems, 'groupReasons', report.groupReasons),
    ]),
    ...report.transactions.map((transaction, index) => {
      const field = `transactions[${index}]`;
      const instruction_id = problems.optionalText(`${field}.originalInstructionId`, transaction.originalInstructionId, max35_text_length);
      const transaction_id = problems.optionalText(`${field}.originalTransactionId`, transaction.originalTransactionId, max35_text_length);
      return element('TxInfAndSts', [
        instruction_id === undefined ? undefined : element('OrgnlInstrId', instruction_id),
        element('OrgnlEndToEndId', problems.text(`${field}.originalEndToEndId`, transaction.originalEndToEndId, max35_text_length)),
        transaction_id === undefined ? undefined : element('OrgnlTxId', transaction_id),
        element('TxSts', checkStatusCode(problems, `${field}.status`, transaction.status) ?? ''),
        ...writeStatusReasons(problems, `${field}.reasons`, transaction.reasons),
      ]);
    }),
  ]);
  if (problems.errors.length > 0) return refuse('text_invalid', ...problems.errors);
  return finishDocument('pacs.002.001.10', body);
}

export interface Pacs002ReadTransactionStatus {
  readonly originalInstructionId: string | undefined;
  readonly originalEndToEndId: string | undefined;
  readonly originalTransactionId: string | undefined;
  readonly status: string | undefined;
  readonly reasons: readonly StatusReasonRead[];
}

export interface Pacs002Message {
  readonly messageId: string;
  readonly createdAt: string;
  /** One per original message the report answers (the schema allows several). */
  readonly originalGroups: readonly {
    readonly originalMessageId: string;
    readonly originalMessageNameId: string;
    readonly groupStatus: string | undefined;
    readonly reasons: readonly StatusReasonRead[];
  }[];
  readonly transactions: readonly Pacs002ReadTransactionStatus[];
}

/** Reads a pacs.002.001.10 after validating it against the XSD. */
export function readPacs002(xml: string): Iso20022Result<Pacs002Message> {
  return readDocument(xml, 'pacs.002.001.10', (document) => {
    const root = child(document, 'FIToFIPmtStsRpt');
    return {
      ok: true,
      value: {
        messageId: requiredText(root, 'GrpHdr', 'MsgId'),
        createdAt: requiredText(root, 'GrpHdr', 'CreDtTm'),
        originalGroups: children(root, 'OrgnlGrpInfAndSts').map((group) => ({
          originalMessageId: requiredText(group, 'OrgnlMsgId'),
          originalMessageNameId: requiredText(group, 'OrgnlMsgNmId'),
          groupStatus: optionalText(group, 'GrpSts'),
          reasons: readStatusReasons(group),
        })),
        transactions: children(root, 'TxInfAndSts').map((transaction) => ({
          originalInstructionId: optionalText(transaction, 'OrgnlInstrId'),
          originalEndToEndId: optionalText(transaction, 'OrgnlEndToEndId'),
          originalTransactionId: optionalText(transaction, 'OrgnlTxId'),
          status: optionalText(transaction, 'TxSts'),
          reasons: readStatusReasons(transaction),
        })),
      },
    };
  });
}
