// Where webhooks may be sent. A merchant chooses the URL, so without this guard an endpoint could
// make Paygrid POST into the network it runs in: the cloud metadata service at 169.254.169.254,
// an admin page on 10.x, the platform's own loopback ports (server-side request forgery), and
// read the first KiB of the answer back from the delivery log. Every merchant has test keys from
// the moment it signs up, so test mode is guarded too.
// - Live mode: https only, and only public addresses.
// - Test mode: http is allowed as well, and only public addresses, unless the install allows
//   non-public ones for test mode (WEBHOOK_TEST_MODE_PRIVATE_URLS; by default it does in embedded
//   mode, where tests and local development send to http://127.0.0.1, and does not when
//   distributed).
// Operators of a private install, whose merchants' receivers live on internal addresses, can
// allow private addresses in both modes (WEBHOOK_ALLOW_PRIVATE_URLS); https stays required live.
//
// The check runs when a URL is registered and again before every attempt, after resolving the
// name afresh, because what a name resolves to can change between the two (DNS rebinding). The
// connection itself then resolves the name through `publicOnlyLookup`, which refuses a
// non-public answer too, so the address checked last is the address connected to: a name that
// flips between the check before the attempt and the connection is still refused. An egress
// proxy that refuses internal networks remains good defence in depth (docs/operations.md).
import type { LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** Resolves a host name to every address it has (IPv4 and IPv6), as the request would. */
export type AddressLookup = (hostname: string) => Promise<readonly string[]>;

/** The longest wait for a host name to resolve, at registration and before each attempt. */
export const url_lookup_timeout_ms = 5_000;

export const non_public_address_classes = [
  'unspecified',
  'loopback',
  'private',
  'link_local',
  'unique_local',
  'multicast',
  'reserved',
] as const;
export type NonPublicAddressClass = (typeof non_public_address_classes)[number];

/** How each class reads in an error message. */
const class_descriptions: Record<NonPublicAddressClass, string> = {
  unspecified: 'an unspecified address',
  loopback: 'a loopback address',
  private: 'a private address',
  link_local: 'a link-local address (where cloud metadata services live)',
  unique_local: 'a unique-local IPv6 address',
  multicast: 'a multicast address',
  reserved: 'a reserved address',
};

type Range = readonly [network: string, prefix: number, family: 'ipv4' | 'ipv6'];

/**
 * The ranges of each class. IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) match the IPv4 ranges:
 * BlockList compares them as the IPv4 address they carry.
 */
const class_ranges: Record<NonPublicAddressClass, readonly Range[]> = {
  // 0.0.0.0/8 is "this network"; connecting to 0.0.0.0 reaches the local host on Linux.
  unspecified: [
    ['0.0.0.0', 8, 'ipv4'],
    ['::', 128, 'ipv6'],
  ],
  loopback: [
    ['127.0.0.0', 8, 'ipv4'],
    ['::1', 128, 'ipv6'],
  ],
  // RFC 1918, and RFC 6598's shared address space, which carriers and some clouds use internally.
  private: [
    ['10.0.0.0', 8, 'ipv4'],
    ['172.16.0.0', 12, 'ipv4'],
    ['192.168.0.0', 16, 'ipv4'],
    ['100.64.0.0', 10, 'ipv4'],
  ],
  link_local: [
    ['169.254.0.0', 16, 'ipv4'],
    ['fe80::', 10, 'ipv6'],
  ],
  unique_local: [['fc00::', 7, 'ipv6']],
  multicast: [
    ['224.0.0.0', 4, 'ipv4'],
    ['ff00::', 8, 'ipv6'],
  ],
  // 240.0.0.0/4 includes the broadcast address; ::/96 holds the deprecated IPv4-compatible
  // addresses (::127.0.0.1), which some stacks still route to the IPv4 address.
  reserved: [
    ['240.0.0.0', 4, 'ipv4'],
    ['::', 96, 'ipv6'],
  ],
};

const class_block_lists: readonly (readonly [NonPublicAddressClass, BlockList])[] = non_public_address_classes.map((name) => {
  const list = new BlockList();
  for (const [network, prefix, family] of class_ranges[name]) list.addSubnet(network, prefix, family);
  return [name, list] as const;
});

/** The class of a non-public IP address, or undefined for a public one (or for a non-address). */
export function classifyAddress(address: string): NonPublicAddressClass | undefined {
  const family = isIP(address);
  if (family === 0) return undefined;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const [name, list] of class_block_lists) {
    if (list.check(address, type)) return name;
  }
  return undefined;
}

export const lookupAddresses: AddressLookup = async (hostname) => {
  const found = await lookup(hostname, { all: true, verbatim: true });
  return found.map((entry) => entry.address);
};

/** The error a connection gets when its host name resolves to an address the guard refuses. */
export const address_not_public_code = 'EADDRNOTPUBLIC';

export type WebhookMode = 'live' | 'test';

/** The end of every refusal of a non-public address. */
function publicOnlyRule(mode: WebhookMode): string {
  return `${mode}-mode webhooks are sent only to public addresses`;
}

