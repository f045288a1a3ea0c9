// The Upstream that services use to call each other over HTTP when they run as separate
// processes: a keep-alive pool per instance, a balancing policy, active health checks, passive
// outlier ejection, a circuit breaker, retries within the caller's deadline, and mutual TLS.
//
// Safety comes first. A request that may have reached an instance is retried only when the caller
// says it is idempotent; otherwise a lost answer is reported as `may_have_reached`, and the caller
// must treat the outcome as unknown (for money, the ledger transfer id decides it later).
import { lookup as systemLookup } from 'node:dns/promises';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import { Pool } from 'undici';
import { assert } from '../assert';
import type { Logger } from '../logger';
import { createBalancer, type BalancedInstance, type BalancingPolicy } from './balancer';
import { CircuitBreaker, circuit_breaker_defaults, type CircuitBreakerOptions, type CircuitOutcome, type CircuitPermit, type CircuitState } from './circuit-breaker';
import { deadline_header, remainingDeadlineMs } from './deadline';
import { circuit_state_values, createUpstreamMetrics, type UpstreamMetrics, type UpstreamOutcome } from './metrics';
import { parseUpstreamTargets, type UpstreamTarget } from './targets';
import { UpstreamUnavailableError, type Upstream, type UpstreamRequest, type UpstreamResponse } from './upstream';
import { tracedUpstreamRequest } from './tracing';

/**
 * How long a call may take when neither the request nor an incoming deadline says: a third of
 * the server's own request_timeout_ms, so that a request that makes a call or two and finds one
 * callee hung still has time to answer its caller.
 */
export const upstream_timeout_ms_default = 10_000;
/** Inside a cluster a connection opens in well under a millisecond; a second means the host is gone. */
export const upstream_connect_timeout_ms_default = 1_000;
export const upstream_connections_per_instance_default = 64;
/** Bounds the memory one answer may take; bodies between services are JSON documents of kilobytes. */
export const upstream_response_bytes_max_default = 16 * 1024 * 1024;
/** A Kubernetes headless service changes as pods come and go; five seconds follows it closely. */
export const upstream_dns_refresh_ms_default = 5_000;

export interface HealthCheckOptions {
  /** GET on this path; any 2xx answer is healthy. */
  readonly path: string;
  readonly interval_ms: number;
  /**
   * How often an instance out of rotation is checked (Envoy's `unhealthy_interval`). Shorter than
   * `interval_ms`, so that a service back from an outage (its database restarted) returns within
   * `healthy_threshold` of these rather than of the full interval, while callers are refused.
   */
  readonly unhealthy_interval_ms: number;
  readonly timeout_ms: number;
  /** Consecutive failed checks that take a healthy instance out of rotation. */
  readonly unhealthy_threshold: number;
  /** Consecutive passed checks that bring an unhealthy instance back. */
  readonly healthy_threshold: number;
}

export const health_check_defaults: HealthCheckOptions = { path: '/readyz', interval_ms: 5_000, unhealthy_interval_ms: 1_000, timeout_ms: 1_000, unhealthy_threshold: 3, healthy_threshold: 2 };

export interface OutlierEjectionOptions {
  /** Consecutive failed attempts (connect errors, timeouts, 502/503/504) that eject an instance. */
  readonly failures_consecutive_max: number;
  /** The first ejection lasts this long; the n-th in a row n times as long. */
  readonly ejection_base_ms: number;
  readonly ejection_max_ms: number;
  /** At most this share of the instances is ejected at once, and never the last one. */
  readonly ejected_percent_max: number;
}

export const outlier_ejection_defaults: OutlierEjectionOptions = {
  failures_consecutive_max: 5,
  ejection_base_ms: 30_000,
  ejection_max_ms: 300_000,
  ejected_percent_max: 50,
};

export interface RetryOptions {
  /** Attempts per call, the first included. */
  readonly attempts_max: number;
  /** The backoff before attempt n + 1 is random in [0, min(backoff_max_ms, backoff_base_ms × 2^(n-1))). */
  readonly backoff_base_ms: number;
  readonly backoff_max_ms: number;
}

