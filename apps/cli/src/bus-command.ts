// `paygrid bus dead-letters|replay`: the operator's handle on the bus's dead letters, messages that
// failed every delivery to a subscriber. The running platform holds the bus (apps/cli/src/bus.ts);
// this command asks it over HTTP with the operator key, as `paygrid keys` does.
import { parseArgs } from 'node:util';
import { loadPlatformConfig } from '@paygrid/kernel';
import { bus_dead_letters_page_max } from '@paygrid/kernel/bus';
import { dead_letters_listed_default, type DeadLetterWire } from './bus';
import { PlatformAnswerError, callPlatform, defaultUrl, operatorKey } from './keys-command';
import { UsageError } from './platform';

export const bus_usage = `Usage: paygrid bus dead-letters [--limit N] [--json] [--url URL]
       paygrid bus replay <id> [--url URL]

Events between services travel on the bus (NATS JetStream with NATS_URL, in process otherwise).
A message whose every delivery to a subscriber failed is kept as a dead letter. These commands ask
the running platform, with the operator key (PAYGRID_OPERATOR_KEY, or DATA_DIR/operator.key):

  dead-letters   the oldest dead letters: id, subscriber, subject, message id, deliveries, error
  replay <id>    deliver one again, to the subscriber it failed at only, and remove it from the
                 dead letters (subscribers are idempotent: one that had it already changes nothing)

Options:
  --url URL     the platform (default: http://HOST:PORT from the environment)
  --limit N     dead letters listed at most (default ${dead_letters_listed_default}, at most ${bus_dead_letters_page_max})
  --json        print the list as JSON`;

const dead_letter_id_pattern = /^[A-Za-z0-9_-]{1,64}$/;

function line(letter: DeadLetterWire): string {
  return `${letter.id}  ${new Date(letter.dead_ms).toISOString()}  ${letter.subscriber}  ${letter.subject}  ${letter.message_id}  ${letter.deliveries} deliveries  ${letter.error}`;
}

export async function busCommand(args: readonly string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action === undefined || action === '--help' || action === 'help') {
    console.log(bus_usage);
    return action === undefined ? 2 : 0;
  }
  if (action !== 'dead-letters' && action !== 'replay') {
    console.error(`unknown bus command "${action}"\n\n${bus_usage}`);
    return 2;
  }
  const { values, positionals } = parseArgs({
    args: [...rest],
    allowPositionals: true,
    options: { url: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } },
  });
  if (values.help === true) {
    console.log(bus_usage);
    return 0;
  }
  let limit = dead_letters_listed_default;
  if (values.limit !== undefined) {
    limit = /^[0-9]{1,4}$/.test(values.limit) ? Number.parseInt(values.limit, 10) : Number.NaN;
    if (!(limit >= 1 && limit <= bus_dead_letters_page_max)) throw new UsageError(`--limit must be an integer from 1 to ${bus_dead_letters_page_max}`);
  }
  const id = positionals[0];
  if (action === 'replay' && (id === undefined || positionals.length !== 1 || !dead_letter_id_pattern.test(id))) throw new UsageError('paygrid bus replay takes one dead letter id (from paygrid bus dead-letters)');
  if (action === 'dead-letters' && positionals.length > 0) throw new UsageError('paygrid bus dead-letters takes no arguments');
  const config = loadPlatformConfig(process.env);
  const url = (values.url ?? defaultUrl(config)).replace(/\/+$/, '');
  const key = operatorKey(config);
  try {
    if (action === 'replay') {
      await callPlatform(url, key, 'POST', `/v1/bus/dead-letters/${encodeURIComponent(id ?? '')}/replay`, {});
      console.log(`dead letter ${id ?? ''} delivered again`);
      return 0;
    }
    const answer = (await callPlatform(url, key, 'GET', `/v1/bus/dead-letters?limit=${limit}`)) as { data: DeadLetterWire[] };
    if (values.json === true) console.log(JSON.stringify(answer.data));
    else if (answer.data.length === 0) console.log('no dead letters');
    else for (const letter of answer.data) console.log(line(letter));
    return 0;
  } catch (error) {
    if (!(error instanceof PlatformAnswerError)) throw error;
    console.error(`paygrid: ${error.message}`);
    return 1;
  }
}
