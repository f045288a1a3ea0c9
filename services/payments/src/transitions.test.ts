import { describe, expect, it } from 'vitest';
import type { IntentRecord } from './store';
import { attempt_transitions, intent_transitions, order_transitions, refund_transitions, transition } from './transitions';
import { intent_statuses, order_statuses } from './types';
import { orderStatusOf } from './writes';

describe('state tables', () => {
  it('end in final states that go nowhere', () => {
    expect(intent_transitions.succeeded).toEqual([]);
    expect(intent_transitions.canceled).toEqual([]);
    expect(order_transitions.refunded).toEqual([]);
    expect(order_transitions.canceled).toEqual([]);
    expect(attempt_transitions.succeeded).toEqual([]);
    expect(refund_transitions.failed).toEqual([]);
  });

  it('name only known states, and every state is reachable from the first', () => {
    for (const [table, states, first] of [
      [intent_transitions, intent_statuses, 'requires_payment_method'],
      [order_transitions, order_statuses, 'open'],
    ] as const) {
      const reached = new Set<string>([first]);
      let grew = true;
      while (grew) {
        grew = false;
        for (const from of [...reached]) {
          for (const to of (table as Record<string, readonly string[]>)[from] ?? []) {
            expect(states).toContain(to);
            if (!reached.has(to)) {
              reached.add(to);
              grew = true;
            }
          }
        }
      }
      // requires_confirmation is reached by the table even though this service never moves there.
      expect([...reached].sort()).toEqual([...states].sort());
    }
  });

  it('refuses what the tables do not allow', () => {
    expect(transition(intent_transitions, 'succeeded', 'canceled')).toBe('not_allowed');
    expect(transition(intent_transitions, 'requires_capture', 'requires_payment_method')).toBe('not_allowed');
    expect(transition(intent_transitions, 'requires_capture', 'processing')).toBe('ok');
    expect(transition(order_transitions, 'paid', 'open')).toBe('not_allowed');
    expect(transition(attempt_transitions, 'unknown', 'pending')).toBe('ok');
    expect(transition(refund_transitions, 'succeeded', 'failed')).toBe('not_allowed');
  });
});

describe('orderStatusOf', () => {
  const intent = (status: IntentRecord['status'], amount_received = 0n, amount_refunded = 0n) => ({ status, amount_received, amount_refunded }) as IntentRecord;

  it('follows the payments of the order', () => {
    expect(orderStatusOf([])).toBe('open');
    expect(orderStatusOf([intent('requires_payment_method')])).toBe('open');
    expect(orderStatusOf([intent('canceled')])).toBe('canceled');
    expect(orderStatusOf([intent('canceled'), intent('processing')])).toBe('open');
    expect(orderStatusOf([intent('canceled'), intent('succeeded', 100n)])).toBe('paid');
    expect(orderStatusOf([intent('succeeded', 100n, 1n)])).toBe('partially_refunded');
    expect(orderStatusOf([intent('succeeded', 100n, 100n)])).toBe('refunded');
  });
});
