// The bus port: events between services, published once and delivered at least once to every
// durable subscriber, with redelivery after a failure and dead letters after too many. Two
// adapters, chosen by configuration under the same name (openBus in index.ts):
// - memory-bus.ts, for the all-in-one process: queues in this process, durable for its lifetime;
// - nats-bus.ts, for separate processes: NATS JetStream, one stream per domain, durable consumers
//   with explicit acks, publish de-duplication by message id, a dead-letter stream.
//
// A subject is `<domain>.<token>...`, lower-case tokens (`payments.events.payment_intent`); the
// domain names the stream it lives in. A subscription takes one subject, with NATS wildcards (`*`
// one token, `>` the rest): NATS 2.9, the server here, filters a consumer on one subject only.
//
// Delivery is at least once: a handler that throws, or a process that dies before its handler
// returned, gets the message again. So every handler is idempotent, by the message id (an inbox
// of processed ids, written in the transaction of the handler's effect).
import { assert } from '../assert';
import { extractContext, SpanKind, tracingEnabled, withSpan, withTraceHeaders } from '../tracing/tracing';

/** A message as a handler sees it. */
export interface BusMessage {
  /** The publisher's id for the message (an event id): the same id published twice is delivered once. */
  readonly id: string;
  readonly subject: string;
  /** The payload: JSON text. */
  readonly data: string;
  readonly headers: Readonly<Record<string, string>>;
  /** 1 for the first delivery to this subscriber, 2 for the first redelivery, and so on. */
  readonly delivery: number;
}

