// @paygrid/webhooks: webhook endpoints, events and their delivery to merchants' receivers with
// Standard Webhooks signatures, retries with backoff and a delivery log. The gateway owns HTTP
// and calls WebhooksService in-process through the WebhooksClient interface; the wallet's and
// payments' events reach it over the bus (consumer.ts).
export {
  WebhooksService,
  claim_batch_max,
  deliveries_in_flight_max_default,
  delivery_lease_ms_default,
  endpoints_per_tenant_max,
  gone_status,
  legacy_sealing_batch_size,
  poll_interval_ms_default,
  type WebhooksLog,
  type WebhooksServiceOptions,
} from './service';
export { webhooks_migrations } from './migrations';
export {
  event_domains,
  events_deliveries_max,
  events_durable,
  events_handler_timeout_ms,
  events_redelivery_delays_ms,
  events_subscription_settings,
  storeEventMessage,
  subscribeWebhooksToEvents,
  type EventSubscriptionSettings,
} from './consumer';
export { EndpointSecrets, endpoint_secrets_cached_max, secret_shown_length } from './secrets';
export {
  retry_after_ms_max,
  retry_delay_ms_max,
  retry_jitter_percent,
  retry_schedule_length_max,
  retry_schedule_ms_default,
  retryDelayMs,
  scheduleSpanMs,
  type RandomSource,
} from './schedule';
export { delivery_timeout_ms_default, delivery_timeout_ms_max, error_length_max, response_body_bytes_max, user_agent, type AttemptOutcome } from './sender';
export { secret_prefix, secret_random_bytes, signDelivery, type SignedHeaders } from './signing';
export { delivery_transitions, endpoint_transitions } from './transitions';
export {
  WebhookUrlGuard,
  classifyAddress,
  lookupAddresses,
  non_public_address_classes,
  url_lookup_timeout_ms,
  type AddressLookup,
  type NonPublicAddressClass,
  type UrlGuardOptions,
} from './url-guard';
export {
  description_length_max,
  enabled_events_max,
  event_body_bytes_max,
  event_id_suffix_length_max,
  isWebhookEventType,
  url_length_max,
} from './validation';
export * from './types';
export { webhooks_contract } from './contract';
export { delivery_saga_name } from './store';
