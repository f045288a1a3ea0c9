// Signing secrets and the key-encryption key (KEK) are stored nowhere in plain text: not in a
// row, an index, the audit log, a write-ahead log or a log line. The platform runs as `npm start`
// does, logging at its most verbose level, with its key outside DATA_DIR; merchants are created,
// their secrets rolled and used to sign requests, and the KEK is rotated. Then every byte of
// every file in DATA_DIR (while running, with the -wal files, and after the stop) and every byte
// the process printed is searched for each secret and for both keys in every form.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { createSqliteDatabase, openSqlite } from '@paygrid/kernel';
import { temporaryDirectory } from '@paygrid/kernel/testing';
import { Paygrid } from '@paygrid/sdk';
import { filesOf, findings, keyNeedles, secretNeedles, type Haystack } from './support/secrets-search';

const cli = join(resolve(import.meta.dirname, '..'), 'apps/cli/bin/paygrid.js');
const card = { number: '4242424242424242', exp_month: 12, exp_year: new Date().getUTCFullYear() + 1, cvc: '123' };

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function readKey(file: string): string {
  return readFileSync(file, 'utf8').trim();
}

it('keeps signing secrets and the key-encryption key out of every database file and every log line', async () => {
  const data = await temporaryDirectory();
  const outside = await temporaryDirectory();
  const key_file = join(outside.path, 'paygrid.kek');
  const port = await freePort();
  const operator_key = `op-secrets-${randomBytes(24).toString('hex')}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: data.path,
    PORT: String(port),
    PAYGRID_OPERATOR_KEY: operator_key,
    PAYGRID_VAULT_KEK_FILE: key_file,
    LOG_LEVEL: 'trace',
  };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'PAYGRID_VAULT_KEK', 'PAYGRID_VAULT_KEK_PREVIOUS']) delete env[name];
  const child = spawn(process.execPath, [cli, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    const url = `http://127.0.0.1:${port}`;
    for (let waited = 0; !output.includes('Paygrid is running at'); waited += 50) {
      if (waited > 60_000 || child.exitCode !== null) throw new Error(`platform did not start:\n${output}`);
      await new Promise((done) => setTimeout(done, 50));
    }
    // The key is outside DATA_DIR, so the start gave no warning about it.
    expect(output).not.toContain('inside DATA_DIR');
    const first_kek = readKey(key_file);
    const operator = new Paygrid({ api_key: operator_key, base_url: url });
    const secrets: string[] = [];
    const merchants = [];
    for (const name of ['Acme', 'Globex', 'Initech']) {
      const created = await operator.merchants.create({ name });
      secrets.push(created.signing_secret);
      merchants.push(created);
    }
    // Acme keeps its old secret for a grace period; Globex drops it at once.
    const [acme, globex, initech] = merchants as [(typeof merchants)[number], (typeof merchants)[number], (typeof merchants)[number]];
    const acme_rolled = await operator.merchants.rollSigningSecret(acme.id, { expires_in_seconds: 600 });
    const globex_rolled = await operator.merchants.rollSigningSecret(globex.id, {});
    secrets.push(acme_rolled.signing_secret, globex_rolled.signing_secret);
    // A card token, so that the vault has data keys to rotate too (before signing is required).
    await new Paygrid({ api_key: initech.publishable_key, base_url: url }).tokens.create({ card });
    for (const [merchant, signing_secret] of [
      [acme, acme_rolled.signing_secret],
      [acme, acme.signing_secret],
      [globex, globex_rolled.signing_secret],
      [initech, initech.signing_secret],
    ] as const) {
      const client = new Paygrid({ api_key: merchant.secret_key, signing_secret, base_url: url });
      await client.account.update({ signing_required: true });
      await client.customers.create({ name: `Customer of ${merchant.name}` });
    }

    // Rotate the KEK online, and wait for every data key to be re-wrapped.
    const rotate = await fetch(`${url}/v1/keys/rotate`, { method: 'POST', headers: { authorization: `Bearer ${operator_key}` } });
    expect(rotate.status).toBe(202);
    let status: { state: string; remaining: number } = (await rotate.json()) as { state: string; remaining: number };
    for (let waited = 0; status.state === 'rewrapping' || status.remaining > 0; waited += 100) {
      if (waited > 30_000) throw new Error(`rotation did not finish: ${JSON.stringify(status)}`);
      await new Promise((done) => setTimeout(done, 100));
      status = (await (await fetch(`${url}/v1/keys`, { headers: { authorization: `Bearer ${operator_key}` } })).json()) as { state: string; remaining: number };
    }
    expect(status.state).toBe('idle');
    const second_kek = readKey(key_file);
    expect(second_kek).not.toBe(first_kek);
    expect(existsSync(`${key_file}.previous`)).toBe(false);
    // Signed requests still pass after the rotation.
    await new Paygrid({ api_key: initech.secret_key, signing_secret: initech.signing_secret, base_url: url }).customers.create({ name: 'After the rotation' });

    const needles = [...secrets.flatMap(secretNeedles), ...keyNeedles(first_kek, 'the first KEK'), ...keyNeedles(second_kek, 'the second KEK')];
    const running = await filesOf(data.path);
    expect(running.some((file) => file.where === 'identity.sqlite-wal' && file.bytes.length > 0)).toBe(true);
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await exited;
    const stopped = await filesOf(data.path);
    const haystacks: Haystack[] = [
      ...running.map((file) => ({ where: `${file.where} (running)`, bytes: file.bytes })),
      ...stopped.map((file) => ({ where: `${file.where} (stopped)`, bytes: file.bytes })),
      { where: 'the logs', bytes: Buffer.from(output, 'utf8') },
    ];
    expect(stopped.map((file) => file.where)).toEqual(expect.arrayContaining(['identity.sqlite', 'vault.sqlite']));
    // The logs were captured, and name the merchants and the rotation: they are worth searching.
    expect(output).toContain(acme.id);
    expect(output).toContain('key-encryption key rotated');
    expect(findings(haystacks, needles)).toEqual([]);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await data.remove();
    await outside.remove();
  }
});

