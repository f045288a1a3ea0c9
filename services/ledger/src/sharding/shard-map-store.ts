import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { assert } from '@paygrid/kernel';
import { shards_max, validateShardMap, type ShardMap } from './ring';

// The shard map's versions and the ledger's identity live in the coordinator's schema (in the
// first shard's database); each shard's own database records which shard it is. Every function
// here uses the pool's schema: the caller makes the pool with `createPostgresPool`, whose
// search_path is that schema and whose connections all have an error listener.
//
// The tables are created by plain idempotent statements rather than by `migratePostgres`: the
// shard identity table sits in the ledger's own schema, whose `schema_migrations` belong to the
// ledger's migrations, and a second list of migrations there would be refused as unknown.

/**
 * The first key of the two-key advisory lock that serializes creating these tables ("PGSH" in
 * ASCII); the second is a hash of the schema name. Two processes starting at once would
 * otherwise race on `CREATE TABLE IF NOT EXISTS`, and the loser fail with a duplicate error.
 */
const shard_tables_lock_class = 0x50475348;
const lock_sql = "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))";

/** 8 random bytes: two ledgers sharing a PostgreSQL server get the same id with odds of 1 in 2^64. */
const ledger_id_bytes = 8;
const ledger_id_pattern = /^[0-9a-f]{16}$/;

const shard_map_tables_sql = [
  `CREATE TABLE IF NOT EXISTS ledger_shard_maps (
  version INTEGER PRIMARY KEY,
  shard_indexes INTEGER[] NOT NULL,
  virtual_nodes INTEGER NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`,
  `CREATE TABLE IF NOT EXISTS ledger_identity (
  singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
  ledger_id TEXT NOT NULL
)`,
];

const shard_identity_table_sql = `CREATE TABLE IF NOT EXISTS ledger_shard_identity (
  singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
  ledger_id TEXT NOT NULL,
  shard_index INTEGER NOT NULL
)`;

interface ShardMapRow {
  version: number;
  shard_indexes: number[];
  virtual_nodes: number;
}

interface ShardIdentityRow {
  ledger_id: string;
  shard_index: number;
}

async function createTables(pool: pg.Pool, statements: readonly string[]): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    try {
      await client.query(lock_sql, [shard_tables_lock_class]);
      for (const statement of statements) await client.query(statement);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  } finally {
    client.release();
  }
}

/** Creates, if missing, the tables of shard-map versions and of the ledger's identity in the pool's schema. */
export async function migrateShardMapStore(pool: pg.Pool): Promise<void> {
  await createTables(pool, shard_map_tables_sql);
}

/**
 * The ledger's id: 16 hex characters made at the first start and never changed. It prefixes
 * two-phase-commit transaction ids, so that two ledgers sharing a PostgreSQL server never take
 * each other's prepared transactions for their own. Concurrent first starts agree: each offers
 * an id, the first insert wins, and all read the winner's.
 */
export async function readLedgerIdentity(pool: pg.Pool): Promise<string> {
  const offered = randomBytes(ledger_id_bytes).toString('hex');
  await pool.query('INSERT INTO ledger_identity (ledger_id) VALUES ($1) ON CONFLICT (singleton) DO NOTHING', [offered]);
  const result = await pool.query<{ ledger_id: string }>('SELECT ledger_id FROM ledger_identity');
  const ledger_id = result.rows[0]?.ledger_id;
  assert(ledger_id !== undefined, 'ledger_identity has a row after the insert');
  assert(ledger_id_pattern.test(ledger_id), `ledger_identity holds a malformed ledger id "${ledger_id}"`);
  return ledger_id;
}

/** The newest shard map, or undefined before the first is saved. */
export async function latestShardMap(pool: pg.Pool): Promise<ShardMap | undefined> {
  const result = await pool.query<ShardMapRow>('SELECT version, shard_indexes, virtual_nodes FROM ledger_shard_maps ORDER BY version DESC LIMIT 1');
  const row = result.rows[0];
  if (row === undefined) return undefined;
  const map: ShardMap = { version: row.version, shard_indexes: row.shard_indexes, virtual_nodes: row.virtual_nodes };
  // Every map was validated before it was saved, so a failure here means the table was edited by hand.
  const problem = validateShardMap(map);
  assert(problem === undefined, `ledger_shard_maps version ${row.version} is invalid: ${problem ?? ''}`);
  return map;
}

