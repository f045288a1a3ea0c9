// The gateway's authentication cache against real Redis, with identity served over HTTP as in the
// distributed mode: two gateways share one Redis, so that a change made through one must be seen at
// once by the other, whose cache is warm.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IdentityService, identity_contract, identity_migrations, type IdentityClient } from '@paygrid/identity';
import { ApiError, createHttpServer, createLogger, createRedisCache, createSqliteDatabase, live_capability_names, openSqlite, systemClock, type Cache, type LiveCapabilities, type ServiceDatabase } from '@paygrid/kernel';
import { Keyring, generateKeyEncryptionKey } from '@paygrid/kernel/envelope';
import { describeWithRedis, serveOverRpc, temporaryDirectory, type ServedOverRpc, type TemporaryDirectory } from '@paygrid/kernel/testing';
import { createAuthenticationCache, credentialsEpochs } from './authentication-cache';
import { registerGateway } from './gateway';
import { IdempotencyKeys } from './idempotency-seal';

function unused<Service extends object>(name: string): Service {
  return new Proxy({} as Service, {
    get: (_target, property) => {
      throw new Error(`${name}.${String(property)} was used by a route this test does not call`);
    },
  });
}

const no_live_capabilities = Object.fromEntries(live_capability_names.map((name) => [name, { status: 'inactive', missing: 'nothing, in this test' }])) as unknown as LiveCapabilities;
const operator_key = `op-test-${randomBytes(12).toString('hex')}`;

/** The remote identity client, counting the authentications it is asked for. */
interface CountingIdentity {
  readonly client: IdentityClient;
  authentications: number;
}

function countingIdentity(remote: IdentityClient): CountingIdentity {
  const counting: CountingIdentity = {
    authentications: 0,
    client: new Proxy(remote, {
      get: (target, property, receiver) => {
        if (property !== 'authenticate') return Reflect.get(target, property, receiver) as unknown;
        return async (presented_key: string) => {
          counting.authentications += 1;
          return target.authenticate(presented_key);
        };
      },
    }),
  };
  return counting;
}

/**
 * A cache that answers like Redis when it cannot be reached, while `unreachable` is set, or only
 * to writes that replace a value, while `sets_unreachable` is set.
 */
function switchableCache(cache: Cache): Cache & { unreachable: boolean; sets_unreachable: boolean } {
  const unavailable = (): never => {
    throw new ApiError('service_unavailable_error', 'cache_unavailable', 'The shared cache (Redis) cannot be reached, in this test');
  };
  const switchable = {
    unreachable: false,
    sets_unreachable: false,
    adapter: cache.adapter,
    get: async (key: string) => (switchable.unreachable ? unavailable() : cache.get(key)),
    set: async (key: string, value: string, ttl_ms: number) => (switchable.unreachable || switchable.sets_unreachable ? unavailable() : cache.set(key, value, ttl_ms)),
    setIfAbsent: async (key: string, value: string, ttl_ms: number) => (switchable.unreachable ? unavailable() : cache.setIfAbsent(key, value, ttl_ms)),
    delete: async (key: string) => (switchable.unreachable ? unavailable() : cache.delete(key)),
    takeToken: async (key: string, bucket: { capacity: number; refill_per_second: number }) => (switchable.unreachable ? unavailable() : cache.takeToken(key, bucket)),
    ping: async () => (switchable.unreachable ? unavailable() : cache.ping()),
    close: () => cache.close(),
  };
  return switchable;
}

interface Gateway {
  readonly app: FastifyInstance;
  readonly identity: CountingIdentity;
  readonly cache: ReturnType<typeof switchableCache>;
}

