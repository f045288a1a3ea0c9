import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import selfsigned from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporaryDirectory, type TemporaryDirectory } from '../testing';
import { decideLiveCapabilities } from './live-capabilities';
import { loadPlatformConfig } from './platform-config';
import { ConfigError } from './variables';

function problems(environment: Record<string, string>): readonly string[] {
  try {
    loadPlatformConfig(environment);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

const day_ms = 24 * 60 * 60 * 1_000;
const token = 'tok_3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c';

describe('the card acquirer in the platform config', () => {
  let directory: TemporaryDirectory;
  const file = (name: string) => join(directory.path, name);
  let client_key_text: string;

  beforeAll(async () => {
    directory = await temporaryDirectory();
    const client = await selfsigned.generate([{ name: 'commonName', value: 'paygrid' }], { keySize: 2048, algorithm: 'sha256', notAfterDate: new Date(Date.now() + day_ms) });
    const other = await selfsigned.generate([{ name: 'commonName', value: 'someone else' }], { keySize: 2048, algorithm: 'sha256', notAfterDate: new Date(Date.now() + day_ms) });
    const expired = await selfsigned.generate([{ name: 'commonName', value: 'paygrid' }], {
      keySize: 2048,
      algorithm: 'sha256',
      notBeforeDate: new Date(Date.now() - 3 * day_ms),
      notAfterDate: new Date(Date.now() - day_ms),
    });
    client_key_text = client.private;
    writeFileSync(file('token'), `${token}\n`, { mode: 0o600 });
    writeFileSync(file('short-token'), 'abc\n');
    writeFileSync(file('spaced-token'), 'a token with spaces in it, long enough\n');
    writeFileSync(file('client.pem'), client.cert);
    writeFileSync(file('client.key'), client.private, { mode: 0o600 });
    writeFileSync(file('other.key'), other.private, { mode: 0o600 });
    writeFileSync(file('expired.pem'), expired.cert);
    writeFileSync(file('expired.key'), expired.private, { mode: 0o600 });
    writeFileSync(file('ca.pem'), other.cert);
    writeFileSync(file('not-a-cert.pem'), 'hello\n');
  });

  afterAll(async () => {
    await directory.remove();
  });

  it('runs the simulator when nothing is set, and live card payments are off', () => {
    const config = loadPlatformConfig({});
    expect(config.CARD_ACQUIRER).toBeUndefined();
    expect(decideLiveCapabilities(config, undefined).card_payments).toMatchObject({ status: 'inactive', missing: expect.stringContaining('CARD_ACQUIRER_URL') as unknown });
  });

  it('takes an https acquirer with a bearer secret from a file, held as a key object that prints as nothing', () => {
    const config = loadPlatformConfig({ CARD_ACQUIRER_URL: 'https://acquirer.example/api/', CARD_ACQUIRER_TOKEN_FILE: file('token') });
    const acquirer = config.CARD_ACQUIRER;
    expect(acquirer).toMatchObject({ url: 'https://acquirer.example/api', client_certificate: undefined, ca: undefined });
    expect(acquirer?.bearer_token?.export().toString('utf8')).toBe(token);
    expect(JSON.stringify(config)).not.toContain(token);
    expect(inspect(config, { depth: 10 })).not.toContain(token);
    expect(decideLiveCapabilities(config, undefined).card_payments).toEqual({ status: 'active', adapter: 'the card acquirer at acquirer.example' });
  });

  it('takes mutual TLS with a private CA, checking that the key belongs to the certificate', () => {
    const config = loadPlatformConfig({
      CARD_ACQUIRER_URL: 'https://acquirer.example',
      CARD_ACQUIRER_CLIENT_CERT_FILE: file('client.pem'),
      CARD_ACQUIRER_CLIENT_KEY_FILE: file('client.key'),
      CARD_ACQUIRER_CA_FILE: file('ca.pem'),
    });
    expect(config.CARD_ACQUIRER?.bearer_token).toBeUndefined();
    expect(config.CARD_ACQUIRER?.client_certificate?.cert).toContain('BEGIN CERTIFICATE');
    expect(config.CARD_ACQUIRER?.ca).toContain('BEGIN CERTIFICATE');
    const key_body = client_key_text.split('\n')[2] ?? 'missing';
    expect(inspect(config, { depth: 10 })).not.toContain(key_body);
    expect(JSON.stringify(config)).not.toContain(key_body);

    expect(problems({ CARD_ACQUIRER_URL: 'https://acquirer.example', CARD_ACQUIRER_CLIENT_CERT_FILE: file('client.pem'), CARD_ACQUIRER_CLIENT_KEY_FILE: file('other.key') })).toEqual([
      `CARD_ACQUIRER_CLIENT_KEY_FILE must hold the private key of the certificate in CARD_ACQUIRER_CLIENT_CERT_FILE; "${file('other.key')}" holds another key`,
    ]);
    expect(problems({ CARD_ACQUIRER_URL: 'https://acquirer.example', CARD_ACQUIRER_CLIENT_CERT_FILE: file('expired.pem'), CARD_ACQUIRER_CLIENT_KEY_FILE: file('expired.key') })[0]).toMatch(
      /^CARD_ACQUIRER_CLIENT_CERT_FILE holds a certificate that expired on /,
    );
    expect(problems({ CARD_ACQUIRER_URL: 'https://acquirer.example', CARD_ACQUIRER_CLIENT_CERT_FILE: file('client.pem') })).toEqual([
      'CARD_ACQUIRER_CLIENT_KEY_FILE must be set too: the client certificate and its key go together',
    ]);
    expect(problems({ CARD_ACQUIRER_URL: 'https://acquirer.example', CARD_ACQUIRER_TOKEN_FILE: file('token'), CARD_ACQUIRER_CA_FILE: file('not-a-cert.pem') })).toEqual([
      `CARD_ACQUIRER_CA_FILE must name a file holding the CA certificates the acquirer is signed by as PEM certificates; "${file('not-a-cert.pem')}" does not`,
    ]);
  });

  it('refuses plain http except to this machine, where card data never leaves the host', () => {
    for (const url of ['http://127.0.0.1:4400', 'http://localhost:4400', 'http://[::1]:4400']) {
      expect(loadPlatformConfig({ CARD_ACQUIRER_URL: url, CARD_ACQUIRER_TOKEN_FILE: file('token') }).CARD_ACQUIRER?.url).toBe(url);
    }
    for (const url of ['http://10.0.0.7:4400', 'http://acquirer.example', 'ftp://acquirer.example']) {
      expect(problems({ CARD_ACQUIRER_URL: url, CARD_ACQUIRER_TOKEN_FILE: file('token') })).toEqual([
        `CARD_ACQUIRER_URL must be an https URL (http only to 127.0.0.1, ::1 or localhost) without user name, password, query or fragment (got "${url}")`,
      ]);
    }
    // TLS settings over plain http are a mistake, even to this machine.
    expect(problems({ CARD_ACQUIRER_URL: 'http://127.0.0.1:4400', CARD_ACQUIRER_CLIENT_CERT_FILE: file('client.pem'), CARD_ACQUIRER_CLIENT_KEY_FILE: file('client.key') })).toEqual([
      'CARD_ACQUIRER_CLIENT_CERT_FILE needs an https CARD_ACQUIRER_URL; "http://127.0.0.1:4400" is plain http',
      'CARD_ACQUIRER_CLIENT_KEY_FILE needs an https CARD_ACQUIRER_URL; "http://127.0.0.1:4400" is plain http',
    ]);
  });

  it('refuses an acquirer without a credential, and credentials without an acquirer', () => {
    expect(problems({ CARD_ACQUIRER_URL: 'https://acquirer.example' })).toEqual([
      'CARD_ACQUIRER_URL needs a credential, since every call to the acquirer must be authenticated: set CARD_ACQUIRER_TOKEN_FILE (a bearer secret), ' +
        'or CARD_ACQUIRER_CLIENT_CERT_FILE and CARD_ACQUIRER_CLIENT_KEY_FILE (mutual TLS), or both',
    ]);
    expect(problems({ CARD_ACQUIRER_TOKEN_FILE: file('token'), CARD_ACQUIRER_CA_FILE: file('ca.pem') })).toEqual([
      'CARD_ACQUIRER_URL must be set too: CARD_ACQUIRER_TOKEN_FILE, CARD_ACQUIRER_CA_FILE configure the card acquirer at that URL',
    ]);
  });

  it('refuses a bearer secret file that is missing, too short or not a token, naming the file and never its contents', () => {
    for (const name of ['short-token', 'spaced-token', 'missing-token']) {
      const [problem] = problems({ CARD_ACQUIRER_URL: 'https://acquirer.example', CARD_ACQUIRER_TOKEN_FILE: file(name) });
      expect(problem).toContain('CARD_ACQUIRER_TOKEN_FILE');
      expect(problem).toContain(file(name));
      expect(problem).not.toContain('abc');
      expect(problem).not.toContain('spaces in it');
    }
  });
});
