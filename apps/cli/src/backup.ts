// `paygrid backup DIR` and `paygrid restore DIR`: an online copy of every embedded (SQLite)
// database under DATA_DIR while the platform runs, and its return into a new data folder.
//
// Why the copies are taken the way they are (decision 84):
//
// Each copy uses SQLite's online backup API from this process, reading from a read transaction
// of its own. In WAL mode a read transaction sees the database as of its first read, whatever the
// platform commits meanwhile, and never blocks the platform's writer or its checkpoints (a
// checkpoint simply stops short of the frames this reader still needs, so the log grows until the
// copy ends). Because the snapshot is pinned, the copy can take as long as it takes: it is one
// instant of that file.
//
// Across files there is no single instant for free, and the services' databases point at each
// other and at the ledger in both directions:
// - rows written after a ledger commit name it (the wallet's projection and its cursor, a payment
//   attempt whose money step is done, a wallet refund answered to payments): their file must not
//   be newer than the ledger's copy, or the restored platform would show money the ledger lacks
//   (and the wallet's start asserts that its cursor names a transfer the ledger has);
// - ledger transfers whose own record is written before them (a payment attempt is durable
//   before its provider is called; a recorded wallet operation before its chain; a wallet before
//   its first movement): the ledger's copy must not be newer than that record's, or money would
//   sit in the restored books with no operation to explain it;
// - services name each other (payments name vault tokens and wallet operations, the wallet names
//   payment intents, an outbox event marked published is in webhooks' inbox): no order of copies
//   satisfies every pair.
// So the snapshots are pinned at one instant for every service but the ledger: this process takes
// the write lock of every non-ledger database at once (BEGIN IMMEDIATE, never waiting while it
// holds one: a lock it cannot have at once makes it let go of all and try again), pins a read
// snapshot of each (all the same instant, since none can commit), then pins the ledger's, then
// lets go. The ledger is never locked: its writer keeps committing, and its snapshot is taken
// after the others'. Then both directions hold: a row that names a ledger commit was written
// before the locks, so that commit is in the ledger's later snapshot; a ledger transfer in that
// snapshot whose record precedes it had that record committed before the locks (nothing could
// commit while they were held), so the record is in the others' snapshot. Ledger transfers
// committed while the locks were held are the wallet's projected movements, whose rows the
// wallet's start rebuilds from the ledger (decision 51) as after any crash. The platform's writes
// to those databases wait (SQLite's busy timeout, 5 s) for the pause, which lasts the time of a
// few reads; the manifest records it.
//
// The key files are read before the locks and again after; a rotation in between (the files
// changed) fails the backup, since the copies might be wrapped by a key the backup would not hold.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, open as openFile, readFile, readdir, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { constants as fs_constants } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import Database from 'better-sqlite3';
import { makePrivateDirectory, private_directory_mode, private_file_mode, sqlite_busy_timeout_ms } from '@paygrid/kernel';
import { key_encryption_key_file_name, key_encryption_key_file_variable, key_encryption_key_variable, previous_key_file_suffix } from '@paygrid/kernel/envelope';
import { sqliteLedgerFileSnapshots, verifyLedger, type VerifyReport } from '@paygrid/ledger';

export const backup_manifest_file_name = 'manifest.json';
export const backup_manifest_format = 'paygrid-backup/1';
/** The ledger's file in DATA_DIR (services/ledger/src/open.ts). */
export const ledger_file_name = 'ledger.sqlite';
const operator_key_file_name = 'operator.key';
const database_suffix = '.sqlite';
/** A copy being written; renamed to its name once complete, so a half-written file never looks whole. */
const partial_suffix = '.partial';

/** Tries at taking every non-ledger write lock at once before the backup gives up. */
export const write_lock_attempts_max = 200;
/** The longest wait between two tries, in milliseconds; each wait is random up to it, so two backups or a busy writer do not meet in step. */
export const write_lock_retry_delay_ms_max = 25;
/** Pages copied per step of SQLite's backup: nothing else runs in this process, so the steps are large. */
export const backup_step_pages = 4_096;

export type BackupFileKind = 'database' | 'key_encryption_key' | 'previous_key_encryption_key' | 'operator_key';

