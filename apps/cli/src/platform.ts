import { registerLedgerShardRoutes } from './ledger-shards';
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyRequest, InjectOptions, LightMyRequestResponse } from 'fastify';
import type { AlipaySandbox, WeChatPaySandbox } from '@paygrid/connectors';
import { IdempotencyKeys, registerGateway } from '@paygrid/gateway';
import { IdentityService, identity_contract, identity_migrations, type IdentityClient } from '@paygrid/identity';
import { publishEvent, type Bus } from '@paygrid/kernel/bus';
import { openCache, type Cache } from '@paygrid/kernel/cache';
import { loadKeyring, type KeySource, type WrappedKeyStore } from '@paygrid/kernel/envelope';
import { registerRpcRoutes } from '@paygrid/kernel/rpc';
import {
  ApiError,
  ConfigError,
  assert,
  serviceUrlsVariable,
  type CallableServiceName,
  createHttpServer,
  createLogger,
  decideLiveCapabilities,
  createMetricsServer,
  describeDatabaseLocation,
  folderOpenToOthersWarning,
  live_capability_names,
  loadPlatformConfig,
  openDatabase,
  type LiveCapabilities,
  type OutboxPublisher,
  type Migration,
  type PlatformConfig,
  type RegisteredRoute,
  type ServiceDatabase,
} from '@paygrid/kernel';
import { LedgerService, ShardedLedger, describeLedgerStore, ledgerStoreLocation, ledger_schema_default, openLedgerStore, registerLedgerRoutes, type LedgerClient } from '@paygrid/ledger';
import { PaymentsService, payment_saga_name, payments_contract, payments_migrations } from '@paygrid/payments';
import { VaultService, vault_contract, vault_migrations, type VaultClient } from '@paygrid/vault';
import { BankAccountKeys, SimulatedBank, WalletService, movement_saga_name, wallet_contract, wallet_migrations, withdrawal_saga_name, type WalletClient } from '@paygrid/wallet';
import { WebhooksService, delivery_saga_name, subscribeWebhooksToEvents, webhooks_contract, webhooks_migrations, type WebhooksClient } from '@paygrid/webhooks';
import { openPlatformBus, registerBusReachability, registerBusRoutes } from './bus';
import { readSimulatorSettings, startConnectors, type CardAcquirerEndpoint, type ProviderEndpoint } from './connectors';
import { KeyRotation, registerKeyRoutes } from './keys';
import { PlatformMetrics, type ServiceDatabaseMetrics } from './metrics';
import { loadOperatorKey, type OperatorKey } from './operator-key';
import { RemoteServices } from './remote-services';
import { startPlatformTracing } from './tracing';

const ms_per_second = 1_000;

/** The services this build can run. Later services join this list as they land. */
export const service_names = ['ledger', 'identity', 'wallet', 'vault', 'webhooks', 'payments', 'gateway'] as const;
export type ServiceName = (typeof service_names)[number];
/** The services that seal data under the key-encryption key: a rotation must reach all of them. */
const sealing_services = ['vault', 'identity', 'webhooks', 'wallet'] as const satisfies readonly ServiceName[];

/**
 * What each service calls. A service it calls runs in the same process (a function call) or
 * elsewhere, reached at `<SERVICE>_SERVICE_URLS` (remote-services.ts).
 */
export const service_dependencies: Record<ServiceName, readonly ServiceName[]> = {
  ledger: [],
  identity: [],
  wallet: ['ledger', 'identity', 'webhooks'],
  vault: [],
  webhooks: [],
  payments: ['ledger', 'identity', 'wallet', 'vault', 'webhooks'],
  gateway: ['ledger', 'identity', 'wallet', 'vault', 'webhooks', 'payments'],
};

/** The migrations of the services that keep their tables behind the generic Database port. */
export const service_migrations = {
  identity: identity_migrations,
  wallet: wallet_migrations,
  vault: vault_migrations,
  webhooks: webhooks_migrations,
  payments: payments_migrations,
} as const satisfies Record<string, readonly Migration[]>;

