// pain.001.001.09, Customer Credit Transfer Initiation: the payout and corporate batch file Paygrid
// sends to its bank, and (for the bank simulator) reads back.
import { type Money } from '@paygrid/money';
import { addExactDecimals, controlSum, exactDecimalEquals, parseExactDecimal, type ExactDecimal } from './amount';
import { assert } from './assert';
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
  UniqueIdentifiers,
  readDateChoice,
  readMoney,
  type AccountIdentification,
  type AgentIdentification,
} from './common';
import type { IbanRefusalCode } from './iban';
import { finishDocument, readDocument } from './message';
import { refuse, type Iso20022Result } from './result';
import { child, children, element, optionalText, requiredText, XmlReadError, type XmlElement } from './xml';

/** The most transactions in one file: banks cap batches near here, and a bigger one is split upstream. */
export const pain001_transactions_max = 10_000;

export interface Pain001Transaction {
  readonly instructionId: string;
  readonly endToEndId: string;
  readonly amount: Money;
  readonly creditorAgent?: AgentIdentification;
  readonly creditorName: string;
  readonly creditorAccount: AccountIdentification;
  readonly remittanceInformation?: string;
}

/** One debtor account's block (PmtInf) of the batch. */
export interface Pain001PaymentInformation {
  readonly paymentInformationId: string;
  /** The requested execution date, such as 2026-12-07. */
  readonly requestedExecutionDate: string;
  readonly debtorName: string;
  readonly debtorAccount: AccountIdentification;
  readonly debtorAgent: AgentIdentification;
  readonly transactions: readonly Pain001Transaction[];
}

export interface Pain001Batch {
  readonly messageId: string;
  readonly createdAt: Date;
  readonly initiatingPartyName: string;
  readonly paymentInformation: readonly Pain001PaymentInformation[];
}

/**
 * Writes a batch as pain.001.001.09. Every text is checked against its schema type, every IBAN
 * against its country, and the counts and control sums of the group and of each block are computed
 * from the same lines that are written. Refuses the whole batch on the first broken rule class.
 */
export function writePain001(batch: Pain001Batch): Iso20022Result<string> {
  const blocks = batch.paymentInformation;
  const all = blocks.flatMap((block) => block.transactions.map((transaction) => transaction.amount));
  if (blocks.length === 0 || blocks.some((block) => block.transactions.length === 0)) {
    return refuse('batch_empty', 'a pain.001 needs at least one PmtInf, and each PmtInf at least one transaction.');
  }
  if (all.length > pain001_transactions_max) {
    return refuse('batch_too_large', `the batch has ${all.length} transactions; one file holds at most ${pain001_transactions_max}.`);
  }
  const group_sum = controlSum(all);
  if (!group_sum.ok) return group_sum;

  const block_sums: string[] = [];
  for (const block of blocks) {
    const block_sum = controlSum(block.transactions.map((transaction) => transaction.amount));
    if (!block_sum.ok) return block_sum;
    block_sums.push(block_sum.value);
  }
  writePain001AssertTotals(blocks, all.length, group_sum.value, block_sums);

  const problems = new InputProblems();
  const accounts = new Set<string>();
  const unique = new UniqueIdentifiers(problems);
  const payment_elements = blocks.map((block, block_index) => {
    const field = `paymentInformation[${block_index}]`;
    const account_key = 'iban' in block.debtorAccount ? `iban:${block.debtorAccount.iban.replace(/ /g, '').toUpperCase()}` : `other:${block.debtorAccount.other}`;
    if (accounts.has(account_key)) problems.errors.push(`${field}.debtorAccount appears in an earlier block; one PmtInf per debtor account.`);
    accounts.add(account_key);
    return element('PmtInf', [
      element('PmtInfId', unique.check('PmtInfId', `${field}.paymentInformationId`, problems.text(`${field}.paymentInformationId`, block.paymentInformationId, max35_text_length))),
      element('PmtMtd', 'TRF'),
      element('NbOfTxs', String(block.transactions.length)),
      element('CtrlSum', block_sums[block_index] ?? ''),
      element('ReqdExctnDt', [element('Dt', problems.date(`${field}.requestedExecutionDate`, block.requestedExecutionDate))]),
      element('Dbtr', [element('Nm', problems.text(`${field}.debtorName`, block.debtorName, max140_text_length))]),
      element('DbtrAcct', [problems.account(`${field}.debtorAccount`, block.debtorAccount)]),
      element('DbtrAgt', [problems.agent(`${field}.debtorAgent`, block.debtorAgent)]),
      element('ChrgBr', 'SLEV'),
      ...block.transactions.map((transaction, index) => writePain001Transaction(problems, unique, `${field}.transactions[${index}]`, transaction)),
    ]);
  });
  const body = element('CstmrCdtTrfInitn', [
    element('GrpHdr', [
      element('MsgId', problems.text('messageId', batch.messageId, max35_text_length)),
      element('CreDtTm', isoDateTime(batch.createdAt)),
      element('NbOfTxs', String(all.length)),
      element('CtrlSum', group_sum.value),
      element('InitgPty', [element('Nm', problems.text('initiatingPartyName', batch.initiatingPartyName, max140_text_length))]),
    ]),
    ...payment_elements,
  ]);
  if (problems.errors.length > 0) return refuse('text_invalid', ...problems.errors);
  return finishDocument('pain.001.001.09', body);
}

