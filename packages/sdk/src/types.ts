// Wire objects of Paygrid's public API `/v1`, as the SDK returns them.
//
// Amounts are integers in minor units of their currency (cents for 'usd'). They arrive as JSON
// integers and are typed `number` here: the server keeps every amount at most 2^53 - 1 (the
// ledger's `amount_max`), so JSON.parse reads each one exactly. Money must never be divided or
// multiplied as a float; convert with BigInt(amount) before doing arithmetic on it.
//
// Timestamps (`created`, `expires_at`, `revoked_at`) are integer unix seconds. Currencies are
// lower-case ISO 4217 codes such as 'usd'.

/** Minor units of `currency`; a safe integer. */
export type Amount = number;

/**
 * An amount the caller sends: a safe-integer number or a bigint, in minor units. A bigint is
 * written as the exact JSON integer, so callers who keep money as bigint need not convert it.
 */
export type AmountInput = number | bigint;

/** Lower-case ISO 4217 code, e.g. 'usd'. */
export type Currency = string;

/** Integer unix seconds. */
export type Timestamp = number;

export interface List<T> {
  readonly object: 'list';
  readonly data: readonly T[];
  readonly has_more: boolean;
  readonly url?: string;
}

/** Cursor pagination, newest first. limit is 1..100 (the server's default is 10). */
export interface ListParams {
  readonly limit?: number;
  /** An object id: return the page after it (older objects). */
  readonly starting_after?: string;
  /** An object id: return the page before it (newer objects). */
  readonly ending_before?: string;
}

export interface RequestOptions {
  /**
   * Sent as the Idempotency-Key header on POST and PATCH. When omitted the SDK generates one
   * per call and reuses it on every retry of that call.
   */
  readonly idempotency_key?: string;
}

// Merchants, API keys and the audit log (operator key).

export type MerchantStatus = 'active' | 'suspended';
export type KycStatus = 'pending' | 'verified' | 'rejected';

export interface Merchant {
  readonly id: string;
  readonly object: 'merchant';
  readonly name: string;
  readonly email: string | null;
  readonly status: MerchantStatus;
  readonly kyc_status: KycStatus;
  readonly signing_required: boolean;
  /** Origins whose pages may call the publishable-key routes from a browser. */
  readonly allowed_origins: readonly string[];
  /** Request fields the card-number guard does not read. */
  readonly card_number_guard_exempt_fields: readonly CardNumberGuardExemptField[];
  readonly created: Timestamp;
}

/** Whether live-mode requests that need it are taken here; `missing` says what the platform lacks when not. */
export interface LiveCapabilityStatus {
  readonly status: 'active' | 'inactive';
  readonly missing: string | null;
}

/** What live mode can do on this platform; live requests that need an inactive one fail with `livemode_not_configured`. */
export interface LiveCapabilities {
  readonly card_payments: LiveCapabilityStatus;
  readonly alipay_payments: LiveCapabilityStatus;
  readonly wechat_pay_payments: LiveCapabilityStatus;
  readonly wallet_payments: LiveCapabilityStatus;
  readonly bank_transfer_payments: LiveCapabilityStatus;
  readonly withdrawals: LiveCapabilityStatus;
}

/** The calling merchant, from account.retrieve and account.update. */
export interface Account extends Merchant {
  readonly live_capabilities: LiveCapabilities;
}

/** Fields that hold a merchant's own long numbers (order numbers, IMEIs), exempt from the card-number guard when listed. */
export type CardNumberGuardExemptField = 'merchant_reference' | 'description' | 'line_items.description';

/** Returned once, by merchants.create: the keys and signing secret are not shown again. */
export interface MerchantCreated extends Merchant {
  readonly secret_key: string;
  readonly publishable_key: string;
  readonly signing_secret: string;
}

export interface MerchantCreateParams {
  readonly name: string;
  readonly email?: string;
}

export interface MerchantUpdateParams {
  readonly name?: string;
  readonly email?: string;
  readonly status?: MerchantStatus;
  readonly kyc_status?: KycStatus;
  readonly signing_required?: boolean;
  readonly allowed_origins?: readonly string[];
  readonly card_number_guard_exempt_fields?: readonly CardNumberGuardExemptField[];
}

export type ApiKeyType = 'secret' | 'publishable';

export interface ApiKey {
  readonly id: string;
  readonly object: 'api_key';
  readonly merchant: string;
  readonly type: ApiKeyType;
  readonly livemode: boolean;
  /** The key with all but its last characters hidden. */
  readonly redacted: string;
  readonly created: Timestamp;
  readonly expires_at: Timestamp | null;
  readonly revoked_at: Timestamp | null;
}

/** Returned when a key is created or rolled: `secret` is the full key, shown only this once. */
export interface ApiKeyWithSecret extends ApiKey {
  readonly secret: string;
}

export interface ApiKeyCreateParams {
  readonly type: ApiKeyType;
  readonly livemode: boolean;
}

export interface ApiKeyRollParams {
  /** How long the old key keeps working; omit for the server default. */
  readonly expires_in_seconds?: number;
}

export interface SigningSecretRollParams {
  /** How long the old secret keeps verifying; omit for the server default. */
  readonly expires_in_seconds?: number;
}

export interface SigningSecretRolled {
  readonly signing_secret: string;
}

export interface AuditReference {
  readonly type: string;
  readonly id: string;
}

export interface AuditEvent {
  readonly id: string;
  readonly object: 'audit_event';
  readonly actor: AuditReference;
  readonly action: string;
  readonly target: AuditReference;
  readonly data: Readonly<Record<string, unknown>>;
  readonly created: Timestamp;
}

