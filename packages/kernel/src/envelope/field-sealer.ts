// One sealed column per row, for services that keep a single secret value in a row of their own:
// a webhook endpoint's signing secret, a withdrawal's bank account number. Each row gets its own
// random data key, stored wrapped by the key-encryption key (KEK) beside the sealed value, as the
// vault does for each card. A KEK rotation re-wraps the data key (rewrap) and leaves the sealed
// value alone. Both the value and its data key are bound (AAD) to the service, the field and the
// row's owner, so that a sealed value copied to another row, field or tenant fails to open
// instead of opening as someone else's secret.
import { randomBytes } from 'node:crypto';
import { assert } from '../assert';
import type { Keyring, UnwrapFailureReason } from './keyring';
import { aes_key_length_bytes, binding, gcm_iv_length_bytes, gcm_tag_length_bytes, open, packSealed, seal, unpackSealed } from './seal';

/** What a row holds for one sealed value. */
export interface SealedField {
  /** The KEK that wraps the data key. */
  readonly kek_id: string;
  /** The row's data key, wrapped by that KEK (packed: format, IV, tag, ciphertext). */
  readonly data_key: Buffer;
  /** The value, sealed under the data key (packed). */
  readonly sealed: Buffer;
}

/** The parts that name a row's owner in its bindings: merchant, mode, row id. */
export type SealedFieldOwner = readonly (string | number | boolean)[];

/**
 * A sealed value could not be opened or re-wrapped: corruption, tampering or a missing key. It
 * is a bug or a configuration error, never the caller's input, so the platform answers 500. The
 * message names the field, the row and the key id, never the value.
 */
export class SealedFieldError extends Error {
  override readonly name = 'SealedFieldError';

  constructor(
    readonly field: string,
    readonly owner: string,
    readonly reason: UnwrapFailureReason,
    readonly kek_id: string,
  ) {
    super(
      reason === 'key_unavailable'
        ? `The ${field} of ${owner} is under key-encryption key ${kek_id}, which this process was not given`
        : `The ${field} of ${owner} failed authentication under key-encryption key ${kek_id}: it or its data key was changed or moved`,
    );
  }
}

const tag_offset = 1 + gcm_iv_length_bytes;

export class FieldSealer {
  readonly #keyring: Keyring;
  readonly #domain: string;
  readonly #field: string;
  /** Opened values by owner and GCM tag; insertion order is eviction order. Empty when cached_max is 0. */
  readonly #opened = new Map<string, string>();
  readonly #cached_max: number;

  /**
   * `domain` names the service (`paygrid-webhooks`), `field` the value (`endpoint_secret`).
   * `cached_max` opened values are kept in memory, for a value opened on a hot path (a webhook
   * secret, for every delivery); 0 keeps none, for a value needed rarely (an account number).
   */
  constructor(keyring: Keyring, domain: string, field: string, cached_max = 0) {
    assert(Number.isSafeInteger(cached_max) && cached_max >= 0, 'the cache bound is a whole number');
    this.#keyring = keyring;
    this.#domain = domain;
    this.#field = field;
    this.#cached_max = cached_max;
  }

  get current_kek_id(): string {
    return this.#keyring.current.id;
  }

  /** Whether the keyring holds the key. */
  holds(kek_id: string): boolean {
    return this.#keyring.has(kek_id);
  }

  /** Seals the value under a new data key, wrapped by the current KEK. */
  seal(owner: SealedFieldOwner, value: string): SealedField {
    const kek = this.#keyring.current;
    const data_key = randomBytes(aes_key_length_bytes);
    const plaintext = Buffer.from(value, 'utf8');
    try {
      return {
        kek_id: kek.id,
        data_key: packSealed(kek.wrap(data_key, this.#dataKeyBinding(owner))),
        sealed: packSealed(seal(data_key, plaintext, this.#valueBinding(owner))),
      };
    } finally {
      // Strings cannot be scrubbed in JavaScript, but buffers can.
      data_key.fill(0);
      plaintext.fill(0);
    }
  }

  /** The value. Throws SealedFieldError when it does not open. */
  open(owner: SealedFieldOwner, field: SealedField): string {
    const cache_key = this.#cached_max > 0 ? this.#cacheKey(owner, field.sealed) : undefined;
    if (cache_key !== undefined) {
      const cached = this.#opened.get(cache_key);
      if (cached !== undefined) return cached;
    }
    const key = this.#unwrap(owner, field.kek_id, field.data_key);
    let plaintext: Buffer | undefined;
    try {
      const parts = unpackSealed(field.sealed);
      plaintext = parts === undefined ? undefined : open(key, parts, this.#valueBinding(owner));
    } finally {
      key.fill(0);
    }
    if (plaintext === undefined) throw new SealedFieldError(this.#field, describe(owner), 'authentication_failed', field.kek_id);
    const value = plaintext.toString('utf8');
    plaintext.fill(0);
    if (cache_key !== undefined) {
      if (this.#opened.size >= this.#cached_max) {
        const oldest = this.#opened.keys().next();
        if (oldest.done !== true) this.#opened.delete(oldest.value);
      }
      this.#opened.set(cache_key, value);
    }
    return value;
  }

  /** The data key wrapped again by the current KEK: a rotation's step. The sealed value does not change. */
  rewrap(owner: SealedFieldOwner, kek_id: string, data_key: Buffer): { readonly kek_id: string; readonly data_key: Buffer } {
    const kek = this.#keyring.current;
    const key = this.#unwrap(owner, kek_id, data_key);
    try {
      return { kek_id: kek.id, data_key: packSealed(kek.wrap(key, this.#dataKeyBinding(owner))) };
    } finally {
      key.fill(0);
    }
  }

  #unwrap(owner: SealedFieldOwner, kek_id: string, data_key: Buffer): Buffer {
    const wrapped = unpackSealed(data_key);
    if (wrapped === undefined) throw new SealedFieldError(this.#field, describe(owner), 'authentication_failed', kek_id);
    const unwrapped = this.#keyring.unwrap(kek_id, wrapped, this.#dataKeyBinding(owner));
    if (!unwrapped.ok) throw new SealedFieldError(this.#field, describe(owner), unwrapped.reason, kek_id);
    return unwrapped.key;
  }

  #dataKeyBinding(owner: SealedFieldOwner): Buffer {
    return binding(this.#domain, `${this.#field}_data_key`, ...owner);
  }

  #valueBinding(owner: SealedFieldOwner): Buffer {
    return binding(this.#domain, this.#field, ...owner);
  }

  /** The owner and the GCM tag: a new seal, even of the same value, has another tag. */
  #cacheKey(owner: SealedFieldOwner, sealed: Buffer): string {
    return `${JSON.stringify(owner)}:${sealed.toString('latin1', tag_offset, tag_offset + gcm_tag_length_bytes)}`;
  }
}

function describe(owner: SealedFieldOwner): string {
  return owner.map(String).join('/');
}
