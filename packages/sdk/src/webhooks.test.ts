import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook, WebhookVerificationError, type WebhookVerificationErrorCode } from './webhooks';

const secret = `whsec_${randomBytes(24).toString('base64')}`;
const now_seconds = 1_750_000_000;
const event = { id: 'evt_1', object: 'event', type: 'refund.created', data: { object: { id: 're_1', amount: 500 } }, sequence: 3, created: now_seconds, livemode: false };
const body = JSON.stringify(event);

function headersFor(options: { id?: string; timestamp?: number; signature?: string } = {}): Record<string, string> {
  const id = options.id ?? 'evt_1';
  const timestamp = options.timestamp ?? now_seconds;
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': options.signature ?? signWebhook(secret, { id, timestamp, body }),
  };
}

function failureCode(work: () => unknown): WebhookVerificationErrorCode {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookVerificationError);
    return (error as WebhookVerificationError).code;
  }
  throw new Error('expected verification to fail');
}

describe('verifyWebhook', () => {
  it('matches the Standard Webhooks reference vector', () => {
    // The example in the Standard Webhooks libraries' test suites.
    const reference_secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const reference_body = '{"test": 2432232314}';
    const header = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
    expect(signWebhook(reference_secret, { id: 'msg_p5jXN8AQM9LWM0D4loKWxJek', timestamp: 1614265330, body: reference_body })).toBe(header);
    const parsed = verifyWebhook({
      secret: reference_secret,
      headers: { 'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek', 'webhook-timestamp': '1614265330', 'webhook-signature': header },
      body: reference_body,
      now_seconds: 1614265330,
    });
    expect(parsed).toEqual({ test: 2432232314 });
  });

  it('returns the parsed event for a good signature, with headers in any case', () => {
    expect(verifyWebhook({ secret, headers: headersFor(), body, now_seconds })).toEqual(event);
    const upper = Object.fromEntries(Object.entries(headersFor()).map(([key, value]) => [key.toUpperCase(), value]));
    expect(verifyWebhook({ secret, headers: upper, body, now_seconds }).id).toBe('evt_1');
  });

  it('signs id.timestamp.body with the base64-decoded secret', () => {
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const expected = createHmac('sha256', key).update(`evt_1.${String(now_seconds)}.${body}`).digest('base64');
    expect(signWebhook(secret, { id: 'evt_1', timestamp: now_seconds, body })).toBe(`v1,${expected}`);
  });

  it('accepts any one of several space-separated signatures and skips other schemes', () => {
    const good = signWebhook(secret, { id: 'evt_1', timestamp: now_seconds, body });
    const other = signWebhook(`whsec_${randomBytes(24).toString('base64')}`, { id: 'evt_1', timestamp: now_seconds, body });
    const signature = `v1a,${Buffer.alloc(64).toString('base64')} ${other} ${good}`;
    expect(verifyWebhook({ secret, headers: headersFor({ signature }), body, now_seconds }).id).toBe('evt_1');
    expect(failureCode(() => verifyWebhook({ secret, headers: headersFor({ signature: other }), body, now_seconds }))).toBe('signature_mismatch');
  });

  it('refuses a tampered body, id or timestamp', () => {
    const headers = headersFor();
    expect(failureCode(() => verifyWebhook({ secret, headers, body: body.replace('500', '5000'), now_seconds }))).toBe('signature_mismatch');
    expect(failureCode(() => verifyWebhook({ secret, headers: { ...headers, 'webhook-id': 'evt_2' }, body, now_seconds }))).toBe('signature_mismatch');
    expect(failureCode(() => verifyWebhook({ secret, headers: { ...headers, 'webhook-timestamp': String(now_seconds + 1) }, body, now_seconds }))).toBe(
      'signature_mismatch',
    );
    expect(failureCode(() => verifyWebhook({ secret: `whsec_${randomBytes(24).toString('base64')}`, headers, body, now_seconds }))).toBe('signature_mismatch');
  });

  it('refuses stale and future timestamps outside the tolerance, and accepts its edges', () => {
    const at = (timestamp: number, tolerance_seconds?: number) => () =>
      verifyWebhook({ secret, headers: headersFor({ timestamp }), body, now_seconds, ...(tolerance_seconds === undefined ? {} : { tolerance_seconds }) });
    expect(at(now_seconds - 300)().id).toBe('evt_1');
    expect(at(now_seconds + 300)().id).toBe('evt_1');
    expect(failureCode(at(now_seconds - 301))).toBe('timestamp_too_old');
    expect(failureCode(at(now_seconds + 301))).toBe('timestamp_too_new');
    expect(failureCode(at(now_seconds - 11, 10))).toBe('timestamp_too_old');
    expect(failureCode(() => verifyWebhook({ secret, headers: { ...headersFor(), 'webhook-timestamp': '1.5e9' }, body, now_seconds }))).toBe('timestamp_invalid');
  });

  it('refuses missing headers, a repeated header, malformed signatures and bad secrets', () => {
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const headers: Record<string, string | undefined> = { ...headersFor(), [name]: undefined };
      expect(failureCode(() => verifyWebhook({ secret, headers, body, now_seconds }))).toBe('header_missing');
    }
    const repeated = { ...headersFor(), 'webhook-signature': [headersFor()['webhook-signature'] ?? '', 'v1,x'] };
    expect(failureCode(() => verifyWebhook({ secret, headers: repeated, body, now_seconds }))).toBe('header_missing');
    for (const signature of ['v1', 'v1,', 'garbage', ' ', `v2,${headersFor()['webhook-signature']?.slice(3) ?? ''}`, 'v1,'.padEnd(5_000, 'A')]) {
      expect(failureCode(() => verifyWebhook({ secret, headers: headersFor({ signature }), body, now_seconds }))).toBe('signature_mismatch');
    }
    expect(failureCode(() => verifyWebhook({ secret: 'sk_test_123', headers: headersFor(), body, now_seconds }))).toBe('secret_invalid');
    expect(failureCode(() => verifyWebhook({ secret: 'whsec_', headers: headersFor(), body, now_seconds }))).toBe('secret_invalid');
  });

  it('refuses a signed body that is not a JSON object', () => {
    const text = 'not json';
    const signature = signWebhook(secret, { id: 'evt_1', timestamp: now_seconds, body: text });
    expect(failureCode(() => verifyWebhook({ secret, headers: headersFor({ signature }), body: text, now_seconds }))).toBe('body_invalid');
  });

  it('verifies whatever it signed, and nothing signed for another body (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.stringMatching(/^[A-Za-z0-9_]{1,40}$/), fc.integer({ min: 0, max: 4_000_000_000 }), (first, second, id, timestamp) => {
        const signature = signWebhook(secret, { id, timestamp, body: first });
        const headers = { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature };
        const verify = (candidate: string) => () => verifyWebhook({ secret, headers, body: candidate, now_seconds: timestamp });
        if (first !== second) expect(failureCode(verify(second))).toBe('signature_mismatch');
        const json = JSON.stringify({ text: first });
        const json_headers = { ...headers, 'webhook-signature': signWebhook(secret, { id, timestamp, body: json }) };
        expect(verifyWebhook({ secret, headers: json_headers, body: json, now_seconds: timestamp })).toEqual({ text: first });
      }),
    );
  });

  it('refuses to sign what could not be verified', () => {
    expect(() => signWebhook(secret, { id: 'evt.1', timestamp: now_seconds, body })).toThrow(RangeError);
    expect(() => signWebhook(secret, { id: 'evt_1', timestamp: -1, body })).toThrow(RangeError);
  });
});
