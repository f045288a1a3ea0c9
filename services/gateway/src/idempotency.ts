// Idempotency keys, Stripe's way. The first response to a key (status and body) is kept for
// 24 hours per caller, mode and key. The same key with the same request gets that response again
// with `Idempotent-Replayed: true`; with a different request, or while the first is still
// running, it gets a 409. Requests that fail validation never reach this (validation runs
// first), so they are not stored; neither are 5xx answers, so that a retry runs again. That is
// safe because the services below are idempotent by the same key, with one exception: a
// `<service>_outcome_unknown` answer (a call that is not idempotent, such as creating a wallet, may
// have been carried out before its service stopped answering). Running it again could create a
// second object, so that answer is kept and replayed like any other, and the client looks the
// object up instead.
//
// Every record is sealed, whatever the route (idempotency-seal.ts says why and with which keys):
// the cache, Redis above all, holds no response and no request in plain text. A record that is
// there but cannot be opened (its key-encryption key is gone, or it was changed or moved) is
// answered with a 409 `idempotency_response_unavailable` and the request is not run again: running
// it twice could create a second merchant or move money twice, and answering another record's body
// would hand out someone else's secret.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, rawBodyOf, type Cache } from '@paygrid/kernel';
import { isOutcomeUnknownCode } from '@paygrid/kernel/rpc';
import type { Caller } from './authentication';
import { idempotency_lock_ttl_ms, idempotency_record_ttl_ms, openResponse, requestFingerprint, sealResponse, type IdempotencyKeys, type RecordKeys } from './idempotency-seal';

export { idempotency_lock_ttl_ms, idempotency_record_ttl_ms } from './idempotency-seal';
export const idempotency_key_header = 'idempotency-key';
export const idempotency_key_length_max = 255;
export const idempotent_replayed_header = 'idempotent-replayed';
/**
 * The layout of a record. Records of the first layout (before sealing: the body in plain text and
 * an unkeyed fingerprint) are not read: a retry that meets one is told its response cannot be
 * replayed, and nothing runs twice.
 */
export const idempotency_record_format = 2;

interface RunningRecord {
  readonly format: typeof idempotency_record_format;
  readonly state: 'running';
  /** The KEK whose derived keys made the fingerprint and will seal the response. */
  readonly kek: string;
  readonly fingerprint: string;
}

interface DoneRecord {
  readonly format: typeof idempotency_record_format;
  readonly state: 'done';
  readonly kek: string;
  readonly fingerprint: string;
  /** The status and body, sealed (idempotency-seal.ts), base64. */
  readonly sealed: string;
}

type IdempotencyRecord = RunningRecord | DoneRecord;

/** What the gateway needs to keep records: where, and the keys that seal them. */
export interface IdempotencyStore {
  readonly cache: Cache;
  readonly keys: IdempotencyKeys;
}

interface Claim {
  readonly cache_key: string;
  readonly keys: RecordKeys;
  readonly fingerprint: string;
}

const claims = new WeakMap<FastifyRequest, Claim>();

/** The key the caller sent, validated; undefined when none was sent. */
export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const value = request.headers[idempotency_key_header];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > idempotency_key_length_max || !/^[\x20-\x7e]+$/.test(value)) {
    throw new ApiError(
      'invalid_request_error',
      'idempotency_key_invalid',
      `Idempotency-Key must be 1 to ${idempotency_key_length_max} printable ASCII characters`,
      'Idempotency-Key',
    );
  }
  return value;
}

/** The caller's key as an option for the services, which store it with what they create. */
export function idempotencyOption(request: FastifyRequest): { idempotency_key?: string } {
  const key = idempotencyKeyOf(request);
  return key === undefined ? {} : { idempotency_key: key };
}

/** Where the record of a caller's key lives in the cache (before the cache's own prefix). */
export function idempotencyCacheKey(caller: Caller, key: string): string {
  const scope = caller.kind === 'merchant' ? `${caller.tenant.merchant_id}:${caller.tenant.livemode ? 'live' : 'test'}` : `operator:${caller.actor.id}`;
  // Hashing keeps cache keys short and free of whatever characters the client chose.
  return `idempotency:${scope}:${createHash('sha256').update(key).digest('hex')}`;
}

function fingerprintOf(keys: RecordKeys, request: FastifyRequest): string {
  return requestFingerprint(keys, request.method, request.url, rawBodyOf(request) ?? '');
}

function sameFingerprint(left: string, right: string): boolean {
  const left_bytes = Buffer.from(left, 'utf8');
  const right_bytes = Buffer.from(right, 'utf8');
  return left_bytes.length === right_bytes.length && timingSafeEqual(left_bytes, right_bytes);
}

const hex_sha256_pattern = /^[0-9a-f]{64}$/;

/** The record, or undefined when it is not one this version wrote (an older layout, or bytes that are not a record). */
function parseRecord(text: string): IdempotencyRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (record.format !== idempotency_record_format || typeof record.kek !== 'string' || typeof record.fingerprint !== 'string' || !hex_sha256_pattern.test(record.fingerprint)) {
    return undefined;
  }
  if (record.state === 'running') return { format: idempotency_record_format, state: 'running', kek: record.kek, fingerprint: record.fingerprint };
  if (record.state === 'done' && typeof record.sealed === 'string') {
    return { format: idempotency_record_format, state: 'done', kek: record.kek, fingerprint: record.fingerprint, sealed: record.sealed };
  }
  return undefined;
}

