// With TLS_CERT_FILE and TLS_KEY_FILE the API is served over HTTPS only, TLS 1.2 or newer, with
// HSTS. The test makes a self-signed certificate and talks to the platform with it.
import { writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { connect } from 'node:tls';
import selfsigned from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporaryDirectory, type TemporaryDirectory } from '@paygrid/kernel/testing';
import { startTestPlatform, type TestPlatform } from './support/platform';

describe('HTTPS', () => {
  let files: TemporaryDirectory;
  let test: TestPlatform;
  let certificate: string;
  let port: number;

  beforeAll(async () => {
    files = await temporaryDirectory();
    const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
      keySize: 2048,
      notAfterDate: new Date(Date.now() + 24 * 60 * 60 * 1000),
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] }],
    });
    certificate = pems.cert;
    writeFileSync(join(files.path, 'cert.pem'), pems.cert);
    writeFileSync(join(files.path, 'key.pem'), pems.private, { mode: 0o600 });
    test = await startTestPlatform({ env: { TLS_CERT_FILE: join(files.path, 'cert.pem'), TLS_KEY_FILE: join(files.path, 'key.pem') } });
    port = Number(new URL(test.url).port);
  });

  afterAll(async () => {
    await test.close();
    await files.remove();
  });

  it('serves the API over HTTPS with HSTS', async () => {
    expect(test.url.startsWith('https://')).toBe(true);
    const answer = await new Promise<{ status: number; hsts: string | undefined; body: string }>((done, fail) => {
      const outgoing = request({ host: '127.0.0.1', port, path: '/v1/customers', ca: certificate, headers: { authorization: 'Bearer sk_test_nope' } }, (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => done({ status: response.statusCode ?? 0, hsts: response.headers['strict-transport-security'], body }));
      });
      outgoing.on('error', fail);
      outgoing.end();
    });
    expect(answer.status).toBe(401);
    expect(answer.hsts).toMatch(/max-age=\d+/);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { type: 'authentication_error' } });
  });

  it('refuses TLS 1.1 and plain HTTP', async () => {
    const outcome = await new Promise<string>((done) => {
      const socket = connect({ host: '127.0.0.1', port, ca: certificate, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }, () => done(`connected with ${socket.getProtocol() ?? '?'}`));
      socket.on('error', (error) => done(`refused: ${error.message}`));
    });
    expect(outcome).toMatch(/^refused/);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it('negotiates TLS 1.3 with a modern client', async () => {
    const protocol = await new Promise<string | null>((done, fail) => {
      const socket = connect({ host: '127.0.0.1', port, ca: certificate }, () => {
        done(socket.getProtocol());
        socket.end();
      });
      socket.on('error', fail);
    });
    expect(protocol).toBe('TLSv1.3');
  });
});
