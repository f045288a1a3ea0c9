import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, createHttpServer, createLogger } from '@paygrid/kernel';
import { ledger_body_limit_bytes, registerLedgerRoutes } from './api';
import {
  account_record_bytes,
  decodeAccountEvents,
  decodeResults,
  decodeTransferEvents,
  encodeAccounts,
  encodeIds,
  encodeTransfers,
  ledger_binary_media_type,
  result_record_bytes,
} from './binary-wire';
import { openLedgerStore } from './open';
import { create_account_result_by_code, create_transfer_result_by_code } from './result-codes';
import { LedgerService } from './service';
import { openingBatch, operation, type Operation } from './testing/generators';
import {
  AccountFlags,
  TransferFlags,
  account_flags_known,
  amount_max,
  batch_events_max,
  emptyAccountEvent,
  emptyTransferEvent,
  transfer_flags_known,
  type AccountEvent,
  type TransferEvent,
} from './types';

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
  it('takes a full batch of 8,190 transfers with every field as JSON, past the key limit of public bodies', async () => {
    const every_field = (index: number) =>
      transfer(String(20_000_000 + index), { pending_id: '0', user_data_128: '7', user_data_64: 7, user_data_32: 7, timeout: 0, flags: [], timestamp: '0' });
    const transfers = Array.from({ length: batch_events_max }, (_, index) => every_field(index));
    expect(Object.keys(every_field(0))).toHaveLength(13);
    const response = await call('POST', '/v1/ledger/transfers', { transfers });
    expect(response.status).toBe(200);
    expect((response.body.results as unknown[]).length).toBe(batch_events_max);
  });

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

    // Transfers of any account, by their own fields (TigerBeetle's query_transfers).
    const all = await call('GET', '/v1/ledger/transfers?limit=100');
    const ids = (all.body.data as { id: string }[]).map((row) => row.id);
    expect(ids.slice(0, 3)).toEqual(['10', '11', '13']);
    const newest_any = await call('GET', '/v1/ledger/transfers?reversed=true&limit=1&ledger=840');
    expect(newest_any.body).toMatchObject({ object: 'list', has_more: true, data: [{ id: ids.at(-1) }] });
    expect((await call('GET', '/v1/ledger/transfers?ledger=4294967296')).status).toBe(400);
    expect((await call('GET', '/v1/ledger/transfers?debits=true')).body).toMatchObject({ error: { code: 'parameter_unknown', param: 'debits' } });
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

// ---------------------------------------------------------------------------------------------
// The binary encoding: the same requests as JSON to one ledger and as binary to another must get
// the same answers, and malformed binary bodies must be refused whole.

interface TestLedger {
  readonly ledger: LedgerService;
  readonly server: ReturnType<typeof createHttpServer>;
}

const binary_folder = mkdtempSync(join(tmpdir(), 'ledger-api-binary-'));
let json_side: TestLedger;
let binary_side: TestLedger;

async function openTestLedger(name: string): Promise<TestLedger> {
  const opened = await LedgerService.open(await openLedgerStore({ kind: 'sqlite', file: join(binary_folder, `${name}.sqlite`) }, { migrate: true }), { batch_wait_ms: 0 });
  const opened_server = createHttpServer({ logger: createLogger({ level: 'silent', name: 'test' }) });
  registerLedgerRoutes(opened_server.app, {
    ledger: opened,
    authenticate: (request) => {
      if (request.headers.authorization !== `Bearer ${key}`) throw new ApiError('authentication_error', 'api_key_invalid', 'Invalid API key provided');
    },
  });
  // A route outside the ledger's scope: it must keep refusing anything but JSON.
  opened_server.app.post('/v1/echo', (request) => ({ received: request.body ?? null }));
  await opened_server.app.ready();
  return { ledger: opened, server: opened_server };
}

async function postJson(side: TestLedger, url: string, body: unknown) {
  const response = await side.server.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
}