/**
 * A `lookup` for the sockets of guarded deliveries (net.connect and tls.connect call it): it
 * resolves through `resolve` and fails the connection when any answer is not a public address,
 * so what the guard checks is what the socket connects to. `options.family` and `options.all`
 * are honoured as dns.lookup honours them.
 */
export function publicOnlyLookup(resolve: AddressLookup, mode: WebhookMode): LookupFunction {
  return (hostname, options, callback) => {
    const refuse = (message: string) => callback(Object.assign(new Error(message), { code: address_not_public_code, hostname }), '', 0);
    resolve(hostname).then(
      (addresses) => {
        const answers: LookupAddress[] = [];
        for (const address of addresses) {
          const family = isIP(address);
          if (family === 0) return refuse(`${hostname} resolves to something that is not an IP address`);
          const address_class = classifyAddress(address);
          if (address_class !== undefined) return refuse(`${hostname} resolves to ${address}, ${class_descriptions[address_class]}; ${publicOnlyRule(mode)}`);
          if (options.family === undefined || options.family === 0 || options.family === family) answers.push({ address, family });
        }
        const first = answers[0];
        if (first === undefined) return callback(Object.assign(new Error(`${hostname} resolves to no address`), { code: 'ENOTFOUND', hostname }), '', 0);
        if (options.all === true) return callback(null, answers);
        return callback(null, first.address, first.family);
      },
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error)), '', 0),
    );
  };
}

export interface UrlGuardOptions {
  /** Live mode requires https; test mode takes http too. */
  readonly mode: WebhookMode;
  /** Allows private, loopback and other non-public addresses; https stays required in live mode. */
  readonly allow_private_urls: boolean;
  readonly lookup: AddressLookup;
  readonly lookup_timeout_ms?: number;
}

/** Why a URL may not receive webhooks, in a sentence that names the parameter. */
export type UrlRefusal = string;

/** Waits at most `timeout_ms` for the lookup; the lookup itself runs on in libuv's pool and is dropped. */
async function lookupWithin(resolve: AddressLookup, hostname: string, timeout_ms: number): Promise<readonly string[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${String(timeout_ms)} ms`)), timeout_ms);
  });
  try {
    return await Promise.race([resolve(hostname), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describeLookupFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = 'code' in error && typeof error.code === 'string' ? `${error.code}: ` : '';
  return `${code}${error.message}`;
}

export class WebhookUrlGuard {
  readonly #options: UrlGuardOptions;
  readonly #lookup_timeout_ms: number;

  constructor(options: UrlGuardOptions) {
    this.#options = options;
    this.#lookup_timeout_ms = options.lookup_timeout_ms ?? url_lookup_timeout_ms;
  }

  /**
   * At registration. A name that does not resolve now is accepted: it may be set up later, and a
   * DNS outage on our side should not stop merchants from registering. It is checked again
   * before every attempt, where failing to resolve it fails the attempt.
   */
  async registrationRefusal(url: string, param: string): Promise<UrlRefusal | undefined> {
    return this.#refusal(url, param, { unresolved: 'allow' });
  }

  /** Before an attempt: the name is resolved afresh, and an answer we cannot check is a refusal. */
  async deliveryRefusal(url: string): Promise<UrlRefusal | undefined> {
    return this.#refusal(url, 'url', { unresolved: 'refuse' });
  }

  async #refusal(url: string, param: string, options: { readonly unresolved: 'allow' | 'refuse' }): Promise<UrlRefusal | undefined> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return `${param} is not a valid URL`;
    }
    const { mode } = this.#options;
    if (mode === 'live' && parsed.protocol !== 'https:') return `${param} must use https in live mode`;
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return `${param} must use http or https`;
    if (this.#options.allow_private_urls) return undefined;
    // The URL parser writes IPv6 literals in brackets and normalizes IPv4 shorthands (127.1, 2130706433).
    const hostname = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
    if (isIP(hostname) !== 0) {
      const address_class = classifyAddress(hostname);
      return address_class === undefined ? undefined : `${param} points to ${hostname}, ${class_descriptions[address_class]}; ${publicOnlyRule(mode)}`;
    }
    let addresses: readonly string[];
    try {
      addresses = await lookupWithin(this.#options.lookup, hostname, this.#lookup_timeout_ms);
    } catch (error) {
      return options.unresolved === 'allow' ? undefined : `${param} host ${hostname} could not be resolved (${describeLookupFailure(error)})`;
    }
    if (addresses.length === 0) return options.unresolved === 'allow' ? undefined : `${param} host ${hostname} resolves to no address`;
    // Every address counts: the request may connect to any of them.
    for (const address of addresses) {
      const address_class = classifyAddress(address);
      if (address_class !== undefined) {
        return `${param} host ${hostname} resolves to ${address}, ${class_descriptions[address_class]}; ${publicOnlyRule(mode)}`;
      }
      if (isIP(address) === 0) return `${param} host ${hostname} resolves to something that is not an IP address`;
    }
    return undefined;
  }
}
