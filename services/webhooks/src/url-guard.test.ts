import { describe, expect, it } from 'vitest';
import type { LookupOptions } from 'node:dns';
import { WebhookUrlGuard, address_not_public_code, classifyAddress, publicOnlyLookup, type AddressLookup } from './url-guard';

/** A resolver that knows a few names and fails for the rest, so that no test asks real DNS. */
function fakeLookup(names: Record<string, readonly string[]>): AddressLookup {
  return (hostname) => {
    const found = names[hostname];
    if (found === undefined) return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
    return Promise.resolve(found);
  };
}

describe('classifyAddress', () => {
  it('names every non-public class, IPv4 and IPv6, and IPv4 inside IPv6', () => {
    const expected: Record<string, string | undefined> = {
      '0.0.0.0': 'unspecified',
      '::': 'unspecified',
      '127.0.0.1': 'loopback',
      '127.255.0.9': 'loopback',
      '::1': 'loopback',
      '10.1.2.3': 'private',
      '172.16.0.1': 'private',
      '172.31.255.255': 'private',
      '192.168.1.1': 'private',
      '100.64.0.1': 'private',
      '169.254.169.254': 'link_local',
      'fe80::1': 'link_local',
      'fd00:ec2::254': 'unique_local',
      'fc00::1': 'unique_local',
      '224.0.0.1': 'multicast',
      'ff02::1': 'multicast',
      '255.255.255.255': 'reserved',
      '::127.0.0.1': 'reserved',
      '::ffff:127.0.0.1': 'loopback',
      '::ffff:10.0.0.1': 'private',
      '::ffff:169.254.169.254': 'link_local',
      // Public addresses, including neighbours of the blocked ranges.
      '8.8.8.8': undefined,
      '172.32.0.1': undefined,
      '100.128.0.1': undefined,
      '203.0.113.7': undefined,
      '2606:4700:4700::1111': undefined,
      '::ffff:8.8.8.8': undefined,
      'not-an-address': undefined,
    };
    for (const [address, address_class] of Object.entries(expected)) expect(classifyAddress(address), address).toBe(address_class);
  });
});

describe('WebhookUrlGuard', () => {
  const guard = new WebhookUrlGuard({
    mode: 'live',
    allow_private_urls: false,
    lookup: fakeLookup({
      'hooks.example.com': ['203.0.113.7', '2606:4700:4700::1111'],
      'sneaky.example.com': ['203.0.113.7', '10.0.0.5'],
      'metadata.example.com': ['169.254.169.254'],
      'empty.example.com': [],
    }),
  });

  it('allows https to public addresses, literal or by name', async () => {
    expect(await guard.registrationRefusal('https://hooks.example.com/webhooks', 'url')).toBeUndefined();
    expect(await guard.registrationRefusal('https://203.0.113.7:8443/hooks', 'url')).toBeUndefined();
    expect(await guard.registrationRefusal('https://[2606:4700:4700::1111]/hooks', 'url')).toBeUndefined();
  });

  it('refuses http, and literal or resolved addresses that are not public, whatever their spelling', async () => {
    expect(await guard.registrationRefusal('http://hooks.example.com/', 'url')).toBe('url must use https in live mode');
    expect(await guard.registrationRefusal('https://127.1/', 'url')).toBe('url points to 127.0.0.1, a loopback address; live-mode webhooks are sent only to public addresses');
    expect(await guard.registrationRefusal('https://2130706433/', 'url')).toMatch(/^url points to 127\.0\.0\.1, a loopback address/);
    expect(await guard.registrationRefusal('https://[::ffff:a00:1]/', 'url')).toMatch(/^url points to ::ffff:a00:1, a private address/);
    expect(await guard.registrationRefusal('https://[fe80::1]/', 'url')).toMatch(/a link-local address/);
    // One bad address among good ones is enough: the request may connect to any of them.
    expect(await guard.registrationRefusal('https://sneaky.example.com/', 'url')).toBe(
      'url host sneaky.example.com resolves to 10.0.0.5, a private address; live-mode webhooks are sent only to public addresses',
    );
    expect(await guard.registrationRefusal('https://metadata.example.com/', 'url')).toMatch(/resolves to 169\.254\.169\.254, a link-local address/);
  });

  it('accepts a name that does not resolve at registration, and refuses it before an attempt', async () => {
    expect(await guard.registrationRefusal('https://later.example.com/', 'url')).toBeUndefined();
    expect(await guard.registrationRefusal('https://empty.example.com/', 'url')).toBeUndefined();
    expect(await guard.deliveryRefusal('https://later.example.com/')).toBe('url host later.example.com could not be resolved (ENOTFOUND: getaddrinfo ENOTFOUND later.example.com)');
    expect(await guard.deliveryRefusal('https://empty.example.com/')).toBe('url host empty.example.com resolves to no address');
  });

  it('stops waiting for a lookup that does not answer', async () => {
    const hanging = new WebhookUrlGuard({ mode: 'live', allow_private_urls: false, lookup: () => new Promise(() => undefined), lookup_timeout_ms: 20 });
    expect(await hanging.deliveryRefusal('https://slow.example.com/')).toBe('url host slow.example.com could not be resolved (no answer within 20 ms)');
  });

  it('allows private addresses when the operator says so, but still requires https', async () => {
    const private_install = new WebhookUrlGuard({ mode: 'live', allow_private_urls: true, lookup: fakeLookup({}) });
    expect(await private_install.registrationRefusal('https://10.0.0.5/hooks', 'url')).toBeUndefined();
    expect(await private_install.deliveryRefusal('https://receiver.internal/hooks')).toBeUndefined();
    expect(await private_install.registrationRefusal('http://10.0.0.5/hooks', 'url')).toBe('url must use https in live mode');
  });
});

