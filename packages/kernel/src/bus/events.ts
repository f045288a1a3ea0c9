// Domain events on the bus: what an outbox relay publishes and what a consumer of events reads.
//
// - The subject is `<domain>.events.<object type>` (`wallet.events.top_up`,
//   `payments.events.payment_intent`): the domain names the stream, and a consumer takes a whole
//   domain with `<domain>.events.>`.
// - The message id is the event id, so the bus refuses the same event twice within its window, and
//   a consumer's inbox of processed ids is keyed by it.
// - The data is JSON of the tenant the event belongs to and the event as its service wrote it.
//
// `publishEvent` resolves only once the event is safe on the bus: on NATS once the stream stored
// it, on the in-memory bus once every subscriber has handled it (decision 74). A relay marks an
// event published only after it resolved, so an event leaves its outbox only when it is safe
// elsewhere.
import { assert } from '../assert';
import type { Tenant } from '../tenancy';
import type { Bus } from './bus';

/** How long a relay waits for subscribers on a bus that is not durable: past it the event stays in its outbox for the next pass. */
export const event_handled_wait_ms_max = 30_000;

const token_pattern = /^[a-z0-9_-]+$/;

/** An event as a service's outbox holds it. */
export interface BusEvent {
  /** `evt_…`: the message id on the bus. */
  readonly id: string;
  readonly type: string;
  readonly data: { readonly object: Readonly<Record<string, unknown>> };
  /** The object's own version. */
  readonly sequence: number;
  /** Unix seconds. */
  readonly created: number;
}

/** What an event message carries. */
export interface BusEventMessage {
  readonly tenant: Tenant;
  readonly event: BusEvent;
}

/** `<domain>.events.<object type>`. */
export function eventSubject(domain: string, object_type: string): string {
  assert(token_pattern.test(domain), `an event domain is one lower-case token: "${domain}"`);
  assert(token_pattern.test(object_type), `an event's object type is one lower-case token: "${object_type}"`);
  return `${domain}.events.${object_type}`;
}

/** The subject a consumer takes every event of a domain with. */
export function domainEventsSubject(domain: string): string {
  assert(token_pattern.test(domain), `an event domain is one lower-case token: "${domain}"`);
  return `${domain}.events.>`;
}

export function encodeEventMessage(tenant: Tenant, event: BusEvent): string {
  const message: BusEventMessage = {
    tenant: { merchant_id: tenant.merchant_id, livemode: tenant.livemode },
    event: { id: event.id, type: event.type, data: { object: event.data.object }, sequence: event.sequence, created: event.created },
  };
  // Amounts are bigint inside a service and JSON integers on the wire, as webhooks send them; one
  // beyond 2^53 - 1 cannot be read back exactly, and webhooks would refuse it too.
  return JSON.stringify(message, (key: string, value: unknown) => {
    if (typeof value !== 'bigint') return value;
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`event ${event.id}: ${key} is beyond ±(2^53 - 1) and has no exact JSON form`);
    return Number(value);
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Reads an event message. A message that is not one throws a plain error: the consumer's delivery
 * fails, and after its last one the message is a dead letter for a person to look at.
 */
export function decodeEventMessage(data: string): BusEventMessage {
  const parsed: unknown = JSON.parse(data);
  if (!isRecord(parsed) || !isRecord(parsed.tenant) || !isRecord(parsed.event)) throw new Error('an event message is { tenant, event }');
  const { merchant_id, livemode } = parsed.tenant;
  if (typeof merchant_id !== 'string' || merchant_id === '' || typeof livemode !== 'boolean') throw new Error('an event message names its tenant: merchant_id and livemode');
  const { id, type, data: event_data, sequence, created } = parsed.event;
  if (typeof id !== 'string' || typeof type !== 'string' || typeof sequence !== 'number' || typeof created !== 'number') throw new Error('an event has an id, a type, a sequence and created');
  if (!isRecord(event_data) || !isRecord(event_data.object)) throw new Error("an event's data holds its object");
  return { tenant: { merchant_id, livemode }, event: { id, type, data: { object: event_data.object }, sequence, created } };
}

/**
 * Publishes one outbox event of `domain` and resolves once it is safe on the bus: stored (NATS),
 * or handled by every subscriber (memory), within event_handled_wait_ms_max. Rejects otherwise,
 * and the relay keeps the event for its next pass; publishing it again is harmless (the bus
 * de-duplicates by id, and consumers by their inbox).
 */
export async function publishEvent(bus: Pick<Bus, 'publish'>, domain: string, tenant: Tenant, event: BusEvent): Promise<void> {
  const object_type = event.data.object.object;
  assert(typeof object_type === 'string', `event ${event.id} has an object with its type`);
  const result = await bus.publish({ subject: eventSubject(domain, object_type), id: event.id, data: encodeEventMessage(tenant, event) });
  if (result.handled === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`event ${event.id} was not handled by its subscribers within ${event_handled_wait_ms_max} ms`)), event_handled_wait_ms_max);
  });
  try {
    await Promise.race([result.handled, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
