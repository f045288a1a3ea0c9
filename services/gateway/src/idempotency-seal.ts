// The keys that seal idempotency records. A record holds the first response to an
// `Idempotency-Key` for a day, in the gateway's cache: process memory, or Redis shared by every
// replica. Some of those responses carry secrets shown only once (a merchant's API key and signing
// secret, a rolled key, a webhook endpoint's `whsec_` secret), and the rest carry customers' names,
// bank details and payments; a request's own body can carry a card number or a bank account
// number. So every record is sealed (AES-256-GCM), and the request it answers is remembered by a
// keyed fingerprint (HMAC-SHA256), never by a plain hash that could be searched.
//
// The keys are derived from the platform's key-encryption key (KEK) with HKDF, one pair per KEK,
// so that every replica holding the KEK derives the same keys with nothing to store or share: a
// record sealed by one replica replays from any other, and after a restart. A record names the
// KEK its keys came from, so a replay opens it with that KEK's keys while the keyring holds it,
// during a rotation as before it. The keyring forgets a retired KEK as soon as no data key is
// wrapped by it, which embedded is seconds after a rotation starts (or at the start itself, for a
// previous key that wraps nothing); records sealed under it live a day, so the keys derived from a
// KEK stay in this process for a record's lifetime after the keyring last held it. The platform
// makes these keys as soon as it has loaded the keyring, before anything can retire a key. What is
// held is one-way output of HKDF, never the KEK itself; whoever holds the retired KEK can derive
// it anyway.
import { createHmac } from 'node:crypto';
import { assert, systemClock, type Clock } from '@paygrid/kernel';
import { binding, open, packSealed, seal, unpackSealed, type Keyring } from '@paygrid/kernel/envelope';

/** How long the first response to a key is kept. */
export const idempotency_record_ttl_ms = 24 * 60 * 60 * 1000;
/**
 * How long a key stays locked by a request in flight. Longer than the server's request timeout,
 * so a live request never loses its lock; a process that dies frees its keys after this.
 */
export const idempotency_lock_ttl_ms = 60_000;
/**
 * How long the keys of a KEK are held after the keyring last held it: a record is sealed at most a
 * lock's time after its request saw the keys, and lives a record's time from then.
 */
export const idempotency_keys_held_ms = idempotency_record_ttl_ms + idempotency_lock_ttl_ms;
/**
 * Keys of KEKs the keyring has let go of, still held because records they sealed may be live. A
 * rotation adds one; more than a few a day would be an operator's mistake, and the oldest go first.
 */
export const idempotency_retired_keys_max = 8;

/** The first part of every AAD the gateway seals with, so that no other service's ciphertext opens here. */
const binding_domain = 'paygrid-gateway';
// HKDF's info strings: one key to seal, another to fingerprint, so that neither use weakens the other.
const seal_key_info = 'paygrid-gateway idempotency response seal v1';
const fingerprint_key_info = 'paygrid-gateway idempotency request fingerprint v1';

/** The keys derived from one KEK. */
export interface RecordKeys {
  readonly kek_id: string;
  readonly seal_key: Buffer;
  readonly fingerprint_key: Buffer;
}

/** What a record keeps of the first response. */
export interface StoredResponse {
  readonly status: number;
  readonly body: string;
}

interface HeldKeys {
  readonly keys: RecordKeys;
  /** The last time this process saw the KEK in the keyring: what it sealed lives a record's TTL after that, at most. */
  last_held_ms: number;
}

export class IdempotencyKeys {
  readonly #keyring: Keyring;
  readonly #clock: Clock;
  readonly #held = new Map<string, HeldKeys>();

  constructor(keyring: Keyring, clock: Clock = systemClock) {
    this.#keyring = keyring;
    this.#clock = clock;
    this.#observe();
  }

  /** The keys of the current KEK, which seal every new record. */
  current(): RecordKeys {
    this.#observe();
    const held = this.#held.get(this.#keyring.current.id);
    assert(held !== undefined, 'observing the keyring derives the keys of its current key-encryption key');
    return held.keys;
  }

