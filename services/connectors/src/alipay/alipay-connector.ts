// Alipay through its open API, computer-website payment (alipay.trade.page.pay).
//
// authorize builds the signed URL of Alipay's cashier page and sends the customer there; Alipay
// creates the trade when the customer opens it, takes the money at once when they pay, and posts
// a signed notification to notify_url. There is no hold: capture_method manual is refused, and
// capture has nothing to do. The idempotency reference is the trade's out_trade_no and is also
// the provider reference, because Alipay's own trade_no exists only once the page has been opened.
//
// Amounts are yuan decimals on the wire; they are converted from fen with the CNY exponent by
// string arithmetic on the bigint, never through a float. Only CNY is taken.
import type { KeyObject } from 'node:crypto';
import { assert, systemClock, type Clock } from '@paygrid/kernel';
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
import { parseJsonRecord, readString, sliceJsonObject, type JsonRecord } from '../internal/json';
import { readPrivateKey, readPublicKey, verifySha256WithRsa } from '../internal/rsa';
import {
  alipay_currency,
  formatAlipayTimestamp,
  formatYuan,
  parseYuan,
  responseKeyOf,
  signAlipayRequest,
  verifyAlipayNotification,
} from './signing';

export interface AlipayConnectorConfig {
  /** Alipay's gateway, https://openapi.alipay.com/gateway.do in production. */
  readonly gateway_url: string;
  readonly app_id: string;
  /** The app's private key, PEM or bare base64 PKCS #8, or a key object. */
  readonly app_private_key: string | KeyObject;
  /** Alipay's public key for this app, PEM or bare base64, or a key object. */
  readonly alipay_public_key: string | KeyObject;
  /** Where Alipay posts payment notifications. */
  readonly notify_url: string;
  readonly clock?: Clock;
  /** How long the customer has to pay once sent to the page. Default trade_expire_seconds_default. */
  readonly trade_expire_seconds?: number;
}

/** Alipay's own default for an unpaid page-pay trade is longer; half an hour suits a checkout. */
export const trade_expire_seconds_default = 30 * 60;
/** Alipay refuses a subject longer than this. */
const subject_length_max = 256;

const provider_name = 'Alipay';
const success_code = '10000';
/** Alipay's "service unavailable": the request may or may not have been carried out. */
const unavailable_code = '20000';
const business_failed_code = '40004';

type GatewayResult =
  | { readonly ok: true; readonly response: JsonRecord }
  | { readonly ok: false; readonly unknown: boolean; readonly message: string };

export class AlipayConnector implements Connector {
  readonly method = 'alipay' as const;
  readonly #config: AlipayConnectorConfig;
  readonly #app_private_key: KeyObject;
  readonly #alipay_public_key: KeyObject;
  readonly #clock: Clock;
  readonly #trade_expire_ms: number;

  constructor(config: AlipayConnectorConfig) {
    this.#config = config;
    this.#app_private_key = readPrivateKey(config.app_private_key);
    this.#alipay_public_key = readPublicKey(config.alipay_public_key);
    this.#clock = config.clock ?? systemClock;
    const trade_expire_seconds = config.trade_expire_seconds ?? trade_expire_seconds_default;
    assert(Number.isSafeInteger(trade_expire_seconds) && trade_expire_seconds > 0, 'AlipayConnector trade_expire_seconds must be positive');
    this.#trade_expire_ms = trade_expire_seconds * 1000;
  }

