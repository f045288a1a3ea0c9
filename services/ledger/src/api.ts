import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '@paygrid/kernel';
import type { LedgerClient } from './service';
import type { AccountFilter, QueryFilter } from './store';
import {
  decodeAccountEvents,
  decodeIds,
  decodeTransferEvents,
  encodeAccounts,
  encodeResults,
  encodeTransfers,
  ledger_binary_media_type,
} from './binary-wire';
import { create_account_result_codes, create_transfer_result_codes } from './result-codes';
import { batch_events_max, code_max, ledger_max, user_data_32_max } from './types';
import {
  WireRangeError,
  account_event_schema,
  accountEventFromWire,
  accountToWire,
  balanceToWire,
  create_accounts_body_schema,
  create_transfers_body_schema,
  lookup_body_schema,
  parseId,
  transfer_event_schema,
  transferEventFromWire,
  transferToWire,
  type AccountWire,
  type TransferWire,
} from './wire';
import { LedgerUnavailableError } from './writer';

/** Rows one listing returns at most, and by default. */
export const list_limit_max = 100;
export const list_limit_default = 10;
/**
 * Ledger batches carry up to 8,190 events of a few hundred bytes each as JSON (128 bytes each in
 * binary, just over 1 MiB), so their routes take bodies up to 4 MiB; everything else keeps the
 * server's 1 MiB default.
 */
export const ledger_body_limit_bytes = 4 * 1024 * 1024;
/**
 * A full batch as JSON holds one key per field of each of its 8,190 events, about 100,000 in all,
 * far past the 1,000 the public API's bodies may hold; the batch routes take exactly that many.
 */
export const ledger_batch_json_keys_max =
  1 + batch_events_max * Math.max(Object.keys(account_event_schema.properties).length, Object.keys(transfer_event_schema.properties).length);

export interface LedgerRoutesOptions {
  readonly ledger: LedgerClient;
  /** Runs before every ledger route; throws an authentication error to refuse. */
  readonly authenticate: (request: FastifyRequest) => void;
}

/**
 * The ledger's HTTP API under `/v1/ledger`. Batch endpoints answer 200 with one result per event:
 * a broken rule is a result code, not an HTTP error. Only malformed requests get a 4xx. The batch
 * and lookup routes take JSON or TigerBeetle's binary records (`ledger_binary_media_type`) and
 * answer in the encoding they were sent.
 */
