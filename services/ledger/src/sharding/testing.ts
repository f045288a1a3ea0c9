// Test support for the sharded ledger: shards are databases of their own on the test server.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { quoteIdentifier } from '@paygrid/kernel';

export interface ShardDatabases {
  readonly urls: readonly string[];
  /** Rolls back whatever is left prepared in them, then drops them. */
  drop(): Promise<void>;
}

function databaseUrl(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Runs `work` on a connection of its own to `url`, closed afterwards whatever happens. */
export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates `count` empty databases on the server of `admin_url`, named uniquely for this run. */
export async function createShardDatabases(admin_url: string, count: number): Promise<ShardDatabases> {
  const stem = `pgl_${randomBytes(5).toString('hex')}`;
  const names = Array.from({ length: count }, (_unused, index) => `${stem}_${index}`);
  await withClient(admin_url, async (client) => {
    for (const name of names) await client.query(`CREATE DATABASE ${quoteIdentifier(name)}`);
  });
  return {
    urls: names.map((name) => databaseUrl(admin_url, name)),
    drop: async () => {
      for (const name of names) {
        // A prepared transaction belongs to its database and blocks dropping it: finish it there.
        await withClient(databaseUrl(admin_url, name), async (client) => {
          const prepared = await client.query<{ gid: string }>('SELECT gid FROM pg_prepared_xacts WHERE database = current_database()');
          for (const { gid } of prepared.rows) await client.query(`ROLLBACK PREPARED '${gid.replaceAll("'", "''")}'`);
        }).catch(() => undefined);
        await withClient(admin_url, (client) => client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`));
      }
    },
  };
}

/** The prepared transactions left in one database. */
export async function preparedTransactions(url: string): Promise<string[]> {
  return withClient(url, async (client) => (await client.query<{ gid: string }>('SELECT gid FROM pg_prepared_xacts WHERE database = current_database() ORDER BY prepared')).rows.map((row) => row.gid));
}
