// The gateway's cache of API-key authentications, for when identity runs in another process: each
// public request would otherwise make a network hop to identity and a database read there just to
// learn who is calling. It is used only with the shared cache (Redis), because what keeps it
// correct lives there: each merchant's credentials epoch.
//
// The rule it keeps, across any number of gateway replicas: a request that starts after a change
// to a merchant's keys or account was acknowledged to its client is authenticated against the
// changed state. It holds because of two orders:
//
// - A gateway reads the merchant's epoch from Redis BEFORE it asks identity, and keeps the answer
//   with the epoch it read. A cached answer is used only while the merchant's epoch in Redis is
//   still that value (one GET per request).
// - After identity has carried out a change to the merchant's credentials, and BEFORE the client
//   is answered, the gateway that made the change replaces the merchant's epoch with a new one
//   (identityBumpingEpochs() below).
//
// Every epoch value is random (128 bits), so each one is written to Redis once and never again.
// Suppose a revocation is acknowledged and a later request finds, in Redis, the epoch E kept with
// a cached answer. Redis holds the newest write to the key, and the revocation's new epoch was
// written before the acknowledgement, so E must have been written after it; the request that kept
// the answer read E before asking identity, so it asked after the revocation was carried out and
// its answer already shows the key revoked. A counter would not do: a Redis that restarts empty
// counts again from the start, and an old value, with an answer from before the change, could come
// back. For the same reason an absent epoch is never kept with an answer: the gateway first writes
// a new random epoch where there is none (SET NX) and keeps that one.
//
// When the epoch cannot be read (Redis unreachable), the cache is not used and identity answers.
import { createHash, randomBytes } from 'node:crypto';
import type { AuthenticationResult, IdentityClient } from '@paygrid/identity';
import { ApiError, type Cache, type Clock } from '@paygrid/kernel';

/** How long an authentication is kept at most, even while the merchant's epoch is unchanged. */
export const authentication_cache_ttl_ms = 10_000;
/** How many presented keys a gateway keeps answers for; the least recently used one goes first. */
export const authentication_cache_entries_max = 10_000;
/**
 * How long a merchant's epoch stays in Redis after it was last written. When it runs out, the
 * next request writes a new one and asks identity once more: any value is safe, a longer one only
 * saves those calls. It is far longer than an answer is kept, so an answer never outlives it in
 * the normal course.
 */
export const credentials_epoch_ttl_ms = 24 * 60 * 60 * 1_000;
const credentials_epoch_bytes = 16;

type Authenticated = Extract<AuthenticationResult, { ok: true }>;

interface CachedAuthentication {
  readonly epoch: string;
  readonly result: Authenticated;
  readonly expires_at_ms: number;
}

interface Entry {
  /** The key's merchant, known from identity's first answer: a key never changes merchant. */
  readonly merchant_id: string;
  cached: CachedAuthentication | undefined;
}

function credentialsEpochKey(merchant_id: string): string {
  return `credentials_epoch:${merchant_id}`;
}

function newEpoch(): string {
  return randomBytes(credentials_epoch_bytes).toString('hex');
}

/** The merchant's epochs in the shared cache: read before asking identity, replaced after a change. */
export interface CredentialsEpochs {
  /** The merchant's current epoch, writing a first one when there is none. Throws when Redis cannot be reached. */
  current(merchant_id: string): Promise<string>;
  /** Replaces the merchant's epoch, so that every answer kept with the old one is asked again. */
  bump(merchant_id: string): Promise<void>;
}

export function credentialsEpochs(cache: Cache): CredentialsEpochs {
  return {
    async current(merchant_id) {
      const key = credentialsEpochKey(merchant_id);
      const stored = await cache.get(key);
      if (stored !== undefined) return stored;
      const created = newEpoch();
      if (await cache.setIfAbsent(key, created, credentials_epoch_ttl_ms)) return created;
      // Another request wrote one in between (a first epoch or a bump): that one is current.
      const written = await cache.get(key);
      if (written !== undefined) return written;
      // Written and gone at once (evicted or flushed): the one this request writes now is current.
      await cache.set(key, created, credentials_epoch_ttl_ms);
      return created;
    },
    async bump(merchant_id) {
      await cache.set(credentialsEpochKey(merchant_id), newEpoch(), credentials_epoch_ttl_ms);
    },
  };
}

/**
 * Whether an answer may be kept at all. A key in its grace period after a roll, or a merchant whose
 * previous signing secret is in its grace period, stops working at a time identity's clock decides;
 * those answers are not kept, so that no gateway's clock can lengthen a grace period.
 */
function keepable(result: Authenticated): boolean {
  return result.api_key.expires_at === null && result.signing_secrets.length <= 1;
}

/** Frozen, so that what later requests get is exactly what identity answered. */
function frozen(result: Authenticated): Authenticated {
  Object.freeze(result.merchant.allowed_origins);
  Object.freeze(result.merchant.card_number_guard_exempt_fields);
  Object.freeze(result.merchant);
  Object.freeze(result.api_key);
  Object.freeze(result.signing_secrets);
  return Object.freeze(result);
}

export interface AuthenticationCache {
  authenticate(presented_key: string): Promise<AuthenticationResult>;
}

