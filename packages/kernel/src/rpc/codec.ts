// The codec of service-to-service calls: arguments and results travel as JSON, and must come out
// as the in-process call would have given them. JSON alone loses four things, so the few values
// that need them are listed beside the payload as JSON Pointers (RFC 6901), instead of being
// wrapped in tag objects that would nest every amount one level deeper:
// - bigint (every amount): written as its decimal string, and listed under `bigints`;
// - undefined, where it is present (`{ amount: undefined }`, an optional argument left out before
//   one given, an array item): written as null, and listed under `undefineds`. A property that is
//   absent stays absent, so `'amount' in input` answers the same on both sides;
// - -0: written as 0, and listed under `negative_zeros`;
// - nothing else: null, booleans, strings, finite numbers, plain objects and arrays are JSON's own.
// Anything else is a programmer error, refused by assert: a function, a symbol, NaN or an
// infinity, a class instance (a Date, a Buffer, a Map), a sparse array, a cycle, a `__proto__` key.
import secureJsonParse from 'secure-json-parse';
import { assert } from '../assert';
import { isStructuralLimit, scanJsonText, type JsonLimits } from '../http/json-text-scan';

/**
 * How deep a value may nest: the deepest argument a service takes today (a webhook event's
 * data.object, holding an order's line items) is 5 levels, so this leaves room without letting a
 * body nested thousands deep reach the recursive walk.
 */
export const rpc_value_depth_max = 32;
/** Keys one object may hold: a page of 100 objects is an array, so this bounds records and headers. */
export const rpc_object_keys_max = 1_000;
/** Keys in one body, every object counted: a page of 100 orders with 100 line items each fits. */
export const rpc_body_keys_max = 100_000;

/** The JSON limits of an encoded body: the value's depth plus the envelope's own level. */
export const rpc_json_limits: JsonLimits = { depth_max: rpc_value_depth_max + 1, object_keys_max: rpc_object_keys_max, keys_max: rpc_body_keys_max };

/** A JSON value, as JSON.parse gives it and JSON.stringify takes it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The envelope on the wire. The lists are left out when empty. */
export interface EncodedValue {
  readonly value: JsonValue;
  /** Pointers to bigints, written as decimal strings. */
  readonly bigints?: readonly string[];
  /** Pointers to undefined values, written as null. */
  readonly undefineds?: readonly string[];
  /** Pointers to negative zeros, written as 0. */
  readonly negative_zeros?: readonly string[];
}

const envelope_keys = new Set(['value', 'bigints', 'undefineds', 'negative_zeros']);
const bigint_text_pattern = /^-?(0|[1-9][0-9]*)$/;
const array_index_pattern = /^(0|[1-9][0-9]*)$/;
const forbidden_key = '__proto__';

/** A body that does not decode: the server answers it with a 400, the client treats it as a broken answer. */
export class RpcCodecError extends Error {
  override readonly name = 'RpcCodecError';
}

function pointerToken(key: string | number): string {
  return String(key).replaceAll('~', '~0').replaceAll('/', '~1');
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Encodes a value (a call's arguments array, or its result) into the envelope. */
export function encodeValue(value: unknown): EncodedValue {
  const bigints: string[] = [];
  const undefineds: string[] = [];
  const negative_zeros: string[] = [];
  // The objects on the path from the root: one seen again is a cycle, which JSON cannot carry.
  const ancestors = new Set<object>();

  const encode = (item: unknown, pointer: string, depth: number): JsonValue => {
    switch (typeof item) {
      case 'undefined':
        undefineds.push(pointer);
        return null;
      case 'boolean':
      case 'string':
        return item;
      case 'number':
        assert(Number.isFinite(item), `rpc codec: ${String(item)} at "${pointer}" has no JSON form`);
        if (Object.is(item, -0)) {
          negative_zeros.push(pointer);
          return 0;
        }
        return item;
      case 'bigint':
        bigints.push(pointer);
        return item.toString();
      case 'object': {
        if (item === null) return null;
        assert(depth < rpc_value_depth_max, `rpc codec: the value at "${pointer}" nests deeper than ${rpc_value_depth_max}`);
        assert(!ancestors.has(item), `rpc codec: the value at "${pointer}" refers to itself`);
        ancestors.add(item);
        let encoded: JsonValue;
        if (Array.isArray(item)) {
          const items: readonly unknown[] = item;
          const array: JsonValue[] = [];
          for (let index = 0; index < items.length; index += 1) {
            // A hole reads as undefined but is not one: `index in items` tells them apart.
            assert(index in items, `rpc codec: the array at "${pointer}" has a hole at ${index}`);
            array.push(encode(items[index], `${pointer}/${index}`, depth + 1));
          }
          encoded = array;
        } else {
          assert(isPlainObject(item), `rpc codec: the value at "${pointer}" is ${Object.prototype.toString.call(item)}, not a plain object or array`);
          assert(Object.getOwnPropertySymbols(item).length === 0, `rpc codec: the object at "${pointer}" has symbol keys`);
          const object: Record<string, JsonValue> = {};
          for (const [key, property] of Object.entries(item)) {
            assert(key !== forbidden_key, `rpc codec: the object at "${pointer}" has a "__proto__" key`);
            object[key] = encode(property, `${pointer}/${pointerToken(key)}`, depth + 1);
          }
          encoded = object;
        }
        ancestors.delete(item);
        return encoded;
      }
      case 'function':
      case 'symbol':
        assert(false, `rpc codec: a ${typeof item} at "${pointer}" cannot be sent`);
    }
  };

  const encoded = encode(value, '', 0);
  return {
    value: encoded,
    ...(bigints.length === 0 ? {} : { bigints }),
    ...(undefineds.length === 0 ? {} : { undefineds }),
    ...(negative_zeros.length === 0 ? {} : { negative_zeros }),
  };
}

/** The wire text of a value. */
export function encodeRpcBody(value: unknown): string {
  return JSON.stringify(encodeValue(value));
}

function pointerKeys(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new RpcCodecError(`"${pointer}" is not a JSON Pointer`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~[^01]|~$/.test(token)) throw new RpcCodecError(`"${pointer}" has a bad escape`);
      return token.replaceAll('~1', '/').replaceAll('~0', '~');
    });
}

