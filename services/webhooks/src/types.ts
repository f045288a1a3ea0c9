// The webhooks service's wire shapes, inputs and its one public interface. Every object is
// returned already in wire shape: snake_case fields, an `object` name, `created` in unix seconds
// and `livemode`.
import type { Page, PageRequest, Tenant } from '@paygrid/kernel';

/**
 * Every event type the platform publishes. An endpoint subscribes to some of them, or to `*`
 * for all (including types added later).
 */
export const webhook_event_types = [
  'order.created',
  'order.updated',
  'payment_intent.created',
  'payment_intent.processing',
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
  'payment_intent.canceled',
  'payment_intent.requires_action',
  'payment_intent.amount_capturable_updated',
  'refund.created',
  'refund.succeeded',
  'refund.failed',
  'wallet.transfer.completed',
  'wallet.withdrawal.succeeded',
  'wallet.withdrawal.failed',
  'wallet.top_up.succeeded',
  'wallet.top_up.reversed',
  'wallet.top_up.restored',
  'webhook_endpoint.disabled',
] as const;
export type WebhookEventType = (typeof webhook_event_types)[number];

/** The subscription that matches every event type. */
export const all_events_wildcard = '*';
export type EnabledEvent = WebhookEventType | typeof all_events_wildcard;

export const endpoint_statuses = ['enabled', 'disabled'] as const;
export type EndpointStatus = (typeof endpoint_statuses)[number];

/**
 * A delivery is one event on its way to one endpoint. It is pending while attempts remain, then
 * succeeded (a 2xx answer), failed (retries exhausted, or the receiver answered 410 Gone) or
 * canceled (its endpoint was disabled or deleted before the next attempt).
 */
export const delivery_statuses = ['pending', 'succeeded', 'failed', 'canceled'] as const;
export type DeliveryStatus = (typeof delivery_statuses)[number];

export const attempt_statuses = ['succeeded', 'failed'] as const;
export type AttemptStatus = (typeof attempt_statuses)[number];

/** `automatic` deliveries come from publish and retry on the schedule; `manual` ones from resendEvent, and are tried once. */
export const delivery_kinds = ['automatic', 'manual'] as const;
export type DeliveryKind = (typeof delivery_kinds)[number];

export interface WebhookEndpoint {
  readonly id: string;
  readonly object: 'webhook_endpoint';
  readonly url: string;
  readonly enabled_events: EnabledEvent[];
  readonly status: EndpointStatus;
  readonly description: string | null;
  /** The signing secret's last four characters; the whole secret is shown only at creation. */
  readonly secret_last4: string;
  readonly created: number;
  readonly livemode: boolean;
}

export interface CreatedWebhookEndpoint {
  readonly endpoint: WebhookEndpoint;
  /** `whsec_` and the base64 of 24 random bytes. Shown once: no other call returns it. */
  readonly secret: string;
}

export interface DeletedWebhookEndpoint {
  readonly id: string;
  readonly object: 'webhook_endpoint';
  readonly deleted: true;
}

export interface CreateEndpointInput {
  readonly url: string;
  readonly enabled_events: readonly string[];
  readonly description?: string | null;
}

export interface UpdateEndpointInput {
  readonly url?: string;
  readonly enabled_events?: readonly string[];
  readonly status?: EndpointStatus;
  readonly description?: string | null;
}

export interface WebhookEventData {
  readonly object: Record<string, unknown>;
}

/**
 * An event as stored and as sent: the request body of every delivery is this object's JSON.
 * Integers in `data` read back as JSON numbers (every integer the platform publishes is within
 * 2^53 - 1; publish refuses any beyond).
 */
export interface WebhookEvent {
  readonly id: string;
  readonly object: 'event';
  readonly type: WebhookEventType;
  readonly data: WebhookEventData;
  /** The object's own sequence number at the time of the event, so that receivers can order events of one object. */
  readonly sequence: number;
  readonly created: number;
  readonly livemode: boolean;
}

export interface PublishEventInput {
  /** `evt_` and letters, digits or underscores, chosen by the producer: publishing the same id again stores nothing new. */
  readonly id: string;
  readonly type: string;
  readonly data: { readonly object: Record<string, unknown> };
  readonly sequence: number;
  /** Unix seconds. */
  readonly created: number;
}

export interface ListEventsFilter {
  readonly type?: string;
}

export interface WebhookDelivery {
  readonly id: string;
  readonly object: 'webhook_delivery';
  readonly event: string;
  readonly endpoint: string;
  readonly kind: DeliveryKind;
  readonly status: DeliveryStatus;
  /** Attempts made so far. */
  readonly attempts: number;
  /** Unix seconds of the next attempt while pending, else null. */
  readonly next_attempt: number | null;
  readonly created: number;
  readonly livemode: boolean;
}

/** One HTTP request to a receiver and what came of it. */
export interface WebhookDeliveryAttempt {
  readonly id: string;
  readonly object: 'webhook_delivery_attempt';
  readonly event: string;
  readonly endpoint: string;
  readonly delivery: string;
  /** 1 for a delivery's first attempt, 2 for its first retry, and so on. */
  readonly attempt_number: number;
  /** `succeeded` when the receiver answered 2xx, else `failed`. */
  readonly status: AttemptStatus;
  /** The receiver's HTTP status, or null when no answer arrived (timeout, connection refused). */
  readonly response_status: number | null;
  /** The first KiB of the receiver's answer body, or null when no answer arrived. */
  readonly response_body: string | null;
  /** Why no answer arrived, or null when one did. */
  readonly error: string | null;
  readonly duration_ms: number;
  /** Unix seconds when the request was sent. */
  readonly created: number;
  readonly livemode: boolean;
}

export interface ListDeliveryAttemptsFilter {
  /** Only attempts to deliver this event. */
  readonly event?: string;
  /** Only attempts to reach this endpoint. */
  readonly endpoint?: string;
}

/** The service's one public interface; the gateway calls it in-process. */
export interface WebhooksClient {
  createEndpoint(tenant: Tenant, input: CreateEndpointInput): Promise<CreatedWebhookEndpoint>;
  getEndpoint(tenant: Tenant, id: string): Promise<WebhookEndpoint>;
  listEndpoints(tenant: Tenant, page: PageRequest): Promise<Page<WebhookEndpoint>>;
  updateEndpoint(tenant: Tenant, id: string, input: UpdateEndpointInput): Promise<WebhookEndpoint>;
  deleteEndpoint(tenant: Tenant, id: string): Promise<DeletedWebhookEndpoint>;
  publish(tenant: Tenant, input: PublishEventInput): Promise<WebhookEvent>;
  getEvent(tenant: Tenant, id: string): Promise<WebhookEvent>;
  listEvents(tenant: Tenant, page: PageRequest, filter?: ListEventsFilter): Promise<Page<WebhookEvent>>;
  listDeliveryAttempts(tenant: Tenant, filter: ListDeliveryAttemptsFilter, page?: PageRequest): Promise<Page<WebhookDeliveryAttempt>>;
  resendEvent(tenant: Tenant, event_id: string, endpoint_id: string): Promise<WebhookDelivery>;
}
