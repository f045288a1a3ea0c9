// The platform's bus: NATS JetStream when NATS_URL is set (services in separate processes share
// it), the in-process bus otherwise; a metric and a log line for every dead letter; and the
// operator routes that list dead letters and deliver one again.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import { ApiError, invalidRequest, type PlatformConfig } from '@paygrid/kernel';
import { bus_dead_letters_page_max, openBus, type Bus, type BusLog, type DeadLetter } from '@paygrid/kernel/bus';

/** Dead letters one listing returns unless asked for fewer or more. */
export const dead_letters_listed_default = 100;

export interface PlatformBusOptions {
  readonly config: Pick<PlatformConfig, 'NATS_URL' | 'BUS_STREAM_PREFIX'>;
  readonly registry: Registry;
  readonly log: BusLog;
}

/** Opens the bus the configuration names; `paygrid_bus_dead_letters_total` counts dead letters by subject and subscriber. */
export async function openPlatformBus(options: PlatformBusOptions): Promise<Bus> {
  const dead_letters = new Counter({
    name: 'paygrid_bus_dead_letters_total',
    help: 'Bus messages that failed every delivery to a subscriber and became dead letters.',
    labelNames: ['subject', 'subscriber'],
    registers: [options.registry],
  });
  return openBus({
    ...(options.config.NATS_URL === undefined ? {} : { nats_url: options.config.NATS_URL }),
    prefix: options.config.BUS_STREAM_PREFIX,
    // The adapter logs each dead letter itself (subject, subscriber, message id, error).
    log: options.log,
    onDeadLetter: (letter) => dead_letters.inc({ subject: letter.subject, subscriber: letter.durable }),
  });
}

/** A dead letter as the operator routes show it. */
export interface DeadLetterWire {
  readonly object: 'bus_dead_letter';
  readonly id: string;
  readonly message_id: string;
  readonly subject: string;
  /** The durable name of the subscriber it failed at. */
  readonly subscriber: string;
  readonly deliveries: number;
  readonly error: string;
  /** Unix milliseconds. */
  readonly dead_ms: number;
  /** The message's payload (JSON text) and headers, as published. */
  readonly data: string;
  readonly headers: Readonly<Record<string, string>>;
}

export function deadLetterToWire(letter: DeadLetter): DeadLetterWire {
  return {
    object: 'bus_dead_letter',
    id: letter.id,
    message_id: letter.message_id,
    subject: letter.subject,
    subscriber: letter.durable,
    deliveries: letter.deliveries,
    error: letter.error,
    dead_ms: letter.dead_ms,
    data: letter.data,
    headers: letter.headers,
  };
}

/** The listing's query; exported for the API fuzz, which generates queries from it. */
export const dead_letters_query_schema = {
  type: 'object',
  additionalProperties: false,
  properties: { limit: { type: 'integer', minimum: 1, maximum: bus_dead_letters_page_max } },
} as const;

/** A dead letter's id: the in-memory bus's `dl_<n>` or a NATS sequence number. */
export const dead_letter_params_schema = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } },
} as const;

/** The replay takes no options; exported for the API fuzz. */
export const replay_body_schema = { type: ['object', 'null'], additionalProperties: false, properties: {} } as const;

/**
 * Operator routes: `GET /v1/bus/dead-letters` (the oldest first, `limit` of them) and
 * `POST /v1/bus/dead-letters/:id/replay` (delivers it again to the subscriber it died at only, and
 * removes it from the dead letters; 404 when there is none with that id).
 */
export function registerBusRoutes(app: FastifyInstance, options: { readonly bus: Bus; readonly authenticate: (request: FastifyRequest) => void }): void {
  const { bus, authenticate } = options;
  app.register(
    (scope, _options, done) => {
      scope.addHook('onRequest', (request, _reply, next) => {
        authenticate(request);
        next();
      });
      scope.get<{ Querystring: { limit?: number } }>('/dead-letters', { schema: { querystring: dead_letters_query_schema } }, async (request) => {
        const limit = request.query.limit ?? dead_letters_listed_default;
        // Checked again: the schema's coercion lets `1e309` through as Infinity, and the bus asserts its limit.
        if (!Number.isSafeInteger(limit) || limit < 1 || limit > bus_dead_letters_page_max) {
          throw invalidRequest('parameter_invalid', `limit must be an integer from 1 to ${bus_dead_letters_page_max}`, 'limit');
        }
        const letters = await bus.deadLetters(limit);
        return { object: 'list', data: letters.map(deadLetterToWire) };
      });
      scope.post<{ Params: { id: string } }>('/dead-letters/:id/replay', { schema: { params: dead_letter_params_schema, body: replay_body_schema } }, async (request) => {
        const id = request.params.id;
        if (!(await bus.replayDeadLetter(id))) throw new ApiError('not_found_error', 'resource_missing', `No such dead letter: '${id}'`, 'id');
        return { object: 'bus_dead_letter_replay', id, replayed: true };
      });
      done();
    },
    { prefix: '/v1/bus' },
  );
}

/** A ping that has not answered by then counts as unreachable: a scrape must answer promptly. */
export const bus_ping_timeout_ms = 1_000;

/**
 * `paygrid_bus_reachable`: 1 when the bus answered a ping at scrape time, 0 otherwise. It is a
 * metric, not a readiness check (decision 86): the outbox keeps every event while NATS is away and
 * the relays hand them over when it returns, so a process without the bus still takes its work,
 * and failing its readiness would take the API down for an outage that loses nothing.
 */
export function registerBusReachability(registry: Registry, bus: Bus): void {
  new Gauge({
    name: 'paygrid_bus_reachable',
    help: 'Whether the bus (NATS JetStream, or the in-process bus) answered a ping at scrape time: 1 yes, 0 no.',
    registers: [registry],
    async collect() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${bus_ping_timeout_ms} ms`)), bus_ping_timeout_ms);
      });
      try {
        await Promise.race([bus.ping(), timeout]);
        this.set(1);
      } catch {
        this.set(0);
      } finally {
        clearTimeout(timer);
      }
    },
  });
}
