// Idempotency records keep no secret in plain text. The gateway keeps the first answer to each
// `Idempotency-Key` for a day, and some answers show a secret once: a merchant's keys and signing
// secret, an API key created or rolled, a rolled signing secret, a webhook endpoint's `whsec_`
// secret. Every one of those requests is sent with a key, then every key and value the cache holds
// (Redis under the platform's prefix, read back with SCAN; or everything the in-memory cache was
// ever given) is searched for each secret's bytes. Each request is replayed and must answer
// exactly as it did. Records moved to another key, altered, of an older layout or sealed under a
// key no longer held are refused with a 409, and run nothing; and a rotation of the key-encryption
// key (KEK) leaves every record replaying. Runs with the in-memory cache and, with REDIS_URL, Redis.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idempotency_record_format, root_operator_id } from '@paygrid/gateway';
import { createMemoryCache, type Cache } from '@paygrid/kernel/cache';
import { describeWithRedis, redisUrl } from '@paygrid/kernel/testing';
import { findings, secretNeedles, type Haystack, type Needle } from './support/secrets-search';
import { startTestPlatform, type TestPlatform } from './support/platform';

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly body: Record<string, unknown> & { error?: { type: string; code: string; message: string; param?: string } };
  readonly headers: Headers;
}

interface Sent {
  readonly method: 'POST' | 'PATCH';
  readonly path: string;
  readonly key: string;
  readonly body: string;
  readonly idempotency_key: string;
}

/** The cache as the test sees it: read and write one record, and every byte it holds. */
interface CacheAccess {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
  haystacks(): Promise<Haystack[]>;
}

/**
 * The real memory adapter, with a copy of every key and value it is given: what it holds now is
 * a subset, so searching these covers running records and overwritten ones too.
 */
