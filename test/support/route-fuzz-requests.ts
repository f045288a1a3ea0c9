// Requests for the routes the public OpenAPI document leaves out (test/api-fuzz.test.ts): the
// ledger's HTTP API, in JSON (from the ledger's own wire schemas) and in its binary records; the
// payment providers' notification routes; and the platform's own routes (probes, metrics, the
// document and docs page, key rotation, CORS preflights). Together with the document's operations
// they cover every route the server registers; the suite checks that against its route table.
import fc from 'fast-check';
import {
  account_layout,
  account_record_bytes,
  batch_events_max,
  code_max,
  create_accounts_body_schema,
  create_transfers_body_schema,
  id_max,
  id_record_bytes,
  ledger_binary_media_type,
  ledger_body_limit_bytes,
  ledger_max,
  list_limit_max,
  lookup_body_schema,
  timeout_max,
  transfer_layout,
  transfer_record_bytes,
  user_data_32_max,
} from '@paygrid/ledger';
import { dead_letter_params_schema, dead_letters_query_schema } from '../../apps/cli/src/bus';
import { rewrap_body_schema } from '../../apps/cli/src/keys';
import { hostileBodyText, oddString, requestArbitrary, routePath, toJsonText, type FuzzContext, type FuzzRequest, type JsonSchema, type KeyName, type Keys, type Operation } from './api-fuzz-requests';

// ---------------------------------------------------------------------------------------------
// The ledger's routes.

/** The ledger numbers the fuzz keeps its own accounts on: no service of the platform uses them. */
export const fuzz_ledgers = [7, 8] as const;

/** What the suite made in the ledger before the run, so that requests name things that exist. */
export interface LedgerFuzzContext {
  readonly account_ids: readonly bigint[];
  readonly transfer_ids: readonly bigint[];
}

const decimal_id: JsonSchema = { type: 'string', pattern: '^(0|[1-9][0-9]{0,38})$', maxLength: 39 };
const safe_integer: JsonSchema = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };

/** TigerBeetle's account filter, as `GET /v1/ledger/accounts/:id/transfers` and `/balances` read it from the query (docs/ledger.md). */
const account_filter_query: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: [],
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: list_limit_max },
    timestamp_min: safe_integer,
    timestamp_max: safe_integer,
    debits: { type: 'boolean' },
    credits: { type: 'boolean' },
    reversed: { type: 'boolean' },
    code: { type: 'integer', minimum: 0, maximum: code_max },
    user_data_128: decimal_id,
    user_data_64: safe_integer,
    user_data_32: { type: 'integer', minimum: 0, maximum: user_data_32_max },
  },
};

/** TigerBeetle's query filter (`GET /v1/ledger/transfers`): the account filter without the sides, with `ledger`. */
const query_filter_query: JsonSchema = {
  ...account_filter_query,
  properties: {
    ...Object.fromEntries(Object.entries(account_filter_query.properties ?? {}).filter(([name]) => name !== 'debits' && name !== 'credits')),
    ledger: { type: 'integer', minimum: 0, maximum: ledger_max },
  },
};

const no_query: JsonSchema = { type: 'object', additionalProperties: false, required: [], properties: {} };
const id_parameter = { in: 'path' as const, name: 'id', required: true, schema: decimal_id };

const boundary_ids = [0n, 1n, 2n ** 53n - 1n, 2n ** 64n - 1n, 2n ** 64n, id_max - 1n, id_max];

/** An id the ledger holds, a fresh one, or one at a boundary (0 and 2^128 - 1 are reserved). */
function ledgerId(ledger: LedgerFuzzContext): fc.Arbitrary<bigint> {
  const known = [...ledger.account_ids, ...ledger.transfer_ids];
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...known) },
    { weight: 3, arbitrary: fc.bigInt({ min: 1n, max: id_max - 1n }) },
    { weight: 1, arbitrary: fc.constantFrom(...boundary_ids) },
  );
}

/** Decimal ids as the JSON wire writes them, and ones past 2^128 - 1 that the schema's pattern lets through. */
function ledgerIdText(ledger: LedgerFuzzContext): fc.Arbitrary<string> {
  return fc.oneof({ weight: 9, arbitrary: ledgerId(ledger).map(String) }, { weight: 1, arbitrary: fc.constantFrom(String(id_max + 1n), '9'.repeat(39)) });
}

