// The metrics every Paygrid process exports, and the deploy files that read them: the scrape
// config, the alert rules and the Grafana dashboards (deploy/prometheus, deploy/grafana). The
// all-in-one process runs here on SQLite; test/metrics-distributed.test.ts scrapes each process of
// the distributed mode, where the ledger's prepared-transaction gauges exist (PostgreSQL only).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { paymentsJourney, walletJourney } from './support/acceptance';
import { alerts_file, deployQueries, deploy_directory, distributed_only_families, missingMetrics, postgres_only_families, readAlertRules, readDashboards, selectedLabels, selectedMetricNames, unknownLabels } from './support/deploy-queries';
import { family, histogramCount, labelValues, lintMetricsText, metrics_tools_skipped, parseMetricsText, promtool_path, sampleSum, scrapeMetrics, type MetricFamilies } from './support/metrics-scrape';
import { startTestPlatform, type TestPlatform } from './support/platform';

const operations_doc = join(import.meta.dirname, '..', 'docs', 'operations.md');

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function headingAnchors(markdown: string): Set<string> {
  return new Set(
    markdown
      .split('\n')
      .filter((line) => /^#{1,6} /.test(line))
      .map((line) =>
        line
          .replace(/^#+ /, '')
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N} _-]/gu, '')
          .replace(/ /g, '-'),
      ),
  );
}

describe.skipIf(metrics_tools_skipped)('deploy/prometheus and deploy/grafana', () => {
  it('pass promtool: the config with its rules, and the rules\' unit tests (deploy/prometheus/alerts.test.yml)', () => {
    const prometheus_directory = join(deploy_directory, 'prometheus');
    const run = (...args: string[]) => execFileSync(promtool_path, args, { cwd: prometheus_directory, encoding: 'utf8' });
    expect(run('check', 'config', 'prometheus.yml')).toMatch(/SUCCESS: \d+ rules found/);
    expect(run('test', 'rules', 'alerts.test.yml')).toContain('SUCCESS');
  });

  it('scrape every compose service on port 9464 by DNS, labelled by service, with the alert rules loaded', () => {
    const config = parseYaml(readFileSync(join(deploy_directory, 'prometheus', 'prometheus.yml'), 'utf8')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; dns_sd_configs?: { names: string[]; type: string; port: number }[]; relabel_configs?: { source_labels?: string[]; target_label?: string }[] }[];
    };
    expect(config.rule_files).toEqual(['alerts.yml']);
    const discovered = config.scrape_configs.flatMap((job) => (job.dns_sd_configs ?? []).map((sd) => ({ job, sd })));
    expect(discovered.flatMap(({ sd }) => sd.names).sort()).toEqual(['gateway', 'identity', 'ledger', 'payments', 'vault', 'wallet', 'webhooks']);
    for (const { job, sd } of discovered) {
      expect(sd).toMatchObject({ type: 'A', port: 9464 });
      expect(job.relabel_configs).toContainEqual({ source_labels: ['__meta_dns_name'], target_label: 'service' });
    }
  });

  it('alert on what the issue names, each with a severity, a summary and a runbook entry in docs/operations.md', () => {
    const rules = readAlertRules();
    const names = rules.map((rule) => rule.alert);
    expect(new Set(names).size).toBe(names.length);
    for (const required of ['PaygridErrorBudgetBurnFast', 'PaygridErrorBudgetBurnSlow', 'PaygridLatencyP99High', 'PaygridOutboxLag', 'PaygridDeadLetters', 'PaygridLedgerWriterDown', 'PaygridPreparedTransactionStale']) {
      expect(names).toContain(required);
    }
    const anchors = headingAnchors(readFileSync(operations_doc, 'utf8'));
    for (const rule of rules) {
      expect(['critical', 'warning'], rule.alert).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      const runbook = /^docs\/operations\.md#(.+)$/.exec(rule.annotations?.runbook_url ?? '');
      expect(runbook?.[1], `${rule.alert} points at docs/operations.md#…`).toBeDefined();
      expect(anchors.has(runbook?.[1] ?? ''), `docs/operations.md has a heading for #${runbook?.[1] ?? ''}`).toBe(true);
      if (rule.for !== undefined) expect(rule.for).toMatch(/^\d+[smh]$/);
    }
    // The error-budget alerts look at a long and a short window, both.
    for (const name of ['PaygridErrorBudgetBurnFast', 'PaygridErrorBudgetBurnSlow']) {
      const windows = new Set([...(rules.find((rule) => rule.alert === name)?.expr ?? '').matchAll(/\[(\d+[mh])\]/g)].map((match) => match[1]));
      expect(windows.size, name).toBe(2);
    }
    expect(readFileSync(alerts_file, 'utf8')).not.toContain('\t');
  });

  it('provision four dashboards on the prometheus datasource, and every query parses', () => {
    const datasource = parseYaml(readFileSync(join(deploy_directory, 'grafana', 'provisioning', 'datasources', 'prometheus.yaml'), 'utf8')) as { datasources: { uid: string; type: string; url: string }[] };
    expect(datasource.datasources).toEqual([expect.objectContaining({ uid: 'prometheus', type: 'prometheus', url: 'http://prometheus:9090' })]);
    const provider = parseYaml(readFileSync(join(deploy_directory, 'grafana', 'provisioning', 'dashboards', 'paygrid.yaml'), 'utf8')) as { providers: { type: string; options: { path: string } }[] };
    expect(provider.providers).toEqual([expect.objectContaining({ type: 'file', options: expect.objectContaining({ path: '/var/lib/grafana/dashboards' }) })]);
    const dashboards = readDashboards();
    expect([...dashboards.keys()]).toEqual(['ledger.json', 'overview.json', 'payments.json', 'webhooks.json']);
    expect(new Set([...dashboards.values()].map((dashboard) => dashboard.uid)).size).toBe(4);
    for (const [file, dashboard] of dashboards) {
      expect(dashboard.panels.length, file).toBeGreaterThan(0);
      const text = JSON.stringify(dashboard);
      // Every datasource reference is the provisioned one.
      for (const match of text.matchAll(/"datasource":\{"type":"([^"]+)","uid":"([^"]+)"\}/g)) expect([match[1], match[2]]).toEqual(['prometheus', 'prometheus']);
      expect(text.match(/"datasource":/g)?.length).toBe(text.match(/"datasource":\{"type":"prometheus","uid":"prometheus"\}/g)?.length);
    }
    const queries = deployQueries();
    expect(queries.length).toBeGreaterThan(40);
    for (const query of queries) expect(() => selectedMetricNames(query.expr), query.where).not.toThrow();
    // A broken expression is caught: the check can fail.
    expect(() => selectedMetricNames('sum(rate(paygrid_webhook_attempts_total[5m])')).toThrow(/does not parse/);
  });
});

