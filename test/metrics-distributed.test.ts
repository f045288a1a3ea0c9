// Every process of the distributed mode (each service its own process, payments twice) exports
// the metrics of the services it runs, and only those: after a wallet journey and a payments
// journey, each process's /metrics is scraped and parsed, and its families and values checked.
// Between them they export every metric the dashboards and alerts query, the ledger's
// prepared-transaction gauges included (the ledger runs on PostgreSQL here).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithPostgresNatsAndRedis } from '@paygrid/kernel/testing';
import { paymentsJourney, walletJourney } from './support/acceptance';
import { missingMetrics, unknownLabels } from './support/deploy-queries';
import { startDistributedTestDeployment, type DistributedTestDeployment } from './support/distributed';
import { family, histogramCount, labelValues, metrics_tools_skipped, sampleSum, scrapeMetrics, type MetricFamilies, type MetricFamily } from './support/metrics-scrape';

/** Families whose samples only the processes running their service have. */
const owned_families: Readonly<Record<string, readonly string[]>> = {
  ledger: ['paygrid_ledger_transfers_committed_total', 'paygrid_ledger_batch_events', 'paygrid_ledger_batch_commit_seconds', 'paygrid_postgres_prepared_transactions'],
  payments: ['paygrid_connector_call_duration_seconds'],
  webhooks: ['paygrid_webhook_attempts_total'],
};

/** Families every process exports, whatever it runs. */
const everywhere = ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes', 'paygrid_http_request_duration_seconds', 'paygrid_bus_dead_letters_total'];

