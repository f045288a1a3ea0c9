// The payment connectors of a running platform. The card acquirer is the simulator, in process,
// with its challenge pages (3-D Secure) on a port of their own, or an acquirer's HTTP API at
// CARD_ACQUIRER_URL (https, with a bearer secret and/or a client certificate). Alipay and WeChat
// Pay talk to their real endpoints when the ALIPAY_* or WECHAT_PAY_* variables configure them, and
// otherwise to local sandboxes started here with generated keys, since the real gateways cannot be
// reached from a development machine. A configured provider's sandbox is not started at all, so
// nothing can quietly pay against it. The simulator and the sandboxes take test-mode payments
// only; the platform's live capabilities (decideLiveCapabilities) keep live requests from them.
//
// When several processes run payments (the distributed mode), they must share one simulator and
// one sandbox of each kind: an authorization made through one instance is captured through
// another, and a simulator keeps its payments in memory. Then the supervisor starts the simulators
// (startSimulators) and writes how to reach them to SIMULATORS_FILE, and every payments process
// connects to them there instead of starting its own.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
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
  traceConnector,
  type Connector,
  type PaymentMethodType,
} from '@paygrid/connectors';
import { ConfigError, private_file_mode, type PlatformConfig } from '@paygrid/kernel';
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

/**
 * How to reach simulators another process runs, and the test keys to talk to them: what
 * SIMULATORS_FILE holds. Test keys only, made when the simulators started; never a real key.
 */
export interface SimulatorSettings {
  /** The card simulator's API and 3-D Secure pages. */
  readonly card: { readonly url: string } | undefined;
  readonly alipay: { readonly url: string; readonly app_id: string; readonly app_private_key: string; readonly alipay_public_key: string } | undefined;
  readonly wechat_pay:
    | {
        readonly url: string;
        readonly mchid: string;
        readonly appid: string;
        readonly serial_no: string;
        readonly merchant_private_key: string;
        readonly platform_public_key: string;
        readonly api_v3_key: string;
      }
    | undefined;
}

export interface RunningSimulators {
  readonly settings: SimulatorSettings;
  readonly card_simulator: CardAcquirerSimulator | undefined;
  readonly alipay_sandbox: AlipaySandbox | undefined;
  readonly wechat_pay_sandbox: WeChatPaySandbox | undefined;
  close(): Promise<void>;
}

/**
 * Starts a simulator for each provider the configuration does not name (a configured provider's
 * sandbox is never started), each on a free port of 127.0.0.1, with fresh test keys.
 */
export async function startSimulators(config: PlatformConfig): Promise<RunningSimulators> {
  const closers: (() => Promise<void>)[] = [];
  try {
    let card: SimulatorSettings['card'];
    let card_simulator: CardAcquirerSimulator | undefined;
    if (config.CARD_ACQUIRER === undefined) {
      card_simulator = new CardAcquirerSimulator({ latency_ms: config.CARD_ACQUIRER_LATENCY_MS });
      const server = await startCardAcquirerServer(card_simulator, { host: '127.0.0.1', port: 0 });
      closers.push(() => server.close());
      card = { url: server.url };
    }
    let alipay: SimulatorSettings['alipay'];
    let alipay_sandbox: AlipaySandbox | undefined;
    if (config.ALIPAY === undefined) {
      const app = rsaKeyPair();
      const app_id = '2021000000000000';
      alipay_sandbox = await AlipaySandbox.start({ app_id, app_public_key: app.public_key });
      const started = alipay_sandbox;
      closers.push(() => started.close());
      alipay = { url: alipay_sandbox.url, app_id, app_private_key: app.private_key, alipay_public_key: alipay_sandbox.alipay_public_key };
    }
    let wechat_pay: SimulatorSettings['wechat_pay'];
    let wechat_pay_sandbox: WeChatPaySandbox | undefined;
    if (config.WECHAT_PAY === undefined) {
      const merchant = rsaKeyPair();
      const wechat = { mchid: '1900000000', appid: 'wx0000000000000000', serial_no: randomBytes(20).toString('hex').toUpperCase(), api_v3_key: randomBytes(16).toString('hex') };
      wechat_pay_sandbox = await WeChatPaySandbox.start({
        mchid: wechat.mchid,
        appid: wechat.appid,
        merchant_serial_no: wechat.serial_no,
        merchant_public_key: merchant.public_key,
        api_v3_key: wechat.api_v3_key,
      });
      const started = wechat_pay_sandbox;
      closers.push(() => started.close());
      wechat_pay = { url: wechat_pay_sandbox.url, ...wechat, merchant_private_key: merchant.private_key, platform_public_key: wechat_pay_sandbox.platform_public_key };
    }
    return {
      settings: { card, alipay, wechat_pay },
      card_simulator,
      alipay_sandbox,
      wechat_pay_sandbox,
      close: async () => {
        for (const close of closers.reverse()) await close();
      },
    };
  } catch (error) {
    for (const close of closers.reverse()) await close();
    throw error;
  }
}

