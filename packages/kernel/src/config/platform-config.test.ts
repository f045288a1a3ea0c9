import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './variables';
import { loadPlatformConfig } from './platform-config';

function problems(environment: Record<string, string>): readonly string[] {
  try {
    loadPlatformConfig(environment);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

const operator_key = 'k'.repeat(32);

describe('loadPlatformConfig', () => {
  it('refuses one TLS file without the other', () => {
    expect(() => loadPlatformConfig({ TLS_CERT_FILE: '/etc/paygrid/cert.pem' })).toThrow('TLS_KEY_FILE must be set too');
  });

  it('defaults to an embedded platform on loopback', () => {
    const config = loadPlatformConfig({});
    expect(config).toEqual({
      PORT: 8080,
      HOST: '127.0.0.1',
      DATA_DIR: resolve('./data'),
      DATABASE_URL: undefined,
      NATS_URL: undefined,
      BUS_STREAM_PREFIX: 'paygrid',
      REDIS_URL: undefined,
      OTEL_EXPORTER_OTLP_ENDPOINT: undefined,
      LOG_LEVEL: 'info',
      PAYGRID_OPERATOR_KEY: undefined,
      LEDGER_BATCH_WAIT_MS: 1,
      MIGRATE_ON_START: true,
      TLS_CERT_FILE: undefined,
      TLS_KEY_FILE: undefined,
      DASHBOARD_ORIGIN: undefined,
      GATEWAY_RATE_LIMIT_PER_SECOND: 100,
      GATEWAY_RATE_LIMIT_BURST: 200,
      CACHE_KEY_PREFIX: 'paygrid:',
      PAYGRID_VAULT_KEK: undefined,
      CARD_ACQUIRER_LATENCY_MS: 0,
      WEBHOOK_RETRY_SCHEDULE_MS: undefined,
      WEBHOOK_ALLOW_PRIVATE_URLS: false,
      WEBHOOK_TEST_MODE_PRIVATE_URLS: undefined,
      PUBLIC_BASE_URL: undefined,
      PAYMENTS_CAPTURE_WINDOW_SECONDS: 604_800,
      PAYMENTS_FEE_BPS: 290,
      PAYMENTS_FEE_FIXED: 30,
      ALIPAY: undefined,
      WECHAT_PAY: undefined,
      CARD_ACQUIRER: undefined,
      SHUTDOWN_TIMEOUT_MS: 30_000,
      SIMULATORS_FILE: undefined,
      SERVICE_TLS_CA_FILE: undefined,
      SERVICE_TLS_CERT_FILE: undefined,
      SERVICE_TLS_KEY_FILE: undefined,
      SERVICE_URLS: { ledger: undefined, identity: undefined, vault: undefined, webhooks: undefined, wallet: undefined, payments: undefined },
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads where each remote service is, and refuses a list that is not origins', () => {
    const config = loadPlatformConfig({ PAYMENTS_SERVICE_URLS: 'http://10.0.0.5:8086,http://payments.internal:8080#weight=2', SHUTDOWN_TIMEOUT_MS: '5000' });
    expect(config.SERVICE_URLS.payments).toBe('http://10.0.0.5:8086,http://payments.internal:8080#weight=2');
    expect(config.SERVICE_URLS.ledger).toBeUndefined();
    expect(config.SHUTDOWN_TIMEOUT_MS).toBe(5_000);
    expect(() => loadPlatformConfig({ LEDGER_SERVICE_URLS: 'ledger:8081' })).toThrow(/LEDGER_SERVICE_URLS/);
    expect(() => loadPlatformConfig({ WALLET_SERVICE_URLS: 'http://a:1, http://b:2' })).toThrow(/WALLET_SERVICE_URLS/);
    expect(() => loadPlatformConfig({ SERVICE_TLS_CA_FILE: '/etc/paygrid/ca.crt' })).toThrow(/SERVICE_TLS_CA_FILE, SERVICE_TLS_CERT_FILE and SERVICE_TLS_KEY_FILE go together/);
  });

  it('reads every variable', () => {
    const config = loadPlatformConfig({
      PORT: '9000',
      HOST: '0.0.0.0',
      DATA_DIR: '/var/lib/paygrid',
      DATABASE_URL: 'postgresql://paygrid:s3cret@db:5432/paygrid',
      NATS_URL: 'nats://nats:4222',
      BUS_STREAM_PREFIX: 'acme_prod',
      REDIS_URL: 'rediss://cache:6380',
      LOG_LEVEL: 'debug',
      PAYGRID_OPERATOR_KEY: operator_key,
      LEDGER_BATCH_WAIT_MS: '0',
      MIGRATE_ON_START: 'true',
    });
    expect(config).toMatchObject({
      PORT: 9000,
      HOST: '0.0.0.0',
      DATA_DIR: '/var/lib/paygrid',
      DATABASE_URL: 'postgresql://paygrid:s3cret@db:5432/paygrid',
      NATS_URL: 'nats://nats:4222',
      BUS_STREAM_PREFIX: 'acme_prod',
      REDIS_URL: 'rediss://cache:6380',
      LOG_LEVEL: 'debug',
      PAYGRID_OPERATOR_KEY: operator_key,
      LEDGER_BATCH_WAIT_MS: 0,
      MIGRATE_ON_START: true,
    });
  });

  it('reads a metrics port of its own, which must differ from PORT, and a bind address only beside it', () => {
    expect(loadPlatformConfig({})).toMatchObject({ METRICS_PORT: undefined, METRICS_HOST: undefined });
    expect(loadPlatformConfig({ METRICS_PORT: '9464' })).toMatchObject({ METRICS_PORT: 9464, METRICS_HOST: undefined });
    expect(loadPlatformConfig({ METRICS_PORT: '9464', METRICS_HOST: '10.0.0.5' })).toMatchObject({ METRICS_PORT: 9464, METRICS_HOST: '10.0.0.5' });
    expect(problems({ METRICS_PORT: '0' })).toEqual(['METRICS_PORT must be an integer from 1 to 65535 (got "0")']);
    expect(problems({ METRICS_PORT: '8080' })).toEqual(['METRICS_PORT must differ from PORT (both are 8080): the metrics listener is a port of its own']);
    expect(problems({ PORT: '9000', METRICS_PORT: '9000' })).toHaveLength(1);
    expect(problems({ METRICS_HOST: '0.0.0.0' })).toEqual(['METRICS_HOST needs METRICS_PORT: without a port of their own, metrics are served on PORT to the operator key']);
  });

  it('reads an OTLP endpoint: an http(s) base URL with no query, fragment or credentials', () => {
    expect(loadPlatformConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318' }).OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://jaeger:4318');
    expect(loadPlatformConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector.example/otlp' }).OTEL_EXPORTER_OTLP_ENDPOINT).toBe('https://collector.example/otlp');
    expect(problems({ OTEL_EXPORTER_OTLP_ENDPOINT: 'jaeger:4318' })).toEqual(['OTEL_EXPORTER_OTLP_ENDPOINT must be a URL starting with http:// or https:// (got "jaeger:4318")']);
    expect(problems({ OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://jaeger:4317' })).toHaveLength(1);
    expect(problems({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318?x=1' })).toEqual([expect.stringContaining('OTEL_EXPORTER_OTLP_ENDPOINT must be a base URL')]);
  });

  it('does not migrate on start by default when DATABASE_URL is set', () => {
    expect(loadPlatformConfig({ DATABASE_URL: 'postgres://db/paygrid' }).MIGRATE_ON_START).toBe(true);
    expect(loadPlatformConfig({ DATABASE_URL: 'postgres://db/paygrid', MIGRATE_ON_START: 'false' }).MIGRATE_ON_START).toBe(false);
    expect(loadPlatformConfig({ MIGRATE_ON_START: 'false' }).MIGRATE_ON_START).toBe(false);
  });

  it('treats an empty variable as unset', () => {
    expect(loadPlatformConfig({ PORT: '', DATABASE_URL: '' })).toMatchObject({ PORT: 8080, DATABASE_URL: undefined });
  });

  it('refuses bad values with the variable, the value and what is allowed', () => {
    expect(problems({ PORT: 'abc' })).toEqual(['PORT must be an integer from 1 to 65535 (got "abc")']);
    expect(problems({ PORT: '0' })).toEqual(['PORT must be an integer from 1 to 65535 (got "0")']);
    expect(problems({ PORT: '65536' })).toEqual(['PORT must be an integer from 1 to 65535 (got "65536")']);
    expect(problems({ PORT: '80.0' })).toEqual(['PORT must be an integer from 1 to 65535 (got "80.0")']);
    expect(problems({ PORT: ' 80' })).toEqual(['PORT must be an integer from 1 to 65535 (got " 80")']);
    expect(problems({ HOST: 'local host' })).toEqual(['HOST must be a host name or IP address without whitespace (got "local host")']);
    expect(problems({ LOG_LEVEL: 'verbose' })).toEqual(['LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "verbose")']);
    expect(problems({ LEDGER_BATCH_WAIT_MS: '51' })).toEqual(['LEDGER_BATCH_WAIT_MS must be an integer from 0 to 50 (got "51")']);
    expect(problems({ MIGRATE_ON_START: 'yes' })).toEqual(['MIGRATE_ON_START must be true or false (got "yes")']);
    expect(problems({ NATS_URL: 'http://nats:4222' })).toEqual(['NATS_URL must be a URL starting with nats:// (got "http://nats:4222")']);
    expect(problems({ BUS_STREAM_PREFIX: 'PAYGRID' })).toEqual(['BUS_STREAM_PREFIX must be a lower-case letter then up to 30 lower-case letters, digits or _ (got "PAYGRID")']);
    expect(problems({ REDIS_URL: 'cache:6379' })).toEqual(['REDIS_URL must be a URL starting with redis:// or rediss:// (got "cache:6379")']);
  });

  it('reads the payments capture window and fee schedule, whole numbers within their bounds', () => {
    expect(loadPlatformConfig({ PAYMENTS_CAPTURE_WINDOW_SECONDS: '86400', PAYMENTS_FEE_BPS: '0', PAYMENTS_FEE_FIXED: '0' })).toMatchObject({
      PAYMENTS_CAPTURE_WINDOW_SECONDS: 86_400,
      PAYMENTS_FEE_BPS: 0,
      PAYMENTS_FEE_FIXED: 0,
    });
    expect(loadPlatformConfig({ PAYMENTS_CAPTURE_WINDOW_SECONDS: '2678400', PAYMENTS_FEE_BPS: '10000', PAYMENTS_FEE_FIXED: '1000000' })).toMatchObject({
      PAYMENTS_CAPTURE_WINDOW_SECONDS: 2_678_400,
      PAYMENTS_FEE_BPS: 10_000,
      PAYMENTS_FEE_FIXED: 1_000_000,
    });
    const window = 'PAYMENTS_CAPTURE_WINDOW_SECONDS must be an integer from 60 to 2678400';
    expect(problems({ PAYMENTS_CAPTURE_WINDOW_SECONDS: '59' })).toEqual([`${window} (got "59")`]);
    expect(problems({ PAYMENTS_CAPTURE_WINDOW_SECONDS: '2678401' })).toEqual([`${window} (got "2678401")`]);
    expect(problems({ PAYMENTS_CAPTURE_WINDOW_SECONDS: '7d' })).toEqual([`${window} (got "7d")`]);
    // Money is never a float: a fractional fee is refused, not rounded.
    expect(problems({ PAYMENTS_FEE_BPS: '2.9' })).toEqual(['PAYMENTS_FEE_BPS must be an integer from 0 to 10000 (got "2.9")']);
    expect(problems({ PAYMENTS_FEE_BPS: '10001' })).toEqual(['PAYMENTS_FEE_BPS must be an integer from 0 to 10000 (got "10001")']);
    expect(problems({ PAYMENTS_FEE_FIXED: '-1' })).toEqual(['PAYMENTS_FEE_FIXED must be an integer from 0 to 1000000 (got "-1")']);
    expect(problems({ PAYMENTS_FEE_FIXED: '0.30' })).toEqual(['PAYMENTS_FEE_FIXED must be an integer from 0 to 1000000 (got "0.30")']);
    expect(problems({ PAYMENTS_FEE_FIXED: '1e3' })).toEqual(['PAYMENTS_FEE_FIXED must be an integer from 0 to 1000000 (got "1e3")']);
  });

  it('never echoes a secret: the operator key, or a password in a URL', () => {
    expect(problems({ PAYGRID_OPERATOR_KEY: 'short-and-secret' })).toEqual([
      'PAYGRID_OPERATOR_KEY must be at least 32 printable characters with no whitespace',
    ]);
    expect(problems({ PAYGRID_OPERATOR_KEY: `${operator_key} with spaces` })).toEqual([
      'PAYGRID_OPERATOR_KEY must be at least 32 printable characters with no whitespace',
    ]);
    expect(problems({ DATABASE_URL: 'mysql://paygrid:hunter2@db/paygrid' })).toEqual([
      'DATABASE_URL must be a URL starting with postgres:// or postgresql:// (got "mysql://paygrid:***@db/paygrid")',
    ]);
    // Not even a URL: the password-looking part is still hidden.
    const unparseable = problems({ DATABASE_URL: 'postgres://paygrid:hun ter2@db:port/paygrid' });
    expect(unparseable).toEqual(['DATABASE_URL must be a URL starting with postgres:// or postgresql:// (got "postgres://paygrid:***@db:port/paygrid")']);
    expect(unparseable.join()).not.toContain('hun ter2');
  });

  it('reports every problem at once', () => {
    let caught: unknown;
    try {
      loadPlatformConfig({ PORT: 'abc', LOG_LEVEL: 'loud', LEDGER_BATCH_WAIT_MS: '-1' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).message).toBe(
      [
        'PORT must be an integer from 1 to 65535 (got "abc")',
        'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
        'LEDGER_BATCH_WAIT_MS must be an integer from 0 to 50 (got "-1")',
      ].join('\n'),
    );
  });
});