/**
 * Values for the ledger's fields by name: ids the ledger holds, its own ledgers, amounts small
 * enough to post and at the JSON limit, and timeouts that cannot expire during a run (an
 * expiry landing under a later request would look like a change it made).
 */
function ledgerNamedValues(ledger: LedgerFuzzContext): Record<string, fc.Arbitrary<unknown>> {
  const id = ledgerIdText(ledger);
  const balance = fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(1, Number.MAX_SAFE_INTEGER) });
  return {
    id,
    ids: id,
    debit_account_id: id,
    credit_account_id: id,
    pending_id: fc.oneof(id, fc.constant('0')),
    user_data_128: id,
    ledger: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...fuzz_ledgers) }, { weight: 1, arbitrary: fc.constantFrom(0, ledger_max) }),
    code: fc.constantFrom(1, 2, code_max, 0),
    amount: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 1_000 }) }, { weight: 1, arbitrary: fc.constantFrom(0, Number.MAX_SAFE_INTEGER) }),
    timeout: fc.constantFrom(0, 86_400, timeout_max),
    timestamp: fc.oneof({ weight: 9, arbitrary: fc.constant('0') }, { weight: 1, arbitrary: fc.constantFrom('1', '9223372036854775807', '9223372036854775808') }),
    debits_pending: balance,
    debits_posted: balance,
    credits_pending: balance,
    credits_posted: balance,
  };
}

/** The ledger's routes as operations of the public document's shape, with the ledger's own wire schemas. */
export function ledgerOperations(ledger: LedgerFuzzContext): Operation[] {
  const path_values = { id: ledgerIdText(ledger) };
  const operation = (method: Operation['method'], path: string, body: JsonSchema | undefined, query: JsonSchema = no_query): Operation => ({
    route: `${method} ${routePath(path)}`,
    method,
    path,
    path_parameters: path.includes('{id}') ? [id_parameter] : [],
    query,
    body,
    path_values,
  });
  return [
    operation('POST', '/v1/ledger/accounts', create_accounts_body_schema),
    operation('POST', '/v1/ledger/transfers', create_transfers_body_schema),
    operation('POST', '/v1/ledger/accounts/lookup', lookup_body_schema),
    operation('POST', '/v1/ledger/transfers/lookup', lookup_body_schema),
    operation('GET', '/v1/ledger/accounts/{id}', undefined),
    operation('GET', '/v1/ledger/transfers/{id}', undefined),
    operation('GET', '/v1/ledger/transfers', undefined, query_filter_query),
    operation('GET', '/v1/ledger/accounts/{id}/transfers', undefined, account_filter_query),
    operation('GET', '/v1/ledger/accounts/{id}/balances', undefined, account_filter_query),
  ];
}

/**
 * The ledger's JSON requests: conforming to its wire schemas, and the hostile variants every route
 * gets; to the batch routes, now and then, a batch at the limit of 8,190 events or one past it.
 */
export function ledgerJsonRequests(ledger: LedgerFuzzContext, context: FuzzContext, keys: Keys): fc.Arbitrary<FuzzRequest>[] {
  const ledger_context: FuzzContext = { ...context, named: ledgerNamedValues(ledger) };
  return ledgerOperations(ledger).map((operation) => {
    const requests = requestArbitrary(operation, ledger_context, keys, () => 'operator');
    const full = fullJsonBatch(operation, keys);
    return full === undefined ? requests : fc.oneof({ weight: 30, arbitrary: requests }, { weight: 1, arbitrary: full });
  });
}

/**
 * A JSON batch of 8,190 events (the most one request may hold) or 8,191. Their ids are the
 * reserved 0, so a full batch is answered 200 with a refusal per event and moves nothing: the
 * fuzz does not fill the ledger with thousands of accounts a request.
 */
