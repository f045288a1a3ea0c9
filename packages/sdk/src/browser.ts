// @paygrid/sdk/browser: the client for a merchant's checkout page, with a publishable key only.
// It runs in browsers: it imports nothing from Node (browser.test.ts proves it by bundling it for
// the browser), uses the page's fetch, and draws idempotency keys from Web Crypto.
//
// A page may call the API only from an origin its merchant allowed (PATCH /v1/account
// {"allowed_origins": [...]}); from any other origin the browser refuses the answer and the
// call fails with a ConnectionError. Card numbers go from the page to the vault and nowhere
// else: the page sends the token to the merchant's server, which pays with its secret key.
//
//   import { PaygridBrowser } from '@paygrid/sdk/browser';
//   const paygrid = new PaygridBrowser({ publishable_key: 'pk_test_...', base_url: 'https://api.example.com' });
//   const token = await paygrid.tokens.create({ card: { number, exp_month, exp_year, cvc } });

import { TokensResource } from './payment-resources';
import type { RouteCall } from './resources';
import { expandPath } from './routes';
import { Transport, type TransportOptions } from './transport';

export {
  ApiError,
  AuthenticationError,
  ConnectionError,
  InvalidRequestError,
  PaygridError,
  PermissionError,
  RateLimitError,
  type ApiErrorType,
  type ConnectionErrorCode,
  type PaygridErrorType,
} from './errors';
export type { Token, TokenCreateParams } from './payment-types';
export { TokensResource } from './payment-resources';

const publishable_key_pattern = /^pk_(test|live)_/;
/** An RFC 4122 version 4 UUID has 16 random bytes, six of their bits fixed. */
const uuid_bytes = 16;

/**
 * A version 4 UUID from Web Crypto's getRandomValues, which every browser has on every page;
 * `crypto.randomUUID` exists only on https pages and localhost.
 */
export function randomIdempotencyKey(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(uuid_bytes));
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export interface PaygridBrowserOptions extends Omit<TransportOptions, 'api_key'> {
  /** A publishable key, `pk_test_…` or `pk_live_…`. A secret key is refused: it must never reach a browser. */
  readonly publishable_key: string;
}

export class PaygridBrowser {
  readonly tokens: TokensResource;

  readonly #transport: Transport;

  constructor(options: PaygridBrowserOptions) {
    if (typeof options.publishable_key !== 'string' || !publishable_key_pattern.test(options.publishable_key)) {
      throw new TypeError('publishable_key must be a publishable key (pk_test_... or pk_live_...); secret keys belong on servers only.');
    }
    const { publishable_key, ...transport_options } = options;
    // No user-agent: browsers set their own, and a page cannot send one without a preflight for it.
    this.#transport = new Transport({ ...transport_options, api_key: publishable_key }, { idempotencyKey: randomIdempotencyKey, headers: {} });
    const call: RouteCall = async (route, parameters, input = {}) =>
      this.#transport.request(route.method, expandPath(route.path, parameters), {
        body: input.body,
        query: input.query,
        idempotency_key: input.options?.idempotency_key,
      });
    this.tokens = new TokensResource(call);
  }
}
