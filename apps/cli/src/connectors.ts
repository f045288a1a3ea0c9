// The payment connectors of a running platform. The card acquirer is the simulator, in process,
// with its challenge pages (3-D Secure) on a port of their own, or an acquirer's HTTP API at
// CARD_ACQUIRER_URL (https, with a bearer secret and/or a client certificate). Alipay and WeChat
// Pay talk to their real endpoints when the ALIPAY_* or WECHAT_PAY_* variables configure them, and
// otherwise to local sandboxes started here with generated keys, since the real gateways cannot be
// reached from a development machine. A configured provider's sandbox is not started at all, so
// nothing can quietly pay against it. The simulator and the sandboxes take test-mode payments
// only; the platform's live capabilities (decideLiveCapabilities) keep live requests from them.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  AlipayConnector,
  AlipaySandbox,
  CardAcquirerSimulator,
  CardConnector,
  WeChatPayConnector,
  WeChatPaySandbox,
  alipay_gateway_path,
  createHttpCardAcquirer,
  startCardAcquirerServer,
  type Connector,
  type PaymentMethodType,
} from '@paygrid/connectors';
import type { PlatformConfig } from '@paygrid/kernel';
import type { VaultClient } from '@paygrid/vault';

/** Where a provider's connector sends its requests: a sandbox in this process, or a configured endpoint. */
export type ProviderEndpoint = { readonly mode: 'sandbox'; readonly url: string } | { readonly mode: 'configured'; readonly host: string };

/** Where card payments go: the simulator (its challenge pages' URL) or a configured acquirer (its host and how calls are authenticated). */
export type CardAcquirerEndpoint =
  | { readonly mode: 'simulator'; readonly url: string }
  | { readonly mode: 'configured'; readonly host: string; readonly authentication: readonly ('bearer' | 'mutual_tls')[] };

export interface RunningConnectors {
  readonly by_method: Partial<Record<PaymentMethodType, Connector>>;
  readonly card_simulator: CardAcquirerSimulator | undefined;
  readonly card_acquirer: CardAcquirerEndpoint;
  /** Undefined when the provider is configured: then no sandbox runs. */
  readonly alipay_sandbox: AlipaySandbox | undefined;
  readonly wechat_pay_sandbox: WeChatPaySandbox | undefined;
  readonly providers: { readonly alipay: ProviderEndpoint; readonly wechat_pay: ProviderEndpoint };
  close(): Promise<void>;
}

