// LedgerHttpClient against a real ledger behind a real HTTP server on 127.0.0.1: it must answer
// every call as the in-process LedgerService does, gather concurrent calls into few requests
// without mixing callers' answers or chains, and fail as the in-process writer fails.
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, createHttpServer, createLogger } from '@paygrid/kernel';
import { describeWithPostgres, withTemporarySchema } from '@paygrid/kernel/testing';
import { singleOriginUpstream, type Upstream } from '@paygrid/kernel/transport';
import { registerLedgerRoutes } from './api';
import { LedgerHttpClient, LedgerRequestError, http_client_request_events_max, type LedgerHttpClientMetrics } from './http-client';
import { openLedgerStore, type LedgerStoreLocation } from './open';
import type { EventResult } from './results';
import { LedgerService, type LedgerClient } from './service';
import type { AccountFilter, QueryFilter } from './store';
import { batch, openingBatch, type Operation } from './testing/generators';
import { AccountFlags, TransferFlags, emptyAccountEvent, emptyTransferEvent, id_max, type TransferEvent } from './types';
import { LedgerUnavailableError, type WriterClock } from './writer';

const key = 'op_http_client_test_key_abcdefghijklmnopqrstuvwxyz0123';
const authorization = `Bearer ${key}`;
const folder = mkdtempSync(join(tmpdir(), 'ledger-http-client-'));
let ledger_files = 0;

afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

function sqlite(): { readonly kind: 'sqlite'; readonly file: string } {
  ledger_files += 1;
  return { kind: 'sqlite', file: join(folder, `ledger-${ledger_files}.sqlite`) };
}

async function openLedger(location: LedgerStoreLocation, clock?: WriterClock): Promise<LedgerService> {
  const store = await openLedgerStore(location, { migrate: true });
  return LedgerService.open(store, { batch_wait_ms: 0, expiry_wake_up: false, ...(clock === undefined ? {} : { clock }) });
}

interface Served {
  readonly origin: string;
  readonly port: number;
  /** `METHOD /path` of every request the server took, in order. */
  readonly requests: string[];
  /** Set to cut the connection of the next transfers request after the ledger has answered it. */
  lose_next_transfers_answer: boolean;
  close(): Promise<void>;
}

async function serve(ledger: LedgerClient, port = 0): Promise<Served> {
  const server = createHttpServer({ logger: createLogger({ level: 'silent', name: 'test' }) });
  const served: Served = {
    origin: '',
    port: 0,
    requests: [],
    lose_next_transfers_answer: false,
    close: () => server.app.close(),
  };
  server.app.addHook('onRequest', (request, _reply, done) => {
    served.requests.push(`${request.method} ${request.url.split('?', 1)[0] ?? ''}`);
    done();
  });
  // The answer is lost on the way back: the ledger has applied the batch, the client never hears.
  server.app.addHook('onSend', (request, _reply, payload, done) => {
    if (served.lose_next_transfers_answer && request.url === '/v1/ledger/transfers') {
      served.lose_next_transfers_answer = false;
      request.raw.socket.destroy();
    }
    done(null, payload);
  });
  registerLedgerRoutes(server.app, {
    ledger,
    authenticate: (request) => {
      if (request.headers.authorization !== authorization) throw new ApiError('authentication_error', 'api_key_invalid', 'Invalid API key provided');
    },
  });
  await server.app.listen({ host: '127.0.0.1', port });
  const address = server.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('the test server has no TCP address');
  return Object.assign(served, { origin: `http://127.0.0.1:${address.port}`, port: address.port });
}

function upstreamTo(origin: string): Upstream {
  return singleOriginUpstream({ service: 'ledger', origin });
}

function apply(ledger: LedgerClient, operation: Operation): Promise<EventResult<string>[]> {
  return operation.kind === 'accounts' ? ledger.createAccounts(operation.events) : ledger.createTransfers(operation.events);
}

const transfer = (id: bigint, fields: Partial<TransferEvent> = {}): TransferEvent =>
  emptyTransferEvent({ id, debit_account_id: 1n, credit_account_id: 2n, amount: 1n, ledger: 1, code: 1, ...fields });

const both = { debits: true, credits: true } as const;

