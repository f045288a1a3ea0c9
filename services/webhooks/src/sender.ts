// One HTTP attempt to a receiver: POST the event's JSON, wait at most the timeout for the answer
// and the first KiB of its body, and say what came of it. Nothing here touches the database: the
// attempt runs outside any transaction and its result is recorded afterwards.
import { performance } from 'node:perf_hooks';
import { parseRetryAfterMs } from './schedule';
import type { SignedHeaders } from './signing';

/**
 * How long a receiver has to answer, body included. Standard Webhooks recommends 15 to 30
 * seconds; the shorter end keeps a hung receiver from holding a delivery slot for long.
 */
export const delivery_timeout_ms_default = 15_000;
/** The longest timeout that may be configured. */
export const delivery_timeout_ms_max = 60_000;
/** How much of a receiver's answer is kept in the attempt log. */
export const response_body_bytes_max = 1_024;
/** How much of an error's description is kept in the attempt log. */
export const error_length_max = 500;

export const user_agent = 'Paygrid-Webhooks/0.1 (+https://www.standardwebhooks.com)';

export interface AttemptOutcome {
  /** A 2xx answer arrived. */
  readonly succeeded: boolean;
  readonly response_status: number | null;
  readonly response_body: string | null;
  readonly error: string | null;
  readonly duration_ms: number;
  /** The receiver's Retry-After, in milliseconds, when it sent one in seconds. */
  readonly retry_after_ms: number | undefined;
}

export interface AttemptRequest {
  readonly url: string;
  readonly headers: SignedHeaders;
  readonly body: string;
  readonly timeout_ms: number;
  /** The connection pool to send through; live-mode deliveries use one whose sockets refuse non-public addresses. */
  readonly dispatcher?: RequestInit['dispatcher'];
}

/** Reads at most `bytes_max` bytes of the answer, then lets go of the rest. */
async function readBodyPrefix(response: Response, bytes_max: number): Promise<string> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  let finished = false;
  try {
    while (length < bytes_max) {
      const read = await reader.read();
      if (read.done) {
        finished = true;
        break;
      }
      const chunk: unknown = read.value;
      if (!(chunk instanceof Uint8Array)) break;
      chunks.push(chunk);
      length += chunk.byteLength;
    }
  } catch {
    // The answer broke off (or the timeout fired) after the status arrived: the status stands,
    // and what was read so far is kept.
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined);
  }
  // A cut through a multi-byte character shows as a replacement character, which is fine for a log.
  return new TextDecoder().decode(Buffer.concat(chunks).subarray(0, bytes_max));
}

function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error).slice(0, error_length_max);
  // undici reports every network failure as "fetch failed" and puts the reason in `cause`.
  const cause: unknown = error.cause;
  if (cause instanceof Error) {
    const code = 'code' in cause && typeof cause.code === 'string' ? `${cause.code}: ` : '';
    return `${code}${cause.message}`.slice(0, error_length_max);
  }
  return error.message.slice(0, error_length_max);
}

export async function sendAttempt(fetcher: typeof fetch, request: AttemptRequest): Promise<AttemptOutcome> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), request.timeout_ms);
  const started = performance.now();
  const elapsedMs = () => Math.max(0, Math.round(performance.now() - started));
  try {
    const response = await fetcher(request.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': user_agent, ...request.headers },
      body: request.body,
      // Standard Webhooks: a redirect is a failure. Following it would send the event somewhere
      // the merchant never registered; they should update the endpoint's URL instead.
      redirect: 'manual',
      signal: controller.signal,
      ...(request.dispatcher === undefined ? {} : { dispatcher: request.dispatcher }),
    });
    const response_body = await readBodyPrefix(response, response_body_bytes_max);
    return {
      succeeded: response.status >= 200 && response.status <= 299,
      response_status: response.status,
      response_body,
      error: null,
      duration_ms: elapsedMs(),
      retry_after_ms: parseRetryAfterMs(response.headers.get('retry-after')),
    };
  } catch (error) {
    const error_text = controller.signal.aborted ? `timeout: no answer within ${String(request.timeout_ms)} ms` : describeFailure(error);
    return { succeeded: false, response_status: null, response_body: null, error: error_text, duration_ms: elapsedMs(), retry_after_ms: undefined };
  } finally {
    clearTimeout(timer);
  }
}
