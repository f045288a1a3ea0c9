// The public API's objects and request bodies that the wallet owns: wallets, the money that moves
// in, out and between them, their history and the merchant's wallet limits (decision 87). The
// gateway validates and serialises with these, and the SDK's types are their Static<>; bodies
// refuse unknown properties.
import { Type } from '@sinclair/typebox';
import { Amount, Currency, Description, Id, id_length_max, ListQuery, Livemode, Name, nullable, Timestamp } from '@paygrid/kernel/api-schemas';

const WalletStatus = Type.Union([Type.Literal('active'), Type.Literal('frozen')]);
/** Every money movement is pending until the ledger settles it. */
const OperationStatus = Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed')]);

export const CurrencyParams = Type.Object({ currency: Currency });

// Objects.

export const Wallet = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('wallet'),
    customer: Type.String(),
    currency: Currency,
    status: WalletStatus,
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
    payment_intent: nullable(Type.String({ description: 'The payment intent that paid for the top-up; null for a simulated bank deposit.' })),
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
    source: Type.String({ description: 'The wallet the money leaves.' }),
    destination: Type.String({ description: 'The wallet the money reaches.' }),
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
    bank_account: Type.Object(
      {
        account_holder_name: Type.String(),
        routing_number: Type.String(),
        last4: Type.String(),
        country: Type.String(),
      },
      { description: 'The account number is never returned, only its last four digits.' },
    ),
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
    per_transaction_max: nullable(Type.Integer({ description: 'The most one outgoing movement may take; null means no limit.' })),
    per_day_max: nullable(Type.Integer({ description: 'The most one wallet may send out in a UTC day, pending and succeeded movements together; null means no limit.' })),
    livemode: Livemode,
  },
  { $id: 'WalletLimits' },
);

// Request bodies.

export const CreateWalletBody = Type.Object({ customer: Id('cus'), currency: Currency }, { additionalProperties: false });
export const UpdateWalletBody = Type.Object({ status: WalletStatus }, { additionalProperties: false });
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
        country: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$', description: "ISO 3166-1 alpha-2; US when omitted." })),
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
  { additionalProperties: false, minProperties: 1, description: 'A number sets a limit, null removes it, an omitted field leaves it unchanged.' },
);

/** The named schemas of this module, registered once by the gateway so the OpenAPI document refers to them by name. */
export const wallet_api_schemas = [Wallet, TopUp, WalletTransfer, WalletPayment, Withdrawal, WalletTransaction, WalletLimits];
