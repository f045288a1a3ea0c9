// ISO 4217 currencies and their minor-unit exponents: the one table every amount is read against.
import { assert } from './assert';
import { quote, refuse, type MoneyResult } from './result';

/** ISO 4217 gives at most four decimal places (CLF, UYW), so no exponent is larger. */
export type Exponent = 0 | 2 | 3 | 4;

interface CurrencyRow<Code extends string> {
  readonly code: Code;
  /** The ISO 4217 numeric code, 1 to 999 (written here without its leading zeros). */
  readonly numeric: number;
  /** How many decimal places the minor unit has: an amount of 1234n in USD (exponent 2) is 12.34 USD. */
  readonly exponent: Exponent;
  readonly name: string;
}

/**
 * Every active ISO 4217 currency that has a minor unit (ISO 4217 list one, as published on
 * 2026-01-01), keyed by its upper-case alphabetic code.
 *
 * An exponent is never changed once it has been used. Money is stored as a count of minor units,
 * so changing USD from 2 to 3 would turn every stored 12.34 USD into 1.234 USD. When ISO
 * redenominates a currency it issues a new code (SLL became SLE, ZWL became ZWG), and that new
 * code gets a new row. For the same reason a code that ISO withdraws stays here once it has been
 * used: stored balances still name it.
 *
 * Left out on purpose: the codes whose minor unit ISO gives as "N.A." (the metals XAU, XAG, XPD and
 * XPT, the bond-market units XBA to XBD, XDR, XSU, XUA, the test code XTS and the no-currency code
 * XXX). Without a minor unit there is no exponent to count minor units against.
 */
