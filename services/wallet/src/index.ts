// @paygrid/wallet: customer e-wallets whose money lives only in the ledger. The gateway owns
// HTTP and calls WalletService in-process through the WalletClient interface.
export {
  WalletService,
  attempt_lease_ms_default,
  bank_poll_interval_ms_default,
  recovery_batch_max,
  recovery_interval_ms_default,
  retry_delay_ms_default,
  type RecoveryReport,
  type WalletLog,
  type WalletServiceOptions,
} from './service';
export { SimulatedBank, simulated_bank_account_numbers, simulated_bank_failure_code, simulated_bank_withdrawals_max, test_completion_failure_code, type SimulatedBankOptions } from './bank';
export { wallet_migrations } from './migrations';
export { BankAccountKeys, BankAccountSealer, account_number_shown_length, type StoredBankAccount } from './bank-accounts';
export { walletAccountId, walletControlAccountId, legacyOperationTransferId, settlementTransferId } from './chart';
export { operationTransferId } from './operation-ids';
export { operation_transitions, wallet_transitions } from './transitions';
export { account_holder_name_length_max, bank_country_default, customer_id_length_max, description_length_max } from './validation';
export { idempotency_key_length_max } from '@paygrid/kernel';
export * from './types';
export { wallet_contract } from './contract';
export { movement_saga_name, withdrawal_saga_name } from './saga';
