// createHttpUpstream against real HTTP servers on 127.0.0.1: balancing, ejection and retries,
// health checks, the circuit breaker, deadlines across two hops, and DNS targets.
import { lookup } from 'node:dns/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHttpServer, type HttpServer } from '../http/server';
import { createLogger } from '../logger';
import { remainingDeadlineMs, runWithDeadline } from './deadline';
import { createHttpUpstream, type HttpUpstream, type HttpUpstreamOptions, type LookupAddress } from './http-upstream';
import { UpstreamUnavailableError, type UpstreamRequest } from './upstream';

interface TestServer {
  readonly name: string;
  readonly port: number;
  readonly origin: string;
  /** Requests received, health checks excluded. */
  readonly received: { readonly method: string; readonly path: string; readonly headers: IncomingMessage['headers'] }[];
  /** Stops listening and destroys every connection, in-flight requests included: a crashed instance. */
  kill(): Promise<void>;
}

type Handler = (request: IncomingMessage, response: ServerResponse, server: TestServer) => void;

const servers: Server[] = [];
const upstreams: HttpUpstream[] = [];
const fastify_servers: HttpServer[] = [];

afterEach(async () => {
  await Promise.all(upstreams.splice(0).map(async (upstream) => upstream.close()));
  await Promise.all(fastify_servers.splice(0).map(async (server) => server.app.close()));
  for (const server of servers.splice(0)) {
    server.close();
    server.closeAllConnections();
  }
});

const answerName: Handler = (_request, response, server) => {
  response.writeHead(200, { 'content-type': 'text/plain' }).end(server.name);
};

async function startServer(name: string, handler: Handler = answerName): Promise<TestServer> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const test_server: TestServer = {
    name,
    port,
    origin: `http://127.0.0.1:${port}`,
    received: [],
    async kill() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    // Health checks answer 200 unless the handler takes /readyz itself.
    if (request.url !== '/readyz') test_server.received.push({ method: request.method ?? '', path: request.url ?? '', headers: request.headers });
    handler(request, response, test_server);
  });
  return test_server;
}

const quiet: Partial<HttpUpstreamOptions> = { health_check: false, circuit_breaker: false };

function upstream(options: Partial<HttpUpstreamOptions> & Pick<HttpUpstreamOptions, 'targets'>): HttpUpstream {
  const created = createHttpUpstream({ service: 'ledger', ...options });
  upstreams.push(created);
  return created;
}

const get: UpstreamRequest = { method: 'GET', path: '/work', idempotent: true };
const post: UpstreamRequest = { method: 'POST', path: '/work', idempotent: false, body: '{"amount":100}', headers: { 'content-type': 'application/json' } };

function countBy(servers_of_test: readonly TestServer[], method = 'GET'): Record<string, number> {
  return Object.fromEntries(servers_of_test.map((server) => [server.name, server.received.filter((request) => request.method === method).length]));
}

async function metricValue(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((candidate) => candidate.name === name);
  const value = metric?.values.find((candidate) => Object.entries(labels).every(([key, label]) => candidate.labels[key] === label));
  return value?.value ?? 0;
}

async function rejection(promise: Promise<unknown>): Promise<UpstreamUnavailableError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    return error as UpstreamUnavailableError;
  }
  throw new Error('expected the call to reject');
}

