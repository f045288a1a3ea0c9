import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  computeSignature,
  formatSignatureHeader,
  nonce_length_max,
  nonce_length_min,
  nonce_pattern,
  parseSignatureHeader,
  signature_header,
  signature_tolerance_seconds,
  signatures_per_header_max,
  signedPayload,
  signRequest,
  verifySignature,
  type SignatureParts,
} from './signing';

const secret = 'test_signing_secret_0123456789';
const nonce = 'Kx9vQ2mZ7bT4wR1yL8cN3pA6';
const timestamp = 1_700_000_000;
const body = '{"amount":1500,"description":"Café ☕"}';
const path = '/v1/wallets/wal_123/payments?expand=wallet';
const parts: SignatureParts = { timestamp, nonce, method: 'post', path, body };

// Computed outside Node with `openssl dgst -sha256 -hmac` over the payload below, so a change in
// the byte layout fails here even if the independent Node computation changed with it.
const known_post_signature = 'd7bb2ce20ba9bd98085d36ac9f928ad1e458a65273464d7b92b28c108b4f3a78';
const known_get_signature = '41827e0759d58f78399489e6987d59d7ff826fe948efa5cde311f6987423b6c3';

function independentSignature(input: { timestamp: number; nonce: string; method: string; path: string; body: Buffer }): string {
  const body_hash = createHash('sha256').update(input.body).digest('hex');
  const payload = Buffer.concat([Buffer.from(`${input.timestamp}.${input.nonce}.${input.method}.${input.path}.`, 'utf8'), Buffer.from(body_hash, 'ascii')]);
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(payload).digest('hex');
}

function headerFor(input: SignatureParts, signing_secret = secret): string {
  return formatSignatureHeader({ timestamp: input.timestamp, nonce: input.nonce, signature: computeSignature(signing_secret, input) });
}

function verify(header: string | undefined, overrides: Partial<Omit<Parameters<typeof verifySignature>[0], 'header'>> = {}) {
  return verifySignature({ header, secrets: [secret], method: 'POST', path, body, now_seconds: timestamp, ...overrides });
}

describe('signing: known answers', () => {
  it('exposes the header name and tolerance', () => {
    expect(signature_header).toBe('paygrid-signature');
    expect(signature_tolerance_seconds).toBe(300);
    expect(nonce_length_min).toBe(16);
    expect(nonce_length_max).toBe(64);
  });

  it('builds the payload as t.n.METHOD.path.hex(sha256(body))', () => {
    const body_hash = createHash('sha256').update(Buffer.from(body, 'utf8')).digest('hex');
    expect(signedPayload(parts)).toBe(`1700000000.${nonce}.POST.${path}.${body_hash}`);
    expect(signedPayload({ ...parts, method: 'GET', path: '/v1/wallets?limit=3', body: '' })).toBe(
      `1700000000.${nonce}.GET./v1/wallets?limit=3.e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855`,
    );
  });

  it('matches an HMAC computed independently with node:crypto and with openssl', () => {
    const expected = independentSignature({ timestamp, nonce, method: 'POST', path, body: Buffer.from(body, 'utf8') });
    expect(computeSignature(secret, parts)).toBe(expected);
    expect(expected).toBe(known_post_signature);
    expect(computeSignature(secret, { timestamp, nonce, method: 'GET', path: '/v1/wallets?limit=3', body: '' })).toBe(known_get_signature);
  });

  it('signs a Uint8Array body exactly as the same bytes given as a string', () => {
    expect(computeSignature(secret, { ...parts, body: new TextEncoder().encode(body) })).toBe(known_post_signature);
  });

  it('formats and parses the header', () => {
    const header = formatSignatureHeader({ timestamp, nonce, signature: known_post_signature });
    expect(header).toBe(`t=1700000000,n=${nonce},v1=${known_post_signature}`);
    expect(parseSignatureHeader(header)).toEqual({ timestamp, nonce, signatures: [known_post_signature] });
  });

  it('refuses to sign with a bad timestamp, nonce or an empty secret', () => {
    expect(() => computeSignature(secret, { ...parts, timestamp: 1.5 })).toThrow(RangeError);
    expect(() => computeSignature(secret, { ...parts, timestamp: -1 })).toThrow(RangeError);
    expect(() => computeSignature(secret, { ...parts, nonce: 'short' })).toThrow(RangeError);
    expect(() => computeSignature(secret, { ...parts, nonce: 'has.a.dot.in.it.0123456789' })).toThrow(RangeError);
    expect(() => computeSignature('', parts)).toThrow(RangeError);
  });
});