function recordingCache(inner: Cache): Cache & { readonly written: Haystack[] } {
  const written: Haystack[] = [];
  function record(key: string, value: string): void {
    written.push({ where: `memory key ${key}`, bytes: Buffer.from(key, 'utf8') }, { where: `memory value of ${key}`, bytes: Buffer.from(value, 'utf8') });
  }
  return {
    adapter: inner.adapter,
    written,
    get: (key) => inner.get(key),
    set: async (key, value, ttl_ms) => {
      record(key, value);
      await inner.set(key, value, ttl_ms);
    },
    setIfAbsent: async (key, value, ttl_ms) => {
      record(key, value);
      return inner.setIfAbsent(key, value, ttl_ms);
    },
    delete: (key) => inner.delete(key),
    takeToken: async (key, bucket) => {
      written.push({ where: `memory bucket key ${key}`, bytes: Buffer.from(key, 'utf8') });
      return inner.takeToken(key, bucket);
    },
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
}

/** Every key under the prefix and every value it holds, as Redis keeps them. */
async function redisHaystacks(redis: Redis, prefix: string): Promise<Haystack[]> {
  const haystacks: Haystack[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scanBuffer(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
    cursor = next.toString();
    for (const key of keys) {
      const name = key.toString('utf8');
      haystacks.push({ where: `Redis key ${name}`, bytes: key });
      const type = await redis.type(key);
      if (type === 'string') {
        const value = await redis.getBuffer(key);
        if (value !== null) haystacks.push({ where: `Redis value of ${name}`, bytes: value });
      } else if (type === 'hash') {
        const fields = await redis.hgetallBuffer(key);
        haystacks.push({ where: `Redis hash ${name}`, bytes: Buffer.concat(Object.entries(fields).flatMap(([field, value]) => [Buffer.from(field, 'utf8'), value])) });
      } else {
        haystacks.push({ where: `Redis key ${name} of unexpected type ${type}`, bytes: Buffer.alloc(0) });
      }
    }
  } while (cursor !== '0');
  return haystacks;
}

/**
 * Each haystack, and the bytes of every long base64 run inside it decoded: a record that only
 * encoded a secret, rather than sealing it, is found as surely as one that kept it as it was.
 */
function withBase64Decoded(haystacks: readonly Haystack[]): Haystack[] {
  const decoded: Haystack[] = [];
  for (const haystack of haystacks) {
    for (const match of haystack.bytes.toString('latin1').matchAll(/[A-Za-z0-9+/_-]{24,}={0,2}/g)) {
      decoded.push({ where: `${haystack.where} (base64 decoded)`, bytes: Buffer.from(match[0], match[0].includes('-') || match[0].includes('_') ? 'base64url' : 'base64') });
    }
  }
  return [...haystacks, ...decoded];
}

/** The cache key of an operator's idempotency key (idempotency.ts), before the cache's prefix. */
function operatorRecordKey(idempotency_key: string): string {
  return `idempotency:operator:${root_operator_id}:${createHash('sha256').update(idempotency_key).digest('hex')}`;
}

async function waitFor(condition: () => Promise<boolean>, what: string, timeout_ms = 20_000): Promise<void> {
  for (let waited = 0; !(await condition()); waited += 50) {
    if (waited > timeout_ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

const card = { number: '4242424242424242', exp_month: 12, exp_year: new Date().getUTCFullYear() + 1, cvc: '987' };

const caches: { name: string; redis_url?: string }[] = [{ name: 'memory cache' }];
const redis_url = redisUrl();
if (redis_url !== undefined) caches.push({ name: 'Redis cache', redis_url });

describe.each(caches)('idempotency records at rest ($name)', ({ redis_url }) => {
  let test: TestPlatform;
  let access: CacheAccess;
  let redis: Redis | undefined;
  let memory: (Cache & { readonly written: Haystack[] }) | undefined;
  /** Every secret-bearing request sent, and what it answered the first time. */
  const sent: { request: Sent; answer: Answer }[] = [];
  const needles: Needle[] = [];
  let merchant_id = '';
  let merchant_secret_key = '';

  async function send(request: Sent): Promise<Answer> {
    const response = await fetch(`${test.url}${request.path}`, {
      method: request.method,
      headers: { authorization: `Bearer ${request.key}`, 'content-type': 'application/json', 'idempotency-key': request.idempotency_key },
      body: request.body,
    });
    const text = await response.text();
    return { status: response.status, text, body: JSON.parse(text) as Answer['body'], headers: response.headers };
  }

  /** Sends a request that answers with secrets, keeps it for the replays, and adds the secrets to the needles. */
  async function sendSecretBearing(request: Omit<Sent, 'idempotency_key'>, secret_fields: readonly string[]): Promise<Answer> {
    const full: Sent = { ...request, idempotency_key: `secret-${randomBytes(8).toString('hex')}` };
    const answer = await send(full);
    expect(answer.status, answer.text).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    for (const field of secret_fields) {
      const secret = answer.body[field];
      expect(typeof secret, field).toBe('string');
      if (typeof secret === 'string') needles.push(...secretNeedles(secret).map((needle) => ({ ...needle, what: `${request.path} ${field}: ${needle.what}` })));
    }
    sent.push({ request: full, answer });
    return answer;
  }

  function expectUnavailable(answer: Answer): void {
    expect(answer.status, answer.text).toBe(409);
    expect(answer.body.error?.type).toBe('idempotency_error');
    expect(answer.body.error?.code).toBe('idempotency_response_unavailable');
    expect(answer.body.error?.param).toBe('Idempotency-Key');
    expect(answer.headers.get('idempotent-replayed')).toBeNull();
  }

  beforeAll(async () => {
    if (redis_url === undefined) {
      memory = recordingCache(createMemoryCache());
      const recorded = memory;
      test = await startTestPlatform({ cache: recorded });
      access = {
        get: (key) => recorded.get(key),
        set: (key, value) => recorded.set(key, value, 60_000),
        haystacks: () => Promise.resolve([...recorded.written]),
      };
    } else {
      test = await startTestPlatform({ redis_url });
      const client = new Redis(redis_url, { maxRetriesPerRequest: 2 });
      client.on('error', () => undefined);
      redis = client;
      const prefix = test.platform.config.CACHE_KEY_PREFIX;
      access = {
        get: async (key) => (await client.get(`${prefix}${key}`)) ?? undefined,
        set: async (key, value) => {
          await client.set(`${prefix}${key}`, value, 'PX', 60_000);
        },
        haystacks: () => redisHaystacks(client, prefix),
      };
    }
    const operator = test.operator_key;
    const merchant = await sendSecretBearing({ method: 'POST', path: '/v1/merchants', key: operator, body: JSON.stringify({ name: 'Acme' }) }, [
      'secret_key',
      'publishable_key',
      'signing_secret',
    ]);
    merchant_id = String(merchant.body.id);
    merchant_secret_key = String(merchant.body.secret_key);
    const created_key = await sendSecretBearing(
      { method: 'POST', path: `/v1/merchants/${merchant_id}/api_keys`, key: operator, body: JSON.stringify({ type: 'secret', livemode: false }) },
      ['secret'],
    );
    const rolled_key = await sendSecretBearing(
      { method: 'POST', path: `/v1/merchants/${merchant_id}/api_keys/${String(created_key.body.id)}/roll`, key: operator, body: JSON.stringify({}) },
      ['secret'],
    );
    await sendSecretBearing({ method: 'POST', path: `/v1/merchants/${merchant_id}/signing_secret/roll`, key: operator, body: JSON.stringify({ expires_in_seconds: 600 }) }, [
      'signing_secret',
    ]);
    await sendSecretBearing({ method: 'POST', path: `/v1/api_keys/${String(rolled_key.body.id)}/roll`, key: merchant_secret_key, body: JSON.stringify({}) }, ['secret']);
    await sendSecretBearing(
      { method: 'POST', path: '/v1/webhook_endpoints', key: merchant_secret_key, body: JSON.stringify({ url: 'http://127.0.0.1:9/hooks', enabled_events: ['*'] }) },
      ['secret'],
    );
  });

  afterAll(async () => {
    await test.close();
    redis?.disconnect();
    await memory?.close();
  });

  it('keeps no secret, and no searchable trace of a card, in any key or value of the cache', async () => {
    // A card token with a key: its request body holds a card number and a CVC.
    const token_body = JSON.stringify({ card });
    const token = await send({ method: 'POST', path: '/v1/tokens', key: String(sent[0]?.answer.body.publishable_key), body: token_body, idempotency_key: 'token-1' });
    expect(token.status, token.text).toBe(200);
    const card_needles: Needle[] = [
      { what: 'the card number', bytes: Buffer.from(card.number, 'utf8') },
      // The fingerprint of the first layout: a plain SHA-256 of the request, searchable for a card.
      { what: 'an unkeyed fingerprint of the token request', bytes: Buffer.from(createHash('sha256').update(`POST /v1/tokens\n${token_body}`).digest('hex'), 'utf8') },
    ];
    expect(needles.length).toBeGreaterThanOrEqual(2 * 8);
    const haystacks = withBase64Decoded(await access.haystacks());
    // The search looked at the records themselves: one per request sent, sealed.
    const records = haystacks.filter((haystack) => haystack.bytes.includes(Buffer.from(`"format":${idempotency_record_format}`)));
    expect(records.length).toBeGreaterThanOrEqual(sent.length + 1);
    expect(haystacks.some((haystack) => haystack.bytes.includes(Buffer.from('"sealed":"')))).toBe(true);
    expect(findings(haystacks, [...needles, ...card_needles])).toEqual([]);
  });

  it('replays every answer that showed a secret, exactly, from the sealed record', async () => {
    for (const { request, answer } of sent) {
      const replay = await send(request);
      expect(replay.status, `${request.path}: ${replay.text}`).toBe(answer.status);
      expect(replay.headers.get('idempotent-replayed'), request.path).toBe('true');
      expect(replay.headers.get('cache-control'), request.path).toBe('no-store');
      expect(replay.text, request.path).toBe(answer.text);
    }
    // The same key with another request is still refused as before.
    const [first] = sent;
    if (first === undefined) throw new Error('no request was sent');
    const other = await send({ ...first.request, body: JSON.stringify({ name: 'Globex' }) });
    expect(other.status).toBe(409);
    expect(other.body.error?.code).toBe('idempotency_key_mismatch');
  });

  it('refuses a record moved to another key, altered, unreadable, of the older layout or under an unknown key, and runs nothing', async () => {
    const operator = test.operator_key;
    // Two rolls of one merchant's signing secret: the same request under two keys.
    const roll = (idempotency_key: string): Sent => ({ method: 'POST', path: `/v1/merchants/${merchant_id}/signing_secret/roll`, key: operator, body: '{}', idempotency_key });
    const first = await send(roll('move-from'));
    const second = await send(roll('move-to'));
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(second.body.signing_secret).not.toBe(first.body.signing_secret);
    const from_value = await access.get(operatorRecordKey('move-from'));
    const to_value = await access.get(operatorRecordKey('move-to'));
    if (from_value === undefined || to_value === undefined) throw new Error('the records are not in the cache');

    // Moved: the first roll's sealed answer under the second's key. Bound to its key, it does not
    // open there; without the binding the replay would hand out the first roll's secret.
    await access.set(operatorRecordKey('move-to'), from_value);
    const moved = await send(roll('move-to'));
    expectUnavailable(moved);
    expect(moved.text).not.toContain(String(first.body.signing_secret));
    expect(moved.text).not.toContain(String(second.body.signing_secret));

    // Altered: one byte of the sealed answer.
    const record = JSON.parse(from_value) as { sealed: string; kek: string; fingerprint: string };
    const sealed = Buffer.from(record.sealed, 'base64');
    sealed[sealed.length - 1] = (sealed[sealed.length - 1] ?? 0) ^ 0x01;
    await access.set(operatorRecordKey('move-from'), JSON.stringify({ ...record, sealed: sealed.toString('base64') }));
    expectUnavailable(await send(roll('move-from')));

    // Under a key this platform never held.
    await access.set(operatorRecordKey('move-from'), JSON.stringify({ ...record, kek: '00112233445566ff' }));
    expectUnavailable(await send(roll('move-from')));

    // Not a record at all.
    await access.set(operatorRecordKey('move-from'), 'not a record');
    expectUnavailable(await send(roll('move-from')));

    // The layout before sealing, with the body in plain text: not replayed.
    const legacy_fingerprint = createHash('sha256').update(`POST /v1/merchants/${merchant_id}/signing_secret/roll\n{}`).digest('hex');
    await access.set(operatorRecordKey('move-from'), JSON.stringify({ state: 'done', fingerprint: legacy_fingerprint, status: 200, body: first.text }));
    expectUnavailable(await send(roll('move-from')));
    // Its lock, while a request of the older version runs, is honoured.
    await access.set(operatorRecordKey('move-from'), JSON.stringify({ state: 'running', fingerprint: legacy_fingerprint }));
    const locked = await send(roll('move-from'));
    expect(locked.status).toBe(409);
    expect(locked.body.error?.code).toBe('idempotency_key_in_use');

    // None of these ran the roll again: the audit log has the roll of the set-up and these two, no more.
    const audit = await fetch(`${test.url}/v1/audit_events?target=${merchant_id}&limit=100`, { headers: { authorization: `Bearer ${operator}` } });
    const events = ((await audit.json()) as { data: { action: string }[] }).data.filter((event) => event.action === 'signing_secret.rolled');
    expect(events).toHaveLength(3);
  });

  it('replays records sealed before a rotation of the key-encryption key, during it and after the old key is retired', async () => {
    const operator = test.operator_key;
    const before_rotation = await access.get(operatorRecordKey(sent[0]?.request.idempotency_key ?? ''));
    const old_kek = (JSON.parse(before_rotation ?? '{}') as { kek?: string }).kek;
    expect(old_kek).toMatch(/^[0-9a-f]{16}$/);
    const rotate = await fetch(`${test.url}/v1/keys/rotate`, { method: 'POST', headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' }, body: '{}' });
    expect(rotate.status, await rotate.text()).toBe(202);
    const source = test.platform.key_source;
    if (source?.kind !== 'file') throw new Error('the test platform keeps its key in a file');
    // Done when nothing is wrapped by the old key: it is retired from the keyring and its file deleted.
    await waitFor(async () => {
      const status = (await (await fetch(`${test.url}/v1/keys`, { headers: { authorization: `Bearer ${operator}` } })).json()) as { state: string; remaining: number; current_kek: string };
      return status.state === 'idle' && status.remaining === 0 && status.current_kek !== old_kek;
    }, 'the rotation to finish');
    expect(existsSync(`${source.path}.previous`)).toBe(false);

    for (const { request, answer } of sent) {
      const replay = await send(request);
      expect(replay.status, `${request.path}: ${replay.text}`).toBe(answer.status);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(replay.text).toBe(answer.text);
    }
    // New records are sealed under the new key.
    const fresh = await send({ method: 'POST', path: `/v1/merchants/${merchant_id}/signing_secret/roll`, key: operator, body: '{}', idempotency_key: 'after-rotation' });
    expect(fresh.status).toBe(200);
    const fresh_record = JSON.parse((await access.get(operatorRecordKey('after-rotation'))) ?? '{}') as { kek?: string };
    expect(fresh_record.kek).toMatch(/^[0-9a-f]{16}$/);
    expect(fresh_record.kek).not.toBe(old_kek);
    expect(findings(withBase64Decoded(await access.haystacks()), secretNeedles(String(fresh.body.signing_secret)))).toEqual([]);
  });
});

describeWithRedis('idempotency records across replicas and restarts (Redis cache)', (url) => {
  it('replay from another process holding the key, and are refused by one that was never given it', async () => {
    // One Redis prefix for three platforms in turn, as replicas (or restarts) of one install.
    const prefix = `test:${randomBytes(6).toString('hex')}:`;
    const old_kek = randomBytes(32).toString('hex');
    const new_kek = randomBytes(32).toString('hex');
    const request = { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': `replica-${randomBytes(8).toString('hex')}` }, body: JSON.stringify({ name: 'Acme' }) };
    const redis = new Redis(url, { maxRetriesPerRequest: 2 });
    redis.on('error', () => undefined);
    async function withPlatform<Result>(env: Record<string, string>, work: (platform: TestPlatform) => Promise<Result>): Promise<Result> {
      const platform = await startTestPlatform({ redis_url: url, env: { CACHE_KEY_PREFIX: prefix, ...env } });
      try {
        return await work(platform);
      } finally {
        await platform.close();
      }
    }
    async function createMerchant(platform: TestPlatform): Promise<Answer> {
      const response = await fetch(`${platform.url}/v1/merchants`, { ...request, headers: { ...request.headers, authorization: `Bearer ${platform.operator_key}` } });
      const text = await response.text();
      return { status: response.status, text, body: JSON.parse(text) as Answer['body'], headers: response.headers };
    }
    try {
      const first = await withPlatform({ PAYGRID_VAULT_KEK: old_kek }, createMerchant);
      expect(first.status, first.text).toBe(200);
      expect(findings(await redisHaystacks(redis, prefix), secretNeedles(String(first.body.signing_secret)))).toEqual([]);

      // Another process with the same key: the same answer, secrets and all.
      const replica = await withPlatform({ PAYGRID_VAULT_KEK: old_kek }, createMerchant);
      expect(replica.headers.get('idempotent-replayed')).toBe('true');
      expect(replica.text).toBe(first.text);

      // Mid-rotation (the new key current, the old one previous): still the same answer, although
      // this embedded start retires the old key at once, as it wraps nothing in its own data.
      const rotated = await withPlatform({ PAYGRID_VAULT_KEK: new_kek, PAYGRID_VAULT_KEK_PREVIOUS: old_kek }, createMerchant);
      expect(rotated.status, rotated.text).toBe(200);
      expect(rotated.headers.get('idempotent-replayed')).toBe('true');
      expect(rotated.text).toBe(first.text);

      // A process never given the old key cannot open the record: a clear 409, and no second merchant.
      const without = await withPlatform({ PAYGRID_VAULT_KEK: new_kek }, async (platform) => {
        const answer = await createMerchant(platform);
        const merchants = (await (await fetch(`${platform.url}/v1/merchants`, { headers: { authorization: `Bearer ${platform.operator_key}` } })).json()) as { data: unknown[] };
        return { answer, merchants: merchants.data.length };
      });
      expect(without.answer.status, without.answer.text).toBe(409);
      expect(without.answer.body.error?.type).toBe('idempotency_error');
      expect(without.answer.body.error?.code).toBe('idempotency_response_unavailable');
      expect(without.merchants).toBe(0);
    } finally {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
      redis.disconnect();
    }
  });
});
