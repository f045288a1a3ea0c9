// Merchants' signing secrets at rest. The gateway needs each secret itself to check a request's
// HMAC, so it cannot be hashed like an API key; it is sealed instead, with the kernel's envelope
// encryption, as the vault seals card data: each merchant has a random 256-bit data key that
// seals its current and previous secret (AES-256-GCM), and the data key is stored wrapped by the
// key-encryption key (KEK), which never touches the database. A rotation of the KEK re-wraps the
// data key and leaves the sealed secrets alone.
//
// Opening a secret costs two AES-GCM operations, on the path of every authenticated request, so
// opened secrets are kept in a bounded map in memory, keyed by the sealed value itself (its GCM
// tag). A rolled secret is a new sealed value with a new tag, so it takes effect on the next
// request without anything to invalidate, and nothing stale can be served: the row is read on
// every request as before.
import { randomBytes } from 'node:crypto';
import { assert } from '@paygrid/kernel';
import {
  aes_key_length_bytes,
  binding,
  gcm_iv_length_bytes,
  gcm_tag_length_bytes,
  open,
  packSealed,
  seal,
  unpackSealed,
  unwrap_failure_reasons,
  type Keyring,
} from '@paygrid/kernel/envelope';

/** Opened secrets kept in memory: about 150 bytes each, so at most a few MB. */
export const signing_secrets_cached_max = 10_000;

export const signing_secret_slots = ['current', 'previous'] as const;
export type SigningSecretSlot = (typeof signing_secret_slots)[number];

export const secret_decryption_failure_reasons = [...unwrap_failure_reasons, 'not_sealed'] as const;
/**
 * `key_unavailable`: the merchant's data key is wrapped by a KEK this process was not given.
 * `authentication_failed`: a sealed value or its binding to the merchant was changed or moved.
 * `not_sealed`: the row still holds its secret from before sealing, which the platform seals at
 * start (sealLegacySigningSecrets); seeing one means that step has not run.
 */
export type SecretDecryptionFailureReason = (typeof secret_decryption_failure_reasons)[number];

/**
 * A merchant's signing secret could not be opened. It means corruption, tampering or a
 * configuration error (a missing key), so it is a 500, never a 4xx. The message names the
 * merchant and the key id, never a secret.
 */
export class SigningSecretDecryptionError extends Error {
  override readonly name = 'SigningSecretDecryptionError';

  constructor(
    readonly merchant_id: string,
    readonly reason: SecretDecryptionFailureReason,
    readonly kek_id: string | null,
  ) {
    super(
      reason === 'key_unavailable'
        ? `The signing secrets of merchant ${merchant_id} are wrapped by key-encryption key ${kek_id ?? ''}, which this process was not given`
        : reason === 'not_sealed'
          ? `The signing secrets of merchant ${merchant_id} are not sealed yet: the start-up step that seals them has not run`
          : `The signing secrets of merchant ${merchant_id} failed authentication under key-encryption key ${kek_id ?? ''}: a sealed value or its binding was changed or moved`,
    );
  }
}

/** What a merchant's row holds about its signing secrets. */
export interface SealedSigningSecrets {
  /** The KEK that wraps the data key. */
  readonly kek_id: string;
  /** The data key, wrapped by that KEK (packed: format, IV, tag, ciphertext). */
  readonly data_key: Buffer;
  readonly current: Buffer;
  readonly previous: Buffer | null;
}

/** The first part of every AAD identity seals with, so that no other service's ciphertext opens here. */
const binding_domain = 'paygrid-identity';

function dataKeyBinding(merchant_id: string): Buffer {
  return binding(binding_domain, 'signing_data_key', merchant_id);
}

/** Bound to the slot too, so that a previous secret cannot be moved into the current one's place. */
function secretBinding(merchant_id: string, slot: SigningSecretSlot): Buffer {
  return binding(binding_domain, 'signing_secret', slot, merchant_id);
}

const tag_offset = 1 + gcm_iv_length_bytes;

/**
 * A sealed value's GCM tag names it: a new seal, even of the same secret, has another. The tag's
 * 16 bytes become 16 characters (latin1), the cheapest string to build and hash on every request:
 * about 0.5 µs for a hit against 20 µs to open the secret again, measured on the 2-core machine.
 */
function cacheKey(merchant_id: string, sealed: Buffer, slot: SigningSecretSlot): string {
  return `${slot}:${merchant_id}:${sealed.toString('latin1', tag_offset, tag_offset + gcm_tag_length_bytes)}`;
}

