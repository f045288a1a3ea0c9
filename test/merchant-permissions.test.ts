// What a merchant may do, walked cell by cell through the HTTP API: for every status (active,
// suspended) by KYC status (pending, verified, rejected) by mode (test, live) by action (read,
// write, move money, manage keys), one merchant is put in that state by the operator's route and
// sends one real request for that action with its test or live key. An allowed cell must succeed;
// a refused one must be 403 `permission_error` with the code of the state that forbids it, and no
// row of any service's database nor any ledger balance may change.
//
// The expected verdicts are stated here as rules, apart from the gateway's table, so that a
// changed cell in the table fails this suite as surely as a broken enforcement does.
//
// The merchant's state is changed between cells on a platform that has just served its keys, so
// every cell also shows that a change applies to the very next request. A separate case changes
// the state behind the gateway's back (in identity's own database file) and checks the same.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CardAcquirerSimulator,
  startCardAcquirerServer,
  test_card_numbers,
  type AcquirerAuthorizeRequest,
  type AcquirerAuthorizeResult,
  type AcquirerCallOptions,
  type CardAcquirerServer,
} from '@paygrid/connectors';
import { merchant_actions, merchant_permissions, modes, type MerchantAction, type Mode } from '@paygrid/gateway';
import { kyc_statuses, merchant_statuses, type KycStatus, type MerchantStatus } from '@paygrid/identity';
import { temporaryDirectory, type TemporaryDirectory } from '@paygrid/kernel/testing';
import { Paygrid } from '@paygrid/sdk';
import { snapshotDatabases } from './support/database-digest';
import { startTestPlatform, type TestPlatform } from './support/platform';

/** A real acquirer takes live payments; the simulator refuses them, so this stand-in hides the mode from it. */
class StandInForARealAcquirer extends CardAcquirerSimulator {
  override authorize(request: AcquirerAuthorizeRequest, options?: AcquirerCallOptions): Promise<AcquirerAuthorizeResult> {
    return super.authorize({ ...request, livemode: false }, options);
  }
}

interface Answer {
  readonly status: number;
  readonly body: { error?: { type: string; code: string; message: string; param?: string } } & Record<string, unknown>;
}

