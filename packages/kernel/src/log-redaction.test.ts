import { describe, expect, it } from 'vitest';
import { redactSecrets } from './log-redaction';

describe('redactSecrets', () => {
  it('hides secret-named values at the top level and one or two levels down, arrays included', () => {
    const logged = {
      token: 'tok_1',
      card: { number: '4242424242424242', brand: 'visa' },
      transfers: [{ amount: 100, signing_secret: 'whsec_1' }],
      request: { headers: { Authorization: 'Bearer sk_1', accept: '*/*' } },
    };
    expect(redactSecrets(logged)).toEqual({
      token: '[redacted]',
      card: { number: '[redacted]', brand: 'visa' },
      transfers: [{ amount: 100, signing_secret: '[redacted]' }],
      request: { headers: { Authorization: '[redacted]', accept: '*/*' } },
    });
  });

  it("hides payment providers' keys under the names connectors give them", () => {
    const logged = { alipay: { app_private_key: 'MIIE...', gateway_url: 'https://openapi.alipay.com/gateway.do' }, wechat_pay: { merchant_private_key: 'MIIE...', api_v3_key: 'k'.repeat(32) } };
    expect(redactSecrets(logged)).toEqual({
      alipay: { app_private_key: '[redacted]', gateway_url: 'https://openapi.alipay.com/gateway.do' },
      wechat_pay: { merchant_private_key: '[redacted]', api_v3_key: '[redacted]' },
    });
  });

  it('never changes the caller objects, and copies only what it must', () => {
    const untouched = { amount: 100, currency: 'usd' };
    const logged = { payment: { cvc: '123' }, order: untouched };
    const redacted = redactSecrets(logged);
    expect(logged.payment.cvc).toBe('123');
    expect(redacted['order']).toBe(untouched);
    const clean = { a: { b: { c: 1 } } };
    expect(redactSecrets(clean)).toBe(clean);
  });

  it('stops three levels down, as documented: code must not log secrets that deep', () => {
    expect(redactSecrets({ a: { b: { c: { password: 'deep' } } } })).toEqual({ a: { b: { c: { password: 'deep' } } } });
  });

  it('leaves errors, dates and class instances to their serializers', () => {
    const error = Object.assign(new Error('boom'), { secret: 'inside an error' });
    const logged = { err: error, at: new Date(0) };
    expect(redactSecrets(logged)).toBe(logged);
  });
});
