import {
  ConfigError,
  booleanVar,
  enumVar,
  integerVar,
  optional,
  pathVar,
  postgresUrlListVar,
  readVariables,
  stringVar,
  urlVar,
  type Environment,
  type Variable,
} from './variables';
import { card_acquirer_variables, readCardAcquirerEndpoint, type CardAcquirerEndpointConfig } from './card-acquirer';
import { key_encryption_key_file_variable } from '../envelope/key-files';
import { previous_key_encryption_keys_variable } from '../envelope/key-encryption-key';
import {
  alipay_variables,
  readProviderEndpoints,
  secureUrlVar,
  wechat_pay_variables,
  type AlipayEndpointConfig,
  type WeChatPayEndpointConfig,
} from './providers';

export const log_levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof log_levels)[number];

/**
 * The settings every Paygrid process reads at start, validated and frozen. Keys are the names
 * of the environment variables, so that a setting reads the same in code, docs and deployments.
 */
export interface PlatformConfig {
  readonly PORT: number;
  readonly HOST: string;
  /**
   * When set, /metrics is served on this port alone (bound to METRICS_HOST) and not on PORT;
   * unset, /metrics is served on PORT and only to the operator key.
   */
  readonly METRICS_PORT: number | undefined;
  /** Where the metrics listener binds; HOST when unset. */
  readonly METRICS_HOST: string | undefined;
  /** Absolute; embedded mode keeps one SQLite file per service here. */
  readonly DATA_DIR: string;
  /** When set, services use PostgreSQL (one schema each) instead of SQLite. */
  readonly DATABASE_URL: string | undefined;
  /** When set, events between services go over NATS JetStream; unset, over the in-process bus. */
  readonly NATS_URL: string | undefined;
  /** Names this installation's NATS streams and subjects (`paygrid` → streams `PAYGRID_WALLET`, …), so that several can share a server. */
  readonly BUS_STREAM_PREFIX: string;
  readonly REDIS_URL: string | undefined;
  /**
   * When set, spans are exported over OTLP/HTTP (JSON) to `<endpoint>/v1/traces`; unset, tracing
   * is off and costs nothing.
   */
  readonly OTEL_EXPORTER_OTLP_ENDPOINT: string | undefined;
  readonly LOG_LEVEL: LogLevel;
  /** A secret: never log it. */
  readonly PAYGRID_OPERATOR_KEY: string | undefined;
  readonly LEDGER_BATCH_WAIT_MS: number;
  /**
   * When set, the ledger runs over these PostgreSQL databases as shards (in the order they were
   * created), with two-phase commit between them; unset, over DATABASE_URL or SQLite.
   */
  readonly LEDGER_SHARD_URLS: readonly string[] | undefined;
  readonly MIGRATE_ON_START: boolean;
  /** PEM files: when both are set the API is served over HTTPS (TLS 1.2+) with HSTS. */
  readonly TLS_CERT_FILE: string | undefined;
  readonly TLS_KEY_FILE: string | undefined;
  /** The dashboard's origin, allowed by CORS on the public API. */
  readonly DASHBOARD_ORIGIN: string | undefined;
  /** Each API key's token bucket: this many requests a second, with bursts up to the burst size. */
  readonly GATEWAY_RATE_LIMIT_PER_SECOND: number;
  readonly GATEWAY_RATE_LIMIT_BURST: number;
  /** Prefix of every cache key in Redis, so that several installations can share one Redis. */
  readonly CACHE_KEY_PREFIX: string;
  /**
   * The key-encryption key of the vault, identity, webhooks and the wallet (64 hex characters or base64 of 32 bytes). A
   * secret. Without it the key comes from PAYGRID_VAULT_KEK_FILE or (embedded) DATA_DIR/vault.kek,
   * read with the previous keys by the envelope module's loadKeyring; with DATABASE_URL it or the
   * file is required.
   */
  readonly PAYGRID_VAULT_KEK: string | undefined;
  /**
   * A card acquirer's HTTP API with its credentials, from the CARD_ACQUIRER_* variables; undefined
   * runs the simulator in process, which takes test-mode payments only.
   */
  readonly CARD_ACQUIRER: CardAcquirerEndpointConfig | undefined;
  /** The in-process simulator's answer delay. */
  readonly CARD_ACQUIRER_LATENCY_MS: number;
  /** How many milliseconds a webhook delivery waits before its first retry; the schedule grows from it. */
  readonly WEBHOOK_RETRY_SCHEDULE_MS: readonly number[] | undefined;
  /** Lets live-mode webhook endpoints be on private, loopback and other non-public addresses. */
  readonly WEBHOOK_ALLOW_PRIVATE_URLS: boolean;
  /** Unset: allowed in embedded mode (no DATABASE_URL), refused when distributed. */
  readonly WEBHOOK_TEST_MODE_PRIVATE_URLS: boolean | undefined;
  /**
   * Where the outside world reaches this platform (https://pay.example.com), without a trailing
   * slash: payment providers post their notifications under it. Required when a real provider is
   * configured; without it the in-process sandboxes are given the address this process listens on.
   */
  readonly PUBLIC_BASE_URL: string | undefined;
  /**
   * How long a manual-capture authorization waits for its capture before it is voided. Card
   * networks honour an authorization for about a week (Stripe's window is seven days); longer is
   * allowed up to 31 days for acquirers that agree to it.
   */
  readonly PAYMENTS_CAPTURE_WINDOW_SECONDS: number;
  /** The platform's fee on a captured payment, in hundredths of a percent: 290 is 2.9 %. */
  readonly PAYMENTS_FEE_BPS: number;
  /** Added to the percentage fee, in the minor units of each payment's own currency. */
  readonly PAYMENTS_FEE_FIXED: number;
  /** Alipay's real endpoint, from the ALIPAY_* variables; undefined runs the sandbox in process. */
  readonly ALIPAY: AlipayEndpointConfig | undefined;
  /** WeChat Pay's real endpoint, from the WECHAT_PAY_* variables; undefined runs the sandbox in process. */
  readonly WECHAT_PAY: WeChatPayEndpointConfig | undefined;
  /**
   * How long a stop (SIGTERM or SIGINT) may take: stop accepting, finish what is in flight and the
   * ledger's batch, flush the outbox, close. Past it the process exits with a failure code.
   */
  readonly SHUTDOWN_TIMEOUT_MS: number;
  /**
   * Mutual TLS between services, PEM files as a certificate manager mounts them: the CA that signs
   * every service's certificate, and this process's own certificate and key, which it presents
   * when it calls another service over https. A process that does not run the gateway then also
   * requires a certificate from that CA of every caller (its listener's own certificate is
   * TLS_CERT_FILE). All three or none.
   */
  readonly SERVICE_TLS_CA_FILE: string | undefined;
  readonly SERVICE_TLS_CERT_FILE: string | undefined;
  readonly SERVICE_TLS_KEY_FILE: string | undefined;
  /**
   * Test-mode simulators another process runs (the distributed supervisor writes this file): the
   * payments processes use them instead of starting their own, so that every instance sees the
   * same simulated payments. Unset: payments start their own, in process.
   */
  readonly SIMULATORS_FILE: string | undefined;
  /**
   * Where each service that does not run in this process is reached: `<SERVICE>_SERVICE_URLS`, a
   * comma-separated list of its instances' origins (a host name stands for every address DNS gives
   * it). Unset for a service this process runs, or that nothing here calls.
   */
  readonly SERVICE_URLS: Readonly<Record<CallableServiceName, string | undefined>>;
}

