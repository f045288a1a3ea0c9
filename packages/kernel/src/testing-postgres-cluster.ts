// A PostgreSQL cluster of a test's own, for suites that stop and start the server: the machine's
// shared PostgreSQL serves every suite running in parallel, so it must never go down. The cluster
// lives in a fresh temporary folder, listens on 127.0.0.1 only, on a free port, with trust
// authentication and fsync on (an immediate stop must lose nothing that was committed).
//
// PostgreSQL refuses to run as root, and CI runs as root: there, initdb and pg_ctl run as the
// `postgres` OS user through runuser, in a folder that user owns. A developer's own account runs
// them directly.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'vitest';

const run = promisify(execFile);

/** Debian's PostgreSQL 15 binaries; POSTGRES_BIN_DIR points elsewhere. */
export const postgres_bin_dir = process.env.POSTGRES_BIN_DIR ?? '/usr/lib/postgresql/15/bin';
const runuser_path = '/usr/sbin/runuser';
/** The OS user that owns the cluster when the tests run as root. */
const cluster_os_user = 'postgres';
/** How long pg_ctl waits for the server to start or stop. */
const pg_ctl_wait_seconds = 60;
/** Connections the cluster takes: a distributed deployment opens a pool per service process. */
const cluster_connections_max = 300;

function runningAsRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Why a private cluster cannot run here, or undefined when it can. */
export function privatePostgresUnavailableReason(): string | undefined {
  for (const binary of ['initdb', 'pg_ctl']) {
    if (!existsSync(join(postgres_bin_dir, binary))) return `${join(postgres_bin_dir, binary)} is missing (apt-get install postgresql-15, or set POSTGRES_BIN_DIR)`;
  }
  if (runningAsRoot() && !existsSync(runuser_path)) return `${runuser_path} is missing: as root, PostgreSQL must run as the ${cluster_os_user} user`;
  return undefined;
}

/**
 * A describe block for suites that run a PostgreSQL cluster of their own. Skipped, with one line
 * saying why, where the binaries are missing; under CI=true it runs anyway, and fails, because a
 * CI machine without them is misconfigured, not excused.
 */
export function describeWithPrivatePostgres(name: string, suite: () => void): void {
  const reason = privatePostgresUnavailableReason();
  if (reason !== undefined && process.env.CI !== 'true') {
    console.warn(`[skip] private PostgreSQL suites skipped: ${reason}`);
    describe.skip(name, () => {
      it('needs the PostgreSQL server binaries', () => undefined);
    });
    return;
  }
  describe(name, suite);
}

async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((listening, failed) => {
    server.once('error', failed);
    server.listen(0, '127.0.0.1', listening);
  });
  const address = server.address();
  await new Promise((closed) => server.close(closed));
  if (address === null || typeof address === 'string') throw new Error('a TCP server has a port');
  return address.port;
}

/** The command line that runs a PostgreSQL binary as the cluster's owner. */
function asOwner(binary: string, args: readonly string[]): [string, string[]] {
  const path = join(postgres_bin_dir, binary);
  return runningAsRoot() ? [runuser_path, ['-u', cluster_os_user, '--', path, ...args]] : [path, [...args]];
}

export type PostgresStopMode = 'immediate' | 'fast';

export interface PrivatePostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  readonly url: string;
  readonly port: number;
  /**
   * Stops the server. `immediate` is a crash as far as the data is concerned (no checkpoint;
   * the next start replays the WAL); `fast` disconnects every session and shuts down cleanly.
   */
  stop(mode: PostgresStopMode): Promise<void>;
  start(): Promise<void>;
  /** Stops the server if it runs and deletes its folder; safe to call more than once. */
  remove(): Promise<void>;
}

/** Creates and starts a fresh cluster. Call `remove()` in afterAll; a process exit removes it too. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const reason = privatePostgresUnavailableReason();
  if (reason !== undefined) throw new Error(`a private PostgreSQL cluster cannot run here: ${reason}`);
  const folder = await mkdtemp(join(tmpdir(), 'paygrid-pg-'));
  const data = join(folder, 'data');
  const log = join(folder, 'server.log');
  const port = await freeLoopbackPort();
  let running = false;
  let removed = false;
  // The last resort when the suite dies before its afterAll: never leave a server behind.
  const removeAtExit = (): void => {
    if (running) {
      try {
        const [command, args] = asOwner('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w']);
        execFileSync(command, args, { stdio: 'ignore' });
      } catch {
        // Already gone.
      }
    }
    rmSync(folder, { recursive: true, force: true });
  };
  process.once('exit', removeAtExit);
  const remove = async (): Promise<void> => {
    if (removed) return;
    removed = true;
    process.removeListener('exit', removeAtExit);
    if (running) await pgCtl(['stop', '-D', data, '-m', 'immediate', '-w']).catch(() => undefined);
    running = false;
    await rm(folder, { recursive: true, force: true });
  };
  const pgCtl = async (args: readonly string[]): Promise<void> => {
    const [command, full] = asOwner('pg_ctl', [...args, '-t', String(pg_ctl_wait_seconds)]);
    try {
      await run(command, full);
    } catch (error) {
      const server_log = await readFile(log, 'utf8').catch(() => '');
      throw new Error(`pg_ctl ${args[0] ?? ''} failed: ${(error as Error).message}\n${server_log.slice(-4_000)}`, { cause: error });
    }
  };
  const start = async (): Promise<void> => {
    await pgCtl([
      'start',
      '-D',
      data,
      '-l',
      log,
      '-w',
      '-o',
      // The socket goes in the cluster's own folder: the system's socket folder belongs to the machine's server.
      `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${folder} -c fsync=on -c synchronous_commit=on -c max_connections=${cluster_connections_max} -c shared_buffers=32MB`,
    ]);
    running = true;
  };
  try {
    if (runningAsRoot()) {
      const owner = (await run('id', ['-u', cluster_os_user])).stdout.trim();
      const group = (await run('id', ['-g', cluster_os_user])).stdout.trim();
      await chown(folder, Number(owner), Number(group));
    }
    // --no-sync only spares initdb's own flushes of the template files; the server runs with fsync on.
    const [command, args] = asOwner('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    await run(command, args);
    await start();
  } catch (error) {
    await remove();
    throw error;
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop: async (mode) => {
      await pgCtl(['stop', '-D', data, '-m', mode, '-w']);
      running = false;
    },
    start,
    remove,
  };
}
