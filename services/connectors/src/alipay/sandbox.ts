// A stand-in for Alipay's open API gateway, for development and tests: an HTTP server that checks
// requests the way Alipay does (RSA2 signatures with the app's public key, Alipay's error shape),
// keeps trades in memory, serves a cashier page the customer's browser is sent to, and posts a
// signed asynchronous notification to the merchant's notify_url when the customer pays.
//
// It takes test-mode payments only: a page request whose passback_params does not say test mode
// (internal/mode.ts) creates no trade and is refused with ACQ.ACCESS_FORBIDDEN.
//
// Left out on purpose: notification retries (Alipay retries until it reads "success"; here each
// payment is notified once, and the delivery is recorded for tests to inspect), refund
// notifications, and every method the connector does not use.
import { createPublicKey, generateKeyPairSync, randomInt, type KeyObject } from 'node:crypto';
import { fastify, type FastifyInstance, type FastifyReply } from 'fastify';
import { assert, randomId, systemClock, type Clock } from '@paygrid/kernel';
import { escapeHtml } from '../internal/html';
import { test_mode_marker } from '../internal/mode';
import { parseJsonRecord, readString, type JsonRecord } from '../internal/json';
import { readPrivateKey, readPublicKey, signSha256WithRsa } from '../internal/rsa';
import {
  alipaySignContent,
  formatAlipayTimestamp,
  formatYuan,
  notification_unsigned_params,
  parseAlipayTimestamp,
  parseYuan,
  responseKeyOf,
  verifyAlipayRequest,
  type AlipayParams,
} from './signing';

export const alipay_gateway_path = '/gateway.do';
/** Trades the sandbox keeps at once; past this it refuses new ones. */
export const alipay_sandbox_trades_max = 100_000;
/** How long the sandbox waits for the merchant to take a notification. */
export const alipay_notification_timeout_ms = 5_000;
/** Alipay's bounds on total_amount: 0.01 to 100,000,000 yuan. */
const total_amount_max_fen = 10_000_000_000n;
const out_trade_no_pattern = /^[A-Za-z0-9_]{1,64}$/;
const subject_length_max = 256;
/** The seller the sandbox's trades are paid to, and the buyer who pays them. */
const sandbox_seller_id = '2088102177846880';
const sandbox_buyer_id = '2088102177846881';
const sandbox_buyer_logon_id = 'buy***@sandbox.com';

const methods = ['alipay.trade.page.pay', 'alipay.trade.query', 'alipay.trade.refund', 'alipay.trade.close'] as const;
type Method = (typeof methods)[number];

export type AlipayTradeStatus = 'WAIT_BUYER_PAY' | 'TRADE_SUCCESS' | 'TRADE_CLOSED' | 'TRADE_FINISHED';

/** Every allowed move of a trade. A paid trade closes when it has been refunded in full. */
export const alipay_trade_transitions: Record<AlipayTradeStatus, readonly AlipayTradeStatus[]> = {
  WAIT_BUYER_PAY: ['TRADE_SUCCESS', 'TRADE_CLOSED'],
  TRADE_SUCCESS: ['TRADE_CLOSED', 'TRADE_FINISHED'],
  TRADE_CLOSED: [],
  TRADE_FINISHED: [],
};

interface Trade {
  readonly out_trade_no: string;
  readonly trade_no: string;
  readonly subject: string;
  readonly total_amount: bigint;
  readonly notify_url: string | undefined;
  readonly return_url: string | undefined;
  readonly created_ms: number;
  readonly expires_ms: number | undefined;
  status: AlipayTradeStatus;
  paid_ms: number | undefined;
  refunded: bigint;
  /** Refunds by out_request_no, so a repeated refund request refunds nothing more. */
  readonly refunds: Map<string, bigint>;
}

export interface AlipayTradeView {
  readonly out_trade_no: string;
  readonly trade_no: string;
  readonly status: AlipayTradeStatus;
  readonly total_amount: bigint;
  readonly refunded: bigint;
}

export interface AlipayNotificationDelivery {
  readonly notify_url: string;
  /** The form parameters sent, `sign` included. */
  readonly params: Readonly<Record<string, string>>;
  /** The merchant's HTTP status, or undefined when it could not be reached. */
  readonly status: number | undefined;
  /** True when the merchant answered "success", which is what stops Alipay's retries. */
  readonly acknowledged: boolean;
}

