import { Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const http_request_duration_metric = 'paygrid_http_request_duration_seconds';

/** From 1 ms to 10 s: ledger writes take a few milliseconds; anything near 10 s is broken. */
const http_request_duration_buckets_seconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type HttpRequestLabel = 'method' | 'route' | 'status_code';

export interface HttpMetrics {
  readonly registry: Registry;
  /** Rate, errors and duration per route, labelled by route pattern, never by raw URL. */
  readonly requestDuration: Histogram<HttpRequestLabel>;
}

/**
 * Metrics for one HTTP server. Without a registry, a new one is made with the default process
 * metrics. A shared registry (several servers in one process) is used as given, and the
 * histogram is registered on it once.
 */
export function createHttpMetrics(shared?: Registry): HttpMetrics {
  const registry = shared ?? new Registry();
  if (shared === undefined) collectDefaultMetrics({ register: registry });
  const existing = registry.getSingleMetric(http_request_duration_metric);
  const requestDuration =
    existing instanceof Histogram
      ? (existing as Histogram<HttpRequestLabel>)
      : new Histogram<HttpRequestLabel>({
          name: http_request_duration_metric,
          help: 'Duration of HTTP requests in seconds, by method, route pattern and status code.',
          labelNames: ['method', 'route', 'status_code'],
          buckets: http_request_duration_buckets_seconds,
          registers: [registry],
        });
  return { registry, requestDuration };
}