it('keeps a key given in PAYGRID_VAULT_KEK, and the previous one, out of the files and logs too', async () => {
  const data = await temporaryDirectory();
  const port = await freePort();
  const operator_key = `op-secrets-${randomBytes(24).toString('hex')}`;
  const kek = randomBytes(32).toString('hex');
  const previous_kek = randomBytes(32).toString('base64');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: data.path,
    PORT: String(port),
    PAYGRID_OPERATOR_KEY: operator_key,
    PAYGRID_VAULT_KEK: kek,
    PAYGRID_VAULT_KEK_PREVIOUS: previous_kek,
    LOG_LEVEL: 'trace',
  };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'PAYGRID_VAULT_KEK_FILE']) delete env[name];
  const child = spawn(process.execPath, [cli, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    const url = `http://127.0.0.1:${port}`;
    for (let waited = 0; !output.includes('Paygrid is running at'); waited += 50) {
      if (waited > 60_000 || child.exitCode !== null) throw new Error(`platform did not start:\n${output}`);
      await new Promise((done) => setTimeout(done, 50));
    }
    expect(output).toContain('vault key:    from PAYGRID_VAULT_KEK');
    const operator = new Paygrid({ api_key: operator_key, base_url: url });
    const merchant = await operator.merchants.create({ name: 'Acme' });
    await new Paygrid({ api_key: merchant.publishable_key, base_url: url }).tokens.create({ card });
    const rolled = await operator.merchants.rollSigningSecret(merchant.id, { expires_in_seconds: 600 });
    await new Paygrid({ api_key: merchant.secret_key, signing_secret: rolled.signing_secret, base_url: url }).customers.create({ name: 'Signed' });
    const running = await filesOf(data.path);
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await exited;
    const haystacks: Haystack[] = [
      ...running.map((file) => ({ where: `${file.where} (running)`, bytes: file.bytes })),
      ...(await filesOf(data.path)).map((file) => ({ where: `${file.where} (stopped)`, bytes: file.bytes })),
      { where: 'the logs', bytes: Buffer.from(output, 'utf8') },
    ];
    expect(haystacks.some((haystack) => haystack.where === 'vault.kek (stopped)')).toBe(false);
    const needles = [
      ...[merchant.signing_secret, rolled.signing_secret].flatMap(secretNeedles),
      ...keyNeedles(kek, 'PAYGRID_VAULT_KEK'),
      ...keyNeedles(Buffer.from(previous_kek, 'base64').toString('hex'), 'PAYGRID_VAULT_KEK_PREVIOUS'),
    ];
    expect(output).toContain(merchant.id);
    expect(findings(haystacks, needles)).toEqual([]);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await data.remove();
  }
});

it('would find a secret or a key stored in plain text: the search itself is checked', async () => {
  const directory = await temporaryDirectory();
  try {
    const file = join(directory.path, 'identity.sqlite');
    const database = createSqliteDatabase(openSqlite(file), { dialect: 'sqlite', file });
    const secret = `pgss_${randomBytes(32).toString('base64url').replace(/[^0-9A-Za-z]/g, 'x').slice(0, 32)}`;
    const kek = randomBytes(32).toString('hex');
    await database.execute('CREATE TABLE merchants (id TEXT PRIMARY KEY, signing_secret TEXT NOT NULL)');
    await database.execute('INSERT INTO merchants (id, signing_secret) VALUES (?, ?)', ['mer_a', secret]);
    // A row as version 1 of identity stored it: found in the write-ahead log while the database is open.
    const needles = [...secretNeedles(secret), ...keyNeedles(kek, 'a KEK')];
    expect(findings(await filesOf(directory.path), needles)).toContain(`${secret} in identity.sqlite-wal`);
    await database.close();
    const logs: Haystack = { where: 'the logs', bytes: Buffer.from(`{"msg":"oops","key":"${Buffer.from(kek, 'hex').toString('base64')}"}`) };
    expect(findings([...(await filesOf(directory.path)), logs], needles)).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${secret} in identity\\.sqlite`)), 'a KEK (base64) in the logs']));
  } finally {
    await directory.remove();
  }
});
