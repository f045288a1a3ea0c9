import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, createHttpServer, createLogger } from '@paygrid/kernel';
import { registerLedgerRoutes } from './api';
import { openLedgerStore } from './open';
import { LedgerService } from './service';

const key = 'op_api_test_key_abcdefghijklmnopqrstuvwxyz012345';
const folder = mkdtempSync(join(tmpdir(), 'ledger-api-'));
let ledger: LedgerService;
let server: ReturnType<typeof createHttpServer>;

beforeAll(async () => {
  ledger = await LedgerService.open(await openLedgerStore({ kind: 'sqlite', file: join(folder, 'ledger.sqlite') }, { migrate: true }), { batch_wait_ms: 0 });
  server = createHttpServer({ logger: createLogger({ level: 'silent', name: 'test' }) });
  registerLedgerRoutes(server.app, {
    ledger,
    authenticate: (request) => {
      if (request.headers.authorization !== `Bearer ${key}`) throw new ApiError('authentication_error', 'api_key_invalid', 'Invalid API key provided');
    },
  });
  await server.app.ready();
});

afterAll(async () => {
  await server.app.close();
  await ledger.close();
  rmSync(folder, { recursive: true, force: true });
});

async function call(method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await server.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
}

const account = (id: string, extra: Record<string, unknown> = {}) => ({ id, ledger: 840, code: 1, ...extra });
const transfer = (id: string, extra: Record<string, unknown> = {}) => ({ id, debit_account_id: '1', credit_account_id: '2', amount: 100, ledger: 840, code: 1, ...extra });