/**
 * Checks that the group's count and control sum are the sums of the blocks' ones. Both come from
 * the same lines, so a difference is a bug here, and the file must not leave.
 */
function writePain001AssertTotals(blocks: readonly Pain001PaymentInformation[], count: number, group_sum: string, block_sums: readonly string[]): void {
  assert(blocks.reduce((total, block) => total + block.transactions.length, 0) === count, 'writePain001: the block counts must add up to NbOfTxs');
  const group = parseExactDecimal(group_sum);
  const parts = block_sums.map(parseExactDecimal);
  assert(group !== undefined, 'writePain001: the group control sum must be a decimal');
  const defined = parts.filter((part): part is ExactDecimal => part !== undefined);
  assert(defined.length === blocks.length, 'writePain001: every block control sum must be a decimal');
  assert(exactDecimalEquals(addExactDecimals(defined), group), 'writePain001: the block control sums must add up to the group CtrlSum');
}

function writePain001Transaction(problems: InputProblems, unique: UniqueIdentifiers, field: string, transaction: Pain001Transaction): XmlElement {
  const remittance = problems.optionalText(`${field}.remittanceInformation`, transaction.remittanceInformation, max140_text_length);
  return element('CdtTrfTxInf', [
    element('PmtId', [
      element('InstrId', unique.check('InstrId', `${field}.instructionId`, problems.text(`${field}.instructionId`, transaction.instructionId, max35_text_length))),
      element('EndToEndId', unique.check('EndToEndId', `${field}.endToEndId`, problems.text(`${field}.endToEndId`, transaction.endToEndId, max35_text_length))),
    ]),
    element('Amt', [element('InstdAmt', problems.amount(`${field}.amount`, transaction.amount), { Ccy: transaction.amount.currency })]),
    transaction.creditorAgent === undefined ? undefined : element('CdtrAgt', [problems.agent(`${field}.creditorAgent`, transaction.creditorAgent)]),
    element('Cdtr', [element('Nm', problems.text(`${field}.creditorName`, transaction.creditorName, max140_text_length))]),
    element('CdtrAcct', [problems.account(`${field}.creditorAccount`, transaction.creditorAccount)]),
    remittance === undefined ? undefined : element('RmtInf', [element('Ustrd', remittance)]),
  ]);
}

export interface Pain001ReadTransaction {
  readonly instructionId: string | undefined;
  readonly endToEndId: string;
  readonly amount: Money;
  readonly creditorAgent: AgentIdentification | undefined;
  readonly creditorName: string | undefined;
  readonly creditorAccount: AccountIdentification | undefined;
  /** Why the creditor's IBAN fails the IBAN check (country length, mod 97), when it does. */
  readonly creditorIbanRefusal: IbanRefusalCode | undefined;
  /** The unstructured remittance lines (Ustrd), joined by a space. */
  readonly remittanceInformation: string | undefined;
}

export interface Pain001ReadPaymentInformation {
  readonly paymentInformationId: string;
  readonly requestedExecutionDate: string | undefined;
  readonly debtorName: string | undefined;
  readonly debtorAccount: AccountIdentification;
  /** Why the debtor's IBAN fails the IBAN check, when it does. */
  readonly debtorIbanRefusal: IbanRefusalCode | undefined;
  readonly debtorAgent: AgentIdentification | undefined;
  /** What the block's NbOfTxs and CtrlSum say, when it has them. */
  readonly declaredNumberOfTransactions: number | undefined;
  readonly declaredControlSum: string | undefined;
  readonly transactions: readonly Pain001ReadTransaction[];
}