function fullJsonBatch(operation: Operation, keys: Keys): fc.Arbitrary<FuzzRequest> | undefined {
  const [first_ledger] = fuzz_ledgers;
  const event_text: Readonly<Record<string, [string, string]>> = {
    'POST /v1/ledger/accounts': ['accounts', `{"id":"0","ledger":${first_ledger},"code":1}`],
    'POST /v1/ledger/transfers': ['transfers', `{"id":"0","debit_account_id":"7001","credit_account_id":"7002","amount":1,"ledger":${first_ledger},"code":1}`],
    'POST /v1/ledger/accounts/lookup': ['ids', '"0"'],
    'POST /v1/ledger/transfers/lookup': ['ids', '"0"'],
  };
  const event = event_text[operation.route];
  if (event === undefined) return undefined;
  const [field, text] = event;
  return fc.constantFrom(batch_events_max, batch_events_max + 1).map((count) => ({
    route: operation.route,
    variant: `${count} events as JSON`,
    method: operation.method,
    url: operation.path,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${keys.operator}` },
    payload: `{"${field}":[${Array.from({ length: count }, () => text).join(',')}]}`,
  }));
}

const low_64_mask = (1n << 64n) - 1n;

function writeU128(view: DataView, at: number, value: bigint): void {
  view.setBigUint64(at, value & low_64_mask, true);
  view.setBigUint64(at + 8, (value >> 64n) & low_64_mask, true);
}

/** A 128-bit field's value: small, at the JSON limit, past 2^64, or any bits at all. */
const u128Value: fc.Arbitrary<bigint> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(0n) },
  { weight: 3, arbitrary: fc.bigInt({ min: 1n, max: 1_000n }) },
  { weight: 2, arbitrary: fc.constantFrom(2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n, 2n ** 64n, id_max) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: id_max }) },
);
const u64Value: fc.Arbitrary<bigint> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(0n) },
  { weight: 1, arbitrary: fc.constantFrom(1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n, 2n ** 63n, low_64_mask) },
);
const u32Value = fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(1, 2 ** 31, 2 ** 32 - 1) });
const ledgerNumber = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...fuzz_ledgers) }, { weight: 1, arbitrary: fc.constantFrom(0, 2 ** 32 - 1) });
/** Flags: known ones mostly, and any of the 16 bits (unknown bits are answered `reserved_flag`). */
const flagBits = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 0x3f }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) });
const timestampValue = fc.oneof({ weight: 8, arbitrary: fc.constant(0n) }, { weight: 1, arbitrary: fc.constantFrom(1n, 2n ** 63n - 1n, 2n ** 63n, low_64_mask) });

/** Events must carry zero balances; a few carry more, or more than 2^53 - 1. */
const eventBalance = fc.oneof({ weight: 12, arbitrary: fc.constant(0n) }, { weight: 1, arbitrary: u128Value });

function accountRecord(ledger: LedgerFuzzContext): fc.Arbitrary<Buffer> {
  return fc
    .record({
      id: ledgerId(ledger),
      balances: fc.tuple(eventBalance, eventBalance, eventBalance, eventBalance),
      user_data_128: u128Value,
      user_data_64: u64Value,
      user_data_32: u32Value,
      reserved: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(1, 2 ** 32 - 1) }),
      ledger: ledgerNumber,
      code: fc.constantFrom(1, 2, 0, code_max),
      flags: flagBits,
      timestamp: timestampValue,
    })
    .map((account) => {
      const record = Buffer.alloc(account_record_bytes);
      const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
      writeU128(view, account_layout.id, account.id);
      const [debits_pending, debits_posted, credits_pending, credits_posted] = account.balances;
      writeU128(view, account_layout.debits_pending, debits_pending);
      writeU128(view, account_layout.debits_posted, debits_posted);
      writeU128(view, account_layout.credits_pending, credits_pending);
      writeU128(view, account_layout.credits_posted, credits_posted);
      writeU128(view, account_layout.user_data_128, account.user_data_128);
      view.setBigUint64(account_layout.user_data_64, account.user_data_64, true);
      view.setUint32(account_layout.user_data_32, account.user_data_32, true);
      view.setUint32(account_layout.reserved, account.reserved, true);
      view.setUint32(account_layout.ledger, account.ledger, true);
      view.setUint16(account_layout.code, account.code, true);
      view.setUint16(account_layout.flags, account.flags, true);
      view.setBigUint64(account_layout.timestamp, account.timestamp, true);
      return record;
    });
}

function transferRecord(ledger: LedgerFuzzContext): fc.Arbitrary<Buffer> {
  const id = ledgerId(ledger);
  return fc
    .record({
      id,
      debit_account_id: id,
      credit_account_id: id,
      amount: fc.oneof({ weight: 3, arbitrary: fc.bigInt({ min: 1n, max: 1_000n }) }, { weight: 1, arbitrary: u128Value }),
      pending_id: fc.oneof({ weight: 3, arbitrary: fc.constant(0n) }, { weight: 1, arbitrary: id }),
      user_data_128: u128Value,
      user_data_64: u64Value,
      user_data_32: u32Value,
      // Long enough never to expire during a run, or past what any clock could add.
      timeout: fc.constantFrom(0, 86_400, 2 ** 32 - 1),
      ledger: ledgerNumber,
      code: fc.constantFrom(1, 2, 0, code_max),
      flags: flagBits,
      timestamp: timestampValue,
    })
    .map((transfer) => {
      const record = Buffer.alloc(transfer_record_bytes);
      const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
      writeU128(view, transfer_layout.id, transfer.id);
      writeU128(view, transfer_layout.debit_account_id, transfer.debit_account_id);
      writeU128(view, transfer_layout.credit_account_id, transfer.credit_account_id);
      writeU128(view, transfer_layout.amount, transfer.amount);
      writeU128(view, transfer_layout.pending_id, transfer.pending_id);
      writeU128(view, transfer_layout.user_data_128, transfer.user_data_128);
      view.setBigUint64(transfer_layout.user_data_64, transfer.user_data_64, true);
      view.setUint32(transfer_layout.user_data_32, transfer.user_data_32, true);
      view.setUint32(transfer_layout.timeout, transfer.timeout, true);
      view.setUint32(transfer_layout.ledger, transfer.ledger, true);
      view.setUint16(transfer_layout.code, transfer.code, true);
      view.setUint16(transfer_layout.flags, transfer.flags, true);
      view.setBigUint64(transfer_layout.timestamp, transfer.timestamp, true);
      return record;
    });
}

function idRecord(ledger: LedgerFuzzContext): fc.Arbitrary<Buffer> {
  return ledgerId(ledger).map((id) => {
    const record = Buffer.alloc(id_record_bytes);
    writeU128(new DataView(record.buffer, record.byteOffset, record.byteLength), 0, id);
    return record;
  });
}

/** What is done to a body of whole records: nothing, or it is cut, padded, emptied, overfilled or replaced. */
function binaryBody(record: fc.Arbitrary<Buffer>, record_bytes: number): fc.Arbitrary<{ readonly body: Buffer; readonly variant: string }> {
  const records = fc.array(record, { minLength: 1, maxLength: 4 }).map((list) => Buffer.concat(list));
  return fc.oneof(
    { weight: 6, arbitrary: records.map((body) => ({ body, variant: 'binary records' })) },
    { weight: 1, arbitrary: fc.tuple(records, fc.integer({ min: 1, max: record_bytes - 1 })).map(([body, cut]) => ({ body: body.subarray(0, body.length - cut), variant: `binary records cut by ${cut} bytes` })) },
    { weight: 1, arbitrary: fc.tuple(records, fc.integer({ min: 1, max: record_bytes - 1 })).map(([body, extra]) => ({ body: Buffer.concat([body, Buffer.alloc(extra, 0xff)]), variant: `binary records and ${extra} more bytes` })) },
    { weight: 1, arbitrary: fc.constant({ body: Buffer.alloc(0), variant: 'binary empty' }) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 3 * record_bytes }).map((bytes) => ({ body: Buffer.from(bytes), variant: `binary random ${bytes.length} bytes` })) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(batch_events_max, batch_events_max + 1).map((count) => ({ body: Buffer.alloc(count * record_bytes), variant: `binary ${count} zeroed records` })),
    },
    { weight: 1, arbitrary: fc.constant({ body: Buffer.alloc(ledger_body_limit_bytes + record_bytes), variant: 'binary past the body limit' }) },
  );
}

/** The binary media type mostly; now and then one the route does not take for these bytes. */
const binaryContentType = fc.oneof(
  { weight: 6, arbitrary: fc.constant(ledger_binary_media_type) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(`${ledger_binary_media_type}; charset=binary`, ledger_binary_media_type.toUpperCase(), 'application/octet-stream', 'application/json', 'application/vnd.paygrid.ledger.v2+binary'),
  },
);

/** The batch and lookup routes with binary bodies (binary-wire.ts), whole and broken. */
export function ledgerBinaryRequests(ledger: LedgerFuzzContext, keys: Keys): fc.Arbitrary<FuzzRequest>[] {
  const routes: [string, fc.Arbitrary<Buffer>, number][] = [
    ['/v1/ledger/accounts', accountRecord(ledger), account_record_bytes],
    ['/v1/ledger/transfers', transferRecord(ledger), transfer_record_bytes],
    ['/v1/ledger/accounts/lookup', idRecord(ledger), id_record_bytes],
    ['/v1/ledger/transfers/lookup', idRecord(ledger), id_record_bytes],
  ];
  return routes.map(([path, record, record_bytes]) =>
    fc.tuple(binaryBody(record, record_bytes), binaryContentType, authorizationFor(keys, 'operator')).map(([{ body, variant }, content_type, authorization]) => ({
      route: `POST ${path}`,
      variant: `${variant} as ${content_type}${authorization.variant}`,
      method: 'POST',
      url: path,
      headers: { 'content-type': content_type, ...authorization.headers },
      payload: body,
    })),
  );
}

/** The key a route takes, mostly; sometimes none, a wrong one or another kind. */
function authorizationFor(keys: Keys, key: KeyName | undefined): fc.Arbitrary<{ readonly headers: Record<string, string>; readonly variant: string }> {
  const given: Record<string, string> = key === undefined ? {} : { authorization: `Bearer ${keys[key]}` };
  return fc.oneof(
    { weight: 8, arbitrary: fc.constant({ headers: given, variant: '' }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom<[string, Record<string, string>]>(
        ['no key', {}],
        ['secret key', { authorization: `Bearer ${keys.secret}` }],
        ['operator key', { authorization: `Bearer ${keys.operator}` }],
        ['operator key cut', { authorization: `Bearer ${keys.operator.slice(0, -1)}` }],
        ['odd scheme', { authorization: `Basic ${keys.operator}` }],
      ).map(([variant, headers]) => ({ headers, variant: `; ${variant}` })),
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Provider notifications.

export const notification_routes = ['POST /v1/notifications/alipay', 'POST /v1/notifications/wechat_pay'] as const;

/** Genuine, signed notifications the sandboxes sent in the suite's set-up, to be replayed and tampered with. */
export interface NotificationSamples {
  readonly alipay: readonly string[];
  readonly wechat_pay: readonly { readonly headers: Readonly<Record<string, string>>; readonly body: string }[];
  /** Payment attempt ids (the providers' out_trade_no), so forged notifications name real payments. */
  readonly attempt_ids: readonly string[];
}

function formText(params: readonly (readonly [string, string])[]): string {
  return params
    .map(([name, value]) => {
      try {
        return `${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
      } catch {
        // A lone surrogate has no UTF-8 form; a client would send junk.
        return `${name}=%ED%A0%80`;
      }
    })
    .join('&');
}

const notification_content_types = ['application/x-www-form-urlencoded; charset=utf-8', 'application/json', 'text/plain', 'multipart/form-data; boundary=x', 'application/octet-stream', ''];

function hostileString(): fc.Arbitrary<string> {
  return fc.oneof(oddString, fc.constantFrom('', '0', '-1', '1e309', '0.001', '100000001.00', '1.00', 'NaN', '9'.repeat(40), 'x'.repeat(5_000)));
}

function alipayRequests(samples: NotificationSamples): fc.Arbitrary<{ body: string; headers: Record<string, string>; variant: string }> {
  const out_trade_no = fc.oneof(samples.attempt_ids.length === 0 ? fc.constant('pa_x') : fc.constantFrom(...samples.attempt_ids), hostileString());
  const forged = fc
    .record({
      out_trade_no,
      trade_status: fc.constantFrom('TRADE_SUCCESS', 'TRADE_FINISHED', 'TRADE_CLOSED', 'WAIT_BUYER_PAY', ''),
      total_amount: fc.oneof(fc.constantFrom('1.00', '88.00', '0.01'), hostileString()),
      app_id: fc.oneof(fc.constant('2021000000000000'), hostileString()),
      sign_type: fc.constantFrom('RSA2', 'RSA', 'MD5', ''),
      sign: fc.oneof(fc.uint8Array({ minLength: 0, maxLength: 256 }).map((bytes) => Buffer.from(bytes).toString('base64')), hostileString()),
      gmt_payment: fc.option(fc.constantFrom('2026-01-01 00:00:00', ''), { nil: undefined }),
      repeated: fc.option(fc.constantFrom('out_trade_no', 'sign', 'trade_status'), { nil: undefined }),
    })
    .map(({ repeated, gmt_payment, ...params }) => {
      const entries: [string, string][] = Object.entries(params);
      if (gmt_payment !== undefined) entries.push(['gmt_payment', gmt_payment]);
      if (repeated !== undefined) entries.push([repeated, 'again']);
      return { body: formText(entries), variant: `forged alipay${repeated === undefined ? '' : `, ${repeated} twice`}` };
    });
  const arbitraries = [forged, hostileBodyText.map((body) => ({ body, variant: 'hostile text' }))];
  if (samples.alipay.length > 0) {
    const genuine = fc.constantFrom(...samples.alipay);
    arbitraries.push(
      genuine.map((body) => ({ body, variant: 'genuine alipay, replayed' })),
      fc.tuple(genuine, fc.nat(), hostileString()).map(([body, index, value]) => {
        const entries = [...new URLSearchParams(body)];
        const at = index % entries.length;
        entries[at] = [entries[at]?.[0] ?? 'x', value];
        return { body: formText(entries), variant: `genuine alipay, ${entries[at]?.[0] ?? ''} changed` };
      }),
    );
  }
  return fc.tuple(fc.oneof(...arbitraries), fc.constantFrom(...notification_content_types)).map(([request, content_type]) => {
    const headers: Record<string, string> = content_type === '' ? {} : { 'content-type': content_type };
    return { ...request, headers };
  });
}

function wechatRequests(samples: NotificationSamples): fc.Arbitrary<{ body: string; headers: Record<string, string>; variant: string }> {
  const base64 = fc.uint8Array({ minLength: 0, maxLength: 200 }).map((bytes) => Buffer.from(bytes).toString('base64'));
  const forged = fc
    .record({
      body: fc.record({
        id: fc.uuid(),
        event_type: fc.constantFrom('TRANSACTION.SUCCESS', 'REFUND.SUCCESS', ''),
        resource_type: fc.constant('encrypt-resource'),
        resource: fc.oneof(
          fc.record({ algorithm: fc.constantFrom('AEAD_AES_256_GCM', 'AES'), ciphertext: fc.oneof(base64, hostileString()), nonce: fc.oneof(fc.constant('abcdefghijkl'), hostileString()), associated_data: fc.constantFrom('transaction', '') }),
          fc.constantFrom(null, 'x', [], 1),
        ),
      }),
      timestamp: fc.oneof(fc.constant(String(Math.floor(Date.now() / 1000))), hostileString()),
      nonce: fc.oneof(fc.constant('n0nce'), hostileString()),
      signature: fc.oneof(base64, hostileString()),
      serial: fc.oneof(fc.constant('5157F09EFDC096DE15EBE81A47057A72'), hostileString()),
    })
    .map(({ body, timestamp, nonce, signature, serial }) => ({
      body: toJsonText(body),
      headers: asciiHeaders({ 'wechatpay-timestamp': timestamp, 'wechatpay-nonce': nonce, 'wechatpay-signature': signature, 'wechatpay-serial': serial }),
      variant: 'forged wechat_pay',
    }));
  const arbitraries = [forged, fc.tuple(hostileBodyText, forged).map(([body, { headers }]) => ({ body, headers, variant: 'hostile text' }))];
  if (samples.wechat_pay.length > 0) {
    const genuine = fc.constantFrom(...samples.wechat_pay);
    arbitraries.push(
      genuine.map(({ headers, body }) => ({ body, headers: { ...headers }, variant: 'genuine wechat_pay, replayed' })),
      fc.tuple(genuine, fc.constantFrom('wechatpay-timestamp', 'wechatpay-nonce', 'wechatpay-signature', 'wechatpay-serial', 'body'), hostileString()).map(([{ headers, body }, changed, value]) => ({
        body: changed === 'body' ? body.replace(/"ciphertext":"[^"]*"/, `"ciphertext":${JSON.stringify(value)}`) : body,
        headers: changed === 'body' ? { ...headers } : asciiHeaders({ ...headers, [changed]: value }),
        variant: `genuine wechat_pay, ${changed} changed`,
      })),
    );
  }
  return fc.tuple(fc.oneof(...arbitraries), fc.constantFrom(...notification_content_types)).map(([request, content_type]) => ({
    ...request,
    headers: { ...request.headers, ...(content_type === '' ? {} : { 'content-type': content_type }) },
  }));
}

/** Header values as a client can send them: characters outside Latin-1 and line breaks cannot be. */
function asciiHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, value.replace(/[^\t\x20-\x7e]/g, '?')]));
}

