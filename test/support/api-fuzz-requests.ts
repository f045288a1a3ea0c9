// Requests for the API fuzz (test/api-fuzz.test.ts), made from the OpenAPI document the gateway
// builds out of the very TypeBox schemas that validate its routes: a conforming request per
// operation, and hostile variants of it (wrong types, numbers at every limit, oversize and odd
// strings, extra and missing fields, broken JSON, wrong content types, bad headers and ids).
import fc from 'fast-check';

/** The JSON Schema keywords the gateway's request schemas use (api-openapi.test.ts checks the document is valid). */
export interface JsonSchema {
  readonly type?: string;
  readonly enum?: readonly unknown[];
  readonly anyOf?: readonly JsonSchema[];
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean | JsonSchema;
  readonly items?: JsonSchema;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly pattern?: string;
  readonly minProperties?: number;
  readonly uniqueItems?: boolean;
}

interface OpenApiParameter {
  readonly in: 'path' | 'query' | 'header';
  readonly name: string;
  readonly required?: boolean;
  readonly schema: JsonSchema;
}

export interface OpenApiDocument {
  readonly paths: Record<string, Record<string, { parameters?: OpenApiParameter[]; requestBody?: { content: { 'application/json': { schema: JsonSchema } } } }>>;
}

export interface Operation {
  /** `POST /v1/wallets/:id/top_ups`: the method and path as the server's route table lists them. */
  readonly route: string;
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** `/v1/wallets/{id}/top_ups`, as documented. */
  readonly path: string;
  readonly path_parameters: readonly OpenApiParameter[];
  readonly query: JsonSchema;
  readonly body: JsonSchema | undefined;
  /** Values for path parameters that name no resource of the public API (the ledger's decimal ids). */
  readonly path_values?: Readonly<Record<string, fc.Arbitrary<string>>>;
}

/** `/v1/wallets/{id}` as the route table writes it: `/v1/wallets/:id`. */
export function routePath(documented_path: string): string {
  return documented_path.replace(/\{(\w+)\}/g, ':$1');
}

export function operationsOf(document: OpenApiDocument): Operation[] {
  return Object.entries(document.paths).flatMap(([path, operations]) =>
    Object.entries(operations).map(([method, operation]) => {
      const parameters = operation.parameters ?? [];
      const query = parameters.filter((parameter) => parameter.in === 'query');
      return {
        route: `${method.toUpperCase()} ${routePath(path)}`,
        method: method.toUpperCase() as Operation['method'],
        path,
        path_parameters: parameters.filter((parameter) => parameter.in === 'path'),
        query: {
          type: 'object',
          additionalProperties: false,
          properties: Object.fromEntries(query.map((parameter) => [parameter.name, parameter.schema])),
          required: query.filter((parameter) => parameter.required === true).map((parameter) => parameter.name),
        },
        body: operation.requestBody?.content['application/json'].schema,
      };
    }),
  );
}

/** A piece of JSON text put into a body as it is: a number no JavaScript number can hold, or a broken token. */
export class RawJson {
  constructor(readonly text: string) {}
}

