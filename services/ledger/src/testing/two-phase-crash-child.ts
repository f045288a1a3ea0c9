// The coordinator that the two-phase commit crash test kills. It opens the sharded ledger with a
// failpoint and sends transfers between shards, a few requests at a time, printing each transfer
// the ledger acknowledged ("ack <id>") the moment it was acknowledged. At the failpoint the process
// SIGKILLs itself, in the middle of a round.
import { ShardedLedger, type TwoPhaseFailpoint } from '../sharding/sharded-ledger';
import { emptyTransferEvent } from '../types';

export interface TwoPhaseCrashChildConfig {
  readonly shard_urls: string[];
  readonly schema: string;
  readonly coordinator_schema: string;
  readonly failpoint: TwoPhaseFailpoint;
  /** The round (counting from 1) in which the failpoint fires: the rounds before it are acknowledged. */
  readonly failpoint_round: number;
  /** Pairs of accounts on different shards, as decimal strings. */
  readonly pairs: [string, string][];
  readonly ledger: number;
  /** The first transfer id; each request takes the next. */
  readonly first_id: string;
  /** Requests sent together in each wave; the failpoint fires in the first wave's round. */
  readonly requests_per_wave: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as TwoPhaseCrashChildConfig;
const ledger = await ShardedLedger.open({
  shard_urls: config.shard_urls,
  schema: config.schema,
  coordinator_schema: config.coordinator_schema,
  migrate: false,
  failpoint: { point: config.failpoint, round: config.failpoint_round },
  writer: { batch_wait_ms: 0 },
});
let next_id = BigInt(config.first_id);
// Waves until the failpoint ends the process; a bound, so that a failpoint never reached fails the test.
// Each wave waits for the last, so each is one round (or a few): the rounds before the failpoint's
// are acknowledged.
for (let wave = 0; wave < 20; wave++) {
  await Promise.all(
    Array.from({ length: config.requests_per_wave }, async (_unused, index) => {
      const pair = config.pairs[index % config.pairs.length];
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
process.stdout.write('failpoint never reached\n');
await ledger.close();
