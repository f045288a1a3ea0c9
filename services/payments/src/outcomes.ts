// What an outside call answered, in the few kinds the saga acts on. Each connector answer (and the
// wallet's) is mapped here, so that the saga's recording step has one closed union to handle.
import { randomBytes } from 'node:crypto';
import type { AuthorizeOutcome, NextAction, ProviderNotification, ProviderStatus, SimpleOutcome } from '@paygrid/connectors';

export type CallOutcome =
  /** The provider holds the money; `amount_captured` is set when it also took it. */
  | { readonly kind: 'authorized'; readonly provider_reference: string; readonly amount_captured: bigint | null }
  /** The customer must act (requires_action) or a notification is awaited (processing). */
  | { readonly kind: 'waiting'; readonly provider_reference: string; readonly next_action: NextAction | null; readonly intent_status: 'requires_action' | 'processing' }
  /** A poll of a waiting attempt: nothing new. */
  | { readonly kind: 'still_waiting' }
  /**
   * A capture, void, refund, top-up or reversal went through. The wallet's calls name the object
   * they made (the top-up, the reversal), kept as the attempt's provider reference.
   */
  | { readonly kind: 'succeeded'; readonly provider_reference?: string }
  | { readonly kind: 'failed'; readonly code: string; readonly message: string }
  /** No answer: the provider is asked again later. */
  | { readonly kind: 'unknown'; readonly reason: string };

/** The code an authorization gets when the provider says it never received it. */
export const not_received_code = 'processing_error';

export function fromAuthorizeOutcome(outcome: AuthorizeOutcome, amount: bigint): CallOutcome {
  switch (outcome.status) {
    case 'authorized':
      return { kind: 'authorized', provider_reference: outcome.provider_reference, amount_captured: outcome.captured ? amount : null };
    case 'requires_action':
      return { kind: 'waiting', provider_reference: outcome.provider_reference, next_action: outcome.next_action, intent_status: 'requires_action' };
    case 'pending':
      return { kind: 'waiting', provider_reference: outcome.provider_reference, next_action: outcome.next_action ?? null, intent_status: 'processing' };
    case 'declined':
      return { kind: 'failed', code: outcome.code, message: outcome.message };
    case 'unknown':
      return { kind: 'unknown', reason: outcome.reason };
  }
}

export function fromSimpleOutcome(outcome: SimpleOutcome): CallOutcome {
  switch (outcome.status) {
    case 'succeeded':
      return { kind: 'succeeded' };
    case 'failed':
      return { kind: 'failed', code: outcome.code, message: outcome.message };
    case 'unknown':
      return { kind: 'unknown', reason: outcome.reason };
  }
}

/**
 * What the provider's status says about an authorization whose answer was lost or is awaited.
 * `undefined` means the payment exists and waits for the customer: the caller decides what to do.
 */
export function fromAuthorizationStatus(status: ProviderStatus): CallOutcome | undefined {
  switch (status.status) {
    case 'not_found':
      // Never reached the provider: nothing was charged, and the customer may try again.
      return { kind: 'failed', code: not_received_code, message: 'The payment never reached the provider; nothing was charged' };
    case 'declined':
      return { kind: 'failed', code: status.code, message: `The provider declined the payment (${status.code})` };
    case 'authorized':
      return { kind: 'authorized', provider_reference: status.provider_reference, amount_captured: null };
    case 'captured':
      return { kind: 'authorized', provider_reference: status.provider_reference, amount_captured: status.amount_captured };
    case 'voided':
      return { kind: 'failed', code: 'authorization_voided', message: 'The provider voided the authorization' };
    case 'requires_action':
    case 'pending':
      return undefined;
  }
}

export function fromNotification(notification: ProviderNotification, amount: bigint): CallOutcome {
  switch (notification.status) {
    case 'authorized':
      return { kind: 'authorized', provider_reference: notification.provider_reference, amount_captured: null };
    case 'captured':
      return { kind: 'authorized', provider_reference: notification.provider_reference, amount_captured: notification.amount ?? amount };
    case 'declined': {
      const code = notification.code ?? 'card_declined';
      return { kind: 'failed', code, message: `The provider declined the payment (${code})` };
    }
  }
}

const base32_alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
export const bank_transfer_reference_characters = 10;

/**
 * The reference a payer writes on a bank transfer: 'PG' and ten base32 characters (50 bits), in an
 * alphabet without 0/O and 1/I confusions that survives a bank's upper-casing.
 */
export function bankTransferReference(random: (size: number) => Uint8Array = randomBytes): string {
  const bytes = random(bank_transfer_reference_characters);
  let reference = 'PG';
  for (const byte of bytes) reference += base32_alphabet.charAt(byte % 32);
  return reference;
}