describe('signing: verification', () => {
  const header = headerFor(parts);

  it('accepts the signed request', () => {
    expect(verify(header)).toEqual({ ok: true, timestamp, nonce });
  });

  it('upper-cases the method on both sides', () => {
    expect(verify(header, { method: 'post' }).ok).toBe(true);
  });

  it('fails when the method, path, query or body changes', () => {
    expect(verify(header, { method: 'PATCH' })).toEqual({ ok: false, code: 'signature_mismatch' });
    expect(verify(header, { path: '/v1/wallets/wal_124/payments?expand=wallet' })).toEqual({ ok: false, code: 'signature_mismatch' });
    expect(verify(header, { path: '/v1/wallets/wal_123/payments?expand=wallets' })).toEqual({ ok: false, code: 'signature_mismatch' });
    expect(verify(header, { path: '/v1/wallets/wal_123/payments' })).toEqual({ ok: false, code: 'signature_mismatch' });
    expect(verify(header, { body: body.replace('1500', '1501') })).toEqual({ ok: false, code: 'signature_mismatch' });
    expect(verify(header, { body: `${body} ` })).toEqual({ ok: false, code: 'signature_mismatch' });
    expect(verify(header, { body: '' })).toEqual({ ok: false, code: 'signature_mismatch' });
  });

  it('fails when any single body byte is flipped', () => {
    const bytes = new TextEncoder().encode(body);
    const signed = headerFor({ ...parts, body: bytes });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (index, mask) => {
        const tampered = Uint8Array.from(bytes);
        tampered[index] = (tampered[index] ?? 0) ^ mask;
        expect(verify(signed, { body: tampered })).toEqual({ ok: false, code: 'signature_mismatch' });
      }),
    );
  });

  it('fails when the timestamp or nonce in the header is changed', () => {
    const parsed = parseSignatureHeader(header)!;
    const signature = parsed.signatures[0]!;
    const moved_timestamp = formatSignatureHeader({ timestamp: timestamp + 1, nonce, signature });
    expect(verify(moved_timestamp)).toEqual({ ok: false, code: 'signature_mismatch' });
    const other_nonce = formatSignatureHeader({ timestamp, nonce: `${nonce.slice(0, -1)}7`, signature });
    expect(verify(other_nonce)).toEqual({ ok: false, code: 'signature_mismatch' });
  });

  it('fails under another secret, and matches any of several secrets', () => {
    expect(verify(header, { secrets: ['another_secret'] })).toEqual({ ok: false, code: 'signature_mismatch' });
    expect(verify(header, { secrets: ['another_secret', secret] }).ok).toBe(true);
    expect(verify(header, { secrets: [] })).toEqual({ ok: false, code: 'signature_mismatch' });
    expect(verify(header, { secrets: [''] })).toEqual({ ok: false, code: 'signature_mismatch' });
  });

  it('matches any of several v1 values', () => {
    const other = computeSignature('old_secret', parts);
    const both = `t=${timestamp},n=${nonce},v1=${other},v1=${computeSignature(secret, parts)}`;
    expect(verify(both).ok).toBe(true);
    expect(verify(`t=${timestamp},n=${nonce},v1=${other}`).ok).toBe(false);
  });

  it('accepts timestamps exactly at the tolerance and refuses one second beyond', () => {
    expect(verify(header, { now_seconds: timestamp + 300 }).ok).toBe(true);
    expect(verify(header, { now_seconds: timestamp - 300 }).ok).toBe(true);
    expect(verify(header, { now_seconds: timestamp + 301 })).toEqual({ ok: false, code: 'signature_timestamp_out_of_range' });
    expect(verify(header, { now_seconds: timestamp - 301 })).toEqual({ ok: false, code: 'signature_timestamp_out_of_range' });
  });

  it('reports an out-of-range timestamp before checking the HMAC', () => {
    expect(verify(header, { now_seconds: timestamp + 10_000, secrets: ['wrong'] })).toEqual({
      ok: false,
      code: 'signature_timestamp_out_of_range',
    });
  });
});