if (metrics_tools_skipped) {
  describe.skip('metrics of every process of the distributed mode', () => {
    it('needs promtool and the Prometheus Python client', () => undefined);
  });
} else {
  describeWithPostgresNatsAndRedis('metrics of every process of the distributed mode', (urls) => {
    let deployment: DistributedTestDeployment | undefined;
    const scraped: { service: string; instance: number; families: MetricFamilies }[] = [];

    beforeAll(async () => {
      deployment = await startDistributedTestDeployment(urls);
      try {
        await walletJourney(deployment);
        await paymentsJourney(deployment);
        for (const process of deployment.running.processes) {
          scraped.push({ service: process.service, instance: process.instance, families: await scrapeMetrics(`http://127.0.0.1:${process.port}`, deployment.operator_key) });
        }
      } catch (error) {
        throw new Error(`${(error as Error).message}\n${deployment.output.slice(-40).join('\n')}`, { cause: error });
      }
    }, 240_000);
    afterAll(async () => {
      // Undefined when the start failed: beforeAll reported that already.
    await deployment?.stop();
    }, 60_000);

    const of = (service: string) => scraped.filter((each) => each.service === service);
    const total = (service: string, read: (families: MetricFamilies) => number) => of(service).reduce((sum, each) => sum + read(each.families), 0);

    it('scrapes all eight processes, each with the default process metrics once and its requests', () => {
      expect(scraped.map((each) => `${each.service}-${each.instance}`).sort()).toEqual(['gateway-1', 'identity-1', 'ledger-1', 'payments-1', 'payments-2', 'vault-1', 'wallet-1', 'webhooks-1']);
      for (const { service, families } of scraped) {
        for (const name of everywhere) expect(families.has(name), `${service} exports ${name}`).toBe(true);
        expect(sampleSum(families, 'process_resident_memory_bytes'), service).toBeGreaterThan(10_000_000);
        expect(sampleSum(families, 'paygrid_metrics_scrape_errors_total'), service).toBe(0);
        expect(sampleSum(families, 'paygrid_bus_reachable'), `${service} reaches NATS`).toBe(1);
      }
      // Each service answered the calls the journeys made of it.
      expect(histogramCount(of('gateway')[0]?.families ?? new Map(), 'paygrid_http_request_duration_seconds', { route: '/v1/payment_intents/:id/confirm', status_code: '200' })).toBeGreaterThan(0);
      for (const service of ['identity', 'vault', 'wallet', 'webhooks', 'payments']) {
        const internal = (families: MetricFamilies) =>
          family(families, 'paygrid_http_request_duration_seconds')
            .samples.filter((sample) => sample.name === 'paygrid_http_request_duration_seconds_count' && sample.labels.route?.startsWith(`/internal/${service}/`) === true)
            .reduce((sum, sample) => sum + Number(sample.value), 0);
        expect(total(service, internal), `${service} served internal calls`).toBeGreaterThan(0);
      }
    });

    it('exports each service\'s own families only where it runs, with values the traffic explains', () => {
      for (const [owner, names] of Object.entries(owned_families)) {
        for (const { service, families } of scraped) {
          for (const name of names) expect(families.has(name), `${service} ${service === owner ? 'exports' : 'does not export'} ${name}`).toBe(service === owner);
        }
      }
      const ledger = of('ledger')[0]?.families ?? new Map<string, MetricFamily>();
      expect(sampleSum(ledger, 'paygrid_ledger_transfers_committed_total')).toBeGreaterThan(5);
      expect(histogramCount(ledger, 'paygrid_ledger_batch_commit_seconds')).toBeGreaterThan(0);
      // The query of pg_prepared_xacts ran (one sample each: a failed query leaves none), and no
      // two-phase transaction is left prepared in the ledger's database.
      expect(family(ledger, 'paygrid_postgres_prepared_transactions').samples).toHaveLength(1);
      expect(family(ledger, 'paygrid_postgres_prepared_transaction_oldest_age_seconds').samples).toHaveLength(1);
      expect(sampleSum(ledger, 'paygrid_postgres_prepared_transactions')).toBe(0);
      expect(sampleSum(ledger, 'paygrid_postgres_prepared_transaction_oldest_age_seconds')).toBe(0);

      expect(total('payments', (families) => histogramCount(families, 'paygrid_connector_call_duration_seconds', { connector: 'card', operation: 'authorize', outcome: 'authorized' }))).toBeGreaterThan(0);
      expect(total('payments', (families) => histogramCount(families, 'paygrid_connector_call_duration_seconds', { connector: 'card', operation: 'authorize', outcome: 'declined' }))).toBe(1);
      // The journeys' receiver answers 503 twice before it takes events.
      const webhooks = of('webhooks')[0]?.families ?? new Map<string, MetricFamily>();
      expect(sampleSum(webhooks, 'paygrid_webhook_attempts_total', { outcome: 'server_error' })).toBe(2);
      expect(sampleSum(webhooks, 'paygrid_webhook_attempts_total', { outcome: 'succeeded' })).toBeGreaterThan(0);
      expect(labelValues(webhooks, 'paygrid_saga_runs', 'saga')).toEqual(new Set(['webhook_delivery']));

      // Outboxes where they are, drained: every event reached the receiver.
      for (const [service, outbox, sagas] of [
        ['wallet', 'wallet_events', ['wallet_movement', 'wallet_withdrawal']],
        ['payments', 'payment_events', ['payment_attempt']],
      ] as const) {
        for (const { families } of of(service)) {
          expect(labelValues(families, 'paygrid_outbox_unpublished_events', 'outbox')).toEqual(new Set([outbox]));
          expect(sampleSum(families, 'paygrid_outbox_unpublished_events')).toBe(0);
          expect(labelValues(families, 'paygrid_saga_runs', 'saga')).toEqual(new Set(sagas));
        }
      }
      // Calls between processes: the wallet and payments call the ledger; the gateway calls payments.
      expect(sampleSum(of('wallet')[0]?.families ?? new Map(), 'paygrid_upstream_requests_total', { upstream: 'ledger', outcome: 'response' })).toBeGreaterThan(0);
      expect(sampleSum(of('gateway')[0]?.families ?? new Map(), 'paygrid_upstream_requests_total', { upstream: 'payments', outcome: 'response' })).toBeGreaterThan(0);
    });

    it('exports, between its processes, every metric the dashboards and alerts query', () => {
      const union = new Map<string, MetricFamily>();
      for (const { families } of scraped) for (const [name, exported] of families) union.set(name, exported);
      expect(missingMetrics(union)).toEqual([]);
      // And on labels the metrics carry: a label renamed in the code breaks no panel silently.
      expect(unknownLabels(union)).toEqual([]);
    });
  });
}
