// Records to wire objects. An event's wire form is the JSON its deliveries carry, parsed back, so
// that what a merchant reads through the API is exactly what their receiver was sent.
import { assert } from '@paygrid/kernel';
import type { AttemptRecord, DeliveryRecord, EndpointRecord, EventRecord } from './store';
import type { WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint, WebhookEvent } from './types';
import { isPlainObject } from './validation';

const ms_per_second = 1_000;

export function secondsOf(ms: number): number {
  return Math.floor(ms / ms_per_second);
}

export function endpointToWire(endpoint: EndpointRecord): WebhookEndpoint {
  return {
    id: endpoint.id,
    object: 'webhook_endpoint',
    url: endpoint.url,
    enabled_events: [...endpoint.enabled_events],
    status: endpoint.status,
    description: endpoint.description,
    secret_last4: endpoint.secret_last4,
    created: endpoint.created,
    livemode: endpoint.livemode,
  };
}

export function eventToWire(event: EventRecord): WebhookEvent {
  const parsed: unknown = JSON.parse(event.body);
  assert(isPlainObject(parsed), 'an event body is a JSON object');
  const data = parsed.data;
  assert(isPlainObject(data) && isPlainObject(data.object), 'an event body carries data.object');
  assert(parsed.id === event.id && parsed.type === event.type, 'an event body matches its row');
  return {
    id: event.id,
    object: 'event',
    type: event.type,
    data: { object: data.object },
    sequence: event.object_sequence,
    created: event.created,
    livemode: event.livemode,
  };
}

export function deliveryToWire(delivery: DeliveryRecord): WebhookDelivery {
  return {
    id: delivery.id,
    object: 'webhook_delivery',
    event: delivery.event_id,
    endpoint: delivery.endpoint_id,
    kind: delivery.kind,
    status: delivery.status,
    attempts: delivery.attempts,
    next_attempt: delivery.status === 'pending' ? secondsOf(delivery.next_attempt_ms) : null,
    created: delivery.created,
    livemode: delivery.livemode,
  };
}

export function attemptToWire(attempt: AttemptRecord): WebhookDeliveryAttempt {
  return {
    id: attempt.id,
    object: 'webhook_delivery_attempt',
    event: attempt.event_id,
    endpoint: attempt.endpoint_id,
    delivery: attempt.delivery_id,
    attempt_number: attempt.attempt_number,
    status: attempt.succeeded ? 'succeeded' : 'failed',
    response_status: attempt.response_status,
    response_body: attempt.response_body,
    error: attempt.error,
    duration_ms: attempt.duration_ms,
    created: attempt.created,
    livemode: attempt.livemode,
  };
}
