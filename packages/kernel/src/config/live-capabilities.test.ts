import { generateKeyPairSync, createSecretKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors';
import { decideLiveCapabilities, live_capabilities_none, live_capability_names, requireLiveCapability, type BankLiveSupport } from './live-capabilities';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const nothing = { CARD_ACQUIRER: undefined, ALIPAY: undefined, WECHAT_PAY: undefined };
const everything = {
  CARD_ACQUIRER: { url: 'https://acquirer.example/v2', bearer_token: createSecretKey(Buffer.from('x'.repeat(32))), client_certificate: undefined, ca: undefined },
  ALIPAY: { gateway_url: 'https://openapi.alipay.com/gateway.do', app_id: '2021004100000000', app_private_key: privateKey, alipay_public_key: publicKey },
  WECHAT_PAY: {
    base_url: 'https://api.mch.weixin.qq.com',
    mchid: '1900000000',
    appid: 'wx0000000000000000',
    serial_no: 'ABCDEF',
    merchant_private_key: privateKey,
    platform_public_key: publicKey,
    platform_serial_no: undefined,
    api_v3_key: createSecretKey(Buffer.alloc(32)),
  },
};
const paying_bank: BankLiveSupport = { name: 'the file bank', payouts: true, incoming_transfers: true };

describe('live capabilities', () => {
  it('turns on only what has a real adapter: wallets always, the rest from configuration and the bank adapter', () => {
    const none = decideLiveCapabilities(nothing, undefined);
    expect(Object.fromEntries(live_capability_names.map((name) => [name, none[name].status]))).toEqual({
      card_payments: 'inactive',
      alipay_payments: 'inactive',
      wechat_pay_payments: 'inactive',
      wallet_payments: 'active',
      bank_transfer_payments: 'inactive',
      withdrawals: 'inactive',
    });
    expect(none).toEqual(live_capabilities_none);
    expect(Object.isFrozen(none)).toBe(true);

    const all = decideLiveCapabilities(everything, paying_bank);
    for (const name of live_capability_names) expect(all[name].status, name).toBe('active');
    expect(all.card_payments).toEqual({ status: 'active', adapter: 'the card acquirer at acquirer.example' });
    expect(all.alipay_payments).toEqual({ status: 'active', adapter: 'Alipay at openapi.alipay.com' });
    expect(all.withdrawals).toEqual({ status: 'active', adapter: 'the file bank' });

    // A bank that pays out but reports no incoming money switches on withdrawals alone.
    const payouts_only = decideLiveCapabilities(nothing, { name: 'a payout API', payouts: true, incoming_transfers: false });
    expect(payouts_only.withdrawals.status).toBe('active');
    expect(payouts_only.bank_transfer_payments).toEqual({ status: 'inactive', missing: 'a bank adapter that reports incoming transfers; a payout API does not' });
    expect(decideLiveCapabilities(nothing, { name: 'the simulated bank', payouts: false, incoming_transfers: false }).withdrawals).toEqual({
      status: 'inactive',
      missing: 'a bank adapter that pays out to bank accounts; the simulated bank does not',
    });
  });

  it('refuses live work that needs an inactive capability with livemode_not_configured, and never test work', () => {
    const none = decideLiveCapabilities(nothing, undefined);
    expect(() => requireLiveCapability(none, 'card_payments', false, 'payment_method[type]')).not.toThrow();
    expect(() => requireLiveCapability(none, 'wallet_payments', true)).not.toThrow();
    let error: unknown;
    try {
      requireLiveCapability(none, 'withdrawals', true, 'bank_account');
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).toWire()).toEqual({
      error: {
        type: 'invalid_request_error',
        code: 'livemode_not_configured',
        message:
          'Live-mode withdrawals to bank accounts are not configured on this platform: it needs a bank adapter that pays out to bank accounts; ' +
          'this platform runs none. Nothing was done; test-mode keys work against the simulators.',
        param: 'bank_account',
      },
    });
  });
});
