// The HTTP transport to a card acquirer: the same CardAcquirer interface as the in-process
// simulator, over the simulator server's JSON API. Anything but a well-formed answer throws, and
// the card connector turns a throw into "outcome unknown" (never into a decline: the acquirer may
// have acted before the answer was lost).
//
// Card numbers and CVCs travel in these requests, so the URL must be https; plain http is allowed
// only to this machine, where tests run the simulator's server. Every call is authenticated: with
// a bearer secret in the Authorization header, with a client certificate (mutual TLS), or both.
import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { Agent } from 'undici';
import { assert } from '@paygrid/kernel';
import { exchange, type HttpAnswer } from '../internal/http';
import { parseJsonRecord, type JsonRecord } from '../internal/json';
import type { ProviderStatus } from '../connector';
import type {
  AcquirerAuthorizeRequest,
  AcquirerAuthorizeResult,
  AcquirerCallOptions,
  AcquirerCaptureRequest,
  AcquirerOperationResult,
  AcquirerRefundRequest,
  AcquirerVoidRequest,
  CardAcquirer,
} from './acquirer';
import {
  acquirer_paths,
  readAuthorizeResult,
  readOperationResult,
  readProviderStatus,
  writeAmountOperation,
  writeAuthorizeRequest,
  type WireRead,
} from './wire';

/** TLS 1.2 is the floor PCI DSS sets for card data in transit. */
export const acquirer_tls_version_min = 'TLSv1.2';

export interface HttpCardAcquirerOptions {
  /** The acquirer's base URL: https, or http to 127.0.0.1, ::1 or localhost only (tests). */
  readonly url: string;
  /** Sent as `Authorization: Bearer <token>` with every call. A key object keeps it out of logs. */
  readonly bearer_token?: string | KeyObject;
  /** Mutual TLS: the client certificate (PEM, intermediates after it) and its private key. */
  readonly client_certificate?: { readonly cert: string; readonly key: string | KeyObject };
  /** The CA certificates (PEM) the acquirer's certificate must chain to, instead of the public ones. */
  readonly ca?: string;
}

/** An acquirer over HTTP. close() ends its connections; the connector never calls it. */
export interface HttpCardAcquirer extends CardAcquirer {
  /** How calls are authenticated, for the start-up log: `bearer`, `mutual_tls` or both. */
  readonly authentication: readonly ('bearer' | 'mutual_tls')[];
  close(): Promise<void>;
}

/** Loopback only: 127.0.0.0/8, ::1 and localhost, where a test's simulator server listens. */
export function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

export function createHttpCardAcquirer(options: HttpCardAcquirerOptions): HttpCardAcquirer {
  const parsed = new URL(options.url);
  const https = parsed.protocol === 'https:';
  // The platform's configuration refuses these with a message at start; reaching here is a bug.
  assert(https || (parsed.protocol === 'http:' && isLoopbackUrl(parsed)), 'createHttpCardAcquirer: card data travels only over https (plain http only to this machine)');
  assert(https || (options.client_certificate === undefined && options.ca === undefined), 'createHttpCardAcquirer: a client certificate or CA needs an https URL');
  const base = options.url.endsWith('/') ? options.url.slice(0, -1) : options.url;
  const bearer = options.bearer_token;
  const authentication = [...(bearer === undefined ? [] : (['bearer'] as const)), ...(options.client_certificate === undefined ? [] : (['mutual_tls'] as const))];
  // Connection settings live in a dispatcher of this acquirer's own, so that they never reach any
  // other request of the process. Without TLS settings the global dispatcher serves.
  const dispatcher = https
    ? new Agent({
        connect: {
          minVersion: acquirer_tls_version_min,
          ...(options.ca === undefined ? {} : { ca: options.ca }),
          ...(options.client_certificate === undefined ? {} : { cert: options.client_certificate.cert, key: pemOf(options.client_certificate.key) }),
        },
      })
    : undefined;

  function headers(base_headers: Record<string, string>): Record<string, string> {
    if (bearer === undefined) return base_headers;
    return { ...base_headers, authorization: `Bearer ${typeof bearer === 'string' ? bearer : bearer.export().toString('utf8')}` };
  }

  async function post<Value>(path: string, body: JsonRecord, read: (body: unknown) => WireRead<Value>, call: AcquirerCallOptions): Promise<Value> {
    const answer = await exchange(
      { method: 'POST', url: `${base}${path}`, headers: headers({ 'content-type': 'application/json' }), body: JSON.stringify(body) },
      call.signal ?? new AbortController().signal,
      dispatcher,
    );
    return readAnswer(answer, read);
  }

  return {
    authentication,
    authorize: async (request: AcquirerAuthorizeRequest, call: AcquirerCallOptions = {}): Promise<AcquirerAuthorizeResult> =>
      post(acquirer_paths.authorize, writeAuthorizeRequest(request), readAuthorizeResult, call),
    capture: async (request: AcquirerCaptureRequest, call: AcquirerCallOptions = {}): Promise<AcquirerOperationResult> =>
      post(acquirer_paths.capture, writeAmountOperation(request), readOperationResult, call),
    void: async (request: AcquirerVoidRequest, call: AcquirerCallOptions = {}): Promise<AcquirerOperationResult> =>
      post(acquirer_paths.void, { reference: request.reference, provider_reference: request.provider_reference }, readOperationResult, call),
    refund: async (request: AcquirerRefundRequest, call: AcquirerCallOptions = {}): Promise<AcquirerOperationResult> =>
      post(acquirer_paths.refund, writeAmountOperation(request), readOperationResult, call),
    status: async (reference: string, call: AcquirerCallOptions = {}): Promise<ProviderStatus> => {
      const answer = await exchange(
        { method: 'GET', url: `${base}${acquirer_paths.status}${encodeURIComponent(reference)}`, headers: headers({ accept: 'application/json' }) },
        call.signal ?? new AbortController().signal,
        dispatcher,
      );
      return readAnswer(answer, readProviderStatus);
    },
    close: async () => {
      if (dispatcher !== undefined && !dispatcher.closed) await dispatcher.close();
    },
  };
}

/** TLS takes a key as PEM text; a key object is exported only here, into the connection settings. */
function pemOf(key: string | KeyObject): string {
  return typeof key === 'string' ? key : key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function readAnswer<Value>(answer: HttpAnswer, read: (body: unknown) => WireRead<Value>): Value {
  // The body of a refusal is not quoted: it could echo what was sent, and that holds a card number.
  if (answer.status === 401 || answer.status === 403) throw new Error(`the card acquirer refused our credentials (HTTP ${answer.status})`);
  if (answer.status !== 200) throw new Error(`the card acquirer answered HTTP ${answer.status}`);
  const parsed = read(parseJsonRecord(answer.body));
  if (!parsed.ok) throw new Error(`the card acquirer's answer is malformed: ${parsed.message}`);
  return parsed.value;
}
