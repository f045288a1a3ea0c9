// @paygrid/kernel/transport: how one service calls another (upstream.ts is the port).
//
// - singleOriginUpstream: one address, one keep-alive pool, no balancing and no retries.
// - createHttpUpstream: the load-balanced upstream for distributed mode (http-upstream.ts):
//   static or DNS-resolved instances, round robin / smooth weighted / least outstanding, active
//   health checks, outlier ejection, a circuit breaker, retries within the deadline, mutual TLS.
// - runWithDeadline / remainingDeadlineMs: the deadline a call inherits (deadline.ts), sent to
//   the callee as `paygrid-deadline-ms` and honoured by createHttpServer.
export { UpstreamUnavailableError, type Upstream, type UpstreamMethod, type UpstreamRequest, type UpstreamResponse } from './upstream';
export { singleOriginUpstream, type SingleOriginUpstreamOptions } from './single-origin';
export {
  createHttpUpstream,
  health_check_defaults,
  outlier_ejection_defaults,
  retry_defaults,
  upstream_connect_timeout_ms_default,
  upstream_connections_per_instance_default,
  upstream_dns_refresh_ms_default,
  upstream_response_bytes_max_default,
  upstream_timeout_ms_default,
  type HealthCheckOptions,
  type HttpUpstream,
  type HttpUpstreamOptions,
  type LookupAddress,
  type OutlierEjectionOptions,
  type RetryOptions,
  type UpstreamInstanceStatus,
  type UpstreamTls,
} from './http-upstream';
export { balancing_policies, createBalancer, type BalancedInstance, type Balancer, type BalancingPolicy } from './balancer';
export { CircuitBreaker, circuit_breaker_defaults, circuit_transitions, type CircuitBreakerOptions, type CircuitOutcome, type CircuitPermit, type CircuitState } from './circuit-breaker';
export { deadline_header, parseDeadlineHeader, remainingDeadlineMs, runWithDeadline } from './deadline';
export { parseUpstreamTargets, upstream_targets_max, upstream_weight_max, type UpstreamTarget } from './targets';
export {
  circuit_state_values,
  upstream_circuit_state_metric,
  upstream_ejections_metric,
  upstream_instances_available_metric,
  upstream_request_duration_metric,
  upstream_requests_metric,
  upstream_retries_metric,
  type UpstreamOutcome,
} from './metrics';
