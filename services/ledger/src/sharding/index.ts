// Sharding of the ledger: which shard holds an account (the ring), and the durable shard map
// and identities the shards and their coordinator agree on.
export { HashRing, accountPosition, movedAccounts, pointPosition, shard_map_version_max, shards_max, validateShardMap, virtual_nodes_default, virtual_nodes_max, type ShardMap } from './ring';
export { claimShardIdentity, latestShardMap, migrateShardMapStore, readLedgerIdentity, readShardIdentity, saveShardMap } from './shard-map-store';