export const currencies = freezeTable({
  AED: { code: 'AED', numeric: 784, exponent: 2, name: 'UAE Dirham' },
  AFN: { code: 'AFN', numeric: 971, exponent: 2, name: 'Afghani' },
  ALL: { code: 'ALL', numeric: 8, exponent: 2, name: 'Lek' },
  AMD: { code: 'AMD', numeric: 51, exponent: 2, name: 'Armenian Dram' },
  AOA: { code: 'AOA', numeric: 973, exponent: 2, name: 'Kwanza' },
  ARS: { code: 'ARS', numeric: 32, exponent: 2, name: 'Argentine Peso' },
  AUD: { code: 'AUD', numeric: 36, exponent: 2, name: 'Australian Dollar' },
  AWG: { code: 'AWG', numeric: 533, exponent: 2, name: 'Aruban Florin' },
  AZN: { code: 'AZN', numeric: 944, exponent: 2, name: 'Azerbaijan Manat' },
  BAM: { code: 'BAM', numeric: 977, exponent: 2, name: 'Convertible Mark' },
  BBD: { code: 'BBD', numeric: 52, exponent: 2, name: 'Barbados Dollar' },
  BDT: { code: 'BDT', numeric: 50, exponent: 2, name: 'Taka' },
  BHD: { code: 'BHD', numeric: 48, exponent: 3, name: 'Bahraini Dinar' },
  BIF: { code: 'BIF', numeric: 108, exponent: 0, name: 'Burundi Franc' },
  BMD: { code: 'BMD', numeric: 60, exponent: 2, name: 'Bermudian Dollar' },
  BND: { code: 'BND', numeric: 96, exponent: 2, name: 'Brunei Dollar' },
  BOB: { code: 'BOB', numeric: 68, exponent: 2, name: 'Boliviano' },
  BOV: { code: 'BOV', numeric: 984, exponent: 2, name: 'Mvdol' },
  BRL: { code: 'BRL', numeric: 986, exponent: 2, name: 'Brazilian Real' },
  BSD: { code: 'BSD', numeric: 44, exponent: 2, name: 'Bahamian Dollar' },
  BTN: { code: 'BTN', numeric: 64, exponent: 2, name: 'Ngultrum' },
  BWP: { code: 'BWP', numeric: 72, exponent: 2, name: 'Pula' },
  BYN: { code: 'BYN', numeric: 933, exponent: 2, name: 'Belarusian Ruble' },
  BZD: { code: 'BZD', numeric: 84, exponent: 2, name: 'Belize Dollar' },
  CAD: { code: 'CAD', numeric: 124, exponent: 2, name: 'Canadian Dollar' },
  CDF: { code: 'CDF', numeric: 976, exponent: 2, name: 'Congolese Franc' },
  CHE: { code: 'CHE', numeric: 947, exponent: 2, name: 'WIR Euro' },
  CHF: { code: 'CHF', numeric: 756, exponent: 2, name: 'Swiss Franc' },
  CHW: { code: 'CHW', numeric: 948, exponent: 2, name: 'WIR Franc' },
  CLF: { code: 'CLF', numeric: 990, exponent: 4, name: 'Unidad de Fomento' },
  CLP: { code: 'CLP', numeric: 152, exponent: 0, name: 'Chilean Peso' },
  CNY: { code: 'CNY', numeric: 156, exponent: 2, name: 'Yuan Renminbi' },
  COP: { code: 'COP', numeric: 170, exponent: 2, name: 'Colombian Peso' },
  COU: { code: 'COU', numeric: 970, exponent: 2, name: 'Unidad de Valor Real' },
  CRC: { code: 'CRC', numeric: 188, exponent: 2, name: 'Costa Rican Colon' },
  CUP: { code: 'CUP', numeric: 192, exponent: 2, name: 'Cuban Peso' },
  CVE: { code: 'CVE', numeric: 132, exponent: 2, name: 'Cabo Verde Escudo' },
  CZK: { code: 'CZK', numeric: 203, exponent: 2, name: 'Czech Koruna' },
  DJF: { code: 'DJF', numeric: 262, exponent: 0, name: 'Djibouti Franc' },
  DKK: { code: 'DKK', numeric: 208, exponent: 2, name: 'Danish Krone' },
  DOP: { code: 'DOP', numeric: 214, exponent: 2, name: 'Dominican Peso' },
  DZD: { code: 'DZD', numeric: 12, exponent: 2, name: 'Algerian Dinar' },
  EGP: { code: 'EGP', numeric: 818, exponent: 2, name: 'Egyptian Pound' },
  ERN: { code: 'ERN', numeric: 232, exponent: 2, name: 'Nakfa' },
  ETB: { code: 'ETB', numeric: 230, exponent: 2, name: 'Ethiopian Birr' },
  EUR: { code: 'EUR', numeric: 978, exponent: 2, name: 'Euro' },
  FJD: { code: 'FJD', numeric: 242, exponent: 2, name: 'Fiji Dollar' },
  FKP: { code: 'FKP', numeric: 238, exponent: 2, name: 'Falkland Islands Pound' },
  GBP: { code: 'GBP', numeric: 826, exponent: 2, name: 'Pound Sterling' },
  GEL: { code: 'GEL', numeric: 981, exponent: 2, name: 'Lari' },
  GHS: { code: 'GHS', numeric: 936, exponent: 2, name: 'Ghana Cedi' },
  GIP: { code: 'GIP', numeric: 292, exponent: 2, name: 'Gibraltar Pound' },
  GMD: { code: 'GMD', numeric: 270, exponent: 2, name: 'Dalasi' },
  GNF: { code: 'GNF', numeric: 324, exponent: 0, name: 'Guinean Franc' },
  GTQ: { code: 'GTQ', numeric: 320, exponent: 2, name: 'Quetzal' },
  GYD: { code: 'GYD', numeric: 328, exponent: 2, name: 'Guyana Dollar' },
  HKD: { code: 'HKD', numeric: 344, exponent: 2, name: 'Hong Kong Dollar' },
  HNL: { code: 'HNL', numeric: 340, exponent: 2, name: 'Lempira' },
  HTG: { code: 'HTG', numeric: 332, exponent: 2, name: 'Gourde' },
  HUF: { code: 'HUF', numeric: 348, exponent: 2, name: 'Forint' },
  IDR: { code: 'IDR', numeric: 360, exponent: 2, name: 'Rupiah' },
  ILS: { code: 'ILS', numeric: 376, exponent: 2, name: 'New Israeli Sheqel' },
  INR: { code: 'INR', numeric: 356, exponent: 2, name: 'Indian Rupee' },
  IQD: { code: 'IQD', numeric: 368, exponent: 3, name: 'Iraqi Dinar' },
  IRR: { code: 'IRR', numeric: 364, exponent: 2, name: 'Iranian Rial' },
  ISK: { code: 'ISK', numeric: 352, exponent: 0, name: 'Iceland Krona' },
  JMD: { code: 'JMD', numeric: 388, exponent: 2, name: 'Jamaican Dollar' },
  JOD: { code: 'JOD', numeric: 400, exponent: 3, name: 'Jordanian Dinar' },
  JPY: { code: 'JPY', numeric: 392, exponent: 0, name: 'Yen' },
  KES: { code: 'KES', numeric: 404, exponent: 2, name: 'Kenyan Shilling' },
  KGS: { code: 'KGS', numeric: 417, exponent: 2, name: 'Som' },
  KHR: { code: 'KHR', numeric: 116, exponent: 2, name: 'Riel' },
  KMF: { code: 'KMF', numeric: 174, exponent: 0, name: 'Comorian Franc' },
  KPW: { code: 'KPW', numeric: 408, exponent: 2, name: 'North Korean Won' },
  KRW: { code: 'KRW', numeric: 410, exponent: 0, name: 'Won' },
  KWD: { code: 'KWD', numeric: 414, exponent: 3, name: 'Kuwaiti Dinar' },
  KYD: { code: 'KYD', numeric: 136, exponent: 2, name: 'Cayman Islands Dollar' },
  KZT: { code: 'KZT', numeric: 398, exponent: 2, name: 'Tenge' },
  LAK: { code: 'LAK', numeric: 418, exponent: 2, name: 'Lao Kip' },
  LBP: { code: 'LBP', numeric: 422, exponent: 2, name: 'Lebanese Pound' },
  LKR: { code: 'LKR', numeric: 144, exponent: 2, name: 'Sri Lanka Rupee' },
  LRD: { code: 'LRD', numeric: 430, exponent: 2, name: 'Liberian Dollar' },
  LSL: { code: 'LSL', numeric: 426, exponent: 2, name: 'Loti' },
  LYD: { code: 'LYD', numeric: 434, exponent: 3, name: 'Libyan Dinar' },
  MAD: { code: 'MAD', numeric: 504, exponent: 2, name: 'Moroccan Dirham' },
  MDL: { code: 'MDL', numeric: 498, exponent: 2, name: 'Moldovan Leu' },
  MGA: { code: 'MGA', numeric: 969, exponent: 2, name: 'Malagasy Ariary' },
  MKD: { code: 'MKD', numeric: 807, exponent: 2, name: 'Denar' },
  MMK: { code: 'MMK', numeric: 104, exponent: 2, name: 'Kyat' },
  MNT: { code: 'MNT', numeric: 496, exponent: 2, name: 'Tugrik' },
  MOP: { code: 'MOP', numeric: 446, exponent: 2, name: 'Pataca' },
  MRU: { code: 'MRU', numeric: 929, exponent: 2, name: 'Ouguiya' },
  MUR: { code: 'MUR', numeric: 480, exponent: 2, name: 'Mauritius Rupee' },
  MVR: { code: 'MVR', numeric: 462, exponent: 2, name: 'Rufiyaa' },
  MWK: { code: 'MWK', numeric: 454, exponent: 2, name: 'Malawi Kwacha' },
  MXN: { code: 'MXN', numeric: 484, exponent: 2, name: 'Mexican Peso' },
  MXV: { code: 'MXV', numeric: 979, exponent: 2, name: 'Mexican Unidad de Inversion (UDI)' },
  MYR: { code: 'MYR', numeric: 458, exponent: 2, name: 'Malaysian Ringgit' },
  MZN: { code: 'MZN', numeric: 943, exponent: 2, name: 'Mozambique Metical' },
  NAD: { code: 'NAD', numeric: 516, exponent: 2, name: 'Namibia Dollar' },
  NGN: { code: 'NGN', numeric: 566, exponent: 2, name: 'Naira' },
  NIO: { code: 'NIO', numeric: 558, exponent: 2, name: 'Cordoba Oro' },
  NOK: { code: 'NOK', numeric: 578, exponent: 2, name: 'Norwegian Krone' },
  NPR: { code: 'NPR', numeric: 524, exponent: 2, name: 'Nepalese Rupee' },
  NZD: { code: 'NZD', numeric: 554, exponent: 2, name: 'New Zealand Dollar' },
  OMR: { code: 'OMR', numeric: 512, exponent: 3, name: 'Rial Omani' },
  PAB: { code: 'PAB', numeric: 590, exponent: 2, name: 'Balboa' },
  PEN: { code: 'PEN', numeric: 604, exponent: 2, name: 'Sol' },
  PGK: { code: 'PGK', numeric: 598, exponent: 2, name: 'Kina' },
  PHP: { code: 'PHP', numeric: 608, exponent: 2, name: 'Philippine Peso' },
  PKR: { code: 'PKR', numeric: 586, exponent: 2, name: 'Pakistan Rupee' },
  PLN: { code: 'PLN', numeric: 985, exponent: 2, name: 'Zloty' },
  PYG: { code: 'PYG', numeric: 600, exponent: 0, name: 'Guarani' },
  QAR: { code: 'QAR', numeric: 634, exponent: 2, name: 'Qatari Rial' },
  RON: { code: 'RON', numeric: 946, exponent: 2, name: 'Romanian Leu' },
  RSD: { code: 'RSD', numeric: 941, exponent: 2, name: 'Serbian Dinar' },
  RUB: { code: 'RUB', numeric: 643, exponent: 2, name: 'Russian Ruble' },
  RWF: { code: 'RWF', numeric: 646, exponent: 0, name: 'Rwanda Franc' },
  SAR: { code: 'SAR', numeric: 682, exponent: 2, name: 'Saudi Riyal' },
  SBD: { code: 'SBD', numeric: 90, exponent: 2, name: 'Solomon Islands Dollar' },
  SCR: { code: 'SCR', numeric: 690, exponent: 2, name: 'Seychelles Rupee' },
  SDG: { code: 'SDG', numeric: 938, exponent: 2, name: 'Sudanese Pound' },
  SEK: { code: 'SEK', numeric: 752, exponent: 2, name: 'Swedish Krona' },
  SGD: { code: 'SGD', numeric: 702, exponent: 2, name: 'Singapore Dollar' },
  SHP: { code: 'SHP', numeric: 654, exponent: 2, name: 'Saint Helena Pound' },
  SLE: { code: 'SLE', numeric: 925, exponent: 2, name: 'Leone' },
  SOS: { code: 'SOS', numeric: 706, exponent: 2, name: 'Somali Shilling' },
  SRD: { code: 'SRD', numeric: 968, exponent: 2, name: 'Surinam Dollar' },
  SSP: { code: 'SSP', numeric: 728, exponent: 2, name: 'South Sudanese Pound' },
  STN: { code: 'STN', numeric: 930, exponent: 2, name: 'Dobra' },
  SVC: { code: 'SVC', numeric: 222, exponent: 2, name: 'El Salvador Colon' },
  SYP: { code: 'SYP', numeric: 760, exponent: 2, name: 'Syrian Pound' },
  SZL: { code: 'SZL', numeric: 748, exponent: 2, name: 'Lilangeni' },
  THB: { code: 'THB', numeric: 764, exponent: 2, name: 'Baht' },
  TJS: { code: 'TJS', numeric: 972, exponent: 2, name: 'Somoni' },
  TMT: { code: 'TMT', numeric: 934, exponent: 2, name: 'Turkmenistan New Manat' },
  TND: { code: 'TND', numeric: 788, exponent: 3, name: 'Tunisian Dinar' },
  TOP: { code: 'TOP', numeric: 776, exponent: 2, name: 'Pa’anga' },
  TRY: { code: 'TRY', numeric: 949, exponent: 2, name: 'Turkish Lira' },
  TTD: { code: 'TTD', numeric: 780, exponent: 2, name: 'Trinidad and Tobago Dollar' },
  TWD: { code: 'TWD', numeric: 901, exponent: 2, name: 'New Taiwan Dollar' },
  TZS: { code: 'TZS', numeric: 834, exponent: 2, name: 'Tanzanian Shilling' },
  UAH: { code: 'UAH', numeric: 980, exponent: 2, name: 'Hryvnia' },
  UGX: { code: 'UGX', numeric: 800, exponent: 0, name: 'Uganda Shilling' },
  USD: { code: 'USD', numeric: 840, exponent: 2, name: 'US Dollar' },
  USN: { code: 'USN', numeric: 997, exponent: 2, name: 'US Dollar (Next day)' },
  UYI: { code: 'UYI', numeric: 940, exponent: 0, name: 'Uruguay Peso en Unidades Indexadas (UI)' },
  UYU: { code: 'UYU', numeric: 858, exponent: 2, name: 'Peso Uruguayo' },
  UYW: { code: 'UYW', numeric: 927, exponent: 4, name: 'Unidad Previsional' },
  UZS: { code: 'UZS', numeric: 860, exponent: 2, name: 'Uzbekistan Sum' },
  VED: { code: 'VED', numeric: 926, exponent: 2, name: 'Bolívar Soberano' },
  VES: { code: 'VES', numeric: 928, exponent: 2, name: 'Bolívar Soberano' },
  VND: { code: 'VND', numeric: 704, exponent: 0, name: 'Dong' },
  VUV: { code: 'VUV', numeric: 548, exponent: 0, name: 'Vatu' },
  WST: { code: 'WST', numeric: 882, exponent: 2, name: 'Tala' },
  XAD: { code: 'XAD', numeric: 396, exponent: 2, name: 'Arab Accounting Dinar' },
  XAF: { code: 'XAF', numeric: 950, exponent: 0, name: 'CFA Franc BEAC' },
  XCD: { code: 'XCD', numeric: 951, exponent: 2, name: 'East Caribbean Dollar' },
  XCG: { code: 'XCG', numeric: 532, exponent: 2, name: 'Caribbean Guilder' },
  XOF: { code: 'XOF', numeric: 952, exponent: 0, name: 'CFA Franc BCEAO' },
  XPF: { code: 'XPF', numeric: 953, exponent: 0, name: 'CFP Franc' },
  YER: { code: 'YER', numeric: 886, exponent: 2, name: 'Yemeni Rial' },
  ZAR: { code: 'ZAR', numeric: 710, exponent: 2, name: 'Rand' },
  ZMW: { code: 'ZMW', numeric: 967, exponent: 2, name: 'Zambian Kwacha' },
  ZWG: { code: 'ZWG', numeric: 924, exponent: 2, name: 'Zimbabwe Gold' },
});

