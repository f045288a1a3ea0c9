// WeChat Pay through API v3, Native payment: authorize creates an order and returns its code_url
// for the customer to scan; WeChat Pay takes the money when they pay and posts an encrypted,
// signed notification. There is no hold: capture_method manual is refused, and capture has
// nothing to do. The idempotency reference is the order's out_trade_no and also the provider
// reference, because WeChat Pay's transaction_id exists only once the customer has paid.
//
// Every request is signed with the merchant key, and every answer must carry a valid signature
// from the platform key before it is believed: a 2xx without one is treated as no answer at all.
// Amounts are integers in fen, written into the JSON straight from the bigint. Only CNY is taken.
import type { KeyObject } from 'node:crypto';
import { assert, systemClock, type Clock } from '@paygrid/kernel';
import { parseMinorUnits } from '@paygrid/money';
import type {
  AuthorizeOutcome,
  AuthorizeRequest,
  CallOptions,
  Connector,
  NotificationParse,
  ProviderStatus,
  SimpleOutcome,
} from '../connector';
import { callWithDeadline } from '../internal/deadline';
import { failure, providerUnavailable } from '../internal/failures';
import { exchange } from '../internal/http';
import { modeMarker } from '../internal/mode';
import { parseJsonRecord, readRecord, readString, stringifyJson, type JsonRecord, type JsonValue } from '../internal/json';
import { readPrivateKey, readPublicKey, signSha256WithRsa, verifySha256WithRsa } from '../internal/rsa';
import {
  api_v3_key_bytes,
  apiV3KeyBytes,
  authorization_scheme,
  decryptResource,
  formatAuthorization,
  formatWeChatTime,
  isTimestampFresh,
  requestMessage,
  requestNonce,
  responseMessage,
} from './signing';

export interface WeChatPayConnectorConfig {
  /** https://api.mch.weixin.qq.com in production. */
  readonly base_url: string;
  readonly mchid: string;
  /** The serial number of the merchant API certificate the private key belongs to. */
  readonly serial_no: string;
  /** PEM, or a key object. */
  readonly merchant_private_key: string | KeyObject;
  /** WeChat Pay's platform public key (or certificate), to verify answers and notifications; PEM or a key object. */
  readonly platform_public_key: string | KeyObject;
  /** When given, answers and notifications must name this platform serial number. */
  readonly platform_serial_no?: string;
  /** The 32-byte APIv3 key that decrypts notifications, as text or as a secret key object. */
  readonly api_v3_key: string | KeyObject;
  readonly notify_url: string;
  readonly appid: string;
  readonly clock?: Clock;
  /** How long the QR code can be paid. Default order_expire_seconds_default. */
  readonly order_expire_seconds?: number;
}

export const order_expire_seconds_default = 30 * 60;
/** WeChat Pay refuses a description longer than this (in characters). */
const description_length_max = 127;
const provider_name = 'WeChat Pay';
const wechat_currency = 'CNY';
const user_agent = 'paygrid-connectors';

type ApiResult =
  | { readonly ok: true; readonly status: number; readonly body: JsonRecord | undefined; readonly signed: boolean }
  /** `unknown`: no trustworthy answer, so the request may or may not have been carried out. */
  | { readonly ok: false; readonly unknown: true; readonly message: string };

export class WeChatPayConnector implements Connector {
  readonly method = 'wechat_pay' as const;
  readonly #config: WeChatPayConnectorConfig;
  readonly #base_url: string;
  readonly #merchant_private_key: KeyObject;
  readonly #platform_public_key: KeyObject;
  readonly #clock: Clock;
  readonly #order_expire_ms: number;

  constructor(config: WeChatPayConnectorConfig) {
    assert(apiV3KeyBytes(config.api_v3_key) === api_v3_key_bytes, `WeChatPayConnector api_v3_key must be ${api_v3_key_bytes} bytes`);
    this.#config = config;
    this.#base_url = config.base_url.endsWith('/') ? config.base_url.slice(0, -1) : config.base_url;
    this.#merchant_private_key = readPrivateKey(config.merchant_private_key);
    this.#platform_public_key = readPublicKey(config.platform_public_key);
    this.#clock = config.clock ?? systemClock;
    const order_expire_seconds = config.order_expire_seconds ?? order_expire_seconds_default;
    assert(Number.isSafeInteger(order_expire_seconds) && order_expire_seconds > 0, 'WeChatPayConnector order_expire_seconds must be positive');
    this.#order_expire_ms = order_expire_seconds * 1000;
  }