/** Forged, broken and replayed notifications for both providers, mostly without any key (providers send none). */
export function notificationRequests(samples: NotificationSamples, keys: Keys): fc.Arbitrary<FuzzRequest>[] {
  return (['alipay', 'wechat_pay'] as const).map((method) =>
    fc.tuple(method === 'alipay' ? alipayRequests(samples) : wechatRequests(samples), authorizationFor(keys, undefined)).map(([request, authorization]) => ({
      route: `POST /v1/notifications/${method}`,
      variant: `${request.variant}${authorization.variant}`,
      method: 'POST',
      url: `/v1/notifications/${method}`,
      headers: { ...request.headers, ...authorization.headers },
      payload: request.body,
    })),
  );
}

// ---------------------------------------------------------------------------------------------
// The platform's own routes.

const rewrap_body: JsonSchema = { type: 'object', additionalProperties: false, properties: rewrap_body_schema.properties };
const dead_letters_query: JsonSchema = { type: 'object', additionalProperties: false, required: [], properties: dead_letters_query_schema.properties };
const dead_letter_id_parameter = { in: 'path' as const, name: 'id', required: true, schema: dead_letter_params_schema.properties.id };
/** Dead letter ids of both adapters' shapes; the fuzz's platform has none, so a replay finds nothing. */
const dead_letter_ids = fc.oneof(fc.constantFrom('dl_1', 'dl_999', '1', '42'), fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/));

