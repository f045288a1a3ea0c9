// @paygrid/kernel: what every Paygrid service is built on.
//
// - assert: programmer errors only; never caught as a 4xx.
// - errors: the one wire shape `{ error: { type, code, message, param? } }`, a closed set of
//   types with one HTTP status each, and ApiError.
// - config: typed, validated environment variables; loadPlatformConfig() for the shared ones;
//   decideLiveCapabilities() for what live mode may do with real money.
// - logger: pino JSON lines with card data, secrets, keys and auth headers redacted, and the
//   active span's trace_id and span_id.
// - tracing: OpenTelemetry spans at our own ports, exported over OTLP/HTTP when
//   OTEL_EXPORTER_OTLP_ENDPOINT is set (startTracing); off and free otherwise.
// - http: createHttpServer({ logger }) returns { app, metrics: { registry }, readiness }:
//     app        a Fastify instance that parses JSON only, refuses floats, duplicate keys,
//                deep nesting and too many keys (json-text-scan.ts), refuses and hides card
//                numbers in URLs (url-card-guard.ts), maps every error to
//                the wire shape, and serves /healthz, /readyz and, only behind the
//                metrics_authenticate check it is given, /metrics;
//     metrics    the prom-client registry behind /metrics (add service metrics to it);
//     readiness  readiness.add(name, async () => {...}); /readyz runs every check;
//     routes     every route registered on it, for suites that must reach them all.
//   createMetricsServer({ logger, registry }) serves only /metrics, for a port of its own.
//   A request carrying `paygrid-deadline-ms` runs inside that deadline (transport/deadline.ts);
//   with tls.require_client_certificate the server refuses callers without a certificate from tls.ca.
// - transport (@paygrid/kernel/transport): the Upstream port and createHttpUpstream, the
//   load-balanced HTTP client services use to call each other in distributed mode.
// - db: openSqlite / createPostgresPool / connectPostgresClient for stores that need the
//   native driver (the ledger); versioned migrations for both dialects; and the generic
//   Database port (openDatabase) for ordinary services.
// - clock and ids: injectable time, and prefixed random ids.
// - validation: the request checks services share (amounts, currencies, text, idempotency keys,
//   plausible ids), each refusing with the same invalid_request_error everywhere.
// - saga: sagas declared as tables of steps (action, compensation, retries, timeout) and the
//   runner that leases their runs from the service's database, fences holders, resumes after a
//   crash and records every transition (saga/definition.ts, saga/runner.ts).
// - card-number: the Luhn check, the shape of a card number and the table of card networks, for
//   the vault, the card connectors and the gateway's guard against card numbers in ordinary requests;
//   card-number-text finds them inside text (separated by spaces, dots, slashes, invisible
//   characters; full-width digits), for that guard and for the HTTP server's URL guard.

export { AssertionError, assert, isAssertionError } from './assert';
export { ApiError, errorStatusByType, errorTypes, isErrorType, type ErrorType, type WireError } from './errors';

export {
  ConfigError,
  booleanVar,
  enumVar,
  integerVar,
  optional,
  pathVar,
  readVariables,
  redactUrlPassword,
  stringVar,
  urlVar,
  type Environment,
  type Variable,
} from './config/variables';
export { callable_service_names, loadPlatformConfig, log_levels, platform_variable_names, serviceUrlsVariable, type CallableServiceName, type LogLevel, type PlatformConfig } from './config/platform-config';
export {
  key_file_bytes_max,
  rsa_modulus_bits_min,
  wechat_pay_api_v3_key_bytes,
  type AlipayEndpointConfig,
  type WeChatPayEndpointConfig,
} from './config/providers';
export { card_acquirer_token_length_max, card_acquirer_token_length_min, type CardAcquirerEndpointConfig } from './config/card-acquirer';
export {
  decideLiveCapabilities,
  liveModeNotConfigured,
  live_capabilities_none,
  live_capability_labels,
  live_capability_names,
  payment_method_live_capability,
  requireLiveCapability,
  type BankLiveSupport,
  type LiveCapabilities,
  type LiveCapability,
  type LiveCapabilityName,
} from './config/live-capabilities';