/** Every read a caller can make, over the generators' id spaces (accounts 1-8, transfers 1001-1048). */
function everyRead(): ((ledger: LedgerClient) => Promise<unknown>)[] {
  const account_ids = [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, id_max, 3n, 3n];
  const transfer_ids = [0n, id_max, 1001n, ...Array.from({ length: 50 }, (_, n) => 1000n + BigInt(n)), 1001n];
  const account_filters: AccountFilter[] = [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n].flatMap((account_id) => [
    { account_id, limit: 150, ...both, reversed: false },
    { account_id, limit: 3, ...both, reversed: true },
    { account_id, limit: 150, debits: true, credits: false, reversed: false, code: 1 },
    { account_id, limit: 150, debits: false, credits: true, reversed: true, user_data_64: 12n },
  ]);
  const query_filters: QueryFilter[] = [
    { limit: 150, reversed: false },
    { limit: 7, reversed: true, ledger: 1 },
    { limit: 150, reversed: false, user_data_64: 12n, code: 1 },
    { limit: 150, reversed: true, user_data_128: 11n, user_data_32: 13 },
  ];
  return [
    (ledger) => ledger.lookupAccounts(account_ids),
    (ledger) => ledger.lookupTransfers(transfer_ids),
    ...account_filters.map((filter) => (ledger: LedgerClient) => ledger.getAccountTransfers(filter)),
    ...account_filters.map((filter) => (ledger: LedgerClient) => ledger.getAccountBalances(filter)),
    ...query_filters.map((filter) => (ledger: LedgerClient) => ledger.queryTransfers(filter)),
  ];
}