export const retry_defaults: RetryOptions = { attempts_max: 3, backoff_base_ms: 10, backoff_max_ms: 100 };

/** Client certificate and trusted CA for https origins (mutual TLS), PEM. */
export interface UpstreamTls {
  /** The CA that signed the callee's certificate; the system roots when absent. */
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

export interface LookupAddress {
  readonly address: string;
  /** 4 or 6. */
  readonly family: number;
}

export interface HttpUpstreamOptions {
  /** The called service's name, for errors, logs and metric labels. */
  readonly service: string;
  /** Parsed targets, or their text (`parseUpstreamTargets`). */
  readonly targets: readonly UpstreamTarget[] | string;
  /** Default `least_outstanding`. Weights apply to `weighted` only. */
  readonly policy?: BalancingPolicy;
  /** Sent with every request, for example the internal authorization header. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Default `upstream_timeout_ms_default`; a request's own timeout or deadline may shorten it. */
  readonly timeout_ms?: number;
  /** The longest one attempt may take, so that a hung instance leaves time to try another. Default: all the time left. */
  readonly attempt_timeout_ms?: number;
  readonly connect_timeout_ms?: number;
  readonly connections_per_instance?: number;
  readonly response_bytes_max?: number;
  readonly dns_refresh_ms?: number;
  readonly tls?: UpstreamTls;
  /** `false` turns active checks off: instances are then taken out only by ejection. */
  readonly health_check?: Partial<HealthCheckOptions> | false;
  readonly outlier_ejection?: Partial<OutlierEjectionOptions> | false;
  readonly circuit_breaker?: Partial<CircuitBreakerOptions> | false;
  readonly retry?: Partial<RetryOptions>;
  /** Where the transport's metrics go; none are kept without one. */
  readonly registry?: Registry;
  readonly logger?: Logger;
  /** Resolves a name to its addresses; dns.promises.lookup with `all: true` by default (tests inject one). */
  readonly lookup?: (host: string) => Promise<readonly LookupAddress[]>;
  /** In [0, 1), for the backoff jitter; Math.random by default. */
  readonly random?: () => number;
}

/** One instance as the upstream sees it, for operators and tests. */
export interface UpstreamInstanceStatus {
  readonly origin: string;
  readonly address: string;
  readonly weight: number;
  readonly healthy: boolean;
  readonly ejected: boolean;
  readonly outstanding: number;
  readonly failures_consecutive: number;
  readonly ejections: number;
  /** Until the current ejection ends; 0 when not ejected. */
  readonly ejection_remaining_ms: number;
}

export interface HttpUpstream extends Upstream {
  /** Resolves when the first DNS resolution has finished (at once for IP addresses). */
  ready(): Promise<void>;
  instances(): readonly UpstreamInstanceStatus[];
  circuitState(): CircuitState | undefined;
}

interface Instance extends BalancedInstance {
  readonly target_index: number;
  readonly address: string;
  readonly family: number;
  readonly origin: string;
  /** The name the caller configured, sent as Host and as the TLS server name; undefined for IP targets. */
  readonly host_header: string | undefined;
  readonly pool: Pool;
  outstanding: number;
  healthy: boolean;
  health_failures: number;
  health_successes: number;
  health_check_in_flight: boolean;
  failures_consecutive: number;
  ejected_until_ms: number | undefined;
  ejections: number;
  returned_at_ms: number;
}

type AttemptResult =
  | { readonly kind: 'response'; readonly response: UpstreamResponse }
  | { readonly kind: 'failed'; readonly reached: boolean; readonly message: string; readonly cause: unknown };

/** Answers a retry may fix: the instance, or a proxy in front of it, could not serve the call. */
const retryable_statuses = new Set([502, 503, 504]);

/**
 * Errors that prove the request was never written: the connection (or its TLS handshake) never
 * came up. undici writes a request only on an open, verified connection.
 */
const never_sent_codes = new Set([
  'ECONNREFUSED',
  // The pool was closed (its instance left DNS) before the request was dispatched.
  'UND_ERR_CLOSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
]);

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function neverSent(error: unknown): boolean {
  const code = errorCode(error) ?? errorCode((error as { cause?: unknown } | null)?.cause);
  return code !== undefined && never_sent_codes.has(code);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const deadline_passed = 'the deadline passed';

/** The deadline passed before any attempt was sent: an UpstreamUnavailableError that the circuit breaker ignores. */
class DeadlinePassedBeforeSendingError extends UpstreamUnavailableError {}

class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';
}

async function readBody(body: AsyncIterable<unknown> & { destroy(error?: Error): unknown }, bytes_max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    bytes += buffer.length;
    if (bytes > bytes_max) {
      const error = new ResponseTooLargeError(`the response body is larger than ${bytes_max} bytes`);
      body.destroy(error);
      throw error;
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, bytes);
}

function positive(value: number, name: string): number {
  assert(Number.isFinite(value) && value > 0, `${name} must be a positive number`);
  return value;
}

/** Creates the load-balanced HTTP Upstream described in the file comment. */
export function createHttpUpstream(options: HttpUpstreamOptions): HttpUpstream {
  return new LoadBalancedUpstream(options);
}

class LoadBalancedUpstream implements HttpUpstream {
  readonly service: string;
  readonly #options: HttpUpstreamOptions;
  readonly #targets: readonly UpstreamTarget[];
  readonly #balancer;
  readonly #timeout_ms: number;
  readonly #response_bytes_max: number;
  readonly #health: HealthCheckOptions | undefined;
  readonly #ejection: OutlierEjectionOptions | undefined;
  readonly #retry: RetryOptions;
  readonly #breaker: CircuitBreaker | undefined;
  readonly #metrics: UpstreamMetrics | undefined;
  readonly #lookup: (host: string) => Promise<readonly LookupAddress[]>;
  readonly #random: () => number;
  readonly #timers: NodeJS.Timeout[] = [];
  /** Pools of instances gone from DNS, closing once their calls in flight finish. */
  readonly #closing = new Set<Promise<void>>();
  #instances: Instance[] = [];
  #refreshing: Promise<void> | undefined;
  readonly #first_resolution: Promise<void>;
  #closed = false;