  async authorize(request: AuthorizeRequest, options: CallOptions): Promise<AuthorizeOutcome> {
    assert(request.payment_method.type === 'wechat_pay', `WeChatPayConnector.authorize: payment method ${request.payment_method.type} is not wechat_pay`);
    assert(request.amount > 0n, 'WeChatPayConnector.authorize: amount must be positive');
    if (request.currency !== wechat_currency) {
      return { status: 'declined', code: 'payment_method_unavailable', message: `WeChat Pay takes payments in CNY, not ${request.currency}.` };
    }
    if (request.capture_method === 'manual') {
      return {
        status: 'declined',
        code: 'payment_method_unavailable',
        message: 'WeChat Pay takes the money when the customer pays, so capture_method manual is not supported.',
      };
    }
    const out_trade_no = options.idempotency_reference;
    const result = await this.#request('POST', '/v3/pay/transactions/native', options.timeout_ms, {
      appid: this.#config.appid,
      mchid: this.#config.mchid,
      description: descriptionOf(request.description),
      out_trade_no,
      time_expire: formatWeChatTime(this.#clock.now() + this.#order_expire_ms),
      notify_url: this.#config.notify_url,
      amount: { total: request.amount, currency: wechat_currency },
      // WeChat Pay hands attach back untouched; the sandbox refuses an order that is not test mode.
      attach: modeMarker(request.livemode),
    });
    if (!result.ok) return { status: 'unknown', reason: result.message };
    const code_url = result.body === undefined ? undefined : readString(result.body, 'code_url');
    if (result.status === 200 && code_url !== undefined) {
      return { status: 'requires_action', provider_reference: out_trade_no, next_action: { type: 'display_qr_code', data: code_url } };
    }
    const code = errorCode(result.body);
    if (code === 'ORDERPAID') {
      // Asked again after the customer paid: answer with what the order became.
      const status = await this.#status(out_trade_no, options.timeout_ms);
      if (status.ok && status.value.status === 'captured') return { status: 'authorized', provider_reference: out_trade_no, captured: true };
      return { status: 'unknown', reason: 'WeChat Pay says the order was paid, but it could not be read back.' };
    }
    if (code === 'ORDER_CLOSED') return { status: 'declined', code: 'payment_method_unavailable', message: 'The WeChat Pay order is closed.' };
    if (code === 'NO_AUTH') return { status: 'declined', code: 'payment_method_unavailable', message: describeFailure(result.status, result.body) };
    if (isUnknownStatus(result.status)) return { status: 'unknown', reason: describeFailure(result.status, result.body) };
    return { status: 'declined', code: 'processing_error', message: describeFailure(result.status, result.body) };
  }

  /** Native payment has no hold to capture: the money was taken when the customer paid. */
  // eslint-disable-next-line @typescript-eslint/require-await
  async capture(): Promise<SimpleOutcome> {
    return failure('capture_not_supported', 'WeChat Pay takes the money when the customer pays; there is nothing to capture.');
  }

  /** Closes an order the customer has not paid, so its QR code can no longer take money. */
  async void(provider_reference: string, options: CallOptions): Promise<SimpleOutcome> {
    const path = `/v3/pay/transactions/out-trade-no/${encodeURIComponent(provider_reference)}/close`;
    const result = await this.#request('POST', path, options.timeout_ms, { mchid: this.#config.mchid });
    if (!result.ok) return { status: 'unknown', reason: result.message };
    if (result.status === 204 || result.status === 200) return { status: 'succeeded' };
    return this.#operationFailure(result.status, result.body);
  }

  /** WeChat Pay wants the order total with every refund, so the order is read first. */
  async refund(provider_reference: string, amount: bigint, options: CallOptions): Promise<SimpleOutcome> {
    assert(amount > 0n, 'WeChatPayConnector.refund: amount must be positive');
    const order = await this.#query(provider_reference, options.timeout_ms);
    if (!order.ok) return { status: 'unknown', reason: order.message };
    if (order.status !== 200 || order.body === undefined) return this.#operationFailure(order.status, order.body);
    const total = readTotal(order.body);
    if (total === undefined) return { status: 'unknown', reason: 'The WeChat Pay order has no amount.total.' };
    const result = await this.#request('POST', '/v3/refund/domestic/refunds', options.timeout_ms, {
      out_trade_no: provider_reference,
      out_refund_no: options.idempotency_reference,
      amount: { refund: amount, total, currency: wechat_currency },
    });
    if (!result.ok) return { status: 'unknown', reason: result.message };
    if (result.status !== 200 || result.body === undefined) return this.#operationFailure(result.status, result.body);
    switch (readString(result.body, 'status')) {
      // PROCESSING is WeChat Pay's usual first answer: the refund is accepted and completes on its own.
      case 'SUCCESS':
      case 'PROCESSING':
        return { status: 'succeeded' };
      default:
        return failure('provider_refused', `WeChat Pay did not refund: status ${readString(result.body, 'status') ?? 'missing'}.`);
    }
  }

  async status(idempotency_reference: string, options: Omit<CallOptions, 'idempotency_reference'>): Promise<ProviderStatus> {
    const status = await this.#status(idempotency_reference, options.timeout_ms);
    if (!status.ok) throw providerUnavailable(provider_name, status.message);
    return status.value;
  }

  // Verification and decryption are local: nothing to wait for.
  // eslint-disable-next-line @typescript-eslint/require-await
  async parseNotification(headers: Readonly<Record<string, string | undefined>>, raw_body: string): Promise<NotificationParse> {
    const problem = this.#checkPlatformSignature(headers, raw_body);
    if (problem !== undefined) return { ok: false, reason: `The notification ${problem}.` };
    const document = parseJsonRecord(raw_body);
    const resource = document === undefined ? undefined : readRecord(document, 'resource');
    if (document === undefined || resource === undefined) return { ok: false, reason: 'The notification has no resource.' };
    if (readString(resource, 'algorithm') !== 'AEAD_AES_256_GCM') return { ok: false, reason: 'The notification is not encrypted with AEAD_AES_256_GCM.' };
    const plaintext = decryptResource(
      this.#config.api_v3_key,
      readString(resource, 'ciphertext') ?? '',
      readString(resource, 'nonce') ?? '',
      readString(resource, 'associated_data') ?? '',
    );
    const transaction = plaintext === undefined ? undefined : parseJsonRecord(plaintext);
    if (transaction === undefined) return { ok: false, reason: 'The notification resource does not decrypt with the APIv3 key.' };
    if (readString(document, 'event_type') !== 'TRANSACTION.SUCCESS' || readString(transaction, 'trade_state') !== 'SUCCESS') {
      return { ok: false, reason: 'The notification is not a successful payment.' };
    }
    if (readString(transaction, 'mchid') !== this.#config.mchid) return { ok: false, reason: 'The notification is for another mchid.' };
    const out_trade_no = readString(transaction, 'out_trade_no');
    const total = readTotal(transaction);
    if (out_trade_no === undefined || total === undefined) return { ok: false, reason: 'The notification has no out_trade_no or amount.' };
    return {
      ok: true,
      notification: { idempotency_reference: out_trade_no, provider_reference: out_trade_no, status: 'captured', amount: total },
      // WeChat Pay takes any 2xx without a body as "received".
      acknowledgement: { status: 204, body: '', content_type: 'text/plain; charset=utf-8' },
    };
  }

  async #status(out_trade_no: string, timeout_ms: number): Promise<{ ok: true; value: ProviderStatus } | { ok: false; message: string }> {
    const result = await this.#query(out_trade_no, timeout_ms);
    if (!result.ok) return result;
    const code = errorCode(result.body);
    // Only a signed "no such order" is believed: an unsigned one could hide a payment.
    if (result.status === 404 && result.signed && (code === 'ORDER_NOT_EXIST' || code === 'ORDERNOTEXIST')) {
      return { ok: true, value: { status: 'not_found' } };
    }
    if (result.status !== 200 || result.body === undefined) return { ok: false, message: describeFailure(result.status, result.body) };
    const total = readTotal(result.body);
    switch (readString(result.body, 'trade_state')) {
      case 'NOTPAY':
        return { ok: true, value: { status: 'requires_action' } };
      case 'USERPAYING':
        return { ok: true, value: { status: 'pending' } };
      // An order with refunds was paid all the same: the refunds are tracked by the refund calls.
      case 'SUCCESS':
      case 'REFUND':
        if (total === undefined) return { ok: false, message: 'the order has no amount.total' };
        return { ok: true, value: { status: 'captured', provider_reference: out_trade_no, amount_captured: total } };
      case 'CLOSED':
      case 'REVOKED':
        return { ok: true, value: { status: 'voided' } };
      case 'PAYERROR':
        return { ok: true, value: { status: 'declined', code: 'payment_method_unavailable' } };
      default:
        return { ok: false, message: 'the order has an unknown trade_state' };
    }
  }

  async #query(out_trade_no: string, timeout_ms: number): Promise<ApiResult> {
    const path = `/v3/pay/transactions/out-trade-no/${encodeURIComponent(out_trade_no)}?mchid=${encodeURIComponent(this.#config.mchid)}`;
    return this.#request('GET', path, timeout_ms);
  }

  #operationFailure(status: number, body: JsonRecord | undefined): SimpleOutcome {
    switch (errorCode(body)) {
      case 'ORDER_NOT_EXIST':
      case 'ORDERNOTEXIST':
      case 'RESOURCE_NOT_EXISTS':
        return failure('resource_missing', describeFailure(status, body));
      case 'ORDERPAID':
      case 'ORDER_CLOSED':
        return failure('unexpected_state', describeFailure(status, body));
      default:
        if (isUnknownStatus(status)) return { status: 'unknown', reason: describeFailure(status, body) };
        return failure('provider_refused', describeFailure(status, body));
    }
  }

  /** Signs and sends one request; returns the answer once its platform signature checks out. */
  async #request(method: 'GET' | 'POST', path: string, timeout_ms: number, body?: JsonValue): Promise<ApiResult> {
    const url = `${this.#base_url}${path}`;
    const body_text = body === undefined ? '' : stringifyJson(body);
    const timestamp = Math.floor(this.#clock.now() / 1000).toString();
    const nonce = requestNonce();
    // The signed URL is the path and query as they go on the wire, base path included.
    const signed_url = new URL(url);
    const signature = signSha256WithRsa(
      this.#merchant_private_key,
      requestMessage(method, `${signed_url.pathname}${signed_url.search}`, timestamp, nonce, body_text),
    );
    const headers: Record<string, string> = {
      authorization: formatAuthorization({ mchid: this.#config.mchid, nonce_str: nonce, signature, timestamp, serial_no: this.#config.serial_no }),
      accept: 'application/json',
      'user-agent': user_agent,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    };
    const result = await callWithDeadline(timeout_ms, async (signal) =>
      exchange({ method, url, headers, ...(body === undefined ? {} : { body: body_text }) }, signal),
    );
    if (!result.ok) {
      const message = result.kind === 'timeout' ? `WeChat Pay did not answer within ${timeout_ms} ms` : `WeChat Pay could not be reached: ${result.message}`;
      return { ok: false, unknown: true, message };
    }
    const answer = result.value;
    const answer_headers: Record<string, string | undefined> = {};
    answer.headers.forEach((value, name) => {
      answer_headers[name] = value;
    });
    const problem = this.#checkPlatformSignature(answer_headers, answer.body);
    const signed = problem === undefined;
    // A success must be signed. A refusal is read either way, but callers believe only signed ones
    // where believing it could hide a payment.
    if (!signed && answer.status >= 200 && answer.status < 300) return { ok: false, unknown: true, message: `WeChat Pay's answer ${problem}` };
    if (!signed && answer_headers['wechatpay-signature'] !== undefined) return { ok: false, unknown: true, message: `WeChat Pay's answer ${problem}` };
    return { ok: true, status: answer.status, body: answer.body === '' ? undefined : parseJsonRecord(answer.body), signed };
  }

  /** Why the platform signature on an answer or a notification fails, or undefined when it holds. */
  #checkPlatformSignature(headers: Readonly<Record<string, string | undefined>>, body: string): string | undefined {
    const timestamp = headers['wechatpay-timestamp'];
    const nonce = headers['wechatpay-nonce'];
    const signature = headers['wechatpay-signature'];
    const serial = headers['wechatpay-serial'];
    const signature_type = headers['wechatpay-signature-type'];
    if (timestamp === undefined || nonce === undefined || signature === undefined || serial === undefined) return 'is not signed';
    if (signature_type !== undefined && signature_type !== authorization_scheme) return `is signed with ${signature_type}`;
    if (this.#config.platform_serial_no !== undefined && serial !== this.#config.platform_serial_no) return 'names another platform certificate';
    if (!isTimestampFresh(timestamp, this.#clock.now())) return 'is too old or from the future';
    if (!verifySha256WithRsa(this.#platform_public_key, responseMessage(timestamp, nonce, body), signature)) {
      return 'signature does not verify with the platform public key';
    }
    return undefined;
  }
}

function descriptionOf(description: string): string {
  const text = Array.from(description.trim()).slice(0, description_length_max).join('');
  return text === '' ? 'Payment' : text;
}

function readTotal(record: JsonRecord): bigint | undefined {
  const amount = readRecord(record, 'amount');
  if (amount === undefined) return undefined;
  // JSON integers up to 2^53 - 1 are exact, and parseMinorUnits refuses anything else.
  const total = parseMinorUnits(amount['total'], { allowZero: false });
  return total.ok ? total.value : undefined;
}

function errorCode(body: JsonRecord | undefined): string | undefined {
  return body === undefined ? undefined : readString(body, 'code');
}

/** Server errors and rate limits say nothing about whether the request was carried out. */
function isUnknownStatus(status: number): boolean {
  return status >= 500 || status === 429;
}

function describeFailure(status: number, body: JsonRecord | undefined): string {
  const code = errorCode(body);
  const message = body === undefined ? undefined : readString(body, 'message');
  return `WeChat Pay answered HTTP ${status}${code === undefined ? '' : ` ${code}`}${message === undefined ? '' : `: ${message}`}`;
}
