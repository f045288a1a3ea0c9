// Starting the sharded ledger's crash-test child (two-phase-crash-child.ts) from a test, and the
// account pairs its load runs between. Shared by the coordinator crash test and the standby test.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ShardedLedger } from '../sharding/sharded-ledger';
import type { TwoPhaseCrashChildConfig } from './two-phase-crash-child';

const package_directory = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface RunningCrashChild {
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the signal that ended the child (null if it exited by itself). */
  readonly exited: Promise<NodeJS.Signals | null>;
  readonly running: () => boolean;
  kill(): void;
}

export function startCrashChild(config: TwoPhaseCrashChildConfig): RunningCrashChild {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/testing/two-phase-crash-child.ts', JSON.stringify(config)], {
    cwd: package_directory,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    running: () => child.exitCode === null && child.signalCode === null,
    kill: () => {
      child.kill('SIGKILL');
    },
  };
}

/** The first `count` account ids of 1..60 that live on each of the ledger's first three shards. */
export function accountsByShard(ledger: ShardedLedger, count: number): [bigint[], bigint[], bigint[]] {
  const ids = Array.from({ length: 60 }, (_unused, index) => BigInt(index + 1));
  const on = (shard: number): bigint[] => ids.filter((id) => ledger.shardOf(id) === shard).slice(0, count);
  return [on(0), on(1), on(2)];
}
