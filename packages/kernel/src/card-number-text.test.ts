import { describe, expect, it } from 'vitest';
import { containsCardNumber, redactCardNumbers } from './card-number-text';

describe('redactCardNumbers', () => {
  it('replaces each run of digits holding a card number, separators and all, and nothing else', () => {
    expect(redactCardNumbers('paid 4242.4242.4242.4242 and 5555\u00a05555\u200b5555 4444, order 12', '[x]')).toBe('paid [x] and [x], order 12');
    expect(redactCardNumbers('/v1/things/４２４２４２４２４２４２４２４２?limit=10', '[x]')).toBe('/v1/things/[x]?limit=10');
    expect(redactCardNumbers('/a b/4242424242424242', '[x]', encodeURI)).toBe('/a%20b/[x]');
  });

  it('returns undefined for text with no card number, long references and IMEIs included', () => {
    for (const text of ['', 'no digits', 'order 123456789012345678901234', 'IMEI 35-209900-176148-1', '4242424242424241']) {
      expect(redactCardNumbers(text, '[x]')).toBeUndefined();
    }
  });

  it('reads hostile runs of digits and separators in linear time', () => {
    const started = performance.now();
    for (const text of ['4 '.repeat(200_000), '4\u200b\u200b\u200b'.repeat(100_000), `${'4.'.repeat(200_000)}x`]) containsCardNumber(text);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