export interface BackupFileEntry {
  /** Relative to the backup folder and to DATA_DIR: a name, or names joined by `/` for a key file in a subfolder of DATA_DIR. */
  readonly name: string;
  readonly kind: BackupFileKind;
  readonly bytes: number;
  readonly sha256: string;
}

export interface BackupManifest {
  readonly format: typeof backup_manifest_format;
  /** When the snapshots were pinned (ISO 8601). */
  readonly snapshot_time: string;
  /** When the backup was complete. */
  readonly completed_time: string;
  readonly source_data_dir: string;
  /** Databases in the order their snapshots were pinned; all but the last at one instant, under their write locks. */
  readonly snapshot_order: readonly string[];
  /** How long the platform's writes to the non-ledger databases were held, in milliseconds. */
  readonly write_pause_ms: number;
  readonly ledger: { readonly file: string; readonly batches: number; readonly accounts: number; readonly transfers: number; readonly head_hash: string };
  readonly keys: {
    /** `included`, or where the key is instead (it is then not in this backup). */
    readonly vault_kek: 'included' | 'environment' | 'file_outside_data_dir' | 'absent';
    readonly vault_kek_file?: string;
    readonly operator_key: 'included' | 'environment' | 'absent';
  };
  readonly files: readonly BackupFileEntry[];
}

/** Refused before anything was written: the command was asked for something it must not do (exit 2). */
export class BackupRefusal extends Error {
  override name = 'BackupRefusal';
}

/** Failed on the way: what it wrote is removed, and nothing claims success (exit 1). */
export class BackupFailure extends Error {
  override name = 'BackupFailure';
}

/** What a PostgreSQL installation uses instead; the commands say it rather than copy nothing. */
export const postgres_backup_advice =
  'DATABASE_URL is set: the data is in PostgreSQL, which this command does not copy. Use PostgreSQL\'s own tools: ' +
  'pg_basebackup with WAL archiving (point-in-time recovery) for the cluster, which restores every service\'s schema at one instant, ' +
  'or pg_dump --serializable-deferrable of the database for a logical copy of every paygrid_* schema in one snapshot. ' +
  'See "Backup and restore" in docs/operations.md (with services on several clusters, the order matters there).';

interface KeyFileCopy {
  readonly name: string;
  readonly kind: BackupFileKind;
  readonly content: Buffer;
}

interface KeyPlan {
  readonly files: readonly KeyFileCopy[];
  readonly vault_kek: BackupManifest['keys']['vault_kek'];
  readonly vault_kek_file?: string;
  readonly operator_key: BackupManifest['keys']['operator_key'];
}

export interface BackupOptions {
  readonly data_dir: string;
  readonly target_dir: string;
  /** PAYGRID_VAULT_KEK, PAYGRID_VAULT_KEK_FILE and PAYGRID_OPERATOR_KEY are read from it, as the platform reads them. */
  readonly env: NodeJS.ProcessEnv;
  readonly now?: () => Date;
}

export interface BackupResult {
  readonly manifest: BackupManifest;
  /** Things the operator must hear, loudly: a key that is not in the backup. */
  readonly warnings: readonly string[];
  /** Files in DATA_DIR that are not copied (not databases, not keys). */
  readonly skipped: readonly string[];
}

function isErrorCode(error: unknown, code: string): boolean {
  return error instanceof Error && 'code' in error && error.code === code;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Waits `ms` milliseconds. */
function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

async function sha256File(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    const buffer = chunk as Buffer;
    bytes += buffer.length;
    hash.update(buffer);
  }
  return { sha256: hash.digest('hex'), bytes };
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await openFile(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A folder that is missing, or empty; anything else is refused, since a backup or restore must never mix with other files. */
async function emptyOrMissing(path: string): Promise<'missing' | 'empty' | 'not_empty' | 'not_a_folder'> {
  try {
    const status = await stat(path);
    if (!status.isDirectory()) return 'not_a_folder';
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) return 'missing';
    throw error;
  }
  return (await readdir(path)).length === 0 ? 'empty' : 'not_empty';
}

/** Whether `inner` is `outer` or inside it, after resolving links (of the parts that exist). */
async function isInside(inner: string, outer: string): Promise<boolean> {
  const real = async (path: string): Promise<string> => {
    try {
      return await realpath(path);
    } catch (error) {
      if (!isErrorCode(error, 'ENOENT')) throw error;
      return join(await real(dirname(path)), relative(dirname(path), path));
    }
  };
  const [real_inner, real_outer] = [await real(resolve(inner)), await real(resolve(outer))];
  return real_inner === real_outer || real_inner.startsWith(`${real_outer}${sep}`);
}

async function readIfPresent(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) return undefined;
    throw error;
  }
}

