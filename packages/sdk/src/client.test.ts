import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Paygrid, type PaygridOptions } from './client';
import {
  ApiError,
  AuthenticationError,
  ConnectionError,
  IdempotencyError,
  InvalidRequestError,
  NotFoundError,
  PaygridError,
  PermissionError,
  RateLimitError,
  ServiceUnavailableError,
  error_status_by_type,
  errorTypeForStatus,
} from './errors';
import { sdk_routes } from './routes';
import { parseSignatureHeader, verifySignature } from './signing';

// A real HTTP server on 127.0.0.1 that answers from a script, one step per request, and records
// every request exactly as it arrived (method, target, headers and raw body bytes).

type Step =
  | { readonly status: number; readonly body?: unknown; readonly headers?: Readonly<Record<string, string>> }
  | { readonly action: 'reset' }
  | { readonly action: 'hang' }
  | { readonly action: 'stall_body' };

interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

let server: Server;
let base_url: string;
let script: Step[] = [];
let requests: RecordedRequest[] = [];
const held_responses: ServerResponse[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks) });
      const step = script.shift() ?? { status: 599, body: { error: { type: 'api_error', code: 'script_exhausted', message: 'No scripted response left.' } } };
      if ('action' in step) {
        if (step.action === 'reset') {
          request.socket.destroy();
        } else if (step.action === 'hang') {
          held_responses.push(response);
        } else {
          response.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
          response.write('{"id":');
          held_responses.push(response);
        }
        return;
      }
      const text = typeof step.body === 'string' ? step.body : JSON.stringify(step.body ?? {});
      response.writeHead(step.status, { 'content-type': 'application/json', ...step.headers });
      response.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base_url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  script = [];
  requests = [];
});

afterEach(() => {
  for (const response of held_responses.splice(0)) {
    response.destroy();
  }
});

const api_key = 'sk_test_0123456789abcdef';
const signing_secret = 'test_signing_secret_0123456789';

function makeClient(overrides: Partial<PaygridOptions> = {}) {
  const sleeps: number[] = [];
  let clock = 1_700_000_000;
  const paygrid = new Paygrid({
    api_key,
    base_url,
    random: () => 0.5,
    sleep: (milliseconds) => {
      sleeps.push(milliseconds);
      return Promise.resolve();
    },
    // Each reading advances a second, so every attempt signs with a different timestamp.
    now_seconds: () => {
      clock += 1;
      return clock;
    },
    ...overrides,
  });
  return { paygrid, sleeps };
}

function wireError(type: string, code: string, message: string, param?: string) {
  return { error: { type, code, message, ...(param === undefined ? {} : { param }) } };
}

const wallet = {
  id: 'wal_1',
  object: 'wallet',
  customer: 'cus_1',
  currency: 'usd',
  status: 'active',
  balance: { available: 9_007_199_254_740_991, pending: 0 },
  created: 1_700_000_000,
  livemode: false,
};
const top_up = { id: 'tu_1', object: 'top_up', wallet: 'wal_1', amount: 1500, currency: 'usd', source: 'simulated_bank_deposit', payment_intent: null, status: 'succeeded', failure_code: null, created: 1_700_000_000, livemode: false };

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

