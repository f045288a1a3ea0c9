// The identity service over HTTP: every call made through the RPC client gives what the same call
// on the service gives, results and ApiErrors alike.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqliteDatabase, openSqlite, type ServiceDatabase, type Tenant } from '@paygrid/kernel';
import { generateKeyEncryptionKey, Keyring } from '@paygrid/kernel/envelope';
import { expectSameRefusal, serveOverRpc, temporaryDirectory, type ServedOverRpc } from '@paygrid/kernel/testing';
import { identity_contract } from './contract';
import { identity_migrations } from './migrations';
import { signing_secret_prefix } from './secrets';
import { IdentityService } from './service';
import type { Actor, IdentityClient } from './types';

const root: Actor = { type: 'operator', id: 'op_root' };

let directory: { readonly path: string; remove(): Promise<void> };
let database: ServiceDatabase;
let identity: IdentityService;
let served: ServedOverRpc<IdentityClient>;
let remote: IdentityClient;

beforeAll(async () => {
  directory = await temporaryDirectory();
  const file = join(directory.path, 'identity.sqlite');
  database = createSqliteDatabase(openSqlite(file), { dialect: 'sqlite', file });
  await database.migrate(identity_migrations);
  identity = new IdentityService({ database, keyring: new Keyring(generateKeyEncryptionKey()) });
  served = await serveOverRpc(identity_contract, identity);
  remote = served.remote;
});

afterAll(async () => {
  await served.close();
  await database.close();
  await directory.remove();
});


describe('identity over RPC', () => {
  it('creates merchants, keys and customers, and reads them back as the service does', async () => {
    const created = await remote.createMerchant({ name: 'Remote Shop', email: 'shop@example.com' }, root);
    expect(created.secret_key).toMatch(/^sk_test_/);
    expect(await remote.getMerchant(created.merchant.id)).toEqual(created.merchant);
    expect(await identity.getMerchant(created.merchant.id)).toEqual(created.merchant);

    const authenticated = await remote.authenticate(created.secret_key);
    expect(authenticated).toEqual(await identity.authenticate(created.secret_key));
    expect(authenticated.ok).toBe(true);
    expect(await remote.authenticate('sk_test_nothing')).toEqual({ ok: false, code: 'api_key_invalid' });

    const updated = await remote.updateMerchant(created.merchant.id, { email: null, allowed_origins: ['https://shop.example'] }, root);
    expect(updated.email).toBeNull();
    expect(updated).toEqual(await identity.getMerchant(created.merchant.id));

    const tenant: Tenant = { merchant_id: created.merchant.id, livemode: false };
    // Optional fields left out stay out, and the customer reads the same both ways.
    const customer = await remote.createCustomer(tenant, { name: 'Ada' });
    expect(customer).toEqual({ ...customer, name: 'Ada', email: null, description: null });
    expect(await remote.getCustomer(tenant, customer.id)).toEqual(await identity.getCustomer(tenant, customer.id));
    expect(await remote.getCustomer(tenant, 'cus_missing')).toBeUndefined();
    expect(await remote.customerExists(tenant, customer.id)).toBe(true);
    expect(await remote.customerExists({ ...tenant, livemode: true }, customer.id)).toBe(false);

    const key = await remote.createApiKey(created.merchant.id, { type: 'secret', livemode: false }, root);
    const rolled = await remote.rollApiKey(created.merchant.id, key.api_key.id, { expires_in_seconds: 60 }, root);
    expect(rolled.previous.id).toBe(key.api_key.id);
    expect(await remote.revokeApiKey(created.merchant.id, rolled.api_key.id, root)).toMatchObject({ id: rolled.api_key.id });
    expect((await remote.rollSigningSecret(created.merchant.id, {}, root)).signing_secret.startsWith(signing_secret_prefix)).toBe(true);
  });

  it('lists with pagination exactly as the service does', async () => {
    for (let index = 0; index < 3; index += 1) await identity.createMerchant({ name: `Listed ${index}` }, root);
    const first = await remote.listMerchants({ limit: 2 });
    expect(first).toEqual(await identity.listMerchants({ limit: 2 }));
    expect(first.has_more).toBe(true);
    const last = first.data.at(-1);
    if (last === undefined) throw new Error('a page of two has a last item');
    expect(await remote.listMerchants({ limit: 2, starting_after: last.id })).toEqual(await identity.listMerchants({ limit: 2, starting_after: last.id }));
    expect(await remote.listAuditEvents({ limit: 5 }, { actor_id: root.id })).toEqual(await identity.listAuditEvents({ limit: 5 }, { actor_id: root.id }));
    expect(await remote.listAuditEvents({ limit: 5 })).toEqual(await identity.listAuditEvents({ limit: 5 }));
    const merchant = first.data[0];
    if (merchant === undefined) throw new Error('the page has a first item');
    expect(await remote.listApiKeys(merchant.id, {})).toEqual(await identity.listApiKeys(merchant.id, {}));
  });

  it('refuses what the service refuses, with the same ApiError', async () => {
    await expectSameRefusal(identity.updateMerchant('acct_missing', { name: 'x' }, root), remote.updateMerchant('acct_missing', { name: 'x' }, root));
    const invalid = await expectSameRefusal(identity.createMerchant({ name: '' }, root), remote.createMerchant({ name: '' }, root));
    expect(invalid.type).toBe('invalid_request_error');
    await expectSameRefusal(identity.listMerchants({ limit: 1_000 }), remote.listMerchants({ limit: 1_000 }));
    await expectSameRefusal(identity.listMerchants({ starting_after: 'acct_nope' }), remote.listMerchants({ starting_after: 'acct_nope' }));
  });

  it('operators: created, read and authenticated over RPC', async () => {
    const created = await remote.createOperator({ name: 'Remote Operator', email: 'ops@example.com' }, root);
    expect(await remote.getOperator(created.operator.id)).toEqual(created.operator);
    expect(await remote.authenticateOperator(created.secret)).toEqual(await identity.authenticateOperator(created.secret));
    expect(await remote.authenticateOperator('opk_wrong')).toBeUndefined();
    expect(await remote.getOperator('op_missing')).toBeUndefined();
  });
});
