// The bus on NATS JetStream, for services in separate processes.
//
// - One stream per domain: `<PREFIX>_<DOMAIN>` takes the subjects `<prefix>.<domain>.>`, kept on
//   file for stream_max_age_ms, with a de-duplication window: a message published twice with one
//   id (`Nats-Msg-Id`) within it is stored once, and the second publish is told `duplicate`.
// - One durable pull consumer per subscriber, on one filter subject (NATS 2.9 takes one), with
//   explicit acks. A handler that throws is answered with a NAK and the subscription's delay; a
//   process that dies mid-handler leaves the message unacknowledged, and the server delivers it
//   again after the ack wait.
// - Dead letters: after the last allowed delivery fails, the message is copied to the stream
//   `<PREFIX>_DEAD` (subject `<prefix>_dead.<durable>`), with headers saying where it died and why,
//   and terminated in its own stream. The consumer allows one delivery more than the subscription
//   does, so that a message whose last delivery died with its process is buried on the next one
//   instead of being left at the server's limit, where nothing would see it again.
// - Replaying a dead letter publishes it again on its subject with `Paygrid-Replay-For: <durable>`,
//   which every other subscriber acknowledges without handling, and deletes it from the dead letters.
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { connect, headers as natsHeaders, nanos, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { assert, isAssertionError } from '../assert';
import {
  bus_dead_letters_page_max,
  bus_duplicate_window_ms,
  bus_handlers_in_flight_max,
  checkPublish,
  checkSubscribe,
  domainOf,
  handleInFlight,
  handlersInFlightMax,
  messageOf,
  redeliveryDelayMs,
  replay_for_header,
  runHandler,
  tracedPublish,
  type Bus,
  type BusLog,
  type BusSubscription,
  type DeadLetter,
  type DeadLetterObserver,
  type PublishInput,
  type PublishResult,
  type SubscribeOptions,
} from './bus';

/** How long a domain's stream keeps a message: long past any consumer's redeliveries. */
export const stream_max_age_ms = 7 * 24 * 60 * 60 * 1_000;
/** How long a dead letter is kept for a person to look at. */
export const dead_letter_max_age_ms = 30 * 24 * 60 * 60 * 1_000;
/**
 * Messages a consumer fetches ahead of its handler, at most, and leaves unacknowledged on the
 * server: at least as many as a subscription may handle at once.
 */
export const consumer_prefetch_max = 64;
assert(consumer_prefetch_max >= bus_handlers_in_flight_max, 'a consumer fetches as many messages as a subscription may handle at once');
/** The ack wait beyond the handler's timeout: the bus answers a timed-out handler itself first. */
const ack_wait_grace_ms = 5_000;
/** A header value is one line; a long error is cut. */
const header_value_length_max = 500;
/** How many sequence numbers of the dead-letter stream one listing reads past deleted ones, at most. */
const dead_letter_scan_max = 10_000;
/** The prefix of this deployment's streams and subjects unless one is given: `paygrid`. */
export const nats_prefix_default = 'paygrid';

const message_id_header = 'Paygrid-Message-Id';
const dead_subject_header = 'Paygrid-Dead-Subject';
const dead_durable_header = 'Paygrid-Dead-Durable';
const dead_error_header = 'Paygrid-Dead-Error';
const dead_deliveries_header = 'Paygrid-Dead-Deliveries';
const dead_ms_header = 'Paygrid-Dead-Ms';
const prefix_pattern = /^[a-z][a-z0-9_]{0,30}$/;

export interface NatsBusOptions {
  readonly url: string;
  /** Names this deployment's streams and subjects, so that several can share a server (tests do). */
  readonly prefix?: string;
  readonly log?: BusLog;
  readonly onDeadLetter?: DeadLetterObserver;
}

function headerValue(value: string): string {
  const line = value.replace(/[\r\n]+/g, ' ');
  return line.length <= header_value_length_max ? line : line.slice(0, header_value_length_max);
}

function recordOf(headers: MsgHdrs | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  if (headers === undefined) return record;
  for (const [key, values] of headers) {
    const value = values[0];
    if (value !== undefined) record[key] = value;
  }
  return record;
}

function headersOf(record: Readonly<Record<string, string>>): MsgHdrs {
  const built = natsHeaders();
  for (const [key, value] of Object.entries(record)) built.set(key, headerValue(value));
  return built;
}

/** Headers the bus adds for itself, which a handler's message does not carry. */
function ownHeader(key: string): boolean {
  return key === 'Nats-Msg-Id' || key === message_id_header || key.startsWith('Paygrid-Dead-');
}

export async function createNatsBus(options: NatsBusOptions): Promise<Bus> {
  const prefix = options.prefix ?? nats_prefix_default;
  assert(prefix_pattern.test(prefix), 'a NATS bus prefix is lower-case letters, digits or _');
  const log: BusLog = options.log ?? (() => undefined);
  const connection: NatsConnection = await connect({ servers: options.url, name: `paygrid-bus-${prefix}` });
  const manager: JetStreamManager = await jetstreamManager(connection);
  const client: JetStreamClient = jetstream(connection);
  const dead_stream = `${prefix.toUpperCase()}_DEAD`;
  const streams = new Map<string, Promise<string>>();
  const loops = new Set<Promise<void>>();
  const consumed = new Set<ConsumerMessages>();
  let closed = false;

  const streamOf = (domain: string) => `${prefix.toUpperCase()}_${domain.toUpperCase().replace(/-/g, '_')}`;

  /** Creates a stream once, or finds it there. */
  const ensureStream = (name: string, subjects: string[], max_age_ms: number): Promise<string> => {
    let ensured = streams.get(name);
    if (ensured === undefined) {
      ensured = (async () => {
        const config = { name, subjects, retention: RetentionPolicy.Limits, storage: StorageType.File, max_age: nanos(max_age_ms), duplicate_window: nanos(bus_duplicate_window_ms) };
        try {
          await manager.streams.info(name);
          await manager.streams.update(name, config);
        } catch (error) {
          if (isAssertionError(error)) throw error;
          await manager.streams.add(config);
        }
        return name;
      })();
      streams.set(name, ensured);
      // A failed creation is tried again by the next caller.
      ensured.catch(() => streams.delete(name));
    }
    return ensured;
  };

  const domainStream = (subject: string) => {
    const domain = domainOf(subject);
    return ensureStream(streamOf(domain), [`${prefix}.${domain}.>`], stream_max_age_ms);
  };

  const bury = async (message: JsMsg, durable: string, deliveries: number, error: string): Promise<void> => {
    await ensureStream(dead_stream, [`${prefix}_dead.>`], dead_letter_max_age_ms);
    const original = recordOf(message.headers);
    const subject = message.subject.slice(prefix.length + 1);
    const dead_ms = Date.now();
    const headers = headersOf({
      ...original,
      [dead_subject_header]: subject,
      [dead_durable_header]: durable,
      [dead_error_header]: error,
      [dead_deliveries_header]: String(deliveries),
      [dead_ms_header]: String(dead_ms),
    });
    // One dead letter per message and subscriber, however often this runs.
    const stored = await client.publish(`${prefix}_dead.${durable}`, message.data, { msgID: `dead:${durable}:${message.info.stream}:${message.info.streamSequence}`, headers });
    const message_id = original[message_id_header] ?? '';
    log('error', 'a message failed every delivery and is a dead letter', { dead_letter: stored.seq, message: message_id, subject, durable, deliveries, error });
    // A second burial of the same delivery (its ack lost) is the same dead letter, counted once.
    if (stored.duplicate) return;
    options.onDeadLetter?.({ id: String(stored.seq), message_id, subject, durable, data: message.string(), headers: original, deliveries, error, dead_ms });
  };

  const handle = async (message: JsMsg, subscription: SubscribeOptions): Promise<void> => {
    const received = recordOf(message.headers);
    const replay_for = received[replay_for_header];
    if (replay_for !== undefined && replay_for !== subscription.durable) {
      message.ack();
      return;
    }
    const delivery = message.info.deliveryCount;
    if (delivery > subscription.deliveries_max) {
      await bury(message, subscription.durable, delivery - 1, 'the process handling its last delivery stopped before it answered');
      message.term('dead letter');
      return;
    }
    const headers = Object.fromEntries(Object.entries(received).filter(([key]) => !ownHeader(key)));
    try {
      await runHandler(
        subscription.handler,
        { id: received[message_id_header] ?? received['Nats-Msg-Id'] ?? '', subject: message.subject.slice(prefix.length + 1), data: message.string(), headers, delivery },
        subscription.handler_timeout_ms,
      );
      message.ack();
    } catch (error) {
      if (isAssertionError(error)) throw error;
      if (delivery >= subscription.deliveries_max) {
        await bury(message, subscription.durable, delivery, messageOf(error));
        message.term('dead letter');
        return;
      }
      const delay_ms = redeliveryDelayMs(subscription, delivery);
      log('warn', 'a bus handler failed; the message is delivered again', { message: received[message_id_header], durable: subscription.durable, delivery, delay_ms, error: messageOf(error) });
      message.nak(delay_ms);
    }
  };

  return {
    publish: (input: PublishInput): Promise<PublishResult> =>
      tracedPublish(input, async (traced) => {
        assert(!closed, 'the bus is closed');
        checkPublish(traced);
        await domainStream(traced.subject);
        const headers = headersOf({ ...(traced.headers ?? {}), [message_id_header]: traced.id });
        const acknowledged = await client.publish(`${prefix}.${traced.subject}`, traced.data, { msgID: traced.id, headers });
        return { duplicate: acknowledged.duplicate };
      }),

    async subscribe(subscription: SubscribeOptions): Promise<BusSubscription> {
      assert(!closed, 'the bus is closed');
      checkSubscribe(subscription);
      const stream = await domainStream(subscription.subject);
      const config = {
        durable_name: subscription.durable,
        filter_subject: `${prefix}.${subscription.subject}`,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(subscription.handler_timeout_ms + ack_wait_grace_ms),
        max_deliver: subscription.deliveries_max + 1,
        max_ack_pending: consumer_prefetch_max,
      };
      try {
        const existing = await manager.consumers.info(stream, subscription.durable);
        assert(existing.config.filter_subject === config.filter_subject, `durable ${subscription.durable} keeps its subject`);
        await manager.consumers.update(stream, subscription.durable, { ack_wait: config.ack_wait, max_deliver: config.max_deliver, max_ack_pending: config.max_ack_pending });
      } catch (error) {
        if (isAssertionError(error)) throw error;
        await manager.consumers.add(stream, config);
      }
      const consumer = await client.consumers.get(stream, subscription.durable);
      const messages = await consumer.consume({ max_messages: consumer_prefetch_max });
      consumed.add(messages);
      // Messages are handled in the order the server delivers them, as many at once as the
      // subscription allows (one unless it says otherwise); each is acknowledged on its own.
      const loop = handleInFlight(messages, handlersInFlightMax(subscription), async (message) => {
        try {
          await handle(message, subscription);
        } catch (error) {
          if (isAssertionError(error)) throw error;
          // Burying failed (the server went away): leave the message unacknowledged; the
          // server delivers it again after the ack wait, and it is buried then.
          log('error', 'failed: moving a message to the dead letters; it is delivered again', { durable: subscription.durable, error: messageOf(error) });
        }
      });
      loops.add(loop);
      void loop.finally(() => loops.delete(loop));
      return {
        close: async () => {
          consumed.delete(messages);
          await messages.close();
          await loop;
        },
      };
    },

    async deadLetters(limit: number): Promise<DeadLetter[]> {
      assert(Number.isSafeInteger(limit) && limit >= 1 && limit <= bus_dead_letters_page_max, 'a dead-letter listing takes 1 to bus_dead_letters_page_max');
      await ensureStream(dead_stream, [`${prefix}_dead.>`], dead_letter_max_age_ms);
      const info = await manager.streams.info(dead_stream);
      const letters: DeadLetter[] = [];
      const last = Math.min(info.state.last_seq, info.state.first_seq + dead_letter_scan_max);
      for (let seq = info.state.first_seq; seq <= last && letters.length < limit && info.state.messages > 0; seq += 1) {
        let stored;
        try {
          stored = await manager.streams.getMessage(dead_stream, { seq });
        } catch (error) {
          if (isAssertionError(error)) throw error;
          continue;
        }
        if (stored === null) continue;
        const headers = recordOf(stored.header);
        letters.push({
          id: String(seq),
          message_id: headers[message_id_header] ?? '',
          subject: headers[dead_subject_header] ?? '',
          durable: headers[dead_durable_header] ?? '',
          data: Buffer.from(stored.data).toString('utf8'),
          headers: Object.fromEntries(Object.entries(headers).filter(([key]) => !ownHeader(key))),
          deliveries: Number(headers[dead_deliveries_header] ?? '0'),
          error: headers[dead_error_header] ?? '',
          dead_ms: Number(headers[dead_ms_header] ?? '0'),
        });
      }
      return letters;
    },

    async replayDeadLetter(id: string): Promise<boolean> {
      const seq = Number(id);
      if (!Number.isSafeInteger(seq) || seq < 1) return false;
      await ensureStream(dead_stream, [`${prefix}_dead.>`], dead_letter_max_age_ms);
      let stored;
      try {
        stored = await manager.streams.getMessage(dead_stream, { seq });
      } catch (error) {
        if (isAssertionError(error)) throw error;
        return false;
      }
      if (stored === null) return false;
      const headers = recordOf(stored.header);
      const subject = headers[dead_subject_header];
      const durable = headers[dead_durable_header];
      const message_id = headers[message_id_header];
      if (subject === undefined || durable === undefined || message_id === undefined) return false;
      const replayed = headersOf({ ...Object.fromEntries(Object.entries(headers).filter(([key]) => !ownHeader(key))), [message_id_header]: message_id, [replay_for_header]: durable });
      await domainStream(subject);
      // A replay has an id of its own, so that the original's de-duplication does not swallow it.
      await client.publish(`${prefix}.${subject}`, stored.data, { msgID: `replay:${dead_stream}:${seq}`, headers: replayed });
      await manager.streams.deleteMessage(dead_stream, seq);
      log('info', 'a dead letter is delivered again', { dead_letter: id, message: message_id, durable });
      return true;
    },

    async ping(): Promise<void> {
      if (closed) throw new Error('the bus is closed');
      // A round trip to the JetStream API, not only to the server: a server that is up with
      // JetStream unavailable cannot store what the outbox relays hand it.
      await manager.getAccountInfo();
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const messages of consumed) await messages.close();
      await Promise.all([...loops]);
      await connection.drain();
    },
  };
}
