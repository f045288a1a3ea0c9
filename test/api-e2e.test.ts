// End to end, as a merchant meets Paygrid: `paygrid start` (what `npm start` runs) in a child
// process on a fresh data folder, driven over HTTP with the SDK. An operator signs a merchant
// up; the merchant's customers get wallets, top up, pay each other and the merchant, withdraw
// to a bank, and read their history. Afterwards `paygrid ledger verify` proves the books.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporaryDirectory, type TemporaryDirectory } from '@paygrid/kernel/testing';
import { walletJourney } from './support/acceptance';

const cli = join(resolve(import.meta.dirname, '..'), 'apps/cli/bin/paygrid.js');
const start_timeout_ms = 30_000;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('the platform end to end over HTTP', () => {
  let data: TemporaryDirectory;
  let child: ChildProcess;
  let url: string;
  const operator_key = `op-e2e-${randomBytes(24).toString('hex')}`;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    data = await temporaryDirectory();
    const port = await freePort();
    env = { ...process.env, DATA_DIR: data.path, PORT: String(port), PAYGRID_OPERATOR_KEY: operator_key, LOG_LEVEL: 'warn' };
    // `npm start` runs on embedded SQLite with the in-memory cache: no outside service.
    delete env.DATABASE_URL;
    delete env.REDIS_URL;
    delete env.NATS_URL;
    child = spawn(process.execPath, [cli, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    url = await new Promise<string>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`platform did not start:\n${output}`)), start_timeout_ms);
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /Paygrid is running at (\S+)/.exec(output);
        if (match?.[1] !== undefined) {
          clearTimeout(timer);
          done(match[1]);
        }
      });
      child.once('exit', (code) => fail(new Error(`platform exited with ${code}:\n${output}`)));
    });
  }, start_timeout_ms + 5_000);

  afterAll(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      await exited;
    }
    await data.remove();
  });

  it('signs a merchant up, moves money between wallets, and keeps exact books', async () => {
    // The journey the distributed mode runs too (support/acceptance.ts), here against `npm start`.
    await walletJourney({ url, operator_key, sandboxes: { alipay: '', wechat_pay: '' } });

    // The books: the ledger behind all of this verifies.
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await exited;
    const verify = spawnSync(process.execPath, [cli, 'ledger', 'verify'], { env, encoding: 'utf8', timeout: 60_000 });
    expect(verify.stdout).toContain('ledger verified');
    expect(verify.status).toBe(0);
  });
});