/** The services another process can call over the network (the gateway only takes public requests). */
export const callable_service_names = ['ledger', 'identity', 'vault', 'webhooks', 'wallet', 'payments'] as const;
export type CallableServiceName = (typeof callable_service_names)[number];

/** The variable that names where a service's instances are: `PAYMENTS_SERVICE_URLS`. */
export function serviceUrlsVariable(service: CallableServiceName): string {
  return `${service.toUpperCase()}_SERVICE_URLS`;
}

/** One to 64 comma-separated http(s) origins; a fragment may carry options such as `#weight=2`. */
const service_urls_pattern = /^https?:\/\/[^\s,]+(,https?:\/\/[^\s,]+){0,63}$/;

/** The sharded ledger's limit on shards (its timestamps give each shard a residue modulo 16). */
export const ledger_shard_urls_max = 15;
export const operator_key_length_min = 32;

/** Printable ASCII without space: the key is pasted into headers and shell variables. */
const operator_key_pattern = new RegExp(`^[\\x21-\\x7e]{${operator_key_length_min},}$`);

/** The payments service's defaults, repeated here because the kernel cannot import it; a test keeps them equal. */
export const payments_capture_window_seconds_default = 7 * 24 * 60 * 60;
export const payments_fee_bps_default = 290;
export const payments_fee_fixed_default = 30;
/** A capture window shorter than a minute would void authorizations before a merchant could act. */
export const payments_capture_window_seconds_min = 60;
/** 31 days: the longest any card network keeps an authorization. */
export const payments_capture_window_seconds_max = 31 * 24 * 60 * 60;
/** A fee above 100 % of the amount makes no sense. */
export const payments_fee_bps_max = 10_000;
/** 1 000 000 minor units (10 000.00 in a two-decimal currency): anything larger is a typo. */
export const payments_fee_fixed_max = 1_000_000;

