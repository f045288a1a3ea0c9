// @paygrid/ledger: a double-entry ledger with TigerBeetle's data model and semantics.
export { ledger_body_limit_bytes, list_limit_max, registerLedgerRoutes, type LedgerRoutesOptions } from './api';
export { LedgerService, type LedgerClient, type LedgerServiceOptions } from './service';
export {
  LedgerHttpClient,
  LedgerRequestError,
  http_client_lookup_ids_max,
  http_client_lookups_in_flight_max,
  http_client_queue_events_max,
  http_client_queue_ids_max,
  http_client_request_events_max,
  http_client_writes_in_flight_default,
  http_client_writes_in_flight_max,
  type LedgerHttpClientMetrics,
  type LedgerHttpClientOptions,
} from './http-client';
export { ledgerStoreLocation, describeLedgerStore, ledger_schema_default, migrateLedgerStore, openLedgerStore, type LedgerStoreLocation } from './open';
export { ShardAdditionRefused, ShardedLedger, migrateShardedLedger, coordinator_schema_default, two_phase_failpoints, type ShardAdditionReport, type ShardedLedgerOptions, type TwoPhaseFailpoint } from './sharding/sharded-ledger';
export { verifyShards, type ShardedVerifyReport } from './sharding/verify-shards';
export { createShardDatabases, preparedTransactions, withClient, type ShardDatabases } from './sharding/testing';
export { HashRing, shards_max, virtual_nodes_default, type ShardMap } from './sharding/ring';
export { ledger_migrations } from './migrations';
export { verifyLedger, type VerifyReport } from './verify';
export { LedgerWriter, LedgerUnavailableError, system_clock, type WriterClock, type WriterMetrics } from './writer';
export { LedgerStateMachine } from './state-machine';
export { SqliteLedgerStore, sqliteLedgerFileSnapshots } from './store-sqlite';
export { PostgresLedgerStore } from './store-postgres';
export type { AccountFilter, LedgerStore, QueryFilter } from './store';
export * from './types';
export * from './results';
export * from './result-codes';
export {
  account_layout,
  account_record_bytes,
  decodeAccountEvents,
  decodeIds,
  decodeResults,
  decodeTransferEvents,
  encodeAccounts,
  encodeIds,
  encodeResults,
  encodeTransfers,
  id_record_bytes,
  ledger_binary_media_type,
  result_layout,
  result_record_bytes,
  transfer_layout,
  transfer_record_bytes,
} from './binary-wire';
export { accountToWire, create_accounts_body_schema, create_transfers_body_schema, lookup_body_schema, transferToWire } from './wire';
export { AccountCode, TransferCode, control_ledger_offset, controlLedgerFor, derivedId, ledgerFor, merchantBalanceAccountId, merchantPlatformAccountId, sharedPlatformAccountId, test_ledger_offset, type AccountCodeName, type PlatformAccountRole, type TransferCodeName } from './chart';