/** Writes the settings for the payments processes, readable by this user only (they hold test keys). */
export function writeSimulatorSettings(path: string, settings: SimulatorSettings): void {
  writeFileSync(path, `${JSON.stringify(settings)}\n`, { mode: private_file_mode });
}

export function readSimulatorSettings(path: string): SimulatorSettings {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as SimulatorSettings;
  } catch (error) {
    throw new ConfigError([`SIMULATORS_FILE must name the settings file the simulators wrote; "${path}" could not be read (${(error as NodeJS.ErrnoException).code ?? 'not JSON'})`]);
  }
}

export interface StartConnectorsOptions {
  readonly config: PlatformConfig;
  readonly vault: VaultClient;
  readonly public_url: string;
  /**
   * Simulators another process runs (SIMULATORS_FILE): used instead of starting them here. The
   * card simulator is then reached over HTTP, as an acquirer would be.
   */
  readonly shared_simulators?: SimulatorSettings;
}

export async function startConnectors(options: StartConnectorsOptions): Promise<RunningConnectors> {
  const { config, vault } = options;
  const shared = options.shared_simulators;
  // Simulators for the providers not configured, unless another process runs them for everyone.
  const simulators = shared === undefined ? await startSimulators(config) : undefined;
  const settings = shared ?? simulators?.settings;
  const closers: (() => Promise<void>)[] = [];
  if (simulators !== undefined) closers.push(() => simulators.close());
  // Only the card connector reads card numbers, and the vault records each read under its name.
  const cards = {
    detokenize: (token_id: string) => vault.detokenize(token_id, { connector: 'card' }),
    eraseCvc: (token_id: string) => vault.eraseCvc(token_id),
  };
  let card: CardConnector;
  let card_acquirer: CardAcquirerEndpoint;
  if (config.CARD_ACQUIRER === undefined) {
    const simulated = settings?.card;
    if (simulated === undefined) throw new ConfigError(['SIMULATORS_FILE names no card simulator, and CARD_ACQUIRER_URL is not set']);
    if (simulators?.card_simulator !== undefined) {
      // In process: the connector calls the simulator directly, with no network hop to pay for.
      card = new CardConnector({ cards, acquirer: simulators.card_simulator });
    } else {
      const acquirer = createHttpCardAcquirer({ url: simulated.url });
      closers.push(() => acquirer.close());
      card = new CardConnector({ cards, acquirer });
    }
    card_acquirer = { mode: 'simulator', url: simulated.url };
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
  if (config.ALIPAY === undefined) {
    const sandbox = settings?.alipay;
    if (sandbox === undefined) throw new ConfigError(['SIMULATORS_FILE names no Alipay sandbox, and the ALIPAY_* variables are not set']);
    alipay = new AlipayConnector({
      gateway_url: `${sandbox.url}${alipay_gateway_path}`,
      app_id: sandbox.app_id,
      app_private_key: sandbox.app_private_key,
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
  if (config.WECHAT_PAY === undefined) {
    const sandbox = settings?.wechat_pay;
    if (sandbox === undefined) throw new ConfigError(['SIMULATORS_FILE names no WeChat Pay sandbox, and the WECHAT_PAY_* variables are not set']);
    wechat_pay = new WeChatPayConnector({
      base_url: sandbox.url,
      mchid: sandbox.mchid,
      appid: sandbox.appid,
      serial_no: sandbox.serial_no,
      merchant_private_key: sandbox.merchant_private_key,
      platform_public_key: sandbox.platform_public_key,
      api_v3_key: sandbox.api_v3_key,
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
    by_method: { card: traceConnector(card), alipay: traceConnector(alipay), wechat_pay: traceConnector(wechat_pay) },
    card_simulator: simulators?.card_simulator,
    card_acquirer,
    alipay_sandbox: simulators?.alipay_sandbox,
    wechat_pay_sandbox: simulators?.wechat_pay_sandbox,
    providers: {
      alipay: config.ALIPAY === undefined ? { mode: 'sandbox', url: settings?.alipay?.url ?? '' } : { mode: 'configured', host: hostOf(config.ALIPAY.gateway_url) },
      wechat_pay: config.WECHAT_PAY === undefined ? { mode: 'sandbox', url: settings?.wechat_pay?.url ?? '' } : { mode: 'configured', host: hostOf(config.WECHAT_PAY.base_url) },
    },
    close: async () => {
      for (const close of closers.reverse()) await close();
    },
  };
}
