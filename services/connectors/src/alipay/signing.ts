// Alipay open API signatures (sign_type RSA2), shared by the connector and the sandbox so both
// ends follow one reading of the rules:
// - a request is signed over every non-empty parameter except `sign`, sorted by name in ASCII
//   order and joined as `name=value` with `&`, values as they are (not URL-encoded);
// - an asynchronous notification is verified the same way, but without `sign` and `sign_type`,
//   over the values after URL-decoding;
// - a response is signed over the exact JSON text of its `<method>_response` object.
// The signature is SHA256withRSA, written as base64.
import type { KeyObject } from 'node:crypto';
import { formatMinorUnits, parseMajorUnits, type CurrencyCode } from '@paygrid/money';
import { signSha256WithRsa, verifySha256WithRsa } from '../internal/rsa';

export type AlipayParams = Readonly<Record<string, string | undefined>>;

/** Parameters left out of the signed content of a request. */
export const request_unsigned_params = ['sign'] as const;
/** Parameters left out of the signed content of a notification. */
export const notification_unsigned_params = ['sign', 'sign_type'] as const;

/** Alipay takes amounts in yuan; every amount the connectors send is in this currency. */
export const alipay_currency: CurrencyCode = 'CNY';
/** Beijing time, in which Alipay reads and writes timestamps. */
const beijing_offset_ms = 8 * 60 * 60 * 1000;

export function alipaySignContent(params: AlipayParams, excluded: readonly string[]): string {
  return Object.keys(params)
    .filter((name) => !excluded.includes(name))
    .filter((name) => {
      const value = params[name];
      return value !== undefined && value !== '';
    })
    .sort(compareAscii)
    .map((name) => `${name}=${params[name] ?? ''}`)
    .join('&');
}

/** Byte order for ASCII names, which is what Alipay sorts by (never the locale's order). */
function compareAscii(left: string, right: string): number {
  if (left < right) return -1;
  return left > right ? 1 : 0;
}

/** Returns the parameters with `sign` added. */
export function signAlipayRequest(params: AlipayParams, private_key: KeyObject): Record<string, string> {
  const signed: Record<string, string> = {};
  for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== '') signed[name] = value;
  signed['sign'] = signSha256WithRsa(private_key, alipaySignContent(signed, request_unsigned_params));
  return signed;
}

export function verifyAlipayRequest(params: AlipayParams, public_key: KeyObject): boolean {
  return verifySha256WithRsa(public_key, alipaySignContent(params, request_unsigned_params), params['sign'] ?? '');
}

export function verifyAlipayNotification(params: AlipayParams, public_key: KeyObject): boolean {
  return verifySha256WithRsa(public_key, alipaySignContent(params, notification_unsigned_params), params['sign'] ?? '');
}

/** Alipay's timestamp format, `yyyy-MM-dd HH:mm:ss` in Beijing time. */
export function formatAlipayTimestamp(epoch_ms: number): string {
  const beijing = new Date(epoch_ms + beijing_offset_ms);
  const pad = (value: number): string => value.toString().padStart(2, '0');
  return (
    `${beijing.getUTCFullYear()}-${pad(beijing.getUTCMonth() + 1)}-${pad(beijing.getUTCDate())} ` +
    `${pad(beijing.getUTCHours())}:${pad(beijing.getUTCMinutes())}:${pad(beijing.getUTCSeconds())}`
  );
}

/** Reads an Alipay timestamp back into epoch milliseconds; undefined when it is malformed. */
export function parseAlipayTimestamp(text: string): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(text);
  if (match === null) return undefined;
  const epoch_ms = Date.parse(`${match[1]}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6]}+08:00`);
  return Number.isNaN(epoch_ms) ? undefined : epoch_ms;
}

/** 1234n fen is "12.34": string arithmetic on the bigint, with CNY's exponent from the table. */
export function formatYuan(amount: bigint): string {
  return formatMinorUnits(amount, alipay_currency);
}

/** "12.34" is 1234n fen; undefined for anything that is not a positive amount in yuan. */
export function parseYuan(text: string | undefined): bigint | undefined {
  if (text === undefined) return undefined;
  const parsed = parseMajorUnits(text, alipay_currency, { allowZero: false });
  return parsed.ok ? parsed.value : undefined;
}

/** The key of the response object for a method: alipay.trade.query answers alipay_trade_query_response. */
export function responseKeyOf(method: string): string {
  return `${method.replaceAll('.', '_')}_response`;
}
