// The public API's object and request body that the vault owns: single-use card tokens
// (decision 87). The gateway validates and serialises with these, and the SDK's types are their
// Static<>. The body refuses unknown properties.
import { Type } from '@sinclair/typebox';
import { Livemode, Timestamp } from '@paygrid/kernel/api-schemas';

export const Token = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('token'),
    card: Type.Object({
      brand: Type.String(),
      last4: Type.String(),
      exp_month: Type.Integer(),
      exp_year: Type.Integer(),
      fingerprint: Type.String(),
      funding: Type.String(),
    }),
    created: Timestamp,
    livemode: Livemode,
    used: Type.Boolean(),
  },
  { $id: 'Token' },
);

export const CreateTokenBody = Type.Object(
  {
    card: Type.Object(
      {
        number: Type.String({ minLength: 12, maxLength: 23, pattern: '^[0-9 ]+$' }),
        exp_month: Type.Integer({ minimum: 1, maximum: 12 }),
        exp_year: Type.Integer({ minimum: 2000, maximum: 2100 }),
        cvc: Type.String({ pattern: '^[0-9]{3,4}$' }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

/** The named schemas of this module, registered once by the gateway so the OpenAPI document refers to them by name. */
export const vault_api_schemas = [Token];
