// The schemas of the public API: one source for request validation, response serialisation and
// the OpenAPI document. Request bodies refuse unknown properties; strings have length limits.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { allowed_origins_max, card_number_guard_exemptable_fields, origin_length_max } from '@paygrid/identity';

export const name_length_max = 256;
export const email_length_max = 512;
export const description_length_max = 1000;
export const id_length_max = 100;
/** Amounts are JSON integers in minor units; every client reads integers up to 2^53 - 1 exactly. */
export const amount_max = Number.MAX_SAFE_INTEGER;
/** Rolled keys and signing secrets keep working for at most this long. */
export const grace_period_seconds_max = 7 * 24 * 60 * 60;

const nullable = <Schema extends TSchema>(schema: Schema) => Type.Union([schema, Type.Null()]);

export const Id = (prefix: string) =>
  Type.String({ pattern: `^${prefix}_[A-Za-z0-9]{1,${id_length_max}}$`, maxLength: id_length_max, description: `An id starting with ${prefix}_` });
export const Amount = Type.Integer({ minimum: 1, maximum: amount_max, description: 'A positive integer in the currency\'s minor unit (cents for usd, fen for cny).' });
export const SignedAmount = Type.Integer({ minimum: -amount_max, maximum: amount_max });
export const Currency = Type.String({ pattern: '^[a-z]{3}$', description: 'A lower-case ISO 4217 code, such as usd or cny.' });
export const Timestamp = Type.Integer({ minimum: 0, description: 'Unix time in seconds.' });
export const Livemode = Type.Boolean({ description: 'True for live-mode objects, false for test mode.' });
export const Name = Type.String({ minLength: 1, maxLength: name_length_max });
export const Email = Type.String({ minLength: 3, maxLength: email_length_max, pattern: '^[^@\\s]+@[^@\\s]+$' });
export const Description = Type.String({ maxLength: description_length_max });
export const GracePeriod = Type.Integer({ minimum: 0, maximum: grace_period_seconds_max, description: 'Seconds the previous secret keeps working.' });
// The identity service checks each origin's form and says what is wrong with it; these bound the size.
export const AllowedOrigins = Type.Array(Type.String({ maxLength: origin_length_max }), {
  maxItems: allowed_origins_max,
  description: 'Origins (https://shop.example.com) whose pages may call the publishable-key routes from a browser. http only for localhost, 127.0.0.1 and [::1].',
});
export const CardNumberGuardExemptFields = Type.Array(Type.Union(card_number_guard_exemptable_fields.map((field) => Type.Literal(field))), {
  maxItems: card_number_guard_exemptable_fields.length,
  description: 'Request fields that hold your own long numbers (order numbers, IMEIs), which the card-number guard then does not read.',
});

export const IdParams = Type.Object({ id: Type.String({ maxLength: id_length_max }) });
export const MerchantKeyParams = Type.Object({ id: Type.String({ maxLength: id_length_max }), key: Type.String({ maxLength: id_length_max }) });
export const CurrencyParams = Type.Object({ currency: Currency });

export const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10 })),
    starting_after: Type.Optional(Type.String({ maxLength: id_length_max })),
    ending_before: Type.Optional(Type.String({ maxLength: id_length_max })),
  },
  { additionalProperties: false },
);
export type ListQuery = Static<typeof ListQuery>;

export const List = <Item extends TSchema>(item: Item) =>
  Type.Object({ object: Type.Literal('list'), data: Type.Array(item), has_more: Type.Boolean(), url: Type.String() });

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      type: Type.String(),
      code: Type.String(),
      message: Type.String(),
      param: Type.Optional(Type.String()),
    }),
  },
  { $id: 'Error' },
);

// Objects.

export const Merchant = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('merchant'),
    name: Type.String(),
    email: nullable(Type.String()),
    status: Type.Union([Type.Literal('active'), Type.Literal('suspended')]),
    kyc_status: Type.Union([Type.Literal('pending'), Type.Literal('verified'), Type.Literal('rejected')]),
    signing_required: Type.Boolean(),
    allowed_origins: Type.Array(Type.String(), { description: 'Origins whose pages may call the publishable-key routes from a browser.' }),
    card_number_guard_exempt_fields: Type.Array(Type.String(), { description: 'Request fields the card-number guard does not read.' }),
    created: Timestamp,
  },
  { $id: 'Merchant' },
);

const LiveCapabilityStatus = Type.Object({
  status: Type.Union([Type.Literal('active'), Type.Literal('inactive')], { description: 'active: live-mode requests that need it are taken; inactive: they are refused with livemode_not_configured.' }),
  missing: nullable(Type.String({ description: 'What the platform lacks for it, when inactive; null when active.' })),
});

