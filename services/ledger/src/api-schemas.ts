// The public API's object that the ledger owns: a merchant's balance, read straight from its
// ledger accounts (decision 87). The gateway serialises with it, and the SDK's type is its Static<>.
// The ledger's own operator API (`/v1/ledger`) has its hand-written codec and is not here.
import { Type } from '@sinclair/typebox';
import { Currency, Livemode } from '@paygrid/kernel/api-schemas';

export const BalanceAmount = Type.Object({ amount: Type.Integer(), currency: Currency });

export const Balance = Type.Object(
  {
    object: Type.Literal('balance'),
    available: Type.Array(BalanceAmount),
    pending: Type.Array(BalanceAmount),
    livemode: Livemode,
  },
  { $id: 'Balance' },
);

/** The named schemas of this module, registered once by the gateway so the OpenAPI document refers to them by name. */
export const ledger_api_schemas = [Balance];