export interface AuditEventListParams extends ListParams {
  /** Only events whose target has this id. */
  readonly target?: string;
  /** Only events whose actor has this id. */
  readonly actor?: string;
}

/** At least one field. Lists replace the stored list whole. */
export interface AccountUpdateParams {
  readonly signing_required?: boolean;
  /** https origins (http only for localhost, 127.0.0.1 and [::1]), at most 10. */
  readonly allowed_origins?: readonly string[];
  readonly card_number_guard_exempt_fields?: readonly CardNumberGuardExemptField[];
}

// Customers and wallets (secret key).

export interface Customer {
  readonly id: string;
  readonly object: 'customer';
  readonly name: string | null;
  readonly email: string | null;
  readonly description: string | null;
  readonly created: Timestamp;
  readonly livemode: boolean;
}

export interface CustomerCreateParams {
  readonly name?: string;
  readonly email?: string;
  readonly description?: string;
}

export type WalletStatus = 'active' | 'frozen';

export interface Wallet {
  readonly id: string;
  readonly object: 'wallet';
  readonly customer: string;
  readonly currency: Currency;
  readonly status: WalletStatus;
  readonly balance: { readonly available: Amount; readonly pending: Amount };
  readonly created: Timestamp;
  readonly livemode: boolean;
}

export interface WalletCreateParams {
  readonly customer: string;
  readonly currency: Currency;
}

export interface WalletListParams extends ListParams {
  readonly customer?: string;
}

export interface WalletUpdateParams {
  readonly status: WalletStatus;
}

/** Status shared by every money movement: pending until the ledger settles it. */
export type MovementStatus = 'pending' | 'succeeded' | 'failed';

export interface TopUp {
  readonly id: string;
  readonly object: 'top_up';
  readonly wallet: string;
  readonly amount: Amount;
  readonly currency: Currency;
  /** A simulated bank deposit (test mode), or a payment intent created with `top_up_wallet`. */
  readonly source: 'simulated_bank_deposit' | 'payment_intent';
  /** The payment intent that paid for the top-up; null for a simulated deposit. */
  readonly payment_intent: string | null;
  readonly status: MovementStatus;
  readonly failure_code: string | null;
  readonly created: Timestamp;
  readonly livemode: boolean;
}

export interface TopUpCreateParams {
  readonly amount: AmountInput;
}

export interface WalletPayment {
  readonly id: string;
  readonly object: 'wallet_payment';
  readonly wallet: string;
  readonly amount: Amount;
  readonly currency: Currency;
  readonly description: string | null;
  readonly status: MovementStatus;
  readonly failure_code: string | null;
  readonly created: Timestamp;
  readonly livemode: boolean;
}

export interface WalletPaymentCreateParams {
  readonly amount: AmountInput;
  readonly description?: string;
}

export interface BankAccountDetails {
  readonly account_holder_name: string;
  readonly routing_number: string;
  readonly account_number: string;
  /** ISO 3166-1 alpha-2; the server's default applies when omitted. */
  readonly country?: string;
}

export interface Withdrawal {
  readonly id: string;
  readonly object: 'withdrawal';
  readonly wallet: string;
  readonly amount: Amount;
  readonly currency: Currency;
  readonly status: MovementStatus;
  readonly failure_code: string | null;
  /** The account number is never returned, only its last four digits. */
  readonly bank_account: {
    readonly account_holder_name: string;
    readonly routing_number: string;
    readonly last4: string;
    readonly country: string;
  };
  readonly created: Timestamp;
  readonly livemode: boolean;
}

export interface WithdrawalCreateParams {
  readonly amount: AmountInput;
  readonly bank_account: BankAccountDetails;
}

export interface WalletTransfer {
  readonly id: string;
  readonly object: 'wallet_transfer';
  /** Source wallet id. */
  readonly source: string;
  /** Destination wallet id. */
  readonly destination: string;
  readonly amount: Amount;
  readonly currency: Currency;
  readonly description: string | null;
  readonly status: MovementStatus;
  readonly failure_code: string | null;
  readonly created: Timestamp;
  readonly livemode: boolean;
}

export interface WalletTransferCreateParams {
  readonly source: string;
  readonly destination: string;
  readonly amount: AmountInput;
  readonly currency: Currency;
  readonly description?: string;
}

export type WalletTransactionType = 'top_up' | 'transfer_in' | 'transfer_out' | 'payment' | 'withdrawal' | 'refund' | 'top_up_reversal' | 'top_up_restoration';

export interface WalletTransaction {
  readonly id: string;
  readonly object: 'wallet_transaction';
  readonly wallet: string;
  readonly type: WalletTransactionType;
  readonly amount: Amount;
  readonly currency: Currency;
  readonly status: MovementStatus;
  readonly created: Timestamp;
  readonly livemode: boolean;
}

export interface WalletLimits {
  readonly object: 'wallet_limits';
  readonly currency: Currency;
  /** null means no limit. */
  readonly per_transaction_max: Amount | null;
  /** null means no limit. */
  readonly per_day_max: Amount | null;
  readonly livemode: boolean;
}

export interface WalletLimitsUpdateParams {
  /** A number sets the limit, null removes it, omitted leaves it unchanged. */
  readonly per_transaction_max?: AmountInput | null;
  readonly per_day_max?: AmountInput | null;
}

export interface BalanceAmount {
  readonly amount: Amount;
  readonly currency: Currency;
}

export interface Balance {
  readonly object: 'balance';
  readonly available: readonly BalanceAmount[];
  readonly pending: readonly BalanceAmount[];
  readonly livemode: boolean;
}
