import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { money, type CurrencyCode } from '@paygrid/money';
import { control_sum_minor_max } from './amount';
import { readPain001, writePain001, type Pain001Batch } from './pain001';
import { xmllint_skipped } from './testing';
import { validateXml } from './validate';
import { checkText } from './xml';

const sample = readFileSync(new URL('../schemas/pain.001.001.09.xml', import.meta.url), 'utf8');

const batch: Pain001Batch = {
  messageId: 'PAYOUT-2026-12-06-001',
  createdAt: new Date('2026-12-06T04:50:00Z'),
  initiatingPartyName: 'Paygrid Payouts & Co <EU>',
  paymentInformation: [
    {
      paymentInformationId: 'PMTINF-EUR-1',
      requestedExecutionDate: '2026-12-07',
      debtorName: 'Paygrid Europe',
      debtorAccount: { iban: 'DE89 3704 0044 0532 0130 00' },
      debtorAgent: { bic: 'COBADEFFXXX' },
      transactions: [
        {
          instructionId: 'INSTR-1',
          endToEndId: 'po_0001',
          amount: money(15000n, 'EUR'),
          creditorAgent: { bic: 'ABNANL2A' },
          creditorName: 'Jan "Jansen" de Vries',
          creditorAccount: { iban: 'NL91ABNA0417164300' },
          remittanceInformation: 'Payout po_0001 & fees <none>',
        },
        {
          instructionId: 'INSTR-2',
          endToEndId: 'po_0002',
          amount: money(1n, 'EUR'),
          creditorName: 'Société Générale client',
          creditorAccount: { iban: 'FR1420041010050500013M02606' },
        },
      ],
    },
    {
      paymentInformationId: 'PMTINF-KWD-1',
      requestedExecutionDate: '2026-12-07',
      debtorName: 'Paygrid Gulf',
      debtorAccount: { other: '0012345678' },
      debtorAgent: { other: 'NBOK-KW' },
      transactions: [
        { instructionId: 'INSTR-3', endToEndId: 'po_0003', amount: money(1500n, 'KWD'), creditorName: 'A. Rahman', creditorAccount: { other: '998877' } },
      ],
    },
  ],
};

function written(input: Pain001Batch): string {
  const result = writePain001(input);
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return result.value;
}

