// CPU per request, per process: the measured reason why a deployment reaches the throughput it
// does on this machine. Before and after a measured phase the meter reads how much CPU time every
// process involved has used: each Paygrid process from its own Prometheus metrics (prom-client's
// default `process_cpu_seconds_total`), PostgreSQL's backends serving the benchmark's database,
// the NATS and Redis servers and PostgreSQL's shared processes from /proc/<pid>/stat, and the load
// generator (this process) from process.cpuUsage(). The difference divided by the requests the
// phase completed is CPU milliseconds per request; the machine's cores divided by the sum is the
// most requests per second it could serve if nothing but CPU limited it.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import pg from 'pg';

/** Where a reading comes from, which says how far it can be attributed to the benchmark alone. */
export type CpuSourceKind = 'paygrid' | 'postgres_backends' | 'shared_server' | 'load_generator';

export interface CpuSource {
  readonly name: string;
  readonly kind: CpuSourceKind;
  /** CPU seconds used so far (user and system); per-pid for sources whose processes come and go. */
  read(): Promise<ReadonlyMap<number, number>>;
}

export interface CpuLine {
  readonly name: string;
  readonly kind: CpuSourceKind;
  readonly cpu_ms_per_unit: number;
}

export interface CpuAccount {
  /** What one unit is: a request, or a card payment (three requests). */
  readonly unit: string;
  readonly units: number;
  readonly wall_seconds: number;
  readonly lines: readonly CpuLine[];
  /** CPU ms per unit of the Paygrid processes and their PostgreSQL backends: attributable to the benchmark alone. */
  readonly attributable_ms_per_unit: number;
  /** The above plus the shared servers (NATS, Redis, PostgreSQL's shared processes), which other jobs may also use. */
  readonly with_shared_ms_per_unit: number;
  /** The above plus the load generator, which runs on the same cores. */
  readonly with_load_generator_ms_per_unit: number;
  readonly cores: number;
  /** cores x 1000 / attributable_ms_per_unit: units per second if CPU were the only limit and nothing else ran. */
  readonly bound_per_second: number;
  /** The same bound with the shared servers and the load generator charged too: what this machine can give the benchmark. */
  readonly bound_per_second_with_everything: number;
  readonly load_average_before: readonly number[];
  readonly load_average_after: readonly number[];
}

const ms_per_second = 1_000;
/** One scrape of a process's /metrics may take this long before the reading fails the run. */
const scrape_timeout_ms = 5_000;

function clockTicksPerSecond(): number {
  try {
    const ticks = Number.parseInt(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim(), 10);
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    // Linux has reported 100 ticks per second to user space on every architecture for decades.
    return 100;
  }
}

const clock_ticks_per_second = clockTicksPerSecond();

/** User plus system CPU seconds of one process from /proc/<pid>/stat, or undefined once it has exited. */
export function procCpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces; fields are counted after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
  const user_ticks = Number(fields[11]);
  const system_ticks = Number(fields[12]);
  if (!Number.isFinite(user_ticks) || !Number.isFinite(system_ticks)) return undefined;
  return (user_ticks + system_ticks) / clock_ticks_per_second;
}

/** The pids of every process whose command name is exactly `name` (pgrep -x), none when there is none. */
export function pidsNamed(name: string): number[] {
  try {
    return execFileSync('pgrep', ['-x', name], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => Number.parseInt(line, 10));
  } catch {
    // pgrep exits with 1 when nothing matches.
    return [];
  }
}

