// `paygrid ledger shards add URL`: adds a shard to the running sharded ledger and moves to it the
// accounts the new ring gives it. The ledger process holds every shard's writer, so only it can
// move accounts while transfers go on; this command asks it over HTTP with the operator key, as
// `paygrid keys` and `paygrid bus` do, and prints what moved against the ideal 1/N.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseArgs } from 'node:util';
import { invalidRequest, loadPlatformConfig } from '@paygrid/kernel';
import { ShardAdditionRefused, type ShardAdditionReport, type ShardedLedger } from '@paygrid/ledger';
import { PlatformAnswerError, callPlatform, defaultUrl, operatorKey } from './keys-command';
import { UsageError } from './platform';

/** How long the ledger waits for accounts with pending transfers before it answers, at most. */
export const shard_addition_wait_seconds_max = 3_600;
const shard_addition_wait_seconds_default = 60;

export const ledger_shards_usage = `Usage: paygrid ledger shards add POSTGRES_URL [--wait-seconds N] [--json] [--url URL]

Adds a shard (an empty PostgreSQL database, which it migrates) to the running sharded ledger
(LEDGER_SHARD_URLS) and moves to it the accounts the new ring gives it, a chunk at a time; only the
accounts of the chunk being moved wait, for milliseconds, and everything else goes on. Accounts
with pending transfers move once those are posted, voided or expired, waited for up to
--wait-seconds (default ${shard_addition_wait_seconds_default}); if some still wait then, run the command again with the same URL.
Then append POSTGRES_URL to LEDGER_SHARD_URLS: the ledger refuses to start with fewer URLs than shards.

Options:
  --url URL     the ledger process (default: http://HOST:PORT from the environment)
  --json        print the report as JSON`;

const add_body_schema = {
  type: 'object',
  additionalProperties: false,
  required: ['url'],
  properties: {
    url: { type: 'string', minLength: 1, maxLength: 2048, pattern: '^postgres(ql)?://' },
    wait_seconds: { type: 'integer', minimum: 0, maximum: shard_addition_wait_seconds_max },
  },
} as const;

/** `POST /v1/ledger/shards` for the operator: adds a shard and answers the addition's report. */
export function registerLedgerShardRoutes(app: FastifyInstance, options: { readonly ledger: ShardedLedger; readonly authenticate: (request: FastifyRequest) => void }): void {
  const { ledger, authenticate } = options;
  app.post<{ Body: { url: string; wait_seconds?: number } }>('/v1/ledger/shards', { schema: { body: add_body_schema }, onRequest: (request, _reply, next) => { authenticate(request); next(); } }, async (request) => {
    if (!URL.canParse(request.body.url)) throw invalidRequest('parameter_invalid', 'url must be a PostgreSQL URL', 'url');
    try {
      const report = await ledger.addShard(request.body.url, { wait_ms_max: (request.body.wait_seconds ?? shard_addition_wait_seconds_default) * 1000 });
      return { object: 'ledger_shard_addition', ...report };
    } catch (error) {
      if (error instanceof ShardAdditionRefused) throw invalidRequest('parameter_invalid', error.message, 'url');
      throw error;
    }
  });
}

function describe(report: ShardAdditionReport): string {
  const percent = (fraction: number): string => `${(fraction * 100).toFixed(1)}%`;
  const moved = `shard ${report.shard_index} added (map version ${report.version}, ${report.shards} shards): moved ${report.moved} of ${report.accounts} accounts (${percent(report.moved_fraction)}; ideal ${percent(report.ideal_fraction)})`;
  return report.done ? moved : `${moved}; ${report.waiting} accounts still have pending transfers: run this again with the same URL to move them`;
}

export async function ledgerShardsCommand(args: readonly string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action === undefined || action === '--help' || action === 'help') {
    console.log(ledger_shards_usage);
    return action === undefined ? 2 : 0;
  }
  if (action !== 'add') {
    console.error(`unknown ledger shards command "${action}"\n\n${ledger_shards_usage}`);
    return 2;
  }
  const { values, positionals } = parseArgs({
    args: [...rest],
    allowPositionals: true,
    options: { url: { type: 'string' }, 'wait-seconds': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } },
  });
  if (values.help === true) {
    console.log(ledger_shards_usage);
    return 0;
  }
  const shard_url = positionals[0];
  if (shard_url === undefined || positionals.length !== 1 || !/^postgres(ql)?:\/\//.test(shard_url)) throw new UsageError('paygrid ledger shards add takes one PostgreSQL URL');
  let wait_seconds = shard_addition_wait_seconds_default;
  if (values['wait-seconds'] !== undefined) {
    wait_seconds = /^[0-9]{1,4}$/.test(values['wait-seconds']) ? Number.parseInt(values['wait-seconds'], 10) : Number.NaN;
    if (!(wait_seconds >= 0 && wait_seconds <= shard_addition_wait_seconds_max)) throw new UsageError(`--wait-seconds must be an integer from 0 to ${shard_addition_wait_seconds_max}`);
  }
  const config = loadPlatformConfig(process.env);
  const url = (values.url ?? defaultUrl(config)).replace(/\/+$/, '');
  try {
    const report = (await callPlatform(url, operatorKey(config), 'POST', '/v1/ledger/shards', { url: shard_url, wait_seconds })) as ShardAdditionReport;
    console.log(values.json === true ? JSON.stringify(report) : describe(report));
    return report.done ? 0 : 1;
  } catch (error) {
    if (!(error instanceof PlatformAnswerError)) throw error;
    console.error(`paygrid: ${error.message}`);
    return 1;
  }
}
