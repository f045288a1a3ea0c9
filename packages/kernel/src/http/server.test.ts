import { connect } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { assert } from '../assert';
import { ApiError } from '../errors';
import { createLogger } from '../logger';
import { createHttpServer, createMetricsServer, type CreateHttpServerOptions, type HttpServer } from './server';

interface Harness extends HttpServer {
  readonly logs: () => Record<string, unknown>[];
  /** Every line the server logged, as written. */
  readonly log_text: () => string;
  readonly assertion_failures: unknown[];
  /** How many requests reached a handler that acts on its body: a refused one must not. */
  readonly handled: () => number;
}

const servers: HttpServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.app.close()));
});

function harness(extra: Pick<CreateHttpServerOptions, 'metrics_authenticate'> = {}): Harness {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  const logger = createLogger({ level: 'info', name: 'test', destination });
  const assertion_failures: unknown[] = [];
  const server = createHttpServer({ logger, onAssertionFailure: (error) => assertion_failures.push(error), ...extra });
  servers.push(server);
  const { app } = server;

  app.post(
    '/v1/transfers',
    {
      schema: {
        body: {
          type: 'object',
          required: ['transfers'],
          additionalProperties: false,
          properties: {
            transfers: {
              type: 'array',
              maxItems: 10,
              items: {
                type: 'object',
                required: ['amount', 'currency'],
                additionalProperties: false,
                properties: { amount: { type: 'integer', minimum: 1 }, currency: { type: 'string', enum: ['usd', 'eur'] } },
              },
            },
          },
        },
      },
    },
    (request) => ({ received: request.body }),
  );
  app.get('/v1/things/:id', { schema: { querystring: { type: 'object', properties: { limit: { type: 'integer', maximum: 100 } } } } }, (request) => ({
    id: (request.params as { id: string }).id,
    query: request.query,
  }));
  let handled = 0;
  app.post('/v1/echo', (request) => {
    handled += 1;
    return { body: request.body ?? null };
  });
  app.post('/v1/batch', { config: { json_keys_max: 5_000 } }, (request) => {
    handled += 1;
    return { body: request.body ?? null };
  });
  app.get('/v1/refused', () => {
    throw new ApiError('permission_error', 'operator_only', 'Only operators may do this', 'scope');
  });
  app.get('/v1/bug', () => {
    throw new Error('connection string postgres://admin:hunter2@db leaked');
  });
  app.get('/v1/assertion', () => {
    assert(false, 'balances must never go negative');
  });

  return {
    ...server,
    assertion_failures,
    handled: () => handled,
    log_text: () => chunks.join(''),
    logs: () =>
      chunks
        .join('')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

function postJson(server: HttpServer, url: string, payload: string, content_type = 'application/json') {
  return server.app.inject({ method: 'POST', url, payload, headers: { 'content-type': content_type } });
}

describe('createHttpServer: request bodies', () => {
  it('parses JSON, with or without a UTF-8 charset', async () => {
    const server = harness();
    const plain = await postJson(server, '/v1/echo', '{"amount": 100}');
    expect(plain.statusCode).toBe(200);
    expect(plain.json()).toEqual({ body: { amount: 100 } });
    const with_charset = await postJson(server, '/v1/echo', '{"name": "café"}', 'application/json; charset=UTF-8');
    expect(with_charset.json()).toEqual({ body: { name: 'café' } });
  });

  it('accepts a request with no body', async () => {
    const server = harness();
    const response = await server.app.inject({ method: 'POST', url: '/v1/echo' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ body: null });
  });

  it('refuses malformed JSON', async () => {
    const response = await postJson(harness(), '/v1/echo', '{"amount": 100');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: { type: 'invalid_request_error', code: 'invalid_json', message: 'The request body is not valid JSON' } });
  });

  it.each(['1.5', '1.0', '1e3', '-0.0'])('refuses the float literal %s', async (literal) => {
    const response = await postJson(harness(), '/v1/echo', `{"transfers": [{"amount": ${literal}}]}`);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      error: {
        type: 'invalid_request_error',
        code: 'number_not_integer',
        message: `The request body has the number ${literal} at offset 26; numbers must be integers (amounts are in minor units)`,
      },
    });
  });

  it('refuses an integer that JSON.parse would round', async () => {
    const response = await postJson(harness(), '/v1/echo', '{"amount": 9007199254740993}');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: { type: 'invalid_request_error', code: 'number_out_of_range' } });
  });

  it('refuses __proto__ and constructor.prototype keys', async () => {
    const server = harness();
    for (const payload of ['{"__proto__": {"admin": true}}', '{"a": {"constructor": {"prototype": {"admin": true}}}}', '{"\\u005f_proto__": {}}']) {
      const response = await postJson(server, '/v1/echo', payload);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({
        error: { type: 'invalid_request_error', code: 'json_forbidden_key', message: 'The request body must not contain "__proto__" or "constructor" keys' },
      });
    }
  });

  it('refuses a body over the limit with 413', async () => {
    const payload = JSON.stringify({ padding: 'x'.repeat(2 * 1024 * 1024) });
    const response = await postJson(harness(), '/v1/echo', payload);
    expect(response.statusCode).toBe(413);
    expect(response.json()).toEqual({
      error: { type: 'request_too_large_error', code: 'body_too_large', message: 'The request body must be at most 1048576 bytes' },
    });
  });

  it('refuses a streamed body over the limit, with no Content-Length to go by', async () => {
    const chunk = 'x'.repeat(64 * 1024);
    const payload = Readable.from((function* () {
      yield '{"padding": "';
      for (let index = 0; index < 32; index += 1) yield chunk;
      yield '"}';
    })());
    const response = await harness().app.inject({ method: 'POST', url: '/v1/echo', payload, headers: { 'content-type': 'application/json' } });
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ error: { type: 'request_too_large_error', code: 'body_too_large' } });
  });

  it('refuses other content types with 415', async () => {
    const server = harness();
    for (const content_type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const response = await postJson(server, '/v1/echo', 'amount=100', content_type);
      expect(response.statusCode).toBe(415);
      expect(response.json()).toEqual({
        error: { type: 'unsupported_media_type_error', code: 'content_type_unsupported', message: 'Request bodies must be sent as application/json' },
      });
    }
  });

  it('refuses JSON in a charset other than UTF-8 with 415', async () => {
    const response = await postJson(harness(), '/v1/echo', '{}', 'application/json; charset=latin1');
    expect(response.statusCode).toBe(415);
    expect(response.json()).toEqual({
      error: { type: 'unsupported_media_type_error', code: 'charset_unsupported', message: 'JSON request bodies must be UTF-8 (got charset "latin1")' },
    });
  });
});

