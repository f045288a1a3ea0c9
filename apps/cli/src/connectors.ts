// The payment connectors of a running platform. The card acquirer is the simulator, in process,
// with its challenge pages (3-D Secure) on a port of their own, or an acquirer's HTTP API at
// CARD_ACQUIRER_URL. Alipay and WeChat Pay talk to the local sandboxes started here: their real
// gateways cannot be reached from a development machine, and the connectors take real endpoints
// and keys as configuration when a deployment has them.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  AlipayConnector,
  AlipaySandbox,
  CardAcquirerSimulator,
  CardConnector,
  WeChatPayConnector,
  WeChatPaySandbox,
  alipay_gateway_path,
  startCardAcquirerServer,
  type Connector,
  type PaymentMethodType,
} from '@paygrid/connectors';
import type { PlatformConfig } from '@paygrid/kernel';
import type { VaultService } from '@paygrid/vault';

export interface RunningConnectors {
  readonly by_method: Partial<Record<PaymentMethodType, Connector>>;
  readonly card_simulator: CardAcquirerSimulator | undefined;
  readonly alipay_sandbox: AlipaySandbox;
  readonly wechat_pay_sandbox: WeChatPaySandbox;
  close(): Promise<void>;
}

function rsaKeyPair(): { readonly private_key: string; readonly public_key: string } {
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    private_key: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    public_key: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export async function startConnectors(options: { readonly config: PlatformConfig; readonly vault: VaultService; readonly public_url: string }): Promise<RunningConnectors> {
  const { config, vault } = options;
  const closers: (() => Promise<void>)[] = [];
  // Only the card connector reads card numbers, and the vault records each read under its name.
  const cards = {
    detokenize: (token_id: string) => vault.detokenize(token_id, { connector: 'card' }),
    eraseCvc: (token_id: string) => vault.eraseCvc(token_id),
  };
  let card_simulator: CardAcquirerSimulator | undefined;
  let card: CardConnector;
  if (config.CARD_ACQUIRER_URL === undefined) {
    card_simulator = new CardAcquirerSimulator({ latency_ms: config.CARD_ACQUIRER_LATENCY_MS });
    const server = await startCardAcquirerServer(card_simulator, { host: '127.0.0.1', port: 0 });
    closers.push(() => server.close());
    card = new CardConnector({ cards, acquirer: card_simulator });
  } else {
    card = new CardConnector({ cards, acquirer: { url: config.CARD_ACQUIRER_URL } });
  }

  const alipay_app = rsaKeyPair();
  const alipay_app_id = '2021000000000000';
  const alipay_sandbox = await AlipaySandbox.start({ app_id: alipay_app_id, app_public_key: alipay_app.public_key });
  closers.push(() => alipay_sandbox.close());
  const alipay = new AlipayConnector({
    gateway_url: `${alipay_sandbox.url}${alipay_gateway_path}`,
    app_id: alipay_app_id,
    app_private_key: alipay_app.private_key,
    alipay_public_key: alipay_sandbox.alipay_public_key,
    notify_url: `${options.public_url}/v1/notifications/alipay`,
  });

  const wechat_merchant = rsaKeyPair();
  const wechat = { mchid: '1900000000', appid: 'wx0000000000000000', serial_no: randomBytes(20).toString('hex').toUpperCase(), api_v3_key: randomBytes(16).toString('hex') };
  const wechat_pay_sandbox = await WeChatPaySandbox.start({
    mchid: wechat.mchid,
    appid: wechat.appid,
    merchant_serial_no: wechat.serial_no,
    merchant_public_key: wechat_merchant.public_key,
    api_v3_key: wechat.api_v3_key,
  });
  closers.push(() => wechat_pay_sandbox.close());
  const wechat_pay = new WeChatPayConnector({
    base_url: wechat_pay_sandbox.url,
    mchid: wechat.mchid,
    appid: wechat.appid,
    serial_no: wechat.serial_no,
    merchant_private_key: wechat_merchant.private_key,
    platform_public_key: wechat_pay_sandbox.platform_public_key,
    api_v3_key: wechat.api_v3_key,
    notify_url: `${options.public_url}/v1/notifications/wechat_pay`,
  });

  return {
    by_method: { card, alipay, wechat_pay },
    card_simulator,
    alipay_sandbox,
    wechat_pay_sandbox,
    close: async () => {
      for (const close of closers.reverse()) await close();
    },
  };
}
