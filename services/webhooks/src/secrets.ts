// Endpoint signing secrets at rest. Every delivery is signed with its endpoint's secret, so it
// cannot be hashed; it is sealed instead, with the kernel's envelope encryption, as card data
// is: each endpoint has a random data key that seals its secret (AES-256-GCM), stored wrapped by
// the key-encryption key (KEK), which never touches the database. A KEK rotation re-wraps the data
// key and leaves the sealed secret alone. Only the last four characters stay readable, to show
// merchants which secret a receiver should hold; the whole secret is shown once, at creation.
//
// Opening a secret costs two AES-GCM operations per delivery, so opened secrets are kept in a
// bounded map in memory, keyed by the sealed value's GCM tag: a new seal has a new tag, so nothing
// stale can be served.
import { FieldSealer, type Keyring, type SealedField } from '@paygrid/kernel/envelope';

/** Opened secrets kept in memory: about 150 bytes each, so at most about a megabyte. */
export const endpoint_secrets_cached_max = 4_096;
/** How many characters of a secret are shown after creation. */
export const secret_shown_length = 4;

/** The first part of every AAD the webhooks service seals with, so that no other service's ciphertext opens here. */
const binding_domain = 'paygrid-webhooks';

export interface SecretOwner {
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean;
}

export function secretLast4(secret: string): string {
  return secret.slice(-secret_shown_length);
}

export class EndpointSecrets {
  readonly #sealer: FieldSealer;

  constructor(keyring: Keyring, cached_max = endpoint_secrets_cached_max) {
    this.#sealer = new FieldSealer(keyring, binding_domain, 'endpoint_secret', cached_max);
  }

  get current_kek_id(): string {
    return this.#sealer.current_kek_id;
  }

  holds(kek_id: string): boolean {
    return this.#sealer.holds(kek_id);
  }

  seal(endpoint: SecretOwner, secret: string): SealedField {
    return this.#sealer.seal(owner(endpoint), secret);
  }

  /** The secret itself, to sign a delivery with. Throws SealedFieldError. */
  open(endpoint: SecretOwner, secret: SealedField): string {
    return this.#sealer.open(owner(endpoint), secret);
  }

  rewrap(endpoint: SecretOwner, kek_id: string, data_key: Buffer): { readonly kek_id: string; readonly data_key: Buffer } {
    return this.#sealer.rewrap(owner(endpoint), kek_id, data_key);
  }
}

/** A sealed secret opens only for its endpoint, merchant and mode. */
function owner(endpoint: SecretOwner): [string, boolean, string] {
  return [endpoint.merchant_id, endpoint.livemode, endpoint.id];
}