describe.skipIf(xmllint_skipped)('pain.001.001.09', () => {
  it('writes a batch that validates against the XSD, with counts and control sums from the lines', () => {
    const xml = written(batch);
    expect(validateXml(xml, 'pain.001.001.09')).toEqual({ ok: true });
    expect(xml).toContain('<NbOfTxs>3</NbOfTxs>');
    // 150.00 + 0.01 EUR and 1.500 KWD, summed in the finest exponent (3).
    expect(xml).toContain('<CtrlSum>151.510</CtrlSum>');
    expect(xml).toContain('<CtrlSum>150.01</CtrlSum>');
    expect(xml).toContain('<InstdAmt Ccy="KWD">1.500</InstdAmt>');
    expect(xml).toContain('<Nm>Paygrid Payouts &amp; Co &lt;EU&gt;</Nm>');
    expect(xml).toContain('<IBAN>DE89370400440532013000</IBAN>');
  });

  it('reads back what it wrote', () => {
    const read = readPain001(written(batch));
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(read.value).toMatchObject({
      messageId: 'PAYOUT-2026-12-06-001',
      createdAt: '2026-12-06T04:50:00.000Z',
      initiatingPartyName: 'Paygrid Payouts & Co <EU>',
      declaredNumberOfTransactions: 3,
      numberOfTransactions: 3,
      declaredControlSum: '151.510',
      controlSum: '151.510',
      inconsistencies: [],
    });
    const [eur, kwd] = read.value.paymentInformation;
    expect(eur).toMatchObject({ paymentInformationId: 'PMTINF-EUR-1', requestedExecutionDate: '2026-12-07', debtorName: 'Paygrid Europe', debtorAccount: { iban: 'DE89370400440532013000' }, debtorIbanRefusal: undefined, debtorAgent: { bic: 'COBADEFFXXX' }, declaredNumberOfTransactions: 2, declaredControlSum: '150.01' });
    expect(eur?.transactions).toEqual([
      { instructionId: 'INSTR-1', endToEndId: 'po_0001', amount: money(15000n, 'EUR'), creditorAgent: { bic: 'ABNANL2A' }, creditorName: 'Jan "Jansen" de Vries', creditorAccount: { iban: 'NL91ABNA0417164300' }, creditorIbanRefusal: undefined, remittanceInformation: 'Payout po_0001 & fees <none>' },
      { instructionId: 'INSTR-2', endToEndId: 'po_0002', amount: money(1n, 'EUR'), creditorAgent: undefined, creditorName: 'Société Générale client', creditorAccount: { iban: 'FR1420041010050500013M02606' }, creditorIbanRefusal: undefined, remittanceInformation: undefined },
    ]);
    expect(kwd).toMatchObject({ debtorAccount: { other: '0012345678' }, debtorAgent: { other: 'NBOK-KW' } });
    expect(kwd?.transactions[0]).toMatchObject({ amount: money(1500n, 'KWD'), creditorAccount: { other: '998877' } });
  });

  it('reads the foreign sample, and reports that its NbOfTxs (2) does not match its five transactions', () => {
    const read = readPain001(sample);
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    const message = read.value;
    expect(message.messageId).toBe('1');
    expect(message.createdAt).toBe('2023-03-10T15:30:47.000Z');
    expect(message.initiatingPartyName).toBe('John Doe');
    expect(message.declaredNumberOfTransactions).toBe(2);
    expect(message.declaredControlSum).toBeUndefined();
    expect(message.numberOfTransactions).toBe(5);
    expect(message.controlSum).toBe('1100.00');
    expect(message.inconsistencies).toEqual(["Element 'GrpHdr/NbOfTxs' says 2 transactions; the file has 5."]);
    expect(message.paymentInformation).toHaveLength(1);
    const block = message.paymentInformation[0]!;
    expect(block).toMatchObject({ paymentInformationId: 'PaymentID6789', requestedExecutionDate: '2023-03-12', debtorName: 'Acme Corp', debtorAccount: { iban: 'DE75512108001245126162' }, debtorAgent: { bic: 'DEUTDEFFXXX' } });
    expect(block.transactions.map((transaction) => [transaction.endToEndId, transaction.amount.amount, transaction.amount.currency, transaction.creditorName, transaction.creditorAccount])).toEqual([
      ['PaymentID6789', 15000n, 'EUR', 'Global Tech', { iban: 'DE68210501700024690959' }],
      ['PaymentID4321', 30000n, 'EUR', 'Green Energy', { iban: 'DE89370400440532013008' }],
      ['PaymentID1357', 25000n, 'EUR', 'Beta Chemicals', { iban: 'DE44500105175407123457' }],
      ['PaymentID2468', 17500n, 'EUR', 'Gamma Logistics', { iban: 'DE53500105176502098765' }],
      ['PaymentID4815', 22500n, 'EUR', 'Eco Innovations', { iban: 'DE18500105175001478962' }],
    ]);
    // The sample's IBANs have the right shape for the XSD but made-up check digits: every one fails mod 97.
    expect(block.debtorIbanRefusal).toBe('invalid_iban_check_digits');
    expect(block.transactions.map((transaction) => transaction.creditorIbanRefusal)).toEqual(Array(5).fill('invalid_iban_check_digits'));
  });

  it('refuses a tampered file before returning anything, naming the element', () => {
    const letter = readPain001(sample.replace('300.00', '3OO.00'));
    expect(letter).toMatchObject({ ok: false, code: 'xml_invalid', errors: [expect.stringContaining("Element 'InstdAmt'")] });
    expect(letter).not.toHaveProperty('value');
    const missing = readPain001(sample.replace(/<Dbtr>\s*<Nm>Acme Corp<\/Nm>\s*<\/Dbtr>/, ''));
    expect(missing).toMatchObject({ ok: false, code: 'xml_invalid', errors: [expect.stringContaining("Element 'DbtrAcct'")] });
  });

  it('refuses a valid file whose amount has more digits than its currency, or an unknown currency, naming the element', () => {
    const result = readPain001(sample.replace('150.00', '150.001'));
    expect(readPain001(sample.replace('Ccy="EUR">300.00', 'Ccy="XYZ">300.00'))).toMatchObject({ ok: false, code: 'currency_unknown', errors: [expect.stringContaining("Element 'PmtInf[1]/CdtTrfTxInf[2]/Amt/InstdAmt' attribute Ccy")] });
    expect(result).toMatchObject({ ok: false, code: 'amount_invalid', errors: [expect.stringContaining("Element 'PmtInf[1]/CdtTrfTxInf[1]/Amt/InstdAmt'")] });
  });

  it('refuses an equivalent amount (EqvtAmt), which it does not read, as unsupported', () => {
    const equivalent = sample.replace('<InstdAmt Ccy="EUR">150.00</InstdAmt>', '<EqvtAmt><Amt Ccy="EUR">150.00</Amt><CcyOfTrf>USD</CcyOfTrf></EqvtAmt>');
    expect(validateXml(equivalent, 'pain.001.001.09')).toEqual({ ok: true });
    expect(readPain001(equivalent)).toMatchObject({ ok: false, code: 'message_unsupported', errors: ["Element 'PmtInf[1]/CdtTrfTxInf[1]/Amt' has EqvtAmt; only InstdAmt is supported."] });
  });

  it('refuses over-long identifiers, bad IBANs and BICs, and a duplicated debtor account, listing each', () => {
    const first = batch.paymentInformation[0]!;
    const result = writePain001({
      ...batch,
      messageId: 'M'.repeat(36),
      paymentInformation: [
        { ...first, debtorAgent: { bic: 'cobadeff' }, transactions: [{ ...first.transactions[0]!, endToEndId: '', creditorAccount: { iban: 'NL92ABNA0417164300' } }] },
        { ...first, paymentInformationId: 'PMTINF-2' },
      ],
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.code).toBe('text_invalid');
    expect(result.errors).toEqual(
      expect.arrayContaining([
        'messageId has 36 characters; the schema allows at most 35.',
        expect.stringContaining('paymentInformation[0].debtorAgent.bic'),
        'paymentInformation[0].transactions[0].endToEndId is empty; the schema needs 1 to 35 characters.',
        expect.stringContaining('paymentInformation[0].transactions[0].creditorAccount: invalid_iban_check_digits'),
        expect.stringContaining('paymentInformation[1].debtorAccount appears in an earlier block'),
      ]),
    );
  });

  it('refuses an end-to-end id, instruction id or PmtInfId used twice, since status reports match on them', () => {
    const [first, second] = batch.paymentInformation;
    const line = first!.transactions[0]!;
    const result = writePain001({ ...batch, paymentInformation: [first!, { ...second!, paymentInformationId: first!.paymentInformationId, transactions: [{ ...line, amount: money(1n, 'KWD') }] }] });
    expect(result).toMatchObject({
      ok: false,
      code: 'text_invalid',
      errors: [
        'paymentInformation[1].paymentInformationId repeats PmtInfId "PMTINF-EUR-1" of paymentInformation[0].paymentInformationId; each must be unique in the file.',
        'paymentInformation[1].transactions[0].instructionId repeats InstrId "INSTR-1" of paymentInformation[0].transactions[0].instructionId; each must be unique in the file.',
        'paymentInformation[1].transactions[0].endToEndId repeats EndToEndId "po_0001" of paymentInformation[0].transactions[0].endToEndId; each must be unique in the file.',
      ],
    });
  });

  it('refuses texts XML cannot carry or readers would change, and impossible dates', () => {
    const first = batch.paymentInformation[0]!;
    const result = writePain001({
      ...batch,
      initiatingPartyName: 'Paygrid\u0007',
      paymentInformation: [{ ...first, requestedExecutionDate: '2026-02-30', debtorName: ' Paygrid Europe', transactions: [{ ...first.transactions[0]!, remittanceInformation: 'line one\r\nline two' }] }],
    });
    expect(result).toMatchObject({
      ok: false,
      code: 'text_invalid',
      errors: expect.arrayContaining([
        'initiatingPartyName has a control character (line breaks and tabs included), which XML cannot carry unchanged.',
        'paymentInformation[0].debtorName starts or ends with white space, which readers would trim away.',
        'paymentInformation[0].requestedExecutionDate must be a date such as 2026-12-06; got "2026-02-30".',
        'paymentInformation[0].transactions[0].remittanceInformation has a control character (line breaks and tabs included), which XML cannot carry unchanged.',
      ]),
    });
  });

  it('refuses a batch whose control sum would pass 2^53 - 1 minor units, and an empty batch', () => {
    const first = batch.paymentInformation[0]!;
    const line = first.transactions[0]!;
    const overflow = writePain001({ ...batch, paymentInformation: [{ ...first, transactions: [{ ...line, amount: money(control_sum_minor_max, 'EUR') }, { ...line, endToEndId: 'po_x', amount: money(1n, 'EUR') }] }] });
    expect(overflow).toMatchObject({ ok: false, code: 'control_sum_too_large' });
    expect(writePain001({ ...batch, paymentInformation: [] })).toMatchObject({ ok: false, code: 'batch_empty' });
  });
});

describe.skipIf(xmllint_skipped)('pain.001.001.09 round trip', () => {
  const name = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 140 }).filter((text) => checkText('name', text, 140) === undefined);
  const identifier = fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 35 }).filter((text) => checkText('id', text, 35) === undefined);
  const amount = fc.tuple(fc.constantFrom<CurrencyCode>('JPY', 'USD', 'KWD', 'EUR'), fc.bigInt({ min: 0n, max: 10n ** 12n })).map(([currency, minor]) => money(minor, currency));

  it('reads back every value it writes, for random names, identifiers, currencies and amounts', () => {
    fc.assert(
      fc.property(fc.uniqueArray(identifier, { minLength: 1, maxLength: 4 }), name, fc.array(amount, { minLength: 4, maxLength: 4 }), (end_to_end_ids, creditor_name, amounts) => {
        const transactions = end_to_end_ids.map((end_to_end_id, index) => ({
          instructionId: `I-${index}`,
          endToEndId: end_to_end_id,
          amount: amounts[index]!,
          creditorName: creditor_name,
          creditorAccount: { iban: 'NL91ABNA0417164300' },
          remittanceInformation: creditor_name,
        }));
        const xml = written({ ...batch, initiatingPartyName: creditor_name, paymentInformation: [{ ...batch.paymentInformation[0]!, transactions }] });
        const read = readPain001(xml);
        expect(read.ok).toBe(true);
        if (!read.ok) return;
        expect(read.value.initiatingPartyName).toBe(creditor_name);
        expect(read.value.inconsistencies).toEqual([]);
        expect(read.value.paymentInformation[0]!.transactions.map((transaction) => [transaction.endToEndId, transaction.amount, transaction.creditorName, transaction.remittanceInformation])).toEqual(
          transactions.map((transaction) => [transaction.endToEndId, transaction.amount, creditor_name, creditor_name]),
        );
      }),
      { numRuns: 15 },
    );
  });
});
