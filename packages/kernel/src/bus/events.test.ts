import { describe, expect, it } from 'vitest';
import { decodeEventMessage, encodeEventMessage, eventSubject, publishEvent } from './events';
import { createMemoryBus } from './memory-bus';

const tenant = { merchant_id: 'mer_1', livemode: false };
const event = { id: 'evt_1', type: 'payment_intent.succeeded', data: { object: { id: 'pi_1', object: 'payment_intent', amount: 2_500n } }, sequence: 3, created: 1_700_000_000 };

describe('event messages', () => {
  it('names the subject by domain and object type, and carries the tenant and the event with amounts as JSON integers', () => {
    expect(eventSubject('payments', 'payment_intent')).toBe('payments.events.payment_intent');
    const data = encodeEventMessage(tenant, event);
    expect(JSON.parse(data)).toEqual({ tenant, event: { ...event, data: { object: { id: 'pi_1', object: 'payment_intent', amount: 2_500 } } } });
    expect(decodeEventMessage(data)).toEqual({ tenant, event: { ...event, data: { object: { id: 'pi_1', object: 'payment_intent', amount: 2_500 } } } });
  });

  it('refuses an amount that JSON cannot carry exactly, and a message that is not an event message', () => {
    expect(() => encodeEventMessage(tenant, { ...event, data: { object: { object: 'payment_intent', amount: 2n ** 53n } } })).toThrow('beyond');
    expect(() => decodeEventMessage('{"tenant":{"merchant_id":"mer_1"},"event":{}}')).toThrow('tenant');
    expect(() => decodeEventMessage('[]')).toThrow('{ tenant, event }');
    expect(() => decodeEventMessage('not json')).toThrow();
  });

  it('resolves a publish on the in-process bus only once the subscribers handled the event', async () => {
    const bus = createMemoryBus();
    const handled: string[] = [];
    await bus.subscribe({
      subject: 'payments.events.>',
      durable: 'webhooks',
      handler: async (message) => {
        await new Promise((resolve) => setTimeout(resolve, 50));
        handled.push(`${message.subject} ${message.id}`);
      },
      deliveries_max: 1,
      redelivery_delays_ms: [10],
      handler_timeout_ms: 1_000,
    });
    await publishEvent(bus, 'payments', tenant, event);
    expect(handled).toEqual(['payments.events.payment_intent evt_1']);
    await bus.close();
  });
});
