// One suite, run against every adapter of the bus port (bus.test.ts), so that services behave the
// same in the all-in-one process and spread over NATS: delivery to every durable subscriber,
// de-duplication by message id, redelivery after a failure with the declared delays, dead letters
// after the last delivery, replay to the one subscriber it died at, and durability across a
// subscriber's close.
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { Bus, BusMessage, SubscribeOptions } from './bus';

export interface OpenedBus {
  readonly bus: Bus;
  /** A subject in a domain of this test's own (the NATS adapter's streams are shared by the server). */
  readonly subject: (rest: string) => string;
  readonly cleanup: () => Promise<void>;
}

const eventually_ms_max = 10_000;

async function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline_ms = Date.now() + eventually_ms_max;
  while (!(await check())) {
    if (Date.now() > deadline_ms) throw new Error(`not in time: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function describeBusContract(open: () => Promise<OpenedBus>): void {
  let opened: OpenedBus;
  let bus: Bus;
  let durable_count = 0;
  const durable = (name: string) => {
    durable_count += 1;
    return `${name}-${durable_count}`;
  };
  const subscription = (subject: string, name: string, handler: (message: BusMessage) => Promise<void>, overrides: Partial<SubscribeOptions> = {}): SubscribeOptions => ({
    subject,
    durable: durable(name),
    handler,
    deliveries_max: 3,
    redelivery_delays_ms: [50, 100],
    handler_timeout_ms: 5_000,
    ...overrides,
  });

  beforeEach(async () => {
    opened = await open();
    bus = opened.bus;
  });

  afterEach(async () => {
    await bus.close();
    await opened.cleanup();
  });

  it('answers a ping while open, and refuses one once closed', async () => {
    await expect(bus.ping()).resolves.toBeUndefined();
    const second = await open();
    await second.bus.close();
    await expect(second.bus.ping()).rejects.toThrow(/closed/);
    await second.cleanup();
  });

  it('delivers each message once to every durable subscriber whose subject takes it, with its id, data and headers', async () => {
    const first: BusMessage[] = [];
    const second: BusMessage[] = [];
    const other: BusMessage[] = [];
    await bus.subscribe(subscription(opened.subject('events.>'), 'first', (message) => Promise.resolve(void first.push(message))));
    await bus.subscribe(subscription(opened.subject('events.*'), 'second', (message) => Promise.resolve(void second.push(message))));
    await bus.subscribe(subscription(opened.subject('other.>'), 'other', (message) => Promise.resolve(void other.push(message))));
    expect(await bus.publish({ subject: opened.subject('events.created'), id: 'evt_one', data: '{"amount":1}', headers: { traceparent: '00-abc-def-01' } })).toMatchObject({ duplicate: false });
    await bus.publish({ subject: opened.subject('events.deep.created'), id: 'evt_two', data: '{"amount":2}' });
    await eventually(() => first.length === 2 && second.length === 1, 'both subscribers got their messages');
    await sleep(100);
    expect(first.map((message) => [message.id, message.subject, message.data, message.delivery])).toEqual([
      ['evt_one', opened.subject('events.created'), '{"amount":1}', 1],
      ['evt_two', opened.subject('events.deep.created'), '{"amount":2}', 1],
    ]);
    expect(first[0]?.headers).toEqual({ traceparent: '00-abc-def-01' });
    expect(second.map((message) => message.id)).toEqual(['evt_one']);
    expect(other).toEqual([]);
  });

  it('handles one message at a time unless the subscriber allows more, and then never more than it allows', async () => {
    const messages_count = 12;
    const watch = () => {
      const seen = { running: 0, most: 0, handled: [] as string[] };
      const handler = async (message: BusMessage): Promise<void> => {
        seen.running += 1;
        seen.most = Math.max(seen.most, seen.running);
        // Long enough that the messages published together are all waiting meanwhile.
        await sleep(20);
        seen.running -= 1;
        seen.handled.push(message.id);
      };
      return { seen, handler };
    };
    const one = watch();
    const four = watch();
    await bus.subscribe(subscription(opened.subject('events.>'), 'one-at-a-time', one.handler));
    await bus.subscribe(subscription(opened.subject('events.>'), 'four-at-a-time', four.handler, { handlers_in_flight_max: 4 }));
    const ids = Array.from({ length: messages_count }, (_, index) => `evt_in_flight_${index}`);
    await Promise.all(ids.map((id) => bus.publish({ subject: opened.subject('events.created'), id, data: '{}' })));
    await eventually(() => one.seen.handled.length === messages_count && four.seen.handled.length === messages_count, 'every message handled by both');
    expect(one.seen.most).toBe(1);
    expect(four.seen.most).toBe(4);
    expect([...four.seen.handled].sort()).toEqual([...ids].sort());
  });

  it('stores a message published twice with one id once, and says the second was a duplicate', async () => {
    const received: string[] = [];
    await bus.subscribe(subscription(opened.subject('events.>'), 'dedupe', (message) => Promise.resolve(void received.push(message.data))));
    expect(await bus.publish({ subject: opened.subject('events.created'), id: 'evt_same', data: '"first"' })).toMatchObject({ duplicate: false });
    expect(await bus.publish({ subject: opened.subject('events.created'), id: 'evt_same', data: '"second"' })).toMatchObject({ duplicate: true });
    await eventually(() => received.length === 1, 'the message arrived');
    await sleep(200);
    expect(received).toEqual(['"first"']);
  });

  it('delivers again after a handler fails, waiting the declared delays, until it succeeds', async () => {
    const deliveries: { delivery: number; at_ms: number }[] = [];
    await bus.subscribe(
      subscription(opened.subject('events.>'), 'flaky', (message) => {
        deliveries.push({ delivery: message.delivery, at_ms: Date.now() });
        return message.delivery < 3 ? Promise.reject(new Error('not yet')) : Promise.resolve();
      }),
    );
    await bus.publish({ subject: opened.subject('events.created'), id: 'evt_flaky', data: '{}' });
    await eventually(() => deliveries.length === 3, 'three deliveries');
    await sleep(300);
    expect(deliveries.map((each) => each.delivery)).toEqual([1, 2, 3]);
    const [first, second, third] = deliveries.map((each) => each.at_ms);
    // The declared delays are 50 ms, then 100 ms; timers may fire a few ms late, never early.
    expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(45);
    expect((third ?? 0) - (second ?? 0)).toBeGreaterThanOrEqual(95);
    expect(await bus.deadLetters(10)).toEqual([]);
  });

  it('makes a dead letter of a message whose every delivery failed, and replays it to that subscriber only', async () => {
    let failing = true;
    const doomed: number[] = [];
    const healthy: string[] = [];
    const dead_subscription = subscription(opened.subject('events.>'), 'doomed', (message) => {
      doomed.push(message.delivery);
      return failing ? Promise.reject(new Error('the receiver is broken')) : Promise.resolve();
    });
    await bus.subscribe(dead_subscription);
    await bus.subscribe(subscription(opened.subject('events.>'), 'healthy', (message) => Promise.resolve(void healthy.push(message.id))));
    await bus.publish({ subject: opened.subject('events.created'), id: 'evt_doomed', data: '{"n":7}', headers: { traceparent: '00-1-2-01' } });
    let letters = await bus.deadLetters(10);
    await eventually(async () => (letters = await bus.deadLetters(10)).length === 1, 'a dead letter');
    expect(doomed).toEqual([1, 2, 3]);
    expect(healthy).toEqual(['evt_doomed']);
    const [letter] = letters;
    expect(letter).toMatchObject({
      message_id: 'evt_doomed',
      subject: opened.subject('events.created'),
      durable: dead_subscription.durable,
      data: '{"n":7}',
      deliveries: 3,
      error: 'the receiver is broken',
    });
    expect(letter?.headers).toEqual({ traceparent: '00-1-2-01' });

    failing = false;
    expect(await bus.replayDeadLetter(letter?.id ?? '')).toBe(true);
    await eventually(() => doomed.length === 4, 'the replay arrived');
    await sleep(200);
    // Only the subscriber it died at gets the replay; the other had it already.
    expect(healthy).toEqual(['evt_doomed']);
    expect(await bus.deadLetters(10)).toEqual([]);
    expect(await bus.replayDeadLetter(letter?.id ?? '')).toBe(false);
  });

  it('keeps what is published while a durable subscriber is closed, and delivers it when it subscribes again', async () => {
    const received: string[] = [];
    const options = subscription(opened.subject('events.>'), 'returning', (message) => Promise.resolve(void received.push(message.id)));
    const first = await bus.subscribe(options);
    await bus.publish({ subject: opened.subject('events.created'), id: 'evt_before', data: '{}' });
    await eventually(() => received.length === 1, 'the first message');
    await first.close();
    await bus.publish({ subject: opened.subject('events.created'), id: 'evt_while_away', data: '{}' });
    await sleep(100);
    expect(received).toEqual(['evt_before']);
    await bus.subscribe(options);
    await eventually(() => received.length === 2, 'the message published while away');
    expect(received).toEqual(['evt_before', 'evt_while_away']);
  });

  it('takes one durable name in two domains as two subscribers, as NATS keeps a consumer per stream', async () => {
    const received: string[] = [];
    const name = durable('shared');
    const handler = (message: BusMessage) => Promise.resolve(void received.push(message.subject));
    await bus.subscribe({ ...subscription(opened.subject('events.>'), 'unused', handler), durable: name });
    const other_domain = opened.subject('events.x').replace(/^[^.]+/, (domain) => `${domain}x`);
    await bus.subscribe({ ...subscription(`${other_domain.split('.')[0] ?? ''}.events.>`, 'unused', handler), durable: name });
    await bus.publish({ subject: opened.subject('events.created'), id: 'evt_first_domain', data: '{}' });
    await bus.publish({ subject: other_domain, id: 'evt_second_domain', data: '{}' });
    await eventually(() => received.length === 2, 'one message in each domain');
    expect(received.sort()).toEqual([opened.subject('events.created'), other_domain].sort());
  });

  it('counts a handler that runs past its timeout as a failed delivery', async () => {
    const deliveries: number[] = [];
    await bus.subscribe(
      subscription(
        opened.subject('events.>'),
        'slow',
        async (message) => {
          deliveries.push(message.delivery);
          if (message.delivery === 1) await sleep(400);
        },
        { handler_timeout_ms: 100 },
      ),
    );
    await bus.publish({ subject: opened.subject('events.created'), id: 'evt_slow', data: '{}' });
    await eventually(() => deliveries.length >= 2, 'a second delivery after the timeout');
    expect(deliveries.slice(0, 2)).toEqual([1, 2]);
  });
}
