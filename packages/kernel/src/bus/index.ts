// The bus port and its two adapters; openBus() picks one from the configuration.
import type { Bus, BusLog, DeadLetterObserver } from './bus';
import { createMemoryBus } from './memory-bus';
import { createNatsBus } from './nats-bus';

export {
  bus_dead_letters_page_max,
  bus_deliveries_max,
  bus_duplicate_window_ms,
  bus_handler_timeout_ms_max,
  bus_message_bytes_max,
  bus_redelivery_delay_ms_max,
  domainOf,
  replay_for_header,
  subjectMatches,
  type Bus,
  type BusHandler,
  type BusLog,
  type BusMessage,
  type BusSubscription,
  type DeadLetter,
  type DeadLetterObserver,
  type PublishInput,
  type PublishResult,
  type SubscribeOptions,
} from './bus';
export { decodeEventMessage, domainEventsSubject, encodeEventMessage, event_handled_wait_ms_max, eventSubject, publishEvent, type BusEvent, type BusEventMessage } from './events';
export { createMemoryBus, memory_bus_dead_letters_max, memory_bus_duplicate_ids_max, memory_bus_queue_max, type MemoryBusOptions } from './memory-bus';
export { consumer_prefetch_max, createNatsBus, dead_letter_max_age_ms, nats_prefix_default, stream_max_age_ms, type NatsBusOptions } from './nats-bus';

export interface OpenBusOptions {
  /** NATS JetStream when set (services in separate processes share it), the in-process bus otherwise. */
  readonly nats_url?: string;
  readonly prefix?: string;
  readonly log?: BusLog;
  readonly onDeadLetter?: DeadLetterObserver;
}

export async function openBus(options: OpenBusOptions = {}): Promise<Bus> {
  if (options.nats_url !== undefined && options.nats_url !== '') {
    return createNatsBus({ url: options.nats_url, prefix: options.prefix, log: options.log, onDeadLetter: options.onDeadLetter });
  }
  return createMemoryBus({ log: options.log, onDeadLetter: options.onDeadLetter });
}
