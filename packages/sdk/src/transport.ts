// The request core shared by the Node client and the browser client: authentication, idempotency
// keys, timeouts, retries and typed errors, over any `fetch`. It imports nothing from Node, so the
// browser build can use it; what differs between the two (how an idempotency key is drawn, the
// headers that name the client, request signing) is handed in by each client.

import { encodeJsonBody, encodeQuery, type QueryValue } from './encoding';
import { ApiError, ConnectionError, errorFromResponse, type PaygridError } from './errors';
import {
  backoffDelayMilliseconds,
  isRetryableResponse,
  max_retries_default,
  max_retries_limit,
  parseRetryAfterSeconds,
  retry_after_seconds_max,
  timeout_ms_default,
  timeout_ms_max,
} from './retry';
import type { HttpMethod } from './routes';

export const base_url_default = 'http://127.0.0.1:8080';
/** Response bodies are UTF-8 JSON, except the ledger's binary answers. */
const text_decoder = new TextDecoder();

export interface TransportOptions {
  /** Sent as `Authorization: Bearer <api_key>`. */
  readonly api_key: string;
  /** Origin, optionally with a path prefix; no query or fragment. */
  readonly base_url?: string;
  /** Retries after the first attempt, 0..10. */
  readonly max_retries?: number;
  /** Per attempt, covering the response body too. */
  readonly timeout_ms?: number;
  readonly fetch?: typeof fetch;
  /** Uniform in [0, 1); drives backoff jitter. */
  readonly random?: () => number;
  readonly sleep?: (milliseconds: number) => Promise<void>;
  /** Unix seconds; drives signature timestamps and HTTP-date Retry-After values. */
  readonly now_seconds?: () => number;
}

/** What the client using the transport decides for itself. */
export interface TransportClient {
  /** A fresh idempotency key, for a POST or PATCH given none. */
  readonly idempotencyKey: () => string;
  /** Headers sent with every request, such as the Node client's user-agent. */
  readonly headers: Readonly<Record<string, string>>;
  /** A Paygrid-Signature header value for one attempt; absent when the client does not sign. */
  readonly sign?: (request: { readonly method: HttpMethod; readonly path: string; readonly body: string | Uint8Array }, now_seconds: number) => string;
}

export interface RequestInput {
  /** Encoded as JSON; numbers must be safe integers, bigints are written exactly. */
  readonly body?: unknown;
  /** Serialized sorted by key; undefined values are left out. */
  readonly query?: Readonly<Record<string, QueryValue>>;
  /** POST and PATCH only; generated per call when omitted. */
  readonly idempotency_key?: string | undefined;
}

type AttemptResult =
  | { readonly kind: 'response'; readonly status: number; readonly body: Uint8Array; readonly headers: Headers }
  | { readonly kind: 'no_response'; readonly error: ConnectionError };

function defaultSleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, milliseconds);
  });
}

function systemNowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function describeCause(error: unknown): string {
  if (error instanceof Error) {
    const cause: unknown = error.cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}

function parseBaseUrl(base_url: string): { origin: string; path_prefix: string } {
  let url: URL;
  try {
    url = new URL(base_url);
  } catch {
    throw new RangeError(`base_url is not a URL: ${base_url}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RangeError(`base_url must be http or https, got ${url.protocol}`);
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new RangeError('base_url must not carry a query, a fragment or credentials.');
  }
  return { origin: url.origin, path_prefix: url.pathname.replace(/\/+$/, '') };
}

function requireIntegerInRange(name: string, value: number, minimum: number, maximum: number): number {
  if (!Number.isInteger(value) || value < minimum || value > maximum) {
    throw new RangeError(`${name} must be an integer in ${String(minimum)}..${String(maximum)}, got ${String(value)}.`);
  }
  return value;
}

export class Transport {
  readonly #api_key: string;
  readonly #origin: string;
  readonly #path_prefix: string;
  readonly #client: TransportClient;
  readonly #max_retries: number;
  readonly #timeout_ms: number;
  readonly #fetch: typeof fetch;
  readonly #random: () => number;
  readonly #sleep: (milliseconds: number) => Promise<void>;
  readonly #now_seconds: () => number;

  /** Bad options throw a TypeError or RangeError here, before any request. */
  constructor(options: TransportOptions, client: TransportClient) {
    if (typeof options.api_key !== 'string' || options.api_key.length === 0) {
      throw new TypeError('api_key is required.');
    }
    const base = parseBaseUrl(options.base_url ?? base_url_default);
    this.#api_key = options.api_key;
    this.#origin = base.origin;
    this.#path_prefix = base.path_prefix;
    this.#client = client;
    this.#max_retries = requireIntegerInRange('max_retries', options.max_retries ?? max_retries_default, 0, max_retries_limit);
    this.#timeout_ms = requireIntegerInRange('timeout_ms', options.timeout_ms ?? timeout_ms_default, 1, timeout_ms_max);
    // Called as a plain function, not as a method of this object: a browser's fetch refuses to
    // run with any `this` but the window.
    const chosen_fetch = options.fetch ?? globalThis.fetch;
    this.#fetch = (input, init) => chosen_fetch(input, init);
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? defaultSleep;
    this.#now_seconds = options.now_seconds ?? systemNowSeconds;
  }

  /**
   * One logical API call, retried on connection failures, timeouts, 409 idempotency_key_in_use,
   * 429 and 5xx, up to max_retries times. The body is encoded once so every attempt sends (and
   * signs) the same bytes; POST and PATCH send the same Idempotency-Key on every attempt.
   */
  async request<T>(method: HttpMethod, path: string, input: RequestInput = {}): Promise<T> {
    const body = input.body === undefined ? undefined : { bytes: encodeJsonBody(input.body), content_type: 'application/json' };
    const response = await this.#send(method, path, { query: input.query, idempotency_key: input.idempotency_key, body, accept: 'application/json' });
    return this.#parseSuccess<T>(response.status, text_decoder.decode(response.body), response.headers);
  }

  /**
   * A call whose request and answer are both in `media_type` (the ledger's binary encoding), with
   * the same retries, signing and idempotency keys as `request`. `decode` reads the answer; a
   * RangeError from it, or an answer in another media type, is an `invalid_response_body` error.
   */
  async requestBinary<T>(
    method: HttpMethod,
    path: string,
    input: { readonly body: Uint8Array; readonly media_type: string; readonly decode: (bytes: Uint8Array) => T; readonly idempotency_key?: string | undefined },
  ): Promise<T> {
    const response = await this.#send(method, path, {
      query: undefined,
      idempotency_key: input.idempotency_key,
      body: { bytes: input.body, content_type: input.media_type },
      accept: input.media_type,
    });
    const request_id = response.headers.get('request-id') ?? undefined;
    const content_type = response.headers.get('content-type') ?? '';
    if (content_type.split(';', 1)[0]?.trim().toLowerCase() !== input.media_type) {
      throw new ApiError({
        type: 'api_error',
        code: 'invalid_response_body',
        message: `Paygrid answered HTTP ${String(response.status)} with content type '${content_type}', not ${input.media_type}.`,
        status: response.status,
        request_id,
        raw: text_decoder.decode(response.body),
      });
    }
    try {
      return input.decode(response.body);
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      throw new ApiError(
        { type: 'api_error', code: 'invalid_response_body', message: error.message, status: response.status, request_id, raw: response.body },
        { cause: error },
      );
    }
  }

  async #send(
    method: HttpMethod,
    path: string,
    input: {
      readonly query: Readonly<Record<string, QueryValue>> | undefined;
      readonly idempotency_key: string | undefined;
      readonly body: { readonly bytes: string | Uint8Array; readonly content_type: string } | undefined;
      readonly accept: string;
    },
  ): Promise<{ readonly status: number; readonly body: Uint8Array; readonly headers: Headers }> {
    if (!path.startsWith('/')) {
      throw new TypeError(`Request path must start with '/', got ${path}`);
    }
    if (input.idempotency_key !== undefined && input.idempotency_key.length === 0) {
      throw new TypeError('idempotency_key must not be empty; leave it out to have one generated.');
    }
    const url = new URL(`${this.#origin}${this.#path_prefix}${path}${encodeQuery(input.query)}`);
    // The signature covers the request target as fetch sends it: the URL's path and query.
    const target = `${url.pathname}${url.search}`;

    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#api_key}`,
      accept: input.accept,
      ...this.#client.headers,
    };
    if (input.body !== undefined) {
      headers['content-type'] = input.body.content_type;
    }
    if (method === 'POST' || method === 'PATCH') {
      headers['idempotency-key'] = input.idempotency_key ?? this.#client.idempotencyKey();
    }

    for (let retry_index = 0; ; retry_index += 1) {
      const attempt = await this.#attempt(method, url.href, target, headers, input.body?.bytes);
      let error: PaygridError;
      let retry_after_seconds: number | undefined;
      if (attempt.kind === 'no_response') {
        error = attempt.error;
      } else if (attempt.status >= 200 && attempt.status < 300) {
        return attempt;
      } else {
        retry_after_seconds = parseRetryAfterSeconds(attempt.headers.get('retry-after'), this.#now_seconds());
        error = errorFromResponse({
          status: attempt.status,
          body_text: text_decoder.decode(attempt.body),
          request_id: attempt.headers.get('request-id') ?? undefined,
          retry_after_seconds,
        });
        if (!isRetryableResponse(attempt.status, error.code)) {
          throw error;
        }
      }
      if (retry_index >= this.#max_retries) {
        throw error;
      }
      if (retry_after_seconds !== undefined && retry_after_seconds > retry_after_seconds_max) {
        throw error;
      }
      const delay_ms = retry_after_seconds === undefined ? backoffDelayMilliseconds(retry_index, this.#random) : retry_after_seconds * 1000;
      await this.#sleep(delay_ms);
    }
  }

  async #attempt(
    method: HttpMethod,
    href: string,
    target: string,
    base_headers: Readonly<Record<string, string>>,
    body: string | Uint8Array | undefined,
  ): Promise<AttemptResult> {
    const headers = { ...base_headers };
    const sign = this.#client.sign;
    if (sign !== undefined) {
      // A fresh timestamp and nonce per attempt: the server refuses a nonce it has seen, and a
      // retry after a long backoff must still be inside the timestamp tolerance.
      headers['paygrid-signature'] = sign({ method, path: target, body: body ?? '' }, this.#now_seconds());
    }
    const controller = new AbortController();
    let timed_out = false;
    const timer = setTimeout(() => {
      timed_out = true;
      controller.abort();
    }, this.#timeout_ms);
    try {
      const response = await this.#fetch(href, { method, headers, body, signal: controller.signal });
      // Read the body under the same deadline: a server that stalls mid-body is a timeout too.
      const response_body = new Uint8Array(await response.arrayBuffer());
      return { kind: 'response', status: response.status, body: response_body, headers: response.headers };
    } catch (error) {
      if (timed_out) {
        return {
          kind: 'no_response',
          error: new ConnectionError('timeout', `${method} ${target} timed out after ${String(this.#timeout_ms)} ms.`, { cause: error }),
        };
      }
      return {
        kind: 'no_response',
        error: new ConnectionError('network_error', `${method} ${target} failed: ${describeCause(error)}`, { cause: error }),
      };
    } finally {
      clearTimeout(timer);
    }
  }

  #parseSuccess<T>(status: number, body_text: string, headers: Headers): T {
    try {
      return JSON.parse(body_text) as T;
    } catch (error) {
      throw new ApiError(
        {
          type: 'api_error',
          code: 'invalid_response_body',
          message: `Paygrid answered HTTP ${String(status)} with a body that is not JSON.`,
          status,
          request_id: headers.get('request-id') ?? undefined,
          raw: body_text,
        },
        { cause: error },
      );
    }
  }
}
