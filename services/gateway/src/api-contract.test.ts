// The public API is defined once (decision 87): each service's TypeBox schemas, which the gateway
// validates and serialises with. These tests fail when something else drifts from them:
// - every named schema the gateway registers has an SDK type of the same name, and that type is
//   the schema's read-only Static<> (so nobody swaps in a hand-written interface);
// - what each service's wire converter returns has exactly the schema's fields, amounts being
//   bigint inside and numbers on the wire, so a field added on one side only is caught here.
// The type-level checks run in `npm run typecheck`; vitest runs the name checks.
import type { Static, TSchema } from '@sinclair/typebox';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type * as identity from '@paygrid/identity';
import * as identity_schemas from '@paygrid/identity/api-schemas';
import { kernel_api_schemas, type List } from '@paygrid/kernel/api-schemas';
import * as ledger_schemas from '@paygrid/ledger/api-schemas';
import type * as payments from '@paygrid/payments';
import * as payments_schemas from '@paygrid/payments/api-schemas';
import type * as sdk from '@paygrid/sdk';
import type * as vault from '@paygrid/vault';
import * as vault_schemas from '@paygrid/vault/api-schemas';
import type * as wallet from '@paygrid/wallet';
import * as wallet_schemas from '@paygrid/wallet/api-schemas';
import type * as webhooks from '@paygrid/webhooks';
import * as webhooks_schemas from '@paygrid/webhooks/api-schemas';

/** Every schema the gateway registers by name, as gateway.ts does. */
const named_schemas: readonly TSchema[] = [
  ...kernel_api_schemas,
  ...identity_schemas.identity_api_schemas,
  ...wallet_schemas.wallet_api_schemas,
  ...ledger_schemas.ledger_api_schemas,
  ...vault_schemas.vault_api_schemas,
  ...payments_schemas.payments_api_schemas,
  ...webhooks_schemas.webhooks_api_schemas,
];

/**
 * Each named schema and the SDK type that carries it. `Error` has none on purpose: the SDK reads
 * an error body defensively (errors.ts), because a proxy in between may answer with anything.
 */
interface SdkTypeBySchemaId {
  Merchant: [typeof identity_schemas.Merchant, sdk.Merchant];
  LiveCapabilities: [typeof identity_schemas.LiveCapabilities, sdk.LiveCapabilities];
  Account: [typeof identity_schemas.Account, sdk.Account];
  ApiKey: [typeof identity_schemas.ApiKey, sdk.ApiKey];
  AuditEvent: [typeof identity_schemas.AuditEvent, sdk.AuditEvent];
  Customer: [typeof identity_schemas.Customer, sdk.Customer];
  Wallet: [typeof wallet_schemas.Wallet, sdk.Wallet];
  TopUp: [typeof wallet_schemas.TopUp, sdk.TopUp];
  WalletTransfer: [typeof wallet_schemas.WalletTransfer, sdk.WalletTransfer];
  WalletPayment: [typeof wallet_schemas.WalletPayment, sdk.WalletPayment];
  Withdrawal: [typeof wallet_schemas.Withdrawal, sdk.Withdrawal];
  WalletTransaction: [typeof wallet_schemas.WalletTransaction, sdk.WalletTransaction];
  WalletLimits: [typeof wallet_schemas.WalletLimits, sdk.WalletLimits];
  Balance: [typeof ledger_schemas.Balance, sdk.Balance];
  Token: [typeof vault_schemas.Token, sdk.Token];
  Order: [typeof payments_schemas.Order, sdk.Order];
  PaymentIntent: [typeof payments_schemas.PaymentIntent, sdk.PaymentIntent];
  PaymentAttempt: [typeof payments_schemas.PaymentAttempt, sdk.PaymentAttempt];
  Refund: [typeof payments_schemas.Refund, sdk.Refund];
  BankTransferReview: [typeof payments_schemas.BankTransferReview, sdk.BankTransferReview];
  WebhookEndpoint: [typeof webhooks_schemas.WebhookEndpoint, sdk.WebhookEndpoint];
  Event: [typeof webhooks_schemas.Event, sdk.Event];
  DeliveryAttempt: [typeof webhooks_schemas.DeliveryAttempt, sdk.DeliveryAttempt];
  Delivery: [typeof webhooks_schemas.Delivery, sdk.Delivery];
}

const sdk_type_names: Record<keyof SdkTypeBySchemaId, true> = {
  Merchant: true,
  LiveCapabilities: true,
  Account: true,
  ApiKey: true,
  AuditEvent: true,
  Customer: true,
  Wallet: true,
  TopUp: true,
  WalletTransfer: true,
  WalletPayment: true,
  Withdrawal: true,
  WalletTransaction: true,
  WalletLimits: true,
  Balance: true,
  Token: true,
  Order: true,
  PaymentIntent: true,
  PaymentAttempt: true,
  Refund: true,
  BankTransferReview: true,
  WebhookEndpoint: true,
  Event: true,
  DeliveryAttempt: true,
  Delivery: true,
};