  constructor(options: HttpUpstreamOptions) {
    this.service = options.service;
    this.#options = options;
    this.#targets = typeof options.targets === 'string' ? parseUpstreamTargets(options.targets, `the targets of ${options.service}`) : options.targets;
    assert(this.#targets.length > 0, 'an upstream needs at least one target');
    this.#balancer = createBalancer(options.policy ?? 'least_outstanding');
    this.#timeout_ms = positive(options.timeout_ms ?? upstream_timeout_ms_default, 'timeout_ms');
    this.#response_bytes_max = positive(options.response_bytes_max ?? upstream_response_bytes_max_default, 'response_bytes_max');
    this.#health = options.health_check === false ? undefined : { ...health_check_defaults, ...options.health_check };
    this.#ejection = options.outlier_ejection === false ? undefined : { ...outlier_ejection_defaults, ...options.outlier_ejection };
    this.#retry = { ...retry_defaults, ...options.retry };
    assert(Number.isSafeInteger(this.#retry.attempts_max) && this.#retry.attempts_max >= 1, 'attempts_max must be a positive integer');
    this.#metrics = options.registry === undefined ? undefined : createUpstreamMetrics(options.registry);
    this.#lookup = options.lookup ?? (async (host) => systemLookup(host, { all: true }));
    this.#random = options.random ?? Math.random;
    this.#breaker =
      options.circuit_breaker === false
        ? undefined
        : new CircuitBreaker({ ...circuit_breaker_defaults, ...options.circuit_breaker }, () => performance.now(), (state) => this.#onCircuitTransition(state));
    this.#metrics?.circuit_state.set({ upstream: this.service }, circuit_state_values.closed);

    this.#first_resolution = this.#refresh();
    if (this.#targets.some((target) => target.resolve)) {
      const refresh_ms = positive(options.dns_refresh_ms ?? upstream_dns_refresh_ms_default, 'dns_refresh_ms');
      this.#every(refresh_ms, () => void this.#refresh());
    }
    const health = this.#health;
    if (health !== undefined) {
      positive(health.interval_ms, 'health_check.interval_ms');
      this.#every(health.interval_ms, () => {
        for (const instance of this.#instances) if (!instance.health_check_in_flight) void this.#check(instance, health);
      });
      positive(health.unhealthy_interval_ms, 'health_check.unhealthy_interval_ms');
      this.#every(health.unhealthy_interval_ms, () => {
        for (const instance of this.#instances) if (!instance.healthy && !instance.health_check_in_flight) void this.#check(instance, health);
      });
    }
  }

  async ready(): Promise<void> {
    await this.#first_resolution;
  }

  instances(): readonly UpstreamInstanceStatus[] {
    const now = performance.now();
    return this.#instances.map((instance) => ({
      origin: instance.origin,
      address: instance.address,
      weight: instance.weight,
      healthy: instance.healthy,
      ejected: this.#ejected(instance, now),
      outstanding: instance.outstanding,
      failures_consecutive: instance.failures_consecutive,
      ejections: instance.ejections,
      ejection_remaining_ms: Math.max(0, (instance.ejected_until_ms ?? now) - now),
    }));
  }

