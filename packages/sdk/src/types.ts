// Wire objects of Paygrid's public API `/v1`, as the SDK returns them, and the bodies it sends.
//
// Each is the Static<> type of the TypeBox schema that the owning service defines and the gateway
// validates and serialises with (decision 87), made read-only throughout: the types cannot drift
// from what the server sends. They are type-only imports, so nothing of TypeBox or the services
// reaches the SDK at run time or the browser bundle.
//
// Amounts are integers in minor units of their currency (cents for 'usd'). They arrive as JSON
// integers and are typed `number` here: the server keeps every amount at most 2^53 - 1 (the
// ledger's `amount_max`), so JSON.parse reads each one exactly. Money must never be divided or
// multiplied as a float; convert with BigInt(amount) before doing arithmetic on it.
//
// Timestamps (`created`, `expires_at`, `revoked_at`) are integer unix seconds. Currencies are
// lower-case ISO 4217 codes such as 'usd'.

import type { Static, TSchema } from '@sinclair/typebox';
import type {
  Account as AccountSchema,
  ApiKey as ApiKeySchema,
  ApiKeyWithSecret as ApiKeyWithSecretSchema,
  AuditEvent as AuditEventSchema,
  AuditEventsQuery,
  CreateApiKeyBody,
  CreateCustomerBody,
  CreateMerchantBody,
  Customer as CustomerSchema,
  LiveCapabilities as LiveCapabilitiesSchema,
  Merchant as MerchantSchema,
  MerchantCreated as MerchantCreatedSchema,
  RollBody,
  SigningSecretRolled as SigningSecretRolledSchema,
  UpdateAccountBody,
  UpdateMerchantBody,
} from '@paygrid/identity/api-schemas';
import type { ListQuery } from '@paygrid/kernel/api-schemas';
import type { Balance as BalanceSchema } from '@paygrid/ledger/api-schemas';
import type {
  CreateWalletBody,
  CreateWalletTransferBody,
  PayBody,
  TopUp as TopUpSchema,
  TopUpBody,
  UpdateWalletBody,
  UpdateWalletLimitsBody,
  Wallet as WalletSchema,
  WalletLimits as WalletLimitsSchema,
  WalletPayment as WalletPaymentSchema,
  WalletsQuery,
  WalletTransaction as WalletTransactionSchema,
  WalletTransfer as WalletTransferSchema,
  WithdrawBody,
  Withdrawal as WithdrawalSchema,
} from '@paygrid/wallet/api-schemas';

/** A value as the SDK hands it out: nothing in it can be reassigned, nested objects and arrays included. */
export type DeepReadonly<Value> = Value extends readonly (infer Item)[]
  ? readonly DeepReadonly<Item>[]
  : Value extends object
    ? { readonly [Key in keyof Value]: DeepReadonly<Value[Key]> }
    : Value;

/** The wire object a schema describes, as the SDK returns it. */
export type WireOf<Schema extends TSchema> = DeepReadonly<Static<Schema>>;

/** An amount field of a request body as the SDK takes it: a bigint is accepted wherever the wire has a number. */
type AmountInputOf<Value> = Value extends number ? AmountInput : Value;

/**
 * A request body as the SDK takes it: read-only, and each field named in `AmountField` takes an
 * AmountInput, which the SDK writes as the exact JSON integer the schema asks for.
 */
export type WithAmountInputs<Body, AmountField extends string = never> = {
  readonly [Key in keyof Body]: Key extends AmountField ? AmountInputOf<Body[Key]> : DeepReadonly<Body[Key]>;
};

/** The request body a schema describes, as the SDK takes it (see WithAmountInputs). */
export type ParamsOf<Schema extends TSchema, AmountField extends string = never> = WithAmountInputs<Static<Schema>, AmountField>;

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

/** A page of objects, newest first. */
export interface List<T> {
  readonly object: 'list';
  readonly data: readonly T[];
  readonly has_more: boolean;
  /** The path the page was read from. */
  readonly url: string;
}

/** Cursor pagination, newest first. limit is 1..100 (the server's default is 10); a cursor is an object id. */
export type ListParams = ParamsOf<typeof ListQuery>;

export interface RequestOptions {
  /**
   * Sent as the Idempotency-Key header on POST and PATCH. When omitted the SDK generates one
   * per call and reuses it on every retry of that call.
   */
  readonly idempotency_key?: string;
}

