// Idempotency keys, Stripe's way. The first response to a key (status and body) is kept for
// 24 hours per caller, mode and key. The same key with the same request gets that response again
// with `Idempotent-Replayed: true`; with a different request, or while the first is still
// running, it gets a 409. Requests that fail validation never reach this (validation runs
// first), so they are not stored; neither are 5xx answers, so that a retry runs again. That is
// safe because the services below are idempotent by the same key.
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, rawBodyOf, type Cache } from '@paygrid/kernel';
import type { Caller } from './authentication';

export const idempotency_key_header = 'idempotency-key';
export const idempotency_key_length_max = 255;
export const idempotent_replayed_header = 'idempotent-replayed';
export const idempotency_record_ttl_ms = 24 * 60 * 60 * 1000;
/**
 * How long a key stays locked by a request in flight. Longer than the server's request timeout,
 * so a live request never loses its lock; a process that dies frees its keys after this.
 */
export const idempotency_lock_ttl_ms = 60_000;

interface RunningRecord {
  readonly state: 'running';
  readonly fingerprint: string;
}

interface DoneRecord {
  readonly state: 'done';
  readonly fingerprint: string;
  readonly status: number;
  readonly body: string;
}

type IdempotencyRecord = RunningRecord | DoneRecord;

interface Claim {
  readonly cache_key: string;
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

function cacheKey(caller: Caller, key: string): string {
  const scope = caller.kind === 'merchant' ? `${caller.tenant.merchant_id}:${caller.tenant.livemode ? 'live' : 'test'}` : `operator:${caller.actor.id}`;
  // Hashing keeps cache keys short and free of whatever characters the client chose.
  return `idempotency:${scope}:${createHash('sha256').update(key).digest('hex')}`;
}

function fingerprintOf(request: FastifyRequest): string {
  return createHash('sha256')
    .update(`${request.method} ${request.url}\n`)
    .update(rawBodyOf(request) ?? '')
    .digest('hex');
}

function parseRecord(text: string): IdempotencyRecord {
  return JSON.parse(text) as IdempotencyRecord;
}

function mismatch(): ApiError {
  return new ApiError(
    'idempotency_error',
    'idempotency_key_mismatch',
    'This Idempotency-Key was used with a different request; use a new key for a new request',
    'Idempotency-Key',
  );
}

/**
 * Claims the key for this request, or answers from the record: returns true when the reply has
 * been sent (a replay) and the route must not run.
 */
export async function claimIdempotencyKey(cache: Cache, caller: Caller, request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
  const key = idempotencyKeyOf(request);
  if (key === undefined) return false;
  const cache_key = cacheKey(caller, key);
  const fingerprint = fingerprintOf(request);
  const running: RunningRecord = { state: 'running', fingerprint };
  // Two tries: a record can expire between the failed claim and the read.
  for (let attempt = 0; attempt < 2; attempt += 1) {
    if (await cache.setIfAbsent(cache_key, JSON.stringify(running), idempotency_lock_ttl_ms)) {
      claims.set(request, { cache_key, fingerprint });
      return false;
    }
    const stored = await cache.get(cache_key);
    if (stored === undefined) continue;
    const record = parseRecord(stored);
    if (record.fingerprint !== fingerprint) throw mismatch();
    if (record.state === 'running') {
      throw new ApiError('idempotency_error', 'idempotency_key_in_use', 'A request with this Idempotency-Key is still being processed; retry later', 'Idempotency-Key');
    }
    await reply.code(record.status).header(idempotent_replayed_header, 'true').type('application/json; charset=utf-8').send(record.body);
    return true;
  }
  throw new ApiError('idempotency_error', 'idempotency_key_in_use', 'A request with this Idempotency-Key is still being processed; retry later', 'Idempotency-Key');
}

/** Keeps the response for the claimed key (onSend), or frees the key after a 5xx. */
export async function settleIdempotencyKey(cache: Cache, request: FastifyRequest, status: number, body: string): Promise<void> {
  const claim = claims.get(request);
  if (claim === undefined) return;
  claims.delete(request);
  if (status >= 500) {
    await cache.delete(claim.cache_key);
    return;
  }
  const record: DoneRecord = { state: 'done', fingerprint: claim.fingerprint, status, body };
  await cache.set(claim.cache_key, JSON.stringify(record), idempotency_record_ttl_ms);
}