/** Probes, metrics, the document, the docs page and key rotation, as operations of the document's shape. */
export function platformOperations(): Operation[] {
  const operation = (method: Operation['method'], path: string, body?: JsonSchema): Operation => ({ route: `${method} ${path}`, method, path, path_parameters: [], query: no_query, body });
  return [
    operation('GET', '/healthz'),
    operation('GET', '/readyz'),
    operation('GET', '/metrics'),
    operation('GET', '/docs'),
    operation('GET', '/v1/openapi.json'),
    operation('GET', '/v1/keys'),
    // The key routes' scope answers its root with and without the trailing slash.
    operation('GET', '/v1/keys/'),
    operation('POST', '/v1/keys/rotate', rewrap_body),
    operation('POST', '/v1/keys/rewrap', rewrap_body),
    { ...operation('GET', '/v1/bus/dead-letters'), query: dead_letters_query },
    {
      route: `POST ${routePath('/v1/bus/dead-letters/{id}/replay')}`,
      method: 'POST',
      path: '/v1/bus/dead-letters/{id}/replay',
      path_parameters: [dead_letter_id_parameter],
      query: no_query,
      body: { type: 'object', additionalProperties: false, properties: {} },
      path_values: { id: dead_letter_ids },
    },
  ];
}

/** Methods no route takes, on the platform's paths: each is a 404 in the one error shape. */
const stray_methods = ['PUT', 'DELETE', 'PATCH', 'TRACE', 'PROPFIND', 'CONNECT'];