const platform_variables = {
  PORT: integerVar({ name: 'PORT', default: 8080, min: 1, max: 65535 }),
  HOST: stringVar({ name: 'HOST', default: '127.0.0.1', pattern: /^\S+$/, allowed: 'must be a host name or IP address without whitespace' }),
  METRICS_PORT: optional(integerVar({ name: 'METRICS_PORT', min: 1, max: 65535 })),
  METRICS_HOST: optional(stringVar({ name: 'METRICS_HOST', pattern: /^\S+$/, allowed: 'must be a host name or IP address without whitespace' })),
  DATA_DIR: pathVar({ name: 'DATA_DIR', default: './data' }),
  DATABASE_URL: optional(urlVar({ name: 'DATABASE_URL', protocols: ['postgres', 'postgresql'] })),
  NATS_URL: optional(urlVar({ name: 'NATS_URL', protocols: ['nats'] })),
  // The NATS adapter's own rule for a prefix (bus/nats-bus.ts): it names streams in upper case.
  BUS_STREAM_PREFIX: stringVar({ name: 'BUS_STREAM_PREFIX', default: 'paygrid', pattern: /^[a-z][a-z0-9_]{0,30}$/, allowed: 'must be a lower-case letter then up to 30 lower-case letters, digits or _' }),
  REDIS_URL: optional(urlVar({ name: 'REDIS_URL', protocols: ['redis', 'rediss'] })),
  OTEL_EXPORTER_OTLP_ENDPOINT: optional(urlVar({ name: 'OTEL_EXPORTER_OTLP_ENDPOINT', protocols: ['http', 'https'] })),
  LOG_LEVEL: enumVar({ name: 'LOG_LEVEL', default: 'info', values: log_levels }),
  PAYGRID_OPERATOR_KEY: optional(
    stringVar({
      name: 'PAYGRID_OPERATOR_KEY',
      secret: true,
      pattern: operator_key_pattern,
      allowed: `must be at least ${operator_key_length_min} printable characters with no whitespace`,
    }),
  ),
  LEDGER_BATCH_WAIT_MS: integerVar({ name: 'LEDGER_BATCH_WAIT_MS', default: 1, min: 0, max: 50 }),
  LEDGER_SHARD_URLS: optional(postgresUrlListVar({ name: 'LEDGER_SHARD_URLS', count_max: ledger_shard_urls_max })),
  TLS_CERT_FILE: optional(pathVar({ name: 'TLS_CERT_FILE' })),
  TLS_KEY_FILE: optional(pathVar({ name: 'TLS_KEY_FILE' })),
  DASHBOARD_ORIGIN: optional(urlVar({ name: 'DASHBOARD_ORIGIN', protocols: ['http', 'https'] })),
  GATEWAY_RATE_LIMIT_PER_SECOND: integerVar({ name: 'GATEWAY_RATE_LIMIT_PER_SECOND', default: 100, min: 1, max: 1_000_000 }),
  GATEWAY_RATE_LIMIT_BURST: integerVar({ name: 'GATEWAY_RATE_LIMIT_BURST', default: 200, min: 1, max: 1_000_000 }),
  PAYGRID_VAULT_KEK: optional(stringVar({ name: 'PAYGRID_VAULT_KEK', secret: true, pattern: /^[A-Za-z0-9+/=]{40,88}$/, allowed: 'must be 64 hex characters or the base64 of 32 bytes' })),
  CARD_ACQUIRER_LATENCY_MS: integerVar({ name: 'CARD_ACQUIRER_LATENCY_MS', default: 0, min: 0, max: 60_000 }),
  WEBHOOK_RETRY_SCHEDULE_MS: optional(
    stringVar({ name: 'WEBHOOK_RETRY_SCHEDULE_MS', pattern: /^[0-9]{1,10}(,[0-9]{1,10}){0,19}$/, allowed: 'must be comma-separated whole milliseconds, at most 20' }),
  ),
  WEBHOOK_ALLOW_PRIVATE_URLS: booleanVar({ name: 'WEBHOOK_ALLOW_PRIVATE_URLS', default: false }),
  WEBHOOK_TEST_MODE_PRIVATE_URLS: optional(booleanVar({ name: 'WEBHOOK_TEST_MODE_PRIVATE_URLS' })),
  PUBLIC_BASE_URL: optional(secureUrlVar({ name: 'PUBLIC_BASE_URL' })),
  PAYMENTS_CAPTURE_WINDOW_SECONDS: integerVar({
    name: 'PAYMENTS_CAPTURE_WINDOW_SECONDS',
    default: payments_capture_window_seconds_default,
    min: payments_capture_window_seconds_min,
    max: payments_capture_window_seconds_max,
  }),
  PAYMENTS_FEE_BPS: integerVar({ name: 'PAYMENTS_FEE_BPS', default: payments_fee_bps_default, min: 0, max: payments_fee_bps_max }),
  PAYMENTS_FEE_FIXED: integerVar({ name: 'PAYMENTS_FEE_FIXED', default: payments_fee_fixed_default, min: 0, max: payments_fee_fixed_max }),
  CACHE_KEY_PREFIX: stringVar({ name: 'CACHE_KEY_PREFIX', default: 'paygrid:', pattern: /^[A-Za-z0-9_:.-]{1,64}$/, allowed: 'must be 1 to 64 letters, digits or _:.-' }),
  // Its default depends on DATABASE_URL, so it is settled below.
  MIGRATE_ON_START: optional(booleanVar({ name: 'MIGRATE_ON_START' })),
  SIMULATORS_FILE: optional(pathVar({ name: 'SIMULATORS_FILE' })),
  SERVICE_TLS_CA_FILE: optional(pathVar({ name: 'SERVICE_TLS_CA_FILE' })),
  SERVICE_TLS_CERT_FILE: optional(pathVar({ name: 'SERVICE_TLS_CERT_FILE' })),
  SERVICE_TLS_KEY_FILE: optional(pathVar({ name: 'SERVICE_TLS_KEY_FILE' })),
  SHUTDOWN_TIMEOUT_MS: integerVar({ name: 'SHUTDOWN_TIMEOUT_MS', default: 30_000, min: 1_000, max: 600_000 }),
};