/** Reads `process_cpu_seconds_total` from a Paygrid process's /metrics, which it serves to the operator key. */
export async function scrapeCpuSeconds(base_url: string, operator_key: string): Promise<number> {
  const response = await fetch(`${base_url}/metrics`, { headers: { authorization: `Bearer ${operator_key}` }, signal: AbortSignal.timeout(scrape_timeout_ms) });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${base_url}/metrics answered ${response.status}: ${text.slice(0, 200)}`);
  const match = /^process_cpu_seconds_total(?:\{[^}]*\})? ([0-9.eE+-]+)$/m.exec(text);
  if (match?.[1] === undefined) throw new Error(`${base_url}/metrics has no process_cpu_seconds_total`);
  return Number(match[1]);
}

/** A Paygrid process, read from its own metrics. */
export function paygridProcess(name: string, base_url: string, operator_key: string): CpuSource {
  return { name, kind: 'paygrid', read: async () => new Map([[0, await scrapeCpuSeconds(base_url, operator_key)]]) };
}

/** A process that is not Paygrid's, by pid. */
export function osProcesses(name: string, kind: CpuSourceKind, pids: () => readonly number[]): CpuSource {
  return {
    name,
    kind,
    read: () => {
      const seconds = new Map<number, number>();
      for (const pid of pids()) {
        const used = procCpuSeconds(pid);
        if (used !== undefined) seconds.set(pid, used);
      }
      return Promise.resolve(seconds);
    },
  };
}

/**
 * The PostgreSQL backends connected to `database`, one source per application_name (each
 * service's connections carry `paygrid-<schema>`), so that the database's CPU is charged to the
 * service whose queries cost it; and, as a shared source, every other PostgreSQL process: the WAL
 * writer, checkpointer and background writer work for every database on the server, and other
 * jobs' backends run there too. The application names are found at the first reading: sources are
 * made once, before the phases, from the backends open then.
 */
export async function postgresSources(admin_url: string, database: string): Promise<CpuSource[]> {
  let backends = new Map<number, string>();
  const listBackends = async (): Promise<void> => {
    const client = new pg.Client({ connectionString: admin_url });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const result = await client.query<{ pid: number; application_name: string }>('SELECT pid, application_name FROM pg_stat_activity WHERE datname = $1', [database]);
      backends = new Map(result.rows.map((row) => [row.pid, row.application_name === '' ? 'unnamed' : row.application_name]));
    } finally {
      await client.end();
    }
  };
  await listBackends();
  const applications = [...new Set(backends.values())].sort();
  const known = new Set(applications);
  // Backends opened later under a name not open at the start are charged to this one.
  const other = 'other applications';
  const perApplication = (application: string, first: boolean): CpuSource => ({
    name: `PostgreSQL backends of ${application}`,
    kind: 'postgres_backends',
    read: async () => {
      // The first of these sources lists the backends again for all of them, at each reading.
      if (first) await listBackends();
      const seconds = new Map<number, number>();
      for (const [pid, name] of backends) {
        if ((known.has(name) ? name : other) !== application) continue;
        const used = procCpuSeconds(pid);
        if (used !== undefined) seconds.set(pid, used);
      }
      return seconds;
    },
  });
  return [
    ...[...applications, other].map((application, index) => perApplication(application, index === 0)),
    osProcesses('PostgreSQL, its other processes (shared)', 'shared_server', () => pidsNamed('postgres').filter((pid) => !backends.has(pid))),
  ];
}

/** The load generator: this process, which runs autocannon. */
export const load_generator: CpuSource = {
  name: 'load generator (the bench process)',
  kind: 'load_generator',
  read: () => {
    const usage = process.cpuUsage();
    return Promise.resolve(new Map([[0, (usage.user + usage.system) / 1e6]]));
  },
};

/** NATS and Redis, when they run on this machine: whole servers, which other jobs may be using too. */
export function sharedServers(): CpuSource[] {
  return [osProcesses('NATS server (shared)', 'shared_server', () => pidsNamed('nats-server')), osProcesses('Redis server (shared)', 'shared_server', () => pidsNamed('redis-server'))];
}

interface Snapshot {
  readonly at_ms: number;
  readonly load_average: readonly number[];
  readonly readings: readonly ReadonlyMap<number, number>[];
}

export class CpuMeter {
  readonly #sources: readonly CpuSource[];

  constructor(sources: readonly CpuSource[]) {
    this.#sources = sources;
  }

  /**
   * Runs `phase` between two snapshots and accounts its CPU per unit. The postgres_backends source
   * is read first and last, so that the set of backends it lists is the one the shared source
   * leaves out at both ends.
   */
  async measure<T>(unit: string, phase: () => Promise<T>, units: (result: T) => number): Promise<{ result: T; cpu: CpuAccount }> {
    const before = await this.#snapshot();
    const result = await phase();
    const after = await this.#snapshot();
    return { result, cpu: this.#account(unit, units(result), before, after) };
  }

  async #snapshot(): Promise<Snapshot> {
    const readings: ReadonlyMap<number, number>[] = [];
    // One at a time: the readings are taken within milliseconds of each other either way, and
    // scraping eight processes at once would itself be a burst of load.
    for (const source of this.#sources) readings.push(await source.read());
    return { at_ms: performance.now(), load_average: loadavg(), readings };
  }

  #account(unit: string, units: number, before: Snapshot, after: Snapshot): CpuAccount {
    const divisor = Math.max(1, units);
    const lines = this.#sources.map((source, index) => {
      const then = before.readings[index] ?? new Map<number, number>();
      const now = after.readings[index] ?? new Map<number, number>();
      let seconds = 0;
      // A process started during the phase counts from zero; one that exited during it is lost,
      // which can only make the figure smaller, never larger.
      for (const [pid, used] of now) seconds += used - (then.get(pid) ?? 0);
      return { name: source.name, kind: source.kind, cpu_ms_per_unit: (seconds * ms_per_second) / divisor };
    });
    const sum = (kinds: readonly CpuSourceKind[]) => lines.filter((line) => kinds.includes(line.kind)).reduce((total, line) => total + line.cpu_ms_per_unit, 0);
    const attributable = sum(['paygrid', 'postgres_backends']);
    const with_shared = sum(['paygrid', 'postgres_backends', 'shared_server']);
    const with_load_generator = sum(['paygrid', 'postgres_backends', 'shared_server', 'load_generator']);
    const cores = availableParallelism();
    return {
      unit,
      units,
      wall_seconds: (after.at_ms - before.at_ms) / ms_per_second,
      lines,
      attributable_ms_per_unit: attributable,
      with_shared_ms_per_unit: with_shared,
      with_load_generator_ms_per_unit: with_load_generator,
      cores,
      bound_per_second: (cores * ms_per_second) / attributable,
      bound_per_second_with_everything: (cores * ms_per_second) / with_load_generator,
      load_average_before: before.load_average,
      load_average_after: after.load_average,
    };
  }
}
