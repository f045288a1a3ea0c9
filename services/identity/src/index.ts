// @paygrid/identity: operators, merchants, customers, API keys, signing secrets and the
// append-only audit log. Used in-process by the gateway, which owns HTTP.
//
// - IdentityService implements IdentityClient, the service's one public interface.
// - identity_migrations: the tables, for SQLite and PostgreSQL; the platform applies them.
// - Signing secrets are sealed with the kernel's envelope encryption (signing-secrets.ts); the
//   service is also the kernel's WrappedKeyStore, through which a key rotation re-wraps them.

export { IdentityService, kyc_status_transitions, legacy_sealing_batch_size, merchant_status_transitions, type IdentityServiceOptions } from './service';
export {
  SigningSecretDecryptionError,
  secret_decryption_failure_reasons,
  signing_secrets_cached_max,
  type SecretDecryptionFailureReason,
} from './signing-secrets';
export { identity_migrations } from './migrations';
export {
  allowed_origins_max,
  card_number_guard_exemptable_fields,
  checkOrigin,
  isAllowableOrigin,
  origin_length_max,
  type CardNumberGuardExemptField,
} from './browser-settings';
export { description_length_max, email_length_max, grace_period_seconds_max, name_length_max } from './validation';
export { apiKeyPrefix, hashSecret, operator_key_prefix, redactSecret, secret_random_length, signing_secret_prefix } from './secrets';
export {
  actor_types,
  api_key_types,
  audit_actions,
  audit_target_types,
  kyc_statuses,
  merchant_statuses,
  type Actor,
  type ActorType,
  type ApiKey,
  type ApiKeyType,
  type AuditAction,
  type AuditEvent,
  type AuditEventFilter,
  type AuditTarget,
  type AuditTargetType,
  type AuthenticationFailureCode,
  type AuthenticationResult,
  type CreateApiKeyInput,
  type CreateCustomerInput,
  type CreatedApiKey,
  type CreatedMerchant,
  type CreatedOperator,
  type CreateMerchantInput,
  type CreateOperatorInput,
  type Customer,
  type IdentityClient,
  type KycStatus,
  type Merchant,
  type MerchantPatch,
  type MerchantStatus,
  type Operator,
  type RolledApiKey,
  type RolledSigningSecret,
  type RollInput,
} from './types';
export { identity_contract } from './contract';
