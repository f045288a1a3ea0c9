import { describe, expect, it } from 'vitest';
import { ConfigError, integerVar, optional, postgresUrlListVar, readVariables, stringVar, urlVar } from './variables';

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

describe('postgresUrlListVar', () => {
  const shards = { urls: optional(postgresUrlListVar({ name: 'SHARDS', count_max: 3 })) };

  it('reads comma-separated PostgreSQL URLs in order', () => {
    expect(readVariables({ SHARDS: 'postgres://a/one, postgresql://b/two' }, shards)).toEqual({ urls: ['postgres://a/one', 'postgresql://b/two'] });
    expect(readVariables({}, shards)).toEqual({ urls: undefined });
  });

  it('refuses other schemes, empty entries, repeats and too many, without echoing passwords', () => {
    expect(() => readVariables({ SHARDS: 'postgres://a/one,redis://b' }, shards)).toThrow('SHARDS must be comma-separated URLs starting with postgres:// or postgresql://');
    expect(() => readVariables({ SHARDS: 'postgres://a/one,,postgres://b/two' }, shards)).toThrow(ConfigError);
    expect(() => readVariables({ SHARDS: 'postgres://u:secret@a/one,postgres://u:secret@a/one' }, shards)).toThrow('SHARDS must not list a URL twice (got "postgres://u:***@a/one,postgres://u:***@a/one")');
    expect(() => readVariables({ SHARDS: 'postgres://a/1,postgres://a/2,postgres://a/3,postgres://a/4' }, shards)).toThrow('SHARDS must list at most 3 URLs');
  });
});
