// @paygrid/money: amounts as bigint minor units in a branded Money, the ISO 4217 exponent table,
// and the parsing and formatting that convert them at the edges of the system.
export { MoneyAssertionError } from './assert';
export {
  currencies,
  currency_codes,
  currencyOf,
  isCurrencyCode,
  parseCurrency,
  type Currency,
  type CurrencyCode,
  type Exponent,
} from './currency';
export { formatMinorUnits, formatMoney } from './format';
export {
  add,
  allocate,
  allocate_ratios_max,
  compare,
  isNegative,
  isSameCurrency,
  isZero,
  money,
  subtract,
  type Money,
} from './money';
export {
  amount_max,
  parseMajorUnits,
  parseMinorUnits,
  parseMoneyFromMajorUnits,
  parseMoneyFromMinorUnits,
  type AmountOptions,
} from './parse';
export { money_error_codes, type MoneyErrorCode, type MoneyRefusal, type MoneyResult } from './result';
