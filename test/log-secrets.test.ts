// No log line carries a card number, a CVC, an API secret key (sk_…), a webhook signing secret
// (whsec_…), a merchant signing secret, the operator key or an Authorization header's value. The
// platform logs at its most verbose level (trace) while merchants are signed up, their keys and
// signing secrets rolled, webhook endpoints created, requests signed, and card payments made with
// full card numbers and CVCs; then every line every process printed is searched, byte for byte
// and field by field. The all-in-one process runs always; the distributed mode (where the
// operator key travels between processes and card numbers reach the vault over HTTP) runs with
// PostgreSQL, NATS and Redis. test/card-data-leak.test.ts searches the database files for card
// numbers, and test/secrets-at-rest.test.ts for signing secrets and the key-encryption key.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPostgresNatsAndRedis, temporaryDirectory } from '@paygrid/kernel/testing';
import { Paygrid } from '@paygrid/sdk';
import { startDistributedTestDeployment, type DistributedTestDeployment } from './support/distributed';
import { freePort } from './support/platform';
import { digitNeedles, findings, secretNeedles, webhookSecretNeedles, type Needle } from './support/secrets-search';

const cli = join(resolve(import.meta.dirname, '..'), 'apps/cli/bin/paygrid.js');
/** A Visa and an American Express card, each with a CVC of its own length. */
const cards = [
  { number: '4242424242424242', cvc: '739' },
  { number: '378282246310005', cvc: '7391' },
] as const;

function spaced(number: string): string {
  return number.replace(/(\d{4})(?=\d)/g, '$1 ');
}

interface Secrets {
  readonly needles: Needle[];
  /** Merchant ids, which the trace logs name: proof that the lines searched are the flows' own. */
  readonly merchant_ids: string[];
}

/** Signs merchants up, rolls their keys, makes signed requests, webhook endpoints and card payments. */
async function runFlows(url: string, operator_key: string): Promise<Secrets> {
  const operator = new Paygrid({ api_key: operator_key, base_url: url });
  const needles: Needle[] = [...secretNeedles(operator_key).map((needle) => ({ ...needle, what: 'the operator key' }))];
  const merchant_ids: string[] = [];
  for (const name of ['Leakless', 'Tightlip']) {
    const created = await operator.merchants.create({ name });
    merchant_ids.push(created.id);
    needles.push(...secretNeedles(created.secret_key), ...secretNeedles(created.signing_secret));
    const unsigned = new Paygrid({ api_key: created.secret_key, base_url: url });
    // A new secret key (the old one stays valid for a while) and a new signing secret.
    const key_id = (await unsigned.apiKeys.list()).data.find((key) => key.type === 'secret')?.id ?? '';
    const rolled = await unsigned.apiKeys.roll(key_id, { expires_in_seconds: 600 });
    const signing = await operator.merchants.rollSigningSecret(created.id, { expires_in_seconds: 600 });
    needles.push(...secretNeedles(rolled.secret), ...secretNeedles(signing.signing_secret));
    // Every request from here on is signed with the signing secret, under the rolled key.
    const merchant = new Paygrid({ api_key: rolled.secret, signing_secret: signing.signing_secret, base_url: url });
    await merchant.account.update({ signing_required: true });
    const endpoint = await merchant.webhookEndpoints.create({ url: 'http://127.0.0.1:9/hooks', enabled_events: ['*'] });
    needles.push(...webhookSecretNeedles(endpoint.secret));
    const publishable = new Paygrid({ api_key: created.publishable_key, base_url: url });
    for (const card of cards) {
      const token = await publishable.tokens.create({ card: { number: spaced(card.number), exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: card.cvc } });
      const intent = await merchant.paymentIntents.create({ amount: 1_500, currency: 'usd' });
      await merchant.paymentIntents.confirm(intent.id, { payment_method: { type: 'card', token: token.id } }).catch(() => undefined);
    }
    // Refused requests are logged too: a wrong key, and a good key with a wrong signature.
    expect((await fetch(`${url}/v1/customers`, { headers: { authorization: `Bearer ${created.secret_key}x` } })).status).toBe(401);
    expect((await fetch(`${url}/v1/customers`, { headers: { authorization: `Bearer ${rolled.secret}`, 'paygrid-signature': 't=1,v1=00' } })).status).toBe(401);
    // A card number sent where it does not belong, in a body and in a URL.
    await merchant.customers.create({ name: 'Card holder', description: `card ${cards[0].number}` }).catch(() => undefined);
    await fetch(`${url}/v1/customers/${cards[0].number}`, { headers: { authorization: `Bearer ${rolled.secret}` } });
  }
  for (const card of cards) needles.push(...digitNeedles(card.number, 'card number'), { what: `card number ${spaced(card.number)}`, bytes: Buffer.from(spaced(card.number)) });
  return { needles, merchant_ids };
}