export function registerLedgerRoutes(app: FastifyInstance, options: LedgerRoutesOptions): void {
  const { ledger, authenticate } = options;

  app.register(
    (scope, _options, done) => {
      scope.addHook('onRequest', (request, _reply, next) => {
        authenticate(request);
        next();
      });

      // Binary bodies (binary-wire.ts) are taken on these routes only: the parser is registered in
      // this scope, so every other route keeps refusing anything but JSON with a 415. The bytes
      // are decoded by each route, which knows which records it takes.
      scope.addContentTypeParser(ledger_binary_media_type, { parseAs: 'buffer' }, (_request, body, done) => {
        done(null, body);
      });

      scope.post<{ Body: { accounts: AccountWire[] } | Buffer }>('/accounts', batchRoute(create_accounts_body_schema), async (request, reply) => {
        const body = requiredBody(request.body);
        if (Buffer.isBuffer(body)) {
          const results = await unavailableAsError(() => ledger.createAccounts(decodeAccountEvents(body)));
          return reply.type(ledger_binary_media_type).send(encodeResults(results, create_account_result_codes));
        }
        const events = wireOrBadRequest(() => body.accounts.map((wire, index) => accountEventFromWire(wire, `accounts[${index}]`)));
        const results = await unavailableAsError(() => ledger.createAccounts(events));
        return { results: results.map(({ index, id, result }) => ({ index, id: id.toString(), result })) };
      });

      scope.post<{ Body: { transfers: TransferWire[] } | Buffer }>('/transfers', batchRoute(create_transfers_body_schema), async (request, reply) => {
        const body = requiredBody(request.body);
        if (Buffer.isBuffer(body)) {
          const results = await unavailableAsError(() => ledger.createTransfers(decodeTransferEvents(body)));
          return reply.type(ledger_binary_media_type).send(encodeResults(results, create_transfer_result_codes));
        }
        const events = wireOrBadRequest(() => body.transfers.map((wire, index) => transferEventFromWire(wire, `transfers[${index}]`)));
        const results = await unavailableAsError(() => ledger.createTransfers(events));
        return { results: results.map(({ index, id, result }) => ({ index, id: id.toString(), result })) };
      });

      scope.post<{ Body: { ids: string[] } | Buffer }>('/accounts/lookup', batchRoute(lookup_body_schema), async (request, reply) => {
        const body = requiredBody(request.body);
        if (Buffer.isBuffer(body)) return reply.type(ledger_binary_media_type).send(encodeAccounts(await ledger.lookupAccounts(decodeIds(body))));
        const ids = wireOrBadRequest(() => body.ids.map((id, index) => parseId(id, `ids[${index}]`)));
        return { object: 'list', data: (await ledger.lookupAccounts(ids)).map(accountToWire) };
      });

      scope.post<{ Body: { ids: string[] } | Buffer }>('/transfers/lookup', batchRoute(lookup_body_schema), async (request, reply) => {
        const body = requiredBody(request.body);
        if (Buffer.isBuffer(body)) {
          // The 128-byte layout has no room for a pending transfer's status; JSON carries it.
          const found = await ledger.lookupTransfers(decodeIds(body));
          return reply.type(ledger_binary_media_type).send(encodeTransfers(found.map(({ transfer }) => transfer)));
        }
        const ids = wireOrBadRequest(() => body.ids.map((id, index) => parseId(id, `ids[${index}]`)));
        const found = await ledger.lookupTransfers(ids);
        return { object: 'list', data: found.map(({ transfer, status }) => transferToWire(transfer, status)) };
      });

      scope.get<{ Params: { id: string } }>('/accounts/:id', async (request) => {
        const id = pathId(request.params.id);
        const [account] = await ledger.lookupAccounts([id]);
        if (account === undefined) throw missing('ledger account', request.params.id);
        return accountToWire(account);
      });

      scope.get<{ Params: { id: string } }>('/transfers/:id', async (request) => {
        const id = pathId(request.params.id);
        const [found] = await ledger.lookupTransfers([id]);
        if (found === undefined) throw missing('ledger transfer', request.params.id);
        return transferToWire(found.transfer, found.status);
      });

      // TigerBeetle's query_transfers: transfers of any account, by their own fields.
      scope.get<{ Querystring: Record<string, string | undefined> }>('/transfers', async (request) => {
        const filter = queryFilterFromQuery(request.query);
        const rows = await ledger.queryTransfers({ ...filter, limit: filter.limit + 1 });
        return { object: 'list', data: rows.slice(0, filter.limit).map((transfer) => transferToWire(transfer)), has_more: rows.length > filter.limit };
      });

      scope.get<{ Params: { id: string }; Querystring: Record<string, string | undefined> }>('/accounts/:id/transfers', async (request) => {
        const filter = accountFilterFromQuery(pathId(request.params.id), request.query);
        const rows = await ledger.getAccountTransfers({ ...filter, limit: filter.limit + 1 });
        return { object: 'list', data: rows.slice(0, filter.limit).map((transfer) => transferToWire(transfer)), has_more: rows.length > filter.limit };
      });

      scope.get<{ Params: { id: string }; Querystring: Record<string, string | undefined> }>('/accounts/:id/balances', async (request) => {
        const filter = accountFilterFromQuery(pathId(request.params.id), request.query);
        const rows = await ledger.getAccountBalances({ ...filter, limit: filter.limit + 1 });
        return { object: 'list', data: rows.slice(0, filter.limit).map(balanceToWire), has_more: rows.length > filter.limit };
      });
      done();
    },
    { prefix: '/v1/ledger' },
  );
}

/**
 * The options of a route that takes a batch as JSON or binary. Its JSON schema applies to JSON
 * bodies only (Fastify picks a body schema by media type); binary bodies are checked as they are
 * decoded. The 4 MiB limit holds for both, and JSON bodies may hold a full batch's keys.
 */
function batchRoute(json_schema: object) {
  return {
    schema: { body: { content: { 'application/json': { schema: json_schema } } } },
    bodyLimit: ledger_body_limit_bytes,
    config: { json_keys_max: ledger_batch_json_keys_max },
  };
}

/**
 * With a schema per media type, a request without a body reaches the handler unvalidated; it is
 * refused here as the JSON schema would have refused it.
 */
function requiredBody<Body>(body: Body | undefined): Body {
  if (body === undefined || body === null) throw new ApiError('invalid_request_error', 'parameter_invalid', 'The request body is required');
  return body;
}

function wireOrBadRequest<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof WireRangeError) throw new ApiError('invalid_request_error', 'parameter_invalid', error.message, error.param);
    throw error;
  }
}

async function unavailableAsError<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof LedgerUnavailableError) throw new ApiError('service_unavailable_error', 'ledger_unavailable', error.message);
    throw error;
  }
}

function missing(what: string, id: string): ApiError {
  return new ApiError('not_found_error', 'resource_missing', `No such ${what}: '${id}'`, 'id');
}

