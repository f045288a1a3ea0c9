// @paygrid/vault: card tokenization with AES-256-GCM envelope encryption and key rotation.
// Used in-process: the gateway calls createToken and getToken; payment connectors call
// detokenize, eraseCvc and markUsed. No HTTP route ever reaches detokenize.
//
// - VaultService implements VaultClient, the service's one public interface.
// - vault_migrations: the tables, for SQLite and PostgreSQL; the platform applies them.
// - loadKeyEncryptionKey: the KEK from PAYGRID_VAULT_KEK or DATA_DIR/vault.kek (made if missing).
// - rotateVaultKey: re-wraps every data key under a new KEK, for the CLI.

export {
  VaultService,
  VaultDecryptionError,
  cardFingerprint,
  connector_name_length_max,
  decryption_failure_reasons,
  detokenizations_listed_max,
  fingerprint_length,
  rotateVaultKey,
  rotation_batch_size_default,
  rotation_batch_size_max,
  rotation_passes_max,
  type DecryptionFailureReason,
  type RotateVaultKeyOptions,
  type VaultServiceOptions,
} from './service';
export { vault_migrations } from './migrations';
export {
  KeyEncryptionKey,
  generateKeyEncryptionKey,
  key_encryption_key_file_mode,
  key_encryption_key_file_name,
  key_encryption_key_length_bytes,
  key_encryption_key_variable,
  loadKeyEncryptionKey,
  parseKeyEncryptionKey,
  parsePreviousKeyEncryptionKeys,
  previous_key_encryption_keys_max,
  previous_key_encryption_keys_variable,
  type LoadKeyEncryptionKeyOptions,
} from './keys';
export {
  cardBrand,
  card_number_input_length_max,
  checkCard,
  cvc_length,
  cvc_length_amex,
  expiry_years_ahead_max,
  type ValidCard,
} from './card';
export {
  card_brands,
  type CardBrand,
  type CreateTokenInput,
  type Detokenization,
  type DetokenizedCard,
  type DetokenizePurpose,
  type KeyRotationResult,
  type RotateKeyOptions,
  type Token,
  type TokenCard,
  type VaultClient,
} from './types';
