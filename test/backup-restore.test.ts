// `paygrid backup` and `paygrid restore` (decision 84). The platform runs as `npm start` runs it
// (embedded SQLite, a child process) and moves money between wallets under load; the backup is
// taken from a second process while the load goes on; the platform stops; the backup is restored
// into a new data folder, `paygrid ledger verify` passes there, and a platform started on it has
// every wallet transfer acknowledged before the backup began, once in the ledger and once in each
// wallet's history, with balances that add up. Then the refusals: a non-empty target, a changed
// manifest, a changed, missing or extra file, a non-empty or running data folder, PostgreSQL.
import { execFile } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operationTransferId } from '@paygrid/wallet';
import { BackupFailure, BackupRefusal, backupDataDir, restoreDataDir, type BackupManifest } from '../apps/cli/src/backup';
import { callApi, cli_path, signalChild, startChildPlatform, walletHistory } from './support/child-platform';
import { freePort } from './support/platform';

const operator_key = 'op_backup_restore_key_0123456789abcdefghijk';
const wallet_count = 8;
const load_clients = 6;
const top_up_amount = 10_000_000;
const start_timeout_ms = 90_000;
/** Load before the backup starts, and after it ends, in milliseconds. */
const load_before_backup_ms = 1_500;
const load_after_backup_ms = 500;

const folders: string[] = [];
function folder(name: string): string {
  const path = mkdtempSync(join(tmpdir(), `paygrid-backup-${name}-`));
  folders.push(path);
  return path;
}
afterAll(() => {
  for (const path of folders) rmSync(path, { recursive: true, force: true });
});

function environment(data_dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'NATS_URL', 'PAYGRID_VAULT_KEK', 'PAYGRID_VAULT_KEK_FILE']) delete env[name];
  return { ...env, DATA_DIR: data_dir, PAYGRID_OPERATOR_KEY: operator_key, LOG_LEVEL: 'error', ...extra };
}

function paygrid(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; out: string; err: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [cli_path, ...args], { env, encoding: 'utf8', timeout: 120_000 }, (error, out, err) => {
      done({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : null, out, err });
    });
  });
}

