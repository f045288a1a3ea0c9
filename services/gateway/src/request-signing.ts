// Request signatures (`Paygrid-Signature`), verified after the body is read and before the
// route runs. The scheme itself lives in @paygrid/sdk/signing so that client and server can
// never disagree about it; this file adds what only a server can do: the replay check.
import type { FastifyRequest } from 'fastify';
import { ApiError, rawBodyOf, type Cache, type Clock } from '@paygrid/kernel';
import { signature_header, signature_tolerance_seconds, verifySignature } from '@paygrid/sdk/signing';
import type { MerchantCaller } from './authentication';

/**
 * A nonce is remembered for the whole window in which its timestamp is acceptable (±300 s),
 * so a replay inside the window is caught and one outside it is already refused as stale.
 */
export const nonce_ttl_ms = 2 * signature_tolerance_seconds * 1000;

const messages = {
  signature_missing: 'This merchant requires signed requests: send a Paygrid-Signature header',
  signature_malformed: 'The Paygrid-Signature header is malformed; expected t=<unix seconds>,n=<nonce>,v1=<hex>',
  signature_timestamp_out_of_range: `The signature timestamp is more than ${signature_tolerance_seconds} seconds from the server's clock`,
  signature_mismatch: 'The request signature does not match the request',
  signature_replayed: 'This signature nonce has been used already',
} as const;

function refuse(code: keyof typeof messages): ApiError {
  return new ApiError('authentication_error', code, messages[code]);
}

export async function verifyRequestSignature(cache: Cache, clock: Clock, caller: MerchantCaller, request: FastifyRequest): Promise<void> {
  const header = request.headers[signature_header];
  if (header === undefined) {
    // Mandatory signing is for secret keys: a publishable key is used from browsers, which must
    // never hold the signing secret, so its requests could not be signed at all.
    if (caller.merchant.signing_required && caller.api_key.type === 'secret') throw refuse('signature_missing');
    return;
  }
  if (typeof header !== 'string') throw refuse('signature_malformed');
  const result = verifySignature({
    header,
    secrets: caller.signing_secrets,
    method: request.method,
    path: request.url,
    body: rawBodyOf(request) ?? '',
    now_seconds: Math.floor(clock.now() / 1000),
  });
  if (!result.ok) throw refuse(result.code);
  const fresh = await cache.setIfAbsent(`nonce:${caller.tenant.merchant_id}:${result.nonce}`, '1', nonce_ttl_ms);
  if (!fresh) throw refuse('signature_replayed');
}
