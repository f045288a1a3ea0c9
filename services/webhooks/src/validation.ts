// Input checks. The gateway validates requests too, but the service stands on its own: every
// value that reaches a table or a receiver has been checked here.
import { ApiError, invalidRequest } from '@paygrid/kernel';
import {
  all_events_wildcard,
  endpoint_statuses,
  webhook_event_types,
  type EnabledEvent,
  type EndpointStatus,
  type WebhookEventType,
} from './types';

export const url_length_max = 2048;
export const description_length_max = 500;
/** Every known type once, plus the wildcard: a longer list necessarily repeats itself. */
export const enabled_events_max = webhook_event_types.length + 1;
/**
 * The most bytes an event's JSON may take. Receivers hold it in memory and Standard Webhooks asks
 * for small payloads; events carry one object, which is far smaller.
 */
export const event_body_bytes_max = 65_536;
/** `evt_` and up to this many letters, digits or underscores. */
export const event_id_suffix_length_max = 96;
/** Object ids are a prefix, an underscore and 24 characters; anything far longer is not one. */
export const object_id_length_max = 128;

// Standard Webhooks signs `id.timestamp.body`: an id must never contain a full stop, or one
// signed message could be read as another.
const event_id_pattern = new RegExp(`^evt_[A-Za-z0-9_]{1,${String(event_id_suffix_length_max)}}$`);


export function checkUrl(value: unknown, param = 'url'): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > url_length_max) {
    throw invalidRequest('url_invalid', `${param} must be an http or https URL of at most ${String(url_length_max)} characters`, param);
  }
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw invalidRequest('url_invalid', `${param} is not a valid URL`, param);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw invalidRequest('url_invalid', `${param} must use http or https`, param);
  }
  // Credentials in a URL end up in logs and proxies; receivers authenticate us by the signature.
  if (parsed.username !== '' || parsed.password !== '') {
    throw invalidRequest('url_invalid', `${param} must not contain a user name or password`, param);
  }
  return value;
}

export function isWebhookEventType(value: unknown): value is WebhookEventType {
  return typeof value === 'string' && (webhook_event_types as readonly string[]).includes(value);
}

/** A non-empty list of known event types or `*`; repeats are dropped, order is kept. */
export function checkEnabledEvents(value: unknown, param = 'enabled_events'): EnabledEvent[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw invalidRequest('parameter_invalid', `${param} must be a non-empty list of event types, or ['*']`, param);
  }
  const enabled: EnabledEvent[] = [];
  for (const [index, item] of (value as unknown[]).entries()) {
    const item_param = `${param}[${String(index)}]`;
    if (item !== all_events_wildcard && !isWebhookEventType(item)) {
      throw invalidRequest('parameter_invalid', `${item_param} is not a known event type: ${typeof item === 'string' ? `'${item.slice(0, 100)}'` : typeof item}`, item_param);
    }
    if (!enabled.includes(item)) enabled.push(item);
    if (enabled.length > enabled_events_max) throw invalidRequest('parameter_invalid', `${param} has too many entries`, param);
  }
  return enabled;
}

export function checkEndpointStatus(value: unknown, param = 'status'): EndpointStatus {
  const found = endpoint_statuses.find((status) => status === value);
  if (found === undefined) throw invalidRequest('parameter_invalid', `${param} must be one of ${endpoint_statuses.join(', ')}`, param);
  return found;
}

export function checkDescription(value: unknown, param = 'description'): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > description_length_max) {
    throw invalidRequest('parameter_invalid', `${param} must be a string of at most ${String(description_length_max)} characters`, param);
  }
  return value;
}

export function checkEventId(value: unknown, param = 'id'): string {
  if (typeof value !== 'string' || !event_id_pattern.test(value)) {
    throw invalidRequest('parameter_invalid', `${param} must be 'evt_' followed by 1 to ${String(event_id_suffix_length_max)} letters, digits or underscores`, param);
  }
  return value;
}

export function checkEventType(value: unknown, param = 'type'): WebhookEventType {
  if (!isWebhookEventType(value)) throw invalidRequest('parameter_invalid', `${param} is not a known event type`, param);
  return value;
}

/** A non-negative safe integer: a sequence number or unix seconds. */
export function checkCount(value: unknown, param: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidRequest('parameter_invalid_integer', `${param} must be a non-negative integer`, param);
  }
  return value;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** An id given to a lookup: a string of sane length, so that nothing unbounded reaches SQL. */
export function isPlausibleId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= object_id_length_max;
}

/**
 * The event's JSON, exactly as receivers get it. Amounts inside Paygrid are bigint; each is within
 * 2^53 - 1 and is written as the JSON integer. Anything JSON has no form for, or an integer that
 * would round, is refused rather than silently changed.
 */
export function encodeEventBody(event: Record<string, unknown>): string {
  let problem: string | undefined;
  const body = JSON.stringify(event, (key: string, value: unknown) => {
    if (typeof value === 'bigint') {
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) problem ??= `${key} is beyond ±(2^53 - 1)`;
      return Number(value);
    }
    if (typeof value === 'number' && !Number.isFinite(value)) problem ??= `${key} is not a finite number`;
    if (typeof value === 'function' || typeof value === 'symbol') problem ??= `${key} has no JSON form`;
    return value;
  });
  if (problem !== undefined) throw invalidRequest('parameter_invalid', `data cannot be sent as JSON: ${problem}`, 'data');
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > event_body_bytes_max) {
    throw new ApiError('request_too_large_error', 'event_too_large', `The event's JSON is ${String(bytes)} bytes; at most ${String(event_body_bytes_max)} are sent`, 'data');
  }
  return body;
}