/** Expects the one error shape, with exactly these fields, and a 400. */
function expectInvalidRequest(response: { statusCode: number; json: () => unknown }, code: string, param?: string): void {
  expect(response.statusCode).toBe(400);
  const body = response.json() as { error: Record<string, unknown> };
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error).toMatchObject({ type: 'invalid_request_error', code, ...(param === undefined ? {} : { param }) });
  expect(typeof body.error.message).toBe('string');
  expect(Object.keys(body.error).every((key) => ['type', 'code', 'message', 'param'].includes(key))).toBe(true);
}

function nested(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;
}

describe('createHttpServer: JSON limits and duplicate keys', () => {
  it('refuses a body nested deeper than 10 with invalid_request_error json_too_deep, never a 5xx, and the handler never runs', async () => {
    const server = harness();
    for (const kind of ['array', 'object'] as const) {
      expect((await postJson(server, '/v1/echo', nested(10, kind))).statusCode).toBe(200);
      // Eleven levels, a thousand, and as deep as a 1 MiB body can go.
      for (const depth of [11, 1_000, kind === 'array' ? 500_000 : 170_000]) {
        const response = await postJson(server, '/v1/echo', nested(depth, kind));
        expectInvalidRequest(response, 'json_too_deep');
        const offset = kind === 'array' ? 10 : 10 * '{"a":'.length;
        expect(response.json()).toMatchObject({ error: { message: `The request body nests objects and arrays more than 10 deep (at offset ${offset})` } });
      }
    }
    expect(server.handled()).toBe(2);
  });

  it('refuses an object with more than 100 keys with json_object_too_many_keys, naming the key', async () => {
    const server = harness();
    const object = (keys: number) => Object.fromEntries(Array.from({ length: keys }, (_, index) => [`k${index}`, index]));
    expect((await postJson(server, '/v1/echo', JSON.stringify({ metadata: object(100) }))).statusCode).toBe(200);
    expectInvalidRequest(await postJson(server, '/v1/echo', JSON.stringify({ metadata: object(101) })), 'json_object_too_many_keys', 'metadata.k100');
    expect(server.handled()).toBe(1);
  });

  it('refuses a body with more than 1,000 keys in all with json_too_many_keys, unless its route takes more', async () => {
    const server = harness();
    const items = (count: number) => JSON.stringify({ items: Array.from({ length: count }, (_, index) => ({ a: index, b: index, c: index, d: index })) });
    // 1 + 249 * 4 = 997 keys; 1 + 250 * 4 = 1,001.
    expect((await postJson(server, '/v1/echo', items(249))).statusCode).toBe(200);
    expectInvalidRequest(await postJson(server, '/v1/echo', items(250)), 'json_too_many_keys', 'items[249].d');
    expect(server.handled()).toBe(1);
    expect((await postJson(server, '/v1/batch', items(1_000))).statusCode).toBe(200);
    expectInvalidRequest(await postJson(server, '/v1/batch', items(1_250)), 'json_too_many_keys');
  });

  it('refuses a duplicate key at any depth with json_duplicate_key naming its path, rather than taking the last one', async () => {
    const server = harness();
    const cases: [string, string][] = [
      ['{"amount": 100, "amount": 1}', 'amount'],
      ['{"transfers": [{"amount": 1}, {"amount": 2, "currency": "usd", "amount": 3}]}', 'transfers[1].amount'],
      ['{"a": {"b": {"c": 1, "\\u0063": 2}}}', 'a.b.c'],
    ];
    for (const [payload, path] of cases) {
      const response = await postJson(server, '/v1/echo', payload);
      expectInvalidRequest(response, 'json_duplicate_key', path);
      expect(response.json()).toMatchObject({ error: { message: `The request body has the key ${path} more than once` } });
    }
    expect(server.handled()).toBe(0);
    // The same key in sibling objects is no duplicate.
    expect((await postJson(server, '/v1/echo', '{"transfers": [{"amount": 1}, {"amount": 2}]}')).statusCode).toBe(200);
  });

  it('tells a body that is not JSON so, before any duplicate key in it', async () => {
    expectInvalidRequest(await postJson(harness(), '/v1/echo', '{"a": 1, "a": 2'), 'invalid_json');
  });
});

