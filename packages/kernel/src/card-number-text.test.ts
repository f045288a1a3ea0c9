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
    // Time against the same work at a quarter of the size, in the same run, rather than against a
    // clock: linear reading takes about 4 times as long, quadratic about 16 times, whatever else
    // the machine is doing. The best of three runs of each keeps one stall from deciding.
    const hostile = [(runs: number) => '4 '.repeat(runs), (runs: number) => '4\u200b\u200b\u200b'.repeat(runs / 2), (runs: number) => `${'4.'.repeat(runs)}x`];
    const fastest = (text: string): number => {
      let best = Number.POSITIVE_INFINITY;
      for (let attempt = 0; attempt < 3; attempt++) {
        const started = performance.now();
        containsCardNumber(text);
        best = Math.min(best, performance.now() - started);
      }
      return best;
    };
    for (const make of hostile) {
      const quarter = fastest(make(50_000));
      const whole = fastest(make(200_000));
      // A millisecond of slack: timers are coarse when the quarter takes almost nothing.
      expect(whole).toBeLessThan(8 * quarter + 1);
    }
  });
});
