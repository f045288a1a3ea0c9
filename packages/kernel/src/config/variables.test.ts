import { describe, expect, it } from 'vitest';
import { ConfigError, integerVar, optional, readVariables, stringVar, urlVar } from './variables';

describe('readVariables', () => {
  it('types each value from its variable', () => {
    const values = readVariables(
      { LIMIT: '20', NAME: 'paygrid' },
      {
        limit: integerVar({ name: 'LIMIT', min: 1, max: 100 }),
        name: stringVar({ name: 'NAME' }),
        cache: optional(urlVar({ name: 'CACHE_URL', protocols: ['redis'] })),
      },
    );
    expect(values).toEqual({ limit: 20, name: 'paygrid', cache: undefined });
  });

  it('refuses a required variable that is unset', () => {
    expect(() => readVariables({}, { name: stringVar({ name: 'NAME' }) })).toThrow(new ConfigError(['NAME is required']));
  });

  it('cuts a very long received value', () => {
    expect(() => readVariables({ LIMIT: '9'.repeat(100) }, { limit: integerVar({ name: 'LIMIT', min: 1, max: 100 }) })).toThrow(
      `LIMIT must be an integer from 1 to 100 (got "${'9'.repeat(80)}...")`,
    );
  });

  it('refuses integers beyond the safe range rather than rounding them', () => {
    expect(() => readVariables({ N: '9007199254740993' }, { n: integerVar({ name: 'N', min: 0, max: Number.MAX_SAFE_INTEGER }) })).toThrow(
      'N must be an integer from 0 to 9007199254740991 (got "9007199254740993")',
    );
  });
});
