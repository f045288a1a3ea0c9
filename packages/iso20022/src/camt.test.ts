import { describe, expect, it } from 'vitest';
import { money } from '@paygrid/money';
import { readCamt053, readCamt054, writeCamt053, writeCamt054, type Camt053Statement, type Camt054Notification } from './camt';
import type { Iso20022Result } from './result';
import { xmllint_skipped } from './testing';
import { validateXml } from './validate';

function written(result: Iso20022Result<string>): string {
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return result.value;
}

const notification: Camt054Notification = {
  messageId: 'NTF-0001',
  createdAt: new Date('2026-12-06T05:01:00Z'),
  notificationId: 'NTF-0001-1',
  account: { iban: 'GB82WEST12345698765432' },
  entries: [
    { amount: money(250000n, 'GBP'), creditDebit: 'credit', bookingDate: '2026-12-06', valueDate: '2026-12-06', accountServicerReference: 'BANKREF-1', endToEndId: 'payin_123', remittanceInformation: 'PGRID-REF-7QX2 <order 9> & co' },
    { amount: money(1n, 'GBP'), creditDebit: 'debit', status: 'PDNG', bookingDate: '2026-12-06' },
  ],
};

const statement: Camt053Statement = {
  messageId: 'STMT-0001',
  createdAt: new Date('2026-12-06T23:59:00Z'),
  statementId: 'STMT-2026-12-06',
  account: { iban: 'DE89370400440532013000' },
  openingBalance: money(-5000n, 'EUR'),
  openingDate: '2026-12-05',
  closingDate: '2026-12-06',
  entries: [
    { amount: money(100000n, 'EUR'), creditDebit: 'credit', bookingDate: '2026-12-06', endToEndId: 'payin_1' },
    { amount: money(15000n, 'EUR'), creditDebit: 'debit', bookingDate: '2026-12-06', endToEndId: 'po_0001', remittanceInformation: 'Payout po_0001' },
    { amount: money(999n, 'EUR'), creditDebit: 'credit', status: 'PDNG', bookingDate: '2026-12-06' },
  ],
};

describe.skipIf(xmllint_skipped)('camt.054.001.08', () => {
  it('writes a notification that validates against the XSD and reads it back', () => {
    const xml = written(writeCamt054(notification));
    expect(validateXml(xml, 'camt.054.001.08')).toEqual({ ok: true });
    const read = readCamt054(xml);
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(read.value.messageId).toBe('NTF-0001');
    const [only] = read.value.notifications;
    expect(only?.account).toEqual({ iban: 'GB82WEST12345698765432' });
    expect(only?.entries).toHaveLength(2);
    expect(only?.entries[0]).toMatchObject({
      amount: money(250000n, 'GBP'),
      creditDebit: 'credit',
      reversal: false,
      status: 'BOOK',
      bookingDate: '2026-12-06',
      valueDate: '2026-12-06',
      accountServicerReference: 'BANKREF-1',
      endToEndId: 'payin_123',
      remittanceInformation: 'PGRID-REF-7QX2 <order 9> & co',
    });
    expect(only?.entries[1]).toMatchObject({ amount: money(1n, 'GBP'), creditDebit: 'debit', status: 'PDNG', endToEndId: undefined, transactions: [] });
  });

  it('refuses a tampered notification, naming the element', () => {
    const xml = written(writeCamt054(notification));
    expect(readCamt054(xml.replace('<CdtDbtInd>CRDT</CdtDbtInd>', '<CdtDbtInd>CREDIT</CdtDbtInd>'))).toMatchObject({ ok: false, code: 'xml_invalid', errors: [expect.stringContaining("Element 'CdtDbtInd'")] });
    expect(readCamt054(xml.replace('2500.00', '2500.0x'))).toMatchObject({ ok: false, code: 'xml_invalid', errors: [expect.stringContaining("Element 'Amt'")] });
  });
});

describe.skipIf(xmllint_skipped)('camt.053.001.08', () => {
  it('writes a statement that validates, with the closing balance computed, and reads it back', () => {
    const xml = written(writeCamt053(statement));
    expect(validateXml(xml, 'camt.053.001.08')).toEqual({ ok: true });
    // -50.00 + 1000.00 - 150.00 = 800.00; the pending 9.99 does not count.
    expect(xml).toMatch(/<Cd>CLBD<\/Cd>\s*<\/CdOrPrtry>\s*<\/Tp>\s*<Amt Ccy="EUR">800\.00<\/Amt>\s*<CdtDbtInd>CRDT<\/CdtDbtInd>/);
    expect(xml).toMatch(/<Cd>OPBD<\/Cd>\s*<\/CdOrPrtry>\s*<\/Tp>\s*<Amt Ccy="EUR">50\.00<\/Amt>\s*<CdtDbtInd>DBIT<\/CdtDbtInd>/);
    const read = readCamt053(xml);
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    const [only] = read.value.statements;
    expect(only?.id).toBe('STMT-2026-12-06');
    expect(only?.openingBalance).toEqual({ amount: money(-5000n, 'EUR'), date: '2026-12-05' });
    expect(only?.closingBalance).toEqual({ amount: money(80000n, 'EUR'), date: '2026-12-06' });
    expect(only?.entries.map((entry) => [entry.amount.amount, entry.creditDebit, entry.status, entry.endToEndId, entry.remittanceInformation])).toEqual([
      [100000n, 'credit', 'BOOK', 'payin_1', undefined],
      [15000n, 'debit', 'BOOK', 'po_0001', 'Payout po_0001'],
      [999n, 'credit', 'PDNG', undefined, undefined],
    ]);
  });

  it('refuses a statement whose balances do not add up, naming the difference', () => {
    const xml = written(writeCamt053(statement)).replace('<Amt Ccy="EUR">800.00</Amt>', '<Amt Ccy="EUR">800.01</Amt>');
    const read = readCamt053(xml);
    expect(read).toMatchObject({ ok: false, code: 'statement_does_not_balance' });
    expect(read).not.toHaveProperty('value');
    if (!read.ok) {
      expect(read.errors[0]).toBe(
        'Stmt[1] (statement STMT-2026-12-06) does not balance: opening -50.00 EUR + booked credits 1000.00 EUR - booked debits 150.00 EUR = 800.00 EUR, but the closing balance (CLBD) says 800.01 EUR; the difference is 0.01 EUR.',
      );
    }
  });

  it('refuses a statement entry in another currency, and entries the writer cannot put in it', () => {
    const xml = written(writeCamt053(statement)).replace(/<Amt Ccy="EUR">150\.00<\/Amt>(\s*<CdtDbtInd>DBIT)/, '<Amt Ccy="USD">150.00</Amt>$1');
    expect(readCamt053(xml)).toMatchObject({ ok: false, code: 'statement_does_not_balance', errors: [expect.stringContaining("Element 'Stmt[1]/Ntry[2]/Amt' is in USD")] });
    const mixed = writeCamt053({ ...statement, entries: [{ amount: money(1n, 'USD'), creditDebit: 'credit', bookingDate: '2026-12-06' }] });
    expect(mixed).toMatchObject({ ok: false, code: 'text_invalid', errors: ['entries[0].amount is in USD; the statement is in EUR.'] });
  });
});