/**
 * Which keys go into the backup, read now: the key-encryption key (and the previous one a rotation
 * in progress keeps beside it) when its file is in DATA_DIR, and DATA_DIR/operator.key.
 */
async function planKeys(data_dir: string, env: NodeJS.ProcessEnv): Promise<KeyPlan> {
  const files: KeyFileCopy[] = [];
  const given = (value: string | undefined) => (value === undefined || value === '' ? undefined : value);
  let vault_kek: KeyPlan['vault_kek'];
  let vault_kek_file: string | undefined;
  if (given(env[key_encryption_key_variable]) !== undefined) {
    vault_kek = 'environment';
  } else {
    const named = given(env[key_encryption_key_file_variable]);
    const path = named === undefined ? join(data_dir, key_encryption_key_file_name) : resolve(named);
    vault_kek_file = path;
    if (!(await isInside(path, data_dir))) {
      vault_kek = 'file_outside_data_dir';
    } else {
      const name = relative(await realpath(data_dir), await realpathOrSelf(path)).split(sep).join('/');
      const current = await readIfPresent(path);
      if (current === undefined) {
        vault_kek = 'absent';
      } else {
        vault_kek = 'included';
        files.push({ name, kind: 'key_encryption_key', content: current });
        const previous = await readIfPresent(`${path}${previous_key_file_suffix}`);
        if (previous !== undefined) files.push({ name: `${name}${previous_key_file_suffix}`, kind: 'previous_key_encryption_key', content: previous });
      }
    }
  }
  const operator_key = await readIfPresent(join(data_dir, operator_key_file_name));
  if (operator_key !== undefined) files.push({ name: operator_key_file_name, kind: 'operator_key', content: operator_key });
  return {
    files,
    vault_kek,
    ...(vault_kek_file === undefined ? {} : { vault_kek_file }),
    operator_key: operator_key !== undefined ? 'included' : given(env.PAYGRID_OPERATOR_KEY) !== undefined ? 'environment' : 'absent',
  };
}

async function realpathOrSelf(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) return path;
    throw error;
  }
}

function sameKeys(before: KeyPlan, after: KeyPlan): boolean {
  if (before.files.length !== after.files.length) return false;
  return before.files.every((file, index) => {
    const other = after.files[index];
    return other !== undefined && other.name === file.name && other.content.equals(file.content);
  });
}

interface Pinned {
  readonly name: string;
  readonly file: string;
  readonly snapshot: Database.Database;
}

/** A connection that reads only; its read transaction is the snapshot a copy is taken from. */
function openSnapshotConnection(file: string): Database.Database {
  const connection = new Database(file, { fileMustExist: true });
  try {
    connection.pragma('query_only = ON');
    connection.pragma(`busy_timeout = ${sqlite_busy_timeout_ms}`);
    const journal_mode: unknown = connection.pragma('journal_mode', { simple: true });
    // A file in rollback-journal mode cannot be read beside a writer without blocking it; every
    // file Paygrid opens is in WAL mode (packages/kernel/src/db/sqlite.ts).
    if (journal_mode !== 'wal') throw new BackupRefusal(`${file} is not in WAL mode (journal_mode ${String(journal_mode)}): not a database Paygrid opened`);
    return connection;
  } catch (error) {
    connection.close();
    throw error;
  }
}

/** Starts a read transaction and reads, which fixes its snapshot at this instant. */
function pin(connection: Database.Database): void {
  connection.exec('BEGIN');
  connection.prepare('SELECT count(*) FROM sqlite_master').get();
}

