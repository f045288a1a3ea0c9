// The `paygrid` command as a newcomer meets it: help on every command, clear refusals of bad
// configuration, and `ledger verify` on a fresh data folder.
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const cli = join(resolve(import.meta.dirname, '..'), 'apps/cli/bin/paygrid.js');
const data_dir = mkdtempSync(join(tmpdir(), 'paygrid-cli-'));
afterAll(() => rmSync(data_dir, { recursive: true, force: true }));

function paygrid(args: string[], env: Record<string, string> = {}) {
  const base: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: data_dir, ...env };
  delete base.DATABASE_URL;
  const run = spawnSync(process.execPath, [cli, ...args], { env: { ...base, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, out: run.stdout, err: run.stderr };
}

/** As paygrid(), without blocking this worker while the command runs (several commands, on a busy machine). */
function paygridAsync(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; out: string; err: string }> {
  const base: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: data_dir, ...env };
  delete base.DATABASE_URL;
  return new Promise((done) => {
    execFile(process.execPath, [cli, ...args], { env: { ...base, ...env }, encoding: 'utf8', timeout: 60_000 }, (error, out, err) => {
      done({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : null, out, err });
    });
  });
}

describe('paygrid CLI', () => {
  // Asynchronous: ten commands in a row would block this worker past vitest's own RPC timeout on a busy machine.
  it('prints help for every command', async () => {
    const help = await paygridAsync(['--help']);
    expect(help).toMatchObject({ status: 0, out: expect.stringContaining('ledger verify') });
    expect(help.out).toContain('backup DIR');
    for (const command of [['start'], ['migrate'], ['ledger', 'verify'], ['keys'], ['bench'], ['backup'], ['restore']]) {
      const run = await paygridAsync([...command, '--help']);
      expect(run.status, command.join(' ')).toBe(0);
      expect(run.out, command.join(' ')).toContain(`Usage: paygrid ${command.join(' ')}`);
    }
  });

  it('refuses a bad setting with a message naming the variable', () => {
    const run = paygrid(['start'], { PORT: 'eighty' });
    expect(run.status).toBe(2);
    expect(run.err).toContain('PORT');
    expect(run.err).toContain('eighty');
    // The payments fee and capture window stop the start too, before any service opens.
    const fee = paygrid(['start'], { PAYMENTS_FEE_BPS: '2.9', PAYMENTS_CAPTURE_WINDOW_SECONDS: '0' });
    expect(fee.status).toBe(2);
    expect(fee.err).toContain('PAYMENTS_FEE_BPS must be an integer from 0 to 10000 (got "2.9")');
    expect(fee.err).toContain('PAYMENTS_CAPTURE_WINDOW_SECONDS must be an integer from 60 to 2678400 (got "0")');
  });

  it('refuses an unknown command and an unknown service', () => {
    expect(paygrid(['launch']).status).toBe(2);
    const run = paygrid(['start', '--services', 'ledger,teleport']);
    expect(run.status).toBe(2);
    expect(run.err).toContain('teleport');
  });

  it('starts a service without the services it calls only when it is told where they are', () => {
    // Without NATS the wallet sends its events to webhooks by calling it, so it needs its address too.
    const run = paygrid(['start', '--services', 'wallet'], { NATS_URL: '' });
    expect(run.status).toBe(2);
    expect(run.err).toContain('LEDGER_SERVICE_URLS must be set: ledger does not run in this process (--services wallet) and wallet calls it');
    expect(run.err).toContain('IDENTITY_SERVICE_URLS must be set');
    expect(run.err).toContain('WEBHOOKS_SERVICE_URLS must be set');
    // With NATS its events go over the bus, and webhooks need no address.
    const with_nats = paygrid(['start', '--services', 'wallet'], { NATS_URL: 'nats://127.0.0.1:4222' });
    expect(with_nats.status).toBe(2);
    expect(with_nats.err).not.toContain('WEBHOOKS_SERVICE_URLS');
    expect(paygrid(['start', '--services', 'gateway'], { PAYMENTS_SERVICE_URLS: 'payments:8080' }).err).toContain('PAYMENTS_SERVICE_URLS must be comma-separated http:// or https:// origins');
  });

  it('migrates and verifies a fresh data folder', () => {
    expect(paygrid(['migrate'])).toMatchObject({ status: 0, out: expect.stringContaining('ledger') });
    expect(paygrid(['ledger', 'verify'])).toMatchObject({ status: 0, out: expect.stringContaining('ledger verified: 0 batches') });
    const json = paygrid(['ledger', 'verify', '--json']);
    expect(JSON.parse(json.out)).toMatchObject({ ok: true, batches: 0 });
  });

  it('refuses a key-encryption key file other users can read, or one left behind in DATA_DIR, before opening anything', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'paygrid-cli-key-'));
    try {
      const key_file = join(outside, 'paygrid.kek');
      writeFileSync(key_file, `${'ab'.repeat(32)}\n`, { mode: 0o644 });
      chmodSync(key_file, 0o644);
      const open_to_others = await paygridAsync(['start'], { PAYGRID_VAULT_KEK_FILE: key_file });
      expect(open_to_others.status).toBe(2);
      expect(open_to_others.err).toContain(`The key file ${key_file} (named by PAYGRID_VAULT_KEK_FILE) has mode 0644`);
      expect(open_to_others.err).toContain(`chmod 600 ${key_file}`);
      expect(open_to_others.err).not.toContain('ab'.repeat(32));

      // The key still in DATA_DIR, and the variable pointing where it was meant to be moved.
      writeFileSync(join(data_dir, 'vault.kek'), `${'cd'.repeat(32)}\n`, { mode: 0o600 });
      const moved_elsewhere = join(outside, 'moved.kek');
      const forgotten = await paygridAsync(['start'], { PAYGRID_VAULT_KEK_FILE: moved_elsewhere });
      expect(forgotten.status).toBe(2);
      expect(forgotten.err).toContain(`move that file to ${moved_elsewhere}`);
      expect(existsSync(moved_elsewhere)).toBe(false);
    } finally {
      rmSync(outside, { recursive: true, force: true });
      rmSync(join(data_dir, 'vault.kek'), { force: true });
    }
  });

  it('keys: says plainly when there is no platform to ask, or no operator key to ask with', async () => {
    const unreachable = await paygridAsync(['keys', 'status', '--url', 'http://127.0.0.1:9'], { PAYGRID_OPERATOR_KEY: 'k'.repeat(40) });
    expect(unreachable.status).toBe(1);
    expect(unreachable.err).toContain('could not reach the platform at http://127.0.0.1:9');
    const keyless = await paygridAsync(['keys', 'status'], { DATA_DIR: join(data_dir, 'nowhere') });
    expect(keyless.status).toBe(2);
    expect(keyless.err).toContain('no operator key');
    expect((await paygridAsync(['keys', 'turn'])).status).toBe(2);
    expect((await paygridAsync(['keys', 'rewrap', '--batch-size', '0'], { PAYGRID_OPERATOR_KEY: 'k'.repeat(40) })).err).toContain('--batch-size must be an integer from 1 to 10000');
  });
});
