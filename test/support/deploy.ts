// What the deploy suites (test/deploy-*.test.ts) check the image, compose and Kubernetes files
// against: the code's own service list, call graph and configuration schema, and a real service
// process answering the endpoints the probes and health checks name.
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { platform_variable_names } from '@paygrid/kernel';
import { temporaryDirectory } from '@paygrid/kernel/testing';
import { remoteDependencies, service_names, startPlatform, type ServiceName } from '../../apps/cli/src/platform';
import { freePort } from './platform';

export const repository_root = resolve(import.meta.dirname, '../..');
export { service_names, type ServiceName };

/** Whether a deploy file may set this variable: the schema reads it. */
export function isKnownVariable(name: string): boolean {
  return platform_variable_names.includes(name);
}

/** The services a process running only `service` calls over the network, as the start-up check computes them. */
export function servicesCalledBy(service: ServiceName, options: { readonly nats: boolean }): string[] {
  return remoteDependencies([service], options).sort();
}

/** The variables that hold secrets: a deploy file must never carry their values. */
export const secret_variables = ['PAYGRID_OPERATOR_KEY', 'PAYGRID_VAULT_KEK', 'PAYGRID_VAULT_KEK_PREVIOUS', 'DATABASE_URL'] as const;

export interface ProbeTarget {
  /** The service's own port (PORT), on 127.0.0.1. */
  readonly port: number;
  /** The metrics listener's port (METRICS_PORT), on 127.0.0.1. */
  readonly metrics_port: number;
  close(): Promise<void>;
}

/**
 * A real service process's listeners, as a container runs them (`paygrid start --services ledger`
 * with METRICS_PORT), on embedded storage: what the probes and health checks are tried against.
 */
export async function startProbeTarget(): Promise<ProbeTarget> {
  const directory = await temporaryDirectory();
  const metrics_port = await freePort();
  try {
    const platform = await startPlatform({
      services: ['ledger'],
      port: 0,
      env: {
        DATA_DIR: directory.path,
        HOST: '127.0.0.1',
        METRICS_PORT: String(metrics_port),
        LOG_LEVEL: 'silent',
        PAYGRID_OPERATOR_KEY: `op-test-${randomBytes(24).toString('hex')}`,
      },
    });
    return {
      port: Number(new URL(platform.url).port),
      metrics_port,
      close: async () => {
        await platform.close();
        await directory.remove();
      },
    };
  } catch (error) {
    await directory.remove();
    throw error;
  }
}