describe.skipIf(metrics_tools_skipped)('the all-in-one process', () => {
  let test: TestPlatform;
  let families: MetricFamilies;

  beforeAll(async () => {
    test = await startTestPlatform();
    const deployment = { url: test.url, operator_key: test.operator_key, sandboxes: { alipay: test.platform.provider_sandboxes?.alipay?.url ?? '', wechat_pay: test.platform.provider_sandboxes?.wechat_pay?.url ?? '' } };
    await walletJourney(deployment);
    await paymentsJourney(deployment);
    families = await scrapeMetrics(test.url, test.operator_key);
  }, 120_000);
  afterAll(async () => {
    await test.close();
  });

  it('exports every family of every service, with values the traffic explains', () => {
    // Default process metrics, once (promtool, in scrapeMetrics, refuses a family exposed twice).
    for (const name of ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes']) family(families, name);
    expect(sampleSum(families, 'process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
    expect(histogramCount(families, 'paygrid_http_request_duration_seconds', { route: '/v1/payment_intents/:id/confirm', status_code: '200' })).toBeGreaterThan(0);
    expect(sampleSum(families, 'paygrid_ledger_transfers_committed_total')).toBeGreaterThan(5);
    expect(histogramCount(families, 'paygrid_ledger_batch_commit_seconds')).toBeGreaterThan(0);
    expect(histogramCount(families, 'paygrid_ledger_batch_events')).toBe(histogramCount(families, 'paygrid_ledger_batch_commit_seconds'));
    // The journeys' receiver answers 503 twice before it takes events.
    expect(sampleSum(families, 'paygrid_webhook_attempts_total', { outcome: 'server_error' })).toBe(2);
    expect(sampleSum(families, 'paygrid_webhook_attempts_total', { outcome: 'succeeded' })).toBeGreaterThan(0);
    expect(histogramCount(families, 'paygrid_webhook_attempt_duration_seconds')).toBe(sampleSum(families, 'paygrid_webhook_attempts_total'));
    expect(histogramCount(families, 'paygrid_connector_call_duration_seconds', { connector: 'card', operation: 'authorize', outcome: 'authorized' })).toBeGreaterThan(0);
    expect(histogramCount(families, 'paygrid_connector_call_duration_seconds', { connector: 'card', operation: 'authorize', outcome: 'declined' })).toBe(1);
    expect(labelValues(families, 'paygrid_connector_call_duration_seconds', 'connector')).toEqual(new Set(['card', 'alipay', 'wechat_pay']));
    // Every event was delivered, so both outboxes are empty, and their gauges say so.
    expect(labelValues(families, 'paygrid_outbox_unpublished_events', 'outbox')).toEqual(new Set(['wallet_events', 'payment_events']));
    expect(sampleSum(families, 'paygrid_outbox_unpublished_events')).toBe(0);
    expect(sampleSum(families, 'paygrid_outbox_oldest_unpublished_age_seconds')).toBe(0);
    expect(labelValues(families, 'paygrid_saga_runs', 'saga')).toEqual(new Set(['wallet_movement', 'wallet_withdrawal', 'webhook_delivery', 'payment_attempt']));
    expect(labelValues(families, 'paygrid_saga_runs', 'status')).toEqual(new Set(['ready', 'running', 'waiting', 'retrying', 'compensating']));
    family(families, 'paygrid_bus_dead_letters_total');
    expect(sampleSum(families, 'paygrid_bus_reachable')).toBe(1);
    expect(sampleSum(families, 'paygrid_metrics_scrape_errors_total')).toBe(0);
    // The prepared-transaction gauges exist only where the ledger runs on PostgreSQL, and the
    // upstream metrics only where a process calls another.
    for (const name of [...postgres_only_families, ...distributed_only_families]) expect(families.has(name), name).toBe(false);
  });

  it('bounds every label: no id of a payment, customer, merchant or event in any label value', () => {
    for (const [name, exported] of families) {
      for (const sample of exported.samples) {
        for (const [label, value] of Object.entries(sample.labels)) expect(value, `${name}{${label}}`).not.toMatch(/(pi|cus|mer|evt|wal|wtr|tok|we|wdr|re|pa)_[A-Za-z0-9]{8,}/);
      }
    }
  });

  it('exports every metric the dashboards and alerts query', () => {
    expect(missingMetrics(families, new Set([...postgres_only_families, ...distributed_only_families]))).toEqual([]);
    // The check can fail: a family the process lacks is reported.
    const without = new Map(families);
    without.delete('paygrid_ledger_transfers_committed_total');
    expect(missingMetrics(without, postgres_only_families).join('\n')).toContain('paygrid_ledger_transfers_committed_total');
    expect(unknownLabels(families)).toEqual([]);
    // A label the code no longer carries is reported.
    expect(unknownLabels(parseMetricsText('# TYPE paygrid_outbox_oldest_unpublished_age_seconds gauge\npaygrid_outbox_oldest_unpublished_age_seconds{table="wallet_events"} 1\n')).join('\n')).toContain('by (outbox) over paygrid_outbox_oldest_unpublished_age_seconds');
    expect(selectedLabels('sum(rate(paygrid_webhook_attempts_total{outcome!="succeeded",service=~"$service"}[5m]))')).toEqual([{ metric: 'paygrid_webhook_attempts_total', labels: ['outcome', 'service'] }]);
  });
});

describe.skipIf(metrics_tools_skipped)('the exposition checks', () => {
  it('find what promtool and the parser refuse: they can fail', () => {
    expect(lintMetricsText('# HELP paygrid_things_total Things.\n# TYPE paygrid_things_total gauge\npaygrid_things_total 1\n')).toEqual(['paygrid_things_total non-counter metrics should not have "_total" suffix']);
    expect(() => lintMetricsText('paygrid_broken{label="unterminated} 1\n')).toThrow();
    // A family exposed twice (default metrics collected twice, say): promtool refuses it.
    expect(() => lintMetricsText('# TYPE paygrid_once gauge\npaygrid_once 1\n# TYPE paygrid_once gauge\npaygrid_once 2\n')).toThrow();
    // The parser reads every sample line, or the scrape fails.
    expect(parseMetricsText('# TYPE paygrid_things gauge\npaygrid_things{kind="a"} 1\npaygrid_things{kind="b"} 2\n').get('paygrid_things')?.samples).toHaveLength(2);
  });
});
