// @paygrid/sdk: the typed TypeScript client for Paygrid's public REST API `/v1`.
// It depends only on Node built-ins (node:crypto and the global fetch of Node 20). Checkout pages
// use '@paygrid/sdk/browser' instead (browser.ts): publishable-key calls, nothing from Node.
//
// - Paygrid: the client; resources such as `paygrid.wallets.topUp(id, { amount })`.
// - errors: PaygridError and one subclass per server error type, plus ConnectionError.
// - signing: the Paygrid-Signature scheme, also importable alone as '@paygrid/sdk/signing'.
// - sdk_routes: every { method, path } of `/v1` the SDK calls, for comparison with the OpenAPI
//   document; ledger_sdk_routes: the ledger's operator API, which `paygrid.ledger` calls.
// - ledger-wire: the ledger's binary encoding (TigerBeetle's 128-byte records), for bulk clients.

export { Paygrid, base_url_default, sdk_version, user_agent, type PaygridOptions, type RequestInput } from './client';
export {
  ApiError,
  AuthenticationError,
  ConnectionError,
  IdempotencyError,
  InvalidRequestError,
  NotFoundError,
  PaygridError,
  PermissionError,
  RateLimitError,
  RequestTooLargeError,
  ServiceUnavailableError,
  UnsupportedMediaTypeError,
  error_status_by_type,
  errorFromResponse,
  errorTypeForStatus,
  isApiErrorType,
  type ApiErrorType,
  type ConnectionErrorCode,
  type ErrorResponse,
  type PaygridErrorFields,
  type PaygridErrorType,
} from './errors';
export {
  backoffDelayMilliseconds,
  isRetryableResponse,
  max_retries_default,
  max_retries_limit,
  parseRetryAfterSeconds,
  retry_after_seconds_max,
  retry_delay_base_ms,
  retry_delay_max_ms,
  timeout_ms_default,
  timeout_ms_max,
} from './retry';
export { encodeJsonBody, encodeQuery, type QueryValue } from './encoding';
export { expandPath, ledger_route, ledger_sdk_routes, pathParameterNames, route, sdk_routes, type HttpMethod, type RouteName, type SdkRoute } from './routes';
export { LedgerResource, type BinaryRouteCall } from './ledger-resource';
export * from './ledger-wire';
export type * from './ledger-types';
export * from './signing';
export type * from './types';
export type * from './resources';
export type * from './payment-types';
export * from './payment-resources';
export * from './webhooks';