async function postBinary(side: TestLedger, url: string, payload: Buffer, content_type: string = ledger_binary_media_type) {
  const response = await side.server.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${key}`, 'content-type': content_type }, payload });
  return { status: response.statusCode, content_type: response.headers['content-type'], bytes: response.rawPayload };
}

function flagNames(bits: number, table: Readonly<Record<string, number>>): string[] {
  return Object.entries(table)
    .filter(([, bit]) => (bits & bit) !== 0)
    .map(([name]) => name);
}

function accountJson(event: AccountEvent): Record<string, unknown> {
  return {
    id: event.id.toString(),
    ledger: event.ledger,
    code: event.code,
    flags: flagNames(event.flags, AccountFlags),
    user_data_128: event.user_data_128.toString(),
    user_data_64: Number(event.user_data_64),
    user_data_32: event.user_data_32,
    debits_pending: Number(event.debits_pending),
    debits_posted: Number(event.debits_posted),
    credits_pending: Number(event.credits_pending),
    credits_posted: Number(event.credits_posted),
    timestamp: event.timestamp.toString(),
  };
}

function transferJson(event: TransferEvent): Record<string, unknown> {
  return {
    id: event.id.toString(),
    debit_account_id: event.debit_account_id.toString(),
    credit_account_id: event.credit_account_id.toString(),
    amount: Number(event.amount),
    pending_id: event.pending_id.toString(),
    user_data_128: event.user_data_128.toString(),
    user_data_64: Number(event.user_data_64),
    user_data_32: event.user_data_32,
    timeout: event.timeout,
    ledger: event.ledger,
    code: event.code,
    flags: flagNames(event.flags, TransferFlags),
    timestamp: event.timestamp.toString(),
  };
}

/**
 * JSON can only name known flags, and a pending transfer's expiry depends on when each ledger
 * happens to run it; everything else about an event stays as generated.
 */
function comparable(operation: Operation): Operation {
  if (operation.kind === 'accounts') return { kind: 'accounts', events: operation.events.map((event) => ({ ...event, flags: event.flags & account_flags_known })) };
  return {
    kind: 'transfers',
    events: operation.events.map((event) => ({
      ...event,
      flags: event.flags & transfer_flags_known,
      timeout: event.timeout === 0 || event.timeout === 0xffff_ffff ? event.timeout : event.timeout + 3600,
    })),
  };
}

/** Posts one operation as JSON to one ledger and as binary to the other; both answers, as JSON results. */
async function postBoth(operation: Operation): Promise<{ json: unknown; binary: unknown }> {
  const [json, binary] =
    operation.kind === 'accounts'
      ? [
          await postJson(json_side, '/v1/ledger/accounts', { accounts: operation.events.map(accountJson) }),
          await postBinary(binary_side, '/v1/ledger/accounts', encodeAccounts(operation.events)),
        ]
      : [
          await postJson(json_side, '/v1/ledger/transfers', { transfers: operation.events.map(transferJson) }),
          await postBinary(binary_side, '/v1/ledger/transfers', encodeTransfers(operation.events)),
        ];
  expect(json.status).toBe(200);
  expect(binary.status).toBe(200);
  expect(binary.content_type).toBe(ledger_binary_media_type);
  const by_code = operation.kind === 'accounts' ? create_account_result_by_code : create_transfer_result_by_code;
  return {
    json: json.body.results,
    binary: decodeResults(binary.bytes, by_code).map(({ index, id, result }) => ({ index, id: id.toString(), result })),
  };
}

const account_ids = Array.from({ length: 8 }, (_, index) => BigInt(index + 1));
const transfer_ids = Array.from({ length: 48 }, (_, index) => BigInt(index + 1001));

/** Every account and transfer of the generated id spaces, as binary lookups on one side and JSON on the other. */
async function bothStates() {
  const json_accounts = (await postJson(json_side, '/v1/ledger/accounts/lookup', { ids: account_ids.map(String) })).body.data as Record<string, unknown>[];
  const json_transfers = (await postJson(json_side, '/v1/ledger/transfers/lookup', { ids: transfer_ids.map(String) })).body.data as Record<string, unknown>[];
  const binary_accounts = await postBinary(binary_side, '/v1/ledger/accounts/lookup', encodeIds(account_ids));
  const binary_transfers = await postBinary(binary_side, '/v1/ledger/transfers/lookup', encodeIds(transfer_ids));
  expect(binary_accounts.content_type).toBe(ledger_binary_media_type);
  // Timestamps differ between two ledgers; pending status is not in the 128-byte layout.
  const strip = ({ timestamp: _timestamp, object: _object, pending_status: _status, ...rest }: Record<string, unknown>) => rest;
  return {
    json: { accounts: json_accounts.map(strip), transfers: json_transfers.map(strip) },
    binary: {
      accounts: decodeAccountEvents(binary_accounts.bytes).map(accountJson).map(strip),
      transfers: binary_transfers.bytes.length === 0 ? [] : decodeTransferEvents(binary_transfers.bytes).map(transferJson).map(strip),
    },
  };
}

describe('ledger HTTP API, binary encoding', () => {
  beforeAll(async () => {
    json_side = await openTestLedger('json');
    binary_side = await openTestLedger('binary');
  });

  afterAll(async () => {
    for (const side of [json_side, binary_side]) {
      await side.server.app.close();
      await side.ledger.close();
    }
    rmSync(binary_folder, { recursive: true, force: true });
  });

  it('answers every batch exactly as JSON does, and both ledgers end in the same state', async () => {
    const [opening] = fc.sample(openingBatch, { numRuns: 1, seed: 11 });
    for (const operation of opening?.operations ?? []) {
      const answers = await postBoth(comparable(operation));
      expect(answers.binary).toEqual(answers.json);
    }
    let compared_results = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 3 }), async (operations) => {
        for (const each of operations) {
          const answers = await postBoth(comparable(each));
          expect(answers.binary).toEqual(answers.json);
          compared_results += (answers.json as unknown[]).length;
        }
      }),
      { numRuns: 40, seed: 20_260_611 },
    );
    expect(compared_results).toBeGreaterThan(100);
    const states = await bothStates();
    expect(states.json.accounts.length).toBeGreaterThan(0);
    expect(states.json.transfers.length).toBeGreaterThan(0);
    expect(states.binary).toEqual(states.json);
  });

  it('takes a full batch of 8,190 events in binary', async () => {
    const accounts = Array.from({ length: batch_events_max }, (_, index) => emptyAccountEvent({ id: 10_000_000n + BigInt(index), ledger: 9, code: 1 }));
    const response = await postBinary(binary_side, '/v1/ledger/accounts', encodeAccounts(accounts));
    expect(response.status).toBe(200);
    expect(response.bytes.length).toBe(batch_events_max * result_record_bytes);
    const results = decodeResults(response.bytes, create_account_result_by_code);
    expect(results.every(({ result }, index) => result === 'ok' && results[index]?.index === index)).toBe(true);
    expect(results[batch_events_max - 1]?.id).toBe(10_000_000n + BigInt(batch_events_max - 1));
  });

  it('looks up accounts and transfers in binary as JSON does, on one ledger', async () => {
    const ids = [...account_ids, 424_242n];
    const json = (await postJson(binary_side, '/v1/ledger/accounts/lookup', { ids: ids.map(String) })).body.data as Record<string, unknown>[];
    const binary = await postBinary(binary_side, '/v1/ledger/accounts/lookup', encodeIds(ids));
    expect(binary.bytes.length).toBe(json.length * account_record_bytes);
    expect(decodeAccountEvents(binary.bytes).map((account) => ({ object: 'ledger_account', ...accountJson(account) }))).toEqual(json);
    const found = (await postJson(binary_side, '/v1/ledger/transfers/lookup', { ids: transfer_ids.map(String) })).body.data as Record<string, unknown>[];
    const transfers = await postBinary(binary_side, '/v1/ledger/transfers/lookup', encodeIds(transfer_ids));
    const strip = ({ pending_status: _status, ...rest }: Record<string, unknown>) => rest;
    expect(decodeTransferEvents(transfers.bytes).map((transfer) => ({ object: 'ledger_transfer', ...transferJson(transfer) }))).toEqual(found.map(strip));
  });

  it('refuses malformed binary bodies with a 400 in the one error shape, and writes nothing', async () => {
    const fresh_account = 20_000_000n;
    const fresh_transfer = 20_000_001n;
    const good_account = encodeAccounts([emptyAccountEvent({ id: fresh_account, ledger: 1, code: 1 })]);
    const good_transfer = encodeTransfers([emptyTransferEvent({ id: fresh_transfer, debit_account_id: 1n, credit_account_id: 2n, amount: 1n, ledger: 1, code: 1 })]);
    const edited = (good: Buffer, edit: (record: Buffer) => void): Buffer => {
      const bad = Buffer.from(good);
      edit(bad);
      // A valid event first: the bad one after it must take it down too.
      return Buffer.concat([good, bad]);
    };
    const before = await bothStates();
    const cases: [string, string, Buffer, string][] = [
      ['empty body', '/v1/ledger/transfers', Buffer.alloc(0), 'binary_body_invalid'],
      ['length not a multiple of 128', '/v1/ledger/transfers', Buffer.concat([good_transfer, Buffer.alloc(5)]), 'binary_body_invalid'],
      ['8,191 events', '/v1/ledger/transfers', Buffer.concat(Array.from({ length: batch_events_max + 1 }, () => good_transfer)), 'binary_body_invalid'],
      ['amount past 2^53 - 1', '/v1/ledger/transfers', edited(good_transfer, (record) => record.writeBigUInt64LE(amount_max + 1n, 48)), 'parameter_invalid'],
      ['amount in the high 64 bits', '/v1/ledger/transfers', edited(good_transfer, (record) => record.writeUInt8(1, 64 - 1)), 'parameter_invalid'],
      ['user_data_64 past 2^53 - 1', '/v1/ledger/transfers', edited(good_transfer, (record) => record.writeBigUInt64LE(1n << 60n, 96)), 'parameter_invalid'],
      ['timestamp past 2^63 - 1', '/v1/ledger/transfers', edited(good_transfer, (record) => record.writeBigUInt64LE(1n << 63n, 120)), 'parameter_invalid'],
      ['account reserved not zero', '/v1/ledger/accounts', edited(good_account, (record) => record.writeUInt32LE(7, 108)), 'parameter_invalid'],
      ['account balance past 2^53 - 1', '/v1/ledger/accounts', edited(good_account, (record) => record.writeBigUInt64LE(amount_max + 1n, 64)), 'parameter_invalid'],
      ['account length not a multiple of 128', '/v1/ledger/accounts', good_account.subarray(0, 100), 'binary_body_invalid'],
      ['lookup ids not a multiple of 16', '/v1/ledger/accounts/lookup', Buffer.alloc(20), 'binary_body_invalid'],
      ['lookup of no ids', '/v1/ledger/transfers/lookup', Buffer.alloc(0), 'binary_body_invalid'],
    ];
    for (const [name, url, payload, code] of cases) {
      const response = await postBinary(binary_side, url, payload);
      expect(response.status, name).toBe(400);
      const error = (JSON.parse(response.bytes.toString('utf8')) as { error: { type: string; code: string; message: string; param?: string } }).error;
      expect(error.type, name).toBe('invalid_request_error');
      expect(error.code, name).toBe(code);
      if (code === 'parameter_invalid') expect(error.param, name).toMatch(/^(transfers|accounts)\[1\]\./);
    }
    const oversized = await postBinary(binary_side, '/v1/ledger/transfers', Buffer.alloc(ledger_body_limit_bytes + 128));
    expect(oversized.status).toBe(413);
    expect((await postJson(binary_side, '/v1/ledger/accounts/lookup', { ids: [String(fresh_account)] })).body.data).toEqual([]);
    expect((await postJson(binary_side, '/v1/ledger/transfers/lookup', { ids: [String(fresh_transfer)] })).body.data).toEqual([]);
    expect(await bothStates()).toEqual(before);
  });

  it('keeps other media types out of the ledger, and the binary type out of every other route', async () => {
    const octet = await postBinary(binary_side, '/v1/ledger/transfers', Buffer.alloc(128), 'application/octet-stream');
    expect(octet.status).toBe(415);
    const elsewhere = await postBinary(binary_side, '/v1/echo', Buffer.alloc(128));
    expect(elsewhere.status).toBe(415);
    expect((JSON.parse(elsewhere.bytes.toString('utf8')) as { error: { type: string } }).error.type).toBe('unsupported_media_type_error');
    expect((await postJson(binary_side, '/v1/echo', { a: 1 })).body).toEqual({ received: { a: 1 } });
    // JSON keeps its own checks on the ledger routes, and a body is still required.
    const float = await binary_side.server.app.inject({
      method: 'POST',
      url: '/v1/ledger/transfers',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      payload: '{"transfers":[{"id":"30","amount":1.5}]}',
    });
    expect(float.statusCode).toBe(400);
    const missing = await binary_side.server.app.inject({ method: 'POST', url: '/v1/ledger/transfers', headers: { authorization: `Bearer ${key}` } });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
    const unauthenticated = await binary_side.server.app.inject({ method: 'POST', url: '/v1/ledger/transfers', headers: { 'content-type': ledger_binary_media_type }, payload: Buffer.alloc(128) });
    expect(unauthenticated.statusCode).toBe(401);
  });
});
