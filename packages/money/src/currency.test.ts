import { describe, expect, it } from 'vitest';
import { currencies, currency_codes, currencyOf, isCurrencyCode, parseCurrency } from './currency';

// The exponent of every currency, written out a second time on purpose. Money is stored in minor
// units, so an exponent must never change once used: a change to the table fails here, and whoever
// makes it has to stop and read why.
const exponents_in_use = `
AED 2, AFN 2, ALL 2, AMD 2, AOA 2, ARS 2, AUD 2, AWG 2, AZN 2, BAM 2
BBD 2, BDT 2, BHD 3, BIF 0, BMD 2, BND 2, BOB 2, BOV 2, BRL 2, BSD 2
BTN 2, BWP 2, BYN 2, BZD 2, CAD 2, CDF 2, CHE 2, CHF 2, CHW 2, CLF 4
CLP 0, CNY 2, COP 2, COU 2, CRC 2, CUP 2, CVE 2, CZK 2, DJF 0, DKK 2
DOP 2, DZD 2, EGP 2, ERN 2, ETB 2, EUR 2, FJD 2, FKP 2, GBP 2, GEL 2
GHS 2, GIP 2, GMD 2, GNF 0, GTQ 2, GYD 2, HKD 2, HNL 2, HTG 2, HUF 2
IDR 2, ILS 2, INR 2, IQD 3, IRR 2, ISK 0, JMD 2, JOD 3, JPY 0, KES 2
KGS 2, KHR 2, KMF 0, KPW 2, KRW 0, KWD 3, KYD 2, KZT 2, LAK 2, LBP 2
LKR 2, LRD 2, LSL 2, LYD 3, MAD 2, MDL 2, MGA 2, MKD 2, MMK 2, MNT 2
MOP 2, MRU 2, MUR 2, MVR 2, MWK 2, MXN 2, MXV 2, MYR 2, MZN 2, NAD 2
NGN 2, NIO 2, NOK 2, NPR 2, NZD 2, OMR 3, PAB 2, PEN 2, PGK 2, PHP 2
PKR 2, PLN 2, PYG 0, QAR 2, RON 2, RSD 2, RUB 2, RWF 0, SAR 2, SBD 2
SCR 2, SDG 2, SEK 2, SGD 2, SHP 2, SLE 2, SOS 2, SRD 2, SSP 2, STN 2
SVC 2, SYP 2, SZL 2, THB 2, TJS 2, TMT 2, TND 3, TOP 2, TRY 2, TTD 2
TWD 2, TZS 2, UAH 2, UGX 0, USD 2, USN 2, UYI 0, UYU 2, UYW 4, UZS 2
VED 2, VES 2, VND 0, VUV 0, WST 2, XAD 2, XAF 0, XCD 2, XCG 2, XOF 0
XPF 0, YER 2, ZAR 2, ZMW 2, ZWG 2
`;

describe('currency table', () => {
  it('keeps every exponent that is in use', () => {
    const written = exponents_in_use.trim().split(/,\s*|\n/);
    const actual = Object.values(currencies).map((currency) => `${currency.code} ${currency.exponent}`);
    expect(actual).toEqual(written);
  });

  it('has the exponents payments depend on', () => {
    expect(currencies.USD.exponent).toBe(2);
    expect(currencies.EUR.exponent).toBe(2);
    expect(currencies.CNY.exponent).toBe(2);
    expect(currencies.JPY.exponent).toBe(0);
    expect(currencies.KRW.exponent).toBe(0);
    for (const code of ['KWD', 'BHD', 'JOD', 'OMR', 'TND', 'LYD', 'IQD'] as const) expect(currencies[code].exponent).toBe(3);
    expect(currencies.CLF.exponent).toBe(4);
    expect(currencies.UYW.exponent).toBe(4);
  });

  it('keys every row by its own upper-case code, with a unique ISO numeric code', () => {
    const numerics = new Set<number>();
    for (const [key, currency] of Object.entries(currencies)) {
      expect(currency.code).toBe(key);
      expect(key).toMatch(/^[A-Z]{3}$/);
      expect(Number.isInteger(currency.numeric) && currency.numeric >= 1 && currency.numeric <= 999).toBe(true);
      expect([0, 2, 3, 4]).toContain(currency.exponent);
      expect(currency.name.trim()).toBe(currency.name);
      expect(currency.name.length).toBeGreaterThan(0);
      numerics.add(currency.numeric);
    }
    expect(numerics.size).toBe(Object.keys(currencies).length);
    expect(currencies.USD.numeric).toBe(840);
    expect(currencies.ALL.numeric).toBe(8);
  });

  it('is frozen, row by row', () => {
    expect(Object.isFrozen(currencies)).toBe(true);
    for (const currency of Object.values(currencies)) expect(Object.isFrozen(currency)).toBe(true);
    expect(Object.isFrozen(currency_codes)).toBe(true);
  });

  it('lists every code once, in order', () => {
    expect(currency_codes.length).toBe(Object.keys(currencies).length);
    expect([...currency_codes].sort()).toEqual(currency_codes);
    expect(new Set(currency_codes).size).toBe(currency_codes.length);
  });

  it('leaves out the codes ISO gives no minor unit, and withdrawn codes', () => {
    for (const code of ['XAU', 'XAG', 'XPD', 'XPT', 'XDR', 'XTS', 'XXX', 'HRK', 'SLL', 'ZWL', 'ANG', 'VEF']) {
      expect(isCurrencyCode(code)).toBe(false);
    }
  });

  it('reads a row with currencyOf', () => {
    expect(currencyOf('KWD')).toEqual({ code: 'KWD', numeric: 414, exponent: 3, name: 'Kuwaiti Dinar' });
  });
});

describe('parseCurrency', () => {
  it('accepts upper case and the lower case Stripe writes, and returns the upper-case code', () => {
    expect(parseCurrency('USD')).toEqual({ ok: true, value: 'USD' });
    expect(parseCurrency('usd')).toEqual({ ok: true, value: 'USD' });
    expect(parseCurrency('jpy')).toEqual({ ok: true, value: 'JPY' });
    for (const code of currency_codes) {
      expect(parseCurrency(code)).toEqual({ ok: true, value: code });
      expect(parseCurrency(code.toLowerCase())).toEqual({ ok: true, value: code });
    }
  });

  it.each([
    ['an unknown code', 'XYZ'],
    ['a withdrawn code', 'HRK'],
    ['mixed case', 'Usd'],
    ['surrounding whitespace', ' usd'],
    ['a two-letter code', 'US'],
    ['a four-letter code', 'USDT'],
    ['an empty string', ''],
    ['a prototype property', 'constructor'],
    ['a three-letter prototype-like name', '__p'],
    ['a number', 840],
    ['null', null],
    ['undefined', undefined],
    ['an object', { code: 'USD' }],
  ])('refuses %s with currency_unknown', (_, value) => {
    const result = parseCurrency(value);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.code).toBe('currency_unknown');
      expect(result.message.length).toBeGreaterThan(0);
    }
  });

  it('explains why a code without a minor unit is refused', () => {
    const result = parseCurrency('xau');
    expect(result).toMatchObject({ ok: false, code: 'currency_unknown' });
    if (!result.ok) expect(result.message).toContain('no minor unit');
  });

  it('names the field in its messages', () => {
    const result = parseCurrency('XYZ', 'payout.currency');
    if (result.ok) throw new Error('expected a refusal');
    expect(result.message).toBe('payout.currency "XYZ" is not an active ISO 4217 currency code.');
  });
});