/** An upper-case ISO 4217 code that is in the table: `'USD'` type-checks, `'usd'` and `'XYZ'` do not. */
export type CurrencyCode = keyof typeof currencies;

export type Currency = CurrencyRow<CurrencyCode>;

/** Every code in the table, in alphabetical order. */
export const currency_codes: readonly CurrencyCode[] = Object.freeze(
  Object.keys(currencies).filter(isCurrencyCode).sort(),
);

/**
 * ISO 4217 codes that ISO lists without a minor unit. They are not in the table, and parseCurrency
 * says why when it meets one, so that nobody mistakes them for a typo.
 */
const codes_without_minor_unit: ReadonlySet<string> = new Set([
  'XAG', 'XAU', 'XBA', 'XBB', 'XBC', 'XBD', 'XDR', 'XPD', 'XPT', 'XSU', 'XTS', 'XUA', 'XXX',
]);

/** Only three letters of one case: Stripe writes codes in lower case, ISO in upper case. */
const currency_code_pattern = /^(?:[A-Z]{3}|[a-z]{3})$/;

export function isCurrencyCode(value: unknown): value is CurrencyCode {
  return typeof value === 'string' && Object.hasOwn(currencies, value);
}

export function currencyOf(code: CurrencyCode): Currency {
  const currency = currencies[code];
  assert(currency !== undefined, 'currencyOf: the code is not in the currency table');
  return currency;
}

