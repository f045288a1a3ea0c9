import { createServer, type AddressInfo, type Server } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assert } from '../assert';
import { ApiError } from '../errors';
import { createHttpServer, type HttpServer } from '../http/server';
import { createLogger } from '../logger';
import { singleOriginUpstream } from '../transport/single-origin';
import type { Upstream } from '../transport/upstream';
import { createRpcClient } from './client';
import { defineServiceContract, operationPath } from './contract';
import { registerRpcRoutes, rpc_media_type } from './server';
import { rejectionOf } from './testing';

interface Account {
  readonly id: string;
  readonly balance: bigint;
  readonly note?: string;
  readonly closed_at: number | null;
}

interface AccountsClient {
  open(input: { readonly balance: bigint; readonly note?: string; readonly idempotency_key?: string }): Promise<Account>;
  get(id: string): Promise<Account | undefined>;
  require(id: string): Promise<Account>;
  close(id: string, options?: { readonly at?: number }): Promise<void>;
  explode(): Promise<Account>;
}

const accounts_contract = defineServiceContract<AccountsClient>()({
  service: 'accounts',
  operations: {
    open: { idempotent: (input) => input.idempotency_key !== undefined },
    get: { idempotent: true },
    require: { idempotent: true },
    close: { idempotent: false },
    explode: { idempotent: true },
  },
});

// The contract's type: every method named, and only methods of the interface.
defineServiceContract<AccountsClient>()({
  service: 'accounts',
  // @ts-expect-error -- `explode` is left out, so the contract does not compile.
  operations: { open: { idempotent: false }, get: { idempotent: true }, require: { idempotent: true }, close: { idempotent: false } },
});
defineServiceContract<AccountsClient>()({
  service: 'accounts',
  operations: {
    open: { idempotent: false },
    get: { idempotent: true },
    require: { idempotent: true },
    close: { idempotent: false },
    explode: { idempotent: true },
    // @ts-expect-error -- the interface has no `rename`.
    rename: { idempotent: false },
  },
});
defineServiceContract<AccountsClient>()({
  service: 'accounts',
  operations: {
    // @ts-expect-error -- an idempotence function takes the operation's own arguments.
    open: { idempotent: (input: string) => input === '' },
    get: { idempotent: true },
    require: { idempotent: true },
    close: { idempotent: false },
    explode: { idempotent: true },
  },
});

class InMemoryAccounts implements AccountsClient {
  readonly #accounts = new Map<string, Account>();
  readonly closings: (number | undefined)[] = [];

  async open(input: { readonly balance: bigint; readonly note?: string }): Promise<Account> {
    await Promise.resolve();
    if (input.balance < 0n) throw new ApiError('invalid_request_error', 'balance_negative', 'A balance cannot be negative', 'balance');
    const account = { id: `acc_${this.#accounts.size + 1}`, balance: input.balance, ...(input.note === undefined ? {} : { note: input.note }), closed_at: null };
    this.#accounts.set(account.id, account);
    return account;
  }

  async get(id: string): Promise<Account | undefined> {
    await Promise.resolve();
    return this.#accounts.get(id);
  }

  async require(id: string): Promise<Account> {
    const account = await this.get(id);
    if (account === undefined) throw new ApiError('not_found_error', 'resource_missing', `No such account: '${id}'`, 'id');
    return account;
  }

  async close(_id: string, options?: { readonly at?: number }): Promise<void> {
    await Promise.resolve();
    this.closings.push(options?.at);
  }

  async explode(): Promise<Account> {
    await Promise.resolve();
    throw new TypeError('the in-memory accounts blew up');
  }
}

const operator_key = 'op_rpc_test_key';
const authenticate = (request: FastifyRequest) => {
  if (request.headers.authorization !== `Bearer ${operator_key}`) throw new ApiError('authentication_error', 'api_key_invalid', 'Invalid API key provided');
};

let service: InMemoryAccounts;
let server: HttpServer;
let origin: string;
let upstream: Upstream;
let remote: AccountsClient;

beforeAll(async () => {
  service = new InMemoryAccounts();
  server = createHttpServer({ logger: createLogger({ level: 'silent', name: 'rpc-test' }) });
  registerRpcRoutes(server.app, accounts_contract, service, { authenticate });
  origin = await server.app.listen({ host: '127.0.0.1', port: 0 });
  upstream = singleOriginUpstream({ service: 'accounts', origin });
  remote = createRpcClient(accounts_contract, upstream, { headers: { authorization: `Bearer ${operator_key}` } });
});

afterAll(async () => {
  await upstream.close();
  await server.app.close();
});

