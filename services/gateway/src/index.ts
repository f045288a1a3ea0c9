// @paygrid/gateway: the public REST API `/v1` in front of identity and wallet.
export { registerGateway, compression_threshold_bytes, type GatewayOptions } from './gateway';
export { root_operator_id, type Caller, type RouteAuth } from './authentication';
export {
  idempotency_key_header,
  idempotency_key_length_max,
  idempotency_lock_ttl_ms,
  idempotency_record_format,
  idempotency_record_ttl_ms,
  idempotent_replayed_header,
} from './idempotency';
export { IdempotencyKeys, idempotency_keys_held_ms, idempotency_retired_keys_max, type RecordKeys } from './idempotency-seal';
export { nonce_ttl_ms } from './request-signing';
export {
  merchant_actions,
  merchant_permissions,
  merchant_refusal_codes,
  merchantVerdict,
  modes,
  type MerchantAction,
  type MerchantRefusalCode,
  type Mode,
  type Verdict,
} from './merchant-permissions';