// Merchants, API keys and the audit log (operator key).

export type Merchant = WireOf<typeof MerchantSchema>;
export type MerchantStatus = Merchant['status'];
export type KycStatus = Merchant['kyc_status'];
/** Fields that hold a merchant's own long numbers (order numbers, IMEIs), exempt from the card-number guard when listed. */
export type CardNumberGuardExemptField = Merchant['card_number_guard_exempt_fields'][number];

/** What live mode can do on this platform; live requests that need an inactive one fail with `livemode_not_configured`. */
export type LiveCapabilities = WireOf<typeof LiveCapabilitiesSchema>;
/** Whether live-mode requests that need it are taken here; `missing` says what the platform lacks when not. */
export type LiveCapabilityStatus = LiveCapabilities['card_payments'];

/** The calling merchant, from account.retrieve and account.update. */
export type Account = WireOf<typeof AccountSchema>;

/** Returned once, by merchants.create: the keys and signing secret are not shown again. */
export type MerchantCreated = WireOf<typeof MerchantCreatedSchema>;

export type MerchantCreateParams = ParamsOf<typeof CreateMerchantBody>;
export type MerchantUpdateParams = ParamsOf<typeof UpdateMerchantBody>;

export type ApiKey = WireOf<typeof ApiKeySchema>;
export type ApiKeyType = ApiKey['type'];

/** Returned when a key is created or rolled: `secret` is the full key, shown only this once. */
export type ApiKeyWithSecret = WireOf<typeof ApiKeyWithSecretSchema>;

export type ApiKeyCreateParams = ParamsOf<typeof CreateApiKeyBody>;
/** How long the old key keeps working; omit for the server default. */
export type ApiKeyRollParams = ParamsOf<typeof RollBody>;
/** How long the old secret keeps verifying; omit for the server default. */
export type SigningSecretRollParams = ParamsOf<typeof RollBody>;
export type SigningSecretRolled = WireOf<typeof SigningSecretRolledSchema>;

export type AuditEvent = WireOf<typeof AuditEventSchema>;
export type AuditReference = AuditEvent['actor'];
export type AuditEventListParams = ParamsOf<typeof AuditEventsQuery>;

/** At least one field. Lists replace the stored list whole. */
export type AccountUpdateParams = ParamsOf<typeof UpdateAccountBody>;

// Customers and wallets (secret key).

export type Customer = WireOf<typeof CustomerSchema>;
export type CustomerCreateParams = ParamsOf<typeof CreateCustomerBody>;

export type Wallet = WireOf<typeof WalletSchema>;
export type WalletStatus = Wallet['status'];
export type WalletCreateParams = ParamsOf<typeof CreateWalletBody>;
export type WalletListParams = ParamsOf<typeof WalletsQuery>;
export type WalletUpdateParams = ParamsOf<typeof UpdateWalletBody>;

export type TopUp = WireOf<typeof TopUpSchema>;
/** Status shared by every money movement: pending until the ledger settles it. */
export type MovementStatus = TopUp['status'];
export type TopUpCreateParams = ParamsOf<typeof TopUpBody, 'amount'>;

export type WalletPayment = WireOf<typeof WalletPaymentSchema>;
export type WalletPaymentCreateParams = ParamsOf<typeof PayBody, 'amount'>;

export type Withdrawal = WireOf<typeof WithdrawalSchema>;
export type WithdrawalCreateParams = ParamsOf<typeof WithdrawBody, 'amount'>;
export type BankAccountDetails = WithdrawalCreateParams['bank_account'];

export type WalletTransfer = WireOf<typeof WalletTransferSchema>;
export type WalletTransferCreateParams = ParamsOf<typeof CreateWalletTransferBody, 'amount'>;

export type WalletTransaction = WireOf<typeof WalletTransactionSchema>;
export type WalletTransactionType = WalletTransaction['type'];

export type WalletLimits = WireOf<typeof WalletLimitsSchema>;
/** A number sets the limit, null removes it, omitted leaves it unchanged. */
export type WalletLimitsUpdateParams = ParamsOf<typeof UpdateWalletLimitsBody, 'per_transaction_max' | 'per_day_max'>;

export type Balance = WireOf<typeof BalanceSchema>;
export type BalanceAmount = Balance['available'][number];