/** What each cell must answer, stated as the rules the table was written from (decision 65). */
function expectedVerdict(status: MerchantStatus, kyc_status: KycStatus, mode: Mode, action: MerchantAction): string {
  if (action === 'read' || action === 'manage_keys') return 'allowed';
  if (status === 'suspended') return 'merchant_suspended';
  if (mode === 'test' || kyc_status === 'verified') return 'allowed';
  if (kyc_status === 'rejected') return 'kyc_rejected';
  return action === 'move_money' ? 'kyc_not_verified' : 'allowed';
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until background work (event relays, projections) has settled: two snapshots in a row agree. */
async function settledSnapshot(data_dir: string): Promise<ReturnType<typeof snapshotDatabases>> {
  let previous = snapshotDatabases(data_dir);
  for (let round = 0; round < 30; round += 1) {
    await sleep(400);
    const current = snapshotDatabases(data_dir);
    if (JSON.stringify(current) === JSON.stringify(previous)) return current;
    previous = current;
  }
  throw new Error('the databases never settled');
}

/** What one mode of the merchant holds: its secret key, two funded wallets, spare keys to revoke. */
interface ModeFixture {
  readonly secret: string;
  readonly publishable: string;
  readonly source: string;
  readonly destination: string;
  readonly spare_keys: string[];
}

describe('what a merchant may do, cell by cell through the API', () => {
  let directory: TemporaryDirectory;
  let acquirer_server: CardAcquirerServer;
  let test: TestPlatform;
  let data_dir: string;
  let merchant_id: string;
  const fixtures = {} as Record<Mode, ModeFixture>;
  let current: { status: MerchantStatus; kyc_status: KycStatus };

  async function send(key: string, path: string, body?: unknown, options: { method?: string; idempotency_key?: string } = {}): Promise<Answer> {
    const method = options.method ?? (body === undefined ? 'GET' : 'POST');
    const response = await fetch(`${test.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(method === 'GET' ? {} : { 'idempotency-key': options.idempotency_key ?? randomUUID() }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Answer['body'] };
  }

  /** Sets the merchant's state through the operator's route, by transitions the identity service allows. */
  async function setState(status: MerchantStatus, kyc_status: KycStatus): Promise<void> {
    const patch = async (change: Record<string, string>) => {
      const answer = await send(test.operator_key, `/v1/merchants/${merchant_id}`, change, { method: 'PATCH' });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    };
    if (kyc_status !== current.kyc_status) {
      // Verified never goes straight back to pending: it is rejected first, then sent back for review.
      if (current.kyc_status === 'verified' && kyc_status === 'pending') await patch({ kyc_status: 'rejected' });
      await patch({ kyc_status });
    }
    if (status !== current.status) await patch({ status });
    current = { status, kyc_status };
  }

  /** One real request for the action, in the mode: each changes something when it is allowed. */
  async function representative(mode: Mode, action: MerchantAction): Promise<{ answer: Answer; check: (answer: Answer) => void }> {
    const fixture = fixtures[mode];
    switch (action) {
      case 'read': {
        const answer = await send(fixture.secret, `/v1/wallets/${fixture.source}`);
        return { answer, check: (allowed) => expect(allowed.body).toMatchObject({ object: 'wallet', id: fixture.source }) };
      }
      case 'write': {
        const answer = await send(fixture.secret, '/v1/customers', { name: `Customer in ${mode} mode` });
        return { answer, check: (allowed) => expect(allowed.body).toMatchObject({ object: 'customer', livemode: mode === 'live' }) };
      }
      case 'move_money': {
        const answer = await send(fixture.secret, '/v1/wallet_transfers', { source: fixture.source, destination: fixture.destination, amount: 1, currency: 'usd' });
        return { answer, check: (allowed) => expect(allowed.body).toMatchObject({ object: 'wallet_transfer', amount: 1, status: 'succeeded' }) };
      }
      case 'manage_keys': {
        const spare = fixture.spare_keys.pop();
        if (spare === undefined) throw new Error(`no spare ${mode} key left to revoke`);
        const answer = await send(fixture.secret, `/v1/api_keys/${spare}/revoke`, {});
        return { answer, check: (allowed) => expect(allowed.body).toMatchObject({ object: 'api_key', id: spare, revoked_at: expect.any(Number) as number }) };
      }
    }
  }

  beforeAll(async () => {
    directory = await temporaryDirectory();
    data_dir = join(directory.path, 'data');
    const token = 'acquirer-bearer-secret-for-this-test-0123456789';
    writeFileSync(join(directory.path, 'acquirer.token'), `${token}\n`, { mode: 0o600 });
    acquirer_server = await startCardAcquirerServer(new StandInForARealAcquirer(), { bearer_token: token });
    // A card acquirer is configured so that live wallets can be funded by a live card payment.
    test = await startTestPlatform({ env: { DATA_DIR: data_dir, CARD_ACQUIRER_URL: acquirer_server.url, CARD_ACQUIRER_TOKEN_FILE: join(directory.path, 'acquirer.token') } });
    expect(test.platform.live_capabilities.card_payments.status).toBe('active');

    const created = await test.operator.merchants.create({ name: 'Every Cell' });
    merchant_id = created.id;
    await test.operator.merchants.update(merchant_id, { kyc_status: 'verified' });
    current = { status: 'active', kyc_status: 'verified' };
    const spare_keys_per_mode = kyc_statuses.length * merchant_statuses.length + 2;
    for (const mode of modes) {
      const livemode = mode === 'live';
      const secret = livemode ? (await test.operator.merchants.createApiKey(merchant_id, { type: 'secret', livemode })).secret : created.secret_key;
      const publishable = livemode ? (await test.operator.merchants.createApiKey(merchant_id, { type: 'publishable', livemode })).secret : created.publishable_key;
      const spare_keys: string[] = [];
      for (let index = 0; index < spare_keys_per_mode; index += 1) spare_keys.push((await test.operator.merchants.createApiKey(merchant_id, { type: 'secret', livemode })).id);
      const client = new Paygrid({ api_key: secret, base_url: test.url });
      const wallet = async (name: string) => (await client.wallets.create({ customer: (await client.customers.create({ name })).id, currency: 'usd' })).id;
      const source = await wallet('Alice');
      const destination = await wallet('Bob');
      if (livemode) {
        // A live wallet is funded by a live card payment.
        const card = (await new Paygrid({ api_key: publishable, base_url: test.url }).tokens.create({ card: { number: test_card_numbers.succeeds, exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' } })).id;
        const top_up = await client.paymentIntents.create({ amount: 10_000, currency: 'usd', top_up_wallet: source });
        expect((await client.paymentIntents.confirm(top_up.id, { payment_method: { type: 'card', token: card } })).status).toBe('succeeded');
      } else {
        await client.wallets.topUp(source, { amount: 10_000 });
      }
      expect((await client.wallets.retrieve(source)).balance.available).toBe(10_000);
      fixtures[mode] = { secret, publishable, source, destination, spare_keys };
    }
  }, 60_000);

  afterAll(async () => {
    await test.close();
    await acquirer_server.close();
    await directory.remove();
  });

  it('the table holds the expected verdict in every cell', () => {
    for (const status of merchant_statuses) {
      for (const kyc_status of kyc_statuses) {
        for (const mode of modes) {
          for (const action of merchant_actions) {
            expect(merchant_permissions[status][kyc_status][mode][action], `${status} ${kyc_status} ${mode} ${action}`).toBe(expectedVerdict(status, kyc_status, mode, action));
          }
        }
      }
    }
  });

  it('answers every cell as the table says, and a refused request changes nothing', async () => {
    const walked: string[] = [];
    for (const status of merchant_statuses) {
      for (const kyc_status of kyc_statuses) {
        await setState(status, kyc_status);
        // Refused cells first, on a settled platform, so that any change is theirs.
        const cells = modes.flatMap((mode) => merchant_actions.map((action) => ({ mode, action, verdict: expectedVerdict(status, kyc_status, mode, action) })));
        cells.sort((left, right) => Number(left.verdict === 'allowed') - Number(right.verdict === 'allowed'));
        let before = await settledSnapshot(data_dir);
        for (const { mode, action, verdict } of cells) {
          const cell = `${status} ${kyc_status} ${mode} ${action}`;
          const { answer, check } = await representative(mode, action);
          if (verdict === 'allowed') {
            expect(answer.status, `${cell}: ${JSON.stringify(answer.body)}`).toBe(200);
            check(answer);
          } else {
            expect(answer.status, `${cell}: ${JSON.stringify(answer.body)}`).toBe(403);
            expect(answer.body.error, cell).toMatchObject({ type: 'permission_error', code: verdict });
            expect(answer.body.error?.message, cell).toMatch(/Nothing was done$/);
            const after = snapshotDatabases(data_dir);
            expect(after, `${cell} changed the databases`).toEqual(before);
            before = after;
          }
          walked.push(`${cell} ${verdict}`);
        }
      }
    }
    expect(walked).toHaveLength(merchant_statuses.length * kyc_statuses.length * modes.length * merchant_actions.length);
  }, 120_000);

  it('applies a change of state to the very next request, and a refused request leaves no idempotency record behind', async () => {
    await setState('active', 'verified');
    const { secret, publishable, source, destination } = fixtures.live;
    const transfer = { source, destination, amount: 1, currency: 'usd' };
    // Warm: the key has just been served, several times.
    for (let round = 0; round < 3; round += 1) expect((await send(secret, '/v1/wallet_transfers', transfer)).status).toBe(200);

    await setState('suspended', 'verified');
    const idempotency_key = randomUUID();
    const refused = await send(secret, '/v1/wallet_transfers', transfer, { idempotency_key });
    expect([refused.status, refused.body.error?.code]).toEqual([403, 'merchant_suspended']);
    // A checkout page's publishable key is refused the same way, with the one error shape.
    const token = await send(publishable, '/v1/tokens', { card: { number: test_card_numbers.succeeds, exp_month: 12, exp_year: new Date().getUTCFullYear() + 2, cvc: '123' } });
    expect([token.status, token.body.error?.type, token.body.error?.code]).toEqual([403, 'permission_error', 'merchant_suspended']);
    // A suspended merchant still reads.
    expect((await send(secret, `/v1/wallets/${source}`)).status).toBe(200);

    await setState('active', 'verified');
    // The same request under the same key runs now: the refusal was not stored for replay.
    const allowed = await fetch(`${test.url}/v1/wallet_transfers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', 'idempotency-key': idempotency_key },
      body: JSON.stringify(transfer),
    });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('idempotent-replayed')).toBeNull();

    // A change made behind the gateway's back, straight in identity's own database (as another
    // instance or a repair would), applies to the next request too: nothing about the merchant's
    // state is kept between requests.
    const identity = new BetterSqlite3(join(data_dir, 'identity.sqlite'));
    try {
      identity.prepare("UPDATE identity_merchants SET kyc_status = 'rejected' WHERE id = ?").run(merchant_id);
      const rejected = await send(secret, '/v1/wallet_transfers', transfer);
      expect([rejected.status, rejected.body.error?.code]).toEqual([403, 'kyc_rejected']);
      identity.prepare("UPDATE identity_merchants SET kyc_status = 'verified' WHERE id = ?").run(merchant_id);
      expect((await send(secret, '/v1/wallet_transfers', transfer)).status).toBe(200);
    } finally {
      identity.close();
    }
  }, 60_000);
});
