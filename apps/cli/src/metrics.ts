// The platform's own Prometheus metrics, beside the HTTP, upstream and default process metrics the
// kernel registers: what the ledger commits, what each outbox still holds, the sagas in flight,
// webhook attempts, connector calls, and PostgreSQL's prepared transactions. Every name starts
// with `paygrid_`; labels name routes, outboxes, sagas, states and outcomes, never an id, so
// that no label grows with traffic. None is called `service`: Prometheus labels every scraped
// series with the process's service under that name.
//
// What lives in a database is measured when Prometheus scrapes, by a gauge's collect() callback:
// nothing is polled between scrapes, and each query reads a partial index of rows still to do.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Connector, PaymentMethodType } from '@paygrid/connectors';
import { createPostgresPool, type Database } from '@paygrid/kernel';
import type { WriterMetrics } from '@paygrid/ledger';
import type { AttemptOutcome } from '@paygrid/webhooks';

/** A scrape-time query that takes longer than this is abandoned for this scrape (Prometheus's own default timeout is 10 s). */
export const scrape_query_timeout_ms = 2_000;
const ms_per_second = 1_000;

/** Events per committed batch, up to the ledger's 8,190 per request and four requests' worth. */
const ledger_batch_events_buckets = [1, 10, 100, 1000, 8190, 32760];
/** From half a millisecond to a second: a durable commit takes a few milliseconds here. */
const ledger_commit_seconds_buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** From 5 ms to 30 s: a provider answers in tens to hundreds of milliseconds; the slowest timeout is 30 s. */
const outside_call_seconds_buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30];

export type MetricsLog = (level: 'warn', message: string, fields: Record<string, unknown>) => void;

/**
 * The saga states counted: those of runs not finished. Finished runs (succeeded, failed,
 * compensated, canceled) are kept for their history and would make the count a full scan.
 */
const in_flight_statuses = ['ready', 'running', 'waiting', 'retrying', 'compensating'] as const;

/** What to measure in one service's database. */
export interface ServiceDatabaseMetrics {
  readonly service: string;
  readonly database: Database;
  /** The service's outbox table, when it has one. */
  readonly outbox_table?: string;
  /** The sagas the service runs on the kernel's runner, when it runs any. */
  readonly sagas?: readonly string[];
}

/** How a webhook attempt ended, by class of answer: the status itself would be unbounded. */
export type WebhookAttemptOutcome = 'succeeded' | 'client_error' | 'gone' | 'server_error' | 'redirect_or_other' | 'no_answer' | 'url_not_allowed';

export function webhookAttemptOutcome(outcome: AttemptOutcome): WebhookAttemptOutcome {
  if (outcome.succeeded) return 'succeeded';
  const status = outcome.response_status;
  if (status === null) return outcome.error?.startsWith('url_not_allowed') === true ? 'url_not_allowed' : 'no_answer';
  if (status === 410) return 'gone';
  if (status >= 500) return 'server_error';
  if (status >= 400) return 'client_error';
  return 'redirect_or_other';
}

type ConnectorOperation = 'authorize' | 'capture' | 'void' | 'refund' | 'status' | 'parse_notification';

/**
 * A call's outcome as its connector reports it: the status of its answer (`authorized`,
 * `declined`, `unknown`, …), `rejected` for a notification refused, or `error` for a throw.
 * `unknown` and `error` are the connector's failures; a decline is the customer's bank's answer.
 */
function outcomeOf(result: unknown): string {
  if (typeof result !== 'object' || result === null) return 'other';
  const fields = result as Record<string, unknown>;
  if (typeof fields.status === 'string') return fields.status;
  if (typeof fields.ok === 'boolean') return fields.ok ? 'accepted' : 'rejected';
  return 'other';
}

