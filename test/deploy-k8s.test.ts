// deploy/k8s, checked without a cluster: both overlays rendered with `kubectl kustomize`, every
// object validated against the Kubernetes schemas (kubernetes-models; the ServiceMonitor against
// the Prometheus Operator's), then held to the code: one workload per service with its role, probes
// on endpoints a real service process answers, selectors that select, client-side load balancing
// through headless Services, network policies that open only the gateway and the calls the code
// makes, secrets referenced and never committed, and migrations run by the command that does them.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporaryDirectory } from '@paygrid/kernel/testing';
import { isKnownVariable, repository_root, secret_variables, service_names, servicesCalledBy, startProbeTarget, type ProbeTarget, type ServiceName } from './support/deploy';

// The shapes read here; kubernetes-models validates the full objects.
interface Metadata {
  readonly name: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
}
interface Probe {
  readonly httpGet?: { readonly path: string; readonly port: string | number };
  readonly periodSeconds?: number;
  readonly failureThreshold?: number;
}
interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: { readonly secretKeyRef?: { readonly name: string; readonly key: string }; readonly configMapKeyRef?: { readonly name: string } };
}
interface Container {
  readonly name: string;
  readonly image: string;
  readonly args?: readonly string[];
  readonly ports?: readonly { readonly name?: string; readonly containerPort: number }[];
  readonly env?: readonly EnvVar[];
  readonly envFrom?: readonly { readonly configMapRef?: { readonly name: string }; readonly secretRef?: { readonly name: string } }[];
  readonly startupProbe?: Probe;
  readonly livenessProbe?: Probe;
  readonly readinessProbe?: Probe;
  readonly resources?: { readonly requests?: Readonly<Record<string, string>>; readonly limits?: Readonly<Record<string, string>> };
  readonly securityContext?: { readonly allowPrivilegeEscalation?: boolean; readonly readOnlyRootFilesystem?: boolean };
}
interface PodTemplate {
  readonly metadata: { readonly labels: Readonly<Record<string, string>> };
  readonly spec: {
    readonly containers: readonly Container[];
    readonly initContainers?: readonly Container[];
    readonly securityContext?: { readonly runAsNonRoot?: boolean; readonly runAsUser?: number };
  };
}
interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
}
interface NetworkPolicyPeer {
  readonly podSelector?: LabelSelector;
  readonly namespaceSelector?: LabelSelector;
  readonly ipBlock?: { readonly cidr: string };
}
interface NetworkPolicyRule {
  readonly from?: readonly NetworkPolicyPeer[];
  readonly to?: readonly NetworkPolicyPeer[];
  readonly ports?: readonly { readonly port: number }[];
}
interface KubernetesObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: Metadata;
  readonly data?: Readonly<Record<string, string>>;
  readonly spec?: {
    readonly replicas?: number;
    readonly selector?: LabelSelector & Readonly<Record<string, string>>;
    readonly serviceName?: string;
    readonly podManagementPolicy?: string;
    readonly template?: PodTemplate;
    readonly clusterIP?: string;
    readonly type?: string;
    readonly ports?: readonly { readonly name: string; readonly port: number; readonly targetPort: string | number }[];
    readonly scaleTargetRef?: { readonly kind: string; readonly name: string };
    readonly minReplicas?: number;
    readonly maxReplicas?: number;
    readonly podSelector?: LabelSelector;
    readonly policyTypes?: readonly string[];
    readonly ingress?: readonly NetworkPolicyRule[];
    readonly egress?: readonly NetworkPolicyRule[];
    readonly endpoints?: readonly { readonly port: string; readonly path?: string }[];
  };
}

const overlays = ['dev', 'prod'] as const;
const kubectl_present = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
if (!kubectl_present) {
  if (process.env.CI === 'true') throw new Error('kubectl is missing: CI renders the Kubernetes overlays with `kubectl kustomize`');
  console.log('[skip] deploy/k8s: kubectl is not installed, so the overlays cannot be rendered');
}

