// @paygrid/kernel/envelope: envelope encryption shared by the services that keep secrets at rest
// (the vault's card data, identity's signing secrets). Data is sealed with AES-256-GCM under a
// random data key; the data key is stored wrapped by the key-encryption key (KEK), which never
// touches a database. Rotating the KEK re-wraps data keys and leaves the data alone.
//
// - seal / open / binding / packSealed: the cipher, with AAD that binds a ciphertext to its place.
// - KeyEncryptionKey: a KEK that never shows its bytes; parse, generate.
// - Keyring: the current KEK and the previous ones still readable during a rotation.
// - loadKeyring: PAYGRID_VAULT_KEK, PAYGRID_VAULT_KEK_FILE or DATA_DIR/vault.kek, checked.
// - rewrapStore: a rotation's work over one store, in bounded batches, resumable.
// - FieldSealer: one sealed value per row under a data key of its own (webhook secrets, bank account numbers).

export {
  aes_key_length_bytes,
  binding,
  gcm_iv_length_bytes,
  gcm_tag_length_bytes,
  open,
  packSealed,
  packed_seal_format,
  seal,
  unpackSealed,
  type Sealed,
} from './seal';
export { FieldSealer, SealedFieldError, type SealedField, type SealedFieldOwner } from './field-sealer';
export {
  KeyEncryptionKey,
  generateKeyEncryptionKey,
  key_encryption_key_id_length_bytes,
  key_encryption_key_length_bytes,
  key_encryption_key_variable,
  parseKeyEncryptionKey,
  parsePreviousKeyEncryptionKeys,
  previous_key_encryption_keys_max,
  previous_key_encryption_keys_variable,
} from './key-encryption-key';
export { Keyring, unwrap_failure_reasons, type UnwrapFailureReason, type UnwrapResult } from './keyring';
export {
  key_encryption_key_file_bytes_max,
  key_encryption_key_file_mode,
  key_encryption_key_file_name,
  key_encryption_key_file_variable,
  keyFileLocationWarning,
  loadKeyring,
  previous_key_file_suffix,
  removePreviousKeyFile,
  replaceKeyFile,
  type KeySource,
  type LoadKeyringOptions,
  type LoadedKeyring,
} from './key-files';
export {
  checkRewrapBatchSize,
  countNotUnder,
  rewrapStore,
  rewrap_batch_size_default,
  rewrap_batch_size_max,
  rewrap_passes_max,
  type RewrapBatchResult,
  type RewrapOptions,
  type RewrapResult,
  type WrappedKeyStore,
} from './rewrap';
export { sealLegacyRows, type LegacyBatch } from './seal-legacy';
