import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { Histogram } from 'prom-client';
import { ApiError, createHttpServer, createLogger, loadPlatformConfig, type PlatformConfig } from '@paygrid/kernel';
import { LedgerService, describeLedgerStore, ledgerStoreLocation, openLedgerStore, registerLedgerRoutes } from '@paygrid/ledger';
import { loadOperatorKey, type OperatorKey } from './operator-key';

/** The services this build can run. Later services join this list as they land. */
export const service_names = ['ledger'] as const;
export type ServiceName = (typeof service_names)[number];

export interface RunningPlatform {
  readonly url: string;
  readonly config: PlatformConfig;
  readonly operator_key: OperatorKey;
  readonly ledger_store: string;
  /** Stops taking requests, finishes the batch in flight, and closes every store. */
  close(): Promise<void>;
}

/** A mistake in how the command was called: reported in one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseServices(list: string | undefined): ServiceName[] {
  if (list === undefined || list.trim() === '') return [...service_names];
  const names = list.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!(service_names as readonly string[]).includes(name)) {
      throw new UsageError(`unknown service "${name}"; this build has: ${service_names.join(', ')}`);
    }
  }
  return names as ServiceName[];
}

/** Starts the named services (all by default) in this process, behind one HTTP server. */
export async function startPlatform(options: { env?: NodeJS.ProcessEnv; services?: readonly ServiceName[] } = {}): Promise<RunningPlatform> {
  const config = loadPlatformConfig(options.env ?? process.env);
  const services = options.services ?? service_names;
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'paygrid' });
  const operator_key = loadOperatorKey(config);
  // A failed assertion means the code is wrong: answer that request with a 500, then stop the
  // process rather than go on serving from state nobody can vouch for.
  const server = createHttpServer({
    logger,
    onAssertionFailure: () => {
      logger.fatal('assertion failed; exiting');
      process.exit(70);
    },
  });
  const { app } = server;

  const closers: (() => Promise<void>)[] = [];
  let ledger_store = 'not running';
  if (services.includes('ledger')) {
    const location = ledgerStoreLocation(config);
    ledger_store = describeLedgerStore(location);
    const store = await openLedgerStore(location, { migrate: config.MIGRATE_ON_START });
    const batch_events = new Histogram({
      name: 'ledger_batch_events',
      help: 'Events applied per committed ledger batch.',
      buckets: [1, 10, 100, 1000, 8190, 32760],
      registers: [server.metrics.registry],
    });
    const commit_seconds = new Histogram({
      name: 'ledger_batch_commit_seconds',
      help: 'Time from taking a ledger batch to its durable commit.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [server.metrics.registry],
    });
    const ledger = await LedgerService.open(store, {
      batch_wait_ms: config.LEDGER_BATCH_WAIT_MS,
      log: (level, message, fields) => logger[level]({ ...fields, service: 'ledger' }, message),
      metrics: {
        observeBatch: (events, _requests, seconds) => {
          batch_events.observe(events);
          commit_seconds.observe(seconds);
        },
      },
    });
    closers.push(() => ledger.close());
    registerLedgerRoutes(app, { ledger, authenticate: operatorAuthentication(operator_key.key) });
    server.readiness.add('ledger', async () => {
      await ledger.lookupAccounts([1n]);
    });
  }

  const url = await app.listen({ host: config.HOST, port: config.PORT });
  return {
    url,
    config,
    operator_key,
    ledger_store,
    close: async () => {
      await app.close();
      for (const close of closers.reverse()) await close();
    },
  };
}

/**
 * Operator routes take `Authorization: Bearer <operator key>`. Both sides are hashed before the
 * constant-time comparison so that neither their contents nor their lengths leak through timing.
 */
export function operatorAuthentication(operator_key: string): (request: FastifyRequest) => void {
  const expected = createHash('sha256').update(operator_key).digest();
  return (request) => {
    const header = request.headers.authorization;
    if (header === undefined) throw new ApiError('authentication_error', 'api_key_missing', 'No API key provided: send Authorization: Bearer <key>');
    const match = /^Bearer (\S+)$/.exec(header);
    const presented = createHash('sha256').update(match?.[1] ?? '').digest();
    if (match === null || !timingSafeEqual(presented, expected)) {
      throw new ApiError('authentication_error', 'api_key_invalid', 'Invalid API key provided');
    }
  };
}