describe('Paygrid client: requests', () => {
  it('sends a JSON body with bearer auth, content type and an idempotency key, and parses the reply', async () => {
    const { paygrid } = makeClient();
    script = [{ status: 200, body: top_up }];
    const result = await paygrid.wallets.topUp('wal_1', { amount: 1500 });
    expect(result).toEqual(top_up);
    expect(requests).toHaveLength(1);
    const request = requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/v1/wallets/wal_1/top_ups');
    expect(request.body.toString('utf8')).toBe('{"amount":1500}');
    expect(request.headers.authorization).toBe(`Bearer ${api_key}`);
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['idempotency-key']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(request.headers['paygrid-signature']).toBeUndefined();
  });

  it('reads amounts up to 2^53 - 1 exactly', async () => {
    const { paygrid } = makeClient();
    script = [{ status: 200, body: wallet }];
    const result = await paygrid.wallets.retrieve('wal_1');
    expect(result.balance.available).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('writes a bigint amount as the exact JSON integer', async () => {
    const { paygrid } = makeClient();
    script = [{ status: 200, body: top_up }];
    await paygrid.wallets.topUp('wal_1', { amount: 9_007_199_254_740_991n });
    expect(requests[0]!.body.toString('utf8')).toBe('{"amount":9007199254740991}');
  });

  it('refuses a float or an unsafe integer before sending anything', async () => {
    const { paygrid } = makeClient();
    await expect(paygrid.wallets.topUp('wal_1', { amount: 10.5 })).rejects.toThrow(RangeError);
    await expect(paygrid.wallets.topUp('wal_1', { amount: 2 ** 53 })).rejects.toThrow(/'amount' is 9007199254740992/);
    await expect(
      paygrid.wallets.withdraw('wal_1', {
        amount: Number.NaN,
        bank_account: { account_holder_name: 'Ada', routing_number: '110000000', account_number: '000123456789' },
      }),
    ).rejects.toThrow(RangeError);
    expect(requests).toHaveLength(0);
  });

  it('sends GET without a body, content type or idempotency key, with the query sorted by key', async () => {
    const { paygrid } = makeClient();
    script = [{ status: 200, body: { object: 'list', data: [wallet], has_more: false, url: '/v1/wallets' } }];
    const list = await paygrid.wallets.list({ starting_after: 'wal_0', limit: 3, customer: 'cus_1', ending_before: undefined });
    expect(list.data).toHaveLength(1);
    const request = requests[0]!;
    expect(request.method).toBe('GET');
    expect(request.url).toBe('/v1/wallets?customer=cus_1&limit=3&starting_after=wal_0');
    expect(request.body.length).toBe(0);
    expect(request.headers['content-type']).toBeUndefined();
    expect(request.headers['idempotency-key']).toBeUndefined();
  });

  it('sends a POST without parameters with an empty body and an idempotency key', async () => {
    const { paygrid } = makeClient();
    script = [{ status: 200, body: { id: 'wd_1', object: 'withdrawal' } }];
    await paygrid.testHelpers.withdrawals.succeed('wd_1');
    const request = requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/v1/test_helpers/withdrawals/wd_1/succeed');
    expect(request.body.length).toBe(0);
    expect(request.headers['content-type']).toBeUndefined();
    expect(request.headers['idempotency-key']).toBeDefined();
  });

  it('percent-encodes path parameters and refuses empty ones', async () => {
    const { paygrid } = makeClient();
    script = [{ status: 200, body: wallet }];
    await paygrid.wallets.retrieve('wal/../x y');
    expect(requests[0]!.url).toBe('/v1/wallets/wal%2F..%2Fx%20y');
    await expect(paygrid.wallets.retrieve('')).rejects.toThrow(TypeError);
    expect(requests).toHaveLength(1);
  });

  it('keeps a base URL path prefix in the request target', async () => {
    const { paygrid } = makeClient({ base_url: `${base_url}/paygrid/`, signing_secret });
    script = [{ status: 200, body: wallet }];
    await paygrid.wallets.list({ limit: 1 });
    const request = requests[0]!;
    expect(request.url).toBe('/paygrid/v1/wallets?limit=1');
    const verification = verifySignature({
      header: request.headers['paygrid-signature'] as string,
      secrets: [signing_secret],
      method: request.method,
      path: request.url,
      body: request.body,
      now_seconds: 1_700_000_001,
    });
    expect(verification.ok).toBe(true);
  });

  it('validates its options', () => {
    expect(() => new Paygrid({ api_key: '' })).toThrow(TypeError);
    expect(() => new Paygrid({ api_key, signing_secret: '' })).toThrow(TypeError);
    expect(() => new Paygrid({ api_key, max_retries: -1 })).toThrow(RangeError);
    expect(() => new Paygrid({ api_key, max_retries: 11 })).toThrow(RangeError);
    expect(() => new Paygrid({ api_key, timeout_ms: 0 })).toThrow(RangeError);
    expect(() => new Paygrid({ api_key, base_url: 'ftp://example.com' })).toThrow(RangeError);
    expect(() => new Paygrid({ api_key, base_url: 'http://example.com/?x=1' })).toThrow(RangeError);
    expect(() => new Paygrid({ api_key, base_url: 'not a url' })).toThrow(RangeError);
  });
});

describe('Paygrid client: idempotency keys', () => {
  it('reuses one key on every retry of a call and uses a new key for the next call', async () => {
    const { paygrid } = makeClient();
    script = [
      { status: 500, body: wireError('api_error', 'internal_error', 'Boom.') },
      { status: 200, body: top_up },
      { status: 200, body: top_up },
    ];
    await paygrid.wallets.topUp('wal_1', { amount: 1500 });
    await paygrid.wallets.topUp('wal_1', { amount: 1500 });
    const keys = requests.map((request) => request.headers['idempotency-key']);
    expect(keys[0]).toBeDefined();
    expect(keys[1]).toBe(keys[0]);
    expect(keys[2]).toBeDefined();
    expect(keys[2]).not.toBe(keys[0]);
    // The retried attempt sends the same bytes.
    expect(requests[1]!.body.equals(requests[0]!.body)).toBe(true);
  });

  it('sends the caller key on every attempt', async () => {
    const { paygrid } = makeClient();
    script = [{ status: 503, body: wireError('service_unavailable_error', 'unavailable', 'Try later.') }, { status: 200, body: wallet }];
    await paygrid.wallets.update('wal_1', { status: 'frozen' }, { idempotency_key: 'freeze-wal_1-2024' });
    expect(requests.map((request) => [request.method, request.headers['idempotency-key']])).toEqual([
      ['PATCH', 'freeze-wal_1-2024'],
      ['PATCH', 'freeze-wal_1-2024'],
    ]);
    await expect(paygrid.wallets.update('wal_1', { status: 'frozen' }, { idempotency_key: '' })).rejects.toThrow(TypeError);
  });
});

describe('Paygrid client: retries', () => {
  it('retries 500 and 503 with exponential backoff and full jitter', async () => {
    const { paygrid, sleeps } = makeClient();
    script = [
      { status: 500, body: wireError('api_error', 'internal_error', 'Boom.') },
      { status: 503, body: wireError('service_unavailable_error', 'unavailable', 'Try later.') },
      { status: 200, body: top_up },
    ];
    await expect(paygrid.wallets.topUp('wal_1', { amount: 1500 })).resolves.toEqual(top_up);
    expect(requests).toHaveLength(3);
    // random() = 0.5 of the ceilings 500 ms and 1000 ms.
    expect(sleeps).toEqual([250, 500]);
  });

  it('retries 409 idempotency_key_in_use', async () => {
    const { paygrid, sleeps } = makeClient();
    script = [{ status: 409, body: wireError('idempotency_error', 'idempotency_key_in_use', 'Still running.') }, { status: 200, body: top_up }];
    await expect(paygrid.wallets.topUp('wal_1', { amount: 1500 })).resolves.toEqual(top_up);
    expect(requests).toHaveLength(2);
    expect(sleeps).toEqual([250]);
  });

  it('does not retry other 409 codes', async () => {
    const { paygrid } = makeClient();
    script = [{ status: 409, body: wireError('idempotency_error', 'idempotency_key_reused', 'Different parameters.') }];
    const error = await caught(paygrid.wallets.topUp('wal_1', { amount: 1500 }));
    expect(error).toBeInstanceOf(IdempotencyError);
    expect(requests).toHaveLength(1);
  });

  it('retries a connection reset', async () => {
    const { paygrid, sleeps } = makeClient();
    script = [{ action: 'reset' }, { status: 200, body: top_up }];
    await expect(paygrid.wallets.topUp('wal_1', { amount: 1500 })).resolves.toEqual(top_up);
    expect(requests).toHaveLength(2);
    expect(requests[1]!.headers['idempotency-key']).toBe(requests[0]!.headers['idempotency-key']);
    expect(sleeps).toEqual([250]);
  });

  it('raises ConnectionError when every attempt is reset', async () => {
    const { paygrid } = makeClient({ max_retries: 1 });
    script = [{ action: 'reset' }, { action: 'reset' }];
    const error = await caught(paygrid.balance.retrieve());
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error).toBeInstanceOf(PaygridError);
    expect((error as ConnectionError).code).toBe('network_error');
    expect((error as ConnectionError).type).toBe('connection_error');
    expect((error as ConnectionError).status).toBeUndefined();
    expect(requests).toHaveLength(2);
  });

  it('retries GET too', async () => {
    const { paygrid } = makeClient();
    script = [{ status: 503, body: wireError('service_unavailable_error', 'unavailable', 'Try later.') }, { status: 200, body: wallet }];
    await expect(paygrid.wallets.retrieve('wal_1')).resolves.toEqual(wallet);
    expect(requests.map((request) => request.method)).toEqual(['GET', 'GET']);
  });

  it('gives up after max_retries and throws the last error', async () => {
    const { paygrid, sleeps } = makeClient();
    script = [
      { status: 500, body: wireError('api_error', 'internal_error', 'First.') },
      { status: 500, body: wireError('api_error', 'internal_error', 'Second.') },
      { status: 500, body: wireError('api_error', 'internal_error', 'Third.'), headers: { 'request-id': 'req_3' } },
      { status: 200, body: top_up },
    ];
    const error = await caught(paygrid.wallets.topUp('wal_1', { amount: 1500 }));
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).message).toBe('Third.');
    expect((error as ApiError).request_id).toBe('req_3');
    expect(requests).toHaveLength(3);
    expect(sleeps).toHaveLength(2);
  });

  it('does not retry when max_retries is 0', async () => {
    const { paygrid, sleeps } = makeClient({ max_retries: 0 });
    script = [{ status: 500, body: wireError('api_error', 'internal_error', 'Boom.') }];
    await expect(paygrid.balance.retrieve()).rejects.toBeInstanceOf(ApiError);
    expect(requests).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it.each([
    [400, 'invalid_request_error', InvalidRequestError],
    [401, 'authentication_error', AuthenticationError],
    [403, 'permission_error', PermissionError],
    [404, 'not_found_error', NotFoundError],
  ] as const)('does not retry %i', async (status, type, ErrorClass) => {
    const { paygrid, sleeps } = makeClient();
    script = [{ status, body: wireError(type, 'some_code', 'No.') }, { status: 200, body: top_up }];
    const error = await caught(paygrid.wallets.topUp('wal_1', { amount: 1500 }));
    expect(error).toBeInstanceOf(ErrorClass);
    expect((error as PaygridError).status).toBe(status);
    expect(requests).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('waits Retry-After seconds on 429', async () => {
    const { paygrid, sleeps } = makeClient();
    script = [
      { status: 429, body: wireError('rate_limit_error', 'rate_limited', 'Slow down.'), headers: { 'retry-after': '2' } },
      { status: 200, body: top_up },
    ];
    await expect(paygrid.wallets.topUp('wal_1', { amount: 1500 })).resolves.toEqual(top_up);
    expect(sleeps).toEqual([2000]);
  });

  it('waits an HTTP-date Retry-After on 503', async () => {
    const { paygrid, sleeps } = makeClient({ now_seconds: () => 1_700_000_000 });
    const in_five_seconds = new Date((1_700_000_000 + 5) * 1000).toUTCString();
    script = [
      { status: 503, body: wireError('service_unavailable_error', 'unavailable', 'Later.'), headers: { 'retry-after': in_five_seconds } },
      { status: 200, body: wallet },
    ];
    await paygrid.wallets.retrieve('wal_1');
    expect(sleeps).toEqual([5000]);
  });

  it('backs off with jitter on 429 without Retry-After', async () => {
    const { paygrid, sleeps } = makeClient();
    script = [{ status: 429, body: wireError('rate_limit_error', 'rate_limited', 'Slow down.') }, { status: 200, body: top_up }];
    await paygrid.wallets.topUp('wal_1', { amount: 1500 });
    expect(sleeps).toEqual([250]);
  });

  it('does not wait out a Retry-After longer than a minute', async () => {
    const { paygrid, sleeps } = makeClient();
    script = [{ status: 429, body: wireError('rate_limit_error', 'rate_limited', 'Slow down.'), headers: { 'retry-after': '120' } }];
    const error = await caught(paygrid.wallets.topUp('wal_1', { amount: 1500 }));
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).retry_after_seconds).toBe(120);
    expect(requests).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('raises RateLimitError with retry_after_seconds when retries run out', async () => {
    const { paygrid, sleeps } = makeClient({ max_retries: 1 });
    const limited = { status: 429, body: wireError('rate_limit_error', 'rate_limited', 'Slow down.'), headers: { 'retry-after': '3' } };
    script = [limited, limited];
    const error = await caught(paygrid.balance.retrieve());
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).retry_after_seconds).toBe(3);
    expect((error as RateLimitError).status).toBe(429);
    expect(sleeps).toEqual([3000]);
  });
});

describe('Paygrid client: errors', () => {
  it('carries type, code, message, param, status, request_id and the raw body', async () => {
    const { paygrid } = makeClient();
    const body = wireError('invalid_request_error', 'amount_invalid', 'Amount must be positive.', 'amount');
    script = [{ status: 400, body, headers: { 'request-id': 'req_abc123' } }];
    const error = await caught(paygrid.wallets.topUp('wal_1', { amount: 0 }));
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error).toBeInstanceOf(PaygridError);
    expect(error).toMatchObject({
      name: 'InvalidRequestError',
      type: 'invalid_request_error',
      code: 'amount_invalid',
      message: 'Amount must be positive.',
      param: 'amount',
      status: 400,
      request_id: 'req_abc123',
      raw: body,
    });
  });

  it('classifies a non-JSON error body by status', async () => {
    const { paygrid } = makeClient({ max_retries: 0 });
    script = [{ status: 502, body: '<html>Bad gateway</html>' }];
    const error = await caught(paygrid.balance.retrieve());
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect(error).toMatchObject({ type: 'service_unavailable_error', code: 'unexpected_response', status: 502, raw: '<html>Bad gateway</html>' });
  });

  it('raises ApiError for a success whose body is not JSON, without retrying', async () => {
    const { paygrid } = makeClient();
    script = [{ status: 200, body: 'not json' }];
    const error = await caught(paygrid.balance.retrieve());
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe('invalid_response_body');
    expect(requests).toHaveLength(1);
  });

  it('knows the same type-to-status table as the server', () => {
    expect(error_status_by_type).toEqual({
      invalid_request_error: 400,
      authentication_error: 401,
      permission_error: 403,
      not_found_error: 404,
      idempotency_error: 409,
      request_too_large_error: 413,
      unsupported_media_type_error: 415,
      rate_limit_error: 429,
      api_error: 500,
      service_unavailable_error: 503,
    });
    expect(errorTypeForStatus(504)).toBe('service_unavailable_error');
    expect(errorTypeForStatus(422)).toBe('invalid_request_error');
    expect(errorTypeForStatus(501)).toBe('api_error');
  });
});