export interface AlipaySandboxOptions {
  readonly app_id: string;
  /** The app's public key (PEM or bare base64), to verify the app's requests. */
  readonly app_public_key: string;
  /** The sandbox's own "Alipay" private key; a fresh RSA-2048 key when left out. */
  readonly alipay_private_key?: string;
  readonly clock?: Clock;
  readonly host?: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
}

type GatewayAnswer = { readonly ok: true; readonly response: JsonRecord } | { readonly ok: false; readonly error: AlipayError };

interface AlipayError {
  readonly code: string;
  readonly msg: string;
  readonly sub_code: string;
  readonly sub_msg: string;
}

function invalidArguments(sub_code: string, sub_msg: string): GatewayAnswer {
  return { ok: false, error: { code: '40002', msg: 'Invalid Arguments', sub_code, sub_msg } };
}

function missingArguments(sub_code: string, sub_msg: string): GatewayAnswer {
  return { ok: false, error: { code: '40001', msg: 'Missing Required Arguments', sub_code, sub_msg } };
}

function businessFailed(sub_code: string, sub_msg: string): GatewayAnswer {
  return { ok: false, error: { code: '40004', msg: 'Business Failed', sub_code, sub_msg } };
}

/** passback_params is URL-encoded; one that does not decode says nothing. */
function saysTestMode(passback_params: string | undefined): boolean {
  if (passback_params === undefined) return false;
  try {
    return decodeURIComponent(passback_params) === test_mode_marker;
  } catch {
    return false;
  }
}

export class AlipaySandbox {
  readonly #app: FastifyInstance;
  readonly #app_id: string;
  readonly #app_public_key: KeyObject;
  readonly #alipay_private_key: KeyObject;
  readonly #clock: Clock;
  readonly #trades = new Map<string, Trade>();
  readonly #deliveries: AlipayNotificationDelivery[] = [];
  #url: string | undefined;
  /** The "Alipay public key" (PEM) the connector verifies responses and notifications with. */
  readonly alipay_public_key: string;