/**
 * Holds the write lock of every file in `locks` at once and runs `work` under them, then lets go.
 * A lock that is not free at once makes it let go of those it holds and try again later, so this
 * process never waits for a lock while holding one (the platform's main thread, blocked on one of
 * ours, could be holding another that we would wait for).
 */
async function underWriteLocks(locks: readonly Database.Database[], work: () => void): Promise<number> {
  for (let attempt = 1; attempt <= write_lock_attempts_max; attempt += 1) {
    const held: Database.Database[] = [];
    let busy = false;
    const started = process.hrtime.bigint();
    try {
      for (const lock of locks) {
        try {
          lock.exec('BEGIN IMMEDIATE');
          held.push(lock);
        } catch (error) {
          if (!isErrorCode(error, 'SQLITE_BUSY')) throw error;
          busy = true;
          break;
        }
      }
      if (!busy) work();
    } finally {
      for (const lock of held) lock.exec('ROLLBACK');
    }
    if (!busy) return Number(process.hrtime.bigint() - started) / 1e6;
    await sleep(1 + Math.random() * write_lock_retry_delay_ms_max);
  }
  throw new BackupFailure(`could not hold every service's write lock at once in ${write_lock_attempts_max} tries; the platform is writing without pause. Try again`);
}

/** Copies a pinned snapshot to `target`, then makes the copy one self-contained file and checks it. */
async function copySnapshot(pinned: Pinned, target: string): Promise<void> {
  await pinned.snapshot.backup(target, { progress: () => backup_step_pages });
  // The copy carries the source's WAL flag in its header; a restored file needs no log beside it.
  const copy = new Database(target, { fileMustExist: true });
  try {
    copy.pragma('journal_mode = DELETE');
    const check: unknown = copy.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new BackupFailure(`the copy of ${pinned.name} fails SQLite's check: ${String(check)}`);
  } finally {
    copy.close();
  }
  await chmod(target, private_file_mode);
  await fsyncPath(target);
}

async function writePrivateFile(path: string, content: Buffer | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: private_directory_mode });
  await writeFile(path, content, { mode: private_file_mode, flag: 'wx' });
  await chmod(path, private_file_mode);
  await fsyncPath(path);
}

function describeVerifyFailure(report: VerifyReport): string {
  return `${report.bad_batch === undefined ? '' : `at batch ${report.bad_batch}: `}${report.problem ?? 'unknown problem'}`;
}

