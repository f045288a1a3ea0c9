// The SDK's ledger client: its binary encoding must agree with the ledger's own codec field for
// field, and every method must work against a real ledger API served over HTTP on 127.0.0.1, in
// both encodings, with the same answers.
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError as ServerApiError, createHttpServer, createLogger } from '@paygrid/kernel';
import {
  AccountFlags,
  LedgerService,
  TransferFlags,
  accountToWire,
  create_account_result_codes,
  create_transfer_result_codes,
  decodeTransferEvents,
  decodeAccountEvents,
  encodeAccounts,
  encodeResults,
  encodeTransfers,
  openLedgerStore,
  registerLedgerRoutes,
  transferToWire,
  type Account,
  type Transfer,
} from '@paygrid/ledger';
import { Paygrid } from './client';
import { ApiError, InvalidRequestError } from './errors';
import type { LedgerAccountFlag, LedgerTransferCreateParams, LedgerTransferFlag } from './ledger-types';
import {
  decodeLedgerAccountResults,
  decodeLedgerAccounts,
  decodeLedgerTransferResults,
  decodeLedgerTransfers,
  encodeLedgerAccounts,
  encodeLedgerTransfers,
  ledger_account_flags,
  ledger_create_account_result_codes,
  ledger_create_transfer_result_codes,
  ledger_transfer_flags,
} from './ledger-wire';
import { ledger_sdk_routes } from './routes';

const id_max = (1n << 128n) - 1n;
const amount_max = BigInt(Number.MAX_SAFE_INTEGER);
const u128 = fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 0xffff_ffffn }), fc.bigInt({ min: 0n, max: amount_max }), fc.bigInt({ min: 0n, max: id_max }));
const safe = fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: amount_max }));
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const transfer_flag_names = Object.keys(ledger_transfer_flags) as LedgerTransferFlag[];
const account_flag_names = Object.keys(ledger_account_flags) as LedgerAccountFlag[];