describe('createHttpUpstream: balancing', () => {
  it('round_robin sends each instance the same number of calls', async () => {
    const three = await Promise.all(['a', 'b', 'c'].map(async (name) => startServer(name)));
    const ledger = upstream({ ...quiet, policy: 'round_robin', targets: three.map((server) => server.origin).join(',') });
    for (let index = 0; index < 30; index += 1) expect((await ledger.request(get)).status).toBe(200);
    expect(countBy(three)).toEqual({ a: 10, b: 10, c: 10 });
  });

  it('weighted sends calls in the ratio of the weights', async () => {
    const two = await Promise.all(['heavy', 'light'].map(async (name) => startServer(name)));
    const ledger = upstream({ ...quiet, policy: 'weighted', targets: `${two[0]?.origin}#weight=3,${two[1]?.origin}` });
    for (let index = 0; index < 40; index += 1) await ledger.request(get);
    expect(countBy(two)).toEqual({ heavy: 30, light: 10 });
  });

  it('least_outstanding passes over an instance busy with a slow call', async () => {
    const slow = await startServer('slow', (_request, response) => void sleep(400).then(() => response.end('slow')));
    const fast = await startServer('fast');
    const ledger = upstream({ ...quiet, policy: 'least_outstanding', targets: [slow.origin, fast.origin].join(',') });
    // Two workers share twenty calls. Whichever is held by the slow instance stays there while the
    // other works through the rest: every pick sees the slow instance busy and the fast one idle.
    let calls_left = 20;
    const worker = async () => {
      while (calls_left > 0) {
        calls_left -= 1;
        expect((await ledger.request(get)).status).toBe(200);
      }
    };
    await Promise.all([worker(), worker()]);
    expect(countBy([slow, fast])).toEqual({ slow: 1, fast: 19 });
  });
});

