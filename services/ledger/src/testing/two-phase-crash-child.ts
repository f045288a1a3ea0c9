// The coordinator that the sharded ledger's crash tests kill. It opens the sharded ledger and sends
// transfers between the given pairs of accounts, a few requests at a time, printing each transfer
// the ledger acknowledged ("ack <id>") the moment it was acknowledged. With a failpoint the process
// SIGKILLs itself in the middle of a round; without one it runs until the test kills it.
import { ShardedLedger, type TwoPhaseFailpoint } from '../sharding/sharded-ledger';
import { emptyTransferEvent } from '../types';

export interface TwoPhaseCrashChildConfig {
  readonly shard_urls: string[];
  readonly schema: string;
  readonly coordinator_schema: string;
  readonly failpoint?: { readonly point: TwoPhaseFailpoint; readonly round: number };
  /** Pairs of accounts (on different shards, or the same), as decimal strings. */
  readonly pairs: [string, string][];
  readonly ledger: number;
  /** The first transfer id; each request takes the next. */
  readonly first_id: string;
  /** Requests sent together in each wave. */
  readonly requests_per_wave: number;
  /** Waves at most: a failpoint never reached, or a kill that never came, ends the child. */
  readonly waves_max: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as TwoPhaseCrashChildConfig;
const ledger = await ShardedLedger.open({
  shard_urls: config.shard_urls,
  schema: config.schema,
  coordinator_schema: config.coordinator_schema,
  migrate: false,
  ...(config.failpoint === undefined ? {} : { failpoint: config.failpoint }),
  writer: { batch_wait_ms: 0 },
});
let next_id = BigInt(config.first_id);
// Waves until the failpoint ends the process; a bound, so that a failpoint never reached fails the test.
// Each wave waits for the last, so each is one round (or a few): the rounds before the failpoint's
// are acknowledged.
process.stdout.write('serving\n');
for (let wave = 0; wave < config.waves_max; wave++) {
  await Promise.all(
    Array.from({ length: config.requests_per_wave }, async (_unused, index) => {
      const pair = config.pairs[(wave + index) % config.pairs.length];
      if (pair === undefined) throw new Error('no account pairs');
      const id = next_id++;
      const [answer] = await ledger.createTransfers([
        emptyTransferEvent({ id, debit_account_id: BigInt(pair[0]), credit_account_id: BigInt(pair[1]), amount: 10n, ledger: config.ledger, code: 1 }),
      ]);
      if (answer?.result === 'ok') process.stdout.write(`ack ${id}\n`);
      else process.stdout.write(`refused ${id} ${answer?.result ?? 'nothing'}\n`);
    }),
  );
}
process.stdout.write('waves ended\n');
await ledger.close();