describe('LedgerHttpClient', () => {
  it('answers any sequence of creations, and every read after it, exactly as the in-process service does', async () => {
    // Both ledgers read one clock, set before each step. Steps are 333,433,333 ns apart, so no
    // pending timeout (1 to 3 s) ends within the few nanoseconds a step's events take: the server
    // may apply a step in several batches where the in-process writer takes one, and expiry, which
    // runs at each batch's start, must not tell them apart.
    let now_ns = 0n;
    const clock: WriterClock = { nowNs: () => now_ns };
    const step_ns = 333_433_333n;
    let behind: LedgerService | undefined;
    const current = (): LedgerService => {
      if (behind === undefined) throw new Error('no ledger behind the server');
      return behind;
    };
    // One server and one client for every run; each run puts a fresh ledger behind the server.
    const delegate: LedgerClient = {
      createAccounts: (events) => current().createAccounts(events),
      createTransfers: (events) => current().createTransfers(events),
      lookupAccounts: (ids) => current().lookupAccounts(ids),
      lookupTransfers: (ids) => current().lookupTransfers(ids),
      getAccountTransfers: (filter) => current().getAccountTransfers(filter),
      getAccountBalances: (filter) => current().getAccountBalances(filter),
      queryTransfers: (filter) => current().queryTransfers(filter),
    };
    const served = await serve(delegate);
    const upstream = upstreamTo(served.origin);
    const client = new LedgerHttpClient({ upstream, authorization });
    // The writer's property tests run longer workloads; what is new here is the wire and the
    // gathering, which a few dozen steps of up to three concurrent calls exercise.
    const steps_arbitrary = fc.tuple(openingBatch, fc.array(batch, { minLength: 5, maxLength: 30 })).map(([opening, rest]) => [opening, ...rest]);
    let calls = 0;
    try {
      await fc.assert(
        fc.asyncProperty(steps_arbitrary, async (steps) => {
          const direct = await openLedger(sqlite(), clock);
          behind = await openLedger(sqlite(), clock);
          try {
            for (const [index, step] of steps.entries()) {
              now_ns = 1_700_000_000_000_000_000n + BigInt(index) * step_ns;
              // Each step's calls are made together, as concurrent callers make them.
              // The two ledgers are independent: they take the step side by side.
              const [expected, actual] = await Promise.all([
                Promise.all(step.operations.map((operation) => apply(direct, operation))),
                Promise.all(step.operations.map((operation) => apply(client, operation))),
              ]);
              calls += step.operations.length;
              expect(actual).toStrictEqual(expected);
            }
            const reads = everyRead();
            const [expected, actual] = await Promise.all([Promise.all(reads.map((read) => read(direct))), Promise.all(reads.map((read) => read(client)))]);
            expect(actual).toStrictEqual(expected);
          } finally {
            await direct.close();
            await behind.close();
          }
        }),
        // A failure is reported at once, unshrunk: shrinking reopens two ledgers per try and would
        // run past the test timeout before it reported anything.
        { numRuns: 10, endOnFailure: true },
      );
      const writes = served.requests.filter((request) => request === 'POST /v1/ledger/accounts' || request === 'POST /v1/ledger/transfers').length;
      // Calls made together shared requests.
      expect(writes).toBeLessThan(calls);
    } finally {
      await upstream.close();
      await served.close();
    }
  });

  describe('on one ledger', () => {
    let ledger: LedgerService;
    let served: Served;
    let upstream: Upstream;
    let client: LedgerHttpClient;

    beforeAll(async () => {
      ledger = await openLedger(sqlite());
      served = await serve(ledger);
      upstream = upstreamTo(served.origin);
      client = new LedgerHttpClient({ upstream, authorization });
      const accounts = [
        emptyAccountEvent({ id: 1n, ledger: 1, code: 1, flags: AccountFlags.history }),
        emptyAccountEvent({ id: 2n, ledger: 1, code: 1, flags: AccountFlags.history }),
        emptyAccountEvent({ id: 3n, ledger: 1, code: 1, flags: AccountFlags.debits_must_not_exceed_credits }),
      ];
      expect((await client.createAccounts(accounts)).map((each) => each.result)).toEqual(['ok', 'ok', 'ok']);
    });

    afterAll(async () => {
      await client.close();
      await upstream.close();
      await served.close();
      await ledger.close();
    });

    function requestsTo(path: string, work: () => Promise<unknown>): Promise<number> {
      const before = served.requests.filter((request) => request === path).length;
      return work().then(() => served.requests.filter((request) => request === path).length - before);
    }

    it('gathers concurrent calls into few requests, each caller getting its own results, an open chain included', async () => {
      let next_id = 10_000n;
      const calls: TransferEvent[][] = Array.from({ length: 64 }, (_, caller) => Array.from({ length: 1 + (caller % 4) }, () => transfer(next_id++)));
      // In the middle: a chain left open, which must not run on into the callers after it, and a
      // caller refused by a balance limit.
      const open_chain = [transfer(next_id++, { flags: TransferFlags.linked }), transfer(next_id++, { flags: TransferFlags.linked })];
      const refused = [transfer(next_id++, { debit_account_id: 3n, amount: 5n })];
      calls.splice(32, 0, open_chain);
      calls.splice(40, 0, refused);
      let answers: EventResult<string>[][] = [];
      const requests = await requestsTo('POST /v1/ledger/transfers', async () => {
        answers = await Promise.all(calls.map((events) => client.createTransfers(events)));
      });
      // The open chain ends the first request; everyone after it shares the second.
      expect(requests).toBe(2);
      answers.forEach((answer, caller) => {
        const events = calls[caller] ?? [];
        const expected =
          events === open_chain
            ? ['linked_event_failed', 'linked_event_chain_open']
            : events === refused
              ? ['exceeds_credits']
              : events.map(() => 'ok');
        expect(answer).toStrictEqual(events.map((event, index) => ({ index, id: event.id, result: expected[index] })));
      });
      // The open chain's answer is the one it gets alone, in process.
      const alone = [transfer(next_id++, { flags: TransferFlags.linked }), transfer(next_id++, { flags: TransferFlags.linked })];
      expect((await ledger.createTransfers(alone)).map((each) => each.result)).toEqual(['linked_event_failed', 'linked_event_chain_open']);
    });

    it('keeps gathering while a request is in flight: 64 callers making 5 calls each send far fewer requests', async () => {
      let next_id = 20_000n;
      const made: { events: TransferEvent[]; answer: EventResult<string>[] }[] = [];
      const caller = async (number: number) => {
        for (let round = 0; round < 5; round += 1) {
          const events = Array.from({ length: 1 + ((number + round) % 4) }, () => transfer(next_id++));
          made.push({ events, answer: await client.createTransfers(events) });
        }
      };
      const requests = await requestsTo('POST /v1/ledger/transfers', () => Promise.all(Array.from({ length: 64 }, (_, number) => caller(number))));
      expect(made).toHaveLength(320);
      expect(requests).toBeLessThanOrEqual(320 / 16);
      for (const { events, answer } of made) expect(answer).toStrictEqual(events.map((event, index) => ({ index, id: event.id, result: 'ok' })));
    });

    it('splits calls that do not fit one request, and answers an empty call with nothing', async () => {
      let next_id = 100_000n;
      const large = [5000, 5000, 0].map((length) => Array.from({ length }, () => transfer(next_id++)));
      let answers: EventResult<string>[][] = [];
      const requests = await requestsTo('POST /v1/ledger/transfers', async () => {
        answers = await Promise.all(large.map((events) => client.createTransfers(events)));
      });
      expect(5000 * 2).toBeGreaterThan(http_client_request_events_max);
      expect(requests).toBe(2);
      expect(answers.map((answer) => answer.length)).toEqual([5000, 5000, 0]);
      expect(answers[1]?.[4999]).toStrictEqual({ index: 4999, id: large[1]?.[4999]?.id, result: 'ok' });
      expect(await client.createAccounts([])).toStrictEqual([]);
      expect(await client.lookupAccounts([])).toStrictEqual([]);
    });

    it('looks up concurrent calls in one request of distinct ids, each caller getting exactly what it asked', async () => {
      const asks = Array.from({ length: 40 }, (_, caller) => [BigInt(1 + (caller % 3)), 99n, BigInt(1 + ((caller + 1) % 3)), 1n]);
      const transfer_asks = Array.from({ length: 40 }, (_, caller) => [10_000n + BigInt(caller), 5n, 10_000n, 10_032n + BigInt(caller % 4)]);
      let accounts: unknown[] = [];
      let transfers: unknown[] = [];
      const account_requests = await requestsTo('POST /v1/ledger/accounts/lookup', async () => {
        const transfer_requests = await requestsTo('POST /v1/ledger/transfers/lookup', async () => {
          [accounts, transfers] = await Promise.all([Promise.all(asks.map((ids) => client.lookupAccounts(ids))), Promise.all(transfer_asks.map((ids) => client.lookupTransfers(ids)))]);
        });
        expect(transfer_requests).toBe(1);
      });
      expect(account_requests).toBe(1);
      expect(accounts).toStrictEqual(await Promise.all(asks.map((ids) => ledger.lookupAccounts(ids))));
      expect(transfers).toStrictEqual(await Promise.all(transfer_asks.map((ids) => ledger.lookupTransfers(ids))));
      // A pending transfer's status travels too.
      const pending = transfer(30_000n, { flags: TransferFlags.pending, amount: 3n });
      const post = transfer(30_001n, { pending_id: 30_000n, flags: TransferFlags.post_pending_transfer, amount: 0n, debit_account_id: 0n, credit_account_id: 0n, ledger: 0, code: 0 });
      expect((await client.createTransfers([pending, post])).map((each) => each.result)).toEqual(['ok', 'ok']);
      const [found] = await client.lookupTransfers([30_000n]);
      expect(found?.status).toBe('posted');
      expect(await client.lookupTransfers([30_000n, 30_001n])).toStrictEqual(await ledger.lookupTransfers([30_000n, 30_001n]));
      // More distinct ids than one request takes.
      const many = Array.from({ length: 9000 }, (_, n) => 10_000n + BigInt(n));
      expect(await client.lookupTransfers(many)).toStrictEqual(await ledger.lookupTransfers(many));
    });

    it('pages listings past the route’s 100 rows and answers them as the in-process service does', async () => {
      const filters: AccountFilter[] = [
        { account_id: 1n, limit: 250, ...both, reversed: false },
        { account_id: 1n, limit: 250, ...both, reversed: true },
        { account_id: 2n, limit: 101, ...both, reversed: false },
        { account_id: 2n, limit: 100, debits: false, credits: true, reversed: true },
        { account_id: 2n, limit: 1, ...both, reversed: false },
        { account_id: 2n, limit: 0, ...both, reversed: false },
        { account_id: 2n, limit: 5000, ...both, reversed: false, code: 2 },
        { account_id: 99n, limit: 10, ...both, reversed: false },
      ];
      const [first] = await ledger.getAccountTransfers({ account_id: 1n, limit: 1, ...both, reversed: false });
      const from = (first?.timestamp ?? 0n) + 50n;
      filters.push({ account_id: 1n, limit: 300, ...both, reversed: true, timestamp_min: from, timestamp_max: from + 500n });
      for (const filter of filters) {
        expect(await client.getAccountTransfers(filter)).toStrictEqual(await ledger.getAccountTransfers(filter));
        expect(await client.getAccountBalances(filter)).toStrictEqual(await ledger.getAccountBalances(filter));
      }
      expect((await client.getAccountTransfers(filters[0] ?? { account_id: 1n, limit: 1, ...both, reversed: false })).length).toBe(250);
      const queries: QueryFilter[] = [
        { limit: 1000, reversed: false },
        { limit: 333, reversed: true, ledger: 1, code: 1 },
        { limit: 100, reversed: false, timestamp_min: from },
        { limit: 10, reversed: false, ledger: 7 },
      ];
      for (const filter of queries) expect(await client.queryTransfers(filter)).toStrictEqual(await ledger.queryTransfers(filter));
    });

    it('retries after a lost answer meet `exists`, and the transfer moved money once', async () => {
      const events = [transfer(40_000n, { amount: 7n, flags: TransferFlags.linked }), transfer(40_001n, { amount: 8n })];
      const [before] = await ledger.lookupAccounts([2n]);
      served.lose_next_transfers_answer = true;
      await expect(client.createTransfers(events)).rejects.toBeInstanceOf(LedgerUnavailableError);
      // The ledger applied the batch whose answer was lost.
      expect((await client.lookupTransfers([40_000n, 40_001n])).map((found) => found.transfer.id)).toEqual([40_000n, 40_001n]);
      expect(await client.createTransfers(events)).toStrictEqual(await ledger.createTransfers(events));
      expect((await client.createTransfers(events)).map((each) => each.result)).toEqual(['exists', 'linked_event_failed']);
      const [after] = await ledger.lookupAccounts([2n]);
      expect((after?.credits_posted ?? 0n) - (before?.credits_posted ?? 0n)).toBe(15n);
    });

    it('sends each batch in the client’s own context, not in the first caller’s (its deadline would govern everyone)', async () => {
      const caller_context = new AsyncLocalStorage<string>();
      const seen: (string | undefined)[] = [];
      const watched: Upstream = {
        service: 'ledger',
        request: (request) => {
          seen.push(caller_context.getStore());
          return upstream.request(request);
        },
        close: () => Promise.resolve(),
      };
      const watched_client = new LedgerHttpClient({ upstream: watched, authorization });
      await Promise.all([
        caller_context.run('first caller', () => watched_client.createTransfers([transfer(60_000n)])),
        caller_context.run('second caller', () => watched_client.createTransfers([transfer(60_001n)])),
        caller_context.run('first caller', () => watched_client.lookupAccounts([1n])),
      ]);
      expect(seen).toEqual([undefined, undefined]);
    });

    it('turns any other refusal into an error with the answer’s shape, never a value', async () => {
      const wrong_key = new LedgerHttpClient({ upstream, authorization: 'Bearer op_wrong' });
      const refusal = wrong_key.createTransfers([transfer(50_000n)]);
      await expect(refusal).rejects.toBeInstanceOf(LedgerRequestError);
      await expect(refusal).rejects.toMatchObject({ status: 401, type: 'authentication_error', code: 'api_key_invalid' });
      await expect(wrong_key.queryTransfers({ limit: 1, reversed: false })).rejects.toMatchObject({ status: 401 });
      expect(await ledger.lookupTransfers([50_000n])).toEqual([]);
    });
  });

  it('is unavailable while the ledger is down, and works again when it is back', async () => {
    const location = sqlite();
    let ledger = await openLedger(location);
    let served = await serve(ledger);
    const port = served.port;
    const upstream = upstreamTo(served.origin);
    const client = new LedgerHttpClient({ upstream, authorization });
    try {
      expect((await client.createAccounts([emptyAccountEvent({ id: 1n, ledger: 1, code: 1 }), emptyAccountEvent({ id: 2n, ledger: 1, code: 1 })])).map((each) => each.result)).toEqual([
        'ok',
        'ok',
      ]);
      // The server is up, its writer is not: the route answers 503 ledger_unavailable.
      await ledger.close();
      await expect(client.createTransfers([transfer(1n)])).rejects.toBeInstanceOf(LedgerUnavailableError);
      // Nothing listens: the connection is refused.
      await served.close();
      await expect(client.createTransfers([transfer(1n)])).rejects.toBeInstanceOf(LedgerUnavailableError);
      await expect(client.lookupAccounts([1n])).rejects.toBeInstanceOf(LedgerUnavailableError);
      await expect(client.getAccountTransfers({ account_id: 1n, limit: 10, ...both, reversed: false })).rejects.toBeInstanceOf(LedgerUnavailableError);

      ledger = await openLedger(location);
      served = await serve(ledger, port);
      expect((await client.createTransfers([transfer(1n)])).map((each) => each.result)).toEqual(['ok']);
      expect((await client.createTransfers([transfer(1n)])).map((each) => each.result)).toEqual(['exists']);
      expect((await client.lookupAccounts([2n]))[0]?.credits_posted).toBe(1n);
      // Closing waits for what is in flight; every closer hears when it is done.
      const last = client.createTransfers([transfer(3n)]);
      await Promise.all([client.close(), client.close()]);
      expect((await last).map((each) => each.result)).toEqual(['ok']);
      await expect(client.createTransfers([transfer(2n)])).rejects.toBeInstanceOf(LedgerUnavailableError);
    } finally {
      await upstream.close();
      await served.close();
      await ledger.close();
    }
  });
});