export interface PublishInput {
  readonly subject: string;
  readonly id: string;
  readonly data: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface PublishResult {
  /** The bus had this id already (within its de-duplication window): nothing new was delivered. */
  readonly duplicate: boolean;
  /**
   * Absent when the message is safe once `publish` resolves (NATS: stored in its stream). A bus
   * that keeps messages only in this process (memory) gives a promise instead: it resolves once
   * every subscriber the message was queued for has handled it, and rejects when it became a dead
   * letter at one of them or the bus closed first. An outbox relay marks an event published only
   * when the message is safe (decision 74); a duplicate gives the first publish's promise.
   */
  readonly handled?: Promise<void>;
}

export type BusHandler = (message: BusMessage) => Promise<void>;

export interface SubscribeOptions {
  /** One subject, with `*` and `>` wildcards allowed. */
  readonly subject: string;
  /** The subscriber's durable name: it keeps its place across restarts, and each name gets every message. */
  readonly durable: string;
  readonly handler: BusHandler;
  /** Deliveries of one message at most; after the last one fails, the message is a dead letter. */
  readonly deliveries_max: number;
  /** The wait before redelivery number n (the first is index 0); the last wait repeats. */
  readonly redelivery_delays_ms: readonly number[];
  /** How long a handler may run before the bus takes the delivery as failed and delivers it again. */
  readonly handler_timeout_ms: number;
  /**
   * Messages of this subscriber handled at once, at most (default 1: one at a time, in order).
   * More lets handlers that write through a group commit share commits; they start in delivery
   * order and may finish in any order, so only a subscriber whose handling does not depend on the
   * order of messages may ask for more.
   */
  readonly handlers_in_flight_max?: number;
}

export interface BusSubscription {
  /** Stops delivering to this subscriber; messages published meanwhile wait for the next subscribe under its durable name. */
  close(): Promise<void>;
}

/** A message that failed every delivery to one subscriber, kept for a person to look at and replay. */
export interface DeadLetter {
  /** The dead letter's own id, for replaying it. */
  readonly id: string;
  readonly message_id: string;
  readonly subject: string;
  readonly durable: string;
  readonly data: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly deliveries: number;
  /** What the last failed delivery threw. */
  readonly error: string;
  readonly dead_ms: number;
}

export type BusLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export interface Bus {
  publish(input: PublishInput): Promise<PublishResult>;
  subscribe(options: SubscribeOptions): Promise<BusSubscription>;
  /** The oldest dead letters, up to `limit`. */
  deadLetters(limit: number): Promise<DeadLetter[]>;
  /**
   * Delivers a dead letter again, to the subscriber it died at only, and removes it from the dead
   * letters. Returns false when there is no dead letter with that id.
   */
  replayDeadLetter(id: string): Promise<boolean>;
  /**
   * Resolves once the bus has shown it can take messages now (for `/readyz`); rejects when it
   * cannot, or once it is closed. NATS: a JetStream round trip to the server.
   */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Called for every dead letter: a metric counts them; the adapter logs a line too. */
export type DeadLetterObserver = (letter: DeadLetter) => void;

/** Deliveries of one message to one subscriber, at most, however a subscription asks. */
export const bus_deliveries_max = 100;
/** The longest wait before a redelivery. */
export const bus_redelivery_delay_ms_max = 60 * 60 * 1_000;
/** The longest a handler may run. */
export const bus_handler_timeout_ms_max = 10 * 60 * 1_000;
/** Messages one subscriber handles at once, at most; the NATS adapter's consumers keep as many unacknowledged (its prefetch). */
export const bus_handlers_in_flight_max = 64;
/** A message's payload, at most: events are small; NATS's own default maximum is 1 MiB. */
export const bus_message_bytes_max = 512 * 1024;
/** Dead letters one listing returns at most. */
export const bus_dead_letters_page_max = 1_000;
/** How long a message id is remembered to refuse the same id again. */
export const bus_duplicate_window_ms = 2 * 60 * 1_000;
/** Header naming the subscriber a replayed dead letter is for: every other subscriber passes over it. */
export const replay_for_header = 'Paygrid-Replay-For';

const subject_token = '[a-z0-9_-]+';
const subject_pattern = new RegExp(`^${subject_token}(\\.${subject_token})+$`);
const filter_pattern = new RegExp(`^${subject_token}(\\.(${subject_token}|\\*))*(\\.>)?$`);
const durable_pattern = /^[a-z][a-z0-9_-]{0,62}$/;
const message_id_pattern = /^[A-Za-z0-9_:.-]{1,128}$/;

/** The domain of a subject: its first token, which names its stream. */
export function domainOf(subject: string): string {
  const domain = subject.split('.', 1)[0];
  assert(domain !== undefined && domain !== '', 'a subject has a domain');
  return domain;
}

export function checkPublish(input: PublishInput): void {
  assert(subject_pattern.test(input.subject), `a published subject is lower-case tokens with no wildcard: "${input.subject}"`);
  assert(message_id_pattern.test(input.id), 'a message id is 1 to 128 letters, digits, _ : . or -');
  assert(Buffer.byteLength(input.data) <= bus_message_bytes_max, 'a bus message is at most bus_message_bytes_max bytes');
}

export function checkSubscribe(options: SubscribeOptions): void {
  assert(filter_pattern.test(options.subject) && options.subject.includes('.'), `a subscription's subject is lower-case tokens, * or a final >: "${options.subject}"`);
  assert(domainOf(options.subject) !== '*', 'a subscription names its domain');
  assert(durable_pattern.test(options.durable), 'a durable name is lower-case letters, digits, _ or -');
  assert(Number.isSafeInteger(options.deliveries_max) && options.deliveries_max >= 1 && options.deliveries_max <= bus_deliveries_max, 'deliveries_max is 1 to bus_deliveries_max');
  assert(options.redelivery_delays_ms.length >= 1, 'a subscription declares its redelivery delays');
  for (const delay of options.redelivery_delays_ms) assert(Number.isSafeInteger(delay) && delay >= 0 && delay <= bus_redelivery_delay_ms_max, 'a redelivery delay is 0 ms to an hour');
  assert(Number.isSafeInteger(options.handler_timeout_ms) && options.handler_timeout_ms >= 1 && options.handler_timeout_ms <= bus_handler_timeout_ms_max, 'handler_timeout_ms is 1 ms to ten minutes');
  const in_flight_max = handlersInFlightMax(options);
  assert(Number.isSafeInteger(in_flight_max) && in_flight_max >= 1 && in_flight_max <= bus_handlers_in_flight_max, 'handlers_in_flight_max is 1 to bus_handlers_in_flight_max');
}

/** How many of a subscriber's messages may be handled at once. */
export function handlersInFlightMax(options: Pick<SubscribeOptions, 'handlers_in_flight_max'>): number {
  return options.handlers_in_flight_max ?? 1;
}

/**
 * Handles `messages` in delivery order, up to `in_flight_max` at once, and resolves once every one
 * started has finished. What `handle` throws ends the loop with it, after the handlings already
 * started have finished: the adapters' handles catch every failure but a failed assertion (a bug).
 */
export async function handleInFlight<Message>(messages: AsyncIterable<Message> | Iterable<Message>, in_flight_max: number, handle: (message: Message) => Promise<void>): Promise<void> {
  const in_flight = new Set<Promise<void>>();
  let broken: { readonly error: unknown } | undefined;
  const started = (message: Message): void => {
    const handling = handle(message).catch((error: unknown) => {
      broken ??= { error };
    });
    in_flight.add(handling);
    void handling.finally(() => in_flight.delete(handling));
  };
  try {
    for await (const message of messages) {
      started(message);
      if (in_flight.size >= in_flight_max) await Promise.race(in_flight);
      if (broken !== undefined) break;
    }
  } finally {
    await Promise.all(in_flight);
  }
  if (broken !== undefined) throw broken.error;
}

/** The wait before the redelivery that follows failed delivery number `delivery` (1-based). */
export function redeliveryDelayMs(options: Pick<SubscribeOptions, 'redelivery_delays_ms'>, delivery: number): number {
  const delays = options.redelivery_delays_ms;
  const delay = delays[Math.min(delivery, delays.length) - 1];
  assert(delay !== undefined, 'a subscription has redelivery delays');
  return delay;
}

/** Whether `subject` is one that `filter` (with NATS wildcards) takes. */
export function subjectMatches(filter: string, subject: string): boolean {
  const filter_tokens = filter.split('.');
  const tokens = subject.split('.');
  for (let index = 0; index < filter_tokens.length; index += 1) {
    const wanted = filter_tokens[index];
    if (wanted === '>') return tokens.length > index;
    const token = tokens[index];
    if (token === undefined) return false;
    if (wanted !== '*' && wanted !== token) return false;
  }
  return tokens.length === filter_tokens.length;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Publishes inside a producer span whose `traceparent` travels in the message's headers, so that
 * each subscriber's span (runHandler) continues the publisher's trace. Both adapters publish
 * through it; with tracing off it is `publish(input)`.
 */
export async function tracedPublish(input: PublishInput, publish: (input: PublishInput) => Promise<PublishResult>): Promise<PublishResult> {
  if (!tracingEnabled()) return publish(input);
  return withSpan(`publish ${input.subject}`, { kind: SpanKind.PRODUCER, attributes: { 'messaging.operation.type': 'send', 'messaging.destination.name': input.subject, 'messaging.message.id': input.id } }, async () => {
    const headers = withTraceHeaders(input.headers ?? {});
    return publish(headers === undefined ? input : { ...input, headers });
  });
}

/** Runs a handler with its timeout: past it, the delivery counts as failed (the handler may still finish; it is idempotent). */
export async function runHandler(handler: BusHandler, message: BusMessage, timeout_ms: number): Promise<void> {
  if (!tracingEnabled()) {
    await runHandlerNow(handler, message, timeout_ms);
    return;
  }
  // A consumer span per delivery, child of the publisher's span when the message carries its traceparent.
  await withSpan(
    `process ${message.subject}`,
    {
      kind: SpanKind.CONSUMER,
      parent: extractContext(message.headers),
      attributes: { 'messaging.operation.type': 'process', 'messaging.destination.name': message.subject, 'messaging.message.id': message.id, 'paygrid.bus.delivery': message.delivery },
    },
    () => runHandlerNow(handler, message, timeout_ms),
  );
}

async function runHandlerNow(handler: BusHandler, message: BusMessage, timeout_ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`the handler ran past ${timeout_ms} ms`)), timeout_ms);
  });
  try {
    await Promise.race([handler(message), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
