// @paygrid/iso20022: the ISO 20022 files Paygrid exchanges with banks. Every file written is
// validated against its XSD before it is returned, and every file read is validated before any
// value is taken from it. Amounts are bigint minor units in @paygrid/money's Money.
export {
  amount_fraction_digits_max,
  amount_minor_max,
  amount_total_digits_max,
  control_sum_minor_max,
  controlSum,
  formatAmount,
  parseAmount,
} from './amount';
export type { AccountIdentification, AgentIdentification } from './common';
export { iban_input_length_max, iban_lengths, last4, validateIban, type IbanRefusalCode, type IbanResult } from './iban';
export {
  pain001_transactions_max,
  readPain001,
  writePain001,
  type Pain001Batch,
  type Pain001Message,
  type Pain001PaymentInformation,
  type Pain001ReadPaymentInformation,
  type Pain001ReadTransaction,
  type Pain001Transaction,
} from './pain001';
export { iso20022_error_codes, type Iso20022ErrorCode, type Iso20022Refusal, type Iso20022Result } from './result';
export {
  message_types,
  schemaPath,
  validateXml,
  validation_errors_max,
  xml_bytes_max,
  xmllint_output_bytes_max,
  xmllint_path,
  xmllint_timeout_ms,
  type MessageType,
  type ValidationResult,
} from './validate';