describeWithPostgres('LedgerHttpClient on PostgreSQL', (database_url) => {
  it('creates, posts and reads back as the in-process service does', async () => {
    const temporary = await withTemporarySchema(database_url);
    const ledger = await openLedger({ kind: 'postgres', url: database_url, schema: temporary.schema });
    const served = await serve(ledger);
    const upstream = upstreamTo(served.origin);
    const client = new LedgerHttpClient({ upstream, authorization });
    try {
      const accounts = [emptyAccountEvent({ id: 1n, ledger: 1, code: 1, flags: AccountFlags.history }), emptyAccountEvent({ id: 2n, ledger: 1, code: 1 })];
      expect((await client.createAccounts(accounts)).map((each) => each.result)).toEqual(['ok', 'ok']);
      const answers = await Promise.all([
        client.createTransfers([transfer(10n, { amount: 5n }), transfer(11n, { flags: TransferFlags.pending, amount: 9n })]),
        client.createTransfers([transfer(12n, { pending_id: 11n, flags: TransferFlags.post_pending_transfer, amount: 4n })]),
        client.createTransfers([transfer(10n, { amount: 6n })]),
      ]);
      expect(answers.map((answer) => answer.map((each) => each.result))).toEqual([['ok', 'ok'], ['ok'], ['exists_with_different_amount']]);
      expect(await client.lookupAccounts([2n, 1n, 3n])).toStrictEqual(await ledger.lookupAccounts([2n, 1n, 3n]));
      expect(await client.lookupTransfers([11n, 12n])).toStrictEqual(await ledger.lookupTransfers([11n, 12n]));
      const filter: AccountFilter = { account_id: 1n, limit: 10, ...both, reversed: true };
      expect(await client.getAccountTransfers(filter)).toStrictEqual(await ledger.getAccountTransfers(filter));
      expect(await client.getAccountBalances(filter)).toStrictEqual(await ledger.getAccountBalances(filter));
      expect(await client.queryTransfers({ limit: 10, reversed: false })).toStrictEqual(await ledger.queryTransfers({ limit: 10, reversed: false }));
    } finally {
      await client.close();
      await upstream.close();
      await served.close();
      await ledger.close();
      await temporary.drop();
    }
  });
});