describe('WebhookUrlGuard in test mode', () => {
  it('takes http as well as https, and still only public addresses unless the install allows others', async () => {
    const lookup = fakeLookup({ 'hooks.example.com': ['203.0.113.7'], 'metadata.example.com': ['169.254.169.254'] });
    const guard = new WebhookUrlGuard({ mode: 'test', allow_private_urls: false, lookup });
    expect(await guard.registrationRefusal('http://hooks.example.com/hooks', 'url')).toBeUndefined();
    expect(await guard.registrationRefusal('https://hooks.example.com/hooks', 'url')).toBeUndefined();
    expect(await guard.registrationRefusal('http://127.0.0.1:9/hooks', 'url')).toBe('url points to 127.0.0.1, a loopback address; test-mode webhooks are sent only to public addresses');
    expect(await guard.deliveryRefusal('http://metadata.example.com/latest/meta-data/')).toBe(
      'url host metadata.example.com resolves to 169.254.169.254, a link-local address (where cloud metadata services live); test-mode webhooks are sent only to public addresses',
    );
    const local_development = new WebhookUrlGuard({ mode: 'test', allow_private_urls: true, lookup });
    expect(await local_development.registrationRefusal('http://127.0.0.1:9/hooks', 'url')).toBeUndefined();
    expect(await local_development.deliveryRefusal('http://metadata.example.com/')).toBeUndefined();
  });
});

describe('publicOnlyLookup, the lookup of guarded delivery sockets', () => {
  const names = fakeLookup({ 'hooks.example.com': ['203.0.113.7', '2001:db8::7'], 'mixed.example.com': ['203.0.113.7', '10.0.0.1'], 'odd.example.com': ['not-an-ip'] });
  const lookup = publicOnlyLookup(names, 'live');
  /** Calls the lookup as net.connect does and collects what it calls back with. */
  const resolveAs = (hostname: string, options: LookupOptions) =>
    new Promise<{ error: NodeJS.ErrnoException | null; address: unknown; family: number | undefined }>((done) => {
      lookup(hostname, options, (error, address, family) => done({ error, address, family }));
    });

  it('answers with public addresses as dns.lookup does, one or all, filtered by family', async () => {
    expect(await resolveAs('hooks.example.com', {})).toEqual({ error: null, address: '203.0.113.7', family: 4 });
    expect(await resolveAs('hooks.example.com', { all: true })).toEqual({
      error: null,
      address: [
        { address: '203.0.113.7', family: 4 },
        { address: '2001:db8::7', family: 6 },
      ],
      family: undefined,
    });
    expect(await resolveAs('hooks.example.com', { family: 6 })).toEqual({ error: null, address: '2001:db8::7', family: 6 });
  });

  it('fails the connection when any answer is not public, or not an address, and passes resolver errors on', async () => {
    const mixed = await resolveAs('mixed.example.com', { all: true });
    expect(mixed.error?.code).toBe(address_not_public_code);
    expect(mixed.error?.message).toBe('mixed.example.com resolves to 10.0.0.1, a private address; live-mode webhooks are sent only to public addresses');
    expect((await resolveAs('odd.example.com', {})).error?.message).toBe('odd.example.com resolves to something that is not an IP address');
    expect((await resolveAs('unknown.example.com', {})).error?.code).toBe('ENOTFOUND');
  });
});
