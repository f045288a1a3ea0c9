// Mutual TLS between services (SERVICE_TLS_*): identity runs as a process of its own that serves
// only callers with a certificate from the service CA; the rest of the platform, in another
// process, reaches it with its own certificate, and the merchant API works through it. A caller
// without a certificate, or with one another CA signed, is refused in the handshake. The
// certificates are made here with openssl, valid for a day.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Paygrid } from '@paygrid/sdk';
import { startPlatform, type RunningPlatform } from '../apps/cli/src/platform';

let directory = '';

function openssl(...args: string[]): void {
  execFileSync('/usr/bin/openssl', args, { cwd: directory, stdio: 'pipe' });
}

const ec_key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(name: string): void {
  openssl('req', '-x509', ...ec_key, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=${name}`, '-days', '1', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
}

function makeSigned(name: string, signer: string, extensions: string): void {
  writeFileSync(join(directory, `${name}.ext`), extensions);
  openssl('req', ...ec_key, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.crt`, '-CAkey', `${signer}.key`, '-set_serial', '1', '-days', '1', '-out', `${name}.crt`, '-extfile', `${name}.ext`);
}

const file = (name: string) => join(directory, name);

describe('mutual TLS between services', () => {
  const operator_key = `op-mtls-${randomBytes(24).toString('hex')}`;
  let identity: RunningPlatform;
  let rest: RunningPlatform;

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'paygrid-service-mtls-'));
    makeCa('service-ca');
    // A service's certificate serves its listener and identifies it when it calls others.
    makeSigned('identity', 'service-ca', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
    makeSigned('gateway', 'service-ca', 'extendedKeyUsage=clientAuth\n');
    makeCa('rogue-ca');
    makeSigned('rogue', 'rogue-ca', 'extendedKeyUsage=clientAuth\n');
    const kek = randomBytes(32).toString('hex');
    const common = { PAYGRID_OPERATOR_KEY: operator_key, PAYGRID_VAULT_KEK: kek, LOG_LEVEL: 'silent', SERVICE_TLS_CA_FILE: file('service-ca.crt') };
    identity = await startPlatform({
      services: ['identity'],
      port: 0,
      env: { ...common, DATA_DIR: file('identity-data'), TLS_CERT_FILE: file('identity.crt'), TLS_KEY_FILE: file('identity.key'), SERVICE_TLS_CERT_FILE: file('identity.crt'), SERVICE_TLS_KEY_FILE: file('identity.key') },
    });
    expect(identity.url).toMatch(/^https:/);
    rest = await startPlatform({
      services: ['ledger', 'vault', 'webhooks', 'wallet', 'payments', 'gateway'],
      port: 0,
      env: { ...common, DATA_DIR: file('rest-data'), IDENTITY_SERVICE_URLS: identity.url, SERVICE_TLS_CERT_FILE: file('gateway.crt'), SERVICE_TLS_KEY_FILE: file('gateway.key') },
    });
  }, 60_000);

  afterAll(async () => {
    await rest.close();
    await identity.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it('serves the merchant API through a service reached over mutual TLS', async () => {
    const operator = new Paygrid({ api_key: operator_key, base_url: rest.url });
    const created = await operator.merchants.create({ name: 'Over mTLS' });
    const merchant = new Paygrid({ api_key: created.secret_key, signing_secret: created.signing_secret, base_url: rest.url });
    const customer = await merchant.customers.create({ name: 'Ada' });
    expect((await merchant.customers.retrieve(customer.id)).name).toBe('Ada');
  });

  it('refuses, in the handshake, a caller without a certificate or with one from another CA', async () => {
    const ca = readFileSync(file('service-ca.crt'));
    const call = (connect: { ca: Buffer; cert?: Buffer; key?: Buffer }) =>
      new Promise<number | string>((resolve) => {
        const outgoing = httpsRequest(
          `${identity.url}/internal/identity/getMerchant`,
          { method: 'POST', ...connect, agent: false, headers: { authorization: `Bearer ${operator_key}`, 'content-type': 'application/vnd.paygrid.rpc+json' } },
          (answer) => {
            answer.resume();
            resolve(answer.statusCode ?? 0);
          },
        );
        outgoing.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'refused'));
        outgoing.end('{"value":["mer_x"]}');
      });
    expect(await call({ ca })).not.toBeTypeOf('number');
    expect(await call({ ca, cert: readFileSync(file('rogue.crt')), key: readFileSync(file('rogue.key')) })).not.toBeTypeOf('number');
    // The same call with the service CA's certificate reaches the route.
    expect(await call({ ca, cert: readFileSync(file('gateway.crt')), key: readFileSync(file('gateway.key')) })).toBeTypeOf('number');
  });
});
