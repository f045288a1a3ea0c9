// `paygrid keys status|rotate|rewrap`: the operator's handle on the key-encryption key. The work
// is done by the running platform (apps/cli/src/keys.ts), which holds the keyring every store
// shares; this command asks it over HTTP with the operator key and follows the re-wrap to its end.
// A rotation run beside the platform by a second process instead would change a key the platform
// keeps using, and could retire a key data is still wrapped by.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadPlatformConfig, type PlatformConfig } from '@paygrid/kernel';
import { rewrap_batch_size_max, type KeySource } from '@paygrid/kernel/envelope';
import type { KeyRotationStatus } from './keys';
import { UsageError } from './platform';

/** How often a rotation's progress is asked for while it runs. */
export const keys_poll_interval_ms = 500;
/** One request to the platform; the re-wrap itself runs in the background, so answers are quick. */
export const keys_request_timeout_ms = 30_000;

export const keys_usage = `Usage: paygrid keys status|rotate|rewrap [--url URL] [--batch-size N] [--no-wait] [--json]

The key-encryption key (KEK) wraps the data keys that seal card data (the vault) and merchants'
signing secrets (identity). These commands ask the running platform, with the operator key
(PAYGRID_OPERATOR_KEY, or DATA_DIR/operator.key):

  status   the current key's id, how many data keys each key wraps, and the re-wrap's progress
  rotate   embedded, with the key in a file: a new key (the old one is kept in <file>.previous
           until nothing is wrapped by it), then every data key re-wrapped under it, online
  rewrap   every data key re-wrapped under the current key: the last step of a rotation by
           configuration (PAYGRID_VAULT_KEK, or several instances on PostgreSQL)

Data itself is never re-encrypted, and requests are served throughout. See docs/operations.md.

Options:
  --url URL         the platform (default: http://HOST:PORT from the environment)
  --batch-size N    data keys re-wrapped per transaction (default 500, at most ${rewrap_batch_size_max})
  --no-wait         return once the re-wrap has started instead of following it to its end
  --json            print the final status as JSON`;

/** For the start-up banner: where the key is, never what it is. */
export function describeKeySource(source: KeySource): string {
  if (source.kind === 'environment') return 'from PAYGRID_VAULT_KEK';
  const made = source.generated ? ' (new)' : '';
  const warning = source.inside_data_dir ? ' — inside DATA_DIR, which its backups then carry: move it out and set PAYGRID_VAULT_KEK_FILE (docs/operations.md)' : '';
  return `in ${source.path}${made}${warning}`;
}

/** The running platform's address from the environment, as a command on the same machine reaches it. */
export function defaultUrl(config: PlatformConfig): string {
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
  return `${config.TLS_CERT_FILE === undefined ? 'http' : 'https'}://${host}:${config.PORT}`;
}

/** The operator key the platform was started with: PAYGRID_OPERATOR_KEY, or DATA_DIR/operator.key. */
export function operatorKey(config: PlatformConfig): string {
  if (config.PAYGRID_OPERATOR_KEY !== undefined) return config.PAYGRID_OPERATOR_KEY;
  const file = join(config.DATA_DIR, 'operator.key');
  try {
    const key = readFileSync(file, 'utf8').trim();
    if (key !== '') return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  throw new UsageError(`no operator key: set PAYGRID_OPERATOR_KEY, or run where DATA_DIR holds operator.key (${file} does not)`);
}

/** The platform could not be reached, or refused: reported in one line, exit code 1. */
export class PlatformAnswerError extends Error {
  override name = 'PlatformAnswerError';
}

/** One operator request to the running platform; its answer, parsed, or a PlatformAnswerError. */
export async function callPlatform(url: string, key: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(keys_request_timeout_ms),
    });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : error instanceof Error ? error.message : String(error);
    throw new PlatformAnswerError(`could not reach the platform at ${url} (${cause}); is it running? Give its address with --url`);
  }
  const answer: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    const wire = answer as { error?: { code?: string; message?: string } } | undefined;
    throw new PlatformAnswerError(`${method} ${path} answered ${response.status}: ${wire?.error?.code ?? 'error'}: ${wire?.error?.message ?? 'no message'}`);
  }
  return answer;
}

async function call(url: string, key: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<KeyRotationStatus> {
  return (await callPlatform(url, key, method, path, body)) as KeyRotationStatus;
}

function summary(status: KeyRotationStatus): string {
  const stores = status.stores.map((store) => `${store.name} ${Object.entries(store.data_keys).map(([id, count]) => `${id}:${count}`).join(' ') || 'empty'}`).join('; ');
  const progress = status.state === 'rewrapping' ? `re-wrapping, ${status.rewrapped} done` : status.state === 'failed' ? `failed: ${status.error ?? ''}` : 'idle';
  return `current key ${status.current_kek} (${status.key_source}); ${progress}; ${status.remaining} data key(s) under an older key; data keys by key: ${stores}`;
}

export async function keysCommand(args: readonly string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action === undefined || action === '--help' || action === 'help') {
    console.log(keys_usage);
    return action === undefined ? 2 : 0;
  }
  if (action !== 'status' && action !== 'rotate' && action !== 'rewrap') {
    console.error(`unknown keys command "${action}"\n\n${keys_usage}`);
    return 2;
  }
  const { values } = parseArgs({
    args: [...rest],
    options: { url: { type: 'string' }, 'batch-size': { type: 'string' }, 'no-wait': { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean' } },
  });
  if (values.help === true) {
    console.log(keys_usage);
    return 0;
  }
  let batch_size: number | undefined;
  if (values['batch-size'] !== undefined) {
    batch_size = /^[0-9]{1,5}$/.test(values['batch-size']) ? Number.parseInt(values['batch-size'], 10) : Number.NaN;
    if (!(batch_size >= 1 && batch_size <= rewrap_batch_size_max)) throw new UsageError(`--batch-size must be an integer from 1 to ${rewrap_batch_size_max}`);
  }
  const config = loadPlatformConfig(process.env);
  const url = (values.url ?? defaultUrl(config)).replace(/\/+$/, '');
  const key = operatorKey(config);
  try {
    let status =
      action === 'status' ? await call(url, key, 'GET', '/v1/keys') : await call(url, key, 'POST', `/v1/keys/${action}`, batch_size === undefined ? {} : { batch_size });
    if (action !== 'status') console.log(`${action === 'rotate' ? 'rotated: ' : ''}${summary(status)}`);
    let shown = status.rewrapped;
    while (action !== 'status' && values['no-wait'] !== true && status.state === 'rewrapping') {
      await new Promise((resolve) => setTimeout(resolve, keys_poll_interval_ms));
      status = await call(url, key, 'GET', '/v1/keys');
      if (status.rewrapped !== shown) {
        shown = status.rewrapped;
        console.log(`  ${shown} data keys re-wrapped`);
      }
    }
    console.log(values.json === true ? JSON.stringify(status) : summary(status));
    if (status.state === 'failed') return 1;
    return action === 'status' || values['no-wait'] === true || status.remaining === 0 ? 0 : 1;
  } catch (error) {
    if (!(error instanceof PlatformAnswerError)) throw error;
    console.error(`paygrid: ${error.message}`);
    return 1;
  }
}