/** The platform's routes (their keys found by the suite's probe), a stray method now and then, and CORS preflights on any path. */
export function platformRequests(context: FuzzContext, keys: Keys, key_of: (operation: Operation) => KeyName): fc.Arbitrary<FuzzRequest>[] {
  const operations = platformOperations();
  const paths = [...operations.map((operation) => operation.path.replace(/\{\w+\}/g, 'x')), '/v1/payment_intents', '/v1/tokens', '/v1/ledger/accounts', '/v1/notifications/alipay', '/nowhere'];
  const preflight = fc
    .record({
      path: fc.constantFrom(...paths),
      origin: fc.constantFrom('https://shop.example', 'null', 'http://127.0.0.1:5173', '', 'x'.repeat(2_000)),
      method: fc.constantFrom('POST', 'GET', 'DELETE', 'FOO', ''),
      headers: fc.constantFrom('authorization, content-type', 'idempotency-key', '', '*'),
    })
    .map(({ path, origin, method, headers }) => ({
      route: 'OPTIONS *',
      variant: `preflight from ${JSON.stringify(origin.slice(0, 40))} for ${method}`,
      method: 'OPTIONS',
      url: path,
      headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
      payload: undefined,
    }));
  const stray = fc.tuple(fc.constantFrom(...stray_methods), fc.constantFrom(...paths), fc.option(hostileBodyText, { nil: undefined })).map(([method, path, payload]) => ({
    route: `${method} ${path}`,
    variant: 'stray method',
    method,
    url: path,
    headers: { authorization: `Bearer ${keys.operator}`, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
    payload,
  }));
  return [...operations.map((operation) => requestArbitrary(operation, context, keys, key_of)), fc.oneof(preflight, stray)];
}