describe('rpc server and client', () => {
  it('gives the result the in-process call gives: bigints, absent and undefined fields, undefined results', async () => {
    const opened = await remote.open({ balance: 2n ** 70n, idempotency_key: 'k1' });
    expect(opened).toStrictEqual({ id: 'acc_1', balance: 2n ** 70n, closed_at: null });
    expect(typeof opened.balance).toBe('bigint');
    expect('note' in opened).toBe(false);
    expect(await remote.get('acc_1')).toStrictEqual(await service.get('acc_1'));
    expect(await remote.get('acc_404')).toBeUndefined();
    expect(await remote.close('acc_1')).toBeUndefined();
    expect(await remote.close('acc_1', { at: -0 })).toBeUndefined();
    expect(service.closings).toStrictEqual([undefined, -0]);
  });

  it('throws the ApiError the service throws, equal in type, code, message and param', async () => {
    const direct = await rejectionOf(service.require('acc_404'));
    const through = await rejectionOf(remote.require('acc_404'));
    expect(through).toBeInstanceOf(ApiError);
    expect(through).toEqual(direct);
    expect(through).toMatchObject({ type: 'not_found_error', code: 'resource_missing', param: 'id', message: "No such account: 'acc_404'" });
    const refused = await rejectionOf(remote.open({ balance: -1n }));
    expect(refused).toEqual(await rejectionOf(service.open({ balance: -1n })));
    expect((refused as ApiError).statusCode).toBe(400);
  });

  it('answers anything else an implementation throws as a 500 api_error that leaks nothing', async () => {
    const error = await rejectionOf(remote.explode());
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ type: 'api_error', code: 'internal_error' });
    expect((error as ApiError).message).not.toContain('blew up');
  });

  it('refuses callers the authenticate hook refuses, before reading the body', async () => {
    const anonymous = createRpcClient(accounts_contract, upstream);
    expect(await rejectionOf(anonymous.get('acc_1'))).toEqual(new ApiError('authentication_error', 'api_key_invalid', 'Invalid API key provided'));
    const wrong = createRpcClient(accounts_contract, upstream, { headers: { authorization: 'Bearer nope' } });
    expect(await rejectionOf(wrong.open({ balance: 1n }))).toMatchObject({ type: 'authentication_error', code: 'api_key_invalid' });
  });

  it('takes only bodies in its own media type, decoded by the codec', async () => {
    const headers = { authorization: `Bearer ${operator_key}` };
    const path = operationPath('accounts', 'get');
    const json = await server.app.inject({ method: 'POST', url: path, headers: { ...headers, 'content-type': 'application/json' }, payload: '["acc_1"]' });
    expect(json.statusCode).toBe(415);
    const garbled = await server.app.inject({ method: 'POST', url: path, headers: { ...headers, 'content-type': rpc_media_type }, payload: '{"value":{"a":"1"},"bigints":["/b"]}' });
    expect(garbled.statusCode).toBe(400);
    expect(garbled.json()).toMatchObject({ error: { type: 'invalid_request_error', code: 'rpc_body_invalid' } });
    const not_array = await server.app.inject({ method: 'POST', url: path, headers: { ...headers, 'content-type': rpc_media_type }, payload: '{"value":"acc_1"}' });
    expect(not_array.statusCode).toBe(400);
  });

  it('refuses, by assertion, arguments that are not plain data, without sending them', async () => {
    const sent_before = service.closings.length;
    await expect(remote.close('acc_1', { at: Number.NaN })).rejects.toThrow(/no JSON form/);
    expect(service.closings).toHaveLength(sent_before);
  });
});

describe('rpc client, the service unreachable', () => {
  let closed_origin: string;
  let dropping: Server;
  let dropping_origin: string;

  beforeAll(async () => {
    // A port nothing listens on: taken, then freed.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    closed_origin = `http://127.0.0.1:${port}`;
    // A service that takes the request, then drops the connection without an answer.
    dropping = createServer((socket) => {
      socket.once('data', () => socket.destroy());
    });
    await new Promise<void>((resolve) => dropping.listen(0, '127.0.0.1', resolve));
    dropping_origin = `http://127.0.0.1:${(dropping.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => dropping.close(() => resolve()));
  });

  it('answers a call that never left with the 503 <service>_unavailable, idempotent or not', async () => {
    const unreachable = singleOriginUpstream({ service: 'accounts', origin: closed_origin });
    const client = createRpcClient(accounts_contract, unreachable);
    try {
      const expected = new ApiError('service_unavailable_error', 'accounts_unavailable', 'The accounts service is unavailable; try again later');
      const read = await rejectionOf(client.get('acc_1'));
      expect(read).toEqual(expected);
      expect((read as ApiError).statusCode).toBe(503);
      expect(await rejectionOf(client.close('acc_1'))).toEqual(expected);
    } finally {
      await unreachable.close();
    }
  });

  it('answers a call that may have been carried out with <service>_outcome_unknown unless it is idempotent', async () => {
    const flaky = singleOriginUpstream({ service: 'accounts', origin: dropping_origin });
    const client = createRpcClient(accounts_contract, flaky);
    try {
      const unknown = await rejectionOf(client.open({ balance: 1n }));
      expect(unknown).toMatchObject({ type: 'service_unavailable_error', code: 'accounts_outcome_unknown' });
      // With an idempotency key the same operation is idempotent: sending it again is safe.
      expect(await rejectionOf(client.open({ balance: 1n, idempotency_key: 'k2' }))).toMatchObject({ code: 'accounts_unavailable' });
      expect(await rejectionOf(client.get('acc_1'))).toMatchObject({ code: 'accounts_unavailable' });
      const close = await rejectionOf(client.close('acc_1'));
      assert(close instanceof ApiError, 'a failed call rejects with an ApiError');
      expect(close.code).toBe('accounts_outcome_unknown');
    } finally {
      await flaky.close();
    }
  });
});
