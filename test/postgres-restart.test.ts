// The distributed mode when PostgreSQL goes away and comes back, with load running. While the
// server is down, every process that uses it must say so on /readyz (503); once it is back, every
// process must recover on its own (no process restarted), the load must finish, and nothing a
// client was told succeeded may be lost or applied twice: each acknowledged wallet transfer is in
// both wallets' histories once and in their ledger balances once, each acknowledged payment is
// listed once and in the merchant's balance once, and `paygrid ledger verify` proves the books.
//
// The suite runs a PostgreSQL cluster of its own (the machine's serves every suite at once, so it
// must never stop), first stopped the crash-like way (`pg_ctl stop -m immediate`: no checkpoint,
// the WAL is replayed at the next start), then the clean way (`-m fast`). NATS and Redis are the
// machine's, under names of this suite's own.
import { not_received_code } from '@paygrid/payments';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPostgresNatsAndRedis, describeWithPrivatePostgres, startPrivatePostgres, type PostgresStopMode, type PrivatePostgres } from '@paygrid/kernel/testing';
import { Paygrid, PaygridError } from '@paygrid/sdk';
import { waitFor } from './support/acceptance';
import { startDistributedTestDeployment, type DistributedTestDeployment } from './support/distributed';

const cli = join(resolve(import.meta.dirname, '..'), 'apps/cli/bin/paygrid.js');

/** How long PostgreSQL stays down: long enough for every readiness probe to notice. */
const outage_ms = 3_000;
/** After PostgreSQL is back, every process must answer /readyz 200 within this. */
const recovery_bound_ms = 30_000;
/** A client gives one request this long, retrying with its Idempotency-Key, before it counts as failed. */
const request_patience_ms = 90_000;
const readiness_poll_interval_ms = 100;
const readiness_probe_timeout_ms = 3_000;
const wallets_count = 4;
const top_up_amount = 1_000_000;
const payment_amount = 1_000;
/** The test-mode card fee: 2.9% + 30 cents, rounded as the payments service rounds it. */
const payment_fee = 59;

/**
 * Runs one request until it is acknowledged, again and again with the same Idempotency-Key (the
 * SDK retries too, within each call): what a careful client does when the outcome is unknown. A
 * refusal that no retry can change (4xx) is returned as is, for the test to fail on.
 */
/** What the clients were answered while they retried: `<status> <code>` and how often. */
const refusals = new Map<string, number>();

async function persist<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + request_patience_ms;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      const status = error instanceof PaygridError ? error.status : undefined;
      const seen = `${status ?? 'no answer'} ${error instanceof PaygridError ? (error.code ?? error.type) : (error as Error).message}`;
      refusals.set(seen, (refusals.get(seen) ?? 0) + 1);
      const retryable = status === undefined || status === 409 || status === 429 || status >= 500;
      if (!retryable || Date.now() > deadline) throw error;
      await new Promise((done) => setTimeout(done, 250));
    }
  }
}

interface AcknowledgedTransfer {
  readonly id: string;
  readonly source: string;
  readonly destination: string;
  readonly amount: number;
}

