// The identity service's wire shapes and its one public interface. Every object is returned in
// the shape the gateway puts on the wire: snake_case fields, an `object` name, `created` in unix
// seconds, and never a secret, except in the results of the calls that create or roll one.
import type { Page, PageRequest, Tenant } from '@paygrid/kernel';
import type { CardNumberGuardExemptField } from './browser-settings';

export const merchant_statuses = ['active', 'suspended'] as const;
export type MerchantStatus = (typeof merchant_statuses)[number];

export const kyc_statuses = ['pending', 'verified', 'rejected'] as const;
export type KycStatus = (typeof kyc_statuses)[number];

export const api_key_types = ['secret', 'publishable'] as const;
export type ApiKeyType = (typeof api_key_types)[number];

export const actor_types = ['operator', 'merchant', 'system'] as const;
export type ActorType = (typeof actor_types)[number];

/** Who did something: the audit log records one on every change. */
export interface Actor {
  readonly type: ActorType;
  readonly id: string;
}

/** A merchant spans both modes: it has test and live keys, so it has no livemode of its own. */
export interface Merchant {
  readonly id: string;
  readonly object: 'merchant';
  readonly name: string;
  readonly email: string | null;
  readonly status: MerchantStatus;
  readonly kyc_status: KycStatus;
  readonly signing_required: boolean;
  /** Origins whose pages may call the publishable-key routes from a browser (CORS). */
  readonly allowed_origins: readonly string[];
  /** Request fields the merchant declares free of card numbers: the gateway's guard skips them. */
  readonly card_number_guard_exempt_fields: readonly CardNumberGuardExemptField[];
  readonly created: number;
}

export interface ApiKey {
  readonly id: string;
  readonly object: 'api_key';
  readonly merchant: string;
  readonly type: ApiKeyType;
  readonly livemode: boolean;
  /** The key's prefix and its last four characters, such as `sk_test_…wxyz`. */
  readonly redacted: string;
  readonly created: number;
  /** When a rolled key stops working (unix seconds), or null while it has no end. */
  readonly expires_at: number | null;
  readonly revoked_at: number | null;
}

/** Belongs to one merchant in one mode. */
export interface Customer {
  readonly id: string;
  readonly object: 'customer';
  readonly name: string | null;
  readonly email: string | null;
  readonly description: string | null;
  readonly created: number;
  readonly livemode: boolean;
}

export interface Operator {
  readonly id: string;
  readonly object: 'operator';
  readonly name: string;
  /** Null only for the built-in root operator, which the migration creates without one. */
  readonly email: string | null;
  readonly created: number;
}

export const audit_actions = [
  'operator.created',
  'merchant.created',
  'merchant.updated',
  'merchant.suspended',
  'merchant.reactivated',
  'api_key.created',
  'api_key.rolled',
  'api_key.revoked',
  'signing_secret.rolled',
] as const;
export type AuditAction = (typeof audit_actions)[number];

export const audit_target_types = ['operator', 'merchant', 'api_key'] as const;
export type AuditTargetType = (typeof audit_target_types)[number];

export interface AuditTarget {
  readonly type: AuditTargetType;
  readonly id: string;
}

export interface AuditEvent {
  readonly id: string;
  readonly object: 'audit_event';
  readonly actor: Actor;
  readonly action: AuditAction;
  readonly target: AuditTarget;
  /** Facts about the change; never a secret or a key. */
  readonly data: Record<string, unknown>;
  readonly created: number;
}

export interface CreateMerchantInput {
  readonly name: string;
  readonly email?: string;
}

export interface CreatedMerchant {
  readonly merchant: Merchant;
  /** The test-mode secret key, shown once. */
  readonly secret_key: string;
  /** The test-mode publishable key, shown once. */
  readonly publishable_key: string;
  /** The secret the merchant signs requests with (HMAC). */
  readonly signing_secret: string;
}

