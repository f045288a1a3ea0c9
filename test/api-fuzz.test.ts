// A fuzz of every route the server registers, through the whole HTTP stack (Fastify inject), with
// the test-mode keys of a real merchant so that requests get past authentication to validation
// and the services. Requests for the public API come from the OpenAPI document, which the gateway
// builds from the same TypeBox schemas that validate its routes (support/api-fuzz-requests.ts):
// conforming ones, and hostile variants of them. The routes the document leaves out get the same
// treatment (support/route-fuzz-requests.ts): the ledger's API from its own wire schemas, in JSON
// and in binary records whole and broken; the providers' notification routes with forged,
// broken and replayed notifications; probes, metrics, the docs, key rotation and CORS preflights.
// A test checks the server's route table against the routes the fuzz can reach, so a new route
// it cannot reach fails the suite. For each request:
// - never a 5xx;
// - every 4xx is the one error shape `{ error: { type, code, message, ... } }`;
// - a refused request changes no state: no row appears or goes in any service's database, and no
//   ledger balance moves (a cheap digest taken before and after each request).
//
// PAYGRID_FUZZ_RUNS sets the number of requests (20,000 by default, shared by every route), PAYGRID_FUZZ_SEED the seed
// (printed, so a failing run can be replayed).
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { test_card_numbers } from '@paygrid/connectors';
import { TransferCode } from '@paygrid/ledger';
import { Paygrid } from '@paygrid/sdk';
import { openCheapDigest, type CheapDigest } from './support/database-digest';
import { operationsOf, requestArbitrary, type FuzzContext, type FuzzRequest, type Keys, type OpenApiDocument, type Operation } from './support/api-fuzz-requests';
import { startTestPlatform, type TestPlatform } from './support/platform';
import {
  fuzz_ledgers,
  ledgerBinaryRequests,
  ledgerJsonRequests,
  ledgerOperations,
  notification_routes,
  notificationRequests,
  platformOperations,
  platformRequests,
  type LedgerFuzzContext,
  type NotificationSamples,
} from './support/route-fuzz-requests';

const runs = Number(process.env.PAYGRID_FUZZ_RUNS ?? 20_000);
/** Below this many requests some routes may go unvisited by chance, so a short run does not insist on every one. */
const runs_visiting_every_route = 10_000;
const seed = Number(process.env.PAYGRID_FUZZ_SEED ?? 20_260_417);
/** Background work after an accepted request (relays, projections, deliveries) is over when the digest holds this long. */
const settle_quiet_ms = 3;
const settle_wait_ms_max = 20_000;
/** Before a suspected state change is tried again: longer than the platform's relay and poll intervals (1 s). */
const suspect_quiet_ms = 1_200;
/** Failures kept for the report; the counts are exact. */
const examples_max = 12;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Finding {
  readonly kind: 'server_error' | 'error_shape' | 'state_change';
  readonly route: string;
  readonly detail: string;
}

function describeRequest(request: FuzzRequest): string {
  const payload = Buffer.isBuffer(request.payload) ? `${request.payload.length} bytes ${request.payload.subarray(0, 48).toString('hex')}` : JSON.stringify(request.payload?.slice(0, 200));
  return `${request.method} ${request.url.slice(0, 200)} [${request.variant}] body=${payload}`;
}

/**
 * Tables that background work fills at its own pace, which would change under a later, refused
 * request: the webhook service's records of events (events, deliveries, their attempts and runs),
 * fed by the other services' outbox relays up to a second after the request that wrote the event;
 * and the wallet's operation history, a projection of the ledger written behind the answer, with
 * the runs of the sagas that carry its operations (decision 72): a withdrawal is recorded before
 * its hold is sent, so one the ledger refuses stays on record as failed, with its run. What a
 * refused request could wrongly do there shows elsewhere in the same transaction: an event in its
 * service's outbox, a movement in the ledger, both of which are counted.
 */
const background_tables: Readonly<Record<string, readonly string[]>> = {
  'webhooks.sqlite': ['webhook_events', 'webhook_deliveries', 'webhook_delivery_attempts', 'saga_runs', 'saga_transitions'],
  'wallet.sqlite': ['wallet_operations', 'wallet_operation_steps', 'saga_runs', 'saga_transitions'],
};

function filledInBackground(file: string, table: string): boolean {
  return background_tables[file]?.includes(table) === true;
}

