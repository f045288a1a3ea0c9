// The webhooks service's contract: every operation of WebhooksClient, and whether sending it twice
// has the effect of sending it once, for the HTTP client and routes of @paygrid/kernel/rpc.
import { defineServiceContract } from '@paygrid/kernel/rpc';
import type { WebhooksClient } from './types';

export const webhooks_contract = defineServiceContract<WebhooksClient>()({
  service: 'webhooks',
  operations: {
    // Every call makes a new endpoint with a new secret: sent twice, it makes two.
    createEndpoint: { idempotent: false },
    getEndpoint: { idempotent: true },
    listEndpoints: { idempotent: true },
    // The update sets fields to values: a repeat finds them set and writes nothing.
    updateEndpoint: { idempotent: true },
    // A second deletion is refused (not found) although the first took effect.
    deleteEndpoint: { idempotent: false },
    // De-duplicated by the event id the producer chose: the same id again stores nothing new and
    // answers the stored event.
    publish: { idempotent: true },
    getEvent: { idempotent: true },
    listEvents: { idempotent: true },
    listDeliveryAttempts: { idempotent: true },
    // Every call queues one more manual delivery to the receiver.
    resendEvent: { idempotent: false },
  },
});