describe('createHttpServer: card numbers in URLs', () => {
  // A Visa debit test number, and its middle digits, which nothing else in a log line holds.
  const card = '4000056655665556';
  const middle = card.slice(3, 13);
  const encoded = (text: string) => [...Buffer.from(text, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  const full_width = [...card].map((digit) => String.fromCharCode(0xff10 + Number(digit))).join('');
  const grouped = (separator: string) => card.replace(/(\d{4})(?=\d)/g, `$1${separator}`);
  const urls = [
    `/v1/things/${card}`,
    `/v1/things/${grouped('-')}?limit=1`,
    `/v1/things/${grouped('.')}`,
    `/v1/things/${grouped('/')}`,
    `/v1/things/cus_1?q=${card}`,
    `/v1/things/cus_1?limit=1&q=${grouped('+')}`,
    `/v1/things/cus_1?q=${encoded(card)}`,
    `/v1/things/${encoded(full_width)}`,
    `/v1/things/cus_1?q=${encodeURIComponent(grouped('\u00a0'))}`,
    `/v1/things/cus_1?q=${encodeURIComponent(grouped('\u200b'))}`,
    `/v1/things/cus_1?q=${encodeURIComponent(grouped('\t'))}`,
    `/v1/nothing/${card}`,
  ];

  it('refuses a card number in the path or the query with card_number_not_allowed, and no log line holds a trace of its digits', async () => {
    const server = harness();
    for (const url of urls) {
      const response = await server.app.inject({ method: 'GET', url });
      expectInvalidRequest(response, 'card_number_not_allowed');
      expect(response.body).not.toContain(middle);
    }
    const posted = await server.app.inject({ method: 'POST', url: `/v1/echo?card=${card}`, payload: '{}', headers: { 'content-type': 'application/json' } });
    expectInvalidRequest(posted, 'card_number_not_allowed');
    expect(server.handled()).toBe(0);

    const text = server.log_text();
    const incoming = server.logs().filter((line) => line.msg === 'incoming request');
    expect(incoming).toHaveLength(urls.length + 1);
    for (const line of incoming) expect((line.req as { url: string }).url).toContain('[redacted]');
    for (const trace of [middle, card.slice(0, 8), encoded(card).slice(0, 12), full_width.slice(0, 4), encoded(full_width).slice(0, 18), grouped('.').slice(0, 9)]) {
      expect([trace, text.includes(trace)]).toEqual([trace, false]);
    }
  });

  it('lets through URLs whose long numbers no card network issues', async () => {
    const server = harness();
    const imei = '352099001761481';
    for (const url of [
      '/v1/things/123456789012345678901234',
      `/v1/things/imei_${imei}?serial=${imei}`,
      '/v1/things/cus_1?created_after=1733340000000000000',
      `/v1/things/${card}0`,
      '/v1/things/4242424242424241',
      '/v1/things/2024-0001-7?date=2026/12/04',
    ]) {
      const response = await server.app.inject({ method: 'GET', url });
      expect([url, response.statusCode]).toEqual([url, 200]);
    }
  });
});

describe('createHttpServer: errors', () => {
  it('answers an unknown route with 404 route_not_found', async () => {
    const response = await harness().app.inject({ method: 'GET', url: '/v1/nothing?x=1' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: { type: 'not_found_error', code: 'route_not_found', message: 'No route for GET /v1/nothing' } });
  });

  it('answers a path whose percent-encoding is broken with 400 url_invalid, in the one error shape', async () => {
    for (const url of ['/v1/things/%zz', '/v1/things/%', '/v1/things/%c0%80?limit=1']) {
      const response = await harness().app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(400);
      expect(response.json()).toEqual({ error: { type: 'invalid_request_error', code: 'url_invalid', message: 'The request URL is malformed' } });
    }
  });

  it('maps a schema error to parameter_invalid with the field path', async () => {
    const server = harness();
    const transfers = [
      { amount: 1, currency: 'usd' },
      { amount: 2, currency: 'usd' },
      { amount: 3, currency: 'eur' },
      { amount: '400', currency: 'usd' },
    ];
    const wrong_type = await postJson(server, '/v1/transfers', JSON.stringify({ transfers }));
    expect(wrong_type.statusCode).toBe(400);
    // No type coercion in bodies: the string "400" is not an integer.
    expect(wrong_type.json()).toEqual({
      error: { type: 'invalid_request_error', code: 'parameter_invalid', message: 'transfers[3].amount must be integer', param: 'transfers[3].amount' },
    });

    const missing = await postJson(server, '/v1/transfers', JSON.stringify({ transfers: [{ currency: 'usd' }] }));
    expect(missing.json()).toEqual({
      error: { type: 'invalid_request_error', code: 'parameter_invalid', message: 'transfers[0].amount is required', param: 'transfers[0].amount' },
    });

    const unknown = await postJson(server, '/v1/transfers', JSON.stringify({ transfers: [], amout: 5 }));
    expect(unknown.json()).toEqual({
      error: { type: 'invalid_request_error', code: 'parameter_invalid', message: 'amout is not a known parameter', param: 'amout' },
    });

    const not_allowed = await postJson(server, '/v1/transfers', JSON.stringify({ transfers: [{ amount: 5, currency: 'gbp' }] }));
    expect(not_allowed.json()).toEqual({
      error: { type: 'invalid_request_error', code: 'parameter_invalid', message: 'transfers[0].currency must be one of "usd", "eur"', param: 'transfers[0].currency' },
    });

    const not_object = await postJson(server, '/v1/transfers', '[]');
    expect(not_object.json()).toEqual({ error: { type: 'invalid_request_error', code: 'parameter_invalid', message: 'The request body must be object' } });
  });

  it('coerces query string values but still validates them', async () => {
    const server = harness();
    const ok = await server.app.inject({ method: 'GET', url: '/v1/things/abc?limit=10' });
    expect(ok.json()).toEqual({ id: 'abc', query: { limit: 10 } });
    const bad = await server.app.inject({ method: 'GET', url: '/v1/things/abc?limit=1000' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({ error: { type: 'invalid_request_error', code: 'parameter_invalid', message: 'limit must be <= 100', param: 'limit' } });
  });

  it('sends an ApiError as it is', async () => {
    const response = await harness().app.inject({ method: 'GET', url: '/v1/refused' });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toEqual({ error: { type: 'permission_error', code: 'operator_only', message: 'Only operators may do this', param: 'scope' } });
  });

  it('answers a bug with a generic 500, logs it, and leaks nothing', async () => {
    const server = harness();
    const response = await server.app.inject({ method: 'GET', url: '/v1/bug' });
    expect(response.statusCode).toBe(500);
    const body = response.json<{ error: { message: string } }>();
    expect(body).toEqual({ error: { type: 'api_error', code: 'internal_error', message: expect.stringMatching(/^An unexpected error occurred; it has been logged under request id \S+$/) as unknown } });
    expect(response.body).not.toContain('hunter2');
    const logged = server.logs().find((line) => line['msg'] === 'request failed');
    expect(logged).toMatchObject({ level: 50, err: { message: 'connection string postgres://admin:hunter2@db leaked' } });
    expect(server.assertion_failures).toEqual([]);
  });

  it('answers a failed assertion with a 500, logs it at fatal level and reports it', async () => {
    const server = harness();
    const response = await server.app.inject({ method: 'GET', url: '/v1/assertion' });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toMatchObject({ error: { type: 'api_error', code: 'internal_error' } });
    expect(response.body).not.toContain('negative');
    const logged = server.logs().find((line) => line['level'] === 60);
    expect(logged).toMatchObject({ err: { type: 'AssertionError', message: 'balances must never go negative' } });
    expect(server.assertion_failures).toHaveLength(1);
  });
});

describe('createHttpServer: shutdown', () => {
  it('finishes requests in flight and refuses new ones in the one shape', async () => {
    const server = harness();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let slow_started: () => void = () => undefined;
    const started = new Promise<void>((resolve) => {
      slow_started = resolve;
    });
    server.app.get('/v1/slow', async () => {
      slow_started();
      await gate;
      return { finished: true };
    });
    await server.app.listen({ host: '127.0.0.1', port: 0 });
    const address = server.app.server.address();
    assert(typeof address === 'object' && address !== null);

    // One keep-alive connection: a slow request is in flight when close() begins, and a second
    // request arrives on the same connection afterwards.
    const socket = connect(address.port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
    });
    const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write('GET /v1/slow HTTP/1.1\r\nHost: test\r\n\r\n');
    await started;
    const closed = server.app.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    socket.write('GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 20));
    release();
    await closed;
    await ended;

    const responses = received.split(/(?=HTTP\/1\.1 )/);
    expect(responses).toHaveLength(2);
    expect(responses[0]).toMatch(/^HTTP\/1\.1 200 /);
    expect(responses[0]).toContain('{"finished":true}');
    expect(responses[1]).toMatch(/^HTTP\/1\.1 503 /);
    expect(responses[1]?.toLowerCase()).toContain('connection: close');
    expect(responses[1]).toContain(
      '{"error":{"type":"service_unavailable_error","code":"shutting_down","message":"This server is shutting down; retry the request"}}',
    );
  });
});

describe('createHttpServer: probes and metrics', () => {
  it('answers /healthz while alive', async () => {
    const response = await harness().app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz from the readiness checks', async () => {
    const server = harness();
    let database_up = true;
    server.readiness.add('database', () => (database_up ? Promise.resolve() : Promise.reject(new Error('connection refused'))));
    server.readiness.add('bus', () => Promise.resolve());
    server.readiness.add('cache', () => Promise.reject(new Error('timeout')));
    const failing = await server.app.inject({ method: 'GET', url: '/readyz' });
    expect(failing.statusCode).toBe(503);
    expect(failing.json()).toEqual({ error: { type: 'service_unavailable_error', code: 'not_ready', message: 'Not ready: cache' } });

    database_up = false;
    const two_failing = await server.app.inject({ method: 'GET', url: '/readyz' });
    expect(two_failing.json()).toMatchObject({ error: { message: 'Not ready: database, cache' } });
  });

  it('answers /readyz with 200 when every check passes', async () => {
    const server = harness();
    server.readiness.add('database', () => Promise.resolve());
    const response = await server.app.inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });

  /** The operator's check, as the platform passes it: a bearer key compared with the operator key. */
  function operatorOnly(request: { headers: Record<string, string | string[] | undefined> }): void {
    if (request.headers.authorization !== 'Bearer operator-key') throw new ApiError('authentication_error', 'api_key_invalid', 'Invalid API key provided');
  }

  function expectDurations(body: string): void {
    expect(body).toContain('paygrid_http_request_duration_seconds_count{method="GET",route="/v1/things/:id",status_code="200"} 2');
    expect(body).toContain('paygrid_http_request_duration_seconds_count{method="GET",route="unmatched",status_code="404"} 1');
    expect(body).not.toContain('/v1/things/one');
    // Default process metrics are collected too.
    expect(body).toContain('process_cpu_seconds_total');
  }

  async function someTraffic(server: HttpServer): Promise<void> {
    await server.app.inject({ method: 'GET', url: '/v1/things/one' });
    await server.app.inject({ method: 'GET', url: '/v1/things/two' });
    await server.app.inject({ method: 'GET', url: '/v1/nowhere/at/all' });
  }

  it('does not serve /metrics unless told how to authenticate the scraper', async () => {
    const server = harness();
    const response = await server.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(404);
    expect(response.body).not.toContain('paygrid_http_request_duration_seconds');
  });

  it('serves /metrics behind the check it is given, and refuses anyone else in the one error shape', async () => {
    const server = harness({ metrics_authenticate: operatorOnly });
    await someTraffic(server);
    const anonymous = await server.app.inject({ method: 'GET', url: '/metrics' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json()).toEqual({ error: { type: 'authentication_error', code: 'api_key_invalid', message: 'Invalid API key provided' } });
    const wrong = await server.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer guess' } });
    expect(wrong.statusCode).toBe(401);
    const response = await server.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer operator-key' } });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain');
    expectDurations(response.body);
  });

  it("records request durations by route pattern, served by a listener of their own that serves nothing else", async () => {
    const server = harness();
    await someTraffic(server);
    const metrics = createMetricsServer({ logger: createLogger({ level: 'silent', name: 'test' }), registry: server.metrics.registry });
    try {
      const response = await metrics.inject({ method: 'GET', url: '/metrics' });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toContain('text/plain');
      expectDurations(response.body);
      for (const url of ['/healthz', '/v1/things/one', '/metrics/x']) {
        const other = await metrics.inject({ method: 'GET', url });
        expect([url, other.statusCode, other.json<{ error: { code: string } }>().error.code]).toEqual([url, 404, 'route_not_found']);
      }
      expect((await metrics.inject({ method: 'POST', url: '/metrics', payload: '{}', headers: { 'content-type': 'application/json' } })).statusCode).toBe(404);
    } finally {
      await metrics.close();
    }
  });
});

describe('createHttpServer: the route table', () => {
  it('lists every route registered after it was made, in plugins and under prefixes too, one line per method', async () => {
    const server = harness();
    await server.app.register(
      (scope, _options, done) => {
        scope.route({ method: ['GET', 'POST'], url: '/things/:id', handler: () => ({}) });
        done();
      },
      { prefix: '/v1/scoped' },
    );
    await server.app.ready();
    const listed = server.routes.map((route) => `${route.method} ${route.url}`);
    expect(listed).toEqual(expect.arrayContaining(['GET /healthz', 'HEAD /healthz', 'GET /readyz', 'POST /v1/transfers', 'GET /v1/scoped/things/:id', 'HEAD /v1/scoped/things/:id', 'POST /v1/scoped/things/:id']));
    // Without metrics_authenticate this server serves no /metrics, and lists none.
    expect(listed.filter((route) => route.endsWith(' /metrics'))).toEqual([]);
  });
});
