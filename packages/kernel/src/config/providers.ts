// The real Alipay and WeChat Pay endpoints, when a deployment has them. Each provider is
// configured by a group of variables that go together: all of them, or none (then the platform
// runs that provider's local sandbox in process). A half-configured provider is a mistake that
// would otherwise show only at the first payment, so it stops the start instead.
//
// Key files are read and parsed here, at start, so that a missing, unreadable or wrong key stops
// the process with a message naming the variable. The keys are kept as KeyObjects, which print
// as nothing (JSON gives {}, util.inspect shows only the key type), so a config object that ends
// up in a log line carries no key material. Messages name files, never their contents.
import { createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import {
  ConfigError,
  ok,
  optional,
  pathVar,
  readVariables,
  redactUrlPassword,
  refuse,
  stringVar,
  type Environment,
  type Parsed,
  type Variable,
} from './variables';

/** Key files are a few KiB at most (a certificate chain included); anything bigger is not one. */
export const key_file_bytes_max = 64 * 1024;
/** Both providers sign with RSA-2048 (Alipay's RSA2, WeChat Pay's WECHATPAY2-SHA256-RSA2048). */
export const rsa_modulus_bits_min = 2048;
/** WeChat Pay's APIv3 key is 32 characters, the AES-256-GCM key of its notifications. */
export const wechat_pay_api_v3_key_bytes = 32;

/** Alipay's open API (https://openapi.alipay.com/gateway.do) with an app's keys, public-key mode. */
export interface AlipayEndpointConfig {
  readonly gateway_url: string;
  readonly app_id: string;
  /** The app's private key, which signs requests. */
  readonly app_private_key: KeyObject;
  /** Alipay's public key for the app, which verifies answers and notifications. */
  readonly alipay_public_key: KeyObject;
}

/** WeChat Pay API v3 (https://api.mch.weixin.qq.com) with a merchant's keys. */
export interface WeChatPayEndpointConfig {
  readonly base_url: string;
  readonly mchid: string;
  readonly appid: string;
  /** The serial number of the merchant API certificate that the private key belongs to. */
  readonly serial_no: string;
  readonly merchant_private_key: KeyObject;
  /** WeChat Pay's platform public key (or certificate), which verifies answers and notifications. */
  readonly platform_public_key: KeyObject;
  /** When set, answers and notifications must name this platform key (Wechatpay-Serial). */
  readonly platform_serial_no: string | undefined;
  /** The APIv3 key as an AES-256 key object, which decrypts notifications. */
  readonly api_v3_key: KeyObject;
}

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * An endpoint that carries payments or their notifications: https, or http only to this machine
 * (127.0.0.0/8, ::1, localhost), where tests run the sandboxes. No credentials in the URL, and no
 * query or fragment, since paths are appended to it. A trailing slash is dropped.
 */
export function secureUrlVar(options: { readonly name: string }): Variable<string> {
  const variable = { name: options.name, secret: false };
  const allowed = 'must be an https URL (http only to 127.0.0.1, ::1 or localhost) without user name, password, query or fragment';
  return {
    ...variable,
    read: (raw) => {
      if (raw === undefined) return { ok: false, problem: `${options.name} is required` };
      const url = URL.canParse(raw) ? new URL(raw) : undefined;
      if (url === undefined) return refuse(variable, allowed, redactUrlPassword(raw));
      const secure = url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
      if (!secure || url.hostname === '' || url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
        return refuse(variable, allowed, redactUrlPassword(raw));
      }
      return ok(raw.endsWith('/') ? raw.slice(0, -1) : raw);
    },
  };
}

/** Reads a small file, or says why it cannot, naming the path and the system's error code only. */
export function readKeyFile(name: string, path: string): { readonly ok: true; readonly bytes: Buffer } | { readonly ok: false; readonly problem: string } {
  try {
    const stat = statSync(path);
    if (!stat.isFile()) return { ok: false, problem: `${name} must name a readable file; "${path}" is not a regular file` };
    if (stat.size > key_file_bytes_max) return { ok: false, problem: `${name} must name a key file of at most ${String(key_file_bytes_max)} bytes; "${path}" is larger` };
    return { ok: true, bytes: readFileSync(path) };
  } catch (error) {
    const code = error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : 'an error';
    return { ok: false, problem: `${name} must name a readable file; reading "${path}" failed with ${code}` };
  }
}

/** PEM, or bare base64 DER as Alipay's key tool writes it. */
function parsePrivateKey(text: string): KeyObject | undefined {
  try {
    if (text.includes('-----BEGIN')) return createPrivateKey(text);
    return createPrivateKey({ key: Buffer.from(text.replace(/\s+/g, ''), 'base64'), format: 'der', type: 'pkcs8' });
  } catch {
    return undefined;
  }
}

function parsePublicKey(text: string): KeyObject | undefined {
  try {
    if (text.includes('-----BEGIN')) return createPublicKey(text);
    return createPublicKey({ key: Buffer.from(text.replace(/\s+/g, ''), 'base64'), format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
}

function isStrongRsa(key: KeyObject): boolean {
  const bits = key.asymmetricKeyDetails?.modulusLength;
  return key.asymmetricKeyType === 'rsa' && bits !== undefined && bits >= rsa_modulus_bits_min;
}

const rsa_formats = 'PEM (PKCS #8 or PKCS #1) or bare base64 PKCS #8';

export function readRsaPrivateKeyFile(name: string, path: string): Parsed<KeyObject> {
  const file = readKeyFile(name, path);
  if (!file.ok) return file;
  const key = parsePrivateKey(file.bytes.toString('utf8'));
  if (key === undefined || !isStrongRsa(key)) {
    return { ok: false, problem: `${name} must name a file holding an RSA private key of at least ${String(rsa_modulus_bits_min)} bits, ${rsa_formats}; "${path}" does not` };
  }
  return ok(key);
}

export function readRsaPublicKeyFile(name: string, path: string, whose: string): Parsed<KeyObject> {
  const file = readKeyFile(name, path);
  if (!file.ok) return file;
  const text = file.bytes.toString('utf8');
  // A private key would parse too (its public half is derived), but it has no business here:
  // the provider's key is public, so a private key in its place is someone's secret misfiled.
  if (parsePrivateKey(text) !== undefined) return { ok: false, problem: `${name} must name a file holding ${whose} public key; "${path}" holds a private key` };
  const key = parsePublicKey(text);
  if (key === undefined || !isStrongRsa(key)) {
    return {
      ok: false,
      problem: `${name} must name a file holding ${whose} RSA public key of at least ${String(rsa_modulus_bits_min)} bits, PEM (SPKI, PKCS #1 or a certificate) or bare base64 SPKI; "${path}" does not`,
    };
  }
  return ok(key);
}

/** One trailing line break is forgiven, since editors add one; everything else counts. */
export function readApiV3KeyFile(name: string, path: string): Parsed<KeyObject> {
  const file = readKeyFile(name, path);
  if (!file.ok) return file;
  let bytes = file.bytes;
  if (bytes.at(-1) === 0x0a) bytes = bytes.subarray(0, bytes.at(-2) === 0x0d ? -2 : -1);
  if (bytes.length !== wechat_pay_api_v3_key_bytes) {
    return {
      ok: false,
      problem: `${name} must name a file holding the ${String(wechat_pay_api_v3_key_bytes)}-byte APIv3 key (one trailing line break is ignored); "${path}" holds ${String(bytes.length)} bytes`,
    };
  }
  return ok(createSecretKey(bytes));
}

export const alipay_variables = {
  ALIPAY_GATEWAY_URL: optional(secureUrlVar({ name: 'ALIPAY_GATEWAY_URL' })),
  ALIPAY_APP_ID: optional(stringVar({ name: 'ALIPAY_APP_ID', pattern: /^[0-9]{1,32}$/, allowed: 'must be the app id Alipay assigned: up to 32 digits' })),
  ALIPAY_PRIVATE_KEY_FILE: optional(pathVar({ name: 'ALIPAY_PRIVATE_KEY_FILE' })),
  ALIPAY_PUBLIC_KEY_FILE: optional(pathVar({ name: 'ALIPAY_PUBLIC_KEY_FILE' })),
};

export const wechat_pay_variables = {
  WECHAT_PAY_BASE_URL: optional(secureUrlVar({ name: 'WECHAT_PAY_BASE_URL' })),
  WECHAT_PAY_MCH_ID: optional(stringVar({ name: 'WECHAT_PAY_MCH_ID', pattern: /^[0-9]{1,32}$/, allowed: 'must be the merchant id WeChat Pay assigned: up to 32 digits' })),
  WECHAT_PAY_APP_ID: optional(stringVar({ name: 'WECHAT_PAY_APP_ID', pattern: /^[A-Za-z0-9_]{1,32}$/, allowed: 'must be an app id of up to 32 letters, digits or _' })),
  WECHAT_PAY_SERIAL_NO: optional(stringVar({ name: 'WECHAT_PAY_SERIAL_NO', pattern: /^[0-9A-Fa-f]{1,64}$/, allowed: 'must be the merchant certificate serial number: up to 64 hex digits' })),
  WECHAT_PAY_PRIVATE_KEY_FILE: optional(pathVar({ name: 'WECHAT_PAY_PRIVATE_KEY_FILE' })),
  WECHAT_PAY_PLATFORM_PUBLIC_KEY_FILE: optional(pathVar({ name: 'WECHAT_PAY_PLATFORM_PUBLIC_KEY_FILE' })),
  WECHAT_PAY_PLATFORM_SERIAL_NO: optional(
    stringVar({ name: 'WECHAT_PAY_PLATFORM_SERIAL_NO', pattern: /^[A-Za-z0-9_]{1,64}$/, allowed: 'must be a platform certificate serial or public key id: up to 64 letters, digits or _' }),
  ),
  WECHAT_PAY_API_V3_KEY_FILE: optional(pathVar({ name: 'WECHAT_PAY_API_V3_KEY_FILE' })),
};

/**
 * The all-or-nothing rule: undefined when no variable of the group is set, the missing names when
 * some are. `optional_names` may be set only together with the rest.
 */
function missingFromGroup(values: Readonly<Record<string, unknown>>, required_names: readonly string[], optional_names: readonly string[], group: string): string[] {
  const set = [...required_names, ...optional_names].filter((name) => values[name] !== undefined);
  if (set.length === 0) return [];
  const missing = required_names.filter((name) => values[name] === undefined);
  if (missing.length === 0) return [];
  return [`${missing.join(', ')} must be set too: the ${group} variables go together (${required_names.join(', ')}), all or none`];
}

function anySet(values: Readonly<Record<string, unknown>>): boolean {
  return Object.values(values).some((value) => value !== undefined);
}

export interface ProviderEndpoints {
  readonly ALIPAY: AlipayEndpointConfig | undefined;
  readonly WECHAT_PAY: WeChatPayEndpointConfig | undefined;
}

/** Builds each provider's endpoint from its variables, or throws one ConfigError with every problem. */
export function readProviderEndpoints(environment: Environment, public_base_url: string | undefined): ProviderEndpoints {
  const problems: string[] = [];
  // Both groups are read before anything is refused, so that one message lists every problem.
  const readGroup = <Spec extends Record<string, Variable<unknown>>>(spec: Spec) => {
    try {
      return readVariables(environment, spec);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
      return undefined;
    }
  };
  const alipay_read = readGroup(alipay_variables);
  const wechat_read = readGroup(wechat_pay_variables);
  if (alipay_read === undefined || wechat_read === undefined) throw new ConfigError(problems);
  const alipay = alipay_read;
  const wechat_pay = wechat_read;
  const alipay_missing = missingFromGroup(alipay, Object.keys(alipay_variables), [], 'ALIPAY_*');
  const wechat_required = Object.keys(wechat_pay_variables).filter((name) => name !== 'WECHAT_PAY_PLATFORM_SERIAL_NO');
  const wechat_missing = missingFromGroup(wechat_pay, wechat_required, ['WECHAT_PAY_PLATFORM_SERIAL_NO'], 'WECHAT_PAY_*');
  problems.push(...alipay_missing, ...wechat_missing);

  let alipay_endpoint: AlipayEndpointConfig | undefined;
  if (alipay_missing.length === 0 && alipay.ALIPAY_GATEWAY_URL !== undefined && alipay.ALIPAY_APP_ID !== undefined && alipay.ALIPAY_PRIVATE_KEY_FILE !== undefined && alipay.ALIPAY_PUBLIC_KEY_FILE !== undefined) {
    const app_private_key = readRsaPrivateKeyFile('ALIPAY_PRIVATE_KEY_FILE', alipay.ALIPAY_PRIVATE_KEY_FILE);
    const alipay_public_key = readRsaPublicKeyFile('ALIPAY_PUBLIC_KEY_FILE', alipay.ALIPAY_PUBLIC_KEY_FILE, "Alipay's");
    for (const parsed of [app_private_key, alipay_public_key]) if (!parsed.ok) problems.push(parsed.problem);
    if (app_private_key.ok && alipay_public_key.ok) {
      alipay_endpoint = { gateway_url: alipay.ALIPAY_GATEWAY_URL, app_id: alipay.ALIPAY_APP_ID, app_private_key: app_private_key.value, alipay_public_key: alipay_public_key.value };
    }
  }

  let wechat_endpoint: WeChatPayEndpointConfig | undefined;
  const wechat = wechat_pay;
  if (
    wechat_missing.length === 0 &&
    wechat.WECHAT_PAY_BASE_URL !== undefined &&
    wechat.WECHAT_PAY_MCH_ID !== undefined &&
    wechat.WECHAT_PAY_APP_ID !== undefined &&
    wechat.WECHAT_PAY_SERIAL_NO !== undefined &&
    wechat.WECHAT_PAY_PRIVATE_KEY_FILE !== undefined &&
    wechat.WECHAT_PAY_PLATFORM_PUBLIC_KEY_FILE !== undefined &&
    wechat.WECHAT_PAY_API_V3_KEY_FILE !== undefined
  ) {
    const merchant_private_key = readRsaPrivateKeyFile('WECHAT_PAY_PRIVATE_KEY_FILE', wechat.WECHAT_PAY_PRIVATE_KEY_FILE);
    const platform_public_key = readRsaPublicKeyFile('WECHAT_PAY_PLATFORM_PUBLIC_KEY_FILE', wechat.WECHAT_PAY_PLATFORM_PUBLIC_KEY_FILE, "WeChat Pay's platform");
    const api_v3_key = readApiV3KeyFile('WECHAT_PAY_API_V3_KEY_FILE', wechat.WECHAT_PAY_API_V3_KEY_FILE);
    for (const parsed of [merchant_private_key, platform_public_key, api_v3_key]) if (!parsed.ok) problems.push(parsed.problem);
    if (merchant_private_key.ok && platform_public_key.ok && api_v3_key.ok) {
      wechat_endpoint = {
        base_url: wechat.WECHAT_PAY_BASE_URL,
        mchid: wechat.WECHAT_PAY_MCH_ID,
        appid: wechat.WECHAT_PAY_APP_ID,
        serial_no: wechat.WECHAT_PAY_SERIAL_NO,
        merchant_private_key: merchant_private_key.value,
        platform_public_key: platform_public_key.value,
        platform_serial_no: wechat.WECHAT_PAY_PLATFORM_SERIAL_NO,
        api_v3_key: api_v3_key.value,
      };
    }
  }

  // A real provider posts its notifications to us from outside, so it needs our public address;
  // the host and port this process binds are not that.
  const configured = [anySet(alipay) ? ['ALIPAY_*'] : [], anySet(wechat) ? ['WECHAT_PAY_*'] : []].flat();
  if (configured.length > 0 && public_base_url === undefined) {
    problems.push(`PUBLIC_BASE_URL must be set too: the configured providers (${configured.join(', ')}) post notifications to it`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { ALIPAY: alipay_endpoint, WECHAT_PAY: wechat_endpoint };
}