export { createLogger, type CreateLoggerOptions, type Logger } from './logger';
export * from './tracing/index';
export { redactSecrets, redacted_field_names, redaction_censor } from './log-redaction';

export {
  createHttpServer,
  createMetricsServer,
  body_limit_bytes_default,
  hsts_max_age_seconds,
  incoming_deadline_ms_max,
  tls_version_min,
  type CreateHttpServerOptions,
  type CreateMetricsServerOptions,
  type HttpServer,
  type RegisteredRoute,
} from './http/server';
export { Readiness, readiness_check_timeout_ms, type ReadinessCheck, type ReadinessFailure } from './http/readiness';
export { http_request_duration_metric } from './http/metrics';
export { scanJsonText, type JsonLimits, type JsonTextProblem } from './http/json-text-scan';
export { json_depth_max, json_keys_max, json_limits_default, json_object_keys_max, rawBodyOf } from './http/json-body-parser';

export {
  folderOpenToOthersWarning,
  makePrivateDirectory,
  makePrivateFile,
  makeSqliteCompanionsPrivate,
  openSqlite,
  private_directory_mode,
  private_file_mode,
  sqlite_busy_timeout_ms,
  type SqliteOpenOptions,
} from './db/sqlite';
export { connectPostgresClient, createPostgresPool, postgresApplicationName, quoteIdentifier, schema_name_pattern, type PostgresClientOptions, type PostgresPoolOptions } from './db/postgres';
export { MigrationError, migrationChecksum, type Migration } from './db/migrations';
export { migrateSqlite } from './db/migrate-sqlite';
export { migratePostgres, migration_lock_class } from './db/migrate-postgres';
export { UnsafeIntegerError, type Database, type DatabaseLocation, type ServiceDatabase, type TransactionOptions } from './db/database';
export { toPostgresPlaceholders } from './db/placeholders';
export { createSqliteDatabase, type SqliteDatabaseOptions } from './db/sqlite-database';
export { WalDurabilityError, type SyncFile } from './db/wal-sync';
export { startWorkerFile } from './worker-thread';
export { createPostgresDatabase } from './db/postgres-database';
export { isDatabaseUnavailableError } from './db/unavailable';
export { GroupCommitter, group_commit_units_max } from './db/group-commit';
export { appendOnlyTriggers, rowChunks, row_chunk_sizes, rowLockClause, valuesPlaceholders } from './db/sql-helpers';
export { describeDatabaseLocation, openDatabase, resolveDatabaseLocation, type OpenDatabaseOptions } from './db/open-database';

export { ManualClock, systemClock, type Clock } from './clock';
export { randomId, type RandomBytes } from './ids';

export { selectPage, page_limit_default, page_limit_max, type Page, type PageRequest, type SelectPageOptions } from './pagination';
export type { Tenant } from './tenancy';
export type { Cache, TokenBucket, TokenTaken } from './cache/cache';
export { openCache, createMemoryCache, createRedisCache } from './cache/index';
export type { MemoryCacheOptions, OpenCacheOptions, RedisCacheOptions } from './cache/index';
export {
  appendOutboxEvent,
  appendOutboxEvents,
  outboxMigration,
  outboxTraceContextMigration,
  outbox_relay_batch_max,
  relayOutbox,
  pruneOutbox,
  publishPass,
  outbox_prune_batch_max,
  type OutboxEvent,
  type OutboxPublisher,
  type PublishedEvent,
} from './outbox';
export * from './saga/index';
export {
  checkAmount,
  checkCurrency,
  checkIdempotencyKey,
  checkText,
  idempotency_key_length_max,
  invalidRequest,
  isPlausibleId,
  object_id_length_max,
} from './validation';
export {
  card_networks,
  card_number_length_max,
  card_number_length_min,
  card_number_ranges,
  cardNetworkOf,
  isIssuedCardNumber,
  isWellFormedCardNumber,
  luhnValid,
  type CardNetwork,
  type CardNumberRange,
} from './card-number';
export { card_number_separator_run_max, containsCardNumber, redactCardNumbers } from './card-number-text';
