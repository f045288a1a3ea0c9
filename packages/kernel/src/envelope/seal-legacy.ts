// Sealing what an earlier version kept in plain text, as identity, webhooks and the wallet do at
// start for their secrets and account numbers.
import type { Database } from '../db/database';

/** What one batch of `sealLegacyRows` did: how many rows it sealed, and whether more may be left. */
export interface LegacyBatch {
  readonly count: number;
  readonly more: boolean;
}

/**
 * Seals the rows an earlier version kept in plain text, one batch per transaction, until
 * `sealBatch` says none is left. On SQLite, freed bytes are zeroed while it works (secure_delete),
 * and once anything was sealed the file is rebuilt (VACUUM) and its write-ahead log emptied, so
 * that no plain text stays behind in free pages or in the log. Returns how many rows it sealed.
 */
export async function sealLegacyRows(database: Database, sealBatch: (transaction: Database) => Promise<LegacyBatch>): Promise<number> {
  if (database.dialect === 'sqlite') await database.execute('PRAGMA secure_delete = ON');
  let sealed = 0;
  for (;;) {
    const batch = await database.transaction(sealBatch);
    sealed += batch.count;
    if (!batch.more) break;
  }
  if (sealed > 0 && database.dialect === 'sqlite') {
    await database.execute('VACUUM');
    await database.execute('PRAGMA wal_checkpoint(TRUNCATE)');
  }
  return sealed;
}