/** JSON.stringify, except that RawJson is written as it is. Lone surrogates come out escaped, as JSON.stringify writes them. */
export function toJsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map(toJsonText).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([key, item]) => `${JSON.stringify(key)}:${toJsonText(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Real objects of the platform, by id prefix, so that requests reach the services and not only validation. */
export type KnownIds = Readonly<Record<string, readonly string[]>>;

/** Hook URLs point at the suite's own listener on 127.0.0.1: nothing asks DNS or leaves the machine. */
export interface FuzzContext {
  readonly known_ids: KnownIds;
  /** The id prefix of each resource's objects (`wallets` → `wal`), learnt from real objects. */
  readonly prefix_by_resource: Readonly<Record<string, string>>;
  readonly hook_url: string;
  /**
   * Conforming values for fields of these names, where the schema alone would rarely name
   * anything that exists (the ledger's ids are any decimal string; the fuzz wants its accounts').
   */
  readonly named?: Readonly<Record<string, fc.Arbitrary<unknown>>>;
}

const odd_unicode = [
  '\u0000',
  '\ud800',
  '\udfff',
  'x\ud83dy',
  '\u202eevil\u202c',
  '\u200b\u200c\u200d\ufeff',
  '\u0301\u0301\u0301',
  '\ud83d\udcb3\ud83c\udff3\ufe0f\u200d\ud83c\udf08',
  '\uffff\ufffe',
  '\u2028\u2029',
  '\\',
  '"\'<>&',
  ' ',
  '',
];

export const oddString = fc.oneof(
  fc.constantFrom(...odd_unicode),
  fc.string({ unit: fc.constantFrom(...odd_unicode), maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
);

/** Strings beyond every length limit of the API (the largest is a few thousand characters). */
const oversizeString = fc.constantFrom(257, 1001, 2049, 10_000, 100_000).chain((length) => fc.constantFrom('a', '\u00e9', '\ud83d\udcb3', '1').map((unit) => unit.repeat(length)));

/** Numbers at every limit: JSON numbers JavaScript reads, and digit strings it cannot read exactly. */
const limitNumber: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(0, -0, -1, 1, 1.5, -1.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 - 1, -(2 ** 53), 2 ** 63, 2 ** 64, 1e308, -1e308, 5e-324, Number.MAX_VALUE, 101, 0.1),
  fc.constantFrom('9223372036854775808', '18446744073709551616', '1e309', '-1e309', '123456789012345678901234567890123456789', '1'.repeat(400), '0.0000000000000000000000001', '1E2', '-0.0', '1.0').map((text) => new RawJson(text)),
);

const wrongType: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.constantFrom('', '1', 'true', 'null', '[]', '{}', '0x10', 'NaN', 'Infinity'),
  limitNumber,
  fc.constant([]),
  fc.constant({}),
  fc.constant([1, 'a', null]),
  fc.constant({ amount: 1 }),
  oddString,
);

/** Any hostile value for one field. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(wrongType, limitNumber, oversizeString, oddString);

function idPrefixOf(pattern: string | undefined): string | undefined {
  return pattern === undefined ? undefined : /^\^([a-z]+)_\[A-Za-z0-9\]/.exec(pattern)?.[1];
}

/** An id of the right prefix that names nothing, or a real one. */
export function idArbitrary(context: FuzzContext, prefix: string): fc.Arbitrary<string> {
  const unknown = matching(/^[A-Za-z0-9]{1,30}$/.source).map((tail) => `${prefix}_${tail}`);
  const known = context.known_ids[prefix] ?? [];
  return known.length === 0 ? unknown : fc.oneof(fc.constantFrom(...known), unknown);
}

/** fc.stringMatching parses its pattern each time it is built, which would be most of the fuzz's time: it is built once per pattern. */
const matching_by_pattern = new Map<string, fc.Arbitrary<string>>();
function matching(pattern: string): fc.Arbitrary<string> {
  let arbitrary = matching_by_pattern.get(pattern);
  if (arbitrary === undefined) {
    arbitrary = fc.stringMatching(new RegExp(pattern));
    matching_by_pattern.set(pattern, arbitrary);
  }
  return arbitrary;
}

function stringArbitrary(schema: JsonSchema, name: string, context: FuzzContext): fc.Arbitrary<string> {
  const prefix = idPrefixOf(schema.pattern);
  if (prefix !== undefined) return idArbitrary(context, prefix);
  if (schema.pattern === '^[a-z]{3}$') return fc.oneof(fc.constantFrom('usd', 'cny', 'eur', 'jpy'), matching('^[a-z]{3}$'));
  if (name === 'url' || name === 'return_url' || name === 'origin') return fc.constantFrom(context.hook_url, `${context.hook_url}/a?b=c`, 'https://127.0.0.1:1/x', 'http://localhost/', 'https://[::1]/');
  if (name === 'enabled_events') return fc.constantFrom('*', 'payment_intent.succeeded', 'refund.created', 'wallet.no_such_event');
  const max_length = schema.maxLength ?? 200;
  const min_length = schema.minLength ?? 0;
  if (schema.pattern !== undefined) {
    return matching(schema.pattern).filter((text) => text.length >= min_length && text.length <= max_length);
  }
  return fc.oneof(
    fc.string({ minLength: min_length, maxLength: Math.min(max_length, 24) }),
    fc.string({ unit: 'grapheme', minLength: min_length, maxLength: Math.min(max_length, 8) }),
    fc.constant('x'.repeat(max_length)),
  );
}

function integerArbitrary(schema: JsonSchema): fc.Arbitrary<number> {
  const minimum = schema.minimum ?? -(2 ** 53 - 1);
  const maximum = schema.maximum ?? 2 ** 53 - 1;
  const small = fc.integer({ min: Math.max(minimum, -1000), max: Math.min(maximum, 5000) });
  return fc.oneof(fc.constantFrom(minimum, maximum), small, fc.bigInt({ min: BigInt(minimum), max: BigInt(maximum) }).map(Number));
}

/** A value the schema accepts (ids of the right prefix, known or not; amounts anywhere in range). */
export function conformingValue(schema: JsonSchema, context: FuzzContext, name = ''): fc.Arbitrary<unknown> {
  // Names pick values for scalar fields only: an array of ids (`ids`) keeps its shape.
  const named = schema.type === 'array' || schema.type === 'object' ? undefined : context.named?.[name];
  if (named !== undefined) return named;
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum);
  if (schema.anyOf !== undefined) return fc.oneof(...schema.anyOf.map((option) => conformingValue(option, context, name)));
  // The suite's merchant signs nothing, so it never turns mandatory signing on for itself.
  if (name === 'signing_required') return fc.constant(false);
  switch (schema.type) {
    case 'string':
      return stringArbitrary(schema, name, context);
    case 'integer':
      return integerArbitrary(schema);
    case 'number':
      return fc.double({ min: schema.minimum ?? -1e9, max: schema.maximum ?? 1e9, noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      // A set of names (the ledger's flags) is a subset of them, each named once.
      const names = schema.uniqueItems === true ? schema.items?.enum : undefined;
      if (names !== undefined) return fc.subarray([...names], { minLength: schema.minItems ?? 0, maxLength: schema.maxItems ?? names.length });
      const items = schema.items === undefined ? fc.anything() : conformingValue(schema.items, context, name);
      return fc.array(items, { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 3, 3) });
    }
    case 'object': {
      const properties = schema.properties ?? {};
      const model = Object.fromEntries(Object.entries(properties).map(([key, property]) => [key, conformingValue(property, context, key)]));
      return fc.record(model, { requiredKeys: (schema.required ?? []).filter((key) => key in properties) }).filter(
        (value) => Object.keys(value).length >= (schema.minProperties ?? 0),
      );
    }
    default:
      return fc.anything();
  }
}

/** One step into a JSON value: the paths of every object property in it, nested ones too. */
function propertyPaths(value: unknown, prefix: readonly string[] = []): string[][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  return Object.entries(value).flatMap(([key, item]) => [[...prefix, key], ...propertyPaths(item, [...prefix, key])]);
}

function withValueAt(value: unknown, path: readonly string[], replace: (old: Record<string, unknown>, key: string) => void): unknown {
  const copy = structuredClone(value) as Record<string, unknown>;
  let cursor: unknown = copy;
  for (const key of path.slice(0, -1)) cursor = (cursor as Record<string, unknown>)[key];
  // An earlier mutation may have replaced a parent of the path with something that is no object.
  if (cursor === null || typeof cursor !== 'object' || Array.isArray(cursor)) return copy;
  replace(cursor as Record<string, unknown>, path[path.length - 1] ?? '');
  return copy;
}

function nested(depth: number, open: string, close: string, inner = '1'): string {
  return `${open.repeat(depth)}${inner}${close.repeat(depth)}`;
}

/** Whole bodies that are no JSON object a route takes: broken JSON, other JSON types, deep nesting, many keys, duplicate keys. */
export const hostileBodyText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', ' ', '{', '}', '{"a":', '{"a" 1}', "{'a':1}", '[1,]', '{"a":1,}', 'nul', 'NaN', 'undefined', '\u0000', '\ufeff{}', '{"a":"\\x41"}', '{"a":"\\ud800"}', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}'),
  fc.constantFrom('[]', '[{}]', '1', '-0', '1e308', '"text"', 'null', 'true', '""'),
  fc.constantFrom(10, 100, 1_000, 10_000, 100_000).chain((depth) => fc.constantFrom(nested(depth, '[', ']'), nested(depth, '{"a":', '}'), `{"amount":${nested(depth, '[', ']')}}`)),
  fc.constantFrom(1_000, 50_000).map((keys) => `{${Array.from({ length: keys }, (_, index) => `"k${index}":${index}`).join(',')}}`),
  fc.constantFrom('{"amount":1,"amount":2}', '{"currency":"usd","currency":"cny","amount":100}', '{"a":1,"a":{"b":2}}'),
  fc.string({ unit: 'binary', maxLength: 40 }),
);

export interface FuzzRequest {
  /** The route of the server's table this request is aimed at (`HEAD /v1/wallets/:id` for a GET route sent as HEAD). */
  readonly route: string;
  /** What was done to the conforming request, for the failure message. */
  readonly variant: string;
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly payload: string | Buffer | undefined;
}

export type KeyName = 'secret' | 'publishable' | 'operator';
export type Keys = Readonly<Record<KeyName, string>>;

function encodedPathValue(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    // A lone surrogate has no UTF-8 form; a client would send its replacement, or junk.
    return '%ED%A0%80';
  }
}

function queryText(query: Record<string, unknown>): string {
  const parts = Object.entries(query).map(([key, value]) => `${encodedPathValue(key)}=${encodedPathValue(typeof value === 'string' ? value : toJsonText(value))}`);
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

interface Parts {
  method: string;
  path_values: Record<string, string>;
  query: Record<string, unknown>;
  raw_query: string | undefined;
  raw_path: Record<string, string>;
  body: unknown;
  body_text: string | undefined;
  headers: Record<string, string>;
  key: string | undefined;
}

type Mutation = { readonly name: string; readonly apply: (parts: Parts) => void };

function hostileMutations(operation: Operation, parts: Parts, context: FuzzContext, keys: Keys): fc.Arbitrary<Mutation>[] {
  const mutations: fc.Arbitrary<Mutation>[] = [];
  const body_paths = propertyPaths(parts.body);
  if (body_paths.length > 0) {
    mutations.push(
      fc.tuple(fc.constantFrom(...body_paths), hostileValue).map(([path, value]) => ({
        name: `body ${path.join('.')} = ${toJsonText(value).slice(0, 60)}`,
        apply: (target) => {
          target.body = withValueAt(target.body, path, (object, key) => (object[key] = value));
        },
      })),
      fc.constantFrom(...body_paths).map((path) => ({
        name: `body without ${path.join('.')}`,
        apply: (target) => {
          target.body = withValueAt(target.body, path, (object, key) => delete object[key]);
        },
      })),
    );
  }
  if (operation.body !== undefined) {
    mutations.push(
      fc.tuple(fc.constantFrom('extra', 'Amount', '__proto__', 'constructor', '', '\u0000', 'amount '), hostileValue).map(([key, value]) => ({
        name: `body extra property ${JSON.stringify(key)}`,
        apply: (target) => {
          const body = (target.body !== null && typeof target.body === 'object' ? target.body : {}) as Record<string, unknown>;
          target.body_text = `${toJsonText(body).slice(0, -1)}${Object.keys(body).length > 0 ? ',' : ''}${JSON.stringify(key)}:${toJsonText(value)}}`;
        },
      })),
      hostileBodyText.map((text) => ({ name: `body text ${JSON.stringify(text.slice(0, 40))}`, apply: (target) => void (target.body_text = text) })),
      fc
        .constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', 'application/json; charset=utf-16', 'application/jsonx', 'APPLICATION/JSON', 'application/json;', '', 'application/*', '*/*')
        .map((content_type) => ({ name: `content-type ${JSON.stringify(content_type)}`, apply: (target) => void (target.headers['content-type'] = content_type) })),
    );
  }
  for (const parameter of operation.path_parameters) {
    mutations.push(
      fc.oneof(hostileValue.map((value) => (typeof value === 'string' ? value : toJsonText(value))), ...Object.values(context.prefix_by_resource).map((prefix) => idArbitrary(context, prefix))).map((value) => ({
        name: `path ${parameter.name} = ${JSON.stringify(value.slice(0, 60))}`,
        apply: (target) => void (target.path_values[parameter.name] = value),
      })),
      fc.constantFrom('%zz', '%', '%ff', '%c0%80', '..', '.', '%2F', '%2e%2e%2f', '%00', 'a%20b').map((raw) => ({
        name: `raw path ${parameter.name} = ${raw}`,
        apply: (target) => void (target.raw_path[parameter.name] = raw),
      })),
    );
  }
  mutations.push(
    fc.tuple(fc.constantFrom(...Object.keys(operation.query.properties ?? {}), 'unknown', 'limit', 'expand[]'), hostileValue).map(([name, value]) => ({
      name: `query ${name} = ${toJsonText(value).slice(0, 60)}`,
      apply: (target) => void (target.query[name] = value),
    })),
    fc.constantFrom('limit=1&limit=2', 'limit=%zz', 'limit[]=1', 'limit[a]=1', '&&&', '=', 'limit', 'starting_after=%ff', `limit=${'9'.repeat(400)}`).map((raw) => ({
      name: `raw query ${raw.slice(0, 40)}`,
      apply: (target) => void (target.raw_query = raw),
    })),
    fc
      .constantFrom<[string, string | undefined]>(
        ['authorization', undefined],
        ['authorization', 'Bearer'],
        ['authorization', 'Bearer '],
        ['authorization', `Bearer ${keys.secret}x`],
        ['authorization', `Bearer ${keys.secret.slice(0, -1)}`],
        ['authorization', `Basic ${Buffer.from(`${keys.secret}:`).toString('base64')}`],
        ['authorization', `bearer ${keys.secret}`],
        ['authorization', `Bearer sk_test_${'0'.repeat(60)}`],
        ['authorization', `Bearer sk_live_${'0'.repeat(60)}`],
        ['authorization', `Bearer ${'x'.repeat(10_000)}`],
        ['authorization', `Bearer ${keys.publishable}`],
        ['authorization', `Bearer ${keys.operator}`],
        ['authorization', `Bearer ${keys.secret}, Bearer ${keys.secret}`],
        ['idempotency-key', ''],
        ['idempotency-key', ' '],
        ['idempotency-key', 'k'.repeat(256)],
        ['idempotency-key', 'k'.repeat(10_000)],
        ['idempotency-key', '\u00e9\u00ff'],
        ['idempotency-key', 'a\tb'],
        ['paygrid-signature', 'garbage'],
        ['paygrid-signature', 't=1,n=abc,v1=00'],
        ['paygrid-signature', `t=${'9'.repeat(40)},n=${'a'.repeat(32)},v1=${'0'.repeat(64)}`],
        ['content-length', '0'],
        ['accept-encoding', 'br;q=2, gzip;q=-1, *'],
        ['origin', 'null'],
      )
      .map(([name, value]) => ({
        name: `header ${name} = ${JSON.stringify(value?.slice(0, 40))}`,
        apply: (target) => {
          if (name === 'authorization') target.key = undefined;
          if (value === undefined) delete target.headers[name];
          else target.headers[name] = value;
        },
      })),
  );
  // Fastify answers HEAD on every GET route (a route of its own in the table), with no body.
  if (operation.method === 'GET') mutations.push(fc.constant({ name: 'method HEAD', apply: (target) => void (target.method = 'HEAD') }));
  return mutations;
}

function urlOf(operation: Operation, parts: Parts): string {
  const path = operation.path.replace(/\{(\w+)\}/g, (_match, name: string) => parts.raw_path[name] ?? encodedPathValue(parts.path_values[name] ?? ''));
  return `${path}${parts.raw_query === undefined ? queryText(parts.query) : `?${parts.raw_query}`}`;
}

/**
 * One request for the operation: conforming to its schemas (a quarter of the time), or a
 * conforming one with one to three hostile mutations. `key_of` gives the key the route takes.
 */
export function requestArbitrary(operation: Operation, context: FuzzContext, keys: Keys, key_of: (operation: Operation) => KeyName): fc.Arbitrary<FuzzRequest> {
  const path_values = fc.record(
    Object.fromEntries(
      operation.path_parameters.map((parameter) => {
        const given = operation.path_values?.[parameter.name];
        if (given !== undefined) return [parameter.name, given];
        const prefix = prefixForPathParameter(operation, parameter.name, context);
        return [parameter.name, parameter.name === 'currency' ? conformingValue(parameter.schema, context, parameter.name) : prefix === undefined ? fc.string({ maxLength: 10 }) : idArbitrary(context, prefix)];
      }),
    ),
  ) as fc.Arbitrary<Record<string, string>>;
  const body = operation.body === undefined ? fc.constant(undefined) : conformingValue(operation.body, context);
  const base = fc.record({ path_values, query: conformingValue(operation.query, context), body, idempotency_key: fc.option(fc.uuid(), { nil: undefined }) });
  return base.chain(({ path_values: values, query, body: conforming_body, idempotency_key }) => {
    const parts: Parts = {
      method: operation.method,
      path_values: values,
      query: query as Record<string, unknown>,
      raw_query: undefined,
      raw_path: {},
      body: conforming_body,
      body_text: undefined,
      headers: {},
      key: keys[key_of(operation)],
    };
    if (idempotency_key !== undefined) parts.headers['idempotency-key'] = idempotency_key;
    const mutations = hostileMutations(operation, parts, context, keys);
    return fc.oneof({ weight: 1, arbitrary: fc.constant<Mutation[]>([]) }, { weight: 3, arbitrary: fc.array(fc.oneof(...mutations), { minLength: 1, maxLength: 3 }) }).map((chosen) => {
      const target: Parts = structuredClone(parts);
      for (const mutation of chosen) mutation.apply(target);
      const payload = operation.body === undefined && target.body_text === undefined ? undefined : (target.body_text ?? toJsonText(target.body));
      const headers: Record<string, string> = { ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...target.headers };
      if (target.key !== undefined && !('authorization' in target.headers)) headers.authorization = `Bearer ${target.key}`;
      return {
        route: target.method === operation.method ? operation.route : `${target.method} ${routePath(operation.path)}`,
        variant: chosen.length === 0 ? 'conforming' : chosen.map((mutation) => mutation.name).join('; '),
        method: target.method,
        url: urlOf(operation, target),
        headers,
        payload,
      };
    });
  });
}

/** The id prefix a path parameter names, from the resource before it (`/v1/wallets/{id}` takes the wallets' prefix). */
function prefixForPathParameter(operation: Operation, name: string, context: FuzzContext): string | undefined {
  const segments = operation.path.split('/');
  const index = segments.indexOf(`{${name}}`);
  return context.prefix_by_resource[segments[index - 1] ?? ''];
}