/** `paygrid backup DIR`: see the header. Writes every copy, the keys found in DATA_DIR and the manifest into an empty or new `target_dir`. */
export async function backupDataDir(options: BackupOptions): Promise<BackupResult> {
  const now = options.now ?? (() => new Date());
  const data_dir = resolve(options.data_dir);
  const target_dir = resolve(options.target_dir);
  const source_state = await emptyOrMissing(data_dir);
  if (source_state === 'missing' || source_state === 'not_a_folder') throw new BackupRefusal(`DATA_DIR ${data_dir} is not a folder`);
  const entries = (await readdir(data_dir, { withFileTypes: true })).filter((entry) => entry.isFile());
  const databases = entries.map((entry) => entry.name).filter((name) => name.endsWith(database_suffix)).sort();
  if (!databases.includes(ledger_file_name)) throw new BackupRefusal(`DATA_DIR ${data_dir} holds no ${ledger_file_name}: not a Paygrid data folder (or the platform never started there)`);
  if (await isInside(target_dir, data_dir)) throw new BackupRefusal(`the backup folder ${target_dir} is inside DATA_DIR ${data_dir}; put it elsewhere`);
  const target_state = await emptyOrMissing(target_dir);
  if (target_state === 'not_a_folder') throw new BackupRefusal(`${target_dir} exists and is not a folder`);
  if (target_state === 'not_empty') throw new BackupRefusal(`the backup folder ${target_dir} is not empty; give a new or empty folder (a backup never mixes with other files)`);

  const keys_before = await planKeys(data_dir, options.env);
  const key_names = new Set(keys_before.files.map((file) => file.name.split('/')[0]));
  const skipped = entries
    .map((entry) => entry.name)
    .filter((name) => !name.endsWith(database_suffix) && !key_names.has(name) && !/\.sqlite-(wal|shm|journal|writer)$/.test(name) && !/\.sqlite-writer-journal$/.test(name))
    .sort();

  if (target_state === 'missing') makePrivateDirectory(target_dir);
  // The folder holds keys and every customer's data: the owner's alone, whatever it was.
  await chmod(target_dir, private_directory_mode);
  const written: string[] = [];
  const services = databases.filter((name) => name !== ledger_file_name);
  const pinned: Pinned[] = [];
  const locks: Database.Database[] = [];
  try {
    for (const name of [...services, ledger_file_name]) pinned.push({ name, file: join(data_dir, name), snapshot: openSnapshotConnection(join(data_dir, name)) });
    for (const name of services) {
      const lock = new Database(join(data_dir, name), { fileMustExist: true });
      lock.pragma('busy_timeout = 0');
      locks.push(lock);
    }
    const snapshot_time = now();
    // Every non-ledger snapshot at one instant under the write locks, the ledger's after them (see the header).
    const write_pause_ms = await underWriteLocks(locks, () => {
      for (const entry of pinned) pin(entry.snapshot);
    });
    for (const lock of locks.splice(0)) lock.close();

    const keys_after = await planKeys(data_dir, options.env);
    if (!sameKeys(keys_before, keys_after)) {
      throw new BackupFailure('the key files in DATA_DIR changed while the snapshots were taken (a key rotation ran): the copies could be wrapped by a key this backup would not hold. Run the backup again');
    }

    const files: BackupFileEntry[] = [];
    for (const entry of pinned) {
      const partial = join(target_dir, `${entry.name}${partial_suffix}`);
      written.push(partial);
      await copySnapshot(entry, partial);
      entry.snapshot.exec('COMMIT');
      const final = join(target_dir, entry.name);
      await rename(partial, final);
      written.push(final);
      files.push({ name: entry.name, kind: 'database', ...(await sha256File(final)) });
    }
    for (const key of keys_before.files) {
      const path = join(target_dir, ...key.name.split('/'));
      written.push(path);
      await writePrivateFile(path, key.content);
      files.push({ name: key.name, kind: key.kind, bytes: key.content.length, sha256: createHash('sha256').update(key.content).digest('hex') });
    }

    // The ledger's copy must prove its own chain before the backup claims anything.
    const report = await verifyLedger(sqliteLedgerFileSnapshots(join(target_dir, ledger_file_name)));
    if (!report.ok || report.head_hash === undefined) throw new BackupFailure(`the ledger's copy does not verify (${describeVerifyFailure(report)}); nothing is kept`);

    const manifest: BackupManifest = {
      format: backup_manifest_format,
      snapshot_time: snapshot_time.toISOString(),
      completed_time: now().toISOString(),
      source_data_dir: data_dir,
      snapshot_order: pinned.map((entry) => entry.name),
      write_pause_ms: Math.round(write_pause_ms * 1000) / 1000,
      ledger: { file: ledger_file_name, batches: report.batches, accounts: report.accounts, transfers: report.transfers, head_hash: report.head_hash },
      keys: {
        vault_kek: keys_before.vault_kek,
        ...(keys_before.vault_kek === 'file_outside_data_dir' && keys_before.vault_kek_file !== undefined ? { vault_kek_file: keys_before.vault_kek_file } : {}),
        operator_key: keys_before.operator_key,
      },
      files,
    };
    const manifest_path = join(target_dir, backup_manifest_file_name);
    const manifest_partial = `${manifest_path}${partial_suffix}`;
    written.push(manifest_partial);
    await writePrivateFile(manifest_partial, `${JSON.stringify(manifest, null, 2)}\n`);
    // The manifest appears last, so a folder with a manifest is a whole backup.
    await rename(manifest_partial, manifest_path);
    written.push(manifest_path);
    await fsyncPath(target_dir);
    return { manifest, warnings: keyWarnings(manifest), skipped };
  } catch (error) {
    for (const path of written.reverse()) await rm(path, { force: true });
    await removeEmptyKeyFolders(target_dir, written);
    throw error instanceof BackupRefusal || error instanceof BackupFailure ? error : new BackupFailure(`${message(error)}; nothing is kept`);
  } finally {
    for (const lock of locks) lock.close();
    for (const entry of pinned) {
      if (entry.snapshot.inTransaction) entry.snapshot.exec('COMMIT');
      entry.snapshot.close();
    }
  }
}