const service_url_variables = Object.fromEntries(
  callable_service_names.map((service) => [
    service,
    optional(stringVar({ name: serviceUrlsVariable(service), pattern: service_urls_pattern, allowed: 'must be comma-separated http:// or https:// origins, at most 64' })),
  ]),
) as Record<CallableServiceName, Variable<string | undefined>>;

/**
 * The name of every environment variable a Paygrid process reads, from the same tables that read
 * them: deploy files (compose, Kubernetes) are checked against it, so that a misspelt or retired
 * variable in a manifest is an error rather than a setting silently ignored.
 */
export const platform_variable_names: readonly string[] = Object.freeze(
  [
    ...Object.values(platform_variables),
    ...Object.values(service_url_variables),
    ...Object.values(alipay_variables),
    ...Object.values(wechat_pay_variables),
    ...Object.values(card_acquirer_variables),
  ]
    .map((variable) => variable.name)
    .concat([key_encryption_key_file_variable, previous_key_encryption_keys_variable])
    .filter((name, index, names) => names.indexOf(name) === index),
);

/**
 * Reads the platform settings from the environment. Throws a ConfigError naming every bad
 * variable. Migrations run at start by default, so that `npm start` works on a fresh database in
 * either mode (they take an advisory lock, so concurrent starts are safe). Production deployments
 * set MIGRATE_ON_START=false and run `paygrid migrate` as a step of their own, so that a rolling
 * deploy never migrates by accident.
 */