type Restore = (written: unknown, pointer: string) => unknown;

/**
 * Replaces the value a pointer names, in place. Only a slot that exists is replaced: a pointer
 * can neither add a property nor reach outside the value.
 */
function restoreAt(root: { value: unknown }, pointer: string, restore: Restore): void {
  const keys = pointerKeys(pointer);
  let parent: unknown = root;
  let key = 'value';
  for (const next of keys) {
    parent = (parent as Record<string, unknown>)[key];
    key = next;
    if (Array.isArray(parent)) {
      if (!array_index_pattern.test(key) || Number(key) >= parent.length) throw new RpcCodecError(`"${pointer}" names no item`);
    } else if (typeof parent === 'object' && parent !== null) {
      if (key === forbidden_key || !Object.hasOwn(parent, key)) throw new RpcCodecError(`"${pointer}" names no property`);
    } else {
      throw new RpcCodecError(`"${pointer}" goes through a value that is not an object or array`);
    }
  }
  const slot = parent as Record<string, unknown>;
  slot[key] = restore(slot[key], pointer);
}

const restoreBigint: Restore = (written, pointer) => {
  if (typeof written !== 'string' || !bigint_text_pattern.test(written)) throw new RpcCodecError(`the bigint at "${pointer}" is not written as a decimal string`);
  return BigInt(written);
};
const restoreUndefined: Restore = (written, pointer) => {
  if (written !== null) throw new RpcCodecError(`the undefined at "${pointer}" is not written as null`);
  return undefined;
};
const restoreNegativeZero: Restore = (written, pointer) => {
  if (written !== 0) throw new RpcCodecError(`the -0 at "${pointer}" is not written as 0`);
  return -0;
};

function pointerList(envelope: Record<string, unknown>, name: string): readonly string[] {
  const list = envelope[name];
  if (list === undefined) return [];
  if (!Array.isArray(list) || !list.every((pointer) => typeof pointer === 'string')) throw new RpcCodecError(`${name} is not a list of JSON Pointers`);
  return list;
}

/** Decodes a parsed envelope. Throws RpcCodecError for anything encodeValue would not have written. */
export function decodeValue(envelope: unknown): unknown {
  if (typeof envelope !== 'object' || envelope === null || Array.isArray(envelope)) throw new RpcCodecError('the body is not an encoded value');
  const fields = envelope as Record<string, unknown>;
  for (const key of Object.keys(fields)) if (!envelope_keys.has(key)) throw new RpcCodecError(`the body has an unknown field "${key}"`);
  if (!Object.hasOwn(fields, 'value')) throw new RpcCodecError('the body has no value');
  const root = { value: fields.value };
  // Each slot is restored once: a pointer listed twice, or under two names, would find a value
  // already restored, and is refused by the checks of the second restore.
  for (const pointer of pointerList(fields, 'bigints')) restoreAt(root, pointer, restoreBigint);
  for (const pointer of pointerList(fields, 'undefineds')) restoreAt(root, pointer, restoreUndefined);
  for (const pointer of pointerList(fields, 'negative_zeros')) restoreAt(root, pointer, restoreNegativeZero);
  return root.value;
}

/**
 * Parses and decodes wire text. The limits are checked on the text before it is parsed, so a body
 * nested a million deep costs a scan, not a parse; keys named `__proto__` or `constructor.prototype`
 * are refused, as the public parser refuses them.
 */
export function decodeRpcBody(text: string): unknown {
  const problem = scanJsonText(text, rpc_json_limits);
  // Number literals that are not safe integers are JSON's own doubles here, and taken; a limit
  // gone over or a key given twice (found first by the scan when there is one) is refused.
  if (problem !== undefined && (isStructuralLimit(problem) || problem.kind === 'duplicate_key')) {
    throw new RpcCodecError(`the body goes over a limit or repeats a key (${problem.kind})`);
  }
  let parsed: unknown;
  try {
    parsed = secureJsonParse(text, null, { protoAction: 'error', constructorAction: 'error' });
  } catch {
    throw new RpcCodecError('the body is not JSON, or has a forbidden key');
  }
  return decodeValue(parsed);
}
