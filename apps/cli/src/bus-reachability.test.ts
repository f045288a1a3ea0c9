// `paygrid_bus_reachable` follows the bus: 1 while NATS answers, 0 while the server is gone, 1 again
// when it returns. The suite runs a NATS server of its own, so that stopping it disturbs no other.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { openBus } from '@paygrid/kernel/bus';
import { registerBusReachability } from './bus';

const nats_server_path = '/usr/sbin/nats-server';
/** How long the bus client may take to reconnect once the server is back. */
const reconnect_wait_ms = 20_000;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function reachable(registry: Registry): Promise<number | undefined> {
  const metric = await registry.getSingleMetric('paygrid_bus_reachable')?.get();
  return metric?.values[0]?.value;
}

async function eventually(check: () => Promise<boolean>, timeout_ms: number): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeout_ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('paygrid_bus_reachable', () => {
  it('is 1 for an open in-process bus and 0 once it is closed', async () => {
    const registry = new Registry();
    const bus = await openBus();
    registerBusReachability(registry, bus);
    expect(await reachable(registry)).toBe(1);
    await bus.close();
    expect(await reachable(registry)).toBe(0);
  });

  const nats_present = existsSync(nats_server_path);
  if (!nats_present && process.env.CI !== 'true') console.warn(`[skip] ${nats_server_path} is missing`);
  const children: ChildProcess[] = [];
  let store: string | undefined;
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (store !== undefined) await rm(store, { recursive: true, force: true });
  });

  it.runIf(nats_present || process.env.CI === 'true')('follows a NATS server that goes away and comes back', async () => {
    const port = await freePort();
    store = await mkdtemp(join(tmpdir(), 'paygrid-nats-'));
    const start = async () => {
      const child = spawn(nats_server_path, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store ?? ''], { stdio: 'ignore' });
      children.push(child);
      await eventually(
        async () =>
          new Promise<boolean>((resolve) => {
            const socket = createServer().listen(port, '127.0.0.1');
            socket.once('listening', () => socket.close(() => resolve(false)));
            socket.once('error', () => resolve(true));
          }),
        10_000,
      );
      return child;
    };
    const first = await start();
    const registry = new Registry();
    const bus = await openBus({ nats_url: `nats://127.0.0.1:${port}`, prefix: `reach${port}` });
    try {
      registerBusReachability(registry, bus);
      expect(await reachable(registry)).toBe(1);

      const exited = new Promise((resolve) => first.once('exit', resolve));
      first.kill('SIGKILL');
      await exited;
      expect(await reachable(registry)).toBe(0);

      await start();
      await eventually(async () => (await reachable(registry)) === 1, reconnect_wait_ms);
    } finally {
      await bus.close();
    }
  }, 60_000);
});
