// The card acquirer simulator as its own HTTP server, so the card connector can be exercised over
// a real network hop (timeouts, broken connections) exactly as it talks to a real acquirer. It
// also serves the 3-D Secure challenge page a customer's browser is sent to.
//
// Like a real acquirer it can demand credentials: a bearer secret on every API call, and over
// HTTPS a client certificate signed by a given CA (mutual TLS). The challenge pages are for the
// customer's browser and need neither.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { fastify, type FastifyReply, type FastifyRequest } from 'fastify';
import { escapeHtml } from '../internal/html';
import type { CardAcquirerSimulator, ChallengeDecision } from './simulator';
import {
  acquirer_paths,
  readAuthorizeRequest,
  readCaptureRequest,
  readRefundRequest,
  readVoidRequest,
  writeProviderStatus,
  type WireRead,
} from './wire';

/** Requests to the acquirer are small; a card authorization is well under a kilobyte. */
export const acquirer_body_bytes_max = 64 * 1024;

export interface StartCardAcquirerServerOptions {
  /** 0 (the default) picks a free port. */
  readonly port?: number;
  readonly host?: string;
  /** When set, every API call must carry `Authorization: Bearer <this>`; others get 401. */
  readonly bearer_token?: string;
  /**
   * Serve HTTPS with this certificate and key (PEM). With `client_ca`, a client must present a
   * certificate signed by it, or the TLS handshake fails (mutual TLS).
   */
  readonly tls?: { readonly cert: string; readonly key: string; readonly client_ca?: string };
}

export interface CardAcquirerServer {
  /** The base URL, such as http://127.0.0.1:41234 or https://…, to give the card connector as `{ url }`. */
  readonly url: string;
  close(): Promise<void>;
}

export async function startCardAcquirerServer(
  simulator: CardAcquirerSimulator,
  options: StartCardAcquirerServerOptions = {},
): Promise<CardAcquirerServer> {
  // No logger: request bodies hold card numbers, and a simulator has nothing worth logging.
  // Connections are closed hard on close() because an authorize for the timeout card is held open.
  const tls = options.tls;
  const app = fastify({
    logger: false,
    bodyLimit: acquirer_body_bytes_max,
    forceCloseConnections: true,
    ...(tls === undefined
      ? {}
      : {
          serverFactory: (handler: (request: IncomingMessage, response: ServerResponse) => void) =>
            createHttpsServer(
              {
                cert: tls.cert,
                key: tls.key,
                minVersion: 'TLSv1.2',
                ...(tls.client_ca === undefined ? {} : { ca: tls.client_ca, requestCert: true, rejectUnauthorized: true }),
              },
              handler,
            ),
        }),
  });
  const expected_token = options.bearer_token === undefined ? undefined : digestOf(`Bearer ${options.bearer_token}`);
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (expected_token === undefined || !request.url.startsWith('/v1/')) return;
    const presented = digestOf(request.headers.authorization ?? '');
    if (!timingSafeEqual(presented, expected_token)) {
      return reply.code(401).send({ error: { type: 'authentication_error', code: 'unauthorized', message: 'A valid bearer secret is required.' } });
    }
    return undefined;
  });
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(typeof body === 'string' ? body : body.toString('utf8'))));
    },
  );

  app.post(acquirer_paths.authorize, async (request, reply) => {
    const read = readAuthorizeRequest(request.body);
    if (!read.ok) return refuseRequest(reply, read);
    const signal = signalOnClose(reply);
    try {
      return await simulator.authorize(read.value, { signal });
    } catch (error) {
      // The caller hung up while the answer was withheld: there is no one left to answer.
      if (signal.aborted) {
        reply.hijack();
        return reply;
      }
      throw error;
    }
  });

  app.post(acquirer_paths.capture, async (request, reply) => {
    const read = readCaptureRequest(request.body);
    if (!read.ok) return refuseRequest(reply, read);
    return simulator.capture(read.value, { signal: signalOnClose(reply) });
  });

  app.post(acquirer_paths.void, async (request, reply) => {
    const read = readVoidRequest(request.body);
    if (!read.ok) return refuseRequest(reply, read);
    return simulator.void(read.value, { signal: signalOnClose(reply) });
  });

  app.post(acquirer_paths.refund, async (request, reply) => {
    const read = readRefundRequest(request.body);
    if (!read.ok) return refuseRequest(reply, read);
    return simulator.refund(read.value, { signal: signalOnClose(reply) });
  });

  app.get<{ Params: { reference: string } }>(`${acquirer_paths.status}:reference`, async (request, reply) => {
    return writeProviderStatus(await simulator.status(request.params.reference, { signal: signalOnClose(reply) }));
  });

  app.get<{ Params: { provider_reference: string } }>('/3ds/:provider_reference', async (request, reply) => {
    const provider_reference = request.params.provider_reference;
    const authorization = simulator.authorization(provider_reference);
    if (authorization === undefined) return reply.code(404).type('text/html; charset=utf-8').send(page('No such payment', ''));
    const action = (decision: ChallengeDecision): string => `/3ds/${encodeURIComponent(provider_reference)}/${decision}`;
    const body =
      authorization.state === 'requires_action'
        ? `<p>Confirm a payment of ${escapeHtml(authorization.amount.toString())} minor units of ${escapeHtml(authorization.currency)} ` +
          `with the card ending ${escapeHtml(authorization.card_last4)}.</p>` +
          `<form method="post" action="${escapeHtml(action('approve'))}"><button type="submit">Complete authentication</button></form>` +
          `<form method="post" action="${escapeHtml(action('deny'))}"><button type="submit">Fail authentication</button></form>`
        : `<p>This challenge is finished: the payment is ${escapeHtml(authorization.state)}.</p>`;
    return reply.type('text/html; charset=utf-8').send(page('3-D Secure test challenge', body));
  });

  for (const decision of ['approve', 'deny'] as const) {
    app.post<{ Params: { provider_reference: string } }>(`/3ds/:provider_reference/${decision}`, async (request, reply) => {
      const result = simulator.completeChallenge(request.params.provider_reference, decision);
      if (!result.ok) {
        const status = result.reason === 'not_found' ? 404 : 409;
        return reply.code(status).send({ error: { type: 'invalid_request_error', code: result.reason, message: `The challenge cannot be completed: ${result.reason}.` } });
      }
      // A browser goes back to the merchant; a test or a script gets the new state.
      if (result.return_url !== undefined) return reply.redirect(result.return_url, 303);
      return { state: result.state };
    });
  }

  const listening = await app.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  // Fastify names the scheme from its own https option; the TLS server here comes from a factory.
  const address = tls === undefined ? listening : listening.replace(/^http:/, 'https:');
  simulator.useChallengeBaseUrl(address);
  return {
    url: address,
    close: async () => {
      await app.close();
    },
  };
}

/** Both sides are hashed before the constant-time comparison, so that lengths do not leak either. */
function digestOf(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function refuseRequest(reply: FastifyReply, read: Extract<WireRead<unknown>, { ok: false }>): FastifyReply {
  return reply.code(400).send({ error: { type: 'invalid_request_error', code: 'parameter_invalid', message: read.message } });
}

/** A signal that fires when the connection closes before the answer was sent. */
function signalOnClose(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new DOMException('The caller hung up', 'AbortError'));
  });
  return controller.signal;
}

function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}