/** Field by field: a CVC, or an unredacted value under an Authorization header, in any JSON line. */
function fieldFindings(output: string): string[] {
  const found: string[] = [];
  const cvcs = new Set<string>(cards.map((card) => card.cvc));
  const visit = (value: unknown, path: string, line: number) => {
    if (typeof value === 'string' || typeof value === 'number') {
      if (cvcs.has(String(value))) found.push(`line ${line}: a CVC at ${path}`);
      if (/authorization$/i.test(path) && value !== '[redacted]') found.push(`line ${line}: ${path} is ${String(value)}`);
      if (typeof value === 'string' && /\b(sk|whsec)_[A-Za-z0-9+/]{8,}/.test(value)) found.push(`line ${line}: a secret key at ${path}`);
      return;
    }
    if (typeof value === 'object' && value !== null) for (const [key, inner] of Object.entries(value)) visit(inner, `${path}.${key}`, line);
  };
  output.split('\n').forEach((text, index) => {
    // Processes of the distributed mode print `[service] {json}`.
    const json = text.replace(/^\[[\w-]+\] /, '');
    if (!json.startsWith('{')) return;
    visit(JSON.parse(json) as unknown, '', index + 1);
  });
  return found;
}

function expectNoSecrets(output: string, secrets: Secrets): void {
  // The lines are the flows' own: they name the merchants, and log every request.
  for (const id of secrets.merchant_ids) expect(output).toContain(id);
  expect(output.match(/"msg":"incoming request"/g)?.length ?? 0).toBeGreaterThan(20);
  expect(findings([{ where: 'the logs', bytes: Buffer.from(output, 'utf8') }], secrets.needles)).toEqual([]);
  expect(fieldFindings(output)).toEqual([]);
}

it('the all-in-one process logs no card data, secret or authorization header at trace level', async () => {
  const data = await temporaryDirectory();
  const port = await freePort();
  const operator_key = `op-logs-${randomBytes(24).toString('hex')}`;
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: data.path, PORT: String(port), PAYGRID_OPERATOR_KEY: operator_key, LOG_LEVEL: 'trace' };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'NATS_URL', 'METRICS_PORT']) delete env[name];
  const child = spawn(process.execPath, [cli, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    for (let waited = 0; !output.includes('Paygrid is running at'); waited += 50) {
      if (waited > 60_000 || child.exitCode !== null) throw new Error(`platform did not start:\n${output}`);
      await new Promise((done) => setTimeout(done, 50));
    }
    const secrets = await runFlows(`http://127.0.0.1:${port}`, operator_key);
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await exited;
    expectNoSecrets(output, secrets);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await data.remove();
  }
}, 90_000);

it('the search finds each kind of secret it looks for: it can fail', () => {
  const secrets: Secrets = { needles: [...secretNeedles('sk_test_abcdefghijklmnop'), ...webhookSecretNeedles('whsec_c2VjcmV0LWtleS1ieXRlcw=='), ...digitNeedles(cards[0].number, 'card number')], merchant_ids: ['mer_1'] };
  const lines = [
    '{"level":10,"merchant":"mer_1","msg":"sk_test_abcdefghijklmnop"}',
    '{"level":10,"merchant":"mer_1","msg":"whsec_c2VjcmV0LWtleS1ieXRlcw=="}',
    `{"level":10,"merchant":"mer_1","msg":"${cards[0].number}"}`,
    '{"level":10,"req":{"headers":{"authorization":"Bearer op"}}}',
    `{"level":10,"card":{"cvc":"${cards[1].cvc}"}}`,
  ];
  const requests = Array.from({ length: 21 }, () => '{"level":30,"merchant":"mer_1","msg":"incoming request"}').join('\n');
  expectNoSecrets(`${requests}\n{"level":10,"req":{"headers":{"authorization":"[redacted]"}}}`, secrets);
  for (const line of lines) expect(() => expectNoSecrets(`${requests}\n${line}`, secrets), line).toThrow();
});

describeWithPostgresNatsAndRedis('the distributed mode at trace level', (urls) => {
  let deployment: DistributedTestDeployment | undefined;
  beforeAll(async () => {
    deployment = await startDistributedTestDeployment(urls, { LOG_LEVEL: 'trace' });
  }, 180_000);
  afterAll(async () => {
    // Undefined when the start failed: beforeAll reported that already.
    await deployment?.stop();
  }, 60_000);

  it('logs no card data, secret or authorization header in any process', async () => {
    const running = deployment;
    if (running === undefined) throw new Error('the distributed mode did not start');
    const secrets = await runFlows(running.url, running.operator_key);
    // Every process logged at trace level, the vault (which receives card numbers) included.
    for (const service of ['gateway', 'identity', 'vault', 'payments-1', 'webhooks', 'ledger']) expect(running.output.some((line) => line.startsWith(`[${service}] {`)), service).toBe(true);
    expectNoSecrets(running.output.join('\n'), secrets);
  }, 90_000);
});
