// The platform's own metrics, measured against a real service database: outbox lag and saga runs
// read at scrape time, a failed or slow measurement counted without failing the scrape, and the
// connector and webhook outcomes as labelled.
import { join } from 'node:path';
import { Registry, type MetricValue } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Connector } from '@paygrid/connectors';
import { createSqliteDatabase, openSqlite, type Database, type ServiceDatabase } from '@paygrid/kernel';
import { temporaryDirectory, type TemporaryDirectory } from '@paygrid/kernel/testing';
import { wallet_migrations } from '@paygrid/wallet';
import { PlatformMetrics, scrape_query_timeout_ms, webhookAttemptOutcome } from './metrics';

const now_ms = 1_800_000_000_000;

async function values(registry: Registry, name: string): Promise<MetricValue<string>[]> {
  const metrics = await registry.getMetricsAsJSON();
  const found = metrics.find((metric) => metric.name === name);
  expect(found, name).toBeDefined();
  return found?.values ?? [];
}

function valueOf(samples: readonly MetricValue<string>[], labels: Record<string, string>): number | undefined {
  return samples.find((sample) => Object.entries(labels).every(([key, value]) => sample.labels[key] === value))?.value;
}

describe('PlatformMetrics', () => {
  let directory: TemporaryDirectory;
  let database: ServiceDatabase;
  let registry: Registry;
  let metrics: PlatformMetrics;
  const warnings: string[] = [];

  beforeEach(async () => {
    directory = await temporaryDirectory();
    database = createSqliteDatabase(openSqlite(join(directory.path, 'wallet.sqlite')));
    await database.migrate(wallet_migrations);
    registry = new Registry();
    warnings.length = 0;
    metrics = new PlatformMetrics(registry, { log: (_level, message) => warnings.push(message), now_ms: () => now_ms });
    metrics.addServiceDatabase({ service: 'wallet', database, outbox_table: 'wallet_events', sagas: ['wallet_movement', 'wallet_withdrawal'] });
  });
  afterEach(async () => {
    await metrics.close();
    await database.close();
    await directory.remove();
  });

  async function insertEvent(id: string, created_seconds: number, published_ms: number | null): Promise<void> {
    await database.execute('INSERT INTO wallet_events (id, merchant_id, livemode, type, data, object_sequence, created, published_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
      id,
      'mer_1',
      false,
      'top_up.succeeded',
      '{}',
      1,
      created_seconds,
      published_ms,
    ]);
  }

  async function insertRun(id: string, saga: string, status: string, due_ms: number | null): Promise<void> {
    await database.execute(
      'INSERT INTO saga_runs (id, saga, step, status, fence, tries, due_ms, holder, input, outputs, error, created_ms, updated_ms) VALUES (?, ?, ?, ?, 1, 0, ?, NULL, ?, ?, NULL, ?, ?)',
      [id, saga, 'move', status, due_ms, 'null', '{}', now_ms - 600_000, now_ms - 600_000],
    );
  }

  it('reads the outbox lag and the saga runs at scrape time, from the rows still to do', async () => {
    expect(valueOf(await values(registry, 'paygrid_outbox_unpublished_events'), { outbox: 'wallet_events' })).toBe(0);
    expect(valueOf(await values(registry, 'paygrid_outbox_oldest_unpublished_age_seconds'), { outbox: 'wallet_events' })).toBe(0);

    await insertEvent('evt_published', now_ms / 1_000 - 3_600, now_ms - 3_000_000);
    await insertEvent('evt_old', now_ms / 1_000 - 120, null);
    await insertEvent('evt_new', now_ms / 1_000 - 5, null);
    await insertRun('op_retrying', 'wallet_movement', 'retrying', now_ms - 400_000);
    await insertRun('op_running', 'wallet_movement', 'running', now_ms + 30_000);
    await insertRun('op_waiting', 'wallet_withdrawal', 'waiting', now_ms + 60_000);
    await insertRun('op_done', 'wallet_movement', 'succeeded', null);
    // A saga this process was not told of would be an unbounded label: it is left out.
    await insertRun('op_other', 'unknown_saga', 'retrying', now_ms - 900_000);

    expect(valueOf(await values(registry, 'paygrid_outbox_unpublished_events'), { outbox: 'wallet_events' })).toBe(2);
    expect(valueOf(await values(registry, 'paygrid_outbox_oldest_unpublished_age_seconds'), { outbox: 'wallet_events' })).toBe(120);
    const runs = await values(registry, 'paygrid_saga_runs');
    expect(valueOf(runs, { saga: 'wallet_movement', status: 'retrying' })).toBe(1);
    expect(valueOf(runs, { saga: 'wallet_movement', status: 'running' })).toBe(1);
    expect(valueOf(runs, { saga: 'wallet_movement', status: 'ready' })).toBe(0);
    expect(valueOf(runs, { saga: 'wallet_withdrawal', status: 'waiting' })).toBe(1);
    expect(runs.some((sample) => sample.labels.saga === 'unknown_saga' || sample.labels.status === 'succeeded')).toBe(false);
    // Ten states in all: five for each of the two sagas.
    expect(runs).toHaveLength(10);
    const overdue = await values(registry, 'paygrid_saga_overdue_seconds');
    expect(valueOf(overdue, { saga: 'wallet_movement' })).toBe(400);
    expect(valueOf(overdue, { saga: 'wallet_withdrawal' })).toBe(0);
    expect(await values(registry, 'paygrid_metrics_scrape_errors_total')).toEqual([]);
  });

  it('counts a failed or slow measurement and still answers the scrape', async () => {
    const failing: Database = { ...database, dialect: 'sqlite', query: () => Promise.reject(new Error('database is away')) };
    const hanging: Database = { ...database, dialect: 'sqlite', query: () => new Promise<never>(() => undefined) };
    metrics.addServiceDatabase({ service: 'payments', database: failing, outbox_table: 'payment_events', sagas: ['payment_attempt'] });
    metrics.addServiceDatabase({ service: 'webhooks', database: hanging, sagas: ['webhook_delivery'] });
    const started = Date.now();
    const text = await registry.metrics();
    expect(Date.now() - started).toBeGreaterThanOrEqual(scrape_query_timeout_ms - 50);
    expect(text).toContain('paygrid_outbox_unpublished_events{outbox="wallet_events"} 0');
    expect(text).not.toContain('outbox="payment_events"');
    expect(text).not.toContain('saga="payment_attempt"');
    // Counted in the scrape that failed, not the next one.
    expect(text).toContain('paygrid_metrics_scrape_errors_total{collector="outbox",source="payment_events"} 1');
    expect(text).toContain('paygrid_metrics_scrape_errors_total{collector="sagas",source="payments"} 1');
    expect(text).toContain('paygrid_metrics_scrape_errors_total{collector="sagas",source="webhooks"} 1');
    expect(warnings.filter((warning) => warning.startsWith('a scrape-time measurement failed'))).toHaveLength(3);
  }, 10_000);

  it('times connector calls by connector, operation and outcome, a throw as error', async () => {
    const card: Connector = {
      method: 'card',
      authorize: () => Promise.resolve({ status: 'declined', code: 'card_declined', message: 'declined' }),
      capture: () => Promise.reject(new Error('connection reset')),
      void: () => Promise.resolve({ status: 'succeeded' }),
      refund: () => Promise.resolve({ status: 'unknown', reason: 'timeout' }),
      status: () => Promise.resolve({ status: 'not_found' }),
      parseNotification: () => Promise.resolve({ ok: false, reason: 'bad signature' }),
    };
    const instrumented = metrics.instrumentConnectors({ card }).card;
    expect(instrumented).toBeDefined();
    const options = { idempotency_reference: 'pa_1', timeout_ms: 1_000 };
    await instrumented?.authorize({ merchant_id: 'mer_1', livemode: false, amount: 100n, currency: 'USD', payment_method: { type: 'card', token: 'tok_1' }, capture_method: 'automatic', description: 'x' }, options);
    await expect(instrumented?.capture('ref', 100n, options)).rejects.toThrow('connection reset');
    await instrumented?.refund('ref', 100n, options);
    await instrumented?.parseNotification({}, '');
    const counts = (await values(registry, 'paygrid_connector_call_duration_seconds')).filter((sample) => (sample as { metricName?: string }).metricName === 'paygrid_connector_call_duration_seconds_count');
    const outcomes = Object.fromEntries(counts.map((sample) => [`${String(sample.labels.operation)}:${String(sample.labels.outcome)}`, sample.value]));
    expect(outcomes).toEqual({ 'authorize:declined': 1, 'capture:error': 1, 'refund:unknown': 1, 'parse_notification:rejected': 1 });
    expect(counts.every((sample) => sample.labels.connector === 'card')).toBe(true);
  });

  it('classes webhook attempts by their answer, never by the raw status', () => {
    const attempt = (response_status: number | null, error: string | null = null) => ({ succeeded: response_status !== null && response_status < 300, response_status, response_body: null, error, duration_ms: 10, retry_after_ms: undefined });
    expect(webhookAttemptOutcome(attempt(204))).toBe('succeeded');
    expect(webhookAttemptOutcome(attempt(410))).toBe('gone');
    expect(webhookAttemptOutcome(attempt(404))).toBe('client_error');
    expect(webhookAttemptOutcome(attempt(503))).toBe('server_error');
    expect(webhookAttemptOutcome(attempt(302))).toBe('redirect_or_other');
    expect(webhookAttemptOutcome(attempt(null, 'timeout'))).toBe('no_answer');
    expect(webhookAttemptOutcome(attempt(null, 'url_not_allowed: private address'))).toBe('url_not_allowed');
  });
});
