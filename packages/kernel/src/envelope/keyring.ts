// The KEKs a process holds: the current one, which wraps every new data key, and older ones that
// still open what they wrapped until a rotation has re-wrapped it. One keyring is shared by every
// service of a process that seals (the vault, identity, webhooks and the wallet), so that a rotation makes the new key
// current for all of them at the same moment.
import { assert } from '../assert';
import type { KeyEncryptionKey } from './key-encryption-key';
import { aes_key_length_bytes, type Sealed } from './seal';

export const unwrap_failure_reasons = ['key_unavailable', 'authentication_failed'] as const;
/**
 * `key_unavailable`: the data key is wrapped by a KEK this process was not given.
 * `authentication_failed`: the wrapped key or its binding was changed or moved (corruption or
 * tampering), or the key named is not the one that wrapped it.
 */
export type UnwrapFailureReason = (typeof unwrap_failure_reasons)[number];

export type UnwrapResult = { readonly ok: true; readonly key: Buffer } | { readonly ok: false; readonly reason: UnwrapFailureReason };

export class Keyring {
  #current: KeyEncryptionKey;
  readonly #by_id = new Map<string, KeyEncryptionKey>();

  constructor(current: KeyEncryptionKey, previous: readonly KeyEncryptionKey[] = []) {
    this.#current = current;
    for (const key of [current, ...previous]) this.#by_id.set(key.id, key);
  }

  /** The key that wraps new data keys. */
  get current(): KeyEncryptionKey {
    return this.#current;
  }

  /** The ids of every key held, the current one first. */
  get ids(): string[] {
    return [this.#current.id, ...[...this.#by_id.keys()].filter((id) => id !== this.#current.id)];
  }

  get(kek_id: string): KeyEncryptionKey | undefined {
    return this.#by_id.get(kek_id);
  }

  has(kek_id: string): boolean {
    return this.#by_id.has(kek_id);
  }

  /** The new key wraps from now on; the old current stays, to open what it wrapped. */
  adopt(key: KeyEncryptionKey): void {
    this.#by_id.set(key.id, key);
    this.#current = key;
  }

  /** Forgets a key once nothing is wrapped by it any more. The current key is never retired. */
  retire(kek_id: string): void {
    assert(kek_id !== this.#current.id, 'the current key-encryption key is never retired');
    this.#by_id.delete(kek_id);
  }

  /** Opens a wrapped data key with the KEK its row names. */
  unwrap(kek_id: string, wrapped: Sealed, aad: Buffer): UnwrapResult {
    const kek = this.#by_id.get(kek_id);
    if (kek === undefined) return { ok: false, reason: 'key_unavailable' };
    const key = kek.unwrap(wrapped, aad);
    if (key === undefined) return { ok: false, reason: 'authentication_failed' };
    assert(key.length === aes_key_length_bytes, 'an unwrapped key is 32 bytes');
    return { ok: true, key };
  }
}