describe('signing: malformed headers', () => {
  const v1 = known_post_signature;
  const malformed: readonly (string | undefined)[] = [
    undefined,
    '',
    ',',
    `n=${nonce},v1=${v1}`,
    `t=${timestamp},v1=${v1}`,
    `t=${timestamp},n=${nonce}`,
    `t=${timestamp},n=${nonce},v1=`,
    `t=abc,n=${nonce},v1=${v1}`,
    `t=1.5,n=${nonce},v1=${v1}`,
    `t=-1,n=${nonce},v1=${v1}`,
    `t=+1700000000,n=${nonce},v1=${v1}`,
    `t=01700000000,n=${nonce},v1=${v1}`,
    `t=1e9,n=${nonce},v1=${v1}`,
    `t=99999999999999999,n=${nonce},v1=${v1}`,
    `t=${timestamp},t=${timestamp},n=${nonce},v1=${v1}`,
    `t=${timestamp},n=${nonce},n=${nonce},v1=${v1}`,
    `t=${timestamp},n=${'a'.repeat(nonce_length_min - 1)},v1=${v1}`,
    `t=${timestamp},n=${'a'.repeat(nonce_length_max + 1)},v1=${v1}`,
    `t=${timestamp},n=${nonce.slice(0, -1)}+,v1=${v1}`,
    `t=${timestamp},n=${nonce.slice(0, -1)}.,v1=${v1}`,
    `t=${timestamp},n=${nonce},v1=${v1.toUpperCase()}`,
    `t=${timestamp},n=${nonce},v1=${v1.slice(1)}`,
    `t=${timestamp},n=${nonce},v1=${v1}0`,
    `t=${timestamp},n=${nonce},v1=${v1.slice(1)}g`,
    `t=${timestamp},n=${nonce},v1=${v1},`,
    `t=${timestamp};n=${nonce};v1=${v1}`,
    `t=${timestamp},n=${nonce},=${v1},v1=${v1}`,
    `t=${timestamp},n=${nonce},garbage,v1=${v1}`,
    `t=${timestamp},n=${nonce}${`,v1=${v1}`.repeat(signatures_per_header_max + 1)}`,
    `t=${timestamp},n=${nonce},v1=${v1},x=${'y'.repeat(1100)}`,
  ];

  it.each(malformed.map((header) => [header]))('refuses %j', (header) => {
    expect(parseSignatureHeader(header)).toBeUndefined();
    expect(verify(header)).toEqual({ ok: false, code: 'signature_malformed' });
  });

  it('ignores unknown keys and spaces around items', () => {
    const signature = computeSignature(secret, parts);
    const header = ` v0=legacy , t=${timestamp}, n=${nonce},\tscheme=future, v1=${signature} `;
    expect(parseSignatureHeader(header)).toEqual({ timestamp, nonce, signatures: [signature] });
    expect(verify(header).ok).toBe(true);
  });

  it('accepts the longest and shortest nonces', () => {
    for (const length of [nonce_length_min, nonce_length_max]) {
      const edge_nonce = 'A_-z9'.repeat(20).slice(0, length);
      expect(nonce_pattern.test(edge_nonce)).toBe(true);
      expect(verify(headerFor({ ...parts, nonce: edge_nonce })).ok).toBe(true);
    }
  });
});

describe('signRequest', () => {
  it('produces a header that verifies, with a fresh url-safe nonce each time', () => {
    const request = { method: 'POST', path, body };
    const first = signRequest(secret, request, { now_seconds: timestamp });
    const second = signRequest(secret, request, { now_seconds: timestamp });
    const first_parsed = parseSignatureHeader(first)!;
    const second_parsed = parseSignatureHeader(second)!;
    expect(first_parsed.nonce).not.toBe(second_parsed.nonce);
    expect(first_parsed.nonce).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(verify(first)).toEqual({ ok: true, timestamp, nonce: first_parsed.nonce });
    expect(verify(second).ok).toBe(true);
  });

  it('uses the given nonce and timestamp', () => {
    expect(signRequest(secret, { method: 'post', path, body }, { now_seconds: timestamp, nonce })).toBe(
      `t=${timestamp},n=${nonce},v1=${known_post_signature}`,
    );
  });

  it('defaults to the current time', () => {
    const now = Math.floor(Date.now() / 1000);
    const parsed = parseSignatureHeader(signRequest(secret, { method: 'GET', path: '/v1/balance', body: '' }))!;
    expect(Math.abs(parsed.timestamp - now)).toBeLessThanOrEqual(2);
  });
});
