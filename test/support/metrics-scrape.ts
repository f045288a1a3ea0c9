// Scrapes a Paygrid process's /metrics and parses the Prometheus text format with
// parse-prometheus-text-format (a port of the Prometheus Python client's parser), so that tests
// read families and samples rather than match lines.
import parsePrometheusTextFormat, { type PrometheusFamily, type PrometheusSample } from 'parse-prometheus-text-format';
import { expect } from 'vitest';

export type MetricFamilies = ReadonlyMap<string, PrometheusFamily>;

export async function scrapeMetrics(url: string, operator_key?: string): Promise<MetricFamilies> {
  const response = await fetch(`${url}/metrics`, operator_key === undefined ? {} : { headers: { authorization: `Bearer ${operator_key}` } });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const families = parsePrometheusTextFormat(text);
  const by_name = new Map<string, PrometheusFamily>();
  for (const family of families) {
    // A family registered twice (the default metrics collected twice, say) is a broken exposition.
    expect(by_name.has(family.name), `${family.name} is exposed once`).toBe(false);
    by_name.set(family.name, family);
  }
  // Every sample line belongs to a family the parser saw: a histogram's series are inside it.
  const sample_lines = text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
  const counted = families.reduce((sum, family) => sum + family.metrics.reduce((lines, sample) => lines + (sample.buckets === undefined ? (sample.count === undefined ? 1 : 2) : Object.keys(sample.buckets).length + 2), 0), 0);
  expect(counted, 'every sample line was parsed into a family').toBe(sample_lines.length);
  return by_name;
}

export function family(families: MetricFamilies, name: string): PrometheusFamily {
  const found = families.get(name);
  expect(found, `${name} is exported`).toBeDefined();
  return found as PrometheusFamily;
}

function matches(sample: PrometheusSample, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value);
}

/** The sum of a counter's or gauge's samples with these labels (all samples without labels given). */
export function sampleSum(families: MetricFamilies, name: string, labels: Readonly<Record<string, string>> = {}): number {
  return family(families, name)
    .metrics.filter((sample) => matches(sample, labels))
    .reduce((sum, sample) => sum + Number(sample.value), 0);
}

/** The total observation count of a histogram's samples with these labels. */
export function histogramCount(families: MetricFamilies, name: string, labels: Readonly<Record<string, string>> = {}): number {
  return family(families, name)
    .metrics.filter((sample) => matches(sample, labels))
    .reduce((sum, sample) => sum + Number(sample.count), 0);
}

/** Every value of one label across a family's samples. */
export function labelValues(families: MetricFamilies, name: string, label: string): Set<string> {
  return new Set(family(families, name).metrics.flatMap((sample) => (sample.labels?.[label] === undefined ? [] : [sample.labels[label]])));
}