function render(overlay: string): KubernetesObject[] {
  const text = execFileSync('kubectl', ['kustomize', join(repository_root, 'deploy/k8s/overlays', overlay)], { encoding: 'utf8' });
  return parseAllDocuments(text).map((document) => document.toJS() as KubernetesObject);
}

type Model = new (value: unknown) => { validate(): void };

/** The kubernetes-models class for an object's apiVersion and kind (the ServiceMonitor's from the Prometheus Operator's package). */
async function modelOf(object: KubernetesObject): Promise<Model | undefined> {
  const module_path = object.apiVersion === 'monitoring.coreos.com/v1' ? '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1' : `kubernetes-models/${object.apiVersion}`;
  const module = (await import(module_path)) as Record<string, Model | undefined>;
  return module[object.kind];
}

function matches(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>> | undefined): boolean {
  const wanted = Object.entries(selector?.matchLabels ?? {});
  return wanted.length > 0 && wanted.every(([key, value]) => labels?.[key] === value);
}

function workloads(objects: readonly KubernetesObject[]): KubernetesObject[] {
  return objects.filter((object) => object.kind === 'Deployment' || object.kind === 'StatefulSet');
}

function template(workload: KubernetesObject): PodTemplate {
  const pod = workload.spec?.template;
  if (pod === undefined) throw new Error(`${workload.metadata.name} has no pod template`);
  return pod;
}

function mainContainer(workload: KubernetesObject): Container {
  const container = template(workload).spec.containers.find((candidate) => candidate.name === workload.metadata.name);
  if (container === undefined) throw new Error(`${workload.metadata.name} has no container of its name`);
  return container;
}

function configMap(objects: readonly KubernetesObject[], name: string): Readonly<Record<string, string>> {
  const found = objects.find((object) => object.kind === 'ConfigMap' && object.metadata.name === name);
  if (found === undefined) throw new Error(`no ConfigMap ${name}`);
  return found.data ?? {};
}

/** A container's environment as the kubelet builds it: ConfigMaps first, then its own entries. */
function environmentOf(objects: readonly KubernetesObject[], container: Container): Map<string, EnvVar> {
  const result = new Map<string, EnvVar>();
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef !== undefined) for (const [name, value] of Object.entries(configMap(objects, source.configMapRef.name))) result.set(name, { name, value });
  }
  for (const variable of container.env ?? []) result.set(variable.name, variable);
  return result;
}

function portNumber(container: Container, port: string | number | undefined): number | undefined {
  if (typeof port === 'number') return port;
  return container.ports?.find((candidate) => candidate.name === port)?.containerPort;
}

/** The services whose pods a NetworkPolicy peer list admits by pod label (this namespace). */
function peerServices(peers: readonly NetworkPolicyPeer[] | undefined): string[] {
  return (peers ?? []).flatMap((peer) => (peer.podSelector?.matchLabels?.['app.kubernetes.io/name'] === undefined ? [] : [peer.podSelector.matchLabels['app.kubernetes.io/name']]));
}

function policiesFor(objects: readonly KubernetesObject[], service: string): KubernetesObject[] {
  const labels = template(workloads(objects).find((workload) => workload.metadata.name === service) ?? objects[0] ?? ({} as KubernetesObject)).metadata.labels;
  return objects.filter((object) => object.kind === 'NetworkPolicy' && matches(object.spec?.podSelector, labels));
}