async function withTimeout<T>(work: Promise<T>, timeout_ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${timeout_ms} ms`)), timeout_ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One measurement shared by several gauges in a scrape: prom-client collects every metric of a
 * registry at once, so the first gauge's collect() starts the queries and the others wait for the
 * same ones rather than read values not yet refreshed.
 */
function sharedRefresh(refresh: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return async () => {
    running ??= refresh().finally(() => {
      running = undefined;
    });
    await running;
  };
}

function count(value: unknown): number {
  const number = typeof value === 'bigint' ? Number(value) : typeof value === 'string' ? Number.parseInt(value, 10) : typeof value === 'number' ? value : Number.NaN;
  return Number.isFinite(number) ? number : 0;
}

/** The platform's metrics on one process's registry. Made once per process, before its services. */
export class PlatformMetrics {
  readonly #registry: Registry;
  readonly #log: MetricsLog;
  readonly #databases: ServiceDatabaseMetrics[] = [];
  readonly #prepared_pools: ReturnType<typeof createPostgresPool>[] = [];
  /** The scrape-time measurements, so that the error counter is read after them, in the same scrape. */
  readonly #refreshes: (() => Promise<void>)[] = [];
  readonly #scrape_errors: Counter<'collector' | 'source'>;
  readonly #now_ms: () => number;

  constructor(registry: Registry, options: { readonly log: MetricsLog; readonly now_ms?: () => number }) {
    this.#registry = registry;
    this.#log = options.log;
    this.#now_ms = options.now_ms ?? Date.now;
    this.#scrape_errors = new Counter({
      name: 'paygrid_metrics_scrape_errors_total',
      help: 'Scrape-time measurements that failed or timed out (their gauges then have no sample from that source), by collector and source (an outbox table, a service database).',
      labelNames: ['collector', 'source'],
      registers: [registry],
      collect: async () => {
        await Promise.all(this.#refreshes.map(async (refresh) => refresh()));
      },
    });
    this.#registerDatabaseGauges();
  }

  /** The ledger writer's batch size, commit latency and transfers created. */
  ledgerWriterMetrics(): WriterMetrics {
    const registers = [this.#registry];
    const batch_events = new Histogram({ name: 'paygrid_ledger_batch_events', help: 'Events applied per committed ledger batch.', buckets: ledger_batch_events_buckets, registers });
    const commit_seconds = new Histogram({
      name: 'paygrid_ledger_batch_commit_seconds',
      help: 'Time from taking a ledger batch to its durable commit, in seconds.',
      buckets: ledger_commit_seconds_buckets,
      registers,
    });
    const batch_requests = new Counter({ name: 'paygrid_ledger_requests_committed_total', help: 'Requests (calls of create accounts or create transfers) answered by committed batches.', registers });
    const transfers = new Counter({ name: 'paygrid_ledger_transfers_committed_total', help: 'Transfers created and durably committed by the ledger writer (rate() gives transfers per second).', registers });
    return {
      observeBatch: (events, requests, seconds, transfers_created) => {
        batch_events.observe(events);
        commit_seconds.observe(seconds);
        batch_requests.inc(requests);
        transfers.inc(transfers_created);
      },
    };
  }

  /** Measures a service's outbox and sagas at every scrape. */
  addServiceDatabase(measured: ServiceDatabaseMetrics): void {
    this.#databases.push(measured);
  }

  /**
   * The age of the oldest prepared transaction of the ledger's PostgreSQL databases (0 with none;
   * a sharded ledger has one database per shard), for the two-phase-commit alert: one left
   * prepared holds its locks and keeps VACUUM back until someone commits or rolls it back. One
   * connection per database, opened at the first scrape.
   */
  addPreparedTransactions(databases: readonly { readonly url: string; readonly schema: string }[]): void {
    const pools = databases.map((database) =>
      createPostgresPool({
        url: database.url,
        schema: database.schema,
        max: 1,
        onConnectionError: (error) => this.#log('warn', 'the metrics connection to PostgreSQL failed; the next scrape opens another', { error: error.message }),
      }),
    );
    this.#prepared_pools.push(...pools);
    const registers = [this.#registry];
    const collect = sharedRefresh(async () => {
      age.reset();
      prepared.reset();
      let prepared_count = 0;
      let age_seconds_max = 0;
      for (const [index, pool] of pools.entries()) {
        try {
          const result = await withTimeout(
            pool.query<{ prepared: string; age_seconds: number | null }>(
              'SELECT COUNT(*) AS prepared, EXTRACT(EPOCH FROM now() - MIN(prepared))::float8 AS age_seconds FROM pg_prepared_xacts WHERE database = current_database()',
            ),
            scrape_query_timeout_ms,
            'the prepared-transactions query',
          );
          const row = result.rows[0];
          prepared_count += count(row?.prepared);
          // float8 reads as a JavaScript number; this is a duration, never money.
          age_seconds_max = Math.max(age_seconds_max, row?.age_seconds ?? 0);
        } catch (error) {
          this.#scrapeFailed('prepared_transactions', databases[index]?.schema ?? 'ledger', error);
        }
      }
      prepared.set(prepared_count);
      age.set(age_seconds_max);
    });
    this.#refreshes.push(collect);
    const age = new Gauge({
      name: 'paygrid_postgres_prepared_transaction_oldest_age_seconds',
      help: 'Age of the oldest prepared (two-phase) transaction in the ledger databases, in seconds; 0 when none.',
      registers,
      collect,
    });
    const prepared = new Gauge({
      name: 'paygrid_postgres_prepared_transactions',
      help: 'Prepared (two-phase) transactions waiting for COMMIT PREPARED or ROLLBACK PREPARED in the ledger databases.',
      registers,
      collect,
    });
  }

  /** Webhook attempts by outcome, with their duration. */
  webhookAttemptObserver(): (outcome: AttemptOutcome) => void {
    const registers = [this.#registry];
    const attempts = new Counter<'outcome'>({ name: 'paygrid_webhook_attempts_total', help: 'Webhook delivery attempts, by outcome.', labelNames: ['outcome'], registers });
    const duration = new Histogram<'outcome'>({
      name: 'paygrid_webhook_attempt_duration_seconds',
      help: 'Duration of webhook delivery attempts in seconds, by outcome.',
      labelNames: ['outcome'],
      buckets: outside_call_seconds_buckets,
      registers,
    });
    return (outcome) => {
      const label = webhookAttemptOutcome(outcome);
      attempts.inc({ outcome: label });
      duration.observe({ outcome: label }, outcome.duration_ms / ms_per_second);
    };
  }

  /** The connectors, each call timed and counted by connector, operation and outcome. */
  instrumentConnectors(connectors: Partial<Record<PaymentMethodType, Connector>>): Partial<Record<PaymentMethodType, Connector>> {
    const labelNames = ['connector', 'operation', 'outcome'] as const;
    const registers = [this.#registry];
    const duration = new Histogram<(typeof labelNames)[number]>({
      name: 'paygrid_connector_call_duration_seconds',
      help: 'Duration of calls to payment connectors in seconds, by connector, operation and outcome (unknown and error are failures).',
      labelNames,
      buckets: outside_call_seconds_buckets,
      registers,
    });
    const timed = async <T>(connector: string, operation: ConnectorOperation, call: () => Promise<T>): Promise<T> => {
      const started = process.hrtime.bigint();
      const observe = (outcome: string) => duration.observe({ connector, operation, outcome }, Number(process.hrtime.bigint() - started) / 1e9);
      try {
        const result = await call();
        observe(outcomeOf(result));
        return result;
      } catch (error) {
        observe('error');
        throw error;
      }
    };
    const instrumented: Partial<Record<PaymentMethodType, Connector>> = {};
    for (const [method, connector] of Object.entries(connectors) as [PaymentMethodType, Connector | undefined][]) {
      if (connector === undefined) continue;
      instrumented[method] = {
        method: connector.method,
        authorize: (request, options) => timed(method, 'authorize', () => connector.authorize(request, options)),
        capture: (reference, amount, options) => timed(method, 'capture', () => connector.capture(reference, amount, options)),
        void: (reference, options) => timed(method, 'void', () => connector.void(reference, options)),
        refund: (reference, amount, options) => timed(method, 'refund', () => connector.refund(reference, amount, options)),
        status: (reference, options) => timed(method, 'status', () => connector.status(reference, options)),
        parseNotification: (headers, raw_body) => timed(method, 'parse_notification', () => connector.parseNotification(headers, raw_body)),
      };
    }
    return instrumented;
  }

  async close(): Promise<void> {
    await Promise.all(this.#prepared_pools.map(async (pool) => pool.end()));
  }

  #scrapeFailed(collector: string, source: string, error: unknown): void {
    this.#scrape_errors.inc({ collector, source });
    this.#log('warn', 'a scrape-time measurement failed; its gauges have no sample from it this scrape', { collector, source, error: error instanceof Error ? error.message : String(error) });
  }

  /** The outbox and saga gauges, filled at each scrape from every service database added. */
  #registerDatabaseGauges(): void {
    const registers = [this.#registry];
    const collect = sharedRefresh(async () => {
      for (const gauge of [unpublished, oldest, runs, overdue]) gauge.reset();
      const now_ms = this.#now_ms();
      await Promise.all(this.#databases.map(async (measured) => this.#measureDatabase(measured, now_ms, { unpublished, oldest, runs, overdue })));
    });
    this.#refreshes.push(collect);
    const unpublished = new Gauge({ name: 'paygrid_outbox_unpublished_events', help: 'Events written to an outbox and not yet published, by outbox table.', labelNames: ['outbox'], registers, collect });
    const oldest = new Gauge({
      name: 'paygrid_outbox_oldest_unpublished_age_seconds',
      help: 'Age of the oldest event of an outbox not yet published, in seconds, by outbox table; 0 when none waits.',
      labelNames: ['outbox'],
      registers,
      collect,
    });
    const runs = new Gauge({
      name: 'paygrid_saga_runs',
      help: 'Saga runs not finished and due at a set time, by saga and state (runs waiting only to be taken over are not counted).',
      labelNames: ['saga', 'status'],
      registers,
      collect,
    });
    const overdue = new Gauge({
      name: 'paygrid_saga_overdue_seconds',
      help: 'How long the most overdue unfinished run of a saga has been due and not taken, in seconds; 0 when none is overdue.',
      labelNames: ['saga'],
      registers,
      collect,
    });
  }

  async #measureDatabase(
    { service, database, outbox_table, sagas }: ServiceDatabaseMetrics,
    now_ms: number,
    gauges: { readonly unpublished: Gauge<'outbox'>; readonly oldest: Gauge<'outbox'>; readonly runs: Gauge<'saga' | 'status'>; readonly overdue: Gauge<'saga'> },
  ): Promise<void> {
    if (outbox_table !== undefined) {
      try {
        // The partial index <outbox>_unpublished holds exactly these rows.
        const [row] = await withTimeout(
          database.query<{ events: unknown; created_min: unknown }>(`SELECT COUNT(*) AS events, MIN(created) AS created_min FROM ${outbox_table} WHERE published_ms IS NULL`),
          scrape_query_timeout_ms,
          'the outbox query',
        );
        const events = count(row?.events);
        gauges.unpublished.set({ outbox: outbox_table }, events);
        // `created` is in Unix seconds.
        gauges.oldest.set({ outbox: outbox_table }, events === 0 ? 0 : Math.max(0, now_ms / ms_per_second - count(row?.created_min)));
      } catch (error) {
        this.#scrapeFailed('outbox', outbox_table, error);
      }
    }
    if (sagas === undefined) return;
    try {
      // The partial index saga_runs_due holds exactly these rows: a finished run has no due time.
      const rows = await withTimeout(
        database.query<{ saga: string; status: string; runs: unknown; due_ms_min: unknown }>(
          'SELECT saga, status, COUNT(*) AS runs, MIN(due_ms) AS due_ms_min FROM saga_runs WHERE due_ms IS NOT NULL GROUP BY saga, status',
        ),
        scrape_query_timeout_ms,
        'the saga query',
      );
      // Every known saga and state has a sample, 0 when nothing is there, so that a series never
      // vanishes when its last run finishes.
      const late_seconds = new Map<string, number>(sagas.map((saga) => [saga, 0]));
      for (const saga of sagas) {
        for (const status of in_flight_statuses) gauges.runs.set({ saga, status }, 0);
      }
      for (const row of rows) {
        // A saga or state this build does not know would be a label nobody bounded.
        const known = late_seconds.get(row.saga);
        if (known === undefined || !(in_flight_statuses as readonly string[]).includes(row.status)) continue;
        gauges.runs.set({ saga: row.saga, status: row.status }, count(row.runs));
        late_seconds.set(row.saga, Math.max(known, (now_ms - count(row.due_ms_min)) / ms_per_second));
      }
      for (const [saga, seconds] of late_seconds) gauges.overdue.set({ saga }, seconds);
    } catch (error) {
      this.#scrapeFailed('sagas', service, error);
    }
  }
}
