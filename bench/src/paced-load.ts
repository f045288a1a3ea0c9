// An open-loop load at a steady rate, for latency "at half the rate".
//
// autocannon's rate option is a budget per connection per second: each connection sends as fast as
// it can until it has spent the second's budget, then waits for the next second. Half the rate is
// then full speed for half of each second and nothing for the rest, so the latency it reports is
// that of a saturated server. Its correction for coordinated omission also takes the expected
// interval as ceil(1 / rate) milliseconds (1 ms at any rate above one request per second), which
// counts every slow answer many times over. Here requests leave on a fixed schedule, one every
// 1 / rate seconds, whether or not earlier ones have been answered, and each latency is measured
// from the moment its request was due: a late start caused by a slow server counts against it.
import { Agent, request } from 'node:http';
import type { LoadResult } from './api';

export interface PacedRequest {
  readonly method: 'POST' | 'GET';
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

export interface PacedLoadOptions {
  readonly url: string;
  /** Requests per second, spread evenly. */
  readonly rate: number;
  readonly seconds: number;
  /** Sockets kept open; requests beyond them wait for one, and that wait counts as latency. */
  readonly connections: number;
  /** Builds each request when it is due (a fresh idempotency key and signature each time). */
  readonly next: () => PacedRequest;
}

/** How often the scheduler wakes to send the requests that have come due. */
const schedule_tick_ms = 1;
/** How long to wait for the last answers after the schedule ends. */
const drain_timeout_ms = 30_000;

export async function pacedLoad(options: PacedLoadOptions): Promise<LoadResult> {
  const base = new URL(options.url);
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const total = Math.max(1, Math.round(options.rate * options.seconds));
  const interval_ms = 1000 / options.rate;
  const latencies: number[] = [];
  let non_2xx = 0;
  let errors = 0;
  let answered = 0;
  const started = performance.now();

  const send = (due: number): void => {
    const next = options.next();
    const outgoing = request(
      { host: base.hostname, port: base.port, method: next.method, path: next.path, headers: next.headers, agent },
      (response) => {
        response.resume();
        response.on('end', () => {
          latencies.push(performance.now() - due);
          if ((response.statusCode ?? 0) < 200 || (response.statusCode ?? 0) >= 300) non_2xx += 1;
          answered += 1;
        });
      },
    );
    outgoing.on('error', () => {
      errors += 1;
      answered += 1;
    });
    outgoing.end(next.body);
  };

  let sent = 0;
  await new Promise<void>((done) => {
    const tick = (): void => {
      const now = performance.now();
      while (sent < total && started + sent * interval_ms <= now) {
        send(started + sent * interval_ms);
        sent += 1;
      }
      if (sent < total) setTimeout(tick, schedule_tick_ms);
      else done();
    };
    tick();
  });
  const drain_deadline = performance.now() + drain_timeout_ms;
  while (answered < total && performance.now() < drain_deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  const elapsed_s = (performance.now() - started) / 1000;
  agent.destroy();
  errors += total - answered;
  latencies.sort((a, b) => a - b);
  const percentile = (fraction: number): number => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * fraction))] ?? 0;
  return {
    requests_per_second: latencies.length / elapsed_s,
    p50_ms: percentile(0.5),
    p99_ms: percentile(0.99),
    requests: latencies.length,
    non_2xx,
    errors,
  };
}
