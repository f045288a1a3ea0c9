// `paygrid backup DIR` and `paygrid restore DIR`: argument handling, messages and exit codes. The
// work, and why it is done that way, is in backup.ts.
import { parseArgs } from 'node:util';
import { loadPlatformConfig } from '@paygrid/kernel';
import { BackupFailure, BackupRefusal, backupDataDir, postgres_backup_advice, restoreDataDir } from './backup';

export const backup_usage = `Usage: paygrid backup DIR [--json]

Copies every embedded (SQLite) database under DATA_DIR into DIR, a new or empty folder (made
0700), while the platform runs and takes traffic: SQLite's online backup from this process, every
service's database at one instant and the ledger's just after (docs/operations.md, "Backup and
restore"). Also copies the key-encryption key and the operator key when they are in DATA_DIR
(files 0600), and says loudly when the key-encryption key is elsewhere and NOT in the backup.
Writes DIR/manifest.json (every file's size and SHA-256, the time, the ledger's head hash) once
the ledger's copy has proved its hash chain and balances.

Exit codes: 0 the backup is complete; 1 it failed (nothing is kept); 2 refused (DIR not empty,
no ledger in DATA_DIR, DATABASE_URL set: PostgreSQL uses its own tools).

Options:
  --json   print the manifest as JSON`;

export const restore_usage = `Usage: paygrid restore DIR

Checks every file of the backup in DIR against its manifest (present, size, SHA-256, nothing
extra), then copies it into DATA_DIR, which must be new or empty (never a running platform's
folder), and verifies the restored ledger's hash chain and head. Start the platform on DATA_DIR
afterwards; the wallet rebuilds what it had not yet written from the ledger.

Exit codes: 0 restored and verified; 1 the backup does not match its manifest, or the restored
ledger does not verify (what was copied is removed); 2 refused (DATA_DIR not empty, DIR not a
backup, DATABASE_URL set).`;

function exitCodeOf(error: unknown, command: string): number {
  if (error instanceof BackupRefusal) {
    console.error(`paygrid ${command}: refused: ${error.message}`);
    return 2;
  }
  if (error instanceof BackupFailure) {
    console.error(`paygrid ${command}: FAILED: ${error.message}`);
    return 1;
  }
  throw error;
}

function oneFolder(positionals: readonly string[], usage: string): string | undefined {
  const [folder, ...rest] = positionals;
  if (folder === undefined || rest.length > 0) {
    console.error(usage);
    return undefined;
  }
  return folder;
}

export async function backupCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...args], allowPositionals: true, options: { json: { type: 'boolean' }, help: { type: 'boolean' } } });
  if (values.help === true) {
    console.log(backup_usage);
    return 0;
  }
  const target = oneFolder(positionals, backup_usage);
  if (target === undefined) return 2;
  const config = loadPlatformConfig(process.env);
  if (config.DATABASE_URL !== undefined) {
    console.error(`paygrid backup: refused: ${postgres_backup_advice}`);
    return 2;
  }
  try {
    const result = await backupDataDir({ data_dir: config.DATA_DIR, target_dir: target, env: process.env });
    const { manifest } = result;
    for (const warning of result.warnings) console.error(`paygrid backup: WARNING: ${warning}`);
    if (values.json === true) {
      console.log(JSON.stringify(manifest));
      return 0;
    }
    console.log(`backup complete in ${target}: ${manifest.files.length} files, snapshots at ${manifest.snapshot_time}`);
    console.log(`  order:        ${manifest.snapshot_order.join(', ')} (all but the ledger at one instant; writes paused ${manifest.write_pause_ms} ms)`);
    for (const file of manifest.files) console.log(`  ${file.name.padEnd(28)} ${String(file.bytes).padStart(12)} bytes  sha256 ${file.sha256}`);
    console.log(`  ledger:       verified: ${manifest.ledger.batches} batches, ${manifest.ledger.transfers} transfers; head ${manifest.ledger.head_hash}`);
    if (result.skipped.length > 0) console.log(`  not copied:   ${result.skipped.join(', ')} (neither databases nor keys)`);
    return 0;
  } catch (error) {
    return exitCodeOf(error, 'backup');
  }
}

export async function restoreCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...args], allowPositionals: true, options: { help: { type: 'boolean' } } });
  if (values.help === true) {
    console.log(restore_usage);
    return 0;
  }
  const source = oneFolder(positionals, restore_usage);
  if (source === undefined) return 2;
  const config = loadPlatformConfig(process.env);
  if (config.DATABASE_URL !== undefined) {
    console.error(`paygrid restore: refused: ${postgres_backup_advice}`);
    return 2;
  }
  try {
    const result = await restoreDataDir({ backup_dir: source, data_dir: config.DATA_DIR, env: process.env });
    console.log(`restored ${result.manifest.files.length} files into ${config.DATA_DIR} from the backup of ${result.manifest.snapshot_time}; every SHA-256 matched its manifest`);
    console.log(`  ledger:       verified: ${result.ledger.batches} batches, ${result.ledger.transfers} transfers; head ${result.ledger.head_hash ?? ''} as in the manifest`);
    for (const note of result.notes) console.error(`paygrid restore: NOTE: ${note}`);
    return 0;
  } catch (error) {
    return exitCodeOf(error, 'restore');
  }
}