/** What live mode may do on this platform; the same for every merchant, decided from its configuration at start. */
export const LiveCapabilities = Type.Object(
  {
    card_payments: LiveCapabilityStatus,
    alipay_payments: LiveCapabilityStatus,
    wechat_pay_payments: LiveCapabilityStatus,
    wallet_payments: LiveCapabilityStatus,
    bank_transfer_payments: LiveCapabilityStatus,
    withdrawals: LiveCapabilityStatus,
  },
  {
    $id: 'LiveCapabilities',
    description: 'Which live-mode payment methods and payouts have a real provider or bank behind them on this platform. Test mode always works against simulators.',
  },
);

/** The calling merchant's own account: the merchant, and what live mode can do for it. */
export const Account = Type.Composite([Merchant, Type.Object({ live_capabilities: Type.Ref(LiveCapabilities) })], { $id: 'Account' });

export const MerchantCreated = Type.Composite([
  Merchant,
  Type.Object({
    secret_key: Type.String({ description: 'Shown only in this response.' }),
    publishable_key: Type.String({ description: 'Shown only in this response.' }),
    signing_secret: Type.String({ description: 'Shown only in this response.' }),
  }),
]);

export const ApiKey = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('api_key'),
    merchant: Type.String(),
    type: Type.Union([Type.Literal('secret'), Type.Literal('publishable')]),
    livemode: Livemode,
    redacted: Type.String(),
    created: Timestamp,
    expires_at: nullable(Timestamp),
    revoked_at: nullable(Timestamp),
  },
  { $id: 'ApiKey' },
);

export const ApiKeyWithSecret = Type.Composite([ApiKey, Type.Object({ secret: Type.String({ description: 'Shown only in this response.' }) })]);

export const AuditEvent = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('audit_event'),
    actor: Type.Object({ type: Type.String(), id: Type.String() }),
    action: Type.String(),
    target: Type.Object({ type: Type.String(), id: Type.String() }),
    data: Type.Object({}, { additionalProperties: true }),
    created: Timestamp,
  },
  { $id: 'AuditEvent' },
);

export const Customer = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('customer'),
    name: nullable(Type.String()),
    email: nullable(Type.String()),
    description: nullable(Type.String()),
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'Customer' },
);

const OperationStatus = Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed')]);

export const Wallet = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('wallet'),
    customer: Type.String(),
    currency: Currency,
    status: Type.Union([Type.Literal('active'), Type.Literal('frozen')]),
    balance: Type.Object({
      available: Type.Integer({ description: 'Money the wallet can spend now.' }),
      pending: Type.Integer({ description: 'Money in flight: withdrawals on hold and incoming money not yet settled.' }),
    }),
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'Wallet' },
);

export const TopUp = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('top_up'),
    wallet: Type.String(),
    amount: Type.Integer(),
    currency: Currency,
    source: Type.Union([Type.Literal('simulated_bank_deposit'), Type.Literal('payment_intent')], {
      description: 'A simulated bank deposit (test mode only), or a payment intent created with top_up_wallet.',
    }),
    payment_intent: nullable(Type.String({ description: 'The payment intent that paid for the top-up.' })),
    status: OperationStatus,
    failure_code: nullable(Type.String()),
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'TopUp' },
);

export const WalletTransfer = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('wallet_transfer'),
    source: Type.String(),
    destination: Type.String(),
    amount: Type.Integer(),
    currency: Currency,
    description: nullable(Type.String()),
    status: OperationStatus,
    failure_code: nullable(Type.String()),
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'WalletTransfer' },
);

export const WalletPayment = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('wallet_payment'),
    wallet: Type.String(),
    amount: Type.Integer(),
    currency: Currency,
    description: nullable(Type.String()),
    status: OperationStatus,
    failure_code: nullable(Type.String()),
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'WalletPayment' },
);

export const Withdrawal = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('withdrawal'),
    wallet: Type.String(),
    amount: Type.Integer(),
    currency: Currency,
    status: OperationStatus,
    failure_code: nullable(Type.String()),
    bank_account: Type.Object({
      account_holder_name: Type.String(),
      routing_number: Type.String(),
      last4: Type.String(),
      country: Type.String(),
    }),
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'Withdrawal' },
);