/** The digest lines that differ, for a failure message. */
function digestChanges(before: string, after: string): string {
  const old_lines = new Set(before.split('\n'));
  const new_lines = new Set(after.split('\n'));
  const gone = [...old_lines].filter((line) => !new_lines.has(line));
  const came = [...new_lines].filter((line) => !old_lines.has(line));
  return `${gone.join(', ')} -> ${came.join(', ')}`;
}

/** `{ error: { type, code, message, ... } }` and nothing beside it. */
function isErrorShape(body: unknown): boolean {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return false;
  if (Object.keys(body).join() !== 'error') return false;
  const error = (body as { error: unknown }).error;
  if (error === null || typeof error !== 'object') return false;
  const { type, code, message } = error as Record<string, unknown>;
  return typeof type === 'string' && typeof code === 'string' && typeof message === 'string';
}

function parsedOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The route of the table a request to the ledger's API is aimed at: its refusals must not even make an account. */
function isLedgerRoute(route: string): boolean {
  return / \/v1\/ledger\//.test(route);
}

describe('every route under fuzz', () => {
  let test: TestPlatform;
  let hooks: Server;
  let digest: CheapDigest;
  /** The public document's operations, then the ledger's and the platform's own. */
  let operations: Operation[];
  let context: FuzzContext;
  let keys: Keys;
  let ledger: LedgerFuzzContext;
  let notification_samples: NotificationSamples;
  let document_routes: Set<string>;
  const key_by_route = new Map<string, keyof Keys>();

  beforeAll(async () => {
    // Webhook deliveries of the fuzzed endpoints land here, on 127.0.0.1, and succeed at once.
    hooks = createServer((_request, response) => response.writeHead(204).end());
    await new Promise<void>((done) => hooks.listen(0, '127.0.0.1', done));
    const address = hooks.address();
    if (address === null || typeof address === 'string') throw new Error('no hook address');

    // The rate limit would turn most of the run into 429s before validation.
    test = await startTestPlatform({ env: { GATEWAY_RATE_LIMIT_BURST: '1000000', GATEWAY_RATE_LIMIT_PER_SECOND: '1000000' } });
    const document = (await (await fetch(`${test.url}/v1/openapi.json`)).json()) as OpenApiDocument;

    // The suite's merchant, whose own keys the fuzz never names, and a spare one for the operator routes to change.
    const merchant = await test.operator.merchants.create({ name: 'Fuzz Goods' });
    const spare = await test.operator.merchants.create({ name: 'Spare Goods' });
    keys = { secret: merchant.secret_key, publishable: merchant.publishable_key, operator: test.operator_key };
    const client = new Paygrid({ api_key: merchant.secret_key, base_url: test.url });
    const publishable = new Paygrid({ api_key: merchant.publishable_key, base_url: test.url });
    const spare_key = await test.operator.merchants.createApiKey(spare.id, { type: 'secret', livemode: false });
    const own_spare_key = await test.operator.merchants.createApiKey(merchant.id, { type: 'secret', livemode: false });

    const customer = await client.customers.create({ name: 'Alice' });
    const wallet = await client.wallets.create({ customer: customer.id, currency: 'usd' });
    const other_wallet = await client.wallets.create({ customer: (await client.customers.create({ name: 'Bob' })).id, currency: 'usd' });
    await client.wallets.topUp(wallet.id, { amount: 1_000_000 });
    const transfer = await client.walletTransfers.create({ source: wallet.id, destination: other_wallet.id, amount: 1_000, currency: 'usd' });
    const bank_account = { account_holder_name: 'Alice', routing_number: '110000000', account_number: '000123456789' };
    const withdrawal = await client.wallets.withdraw(wallet.id, { amount: 500, bank_account });
    const card = async () => (await publishable.tokens.create({ card: { number: test_card_numbers.succeeds, exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' } })).id;
    const waiting = await client.paymentIntents.create({ amount: 2_000, currency: 'usd' });
    const held = await client.paymentIntents.create({ amount: 3_000, currency: 'usd', capture_method: 'manual' });
    await client.paymentIntents.confirm(held.id, { payment_method: { type: 'card', token: await card() } });
    const paid = await client.paymentIntents.create({ amount: 4_000, currency: 'usd' });
    await client.paymentIntents.confirm(paid.id, { payment_method: { type: 'card', token: await card() } });
    const refund = await client.refunds.create({ payment_intent: paid.id, amount: 100 });
    const order = await client.orders.create({ currency: 'usd', line_items: [{ description: 'Tea', quantity: 2, unit_amount: 450 }] });
    const hook_url = `http://127.0.0.1:${address.port}/hooks`;
    const endpoint = await client.webhookEndpoints.create({ url: hook_url, enabled_events: ['*'] });
    const events = await client.events.list({ limit: 3 });

    // Alipay and WeChat Pay payments, paid at their sandboxes: their signed notifications are
    // replayed and tampered with, and their attempt ids named by forged ones.
    const sandboxes = test.platform.provider_sandboxes;
    const attempt_ids: string[] = [];
    for (const method of ['alipay', 'wechat_pay'] as const) {
      const intent = await client.paymentIntents.create({ amount: 8_800, currency: 'cny' });
      const confirmed = await client.paymentIntents.confirm(intent.id, { payment_method: { type: method }, return_url: `${hook_url}/done` });
      const attempt = (await client.paymentIntents.listAttempts(intent.id)).data.find((candidate) => candidate.operation === 'authorize')?.id ?? '';
      attempt_ids.push(attempt);
      // Alipay creates the trade when the customer opens the page.
      if (method === 'alipay') await fetch(String((confirmed.next_action as { url?: string } | null)?.url));
      if (method === 'alipay') await sandboxes?.alipay?.pay(attempt);
      else await sandboxes?.wechat_pay?.pay(attempt);
    }
    notification_samples = {
      alipay: (sandboxes?.alipay?.deliveries ?? []).map((delivery) => new URLSearchParams(delivery.params).toString()),
      wechat_pay: (sandboxes?.wechat_pay?.deliveries ?? []).map(({ headers, body }) => ({ headers, body })),
      attempt_ids,
    };

    // The fuzz's own ledger accounts and transfers, on ledgers no service uses.
    const [first_ledger, second_ledger] = fuzz_ledgers;
    const account_ids = [7_001n, 7_002n, 7_003n, 7_004n, 7_005n, 7_006n, 8_001n, 8_002n];
    const transfer_ids = [70_001n, 70_002n, 70_003n];
    const ledger_accounts = [
      { id: '7001', ledger: first_ledger, code: 1 },
      { id: '7002', ledger: first_ledger, code: 1, flags: ['history'] },
      { id: '7003', ledger: first_ledger, code: 1, flags: ['debits_must_not_exceed_credits'] },
      { id: '7004', ledger: first_ledger, code: 2, flags: ['credits_must_not_exceed_debits', 'history'] },
      { id: '7005', ledger: first_ledger, code: 2 },
      { id: '7006', ledger: first_ledger, code: 2, flags: ['closed'] },
      { id: '8001', ledger: second_ledger, code: 1 },
      { id: '8002', ledger: second_ledger, code: 1 },
    ];
    const ledger_transfers = [
      { id: '70001', debit_account_id: '7001', credit_account_id: '7002', amount: 500, ledger: first_ledger, code: 1 },
      { id: '70002', debit_account_id: '7004', credit_account_id: '7003', amount: 300, ledger: first_ledger, code: 1 },
      // Pending without a timeout: it stays pending until a request posts or voids it.
      { id: '70003', debit_account_id: '7002', credit_account_id: '7005', amount: 100, ledger: first_ledger, code: 1, flags: ['pending'] },
    ];
    for (const [url, payload] of [['/v1/ledger/accounts', { accounts: ledger_accounts }], ['/v1/ledger/transfers', { transfers: ledger_transfers }]] as const) {
      const made = await test.platform.inject({ method: 'POST', url, headers: { authorization: `Bearer ${test.operator_key}` }, payload });
      const results = made.json<{ results: { result: string }[] }>().results;
      if (made.statusCode !== 200 || results.some((result) => result.result !== 'ok')) throw new Error(`setting up the ledger: ${made.body}`);
    }
    ledger = { account_ids, transfer_ids };
    const documented = operationsOf(document);
    document_routes = new Set(documented.map((operation) => operation.route));
    operations = [...documented, ...ledgerOperations(ledger), ...platformOperations()];

    const samples: Record<string, readonly string[]> = {
      merchants: [spare.id],
      api_keys: [spare_key.id, own_spare_key.id],
      customers: [customer.id],
      wallets: [wallet.id, other_wallet.id],
      wallet_transfers: [transfer.id],
      withdrawals: [withdrawal.id],
      orders: [order.id],
      payment_intents: [waiting.id, held.id, paid.id],
      refunds: [refund.id],
      webhook_endpoints: [endpoint.id],
      events: events.data.map((event) => event.id),
      tokens: [await card(), await card()],
    };
    const prefixOf = (id: string) => id.slice(0, id.indexOf('_'));
    const known_ids: Record<string, string[]> = {};
    for (const id of Object.values(samples).flat()) (known_ids[prefixOf(id)] ??= []).push(id);
    const prefix_by_resource = Object.fromEntries(Object.entries(samples).flatMap(([resource, ids]) => (ids[0] === undefined ? [] : [[resource, prefixOf(ids[0])]])));
    context = { known_ids, prefix_by_resource, hook_url };

    // Which key each route of the document takes: the first one it does not refuse as
    // unauthenticated or forbidden. The ledger's and the platform's routes take the operator's (a
    // probe would rotate the keys).
    for (const operation of operations) {
      if (!document_routes.has(operation.route)) {
        key_by_route.set(operation.route, 'operator');
        continue;
      }
      const url = operation.path.replace(/\{\w+\}/g, 'x_1');
      for (const name of ['secret', 'publishable', 'operator'] as const) {
        const response = await test.platform.inject({ method: operation.method, url, headers: { authorization: `Bearer ${keys[name]}` } });
        if (response.statusCode !== 401 && response.statusCode !== 403) {
          key_by_route.set(operation.route, name);
          break;
        }
      }
    }
    digest = openCheapDigest(test.platform.config.DATA_DIR, { ignore: filledInBackground, ignored_transfer_codes: [TransferCode.wallet_refusal] });
  }, 60_000);

  afterAll(async () => {
    digest.close();
    await test.close();
    await new Promise((done) => hooks.close(done));
  });

  async function send(request: FuzzRequest, headers: Record<string, string> = {}) {
    const replaced = Object.fromEntries(Object.entries(headers).filter(([name]) => name in request.headers));
    return test.platform.inject({
      method: request.method,
      url: request.url,
      headers: { ...request.headers, ...replaced },
      ...(request.payload === undefined ? {} : { payload: request.payload }),
    });
  }

  /** The digest once background work has stopped changing it for `quiet_ms`. */
  async function settledDigest(quiet_ms = settle_quiet_ms): Promise<string> {
    let previous = digest.take();
    for (let waited = 0; waited < settle_wait_ms_max; waited += quiet_ms) {
      await sleep(quiet_ms);
      const current = digest.take();
      if (current === previous) return current;
      previous = current;
    }
    throw new Error('the databases never settled');
  }

  it('reaches every route the server registers', () => {
    const reachable = new Set<string>([...notification_routes, 'OPTIONS *']);
    for (const operation of operations) {
      reachable.add(operation.route);
      if (operation.method === 'GET') reachable.add(operation.route.replace(/^GET /, 'HEAD '));
    }
    const registered = test.platform.routes.map((route) => `${route.method} ${route.url}`);
    expect(registered.length).toBeGreaterThan(100);
    expect(registered.filter((route) => !reachable.has(route)), 'registered routes the fuzz has no requests for').toEqual([]);
  });

  it(`answers ${runs} fuzzed requests over every route with no 5xx, one error shape, and no state change when refused`, async () => {
    console.log(`api fuzz: ${runs} requests, seed ${seed} (PAYGRID_FUZZ_RUNS, PAYGRID_FUZZ_SEED)`);
    const started = Date.now();
    const key_of = (operation: Operation) => key_by_route.get(operation.route) ?? 'secret';
    const by_route = [
      ...operations.filter((operation) => document_routes.has(operation.route)).map((operation) => requestArbitrary(operation, context, keys, key_of)),
      ...ledgerJsonRequests(ledger, context, keys),
      ...ledgerBinaryRequests(ledger, keys),
      ...notificationRequests(notification_samples, keys),
      ...platformRequests(context, keys, key_of),
    ];
    const findings: Finding[] = [];
    const counts = { requests: 0, server_errors: 0, refused: 0, accepted: 0, state_checked: 0, suspects: 0 };
    const group_ms = { document: 0, ledger: 0, notifications: 0, platform: 0 };
    const hits = new Map<string, number>();
    let before = await settledDigest();
    let accounts_before = digest.takeLedgerAccounts();

    /** The state a refused request must leave alone: for the ledger's own API, not even an empty account. */
    const stateOf = (route: string) => (isLedgerRoute(route) ? `${digest.take()}\n${digest.takeLedgerAccounts()}` : digest.take());
    const groups = { document: 0, ledger: 0, notifications: 0, platform: 0 };
    const groupOf = (route: string): keyof typeof groups => {
      if (isLedgerRoute(route)) return 'ledger';
      if (route.includes(' /v1/notifications/')) return 'notifications';
      return document_routes.has(route.replace(/^HEAD /, 'GET ')) ? 'document' : 'platform';
    };

    await fc.assert(
      fc.asyncProperty(fc.nat({ max: by_route.length - 1 }).chain((index) => by_route[index] ?? fc.constant(undefined)), async (request) => {
        if (request === undefined) return;
        counts.requests += 1;
        const group = groupOf(request.route);
        const request_started = Date.now();
        groups[group] += 1;
        hits.set(request.route, (hits.get(request.route) ?? 0) + 1);
        const response = await send(request);
        const status = response.statusCode;
        const record = (kind: Finding['kind'], detail: string) => findings.push({ kind, route: request.route, detail: `${detail} <- ${describeRequest(request)}` });
        if (status >= 500) {
          counts.server_errors += 1;
          record('server_error', `${status} ${response.body.slice(0, 300)}`);
        }
        // An answer to HEAD has no body, whatever its status.
        if (status >= 400 && request.method !== 'HEAD' && !isErrorShape(parsedOrUndefined(response.body))) record('error_shape', `${status} ${response.body.slice(0, 300)}`);
        if (status >= 400) {
          counts.refused += 1;
          counts.state_checked += 1;
          const after = stateOf(request.route);
          if (after !== `${before}${isLedgerRoute(request.route) ? `\n${accounts_before}` : ''}`) {
            // Work that an earlier, accepted request left behind (a relay, a settlement) may have
            // landed now. The request is sent once more on a quiet platform, under a fresh
            // idempotency key: it is a finding if it changes the state again.
            counts.suspects += 1;
            await settledDigest(suspect_quiet_ms);
            const quiet = stateOf(request.route);
            const again = await send(request, { 'idempotency-key': randomUUID() });
            const changed = stateOf(request.route);
            if (again.statusCode >= 400 && changed !== quiet) record('state_change', `${again.statusCode} ${again.body.slice(0, 200)} changed ${digestChanges(quiet, changed)}`);
            before = await settledDigest();
            accounts_before = digest.takeLedgerAccounts();
          }
        } else {
          counts.accepted += 1;
          before = request.method === 'GET' || request.method === 'HEAD' ? digest.take() : await settledDigest();
          accounts_before = digest.takeLedgerAccounts();
        }
        group_ms[group] += Date.now() - request_started;
      }),
      { numRuns: runs, seed, endOnFailure: true, examples: [] },
    );

    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const registered = new Set(test.platform.routes.map((route) => `${route.method} ${route.url}`));
    const registered_hit = [...registered].filter((route) => hits.has(route));
    console.log(
      `api fuzz: ${counts.requests} requests over ${registered_hit.length} of ${registered.size} registered routes in ${seconds} s ` +
        `(public document ${groups.document} in ${group_ms.document} ms, ledger ${groups.ledger} in ${group_ms.ledger} ms, ` +
        `notifications ${groups.notifications} in ${group_ms.notifications} ms, platform ${groups.platform} in ${group_ms.platform} ms); ${counts.server_errors} 5xx; ` +
        `${counts.refused} refused (each state-checked, ${counts.suspects} sent again on a quiet platform), ${counts.accepted} accepted; ${findings.length} findings`,
    );
    const report = (kind: Finding['kind']) => findings.filter((finding) => finding.kind === kind).slice(0, examples_max).map((finding) => `${finding.route}: ${finding.detail}`);
    expect(report('server_error'), 'requests answered with a 5xx').toEqual([]);
    expect(counts.server_errors).toBe(0);
    expect(report('error_shape'), '4xx answers not in the one error shape').toEqual([]);
    expect(report('state_change'), 'refused requests that changed state').toEqual([]);
    if (runs >= runs_visiting_every_route) expect([...registered].filter((route) => !hits.has(route)), 'registered routes never hit').toEqual([]);
    expect(counts.requests).toBe(runs);
  }, 600_000);
});
