// The pure parts of the transport: target parsing, balancing policies, the circuit breaker and
// the deadline context. The HTTP behaviour is in http-upstream.test.ts.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config/variables';
import { createBalancer, type BalancedInstance } from './balancer';
import { CircuitBreaker, circuit_breaker_defaults, type CircuitState } from './circuit-breaker';
import { parseDeadlineHeader, remainingDeadlineMs, runWithDeadline } from './deadline';
import { parseUpstreamTargets, upstream_targets_max } from './targets';

function problemsOf(text: string): readonly string[] {
  try {
    parseUpstreamTargets(text, 'LEDGER_URLS');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be refused`);
}

describe('parseUpstreamTargets', () => {
  it('reads addresses, names, IPv6 literals, default ports and weights', () => {
    expect(parseUpstreamTargets('http://10.0.0.1:8081, http://payments.internal:8080#weight=3,https://[::1]:9443,https://vault.internal')).toEqual([
      { protocol: 'http:', host: '10.0.0.1', port: 8081, weight: 1, resolve: false },
      { protocol: 'http:', host: 'payments.internal', port: 8080, weight: 3, resolve: true },
      { protocol: 'https:', host: '::1', port: 9443, weight: 1, resolve: false },
      { protocol: 'https:', host: 'vault.internal', port: 443, weight: 1, resolve: true },
    ]);
  });

  it('refuses bad input with one ConfigError naming the variable and every problem', () => {
    expect(problemsOf('')).toEqual(['LEDGER_URLS must list at least one origin, like http://host:port']);
    const problems = problemsOf('ftp://a:1,http://b:2/v1,http://user:pw@c:3,http://d:4#weight=0,http://e:5#w=2,not a url,,http://f:6,http://f:6');
    expect(problems).toEqual([
      'LEDGER_URLS: origin 1 "ftp://a:1" must start with http:// or https://',
      'LEDGER_URLS: origin 2 "http://b:2/v1" must be an origin, without a path or query',
      'LEDGER_URLS: origin 3 "http://user:pw@c:3" must not carry credentials',
      'LEDGER_URLS: origin 4 "http://d:4#weight=0": the only option after # is weight=N, an integer from 1 to 1000',
      'LEDGER_URLS: origin 5 "http://e:5#w=2": the only option after # is weight=N, an integer from 1 to 1000',
      'LEDGER_URLS: origin 6 "not a url" is not a URL like http://host:port',
      'LEDGER_URLS: origin 7 "" is empty',
      'LEDGER_URLS: origin 9 "http://f:6" is listed twice',
    ]);
    expect(problemsOf('http://a:1#weight=1001')).toHaveLength(1);
    expect(problemsOf('http://a:1?x=1')).toHaveLength(1);
    const too_many = Array.from({ length: upstream_targets_max + 1 }, (_, index) => `http://10.0.0.1:${1000 + index}`).join(',');
    expect(problemsOf(too_many)).toEqual([`LEDGER_URLS may list at most ${upstream_targets_max} origins (got ${upstream_targets_max + 1})`]);
  });
});

function instances(weights: readonly number[], outstanding: readonly number[] = []): BalancedInstance[] {
  return weights.map((weight, index) => ({ key: `i${index}`, weight, outstanding: outstanding[index] ?? 0 }));
}

function counts(picks: readonly (BalancedInstance | undefined)[]): Record<string, number> {
  const result: Record<string, number> = {};
  for (const pick of picks) if (pick !== undefined) result[pick.key] = (result[pick.key] ?? 0) + 1;
  return result;
}

describe('balancing policies', () => {
  it('round_robin takes each instance in turn', () => {
    const balancer = createBalancer('round_robin');
    const candidates = instances([1, 9, 1]);
    const picks = Array.from({ length: 6 }, () => balancer.pick(candidates)?.key);
    expect(picks).toEqual(['i0', 'i1', 'i2', 'i0', 'i1', 'i2']);
    expect(balancer.pick([])).toBeUndefined();
  });

  it('weighted spreads picks smoothly in the ratio of the weights (nginx smooth weighted round robin)', () => {
    const balancer = createBalancer('weighted');
    const candidates = instances([5, 1, 1]);
    const picks = Array.from({ length: 7 }, () => balancer.pick(candidates)?.key);
    // nginx's documented sequence for weights 5, 1, 1.
    expect(picks).toEqual(['i0', 'i0', 'i1', 'i0', 'i2', 'i0', 'i0']);
    const many = Array.from({ length: 700 }, () => balancer.pick(instances([3, 1, 3])));
    expect(counts(many)).toEqual({ i0: 300, i1: 100, i2: 300 });
  });

  it('least_outstanding takes the instance with fewest calls in flight and shares ties', () => {
    const balancer = createBalancer('least_outstanding');
    expect(balancer.pick(instances([1, 1, 1], [4, 0, 2]))?.key).toBe('i1');
    expect(balancer.pick(instances([1, 1, 1], [3, 3, 1]))?.key).toBe('i2');
    const ties = Array.from({ length: 300 }, () => balancer.pick(instances([1, 1, 1], [0, 0, 0])));
    expect(counts(ties)).toEqual({ i0: 100, i1: 100, i2: 100 });
    // Two tied of three: each of the two gets half, the busy one none.
    const two = Array.from({ length: 300 }, () => balancer.pick(instances([1, 1, 1], [0, 5, 0])));
    expect(counts(two)).toEqual({ i0: 150, i2: 150 });
  });
});

