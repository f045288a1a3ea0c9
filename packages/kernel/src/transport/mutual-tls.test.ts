// Mutual TLS between services: createHttpServer with require_client_certificate serves a caller
// whose certificate the service CA signed, and refuses one without a certificate or with one from
// another CA. The certificates are made here with openssl, valid for a day.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAssertionError } from '../assert';
import { createHttpServer, type HttpServer } from '../http/server';
import { createLogger } from '../logger';
import { createHttpUpstream, type HttpUpstream, type UpstreamTls } from './http-upstream';
import { UpstreamUnavailableError } from './upstream';

interface KeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

let directory = '';
let ca: KeyPair;
let server_pair: KeyPair;
let client_pair: KeyPair;
let rogue_client_pair: KeyPair;
let server: HttpServer;
let port = 0;
let handled = 0;

function openssl(...args: string[]): void {
  execFileSync('/usr/bin/openssl', args, { cwd: directory, stdio: 'pipe' });
}

const ec_key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(name: string): KeyPair {
  openssl('req', '-x509', ...ec_key, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=${name}`, '-days', '1', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  return { cert: readFileSync(join(directory, `${name}.crt`)), key: readFileSync(join(directory, `${name}.key`)) };
}

function makeSigned(name: string, signer: string, extensions: string): KeyPair {
  writeFileSync(join(directory, `${name}.ext`), extensions);
  openssl('req', ...ec_key, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.crt`, '-CAkey', `${signer}.key`, '-set_serial', '1', '-days', '1', '-out', `${name}.crt`, '-extfile', `${name}.ext`);
  return { cert: readFileSync(join(directory, `${name}.crt`)), key: readFileSync(join(directory, `${name}.key`)) };
}

const logger = createLogger({ level: 'fatal', name: 'test', destination: new Writable({ write: (_chunk, _encoding, callback) => callback() }) });

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'paygrid-mtls-'));
  ca = makeCa('service-ca');
  server_pair = makeSigned('ledger', 'service-ca', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  client_pair = makeSigned('payments', 'service-ca', 'extendedKeyUsage=clientAuth\n');
  makeCa('rogue-ca');
  rogue_client_pair = makeSigned('rogue', 'rogue-ca', 'extendedKeyUsage=clientAuth\n');

  server = createHttpServer({ logger, tls: { cert: server_pair.cert, key: server_pair.key, ca: ca.cert, require_client_certificate: true } });
  server.app.get('/v1/who', () => {
    handled += 1;
    return { ok: true };
  });
  const address = await server.app.listen({ host: '127.0.0.1', port: 0 });
  port = Number(new URL(address).port);
});

afterAll(async () => {
  await server.app.close();
  rmSync(directory, { recursive: true, force: true });
});

async function call(origin: string, tls: UpstreamTls): Promise<number> {
  const upstream: HttpUpstream = createHttpUpstream({ service: 'ledger', targets: origin, tls, health_check: false, circuit_breaker: false, retry: { attempts_max: 1 } });
  try {
    const response = await upstream.request({ method: 'GET', path: '/v1/who', idempotent: true, timeout_ms: 2_000 });
    return response.status;
  } finally {
    await upstream.close();
  }
}

describe('mutual TLS between services', () => {
  it('serves a caller whose certificate the service CA signed, by name or by address', async () => {
    const trusted = { ca: ca.cert, cert: client_pair.cert, key: client_pair.key };
    expect(await call(`https://localhost:${port}`, trusted)).toBe(200);
    expect(await call(`https://127.0.0.1:${port}`, trusted)).toBe(200);
    expect(handled).toBe(2);
  });

  it('refuses a caller without a certificate or with one from another CA, before any handler runs', async () => {
    const before = handled;
    for (const tls of [{ ca: ca.cert }, { ca: ca.cert, cert: rogue_client_pair.cert, key: rogue_client_pair.key }]) {
      await expect(call(`https://localhost:${port}`, tls)).rejects.toBeInstanceOf(UpstreamUnavailableError);
    }
    expect(handled).toBe(before);
  });

  it('refuses to call a server whose certificate the caller does not trust', async () => {
    const before = handled;
    await expect(call(`https://localhost:${port}`, { cert: client_pair.cert, key: client_pair.key })).rejects.toMatchObject({ may_have_reached: false });
    expect(handled).toBe(before);
  });

  it('will not require client certificates without the CA that signs them', () => {
    let thrown: unknown;
    try {
      createHttpServer({ logger, tls: { cert: server_pair.cert, key: server_pair.key, require_client_certificate: true } });
    } catch (error) {
      thrown = error;
    }
    expect(isAssertionError(thrown)).toBe(true);
  });
});
