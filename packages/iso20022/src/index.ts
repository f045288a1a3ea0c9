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
export {
  camt_entries_max,
  readCamt053,
  readCamt054,
  writeCamt053,
  writeCamt054,
  type Camt053Message,
  type Camt053ReadStatement,
  type Camt053Statement,
  type Camt054Message,
  type Camt054Notification,
  type CamtEntry,
  type CamtReadBalance,
  type CamtReadEntry,
  type CamtReadTransaction,
  type CreditDebit,
  type EntryStatus,
} from './camt';
export type { AccountIdentification, AgentIdentification } from './common';
export { iban_input_length_max, iban_lengths, last4, validateIban, type IbanRefusalCode, type IbanResult } from './iban';
export {
  pacs002_transactions_max,
  pacs008_transactions_max,
  readPacs002,
  readPacs008,
  writePacs002,
  writePacs008,
  type ChargeBearer,
  type Pacs002Message,
  type Pacs002ReadTransactionStatus,
  type Pacs002Report,
  type Pacs002TransactionStatus,
  type Pacs008Batch,
  type Pacs008Message,
  type Pacs008ReadTransaction,
  type Pacs008Transaction,
  type SettlementMethod,
} from './pacs';
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
export {
  pain002_transactions_max,
  readPain002,
  writePain002,
  type Pain002Message,
  type Pain002PaymentInformationStatus,
  type Pain002ReadPaymentInformationStatus,
  type Pain002ReadTransactionStatus,
  type Pain002Report,
  type Pain002TransactionStatus,
} from './pain002';
export { type StatusReason, type StatusReasonRead } from './status';
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