  private constructor(options: AlipaySandboxOptions) {
    const keys = sandboxKeys(options.alipay_private_key);
    this.#app_id = options.app_id;
    this.#app_public_key = readPublicKey(options.app_public_key);
    this.#alipay_private_key = keys.private_key;
    this.alipay_public_key = keys.public_key;
    this.#clock = options.clock ?? systemClock;
    this.#app = fastify({ logger: false, bodyLimit: 256 * 1024, forceCloseConnections: true });
    this.#app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      done(null, typeof body === 'string' ? body : body.toString('utf8'));
    });
    this.#app.get(alipay_gateway_path, async (request, reply) => this.#gateway(queryOf(request.url), {}, reply));
    this.#app.post(alipay_gateway_path, async (request, reply) => {
      const form = typeof request.body === 'string' ? formParams(request.body) : {};
      return this.#gateway(queryOf(request.url), form, reply);
    });
    this.#app.post<{ Params: { out_trade_no: string } }>('/sandbox/trades/:out_trade_no/pay', async (request, reply) => {
      const trade = this.#trades.get(request.params.out_trade_no);
      if (trade === undefined) return reply.code(404).send({ error: 'no such trade' });
      this.#expire(trade);
      if (trade.status !== 'WAIT_BUYER_PAY') return reply.code(409).send({ error: `the trade is ${trade.status}` });
      await this.pay(trade.out_trade_no);
      if (trade.return_url === undefined) return { out_trade_no: trade.out_trade_no, trade_status: trade.status };
      return reply.redirect(this.#returnUrl(trade), 303);
    });
  }

  static async start(options: AlipaySandboxOptions): Promise<AlipaySandbox> {
    const sandbox = new AlipaySandbox(options);
    sandbox.#url = await sandbox.#app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
    return sandbox;
  }

  /** The sandbox's base URL, such as http://127.0.0.1:41234. */
  get url(): string {
    assert(this.#url !== undefined, 'AlipaySandbox: not started');
    return this.#url;
  }

  get gateway_url(): string {
    return `${this.url}${alipay_gateway_path}`;
  }

  /** Every notification sent so far, oldest first. */
  get deliveries(): readonly AlipayNotificationDelivery[] {
    return this.#deliveries;
  }

  trade(out_trade_no: string): AlipayTradeView | undefined {
    const trade = this.#trades.get(out_trade_no);
    if (trade === undefined) return undefined;
    this.#expire(trade);
    return {
      out_trade_no: trade.out_trade_no,
      trade_no: trade.trade_no,
      status: trade.status,
      total_amount: trade.total_amount,
      refunded: trade.refunded,
    };
  }

  /**
   * The customer pays on the cashier page (a test hook; the page's button does the same): the
   * trade succeeds and a signed notification is posted to its notify_url. The customer must have
   * opened the page first, which is when Alipay creates the trade.
   */
  async pay(out_trade_no: string): Promise<AlipayNotificationDelivery | undefined> {
    const trade = this.#trades.get(out_trade_no);
    assert(trade !== undefined, `AlipaySandbox.pay: no trade '${out_trade_no}'; open the payment page first`);
    this.#expire(trade);
    assert(trade.status === 'WAIT_BUYER_PAY', `AlipaySandbox.pay: the trade is ${trade.status}`);
    move(trade, 'TRADE_SUCCESS');
    trade.paid_ms = this.#clock.now();
    if (trade.notify_url === undefined) return undefined;
    return this.#notify(trade, trade.notify_url);
  }

  async close(): Promise<void> {
    await this.#app.close();
  }

  async #gateway(query: AlipayParams, form: AlipayParams, reply: FastifyReply): Promise<FastifyReply> {
    // Alipay takes the common parameters from the query or the form alike.
    const params: AlipayParams = { ...query, ...form };
    const method = params['method'];
    const known_method = methods.find((candidate) => candidate === method);
    const answer = this.#checkCommon(params, known_method);
    if (known_method === 'alipay.trade.page.pay') {
      if (!answer.ok) return this.#errorPage(reply, answer.error);
      const page = this.#pagePay(params);
      if (!page.ok) return this.#errorPage(reply, page.error);
      return this.#cashierPage(reply, page.trade);
    }
    const result = answer.ok && known_method !== undefined ? this.#dispatch(known_method, params) : answer;
    const key = known_method === undefined ? 'error_response' : responseKeyOf(known_method);
    const inner = JSON.stringify(result.ok ? { code: '10000', msg: 'Success', ...result.response } : result.error);
    const sign = signSha256WithRsa(this.#alipay_private_key, inner);
    return reply.type('application/json; charset=utf-8').send(`{${JSON.stringify(key)}:${inner},"sign":${JSON.stringify(sign)}}`);
  }

  #checkCommon(params: AlipayParams, method: Method | undefined): GatewayAnswer {
    if (params['sign'] === undefined || params['sign'] === '') return missingArguments('isv.missing-signature', 'The request has no sign.');
    if (params['app_id'] !== this.#app_id) return invalidArguments('isv.invalid-app-id', 'No such app_id.');
    if (method === undefined) return invalidArguments('isv.invalid-method', 'No such method.');
    if (params['sign_type'] !== 'RSA2') return invalidArguments('isv.invalid-signature-type', 'sign_type must be RSA2.');
    if (params['charset'] !== 'utf-8') return invalidArguments('isv.invalid-charset', 'charset must be utf-8.');
    if (params['format'] !== undefined && params['format'] !== 'JSON') return invalidArguments('isv.invalid-format', 'format must be JSON.');
    if (params['version'] !== '1.0') return invalidArguments('isv.invalid-version', 'version must be 1.0.');
    if (parseAlipayTimestamp(params['timestamp'] ?? '') === undefined) {
      return invalidArguments('isv.invalid-timestamp', 'timestamp must be yyyy-MM-dd HH:mm:ss.');
    }
    if (!verifyAlipayRequest(params, this.#app_public_key)) {
      return invalidArguments(
        'isv.invalid-signature',
        `The signature does not verify with the app public key. The string the gateway checked: ${alipaySignContent(params, ['sign'])}`,
      );
    }
    return { ok: true, response: {} };
  }

  #dispatch(method: Exclude<Method, 'alipay.trade.page.pay'>, params: AlipayParams): GatewayAnswer {
    const biz = parseJsonRecord(params['biz_content'] ?? '');
    if (biz === undefined) return missingArguments('isv.missing-biz-content', 'biz_content must be a JSON object.');
    const trade = this.#findTrade(biz);
    if (trade === undefined) return businessFailed('ACQ.TRADE_NOT_EXIST', 'The trade does not exist.');
    this.#expire(trade);
    switch (method) {
      case 'alipay.trade.query':
        return { ok: true, response: this.#queryResponse(trade) };
      case 'alipay.trade.close':
        return this.#closeTrade(trade);
      case 'alipay.trade.refund':
        return this.#refund(trade, biz);
    }
  }

  #findTrade(biz: JsonRecord): Trade | undefined {
    const trade_no = readString(biz, 'trade_no');
    if (trade_no !== undefined) return [...this.#trades.values()].find((trade) => trade.trade_no === trade_no);
    const out_trade_no = readString(biz, 'out_trade_no');
    return out_trade_no === undefined ? undefined : this.#trades.get(out_trade_no);
  }

  #pagePay(params: AlipayParams): { ok: true; trade: Trade } | { ok: false; error: AlipayError } {
    const biz = parseJsonRecord(params['biz_content'] ?? '');
    const fail = (answer: GatewayAnswer): { ok: false; error: AlipayError } => {
      assert(!answer.ok, 'AlipaySandbox: a failure was expected');
      return { ok: false, error: answer.error };
    };
    if (biz === undefined) return fail(missingArguments('isv.missing-biz-content', 'biz_content must be a JSON object.'));
    const out_trade_no = readString(biz, 'out_trade_no') ?? '';
    if (!out_trade_no_pattern.test(out_trade_no)) return fail(invalidArguments('isv.invalid-parameter', 'out_trade_no is invalid.'));
    const total_amount = parseYuan(readString(biz, 'total_amount'));
    if (total_amount === undefined || total_amount > total_amount_max_fen) {
      return fail(invalidArguments('isv.invalid-parameter', 'total_amount must be between 0.01 and 100000000.'));
    }
    const subject = readString(biz, 'subject') ?? '';
    if (subject === '' || subject.length > subject_length_max) return fail(invalidArguments('isv.invalid-parameter', 'subject is invalid.'));
    if (readString(biz, 'product_code') !== 'FAST_INSTANT_TRADE_PAY') {
      return fail(invalidArguments('isv.invalid-parameter', 'product_code must be FAST_INSTANT_TRADE_PAY.'));
    }
    // A stand-in for Alipay must never take real money: only a request that says test mode creates a trade.
    if (!saysTestMode(readString(biz, 'passback_params'))) {
      return fail(businessFailed('ACQ.ACCESS_FORBIDDEN', 'This Alipay sandbox takes test-mode payments only; live payments need the real Alipay.'));
    }
    const time_expire = readString(biz, 'time_expire');
    const expires_ms = time_expire === undefined ? undefined : parseAlipayTimestamp(time_expire);
    if (time_expire !== undefined && expires_ms === undefined) return fail(invalidArguments('isv.invalid-parameter', 'time_expire is invalid.'));

    const existing = this.#trades.get(out_trade_no);
    if (existing !== undefined) {
      this.#expire(existing);
      if (existing.total_amount !== total_amount || existing.subject !== subject) {
        return fail(businessFailed('ACQ.CONTEXT_INCONSISTENT', 'The trade exists with other details.'));
      }
      if (existing.status === 'TRADE_CLOSED') return fail(businessFailed('ACQ.TRADE_HAS_CLOSE', 'The trade is closed.'));
      if (existing.status !== 'WAIT_BUYER_PAY') return fail(businessFailed('ACQ.TRADE_HAS_SUCCESS', 'The trade has been paid.'));
      return { ok: true, trade: existing };
    }
    const now = this.#clock.now();
    if (expires_ms !== undefined && now >= expires_ms) return fail(businessFailed('ACQ.TRADE_HAS_CLOSE', 'The trade has expired.'));
    if (this.#trades.size >= alipay_sandbox_trades_max) throw new Error('the Alipay sandbox is keeping too many trades');
    const trade: Trade = {
      out_trade_no,
      trade_no: tradeNumber(formatAlipayTimestamp(now)),
      subject,
      total_amount,
      notify_url: nonEmpty(params['notify_url']),
      return_url: nonEmpty(params['return_url']),
      created_ms: now,
      expires_ms,
      status: 'WAIT_BUYER_PAY',
      paid_ms: undefined,
      refunded: 0n,
      refunds: new Map(),
    };
    this.#trades.set(out_trade_no, trade);
    return { ok: true, trade };
  }

  #queryResponse(trade: Trade): JsonRecord {
    const paid = trade.paid_ms !== undefined;
    return {
      trade_no: trade.trade_no,
      out_trade_no: trade.out_trade_no,
      buyer_logon_id: sandbox_buyer_logon_id,
      trade_status: trade.status,
      total_amount: formatYuan(trade.total_amount),
      buyer_pay_amount: paid ? formatYuan(trade.total_amount) : '0.00',
      receipt_amount: paid ? formatYuan(trade.total_amount) : '0.00',
      point_amount: '0.00',
      invoice_amount: paid ? formatYuan(trade.total_amount) : '0.00',
      buyer_user_id: sandbox_buyer_id,
      ...(trade.paid_ms === undefined ? {} : { send_pay_date: formatAlipayTimestamp(trade.paid_ms) }),
    };
  }

  #closeTrade(trade: Trade): GatewayAnswer {
    // Closing a trade that is already closed and was never paid changes nothing, and says so.
    if (trade.status === 'TRADE_CLOSED' && trade.paid_ms === undefined) {
      return { ok: true, response: { trade_no: trade.trade_no, out_trade_no: trade.out_trade_no } };
    }
    if (trade.status !== 'WAIT_BUYER_PAY') return businessFailed('ACQ.TRADE_STATUS_ERROR', `The trade is ${trade.status}.`);
    move(trade, 'TRADE_CLOSED');
    return { ok: true, response: { trade_no: trade.trade_no, out_trade_no: trade.out_trade_no } };
  }

  #refund(trade: Trade, biz: JsonRecord): GatewayAnswer {
    const refund_amount = parseYuan(readString(biz, 'refund_amount'));
    if (refund_amount === undefined) return invalidArguments('isv.invalid-parameter', 'refund_amount must be at least 0.01.');
    // Without an out_request_no Alipay treats the request as the one full refund of the trade.
    const out_request_no = readString(biz, 'out_request_no') ?? trade.out_trade_no;
    const answer = (fund_change: 'Y' | 'N'): GatewayAnswer => ({
      ok: true,
      response: {
        trade_no: trade.trade_no,
        out_trade_no: trade.out_trade_no,
        buyer_logon_id: sandbox_buyer_logon_id,
        fund_change,
        refund_fee: formatYuan(trade.refunded),
        gmt_refund_pay: formatAlipayTimestamp(this.#clock.now()),
        buyer_user_id: sandbox_buyer_id,
      },
    });
    if (trade.refunds.has(out_request_no)) return answer('N');
    if (trade.paid_ms === undefined || (trade.status !== 'TRADE_SUCCESS' && trade.status !== 'TRADE_CLOSED')) {
      return businessFailed('ACQ.TRADE_STATUS_ERROR', `The trade is ${trade.status}; it cannot be refunded.`);
    }
    if (trade.status === 'TRADE_CLOSED') return businessFailed('ACQ.TRADE_HAS_CLOSE', 'The trade has been refunded in full.');
    if (refund_amount > trade.total_amount - trade.refunded) {
      return businessFailed('ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', 'The refund amount is more than is left to refund.');
    }
    trade.refunds.set(out_request_no, refund_amount);
    trade.refunded += refund_amount;
    if (trade.refunded === trade.total_amount) move(trade, 'TRADE_CLOSED');
    return answer('Y');
  }

  #expire(trade: Trade): void {
    if (trade.status === 'WAIT_BUYER_PAY' && trade.expires_ms !== undefined && this.#clock.now() >= trade.expires_ms) {
      move(trade, 'TRADE_CLOSED');
    }
  }

  async #notify(trade: Trade, notify_url: string): Promise<AlipayNotificationDelivery> {
    assert(trade.paid_ms !== undefined, 'AlipaySandbox: only paid trades are notified');
    const amount = formatYuan(trade.total_amount);
    const unsigned: Record<string, string> = {
      notify_time: formatAlipayTimestamp(this.#clock.now()),
      notify_type: 'trade_status_sync',
      notify_id: randomId('notify'),
      app_id: this.#app_id,
      auth_app_id: this.#app_id,
      charset: 'utf-8',
      version: '1.0',
      sign_type: 'RSA2',
      trade_no: trade.trade_no,
      out_trade_no: trade.out_trade_no,
      trade_status: trade.status,
      total_amount: amount,
      receipt_amount: amount,
      invoice_amount: amount,
      buyer_pay_amount: amount,
      point_amount: '0.00',
      gmt_create: formatAlipayTimestamp(trade.created_ms),
      gmt_payment: formatAlipayTimestamp(trade.paid_ms),
      subject: trade.subject,
      seller_id: sandbox_seller_id,
      buyer_id: sandbox_buyer_id,
    };
    const params = { ...unsigned, sign: signSha256WithRsa(this.#alipay_private_key, alipaySignContent(unsigned, notification_unsigned_params)) };
    let status: number | undefined;
    let acknowledged = false;
    try {
      const response = await fetch(notify_url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
        body: new URLSearchParams(params).toString(),
        signal: AbortSignal.timeout(alipay_notification_timeout_ms),
      });
      status = response.status;
      acknowledged = (await response.text()).trim() === 'success';
    } catch {
      // An unreachable merchant is recorded as such; Alipay would retry later.
    }
    const delivery = { notify_url, params, status, acknowledged };
    this.#deliveries.push(delivery);
    return delivery;
  }

  /** The return_url with Alipay's signed synchronous parameters added. */
  #returnUrl(trade: Trade): string {
    assert(trade.return_url !== undefined, 'AlipaySandbox: the trade has no return_url');
    const unsigned: Record<string, string> = {
      charset: 'utf-8',
      out_trade_no: trade.out_trade_no,
      method: 'alipay.trade.page.pay.return',
      total_amount: formatYuan(trade.total_amount),
      trade_no: trade.trade_no,
      auth_app_id: this.#app_id,
      version: '1.0',
      app_id: this.#app_id,
      sign_type: 'RSA2',
      seller_id: sandbox_seller_id,
      timestamp: formatAlipayTimestamp(this.#clock.now()),
    };
    const sign = signSha256WithRsa(this.#alipay_private_key, alipaySignContent(unsigned, notification_unsigned_params));
    const url = new URL(trade.return_url);
    for (const [name, value] of Object.entries({ ...unsigned, sign })) url.searchParams.set(name, value);
    return url.toString();
  }

  #cashierPage(reply: FastifyReply, trade: Trade): FastifyReply {
    const action = `/sandbox/trades/${encodeURIComponent(trade.out_trade_no)}/pay`;
    const body =
      trade.status === 'WAIT_BUYER_PAY'
        ? `<p>${escapeHtml(trade.subject)}: ¥${escapeHtml(formatYuan(trade.total_amount))}</p>` +
          `<form method="post" action="${escapeHtml(action)}"><button type="submit">Pay with Alipay (sandbox)</button></form>`
        : `<p>This trade is ${escapeHtml(trade.status)}.</p>`;
    return reply.type('text/html; charset=utf-8').send(page('Alipay sandbox cashier', body));
  }

  #errorPage(reply: FastifyReply, error: AlipayError): FastifyReply {
    const body = `<p>${escapeHtml(error.code)} ${escapeHtml(error.msg)}</p><p>${escapeHtml(error.sub_code)}: ${escapeHtml(error.sub_msg)}</p>`;
    return reply.code(400).type('text/html; charset=utf-8').send(page('Alipay sandbox: the request was refused', body));
  }
}

function move(trade: Trade, target: AlipayTradeStatus): void {
  assert(alipay_trade_transitions[trade.status].includes(target), `AlipaySandbox: ${trade.status} -> ${target} is not allowed`);
  trade.status = target;
}

function sandboxKeys(private_key_text: string | undefined): { private_key: KeyObject; public_key: string } {
  if (private_key_text !== undefined) {
    const private_key = readPrivateKey(private_key_text);
    return { private_key, public_key: createPublicKey(private_key).export({ type: 'spki', format: 'pem' }).toString() };
  }
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { private_key: pair.privateKey, public_key: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** Alipay trade numbers are 28 digits that start with the date. */
function tradeNumber(timestamp: string): string {
  const date = timestamp.slice(0, 10).replaceAll('-', '');
  let digits = '';
  for (let index = 0; index < 15; index += 1) digits += randomInt(10).toString();
  return `${date}22001${digits}`;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function queryOf(url: string): Record<string, string> {
  const index = url.indexOf('?');
  return index === -1 ? {} : formParams(url.slice(index + 1));
}

function formParams(text: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(text));
}

function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}
