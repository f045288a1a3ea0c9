// A real card acquirer's HTTP API, when a deployment has one (CARD_ACQUIRER_URL). Card numbers and
// CVCs travel to it, so two rules hold before the platform may start:
//
// - TLS: the URL is https; plain http is accepted only to this machine (127.0.0.0/8, ::1,
//   localhost), where tests run the simulator's server.
// - Authentication: every call carries a credential the acquirer checks. Either a bearer secret
//   read from a file (CARD_ACQUIRER_TOKEN_FILE), or mutual TLS with a client certificate and its
//   key (CARD_ACQUIRER_CLIENT_CERT_FILE, CARD_ACQUIRER_CLIENT_KEY_FILE), or both. A private CA for
//   the acquirer's own certificate may be given (CARD_ACQUIRER_CA_FILE).
//
// Files are read and checked here, at start, like the payment providers' keys (decision 25): the
// bearer secret and the client key are held as KeyObjects, which print as nothing, and messages
// name files, never their contents.
import { X509Certificate, createPrivateKey, createSecretKey, type KeyObject } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { readKeyFile, secureUrlVar } from './providers';
import { ConfigError, ok, optional, pathVar, readVariables, type Environment, type Parsed } from './variables';

/** Shorter than this, a bearer secret is guessable; acquirers issue far longer ones. */
export const card_acquirer_token_length_min = 16;
/** A header line; no acquirer issues a longer secret. */
export const card_acquirer_token_length_max = 4096;
/** RFC 6750's b64token: the characters a bearer token may hold in an Authorization header. */
const bearer_token_pattern = /^[A-Za-z0-9\-._~+/]+=*$/;

export interface CardAcquirerEndpointConfig {
  /** https, or http to this machine only; without a trailing slash. */
  readonly url: string;
  /** Sent as `Authorization: Bearer <token>` with every call; a secret key object, which prints as nothing. */
  readonly bearer_token: KeyObject | undefined;
  /** Mutual TLS: the client certificate chain (PEM) and its private key, presented on every connection. */
  readonly client_certificate: { readonly cert: string; readonly key: KeyObject } | undefined;
  /** The CA certificates (PEM) that the acquirer's certificate must chain to, instead of the public ones. */
  readonly ca: string | undefined;
}

export const card_acquirer_variables = {
  CARD_ACQUIRER_URL: optional(secureUrlVar({ name: 'CARD_ACQUIRER_URL' })),
  CARD_ACQUIRER_TOKEN_FILE: optional(pathVar({ name: 'CARD_ACQUIRER_TOKEN_FILE' })),
  CARD_ACQUIRER_CLIENT_CERT_FILE: optional(pathVar({ name: 'CARD_ACQUIRER_CLIENT_CERT_FILE' })),
  CARD_ACQUIRER_CLIENT_KEY_FILE: optional(pathVar({ name: 'CARD_ACQUIRER_CLIENT_KEY_FILE' })),
  CARD_ACQUIRER_CA_FILE: optional(pathVar({ name: 'CARD_ACQUIRER_CA_FILE' })),
};

/** One trailing line break is forgiven, since editors add one; everything else counts. */
function readBearerTokenFile(name: string, path: string): Parsed<KeyObject> {
  const file = readKeyFile(name, path);
  if (!file.ok) return file;
  const text = file.bytes.toString('utf8').replace(/\r?\n$/, '');
  if (text.length < card_acquirer_token_length_min || text.length > card_acquirer_token_length_max || !bearer_token_pattern.test(text)) {
    return {
      ok: false,
      problem:
        `${name} must name a file holding one bearer secret of ${String(card_acquirer_token_length_min)} to ${String(card_acquirer_token_length_max)} ` +
        `characters (letters, digits and -._~+/, then = padding; one trailing line break is ignored); "${path}" does not`,
    };
  }
  return ok(createSecretKey(Buffer.from(text, 'utf8')));
}

const pem_certificate_pattern = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM file, each parsed; undefined when there is none or one does not parse. */
function readCertificates(text: string): X509Certificate[] | undefined {
  const blocks = text.match(pem_certificate_pattern);
  if (blocks === null) return undefined;
  try {
    return blocks.map((block) => new X509Certificate(block));
  } catch {
    return undefined;
  }
}

function readCertificateFile(name: string, path: string, what: string): Parsed<{ readonly pem: string; readonly certificates: readonly X509Certificate[] }> {
  const file = readKeyFile(name, path);
  if (!file.ok) return file;
  const pem = file.bytes.toString('utf8');
  const certificates = readCertificates(pem);
  if (certificates === undefined) return { ok: false, problem: `${name} must name a file holding ${what} as PEM certificates; "${path}" does not` };
  return ok({ pem, certificates });
}

function readClientKeyFile(name: string, path: string): Parsed<KeyObject> {
  const file = readKeyFile(name, path);
  if (!file.ok) return file;
  try {
    return ok(createPrivateKey(file.bytes.toString('utf8')));
  } catch {
    return { ok: false, problem: `${name} must name a file holding the client certificate's private key, PEM (PKCS #8, PKCS #1 or SEC 1); "${path}" does not` };
  }
}

/**
 * Builds the card acquirer's endpoint from its variables: undefined when CARD_ACQUIRER_URL is unset
 * (the platform then runs the simulator, for test mode only), or throws one ConfigError listing
 * every problem.
 */