/**
 * Saves the next version of the shard map. A compare-and-set: it is saved only when its version
 * is exactly one more than the latest (1 when there is none), and two writers racing for the
 * same version get one 'saved' and one 'version_taken'. The condition and the insert are one
 * statement, and the primary key settles a tie: the loser waits for the winner's commit, then
 * inserts nothing. A version further ahead skips versions, which no caller that read the latest
 * map can produce, so it throws, as does an invalid map.
 */
export async function saveShardMap(pool: pg.Pool | pg.PoolClient, map: ShardMap): Promise<'saved' | 'version_taken'> {
  const problem = validateShardMap(map);
  if (problem !== undefined) throw new Error(`cannot save an invalid shard map: ${problem}`);
  const inserted = await pool.query(
    `INSERT INTO ledger_shard_maps (version, shard_indexes, virtual_nodes)
     SELECT $1::integer, $2::integer[], $3::integer WHERE $1::integer = coalesce((SELECT max(version) FROM ledger_shard_maps), 0) + 1
     ON CONFLICT (version) DO NOTHING`,
    [map.version, [...map.shard_indexes], map.virtual_nodes],
  );
  if (inserted.rowCount === 1) return 'saved';
  const latest = await pool.query<{ version: number | null }>('SELECT max(version) AS version FROM ledger_shard_maps');
  const latest_version = latest.rows[0]?.version ?? 0;
  if (map.version > latest_version + 1) {
    throw new Error(`cannot save shard map version ${map.version}: the latest is ${latest_version}, and versions increase by one`);
  }
  return 'version_taken';
}

function checkShardIdentityArguments(ledger_id: string, shard_index: number): void {
  assert(ledger_id_pattern.test(ledger_id), `a ledger id is 16 lower-case hex characters (got "${ledger_id}")`);
  assert(Number.isSafeInteger(shard_index) && shard_index >= 0 && shard_index < shards_max, `shard index must be 0..${shards_max - 1} (got ${shard_index})`);
}

/**
 * Records in a shard's database which shard of which ledger it is, or checks the record made
 * before. Shards are configured as a list of URLs, and a list given in another order would send
 * accounts to the wrong database; this refuses to start instead.
 */
export async function claimShardIdentity(pool: pg.Pool, ledger_id: string, shard_index: number): Promise<void> {
  checkShardIdentityArguments(ledger_id, shard_index);
  await createTables(pool, [shard_identity_table_sql]);
  await pool.query('INSERT INTO ledger_shard_identity (ledger_id, shard_index) VALUES ($1, $2) ON CONFLICT (singleton) DO NOTHING', [ledger_id, shard_index]);
  const claimed = await readShardIdentity(pool);
  assert(claimed !== undefined, 'ledger_shard_identity has a row after the insert');
  if (claimed.ledger_id !== ledger_id) {
    throw new Error(
      `this database is shard ${claimed.shard_index} of ledger ${claimed.ledger_id}, not of ledger ${ledger_id}: each shard URL must name a database of this ledger`,
    );
  }
  if (claimed.shard_index !== shard_index) {
    throw new Error(
      `this database is shard ${claimed.shard_index} of ledger ${claimed.ledger_id}, not shard ${shard_index}: LEDGER_SHARD_URLS must list shards in the order they were created`,
    );
  }
}

/** Which shard of which ledger this database is, or undefined when it was never claimed. */
export async function readShardIdentity(pool: pg.Pool): Promise<{ ledger_id: string; shard_index: number } | undefined> {
  // to_regclass resolves the name through the search_path, that is in the pool's schema.
  const exists = await pool.query<{ found: boolean }>("SELECT to_regclass('ledger_shard_identity') IS NOT NULL AS found");
  if (exists.rows[0]?.found !== true) return undefined;
  const result = await pool.query<ShardIdentityRow>('SELECT ledger_id, shard_index FROM ledger_shard_identity');
  const row = result.rows[0];
  if (row === undefined) return undefined;
  return { ledger_id: row.ledger_id, shard_index: row.shard_index };
}
