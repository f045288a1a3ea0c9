// The bus in one process: what the all-in-one platform uses. Each durable subscriber has a queue in
// memory, kept from its first subscribe for the life of the process, so a subscriber that closes
// and subscribes again gets what was published meanwhile, as a NATS durable consumer would. What is
// in these queues is lost with the process: unlike NATS, a publish here is not durable. So a service
// that relays its outbox through this adapter must not mark an event published when `publish`
// returns, but when its subscribers have handled it: `publish` answers with a `handled` promise
// that says when (decision 74).
//
// As on NATS, where a durable consumer belongs to one domain's stream, a durable name is one
// subscriber per domain: `webhooks` on `wallet.events.>` and `webhooks` on `payments.events.>` are
// two subscribers, each with its own queue.
import { assert, isAssertionError } from '../assert';
import {
  bus_dead_letters_page_max,
  bus_duplicate_window_ms,
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
  subjectMatches,
  type Bus,
  type BusLog,
  type BusMessage,
  type BusSubscription,
  type DeadLetter,
  type DeadLetterObserver,
  type PublishInput,
  type PublishResult,
  type SubscribeOptions,
} from './bus';

/** Message ids remembered for de-duplication, at most; the oldest go first. */
export const memory_bus_duplicate_ids_max = 100_000;
/** Messages one subscriber's queue holds at most: past it, publishing fails rather than grow without end. */
export const memory_bus_queue_max = 100_000;
/** Dead letters kept, at most; past it the oldest goes, with an error in the log. */
export const memory_bus_dead_letters_max = 10_000;

interface Queued {
  readonly message: Omit<BusMessage, 'delivery'>;
  /** Deliveries made so far. */
  readonly deliveries: number;
}

interface Consumer {
  /** The subscriber's domain and durable name: durable names are per domain, as NATS consumers are per stream. */
  readonly key: string;
  options: SubscribeOptions;
  readonly queue: Queued[];
  subscribed: boolean;
  draining: Promise<void> | undefined;
}

