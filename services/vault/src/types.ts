// The vault's wire objects and its one public interface. A Token is what merchants see: brand,
// last four digits, expiry and fingerprint, never the number or the CVC. The full card comes
// back only from detokenize, which exists for payment connectors and nothing else.
import type { Tenant } from '@paygrid/kernel';

/** Card networks told apart by the first digits of the number (the BIN); lower case, as Stripe's PaymentMethod shows them. */
export const card_brands = ['visa', 'mastercard', 'amex', 'discover', 'jcb', 'unionpay', 'diners', 'unknown'] as const;
export type CardBrand = (typeof card_brands)[number];

/** What a token shows of its card. `funding` is always 'credit' until a BIN table says otherwise. */
export interface TokenCard {
  readonly brand: CardBrand;
  readonly last4: string;
  readonly exp_month: number;
  readonly exp_year: number;
  /** The same for the same number at the same merchant, and unrelated across merchants. */
  readonly fingerprint: string;
  readonly funding: 'credit';
}

export interface Token {
  readonly id: string;
  readonly object: 'token';
  readonly card: TokenCard;
  /** Unix seconds. */
  readonly created: number;
  readonly livemode: boolean;
  readonly used: boolean;
}

/** As the gateway receives it under `card[…]`; every field is checked again here. */
export interface CreateTokenInput {
  readonly number: string;
  readonly exp_month: number;
  readonly exp_year: number;
  readonly cvc: string;
}

/** The card in the clear: for a payment connector, and never to be logged or returned over HTTP. */
export interface DetokenizedCard {
  readonly number: string;
  readonly exp_month: number;
  readonly exp_year: number;
  /** null once eraseCvc has run (after the authorization). */
  readonly cvc: string | null;
}

/** Why the card is read in the clear; recorded in the access log with the token id. */
export interface DetokenizePurpose {
  /** The connector that will send the card to its network, such as 'card_acquirer'. */
  readonly connector: string;
}

/** One recorded read of a card in the clear. */
export interface Detokenization {
  readonly token: string;
  readonly connector: string;
  /** Unix seconds. */
  readonly created: number;
}

/** What claiming a token for its one use found (see VaultService.claimToken). */
export type TokenClaim = 'claimed' | 'held' | 'already_used' | 'missing';

/**
 * The vault's public interface. The gateway calls createToken and getToken; payment connectors
 * call detokenize and eraseCvc; payments claims a token (claimToken) before its one use. No route of the public API ever reaches detokenize.
 */
export interface VaultClient {
  createToken(tenant: Tenant, input: CreateTokenInput): Promise<Token>;
  getToken(tenant: Tenant, id: string): Promise<Token | undefined>;
  detokenize(token_id: string, purpose: DetokenizePurpose): Promise<DetokenizedCard>;
  eraseCvc(token_id: string): Promise<void>;
  claimToken(tenant: Tenant, token_id: string, claimant: string): Promise<TokenClaim>;
  releaseToken(token_id: string, claimant: string): Promise<void>;
}