export interface Pain001Message {
  readonly messageId: string;
  readonly createdAt: string;
  readonly initiatingPartyName: string | undefined;
  /** What GrpHdr/NbOfTxs and GrpHdr/CtrlSum say. */
  readonly declaredNumberOfTransactions: number;
  readonly declaredControlSum: string | undefined;
  /** What the file holds, counted and summed here. */
  readonly numberOfTransactions: number;
  readonly controlSum: string;
  readonly paymentInformation: readonly Pain001ReadPaymentInformation[];
  /**
   * Where the declared counts or sums differ from the transactions, one sentence each naming the
   * element. A bank answers such a file with a rejection (AM18 for the count, AM10 for the sum),
   * so the file is still read and the decision left to the caller.
   */
  readonly inconsistencies: readonly string[];
}

/** Reads a pain.001.001.09 after validating it against the XSD. */
export function readPain001(xml: string): Iso20022Result<Pain001Message> {
  return readDocument(xml, 'pain.001.001.09', (document) => {
    const initiation = child(document, 'CstmrCdtTrfInitn');
    const header = child(initiation, 'GrpHdr');
    const inconsistencies: string[] = [];
    const paymentInformation = children(initiation, 'PmtInf').map((block, block_index) => {
      const path = `PmtInf[${block_index + 1}]`;
      const transactions = children(block, 'CdtTrfTxInf').map((transaction, index) => readPain001Transaction(transaction, `${path}/CdtTrfTxInf[${index + 1}]`));
      const declaredNumberOfTransactions = readCount(optionalText(block, 'NbOfTxs'));
      const declaredControlSum = optionalText(block, 'CtrlSum');
      checkDeclaredTotals(inconsistencies, path, transactions.map((transaction) => transaction.amount), declaredNumberOfTransactions, declaredControlSum);
      const debtorAccount = readAccount(child(block, 'DbtrAcct'), `${path}/DbtrAcct`);
      return {
        paymentInformationId: requiredText(block, 'PmtInfId'),
        requestedExecutionDate: readDateChoice(child(block, 'ReqdExctnDt')),
        debtorName: optionalText(block, 'Dbtr', 'Nm'),
        debtorAccount,
        debtorIbanRefusal: ibanRefusalOf(debtorAccount),
        debtorAgent: readAgent(child(block, 'DbtrAgt')),
        declaredNumberOfTransactions,
        declaredControlSum,
        transactions,
      };
    });
    const transactions = paymentInformation.flatMap((block) => block.transactions);
    const declaredNumberOfTransactions = readCount(requiredText(header, 'NbOfTxs')) ?? 0;
    const declaredControlSum = optionalText(header, 'CtrlSum');
    checkDeclaredTotals(inconsistencies, 'GrpHdr', transactions.map((transaction) => transaction.amount), declaredNumberOfTransactions, declaredControlSum);
    const sum = controlSum(transactions.map((transaction) => transaction.amount));
    if (!sum.ok) return sum;
    return {
      ok: true,
      value: {
        messageId: requiredText(header, 'MsgId'),
        createdAt: requiredText(header, 'CreDtTm'),
        initiatingPartyName: optionalText(header, 'InitgPty', 'Nm'),
        declaredNumberOfTransactions,
        declaredControlSum,
        numberOfTransactions: transactions.length,
        controlSum: sum.value,
        paymentInformation,
        inconsistencies,
      },
    };
  });
}

function readPain001Transaction(node: unknown, path: string): Pain001ReadTransaction {
  const amount = child(node, 'Amt');
  if (child(amount, 'InstdAmt') === undefined) throw new XmlReadError(`Element '${path}/Amt' has EqvtAmt; only InstdAmt is supported.`, 'message_unsupported');
  const creditor_account_node = child(node, 'CdtrAcct');
  const creditor_account = creditor_account_node === undefined ? undefined : readAccount(creditor_account_node, `${path}/CdtrAcct`);
  const ustrd = children(child(node, 'RmtInf'), 'Ustrd').map((line) => optionalText(line) ?? '');
  return {
    instructionId: optionalText(node, 'PmtId', 'InstrId'),
    endToEndId: requiredText(node, 'PmtId', 'EndToEndId'),
    amount: readMoney(child(amount, 'InstdAmt'), `${path}/Amt/InstdAmt`),
    creditorAgent: readAgent(child(node, 'CdtrAgt')),
    creditorName: optionalText(node, 'Cdtr', 'Nm'),
    creditorAccount: creditor_account,
    creditorIbanRefusal: ibanRefusalOf(creditor_account),
    remittanceInformation: ustrd.length === 0 ? undefined : ustrd.join(' '),
  };
}
