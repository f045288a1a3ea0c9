// The services this process does not run, reached over the network: one load-balanced upstream per
// service (kernel/transport), wrapped in that service's own client: the ledger's binary client,
// or the RPC client its contract defines. Each implements the same interface as the in-process
// service, so the code that calls it cannot tell which one it holds.
import { ConfigError, serviceUrlsVariable, type CallableServiceName, type PlatformConfig } from '@paygrid/kernel';
import { createRpcClient, type ServiceContract } from '@paygrid/kernel/rpc';
import { createHttpUpstream, parseUpstreamTargets, type Upstream, type UpstreamTls } from '@paygrid/kernel/transport';
import { LedgerHttpClient, type LedgerClient } from '@paygrid/ledger';
import type { Registry } from 'prom-client';

export interface RemoteServicesOptions {
  readonly config: PlatformConfig;
  /** Service-to-service calls carry the operator key, which the internal routes require. */
  readonly operator_key: string;
  readonly registry: Registry;
  /** This process's certificate for mutual TLS, and the CA it trusts for the services it calls (https origins). */
  readonly tls?: UpstreamTls;
}

export class RemoteServices {
  readonly #config: PlatformConfig;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #registry: Registry;
  readonly #tls: UpstreamTls | undefined;
  readonly #upstreams = new Map<CallableServiceName, Upstream>();
  readonly #closers: (() => Promise<void>)[] = [];
  #ledger: LedgerHttpClient | undefined;

  constructor(options: RemoteServicesOptions) {
    this.#config = options.config;
    this.#headers = { authorization: `Bearer ${options.operator_key}` };
    this.#registry = options.registry;
    this.#tls = options.tls;
  }

  /**
   * The ledger at LEDGER_SERVICE_URLS, for `caller`; a ConfigError names the variable when it is
   * unset. One client for the whole process, so that every caller's concurrent calls share batches.
   */
  ledger(caller: string): LedgerClient {
    if (this.#ledger !== undefined) return this.#ledger;
    const client = new LedgerHttpClient({ upstream: this.#upstream('ledger', caller), headers: this.#headers });
    this.#closers.push(() => client.close());
    this.#ledger = client;
    return client;
  }

  /** Another service at `<SERVICE>_SERVICE_URLS`, through the RPC client of its contract. */
  client<Client>(service: CallableServiceName, contract: ServiceContract<Client>, caller: string): Client {
    return createRpcClient(contract, this.#upstream(service, caller));
  }

  async close(): Promise<void> {
    for (const close of this.#closers.splice(0).reverse()) await close();
    this.#ledger = undefined;
    for (const upstream of this.#upstreams.values()) await upstream.close();
    this.#upstreams.clear();
  }

  #upstream(service: CallableServiceName, caller: string): Upstream {
    const existing = this.#upstreams.get(service);
    if (existing !== undefined) return existing;
    const variable = serviceUrlsVariable(service);
    const urls = this.#config.SERVICE_URLS[service];
    if (urls === undefined) {
      throw new ConfigError([`${caller} calls ${service}, which does not run in this process: set ${variable} to its instances' origins, or start ${service} here too (--services)`]);
    }
    const upstream = createHttpUpstream({
      service,
      targets: parseUpstreamTargets(urls, variable),
      headers: this.#headers,
      registry: this.#registry,
      ...(this.#tls === undefined ? {} : { tls: this.#tls }),
    });
    this.#upstreams.set(service, upstream);
    return upstream;
  }
}