/** Whether a published message has been handled by every subscriber it was queued for. */
interface Settlement {
  readonly promise: Promise<void>;
  /** The subscribers (consumer keys) that have yet to handle it. */
  readonly waiting: Set<string>;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

function consumerKey(subject: string, durable: string): string {
  return `${domainOf(subject)} ${durable}`;
}

function newSettlement(waiting: Set<string>): Settlement {
  let resolve: () => void = () => undefined;
  let reject: (error: Error) => void = () => undefined;
  const promise = new Promise<void>((resolve_promise, reject_promise) => {
    resolve = resolve_promise;
    reject = reject_promise;
  });
  // A publisher that does not wait for it must not turn its rejection into an unhandled one.
  promise.catch(() => undefined);
  if (waiting.size === 0) resolve();
  return { promise, waiting, resolve, reject };
}

export interface MemoryBusOptions {
  readonly log?: BusLog;
  readonly onDeadLetter?: DeadLetterObserver;
}

export function createMemoryBus(options: MemoryBusOptions = {}): Bus {
  const log: BusLog = options.log ?? (() => undefined);
  const consumers = new Map<string, Consumer>();
  /** Message ids seen, with when; in insertion order, so the oldest are first. */
  const seen = new Map<string, number>();
  /** Settlements of the messages in `seen`, by message id: a duplicate publish is given the first one's. */
  const settlements = new Map<string, Settlement>();
  const dead: DeadLetter[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let dead_sequence = 0;
  let closed = false;

  const forgetOldIds = (now_ms: number) => {
    for (const [id, seen_ms] of seen) {
      if (now_ms - seen_ms < bus_duplicate_window_ms && seen.size <= memory_bus_duplicate_ids_max) break;
      seen.delete(id);
      settlements.delete(id);
    }
  };

  /** One subscriber has handled a message: it is settled once all it was queued for have. */
  const handledBy = (consumer: Consumer, message_id: string) => {
    const settlement = settlements.get(message_id);
    if (settlement === undefined) return;
    settlement.waiting.delete(consumer.key);
    if (settlement.waiting.size === 0) settlement.resolve();
  };

  const enqueue = (consumer: Consumer, queued: Queued) => {
    if (consumer.queue.length >= memory_bus_queue_max) throw new Error(`the queue of subscriber ${consumer.options.durable} is full (${memory_bus_queue_max} messages)`);
    consumer.queue.push(queued);
    drain(consumer);
  };

  const bury = (consumer: Consumer, queued: Queued, deliveries: number, error: string) => {
    dead_sequence += 1;
    const letter: DeadLetter = { id: `dl_${dead_sequence}`, message_id: queued.message.id, subject: queued.message.subject, durable: consumer.options.durable, data: queued.message.data, headers: queued.message.headers, deliveries, error, dead_ms: Date.now() };
    dead.push(letter);
    if (dead.length > memory_bus_dead_letters_max) {
      const dropped = dead.shift();
      log('error', 'the in-memory bus dropped its oldest dead letter: too many are kept', { dead_letter: dropped?.id, message: dropped?.message_id });
    }
    log('error', 'a message failed every delivery and is a dead letter', { dead_letter: letter.id, message: letter.message_id, subject: letter.subject, durable: letter.durable, deliveries, error });
    options.onDeadLetter?.(letter);
    settlements.get(letter.message_id)?.reject(new Error(`message ${letter.message_id} is a dead letter at ${letter.durable}: ${error}`));
  };

  const deliverOne = async (consumer: Consumer, queued: Queued) => {
    const delivery = queued.deliveries + 1;
    const settings = consumer.options;
    try {
      await runHandler(settings.handler, { ...queued.message, delivery }, settings.handler_timeout_ms);
      handledBy(consumer, queued.message.id);
      return;
    } catch (error) {
      if (isAssertionError(error)) throw error;
      if (delivery >= settings.deliveries_max) {
        bury(consumer, queued, delivery, messageOf(error));
        return;
      }
      const delay_ms = redeliveryDelayMs(settings, delivery);
      log('warn', 'a bus handler failed; the message is delivered again', { message: queued.message.id, durable: settings.durable, delivery, delay_ms, error: messageOf(error) });
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!closed) enqueue(consumer, { message: queued.message, deliveries: delivery });
      }, delay_ms);
      timers.add(timer);
    }
  };

  /** A subscriber's queue, taken from the front while it is subscribed. */
  function* queuedFor(consumer: Consumer): Generator<Queued> {
    while (consumer.subscribed && !closed) {
      const queued = consumer.queue.shift();
      if (queued === undefined) return;
      yield queued;
    }
  }

  /**
   * Delivers a subscriber's queue in order, as many messages at once as it allows (one unless it
   * says otherwise), while it is subscribed.
   */
  function drain(consumer: Consumer): void {
    if (consumer.draining !== undefined || !consumer.subscribed || closed) return;
    // Each message is delivered once per turn; a failed one comes back through its timer.
    consumer.draining = handleInFlight(queuedFor(consumer), handlersInFlightMax(consumer.options), (queued) => deliverOne(consumer, queued)).finally(() => {
      consumer.draining = undefined;
      if (consumer.subscribed && !closed && consumer.queue.length > 0) drain(consumer);
    });
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async function publishNow(input: PublishInput): Promise<PublishResult> {
    assert(!closed, 'the bus is closed');
    checkPublish(input);
    const now_ms = Date.now();
    forgetOldIds(now_ms);
    if (seen.has(input.id)) return { duplicate: true, handled: settlements.get(input.id)?.promise };
    const headers = { ...(input.headers ?? {}) };
    const replay_for = headers[replay_for_header];
    const receivers = [...consumers.values()].filter(
      (consumer) => subjectMatches(consumer.options.subject, input.subject) && (replay_for === undefined || replay_for === consumer.options.durable),
    );
    // Every queue is checked before any is written, so that a full one refuses the message whole.
    for (const consumer of receivers) {
      if (consumer.queue.length >= memory_bus_queue_max) throw new Error(`the queue of subscriber ${consumer.options.durable} is full (${memory_bus_queue_max} messages)`);
    }
    seen.set(input.id, now_ms);
    const settlement = newSettlement(new Set(receivers.map((consumer) => consumer.key)));
    settlements.set(input.id, settlement);
    for (const consumer of receivers) enqueue(consumer, { message: { id: input.id, subject: input.subject, data: input.data, headers }, deliveries: 0 });
    return { duplicate: false, handled: settlement.promise };
  }

  return {
    publish: (input: PublishInput): Promise<PublishResult> => tracedPublish(input, publishNow),

    // eslint-disable-next-line @typescript-eslint/require-await
    async subscribe(subscription: SubscribeOptions): Promise<BusSubscription> {
      assert(!closed, 'the bus is closed');
      checkSubscribe(subscription);
      const key = consumerKey(subscription.subject, subscription.durable);
      const existing = consumers.get(key);
      assert(existing === undefined || !existing.subscribed, `durable ${subscription.durable} is subscribed already`);
      assert(existing === undefined || existing.options.subject === subscription.subject, `durable ${subscription.durable} keeps its subject`);
      const consumer: Consumer = existing ?? { key, options: subscription, queue: [], subscribed: false, draining: undefined };
      consumer.options = subscription;
      consumer.subscribed = true;
      consumers.set(key, consumer);
      drain(consumer);
      return {
        close: async () => {
          consumer.subscribed = false;
          await consumer.draining;
        },
      };
    },

    // eslint-disable-next-line @typescript-eslint/require-await
    async ping(): Promise<void> {
      if (closed) throw new Error('the bus is closed');
    },

    // eslint-disable-next-line @typescript-eslint/require-await
    async deadLetters(limit: number): Promise<DeadLetter[]> {
      assert(Number.isSafeInteger(limit) && limit >= 1 && limit <= bus_dead_letters_page_max, 'a dead-letter listing takes 1 to bus_dead_letters_page_max');
      return dead.slice(0, limit);
    },

    // eslint-disable-next-line @typescript-eslint/require-await
    async replayDeadLetter(id: string): Promise<boolean> {
      const index = dead.findIndex((letter) => letter.id === id);
      const letter = dead[index];
      if (letter === undefined) return false;
      const consumer = consumers.get(consumerKey(letter.subject, letter.durable));
      if (consumer === undefined) return false;
      dead.splice(index, 1);
      // A relay waiting on this message (publishing it again finds it a duplicate) now waits on the replay.
      settlements.set(letter.message_id, newSettlement(new Set([consumer.key])));
      log('info', 'a dead letter is delivered again', { dead_letter: id, message: letter.message_id, durable: letter.durable });
      enqueue(consumer, { message: { id: letter.message_id, subject: letter.subject, data: letter.data, headers: letter.headers }, deliveries: 0 });
      return true;
    },

    async close(): Promise<void> {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      // What is still queued is lost with the bus: a relay waiting on it keeps its events.
      for (const settlement of settlements.values()) settlement.reject(new Error('the bus closed before every subscriber handled the message'));
      await Promise.all([...consumers.values()].flatMap((consumer) => (consumer.draining === undefined ? [] : [consumer.draining])));
    },
  };
}