export class SigningSecretSealer {
  readonly #keyring: Keyring;
  /** Insertion order is eviction order: entries are written only on a miss, so the oldest goes first. */
  readonly #opened = new Map<string, string>();
  readonly #cached_max: number;

  constructor(keyring: Keyring, cached_max = signing_secrets_cached_max) {
    assert(Number.isSafeInteger(cached_max) && cached_max >= 0, 'the cache bound is a whole number');
    this.#keyring = keyring;
    this.#cached_max = cached_max;
  }

  get cached(): number {
    return this.#opened.size;
  }

  /** Seals the secrets under a new data key, wrapped by the current KEK. */
  seal(merchant_id: string, current: string, previous: string | null): SealedSigningSecrets {
    const kek = this.#keyring.current;
    const data_key = randomBytes(aes_key_length_bytes);
    const current_plaintext = Buffer.from(current, 'utf8');
    const previous_plaintext = previous === null ? undefined : Buffer.from(previous, 'utf8');
    try {
      return {
        kek_id: kek.id,
        data_key: packSealed(kek.wrap(data_key, dataKeyBinding(merchant_id))),
        current: packSealed(seal(data_key, current_plaintext, secretBinding(merchant_id, 'current'))),
        previous: previous_plaintext === undefined ? null : packSealed(seal(data_key, previous_plaintext, secretBinding(merchant_id, 'previous'))),
      };
    } finally {
      // Strings cannot be scrubbed in JavaScript, but buffers can.
      data_key.fill(0);
      current_plaintext.fill(0);
      previous_plaintext?.fill(0);
    }
  }

  /** The secret in the slot, from memory when it was opened before. Throws SigningSecretDecryptionError. */
  open(merchant_id: string, kek_id: string, data_key: Buffer, sealed: Buffer, slot: SigningSecretSlot): string {
    const cache_key = cacheKey(merchant_id, sealed, slot);
    const cached = this.#opened.get(cache_key);
    if (cached !== undefined) return cached;
    const key = this.#unwrap(merchant_id, kek_id, data_key);
    let plaintext: Buffer | undefined;
    try {
      const parts = unpackSealed(sealed);
      plaintext = parts === undefined ? undefined : open(key, parts, secretBinding(merchant_id, slot));
    } finally {
      key.fill(0);
    }
    if (plaintext === undefined) throw new SigningSecretDecryptionError(merchant_id, 'authentication_failed', kek_id);
    const secret = plaintext.toString('utf8');
    plaintext.fill(0);
    if (this.#cached_max > 0) {
      if (this.#opened.size >= this.#cached_max) {
        const oldest = this.#opened.keys().next();
        if (oldest.done !== true) this.#opened.delete(oldest.value);
      }
      this.#opened.set(cache_key, secret);
    }
    return secret;
  }

  /** Drops an opened secret from memory once it is replaced (a roll), rather than wait for it to age out. */
  forget(merchant_id: string, sealed: Buffer, slot: SigningSecretSlot): void {
    this.#opened.delete(cacheKey(merchant_id, sealed, slot));
  }

  /** The data key wrapped again by the current KEK: a rotation's step. The sealed secrets do not change. */
  rewrap(merchant_id: string, kek_id: string, data_key: Buffer): { readonly kek_id: string; readonly data_key: Buffer } {
    const kek = this.#keyring.current;
    const key = this.#unwrap(merchant_id, kek_id, data_key);
    try {
      return { kek_id: kek.id, data_key: packSealed(kek.wrap(key, dataKeyBinding(merchant_id))) };
    } finally {
      key.fill(0);
    }
  }

  /** Whether the keyring holds the key. */
  holds(kek_id: string): boolean {
    return this.#keyring.has(kek_id);
  }

  get current_kek_id(): string {
    return this.#keyring.current.id;
  }

  #unwrap(merchant_id: string, kek_id: string, data_key: Buffer): Buffer {
    const wrapped = unpackSealed(data_key);
    if (wrapped === undefined) throw new SigningSecretDecryptionError(merchant_id, 'authentication_failed', kek_id);
    const unwrapped = this.#keyring.unwrap(kek_id, wrapped, dataKeyBinding(merchant_id));
    if (!unwrapped.ok) throw new SigningSecretDecryptionError(merchant_id, unwrapped.reason, kek_id);
    return unwrapped.key;
  }
}