/** After a failure, the subfolders made for key files (a key in a subfolder of DATA_DIR), deepest first. */
async function removeEmptyKeyFolders(root: string, written: readonly string[]): Promise<void> {
  const folders = new Set<string>();
  for (const path of written) {
    for (let folder = dirname(path); folder.startsWith(`${root}${sep}`); folder = dirname(folder)) folders.add(folder);
  }
  for (const folder of [...folders].sort((a, b) => b.length - a.length)) await rm(folder, { recursive: false, force: true }).catch(() => undefined);
}

/** What must be said loudly about a backup's keys. */
export function keyWarnings(manifest: BackupManifest): string[] {
  const warnings: string[] = [];
  const kek = manifest.keys.vault_kek;
  if (kek === 'environment') {
    warnings.push(`the key-encryption key comes from ${key_encryption_key_variable} and is NOT in this backup: without that key nothing sealed in it (card data, signing secrets, webhook secrets, bank account numbers) can be read. Keep the key, and every key this backup may need, apart from it`);
  } else if (kek === 'file_outside_data_dir') {
    warnings.push(`the key-encryption key is in ${manifest.keys.vault_kek_file ?? 'a file outside DATA_DIR'}, outside DATA_DIR, and is NOT in this backup: without that key nothing sealed in it (card data, signing secrets, webhook secrets, bank account numbers) can be read. Keep the key apart from the backup, for as long as the backup is kept`);
  } else if (kek === 'absent') {
    warnings.push('no key-encryption key was found (no vault.kek in DATA_DIR, no PAYGRID_VAULT_KEK): if the platform was started with one from elsewhere, this backup does NOT hold it');
  } else {
    warnings.push('the key-encryption key is IN this backup (it was in DATA_DIR): whoever reads the backup can read every card number and secret in it. Keep it as you keep the key');
  }
  if (manifest.keys.operator_key === 'environment') warnings.push('the operator key comes from PAYGRID_OPERATOR_KEY and is not in this backup: start the restored platform with it');
  return warnings;
}

/** A manifest file name: relative, in `/`-separated parts of plain characters, never `.` or `..`. */
const manifest_name_part = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const sha256_pattern = /^[0-9a-f]{64}$/;
const file_kinds: readonly BackupFileKind[] = ['database', 'key_encryption_key', 'previous_key_encryption_key', 'operator_key'];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isSafeName(name: string): boolean {
  return name.split('/').every((part) => manifest_name_part.test(part) && part !== '.' && part !== '..') && !isAbsolute(name);
}

/** Reads and checks a manifest's shape; a manifest that is not one this version wrote is refused. */
export function parseManifest(text: string): BackupManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new BackupFailure(`the manifest is not JSON (${message(error)})`);
  }
  const bad = (what: string) => new BackupFailure(`the manifest is not a Paygrid backup manifest: ${what}`);
  if (!isRecord(value)) throw bad('not an object');
  if (value.format !== backup_manifest_format) throw bad(`format is ${JSON.stringify(value.format)}, expected "${backup_manifest_format}"`);
  const ledger = value.ledger;
  if (!isRecord(ledger) || ledger.file !== ledger_file_name || typeof ledger.head_hash !== 'string' || !sha256_pattern.test(ledger.head_hash) || !Number.isSafeInteger(ledger.batches)) throw bad('ledger');
  const keys = value.keys;
  if (!isRecord(keys)) throw bad('keys');
  if (!Array.isArray(value.files)) throw bad('files');
  const names = new Set<string>();
  for (const file of value.files as unknown[]) {
    if (!isRecord(file)) throw bad('a file entry is not an object');
    const { name, kind, bytes, sha256 } = file;
    if (typeof name !== 'string' || !isSafeName(name) || name === backup_manifest_file_name) throw bad(`file name ${JSON.stringify(name)}`);
    if (names.has(name)) throw bad(`${name} is listed twice`);
    names.add(name);
    if (typeof kind !== 'string' || !(file_kinds as readonly string[]).includes(kind)) throw bad(`${name}: kind`);
    if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) throw bad(`${name}: bytes`);
    if (typeof sha256 !== 'string' || !sha256_pattern.test(sha256)) throw bad(`${name}: sha256`);
    if (kind === 'database' && !name.endsWith(database_suffix)) throw bad(`${name}: a database must be a .sqlite file`);
  }
  if (!names.has(ledger_file_name)) throw bad(`no ${ledger_file_name}`);
  return value as unknown as BackupManifest;
}

