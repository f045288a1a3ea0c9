// A merchant's settings for what reaches the API from outside its servers: the web origins whose
// pages may call the publishable-key routes from a browser (CORS), and the request fields it
// declares free of card numbers, which the gateway's card-number guard then does not read.
// Both are checked strictly here, so that whatever is stored can be compared byte for byte with
// what a browser sends and what the gateway walks.
import { ApiError } from '@paygrid/kernel';

/** Enough for production, staging and a few local ports; a list longer than this is a mistake. */
export const allowed_origins_max = 10;
/** Longer than any real origin (a host name is at most 253 characters). */
export const origin_length_max = 300;

/**
 * Request fields a merchant may exempt from the card-number guard, by path (array items have no
 * index: `line_items.description` is every line item's description). Only free-text references
 * and descriptions: fields where a merchant keeps its own long numbers (order numbers, IMEIs).
 */
export const card_number_guard_exemptable_fields = ['merchant_reference', 'description', 'line_items.description'] as const;
export type CardNumberGuardExemptField = (typeof card_number_guard_exemptable_fields)[number];

/** Plain http is accepted only on these hosts, where a developer runs a checkout page locally. */
const development_hosts: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

/** A DNS name after the URL parser has lower-cased it and turned any Unicode into punycode. */
const dns_name_pattern = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const ipv6_literal_pattern = /^\[[0-9a-f:.]+\]$/;

/**
 * What is wrong with an origin, or undefined when it is one a merchant may allow: exactly as a
 * browser writes it in the Origin header, scheme, host and a port other than the scheme's default,
 * with no path, query, fragment, user name or wildcard; https, or http on a development host.
 */
function originProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > origin_length_max) {
    return `allowed_origins holds origins: strings of 1 to ${origin_length_max} characters, such as https://shop.example.com`;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `'${value}' is not an origin: write the scheme, the host and, if needed, the port, such as https://shop.example.com`;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `'${value}' is not an https origin`;
  if (!dns_name_pattern.test(url.hostname) && !ipv6_literal_pattern.test(url.hostname)) {
    return `'${value}' does not name one host (wildcards are not allowed)`;
  }
  if (url.protocol === 'http:' && !development_hosts.has(url.hostname)) {
    return `'${value}' must use https; plain http is allowed only for localhost, 127.0.0.1 and [::1]`;
  }
  if (url.username !== '' || url.password !== '' || url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    return `'${value}' is not an origin: leave out any path, query, fragment or user name (${url.origin})`;
  }
  // The serialized origin has no trailing slash, a lower-case host and no default port.
  if (value !== url.origin) return `'${value}' must be written as a browser sends it: ${url.origin}`;
  return undefined;
}

/** Whether a merchant could allow this origin: the gateway answers browsers' preflights for no other. */
export function isAllowableOrigin(value: string): boolean {
  return originProblem(value) === undefined;
}

/**
 * One origin a merchant allows. Anything else is refused rather than rewritten, with the form it
 * should take when there is one, so that what is stored is what the merchant sees and what a
 * browser will send.
 */
export function checkOrigin(value: unknown): string {
  const problem = originProblem(value);
  if (problem === undefined && typeof value === 'string') return value;
  throw new ApiError('invalid_request_error', 'origin_invalid', problem ?? 'allowed_origins holds origins', 'allowed_origins');
}

/** The whole list a merchant sets: at most allowed_origins_max origins, none twice. */
export function checkAllowedOrigins(value: unknown): string[] {
  const invalidOrigin = (message: string) => new ApiError('invalid_request_error', 'origin_invalid', message, 'allowed_origins');
  if (!Array.isArray(value)) throw invalidOrigin('allowed_origins must be a list of origins');
  if (value.length > allowed_origins_max) throw invalidOrigin(`allowed_origins takes at most ${allowed_origins_max} origins`);
  const origins: string[] = [];
  for (const item of value) {
    const origin = checkOrigin(item);
    if (origins.includes(origin)) throw invalidOrigin(`'${origin}' is in allowed_origins twice`);
    origins.push(origin);
  }
  return origins;
}

/** The fields a merchant exempts from the card-number guard: each from the closed list, none twice. */
export function checkCardNumberGuardExemptFields(value: unknown): CardNumberGuardExemptField[] {
  const param = 'card_number_guard_exempt_fields';
  const invalid = (message: string) => new ApiError('invalid_request_error', 'parameter_invalid', message, param);
  if (!Array.isArray(value)) throw invalid(`${param} must be a list of field names`);
  const fields: CardNumberGuardExemptField[] = [];
  for (const item of value) {
    const field = card_number_guard_exemptable_fields.find((candidate) => candidate === item);
    if (field === undefined) {
      throw invalid(`${param} takes only ${card_number_guard_exemptable_fields.map((candidate) => `'${candidate}'`).join(', ')}`);
    }
    if (fields.includes(field)) throw invalid(`'${field}' is in ${param} twice`);
    fields.push(field);
  }
  return fields;
}
