// A bounded HTTP exchange for the provider clients: the answer's body is read up to a limit, so a
// misbehaving provider cannot make us buffer without bound.
import { assert } from '@paygrid/kernel';

/** No answer from a provider we talk to comes anywhere near this. */
export const response_body_bytes_max = 1024 * 1024;

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

export interface HttpRequest {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/**
 * Sends a request; throws when the connection fails, the signal fires or the body is too large.
 * `dispatcher` carries connection settings such as a client certificate (mutual TLS) or a private CA.
 */
export async function exchange(request: HttpRequest, signal: AbortSignal, dispatcher?: RequestInit['dispatcher']): Promise<HttpAnswer> {
  const response = await fetch(request.url, {
    method: request.method,
    headers: request.headers,
    ...(request.body === undefined ? {} : { body: request.body }),
    signal,
    redirect: 'manual',
    ...(dispatcher === undefined ? {} : { dispatcher }),
  });
  const body = await readBody(response, response_body_bytes_max);
  return { status: response.status, headers: response.headers, body };
}

async function readBody(response: Response, bytes_max: number): Promise<string> {
  assert(bytes_max > 0, 'readBody: bytes_max must be positive');
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const read = await reader.read();
    if (read.done) break;
    const chunk: unknown = read.value;
    if (!(chunk instanceof Uint8Array)) throw new Error('the answer is not a byte stream');
    length += chunk.byteLength;
    if (length > bytes_max) {
      await reader.cancel();
      throw new Error(`the answer is larger than ${bytes_max} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