// Written by hand the way banks write camt.054, not by writeCamt054: a namespace prefix, a
// booking date-time, a batch entry with two transactions, and a structured creditor reference.
const bank_camt054 = `<?xml version="1.0" encoding="UTF-8"?>
<n:Document xmlns:n="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">
  <n:BkToCstmrDbtCdtNtfctn>
    <n:GrpHdr><n:MsgId>BANK-NTF-77</n:MsgId><n:CreDtTm>2026-12-06T09:15:00+01:00</n:CreDtTm></n:GrpHdr>
    <n:Ntfctn>
      <n:Id>BANK-NTF-77-1</n:Id>
      <n:Acct><n:Id><n:IBAN>CH9300762011623852957</n:IBAN></n:Id></n:Acct>
      <n:Ntry>
        <n:NtryRef>E1</n:NtryRef>
        <n:Amt Ccy="CHF">300.5</n:Amt>
        <n:CdtDbtInd>CRDT</n:CdtDbtInd>
        <n:Sts><n:Cd>BOOK</n:Cd></n:Sts>
        <n:BookgDt><n:DtTm>2026-12-06T09:14:00+01:00</n:DtTm></n:BookgDt>
        <n:ValDt><n:Dt>2026-12-06</n:Dt></n:ValDt>
        <n:AcctSvcrRef>ZKB-123</n:AcctSvcrRef>
        <n:BkTxCd><n:Domn><n:Cd>PMNT</n:Cd><n:Fmly><n:Cd>RCDT</n:Cd><n:SubFmlyCd>ESCT</n:SubFmlyCd></n:Fmly></n:Domn></n:BkTxCd>
        <n:NtryDtls>
          <n:TxDtls>
            <n:Refs><n:EndToEndId>payin_a</n:EndToEndId></n:Refs>
            <n:Amt Ccy="CHF">100.25</n:Amt>
            <n:CdtDbtInd>CRDT</n:CdtDbtInd>
            <n:RmtInf><n:Strd><n:CdtrRefInf><n:Ref>RF18539007547034</n:Ref></n:CdtrRefInf></n:Strd></n:RmtInf>
          </n:TxDtls>
          <n:TxDtls>
            <n:Refs><n:EndToEndId>payin_b</n:EndToEndId></n:Refs>
            <n:Amt Ccy="CHF">200.25</n:Amt>
            <n:CdtDbtInd>CRDT</n:CdtDbtInd>
            <n:RmtInf><n:Ustrd>Order 12</n:Ustrd><n:Ustrd>and 13</n:Ustrd></n:RmtInf>
          </n:TxDtls>
        </n:NtryDtls>
      </n:Ntry>
    </n:Ntfctn>
  </n:BkToCstmrDbtCdtNtfctn>
</n:Document>
`;

describe.skipIf(xmllint_skipped)('camt.054.001.08 from a bank', () => {
  it('reads a batch entry with its transactions, references and remittance', () => {
    const read = readCamt054(bank_camt054);
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    const entry = read.value.notifications[0]?.entries[0];
    expect(entry).toEqual({
      amount: money(30050n, 'CHF'),
      creditDebit: 'credit',
      reversal: false,
      status: 'BOOK',
      bookingDate: '2026-12-06T09:14:00+01:00',
      valueDate: '2026-12-06',
      accountServicerReference: 'ZKB-123',
      endToEndId: undefined,
      remittanceInformation: undefined,
      creditorReference: undefined,
      transactions: [
        { endToEndId: 'payin_a', amount: money(10025n, 'CHF'), remittanceInformation: undefined, creditorReference: 'RF18539007547034' },
        { endToEndId: 'payin_b', amount: money(20025n, 'CHF'), remittanceInformation: 'Order 12 and 13', creditorReference: undefined },
      ],
    });
  });

  it('refuses it when a required element is missing, naming the element', () => {
    const without_status = bank_camt054.replace('<n:Sts><n:Cd>BOOK</n:Cd></n:Sts>', '');
    expect(readCamt054(without_status)).toMatchObject({ ok: false, code: 'xml_invalid', errors: [expect.stringContaining("Element 'BookgDt'")] });
  });
});
