// The two-phase commit coordinator's decision log. A round of transfers between shards is
// prepared on every shard it touches; the coordinator then writes "commit" here, durably, and only
// then commits the prepared transactions. A round with no row here was never decided: recovery
// rolls its prepared transactions back (presumed abort). Rows of rounds whose commits all finished
// are deleted in the transaction that decides the next round, so the log stays a few rows long.
import type pg from 'pg';
import { assert } from '@paygrid/kernel';

const create_decisions_sql = `CREATE TABLE IF NOT EXISTS ledger_2pc_decisions (
  round TEXT PRIMARY KEY,
  decided_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`;

/** Prefix of every prepared transaction id a ledger's coordinator makes. */
export function gidPrefix(ledger_id: string): string {
  return `pgl:${ledger_id}:`;
}

/** The prepared transaction id of one round on one shard: `pgl:<ledger>:<round>:<shard>`. */
export function gidOf(ledger_id: string, round: string, shard: number): string {
  return `${gidPrefix(ledger_id)}${round}:${shard}`;
}

/** The round a prepared transaction id names, if it is one of this ledger's. */
export function roundOfGid(ledger_id: string, gid: string): string | undefined {
  const prefix = gidPrefix(ledger_id);
  if (!gid.startsWith(prefix)) return undefined;
  const rest = gid.slice(prefix.length);
  const separator = rest.lastIndexOf(':');
  return separator <= 0 ? undefined : rest.slice(0, separator);
}

export class DecisionLog {
  constructor(private readonly pool: pg.Pool) {}

  static async migrate(pool: pg.Pool): Promise<void> {
    await pool.query(create_decisions_sql);
  }

  /**
   * Decides `round` for commit, durably, and forgets the rounds whose commits have all finished.
   * Throws if the outcome is unknown (the connection broke): the caller must then ask `isCommitted`.
   */
  async decideCommit(round: string, finished: readonly string[]): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      if (finished.length > 0) await client.query('DELETE FROM ledger_2pc_decisions WHERE round = ANY($1::text[])', [finished]);
      const inserted = await client.query('INSERT INTO ledger_2pc_decisions (round) VALUES ($1)', [round]);
      assert(inserted.rowCount === 1, 'a round is decided once');
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async isCommitted(round: string): Promise<boolean> {
    const result = await this.pool.query('SELECT 1 FROM ledger_2pc_decisions WHERE round = $1', [round]);
    return result.rowCount === 1;
  }

  /** After recovery has finished every prepared transaction, no decision is needed any more. */
  async forgetAll(): Promise<number> {
    const result = await this.pool.query('DELETE FROM ledger_2pc_decisions');
    return result.rowCount ?? 0;
  }
}