export const WalletTransaction = Type.Object(
  {
    id: Type.String({ description: 'The id of the operation: a top-up, wallet transfer, payment, withdrawal, refund, top-up reversal or restoration.' }),
    object: Type.Literal('wallet_transaction'),
    wallet: Type.String(),
    type: Type.Union([
      Type.Literal('top_up'),
      Type.Literal('transfer_in'),
      Type.Literal('transfer_out'),
      Type.Literal('payment'),
      Type.Literal('withdrawal'),
      Type.Literal('refund'),
      Type.Literal('top_up_reversal'),
      Type.Literal('top_up_restoration'),
    ]),
    amount: Type.Integer({ description: 'Negative when money leaves the wallet.' }),
    currency: Currency,
    status: OperationStatus,
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'WalletTransaction' },
);

export const WalletLimits = Type.Object(
  {
    object: Type.Literal('wallet_limits'),
    currency: Currency,
    per_transaction_max: nullable(Type.Integer()),
    per_day_max: nullable(Type.Integer()),
    livemode: Livemode,
  },
  { $id: 'WalletLimits' },
);

const BalanceAmount = Type.Object({ amount: Type.Integer(), currency: Currency });
export const Balance = Type.Object(
  {
    object: Type.Literal('balance'),
    available: Type.Array(BalanceAmount),
    pending: Type.Array(BalanceAmount),
    livemode: Livemode,
  },
  { $id: 'Balance' },
);

// Request bodies.

export const CreateMerchantBody = Type.Object({ name: Name, email: Type.Optional(Email) }, { additionalProperties: false });
export const UpdateMerchantBody = Type.Object(
  {
    name: Type.Optional(Name),
    email: Type.Optional(Email),
    status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('suspended')])),
    kyc_status: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('verified'), Type.Literal('rejected')])),
    signing_required: Type.Optional(Type.Boolean()),
    allowed_origins: Type.Optional(AllowedOrigins),
    card_number_guard_exempt_fields: Type.Optional(CardNumberGuardExemptFields),
  },
  { additionalProperties: false, minProperties: 1 },
);
export const CreateApiKeyBody = Type.Object(
  { type: Type.Union([Type.Literal('secret'), Type.Literal('publishable')]), livemode: Type.Boolean() },
  { additionalProperties: false },
);
export const RollBody = Type.Object({ expires_in_seconds: Type.Optional(GracePeriod) }, { additionalProperties: false });
export const UpdateAccountBody = Type.Object(
  {
    signing_required: Type.Optional(Type.Boolean()),
    allowed_origins: Type.Optional(AllowedOrigins),
    card_number_guard_exempt_fields: Type.Optional(CardNumberGuardExemptFields),
  },
  { additionalProperties: false, minProperties: 1 },
);
export const AuditEventsQuery = Type.Composite([
  ListQuery,
  Type.Object({ target: Type.Optional(Type.String({ maxLength: id_length_max })), actor: Type.Optional(Type.String({ maxLength: id_length_max })) }),
], { additionalProperties: false });

export const CreateCustomerBody = Type.Object(
  { name: Type.Optional(Name), email: Type.Optional(Email), description: Type.Optional(Description) },
  { additionalProperties: false },
);
export const CreateWalletBody = Type.Object({ customer: Id('cus'), currency: Currency }, { additionalProperties: false });
export const UpdateWalletBody = Type.Object({ status: Type.Union([Type.Literal('active'), Type.Literal('frozen')]) }, { additionalProperties: false });
export const WalletsQuery = Type.Composite([ListQuery, Type.Object({ customer: Type.Optional(Type.String({ maxLength: id_length_max })) })], {
  additionalProperties: false,
});
export const TopUpBody = Type.Object({ amount: Amount }, { additionalProperties: false });
export const PayBody = Type.Object({ amount: Amount, description: Type.Optional(Description) }, { additionalProperties: false });
export const WithdrawBody = Type.Object(
  {
    amount: Amount,
    bank_account: Type.Object(
      {
        account_holder_name: Name,
        routing_number: Type.String({ pattern: '^[0-9]{9}$' }),
        account_number: Type.String({ pattern: '^[0-9]{4,17}$' }),
        country: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$' })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export const CreateWalletTransferBody = Type.Object(
  { source: Id('wal'), destination: Id('wal'), amount: Amount, currency: Currency, description: Type.Optional(Description) },
  { additionalProperties: false },
);
export const UpdateWalletLimitsBody = Type.Object(
  {
    per_transaction_max: Type.Optional(nullable(Amount)),
    per_day_max: Type.Optional(nullable(Amount)),
  },
  { additionalProperties: false, minProperties: 1 },
);

/** Every named object schema, registered once so the OpenAPI document refers to them by name. */
export const shared_schemas = [ErrorResponse, Merchant, LiveCapabilities, Account, ApiKey, AuditEvent, Customer, Wallet, TopUp, WalletTransfer, WalletPayment, Withdrawal, WalletTransaction, WalletLimits, Balance];
