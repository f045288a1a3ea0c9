// Scrapes a Paygrid process's /metrics and parses the Prometheus text format with the parser of
// the official Prometheus Python client (Debian's python3-prometheus-client, which .ci/run
// installs). The one npm parser (parse-prometheus-text-format) merges the series of a labelled
// histogram into one and drops their labels, which would hide exactly what these tests check.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { expect } from 'vitest';

/** Debian's interpreter, where apt installs the client; a pyenv or venv python3 on PATH lacks it. */
export const python_path = '/usr/bin/python3';
/** Prometheus's own checker of configs, rules (and their unit tests), from Debian's prometheus package. */
export const promtool_path = '/usr/bin/promtool';

/**
 * Whether the parser and promtool are installed. Without them the metrics suites fail in CI
 * (CI=true), where .ci/run installs them, and are skipped with a [skip] line elsewhere.
 */
export const metrics_tools_present = existsSync(promtool_path) && existsSync('/usr/lib/python3/dist-packages/prometheus_client/parser.py');
export const metrics_tools_skipped = !metrics_tools_present && process.env.CI !== 'true';
if (metrics_tools_skipped) console.warn('[skip] metrics suites skipped: apt-get install python3-prometheus-client prometheus (for promtool)');

const parse_script = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
def number(value):
    return value if math.isfinite(value) else repr(value)
families = []
for family in text_string_to_metric_families(sys.stdin.read()):
    families.append({"name": family.name, "type": family.type, "help": family.documentation,
                     "samples": [{"name": s.name, "labels": s.labels, "value": number(s.value)} for s in family.samples]})
json.dump(families, sys.stdout)
`;

export interface MetricSample {
  /** The series name: a histogram's samples are `<family>_bucket`, `_sum` and `_count`. */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number | string;
}

export interface MetricFamily {
  /** As exposed: a counter keeps its `_total` (the Python client drops it from the family name). */
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped' | 'unknown';
  readonly help: string;
  readonly samples: readonly MetricSample[];
}

export type MetricFamilies = ReadonlyMap<string, MetricFamily>;

export function parseMetricsText(text: string): MetricFamilies {
  const output = execFileSync(python_path, ['-c', parse_script], { input: text, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const parsed = JSON.parse(output) as MetricFamily[];
  const families = new Map<string, MetricFamily>();
  const declared = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]));
  for (const parsed_family of parsed) {
    const name = parsed_family.type === 'counter' && declared.has(`${parsed_family.name}_total`) ? `${parsed_family.name}_total` : parsed_family.name;
    expect(declared.has(name), `${name} is declared by a # TYPE line`).toBe(true);
    // promtool (lintMetricsText) refuses a family exposed twice; here, two families must not
    // fold into one name.
    expect(families.has(name), `${name} is one family`).toBe(false);
    families.set(name, { ...parsed_family, name });
  }
  // Every sample line was read into some family.
  const sample_lines = text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
  expect([...families.values()].reduce((sum, each) => sum + each.samples.length, 0), 'every sample line was parsed').toBe(sample_lines.length);
  return families;
}

/** What promtool's lint says of prom-client's own default metrics (gauges named `_total`): not ours to rename. */
const default_metrics_lint = new Set(['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'].map((name) => `${name} non-counter metrics should not have "_total" suffix`));

/** Runs `promtool check metrics`, Prometheus's own parser and linter of the exposition; returns what it found beyond prom-client's defaults. */
export function lintMetricsText(text: string): string[] {
  const result = spawnSync(promtool_path, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  // 0: clean; 3: lint findings only. Anything else is an exposition promtool could not read.
  expect([0, 3], result.stderr).toContain(result.status);
  return `${result.stdout}\n${result.stderr}`
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !default_metrics_lint.has(line));
}

export async function scrapeMetrics(url: string, operator_key?: string): Promise<MetricFamilies> {
  const response = await fetch(`${url}/metrics`, operator_key === undefined ? {} : { headers: { authorization: `Bearer ${operator_key}` } });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  expect(lintMetricsText(text), 'promtool check metrics').toEqual([]);
  return parseMetricsText(text);
}

export function family(families: MetricFamilies, name: string): MetricFamily {
  const found = families.get(name);
  expect(found, `${name} is exported`).toBeDefined();
  return found as MetricFamily;
}

function matches(sample: MetricSample, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(labels).every(([key, value]) => sample.labels[key] === value);
}

/** The sum of a counter's or gauge's samples with these labels (all samples when none are given). */
export function sampleSum(families: MetricFamilies, name: string, labels: Readonly<Record<string, string>> = {}): number {
  return family(families, name)
    .samples.filter((sample) => sample.name === name && matches(sample, labels))
    .reduce((sum, sample) => sum + Number(sample.value), 0);
}

/** The observations of a histogram's series with these labels. */
export function histogramCount(families: MetricFamilies, name: string, labels: Readonly<Record<string, string>> = {}): number {
  const histogram = family(families, name);
  expect(histogram.type, name).toBe('histogram');
  return histogram.samples.filter((sample) => sample.name === `${name}_count` && matches(sample, labels)).reduce((sum, sample) => sum + Number(sample.value), 0);
}

/** Every value of one label across a family's samples. */
export function labelValues(families: MetricFamilies, name: string, label: string): Set<string> {
  return new Set(family(families, name).samples.flatMap((sample) => (sample.labels[label] === undefined ? [] : [sample.labels[label]])));
}