describe('the SDK’s ledger encoding', () => {
  it('uses the ledger’s own result codes and flag bits', () => {
    expect(ledger_create_account_result_codes).toEqual(create_account_result_codes);
    expect(ledger_create_transfer_result_codes).toEqual(create_transfer_result_codes);
    expect(ledger_account_flags).toEqual(AccountFlags);
    expect(ledger_transfer_flags).toEqual(TransferFlags);
  });

  it('writes transfers the ledger reads back exactly', () => {
    const params: fc.Arbitrary<LedgerTransferCreateParams> = fc.record({
      id: fc.oneof(u128, u128.map(String)),
      debit_account_id: u128,
      credit_account_id: u128.map(String),
      amount: fc.oneof(safe, safe.map(Number)),
      pending_id: u128,
      user_data_128: u128,
      user_data_64: safe,
      user_data_32: u32,
      timeout: u32,
      ledger: u32,
      code: u16,
      flags: fc.subarray(transfer_flag_names),
    });
    fc.assert(
      fc.property(fc.array(params, { minLength: 1, maxLength: 30 }), (transfers) => {
        const decoded = decodeTransferEvents(Buffer.from(encodeLedgerTransfers(transfers)));
        expect(decoded).toEqual(
          transfers.map((transfer) => ({
            id: BigInt(transfer.id),
            debit_account_id: BigInt(transfer.debit_account_id ?? 0n),
            credit_account_id: BigInt(transfer.credit_account_id ?? 0n),
            amount: BigInt(transfer.amount ?? 0n),
            pending_id: BigInt(transfer.pending_id ?? 0n),
            user_data_128: BigInt(transfer.user_data_128 ?? 0n),
            user_data_64: BigInt(transfer.user_data_64 ?? 0n),
            user_data_32: transfer.user_data_32,
            timeout: transfer.timeout,
            ledger: transfer.ledger,
            code: transfer.code,
            flags: (transfer.flags ?? []).reduce((bits, name) => bits | TransferFlags[name], 0),
            timestamp: 0n,
          })),
        );
      }),
      { numRuns: 200 },
    );
  });

  it('writes accounts the ledger reads back exactly', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ id: u128, ledger: u32, code: u16, flags: fc.subarray(account_flag_names), user_data_128: u128, user_data_64: safe, user_data_32: u32 }), { minLength: 1, maxLength: 30 }),
        (accounts) => {
          const decoded = decodeAccountEvents(Buffer.from(encodeLedgerAccounts(accounts)));
          expect(decoded.map(({ id, ledger, code, flags, user_data_128, user_data_64, user_data_32 }) => ({ id, ledger, code, flags, user_data_128, user_data_64, user_data_32 }))).toEqual(
            accounts.map((account) => ({ ...account, flags: account.flags.reduce((bits, name) => bits | AccountFlags[name], 0) })),
          );
          expect(decoded.every((account) => account.debits_pending === 0n && account.credits_posted === 0n && account.timestamp === 0n)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('reads the ledger’s lookup records and results as the JSON API would answer', () => {
    const known_account_flags = Object.values(AccountFlags).reduce((all, bit) => all | bit, 0);
    const known_transfer_flags = Object.values(TransferFlags).reduce((all, bit) => all | bit, 0);
    const account: fc.Arbitrary<Account> = fc.record({
      id: u128,
      ledger: u32,
      code: u16,
      flags: u16.map((bits) => bits & known_account_flags),
      user_data_128: u128,
      user_data_64: safe,
      user_data_32: u32,
      debits_pending: safe,
      debits_posted: safe,
      credits_pending: safe,
      credits_posted: safe,
      timestamp: fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
    });
    const transfer: fc.Arbitrary<Transfer> = fc.record({
      id: u128,
      debit_account_id: u128,
      credit_account_id: u128,
      amount: safe,
      pending_id: u128,
      user_data_128: u128,
      user_data_64: safe,
      user_data_32: u32,
      timeout: u32,
      ledger: u32,
      code: u16,
      flags: u16.map((bits) => bits & known_transfer_flags),
      timestamp: fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
    });
    fc.assert(
      fc.property(fc.array(account, { maxLength: 20 }), fc.array(transfer, { maxLength: 20 }), (accounts, transfers) => {
        expect(decodeLedgerAccounts(encodeAccounts(accounts))).toEqual(accounts.map(accountToWire));
        expect(decodeLedgerTransfers(encodeTransfers(transfers))).toEqual(transfers.map((each) => transferToWire(each)));
      }),
      { numRuns: 200 },
    );
    const transfer_results = Object.keys(create_transfer_result_codes).map((result, index) => ({ index, id: BigInt(index) << 70n, result: result as keyof typeof create_transfer_result_codes }));
    expect(decodeLedgerTransferResults(encodeResults(transfer_results, create_transfer_result_codes))).toEqual(transfer_results.map((each) => ({ ...each, id: each.id.toString() })));
    const account_results = Object.keys(create_account_result_codes).map((result, index) => ({ index, id: BigInt(index), result: result as keyof typeof create_account_result_codes }));
    expect(decodeLedgerAccountResults(encodeResults(account_results, create_account_result_codes))).toEqual(account_results.map((each) => ({ ...each, id: each.id.toString() })));
  });

  it('refuses what a record cannot hold before sending anything', () => {
    expect(() => encodeLedgerTransfers([])).toThrow(RangeError);
    expect(() => encodeLedgerTransfers(Array.from({ length: 8191 }, (_, index) => ({ id: BigInt(index + 1) })))).toThrow(RangeError);
    expect(() => encodeLedgerTransfers([{ id: id_max + 1n }])).toThrow(RangeError);
    expect(() => encodeLedgerTransfers([{ id: '01' }])).toThrow(RangeError);
    expect(() => encodeLedgerTransfers([{ id: 1n, amount: 1.5 }])).toThrow(RangeError);
    expect(() => encodeLedgerTransfers([{ id: 1n, amount: -1n }])).toThrow(RangeError);
    expect(() => encodeLedgerTransfers([{ id: 1n, code: 0x1_0000 }])).toThrow(RangeError);
    expect(() => encodeLedgerTransfers([{ id: 1n, flags: ['sideways' as LedgerTransferFlag] }])).toThrow(TypeError);
    expect(() => encodeLedgerAccounts([{ id: 1n, ledger: -1, code: 1 }])).toThrow(RangeError);
    expect(() => decodeLedgerTransferResults(new Uint8Array(31))).toThrow(RangeError);
    const unknown = new Uint8Array(32);
    new DataView(unknown.buffer).setUint32(20, 9999, true);
    expect(() => decodeLedgerTransferResults(unknown)).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------------------------
// Against a real ledger API: LedgerService on SQLite behind the kernel's HTTP server with the
// ledger's routes, as `paygrid start` serves them, on 127.0.0.1.

const operator_key = 'op_sdk_ledger_test_key_abcdefghijklmnopqrstuvwxyz';
const folder = mkdtempSync(join(tmpdir(), 'sdk-ledger-'));
let ledger: LedgerService;
let server: ReturnType<typeof createHttpServer>;
let paygrid: Paygrid;
let base_url: string;

beforeAll(async () => {
  ledger = await LedgerService.open(await openLedgerStore({ kind: 'sqlite', file: join(folder, 'ledger.sqlite') }, { migrate: true }), { batch_wait_ms: 0 });
  server = createHttpServer({ logger: createLogger({ level: 'silent', name: 'test' }) });
  registerLedgerRoutes(server.app, {
    ledger,
    authenticate: (request) => {
      if (request.headers.authorization !== `Bearer ${operator_key}`) throw new ServerApiError('authentication_error', 'api_key_invalid', 'Invalid API key provided');
    },
  });
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  base_url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
  paygrid = new Paygrid({ api_key: operator_key, base_url, max_retries: 0 });
});

afterAll(async () => {
  await server.app.close();
  await ledger.close();
  rmSync(folder, { recursive: true, force: true });
});

describe('paygrid.ledger against a running ledger API', () => {
  it('creates accounts and transfers in binary with the answers JSON gives', async () => {
    const accounts = (base: bigint) => [
      { id: base + 1n, ledger: 840, code: 1 },
      { id: base + 2n, ledger: 840, code: 1, flags: ['debits_must_not_exceed_credits'] as LedgerAccountFlag[], user_data_128: (1n << 100n) + 7n },
      { id: base + 1n, ledger: 840, code: 2 },
      { id: 0n, ledger: 840, code: 1 },
    ];
    const transfers = (base: bigint): LedgerTransferCreateParams[] => [
      { id: base + 10n, debit_account_id: base + 1n, credit_account_id: base + 2n, amount: 500, ledger: 840, code: 1 },
      { id: base + 11n, debit_account_id: base + 2n, credit_account_id: base + 1n, amount: 501n, ledger: 840, code: 1 },
      { id: base + 12n, debit_account_id: base + 1n, credit_account_id: base + 2n, amount: 50, ledger: 840, code: 1, flags: ['pending'], timeout: 3600 },
      { id: base + 13n, pending_id: base + 12n, amount: 20, flags: ['post_pending_transfer'] },
      { id: (base + 10n).toString(), debit_account_id: base + 1n, credit_account_id: base + 2n, amount: 499, ledger: 840, code: 1 },
      { id: base + 14n, debit_account_id: base + 1n, credit_account_id: base + 99n, amount: 1, ledger: 840, code: 1, flags: ['linked'] },
      { id: base + 15n, debit_account_id: base + 1n, credit_account_id: base + 2n, amount: 1, ledger: 840, code: 1 },
    ];
    const relabel = (results: { index: number; id: string; result: string }[], base: bigint) =>
      results.map(({ index, id, result }) => ({ index, id: id === '0' ? id : String(BigInt(id) - base), result }));

    const json_base = 1_000n;
    const binary_base = 2_000n;
    const json_accounts = await paygrid.ledger.createAccounts(accounts(json_base));
    const binary_accounts = await paygrid.ledger.createAccounts(accounts(binary_base), { encoding: 'binary' });
    expect(json_accounts.map(({ result }) => result)).toEqual(['ok', 'ok', 'exists_with_different_code', 'id_must_not_be_zero']);
    expect(relabel(binary_accounts, binary_base)).toEqual(relabel(json_accounts, json_base));

    const json_transfers = await paygrid.ledger.createTransfers(transfers(json_base));
    const binary_transfers = await paygrid.ledger.createTransfers(transfers(binary_base), { encoding: 'binary' });
    expect(json_transfers.map(({ result }) => result)).toEqual([
      'ok',
      'exceeds_credits',
      'ok',
      'ok',
      'exists_with_different_amount',
      'credit_account_not_found',
      'linked_event_failed',
    ]);
    expect(relabel(binary_transfers, binary_base)).toEqual(relabel(json_transfers, json_base));

    // Lookups: binary and JSON answer the same records, but for a pending transfer's status.
    const ids = [binary_base + 1n, binary_base + 2n, binary_base + 3n];
    const binary_found = await paygrid.ledger.lookupAccounts(ids, { encoding: 'binary' });
    expect(binary_found).toEqual(await paygrid.ledger.lookupAccounts(ids));
    expect(binary_found.map((account) => [account.id, account.debits_posted, account.debits_pending, account.credits_posted])).toEqual([
      [String(binary_base + 1n), 520, 0, 0],
      [String(binary_base + 2n), 0, 0, 520],
    ]);
    expect(binary_found[1]?.user_data_128).toBe(String((1n << 100n) + 7n));
    const transfer_ids = [binary_base + 10n, binary_base + 12n, binary_base + 13n, binary_base + 14n];
    const binary_transfers_found = await paygrid.ledger.lookupTransfers(transfer_ids, { encoding: 'binary' });
    const json_transfers_found = await paygrid.ledger.lookupTransfers(transfer_ids);
    expect(json_transfers_found[1]?.pending_status).toBe('posted');
    expect(binary_transfers_found).toEqual(json_transfers_found.map(({ pending_status: _status, ...rest }) => rest));
    expect(await paygrid.ledger.retrieveAccount(binary_base + 2n)).toEqual(binary_found[1]);
    expect((await paygrid.ledger.retrieveTransfer(binary_base + 12n)).pending_status).toBe('posted');
  });

  it('takes a full batch of 8,190 transfers in binary', async () => {
    await paygrid.ledger.createAccounts([{ id: 5_001n, ledger: 1, code: 1 }, { id: 5_002n, ledger: 1, code: 1 }], { encoding: 'binary' });
    const transfers = Array.from({ length: 8190 }, (_, index) => ({ id: 6_000_000n + BigInt(index), debit_account_id: 5_001n, credit_account_id: 5_002n, amount: 1, ledger: 1, code: 1 }));
    const results = await paygrid.ledger.createTransfers(transfers, { encoding: 'binary' });
    expect(results).toHaveLength(8190);
    expect(results.every(({ result }) => result === 'ok')).toBe(true);
    const [debited, credited] = await paygrid.ledger.lookupAccounts([5_001n, 5_002n], { encoding: 'binary' });
    expect(debited?.debits_posted).toBe(8190);
    expect(credited?.credits_posted).toBe(8190);
  });

  it('reports the ledger’s 400 for a value past its limits, in either encoding', async () => {
    const transfer = { id: 7_000n, debit_account_id: 5_001n, credit_account_id: 5_002n, amount: amount_max + 1n, ledger: 1, code: 1 };
    for (const encoding of ['json', 'binary'] as const) {
      const error = await paygrid.ledger.createTransfers([transfer], { encoding }).catch((caught: unknown) => caught);
      expect(error, encoding).toBeInstanceOf(InvalidRequestError);
      expect((error as InvalidRequestError).status, encoding).toBe(400);
    }
    const binary_error = (await paygrid.ledger.createTransfers([transfer], { encoding: 'binary' }).catch((caught: unknown) => caught)) as InvalidRequestError;
    expect(binary_error.param).toBe('transfers[0].amount');
    expect(await paygrid.ledger.lookupTransfers([7_000n])).toEqual([]);
  });

  it('refuses a binary answer that is not binary', async () => {
    const fake: typeof fetch = () => Promise.resolve(new Response('{"results":[]}', { status: 200, headers: { 'content-type': 'application/json' } }));
    const client = new Paygrid({ api_key: operator_key, base_url, fetch: fake });
    const error = await client.ledger.createTransfers([{ id: 1n }], { encoding: 'binary' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe('invalid_response_body');
  });
});

describe('ledger_sdk_routes', () => {
  it('is exactly the set of requests paygrid.ledger makes', async () => {
    const sent: string[] = [];
    const recordingFetch: typeof fetch = (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      sent.push(`${init?.method ?? 'GET'} ${url.pathname}`);
      const binary = (init?.headers as Record<string, string> | undefined)?.['content-type']?.includes('binary') === true;
      return Promise.resolve(
        binary
          ? new Response(new Uint8Array(0), { status: 200, headers: { 'content-type': 'application/vnd.paygrid.ledger.v1+binary' } })
          : new Response('{"results":[],"data":[]}', { status: 200, headers: { 'content-type': 'application/json' } }),
      );
    };
    const client = new Paygrid({ api_key: operator_key, fetch: recordingFetch });
    await client.ledger.createAccounts([{ id: 1n, ledger: 1, code: 1 }]);
    await client.ledger.createTransfers([{ id: 1n }], { encoding: 'binary' });
    await client.ledger.lookupAccounts([1n], { encoding: 'binary' });
    await client.ledger.lookupTransfers(['1']);
    await client.ledger.retrieveAccount(1n);
    await client.ledger.retrieveTransfer('1');
    expect(new Set(sent)).toEqual(new Set(ledger_sdk_routes.map((entry) => `${entry.method} ${entry.path.replace('{id}', '1')}`)));
  });
});