/** What each service's database holds for the metrics (metrics.ts): its outbox table and its sagas. */
const service_database_metrics: Record<keyof typeof service_migrations, Omit<ServiceDatabaseMetrics, 'service' | 'database'>> = {
  identity: {},
  vault: {},
  wallet: { outbox_table: 'wallet_events', sagas: [movement_saga_name, withdrawal_saga_name] },
  webhooks: { sagas: [delivery_saga_name] },
  payments: { outbox_table: 'payment_events', sagas: [payment_saga_name] },
};

export interface RunningPlatform {
  readonly url: string;
  /** The metrics listener's URL when METRICS_PORT is set; otherwise /metrics is on `url`, for the operator key. */
  readonly metrics_url: string | undefined;
  readonly config: PlatformConfig;
  readonly operator_key: OperatorKey;
  readonly ledger_store: string;
  /**
   * Where Alipay and WeChat Pay requests go when payments run: a local sandbox (its URL) or a
   * configured endpoint (its host). For the banner and for tests.
   */
  readonly providers: { readonly alipay: ProviderEndpoint; readonly wechat_pay: ProviderEndpoint } | undefined;
  /**
   * The in-process Alipay and WeChat Pay sandboxes, when payments run against them: suites read the
   * signed notifications they sent (`deliveries`), to replay and tamper with.
   */
  readonly provider_sandboxes: { readonly alipay: AlipaySandbox | undefined; readonly wechat_pay: WeChatPaySandbox | undefined } | undefined;
  /** Where card payments go when payments run: the simulator or a configured acquirer. */
  readonly card_acquirer: CardAcquirerEndpoint | undefined;
  /** The in-process bank withdrawals go to, when the wallet runs: tests listen to what it reports. */
  readonly simulated_bank: SimulatedBank | undefined;
  /**
   * What live mode may do with real money, decided once at start from the configuration; live
   * requests that need anything inactive are refused with livemode_not_configured.
   */
  readonly live_capabilities: LiveCapabilities;
  /** Where each service keeps its data, for the start-up banner. */
  readonly databases: Readonly<Record<string, string>>;
  /** Where the key-encryption key came from, when the vault or identity runs (for the banner). */
  readonly key_source: KeySource | undefined;
  /**
   * Sends a request through the whole HTTP stack without a socket (Fastify's inject), for suites
   * that send many thousands of requests, such as the API fuzz.
   */
  readonly inject: (options: InjectOptions) => Promise<LightMyRequestResponse>;
  /** Every route the server registered (method and full path), for suites that must reach them all. */
  readonly routes: readonly RegisteredRoute[];
  /** Stops taking requests, finishes the batch in flight, and closes every store. */
  close(): Promise<void>;
}

/** A mistake in how the command was called: reported in one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The services that only send events to webhooks, which NATS carries without a call. */
const event_publishers: readonly ServiceName[] = ['wallet', 'payments'];

/**
 * The services the named ones call that do not run with them: they are reached over the network.
 * With NATS the wallet and payments reach webhooks through the bus, and need no address for it.
 */
export function remoteDependencies(services: readonly ServiceName[], options: { readonly nats: boolean }): CallableServiceName[] {
  const remote = new Set<CallableServiceName>();
  for (const service of services) {
    for (const dependency of service_dependencies[service]) {
      if (services.includes(dependency) || dependency === 'gateway') continue;
      if (dependency === 'webhooks' && options.nats && event_publishers.includes(service)) continue;
      remote.add(dependency);
    }
  }
  return [...remote];
}

export function parseServices(list: string | undefined): ServiceName[] {
  if (list === undefined || list.trim() === '') return [...service_names];
  const names = list.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!(service_names as readonly string[]).includes(name)) {
      throw new UsageError(`unknown service "${name}"; this build has: ${service_names.join(', ')}`);
    }
  }
  return [...new Set(names as ServiceName[])];
}

