// A stand-in for WeChat Pay API v3, for development and tests: an HTTP server that checks the
// merchant's request signatures (401 SIGN_ERROR otherwise), signs every answer with its platform
// key, keeps Native-payment orders and refunds in memory, and, when the customer pays, posts an
// encrypted and signed notification to the order's notify_url.
//
// It takes test-mode payments only: an order whose attach does not say test mode
// (internal/mode.ts) is refused with 403 NO_AUTH and never created.
//
// Left out on purpose: notification retries (each payment is notified once and the delivery is
// recorded), refund notifications, the certificate download API, and every other product.
import { createPublicKey, generateKeyPairSync, randomInt, randomUUID, type KeyObject } from 'node:crypto';
import { fastify, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { assert, systemClock, type Clock } from '@paygrid/kernel';
import { parseMinorUnits } from '@paygrid/money';
import { parseJsonRecord, readRecord, readString, stringifyJson, type JsonRecord, type JsonValue } from '../internal/json';
import { test_mode_marker } from '../internal/mode';
import { readPrivateKey, readPublicKey, signSha256WithRsa, verifySha256WithRsa } from '../internal/rsa';
import {
  api_v3_key_bytes,
  authorization_scheme,
  encryptionNonce,
  encryptResource,
  formatWeChatTime,
  isTimestampFresh,
  parseAuthorization,
  parseWeChatTime,
  requestMessage,
  requestNonce,
  responseMessage,
} from './signing';

/** Orders the sandbox keeps at once; past this it refuses new ones. */
export const wechat_pay_sandbox_orders_max = 100_000;
/** How long the sandbox waits for the merchant to take a notification. */
export const wechat_pay_notification_timeout_ms = 5_000;
const out_trade_no_pattern = /^[0-9A-Za-z_\-|*]{6,32}$/;
const out_refund_no_pattern = /^[0-9A-Za-z_\-|*@]{1,64}$/;
const description_length_max = 127;
const sandbox_openid = 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o';

export type WeChatTradeState = 'NOTPAY' | 'SUCCESS' | 'REFUND' | 'CLOSED';

/** Every allowed move of an order. A refund moves a paid order to REFUND, where later refunds keep it. */
export const wechat_trade_transitions: Record<WeChatTradeState, readonly WeChatTradeState[]> = {
  NOTPAY: ['SUCCESS', 'CLOSED'],
  SUCCESS: ['REFUND'],
  REFUND: ['REFUND'],
  CLOSED: [],
};

interface Order {
  readonly out_trade_no: string;
  readonly appid: string;
  readonly description: string;
  readonly notify_url: string;
  readonly total: bigint;
  readonly code_url: string;
  readonly created_ms: number;
  readonly expires_ms: number | undefined;
  trade_state: WeChatTradeState;
  transaction_id: string | undefined;
  paid_ms: number | undefined;
  refunded: bigint;
  /** Refund answers by out_refund_no, so a repeated refund refunds nothing more. */
  readonly refunds: Map<string, JsonRecord>;
}

export interface WeChatOrderView {
  readonly out_trade_no: string;
  readonly trade_state: WeChatTradeState;
  readonly total: bigint;
  readonly refunded: bigint;
  readonly transaction_id: string | undefined;
}

export interface WeChatNotificationDelivery {
  readonly notify_url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** The merchant's HTTP status, or undefined when it could not be reached. */
  readonly status: number | undefined;
  /** True for a 2xx answer, which is what stops WeChat Pay's retries. */
  readonly acknowledged: boolean;
}

export interface WeChatPaySandboxOptions {
  readonly mchid: string;
  readonly appid: string;
  /** The serial number of the merchant's API certificate, which requests must name. */
  readonly merchant_serial_no: string;
  /** The merchant's public key (PEM), to verify requests. */
  readonly merchant_public_key: string;
  /** The merchant's 32-byte APIv3 key, to encrypt notifications. */
  readonly api_v3_key: string;
  /** The sandbox's platform private key; a fresh RSA-2048 key when left out. */
  readonly platform_private_key?: string;
  readonly platform_serial_no?: string;
  readonly clock?: Clock;
  readonly host?: string;
  /** 0 (the default) picks a free port. */
  readonly port?: number;
}

interface WeChatError {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

type Answer = { readonly status: 200; readonly body: JsonValue } | { readonly status: 204 } | WeChatError;

function refuse(status: number, code: string, message: string): WeChatError {
  return { status, code, message };
}

export class WeChatPaySandbox {
  readonly #app: FastifyInstance;
  readonly #options: WeChatPaySandboxOptions;
  readonly #merchant_public_key: KeyObject;
  readonly #platform_private_key: KeyObject;
  readonly #clock: Clock;
  readonly #orders = new Map<string, Order>();
  readonly #deliveries: WeChatNotificationDelivery[] = [];
  #url: string | undefined;
  /** The platform public key (PEM) the connector verifies answers and notifications with. */
  readonly platform_public_key: string;
  readonly platform_serial_no: string;

  private constructor(options: WeChatPaySandboxOptions) {
    assert(Buffer.byteLength(options.api_v3_key, 'utf8') === api_v3_key_bytes, `WeChatPaySandbox api_v3_key must be ${api_v3_key_bytes} bytes`);
    this.#options = options;
    this.#merchant_public_key = readPublicKey(options.merchant_public_key);
    if (options.platform_private_key === undefined) {
      const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
      this.#platform_private_key = pair.privateKey;
    } else {
      this.#platform_private_key = readPrivateKey(options.platform_private_key);
    }
    this.platform_public_key = createPublicKey(this.#platform_private_key).export({ type: 'spki', format: 'pem' }).toString();
    this.platform_serial_no = options.platform_serial_no ?? '5157F09EFDC096DE15EBE81A47057A7232F1B8E1';
    this.#clock = options.clock ?? systemClock;

    const app = fastify({ logger: false, bodyLimit: 64 * 1024, forceCloseConnections: true });
    this.#app = app;
    // Signatures cover the body exactly as sent, so it is kept as text and parsed by hand.
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
      done(null, typeof body === 'string' ? body : body.toString('utf8'));
    });
    const signed = (handle: (request: FastifyRequest, body: JsonRecord | undefined) => Answer) =>
      async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
        const raw = typeof request.body === 'string' ? request.body : '';
        const signature_problem = this.#checkSignature(request, raw);
        const answer = signature_problem ?? handle(request, raw === '' ? undefined : parseJsonRecord(raw));
        return this.#send(reply, answer);
      };
    app.post('/v3/pay/transactions/native', signed((request, body) => this.#createNative(request, body)));
    app.get('/v3/pay/transactions/out-trade-no/:out_trade_no', signed((request) => this.#query(request)));
    app.post('/v3/pay/transactions/out-trade-no/:out_trade_no/close', signed((request, body) => this.#close(request, body)));
    app.post('/v3/refund/domestic/refunds', signed((request, body) => this.#refund(request, body)));
    app.post<{ Params: { out_trade_no: string } }>('/sandbox/orders/:out_trade_no/pay', async (request, reply) => {
      const order = this.#orders.get(request.params.out_trade_no);
      if (order === undefined) return reply.code(404).send({ code: 'ORDER_NOT_EXIST', message: 'No such order.' });
      this.#expire(order);
      if (order.trade_state !== 'NOTPAY') return reply.code(409).send({ code: 'ORDERPAID', message: `The order is ${order.trade_state}.` });
      const delivery = await this.pay(order.out_trade_no);
      return { trade_state: order.trade_state, acknowledged: delivery.acknowledged };
    });
  }

  static async start(options: WeChatPaySandboxOptions): Promise<WeChatPaySandbox> {
    const sandbox = new WeChatPaySandbox(options);
    sandbox.#url = await sandbox.#app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
    return sandbox;
  }

  /** The base URL, such as http://127.0.0.1:41234, to give the connector as base_url. */
  get url(): string {
    assert(this.#url !== undefined, 'WeChatPaySandbox: not started');
    return this.#url;
  }

  /** Every notification sent so far, oldest first. */
  get deliveries(): readonly WeChatNotificationDelivery[] {
    return this.#deliveries;
  }

  order(out_trade_no: string): WeChatOrderView | undefined {
    const order = this.#orders.get(out_trade_no);
    if (order === undefined) return undefined;
    this.#expire(order);
    return {
      out_trade_no: order.out_trade_no,
      trade_state: order.trade_state,
      total: order.total,
      refunded: order.refunded,
      transaction_id: order.transaction_id,
    };
  }

  /**
   * The customer scans the QR code and pays (a test hook; POST /sandbox/orders/:out_trade_no/pay
   * does the same): the order succeeds and an encrypted, signed notification is posted.
   */
  async pay(out_trade_no: string): Promise<WeChatNotificationDelivery> {
    const order = this.#orders.get(out_trade_no);
    assert(order !== undefined, `WeChatPaySandbox.pay: no order '${out_trade_no}'`);
    this.#expire(order);
    assert(order.trade_state === 'NOTPAY', `WeChatPaySandbox.pay: the order is ${order.trade_state}`);
    move(order, 'SUCCESS');
    order.paid_ms = this.#clock.now();
    order.transaction_id = transactionId();
    return this.#notify(order);
  }

  async close(): Promise<void> {
    await this.#app.close();
  }

  #checkSignature(request: FastifyRequest, body: string): WeChatError | undefined {
    const header = request.headers.authorization;
    const fields = parseAuthorization(header);
    const sign_error = refuse(401, 'SIGN_ERROR', 'The signature is wrong.');
    if (fields === undefined) return sign_error;
    if (fields.mchid !== this.#options.mchid || fields.serial_no !== this.#options.merchant_serial_no) return sign_error;
    if (!isTimestampFresh(fields.timestamp, this.#clock.now()) || fields.nonce_str === '') return sign_error;
    const message = requestMessage(request.method, request.url, fields.timestamp, fields.nonce_str, body);
    if (!verifySha256WithRsa(this.#merchant_public_key, message, fields.signature)) return sign_error;
    return undefined;
  }

  #send(reply: FastifyReply, answer: Answer): FastifyReply {
    let body = '';
    if ('code' in answer) body = stringifyJson({ code: answer.code, message: answer.message });
    else if (answer.status === 200) body = stringifyJson(answer.body);
    const timestamp = Math.floor(this.#clock.now() / 1000).toString();
    const nonce = requestNonce();
    void reply.headers({
      'request-id': randomUUID(),
      'wechatpay-timestamp': timestamp,
      'wechatpay-nonce': nonce,
      'wechatpay-serial': this.platform_serial_no,
      'wechatpay-signature': signSha256WithRsa(this.#platform_private_key, responseMessage(timestamp, nonce, body)),
      'wechatpay-signature-type': authorization_scheme,
    });
    if (answer.status === 204) return reply.code(204).send();
    return reply.code(answer.status).type('application/json; charset=utf-8').send(body);
  }

  #createNative(request: FastifyRequest, body: JsonRecord | undefined): Answer {
    if (body === undefined) return refuse(400, 'PARAM_ERROR', 'The body must be a JSON object.');
    const mchid = readString(body, 'mchid');
    const appid = readString(body, 'appid');
    if (mchid !== parseAuthorization(request.headers.authorization)?.mchid || appid !== this.#options.appid) {
      return refuse(400, 'APPID_MCHID_NOT_MATCH', 'appid and mchid do not match.');
    }
    const description = readString(body, 'description') ?? '';
    if (description === '' || Array.from(description).length > description_length_max) return refuse(400, 'PARAM_ERROR', 'description is invalid.');
    const out_trade_no = readString(body, 'out_trade_no') ?? '';
    if (!out_trade_no_pattern.test(out_trade_no)) return refuse(400, 'PARAM_ERROR', 'out_trade_no must be 6 to 32 letters, digits, _-|*.');
    const notify_url = readString(body, 'notify_url') ?? '';
    if (!/^https?:\/\//.test(notify_url)) return refuse(400, 'PARAM_ERROR', 'notify_url must be an http(s) URL.');
    const amount = readRecord(body, 'amount');
    const total = amount === undefined ? undefined : parseMinorUnits(amount['total'], { allowZero: false });
    if (total === undefined || !total.ok || typeof amount?.['total'] !== 'number') return refuse(400, 'PARAM_ERROR', 'amount.total must be a positive integer in fen.');
    const currency = amount['currency'] ?? 'CNY';
    if (currency !== 'CNY') return refuse(400, 'PARAM_ERROR', 'amount.currency must be CNY.');
    const time_expire = readString(body, 'time_expire');
    const expires_ms = time_expire === undefined ? undefined : parseWeChatTime(time_expire);
    if (time_expire !== undefined && expires_ms === undefined) return refuse(400, 'PARAM_ERROR', 'time_expire must be an RFC 3339 time.');
    // A stand-in for WeChat Pay must never take real money: only an order that says test mode is created.
    if (readString(body, 'attach') !== test_mode_marker) {
      return refuse(403, 'NO_AUTH', 'This WeChat Pay sandbox takes test-mode payments only; live payments need the real WeChat Pay.');
    }

    const existing = this.#orders.get(out_trade_no);
    if (existing !== undefined) {
      this.#expire(existing);
      if (existing.total !== total.value || existing.description !== description) {
        return refuse(403, 'OUT_TRADE_NO_USED', 'out_trade_no has been used with other details.');
      }
      if (existing.trade_state === 'CLOSED') return refuse(400, 'ORDER_CLOSED', 'The order is closed.');
      if (existing.trade_state !== 'NOTPAY') return refuse(403, 'ORDERPAID', 'The order has been paid.');
      return { status: 200, body: { code_url: existing.code_url } };
    }
    const now = this.#clock.now();
    if (expires_ms !== undefined && expires_ms <= now) return refuse(400, 'PARAM_ERROR', 'time_expire has passed.');
    if (this.#orders.size >= wechat_pay_sandbox_orders_max) return refuse(500, 'SYSTEM_ERROR', 'The sandbox is keeping too many orders.');
    const order: Order = {
      out_trade_no,
      appid,
      description,
      notify_url,
      total: total.value,
      code_url: `weixin://wxpay/bizpayurl?pr=${encryptionNonce()}`,
      created_ms: now,
      expires_ms,
      trade_state: 'NOTPAY',
      transaction_id: undefined,
      paid_ms: undefined,
      refunded: 0n,
      refunds: new Map(),
    };
    this.#orders.set(out_trade_no, order);
    return { status: 200, body: { code_url: order.code_url } };
  }

  #query(request: FastifyRequest): Answer {
    const { out_trade_no } = request.params as { out_trade_no: string };
    const { mchid } = request.query as { mchid?: string };
    if (mchid !== this.#options.mchid) return refuse(400, 'PARAM_ERROR', 'mchid is missing or wrong.');
    const order = this.#orders.get(out_trade_no);
    if (order === undefined) return refuse(404, 'ORDER_NOT_EXIST', 'The order does not exist.');
    this.#expire(order);
    return { status: 200, body: this.#transaction(order) };
  }

  #close(request: FastifyRequest, body: JsonRecord | undefined): Answer {
    const { out_trade_no } = request.params as { out_trade_no: string };
    if (body === undefined || readString(body, 'mchid') !== this.#options.mchid) return refuse(400, 'PARAM_ERROR', 'mchid is missing or wrong.');
    const order = this.#orders.get(out_trade_no);
    if (order === undefined) return refuse(404, 'ORDER_NOT_EXIST', 'The order does not exist.');
    this.#expire(order);
    if (order.trade_state === 'CLOSED') return { status: 204 };
    if (order.trade_state !== 'NOTPAY') return refuse(403, 'ORDERPAID', 'The order has been paid.');
    move(order, 'CLOSED');
    return { status: 204 };
  }

  #refund(_request: FastifyRequest, body: JsonRecord | undefined): Answer {
    if (body === undefined) return refuse(400, 'PARAM_ERROR', 'The body must be a JSON object.');
    const out_refund_no = readString(body, 'out_refund_no') ?? '';
    if (!out_refund_no_pattern.test(out_refund_no)) return refuse(400, 'PARAM_ERROR', 'out_refund_no is invalid.');
    const transaction_id = readString(body, 'transaction_id');
    const out_trade_no = readString(body, 'out_trade_no');
    const order =
      transaction_id !== undefined
        ? [...this.#orders.values()].find((candidate) => candidate.transaction_id === transaction_id)
        : out_trade_no === undefined
          ? undefined
          : this.#orders.get(out_trade_no);
    if (order === undefined) return refuse(404, 'RESOURCE_NOT_EXISTS', 'The order does not exist.');
    const repeated = order.refunds.get(out_refund_no);
    if (repeated !== undefined) return { status: 200, body: repeated as JsonValue };
    const amount = readRecord(body, 'amount');
    const refund = parseMinorUnits(amount?.['refund'], { allowZero: false });
    const total = parseMinorUnits(amount?.['total'], { allowZero: false });
    if (!refund.ok || !total.ok || (amount?.['currency'] ?? 'CNY') !== 'CNY') {
      return refuse(400, 'PARAM_ERROR', 'amount.refund and amount.total must be positive integers in fen, in CNY.');
    }
    this.#expire(order);
    if (order.paid_ms === undefined || order.transaction_id === undefined) return refuse(400, 'INVALID_REQUEST', 'The order has not been paid.');
    if (total.value !== order.total) return refuse(400, 'PARAM_ERROR', 'amount.total is not the order total.');
    if (refund.value > order.total - order.refunded) return refuse(400, 'INVALID_REQUEST', 'The refund amount is more than is left to refund.');
    order.refunded += refund.value;
    move(order, 'REFUND');
    const answer: JsonRecord = {
      refund_id: `50300${digits(24)}`,
      out_refund_no,
      transaction_id: order.transaction_id,
      out_trade_no: order.out_trade_no,
      channel: 'ORIGINAL',
      user_received_account: '支付用户零钱',
      create_time: formatWeChatTime(this.#clock.now()),
      status: 'PROCESSING',
      funds_account: 'AVAILABLE',
      amount: {
        total: order.total,
        refund: refund.value,
        payer_total: order.total,
        payer_refund: refund.value,
        settlement_total: order.total,
        settlement_refund: refund.value,
        discount_refund: 0,
        currency: 'CNY',
      },
    };
    order.refunds.set(out_refund_no, answer);
    return { status: 200, body: answer as JsonValue };
  }

  #transaction(order: Order): JsonValue {
    const paid = order.paid_ms !== undefined;
    return {
      appid: order.appid,
      mchid: this.#options.mchid,
      out_trade_no: order.out_trade_no,
      transaction_id: order.transaction_id,
      trade_type: paid ? 'NATIVE' : undefined,
      trade_state: order.trade_state,
      trade_state_desc: trade_state_descriptions[order.trade_state],
      bank_type: paid ? 'OTHERS' : undefined,
      attach: '',
      success_time: order.paid_ms === undefined ? undefined : formatWeChatTime(order.paid_ms),
      payer: paid ? { openid: sandbox_openid } : undefined,
      amount: {
        total: order.total,
        payer_total: paid ? order.total : undefined,
        currency: 'CNY',
        payer_currency: 'CNY',
      },
    };
  }

  #expire(order: Order): void {
    if (order.trade_state === 'NOTPAY' && order.expires_ms !== undefined && this.#clock.now() >= order.expires_ms) move(order, 'CLOSED');
  }

  async #notify(order: Order): Promise<WeChatNotificationDelivery> {
    const nonce = encryptionNonce();
    const associated_data = 'transaction';
    const body = stringifyJson({
      id: randomUUID(),
      create_time: formatWeChatTime(this.#clock.now()),
      resource_type: 'encrypt-resource',
      event_type: 'TRANSACTION.SUCCESS',
      summary: '支付成功',
      resource: {
        original_type: 'transaction',
        algorithm: 'AEAD_AES_256_GCM',
        ciphertext: encryptResource(this.#options.api_v3_key, stringifyJson(this.#transaction(order)), nonce, associated_data),
        associated_data,
        nonce,
      },
    });
    const timestamp = Math.floor(this.#clock.now() / 1000).toString();
    const signature_nonce = requestNonce();
    const headers = {
      'content-type': 'application/json',
      'wechatpay-timestamp': timestamp,
      'wechatpay-nonce': signature_nonce,
      'wechatpay-serial': this.platform_serial_no,
      'wechatpay-signature': signSha256WithRsa(this.#platform_private_key, responseMessage(timestamp, signature_nonce, body)),
      'wechatpay-signature-type': authorization_scheme,
    };
    let status: number | undefined;
    try {
      const response = await fetch(order.notify_url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(wechat_pay_notification_timeout_ms),
      });
      status = response.status;
      await response.arrayBuffer();
    } catch {
      // An unreachable merchant is recorded as such; WeChat Pay would retry later.
    }
    const delivery = { notify_url: order.notify_url, headers, body, status, acknowledged: status !== undefined && status >= 200 && status < 300 };
    this.#deliveries.push(delivery);
    return delivery;
  }
}

const trade_state_descriptions: Record<WeChatTradeState, string> = {
  NOTPAY: '未支付',
  SUCCESS: '支付成功',
  REFUND: '转入退款',
  CLOSED: '已关闭',
};

function move(order: Order, target: WeChatTradeState): void {
  assert(wechat_trade_transitions[order.trade_state].includes(target), `WeChatPaySandbox: ${order.trade_state} -> ${target} is not allowed`);
  order.trade_state = target;
}

function digits(count: number): string {
  let text = '';
  for (let index = 0; index < count; index += 1) text += randomInt(10).toString();
  return text;
}

/** WeChat Pay transaction ids are 28 digits starting 4200. */
function transactionId(): string {
  return `4200${digits(24)}`;
}
