// pain.002.001.10, Customer Payment Status Report: the bank's answer to a pain.001, accepting or
// rejecting the whole file, each PmtInf block and each transaction, with reason codes.
import { InputProblems, isoDateTime, max35_text_length, readCount } from './common';
import { finishDocument, readDocument } from './message';
import { refuse, type Iso20022Result } from './result';
import { checkStatusCode, readStatusReasons, writeStatusReasons, type StatusReason, type StatusReasonRead } from './status';
import { child, children, element, optionalText, requiredText } from './xml';

/** The most transaction statuses in one report, as many as a pain.001 may hold. */
export const pain002_transactions_max = 10_000;

export interface Pain002TransactionStatus {
  readonly originalInstructionId?: string;
  readonly originalEndToEndId: string;
  readonly status: string;
  readonly reasons?: readonly StatusReason[];
}

export interface Pain002PaymentInformationStatus {
  readonly originalPaymentInformationId: string;
  readonly status?: string;
  readonly reasons?: readonly StatusReason[];
  readonly transactions: readonly Pain002TransactionStatus[];
}

export interface Pain002Report {
  readonly messageId: string;
  readonly createdAt: Date;
  readonly originalMessageId: string;
  /** The original message's name, such as pain.001.001.09. */
  readonly originalMessageNameId: string;
  readonly groupStatus?: string;
  readonly groupReasons?: readonly StatusReason[];
  readonly paymentInformation: readonly Pain002PaymentInformationStatus[];
}

/** Writes a status report as pain.002.001.10, after checking every code and text. */
export function writePain002(report: Pain002Report): Iso20022Result<string> {
  const count = report.paymentInformation.reduce((total, block) => total + block.transactions.length, 0);
  if (count > pain002_transactions_max) {
    return refuse('batch_too_large', `the report has ${count} transaction statuses; one file holds at most ${pain002_transactions_max}.`);
  }
  const problems = new InputProblems();
  const status = (field: string, code: string | undefined) => checkStatusCode(problems, field, code);
  const reasons = (field: string, list: readonly StatusReason[] | undefined) => writeStatusReasons(problems, field, list);
  const optional = (name: string, text: string | undefined) => (text === undefined ? undefined : element(name, text));

  const group_status = status('groupStatus', report.groupStatus);
  const body = element('CstmrPmtStsRpt', [
    element('GrpHdr', [
      element('MsgId', problems.text('messageId', report.messageId, max35_text_length)),
      element('CreDtTm', isoDateTime(report.createdAt)),
    ]),
    element('OrgnlGrpInfAndSts', [
      element('OrgnlMsgId', problems.text('originalMessageId', report.originalMessageId, max35_text_length)),
      element('OrgnlMsgNmId', problems.text('originalMessageNameId', report.originalMessageNameId, max35_text_length)),
      optional('GrpSts', group_status),
      ...reasons('groupReasons', report.groupReasons),
    ]),
    ...report.paymentInformation.map((block, block_index) => {
      const field = `paymentInformation[${block_index}]`;
      return element('OrgnlPmtInfAndSts', [
        element('OrgnlPmtInfId', problems.text(`${field}.originalPaymentInformationId`, block.originalPaymentInformationId, max35_text_length)),
        optional('PmtInfSts', status(`${field}.status`, block.status)),
        ...reasons(`${field}.reasons`, block.reasons),
        ...block.transactions.map((transaction, index) => {
          const transaction_field = `${field}.transactions[${index}]`;
          return element('TxInfAndSts', [
            optional('OrgnlInstrId', problems.optionalText(`${transaction_field}.originalInstructionId`, transaction.originalInstructionId, max35_text_length)),
            element('OrgnlEndToEndId', problems.text(`${transaction_field}.originalEndToEndId`, transaction.originalEndToEndId, max35_text_length)),
            element('TxSts', status(`${transaction_field}.status`, transaction.status) ?? ''),
            ...reasons(`${transaction_field}.reasons`, transaction.reasons),
          ]);
        }),
      ]);
    }),
  ]);
  if (problems.errors.length > 0) return refuse('text_invalid', ...problems.errors);
  return finishDocument('pain.002.001.10', body);
}

export interface Pain002ReadTransactionStatus {
  readonly originalInstructionId: string | undefined;
  readonly originalEndToEndId: string | undefined;
  readonly status: string | undefined;
  readonly reasons: readonly StatusReasonRead[];
}

export interface Pain002ReadPaymentInformationStatus {
  readonly originalPaymentInformationId: string;
  readonly status: string | undefined;
  readonly reasons: readonly StatusReasonRead[];
  readonly transactions: readonly Pain002ReadTransactionStatus[];
}

export interface Pain002Message {
  readonly messageId: string;
  readonly createdAt: string;
  readonly originalMessageId: string;
  readonly originalMessageNameId: string;
  readonly originalNumberOfTransactions: number | undefined;
  readonly originalControlSum: string | undefined;
  readonly groupStatus: string | undefined;
  readonly groupReasons: readonly StatusReasonRead[];
  readonly paymentInformation: readonly Pain002ReadPaymentInformationStatus[];
}

/** Reads a pain.002.001.10 after validating it against the XSD. */
export function readPain002(xml: string): Iso20022Result<Pain002Message> {
  return readDocument(xml, 'pain.002.001.10', (document) => {
    const report = child(document, 'CstmrPmtStsRpt');
    const group = child(report, 'OrgnlGrpInfAndSts');
    return {
      ok: true,
      value: {
        messageId: requiredText(report, 'GrpHdr', 'MsgId'),
        createdAt: requiredText(report, 'GrpHdr', 'CreDtTm'),
        originalMessageId: requiredText(group, 'OrgnlMsgId'),
        originalMessageNameId: requiredText(group, 'OrgnlMsgNmId'),
        originalNumberOfTransactions: readCount(optionalText(group, 'OrgnlNbOfTxs')),
        originalControlSum: optionalText(group, 'OrgnlCtrlSum'),
        groupStatus: optionalText(group, 'GrpSts'),
        groupReasons: readStatusReasons(group),
        paymentInformation: children(report, 'OrgnlPmtInfAndSts').map((block) => ({
          originalPaymentInformationId: requiredText(block, 'OrgnlPmtInfId'),
          status: optionalText(block, 'PmtInfSts'),
          reasons: readStatusReasons(block),
          transactions: children(block, 'TxInfAndSts').map((transaction) => ({
            originalInstructionId: optionalText(transaction, 'OrgnlInstrId'),
            originalEndToEndId: optionalText(transaction, 'OrgnlEndToEndId'),
            status: optionalText(transaction, 'TxSts'),
            reasons: readStatusReasons(transaction),
          })),
        })),
      },
    };
  });
}