  /**
   * The keys of the KEK a record names: from the keyring while it holds that KEK, and for a
   * record's lifetime after it let go of it. Undefined when this process never held it (a KEK
   * dropped before this process started) or held it too long ago for any record of it to be live.
   */
  find(kek_id: string): RecordKeys | undefined {
    this.#observe();
    const held = this.#held.get(kek_id);
    if (held === undefined) return undefined;
    if (this.#clock.now() - held.last_held_ms >= idempotency_keys_held_ms) {
      this.#held.delete(kek_id);
      return undefined;
    }
    return held.keys;
  }

  /** The ids of the KEKs whose keys are held, for tests and logs; never key material. */
  get held_kek_ids(): string[] {
    return [...this.#held.keys()];
  }

  /**
   * Notes every KEK the keyring holds now, deriving the keys of any new one. A handful of map
   * operations: the keyring holds the current key and at most a few previous ones.
   */
  #observe(): void {
    const now = this.#clock.now();
    const kek_ids = this.#keyring.ids;
    for (const kek_id of kek_ids) {
      const held = this.#held.get(kek_id);
      if (held !== undefined) {
        held.last_held_ms = now;
        continue;
      }
      const kek = this.#keyring.get(kek_id);
      if (kek === undefined) continue;
      this.#held.set(kek_id, {
        keys: { kek_id, seal_key: kek.deriveKey(seal_key_info), fingerprint_key: kek.deriveKey(fingerprint_key_info) },
        last_held_ms: now,
      });
    }
    if (this.#held.size <= kek_ids.length + idempotency_retired_keys_max) return;
    // Too many retired keys: forget those the keyring let go of longest ago.
    const retired = [...this.#held].filter(([kek_id]) => !this.#keyring.has(kek_id)).sort(([, left], [, right]) => left.last_held_ms - right.last_held_ms);
    for (const [kek_id] of retired.slice(0, retired.length - idempotency_retired_keys_max)) this.#held.delete(kek_id);
  }
}

/**
 * The request a record answers, as a keyed hash of its method, URL and exact body. Keyed, because
 * a body can hold a card number and its CVC, or a bank account number: a plain SHA-256 of a body
 * whose layout is known can be searched for them.
 */
export function requestFingerprint(keys: RecordKeys, method: string, url: string, body: string | Buffer): string {
  return createHmac('sha256', keys.fingerprint_key).update(`${method} ${url}\n`).update(body).digest('hex');
}

/**
 * The AAD of a sealed response: the cache key it is stored under (caller, mode and the hash of the
 * `Idempotency-Key`) and the request's fingerprint, so that a sealed response copied to another
 * key, or to another request's record, does not open there.
 */
function responseBinding(cache_key: string, fingerprint: string): Buffer {
  return binding(binding_domain, 'idempotency_response', cache_key, fingerprint);
}

/** The status and body sealed, as base64 of the packed seal (format, IV, tag, ciphertext). */
export function sealResponse(keys: RecordKeys, cache_key: string, fingerprint: string, response: StoredResponse): string {
  const plaintext = Buffer.from(JSON.stringify({ status: response.status, body: response.body }), 'utf8');
  const sealed = packSealed(seal(keys.seal_key, plaintext, responseBinding(cache_key, fingerprint)));
  plaintext.fill(0);
  return sealed.toString('base64');
}

function isStoredResponse(value: unknown): value is StoredResponse {
  if (typeof value !== 'object' || value === null) return false;
  const { status, body } = value as Record<string, unknown>;
  return typeof status === 'number' && Number.isInteger(status) && status >= 100 && status <= 599 && typeof body === 'string';
}

/**
 * The response, or undefined when the seal does not open under these keys and this binding: it
 * was changed, moved to another key, or sealed under another KEK's keys.
 */
export function openResponse(keys: RecordKeys, cache_key: string, fingerprint: string, sealed: string): StoredResponse | undefined {
  const unpacked = unpackSealed(Buffer.from(sealed, 'base64'));
  if (unpacked === undefined) return undefined;
  const plaintext = open(keys.seal_key, unpacked, responseBinding(cache_key, fingerprint));
  if (plaintext === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(plaintext.toString('utf8'));
  } catch {
    parsed = undefined;
  }
  plaintext.fill(0);
  return isStoredResponse(parsed) ? { status: parsed.status, body: parsed.body } : undefined;
}