describe('createHttpUpstream: failures, retries and ejection', () => {
  /** Two instances; `dying` dies while handling the first call that reaches it, without answering. */
  async function dyingPair() {
    const healthy = await startServer('healthy');
    const dying = await startServer('dying', (_request, _response, server) => void server.kill());
    const registry = new Registry();
    const ledger = upstream({
      ...quiet,
      registry,
      policy: 'round_robin',
      targets: [healthy.origin, dying.origin].join(','),
      outlier_ejection: { failures_consecutive_max: 3, ejection_base_ms: 10_000 },
    });
    return { healthy, dying, registry, ledger };
  }

  it('retries an idempotent call that reached a dying instance on another, then ejects the dead one', async () => {
    const { healthy, dying, registry, ledger } = await dyingPair();
    for (let index = 0; index < 2; index += 1) expect((await ledger.request(get)).status).toBe(200);
    expect(countBy([healthy, dying])).toEqual({ healthy: 2, dying: 1 });
    expect(await metricValue(registry, 'paygrid_upstream_retries_total', { upstream: 'ledger' })).toBe(1);
    // The dead instance refuses connections now; two more failures eject it.
    for (let index = 0; index < 4; index += 1) expect((await ledger.request(get)).status).toBe(200);
    const dead = ledger.instances().find((instance) => instance.origin === dying.origin);
    expect(dead).toMatchObject({ ejected: true, ejections: 1 });
    expect(await metricValue(registry, 'paygrid_upstream_ejections_total', { upstream: 'ledger' })).toBe(1);
    // Once ejected, it is not tried at all: no more retries.
    const retries = await metricValue(registry, 'paygrid_upstream_retries_total', { upstream: 'ledger' });
    for (let index = 0; index < 6; index += 1) await ledger.request(get);
    expect(await metricValue(registry, 'paygrid_upstream_retries_total', { upstream: 'ledger' })).toBe(retries);
    expect(await metricValue(registry, 'paygrid_upstream_requests_total', { upstream: 'ledger', outcome: 'response' })).toBe(12);
  });

  it('does not retry a non-idempotent call that may have reached a dying instance, but retries one refused before it was sent', async () => {
    const { healthy, dying, ledger } = await dyingPair();
    const outcomes = await Promise.allSettled([ledger.request(post), ledger.request(post)]);
    const rejected = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(rejected).toHaveLength(1);
    const error = rejected[0]?.status === 'rejected' ? (rejected[0].reason as UpstreamUnavailableError) : undefined;
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect(error?.may_have_reached).toBe(true);
    // The healthy instance got its own call and not a second copy of the lost one.
    expect(countBy([healthy, dying], 'POST')).toEqual({ healthy: 1, dying: 1 });
    // Connections to the dead instance are refused now: nothing was sent, so a retry is safe.
    for (let index = 0; index < 2; index += 1) expect((await ledger.request(post)).status).toBe(200);
    expect(countBy([healthy, dying], 'POST')).toEqual({ healthy: 3, dying: 1 });
  });

  it('never ejects past the cap: with every instance down, one stays and calls fail as never sent', async () => {
    const two = await Promise.all(['a', 'b'].map(async (name) => startServer(name)));
    const ledger = upstream({ ...quiet, targets: two.map((server) => server.origin).join(','), outlier_ejection: { failures_consecutive_max: 1 } });
    await Promise.all(two.map(async (server) => server.kill()));
    for (let index = 0; index < 4; index += 1) {
      const error = await rejection(ledger.request(post));
      expect(error.may_have_reached).toBe(false);
      expect(error.message).toMatch(/did not answer: .* failed: .*ECONNREFUSED/);
    }
    expect(ledger.instances().filter((instance) => instance.ejected)).toHaveLength(1);
  });

  it('ejects for longer each time in a row, up to the cap', async () => {
    const healthy = await startServer('healthy');
    const dead = await startServer('dead');
    await dead.kill();
    const ledger = upstream({
      ...quiet,
      policy: 'round_robin',
      targets: [healthy.origin, dead.origin].join(','),
      outlier_ejection: { failures_consecutive_max: 1, ejection_base_ms: 200, ejection_max_ms: 300 },
    });
    const deadStatus = () => ledger.instances().find((instance) => instance.origin === dead.origin);
    for (let index = 0; index < 10 && deadStatus()?.ejected !== true; index += 1) await ledger.request(get);
    expect(deadStatus()).toMatchObject({ ejections: 1 });
    expect(deadStatus()?.ejection_remaining_ms).toBeLessThanOrEqual(200);
    await vi.waitFor(() => expect(deadStatus()?.ejected).toBe(false), { timeout: 2_000, interval: 10 });
    for (let index = 0; index < 10 && deadStatus()?.ejected !== true; index += 1) await ledger.request(get);
    // Twice the base, capped at 300 ms.
    expect(deadStatus()).toMatchObject({ ejections: 2 });
    expect(deadStatus()?.ejection_remaining_ms).toBeGreaterThan(200);
    expect(deadStatus()?.ejection_remaining_ms).toBeLessThanOrEqual(300);
  });

  it('counts a response larger than response_bytes_max as a failed attempt', async () => {
    const big = await startServer('big', (_request, response) => response.end(Buffer.alloc(4_096, 'x')));
    const ledger = upstream({ ...quiet, targets: big.origin, response_bytes_max: 1_024 });
    const error = await rejection(ledger.request(get));
    expect(error.may_have_reached).toBe(true);
    expect(error.message).toMatch(/larger than 1024 bytes/);
    expect(big.received).toHaveLength(3);
    const small = upstream({ ...quiet, targets: big.origin, response_bytes_max: 4_096 });
    expect((await small.request(get)).body).toHaveLength(4_096);
  });

  it('retries a 503 when idempotent and returns the last answer when every attempt gets one', async () => {
    const busy = await startServer('busy', (_request, response) => response.writeHead(503).end('busy'));
    const ok = await startServer('ok');
    const ledger = upstream({ ...quiet, policy: 'round_robin', targets: [busy.origin, ok.origin].join(',') });
    for (let index = 0; index < 4; index += 1) expect((await ledger.request(get)).status).toBe(200);
    const alone = upstream({ ...quiet, targets: busy.origin, retry: { attempts_max: 3 } });
    busy.received.length = 0;
    expect((await alone.request(get)).status).toBe(503);
    expect(busy.received).toHaveLength(3);
    // Not idempotent: the 503 came from the service, which may have acted; one attempt only.
    expect((await alone.request(post)).status).toBe(503);
    expect(busy.received).toHaveLength(4);
  });
});

