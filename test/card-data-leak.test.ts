// A card number never appears in a log, an error, an event, a webhook or a database file. The
// platform runs as `npm start` does, logging at its most verbose level, takes payments with every
// kind of test card, and then every byte it wrote is searched for the numbers.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { temporaryDirectory } from '@paygrid/kernel/testing';
import { Paygrid } from '@paygrid/sdk';

const cli = join(resolve(import.meta.dirname, '..'), 'apps/cli/bin/paygrid.js');
const test_cards = ['4242424242424242', '4000000000000002', '4000000000009995', '4000000000000069', '4000000000000127', '4000000000003220', '4000000000000119'];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function spaced(number: string): string {
  return number.replace(/(\d{4})(?=\d)/g, '$1 ');
}

it('leaves no card number in logs, answers, events or database files', async () => {
  const data = await temporaryDirectory();
  const port = await freePort();
  const operator_key = `op-leak-${randomBytes(24).toString('hex')}`;
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: data.path, PORT: String(port), PAYGRID_OPERATOR_KEY: operator_key, LOG_LEVEL: 'trace' };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  const child = spawn(process.execPath, [cli, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    const url = `http://127.0.0.1:${port}`;
    for (let waited = 0; !output.includes('Paygrid is running at'); waited += 50) {
      if (waited > 30_000 || child.exitCode !== null) throw new Error(`platform did not start:\n${output}`);
      await new Promise((done) => setTimeout(done, 50));
    }
    const operator = new Paygrid({ api_key: operator_key, base_url: url });
    const merchant = await operator.merchants.create({ name: 'Leak check' });
    const client = new Paygrid({ api_key: merchant.secret_key, base_url: url });
    const publishable = new Paygrid({ api_key: merchant.publishable_key, base_url: url });
    const answers: unknown[] = [];
    for (const number of test_cards) {
      const token = await publishable.tokens.create({ card: { number: spaced(number), exp_month: 12, exp_year: new Date().getUTCFullYear() + 1, cvc: '123' } });
      answers.push(token);
      const intent = await client.paymentIntents.create({ amount: 1_000, currency: 'usd' });
      answers.push(await client.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: token.id } }).catch((error: unknown) => error));
      answers.push(await client.paymentIntents.retrieve(intent.id));
      // A card number sent where it does not belong comes back refused, without being quoted.
      answers.push(await client.customers.create({ name: number, description: `card ${number}` }).then(
        () => undefined,
        (error: unknown) => error,
      ));
    }
    answers.push(await publishable.tokens.create({ card: { number: '4242424242424241', exp_month: 12, exp_year: 2040, cvc: '123' } }).catch((error: unknown) => error));
    answers.push(await client.events.list({ limit: 100 }));
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await exited;

    const haystacks: [string, string][] = [['logs', output], ['API answers', JSON.stringify(answers)]];
    for (const file of readdirSync(data.path)) haystacks.push([file, readFileSync(join(data.path, file)).toString('latin1')]);
    expect(haystacks.length).toBeGreaterThan(5);
    for (const [where, text] of haystacks) {
      for (const number of [...test_cards, '4242424242424241']) {
        expect(text.includes(number), `${number} in ${where}`).toBe(false);
        expect(text.includes(spaced(number)), `${spaced(number)} in ${where}`).toBe(false);
      }
    }
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await data.remove();
  }
}, 90_000);