/**
 * Reads a currency code at the edge of the system. Accepts "USD" and "usd" and returns the
 * canonical upper-case code; refuses anything else with `currency_unknown`.
 */
export function parseCurrency(value: unknown, field = 'currency'): MoneyResult<CurrencyCode> {
  if (typeof value !== 'string') {
    return refuse('currency_unknown', `${field} must be a three-letter ISO 4217 code such as "USD", not ${typeof value}.`);
  }
  if (!currency_code_pattern.test(value)) {
    return refuse(
      'currency_unknown',
      `${field} must be a three-letter ISO 4217 code in one case, such as "USD" or "usd"; got ${quote(value)}.`,
    );
  }
  const code = value.toUpperCase();
  if (isCurrencyCode(code)) return { ok: true, value: code };
  if (codes_without_minor_unit.has(code)) {
    return refuse(
      'currency_unknown',
      `${field} ${quote(value)} has no minor unit in ISO 4217, so Paygrid cannot hold amounts in it.`,
    );
  }
  return refuse('currency_unknown', `${field} ${quote(value)} is not an active ISO 4217 currency code.`);
}

/**
 * Freezes the table and each row, and checks at compile time that every row's code is its key,
 * so that `currencies.USD.code` cannot say "USN".
 */
function freezeTable<const Table extends { readonly [Code in keyof Table & string]: CurrencyRow<Code> }>(
  table: Table,
): Readonly<Table> {
  for (const row of Object.values<CurrencyRow<string>>(table)) Object.freeze(row);
  return Object.freeze(table);
}