describe('createHttpUpstream: active health checks', () => {
  it('takes an instance out after failed checks and brings it back after passed ones', async () => {
    let ready = true;
    const flaky = await startServer('flaky', (request, response, server) => {
      if (request.url === '/readyz') response.writeHead(ready ? 200 : 503).end();
      else answerName(request, response, server);
    });
    const steady = await startServer('steady');
    const ledger = upstream({
      circuit_breaker: false,
      policy: 'round_robin',
      targets: [flaky.origin, steady.origin].join(','),
      health_check: { interval_ms: 15, timeout_ms: 200, unhealthy_threshold: 2, healthy_threshold: 2 },
    });
    const flakyStatus = () => ledger.instances().find((instance) => instance.origin === flaky.origin);
    ready = false;
    await vi.waitFor(() => expect(flakyStatus()?.healthy).toBe(false), { timeout: 2_000, interval: 10 });
    for (let index = 0; index < 6; index += 1) await ledger.request(get);
    expect(countBy([flaky, steady])).toEqual({ flaky: 0, steady: 6 });
    ready = true;
    await vi.waitFor(() => expect(flakyStatus()?.healthy).toBe(true), { timeout: 2_000, interval: 10 });
    for (let index = 0; index < 6; index += 1) await ledger.request(get);
    expect(countBy([flaky, steady])).toEqual({ flaky: 3, steady: 9 });
  });
});

describe('createHttpUpstream: an instance out of rotation', () => {
  it('is checked at the shorter unhealthy interval, so it returns soon after it is ready again', async () => {
    let ready = false;
    const only = await startServer('only', (request, response, server) => {
      if (request.url === '/readyz') response.writeHead(ready ? 200 : 503).end();
      else answerName(request, response, server);
    });
    // At the full interval alone, coming back would take two more intervals: 2 s at least.
    const ledger = upstream({
      circuit_breaker: false,
      targets: only.origin,
      health_check: { interval_ms: 1_000, unhealthy_interval_ms: 20, timeout_ms: 200, unhealthy_threshold: 1, healthy_threshold: 2 },
    });
    const status = () => ledger.instances()[0];
    await vi.waitFor(() => expect(status()?.healthy).toBe(false), { timeout: 3_000, interval: 10 });
    ready = true;
    const ready_at = performance.now();
    await vi.waitFor(() => expect(status()?.healthy).toBe(true), { timeout: 3_000, interval: 5 });
    expect(performance.now() - ready_at).toBeLessThan(700);
    expect((await ledger.request(get)).body.toString()).toBe('only');
  });
});

