import { describe, expect, it } from 'vitest';
import { money } from '@paygrid/money';
import { readPacs002, readPacs008, writePacs002, writePacs008, type Pacs002Report, type Pacs008Batch } from './pacs';
import type { Iso20022Result } from './result';
import { xmllint_skipped } from './testing';
import { validateXml } from './validate';

function written(result: Iso20022Result<string>): string {
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return result.value;
}

const batch: Pacs008Batch = {
  messageId: 'IB-2026-12-06-001',
  createdAt: new Date('2026-12-06T05:10:00Z'),
  settlementDate: '2026-12-07',
  settlementMethod: 'CLRG',
  instructingAgent: { bic: 'COBADEFFXXX' },
  instructedAgent: { bic: 'ABNANL2A' },
  transactions: [
    {
      instructionId: 'I-1',
      endToEndId: 'po_0001',
      transactionId: 'TX-1',
      amount: money(123456n, 'EUR'),
      debtorName: 'Paygrid Europe',
      debtorAccount: { iban: 'DE89370400440532013000' },
      debtorAgent: { bic: 'COBADEFFXXX' },
      creditorAgent: { bic: 'ABNANL2A' },
      creditorName: 'J. de Vries',
      creditorAccount: { iban: 'NL91ABNA0417164300' },
      remittanceInformation: 'Invoice 42 & 43',
    },
    {
      endToEndId: 'po_0002',
      transactionId: 'TX-2',
      amount: money(1n, 'EUR'),
      chargeBearer: 'SHAR',
      debtorName: 'Paygrid Europe',
      debtorAccount: { iban: 'DE89370400440532013000' },
      debtorAgent: { bic: 'COBADEFFXXX' },
      creditorAgent: { other: 'LOCAL-BANK-7' },
      creditorName: 'Ola Nordmann',
      creditorAccount: { iban: 'NO9386011117947' },
    },
  ],
};

describe.skipIf(xmllint_skipped)('pacs.008.001.08', () => {
  it('writes a batch that validates against the XSD and reads it back', () => {
    const xml = written(writePacs008(batch));
    expect(validateXml(xml, 'pacs.008.001.08')).toEqual({ ok: true });
    expect(xml).toContain('<TtlIntrBkSttlmAmt Ccy="EUR">1234.57</TtlIntrBkSttlmAmt>');
    const read = readPacs008(xml);
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(read.value).toMatchObject({
      messageId: 'IB-2026-12-06-001',
      declaredNumberOfTransactions: 2,
      numberOfTransactions: 2,
      declaredControlSum: '1234.57',
      controlSum: '1234.57',
      settlementDate: '2026-12-07',
      settlementMethod: 'CLRG',
      inconsistencies: [],
    });
    expect(read.value.transactions).toEqual([
      { instructionId: 'I-1', endToEndId: 'po_0001', transactionId: 'TX-1', amount: money(123456n, 'EUR'), settlementDate: '2026-12-07', chargeBearer: 'SLEV', debtorName: 'Paygrid Europe', debtorAccount: { iban: 'DE89370400440532013000' }, debtorIbanRefusal: undefined, debtorAgent: { bic: 'COBADEFFXXX' }, creditorAgent: { bic: 'ABNANL2A' }, creditorName: 'J. de Vries', creditorAccount: { iban: 'NL91ABNA0417164300' }, creditorIbanRefusal: undefined, remittanceInformation: 'Invoice 42 & 43' },
      { instructionId: undefined, endToEndId: 'po_0002', transactionId: 'TX-2', amount: money(1n, 'EUR'), settlementDate: '2026-12-07', chargeBearer: 'SHAR', debtorName: 'Paygrid Europe', debtorAccount: { iban: 'DE89370400440532013000' }, debtorIbanRefusal: undefined, debtorAgent: { bic: 'COBADEFFXXX' }, creditorAgent: { other: 'LOCAL-BANK-7' }, creditorName: 'Ola Nordmann', creditorAccount: { iban: 'NO9386011117947' }, creditorIbanRefusal: undefined, remittanceInformation: undefined },
    ]);
  });

  it('reports a control sum and a total that do not match the lines', () => {
    const xml = written(writePacs008(batch)).replace('<CtrlSum>1234.57</CtrlSum>', '<CtrlSum>1234.58</CtrlSum>').replace('1234.57</TtlIntrBkSttlmAmt>', '1234.00</TtlIntrBkSttlmAmt>');
    const read = readPacs008(xml);
    expect(read.ok).toBe(true);
    if (read.ok) {
      expect(read.value.inconsistencies).toEqual([
        "Element 'GrpHdr/CtrlSum' says 1234.58; the amounts add up to 1234.57.",
        "Element 'GrpHdr/TtlIntrBkSttlmAmt' says 1234.00 EUR; the settlement amounts do not add up to it.",
      ]);
    }
  });

  it('refuses a transaction id used twice', () => {
    const [first, second] = batch.transactions;
    const result = writePacs008({ ...batch, transactions: [first!, { ...second!, transactionId: first!.transactionId }] });
    expect(result).toMatchObject({ ok: false, code: 'text_invalid', errors: [expect.stringContaining('transactions[1].transactionId repeats TxId "TX-1"')] });
  });

  it('refuses a tampered file, naming the element', () => {
    const xml = written(writePacs008(batch)).replace('<SttlmMtd>CLRG</SttlmMtd>', '<SttlmMtd>CASH</SttlmMtd>');
    expect(readPacs008(xml)).toMatchObject({ ok: false, code: 'xml_invalid', errors: [expect.stringContaining("Element 'SttlmMtd'")] });
  });
});

const report: Pacs002Report = {
  messageId: 'IBSTS-1',
  createdAt: new Date('2026-12-06T05:20:00Z'),
  originalMessageId: 'IB-2026-12-06-001',
  originalMessageNameId: 'pacs.008.001.08',
  groupStatus: 'PART',
  transactions: [
    { originalInstructionId: 'I-1', originalEndToEndId: 'po_0001', originalTransactionId: 'TX-1', status: 'ACSC' },
    { originalEndToEndId: 'po_0002', originalTransactionId: 'TX-2', status: 'RJCT', reasons: [{ code: 'AC04', additionalInformation: 'Closed account' }] },
  ],
};

describe.skipIf(xmllint_skipped)('pacs.002.001.10', () => {
  it('writes a report that validates against the XSD and reads it back', () => {
    const xml = written(writePacs002(report));
    expect(validateXml(xml, 'pacs.002.001.10')).toEqual({ ok: true });
    const read = readPacs002(xml);
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(read.value).toEqual({
      messageId: 'IBSTS-1',
      createdAt: '2026-12-06T05:20:00.000Z',
      originalGroups: [{ originalMessageId: 'IB-2026-12-06-001', originalMessageNameId: 'pacs.008.001.08', groupStatus: 'PART', reasons: [] }],
      transactions: [
        { originalInstructionId: 'I-1', originalEndToEndId: 'po_0001', originalTransactionId: 'TX-1', status: 'ACSC', reasons: [] },
        { originalInstructionId: undefined, originalEndToEndId: 'po_0002', originalTransactionId: 'TX-2', status: 'RJCT', reasons: [{ code: 'AC04', proprietary: false, additionalInformation: ['Closed account'] }] },
      ],
    });
  });

  it('refuses a status that is not four upper-case letters', () => {
    expect(writePacs002({ ...report, transactions: [{ originalEndToEndId: 'x', status: 'OK' }] })).toMatchObject({ ok: false, code: 'text_invalid' });
  });
});
