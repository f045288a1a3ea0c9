// Every PromQL expression in deploy/grafana/dashboards and deploy/prometheus/alerts.yml, and the
// metric names they select, read with Prometheus's own PromQL grammar (@prometheus-io/lezer-promql).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { expect } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { family, type MetricFamilies } from './metrics-scrape';

export const deploy_directory = join(import.meta.dirname, '..', '..', 'deploy');
export const dashboards_directory = join(deploy_directory, 'grafana', 'dashboards');
export const alerts_file = join(deploy_directory, 'prometheus', 'alerts.yml');

/** Series Prometheus makes itself for every target, which no process exports. */
export const synthesized_metric_names: ReadonlySet<string> = new Set(['up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_samples_post_metric_relabeling', 'scrape_series_added']);

export interface DeployQuery {
  /** Where it is: `overview.json: panel "…"` or `alerts.yml: PaygridOutboxLag`. */
  readonly where: string;
  readonly expr: string;
}

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

export function readAlertRules(): AlertRule[] {
  const document = parseYaml(readFileSync(alerts_file, 'utf8')) as { groups: { name: string; rules: AlertRule[] }[] };
  return document.groups.flatMap((group) => group.rules);
}

interface DashboardPanel {
  readonly title: string;
  readonly targets?: readonly { readonly expr?: string }[];
  readonly panels?: readonly DashboardPanel[];
}

export interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly panels: readonly DashboardPanel[];
  readonly templating?: { readonly list: readonly { readonly name: string; readonly query?: { readonly query?: string } | string; readonly datasource?: unknown }[] };
}

export function readDashboards(): Map<string, Dashboard> {
  const dashboards = new Map<string, Dashboard>();
  for (const file of readdirSync(dashboards_directory).filter((name) => name.endsWith('.json')).sort()) {
    dashboards.set(file, JSON.parse(readFileSync(join(dashboards_directory, file), 'utf8')) as Dashboard);
  }
  return dashboards;
}

export function deployQueries(): DeployQuery[] {
  const queries: DeployQuery[] = [];
  for (const [file, dashboard] of readDashboards()) {
    const visit = (panels: readonly DashboardPanel[]) => {
      for (const panel of panels) {
        for (const target of panel.targets ?? []) if (target.expr !== undefined) queries.push({ where: `${file}: panel "${panel.title}"`, expr: target.expr });
        visit(panel.panels ?? []);
      }
    };
    visit(dashboard.panels);
    for (const variable of dashboard.templating?.list ?? []) {
      const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
      // label_values(<selector>, label) is Grafana's, not PromQL: its selector is.
      const selector = query === undefined ? undefined : /^label_values\((.*),\s*\w+\)$/.exec(query)?.[1];
      if (selector !== undefined) queries.push({ where: `${file}: variable ${variable.name}`, expr: selector });
    }
  }
  for (const rule of readAlertRules()) queries.push({ where: `alerts.yml: ${rule.alert}`, expr: rule.expr });
  return queries;
}

/** Labels Prometheus puts on every series of a target: the scrape config's, not the process's. */
export const target_labels: ReadonlySet<string> = new Set(['service', 'instance', 'job']);

/** The label names each selector of an expression matches on, by the metric it selects. */
export function selectedLabels(expr: string): { readonly metric: string; readonly labels: string[] }[] {
  const selected: { metric: string; labels: string[] }[] = [];
  parser.parse(expr).iterate({
    enter: (node) => {
      if (node.name !== 'VectorSelector') return;
      const identifier = node.node.getChild('Identifier');
      if (identifier === null) return;
      const labels: string[] = [];
      const matchers = node.node.getChild('LabelMatchers');
      matchers?.toTree().iterate({
        enter: (inner) => {
          if (inner.name === 'LabelName') labels.push(expr.slice(matchers.from + inner.from, matchers.from + inner.to));
        },
      });
      selected.push({ metric: expr.slice(identifier.from, identifier.to), labels });
    },
  });
  return selected;
}

/** The labels each aggregation groups by (`sum by (a, b) (…)`), with the metrics it aggregates. */
export function groupingLabels(expr: string): { readonly metrics: string[]; readonly labels: string[] }[] {
  const groupings: { metrics: string[]; labels: string[] }[] = [];
  parser.parse(expr).iterate({
    enter: (node) => {
      if (node.name !== 'AggregateExpr') return;
      const labels: string[] = [];
      const metrics: string[] = [];
      const modifier = node.node.getChild('AggregateModifier');
      const grouping = modifier?.getChild('By') === null ? null : modifier?.getChild('GroupingLabels');
      grouping?.toTree().iterate({
        enter: (inner) => {
          if (inner.name === 'LabelName') labels.push(expr.slice(grouping.from + inner.from, grouping.from + inner.to));
        },
      });
      node.node.toTree().iterate({
        enter: (inner) => {
          if (inner.name === 'Identifier') metrics.push(expr.slice(node.from + inner.from, node.from + inner.to));
        },
      });
      if (labels.length > 0) groupings.push({ metrics, labels });
    },
  });
  return groupings;
}