  circuitState(): CircuitState | undefined {
    return this.#breaker?.state;
  }

  request(request: UpstreamRequest): Promise<UpstreamResponse> {
    return tracedUpstreamRequest(this.service, request, (traced) => this.#request(traced));
  }

  async #request(request: UpstreamRequest): Promise<UpstreamResponse> {
    const started_ms = performance.now();
    const budget_ms = Math.min(request.timeout_ms ?? Number.POSITIVE_INFINITY, remainingDeadlineMs() ?? Number.POSITIVE_INFINITY, this.#timeout_ms);
    const expires_at_ms = started_ms + budget_ms;
    if (this.#closed) throw new UpstreamUnavailableError(this.service, `the upstream of ${this.service} is closed`, false);
    let permit: CircuitPermit | undefined;
    if (this.#breaker !== undefined) {
      permit = this.#breaker.admit();
      if (permit === undefined) {
        this.#observe('circuit_open', started_ms);
        throw new UpstreamUnavailableError(this.service, `${this.service} is failing: its circuit is open, so the call was not sent`, false);
      }
    }
    let outcome: UpstreamOutcome = 'unavailable';
    let circuit_outcome: CircuitOutcome = 'failed';
    try {
      const answer = await this.#attempts(request, expires_at_ms);
      outcome = answer.response.status >= 500 ? 'server_error' : 'response';
      circuit_outcome = answer.service_failed ? 'failed' : 'succeeded';
      return answer.response;
    } catch (error) {
      // A call whose deadline had passed before anything was sent says nothing about the service.
      if (error instanceof DeadlinePassedBeforeSendingError) circuit_outcome = 'abandoned';
      throw error;
    } finally {
      permit?.settle(circuit_outcome);
      this.#observe(outcome, started_ms);
    }
  }

  /**
   * Sends the request, retrying as the file comment says. `service_failed` is true when the answer
   * is a 502/503/504 the service gave on every attempt: a failure for the circuit breaker.
   */
  async #attempts(request: UpstreamRequest, expires_at_ms: number): Promise<{ readonly response: UpstreamResponse; readonly service_failed: boolean }> {
    if (this.#instances.length === 0) await this.#refresh();
    const tried = new Set<string>();
    let may_have_reached = false;
    let failure = 'no attempt was made';
    let cause: unknown;
    let last_answer: UpstreamResponse | undefined;
    for (let attempt = 1; attempt <= this.#retry.attempts_max; attempt += 1) {
      if (attempt > 1) {
        const backoff_ms = this.#random() * Math.min(this.#retry.backoff_max_ms, this.#retry.backoff_base_ms * 2 ** (attempt - 2));
        if (performance.now() + backoff_ms >= expires_at_ms) break;
        await sleep(backoff_ms);
        this.#metrics?.retries.inc({ upstream: this.service });
      }
      const remaining_ms = expires_at_ms - performance.now();
      if (remaining_ms <= 0) {
        failure = deadline_passed;
        break;
      }
      const instance = this.#pick(tried);
      if (instance === undefined) {
        failure = this.#instances.length === 0 ? 'no instance is known (DNS found none yet)' : 'no instance is healthy';
        break;
      }
      tried.add(instance.key);
      const result = await this.#send(instance, request, Math.min(remaining_ms, this.#options.attempt_timeout_ms ?? Number.POSITIVE_INFINITY));
      if (result.kind === 'response') {
        const status = result.response.status;
        if (!retryable_statuses.has(status)) {
          this.#recordSuccess(instance);
          return { response: result.response, service_failed: false };
        }
        this.#recordFailure(instance);
        may_have_reached = true;
        last_answer = result.response;
        failure = `${instance.origin} answered ${status}`;
        if (!request.idempotent) break;
        continue;
      }
      this.#recordFailure(instance);
      failure = `${instance.origin} failed: ${result.message}`;
      cause = result.cause;
      if (result.reached) {
        may_have_reached = true;
        if (!request.idempotent) break;
      }
    }
    if (last_answer !== undefined) {
      // The service answered, with a status that says it could not serve the call: that answer
      // tells the caller more than an error would.
      return { response: last_answer, service_failed: true };
    }
    const message = `${this.service} did not answer: ${failure}`;
    if (tried.size === 0 && failure === deadline_passed) throw new DeadlinePassedBeforeSendingError(this.service, message, false);
    throw new UpstreamUnavailableError(this.service, message, may_have_reached, { cause });
  }

  async #send(instance: Instance, request: UpstreamRequest, timeout_ms: number): Promise<AttemptResult> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${Math.round(timeout_ms)} ms`)), timeout_ms);
    instance.outstanding += 1;
    try {
      const response = await instance.pool.request({
        method: request.method,
        path: request.path,
        headers: this.#headers(instance, request, timeout_ms),
        ...(request.body === undefined ? {} : { body: request.body }),
        signal: controller.signal,
      });
      const body = await readBody(response.body, this.#response_bytes_max);
      return { kind: 'response', response: { status: response.statusCode, headers: response.headers, body } };
    } catch (error) {
      const message = controller.signal.aborted ? `no answer within ${Math.round(timeout_ms)} ms` : errorMessage(error);
      return { kind: 'failed', reached: controller.signal.aborted || !neverSent(error), message, cause: error };
    } finally {
      clearTimeout(timer);
      instance.outstanding -= 1;
    }
  }

  /**
   * The upstream's headers, then the request's, then the transport's own (Host for a named target,
   * the deadline), which replace any the caller set in whatever letter case: a second deadline
   * header would make the pair unreadable, and the callee would run without one.
   */
  #headers(instance: Instance, request: UpstreamRequest, timeout_ms: number): Record<string, string> {
    const own: Record<string, string> = { [deadline_header]: String(Math.max(1, Math.floor(timeout_ms))) };
    if (instance.host_header !== undefined) own.host = instance.host_header;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries({ ...this.#options.headers, ...request.headers })) {
      if (!(name.toLowerCase() in own)) headers[name] = value;
    }
    return Object.assign(headers, own);
  }

  #pick(tried: ReadonlySet<string>): Instance | undefined {
    const now = performance.now();
    const available = this.#instances.filter((instance) => instance.healthy && !this.#ejected(instance, now));
    const untried = available.filter((instance) => !tried.has(instance.key));
    // A retry goes to another instance when there is one; with all tried, any may take it again.
    return this.#balancer.pick(untried.length > 0 ? untried : available);
  }

  /** Ends an ejection that has run its time, on the way. */
  #ejected(instance: Instance, now: number): boolean {
    if (instance.ejected_until_ms === undefined) return false;
    if (now < instance.ejected_until_ms) return true;
    instance.ejected_until_ms = undefined;
    instance.returned_at_ms = now;
    instance.failures_consecutive = 0;
    this.#publishAvailable();
    return false;
  }

