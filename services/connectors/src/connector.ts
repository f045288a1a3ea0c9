// One interface for every way of taking money: a card acquirer, Alipay, WeChat Pay, a customer's
// wallet, a bank transfer. The payments service drives a payment through it and never knows which
// provider is behind it. Every call carries a timeout and an idempotency reference (the attempt's
// id), so that a call repeated after a crash or a timeout never charges twice: a connector asked
// twice with one reference answers with the first outcome.
import type { CurrencyCode } from '@paygrid/money';

export type PaymentMethodType = 'card' | 'alipay' | 'wechat_pay' | 'wallet' | 'bank_transfer';

export type PaymentMethod =
  | { readonly type: 'card'; readonly token: string }
  | { readonly type: 'wallet'; readonly wallet: string }
  | { readonly type: 'alipay' }
  | { readonly type: 'wechat_pay' }
  | { readonly type: 'bank_transfer' };

/** Why a provider refused. Card codes are Stripe's decline codes. */
export type DeclineCode =
  | 'card_declined'
  | 'insufficient_funds'
  | 'expired_card'
  | 'incorrect_cvc'
  | 'processing_error'
  | 'authentication_failed'
  | 'payment_method_unavailable';

export interface CallOptions {
  /** The attempt's id: the same reference always means the same provider-side operation. */
  readonly idempotency_reference: string;
  readonly timeout_ms: number;
}

export interface AuthorizeRequest {
  readonly merchant_id: string;
  readonly livemode: boolean;
  readonly amount: bigint;
  readonly currency: CurrencyCode;
  readonly payment_method: PaymentMethod;
  /** Manual capture holds the money; automatic capture takes it at once where the method can. */
  readonly capture_method: 'automatic' | 'manual';
  /** Where a customer returns after a challenge or a provider's page (3-D Secure, Alipay). */
  readonly return_url?: string;
  /** Shown to the customer by methods that show one (Alipay subject, WeChat description). */
  readonly description: string;
}

export type AuthorizeOutcome =
  /** The money is held (manual capture) or taken (automatic capture: `captured` true). */
  | { readonly status: 'authorized'; readonly provider_reference: string; readonly captured: boolean }
  /** The customer must act first: follow the URL (3-D Secure challenge, provider page, QR code). */
  | { readonly status: 'requires_action'; readonly provider_reference: string; readonly next_action: NextAction }
  /** Accepted, and the outcome arrives later as a notification (bank transfer, some wallets). */
  | { readonly status: 'pending'; readonly provider_reference: string; readonly next_action?: NextAction }
  | { readonly status: 'declined'; readonly code: DeclineCode; readonly message: string }
  /** No answer in time, or the connection broke: the outcome is unknown; ask `status` later. */
  | { readonly status: 'unknown'; readonly reason: string };

export type NextAction =
  | { readonly type: 'redirect_to_url'; readonly url: string }
  | { readonly type: 'display_qr_code'; readonly data: string }
  | { readonly type: 'bank_transfer_instructions'; readonly reference: string };

export type SimpleOutcome =
  | { readonly status: 'succeeded' }
  | { readonly status: 'failed'; readonly code: string; readonly message: string }
  | { readonly status: 'unknown'; readonly reason: string };

/** What the provider says happened to a payment, for settling an attempt whose outcome is unknown. */
export type ProviderStatus =
  | { readonly status: 'not_found' }
  | { readonly status: 'requires_action' }
  | { readonly status: 'pending' }
  | { readonly status: 'authorized'; readonly provider_reference: string }
  | { readonly status: 'captured'; readonly provider_reference: string; readonly amount_captured: bigint }
  | { readonly status: 'voided' }
  | { readonly status: 'declined'; readonly code: DeclineCode };

/** An asynchronous notification from a provider, after its signature has been verified. */
export interface ProviderNotification {
  /** The idempotency reference of the attempt it is about. */
  readonly idempotency_reference: string;
  readonly provider_reference: string;
  readonly status: 'authorized' | 'captured' | 'declined';
  readonly amount?: bigint;
  readonly code?: DeclineCode;
}

export type NotificationParse =
  | { readonly ok: true; readonly notification: ProviderNotification; /** What to answer the provider with. */ readonly acknowledgement: { readonly status: number; readonly body: string; readonly content_type: string } }
  | { readonly ok: false; readonly reason: string };

export interface Connector {
  readonly method: PaymentMethodType;
  authorize(request: AuthorizeRequest, options: CallOptions): Promise<AuthorizeOutcome>;
  /** Captures up to the authorised amount; the rest is released. */
  capture(provider_reference: string, amount: bigint, options: CallOptions): Promise<SimpleOutcome>;
  void(provider_reference: string, options: CallOptions): Promise<SimpleOutcome>;
  refund(provider_reference: string, amount: bigint, options: CallOptions): Promise<SimpleOutcome>;
  /** Asks the provider about the payment made under this idempotency reference. */
  status(idempotency_reference: string, options: Omit<CallOptions, 'idempotency_reference'>): Promise<ProviderStatus>;
  /**
   * Verifies and parses an asynchronous notification (headers with lower-case names, the raw
   * body). A bad signature is refused; the caller logs it and answers 400.
   */
  parseNotification(headers: Readonly<Record<string, string | undefined>>, raw_body: string): Promise<NotificationParse>;
}
