// Why a capture, void or refund failed, the same words for every connector, so the payments
// service can act on the code without knowing the provider. The provider's own words go in the
// outcome's message.
import { ApiError } from '@paygrid/kernel';

export const connector_failure_codes = [
  /** The provider has no payment under this reference. */
  'resource_missing',
  /** More than was authorised (capture) or than is left to refund (refund). */
  'amount_too_large',
  /** Not allowed in the payment's state: void after capture, refund before capture, and so on. */
  'unexpected_state',
  /** The method takes the money when the customer pays; there is nothing to capture. */
  'capture_not_supported',
  /** The provider refused the request for another reason, given in the message. */
  'provider_refused',
] as const;

export type ConnectorFailureCode = (typeof connector_failure_codes)[number];

export interface ConnectorFailure {
  readonly status: 'failed';
  readonly code: ConnectorFailureCode;
  readonly message: string;
}

export function failure(code: ConnectorFailureCode, message: string): ConnectorFailure {
  return { status: 'failed', code, message };
}

/**
 * `status` has no "unknown" answer: when the provider cannot be asked, the caller must ask again
 * later, so the failure is thrown as a 503 the payments saga retries.
 */
export function providerUnavailable(provider: string, reason: string): ApiError {
  return new ApiError('service_unavailable_error', 'provider_unavailable', `${provider} could not be asked: ${reason}.`);
}
