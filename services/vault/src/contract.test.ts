// The vault over HTTP: every call made through the RPC client gives what the same call on the
// service gives, results and ApiErrors alike.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqliteDatabase, openSqlite, type ServiceDatabase, type Tenant } from '@paygrid/kernel';
import { generateKeyEncryptionKey, Keyring } from '@paygrid/kernel/envelope';
import { expectSameRefusal, serveOverRpc, temporaryDirectory, type ServedOverRpc } from '@paygrid/kernel/testing';
import { vault_contract } from './contract';
import { vault_migrations } from './migrations';
import { VaultService } from './service';
import type { CreateTokenInput, VaultClient } from './types';

const visa: CreateTokenInput = { number: '4242424242424242', exp_month: 12, exp_year: 2030, cvc: '739' };
const tenant: Tenant = { merchant_id: 'acct_vault_rpc', livemode: false };

let directory: { readonly path: string; remove(): Promise<void> };
let database: ServiceDatabase;
let vault: VaultService;
let served: ServedOverRpc<VaultClient>;
let remote: VaultClient;

beforeAll(async () => {
  directory = await temporaryDirectory();
  const file = join(directory.path, 'vault.sqlite');
  database = createSqliteDatabase(openSqlite(file), { dialect: 'sqlite', file });
  await database.migrate(vault_migrations);
  vault = new VaultService({ database, keyring: new Keyring(generateKeyEncryptionKey()) });
  served = await serveOverRpc(vault_contract, vault);
  remote = served.remote;
});

afterAll(async () => {
  await served.close();
  await database.close();
  await directory.remove();
});


describe('vault over RPC', () => {
  it('tokenizes, reads, claims and detokenizes as the service does', async () => {
    const token = await remote.createToken(tenant, visa);
    expect(token).toEqual(await vault.getToken(tenant, token.id));
    expect(await remote.getToken(tenant, token.id)).toEqual(await vault.getToken(tenant, token.id));
    expect(await remote.getToken({ ...tenant, merchant_id: 'acct_other' }, token.id)).toBeUndefined();

    expect(await remote.claimToken(tenant, token.id, 'pi_1:key:k')).toBe('claimed');
    // A repeat by the same claimant is the de-duplication the contract counts on.
    expect(await remote.claimToken(tenant, token.id, 'pi_1:key:k')).toBe('held');
    expect(await remote.claimToken(tenant, token.id, 'pi_2:key:k')).toBe('already_used');
    expect(await remote.claimToken(tenant, 'tok_missing', 'pi_2:key:k')).toBe('missing');
    expect(await remote.releaseToken(token.id, 'pi_1:key:k')).toBeUndefined();
    expect(await vault.getToken(tenant, token.id)).toMatchObject({ used: false });

    expect(await remote.detokenize(token.id, { connector: 'card' })).toEqual({ number: visa.number, exp_month: 12, exp_year: 2030, cvc: '739' });
    expect(await remote.eraseCvc(token.id)).toBeUndefined();
    expect(await remote.detokenize(token.id, { connector: 'card' })).toEqual(await vault.detokenize(token.id, { connector: 'card' }));
    expect((await vault.listDetokenizations(token.id)).length).toBe(3);
  });

  it('refuses what the service refuses, with the same ApiError', async () => {
    const invalid = await expectSameRefusal(vault.createToken(tenant, { ...visa, number: '4242424242424241' }), remote.createToken(tenant, { ...visa, number: '4242424242424241' }));
    expect(invalid).toMatchObject({ type: 'invalid_request_error', param: 'card[number]' });
    await expectSameRefusal(vault.detokenize('tok_missing', { connector: 'card' }), remote.detokenize('tok_missing', { connector: 'card' }));
    await expectSameRefusal(vault.eraseCvc('tok_missing'), remote.eraseCvc('tok_missing'));
  });
});