  // The page URL is built here and opened by the customer's browser: no call to Alipay is made.
  // eslint-disable-next-line @typescript-eslint/require-await
  async authorize(request: AuthorizeRequest, options: CallOptions): Promise<AuthorizeOutcome> {
    assert(request.payment_method.type === 'alipay', `AlipayConnector.authorize: payment method ${request.payment_method.type} is not alipay`);
    assert(request.amount > 0n, 'AlipayConnector.authorize: amount must be positive');
    if (request.currency !== alipay_currency) {
      return { status: 'declined', code: 'payment_method_unavailable', message: `Alipay takes payments in CNY, not ${request.currency}.` };
    }
    if (request.capture_method === 'manual') {
      return {
        status: 'declined',
        code: 'payment_method_unavailable',
        message: 'Alipay takes the money when the customer pays, so capture_method manual is not supported.',
      };
    }
    const now = this.#clock.now();
    const biz_content = JSON.stringify({
      out_trade_no: options.idempotency_reference,
      total_amount: formatYuan(request.amount),
      subject: subjectOf(request.description),
      product_code: 'FAST_INSTANT_TRADE_PAY',
      time_expire: formatAlipayTimestamp(now + this.#trade_expire_ms),
      // Alipay wants it URL-encoded, and hands it back untouched; the sandbox refuses live ones.
      passback_params: encodeURIComponent(modeMarker(request.livemode)),
    });
    const params = this.#signedParams('alipay.trade.page.pay', biz_content, now, request.return_url);
    return {
      status: 'requires_action',
      provider_reference: options.idempotency_reference,
      next_action: { type: 'redirect_to_url', url: `${this.#config.gateway_url}?${new URLSearchParams(params).toString()}` },
    };
  }

  /** Page pay has no hold to capture: the money was taken when the customer paid. */
  // eslint-disable-next-line @typescript-eslint/require-await
  async capture(): Promise<SimpleOutcome> {
    return failure('capture_not_supported', 'Alipay page pay takes the money when the customer pays; there is nothing to capture.');
  }

  /** Closes a trade the customer has not paid, so the page can no longer take the money. */
  async void(provider_reference: string, options: CallOptions): Promise<SimpleOutcome> {
    const result = await this.#call('alipay.trade.close', { out_trade_no: provider_reference }, options.timeout_ms);
    if (!result.ok) return result.unknown ? { status: 'unknown', reason: result.message } : failure('provider_refused', result.message);
    const response = result.response;
    if (response['code'] === success_code) return { status: 'succeeded' };
    const sub_code = readString(response, 'sub_code');
    if (sub_code === 'ACQ.TRADE_NOT_EXIST') {
      return failure(
        'resource_missing',
        `Alipay has no trade '${provider_reference}': the customer has not opened the payment page, which expires on its own.`,
      );
    }
    if (sub_code === 'ACQ.TRADE_STATUS_ERROR') return failure('unexpected_state', describeFailure(response));
    if (isUnknownAnswer(response)) return { status: 'unknown', reason: describeFailure(response) };
    return failure('provider_refused', describeFailure(response));
  }

  async refund(provider_reference: string, amount: bigint, options: CallOptions): Promise<SimpleOutcome> {
    assert(amount > 0n, 'AlipayConnector.refund: amount must be positive');
    const result = await this.#call(
      'alipay.trade.refund',
      { out_trade_no: provider_reference, refund_amount: formatYuan(amount), out_request_no: options.idempotency_reference },
      options.timeout_ms,
    );
    if (!result.ok) return result.unknown ? { status: 'unknown', reason: result.message } : failure('provider_refused', result.message);
    const response = result.response;
    if (response['code'] === success_code) return { status: 'succeeded' };
    switch (readString(response, 'sub_code')) {
      case 'ACQ.TRADE_NOT_EXIST':
        return failure('resource_missing', describeFailure(response));
      case 'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL':
        return failure('amount_too_large', describeFailure(response));
      case 'ACQ.TRADE_STATUS_ERROR':
      case 'ACQ.TRADE_HAS_CLOSE':
      case 'ACQ.TRADE_NOT_ALLOW_REFUND':
        return failure('unexpected_state', describeFailure(response));
      default:
        if (isUnknownAnswer(response)) return { status: 'unknown', reason: describeFailure(response) };
        return failure('provider_refused', describeFailure(response));
    }
  }

  async status(idempotency_reference: string, options: Omit<CallOptions, 'idempotency_reference'>): Promise<ProviderStatus> {
    const result = await this.#call('alipay.trade.query', { out_trade_no: idempotency_reference }, options.timeout_ms);
    if (!result.ok) throw providerUnavailable(provider_name, result.message);
    const response = result.response;
    if (response['code'] !== success_code) {
      // Alipay creates the trade when the customer opens the page: until then there is none.
      if (readString(response, 'sub_code') === 'ACQ.TRADE_NOT_EXIST') return { status: 'not_found' };
      throw providerUnavailable(provider_name, describeFailure(response));
    }
    const total_amount = parseYuan(readString(response, 'total_amount'));
    switch (readString(response, 'trade_status')) {
      case 'WAIT_BUYER_PAY':
        return { status: 'requires_action' };
      case 'TRADE_SUCCESS':
      case 'TRADE_FINISHED':
        if (total_amount === undefined) throw providerUnavailable(provider_name, 'the query answer has no total_amount');
        return { status: 'captured', provider_reference: idempotency_reference, amount_captured: total_amount };
      case 'TRADE_CLOSED':
        // A paid trade closes once refunded in full; the money was taken all the same.
        if (readString(response, 'send_pay_date') !== undefined && total_amount !== undefined) {
          return { status: 'captured', provider_reference: idempotency_reference, amount_captured: total_amount };
        }
        return { status: 'voided' };
      default:
        throw providerUnavailable(provider_name, 'the query answer has an unknown trade_status');
    }
  }