describe('createHttpUpstream: circuit breaker', () => {
  it('opens on failures, fails fast without sending, half-opens after the cool-down with bounded trials, and closes', async () => {
    let failing = true;
    const ledger_server = await startServer('ledger', (_request, response) => {
      if (failing) response.writeHead(503).end();
      else void sleep(50).then(() => response.end('ok'));
    });
    const registry = new Registry();
    const ledger = upstream({
      registry,
      targets: ledger_server.origin,
      health_check: false,
      outlier_ejection: false,
      retry: { attempts_max: 1 },
      circuit_breaker: { window_calls_min: 4, failure_ratio_max: 0.5, open_ms: 150, half_open_calls_max: 2 },
    });
    for (let index = 0; index < 4; index += 1) expect((await ledger.request(get)).status).toBe(503);
    expect(ledger.circuitState()).toBe('open');
    expect(await metricValue(registry, 'paygrid_upstream_circuit_state', { upstream: 'ledger' })).toBe(2);
    const started = performance.now();
    const error = await rejection(ledger.request(post));
    expect(performance.now() - started).toBeLessThan(20);
    expect(error.may_have_reached).toBe(false);
    expect(error.message).toMatch(/circuit is open/);
    expect(ledger_server.received).toHaveLength(4);

    failing = false;
    await vi.waitFor(() => expect(ledger.circuitState()).toBe('half_open'), { timeout: 2_000, interval: 10 });
    const trials = await Promise.allSettled([ledger.request(get), ledger.request(get), ledger.request(get)]);
    expect(trials.map((trial) => trial.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect(ledger.circuitState()).toBe('closed');
    expect(await metricValue(registry, 'paygrid_upstream_circuit_state', { upstream: 'ledger' })).toBe(0);
    expect(await metricValue(registry, 'paygrid_upstream_requests_total', { upstream: 'ledger', outcome: 'circuit_open' })).toBe(2);
    expect((await ledger.request(get)).status).toBe(200);
  });
});

function silentLogger() {
  return createLogger({ level: 'warn', name: 'test', destination: new Writable({ write: (_chunk, _encoding, callback) => callback() }) });
}

async function listen(server: HttpServer): Promise<string> {
  fastify_servers.push(server);
  return server.app.listen({ host: '127.0.0.1', port: 0 });
}

describe('createHttpUpstream: deadlines', () => {
  it('hands the deadline down two hops, through a Fastify handler that reads a body and awaits a hook', async () => {
    const inner = createHttpServer({ logger: silentLogger() });
    inner.app.addHook('preHandler', async () => sleep(5));
    inner.app.post('/inner', async (request) => {
      await sleep(5);
      return { header: Number(request.headers['paygrid-deadline-ms']), remaining_ms: remainingDeadlineMs() ?? null, body: request.body };
    });
    const inner_upstream = upstream({ ...quiet, service: 'inner', targets: await listen(inner) });

    const outer = createHttpServer({ logger: silentLogger() });
    outer.app.post('/outer', async (request) => {
      await sleep(5);
      const remaining_ms = remainingDeadlineMs() ?? null;
      const answer = await inner_upstream.request({ method: 'POST', path: '/inner', idempotent: true, body: JSON.stringify(request.body), headers: { 'content-type': 'application/json' } });
      return { header: Number(request.headers['paygrid-deadline-ms']), remaining_ms, inner: JSON.parse(answer.body.toString()) as unknown };
    });
    const outer_upstream = upstream({ ...quiet, service: 'outer', targets: await listen(outer) });

    const answer = await runWithDeadline(2_000, async () =>
      outer_upstream.request({ method: 'POST', path: '/outer', idempotent: true, body: '{"amount":100}', headers: { 'content-type': 'application/json' } }),
    );
    expect(answer.status).toBe(200);
    const seen = JSON.parse(answer.body.toString()) as { header: number; remaining_ms: number; inner: { header: number; remaining_ms: number; body: unknown } };
    expect(seen.header).toBeGreaterThan(1_500);
    expect(seen.header).toBeLessThanOrEqual(2_000);
    expect(seen.remaining_ms).toBeGreaterThan(0);
    expect(seen.remaining_ms).toBeLessThan(seen.header);
    expect(seen.inner.header).toBeLessThanOrEqual(seen.remaining_ms);
    expect(seen.inner.header).toBeGreaterThan(1_000);
    expect(seen.inner.remaining_ms).toBeLessThan(seen.inner.header);
    expect(seen.inner.body).toEqual({ amount: 100 });

    // Without a deadline, a call carries the upstream's default, and a header the caller set
    // itself does not override the transport's.
    const plain = JSON.parse(
      (await inner_upstream.request({ method: 'POST', path: '/inner', idempotent: true, headers: { 'Paygrid-Deadline-Ms': '99999999' } })).body.toString(),
    ) as { header: number; remaining_ms: number };
    expect(plain.header).toBeLessThanOrEqual(10_000);
    expect(plain.header).toBeGreaterThan(9_900);
    expect(plain.remaining_ms).toBeLessThanOrEqual(plain.header);
  });

  it('bounds an incoming deadline by the server maximum', async () => {
    const server = createHttpServer({ logger: silentLogger() });
    server.app.get('/remaining', () => ({ remaining_ms: remainingDeadlineMs() ?? null }));
    fastify_servers.push(server);
    const none = await server.app.inject({ method: 'GET', url: '/remaining' });
    expect(none.json()).toEqual({ remaining_ms: null });
    const huge = await server.app.inject({ method: 'GET', url: '/remaining', headers: { 'paygrid-deadline-ms': '99999999' } });
    const { remaining_ms } = huge.json<{ remaining_ms: number }>();
    expect(remaining_ms).toBeLessThanOrEqual(30_000);
    expect(remaining_ms).toBeGreaterThan(29_000);
  });

  it('keeps the deadline while a body arrives in pieces', async () => {
    const server = createHttpServer({ logger: silentLogger() });
    server.app.post('/remaining', async (request) => {
      await sleep(1);
      return { remaining_ms: remainingDeadlineMs() ?? null, body: request.body };
    });
    const address = new URL(await listen(server));
    const answer = await new Promise<string>((resolve, reject) => {
      const outgoing = httpRequest(
        { host: address.hostname, port: address.port, method: 'POST', path: '/remaining', headers: { 'content-type': 'application/json', 'content-length': '14', 'paygrid-deadline-ms': '1000' } },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => resolve(Buffer.concat(chunks).toString()));
        },
      );
      outgoing.on('error', reject);
      outgoing.write('{"amount"');
      setTimeout(() => outgoing.end(':100}'), 30);
    });
    const seen = JSON.parse(answer) as { remaining_ms: number; body: unknown };
    expect(seen.body).toEqual({ amount: 100 });
    expect(seen.remaining_ms).toBeGreaterThan(500);
    expect(seen.remaining_ms).toBeLessThan(975);
  });

  it('gives up at the deadline, and sends nothing once it has passed', async () => {
    const hung = await startServer('hung', () => {});
    const ledger = upstream({ ...quiet, targets: hung.origin });
    let started = performance.now();
    let error = await rejection(ledger.request({ ...get, timeout_ms: 150 }));
    let elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(145);
    expect(elapsed).toBeLessThan(600);
    expect(error.may_have_reached).toBe(true);
    expect(error.message).toMatch(/no answer within 1[0-9]{2} ms/);

    started = performance.now();
    error = await rejection(runWithDeadline(100, async () => ledger.request(post)));
    elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(95);
    expect(elapsed).toBeLessThan(600);

    const received = hung.received.length;
    error = await rejection(runWithDeadline(0, async () => ledger.request(post)));
    expect(error.may_have_reached).toBe(false);
    expect(error.message).toMatch(/deadline passed/);
    expect(hung.received).toHaveLength(received);
    // Calls whose deadline passed before sending say nothing about the service: the circuit stays closed.
    const guarded = upstream({ health_check: false, targets: hung.origin, circuit_breaker: { window_calls_min: 1 } });
    for (let index = 0; index < 3; index += 1) await rejection(runWithDeadline(0, async () => guarded.request(get)));
    expect(guarded.circuitState()).toBe('closed');
    expect(hung.received).toHaveLength(received);
  });
});

