import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { describeWithNats } from '../testing';
import { subjectMatches } from './bus';
import { describeBusContract } from './bus-contract';
import { createMemoryBus } from './memory-bus';
import { createNatsBus } from './nats-bus';

/** Deletes every stream of one test's prefix: tests share the NATS server and leave nothing behind. */
async function deleteStreams(url: string, prefix: string): Promise<void> {
  const connection = await connect({ servers: url });
  try {
    const manager = await jetstreamManager(connection);
    for await (const stream of manager.streams.list()) {
      if (stream.config.name.startsWith(`${prefix.toUpperCase()}_`)) await manager.streams.delete(stream.config.name);
    }
  } finally {
    await connection.close();
  }
}

describe('bus subjects', () => {
  it('matches NATS wildcards: * one token, > the rest', () => {
    expect(subjectMatches('orders.events.*', 'orders.events.created')).toBe(true);
    expect(subjectMatches('orders.events.*', 'orders.events.deep.created')).toBe(false);
    expect(subjectMatches('orders.events.>', 'orders.events.deep.created')).toBe(true);
    expect(subjectMatches('orders.events.>', 'orders.events')).toBe(false);
    expect(subjectMatches('orders.*.created', 'orders.events.created')).toBe(true);
    expect(subjectMatches('orders.events.created', 'orders.events.created')).toBe(true);
    expect(subjectMatches('orders.events.created', 'orders.events.updated')).toBe(false);
  });
});

describe('in-memory bus', () => {
  describeBusContract(() => Promise.resolve({ bus: createMemoryBus(), subject: (rest: string) => `orders.${rest}`, cleanup: () => Promise.resolve() }));

  const settings = { deliveries_max: 2, redelivery_delays_ms: [20], handler_timeout_ms: 1_000 };
  const settled = (promise: Promise<void> | undefined) =>
    (promise ?? Promise.resolve()).then(
      () => 'handled',
      (error: unknown) => `rejected: ${error instanceof Error ? error.message : String(error)}`,
    );

  it('says when a message is handled: a relay on this bus marks an event published only then', async () => {
    const bus = createMemoryBus();
    const handled: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    await bus.subscribe({ subject: 'orders.events.>', durable: 'slow', handler: async (message) => { await gate; handled.push(`slow ${message.id}`); }, ...settings });
    await bus.subscribe({ subject: 'orders.events.>', durable: 'quick', handler: (message) => Promise.resolve(void handled.push(`quick ${message.id}`)), ...settings });
    const published = await bus.publish({ subject: 'orders.events.created', id: 'evt_1', data: '{}' });
    let outcome = 'pending';
    void settled(published.handled).then((result) => (outcome = result));
    await new Promise((resolve) => setTimeout(resolve, 50));
    // One subscriber of two has handled it: not yet.
    expect(handled).toEqual(['quick evt_1']);
    expect(outcome).toBe('pending');
    release();
    expect(await settled(published.handled)).toBe('handled');
    // A duplicate is given the first publish's answer.
    const again = await bus.publish({ subject: 'orders.events.created', id: 'evt_1', data: '{}' });
    expect(again.duplicate).toBe(true);
    expect(await settled(again.handled)).toBe('handled');
    // Nobody to deliver to: nothing to wait for.
    expect(await settled((await bus.publish({ subject: 'invoices.events.created', id: 'evt_2', data: '{}' })).handled)).toBe('handled');
    await bus.close();
  });

  it('rejects the wait for a message that became a dead letter, and for one still queued when the bus closes', async () => {
    const bus = createMemoryBus();
    const away = await bus.subscribe({ subject: 'orders.events.>', durable: 'away', handler: () => Promise.resolve(), ...settings });
    await away.close();
    await bus.subscribe({ subject: 'orders.events.>', durable: 'broken', handler: () => Promise.reject(new Error('no database')), ...settings });
    const dead = await bus.publish({ subject: 'orders.events.created', id: 'evt_dead', data: '{}' });
    expect(await settled(dead.handled)).toBe('rejected: message evt_dead is a dead letter at broken: no database');
    const queued = await bus.publish({ subject: 'orders.events.created', id: 'evt_queued', data: '{}' });
    await bus.close();
    expect(await settled(queued.handled)).toBe('rejected: the bus closed before every subscriber handled the message');
  });
});

describeWithNats('NATS JetStream bus', (url) => {
  describeBusContract(async () => {
    const prefix = `t${randomBytes(6).toString('hex')}`;
    const bus = await createNatsBus({ url, prefix });
    return { bus, subject: (rest: string) => `orders.${rest}`, cleanup: () => deleteStreams(url, prefix) };
  });

  it('keeps a durable subscriber’s place across connections, as after a restart of its process', async () => {
    const prefix = `t${randomBytes(6).toString('hex')}`;
    const received: string[] = [];
    const options = {
      subject: 'orders.events.>',
      durable: 'restarting',
      handler: (message: { id: string }) => Promise.resolve(void received.push(message.id)),
      deliveries_max: 3,
      redelivery_delays_ms: [50],
      handler_timeout_ms: 5_000,
    };
    try {
      const first = await createNatsBus({ url, prefix });
      await first.subscribe(options);
      await first.publish({ subject: 'orders.events.created', id: 'evt_a', data: '{}' });
      for (let tries = 0; received.length < 1 && tries < 500; tries += 1) await new Promise((resolve) => setTimeout(resolve, 10));
      await first.close();
      // Published by another process while the subscriber's process is down.
      const publisher = await createNatsBus({ url, prefix });
      await publisher.publish({ subject: 'orders.events.created', id: 'evt_b', data: '{}' });
      await publisher.close();
      const restarted = await createNatsBus({ url, prefix });
      await restarted.subscribe(options);
      for (let tries = 0; received.length < 2 && tries < 500; tries += 1) await new Promise((resolve) => setTimeout(resolve, 10));
      await restarted.close();
      expect(received).toEqual(['evt_a', 'evt_b']);
    } finally {
      await deleteStreams(url, prefix);
    }
  });
});
