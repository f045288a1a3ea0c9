// The public API's input limits, through the running platform as `npm start` runs it, logging at
// its most verbose level: hostile JSON (nesting, key counts, duplicate keys) gets a 400 in the one
// error shape and changes nothing, and a card number in a URL is refused and leaves no trace in
// the log (docs/api.md, "Request bodies" and "Payments"; decisions 58 and 59).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { temporaryDirectory } from '@paygrid/kernel/testing';
import { Paygrid } from '@paygrid/sdk';
import { freePort } from './support/platform';

const cli = join(resolve(import.meta.dirname, '..'), 'apps/cli/bin/paygrid.js');

interface Answer {
  readonly status: number;
  readonly body: { error?: Record<string, unknown> } & Record<string, unknown>;
}

function expectRefusal(answer: Answer, code: string, param?: string): void {
  expect(answer.status).toBe(400);
  expect(Object.keys(answer.body)).toEqual(['error']);
  expect(answer.body.error).toMatchObject({ type: 'invalid_request_error', code, ...(param === undefined ? {} : { param }) });
  expect(Object.keys(answer.body.error ?? {}).every((key) => ['type', 'code', 'message', 'param'].includes(key))).toBe(true);
}

it('refuses hostile JSON and card numbers in URLs with 400s that change nothing and leave no card digits in the log', async () => {
  const data = await temporaryDirectory();
  const port = await freePort();
  const operator_key = `op-limits-${randomBytes(24).toString('hex')}`;
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
    const merchant = await operator.merchants.create({ name: 'Limits' });
    const client = new Paygrid({ api_key: merchant.secret_key, base_url: url });
    await client.customers.create({ name: 'Existing' });
    const customers = async () => (await client.customers.list({ limit: 100 })).data.map((customer) => customer.id);
    const before = await customers();

    const send = async (method: 'GET' | 'POST', path: string, body?: string): Promise<Answer> => {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${merchant.secret_key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body }),
      });
      return { status: response.status, body: (await response.json()) as Answer['body'] };
    };

    // Nesting: eleven levels, and as deep as the 1 MiB body limit allows, in a field the schema
    // would refuse anyway, so that only the parser stands between it and a stack overflow.
    for (const [arrays, objects] of [[10, 10], [500_000, 150_000]] as const) {
      expectRefusal(await send('POST', '/v1/customers', `{"name":"Deep","description":${'['.repeat(arrays)}${']'.repeat(arrays)}}`), 'json_too_deep');
      expectRefusal(await send('POST', '/v1/customers', `{"name":"Deep","description":${'{"a":'.repeat(objects)}1${'}'.repeat(objects)}}`), 'json_too_deep');
    }
    const wide = Object.fromEntries(Array.from({ length: 101 }, (_, index) => [`k${index}`, 'v']));
    expectRefusal(await send('POST', '/v1/customers', JSON.stringify({ name: 'Wide', metadata: wide })), 'json_object_too_many_keys', 'metadata.k100');
    // name, items and 100 objects of 10 keys: the 1,001st key is the last object's ninth.
    const many = Array.from({ length: 100 }, () => ({ a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10 }));
    expectRefusal(await send('POST', '/v1/customers', JSON.stringify({ name: 'Many', items: many })), 'json_too_many_keys', 'items[99].i');
    expectRefusal(await send('POST', '/v1/customers', '{"name":"First","description":"x","name":"Second"}'), 'json_duplicate_key', 'name');
    expect(await customers()).toEqual(before);

    // A card number in the path or the query, however it is written.
    const card = '4000056655665556';
    const middle = card.slice(3, 13);
    const grouped = (separator: string) => card.replace(/(\d{4})(?=\d)/g, `$1${separator}`);
    const full_width = [...card].map((digit) => String.fromCharCode(0xff10 + Number(digit))).join('');
    const card_urls = [
      `/v1/customers/${card}`,
      `/v1/customers/${grouped('.')}`,
      `/v1/customers?limit=1&starting_after=${card}`,
      `/v1/customers?starting_after=${grouped('+')}`,
      `/v1/customers?starting_after=${encodeURIComponent(grouped('\u00a0'))}`,
      `/v1/customers?starting_after=${encodeURIComponent(grouped('\u200b'))}`,
      `/v1/customers/${encodeURIComponent(full_width)}`,
    ];
    for (const path of card_urls) {
      const answer = await send('GET', path);
      expectRefusal(answer, 'card_number_not_allowed');
      expect(JSON.stringify(answer.body)).not.toContain(middle);
    }
    const posted = await send('POST', `/v1/customers?email=${card}`, '{"name":"Via URL"}');
    expectRefusal(posted, 'card_number_not_allowed');
    expect(await customers()).toEqual(before);

    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await exited;
    // The refusals were logged, with their URLs redacted, and nothing else of the number was.
    expect(output).toContain('card_number_not_allowed');
    expect(output).toContain('[redacted]');
    for (const trace of [middle, card.slice(0, 8), grouped('.').slice(0, 9), full_width.slice(0, 4), encodeURIComponent(full_width).slice(0, 18)]) {
      expect([trace, output.includes(trace)]).toEqual([trace, false]);
    }
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await data.remove();
  }
});