describe('Paygrid client: signing', () => {
  it('signs every attempt afresh, and each signature verifies over what the server received', async () => {
    const { paygrid } = makeClient({ signing_secret });
    script = [
      { status: 500, body: wireError('api_error', 'internal_error', 'Boom.') },
      { action: 'reset' },
      { status: 200, body: top_up },
    ];
    await paygrid.wallets.pay('wal_1', { amount: 700, description: 'Coffee ☕' });
    expect(requests).toHaveLength(3);
    const parsed = requests.map((request) => {
      const header = request.headers['paygrid-signature'];
      expect(typeof header).toBe('string');
      const verification = verifySignature({
        header: header as string,
        secrets: [signing_secret],
        method: request.method,
        path: request.url,
        body: request.body,
        now_seconds: 1_700_000_010,
      });
      expect(verification.ok).toBe(true);
      return parseSignatureHeader(header as string)!;
    });
    expect(new Set(parsed.map((header) => header.nonce)).size).toBe(3);
    expect(new Set(parsed.map((header) => header.timestamp)).size).toBe(3);
    expect(new Set(requests.map((request) => request.body.toString('hex'))).size).toBe(1);
  });

  it('signs GET with the query and an empty body', async () => {
    const { paygrid } = makeClient({ signing_secret });
    script = [{ status: 200, body: { object: 'list', data: [], has_more: false } }];
    await paygrid.auditEvents.list({ target: 'mch_1', limit: 5 });
    const request = requests[0]!;
    expect(request.url).toBe('/v1/audit_events?limit=5&target=mch_1');
    const header = request.headers['paygrid-signature'] as string;
    const check = { header, secrets: [signing_secret], method: 'GET', body: '', now_seconds: 1_700_000_001 };
    expect(verifySignature({ ...check, path: request.url }).ok).toBe(true);
    expect(verifySignature({ ...check, path: '/v1/audit_events?limit=6&target=mch_1' }).ok).toBe(false);
  });
});