/** A service's wire object as JSON carries it: bigint amounts become numbers, and nothing is writable. */
type OnTheWire<Value> = Value extends bigint
  ? number
  : Value extends readonly (infer Item)[]
    ? readonly OnTheWire<Item>[]
    : Value extends object
      ? { readonly [Key in keyof Value]: OnTheWire<Value[Key]> }
      : Value;

/**
 * never when the service's object has exactly the schema's fields, each assignable to the
 * schema's type; otherwise what differs, which the compiler shows.
 */
type Drift<Schema extends TSchema, ServiceObject> = [Exclude<keyof ServiceObject, keyof Static<Schema>>] extends [never]
  ? [Exclude<keyof Static<Schema>, keyof ServiceObject>] extends [never]
    ? OnTheWire<ServiceObject> extends sdk.WireOf<Schema>
      ? never
      : { field_types_differ: OnTheWire<ServiceObject> }
    : { only_in_schema: Exclude<keyof Static<Schema>, keyof ServiceObject> }
  : { only_in_service: Exclude<keyof ServiceObject, keyof Static<Schema>> };


/** Each schema and the type its service's wire converter returns. */
interface ServiceObjectBySchemaId {
  Merchant: [typeof identity_schemas.Merchant, identity.Merchant];
  ApiKey: [typeof identity_schemas.ApiKey, identity.ApiKey];
  AuditEvent: [typeof identity_schemas.AuditEvent, identity.AuditEvent];
  Customer: [typeof identity_schemas.Customer, identity.Customer];
  Wallet: [typeof wallet_schemas.Wallet, wallet.Wallet];
  TopUp: [typeof wallet_schemas.TopUp, wallet.TopUp];
  WalletTransfer: [typeof wallet_schemas.WalletTransfer, wallet.WalletTransfer];
  WalletPayment: [typeof wallet_schemas.WalletPayment, wallet.WalletPayment];
  Withdrawal: [typeof wallet_schemas.Withdrawal, wallet.Withdrawal];
  WalletTransaction: [typeof wallet_schemas.WalletTransaction, wallet.WalletTransaction];
  WalletLimits: [typeof wallet_schemas.WalletLimits, wallet.WalletLimits];
  Token: [typeof vault_schemas.Token, vault.Token];
  Order: [typeof payments_schemas.Order, payments.Order];
  PaymentIntent: [typeof payments_schemas.PaymentIntent, payments.PaymentIntent];
  PaymentAttempt: [typeof payments_schemas.PaymentAttempt, payments.PaymentAttempt];
  Refund: [typeof payments_schemas.Refund, payments.Refund];
  BankTransferReview: [typeof payments_schemas.BankTransferReview, payments.BankTransferReview];
  WebhookEndpoint: [typeof webhooks_schemas.WebhookEndpoint, webhooks.WebhookEndpoint];
  Event: [typeof webhooks_schemas.Event, webhooks.WebhookEvent];
  DeliveryAttempt: [typeof webhooks_schemas.DeliveryAttempt, webhooks.WebhookDeliveryAttempt];
  Delivery: [typeof webhooks_schemas.Delivery, webhooks.WebhookDelivery];
}

describe('the public API contract', () => {
  it('gives every named schema an SDK type of the same name', () => {
    const schema_ids = named_schemas.map((schema) => schema.$id).filter((id) => id !== 'Error');
    expect(schema_ids.sort()).toEqual(Object.keys(sdk_type_names).sort());
  });

  it('types every SDK wire object as the read-only Static<> of its schema', () => {
    type Mismatched = {
      [Id in keyof SdkTypeBySchemaId]: sdk.WireOf<SdkTypeBySchemaId[Id][0]> extends SdkTypeBySchemaId[Id][1]
        ? SdkTypeBySchemaId[Id][1] extends sdk.WireOf<SdkTypeBySchemaId[Id][0]>
          ? never
          : Id
        : Id;
    }[keyof SdkTypeBySchemaId];
    expectTypeOf<Mismatched>().toEqualTypeOf<never>();
    // Lists are generic in the SDK, so List<T> is written out there; it must read the same as the schema's.
    type WalletList = sdk.WireOf<ReturnType<typeof List<typeof wallet_schemas.Wallet>>>;
    expectTypeOf<sdk.List<sdk.Wallet>>().toExtend<WalletList>();
    expectTypeOf<WalletList>().toExtend<sdk.List<sdk.Wallet>>();
  });

  it("matches each service's wire converter, field for field", () => {
    type DriftBySchemaId = { [Id in keyof ServiceObjectBySchemaId]: Drift<ServiceObjectBySchemaId[Id][0], ServiceObjectBySchemaId[Id][1]> };
    expectTypeOf<DriftBySchemaId>().toEqualTypeOf<{ [Id in keyof ServiceObjectBySchemaId]: never }>();
  });
});