describeWithRedis('Authentication cache with identity over HTTP and gateways sharing Redis', (redis_url) => {
  const key_prefix = `test:authcache:${randomBytes(8).toString('hex')}:`;
  const keyring = new Keyring(generateKeyEncryptionKey());
  let directory: TemporaryDirectory;
  let database: ServiceDatabase;
  let service: IdentityService;
  let served: ServedOverRpc<IdentityClient>;
  const gateways: Gateway[] = [];

  async function startGateway(): Promise<Gateway> {
    // The platform's server, whose error handler answers in the one error shape with its status.
    const { app } = createHttpServer({ logger: createLogger({ level: 'silent', name: 'authentication-cache-test' }) });
    const identity = countingIdentity(served.remote);
    const cache = switchableCache(createRedisCache({ url: redis_url, key_prefix }));
    await registerGateway(app, {
      identity: identity.client,
      identity_is_remote: true,
      wallet: unused('wallet'),
      ledger: unused('ledger'),
      payments: unused('payments'),
      vault: unused('vault'),
      webhooks: unused('webhooks'),
      cache,
      idempotency_keys: new IdempotencyKeys(keyring),
      operator_key,
      live_capabilities: no_live_capabilities,
      rate_limit: { capacity: 1_000, refill_per_second: 1_000 },
    });
    await app.ready();
    const gateway = { app, identity, cache };
    gateways.push(gateway);
    return gateway;
  }

  beforeAll(async () => {
    directory = await temporaryDirectory();
    const file = join(directory.path, 'identity.sqlite');
    database = createSqliteDatabase(openSqlite(file), { dialect: 'sqlite', file });
    await database.migrate(identity_migrations);
    service = new IdentityService({ database, keyring });
    served = await serveOverRpc(identity_contract, service);
  });

  afterAll(async () => {
    for (const gateway of gateways) {
      await gateway.app.close();
      await gateway.cache.close();
    }
    await served.close();
    await database.close();
    await directory.remove();
  });

  let gateway_a: Gateway;
  let gateway_b: Gateway;
  let merchant_id: string;
  let secret_key: string;
  let secret_key_id: string;

  beforeEach(async () => {
    gateway_a = await startGateway();
    gateway_b = await startGateway();
    const created = await gateway_a.app.inject({ method: 'POST', url: '/v1/merchants', headers: { authorization: `Bearer ${operator_key}` }, payload: { name: 'Cached Co' } });
    expect(created.statusCode).toBe(200);
    const merchant = created.json<{ id: string; secret_key: string }>();
    merchant_id = merchant.id;
    secret_key = merchant.secret_key;
    const keys = await service.listApiKeys(merchant_id, { limit: 10 });
    const secret = keys.data.find((key) => key.type === 'secret' && !key.livemode);
    if (secret === undefined) throw new Error('a new merchant has a test-mode secret key');
    secret_key_id = secret.id;
  });

  function asMerchant(gateway: Gateway, key: string = secret_key) {
    return gateway.app.inject({ method: 'GET', url: '/v1/account', headers: { authorization: `Bearer ${key}` } });
  }

  function asOperator(gateway: Gateway, method: 'POST' | 'PATCH', url: string, payload: object = {}) {
    return gateway.app.inject({ method, url, headers: { authorization: `Bearer ${operator_key}` }, payload });
  }

  /** Enough requests that gateway B keeps the key's authentication (the first one only learns its merchant). */
  async function warm(gateway: Gateway): Promise<void> {
    for (let request = 0; request < 3; request += 1) expect((await asMerchant(gateway)).statusCode).toBe(200);
  }

  it('asks identity twice for many requests with one key within the TTL: once to learn the merchant, once to keep the answer', async () => {
    for (let request = 0; request < 20; request += 1) expect((await asMerchant(gateway_b)).statusCode).toBe(200);
    expect(gateway_b.identity.authentications).toBe(2);
  });

  it('refuses a key revoked through another gateway at once, though this one had kept it', async () => {
    await warm(gateway_b);
    const asked = gateway_b.identity.authentications;
    expect((await asOperator(gateway_a, 'POST', `/v1/merchants/${merchant_id}/api_keys/${secret_key_id}/revoke`)).statusCode).toBe(200);
    const refused = await asMerchant(gateway_b);
    expect(refused.statusCode).toBe(401);
    expect(refused.json<{ error: { code: string } }>().error.code).toBe('api_key_revoked');
    expect(gateway_b.identity.authentications).toBe(asked + 1);
  });

  it('refuses a key rolled with no grace period through another gateway at once', async () => {
    await warm(gateway_b);
    expect((await asOperator(gateway_a, 'POST', `/v1/merchants/${merchant_id}/api_keys/${secret_key_id}/roll`, { expires_in_seconds: 0 })).statusCode).toBe(200);
    const refused = await asMerchant(gateway_b);
    expect(refused.statusCode).toBe(401);
    expect(refused.json<{ error: { code: string } }>().error.code).toBe('api_key_expired');
  });

  it("applies a suspension made through another gateway to the next request at once", async () => {
    await warm(gateway_b);
    expect((await asOperator(gateway_a, 'PATCH', `/v1/merchants/${merchant_id}`, { status: 'suspended' })).statusCode).toBe(200);
    const refused = await gateway_b.app.inject({ method: 'POST', url: '/v1/customers', headers: { authorization: `Bearer ${secret_key}` }, payload: { name: 'Late' } });
    expect(refused.statusCode).toBe(403);
    expect(refused.json<{ error: { code: string } }>().error.code).toBe('merchant_suspended');
  });

  it('asks identity on every request while the epoch cannot be read, and so refuses a key revoked meanwhile', async () => {
    await warm(gateway_b);
    // Revoked behind every gateway's back, so that no epoch changes: only asking identity can tell.
    await service.revokeApiKey(merchant_id, secret_key_id, { type: 'operator', id: 'op_root' });
    gateway_b.cache.unreachable = true;
    const asked = gateway_b.identity.authentications;
    const refused = await asMerchant(gateway_b);
    // Refused by authentication (401), before the rate limit would have answered 503 for want of Redis.
    expect(refused.statusCode).toBe(401);
    expect(refused.json<{ error: { code: string } }>().error.code).toBe('api_key_revoked');
    expect(gateway_b.identity.authentications).toBe(asked + 1);
  });

  it('answers 503, not the change, when the epoch cannot be replaced after a change, and a retry replaces it', async () => {
    await warm(gateway_b);
    // Only the epoch's replacement fails: the rate limit and the epoch's reads still work.
    gateway_a.cache.sets_unreachable = true;
    const answered = await asOperator(gateway_a, 'POST', `/v1/merchants/${merchant_id}/api_keys/${secret_key_id}/revoke`);
    expect(answered.statusCode).toBe(503);
    expect(answered.json<{ error: { code: string } }>().error.code).toBe('cache_unavailable');
    gateway_a.cache.sets_unreachable = false;
    // The retry is refused by identity (the key is revoked already) and still replaces the epoch.
    const retried = await asOperator(gateway_a, 'POST', `/v1/merchants/${merchant_id}/api_keys/${secret_key_id}/revoke`);
    expect(retried.statusCode).toBeGreaterThanOrEqual(400);
    expect(retried.statusCode).toBeLessThan(500);
    expect((await asMerchant(gateway_b)).statusCode).toBe(401);
  });
});

describe('Authentication cache while Redis cannot be reached', () => {
  it('authenticates every request through identity, with its answers', async () => {
    const database = createSqliteDatabase(openSqlite(':memory:'), { dialect: 'sqlite', file: ':memory:' });
    await database.migrate(identity_migrations);
    const service = new IdentityService({ database, keyring: new Keyring(generateKeyEncryptionKey()) });
    const cache = createRedisCache({ url: 'redis://127.0.0.1:1' });
    try {
      const identity = countingIdentity(service);
      const authentication_cache = createAuthenticationCache({ identity: identity.client, epochs: credentialsEpochs(cache), clock: systemClock });
      const created = await service.createMerchant({ name: 'Offline Co' }, { type: 'operator', id: 'op_root' });
      for (let request = 0; request < 3; request += 1) {
        const result = await authentication_cache.authenticate(created.secret_key);
        expect(result).toEqual(await service.authenticate(created.secret_key));
      }
      expect(identity.authentications).toBe(3);
      expect(await authentication_cache.authenticate('sk_test_not_a_key_we_know')).toEqual({ ok: false, code: 'api_key_invalid' });
    } finally {
      await cache.close().catch(() => undefined);
      await database.close();
    }
  });
});
