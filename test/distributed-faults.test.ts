// The distributed mode under faults, with load running: a payments instance killed with SIGKILL,
// and the NATS server killed and started again. Each fault must cost no acknowledged request and
// apply nothing twice. The suite runs a NATS server of its own, so that stopping it disturbs no
// other suite; PostgreSQL and Redis are the machine's, each under names of this suite's own.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPostgresNatsAndRedis } from '@paygrid/kernel/testing';
import { Paygrid, verifyWebhook } from '@paygrid/sdk';
import { not_received_code } from '@paygrid/payments';
import { waitFor } from './support/acceptance';
import { startDistributedTestDeployment, type DistributedTestDeployment } from './support/distributed';
import { freePort } from './support/platform';

async function startNats(port: number, store: string): Promise<ChildProcess> {
  const nats = spawn('/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store], { stdio: 'ignore' });
  await waitFor(
    async () =>
      fetch(`http://127.0.0.1:${port}`).then(
        () => true,
        (error: unknown) => (String((error as { cause?: { code?: string } }).cause?.code) === 'ECONNREFUSED' ? undefined : true),
      ),
    'nats-server to listen',
    10_000,
  );
  return nats;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGKILL');
  await exited;
}

/** Card payments from `workers` loops until `stop()` says so; each payment retried by the SDK with its own Idempotency-Key. */
function steadyPayments(merchant: Paygrid, publishable: Paygrid, workers: number) {
  let running = true;
  // A confirmation the killed instance was running answers `processing`: the surviving instance
  // takes the payment's saga over once its lease ends, and the payment is to be watched until then.
  const outcomes = { succeeded: 0, processing: [] as string[], failed: [] as string[] };
  const exp_year = new Date().getUTCFullYear() + 2;
  const loops = Array.from({ length: workers }, async (_, worker) => {
    for (let index = 0; running; index += 1) {
      try {
        const token = await publishable.tokens.create({ card: { number: '4242424242424242', exp_month: 12, exp_year, cvc: '123' } }, { idempotency_key: `token-${worker}-${index}` });
        const intent = await merchant.paymentIntents.create({ amount: 1_000, currency: 'usd' }, { idempotency_key: `create-${worker}-${index}` });
        const confirmed = await merchant.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: token.id } }, { idempotency_key: `confirm-${worker}-${index}` });
        if (confirmed.status === 'succeeded') outcomes.succeeded += 1;
        else if (confirmed.status === 'processing') outcomes.processing.push(intent.id);
        else outcomes.failed.push(`${intent.id}: ${confirmed.status}`);
      } catch (error) {
        outcomes.failed.push(`worker ${worker} payment ${index}: ${(error as Error).message}`);
      }
    }
  });
  return {
    outcomes,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return outcomes;
    },
  };
}