/** Whether stored text is a request in flight, of any layout: an older version's lock is honoured like ours. */
function looksRunning(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && (value as Record<string, unknown>).state === 'running';
  } catch {
    return false;
  }
}

function mismatch(): ApiError {
  return new ApiError(
    'idempotency_error',
    'idempotency_key_mismatch',
    'This Idempotency-Key was used with a different request; use a new key for a new request',
    'Idempotency-Key',
  );
}

function inUse(): ApiError {
  return new ApiError('idempotency_error', 'idempotency_key_in_use', 'A request with this Idempotency-Key is still being processed; retry later', 'Idempotency-Key');
}

/** Why a stored record could not be replayed, for the operator's log. */
type UnavailableReason = 'unreadable' | 'key_unavailable' | 'authentication_failed';

function unavailable(request: FastifyRequest, cache_key: string, reason: UnavailableReason, kek_id: string | undefined): ApiError {
  // The cache key names the caller and a hash of the client's key; the record itself is never logged.
  request.log.warn({ idempotency_record: cache_key, reason, kek_id }, 'an idempotency record could not be replayed');
  return new ApiError(
    'idempotency_error',
    'idempotency_response_unavailable',
    'A request with this Idempotency-Key was processed, but its stored response can no longer be opened (its key was retired, or the record was altered), so it was not run again; look up what it did (a secret it returned must be rolled), and use a new key for a new request',
    'Idempotency-Key',
  );
}

/**
 * Claims the key for this request, or answers from the record: returns true when the reply has
 * been sent (a replay) and the route must not run.
 */
export async function claimIdempotencyKey(store: IdempotencyStore, caller: Caller, request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
  const key = idempotencyKeyOf(request);
  if (key === undefined) return false;
  const cache_key = idempotencyCacheKey(caller, key);
  const keys = store.keys.current();
  const fingerprint = fingerprintOf(keys, request);
  const running: RunningRecord = { format: idempotency_record_format, state: 'running', kek: keys.kek_id, fingerprint };
  // Two tries: a record can expire between the failed claim and the read.
  for (let attempt = 0; attempt < 2; attempt += 1) {
    if (await store.cache.setIfAbsent(cache_key, JSON.stringify(running), idempotency_lock_ttl_ms)) {
      claims.set(request, { cache_key, keys, fingerprint });
      return false;
    }
    const stored = await store.cache.get(cache_key);
    if (stored === undefined) continue;
    const record = parseRecord(stored);
    if (record === undefined) {
      if (looksRunning(stored)) throw inUse();
      throw unavailable(request, cache_key, 'unreadable', undefined);
    }
    // The fingerprint is keyed by the KEK the record names, which may be an older one than ours.
    const record_keys = record.kek === keys.kek_id ? keys : store.keys.find(record.kek);
    if (record_keys === undefined) {
      // Its lock runs out within a minute; a done record cannot be opened nor compared.
      if (record.state === 'running') throw inUse();
      throw unavailable(request, cache_key, 'key_unavailable', record.kek);
    }
    const record_fingerprint = record_keys === keys ? fingerprint : fingerprintOf(record_keys, request);
    if (!sameFingerprint(record.fingerprint, record_fingerprint)) throw mismatch();
    if (record.state === 'running') throw inUse();
    const response = openResponse(record_keys, cache_key, record.fingerprint, record.sealed);
    if (response === undefined) throw unavailable(request, cache_key, 'authentication_failed', record.kek);
    await reply.code(response.status).header(idempotent_replayed_header, 'true').type('application/json; charset=utf-8').send(response.body);
    return true;
  }
  throw inUse();
}

/** Whether an error answer says a call that is not idempotent may have been carried out. */
function isOutcomeUnknownAnswer(body: string): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return false;
  }
  const error: unknown = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>).error : undefined;
  const code: unknown = typeof error === 'object' && error !== null ? (error as Record<string, unknown>).code : undefined;
  return typeof code === 'string' && isOutcomeUnknownCode(code);
}

/**
 * Keeps the response for the claimed key, sealed (onSend), or frees the key after a 5xx that
 * carried nothing out, so that a retry runs again.
 */
export async function settleIdempotencyKey(store: IdempotencyStore, request: FastifyRequest, status: number, body: string): Promise<void> {
  const claim = claims.get(request);
  if (claim === undefined) return;
  claims.delete(request);
  if (status >= 500 && !isOutcomeUnknownAnswer(body)) {
    await store.cache.delete(claim.cache_key);
    return;
  }
  const record: DoneRecord = {
    format: idempotency_record_format,
    state: 'done',
    kek: claim.keys.kek_id,
    fingerprint: claim.fingerprint,
    sealed: sealResponse(claim.keys, claim.cache_key, claim.fingerprint, { status, body }),
  };
  await store.cache.set(claim.cache_key, JSON.stringify(record), idempotency_record_ttl_ms);
}
