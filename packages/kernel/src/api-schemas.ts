// The building blocks of every service's public API schemas (decision 87): ids, amounts,
// currencies, timestamps, lists, the one error shape, and the length limits of text a request may
// carry. Each service's `api-schemas` entry composes its objects and request bodies from these;
// the gateway validates and serialises with them, and the SDK's wire types are their Static<>.
import { Type, type TSchema } from '@sinclair/typebox';

export const name_length_max = 256;
export const email_length_max = 512;
export const description_length_max = 1000;
export const id_length_max = 100;
export const url_length_max = 2048;
/** Amounts are JSON integers in minor units; every client reads integers up to 2^53 - 1 exactly. */
export const amount_max = Number.MAX_SAFE_INTEGER;

/** A value that may also be null on the wire. */
export const nullable = <Schema extends TSchema>(schema: Schema) => Type.Union([schema, Type.Null()]);

/**
 * An object whose fields are not fixed (event payloads, audit data, a next action). Statically a
 * record of unknown values, so that a client reads a field and then checks it, rather than a
 * type `{}` that allows no reads at all; the JSON schema is the plain open object.
 */
export const OpenObject = () => Type.Unsafe<Record<string, unknown>>(Type.Object({}, { additionalProperties: true }));

export const Id = (prefix: string, description = `An id starting with ${prefix}_`) =>
  Type.String({ pattern: `^${prefix}_[A-Za-z0-9]{1,${id_length_max}}$`, maxLength: id_length_max, description });
export const Amount = Type.Integer({ minimum: 1, maximum: amount_max, description: 'A positive integer in the currency\'s minor unit (cents for usd, fen for cny).' });
export const Currency = Type.String({ pattern: '^[a-z]{3}$', description: 'A lower-case ISO 4217 code, such as usd or cny.' });
export const Timestamp = Type.Integer({ minimum: 0, description: 'Unix time in seconds.' });
export const Livemode = Type.Boolean({ description: 'True for live-mode objects, false for test mode.' });
export const Name = Type.String({ minLength: 1, maxLength: name_length_max });
export const Email = Type.String({ minLength: 3, maxLength: email_length_max, pattern: '^[^@\\s]+@[^@\\s]+$' });
export const Description = Type.String({ maxLength: description_length_max });
export const HttpUrl = Type.String({ maxLength: url_length_max, pattern: '^https?://' });

export const IdParams = Type.Object({ id: Type.String({ maxLength: id_length_max }) });

export const ListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10 })),
    starting_after: Type.Optional(Type.String({ maxLength: id_length_max })),
    ending_before: Type.Optional(Type.String({ maxLength: id_length_max })),
  },
  { additionalProperties: false },
);

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

/** The named schemas of this module, registered once by the gateway so the OpenAPI document refers to them by name. */
export const kernel_api_schemas = [ErrorResponse];
