// The simplest Upstream: one origin, one keep-alive pool, no balancing and no retries. For tests
// and for a service that is called at one fixed address; the load-balanced implementation is
// http-upstream.ts.
import { Pool } from 'undici';
import { tracedUpstreamRequest } from './tracing';
import { UpstreamUnavailableError, type Upstream, type UpstreamRequest, type UpstreamResponse } from './upstream';

/** How long a call may take when neither the request nor the upstream says. */
const single_origin_timeout_ms = 30_000;

export interface SingleOriginUpstreamOptions {
  readonly service: string;
  /** `http://host:port` or `https://host:port`. */
  readonly origin: string;
  /** Sent with every request, for example the internal authorization header. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeout_ms?: number;
}

export function singleOriginUpstream(options: SingleOriginUpstreamOptions): Upstream {
  const pool = new Pool(options.origin, { connections: 64, pipelining: 1 });
  const default_timeout_ms = options.timeout_ms ?? single_origin_timeout_ms;

  async function send(request: UpstreamRequest): Promise<UpstreamResponse> {
    let sent = false;
    try {
      const response = await pool.request({
        method: request.method,
        path: request.path,
        headers: { ...options.headers, ...request.headers },
        ...(request.body === undefined ? {} : { body: request.body }),
        signal: AbortSignal.timeout(request.timeout_ms ?? default_timeout_ms),
      });
      sent = true;
      const body = Buffer.from(await response.body.arrayBuffer());
      return { status: response.statusCode, headers: response.headers, body };
    } catch (error) {
      const refused = (error as { code?: unknown }).code === 'ECONNREFUSED';
      throw new UpstreamUnavailableError(options.service, `${options.service} did not answer: ${(error as Error).message}`, !refused || sent, { cause: error });
    }
  }

  return {
    service: options.service,
    request: (request: UpstreamRequest): Promise<UpstreamResponse> => tracedUpstreamRequest(options.service, request, send),
    async close(): Promise<void> {
      await pool.close();
    },
  };
}