// A throughput comparison, not a test: run with LEDGER_HTTP_CLIENT_BENCH=1. The ledger behind the
// HTTP client runs in a child process, as it would in distributed mode.
describe.runIf(process.env.LEDGER_HTTP_CLIENT_BENCH === '1')('LedgerHttpClient throughput (LEDGER_HTTP_CLIENT_BENCH=1)', () => {
  const transfers_total = 20_000;
  const callers = 64;
  const accounts = 1000;

  /** The same calls for every run: 1 to 4 transfers each, between random accounts (a fixed LCG). */
  function workloadCalls(): TransferEvent[][] {
    let seed = 12345;
    const random = (below: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      // The high bits: an LCG's low bits repeat with a short period.
      return Math.floor(seed / 65536) % below;
    };
    const calls: TransferEvent[][] = [];
    let next_id = 1n;
    for (let made = 0; made < transfers_total; ) {
      const length = Math.min(1 + random(4), transfers_total - made);
      calls.push(
        Array.from({ length }, () => {
          const debit = 1 + random(accounts);
          const credit = 1 + ((debit + random(accounts - 1)) % accounts);
          return transfer(next_id++, { debit_account_id: BigInt(debit), credit_account_id: BigInt(credit), amount: BigInt(1 + random(100)) });
        }),
      );
      made += length;
    }
    return calls;
  }

  async function drive(ledger: LedgerClient): Promise<number> {
    await ledger.createAccounts(Array.from({ length: accounts }, (_, n) => emptyAccountEvent({ id: BigInt(n + 1), ledger: 1, code: 1 })));
    const calls = workloadCalls();
    let next = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: callers }, async () => {
        for (let call = calls[next++]; call !== undefined; call = calls[next++]) {
          const answer = await ledger.createTransfers(call);
          if (answer.some((each) => each.result !== 'ok')) throw new Error('a benchmark transfer was refused');
        }
      }),
    );
    return transfers_total / (Number(process.hrtime.bigint() - started) / 1e9);
  }

  async function ledgerProcess(file: string): Promise<{ origin: string; stop: () => void }> {
    const script = `
      import { LedgerService, openLedgerStore, registerLedgerRoutes } from '@paygrid/ledger';
      import { createHttpServer, createLogger } from '@paygrid/kernel';
      const ledger = await LedgerService.open(await openLedgerStore({ kind: 'sqlite', file: ${JSON.stringify(file)} }, { migrate: true }));
      const server = createHttpServer({ logger: createLogger({ level: 'silent', name: 'bench' }) });
      registerLedgerRoutes(server.app, { ledger, authenticate: () => undefined });
      await server.app.listen({ host: '127.0.0.1', port: 0 });
      process.stdout.write(server.app.server.address().port + '\\n');
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: resolve(import.meta.dirname, '../../..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const port = await new Promise<string>((ready, reject) => {
      child.stdout.once('data', (chunk: Buffer) => ready(chunk.toString().trim()));
      child.once('exit', (code) => reject(new Error(`the ledger process exited with ${code}`)));
    });
    return { origin: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
  }

  it('compares 20,000 transfers from 64 callers in process and over HTTP', async () => {
    const in_process = await LedgerService.open(await openLedgerStore(sqlite(), { migrate: true }));
    const in_process_rate = await drive(in_process).finally(() => in_process.close());
    const figures: Record<string, number>[] = [{ in_process_transfers_per_second: Math.round(in_process_rate) }];
    for (const writes_in_flight of [1, 2]) {
      const remote = await ledgerProcess(sqlite().file);
      const upstream = upstreamTo(remote.origin);
      let requests = 0;
      let events = 0;
      let calls = 0;
      const metrics: LedgerHttpClientMetrics = {
        observeRequest: (route, gathered, items) => {
          if (route !== 'transfers') return;
          requests += 1;
          events += items;
          calls += gathered;
        },
      };
      const client = new LedgerHttpClient({ upstream, metrics, writes_in_flight });
      try {
        const http_rate = await drive(client);
        figures.push({
          writes_in_flight,
          http_transfers_per_second: Math.round(http_rate),
          http_requests: requests,
          http_batch_transfers_average: Math.round(events / requests),
          http_batch_calls_average: Math.round(calls / requests),
        });
      } finally {
        await client.close();
        await upstream.close();
        remote.stop();
      }
    }
    console.log(JSON.stringify({ transfers: transfers_total, callers, figures }));
  });
});