describe('Paygrid client: timeouts', () => {
  it('raises ConnectionError after retrying when the server never answers', async () => {
    const { paygrid, sleeps } = makeClient({ timeout_ms: 100, max_retries: 1 });
    script = [{ action: 'hang' }, { action: 'hang' }];
    const error = await caught(paygrid.wallets.topUp('wal_1', { amount: 1500 }));
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).code).toBe('timeout');
    expect(requests).toHaveLength(2);
    expect(requests[1]!.headers['idempotency-key']).toBe(requests[0]!.headers['idempotency-key']);
    expect(sleeps).toEqual([250]);
  });

  it('times out a response whose body stalls', async () => {
    const { paygrid } = makeClient({ timeout_ms: 100, max_retries: 0 });
    script = [{ action: 'stall_body' }];
    const error = await caught(paygrid.balance.retrieve());
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).code).toBe('timeout');
  });

  it('recovers when a retry answers in time', async () => {
    const { paygrid } = makeClient({ timeout_ms: 100 });
    script = [{ action: 'hang' }, { status: 200, body: wallet }];
    await expect(paygrid.wallets.retrieve('wal_1')).resolves.toEqual(wallet);
  });
});

describe('sdk_routes', () => {
  function templatePattern(template: string): RegExp {
    return new RegExp(`^${template.replace(/\{[a-z_]+\}/g, '[^/]+')}$`);
  }

  it('lists each route once, in OpenAPI syntax', () => {
    const keys = sdk_routes.map((entry) => `${entry.method} ${entry.path}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const entry of sdk_routes) {
      expect(entry.path).toMatch(/^\/v1(\/([a-z_]+|\{[a-z_]+\}))+$/);
    }
  });

  it('is exactly the set of requests the resource methods make', async () => {
    const sent: string[] = [];
    const recordingFetch: typeof fetch = (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      sent.push(`${init?.method ?? 'GET'} ${url.pathname}`);
      return Promise.resolve(new Response('{}', { status: 200 }));
    };
    const paygrid = new Paygrid({ api_key, fetch: recordingFetch });
    const bank_account = { account_holder_name: 'Ada Lovelace', routing_number: '110000000', account_number: '000123456789' };
    const calls: (() => Promise<unknown>)[] = [
      () => paygrid.merchants.create({ name: 'Acme' }),
      () => paygrid.merchants.retrieve('mch_1'),
      () => paygrid.merchants.list({ limit: 2 }),
      () => paygrid.merchants.update('mch_1', { kyc_status: 'verified' }),
      () => paygrid.merchants.createApiKey('mch_1', { type: 'secret', livemode: false }),
      () => paygrid.merchants.listApiKeys('mch_1'),
      () => paygrid.merchants.rollApiKey('mch_1', 'key_1', { expires_in_seconds: 3600 }),
      () => paygrid.merchants.revokeApiKey('mch_1', 'key_1'),
      () => paygrid.merchants.rollSigningSecret('mch_1'),
      () => paygrid.auditEvents.list({ actor: 'op_1' }),
      () => paygrid.account.retrieve(),
      () => paygrid.account.update({ signing_required: true }),
      () => paygrid.apiKeys.list(),
      () => paygrid.apiKeys.roll('key_1'),
      () => paygrid.apiKeys.revoke('key_1'),
      () => paygrid.customers.create({ name: 'Ada' }),
      () => paygrid.customers.retrieve('cus_1'),
      () => paygrid.customers.list(),
      () => paygrid.wallets.create({ customer: 'cus_1', currency: 'usd' }),
      () => paygrid.wallets.retrieve('wal_1'),
      () => paygrid.wallets.list({ customer: 'cus_1' }),
      () => paygrid.wallets.update('wal_1', { status: 'active' }),
      () => paygrid.wallets.topUp('wal_1', { amount: 1 }),
      () => paygrid.wallets.pay('wal_1', { amount: 1 }),
      () => paygrid.wallets.withdraw('wal_1', { amount: 1, bank_account }),
      () => paygrid.wallets.listTransactions('wal_1'),
      () => paygrid.walletTransfers.create({ source: 'wal_1', destination: 'wal_2', amount: 1, currency: 'usd' }),
      () => paygrid.walletTransfers.retrieve('wtr_1'),
      () => paygrid.walletTransfers.list(),
      () => paygrid.withdrawals.retrieve('wd_1'),
      () => paygrid.walletLimits.retrieve('usd'),
      () => paygrid.walletLimits.update('usd', { per_transaction_max: 10_000, per_day_max: null }),
      () => paygrid.testHelpers.withdrawals.succeed('wd_1'),
      () => paygrid.testHelpers.withdrawals.fail('wd_1'),
      () => paygrid.balance.retrieve(),
      () => paygrid.tokens.create({ card: { number: '4242424242424242', exp_month: 12, exp_year: 2040, cvc: '123' } }),
      () => paygrid.orders.create({ currency: 'usd', line_items: [{ description: 'Tea', quantity: 2, unit_amount: 250 }] }),
      () => paygrid.orders.retrieve('ord_1'),
      () => paygrid.orders.list(),
      () => paygrid.paymentIntents.create({ amount: 500, currency: 'usd' }),
      () => paygrid.paymentIntents.retrieve('pi_1'),
      () => paygrid.paymentIntents.list(),
      () => paygrid.paymentIntents.confirm('pi_1', { payment_method: { type: 'card', token: 'tok_1' } }),
      () => paygrid.paymentIntents.capture('pi_1', { amount: 100 }),
      () => paygrid.paymentIntents.cancel('pi_1'),
      () => paygrid.paymentIntents.listAttempts('pi_1'),
      () => paygrid.refunds.create({ payment_intent: 'pi_1' }),
      () => paygrid.refunds.retrieve('re_1'),
      () => paygrid.refunds.list(),
      () => paygrid.webhookEndpoints.create({ url: 'https://example.com/hook', enabled_events: ['*'] }),
      () => paygrid.webhookEndpoints.retrieve('we_1'),
      () => paygrid.webhookEndpoints.list(),
      () => paygrid.webhookEndpoints.update('we_1', { status: 'disabled' }),
      () => paygrid.webhookEndpoints.listAttempts('we_1'),
      () => paygrid.events.retrieve('evt_1'),
      () => paygrid.events.list({ type: 'payment_intent.succeeded' }),
      () => paygrid.events.resend('evt_1', { endpoint: 'we_1' }),
      () => paygrid.bankTransfers.report({ reference: 'PG1', amount: 100, currency: 'usd' }),
      () => paygrid.bankTransfers.listReviews(),
    ];
    for (const call of calls) {
      await call();
    }
    expect(sent).toHaveLength(calls.length);
    const matched = sent.map((request) => {
      const [method, path] = request.split(' ') as [string, string];
      const routes = sdk_routes.filter((entry) => entry.method === method && templatePattern(entry.path).test(path));
      // A concrete path may fit more than one template only if the table were ambiguous.
      expect(routes, request).toHaveLength(1);
      return `${routes[0]!.method} ${routes[0]!.path}`;
    });
    expect(new Set(matched).size).toBe(calls.length);
    expect(new Set(matched)).toEqual(new Set(sdk_routes.map((entry) => `${entry.method} ${entry.path}`)));
  });
});
