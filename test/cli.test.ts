// The `paygrid` command as a newcomer meets it: help on every command, clear refusals of bad
// configuration, and `ledger verify` on a fresh data folder.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

describe('paygrid CLI', () => {
  it('prints help for every command', () => {
    expect(paygrid(['--help'])).toMatchObject({ status: 0, out: expect.stringContaining('ledger verify') });
    for (const command of [['start'], ['migrate'], ['ledger', 'verify'], ['vault', 'rotate-key'], ['bench']]) {
      const run = paygrid([...command, '--help']);
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

  it('migrates and verifies a fresh data folder', () => {
    expect(paygrid(['migrate'])).toMatchObject({ status: 0, out: expect.stringContaining('ledger') });
    expect(paygrid(['ledger', 'verify'])).toMatchObject({ status: 0, out: expect.stringContaining('ledger verified: 0 batches') });
    const json = paygrid(['ledger', 'verify', '--json']);
    expect(JSON.parse(json.out)).toMatchObject({ ok: true, batches: 0 });
  });

  it('rotates the vault key in the data folder, keeping the old one beside it', () => {
    const key_file = join(data_dir, 'vault.kek');
    expect(paygrid(['migrate']).status).toBe(0);
    // The first start would generate the key; the vault's own tests cover rotating real cards.
    writeFileSync(key_file, `${'ab'.repeat(32)}\n`, { mode: 0o600 });
    const run = paygrid(['vault', 'rotate-key']);
    expect(run.status, run.err).toBe(0);
    expect(run.out).toContain('re-wrapped 0 of 0');
    expect(readFileSync(`${key_file}.previous`, 'utf8').trim()).toBe('ab'.repeat(32));
    expect(readFileSync(key_file, 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(key_file, 'utf8').trim()).not.toBe('ab'.repeat(32));
  });
});