/** Every file the folder holds, as `/`-joined names relative to it. */
async function listFiles(root: string, under = ''): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readdir(join(root, under), { withFileTypes: true })) {
    const name = under === '' ? entry.name : `${under}/${entry.name}`;
    if (entry.isDirectory()) names.push(...(await listFiles(root, name)));
    else names.push(name);
  }
  return names;
}

/** Reads the backup's manifest and checks every file against it: present, the size and the SHA-256 it lists, and nothing else. */
export async function checkBackup(backup_dir: string): Promise<BackupManifest> {
  const manifest_path = join(backup_dir, backup_manifest_file_name);
  let text: string;
  try {
    text = await readFile(manifest_path, 'utf8');
  } catch (error) {
    if (isErrorCode(error, 'ENOENT')) throw new BackupRefusal(`${backup_dir} holds no ${backup_manifest_file_name}: not a Paygrid backup, or one that never finished`);
    throw error;
  }
  const manifest = parseManifest(text);
  const listed = new Set(manifest.files.map((file) => file.name));
  const present = await listFiles(backup_dir);
  const extra = present.filter((name) => name !== backup_manifest_file_name && !listed.has(name));
  if (extra.length > 0) throw new BackupFailure(`the backup holds files its manifest does not list: ${extra.join(', ')}`);
  for (const file of manifest.files) {
    let found: { sha256: string; bytes: number };
    try {
      found = await sha256File(join(backup_dir, ...file.name.split('/')));
    } catch (error) {
      if (isErrorCode(error, 'ENOENT')) throw new BackupFailure(`${file.name} is missing from the backup`);
      throw error;
    }
    if (found.bytes !== file.bytes) throw new BackupFailure(`${file.name} is ${found.bytes} bytes, but the manifest says ${file.bytes}: the backup was changed or damaged`);
    if (found.sha256 !== file.sha256) throw new BackupFailure(`${file.name} does not match its SHA-256 in the manifest: the backup was changed or damaged`);
  }
  return manifest;
}

/** Whether a platform holds the ledger's writer lock in `data_dir` (services/ledger/src/store-sqlite.ts: acquireWriter). */
function ledgerWriterRunning(data_dir: string): boolean {
  const fence_file = join(data_dir, `${ledger_file_name}-writer`);
  let fence: Database.Database;
  try {
    fence = new Database(fence_file, { readonly: true, fileMustExist: true });
  } catch {
    return false;
  }
  try {
    fence.pragma('busy_timeout = 0');
    fence.prepare('SELECT count(*) FROM sqlite_master').get();
    return false;
  } catch (error) {
    return isErrorCode(error, 'SQLITE_BUSY') || (error instanceof Error && 'code' in error && String(error.code).startsWith('SQLITE_BUSY'));
  } finally {
    fence.close();
  }
}

export interface RestoreResult {
  readonly manifest: BackupManifest;
  readonly ledger: VerifyReport;
  readonly notes: readonly string[];
}