export function createAuthenticationCache(options: { readonly identity: IdentityClient; readonly epochs: CredentialsEpochs; readonly clock: Clock }): AuthenticationCache {
  const { identity, epochs, clock } = options;
  // A Map keeps insertion order: an entry is moved to the end when used, so the first is the least
  // recently used. Keys are SHA-256 hashes of the presented secret, never the secret.
  const entries = new Map<string, Entry>();

  function remember(hash: string, entry: Entry): void {
    entries.delete(hash);
    entries.set(hash, entry);
    if (entries.size > authentication_cache_entries_max) {
      const oldest = entries.keys().next();
      if (oldest.done !== true) entries.delete(oldest.value);
    }
  }

  async function currentEpoch(merchant_id: string): Promise<string | undefined> {
    try {
      return await epochs.current(merchant_id);
    } catch (error) {
      // Without the epoch no answer can be trusted, so identity answers; any other error is a bug.
      if (error instanceof ApiError && error.type === 'service_unavailable_error') return undefined;
      throw error;
    }
  }

  return {
    async authenticate(presented_key) {
      const hash = createHash('sha256').update(presented_key).digest('base64');
      const entry = entries.get(hash);
      if (entry === undefined) {
        // The key's merchant is not known yet, so no epoch can be read before asking. This answer
        // serves this request only; the next one reads the epoch first and keeps its answer.
        const result = await identity.authenticate(presented_key);
        if (result.ok) remember(hash, { merchant_id: result.merchant.id, cached: undefined });
        return result;
      }
      const epoch = await currentEpoch(entry.merchant_id);
      const now_ms = clock.now();
      const cached = entry.cached;
      if (epoch !== undefined && cached !== undefined && cached.epoch === epoch && now_ms < cached.expires_at_ms) {
        remember(hash, entry);
        return cached.result;
      }
      const result = await identity.authenticate(presented_key);
      if (!result.ok) {
        entries.delete(hash);
        return result;
      }
      const keep = epoch !== undefined && result.merchant.id === entry.merchant_id && keepable(result);
      entry.cached = keep ? { epoch, result: frozen(result), expires_at_ms: now_ms + authentication_cache_ttl_ms } : undefined;
      remember(hash, entry);
      return result;
    },
  };
}

function epochUnconfirmed(): ApiError {
  return new ApiError(
    'service_unavailable_error',
    'cache_unavailable',
    'The change was sent to identity, but the gateways could not be told of it through the shared cache (Redis), so it is not confirmed; look up its result before retrying',
  );
}

/**
 * The identity client the gateway's routes use when gateways share a cache: every call that can
 * change what authenticating a merchant's key answers (its keys, its status, KYC status, signing
 * settings, allowed origins, card-number guard exemptions) replaces the merchant's epoch once
 * identity has answered and before the client is. It does so whether identity carried the call out
 * or refused it: a refusal such as a second revocation's `api_key_inactive` also tells the client
 * what state the key is in, and a call that timed out may have been carried out. When the epoch
 * cannot be replaced the client gets a 503 instead of the answer, so that nobody relies on a change
 * other gateways may not see yet (they keep an answer at most authentication_cache_ttl_ms).
 */
export function identityBumpingEpochs(identity: IdentityClient, epochs: CredentialsEpochs): IdentityClient {
  async function bump(merchant_id: string): Promise<void> {
    try {
      await epochs.bump(merchant_id);
    } catch (error) {
      if (error instanceof ApiError && error.type === 'service_unavailable_error') throw epochUnconfirmed();
      throw error;
    }
  }

  async function changing<Result>(merchant_id: string, change: () => Promise<Result>): Promise<Result> {
    let result: Result;
    try {
      result = await change();
    } catch (error) {
      await bump(merchant_id);
      throw error;
    }
    await bump(merchant_id);
    return result;
  }

  return {
    createOperator: (input, actor) => identity.createOperator(input, actor),
    getOperator: (id) => identity.getOperator(id),
    authenticateOperator: (secret) => identity.authenticateOperator(secret),
    // A new merchant has no answer kept anywhere; its epoch is written all the same, so that every
    // call that creates or changes credentials is handled alike.
    createMerchant: async (input, actor) => {
      const created = await identity.createMerchant(input, actor);
      await bump(created.merchant.id);
      return created;
    },
    getMerchant: (id) => identity.getMerchant(id),
    listMerchants: (page) => identity.listMerchants(page),
    updateMerchant: (id, patch, actor) => changing(id, () => identity.updateMerchant(id, patch, actor)),
    createApiKey: (merchant_id, input, actor) => changing(merchant_id, () => identity.createApiKey(merchant_id, input, actor)),
    listApiKeys: (merchant_id, page) => identity.listApiKeys(merchant_id, page),
    rollApiKey: (merchant_id, key_id, input, actor) => changing(merchant_id, () => identity.rollApiKey(merchant_id, key_id, input, actor)),
    revokeApiKey: (merchant_id, key_id, actor) => changing(merchant_id, () => identity.revokeApiKey(merchant_id, key_id, actor)),
    rollSigningSecret: (merchant_id, input, actor) => changing(merchant_id, () => identity.rollSigningSecret(merchant_id, input, actor)),
    authenticate: (presented_key) => identity.authenticate(presented_key),
    createCustomer: (tenant, input) => identity.createCustomer(tenant, input),
    getCustomer: (tenant, id) => identity.getCustomer(tenant, id),
    listCustomers: (tenant, page) => identity.listCustomers(tenant, page),
    customerExists: (tenant, id) => identity.customerExists(tenant, id),
    listAuditEvents: (page, filter) => identity.listAuditEvents(page, filter),
  };
}