/** The metric names an expression selects; throws on a syntax error, naming where it is. */
export function selectedMetricNames(expr: string): string[] {
  const tree = parser.parse(expr);
  const names: string[] = [];
  const errors: string[] = [];
  tree.iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(`at ${node.from}: "${expr.slice(Math.max(0, node.from - 20), node.to + 20)}"`);
      if (node.name !== 'VectorSelector') return;
      const identifier = node.node.getChild('Identifier');
      if (identifier !== null) {
        names.push(expr.slice(identifier.from, identifier.to));
        return;
      }
      const by_name = /__name__\s*=\s*"([^"]+)"/.exec(expr.slice(node.from, node.to));
      if (by_name?.[1] !== undefined) names.push(by_name[1]);
      else errors.push(`a selector without a metric name: ${expr.slice(node.from, node.to)}`);
    },
  });
  if (errors.length > 0) throw new Error(`PromQL does not parse: ${errors.join('; ')} in ${expr}`);
  return names;
}

/** The family a series name belongs to: a histogram's _bucket, _sum and _count are its family's. */
export function familyOf(series: string, families: ReadonlySet<string>): string | undefined {
  if (families.has(series)) return series;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (series.endsWith(suffix) && families.has(series.slice(0, -suffix.length))) return series.slice(0, -suffix.length);
  }
  return undefined;
}

/** Families exported only where the ledger runs on PostgreSQL. */
export const postgres_only_families: ReadonlySet<string> = new Set(['paygrid_postgres_prepared_transaction_oldest_age_seconds', 'paygrid_postgres_prepared_transactions']);

/** Families of calls to services in other processes: the all-in-one makes none. */
export const distributed_only_families: ReadonlySet<string> = new Set([
  'paygrid_upstream_requests_total',
  'paygrid_upstream_request_duration_seconds',
  'paygrid_upstream_retries_total',
  'paygrid_upstream_ejections_total',
  'paygrid_upstream_circuit_state',
  'paygrid_upstream_instances_available',
]);

/** Every metric name the dashboards and alerts select that `families` lacks, with where it is asked for. */
export function missingMetrics(families: MetricFamilies, exempt: ReadonlySet<string> = new Set()): string[] {
  const names = new Set(families.keys());
  const missing: string[] = [];
  for (const query of deployQueries()) {
    for (const series of selectedMetricNames(query.expr)) {
      if (synthesized_metric_names.has(series) || exempt.has(series)) continue;
      const found = familyOf(series, names);
      if (found === undefined) missing.push(`${series} (${query.where})`);
      else if (found !== series) expect(['HISTOGRAM', 'SUMMARY'], `${series} is a series of the histogram ${found}`).toContain(family(families, found).type.toUpperCase());
    }
  }
  return missing;
}


/**
 * Every label the dashboards and alerts match a metric on that none of its exported samples
 * carries (target labels aside), with where it is asked for. Families with no sample yet are
 * passed over: their labels cannot be seen.
 */
export function unknownLabels(families: MetricFamilies): string[] {
  const names = new Set(families.keys());
  const unknown: string[] = [];
  for (const query of deployQueries()) {
    for (const { metric, labels } of selectedLabels(query.expr)) {
      const found = familyOf(metric, names);
      const exported = found === undefined ? undefined : families.get(found);
      if (exported === undefined || exported.samples.length === 0) continue;
      const carried = new Set(exported.samples.flatMap((sample) => Object.keys(sample.labels)));
      for (const label of labels) if (!target_labels.has(label) && !carried.has(label)) unknown.push(`${metric}{${label}} (${query.where})`);
    }
    for (const { metrics, labels } of groupingLabels(query.expr)) {
      const exported = metrics.flatMap((metric) => {
        const found = familyOf(metric, names);
        const family_found = found === undefined ? undefined : families.get(found);
        return family_found === undefined || family_found.samples.length === 0 ? [] : [family_found];
      });
      if (exported.length === 0) continue;
      const carried = new Set(exported.flatMap((each) => each.samples.flatMap((sample) => Object.keys(sample.labels))));
      for (const label of labels) if (!target_labels.has(label) && !carried.has(label)) unknown.push(`by (${label}) over ${metrics.join(', ')} (${query.where})`);
    }
  }
  return unknown;
}
