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
