// The service signs, the SDK verifies: two implementations of one scheme, checked against each
// other and against the Standard Webhooks reference vector.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifyWebhook } from '@paygrid/sdk';
import { newEndpointSecret, secret_random_bytes, signDelivery } from './signing';

describe('delivery signatures', () => {
  it('match the Standard Webhooks reference vector', () => {
    const headers = signDelivery('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
    expect(headers).toEqual({
      'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      'webhook-timestamp': '1614265330',
      'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    });
  });

  it('makes fresh secrets of 24 random bytes', () => {
    const secrets = new Set(Array.from({ length: 50 }, () => newEndpointSecret()));
    expect(secrets.size).toBe(50);
    for (const secret of secrets) {
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
      expect(Buffer.from(secret.slice('whsec_'.length), 'base64')).toHaveLength(secret_random_bytes);
    }
  });

  it('verify with the SDK for any body, and only for that body (property)', () => {
    const secret = newEndpointSecret();
    fc.assert(
      fc.property(fc.stringMatching(/^evt_[A-Za-z0-9_]{1,30}$/), fc.integer({ min: 0, max: 4_000_000_000 }), fc.json(), fc.json(), (id, timestamp, body, other) => {
        const headers = signDelivery(secret, id, timestamp, body);
        const parsed: unknown = JSON.parse(body);
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
          expect(verifyWebhook({ secret, headers: { ...headers }, body, now_seconds: timestamp })).toEqual(parsed);
        }
        if (other !== body) expect(() => verifyWebhook({ secret, headers: { ...headers }, body: other, now_seconds: timestamp })).toThrow(/signature/);
      }),
    );
  });
});