/** Every process's /readyz, polled: what each answered, and when. */
function watchReadiness(processes: readonly { readonly service: string; readonly instance: number; readonly port: number }[]) {
  let running = true;
  const seen = new Map<string, { status: number; sent_ms: number }[]>();
  const loops = processes.map(async (entry) => {
    const name = `${entry.service}-${entry.instance}`;
    const answers: { status: number; sent_ms: number }[] = [];
    seen.set(name, answers);
    while (running) {
      const sent_ms = Date.now();
      const status = await fetch(`http://127.0.0.1:${entry.port}/readyz`, { signal: AbortSignal.timeout(readiness_probe_timeout_ms) }).then(
        async (response) => {
          await response.body?.cancel();
          return response.status;
        },
        () => 0,
      );
      answers.push({ status, sent_ms });
      await new Promise((done) => setTimeout(done, readiness_poll_interval_ms));
    }
  });
  return {
    seen,
    /** The last answer of each process. */
    latest: () => new Map([...seen].map(([name, answers]) => [name, answers[answers.length - 1]?.status])),
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

describeWithPostgresNatsAndRedis('the distributed mode when PostgreSQL restarts', (urls) => {
  describeWithPrivatePostgres('on a PostgreSQL cluster of its own', () => {
    let cluster: PrivatePostgres;
    let deployment: DistributedTestDeployment;

    beforeAll(async () => {
      cluster = await startPrivatePostgres();
      try {
        deployment = await startDistributedTestDeployment({ ...urls, postgres: cluster.url });
      } catch (error) {
        await cluster.remove();
        throw error;
      }
    }, 120_000);
    afterAll(async () => {
      // The database goes with the cluster; the stream prefix and cache keys are removed on stop.
      try {
        await deployment?.stop();
      } finally {
        await cluster?.remove();
      }
    }, 60_000);

    // The SDK retries once by itself; `persist` does the rest, every 250 ms, so that the load
    // resumes as soon as the deployment does instead of after the SDK's longest backoff.
    async function signUp(name: string) {
      const operator = new Paygrid({ api_key: deployment.operator_key, base_url: deployment.url, max_retries: 8 });
      const created = await operator.merchants.create({ name });
      return {
        merchant: new Paygrid({ api_key: created.secret_key, signing_secret: created.signing_secret, base_url: deployment.url, max_retries: 1 }),
        publishable: new Paygrid({ api_key: created.publishable_key, base_url: deployment.url, max_retries: 1 }),
      };
    }

    it('goes not ready while PostgreSQL is down, recovers on its own, and loses no acknowledged write', async () => {
      const wallets_merchant = (await signUp('Restart wallets')).merchant;
      const { merchant: shop, publishable } = await signUp('Restart shop');
      const wallets: string[] = [];
      for (let index = 0; index < wallets_count; index += 1) {
        const customer = await wallets_merchant.customers.create({ name: `Holder ${index}` });
        const wallet = await wallets_merchant.wallets.create({ customer: customer.id, currency: 'usd' });
        await wallets_merchant.wallets.topUp(wallet.id, { amount: top_up_amount }, { idempotency_key: `top-up-${index}` });
        wallets.push(wallet.id);
      }

      // The load: wallet transfers around a ring, each amount distinct so that a transfer applied
      // twice shows in the balances, and card payments; every step retried with its own key.
      let running = true;
      const transfers: AcknowledgedTransfer[] = [];
      const payments = { succeeded: [] as string[], processing: [] as string[] };
      const failed: string[] = [];
      const transfer_loops = Array.from({ length: 4 }, async (_, worker) => {
        for (let index = 0; running; index += 1) {
          const source = wallets[worker % wallets_count] ?? '';
          const destination = wallets[(worker + 1) % wallets_count] ?? '';
          const amount = 1 + worker * 10_000 + index;
          try {
            const transfer = await persist(() =>
              wallets_merchant.walletTransfers.create({ source, destination, amount, currency: 'usd' }, { idempotency_key: `transfer-${worker}-${index}` }),
            );
            if (transfer.status === 'succeeded') transfers.push({ id: transfer.id, source, destination, amount });
            else failed.push(`transfer ${worker}-${index}: ${transfer.status} ${transfer.failure_code ?? ''}`);
          } catch (error) {
            failed.push(`transfer ${worker}-${index}: ${(error as Error).message}`);
          }
        }
      });
      const exp_year = new Date().getUTCFullYear() + 2;
      const payment_loops = Array.from({ length: 3 }, async (_, worker) => {
        for (let index = 0; running; index += 1) {
          try {
            const token = await persist(() =>
              publishable.tokens.create({ card: { number: '4242424242424242', exp_month: 12, exp_year, cvc: '123' } }, { idempotency_key: `token-${worker}-${index}` }),
            );
            const intent = await persist(() => shop.paymentIntents.create({ amount: payment_amount, currency: 'usd' }, { idempotency_key: `create-${worker}-${index}` }));
            const confirmed = await persist(() =>
              shop.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: token.id } }, { idempotency_key: `confirm-${worker}-${index}` }),
            );
            if (confirmed.status === 'succeeded') payments.succeeded.push(intent.id);
            else if (confirmed.status === 'processing') payments.processing.push(intent.id);
            else failed.push(`payment ${worker}-${index}: ${confirmed.status}`);
          } catch (error) {
            failed.push(`payment ${worker}-${index}: ${(error as Error).message}`);
          }
        }
      });
      const acknowledged = () => transfers.length + payments.succeeded.length;
      const readiness = watchReadiness(deployment.running.processes);
      await waitFor(() => Promise.resolve(acknowledged() >= 10 ? true : undefined), 'load to flow', 60_000);
      const restart = async (mode: PostgresStopMode) => {
        const started_at = Date.now();
        await cluster.stop(mode);
        // pg_ctl returns once the server is gone: a probe sent from then on must find it gone.
        const stopped_at = Date.now();
        await new Promise((done) => setTimeout(done, outage_ms));
        const down = new Map([...readiness.seen].map(([name, answers]) => [name, answers.filter((answer) => answer.sent_ms >= stopped_at).map((answer) => answer.status)]));
        await cluster.start();
        const back_at = Date.now();
        await waitFor(
          () => Promise.resolve([...readiness.latest().values()].every((status) => status === 200) ? true : undefined),
          `every process to be ready again after the ${mode} restart`,
          recovery_bound_ms,
        );
        const recovered_ms = Date.now() - back_at;
        const after = acknowledged();
        await waitFor(() => Promise.resolve(acknowledged() >= after + 10 ? true : undefined), `load to flow after the ${mode} restart`, 60_000);
        console.log(`[postgres-restart] ${mode}: pg_ctl stop took ${stopped_at - started_at} ms, the server was back ${back_at - stopped_at} ms later, ready ${recovered_ms} ms after that, load flowing again ${Date.now() - back_at - recovered_ms} ms after that`);
        return { down, recovered_ms };
      };

      const immediate = await restart('immediate');
      const fast = await restart('fast');
      running = false;
      await Promise.all([...transfer_loops, ...payment_loops]);
      await readiness.stop();
      console.log(`[postgres-restart] answers the clients retried: ${JSON.stringify(Object.fromEntries(refusals))}`);
      console.log(`[postgres-restart] ready again ${immediate.recovered_ms} ms after an immediate restart, ${fast.recovered_ms} ms after a fast one; ${transfers.length} transfers, ${payments.succeeded.length + payments.processing.length} payments`);

      // Every process that uses the database said it was not ready while it was down; the
      // gateway, which keeps nothing in PostgreSQL, had no reason to.
      for (const outage of [immediate, fast]) {
        for (const [name, statuses] of outage.down) {
          if (name.startsWith('gateway')) continue;
          expect(statuses.length, name).toBeGreaterThan(0);
          expect(statuses.every((status) => status === 503), `${name} answered ${statuses.join(',')} while PostgreSQL was down`).toBe(true);
        }
      }
      // Nobody was restarted: every process recovered by itself.
      expect(deployment.output.filter((line) => line.includes('exited'))).toEqual([]);
      for (const entry of deployment.running.processes) {
        expect(entry.pid).toBeDefined();
        expect(() => process.kill(entry.pid ?? 0, 0)).not.toThrow();
      }
      expect(failed).toEqual([]);

      // Wallets: each acknowledged transfer is in each of its wallets' histories exactly once,
      // and the ledger's balances hold each once (the amounts are all distinct).
      const expected_balance = new Map(wallets.map((wallet) => [wallet, top_up_amount]));
      for (const transfer of transfers) {
        expected_balance.set(transfer.source, (expected_balance.get(transfer.source) ?? 0) - transfer.amount);
        expected_balance.set(transfer.destination, (expected_balance.get(transfer.destination) ?? 0) + transfer.amount);
      }
      for (const wallet of wallets) {
        const wanted = transfers.filter((transfer) => transfer.source === wallet || transfer.destination === wallet).length + 1;
        // The history is a projection written behind the answer: wait for it to catch up.
        const history = await waitFor(async () => {
          const rows: { id: string; type: string }[] = [];
          let starting_after: string | undefined;
          for (;;) {
            const page = await wallets_merchant.wallets.listTransactions(wallet, { limit: 100, ...(starting_after === undefined ? {} : { starting_after }) });
            rows.push(...page.data);
            if (!page.has_more) break;
            starting_after = page.data[page.data.length - 1]?.id;
          }
          return rows.length >= wanted ? rows : undefined;
        }, `${wallet}'s history to hold every transfer`, 60_000);
        const ids = history.map((row) => row.id);
        expect(new Set(ids).size, `${wallet} lists no operation twice`).toBe(ids.length);
        const expected_ids = transfers.filter((transfer) => transfer.source === wallet || transfer.destination === wallet).map((transfer) => transfer.id);
        expect(ids.filter((id) => expected_ids.includes(id)).sort()).toEqual([...expected_ids].sort());
        expect(history.length).toBe(wanted);
        expect((await wallets_merchant.wallets.retrieve(wallet)).balance.available, `${wallet}'s balance`).toBe(expected_balance.get(wallet));
      }
      const total = (await Promise.all(wallets.map(async (wallet) => (await wallets_merchant.wallets.retrieve(wallet)).balance.available))).reduce((sum, amount) => sum + amount, 0);
      expect(total).toBe(wallets_count * top_up_amount);

      // Payments: a confirmation a restart interrupted may answer `processing`; its saga finishes it:
      // paid, or, when the acquirer never received the authorization, nothing charged
      // (requires_payment_method, not_received_code) and the customer may pay again.
      let recovered_paid = 0;
      for (const id of payments.processing) {
        const settled = await waitFor(async () => {
          const intent = await shop.paymentIntents.retrieve(id);
          return intent.status === 'processing' ? undefined : intent;
        }, `${id} to leave processing`, 100_000);
        if (settled.status === 'succeeded') {
          recovered_paid += 1;
          continue;
        }
        expect({ id, status: settled.status, code: settled.last_payment_error?.code }).toEqual({ id, status: 'requires_payment_method', code: not_received_code });
      }
      const paid = payments.succeeded.length + recovered_paid;
      const listed: string[] = [];
      let starting_after: string | undefined;
      for (;;) {
        const page = await shop.paymentIntents.list({ limit: 100, ...(starting_after === undefined ? {} : { starting_after }) });
        listed.push(...page.data.map((intent) => intent.id));
        if (!page.has_more) break;
        starting_after = page.data[page.data.length - 1]?.id;
      }
      expect(listed.sort()).toEqual([...payments.succeeded, ...payments.processing].sort());
      expect((await shop.balance.retrieve()).available).toEqual([{ amount: paid * (payment_amount - payment_fee), currency: 'usd' }]);

      // The books: the hash chain and every balance, against the cluster that was restarted twice.
      const verify = spawnSync(process.execPath, [cli, 'ledger', 'verify'], {
        env: { ...process.env, DATABASE_URL: deployment.database_url, LOG_LEVEL: 'warn' },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(verify.stdout + verify.stderr).toContain('ledger verified');
      expect(verify.status).toBe(0);
    }, 240_000);
  });
});