/** Starts the named services (all by default) in this process, behind one HTTP server. */
export interface StartPlatformOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly services?: readonly ServiceName[];
  /** Overrides PORT; 0 picks a free port (for tests that run several platforms at once). */
  readonly port?: number;
  /**
   * The gateway's cache, instead of the one REDIS_URL chooses: for tests that read what the
   * gateway keeps in it. The caller owns it and closes it.
   */
  readonly cache?: Cache;
  /**
   * For tests: wraps the bus the platform opened (to inject handler failures, or shorten
   * redelivery delays). The platform still counts dead letters on the bus it opened, and closes it.
   */
  readonly decorateBus?: (bus: Bus) => Bus;
}

export async function startPlatform(options: StartPlatformOptions = {}): Promise<RunningPlatform> {
  const process_env = options.env ?? process.env;
  const config = loadPlatformConfig(process_env);
  const services = options.services ?? service_names;
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'paygrid' });
  // Before anything is opened: every service called from here runs here or has an address.
  const unreachable = remoteDependencies(services, { nats: config.NATS_URL !== undefined }).filter((service) => config.SERVICE_URLS[service] === undefined);
  if (unreachable.length > 0) {
    throw new ConfigError(
      unreachable.map((service) => {
        const callers = services.filter((caller) => service_dependencies[caller].includes(service));
        return `${serviceUrlsVariable(service)} must be set: ${service} does not run in this process (--services ${services.join(',')}) and ${callers.join(' and ')} ${callers.length === 1 ? 'calls' : 'call'} it`;
      }),
    );
  }
  const operator_key = loadOperatorKey(config);
  const data_dir_warning = folderOpenToOthersWarning(config.DATA_DIR, 'DATA_DIR');
  if (data_dir_warning !== undefined) logger.warn(data_dir_warning);
  // Loaded before anything is opened, so that a missing or bad key stops the start with nothing
  // half done. The vault seals cards, identity merchants' signing secrets, webhooks endpoints'
  // signing secrets and the wallet withdrawals' account numbers, under data keys wrapped by this one
  // key-encryption key. Several instances on one PostgreSQL must share one key, so only the embedded
  // platform makes its own.
  // The gateway seals idempotency records under keys derived from the same keyring, so it loads it too.
  const keys = [...sealing_services, 'gateway' as const].some((service) => services.includes(service))
    ? await loadKeyring({ env: process_env, data_dir: config.DATA_DIR, allow_generate: config.DATABASE_URL === undefined })
    : undefined;
  for (const warning of keys?.warnings ?? []) logger.warn(warning);
  // The gateway seals idempotency records under keys derived from every key-encryption key, made
  // now, before a start that finishes a rotation retires the previous key: records it sealed in
  // Redis before the restart still replay for their day.
  const idempotency_keys = keys === undefined ? undefined : new IdempotencyKeys(keys.keyring);
  // A failed assertion means the code is wrong: answer that request with a 500, then stop the
  // process rather than go on serving from state nobody can vouch for.
  // Mutual TLS between services: this process presents its service certificate to those it calls
  // and, unless it serves the public (the gateway), refuses any caller without one from the CA.
  const service_tls =
    config.SERVICE_TLS_CA_FILE === undefined || config.SERVICE_TLS_CERT_FILE === undefined || config.SERVICE_TLS_KEY_FILE === undefined
      ? undefined
      : { ca: readFileSync(config.SERVICE_TLS_CA_FILE), cert: readFileSync(config.SERVICE_TLS_CERT_FILE), key: readFileSync(config.SERVICE_TLS_KEY_FILE) };
  const require_client_certificate = service_tls !== undefined && !services.includes('gateway');
  if (require_client_certificate && (config.TLS_CERT_FILE === undefined || config.TLS_KEY_FILE === undefined)) {
    throw new ConfigError(['TLS_CERT_FILE and TLS_KEY_FILE must be set: with SERVICE_TLS_* a service process serves its callers over mutual TLS']);
  }
  const tls =
    config.TLS_CERT_FILE === undefined || config.TLS_KEY_FILE === undefined
      ? undefined
      : {
          cert: readFileSync(config.TLS_CERT_FILE),
          key: readFileSync(config.TLS_KEY_FILE),
          ...(require_client_certificate ? { ca: service_tls.ca, require_client_certificate: true } : {}),
        };
  // Before the server, the databases, the bus and the upstreams are made: each asks then whether to trace.
  const tracing = startPlatformTracing(config, services, service_names);
  // Metrics are on a port of their own when one is given, and otherwise on the public port for
  // the operator key only: they show routes, traffic and errors, which are nobody else's business.
  const server = createHttpServer({
    logger,
    ...(tls === undefined ? {} : { tls }),
    ...(config.METRICS_PORT === undefined ? { metrics_authenticate: operatorAuthentication(operator_key.key) } : {}),
    onAssertionFailure: () => {
      logger.fatal('assertion failed; exiting');
      process.exit(70);
    },
  });
  const { app } = server;

  // The bank adapter decides the live bank capabilities, so it is chosen before they are. Only the
  // simulated bank exists so far, and it takes test mode only.
  const bank = services.includes('wallet') ? new SimulatedBank() : undefined;
  const live_capabilities = decideLiveCapabilities(config, bank?.live_support);
  logger.info({ live_capabilities: describeLiveCapabilities(live_capabilities) }, 'live capabilities');

  // Pushed first, so that it runs last of these: the spans of the shutdown itself are flushed too.
  const closers: (() => Promise<void>)[] = tracing === undefined ? [] : [() => tracing.shutdown()];
  const platform_metrics = new PlatformMetrics(server.metrics.registry, { log: (level, message, fields) => logger[level]({ ...fields, service: 'metrics' }, message) });
  closers.push(() => platform_metrics.close());
  // The services this process does not run are reached over the network, when something here calls them.
  const remote = new RemoteServices({ config, operator_key: operator_key.key, registry: server.metrics.registry, ...(service_tls === undefined ? {} : { tls: service_tls }) });
  closers.push(() => remote.close());
  // Services that other processes call serve their operations at /internal/<service>/…, for the
  // operator key only. The all-in-one process runs every caller itself, so it serves none.
  const serves_remote_callers = services.length < service_names.length;
  const internal_authentication = operatorAuthentication(operator_key.key);
  let ledger_store = 'not running';
  let ledger_service: LedgerClient | undefined;
  if (services.includes('ledger') && config.LEDGER_SHARD_URLS !== undefined) {
    const shard_urls = config.LEDGER_SHARD_URLS;
    ledger_store = `${shard_urls.length} PostgreSQL shards (schema "${ledger_schema_default}" in each)`;
    platform_metrics.addPreparedTransactions(shard_urls.map((url) => ({ url, schema: ledger_schema_default })));
    const ledger = await ShardedLedger.open({
      shard_urls,
      migrate: config.MIGRATE_ON_START,
      writer: {
        batch_wait_ms: config.LEDGER_BATCH_WAIT_MS,
        log: (level, message, fields) => logger[level]({ ...fields, service: 'ledger' }, message),
        metrics: platform_metrics.ledgerWriterMetrics(),
      },
      log: (level, message, fields) => logger[level]({ ...fields, service: 'ledger' }, message),
    });
    closers.push(() => ledger.close());
    registerLedgerRoutes(app, { ledger, authenticate: operatorAuthentication(operator_key.key) });
    registerLedgerShardRoutes(app, { ledger, authenticate: operatorAuthentication(operator_key.key) });
    server.readiness.add('ledger', () => ledger.checkReady());
    ledger_service = ledger;
  } else if (services.includes('ledger')) {
    const location = ledgerStoreLocation(config);
    ledger_store = describeLedgerStore(location);
    const store = await openLedgerStore(location, { migrate: config.MIGRATE_ON_START });
    if (location.kind === 'postgres') platform_metrics.addPreparedTransactions([{ url: location.url, schema: location.schema }]);
    const ledger = await LedgerService.open(store, {
      batch_wait_ms: config.LEDGER_BATCH_WAIT_MS,
      log: (level, message, fields) => logger[level]({ ...fields, service: 'ledger' }, message),
      metrics: platform_metrics.ledgerWriterMetrics(),
    });
    closers.push(() => ledger.close());
    registerLedgerRoutes(app, { ledger, authenticate: operatorAuthentication(operator_key.key) });
    server.readiness.add('ledger', () => ledger.checkReady());
    ledger_service = ledger;
  }

  const databases: Record<string, string> = {};
  async function serviceDatabase(service: keyof typeof service_migrations): Promise<ServiceDatabase> {
    const database = await openDatabase({ config, service });
    closers.push(() => database.close());
    if (config.MIGRATE_ON_START) await database.migrate(service_migrations[service]);
    databases[service] = describeDatabaseLocation(database.location);
    platform_metrics.addServiceDatabase({ service, database, ...service_database_metrics[service] });
    server.readiness.add(`${service}_database`, async () => {
      await database.query('SELECT 1');
    });
    return database;
  }

  let identity: IdentityService | undefined;
  if (services.includes('identity')) {
    assert(keys !== undefined, 'the key-encryption key is loaded whenever identity runs');
    identity = new IdentityService({ database: await serviceDatabase('identity'), keyring: keys.keyring });
    // Before serving: secrets left in plain text by a version before sealing are sealed now.
    const sealed = await identity.sealLegacySigningSecrets();
    if (sealed > 0) logger.info({ merchants: sealed }, 'sealed signing secrets stored in plain text by an earlier version');
    await identity.checkKeys();
    if (serves_remote_callers) registerRpcRoutes(app, identity_contract, identity, { authenticate: internal_authentication });
  }

  let vault: VaultService | undefined;
  if (services.includes('vault')) {
    assert(keys !== undefined, 'the key-encryption key is loaded whenever the vault runs');
    vault = new VaultService({ database: await serviceDatabase('vault'), keyring: keys.keyring });
    await vault.checkKeys();
    if (serves_remote_callers) registerRpcRoutes(app, vault_contract, vault, { authenticate: internal_authentication });
  }

  // The bus carries the wallet's and payments' events to webhooks: NATS JetStream with NATS_URL,
  // the in-process bus otherwise. It closes after everything that publishes or subscribes.
  const opened_bus = await openPlatformBus({ config, registry: server.metrics.registry, log: (level, message, fields) => logger[level]({ ...fields, service: 'bus' }, message) });
  closers.push(() => opened_bus.close());
  const bus = options.decorateBus?.(opened_bus) ?? opened_bus;
  registerBusReachability(server.metrics.registry, opened_bus);
  registerBusRoutes(app, { bus, authenticate: operatorAuthentication(operator_key.key) });

  let webhooks: WebhooksService | undefined;
  if (services.includes('webhooks')) {
    assert(keys !== undefined, 'the key-encryption key is loaded whenever webhooks run');
    webhooks = new WebhooksService({
      database: await serviceDatabase('webhooks'),
      keyring: keys.keyring,
      ...(config.WEBHOOK_RETRY_SCHEDULE_MS === undefined ? {} : { schedule: config.WEBHOOK_RETRY_SCHEDULE_MS }),
      allow_private_urls: config.WEBHOOK_ALLOW_PRIVATE_URLS,
      // Embedded mode is where local development and tests run, with receivers on 127.0.0.1; a
      // distributed install serves merchants it does not trust with its internal network.
      test_mode_private_urls: config.WEBHOOK_TEST_MODE_PRIVATE_URLS ?? config.DATABASE_URL === undefined,
      log: (level, message, fields) => logger[level]({ ...fields, service: 'webhooks' }, message),
      observeAttempt: platform_metrics.webhookAttemptObserver(),
    });
    // Seals secrets left in plain text by an earlier version, and checks every key is held, first.
    await webhooks.start();
    const started = webhooks;
    closers.push(() => started.close());
    // Closed after the relays (pushed later, so closed earlier), which may still be waiting on them.
    const subscriptions = await subscribeWebhooksToEvents(bus, started);
    closers.push(async () => {
      for (const subscription of subscriptions) await subscription.close();
    });
    if (serves_remote_callers) registerRpcRoutes(app, webhooks_contract, webhooks, { authenticate: internal_authentication });
  }

  // Each service's callers hold its interface: the service itself here, or its client elsewhere.
  const ledgerFor = (caller: ServiceName): LedgerClient => ledger_service ?? remote.ledger(caller);
  const identityFor = (caller: ServiceName): IdentityClient => identity ?? remote.client('identity', identity_contract, caller);
  const vaultFor = (caller: ServiceName): VaultClient => vault ?? remote.client('vault', vault_contract, caller);
  const webhooksFor = (caller: ServiceName): WebhooksClient => webhooks ?? remote.client('webhooks', webhooks_contract, caller);

  /**
   * Where the wallet's and payments' outbox relays send events. With NATS, onto the bus, for
   * whoever subscribes. Without it, onto the in-process bus when webhooks run here (an event
   * nobody here subscribes to would be lost there), else straight to the webhooks service over the
   * network, which stores the event by its id before it answers. Either way an event leaves its
   * outbox only once it is safe elsewhere. Undefined: no event can reach webhooks, so none is written.
   */
  function eventPublisher(caller: 'wallet' | 'payments'): OutboxPublisher | undefined {
    if (config.NATS_URL !== undefined || webhooks !== undefined) return (tenant, event) => publishEvent(bus, caller, tenant, event);
    if (config.SERVICE_URLS.webhooks === undefined) return undefined;
    const remote_webhooks = webhooksFor(caller);
    return async (tenant, event) => {
      await remote_webhooks.publish(tenant, event);
    };
  }

  let wallet: WalletService | undefined;
  let bank_account_keys: BankAccountKeys | undefined;
  if (services.includes('wallet') && bank !== undefined) {
    assert(keys !== undefined, 'the key-encryption key is loaded whenever the wallet runs');
    closers.push(() => {
      bank.close();
      return Promise.resolve();
    });
    const events = eventPublisher('wallet');
    const wallet_database = await serviceDatabase('wallet');
    // Before the wallet reads a row: account numbers left in plain text by an earlier version are sealed now.
    bank_account_keys = new BankAccountKeys({ database: wallet_database, keyring: keys.keyring });
    const sealed = await bank_account_keys.sealLegacy();
    if (sealed > 0) logger.info({ withdrawals: sealed }, 'sealed bank account numbers stored in plain text by an earlier version');
    await bank_account_keys.checkKeys();
    wallet = new WalletService({
      database: wallet_database,
      keyring: keys.keyring,
      ledger: ledgerFor('wallet'),
      customers: identityFor('wallet'),
      bank,
      // Beside the ledger, whose fence this process holds, no other wallet instance on this
      // database is alive; a wallet on its own may have siblings.
      sole_instance: ledger_service !== undefined,
      ...(events === undefined ? {} : { events }),
      log: (level, message, fields) => logger[level]({ ...fields, service: 'wallet' }, message),
    });
    await wallet.start();
    const started = wallet;
    closers.push(() => started.close());
    if (serves_remote_callers) registerRpcRoutes(app, wallet_contract, wallet, { authenticate: internal_authentication });
  }
  const walletFor = (caller: ServiceName): WalletClient => wallet ?? remote.client('wallet', wallet_contract, caller);

  if (keys !== undefined) {
    // After every store that seals has checked that the keys it needs are held: a rotation left
    // unfinished resumes over all of them, and an old key is forgotten only once none uses it.
    const stores: WrappedKeyStore[] = [vault, identity, webhooks, bank_account_keys].filter((store) => store !== undefined);
    const rotation = new KeyRotation({
      keyring: keys.keyring,
      source: keys.source,
      stores,
      sole_keeper: config.DATABASE_URL === undefined && stores.length === sealing_services.length && !serves_remote_callers,
      log: (level, message, fields) => logger[level]({ ...fields, service: 'keys' }, message),
    });
    closers.push(() => rotation.close());
    registerKeyRoutes(app, { rotation, authenticate: operatorAuthentication(operator_key.key) });
    await rotation.resumeAtStart();
  }

  let payments: PaymentsService | undefined;
  let providers: RunningPlatform['providers'];
  let card_acquirer: RunningPlatform['card_acquirer'];
  let provider_sandboxes: RunningPlatform['provider_sandboxes'];
  if (services.includes('payments')) {
    // Providers post notifications to the public address when there is one; the in-process
    // sandboxes can use the address this process listens on.
    const listen_url = `${tls === undefined ? 'http' : 'https'}://${config.HOST}:${options.port ?? config.PORT}`;
    const tokens = vaultFor('payments');
    const connectors = await startConnectors({
      config,
      vault: tokens,
      public_url: config.PUBLIC_BASE_URL ?? listen_url,
      ...(config.SIMULATORS_FILE === undefined ? {} : { shared_simulators: readSimulatorSettings(config.SIMULATORS_FILE) }),
    });
    closers.push(() => connectors.close());
    providers = connectors.providers;
    card_acquirer = connectors.card_acquirer;
    provider_sandboxes = { alipay: connectors.alipay_sandbox, wechat_pay: connectors.wechat_pay_sandbox };
    logger.info(
      { card: describeCardAcquirer(card_acquirer), alipay: describeProvider(providers.alipay), wechat_pay: describeProvider(providers.wechat_pay) },
      'payment providers',
    );
    const events = eventPublisher('payments');
    assert(events !== undefined, 'payments run only where their events can reach webhooks (remoteDependencies)');
    payments = new PaymentsService({
      database: await serviceDatabase('payments'),
      ledger: ledgerFor('payments'),
      connectors: platform_metrics.instrumentConnectors(connectors.by_method),
      wallet: walletFor('payments'),
      tokens: {
        tokenExists: async (tenant, token_id) => (await tokens.getToken(tenant, token_id)) !== undefined,
        claimToken: (tenant, token_id, claimant) => tokens.claimToken(tenant, token_id, claimant),
        releaseToken: (token_id, claimant) => tokens.releaseToken(token_id, claimant),
      },
      live_capabilities,
      events: {
        publish: (tenant, event) => events(tenant, { id: event.id, type: event.type, data: { object: { ...event.data.object } }, sequence: event.sequence, created: event.created }),
      },
      // A customer back from a 3-D Secure challenge or a provider's page is waiting on this: the
      // connectors here answer status questions cheaply, so ask often.
      action_poll_interval_ms: 1_000,
      capture_window_ms: config.PAYMENTS_CAPTURE_WINDOW_SECONDS * ms_per_second,
      fees: { basis_points: config.PAYMENTS_FEE_BPS, fixed_minor: BigInt(config.PAYMENTS_FEE_FIXED) },
      log: (level, message, fields) => logger[level]({ ...fields, service: 'payments' }, message),
    });
    await payments.start();
    const started = payments;
    closers.push(() => started.close());
    if (serves_remote_callers) registerRpcRoutes(app, payments_contract, payments, { authenticate: internal_authentication });
  }

  if (services.includes('gateway')) {
    const given_cache = options.cache;
    const cache = given_cache ?? openCache({ key_prefix: config.CACHE_KEY_PREFIX, ...(config.REDIS_URL === undefined ? {} : { redis_url: config.REDIS_URL }) });
    if (given_cache === undefined) closers.push(() => cache.close());
    server.readiness.add('cache', () => cache.ping());
    assert(idempotency_keys !== undefined, 'the key-encryption key is loaded whenever the gateway runs');
    await registerGateway(app, {
      identity: identityFor('gateway'),
      identity_is_remote: identity === undefined,
      wallet: walletFor('gateway'),
      ledger: ledgerFor('gateway'),
      payments: payments ?? remote.client('payments', payments_contract, 'gateway'),
      vault: vaultFor('gateway'),
      webhooks: webhooksFor('gateway'),
      cache,
      idempotency_keys,
      operator_key: operator_key.key,
      live_capabilities,
      rate_limit: { capacity: config.GATEWAY_RATE_LIMIT_BURST, refill_per_second: config.GATEWAY_RATE_LIMIT_PER_SECOND },
      ...(config.DASHBOARD_ORIGIN === undefined ? {} : { dashboard_origin: config.DASHBOARD_ORIGIN }),
    });
  }

  let listening: string;
  try {
    listening = await app.listen({ host: config.HOST, port: options.port ?? config.PORT });
  } catch (error) {
    // A port taken by someone else: close what was opened (the writer's fence, every database)
    // so that a caller that tries again, or the process's exit, finds nothing half-open.
    await app.close();
    for (const close of closers.reverse()) await close();
    throw error;
  }
  // Fastify names the scheme from its own https option; the TLS server here comes from a factory.
  const url = tls === undefined ? listening : listening.replace(/^http:/, 'https:');
  let metrics_url: string | undefined;
  if (config.METRICS_PORT !== undefined) {
    // Plain HTTP: the port is for the scraper on the internal network, not for the public.
    const metrics_server = createMetricsServer({ logger, registry: server.metrics.registry });
    try {
      metrics_url = await metrics_server.listen({ host: config.METRICS_HOST ?? config.HOST, port: config.METRICS_PORT });
    } catch (error) {
      await app.close();
      for (const close of closers.reverse()) await close();
      throw error;
    }
    closers.unshift(() => metrics_server.close());
  }
  return {
    url,
    metrics_url,
    config,
    operator_key,
    ledger_store,
    databases,
    providers,
    card_acquirer,
    provider_sandboxes,
    simulated_bank: bank,
    live_capabilities,
    key_source: keys?.source,
    inject: async (request) => app.inject(request),
    routes: server.routes,
    close: async () => {
      await app.close();
      for (const close of closers.reverse()) await close();
    },
  };
}