interface Acknowledged {
  readonly id: string;
  readonly key: string;
  readonly source: string;
  readonly destination: string;
  readonly amount: number;
  /** When the answer arrived (Date.now()). */
  readonly answered_ms: number;
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

describe('paygrid backup under load, and restore', () => {
  it('restores every wallet transfer acknowledged before the backup began, once, into a ledger that verifies', async () => {
    const data_dir = folder('data');
    const backup_dir = join(folder('target'), 'backup');
    const restored_dir = join(folder('restored'), 'data');
    const port = await freePort();
    let child = await startChildPlatform(['start'], environment(data_dir, { PORT: String(port) }), start_timeout_ms);
    const merchant = await callApi(port, operator_key, 'POST', '/v1/merchants', { name: 'Backup' });
    expect(merchant.status).toBe(200);
    const secret = String(merchant.json.secret_key);
    const wallets: string[] = [];
    for (let index = 0; index < wallet_count; index += 1) {
      const customer = await callApi(port, secret, 'POST', '/v1/customers', { name: `Customer ${index}` });
      const wallet = await callApi(port, secret, 'POST', '/v1/wallets', { customer: customer.json.id, currency: 'usd' });
      const top_up = await callApi(port, secret, 'POST', `/v1/wallets/${String(wallet.json.id)}/top_ups`, { amount: top_up_amount }, `top-up-${index}`);
      expect(top_up.status).toBe(200);
      wallets.push(String(wallet.json.id));
    }

    const acknowledged: Acknowledged[] = [];
    let next_key = 0;
    let loading = true;
    const client = async (): Promise<void> => {
      while (loading) {
        const source_index = Math.floor(Math.random() * wallet_count);
        const source = wallets[source_index] ?? '';
        const destination = wallets[(source_index + 1 + Math.floor(Math.random() * (wallet_count - 1))) % wallet_count] ?? '';
        const amount = 1 + Math.floor(Math.random() * 100);
        const key = `backup-${next_key++}`;
        const answer = await callApi(port, secret, 'POST', '/v1/wallet_transfers', { source, destination, amount, currency: 'usd' }, key);
        if (answer.status === 200 && answer.json.status === 'succeeded') acknowledged.push({ id: String(answer.json.id), key, source, destination, amount, answered_ms: Date.now() });
      }
    };
    const load = Promise.all(Array.from({ length: load_clients }, client));
    await new Promise((wait) => setTimeout(wait, load_before_backup_ms));

    // T: the backup command starts now, under the load, from a process of its own.
    const backup_started_ms = Date.now();
    const acknowledged_before_backup = acknowledged.length;
    const backup = await paygrid(['backup', backup_dir], environment(data_dir));
    const backup_ended_ms = Date.now();
    expect(backup.err, backup.out).not.toContain('FAILED');
    expect(backup.status, backup.err).toBe(0);
    expect(backup.out).toContain('backup complete');
    // The key-encryption key was in DATA_DIR: the backup holds it, and says so loudly.
    expect(backup.err).toContain('the key-encryption key is IN this backup');
    await new Promise((wait) => setTimeout(wait, load_after_backup_ms));
    const transfers_during_backup = acknowledged.filter((transfer) => transfer.answered_ms > backup_started_ms && transfer.answered_ms < backup_ended_ms).length;
    loading = false;
    await load;
    expect(await signalChild(child, 'SIGTERM')).toBe(0);

    // Those answered before the command began: by position, since a transfer answered in the same
    // millisecond as the start has no earlier time than it.
    const before = acknowledged.slice(0, acknowledged_before_backup);
    for (const transfer of before) expect(transfer.answered_ms).toBeLessThanOrEqual(backup_started_ms);
    expect(before.length).toBeGreaterThan(20);
    // The backup really ran under load: money moved while it copied.
    expect(transfers_during_backup).toBeGreaterThan(0);
    const after = acknowledged.filter((transfer) => transfer.answered_ms > backup_ended_ms);
    expect(after.length).toBeGreaterThan(0);

    // The backup: a 0700 folder of 0600 files, every one in the manifest.
    const manifest = JSON.parse(readFileSync(join(backup_dir, 'manifest.json'), 'utf8')) as BackupManifest;
    expect(mode(backup_dir)).toBe(0o700);
    for (const name of readdirSync(backup_dir)) expect(mode(join(backup_dir, name)), name).toBe(0o600);
    expect(manifest.files.map((file) => file.name).sort()).toEqual(['identity.sqlite', 'ledger.sqlite', 'payments.sqlite', 'vault.kek', 'vault.sqlite', 'wallet.sqlite', 'webhooks.sqlite']);
    expect(manifest.snapshot_order.at(-1)).toBe('ledger.sqlite');
    expect(manifest.keys).toEqual({ vault_kek: 'included', operator_key: 'environment' });
    expect(manifest.ledger.transfers).toBeGreaterThan(before.length);

    const restore = await paygrid(['restore', backup_dir], environment(restored_dir));
    expect(restore.status, restore.err).toBe(0);
    expect(restore.out).toContain('every SHA-256 matched its manifest');
    const verify = await paygrid(['ledger', 'verify', '--json'], environment(restored_dir));
    expect(verify.status, verify.out + verify.err).toBe(0);
    expect(JSON.parse(verify.out)).toMatchObject({ ok: true, batches: manifest.ledger.batches, head_hash: manifest.ledger.head_hash });

    child = await startChildPlatform(['start'], environment(restored_dir, { PORT: String(port) }), start_timeout_ms);
    try {
      // Every transfer acknowledged before T is in the ledger (its id is the operation's number)…
      const lookup = async (items: readonly Acknowledged[]) => {
        const found = await callApi(port, operator_key, 'POST', '/v1/ledger/transfers/lookup', { ids: items.map((transfer) => operationTransferId(transfer.id).toString()) });
        expect(found.status).toBe(200);
        return (found.json.data as unknown[]).length;
      };
      for (let first = 0; first < before.length; first += 8_000) expect(await lookup(before.slice(first, first + 8_000))).toBe(Math.min(8_000, before.length - first));
      // …and none answered after the backup ended: the copy is of an instant during the command.
      expect(await lookup(after.slice(0, 8_000))).toBe(0);

      // Once in each wallet's history; each history adds up to the ledger's balance; money is conserved.
      const seen = new Map<string, number>();
      let money = 0;
      for (const wallet of wallets) {
        let total = 0;
        for (const line of await walletHistory(port, secret, wallet)) {
          seen.set(`${wallet}:${line.id}`, (seen.get(`${wallet}:${line.id}`) ?? 0) + 1);
          if (line.status === 'succeeded') total += line.amount;
        }
        const current = await callApi(port, secret, 'GET', `/v1/wallets/${wallet}`);
        expect((current.json.balance as { available: number }).available).toBe(total);
        money += total;
      }
      expect(money).toBe(wallet_count * top_up_amount);
      for (const count of seen.values()) expect(count).toBe(1);
      for (const transfer of before) {
        expect(seen.get(`${transfer.source}:${transfer.id}`)).toBe(1);
        expect(seen.get(`${transfer.destination}:${transfer.id}`)).toBe(1);
      }
      // A retry of a transfer acknowledged before T meets the same transfer and moves nothing.
      const retried = before.at(-1);
      if (retried !== undefined) {
        const balance_before = await callApi(port, secret, 'GET', `/v1/wallets/${retried.source}`);
        const again = await callApi(port, secret, 'POST', '/v1/wallet_transfers', { source: retried.source, destination: retried.destination, amount: retried.amount, currency: 'usd' }, retried.key);
        expect(again.status).toBe(200);
        expect(again.json.id).toBe(retried.id);
        expect((await callApi(port, secret, 'GET', `/v1/wallets/${retried.source}`)).json.balance).toEqual(balance_before.json.balance);
      }
      // The restored data folder is a platform's now: restore refuses it, naming the running platform.
      await expect(restoreDataDir({ backup_dir, data_dir: restored_dir, env: environment(restored_dir) })).rejects.toThrow(/a platform is running on DATA_DIR/);
    } finally {
      expect(await signalChild(child, 'SIGTERM')).toBe(0);
    }
    console.log(
      `[backup] ${before.length} transfers acknowledged before the backup, ${transfers_during_backup} during it (${backup_ended_ms - backup_started_ms} ms, writes paused ${manifest.write_pause_ms} ms), ${after.length} after; ledger ${manifest.ledger.transfers} transfers in ${manifest.ledger.batches} batches`,
    );
  }, 240_000);
});

describe('paygrid backup and restore refusals', () => {
  let data_dir = '';
  let backup_dir = '';
  beforeAll(async () => {
    data_dir = folder('refusals-data');
    // A data folder as a first start leaves it: every service's database, migrated, in WAL mode.
    const migrated = await paygrid(['migrate'], environment(data_dir));
    expect(migrated.status, migrated.err).toBe(0);
    writeFileSync(join(data_dir, 'vault.kek'), `${'ab'.repeat(32)}\n`, { mode: 0o600 });
    backup_dir = join(folder('refusals-backup'), 'backup');
    await backupDataDir({ data_dir, target_dir: backup_dir, env: environment(data_dir) });
  }, 120_000);

  /** A copy of the good backup to spoil. */
  function copyOfBackup(): string {
    const copy = join(folder('spoiled'), 'backup');
    mkdirSync(copy, { mode: 0o700 });
    for (const name of readdirSync(backup_dir)) writeFileSync(join(copy, name), readFileSync(join(backup_dir, name)), { mode: 0o600 });
    return copy;
  }

  async function restoreRefused(backup: string, kind: typeof BackupFailure | typeof BackupRefusal, text: string): Promise<string> {
    const target = join(folder('refused-restore'), 'data');
    const error = await restoreDataDir({ backup_dir: backup, data_dir: target, env: environment(target) }).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(kind);
    expect(String(error)).toContain(text);
    // Nothing was written: hashes are checked before a byte is copied.
    expect(existsSync(target) ? readdirSync(target) : []).toEqual([]);
    return target;
  }

  it('refuses a target folder that is not empty, and leaves it as it was', async () => {
    const target = folder('not-empty');
    writeFileSync(join(target, 'notes.txt'), 'mine');
    await expect(backupDataDir({ data_dir, target_dir: target, env: environment(data_dir) })).rejects.toThrow(BackupRefusal);
    expect(readdirSync(target)).toEqual(['notes.txt']);
    const cli_run = await paygrid(['backup', target], environment(data_dir));
    expect(cli_run.status).toBe(2);
    expect(cli_run.err).toContain('is not empty');
  });

  it('refuses a changed manifest', async () => {
    const spoiled = copyOfBackup();
    const manifest = JSON.parse(readFileSync(join(spoiled, 'manifest.json'), 'utf8')) as { files: { name: string; sha256: string }[] };
    const wallet = manifest.files.find((file) => file.name === 'wallet.sqlite');
    if (wallet === undefined) throw new Error('no wallet.sqlite in the manifest');
    wallet.sha256 = `${wallet.sha256.startsWith('0') ? '1' : '0'}${wallet.sha256.slice(1)}`;
    writeFileSync(join(spoiled, 'manifest.json'), JSON.stringify(manifest));
    await restoreRefused(spoiled, BackupFailure, 'wallet.sqlite does not match its SHA-256');
    // A name that climbs out of the folder is not a manifest this command wrote.
    const escaping = JSON.parse(readFileSync(join(backup_dir, 'manifest.json'), 'utf8')) as { files: { name: string }[] };
    const first = escaping.files[0];
    if (first !== undefined) first.name = '../escape.sqlite';
    writeFileSync(join(spoiled, 'manifest.json'), JSON.stringify(escaping));
    await restoreRefused(spoiled, BackupFailure, 'file name "../escape.sqlite"');
  });

  it('refuses a changed, missing or unlisted file, with the command exiting 1', async () => {
    const changed = copyOfBackup();
    appendFileSync(join(changed, 'ledger.sqlite'), Buffer.from([0]));
    await restoreRefused(changed, BackupFailure, 'ledger.sqlite is');
    const missing = copyOfBackup();
    unlinkSync(join(missing, 'payments.sqlite'));
    const target = await restoreRefused(missing, BackupFailure, 'payments.sqlite is missing from the backup');
    const cli_run = await paygrid(['restore', missing], environment(target));
    expect(cli_run.status).toBe(1);
    expect(cli_run.err).toContain('payments.sqlite is missing from the backup');
    const extra = copyOfBackup();
    writeFileSync(join(extra, 'stowaway.sqlite'), 'x');
    await restoreRefused(extra, BackupFailure, 'files its manifest does not list: stowaway.sqlite');
    const unfinished = copyOfBackup();
    unlinkSync(join(unfinished, 'manifest.json'));
    await restoreRefused(unfinished, BackupRefusal, 'holds no manifest.json');
  });

  it('refuses a data folder that is not empty', async () => {
    const refused = restoreDataDir({ backup_dir, data_dir, env: environment(data_dir) });
    await expect(refused).rejects.toThrow(BackupRefusal);
    await expect(refused).rejects.toThrow('is not empty; restore into a new, empty folder');
  });

  it('says loudly that a key from the environment is not in the backup, and restores without it', async () => {
    const target = join(folder('env-key'), 'backup');
    const env = environment(data_dir, { PAYGRID_VAULT_KEK: 'cd'.repeat(32) });
    const result = await backupDataDir({ data_dir, target_dir: target, env });
    expect(result.manifest.keys.vault_kek).toBe('environment');
    expect(readdirSync(target)).not.toContain('vault.kek');
    expect(result.warnings.join('\n')).toContain('comes from PAYGRID_VAULT_KEK and is NOT in this backup');
    // Restored, it says the key must come from elsewhere (the CLI prints these notes as NOTE lines).
    const restored = join(folder('env-key-restore'), 'data');
    const restore = await restoreDataDir({ backup_dir: target, data_dir: restored, env: environment(restored) });
    expect(restore.notes.join('\n')).toContain('this backup holds NO key-encryption key (it came from PAYGRID_VAULT_KEK)');
    expect(readdirSync(restored)).not.toContain('vault.kek');
  });

  it('with DATABASE_URL, names PostgreSQL\'s tools instead of copying nothing', async () => {
    const env = { ...environment(data_dir), DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test', PAYGRID_VAULT_KEK: 'cd'.repeat(32) };
    const commands = ['backup', 'restore'];
    const runs = await Promise.all(commands.map((command) => paygrid([command, join(folder('pg'), 'x')], env)));
    for (const [index, run] of runs.entries()) {
      expect(run.status, commands[index]).toBe(2);
      expect(run.err).toContain('pg_basebackup');
      expect(run.err).toContain('pg_dump');
    }
  });
});
