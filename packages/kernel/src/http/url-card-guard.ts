// A card number in a URL (`GET /v1/customers/4242424242424242`, `?q=4242+4242+4242+4242`) is
// refused, like one in a body, and it must not reach the request log either. Fastify logs each
// request's URL ("incoming request") before any hook runs, so the guard works in `rewriteUrl`,
// which runs before routing and before that log line: a URL that holds a card number is replaced
// by one with the number redacted, and the request is marked for the refusal that the server's
// first onRequest hook gives. Nothing after that point (the log, the router, a handler, the 404
// message, request.originalUrl) ever sees the digits.
//
// Clients write the same number many ways in a URL, so the guard reads the URL as a server would
// hand it to a handler: percent-escapes decoded (`%34%32`), and `+` as a space in the query.
import type { IncomingMessage } from 'node:http';
import { redactCardNumbers } from '../card-number-text';
import { ApiError } from '../errors';

/** What replaces a card number in a refused request's URL, and so in its log line. */
export const url_card_number_censor = '[redacted]';

const refused_requests = new WeakSet<IncomingMessage>();
const char_percent = 0x25;
const hex_pair_pattern = /^[0-9A-Fa-f]{2}$/;

/**
 * Percent-escapes decoded into the UTF-8 they spell; bytes that are not UTF-8 become U+FFFD
 * rather than an error, and a `%` not followed by two hex digits stays as it is.
 */
function decodePercentEscapes(text: string): string {
  const bytes: number[] = [];
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    const hex = text.slice(index + 1, index + 3);
    if (code === char_percent && hex_pair_pattern.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      index += 2;
    } else if (code < 0x80) {
      bytes.push(code);
    } else {
      bytes.push(...Buffer.from(text.charAt(index), 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The URL as a handler would read it: `+` is a space in the query, and escapes are decoded. */
function readableUrl(url: string): string {
  if (!url.includes('%') && !url.includes('+')) return url;
  const query_start = url.indexOf('?');
  const spaced = query_start === -1 ? url : url.slice(0, query_start) + url.slice(query_start).replaceAll('+', ' ');
  return decodePercentEscapes(spaced);
}

/** Text between redactions goes back into the URL escaped, so that the router reads a valid URL. */
function encodeUrlPiece(piece: string): string {
  try {
    return encodeURI(piece);
  } catch {
    // encodeURI refuses lone surrogates, which decoded UTF-8 never holds; drop the piece rather
    // than let a refused request's URL fail the router.
    return '';
  }
}

/** The URL with every card number it holds redacted; undefined when it holds none. */
export function redactUrlCardNumbers(url: string): string | undefined {
  return redactCardNumbers(readableUrl(url), url_card_number_censor, encodeUrlPiece);
}

/**
 * Fastify's `rewriteUrl`: the request's URL, or, when it holds a card number, the URL with the
 * number redacted, and the request marked for refusal by `urlCardNumberRefusal`.
 */
export function rewriteUrlWithoutCardNumbers(request: IncomingMessage): string {
  const url = request.url ?? '/';
  const redacted = redactUrlCardNumbers(url);
  if (redacted === undefined) return url;
  refused_requests.add(request);
  // Fastify keeps the URL it was given as request.originalUrl, which must not hold it either.
  Object.assign(request, { originalUrl: redacted });
  return redacted;
}

/** The refusal of a request whose URL held a card number (the body guard's error), or undefined. */
export function urlCardNumberRefusal(request: IncomingMessage): ApiError | undefined {
  if (!refused_requests.has(request)) return undefined;
  return new ApiError(
    'invalid_request_error',
    'card_number_not_allowed',
    'The request URL holds what looks like a card number; send card numbers only in the body of POST /v1/tokens',
  );
}
