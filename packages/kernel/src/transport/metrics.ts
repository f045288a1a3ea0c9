// Metrics of outgoing service-to-service calls. Several upstreams in one process share one
// registry: each metric is registered once and labelled by the called service.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CircuitState } from './circuit-breaker';

export const upstream_requests_metric = 'paygrid_upstream_requests_total';
export const upstream_request_duration_metric = 'paygrid_upstream_request_duration_seconds';
export const upstream_retries_metric = 'paygrid_upstream_retries_total';
export const upstream_ejections_metric = 'paygrid_upstream_ejections_total';
export const upstream_circuit_state_metric = 'paygrid_upstream_circuit_state';
export const upstream_instances_available_metric = 'paygrid_upstream_instances_available';

/** From 1 ms to 10 s, as the server side (http/metrics.ts), so that both sides read alike. */
const upstream_request_duration_buckets_seconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * How a call ended: `response` (any status below 500), `server_error` (a 5xx answer, after
 * retries), `unavailable` (no answer: every attempt failed or the deadline passed),
 * `circuit_open` (failed fast, nothing sent).
 */
export type UpstreamOutcome = 'response' | 'server_error' | 'unavailable' | 'circuit_open';

/** The gauge's value per state: ordered by how bad it is, so an alert can say `> 0`. */
export const circuit_state_values: Readonly<Record<CircuitState, number>> = { closed: 0, half_open: 1, open: 2 };

export interface UpstreamMetrics {
  readonly requests: Counter<'upstream' | 'outcome'>;
  readonly duration: Histogram<'upstream' | 'outcome'>;
  readonly retries: Counter<'upstream'>;
  readonly ejections: Counter<'upstream'>;
  readonly circuit_state: Gauge<'upstream'>;
  readonly instances_available: Gauge<'upstream'>;
}

function existing<T>(registry: Registry, name: string, kind: abstract new (...args: never[]) => T): T | undefined {
  const metric = registry.getSingleMetric(name);
  return metric instanceof kind ? metric : undefined;
}

export function createUpstreamMetrics(registry: Registry): UpstreamMetrics {
  const registers = [registry];
  return {
    requests:
      existing<Counter<'upstream' | 'outcome'>>(registry, upstream_requests_metric, Counter) ??
      new Counter({ name: upstream_requests_metric, help: 'Calls to other services, by called service (upstream) and outcome.', labelNames: ['upstream', 'outcome'], registers }),
    duration:
      existing<Histogram<'upstream' | 'outcome'>>(registry, upstream_request_duration_metric, Histogram) ??
      new Histogram({
        name: upstream_request_duration_metric,
        help: 'Duration of calls to other services in seconds, retries included, by called service (upstream) and outcome.',
        labelNames: ['upstream', 'outcome'],
        buckets: upstream_request_duration_buckets_seconds,
        registers,
      }),
    retries:
      existing<Counter<'upstream'>>(registry, upstream_retries_metric, Counter) ??
      new Counter({ name: upstream_retries_metric, help: 'Attempts after the first, by called service (upstream).', labelNames: ['upstream'], registers }),
    ejections:
      existing<Counter<'upstream'>>(registry, upstream_ejections_metric, Counter) ??
      new Counter({ name: upstream_ejections_metric, help: 'Instances ejected after consecutive failures, by called service (upstream).', labelNames: ['upstream'], registers }),
    circuit_state:
      existing<Gauge<'upstream'>>(registry, upstream_circuit_state_metric, Gauge) ??
      new Gauge({ name: upstream_circuit_state_metric, help: 'Circuit breaker state by called service (upstream): 0 closed, 1 half-open, 2 open.', labelNames: ['upstream'], registers }),
    instances_available:
      existing<Gauge<'upstream'>>(registry, upstream_instances_available_metric, Gauge) ??
      new Gauge({
        name: upstream_instances_available_metric,
        help: 'Instances that may be called (healthy and not ejected), by called service (upstream).',
        labelNames: ['upstream'],
        registers,
      }),
  };
}
