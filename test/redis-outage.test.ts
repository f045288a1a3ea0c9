// The gateway fails closed when its shared cache is gone: without Redis it cannot know whether an
// Idempotency-Key was used, a nonce seen or a rate limit spent, so it refuses with a clear 503 and
// moves nothing, rather than risk running a request twice. It recovers on its own when Redis is
// back. The suite runs a Redis server of its own, so that stopping it disturbs no other suite.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithRedis } from '@paygrid/kernel/testing';
import { createTestMerchant, freePort, startTestPlatform, type TestPlatform } from './support/platform';

async function startRedis(port: number, directory: string): Promise<ChildProcess> {
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', directory], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ready = await fetch(`http://127.0.0.1:${port}`).then(
      () => true,
      (error: unknown) => !String((error as { cause?: { code?: string } }).cause?.code).includes('ECONNREFUSED'),
    );
    if (ready) return redis;
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((done) => setTimeout(done, 50));
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGKILL');
  await exited;
}

// Gated on REDIS_URL like every Redis suite, though it runs a server of its own: where Redis is
// not set up, redis-server is not either.
describeWithRedis('the gateway when Redis goes away', () => {
  let directory: string;
  let port: number;
  let redis: ChildProcess;
  let test: TestPlatform;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'paygrid-redis-'));
    port = await freePort();
    redis = await startRedis(port, directory);
    test = await startTestPlatform({ redis_url: `redis://127.0.0.1:${port}` });
  });
  afterAll(async () => {
    await test.close().catch(() => undefined);
    await stop(redis);
    await rm(directory, { recursive: true, force: true });
  });

  it('answers 503 cache_unavailable and moves nothing while Redis is down, and recovers when it returns', async () => {
    const merchant = await createTestMerchant(test);
    const customer = await merchant.client.customers.create({ name: 'Ada' });
    const wallet = await merchant.client.wallets.create({ customer: customer.id, currency: 'usd' });

    await stop(redis);
    const refused = await merchant.client.wallets.topUp(wallet.id, { amount: 500 }, { idempotency_key: 'outage-top-up' }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ status: 503, type: 'service_unavailable_error', code: 'cache_unavailable' });
    const ready = await fetch(`${test.url}/readyz`);
    expect(ready.status).toBe(503);

    redis = await startRedis(port, directory);
    // The client reconnects by itself; the first requests after the restart may still see the outage.
    const deadline = Date.now() + 15_000;
    let balance: number | undefined;
    while (balance === undefined) {
      const read = await merchant.client.wallets.retrieve(wallet.id).then(
        (current) => current.balance.available,
        (error: unknown) => {
          if (Date.now() > deadline) throw error;
          return undefined;
        },
      );
      if (read === undefined) await new Promise((done) => setTimeout(done, 100));
      balance = read;
    }
    // The refused top-up moved nothing, and the same key now runs it once.
    expect(balance).toBe(0);
    const top_up = await merchant.client.wallets.topUp(wallet.id, { amount: 500 }, { idempotency_key: 'outage-top-up' });
    const again = await merchant.client.wallets.topUp(wallet.id, { amount: 500 }, { idempotency_key: 'outage-top-up' });
    expect(again.id).toBe(top_up.id);
    expect((await merchant.client.wallets.retrieve(wallet.id)).balance.available).toBe(500);
  }, 60_000);
});
