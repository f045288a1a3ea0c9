import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporaryDirectory, type TemporaryDirectory } from '../testing';
import { loadPlatformConfig } from './platform-config';
import { ConfigError } from './variables';

function problems(environment: Record<string, string>): readonly string[] {
  try {
    loadPlatformConfig(environment);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

function rsaPem(bits = 2048): { readonly private_pem: string; readonly public_pem: string } {
  const pair = generateKeyPairSync('rsa', { modulusLength: bits });
  return {
    private_pem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    public_pem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

describe('payment provider endpoints in the platform config', () => {
  let directory: TemporaryDirectory;
  let alipay: Record<string, string>;
  let wechat_pay: Record<string, string>;
  const file = (name: string) => join(directory.path, name);
  const api_v3_key = 'abcdefghijklmnopqrstuvwxyz012345';
  let secrets: string[];

  beforeAll(async () => {
    directory = await temporaryDirectory();
    const app = rsaPem();
    const alipay_platform = rsaPem();
    const merchant = rsaPem();
    const platform = rsaPem();
    secrets = [app.private_pem.slice(40, 80), merchant.private_pem.slice(40, 80), api_v3_key];
    writeFileSync(file('alipay-app.pem'), app.private_pem);
    // Alipay's key tool writes bare base64; both forms are taken.
    writeFileSync(file('alipay-public.txt'), alipay_platform.public_pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''));
    writeFileSync(file('wechat-merchant.pem'), merchant.private_pem);
    writeFileSync(file('wechat-platform.pem'), platform.public_pem);
    writeFileSync(file('apiv3.key'), `${api_v3_key}\n`);
    writeFileSync(file('apiv3-short.key'), 'too-short');
    writeFileSync(file('garbage.pem'), '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n');
    writeFileSync(file('weak.pem'), rsaPem(1024).private_pem);
    writeFileSync(file('ec.pem'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    writeFileSync(file('unreadable.pem'), app.private_pem);
    chmodSync(file('unreadable.pem'), 0o000);
    alipay = {
      ALIPAY_GATEWAY_URL: 'https://openapi.alipay.com/gateway.do',
      ALIPAY_APP_ID: '2021004100000000',
      ALIPAY_PRIVATE_KEY_FILE: file('alipay-app.pem'),
      ALIPAY_PUBLIC_KEY_FILE: file('alipay-public.txt'),
    };
    wechat_pay = {
      WECHAT_PAY_BASE_URL: 'https://api.mch.weixin.qq.com',
      WECHAT_PAY_MCH_ID: '1900000109',
      WECHAT_PAY_APP_ID: 'wxd678efh567hg6787',
      WECHAT_PAY_SERIAL_NO: '5157F09EFDC096DE15EBE81A47057A7232F1B8E1',
      WECHAT_PAY_PRIVATE_KEY_FILE: file('wechat-merchant.pem'),
      WECHAT_PAY_PLATFORM_PUBLIC_KEY_FILE: file('wechat-platform.pem'),
      WECHAT_PAY_API_V3_KEY_FILE: file('apiv3.key'),
    };
  });

  afterAll(async () => {
    await directory.remove();
  });

  const public_base_url = { PUBLIC_BASE_URL: 'https://pay.example.com/' };

  it('leaves both providers to their sandboxes when nothing is set', () => {
    expect(loadPlatformConfig({})).toMatchObject({ ALIPAY: undefined, WECHAT_PAY: undefined, PUBLIC_BASE_URL: undefined, WEBHOOK_ALLOW_PRIVATE_URLS: false });
  });

  it('reads a fully configured provider, with its keys as key objects that print nothing', () => {
    const config = loadPlatformConfig({ ...alipay, ...wechat_pay, ...public_base_url, WECHAT_PAY_PLATFORM_SERIAL_NO: 'PUB_KEY_ID_0114232134912410000000000000' });
    expect(config.PUBLIC_BASE_URL).toBe('https://pay.example.com');
    expect(config.ALIPAY).toMatchObject({ gateway_url: 'https://openapi.alipay.com/gateway.do', app_id: '2021004100000000' });
    expect(config.ALIPAY?.app_private_key.type).toBe('private');
    expect(config.ALIPAY?.alipay_public_key.type).toBe('public');
    expect(config.WECHAT_PAY).toMatchObject({
      base_url: 'https://api.mch.weixin.qq.com',
      mchid: '1900000109',
      appid: 'wxd678efh567hg6787',
      platform_serial_no: 'PUB_KEY_ID_0114232134912410000000000000',
    });
    expect(config.WECHAT_PAY?.api_v3_key.symmetricKeySize).toBe(32);
    // The whole config, however it is printed, carries no key material.
    for (const printed of [JSON.stringify(config), inspect(config, { depth: 10 })]) {
      expect(printed).not.toContain('BEGIN');
      for (const secret of secrets) expect(printed).not.toContain(secret);
    }
  });

  it('configures one provider and leaves the other to its sandbox', () => {
    const config = loadPlatformConfig({ ...wechat_pay, ...public_base_url });
    expect(config.ALIPAY).toBeUndefined();
    expect(config.WECHAT_PAY?.base_url).toBe('https://api.mch.weixin.qq.com');
    expect(config.WECHAT_PAY?.platform_serial_no).toBeUndefined();
  });

  it('refuses a provider configured in part, naming the missing variables', () => {
    expect(problems({ ALIPAY_GATEWAY_URL: alipay['ALIPAY_GATEWAY_URL'] ?? '', ...public_base_url })).toEqual([
      'ALIPAY_APP_ID, ALIPAY_PRIVATE_KEY_FILE, ALIPAY_PUBLIC_KEY_FILE must be set too: the ALIPAY_* variables go together (ALIPAY_GATEWAY_URL, ALIPAY_APP_ID, ALIPAY_PRIVATE_KEY_FILE, ALIPAY_PUBLIC_KEY_FILE), all or none',
    ]);
    const { WECHAT_PAY_API_V3_KEY_FILE: _left_out, ...without_key } = wechat_pay;
    expect(problems({ ...without_key, ...public_base_url })).toEqual([
      'WECHAT_PAY_API_V3_KEY_FILE must be set too: the WECHAT_PAY_* variables go together (WECHAT_PAY_BASE_URL, WECHAT_PAY_MCH_ID, WECHAT_PAY_APP_ID, WECHAT_PAY_SERIAL_NO, WECHAT_PAY_PRIVATE_KEY_FILE, WECHAT_PAY_PLATFORM_PUBLIC_KEY_FILE, WECHAT_PAY_API_V3_KEY_FILE), all or none',
    ]);
    // The optional platform serial alone is a partial configuration too.
    expect(problems({ WECHAT_PAY_PLATFORM_SERIAL_NO: 'PUB_KEY_ID_1', ...public_base_url })[0]).toMatch(/^WECHAT_PAY_BASE_URL, WECHAT_PAY_MCH_ID, .* must be set too/);
  });

  it('requires PUBLIC_BASE_URL with a configured provider, since the provider posts notifications to it', () => {
    expect(problems(alipay)).toEqual(['PUBLIC_BASE_URL must be set too: the configured providers (ALIPAY_*) post notifications to it']);
  });

  it('refuses URLs that are not https, except http to this machine', () => {
    const allowed = 'must be an https URL (http only to 127.0.0.1, ::1 or localhost) without user name, password, query or fragment';
    expect(problems({ ...alipay, ...public_base_url, ALIPAY_GATEWAY_URL: 'http://openapi.alipay.com/gateway.do' })).toEqual([
      `ALIPAY_GATEWAY_URL ${allowed} (got "http://openapi.alipay.com/gateway.do")`,
    ]);
    expect(problems({ ...wechat_pay, ...public_base_url, WECHAT_PAY_BASE_URL: 'http://10.0.0.8:8080' })).toEqual([`WECHAT_PAY_BASE_URL ${allowed} (got "http://10.0.0.8:8080")`]);
    expect(problems({ ...wechat_pay, ...public_base_url, WECHAT_PAY_BASE_URL: 'not a url' })).toEqual([`WECHAT_PAY_BASE_URL ${allowed} (got "not a url")`]);
    expect(problems({ ...wechat_pay, ...public_base_url, WECHAT_PAY_BASE_URL: 'ftp://api.mch.weixin.qq.com' })).toEqual([`WECHAT_PAY_BASE_URL ${allowed} (got "ftp://api.mch.weixin.qq.com")`]);
    expect(problems({ ...alipay, PUBLIC_BASE_URL: 'https://pay.example.com/?x=1' })).toEqual([`PUBLIC_BASE_URL ${allowed} (got "https://pay.example.com/?x=1")`]);
    // A password in a URL is hidden in the message.
    expect(problems({ ...alipay, PUBLIC_BASE_URL: 'https://admin:hunter2@pay.example.com' })).toEqual([`PUBLIC_BASE_URL ${allowed} (got "https://admin:***@pay.example.com")`]);
    for (const loopback of ['http://127.0.0.1:4000/gateway.do', 'http://localhost:4000/gateway.do', 'http://[::1]:4000/gateway.do']) {
      expect(loadPlatformConfig({ ...alipay, ...public_base_url, ALIPAY_GATEWAY_URL: loopback }).ALIPAY?.gateway_url).toBe(loopback);
    }
  });

  it('refuses key files that are missing, unreadable, not keys, the wrong kind of key or too weak, never printing their contents', () => {
    const with_alipay = (overrides: Record<string, string>) => problems({ ...alipay, ...public_base_url, ...overrides });
    expect(with_alipay({ ALIPAY_PRIVATE_KEY_FILE: file('missing.pem') })).toEqual([`ALIPAY_PRIVATE_KEY_FILE must name a readable file; reading "${file('missing.pem')}" failed with ENOENT`]);
    expect(with_alipay({ ALIPAY_PRIVATE_KEY_FILE: directory.path })).toEqual([`ALIPAY_PRIVATE_KEY_FILE must name a readable file; "${directory.path}" is not a regular file`]);
    // root reads any file whatever its mode, so the unreadable case is checked only for other users.
    if (process.getuid?.() !== 0) {
      expect(with_alipay({ ALIPAY_PRIVATE_KEY_FILE: file('unreadable.pem') })).toEqual([`ALIPAY_PRIVATE_KEY_FILE must name a readable file; reading "${file('unreadable.pem')}" failed with EACCES`]);
    }
    const not_private = (path: string) =>
      `ALIPAY_PRIVATE_KEY_FILE must name a file holding an RSA private key of at least 2048 bits, PEM (PKCS #8 or PKCS #1) or bare base64 PKCS #8; "${path}" does not`;
    for (const name of ['garbage.pem', 'weak.pem', 'ec.pem', 'wechat-platform.pem', 'apiv3.key']) {
      expect(with_alipay({ ALIPAY_PRIVATE_KEY_FILE: file(name) })).toEqual([not_private(file(name))]);
    }
    expect(with_alipay({ ALIPAY_PUBLIC_KEY_FILE: file('alipay-app.pem') })).toEqual([`ALIPAY_PUBLIC_KEY_FILE must name a file holding Alipay's public key; "${file('alipay-app.pem')}" holds a private key`]);
    expect(with_alipay({ ALIPAY_PUBLIC_KEY_FILE: file('garbage.pem') })[0]).toMatch(/^ALIPAY_PUBLIC_KEY_FILE must name a file holding Alipay's RSA public key of at least 2048 bits/);
    const everything = problems({ ...wechat_pay, ...public_base_url, WECHAT_PAY_PRIVATE_KEY_FILE: file('alipay-public.txt'), WECHAT_PAY_PLATFORM_PUBLIC_KEY_FILE: file('wechat-merchant.pem') }).join('\n');
    expect(everything).toContain('WECHAT_PAY_PRIVATE_KEY_FILE must name a file holding an RSA private key');
    expect(everything).toContain("WECHAT_PAY_PLATFORM_PUBLIC_KEY_FILE must name a file holding WeChat Pay's platform public key");
    for (const secret of secrets) expect(everything).not.toContain(secret);
  });

  it('refuses an APIv3 key file that does not hold exactly 32 bytes', () => {
    expect(problems({ ...wechat_pay, ...public_base_url, WECHAT_PAY_API_V3_KEY_FILE: file('apiv3-short.key') })).toEqual([
      `WECHAT_PAY_API_V3_KEY_FILE must name a file holding the 32-byte APIv3 key (one trailing line break is ignored); "${file('apiv3-short.key')}" holds 9 bytes`,
    ]);
    writeFileSync(file('apiv3-long.key'), `${api_v3_key}x`);
    expect(problems({ ...wechat_pay, ...public_base_url, WECHAT_PAY_API_V3_KEY_FILE: file('apiv3-long.key') })[0]).toContain('holds 33 bytes');
    writeFileSync(file('apiv3-crlf.key'), `${api_v3_key}\r\n`);
    expect(loadPlatformConfig({ ...wechat_pay, ...public_base_url, WECHAT_PAY_API_V3_KEY_FILE: file('apiv3-crlf.key') }).WECHAT_PAY?.api_v3_key.symmetricKeySize).toBe(32);
  });

  it('lists the problems of both providers together', () => {
    expect(problems({ ALIPAY_APP_ID: 'not-digits', WECHAT_PAY_MCH_ID: 'mch' })).toEqual([
      'ALIPAY_APP_ID must be the app id Alipay assigned: up to 32 digits (got "not-digits")',
      'WECHAT_PAY_MCH_ID must be the merchant id WeChat Pay assigned: up to 32 digits (got "mch")',
    ]);
    const found = problems({ ALIPAY_APP_ID: '2021004100000000', WECHAT_PAY_MCH_ID: '1900000109' });
    expect(found[0]).toMatch(/^ALIPAY_GATEWAY_URL, .* must be set too/);
    expect(found[1]).toMatch(/^WECHAT_PAY_BASE_URL, .* must be set too/);
    expect(found[2]).toBe('PUBLIC_BASE_URL must be set too: the configured providers (ALIPAY_*, WECHAT_PAY_*) post notifications to it');
  });

  it('reads WEBHOOK_ALLOW_PRIVATE_URLS as a boolean', () => {
    expect(loadPlatformConfig({ WEBHOOK_ALLOW_PRIVATE_URLS: 'true' }).WEBHOOK_ALLOW_PRIVATE_URLS).toBe(true);
    expect(problems({ WEBHOOK_ALLOW_PRIVATE_URLS: 'yes' })).toEqual(['WEBHOOK_ALLOW_PRIVATE_URLS must be true or false (got "yes")']);
  });

  it('reads WEBHOOK_TEST_MODE_PRIVATE_URLS as a boolean, unset when not given', () => {
    expect(loadPlatformConfig({}).WEBHOOK_TEST_MODE_PRIVATE_URLS).toBeUndefined();
    expect(loadPlatformConfig({ WEBHOOK_TEST_MODE_PRIVATE_URLS: 'false' }).WEBHOOK_TEST_MODE_PRIVATE_URLS).toBe(false);
    expect(problems({ WEBHOOK_TEST_MODE_PRIVATE_URLS: '1' })).toEqual(['WEBHOOK_TEST_MODE_PRIVATE_URLS must be true or false (got "1")']);
  });
});
