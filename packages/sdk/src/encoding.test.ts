import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeJsonBody, encodeQuery } from './encoding';
import { expandPath, pathParameterNames } from './routes';

describe('encodeJsonBody', () => {
  it('matches JSON.stringify for plain JSON values with safe integers', () => {
    const json_value = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.constant(null),
        fc.boolean(),
        fc.string(),
        fc.maxSafeInteger(),
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(fc.string(), tie('value'), { maxKeys: 4 }),
      ),
    })).value;
    fc.assert(
      fc.property(json_value, (value) => {
        expect(encodeJsonBody(value)).toBe(JSON.stringify(value));
      }),
    );
  });

  it('leaves out undefined members like JSON.stringify', () => {
    expect(encodeJsonBody({ a: 1, b: undefined, c: [undefined] })).toBe('{"a":1,"c":[null]}');
  });

  it('writes bigints exactly', () => {
    expect(encodeJsonBody({ amount: 123456789012345678901234567890n })).toBe('{"amount":123456789012345678901234567890}');
  });

  it('refuses numbers that are not safe integers, naming the field', () => {
    expect(() => encodeJsonBody({ amount: 0.1 })).toThrow(/'amount'/);
    expect(() => encodeJsonBody({ bank_account: { limits: [1, Infinity] } })).toThrow(/'bank_account\.limits\[1\]'/);
    expect(() => encodeJsonBody(Number.MAX_SAFE_INTEGER + 1)).toThrow(/the request body/);
    expect(() => encodeJsonBody({ amount: Number.NaN })).toThrow(RangeError);
  });

  it('refuses values without a JSON form', () => {
    expect(() => encodeJsonBody({ callback: () => 1 })).toThrow(TypeError);
    expect(() => encodeJsonBody({ marker: Symbol('x') })).toThrow(TypeError);
  });
});

describe('encodeQuery', () => {
  it('sorts by key, drops undefined and percent-encodes', () => {
    expect(encodeQuery({ starting_after: 'a b&c', limit: 10, ending_before: undefined, active: true })).toBe(
      '?active=true&limit=10&starting_after=a%20b%26c',
    );
    expect(encodeQuery({})).toBe('');
    expect(encodeQuery(undefined)).toBe('');
  });

  it('gives the same string whatever the insertion order', () => {
    expect(encodeQuery({ b: '2', a: '1' })).toBe(encodeQuery({ a: '1', b: '2' }));
  });

  it('refuses a number that is not a safe integer', () => {
    expect(() => encodeQuery({ limit: 2.5 })).toThrow(RangeError);
  });
});

describe('expandPath', () => {
  it('fills and encodes every parameter', () => {
    expect(pathParameterNames('/v1/merchants/{id}/api_keys/{key}/roll')).toEqual(['id', 'key']);
    expect(expandPath('/v1/merchants/{id}/api_keys/{key}/roll', { id: 'mch_1', key: 'k?1' })).toBe('/v1/merchants/mch_1/api_keys/k%3F1/roll');
  });

  it('refuses a missing or empty parameter', () => {
    expect(() => expandPath('/v1/wallets/{id}', {})).toThrow(TypeError);
    expect(() => expandPath('/v1/wallets/{id}', { id: '' })).toThrow(TypeError);
  });
});