describe.skipIf(!kubectl_present)('deploy/k8s', () => {
  const rendered = new Map<string, KubernetesObject[]>();
  let target: ProbeTarget;
  beforeAll(async () => {
    for (const overlay of overlays) rendered.set(overlay, render(overlay));
    target = await startProbeTarget();
  }, 90_000);
  afterAll(async () => {
    await target.close();
  });

  function objectsOf(overlay: string): KubernetesObject[] {
    const objects = rendered.get(overlay);
    if (objects === undefined) throw new Error(`${overlay} was not rendered`);
    return objects;
  }

  it.each(overlays)('%s: every object is valid against its Kubernetes schema', async (overlay) => {
    const objects = objectsOf(overlay);
    expect(objects.length).toBeGreaterThan(20);
    for (const object of objects) {
      const Model = await modelOf(object);
      expect(Model, `a schema for ${object.apiVersion} ${object.kind}`).toBeDefined();
      if (Model === undefined) continue;
      expect(() => new Model(object).validate(), `${object.kind} ${object.metadata.name}`).not.toThrow();
    }
    // The validation is not vacuous: a broken copy of a Deployment is refused.
    const deployment = objects.find((object) => object.kind === 'Deployment');
    const broken = JSON.parse(JSON.stringify(deployment)) as { spec: { template: { spec: { containers: { ports: { containerPort: unknown }[] }[] } } } };
    const first_port = broken.spec.template.spec.containers[0]?.ports[0];
    if (first_port !== undefined) first_port.containerPort = 'http';
    const Deployment = deployment === undefined ? undefined : await modelOf(deployment);
    expect(() => (Deployment === undefined ? undefined : new Deployment(broken).validate())).toThrow(/containerPort/);
  }, 60_000);

  it.each(overlays)('%s: one workload per service, all from one image, each running its role as a non-root user', (overlay) => {
    const objects = objectsOf(overlay);
    const all = workloads(objects);
    expect(all.map((workload) => workload.metadata.name).sort()).toEqual([...service_names].sort());
    expect(all.find((workload) => workload.metadata.name === 'ledger')?.kind).toBe('StatefulSet');
    for (const workload of all.filter((candidate) => candidate.metadata.name !== 'ledger')) expect(workload.kind).toBe('Deployment');
    const images = new Set(all.flatMap((workload) => [...template(workload).spec.containers, ...(template(workload).spec.initContainers ?? [])].map((container) => container.image)));
    expect(images.size, 'one image').toBe(1);
    for (const workload of all) {
      const name = workload.metadata.name;
      expect(mainContainer(workload).args, name).toEqual(['start', '--services', name]);
      expect(template(workload).spec.securityContext?.runAsNonRoot, name).toBe(true);
      expect(template(workload).spec.securityContext?.runAsUser, name).toBeGreaterThan(0);
      for (const container of [...template(workload).spec.containers, ...(template(workload).spec.initContainers ?? [])]) {
        expect(container.securityContext?.allowPrivilegeEscalation, `${name}/${container.name}`).toBe(false);
        expect(container.resources?.requests?.cpu, `${name}/${container.name} requests cpu`).toBeDefined();
        expect(container.resources?.requests?.memory, `${name}/${container.name} requests memory`).toBeDefined();
        expect(container.resources?.limits?.memory, `${name}/${container.name} is limited in memory`).toBeDefined();
      }
    }
  });

  it.each(overlays)('%s: probes and ports name endpoints a running service answers', async (overlay) => {
    const objects = objectsOf(overlay);
    const paths = new Set<string>();
    for (const workload of workloads(objects)) {
      const name = workload.metadata.name;
      const container = mainContainer(workload);
      const env = environmentOf(objects, container);
      expect(portNumber(container, 'http'), `${name}: the http port is PORT`).toBe(Number(env.get('PORT')?.value));
      expect(portNumber(container, 'metrics'), `${name}: the metrics port is METRICS_PORT`).toBe(Number(env.get('METRICS_PORT')?.value));
      expect(container.readinessProbe?.httpGet?.path, name).toBe('/readyz');
      expect(container.livenessProbe?.httpGet?.path, name).toBe('/healthz');
      for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
        if (probe?.httpGet === undefined) continue;
        expect(portNumber(container, probe.httpGet.port), `${name} probes its PORT`).toBe(Number(env.get('PORT')?.value));
        paths.add(probe.httpGet.path);
      }
    }
    for (const path of paths) expect((await fetch(`http://127.0.0.1:${target.port}${path}`)).status, path).toBe(200);
    const monitor = objects.find((object) => object.kind === 'ServiceMonitor');
    for (const endpoint of monitor?.spec?.endpoints ?? []) {
      expect((await fetch(`http://127.0.0.1:${target.metrics_port}${endpoint.path ?? '/metrics'}`)).status).toBe(200);
    }
  }, 60_000);

  it.each(overlays)('%s: the ledger keeps one writer, and its standby may wait on the lock without being killed', (overlay) => {
    const ledger = workloads(objectsOf(overlay)).find((workload) => workload.metadata.name === 'ledger');
    expect(ledger?.spec?.podManagementPolicy).toBe('Parallel');
    expect(ledger?.spec?.serviceName).toBe('ledger');
    const startup = ledger === undefined ? undefined : mainContainer(ledger).startupProbe;
    // A standby opens its port only when it takes over, so the probe that runs before liveness
    // must allow for hours of waiting.
    expect((startup?.periodSeconds ?? 10) * (startup?.failureThreshold ?? 3), 'seconds a standby may wait').toBeGreaterThanOrEqual(3_600);
    expect(objectsOf(overlay).some((object) => object.kind === 'PodDisruptionBudget' && matches(object.spec?.selector, ledger === undefined ? undefined : template(ledger).metadata.labels))).toBe(false);
  });

  it.each(overlays)('%s: selectors select, and each service is found through a headless Service', (overlay) => {
    const objects = objectsOf(overlay);
    const all = workloads(objects);
    for (const workload of all) {
      const name = workload.metadata.name;
      expect(matches(workload.spec?.selector, template(workload).metadata.labels), `${name}'s selector matches its pods`).toBe(true);
      const headless = objects.find((object) => object.kind === 'Service' && object.metadata.name === name);
      expect(headless?.spec?.clusterIP, `${name} has a headless Service`).toBe('None');
      const selected = all.filter((candidate) => Object.entries(headless?.spec?.selector ?? {}).every(([key, value]) => template(candidate).metadata.labels[key] === value));
      expect(selected.map((candidate) => candidate.metadata.name), `${name}'s Service selects its pods only`).toEqual([name]);
      expect(headless?.spec?.ports?.map((port) => port.name).sort()).toEqual(['http', 'metrics']);
      for (const port of headless?.spec?.ports ?? []) expect(portNumber(mainContainer(workload), port.targetPort), `${name}: ${port.name}`).toBe(port.port);
      if (workload.kind === 'Deployment') {
        const autoscaler = objects.find((object) => object.kind === 'HorizontalPodAutoscaler' && object.spec?.scaleTargetRef?.name === name);
        expect(autoscaler?.spec?.scaleTargetRef?.kind, `${name} has an autoscaler`).toBe('Deployment');
        expect(workload.spec?.replicas, `${name}: the autoscaler owns the replica count`).toBeUndefined();
        const budget = objects.find((object) => object.kind === 'PodDisruptionBudget' && matches(object.spec?.selector, template(workload).metadata.labels));
        expect(budget, `${name} has a disruption budget`).toBeDefined();
      }
    }
    const monitor = objects.find((object) => object.kind === 'ServiceMonitor');
    const scraped = objects.filter((object) => object.kind === 'Service' && matches(monitor?.spec?.selector, object.metadata.labels));
    expect(scraped.map((object) => object.metadata.name).sort()).toEqual([...service_names].sort());
    for (const scraped_service of scraped) expect(scraped_service.spec?.ports?.map((port) => port.name)).toContain(monitor?.spec?.endpoints?.[0]?.port);
    expect(monitor?.spec?.endpoints?.[0]?.port).toBe('metrics');
  });

  it.each(overlays)('%s: each service is told where exactly the services it calls are, by DNS of their headless Services', (overlay) => {
    const objects = objectsOf(overlay);
    for (const workload of workloads(objects)) {
      const name = workload.metadata.name as ServiceName;
      const env = environmentOf(objects, mainContainer(workload));
      const called = servicesCalledBy(name, { nats: env.get('NATS_URL')?.value !== undefined });
      const address_variables = [...env.keys()].filter((variable) => variable.endsWith('_SERVICE_URLS')).sort();
      expect(address_variables, name).toEqual(called.map((dependency) => `${dependency.toUpperCase()}_SERVICE_URLS`).sort());
      for (const dependency of called) expect(env.get(`${dependency.toUpperCase()}_SERVICE_URLS`)?.value).toBe(`http://${dependency}:8080`);
      for (const variable of env.keys()) expect(isKnownVariable(variable), `${name}: ${variable}`).toBe(true);
      expect(env.get('HOST')?.value).toBe('0.0.0.0');
    }
    const gateway = workloads(objects).find((workload) => workload.metadata.name === 'gateway');
    expect(gateway === undefined ? undefined : environmentOf(objects, mainContainer(gateway)).get('REDIS_URL')?.value).toMatch(/^rediss?:\/\//);
  });

  it.each(overlays)('%s: network policies let in only the gateway from outside, and each service only from its callers', (overlay) => {
    const objects = objectsOf(overlay);
    const policies = objects.filter((object) => object.kind === 'NetworkPolicy');
    // Everything of Paygrid starts denied both ways.
    const deny = policies.find((policy) => policy.spec?.ingress === undefined && policy.spec?.egress === undefined);
    expect(deny?.spec?.policyTypes?.slice().sort()).toEqual(['Egress', 'Ingress']);
    for (const workload of workloads(objects)) {
      const name = workload.metadata.name as ServiceName;
      const own = policiesFor(objects, name);
      expect(own).toContain(deny);
      const ingress = own.flatMap((policy) => policy.spec?.ingress ?? []);
      for (const rule of ingress) {
        const ports = (rule.ports ?? []).map((port) => port.port);
        if (rule.from === undefined || rule.from.length === 0) {
          // A rule without peers admits the whole world.
          expect(name, 'only the gateway is open to everyone').toBe('gateway');
          expect(ports).toEqual([8080]);
          continue;
        }
        for (const peer of rule.from) {
          if (peer.namespaceSelector !== undefined || peer.ipBlock !== undefined) expect(ports, `${name}: other namespaces reach only the metrics port`).toEqual([9464]);
        }
        for (const caller of peerServices(rule.from)) expect(servicesCalledBy(caller as ServiceName, { nats: true }), `${caller} may reach ${name}`).toContain(name);
      }
      // Every call the code makes is let through at both ends.
      for (const dependency of servicesCalledBy(name, { nats: true })) {
        const egress = own.flatMap((policy) => policy.spec?.egress ?? []).some((rule) => peerServices(rule.to).includes(dependency));
        expect(egress, `${name} may call ${dependency}`).toBe(true);
        const admitted = policiesFor(objects, dependency)
          .flatMap((policy) => policy.spec?.ingress ?? [])
          .some((rule) => peerServices(rule.from).includes(name));
        expect(admitted, `${dependency} admits ${name}`).toBe(true);
      }
      // And no service may open a connection to one it does not call.
      for (const reached of own.flatMap((policy) => policy.spec?.egress ?? []).flatMap((rule) => peerServices(rule.to))) {
        expect(servicesCalledBy(name, { nats: true }), `${name} reaches ${reached}`).toContain(reached);
      }
    }
    // Nothing but the gateway is exposed outside the cluster.
    for (const exposed of objects.filter((object) => object.kind === 'Service' && object.spec?.type !== undefined && object.spec.type !== 'ClusterIP')) {
      expect(exposed.spec?.selector?.['app.kubernetes.io/name'], exposed.metadata.name).toBe('gateway');
    }
  });

  it.each(overlays)('%s: secrets are referenced, never committed', (overlay) => {
    const objects = objectsOf(overlay);
    expect(objects.filter((object) => object.kind === 'Secret')).toEqual([]);
    const referenced = new Set<string>();
    for (const workload of workloads(objects)) {
      for (const container of [...template(workload).spec.containers, ...(template(workload).spec.initContainers ?? [])]) {
        for (const variable of container.env ?? []) if (variable.valueFrom?.secretKeyRef !== undefined) referenced.add(variable.valueFrom.secretKeyRef.name);
        const env = environmentOf(objects, container);
        for (const secret of secret_variables) {
          const variable = env.get(secret);
          if (variable !== undefined) expect(variable.valueFrom?.secretKeyRef, `${workload.metadata.name}/${container.name}: ${secret} comes from a Secret`).toBeDefined();
        }
      }
    }
    expect([...referenced].sort()).toEqual(['paygrid-keys', ...service_names.filter((name) => name !== 'gateway').map((name) => `paygrid-${name}-database`)].sort());
    // No file under deploy/k8s makes a Secret of its own (a secretGenerator or a Secret object).
    const files = readdirSync(join(repository_root, 'deploy/k8s'), { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.yaml'));
    for (const file of files) expect(readFileSync(join(repository_root, 'deploy/k8s', file), 'utf8'), file).not.toMatch(/kind: Secret\b|secretGenerator/);
  });

  it.each(overlays)('%s: migrations run before each service, as their own step, on its own database', (overlay) => {
    const objects = objectsOf(overlay);
    for (const workload of workloads(objects)) {
      const name = workload.metadata.name;
      const main = environmentOf(objects, mainContainer(workload));
      expect(main.get('MIGRATE_ON_START')?.value, `${name} does not migrate while serving`).toBe('false');
      const migrations = (template(workload).spec.initContainers ?? []).filter((container) => container.args?.[0] === 'migrate');
      if (name === 'gateway') {
        expect(migrations, 'the gateway has no database').toEqual([]);
        continue;
      }
      expect(migrations.map((container) => container.args), name).toEqual([['migrate', '--services', name]]);
      const migration_database = migrations[0] === undefined ? undefined : environmentOf(objects, migrations[0]).get('DATABASE_URL');
      expect(migration_database?.valueFrom?.secretKeyRef, `${name} migrates the database it serves from`).toEqual(main.get('DATABASE_URL')?.valueFrom?.secretKeyRef);
    }
  });

  it('dev runs one payments pod, since each runs the test-mode simulators in its own memory', () => {
    const autoscaler = objectsOf('dev').find((object) => object.kind === 'HorizontalPodAutoscaler' && object.metadata.name === 'payments');
    expect(autoscaler?.spec?.maxReplicas).toBe(1);
    expect(objectsOf('prod').find((object) => object.kind === 'StatefulSet')?.spec?.replicas, 'a writer and a standby').toBe(2);
  });

  it('`paygrid migrate --services <name>`, the init containers\' command, migrates that service alone', async () => {
    const directory = await temporaryDirectory();
    try {
      const run = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: directory.path, LOG_LEVEL: 'silent' };
        delete env.DATABASE_URL;
        execFile(process.execPath, [join(repository_root, 'apps/cli/bin/paygrid.js'), 'migrate', '--services', 'vault'], { env, encoding: 'utf8', timeout: 60_000 }, (error, out) => {
          resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, out });
        });
      });
      expect(run.code).toBe(0);
      expect(run.out).toMatch(/^vault \(SQLite .*\): applied /m);
      expect(readdirSync(directory.path).filter((file) => file.endsWith('.sqlite'))).toEqual(['vault.sqlite']);
    } finally {
      await directory.remove();
    }
  }, 90_000);
});
