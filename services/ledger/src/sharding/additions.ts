// The durable record of shard additions: which map version added which shard, and whether its
// accounts have all been moved. A ledger that stops mid-addition resumes routing as it was (the
// accounts not yet moved still on their old shards) and `shards add` carries on from there.
import type pg from 'pg';
import type { ShardMap } from './ring';
import { saveShardMap } from './shard-map-store';

const create_additions_sql = `CREATE TABLE IF NOT EXISTS ledger_shard_additions (
  version INTEGER PRIMARY KEY,
  shard_index INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('moving', 'done')),
  started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  finished_at TIMESTAMPTZ
)`;

export interface AdditionRecord {
  readonly version: number;
  readonly shard_index: number;
  readonly state: 'moving' | 'done';
}

export async function migrateAdditions(pool: pg.Pool): Promise<void> {
  await pool.query(create_additions_sql);
}

export async function latestAddition(pool: pg.Pool): Promise<AdditionRecord | undefined> {
  const result = await pool.query<AdditionRecord>('SELECT version, shard_index, state FROM ledger_shard_additions ORDER BY version DESC LIMIT 1');
  return result.rows[0];
}

/**
 * Saves the next map version and records its addition as moving, in one transaction, so that a
 * map with a new shard never exists without the record that routes its accounts.
 */
export async function beginAddition(pool: pg.Pool, map: ShardMap, shard_index: number): Promise<'begun' | 'version_taken'> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    if ((await saveShardMap(client, map)) !== 'saved') {
      await client.query('ROLLBACK');
      return 'version_taken';
    }
    await client.query("INSERT INTO ledger_shard_additions (version, shard_index, state) VALUES ($1, $2, 'moving')", [map.version, shard_index]);
    await client.query('COMMIT');
    return 'begun';
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

export async function finishAddition(pool: pg.Pool, version: number): Promise<void> {
  await pool.query("UPDATE ledger_shard_additions SET state = 'done', finished_at = now() WHERE version = $1", [version]);
}

/** Every map version, oldest first. */
export async function allShardMaps(pool: pg.Pool): Promise<{ version: number; shard_indexes: number[]; virtual_nodes: number }[]> {
  const result = await pool.query<{ version: number; shard_indexes: number[]; virtual_nodes: number }>('SELECT version, shard_indexes, virtual_nodes FROM ledger_shard_maps ORDER BY version');
  return result.rows;
}