  // Verification is local: nothing to wait for.
  // eslint-disable-next-line @typescript-eslint/require-await
  async parseNotification(_headers: Readonly<Record<string, string | undefined>>, raw_body: string): Promise<NotificationParse> {
    const search = new URLSearchParams(raw_body);
    const params: Record<string, string> = {};
    for (const [name, value] of search) {
      if (Object.hasOwn(params, name)) return { ok: false, reason: `The notification repeats the parameter ${name}.` };
      params[name] = value;
    }
    if (params['sign_type'] !== undefined && params['sign_type'] !== 'RSA2') return { ok: false, reason: 'The notification is not signed with RSA2.' };
    if (!verifyAlipayNotification(params, this.#alipay_public_key)) {
      return { ok: false, reason: 'The notification signature does not verify with the Alipay public key.' };
    }
    if (params['app_id'] !== this.#config.app_id) return { ok: false, reason: 'The notification is for another app_id.' };
    const out_trade_no = params['out_trade_no'];
    if (out_trade_no === undefined || out_trade_no === '') return { ok: false, reason: 'The notification has no out_trade_no.' };
    const total_amount = parseYuan(params['total_amount']);
    const acknowledgement = { status: 200, body: 'success', content_type: 'text/plain; charset=utf-8' };
    const captured = (amount: bigint): NotificationParse => ({
      ok: true,
      notification: { idempotency_reference: out_trade_no, provider_reference: out_trade_no, status: 'captured', amount },
      acknowledgement,
    });
    switch (params['trade_status']) {
      case 'TRADE_SUCCESS':
      case 'TRADE_FINISHED':
        if (total_amount === undefined) return { ok: false, reason: 'The notification has no valid total_amount.' };
        return captured(total_amount);
      case 'TRADE_CLOSED':
        // Closed after payment means refunded in full; closed unpaid means the customer never paid.
        if (params['gmt_payment'] !== undefined && total_amount !== undefined) return captured(total_amount);
        return {
          ok: true,
          notification: { idempotency_reference: out_trade_no, provider_reference: out_trade_no, status: 'declined', code: 'payment_method_unavailable' },
          acknowledgement,
        };
      default:
        return { ok: false, reason: `The notification's trade_status is not one a payment settles on.` };
    }
  }

  #signedParams(method: string, biz_content: string, now_ms: number, return_url?: string): Record<string, string> {
    return signAlipayRequest(
      {
        app_id: this.#config.app_id,
        method,
        format: 'JSON',
        charset: 'utf-8',
        sign_type: 'RSA2',
        timestamp: formatAlipayTimestamp(now_ms),
        version: '1.0',
        notify_url: this.#config.notify_url,
        return_url,
        biz_content,
      },
      this.#app_private_key,
    );
  }

  /** Posts one method to the gateway and returns its verified `<method>_response` object. */
  async #call(method: string, biz: Readonly<Record<string, string>>, timeout_ms: number): Promise<GatewayResult> {
    const params = this.#signedParams(method, JSON.stringify(biz), this.#clock.now());
    const result = await callWithDeadline(timeout_ms, async (signal) =>
      exchange(
        {
          method: 'POST',
          url: this.#config.gateway_url,
          headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8', accept: 'application/json' },
          body: new URLSearchParams(params).toString(),
        },
        signal,
      ),
    );
    if (!result.ok) {
      const message = result.kind === 'timeout' ? `Alipay did not answer within ${timeout_ms} ms` : `Alipay could not be reached: ${result.message}`;
      return { ok: false, unknown: true, message };
    }
    const answer = result.value;
    if (answer.status !== 200) return { ok: false, unknown: answer.status >= 500, message: `Alipay answered HTTP ${answer.status}` };
    return this.#verifiedResponse(method, answer.body);
  }

  #verifiedResponse(method: string, body: string): GatewayResult {
    const document = parseJsonRecord(body);
    const key = [responseKeyOf(method), 'error_response'].find((candidate) => document?.[candidate] !== undefined);
    if (document === undefined || key === undefined) return { ok: false, unknown: true, message: 'Alipay answered with something unreadable' };
    const inner_text = sliceJsonObject(body, valueStart(body, key));
    const inner = inner_text === undefined ? undefined : parseJsonRecord(inner_text);
    if (inner_text === undefined || inner === undefined) return { ok: false, unknown: true, message: 'Alipay answered with something unreadable' };
    const sign = readString(document, 'sign');
    // A success must be signed; a refusal is checked when it is signed (Alipay leaves some unsigned).
    if (sign === undefined ? inner['code'] === success_code : !verifySha256WithRsa(this.#alipay_public_key, inner_text, sign)) {
      return { ok: false, unknown: true, message: "Alipay's answer is not signed with the Alipay public key" };
    }
    return { ok: true, response: inner };
  }
}

/** Alipay refuses "/", "=" and "&" in a subject, and more than 256 characters. */
function subjectOf(description: string): string {
  const subject = Array.from(description.replace(/[/=&]/g, ' ').trim()).slice(0, subject_length_max).join('');
  return subject === '' ? 'Payment' : subject;
}

/** Where the value of `"key":` starts in the raw answer, after any whitespace. */
function valueStart(body: string, key: string): number {
  const marker = `${JSON.stringify(key)}:`;
  const index = body.indexOf(marker);
  if (index === -1) return -1;
  let start = index + marker.length;
  while (/\s/.test(body.charAt(start))) start += 1;
  return start;
}

function isUnknownAnswer(response: JsonRecord): boolean {
  return response['code'] === unavailable_code || (response['code'] === business_failed_code && readString(response, 'sub_code') === 'ACQ.SYSTEM_ERROR');
}

function describeFailure(response: JsonRecord): string {
  const parts = [readString(response, 'code'), readString(response, 'msg'), readString(response, 'sub_code'), readString(response, 'sub_msg')];
  return `Alipay refused: ${parts.filter((part) => part !== undefined && part !== '').join(' ')}`;
}
