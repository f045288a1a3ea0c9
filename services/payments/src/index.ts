// @paygrid/payments: orders, payment intents, attempts, captures, refunds and bank transfers, with
// every unit of money in the ledger. The gateway owns HTTP and calls PaymentsService in-process
// through the PaymentsClient interface.
export {
  PaymentsService,
  action_poll_interval_ms_default,
  action_unseen_ms_max_default,
  attempt_lease_ms_default,
  attempts_per_intent_max,
  capture_window_ms_default,
  connector_timeout_ms_default,
  crash_steps,
  expiry_batch_max,
  expiry_interval_ms_default,
  intent_cache_entries_max,
  ledger_timeout_ms_default,
  orderStatusOf,
  outbox_retention_ms_default,
  recovery_batch_max,
  recovery_interval_ms_default,
  relay_batch_max,
  relay_interval_ms_default,
  retry_delay_max_ms_default,
  retry_delay_ms_default,
  type CrashStep,
  type PaymentsLog,
  type PaymentsServiceOptions,
  type RecoveryReport,
} from './service';
export { payments_migrations } from './migrations';
export { finish_step_timeout_ms, payment_saga_name, payment_step_tries_max } from './saga';
export { fee_schedule_default, feeFor, type FeeSchedule } from './fees';
export { attempt_transitions, intent_transitions, order_transitions, refund_transitions, transition, type TransitionResult } from './transitions';
export {
  accountEventsOf,
  feeTransferId,
  feesAccountId,
  holdTransferId,
  merchantAccountId,
  postTransferId,
  receiptTransferId,
  receivableAccountId,
  voidTransferId,
  type Books,
} from './chart';
export { bankTransferReference, not_received_code } from './outcomes';
export {
  bank_transfer_reference_pattern,
  description_length_max,
  idempotency_key_length_max,
  line_items_max,
  merchant_reference_length_max,
  quantity_max,
  return_url_length_max,
} from './validation';
export * from './types';
export { payments_contract } from './contract';