const decimal = /^(0|[1-9][0-9]{0,38})$/;

function pathId(value: string): bigint {
  return decimalId(value, 'id');
}

/** A 128-bit id written as a decimal string, from a path or query parameter. */
function decimalId(value: string, param: string): bigint {
  if (!decimal.test(value)) throw new ApiError('invalid_request_error', 'parameter_invalid', `${param} must be a decimal string of up to 39 digits`, param);
  return wireOrBadRequest(() => parseId(value, param));
}

const filter_parameters = new Set(['limit', 'timestamp_min', 'timestamp_max', 'debits', 'credits', 'reversed', 'code', 'user_data_128', 'user_data_64', 'user_data_32']);

const query_parameters = new Set([...filter_parameters, 'ledger'].filter((name) => name !== 'debits' && name !== 'credits'));

/** Parses TigerBeetle's QueryFilter from a query string, strictly: unknown or malformed → 400. */
export function queryFilterFromQuery(query: Record<string, string | undefined>): QueryFilter {
  for (const name of Object.keys(query)) {
    if (!query_parameters.has(name)) throw new ApiError('invalid_request_error', 'parameter_unknown', `Unknown parameter: ${name}`, name);
  }
  const { ledger: ledger_text, ...fields } = query;
  let ledger: number | undefined;
  if (ledger_text !== undefined) {
    if (!/^[0-9]{1,10}$/.test(ledger_text) || Number(ledger_text) > ledger_max) {
      throw new ApiError('invalid_request_error', 'parameter_invalid', `ledger must be an integer from 0 to ${ledger_max}`, 'ledger');
    }
    ledger = Number(ledger_text);
  }
  const { account_id: _account_id, debits: _debits, credits: _credits, ...filter } = accountFilterFromQuery(0n, fields);
  return { ...filter, ...(ledger === undefined ? {} : { ledger }) };
}

/** Parses TigerBeetle's AccountFilter from a query string, strictly: unknown or malformed → 400. */
export function accountFilterFromQuery(account_id: bigint, query: Record<string, string | undefined>): AccountFilter {
  for (const name of Object.keys(query)) {
    if (!filter_parameters.has(name)) throw new ApiError('invalid_request_error', 'parameter_unknown', `Unknown parameter: ${name}`, name);
  }
  const unsigned = (name: string, max: bigint): bigint | undefined => {
    const value = query[name];
    if (value === undefined) return undefined;
    if (!/^[0-9]{1,20}$/.test(value) || BigInt(value) > max) {
      throw new ApiError('invalid_request_error', 'parameter_invalid', `${name} must be an integer from 0 to ${max}`, name);
    }
    return BigInt(value);
  };
  const boolean = (name: string): boolean | undefined => {
    const value = query[name];
    if (value === undefined) return undefined;
    if (value !== 'true' && value !== 'false') throw new ApiError('invalid_request_error', 'parameter_invalid', `${name} must be true or false`, name);
    return value === 'true';
  };
  const limit = unsigned('limit', BigInt(list_limit_max)) ?? BigInt(list_limit_default);
  if (limit < 1n) throw new ApiError('invalid_request_error', 'parameter_invalid', `limit must be from 1 to ${list_limit_max}`, 'limit');
  const debits = boolean('debits');
  const credits = boolean('credits');
  if (debits === false && credits === false) {
    throw new ApiError('invalid_request_error', 'parameter_invalid', 'debits and credits cannot both be false', 'debits');
  }
  const code = unsigned('code', BigInt(code_max));
  const user_data_32 = unsigned('user_data_32', BigInt(user_data_32_max));
  const user_data_64 = unsigned('user_data_64', BigInt(Number.MAX_SAFE_INTEGER));
  const user_data_128 = query.user_data_128 === undefined ? undefined : decimalId(query.user_data_128, 'user_data_128');
  const timestamp_min = unsigned('timestamp_min', (1n << 63n) - 1n);
  const timestamp_max = unsigned('timestamp_max', (1n << 63n) - 1n);
  return {
    account_id,
    limit: Number(limit),
    // Neither side named means both, as a statement would list them.
    debits: debits ?? credits !== true,
    credits: credits ?? debits !== true,
    reversed: boolean('reversed') ?? false,
    ...(code === undefined ? {} : { code: Number(code) }),
    ...(user_data_32 === undefined ? {} : { user_data_32: Number(user_data_32) }),
    ...(user_data_64 === undefined ? {} : { user_data_64 }),
    ...(user_data_128 === undefined ? {} : { user_data_128 }),
    ...(timestamp_min === undefined ? {} : { timestamp_min }),
    ...(timestamp_max === undefined ? {} : { timestamp_max }),
  };
}