  #recordSuccess(instance: Instance): void {
    instance.failures_consecutive = 0;
  }

  #recordFailure(instance: Instance): void {
    const ejection = this.#ejection;
    if (ejection === undefined) return;
    instance.failures_consecutive += 1;
    const now = performance.now();
    if (instance.failures_consecutive < ejection.failures_consecutive_max || this.#ejected(instance, now)) return;
    const count = this.#instances.length;
    const ejected_max = Math.min(Math.floor((count * ejection.ejected_percent_max) / 100), count - 1);
    const ejected = this.#instances.filter((other) => this.#ejected(other, now)).length;
    if (ejected >= ejected_max) return;
    // Ejections in a row lengthen; every base period spent back in rotation forgives one.
    const forgiven = instance.ejections === 0 ? 0 : Math.floor((now - instance.returned_at_ms) / ejection.ejection_base_ms);
    instance.ejections = Math.max(0, instance.ejections - forgiven) + 1;
    const duration_ms = Math.min(ejection.ejection_base_ms * instance.ejections, ejection.ejection_max_ms);
    instance.ejected_until_ms = now + duration_ms;
    this.#metrics?.ejections.inc({ upstream: this.service });
    this.#options.logger?.warn(
      { service: this.service, origin: instance.origin, failures_consecutive: instance.failures_consecutive, ejection_ms: duration_ms },
      'upstream instance ejected after consecutive failures',
    );
    this.#publishAvailable();
  }

  async #check(instance: Instance, health: HealthCheckOptions): Promise<void> {
    instance.health_check_in_flight = true;
    let passed = false;
    try {
      const response = await instance.pool.request({
        method: 'GET',
        path: health.path,
        headers: instance.host_header === undefined ? {} : { host: instance.host_header },
        signal: AbortSignal.timeout(health.timeout_ms),
      });
      await response.body.dump();
      passed = response.statusCode >= 200 && response.statusCode < 300;
    } catch {
      passed = false;
    } finally {
      instance.health_check_in_flight = false;
    }
    if (this.#closed || !this.#instances.includes(instance)) return;
    if (passed) {
      instance.health_failures = 0;
      instance.health_successes += 1;
      if (!instance.healthy && instance.health_successes >= health.healthy_threshold) this.#setHealthy(instance, true);
    } else {
      instance.health_successes = 0;
      instance.health_failures += 1;
      if (instance.healthy && instance.health_failures >= health.unhealthy_threshold) this.#setHealthy(instance, false);
    }
  }

  #setHealthy(instance: Instance, healthy: boolean): void {
    instance.healthy = healthy;
    this.#options.logger?.[healthy ? 'info' : 'warn']({ service: this.service, origin: instance.origin }, healthy ? 'upstream instance healthy again' : 'upstream instance unhealthy');
    this.#publishAvailable();
  }

  /** Resolves every named target again; concurrent callers share one resolution. */
  async #refresh(): Promise<void> {
    this.#refreshing ??= this.#resolveTargets().finally(() => {
      this.#refreshing = undefined;
    });
    await this.#refreshing;
  }

  async #resolveTargets(): Promise<void> {
    const resolved = await Promise.all(
      this.#targets.map(async (target, target_index): Promise<readonly LookupAddress[] | undefined> => {
        if (!target.resolve) return [{ address: target.host, family: target.host.includes(':') ? 6 : 4 }];
        try {
          return await this.#lookup(target.host);
        } catch (error) {
          // A failed lookup keeps the instances found before: a DNS hiccup must not empty the
          // upstream, and health checks and ejection deal with instances that are really gone.
          this.#options.logger?.warn({ service: this.service, host: target.host, err: error }, 'upstream DNS lookup failed; keeping the instances found before');
          return this.#instances.filter((instance) => instance.target_index === target_index).map(({ address, family }) => ({ address, family }));
        }
      }),
    );
    if (this.#closed) return;
    const current = new Map(this.#instances.map((instance) => [instance.key, instance]));
    const next: Instance[] = [];
    resolved.forEach((addresses, target_index) => {
      const target = this.#targets[target_index];
      if (addresses === undefined || target === undefined) return;
      for (const { address, family } of addresses) {
        const key = `${target_index}|${address}`;
        if (next.some((instance) => instance.key === key)) continue;
        next.push(current.get(key) ?? this.#createInstance(target, target_index, address, family));
      }
    });
    const kept = new Set(next.map((instance) => instance.key));
    for (const instance of this.#instances) {
      if (kept.has(instance.key)) continue;
      this.#balancer.forget(instance.key);
      const closing = instance.pool.close().finally(() => this.#closing.delete(closing));
      this.#closing.add(closing);
    }
    this.#instances = next;
    this.#publishAvailable();
  }

  #createInstance(target: UpstreamTarget, target_index: number, address: string, family: number): Instance {
    const origin = `${target.protocol}//${family === 6 ? `[${address}]` : address}:${target.port}`;
    const default_port = target.protocol === 'https:' ? 443 : 80;
    const host_header = target.resolve ? (target.port === default_port ? target.host : `${target.host}:${target.port}`) : undefined;
    const tls = target.protocol === 'https:' ? this.#options.tls : undefined;
    const pool = new Pool(origin, {
      connections: this.#options.connections_per_instance ?? upstream_connections_per_instance_default,
      pipelining: 1,
      connect: {
        timeout: this.#options.connect_timeout_ms ?? upstream_connect_timeout_ms_default,
        ...(tls?.ca === undefined ? {} : { ca: tls.ca }),
        ...(tls?.cert === undefined ? {} : { cert: tls.cert }),
        ...(tls?.key === undefined ? {} : { key: tls.key }),
        // The certificate names the service, not the pod's address.
        ...(target.resolve && target.protocol === 'https:' ? { servername: target.host } : {}),
      },
    });
    return {
      key: `${target_index}|${address}`,
      target_index,
      address,
      family,
      origin,
      host_header,
      weight: target.weight,
      pool,
      outstanding: 0,
      healthy: true,
      health_failures: 0,
      health_successes: 0,
      health_check_in_flight: false,
      failures_consecutive: 0,
      ejected_until_ms: undefined,
      ejections: 0,
      returned_at_ms: 0,
    };
  }

  #every(interval_ms: number, tick: () => void): void {
    const timer = setInterval(tick, interval_ms);
    // The timers are stopped by close(); unref'd, a forgotten upstream does not keep a process alive.
    timer.unref();
    this.#timers.push(timer);
  }

  #onCircuitTransition(state: CircuitState): void {
    this.#metrics?.circuit_state.set({ upstream: this.service }, circuit_state_values[state]);
    const level = state === 'closed' ? 'info' : 'warn';
    this.#options.logger?.[level]({ service: this.service, circuit_state: state }, `circuit of ${this.service} is ${state}`);
  }

  #publishAvailable(): void {
    const metrics = this.#metrics;
    if (metrics === undefined) return;
    const now = performance.now();
    const available = this.#instances.filter((instance) => instance.healthy && (instance.ejected_until_ms === undefined || now >= instance.ejected_until_ms)).length;
    metrics.instances_available.set({ upstream: this.service }, available);
  }

  #observe(outcome: UpstreamOutcome, started_ms: number): void {
    this.#metrics?.requests.inc({ upstream: this.service, outcome });
    this.#metrics?.duration.observe({ upstream: this.service, outcome }, (performance.now() - started_ms) / 1000);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers.splice(0)) clearInterval(timer);
    await this.#refreshing;
    await Promise.all([...this.#instances.map(async (instance) => instance.pool.close()), ...this.#closing]);
    this.#instances = [];
  }
}