describe('createHttpUpstream: DNS targets', () => {
  it('resolves a name to one instance per address and sends the name as Host', async () => {
    const server = await startServer('local');
    const ledger = upstream({ ...quiet, targets: `http://localhost:${server.port}` });
    await ledger.ready();
    const resolved = (await lookup('localhost', { all: true })).map((entry) => entry.address);
    const addresses = ledger.instances().map((instance) => instance.address);
    expect([...addresses].sort()).toEqual([...new Set(resolved)].sort());
    expect(addresses).toContain('127.0.0.1');
    // If localhost also resolves to ::1 here, that instance refuses and the call is retried.
    for (let index = 0; index < 2; index += 1) expect((await ledger.request(get)).status).toBe(200);
    expect(server.received[0]?.headers.host).toBe(`localhost:${server.port}`);
  });

  it('follows the addresses as they change, and keeps the last ones when a lookup fails', async () => {
    let answer: readonly LookupAddress[] | Error = [{ address: '127.0.0.1', family: 4 }];
    const lookups: string[] = [];
    const fakeLookup = async (host: string): Promise<readonly LookupAddress[]> => {
      lookups.push(host);
      await sleep(0);
      if (answer instanceof Error) throw answer;
      return answer;
    };
    const ledger = upstream({ ...quiet, targets: 'http://ledger.internal:8080#weight=2', dns_refresh_ms: 10, lookup: fakeLookup });
    await ledger.ready();
    const addresses = () => ledger.instances().map((instance) => instance.address);
    expect(ledger.instances()).toMatchObject([{ address: '127.0.0.1', origin: 'http://127.0.0.1:8080', weight: 2 }]);
    answer = [
      { address: '127.0.0.1', family: 4 },
      { address: '127.0.0.3', family: 4 },
      { address: '::1', family: 6 },
    ];
    await vi.waitFor(() => expect(addresses()).toEqual(['127.0.0.1', '127.0.0.3', '::1']), { timeout: 2_000, interval: 5 });
    expect(ledger.instances()[2]?.origin).toBe('http://[::1]:8080');
    answer = [{ address: '127.0.0.3', family: 4 }];
    await vi.waitFor(() => expect(addresses()).toEqual(['127.0.0.3']), { timeout: 2_000, interval: 5 });
    answer = new Error('getaddrinfo EAI_AGAIN ledger.internal');
    const failed_from = lookups.length;
    await vi.waitFor(() => expect(lookups.length).toBeGreaterThan(failed_from + 2), { timeout: 2_000, interval: 5 });
    expect(addresses()).toEqual(['127.0.0.3']);
    expect(new Set(lookups)).toEqual(new Set(['ledger.internal']));
  });

  it('fails fast, as never sent, while a name resolves to nothing, and refuses calls once closed', async () => {
    const ledger = createHttpUpstream({ ...quiet, service: 'ledger', targets: 'http://ledger.internal:8080', lookup: () => Promise.resolve([]) });
    await ledger.ready();
    const error = await rejection(ledger.request(post));
    expect(error.may_have_reached).toBe(false);
    expect(error.message).toMatch(/no instance is known/);
    await ledger.close();
    expect((await rejection(ledger.request(get))).message).toMatch(/closed/);
  });
});

