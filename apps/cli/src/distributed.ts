// `paygrid distributed` (npm run start:distributed): every service as its own process on this
// machine, as a deployment would run them on several, against the PostgreSQL, NATS and Redis the
// environment names. It is a supervisor, not a service: it starts the processes in dependency
// order, waits for each to be ready, tells each where the others are, restarts one that dies, and
// stops them all in reverse order on SIGTERM.
//
// Each process is an ordinary `paygrid start --services <name>`, so its command line names its
// service and an operator can find and stop one (`pkill -f -- '--services payments'`).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, callable_service_names, loadPlatformConfig, makePrivateDirectory, serviceUrlsVariable } from '@paygrid/kernel';
import { loadKeyring } from '@paygrid/kernel/envelope';
import { startSimulators, writeSimulatorSettings, type SimulatorSettings } from './connectors';
import { loadOperatorKey } from './operator-key';
import type { ServiceName } from './platform';

/**
 * The processes, in start order: a stage starts once every process of the stage before it is
 * ready. Stop order is the reverse, so the public gateway stops taking requests first and the
 * ledger, which everything writes through, stops last.
 */
export const distributed_stages: readonly (readonly { readonly service: ServiceName; readonly instances: number }[])[] = [
  [
    { service: 'ledger', instances: 1 },
    { service: 'identity', instances: 1 },
    { service: 'vault', instances: 1 },
    { service: 'webhooks', instances: 1 },
  ],
  [{ service: 'wallet', instances: 1 }],
  [{ service: 'payments', instances: 2 }],
  [{ service: 'gateway', instances: 1 }],
];

/** Listening on every interface: the supervisor itself reaches the gateway on loopback. */
const wildcard_hosts = new Set(['0.0.0.0', '::', '[::]']);
/** How long one process may take to answer /readyz after it was started. */
const process_ready_timeout_ms = 60_000;
const readiness_poll_interval_ms = 100;
/** A process that died is started again after this, doubling up to the cap while it keeps dying quickly. */
const restart_delay_ms_first = 1_000;
const restart_delay_ms_max = 30_000;
/** A process that ran this long before dying restarts after the first delay again. */
const restart_healthy_run_ms = 60_000;
/** Beyond a process's own shutdown time: how long the supervisor waits before SIGKILL. */
const stop_grace_margin_ms = 5_000;

interface ServiceProcess {
  readonly service: ServiceName;
  readonly instance: number;
  readonly port: number;
  child: ChildProcess | undefined;
  started_ms: number;
  restart_delay_ms: number;
  restart_timer: NodeJS.Timeout | undefined;
  exited: Promise<number | null>;
}

export interface DistributedOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Where a line of a process's output goes, prefixed with its name. */
  readonly print?: (line: string) => void;
}

export interface RunningDistributed {
  /** The gateway's public URL. */
  readonly url: string;
  /** Every process with its service, instance number, port and pid, for operators and tests. */
  readonly processes: readonly { readonly service: ServiceName; readonly instance: number; readonly port: number; readonly pid: number | undefined }[];
  /** The simulators every payments process uses (test mode only), with their URLs. */
  readonly simulators: SimulatorSettings;
  /** Stops every process, gateway first, ledger last; resolves with whether all exited cleanly. */
  stop(): Promise<boolean>;
}

const cli_path = fileURLToPath(new URL('../bin/paygrid.js', import.meta.url));