export function readCardAcquirerEndpoint(environment: Environment, now_ms: number): CardAcquirerEndpointConfig | undefined {
  const values = readVariables(environment, card_acquirer_variables);
  const url = values.CARD_ACQUIRER_URL;
  const problems: string[] = [];
  const companions = (['CARD_ACQUIRER_TOKEN_FILE', 'CARD_ACQUIRER_CLIENT_CERT_FILE', 'CARD_ACQUIRER_CLIENT_KEY_FILE', 'CARD_ACQUIRER_CA_FILE'] as const).filter(
    (name) => values[name] !== undefined,
  );
  if (url === undefined) {
    if (companions.length > 0) throw new ConfigError([`CARD_ACQUIRER_URL must be set too: ${companions.join(', ')} configure the card acquirer at that URL`]);
    return undefined;
  }
  const https = new URL(url).protocol === 'https:';
  const cert_file = values.CARD_ACQUIRER_CLIENT_CERT_FILE;
  const key_file = values.CARD_ACQUIRER_CLIENT_KEY_FILE;
  if ((cert_file === undefined) !== (key_file === undefined)) {
    problems.push(`${cert_file === undefined ? 'CARD_ACQUIRER_CLIENT_CERT_FILE' : 'CARD_ACQUIRER_CLIENT_KEY_FILE'} must be set too: the client certificate and its key go together`);
  }
  if (values.CARD_ACQUIRER_TOKEN_FILE === undefined && cert_file === undefined && key_file === undefined) {
    problems.push(
      'CARD_ACQUIRER_URL needs a credential, since every call to the acquirer must be authenticated: set CARD_ACQUIRER_TOKEN_FILE (a bearer secret), ' +
        'or CARD_ACQUIRER_CLIENT_CERT_FILE and CARD_ACQUIRER_CLIENT_KEY_FILE (mutual TLS), or both',
    );
  }
  if (!https) {
    // Plain http is allowed only to this machine (secureUrlVar checked that); TLS settings there are a mistake.
    for (const name of ['CARD_ACQUIRER_CLIENT_CERT_FILE', 'CARD_ACQUIRER_CLIENT_KEY_FILE', 'CARD_ACQUIRER_CA_FILE'] as const) {
      if (values[name] !== undefined) problems.push(`${name} needs an https CARD_ACQUIRER_URL; "${url}" is plain http`);
    }
  }

  let bearer_token: KeyObject | undefined;
  if (values.CARD_ACQUIRER_TOKEN_FILE !== undefined) {
    const read = readBearerTokenFile('CARD_ACQUIRER_TOKEN_FILE', values.CARD_ACQUIRER_TOKEN_FILE);
    if (read.ok) bearer_token = read.value;
    else problems.push(read.problem);
  }

  let client_certificate: CardAcquirerEndpointConfig['client_certificate'];
  if (https && cert_file !== undefined && key_file !== undefined) {
    const certificate = readCertificateFile('CARD_ACQUIRER_CLIENT_CERT_FILE', cert_file, 'the client certificate (then any intermediates)');
    const key = readClientKeyFile('CARD_ACQUIRER_CLIENT_KEY_FILE', key_file);
    for (const parsed of [certificate, key]) if (!parsed.ok) problems.push(parsed.problem);
    if (certificate.ok && key.ok) {
      const [leaf] = certificate.value.certificates;
      if (leaf === undefined || !leaf.checkPrivateKey(key.value)) {
        problems.push(`CARD_ACQUIRER_CLIENT_KEY_FILE must hold the private key of the certificate in CARD_ACQUIRER_CLIENT_CERT_FILE; "${key_file}" holds another key`);
      } else if (Date.parse(leaf.validTo) <= now_ms) {
        problems.push(`CARD_ACQUIRER_CLIENT_CERT_FILE holds a certificate that expired on ${leaf.validTo}; "${cert_file}" must be renewed`);
      } else {
        client_certificate = { cert: certificate.value.pem, key: key.value };
      }
    }
  }

  let ca: string | undefined;
  if (https && values.CARD_ACQUIRER_CA_FILE !== undefined) {
    const read = readCertificateFile('CARD_ACQUIRER_CA_FILE', values.CARD_ACQUIRER_CA_FILE, 'the CA certificates the acquirer is signed by');
    if (read.ok) ca = read.value.pem;
    else problems.push(read.problem);
  }

  if (problems.length > 0) throw new ConfigError(problems);
  // OpenSSL is the last judge of what it will present and trust: building the context once here
  // means a file it refuses stops the start rather than the first payment.
  try {
    createSecureContext({
      ...(client_certificate === undefined ? {} : { cert: client_certificate.cert, key: client_certificate.key.export({ type: 'pkcs8', format: 'pem' }) }),
      ...(ca === undefined ? {} : { ca }),
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'unknown error';
    throw new ConfigError([`the card acquirer's TLS files (CARD_ACQUIRER_CLIENT_CERT_FILE, CARD_ACQUIRER_CLIENT_KEY_FILE, CARD_ACQUIRER_CA_FILE) are refused by OpenSSL: ${reason}`]);
  }
  return { url, bearer_token, client_certificate, ca };
}