describe('createHttpUpstream: close', () => {
  it('stops health checks and DNS refreshes and closes every connection', async () => {
    let checks = 0;
    const target = await startServer('target', (request, response, server) => {
      if (request.url === '/readyz') checks += 1;
      answerName(request, response, server);
    });
    let lookups = 0;
    const ledger = createHttpUpstream({
      service: 'ledger',
      targets: `http://ledger.internal:${target.port}`,
      health_check: { interval_ms: 5 },
      dns_refresh_ms: 5,
      lookup: () => {
        lookups += 1;
        return Promise.resolve([{ address: '127.0.0.1', family: 4 }]);
      },
    });
    await Promise.all(Array.from({ length: 4 }, async () => ledger.request(get)));
    await vi.waitFor(() => expect(checks).toBeGreaterThan(2), { timeout: 2_000, interval: 5 });
    const node_server = servers.at(-1);
    await ledger.close();
    const [checks_at_close, lookups_at_close] = [checks, lookups];
    await sleep(50);
    expect([checks, lookups]).toEqual([checks_at_close, lookups_at_close]);
    await vi.waitFor(
      async () => expect(await new Promise<number>((resolve, reject) => node_server?.getConnections((error, count) => (error ? reject(error) : resolve(count))))).toBe(0),
      { timeout: 2_000, interval: 10 },
    );
  });
});
