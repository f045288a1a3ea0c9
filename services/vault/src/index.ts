// @paygrid/vault: card tokenization with AES-256-GCM envelope encryption and key rotation.
// Used in-process: the gateway calls createToken and getToken; payment connectors call
// detokenize and eraseCvc; payments claims a token for its one use. No route of the public API ever
// reaches detokenize; across processes the connectors reach it through the internal route of
// vault_contract (POST /internal/vault/detokenize), which only the operator key may call.
//
// - VaultService implements VaultClient, the service's one public interface, and the kernel's
//   WrappedKeyStore, through which a key rotation re-wraps its data keys.
// - vault_migrations: the tables, for SQLite and PostgreSQL; the platform applies them.
//
// The cipher, the key-encryption key and its keyring are the kernel's (@paygrid/kernel/envelope),
// shared with identity, which seals merchants' signing secrets the same way.

export {
  VaultService,
  VaultDecryptionError,
  cardFingerprint,
  connector_name_length_max,
  decryption_failure_reasons,
  detokenizations_listed_max,
  fingerprint_length,
  type DecryptionFailureReason,
  type VaultServiceOptions,
} from './service';
export { vault_migrations } from './migrations';
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
  type Token,
  type TokenCard,
  type TokenClaim,
  type VaultClient,
} from './types';
export { vault_contract } from './contract';
