// The port between the card connector and a card acquirer. The connector talks to it through
// one of two transports with the same interface: the simulator itself, in the process, or an
// acquirer's HTTP API (the simulator's server in tests) through `createHttpCardAcquirer`.
import type { CurrencyCode } from '@paygrid/money';
import type { AuthorizeOutcome, ProviderStatus } from '../connector';
import type { ConnectorFailure } from '../internal/failures';

export interface AcquirerCard {
  readonly number: string;
  readonly exp_month: number;
  readonly exp_year: number;
  /** Null once the vault has erased it, as it does after the first authorization. */
  readonly cvc: string | null;
}

export interface AcquirerAuthorizeRequest {
  /** The idempotency reference: a second request with it gets the first answer. */
  readonly reference: string;
  /**
   * Whether this is real money. A real acquirer may route test payments to its own test
   * environment; the simulator declines every live one, since it stands in for no real acquirer.
   */
  readonly livemode: boolean;
  readonly amount: bigint;
  readonly currency: CurrencyCode;
  readonly card: AcquirerCard;
  readonly capture_method: 'automatic' | 'manual';
  /** Where the 3-D Secure challenge sends the customer back to. */
  readonly return_url?: string;
}

/** An acquirer always answers with a decision; "unknown" is what the caller concludes without one. */
export type AcquirerAuthorizeResult = Extract<AuthorizeOutcome, { status: 'authorized' | 'requires_action' | 'declined' }>;

export interface AcquirerCaptureRequest {
  readonly reference: string;
  readonly provider_reference: string;
  readonly amount: bigint;
}

export interface AcquirerVoidRequest {
  readonly reference: string;
  readonly provider_reference: string;
}

export interface AcquirerRefundRequest {
  readonly reference: string;
  readonly provider_reference: string;
  readonly amount: bigint;
}

export type AcquirerOperationResult = { readonly status: 'succeeded' } | ConnectorFailure;

export interface AcquirerCallOptions {
  /** Fires when the caller stops waiting; the acquirer may stop working on the answer then. */
  readonly signal?: AbortSignal;
}

export interface CardAcquirer {
  authorize(request: AcquirerAuthorizeRequest, options?: AcquirerCallOptions): Promise<AcquirerAuthorizeResult>;
  capture(request: AcquirerCaptureRequest, options?: AcquirerCallOptions): Promise<AcquirerOperationResult>;
  void(request: AcquirerVoidRequest, options?: AcquirerCallOptions): Promise<AcquirerOperationResult>;
  refund(request: AcquirerRefundRequest, options?: AcquirerCallOptions): Promise<AcquirerOperationResult>;
  /** What became of the authorization requested under this idempotency reference. */
  status(reference: string, options?: AcquirerCallOptions): Promise<ProviderStatus>;
}
