// The port every service-to-service call goes through: one `Upstream` per called service, which
// hides how many instances it has and how they are chosen. The HTTP implementation (undici pools,
// load balancing, health checks, retries, circuit breaker) lives beside this file; callers see only
// this interface, so the in-process and HTTP clients of a service cannot be told apart.

export type UpstreamMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface UpstreamRequest {
  readonly method: UpstreamMethod;
  /** Path and query string, starting with `/`. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer | string;
  /**
   * True when sending the request twice has the effect of sending it once: a read, or a write the
   * callee de-duplicates by an id the request carries (a ledger transfer id, an idempotency key).
   * Only such requests are retried on another instance after a failure that may have reached the
   * callee; any request is retried when the failure proves it never left (connection refused).
   */
  readonly idempotent: boolean;
  /**
   * The time left for this call, in milliseconds. When absent, the deadline of the incoming
   * request this call is made for (deadline.ts) applies, and otherwise the upstream's default.
   */
  readonly timeout_ms?: number;
}

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

export interface Upstream {
  /** The called service's name, for logs, metrics and error messages. */
  readonly service: string;
  /**
   * Sends the request to one healthy instance and resolves with its answer, whatever its status.
   * Rejects with UpstreamUnavailableError when no instance could answer within the deadline.
   */
  request(request: UpstreamRequest): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

/**
 * No instance of the service answered: none healthy, the circuit open, every attempt failed, or
 * the deadline passed. Clients turn it into `503 service_unavailable_error`. `may_have_reached`
 * says whether a request may have been applied anyway (sent, then the connection was lost): the
 * caller of a non-idempotent request must then treat the outcome as unknown.
 */
export class UpstreamUnavailableError extends Error {
  override readonly name = 'UpstreamUnavailableError';

  constructor(
    readonly service: string,
    message: string,
    readonly may_have_reached: boolean,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
  }
}