describe('ledger HTTP API', () => {
  it('creates accounts and transfers with one result per event, in order', async () => {
    const accounts = await call('POST', '/v1/ledger/accounts', { accounts: [account('1'), account('2', { flags: ['history'] }), account('1')] });
    expect(accounts.status).toBe(200);
    expect(accounts.body).toEqual({
      results: [
        { index: 0, id: '1', result: 'ok' },
        { index: 1, id: '2', result: 'ok' },
        { index: 2, id: '1', result: 'exists' },
      ],
    });
    const transfers = await call('POST', '/v1/ledger/transfers', {
      transfers: [transfer('10'), transfer('11', { flags: ['pending'], amount: 50 }), transfer('10', { amount: 101 }), transfer('12', { flags: ['linked'] })],
    });
    expect(transfers.body).toEqual({
      results: [
        { index: 0, id: '10', result: 'ok' },
        { index: 1, id: '11', result: 'ok' },
        { index: 2, id: '10', result: 'exists_with_different_amount' },
        { index: 3, id: '12', result: 'linked_event_chain_open' },
      ],
    });
    const credited = await call('GET', '/v1/ledger/accounts/2');
    expect(credited.status).toBe(200);
    expect(credited.body).toMatchObject({ id: '2', debits_pending: 0, debits_posted: 0, credits_pending: 50, credits_posted: 100, flags: ['history'] });
    expect(typeof credited.body.timestamp).toBe('string');
  });

  it('posts part of a pending transfer and lists an account’s transfers and balances', async () => {
    const posted = await call('POST', '/v1/ledger/transfers', { transfers: [{ id: '13', pending_id: '11', amount: 20, flags: ['post_pending_transfer'] }] });
    expect(posted.body).toEqual({ results: [{ index: 0, id: '13', result: 'ok' }] });
    expect((await call('GET', '/v1/ledger/accounts/2')).body).toMatchObject({ credits_pending: 0, credits_posted: 120 });
    const pending = await call('GET', '/v1/ledger/transfers/11');
    expect(pending.body).toMatchObject({ id: '11', amount: 50, flags: ['pending'], pending_status: 'posted' });

    const page = await call('GET', '/v1/ledger/accounts/2/transfers?limit=2');
    expect(page.body).toMatchObject({ object: 'list', has_more: true });
    expect((page.body.data as { id: string }[]).map((row) => row.id)).toEqual(['10', '11']);
    const newest = await call('GET', '/v1/ledger/accounts/2/transfers?reversed=true&limit=1');
    expect((newest.body.data as { id: string }[]).map((row) => row.id)).toEqual(['13']);
    const balances = await call('GET', '/v1/ledger/accounts/2/balances');
    expect((balances.body.data as { credits_posted: number }[]).map((row) => row.credits_posted)).toEqual([100, 100, 120]);
  });

  it('answers a broken rule with its result code, not an HTTP error', async () => {
    const results = await call('POST', '/v1/ledger/transfers', {
      transfers: [
        transfer('0'),
        transfer('20', { credit_account_id: '1' }),
        transfer('21', { debit_account_id: '99' }),
        transfer('22', { ledger: 978 }),
        transfer('23', { amount: 0 }),
        transfer('24', { timeout: 5 }),
        transfer('340282366920938463463374607431768211455'),
      ],
    });
    expect((results.body.results as { result: string }[]).map((row) => row.result)).toEqual([
      'id_must_not_be_zero',
      'accounts_must_be_different',
      'debit_account_not_found',
      'transfer_must_have_the_same_ledger_as_accounts',
      'amount_must_not_be_zero',
      'timeout_reserved_for_pending_transfer',
      'id_must_not_be_int_max',
    ]);
  });

  it('refuses malformed requests with the error shape and writes nothing', async () => {
    const before = (await call('GET', '/v1/ledger/accounts/1')).body;
    const bad: [string, unknown, string | undefined][] = [
      ['malformed JSON', '{"transfers": [', undefined],
      ['float amount', '{"transfers":[{"id":"30","debit_account_id":"1","credit_account_id":"2","amount":1.5,"ledger":840,"code":1}]}', undefined],
      ['float written as integer', '{"transfers":[{"id":"30","debit_account_id":"1","credit_account_id":"2","amount":1.0,"ledger":840,"code":1}]}', undefined],
      ['string amount', { transfers: [transfer('30', { amount: '100' })] }, 'transfers/0/amount'],
      ['negative amount', { transfers: [transfer('30', { amount: -1 })] }, 'transfers/0/amount'],
      ['amount past 2^53 - 1', '{"transfers":[{"id":"30","debit_account_id":"1","credit_account_id":"2","amount":9007199254740993,"ledger":840,"code":1}]}', undefined],
      ['unknown flag', { transfers: [transfer('30', { flags: ['pending', 'sideways'] })] }, undefined],
      ['unknown field', { transfers: [transfer('30', { memo: 'hi' })] }, undefined],
      ['numeric id', { transfers: [transfer('30', { id: 30 })] }, undefined],
      ['id past 2^128 - 1', { transfers: [transfer('340282366920938463463374607431768211456')] }, 'transfers[0].id'],
      ['empty batch', { transfers: [] }, undefined],
      ['batch over 8,190', { transfers: Array.from({ length: 8191 }, (_, index) => transfer(String(1000 + index))) }, undefined],
      ['__proto__ key', '{"transfers":[{"id":"30","debit_account_id":"1","credit_account_id":"2","amount":1,"ledger":840,"code":1,"__proto__":{"x":1}}]}', undefined],
    ];
    for (const [name, body] of bad) {
      const response = await call('POST', '/v1/ledger/transfers', body);
      expect(response.status, name).toBeGreaterThanOrEqual(400);
      expect(response.status, name).toBeLessThan(500);
      const error = response.body.error as { type: string; code: string; message: string };
      expect(error.type, name).toMatch(/_error$/);
      expect(typeof error.message, name).toBe('string');
    }
    const oversized = await call('POST', '/v1/ledger/transfers', `{"transfers":[${'"x",'.repeat(2_000_000)}"x"]}`);
    expect(oversized.status).toBe(413);
    expect((await call('GET', '/v1/ledger/transfers/30')).status).toBe(404);
    expect((await call('GET', '/v1/ledger/accounts/1')).body).toEqual(before);
  });

  it('refuses requests without the operator key', async () => {
    const response = await server.app.inject({ method: 'GET', url: '/v1/ledger/accounts/1' });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ error: { type: 'authentication_error' } });
  });

  it('answers unknown ids with 404 and bad ids and filters with 400', async () => {
    expect((await call('GET', '/v1/ledger/accounts/424242')).body).toMatchObject({ error: { type: 'not_found_error', code: 'resource_missing' } });
    expect((await call('GET', '/v1/ledger/accounts/abc')).status).toBe(400);
    expect((await call('GET', '/v1/ledger/accounts/1/transfers?limit=0')).status).toBe(400);
    expect((await call('GET', '/v1/ledger/accounts/1/transfers?limit=101')).status).toBe(400);
    expect((await call('GET', '/v1/ledger/accounts/1/transfers?debits=false&credits=false')).status).toBe(400);
    expect((await call('GET', '/v1/ledger/accounts/1/transfers?colour=red')).body).toMatchObject({ error: { param: 'colour' } });
  });
});
