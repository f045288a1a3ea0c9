import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../assert';
import { RpcCodecError, decodeRpcBody, encodeRpcBody, encodeValue, rpc_value_depth_max } from './codec';

// Values as an in-process call may pass or return them: plain objects and arrays holding bigints
// (amounts), undefined (present, beside properties that are absent), null, -0, doubles and strings,
// with keys full of the characters JSON Pointers escape.
// `constructor` is left to its own test: toStrictEqual compares the property `constructor` as the
// objects' class, so two equal objects with that key read as different.
const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('~', '/', '~1', '~0/', '', '0', '12', 'amount')).filter((text) => text !== '__proto__' && text !== 'constructor');
const leaf = fc.oneof(
  fc.bigInt({ min: -(2n ** 130n), max: 2n ** 130n }),
  fc.constant(undefined),
  fc.constant(null),
  fc.boolean(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.constantFrom(0, -0, Number.MAX_SAFE_INTEGER, 2 ** 60, 5e-324),
  fc.string({ maxLength: 8 }),
);
const { value: valueArbitrary } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value'), { maxLength: 5 }),
    // Spread, since null-prototype objects come back with the ordinary prototype.
    fc.dictionary(key, tie('value'), { maxKeys: 5 }).map((dictionary) => ({ ...dictionary })),
  ),
}));

function roundTrip(value: unknown): unknown {
  return decodeRpcBody(encodeRpcBody(value));
}

function nested(depth: number): unknown {
  let value: unknown = [1n];
  for (let level = 1; level < depth; level += 1) value = level % 2 === 0 ? [value] : { inner: value };
  return value;
}

describe('rpc codec', () => {
  it('gives back exactly what it was given: bigints, undefined beside absent, -0, null, nesting', () => {
    fc.assert(
      fc.property(valueArbitrary, (value) => {
        // toStrictEqual tells undefined from absent and -0 from 0.
        expect(roundTrip(value)).toStrictEqual(value);
      }),
      { numRuns: 2_000 },
    );
  });

  it('keeps call arguments as an array, optional arguments left out or given as undefined', () => {
    const args = [{ merchant_id: 'm_1', livemode: false }, 'wal_1', { amount: 12_345_678_901_234_567_890n, idempotency_key: undefined }, undefined];
    const decoded = roundTrip(args) as unknown[];
    expect(decoded).toStrictEqual(args);
    expect(decoded).toHaveLength(4);
    expect(typeof (decoded[2] as { amount: unknown }).amount).toBe('bigint');
    expect('idempotency_key' in (decoded[2] as object)).toBe(true);
    expect(roundTrip([{ merchant_id: 'm_1', livemode: false }, { amount: 1n }])).toStrictEqual([{ merchant_id: 'm_1', livemode: false }, { amount: 1n }]);
    expect('description' in (roundTrip({ amount: 1n }) as object)).toBe(false);
  });

  it('writes amounts beside the payload, not as tag objects, so they add no nesting', () => {
    expect(encodeValue({ balance: { available: 10n, pending: -0 }, note: undefined })).toEqual({
      value: { balance: { available: '10', pending: 0 }, note: null },
      bigints: ['/balance/available'],
      undefineds: ['/note'],
      negative_zeros: ['/balance/pending'],
    });
    expect(encodeValue({ 'a/b': { '~': 1n } })).toEqual({ value: { 'a/b': { '~': '1' } }, bigints: ['/a~1b/~0'] });
    expect(encodeValue(undefined)).toEqual({ value: null, undefineds: [''] });
    expect(encodeValue('plain')).toEqual({ value: 'plain' });
    // A key named constructor is data like any other (webhook event data may hold one).
    const decoded = roundTrip({ constructor: { amount: 5n } }) as { constructor: unknown };
    expect(Object.hasOwn(decoded, 'constructor')).toBe(true);
    expect(decoded.constructor).toStrictEqual({ amount: 5n });
  });

  it(`takes values ${rpc_value_depth_max} deep, and refuses deeper ones`, () => {
    expect(roundTrip(nested(rpc_value_depth_max))).toStrictEqual(nested(rpc_value_depth_max));
    expect(() => encodeRpcBody(nested(rpc_value_depth_max + 1))).toThrow(AssertionError);
    const deep_text = `{"value":${'['.repeat(rpc_value_depth_max + 1)}${']'.repeat(rpc_value_depth_max + 1)}}`;
    expect(() => decodeRpcBody(deep_text)).toThrow(RpcCodecError);
  });

  it('refuses, by assertion, anything that is not plain data', () => {
    class Amount {
      constructor(readonly minor: bigint) {}
    }
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const hole: unknown[] = [];
    hole[1] = 1;
    const refused: unknown[] = [
      () => 1,
      { callback: () => 1 },
      Symbol('s'),
      { [Symbol('s')]: 1 },
      Number.NaN,
      [Number.POSITIVE_INFINITY],
      { at: new Date(0) },
      Buffer.from('card'),
      new Map([[1, 2]]),
      new Amount(1n),
      cycle,
      hole,
      JSON.parse('{"__proto__": {"polluted": true}}'),
    ];
    for (const value of refused) expect(() => encodeRpcBody(value), String(value)).toThrow(AssertionError);
    // The same object twice, side by side, is no cycle.
    const shared = { amount: 1n };
    expect(roundTrip([shared, shared])).toStrictEqual([{ amount: 1n }, { amount: 1n }]);
  });

  it('refuses bodies it did not write', () => {
    const refused = [
      '',
      'not json',
      '[1]',
      '{"value": 1, "extra": []}',
      '{"bigints": []}',
      '{"value": {"a": 1}, "bigints": ["/a"]}',
      '{"value": {"a": "1.5"}, "bigints": ["/a"]}',
      '{"value": {"a": "01"}, "bigints": ["/a"]}',
      '{"value": {"a": "1"}, "bigints": ["/b"]}',
      '{"value": {"a": "1"}, "bigints": ["a"]}',
      '{"value": {"a": "1"}, "bigints": ["/a", "/a"]}',
      '{"value": {"a": "1"}, "bigints": ["/a"], "undefineds": ["/a"]}',
      '{"value": [null], "undefineds": ["/1"]}',
      '{"value": [null], "undefineds": ["/01"]}',
      '{"value": {"a": 1}, "undefineds": ["/a"]}',
      '{"value": {"a": 1}, "negative_zeros": ["/a"]}',
      '{"value": "x", "bigints": ["/0"]}',
      '{"value": {"a": null}, "undefineds": ["/a~2"]}',
      '{"value": {"a": 1, "a": 2}}',
      '{"value": {"__proto__": {"polluted": true}}}',
      '{"value": {}, "bigints": "/a"}',
    ];
    for (const text of refused) expect(() => decodeRpcBody(text), text).toThrow(RpcCodecError);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