function rsaKeyPair(): { readonly private_key: string; readonly public_key: string } {
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    private_key: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    public_key: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Only the host is shown: it says which endpoint is in use, and a path or query has no place in a banner. */
function hostOf(url: string | undefined): string {
  return url === undefined ? 'unknown' : new URL(url).host;
}

export async function startConnectors(options: { readonly config: PlatformConfig; readonly vault: VaultClient; readonly public_url: string }): Promise<RunningConnectors> {
  const { config, vault } = options;
  const closers: (() => Promise<void>)[] = [];
  // Only the card connector reads card numbers, and the vault records each read under its name.
  const cards = {
    detokenize: (token_id: string) => vault.detokenize(token_id, { connector: 'card' }),
    eraseCvc: (token_id: string) => vault.eraseCvc(token_id),
  };
  let card_simulator: CardAcquirerSimulator | undefined;
  let card: CardConnector;
  let card_acquirer: CardAcquirerEndpoint;
  if (config.CARD_ACQUIRER === undefined) {
    card_simulator = new CardAcquirerSimulator({ latency_ms: config.CARD_ACQUIRER_LATENCY_MS });
    const server = await startCardAcquirerServer(card_simulator, { host: '127.0.0.1', port: 0 });
    closers.push(() => server.close());
    card = new CardConnector({ cards, acquirer: card_simulator });
    card_acquirer = { mode: 'simulator', url: server.url };
  } else {
    const configured = config.CARD_ACQUIRER;
    const acquirer = createHttpCardAcquirer({
      url: configured.url,
      ...(configured.bearer_token === undefined ? {} : { bearer_token: configured.bearer_token }),
      ...(configured.client_certificate === undefined ? {} : { client_certificate: configured.client_certificate }),
      ...(configured.ca === undefined ? {} : { ca: configured.ca }),
    });
    closers.push(() => acquirer.close());
    card = new CardConnector({ cards, acquirer });
    card_acquirer = { mode: 'configured', host: hostOf(configured.url), authentication: acquirer.authentication };
  }

  const alipay_notify_url = `${options.public_url}/v1/notifications/alipay`;
  let alipay: AlipayConnector;
  let alipay_sandbox: AlipaySandbox | undefined;
  if (config.ALIPAY === undefined) {
    const alipay_app = rsaKeyPair();
    const alipay_app_id = '2021000000000000';
    const sandbox = await AlipaySandbox.start({ app_id: alipay_app_id, app_public_key: alipay_app.public_key });
    closers.push(() => sandbox.close());
    alipay_sandbox = sandbox;
    alipay = new AlipayConnector({
      gateway_url: `${sandbox.url}${alipay_gateway_path}`,
      app_id: alipay_app_id,
      app_private_key: alipay_app.private_key,
      alipay_public_key: sandbox.alipay_public_key,
      notify_url: alipay_notify_url,
    });
  } else {
    alipay = new AlipayConnector({
      gateway_url: config.ALIPAY.gateway_url,
      app_id: config.ALIPAY.app_id,
      app_private_key: config.ALIPAY.app_private_key,
      alipay_public_key: config.ALIPAY.alipay_public_key,
      notify_url: alipay_notify_url,
    });
  }

  const wechat_pay_notify_url = `${options.public_url}/v1/notifications/wechat_pay`;
  let wechat_pay: WeChatPayConnector;
  let wechat_pay_sandbox: WeChatPaySandbox | undefined;
  if (config.WECHAT_PAY === undefined) {
    const wechat_merchant = rsaKeyPair();
    const wechat = { mchid: '1900000000', appid: 'wx0000000000000000', serial_no: randomBytes(20).toString('hex').toUpperCase(), api_v3_key: randomBytes(16).toString('hex') };
    const sandbox = await WeChatPaySandbox.start({
      mchid: wechat.mchid,
      appid: wechat.appid,
      merchant_serial_no: wechat.serial_no,
      merchant_public_key: wechat_merchant.public_key,
      api_v3_key: wechat.api_v3_key,
    });
    closers.push(() => sandbox.close());
    wechat_pay_sandbox = sandbox;
    wechat_pay = new WeChatPayConnector({
      base_url: sandbox.url,
      mchid: wechat.mchid,
      appid: wechat.appid,
      serial_no: wechat.serial_no,
      merchant_private_key: wechat_merchant.private_key,
      platform_public_key: sandbox.platform_public_key,
      api_v3_key: wechat.api_v3_key,
      notify_url: wechat_pay_notify_url,
    });
  } else {
    const configured = config.WECHAT_PAY;
    wechat_pay = new WeChatPayConnector({
      base_url: configured.base_url,
      mchid: configured.mchid,
      appid: configured.appid,
      serial_no: configured.serial_no,
      merchant_private_key: configured.merchant_private_key,
      platform_public_key: configured.platform_public_key,
      ...(configured.platform_serial_no === undefined ? {} : { platform_serial_no: configured.platform_serial_no }),
      api_v3_key: configured.api_v3_key,
      notify_url: wechat_pay_notify_url,
    });
  }

  return {
    by_method: { card, alipay, wechat_pay },
    card_simulator,
    card_acquirer,
    alipay_sandbox,
    wechat_pay_sandbox,
    providers: {
      alipay: alipay_sandbox === undefined ? { mode: 'configured', host: hostOf(config.ALIPAY?.gateway_url) } : { mode: 'sandbox', url: alipay_sandbox.url },
      wechat_pay: wechat_pay_sandbox === undefined ? { mode: 'configured', host: hostOf(config.WECHAT_PAY?.base_url) } : { mode: 'sandbox', url: wechat_pay_sandbox.url },
    },
    close: async () => {
      for (const close of closers.reverse()) await close();
    },
  };
}