describeWithPostgresNatsAndRedis('the distributed mode under faults', (urls) => {
  let nats_store: string;
  let nats_port: number;
  let nats: ChildProcess;
  let deployment: DistributedTestDeployment;

  beforeAll(async () => {
    nats_store = await mkdtemp(join(tmpdir(), 'paygrid-nats-'));
    nats_port = await freePort();
    nats = await startNats(nats_port, nats_store);
    // NATS here is the suite's own: the machine's other suites keep theirs while this one is killed.
    deployment = await startDistributedTestDeployment({ ...urls, nats: `nats://127.0.0.1:${nats_port}` });
  }, 120_000);
  afterAll(async () => {
    await deployment.stop();
    await kill(nats);
    await rm(nats_store, { recursive: true, force: true });
  }, 60_000);

  async function signUp() {
    const operator = new Paygrid({ api_key: deployment.operator_key, base_url: deployment.url });
    const created = await operator.merchants.create({ name: 'Faults' });
    return {
      merchant: new Paygrid({ api_key: created.secret_key, signing_secret: created.signing_secret, base_url: deployment.url, max_retries: 8 }),
      publishable: new Paygrid({ api_key: created.publishable_key, base_url: deployment.url, max_retries: 8 }),
    };
  }

  it('loses no payment when a payments instance is killed under load, and charges none twice', async () => {
    const { merchant, publishable } = await signUp();
    const load = steadyPayments(merchant, publishable, 6);
    await waitFor(() => Promise.resolve(load.outcomes.succeeded >= 20 ? true : undefined), 'payments to flow');
    const victim = deployment.running.processes.find((entry) => entry.service === 'payments' && entry.instance === 1);
    expect(victim?.pid).toBeDefined();
    process.kill(victim?.pid ?? 0, 'SIGKILL');
    const at_kill = load.outcomes.succeeded;
    await waitFor(() => Promise.resolve(load.outcomes.succeeded >= at_kill + 40 ? true : undefined), 'payments to go on through the other instance', 30_000);
    const outcomes = await load.stop();
    expect(outcomes.failed).toEqual([]);
    // A payment the killed instance was confirming waits for its saga lease (15 s after the killed
    // instance's last renewal) to run out, and for the survivor's next recovery pass (5 s). The
    // instance that takes it over asks the card acquirer first: one the acquirer has is settled
    // from its answer (succeeded), one the kill stopped before it reached the acquirer fails with
    // nothing charged (requires_payment_method, not_received_code), and the customer may pay again.
    let settled_paid = 0;
    for (const id of outcomes.processing) {
      const settled = await waitFor(async () => {
        const intent = await merchant.paymentIntents.retrieve(id);
        return intent.status === 'processing' ? undefined : intent;
      }, `${id} to leave processing`, 60_000);
      if (settled.status === 'succeeded') {
        settled_paid += 1;
        continue;
      }
      expect({ id, status: settled.status, code: settled.last_payment_error?.code }).toEqual({ id, status: 'requires_payment_method', code: not_received_code });
    }
    // Every payment the clients saw exists once: no create ran twice behind a retry.
    const created = outcomes.succeeded + outcomes.processing.length;
    const paid = outcomes.succeeded + settled_paid;
    let listed = 0;
    let starting_after: string | undefined;
    for (;;) {
      const page = await merchant.paymentIntents.list({ limit: 100, ...(starting_after === undefined ? {} : { starting_after }) });
      listed += page.data.length;
      if (!page.has_more) break;
      starting_after = page.data[page.data.length - 1]?.id;
    }
    expect(listed).toBe(created);
    const balance = await merchant.balance.retrieve();
    expect(balance.available).toEqual([{ amount: paid * (1_000 - 59), currency: 'usd' }]);
  }, 200_000);

  it('delivers every event once NATS is back after being killed, and stores none twice', async () => {
    const { merchant, publishable } = await signUp();
    const received = new Map<string, number>();
    let secret = '';
    const receiver = (await import('node:http')).createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        try {
          const event = verifyWebhook({ secret, headers: request.headers, body }) as { id: string };
          received.set(event.id, (received.get(event.id) ?? 0) + 1);
          response.writeHead(204).end();
        } catch {
          response.writeHead(400).end();
        }
      });
    });
    await new Promise<void>((done) => receiver.listen(0, '127.0.0.1', done));
    try {
      const address = receiver.address();
      const endpoint = await merchant.webhookEndpoints.create({ url: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/`, enabled_events: ['*'] });
      secret = endpoint.secret;
      const load = steadyPayments(merchant, publishable, 4);
      await waitFor(() => Promise.resolve(load.outcomes.succeeded >= 10 ? true : undefined), 'payments to flow');
      await kill(nats);
      const during = load.outcomes.succeeded;
      await waitFor(() => Promise.resolve(load.outcomes.succeeded >= during + 10 ? true : undefined), 'payments to go on while NATS is down', 30_000);
      nats = await startNats(nats_port, nats_store);
      const after = load.outcomes.succeeded;
      await waitFor(() => Promise.resolve(load.outcomes.succeeded >= after + 10 ? true : undefined), 'payments to go on after NATS returns', 30_000);
      const outcomes = await load.stop();
      expect(outcomes.failed).toEqual([]);
      // Every succeeded payment's event reaches webhooks once: stored once, delivered.
      const events = await waitFor(async () => {
        const listed = await merchant.events.list({ limit: 100, type: 'payment_intent.succeeded' });
        let count = listed.data.length;
        let page = listed;
        while (page.has_more) {
          page = await merchant.events.list({ limit: 100, type: 'payment_intent.succeeded', starting_after: page.data[page.data.length - 1]?.id });
          count += page.data.length;
        }
        return count >= outcomes.succeeded ? count : undefined;
      }, 'every payment_intent.succeeded event to reach webhooks', 60_000);
      expect(events).toBe(outcomes.succeeded);
      await waitFor(() => Promise.resolve([...received.values()].length >= events ? true : undefined), 'the receiver to get every event', 60_000);
    } finally {
      await new Promise((done) => receiver.close(done));
    }
  }, 180_000);
});