/** Only the fields given change; `email: null` removes the email. */
export interface MerchantPatch {
  readonly name?: string;
  readonly email?: string | null;
  readonly status?: MerchantStatus;
  readonly kyc_status?: KycStatus;
  readonly signing_required?: boolean;
  /** Replaces the whole list; `[]` allows no browser origin. */
  readonly allowed_origins?: readonly string[];
  /** Replaces the whole list; `[]` lets the guard read every field. */
  readonly card_number_guard_exempt_fields?: readonly string[];
}

export interface CreateApiKeyInput {
  readonly type: ApiKeyType;
  readonly livemode: boolean;
}

export interface CreatedApiKey {
  readonly api_key: ApiKey;
  /** The key itself, shown once: only its SHA-256 is stored. */
  readonly secret: string;
}

export interface RollInput {
  /** How long the old key or secret keeps working; 0 (the default) ends it at once. */
  readonly expires_in_seconds?: number;
}

export interface RolledApiKey {
  readonly api_key: ApiKey;
  readonly secret: string;
  /** The key that was rolled, with its `expires_at`. */
  readonly previous: ApiKey;
}

export interface RolledSigningSecret {
  readonly signing_secret: string;
}

/**
 * A key's own failures. The merchant's state (suspended, KYC) does not fail authentication: a
 * suspended merchant still reads its records, and what each state allows is the gateway's table
 * (decision 65), which gets the merchant with the key.
 */
export type AuthenticationFailureCode = 'api_key_invalid' | 'api_key_expired' | 'api_key_revoked';

export type AuthenticationResult =
  | {
      readonly ok: true;
      readonly merchant: Merchant;
      readonly api_key: ApiKey;
      readonly livemode: boolean;
      /** The current signing secret, then the previous one while its grace period lasts. */
      readonly signing_secrets: string[];
    }
  | { readonly ok: false; readonly code: AuthenticationFailureCode };

export interface CreateCustomerInput {
  readonly name?: string;
  readonly email?: string;
  readonly description?: string;
}

export interface CreateOperatorInput {
  readonly name: string;
  readonly email: string;
}

export interface CreatedOperator {
  readonly operator: Operator;
  /** The operator's key (`opk_…`), shown once: only its SHA-256 is stored. */
  readonly secret: string;
}

export interface AuditEventFilter {
  readonly target_id?: string;
  readonly actor_id?: string;
}

/**
 * The identity service's one public interface. The gateway holds an `IdentityClient`: in one
 * process it is the `IdentityService` itself; across processes, a client with the same shape.
 */
export interface IdentityClient {
  createOperator(input: CreateOperatorInput, actor: Actor): Promise<CreatedOperator>;
  getOperator(id: string): Promise<Operator | undefined>;
  authenticateOperator(secret: string): Promise<Operator | undefined>;

  createMerchant(input: CreateMerchantInput, actor: Actor): Promise<CreatedMerchant>;
  getMerchant(id: string): Promise<Merchant | undefined>;
  listMerchants(page: PageRequest): Promise<Page<Merchant>>;
  updateMerchant(id: string, patch: MerchantPatch, actor: Actor): Promise<Merchant>;

  createApiKey(merchant_id: string, input: CreateApiKeyInput, actor: Actor): Promise<CreatedApiKey>;
  listApiKeys(merchant_id: string, page: PageRequest): Promise<Page<ApiKey>>;
  rollApiKey(merchant_id: string, key_id: string, input: RollInput, actor: Actor): Promise<RolledApiKey>;
  revokeApiKey(merchant_id: string, key_id: string, actor: Actor): Promise<ApiKey>;
  rollSigningSecret(merchant_id: string, input: RollInput, actor: Actor): Promise<RolledSigningSecret>;
  authenticate(presented_key: string): Promise<AuthenticationResult>;

  createCustomer(tenant: Tenant, input: CreateCustomerInput): Promise<Customer>;
  getCustomer(tenant: Tenant, id: string): Promise<Customer | undefined>;
  listCustomers(tenant: Tenant, page: PageRequest): Promise<Page<Customer>>;
  customerExists(tenant: Tenant, id: string): Promise<boolean>;

  listAuditEvents(page: PageRequest, filter?: AuditEventFilter): Promise<Page<AuditEvent>>;
}