class TestClock {
  now_ms = 0;
  readonly now = (): number => this.now_ms;
}

describe('CircuitBreaker', () => {
  const options = { ...circuit_breaker_defaults, window_calls_min: 4, failure_ratio_max: 0.5, window_ms: 1_000, open_ms: 500, half_open_calls_max: 2 };

  function settle(breaker: CircuitBreaker, failed: boolean): void {
    const permit = breaker.admit();
    expect(permit).toBeDefined();
    permit?.settle(failed ? 'failed' : 'succeeded');
  }

  it('opens at the failure ratio once the window holds enough calls, fails fast, half-opens after the cool-down and closes after the trials', () => {
    const clock = new TestClock();
    const transitions: CircuitState[] = [];
    const breaker = new CircuitBreaker(options, clock.now, (state) => transitions.push(state));
    settle(breaker, true);
    settle(breaker, true);
    settle(breaker, true);
    // Three failures of three: too few calls to judge.
    expect(breaker.state).toBe('closed');
    settle(breaker, false);
    settle(breaker, true);
    expect(breaker.state).toBe('open');
    expect(breaker.admit()).toBeUndefined();
    clock.now_ms += 499;
    expect(breaker.admit()).toBeUndefined();
    clock.now_ms += 1;
    expect(breaker.state).toBe('half_open');
    const first = breaker.admit();
    const second = breaker.admit();
    expect(first).toBeDefined();
    expect(second).toBeDefined();
    // The trials are bounded: a third call while two are in flight fails fast.
    expect(breaker.admit()).toBeUndefined();
    first?.settle('succeeded');
    expect(breaker.state).toBe('half_open');
    second?.settle('succeeded');
    expect(breaker.state).toBe('closed');
    expect(transitions).toEqual(['open', 'half_open', 'closed']);
    // The window starts empty after closing: one failure does not reopen it.
    settle(breaker, true);
    expect(breaker.state).toBe('closed');
  });

  it('reopens when a trial fails, and ignores trials settled after that', () => {
    const clock = new TestClock();
    const breaker = new CircuitBreaker(options, clock.now);
    for (let index = 0; index < 4; index += 1) settle(breaker, true);
    expect(breaker.state).toBe('open');
    clock.now_ms += 500;
    const first = breaker.admit();
    const second = breaker.admit();
    first?.settle('failed');
    expect(breaker.state).toBe('open');
    second?.settle('succeeded');
    expect(breaker.state).toBe('open');
    clock.now_ms += 500;
    expect(breaker.state).toBe('half_open');
  });

  it('counts abandoned calls for nothing, and an abandoned trial frees its place', () => {
    const clock = new TestClock();
    const breaker = new CircuitBreaker(options, clock.now);
    for (let index = 0; index < 10; index += 1) breaker.admit()?.settle('abandoned');
    for (let index = 0; index < 3; index += 1) settle(breaker, true);
    expect(breaker.state).toBe('closed');
    settle(breaker, true);
    expect(breaker.state).toBe('open');
    clock.now_ms += 500;
    breaker.admit()?.settle('abandoned');
    breaker.admit()?.settle('succeeded');
    expect(breaker.state).toBe('half_open');
    breaker.admit()?.settle('succeeded');
    expect(breaker.state).toBe('closed');
  });

  it('forgets failures older than the window', () => {
    const clock = new TestClock();
    const breaker = new CircuitBreaker(options, clock.now);
    for (let index = 0; index < 3; index += 1) settle(breaker, true);
    clock.now_ms += 1_001;
    settle(breaker, false);
    settle(breaker, false);
    settle(breaker, false);
    settle(breaker, true);
    // One failure in the four calls of the last second.
    expect(breaker.state).toBe('closed');
  });
});

describe('deadlines', () => {
  it('gives the time left, and an inner deadline never outlives the outer one', async () => {
    expect(remainingDeadlineMs()).toBeUndefined();
    await runWithDeadline(200, async () => {
      const first = remainingDeadlineMs() ?? -1;
      expect(first).toBeGreaterThan(150);
      expect(first).toBeLessThanOrEqual(200);
      await sleep(20);
      expect(remainingDeadlineMs()).toBeLessThanOrEqual(first - 15);
      runWithDeadline(10_000, () => expect(remainingDeadlineMs()).toBeLessThanOrEqual(200));
      runWithDeadline(5, () => expect(remainingDeadlineMs()).toBeLessThanOrEqual(5));
    });
    expect(remainingDeadlineMs()).toBeUndefined();
  });

  it('reads the header as non-negative integer milliseconds, bounded, and ignores anything else', () => {
    expect(parseDeadlineHeader('250', 30_000)).toBe(250);
    expect(parseDeadlineHeader('0', 30_000)).toBe(0);
    expect(parseDeadlineHeader('99999999', 30_000)).toBe(30_000);
    for (const bad of ['-5', '1.5', 'soon', '', ' 10', undefined, ['10', '20']]) expect(parseDeadlineHeader(bad, 30_000)).toBeUndefined();
  });
});
