// @paygrid/connectors: the ways of taking money behind one Connector interface, and the
// sandboxes that stand in for the outside providers in development and tests.
//
// - card: CardConnector talks to a card acquirer through the CardAcquirer port, either the
//   in-process CardAcquirerSimulator or an acquirer's HTTP API (createHttpCardAcquirer: https,
//   bearer secret and/or mutual TLS), such as the simulator's server (startCardAcquirerServer).
//
// Every simulator and sandbox here takes test-mode payments only (decision 39).
// - alipay: AlipayConnector (open API, page pay, RSA2) and AlipaySandbox.
// - wechat-pay: WeChatPayConnector (API v3, Native) and WeChatPaySandbox.

export type {
  AuthorizeOutcome,
  AuthorizeRequest,
  CallOptions,
  Connector,
  DeclineCode,
  NextAction,
  NotificationParse,
  PaymentMethod,
  PaymentMethodType,
  ProviderNotification,
  ProviderStatus,
  SimpleOutcome,
} from './connector';
export { traceConnector } from './traced';
export { connector_failure_codes, type ConnectorFailure, type ConnectorFailureCode } from './internal/failures';

export type {
  AcquirerAuthorizeRequest,
  AcquirerAuthorizeResult,
  AcquirerCallOptions,
  AcquirerCaptureRequest,
  AcquirerCard,
  AcquirerOperationResult,
  AcquirerRefundRequest,
  AcquirerVoidRequest,
  CardAcquirer,
} from './card/acquirer';
export { CardConnector, type CardConnectorOptions, type CardVault } from './card/card-connector';
export { acquirer_tls_version_min, createHttpCardAcquirer, isLoopbackUrl, type HttpCardAcquirer, type HttpCardAcquirerOptions } from './card/http-acquirer';
export { card_number_censor, redactCardNumbers } from './card/redaction';
export { acquirer_body_bytes_max, startCardAcquirerServer, type CardAcquirerServer, type StartCardAcquirerServerOptions } from './card/server';
export {
  CardAcquirerSimulator,
  authorization_transitions,
  challenge_base_url_default,
  simulator_livemode_message,
  simulator_records_max,
  test_card_numbers,
  withheld_answer_ms_max,
  type AuthorizationState,
  type AuthorizationView,
  type CardAcquirerSimulatorOptions,
  type ChallengeDecision,
  type ChallengeResult,
} from './card/simulator';

export { AlipayConnector, trade_expire_seconds_default, type AlipayConnectorConfig } from './alipay/alipay-connector';
export {
  AlipaySandbox,
  alipay_gateway_path,
  alipay_notification_timeout_ms,
  alipay_sandbox_trades_max,
  alipay_trade_transitions,
  type AlipayNotificationDelivery,
  type AlipaySandboxOptions,
  type AlipayTradeStatus,
  type AlipayTradeView,
} from './alipay/sandbox';
export {
  alipaySignContent,
  formatAlipayTimestamp,
  formatYuan,
  parseYuan,
  signAlipayRequest,
  verifyAlipayNotification,
  verifyAlipayRequest,
} from './alipay/signing';

export { WeChatPayConnector, order_expire_seconds_default, type WeChatPayConnectorConfig } from './wechat-pay/wechat-pay-connector';
export {
  WeChatPaySandbox,
  wechat_pay_notification_timeout_ms,
  wechat_pay_sandbox_orders_max,
  wechat_trade_transitions,
  type WeChatNotificationDelivery,
  type WeChatOrderView,
  type WeChatPaySandboxOptions,
  type WeChatTradeState,
} from './wechat-pay/sandbox';
export {
  authorization_scheme as wechat_pay_authorization_scheme,
  decryptResource as decryptWeChatPayResource,
  encryptResource as encryptWeChatPayResource,
  formatAuthorization as formatWeChatPayAuthorization,
  parseAuthorization as parseWeChatPayAuthorization,
} from './wechat-pay/signing';

export { startNotificationReceiver, type NotificationReceiver } from './testing/notification-receiver';
