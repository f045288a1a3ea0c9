import { describe, expect, it } from 'vitest';
import { readPain002, writePain002, type Pain002Report } from './pain002';
import { xmllint_skipped } from './testing';
import { validateXml } from './validate';

const report: Pain002Report = {
  messageId: 'STS-0001',
  createdAt: new Date('2026-12-06T05:00:00Z'),
  originalMessageId: 'PAYOUT-2026-12-06-001',
  originalMessageNameId: 'pain.001.001.09',
  groupStatus: 'PART',
  paymentInformation: [
    {
      originalPaymentInformationId: 'PMTINF-EUR-1',
      status: 'PART',
      transactions: [
        { originalInstructionId: 'INSTR-1', originalEndToEndId: 'po_0001', status: 'ACSC' },
        { originalEndToEndId: 'po_0002', status: 'RJCT', reasons: [{ code: 'AC01', additionalInformation: 'Account number <unknown> & closed' }, { code: 'AM04' }] },
      ],
    },
    { originalPaymentInformationId: 'PMTINF-KWD-1', status: 'RJCT', reasons: [{ code: 'AM04' }], transactions: [] },
  ],
};

function written(input: Pain002Report): string {
  const result = writePain002(input);
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return result.value;
}

describe.skipIf(xmllint_skipped)('pain.002.001.10', () => {
  it('writes a report that validates against the XSD and reads it back', () => {
    const xml = written(report);
    expect(validateXml(xml, 'pain.002.001.10')).toEqual({ ok: true });
    const read = readPain002(xml);
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(read.value).toEqual({
      messageId: 'STS-0001',
      createdAt: '2026-12-06T05:00:00.000Z',
      originalMessageId: 'PAYOUT-2026-12-06-001',
      originalMessageNameId: 'pain.001.001.09',
      originalNumberOfTransactions: undefined,
      originalControlSum: undefined,
      groupStatus: 'PART',
      groupReasons: [],
      paymentInformation: [
        {
          originalPaymentInformationId: 'PMTINF-EUR-1',
          status: 'PART',
          reasons: [],
          transactions: [
            { originalInstructionId: 'INSTR-1', originalEndToEndId: 'po_0001', status: 'ACSC', reasons: [] },
            {
              originalInstructionId: undefined,
              originalEndToEndId: 'po_0002',
              status: 'RJCT',
              reasons: [
                { code: 'AC01', proprietary: false, additionalInformation: ['Account number <unknown> & closed'] },
                { code: 'AM04', proprietary: false, additionalInformation: [] },
              ],
            },
          ],
        },
        { originalPaymentInformationId: 'PMTINF-KWD-1', status: 'RJCT', reasons: [{ code: 'AM04', proprietary: false, additionalInformation: [] }], transactions: [] },
      ],
    });
  });

  it('refuses bad status and reason codes before writing', () => {
    const result = writePain002({ ...report, groupStatus: 'rjct', groupReasons: [{ code: 'TOOLONG' }] });
    expect(result).toMatchObject({ ok: false, code: 'text_invalid' });
    if (!result.ok) expect(result.errors).toHaveLength(2);
  });

  it('refuses a tampered report, naming the element', () => {
    const tampered = written(report).replace('<TxSts>ACSC</TxSts>', '<TxSts>ACSCX</TxSts>');
    expect(readPain002(tampered)).toMatchObject({ ok: false, code: 'xml_invalid', errors: [expect.stringContaining("Element 'TxSts'")] });
    const missing = written(report).replace(/<OrgnlMsgId>[^<]*<\/OrgnlMsgId>/, '');
    expect(readPain002(missing)).toMatchObject({ ok: false, code: 'xml_invalid', errors: [expect.stringContaining("Element 'OrgnlMsgNmId'")] });
  });
});
