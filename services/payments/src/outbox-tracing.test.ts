// The relay publishes each event in the trace of the request that wrote it (its stored
// traceparent), whatever context the relay pass runs in: a pass kicked by one request, or by a
// timer, publishes the events of other requests too.
import { join } from 'node:path';
import { createSqliteDatabase, currentSpanContext, GroupCommitter, openSqlite, startTracing, systemClock, withSpan, type Tenant, type Tracing } from '@paygrid/kernel';
import { InMemorySpanExporter, temporaryDirectory } from '@paygrid/kernel/testing';
import { afterEach, expect, it } from 'vitest';
import { payments_migrations } from './migrations';
import { relayEvents } from './outbox';
import type { EventObject, PaymentEvent } from './types';
import { emit } from './writes';

let tracing: Tracing | undefined;

afterEach(async () => {
  await tracing?.shutdown();
  tracing = undefined;
});

it('publishes each event in the trace that wrote it, not in the trace of the pass', async () => {
  const exporter = new InMemorySpanExporter();
  tracing = startTracing({ service_name: 'paygrid-payments', exporter });
  const directory = await temporaryDirectory();
  const database = createSqliteDatabase(openSqlite(join(directory.path, 'payments.sqlite')));
  try {
    await database.migrate(payments_migrations);
    const owner = { id: 'pi_1', merchant_id: 'acct_1', livemode: false };
    const object = { id: 'pi_1', object: 'payment_intent' } as unknown as EventObject;
    const writers: string[] = [];
    for (const name of ['request one', 'request two']) {
      await withSpan(name, {}, async (span) => {
        writers.push(span?.spanContext().traceId ?? '');
        await database.transaction((tx) => emit(tx, owner, 'payment_intent.succeeded', object, writers.length, systemClock.now()));
      });
    }
    // Written outside any span: published outside any trace, not in the pass's.
    await database.transaction((tx) => emit(tx, owner, 'payment_intent.succeeded', object, 3, systemClock.now()));
    const published: { event: string; trace_id: string | undefined }[] = [];
    const publisher = {
      publish: (_tenant: Tenant, event: PaymentEvent): Promise<void> => {
        published.push({ event: event.id, trace_id: currentSpanContext()?.traceId });
        return Promise.resolve();
      },
    };
    let pass_trace: string | undefined;
    await withSpan('relay pass', {}, async (span) => {
      pass_trace = span?.spanContext().traceId;
      await relayEvents(database, new GroupCommitter(database), publisher, systemClock, () => undefined);
    });
    expect(published.map((entry) => entry.trace_id)).toEqual([writers[0], writers[1], undefined]);
    expect(pass_trace).toBeDefined();
    expect(published.map((entry) => entry.trace_id)).not.toContain(pass_trace);
  } finally {
    await database.close();
    await directory.remove();
  }
});