/** `paygrid restore DIR`: checks the backup against its manifest, copies it into an empty or new DATA_DIR, and verifies the ledger there. */
export async function restoreDataDir(options: { readonly backup_dir: string; readonly data_dir: string; readonly env: NodeJS.ProcessEnv }): Promise<RestoreResult> {
  const backup_dir = resolve(options.backup_dir);
  const data_dir = resolve(options.data_dir);
  const backup_state = await emptyOrMissing(backup_dir);
  if (backup_state === 'missing' || backup_state === 'not_a_folder') throw new BackupRefusal(`${backup_dir} is not a folder`);
  const data_state = await emptyOrMissing(data_dir);
  if (data_state === 'not_a_folder') throw new BackupRefusal(`DATA_DIR ${data_dir} exists and is not a folder`);
  if (data_state === 'not_empty') {
    if (ledgerWriterRunning(data_dir)) throw new BackupRefusal(`a platform is running on DATA_DIR ${data_dir} (it holds the ledger's writer lock); restore into a new, empty folder`);
    throw new BackupRefusal(`DATA_DIR ${data_dir} is not empty; restore into a new, empty folder (a restore never overwrites or mixes with data)`);
  }
  if ((await isInside(data_dir, backup_dir)) || (await isInside(backup_dir, data_dir))) throw new BackupRefusal('the backup folder and DATA_DIR must be apart');

  // Every hash is checked before a byte is written.
  const manifest = await checkBackup(backup_dir);
  if (data_state === 'missing') makePrivateDirectory(data_dir);
  const written: string[] = [];
  try {
    for (const file of manifest.files) {
      const source = join(backup_dir, ...file.name.split('/'));
      const target = join(data_dir, ...file.name.split('/'));
      const partial = `${target}${partial_suffix}`;
      await mkdir(dirname(target), { recursive: true, mode: private_directory_mode });
      written.push(partial);
      await copyFile(source, partial, fs_constants.COPYFILE_EXCL);
      await chmod(partial, private_file_mode);
      await fsyncPath(partial);
      // What landed is what was checked: a disk or a copy that changes bytes is caught here.
      const landed = await sha256File(partial);
      if (landed.sha256 !== file.sha256) throw new BackupFailure(`${file.name} changed while it was copied into DATA_DIR`);
      await rename(partial, target);
      written.push(target);
    }
    await fsyncPath(data_dir);
    const report = await verifyLedger(sqliteLedgerFileSnapshots(join(data_dir, ledger_file_name)));
    if (!report.ok) throw new BackupFailure(`the restored ledger does not verify (${describeVerifyFailure(report)})`);
    if (report.batches !== manifest.ledger.batches || report.head_hash !== manifest.ledger.head_hash) {
      throw new BackupFailure(`the restored ledger's head (batch ${report.batches}, ${report.head_hash ?? '?'}) is not the manifest's (batch ${manifest.ledger.batches}, ${manifest.ledger.head_hash})`);
    }
    return { manifest, ledger: report, notes: restoreNotes(manifest, options.env) };
  } catch (error) {
    for (const path of written.reverse()) await rm(path, { force: true });
    await removeEmptyKeyFolders(data_dir, written);
    throw error instanceof BackupRefusal || error instanceof BackupFailure ? error : new BackupFailure(`${message(error)}; what was copied is removed`);
  }
}

function restoreNotes(manifest: BackupManifest, env: NodeJS.ProcessEnv): string[] {
  const notes: string[] = [];
  const included = manifest.files.find((file) => file.kind === 'key_encryption_key');
  if (included === undefined) {
    notes.push(
      `this backup holds NO key-encryption key (${manifest.keys.vault_kek === 'environment' ? `it came from ${key_encryption_key_variable}` : manifest.keys.vault_kek === 'file_outside_data_dir' ? `it was in ${manifest.keys.vault_kek_file ?? 'a file outside DATA_DIR'}` : 'none was found when it was made'}): start the platform with the key the data was sealed under (${key_encryption_key_variable} or ${key_encryption_key_file_variable}); without it the start stops, naming the key id it lacks`,
    );
  } else if (included.name !== key_encryption_key_file_name) {
    notes.push(`the key-encryption key is restored to DATA_DIR/${included.name}: set ${key_encryption_key_file_variable} to that path, as it was set where the backup was made`);
  } else if ((env[key_encryption_key_file_variable] ?? '') !== '' || (env[key_encryption_key_variable] ?? '') !== '') {
    notes.push(`the key-encryption key is restored to DATA_DIR/${key_encryption_key_file_name}, but ${key_encryption_key_variable} or ${key_encryption_key_file_variable} is set here: the platform reads the key from the variable; move the file there or unset it`);
  }
  if (manifest.keys.operator_key === 'environment') notes.push('the operator key is not in the backup (it came from PAYGRID_OPERATOR_KEY): start with it set');
  return notes;
}
