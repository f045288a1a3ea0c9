// The public API's objects and request bodies that identity owns: merchants, their account and
// API keys, the audit log and customers (decision 87). The gateway validates and serialises with
// these, and the SDK's types are their Static<>; bodies refuse unknown properties.
import { Type } from '@sinclair/typebox';
import { Email, id_length_max, Livemode, Name, nullable, OpenObject, Description, ListQuery, Timestamp } from '@paygrid/kernel/api-schemas';
import { allowed_origins_max, card_number_guard_exemptable_fields, origin_length_max } from './browser-settings';
import { grace_period_seconds_max } from './validation';

const MerchantStatus = Type.Union([Type.Literal('active'), Type.Literal('suspended')]);
const KycStatus = Type.Union([Type.Literal('pending'), Type.Literal('verified'), Type.Literal('rejected')]);
const ApiKeyType = Type.Union([Type.Literal('secret'), Type.Literal('publishable')]);
const CardNumberGuardExemptField = Type.Union(card_number_guard_exemptable_fields.map((field) => Type.Literal(field)));

export const GracePeriod = Type.Integer({ minimum: 0, maximum: grace_period_seconds_max, description: 'Seconds the previous secret keeps working.' });
// The identity service checks each origin's form and says what is wrong with it; these bound the size.
export const AllowedOrigins = Type.Array(Type.String({ maxLength: origin_length_max }), {
  maxItems: allowed_origins_max,
  description: 'Origins (https://shop.example.com) whose pages may call the publishable-key routes from a browser. http only for localhost, 127.0.0.1 and [::1].',
});
export const CardNumberGuardExemptFields = Type.Array(CardNumberGuardExemptField, {
  maxItems: card_number_guard_exemptable_fields.length,
  description: 'Request fields that hold your own long numbers (order numbers, IMEIs), which the card-number guard then does not read.',
});

export const MerchantKeyParams = Type.Object({ id: Type.String({ maxLength: id_length_max }), key: Type.String({ maxLength: id_length_max }) });

// Objects.

export const Merchant = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('merchant'),
    name: Type.String(),
    email: nullable(Type.String()),
    status: MerchantStatus,
    kyc_status: KycStatus,
    signing_required: Type.Boolean(),
    allowed_origins: Type.Array(Type.String(), { description: 'Origins whose pages may call the publishable-key routes from a browser.' }),
    // Only exemptable fields are ever stored (browser-settings.ts checks them), so the answer names them.
    card_number_guard_exempt_fields: Type.Array(CardNumberGuardExemptField, { description: 'Request fields the card-number guard does not read.' }),
    created: Timestamp,
  },
  { $id: 'Merchant' },
);

export const LiveCapabilityStatus = Type.Object({
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
    type: ApiKeyType,
    livemode: Livemode,
    redacted: Type.String({ description: "The key's prefix and its last four characters, such as sk_test_…wxyz." }),
    created: Timestamp,
    expires_at: nullable(Timestamp),
    revoked_at: nullable(Timestamp),
  },
  { $id: 'ApiKey' },
);

export const ApiKeyWithSecret = Type.Composite([ApiKey, Type.Object({ secret: Type.String({ description: 'Shown only in this response.' }) })]);

export const SigningSecretRolled = Type.Object({ signing_secret: Type.String() });

const AuditReference = Type.Object({ type: Type.String(), id: Type.String() });

export const AuditEvent = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('audit_event'),
    actor: AuditReference,
    action: Type.String(),
    target: AuditReference,
    data: OpenObject(),
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

// Request bodies.

export const CreateMerchantBody = Type.Object({ name: Name, email: Type.Optional(Email) }, { additionalProperties: false });
export const UpdateMerchantBody = Type.Object(
  {
    name: Type.Optional(Name),
    email: Type.Optional(Email),
    status: Type.Optional(MerchantStatus),
    kyc_status: Type.Optional(KycStatus),
    signing_required: Type.Optional(Type.Boolean()),
    allowed_origins: Type.Optional(AllowedOrigins),
    card_number_guard_exempt_fields: Type.Optional(CardNumberGuardExemptFields),
  },
  { additionalProperties: false, minProperties: 1 },
);
export const CreateApiKeyBody = Type.Object({ type: ApiKeyType, livemode: Type.Boolean() }, { additionalProperties: false });
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
  Type.Object({
    target: Type.Optional(Type.String({ maxLength: id_length_max, description: 'Only events whose target has this id.' })),
    actor: Type.Optional(Type.String({ maxLength: id_length_max, description: 'Only events whose actor has this id.' })),
  }),
], { additionalProperties: false });

export const CreateCustomerBody = Type.Object(
  { name: Type.Optional(Name), email: Type.Optional(Email), description: Type.Optional(Description) },
  { additionalProperties: false },
);

/** The named schemas of this module, registered once by the gateway so the OpenAPI document refers to them by name. */
export const identity_api_schemas = [Merchant, LiveCapabilities, Account, ApiKey, AuditEvent, Customer];
