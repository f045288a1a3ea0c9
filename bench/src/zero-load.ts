// Latency at zero load: one request at a time on one kept-alive connection, each sent only after
// the previous answer has arrived, so nothing queues anywhere and what is measured is the cost of
// one request through the whole stack. Each request is built (and signed) before its clock starts:
// that is the client's cost, not the server's.
import { Agent, request } from 'node:http';
import type { PacedRequest } from './paced-load';

export interface ZeroLoadResult {
  readonly requests: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly non_2xx: number;
  readonly errors: number;
}

export interface ZeroLoadOptions {
  readonly url: string;
  /** Requests sent first and not measured: they warm the JIT and the connection. */
  readonly warm_up: number;
  readonly requests: number;
  readonly next: () => PacedRequest;
}

/** How long one request may take before it counts as an error. */
const request_timeout_ms = 10_000;

export async function measureZeroLoad(options: ZeroLoadOptions): Promise<ZeroLoadResult> {
  const base = new URL(options.url);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  let non_2xx = 0;
  let errors = 0;
  try {
    for (let sent = 0; sent < options.warm_up + options.requests; sent += 1) {
      const next = options.next();
      const started = performance.now();
      const status = await new Promise<number | undefined>((done) => {
        const outgoing = request({ host: base.hostname, port: base.port, method: next.method, path: next.path, headers: next.headers, agent, timeout: request_timeout_ms }, (response) => {
          response.resume();
          response.on('end', () => done(response.statusCode));
        });
        outgoing.on('timeout', () => outgoing.destroy());
        outgoing.on('error', () => done(undefined));
        outgoing.end(next.body);
      });
      const elapsed = performance.now() - started;
      if (sent < options.warm_up) continue;
      if (status === undefined) errors += 1;
      else if (status < 200 || status >= 300) non_2xx += 1;
      latencies.push(elapsed);
    }
  } finally {
    agent.destroy();
  }
  latencies.sort((a, b) => a - b);
  const percentile = (fraction: number): number => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * fraction))] ?? 0;
  return { requests: latencies.length, p50_ms: percentile(0.5), p99_ms: percentile(0.99), non_2xx, errors };
}
