// Typed methods over the payment routes.
import type { RouteCall } from './resources';
import { route } from './routes';
import type {
  BankTransferReview,
  Delivery,
  DeliveryAttempt,
  Event,
  EventListParams,
  Order,
  OrderCreateParams,
  PaymentAttempt,
  PaymentIntent,
  PaymentIntentConfirmParams,
  PaymentIntentCreateParams,
  Refund,
  Token,
  TokenCreateParams,
  WebhookEndpoint,
  WebhookEndpointCreated,
} from './payment-types';
import type { AmountInput, List, ListParams, RequestOptions } from './types';

/** Publishable (or secret) key: turns card details into a single-use token. */
export class TokensResource {
  constructor(private readonly call: RouteCall) {}

  create(params: TokenCreateParams, options?: RequestOptions): Promise<Token> {
    return this.call(route.tokens_create, {}, { body: params, options });
  }
}

export class OrdersResource {
  constructor(private readonly call: RouteCall) {}

  create(params: OrderCreateParams, options?: RequestOptions): Promise<Order> {
    return this.call(route.orders_create, {}, { body: params, options });
  }

  retrieve(id: string): Promise<Order> {
    return this.call(route.orders_retrieve, { id });
  }

  list(params: ListParams = {}): Promise<List<Order>> {
    return this.call(route.orders_list, {}, { query: { ...params } });
  }
}

export class PaymentIntentsResource {
  constructor(private readonly call: RouteCall) {}

  create(params: PaymentIntentCreateParams, options?: RequestOptions): Promise<PaymentIntent> {
    return this.call(route.payment_intents_create, {}, { body: params, options });
  }

  retrieve(id: string): Promise<PaymentIntent> {
    return this.call(route.payment_intents_retrieve, { id });
  }

  list(params: ListParams = {}): Promise<List<PaymentIntent>> {
    return this.call(route.payment_intents_list, {}, { query: { ...params } });
  }

  confirm(id: string, params: PaymentIntentConfirmParams, options?: RequestOptions): Promise<PaymentIntent> {
    return this.call(route.payment_intents_confirm, { id }, { body: params, options });
  }

  capture(id: string, params: { readonly amount?: AmountInput } = {}, options?: RequestOptions): Promise<PaymentIntent> {
    return this.call(route.payment_intents_capture, { id }, { body: params, options });
  }

  cancel(id: string, params: { readonly cancellation_reason?: 'duplicate' | 'fraudulent' | 'requested_by_customer' | 'abandoned' } = {}, options?: RequestOptions): Promise<PaymentIntent> {
    return this.call(route.payment_intents_cancel, { id }, { body: params, options });
  }

  listAttempts(id: string, params: ListParams = {}): Promise<List<PaymentAttempt>> {
    return this.call(route.payment_intents_list_attempts, { id }, { query: { ...params } });
  }
}

export class RefundsResource {
  constructor(private readonly call: RouteCall) {}

  create(params: { readonly payment_intent: string; readonly amount?: AmountInput }, options?: RequestOptions): Promise<Refund> {
    return this.call(route.refunds_create, {}, { body: params, options });
  }

  retrieve(id: string): Promise<Refund> {
    return this.call(route.refunds_retrieve, { id });
  }

  list(params: ListParams = {}): Promise<List<Refund>> {
    return this.call(route.refunds_list, {}, { query: { ...params } });
  }
}

export class WebhookEndpointsResource {
  constructor(private readonly call: RouteCall) {}

  /** The response holds the endpoint's signing secret (`whsec_…`); it is not shown again. */
  create(params: { readonly url: string; readonly enabled_events: readonly string[]; readonly description?: string }, options?: RequestOptions): Promise<WebhookEndpointCreated> {
    return this.call(route.webhook_endpoints_create, {}, { body: params, options });
  }

  retrieve(id: string): Promise<WebhookEndpoint> {
    return this.call(route.webhook_endpoints_retrieve, { id });
  }

  list(params: ListParams = {}): Promise<List<WebhookEndpoint>> {
    return this.call(route.webhook_endpoints_list, {}, { query: { ...params } });
  }

  update(id: string, params: { readonly url?: string; readonly enabled_events?: readonly string[]; readonly status?: 'enabled' | 'disabled' }, options?: RequestOptions): Promise<WebhookEndpoint> {
    return this.call(route.webhook_endpoints_update, { id }, { body: params, options });
  }

  listAttempts(id: string, params: ListParams = {}): Promise<List<DeliveryAttempt>> {
    return this.call(route.webhook_endpoints_list_attempts, { id }, { query: { ...params } });
  }
}

export class EventsResource {
  constructor(private readonly call: RouteCall) {}

  retrieve(id: string): Promise<Event> {
    return this.call(route.events_retrieve, { id });
  }

  list(params: EventListParams = {}): Promise<List<Event>> {
    return this.call(route.events_list, {}, { query: { ...params } });
  }

  /** Delivers the event to the endpoint again, now. */
  resend(id: string, params: { readonly endpoint: string }, options?: RequestOptions): Promise<Delivery> {
    return this.call(route.events_resend, { id }, { body: params, options });
  }
}

export class BankTransfersResource {
  constructor(private readonly call: RouteCall) {}

  /** Test mode: report an incoming bank transfer, as the bank would. */
  report(params: { readonly reference: string; readonly amount: AmountInput; readonly currency: string }, options?: RequestOptions): Promise<PaymentIntent | BankTransferReview> {
    return this.call(route.test_helpers_bank_transfers_create, {}, { body: params, options });
  }

  /** Incoming transfers that matched no payment, or not its amount, held for a person. */
  listReviews(params: ListParams = {}): Promise<List<BankTransferReview>> {
    return this.call(route.bank_transfer_reviews_list, {}, { query: { ...params } });
  }
}
