// The Paygrid client: one `request` core (authentication, signing, idempotency keys, timeouts,
// retries, typed errors) and typed resource methods on top of it.

import {
  BankTransfersResource,
  EventsResource,
  OrdersResource,
  PaymentIntentsResource,
  RefundsResource,
  TokensResource,
  WebhookEndpointsResource,
} from './payment-resources';
import { randomUUID } from 'node:crypto';
import {
  AccountResource,
  ApiKeysResource,
  AuditEventsResource,
  BalanceResource,
  CustomersResource,
  MerchantsResource,
  TestHelpersResource,
  WalletLimitsResource,
  WalletTransfersResource,
  WalletsResource,
  WithdrawalsResource,
  type RouteCall,
} from './resources';
import { LedgerResource, type BinaryRouteCall } from './ledger-resource';
import { ledger_binary_media_type } from './ledger-wire';
import { expandPath, type HttpMethod } from './routes';
import { signRequest } from './signing';
import { Transport, type RequestInput, type TransportOptions } from './transport';

export { base_url_default, type RequestInput } from './transport';
export const sdk_version = '0.1.0';
export const user_agent = `paygrid-sdk-node/${sdk_version}`;

export interface PaygridOptions extends TransportOptions {
  /** An operator key or a merchant's secret key, sent as `Authorization: Bearer <api_key>`. */
  readonly api_key: string;
  /** When set, every attempt carries a fresh Paygrid-Signature header. */
  readonly signing_secret?: string;
}

export class Paygrid {
  readonly merchants: MerchantsResource;
  readonly auditEvents: AuditEventsResource;
  readonly account: AccountResource;
  readonly apiKeys: ApiKeysResource;
  readonly customers: CustomersResource;
  readonly wallets: WalletsResource;
  readonly walletTransfers: WalletTransfersResource;
  readonly withdrawals: WithdrawalsResource;
  readonly walletLimits: WalletLimitsResource;
  readonly testHelpers: TestHelpersResource;
  readonly balance: BalanceResource;
  readonly tokens: TokensResource;
  readonly orders: OrdersResource;
  readonly paymentIntents: PaymentIntentsResource;
  readonly refunds: RefundsResource;
  readonly webhookEndpoints: WebhookEndpointsResource;
  readonly events: EventsResource;
  readonly bankTransfers: BankTransfersResource;
  /** Operator key: the ledger's own API, in JSON or its binary encoding. */
  readonly ledger: LedgerResource;

  readonly #transport: Transport;

  constructor(options: PaygridOptions) {
    if (options.signing_secret !== undefined && options.signing_secret.length === 0) {
      throw new TypeError('signing_secret must not be empty; leave it out to send unsigned requests.');
    }
    const signing_secret = options.signing_secret;
    this.#transport = new Transport(options, {
      idempotencyKey: randomUUID,
      headers: { 'user-agent': user_agent },
      ...(signing_secret === undefined ? {} : { sign: (request, now_seconds) => signRequest(signing_secret, request, { now_seconds }) }),
    });

    // Async, so a bad path parameter rejects the returned promise like every other failure.
    const call: RouteCall = async (route, parameters, input = {}) =>
      this.request(route.method, expandPath(route.path, parameters), {
        body: input.body,
        query: input.query,
        idempotency_key: input.options?.idempotency_key,
      });
    this.merchants = new MerchantsResource(call);
    this.auditEvents = new AuditEventsResource(call);
    this.account = new AccountResource(call);
    this.apiKeys = new ApiKeysResource(call);
    this.customers = new CustomersResource(call);
    this.wallets = new WalletsResource(call);
    this.walletTransfers = new WalletTransfersResource(call);
    this.withdrawals = new WithdrawalsResource(call);
    this.walletLimits = new WalletLimitsResource(call);
    this.testHelpers = new TestHelpersResource(call);
    this.balance = new BalanceResource(call);
    this.tokens = new TokensResource(call);
    this.orders = new OrdersResource(call);
    this.paymentIntents = new PaymentIntentsResource(call);
    this.refunds = new RefundsResource(call);
    this.webhookEndpoints = new WebhookEndpointsResource(call);
    this.events = new EventsResource(call);
    this.bankTransfers = new BankTransfersResource(call);
    const callBinary: BinaryRouteCall = async (route, body, decode) =>
      this.#transport.requestBinary(route.method, expandPath(route.path, {}), { body, media_type: ledger_binary_media_type, decode });
    this.ledger = new LedgerResource(call, callBinary);
  }

  /**
   * One logical API call, retried on connection failures, timeouts, 409 idempotency_key_in_use,
   * 429 and 5xx, up to max_retries times. The body is encoded once so every attempt sends (and
   * signs) the same bytes; POST and PATCH send the same Idempotency-Key on every attempt.
   */
  async request<T>(method: HttpMethod, path: string, input: RequestInput = {}): Promise<T> {
    return this.#transport.request<T>(method, path, input);
  }

  /**
   * A call whose request and answer are both in `media_type` (the ledger's binary encoding), with
   * the same retries, signing and idempotency keys as `request`.
   */
  async requestBinary<T>(
    method: HttpMethod,
    path: string,
    input: { readonly body: Uint8Array; readonly media_type: string; readonly decode: (bytes: Uint8Array) => T; readonly idempotency_key?: string | undefined },
  ): Promise<T> {
    return this.#transport.requestBinary(method, path, input);
  }
}