export function loadPlatformConfig(environment: Environment = process.env): PlatformConfig {
  const values = readVariables(environment, platform_variables);
  if ((values.TLS_CERT_FILE === undefined) !== (values.TLS_KEY_FILE === undefined)) {
    const missing = values.TLS_CERT_FILE === undefined ? 'TLS_CERT_FILE' : 'TLS_KEY_FILE';
    throw new ConfigError([`${missing} must be set too: TLS_CERT_FILE and TLS_KEY_FILE go together`]);
  }
  const service_tls = [values.SERVICE_TLS_CA_FILE, values.SERVICE_TLS_CERT_FILE, values.SERVICE_TLS_KEY_FILE];
  if (service_tls.some((file) => file !== undefined) && service_tls.some((file) => file === undefined)) {
    throw new ConfigError(['SERVICE_TLS_CA_FILE, SERVICE_TLS_CERT_FILE and SERVICE_TLS_KEY_FILE go together: mutual TLS needs the CA and this service\'s own certificate and key']);
  }
  if (values.METRICS_PORT !== undefined && values.METRICS_PORT === values.PORT) {
    throw new ConfigError([`METRICS_PORT must differ from PORT (both are ${values.PORT}): the metrics listener is a port of its own`]);
  }
  if (values.METRICS_HOST !== undefined && values.METRICS_PORT === undefined) {
    throw new ConfigError(['METRICS_HOST needs METRICS_PORT: without a port of their own, metrics are served on PORT to the operator key']);
  }
  if (values.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined) {
    const endpoint = new URL(values.OTEL_EXPORTER_OTLP_ENDPOINT);
    // The traces path is appended to it (`/v1/traces`), so a query or fragment would end up in the middle.
    if (endpoint.search !== '' || endpoint.hash !== '' || endpoint.username !== '' || endpoint.password !== '') {
      throw new ConfigError(['OTEL_EXPORTER_OTLP_ENDPOINT must be a base URL (scheme, host, port and optionally a path) with no query, fragment or credentials: /v1/traces is appended to it']);
    }
  }
  const providers = readProviderEndpoints(environment, values.PUBLIC_BASE_URL);
  const card_acquirer = readCardAcquirerEndpoint(environment, Date.now());
  const service_urls = readVariables(environment, service_url_variables);
  return Object.freeze({
    SERVICE_URLS: Object.freeze(service_urls),
    ...values,
    ...providers,
    CARD_ACQUIRER: card_acquirer,
    WEBHOOK_RETRY_SCHEDULE_MS: values.WEBHOOK_RETRY_SCHEDULE_MS?.split(',').map((delay) => Number.parseInt(delay, 10)),
    MIGRATE_ON_START: values.MIGRATE_ON_START ?? true,
  });
}