/** The card acquirer for the banner and the start-up log: never a key, a token or a path. */
export function describeCardAcquirer(endpoint: CardAcquirerEndpoint): string {
  if (endpoint.mode === 'simulator') return `simulator at ${endpoint.url} (test mode only)`;
  return `configured acquirer ${endpoint.host} (${endpoint.authentication.map((kind) => (kind === 'bearer' ? 'bearer secret' : 'mutual TLS')).join(' and ')})`;
}

/** One line per capability: `on: <what does the work>` or `off: needs <what is missing>`. */
export function describeLiveCapabilities(capabilities: LiveCapabilities): Record<string, string> {
  const described: Record<string, string> = {};
  for (const name of live_capability_names) {
    const capability = capabilities[name];
    described[name] = capability.status === 'active' ? `on: ${capability.adapter}` : `off: needs ${capability.missing}`;
  }
  return described;
}

/** A provider's mode for the banner and the start-up log: never a key, an id or a path. */
export function describeProvider(endpoint: ProviderEndpoint): string {
  return endpoint.mode === 'sandbox' ? `sandbox at ${endpoint.url} (test mode only)` : `configured endpoint ${endpoint.host}`;
}

/**
 * Operator routes take `Authorization: Bearer <operator key>`. Both sides are hashed before the
 * constant-time comparison so that neither their contents nor their lengths leak through timing.
 */
export function operatorAuthentication(operator_key: string): (request: FastifyRequest) => void {
  const expected = createHash('sha256').update(operator_key).digest();
  return (request) => {
    const header = request.headers.authorization;
    if (header === undefined) throw new ApiError('authentication_error', 'api_key_missing', 'No API key provided: send Authorization: Bearer <key>');
    const match = /^Bearer (\S+)$/.exec(header);
    const presented = createHash('sha256').update(match?.[1] ?? '').digest();
    if (match === null || !timingSafeEqual(presented, expected)) {
      throw new ApiError('authentication_error', 'api_key_invalid', 'Invalid API key provided');
    }
  };
}