export async function startDistributed(options: DistributedOptions = {}): Promise<RunningDistributed> {
  const env = options.env ?? process.env;
  const print = options.print ?? ((line: string) => console.log(line));
  const config = loadPlatformConfig(env);
  if (config.DATABASE_URL === undefined) {
    throw new ConfigError(['DATABASE_URL must be set: the services of the distributed mode share one PostgreSQL server (one schema each), which SQLite files cannot give processes']);
  }
  // Every process must hold the same operator key and key-encryption key. They are settled here,
  // once, so that no two processes race to generate different ones.
  const operator_key = loadOperatorKey(config);
  const keys = await loadKeyring({ env, data_dir: config.DATA_DIR, allow_generate: true });
  for (const warning of keys.warnings) print(`[distributed] warning: ${warning}`);
  const kek_variables: Record<string, string> =
    keys.source.kind === 'file' && env.PAYGRID_VAULT_KEK === undefined ? { PAYGRID_VAULT_KEK_FILE: keys.source.path } : {};

  // One simulator of each kind for every payments process (connectors.ts says why), test mode only.
  const simulators = await startSimulators(config);
  const simulators_file = join(config.DATA_DIR, 'simulators.json');
  makePrivateDirectory(config.DATA_DIR);
  writeSimulatorSettings(simulators_file, simulators.settings);
  // Providers post their notifications to the public API, which only the gateway serves.
  const gateway_url = `http://${wildcard_hosts.has(config.HOST) ? '127.0.0.1' : config.HOST}:${config.PORT}`;

  let next_port = config.PORT + 1;
  const processes: ServiceProcess[][] = distributed_stages.map((stage) =>
    stage.flatMap(({ service, instances }) =>
      Array.from({ length: instances }, (_, index) => {
        const port = service === 'gateway' ? config.PORT : next_port++;
        return { service, instance: index + 1, port, child: undefined, started_ms: 0, restart_delay_ms: restart_delay_ms_first, restart_timer: undefined, exited: Promise.resolve(0) };
      }),
    ),
  );
  const service_urls: Record<string, string> = {};
  for (const name of callable_service_names) {
    const instances = processes.flat().filter((entry) => entry.service === name);
    service_urls[serviceUrlsVariable(name)] = instances.map((entry) => `http://127.0.0.1:${entry.port}`).join(',');
  }
  const base_env: NodeJS.ProcessEnv = {
    ...env,
    ...service_urls,
    ...kek_variables,
    PAYGRID_OPERATOR_KEY: operator_key.key,
    SIMULATORS_FILE: simulators_file,
    PUBLIC_BASE_URL: config.PUBLIC_BASE_URL ?? gateway_url,
  };

  let stopping = false;
  function launch(entry: ServiceProcess): void {
    const name = entry.service === 'payments' ? `${entry.service}-${entry.instance}` : entry.service;
    // Internal services listen on the loopback interface; only the gateway takes HOST.
    const child_env = { ...base_env, PORT: String(entry.port), ...(entry.service === 'gateway' ? {} : { HOST: '127.0.0.1', METRICS_PORT: '' }) };
    const child = spawn(process.execPath, [cli_path, 'start', '--services', entry.service], { env: child_env, stdio: ['ignore', 'pipe', 'pipe'] });
    entry.child = child;
    entry.started_ms = Date.now();
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => print(`[${name}] ${line}`));
    }
    entry.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        entry.child = undefined;
        resolve(code);
        if (stopping) return;
        // A crashed service is started again, as an orchestrator would, more slowly while it keeps crashing.
        const ran_ms = Date.now() - entry.started_ms;
        if (ran_ms >= restart_healthy_run_ms) entry.restart_delay_ms = restart_delay_ms_first;
        print(`[distributed] ${name} exited (${signal ?? `code ${String(code)}`}); starting it again in ${entry.restart_delay_ms} ms`);
        entry.restart_timer = setTimeout(() => {
          entry.restart_timer = undefined;
          if (!stopping) launch(entry);
        }, entry.restart_delay_ms);
        entry.restart_delay_ms = Math.min(entry.restart_delay_ms * 2, restart_delay_ms_max);
      });
    });
  }

  async function stop(): Promise<boolean> {
    stopping = true;
    let clean = true;
    for (const stage of [...processes].reverse()) {
      const results = await Promise.all(
        stage.map(async (entry) => {
          if (entry.restart_timer !== undefined) clearTimeout(entry.restart_timer);
          const child = entry.child;
          if (child === undefined) return true;
          child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), config.SHUTDOWN_TIMEOUT_MS + stop_grace_margin_ms);
          const code = await entry.exited;
          clearTimeout(killer);
          return code === 0;
        }),
      );
      clean &&= results.every(Boolean);
    }
    await simulators.close();
    return clean;
  }

  try {
    for (const stage of processes) {
      for (const entry of stage) launch(entry);
      await Promise.all(stage.map((entry) => waitUntilReady(entry)));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: `http://${config.HOST}:${config.PORT}`,
    simulators: simulators.settings,
    processes: processes.flat().map((entry) => ({ service: entry.service, instance: entry.instance, port: entry.port, pid: entry.child?.pid })),
    stop,
  };
}

async function waitUntilReady(entry: ServiceProcess): Promise<void> {
  const deadline_ms = Date.now() + process_ready_timeout_ms;
  const url = `http://127.0.0.1:${entry.port}/readyz`;
  while (Date.now() < deadline_ms) {
    if (entry.child === undefined) throw new Error(`${entry.service} (port ${entry.port}) exited before it was ready; its output above says why`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(readiness_poll_interval_ms * 10) });
      if (response.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, readiness_poll_interval_ms));
  }
  throw new Error(`${entry.service} (port ${entry.port}) was not ready within ${process_ready_timeout_ms} ms`);
}
