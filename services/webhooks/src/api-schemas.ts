// The public API's objects and request bodies that webhooks owns: endpoints, events, deliveries
// and their attempts (decision 87). The gateway validates and serialises with these, and the SDK's
// types are their Static<>; bodies refuse unknown properties.
import { Type } from '@sinclair/typebox';
import { Description, HttpUrl, Id, id_length_max, ListQuery, Livemode, nullable, OpenObject, Timestamp } from '@paygrid/kernel/api-schemas';

export const enabled_events_max = 50;

export const WebhookEndpoint = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('webhook_endpoint'),
    url: Type.String(),
    enabled_events: Type.Array(Type.String()),
    status: Type.Union([Type.Literal('enabled'), Type.Literal('disabled')]),
    description: nullable(Type.String()),
    secret_last4: Type.String({ description: "The signing secret's last four characters: the whole secret is shown only when the endpoint is created." }),
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'WebhookEndpoint' },
);

export const WebhookEndpointCreated = Type.Composite([WebhookEndpoint, Type.Object({ secret: Type.String({ description: 'whsec_...: shown only in this response.' }) })]);

export const Event = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('event'),
    type: Type.String(),
    data: Type.Object({ object: OpenObject() }),
    sequence: Type.Integer({ description: "The object's own version: order events about one object by it." }),
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'Event' },
);

export const DeliveryAttempt = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('webhook_delivery_attempt'),
    event: Type.String(),
    endpoint: Type.String(),
    delivery: Type.String(),
    attempt_number: Type.Integer(),
    status: Type.Union([Type.Literal('succeeded'), Type.Literal('failed')]),
    response_status: nullable(Type.Integer()),
    response_body: nullable(Type.String({ description: 'The first KiB of the answer.' })),
    error: nullable(Type.String()),
    duration_ms: Type.Integer(),
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'DeliveryAttempt' },
);

export const Delivery = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('webhook_delivery'),
    event: Type.String(),
    endpoint: Type.String(),
    kind: Type.String(),
    status: Type.String(),
    attempts: Type.Integer(),
    next_attempt: nullable(Timestamp),
    created: Timestamp,
    livemode: Livemode,
  },
  { $id: 'Delivery' },
);

// Request bodies.

export const CreateWebhookEndpointBody = Type.Object(
  {
    url: HttpUrl,
    enabled_events: Type.Array(Type.String({ maxLength: 100 }), { minItems: 1, maxItems: enabled_events_max }),
    description: Type.Optional(Description),
  },
  { additionalProperties: false },
);
export const UpdateWebhookEndpointBody = Type.Object(
  {
    url: Type.Optional(HttpUrl),
    enabled_events: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), { minItems: 1, maxItems: enabled_events_max })),
    status: Type.Optional(Type.Union([Type.Literal('enabled'), Type.Literal('disabled')])),
  },
  { additionalProperties: false, minProperties: 1 },
);
export const ResendEventBody = Type.Object({ endpoint: Id('we') }, { additionalProperties: false });
export const EventsQuery = Type.Composite([ListQuery, Type.Object({ type: Type.Optional(Type.String({ maxLength: id_length_max })) })], { additionalProperties: false });

/** The named schemas of this module, registered once by the gateway so the OpenAPI document refers to them by name. */
export const webhooks_api_schemas = [WebhookEndpoint, Event, DeliveryAttempt, Delivery];
