// Where an upstream's instances are, as configured: a comma-separated list of origins, each
// optionally weighted, e.g. `http://10.0.0.1:8081,http://payments.internal:8080#weight=3`. An
// origin whose host is a name is resolved to one instance per address (http-upstream.ts).
import { isIP } from 'node:net';
import { ConfigError } from '../config/variables';

/** More origins than this in one variable is a configuration mistake, not a deployment. */
export const upstream_targets_max = 64;
export const upstream_weight_max = 1_000;
const upstream_weight_default = 1;
/** The longest piece of a refused value quoted back in a problem. */
const quoted_target_length_max = 80;

export interface UpstreamTarget {
  readonly protocol: 'http:' | 'https:';
  /** A name, an IPv4 address, or an IPv6 address without brackets. */
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  /** False when `host` is an IP address, which needs no resolution. */
  readonly resolve: boolean;
}

function quoted(text: string): string {
  return JSON.stringify(text.length > quoted_target_length_max ? `${text.slice(0, quoted_target_length_max)}...` : text);
}

function parseWeight(fragment: string, problems: string[], where: string): number {
  if (fragment === '') return upstream_weight_default;
  const match = /^weight=([0-9]{1,6})$/.exec(fragment);
  const weight = match?.[1] === undefined ? Number.NaN : Number(match[1]);
  if (!(weight >= 1 && weight <= upstream_weight_max)) {
    problems.push(`${where}: the only option after # is weight=N, an integer from 1 to ${upstream_weight_max}`);
    return upstream_weight_default;
  }
  return weight;
}

function parseTarget(text: string, problems: string[], where: string): UpstreamTarget | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    problems.push(`${where} is not a URL like http://host:port`);
    return undefined;
  }
  const before = problems.length;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') problems.push(`${where} must start with http:// or https://`);
  if (url.username !== '' || url.password !== '') problems.push(`${where} must not carry credentials`);
  if (url.pathname !== '/' || url.search !== '') problems.push(`${where} must be an origin, without a path or query`);
  if (url.hostname === '') problems.push(`${where} has no host`);
  const weight = parseWeight(url.hash.replace(/^#/, ''), problems, where);
  if (problems.length > before) return undefined;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const protocol = url.protocol === 'https:' ? 'https:' : 'http:';
  const port = url.port === '' ? (protocol === 'https:' ? 443 : 80) : Number(url.port);
  return { protocol, host, port, weight, resolve: isIP(host) === 0 };
}

/**
 * Parses a list of upstream origins. Refuses, with one ConfigError listing every problem, an
 * empty list, an origin that is not `http(s)://host[:port]`, an option other than `#weight=N`,
 * an origin given twice and a list longer than `upstream_targets_max`.
 */
export function parseUpstreamTargets(text: string, name = 'the upstream targets'): UpstreamTarget[] {
  const parts = text.split(',').map((part) => part.trim());
  if (parts.every((part) => part === '')) throw new ConfigError([`${name} must list at least one origin, like http://host:port`]);
  const problems: string[] = [];
  if (parts.length > upstream_targets_max) problems.push(`${name} may list at most ${upstream_targets_max} origins (got ${parts.length})`);
  const targets: UpstreamTarget[] = [];
  const seen = new Set<string>();
  parts.forEach((part, index) => {
    const where = `${name}: origin ${index + 1} ${quoted(part)}`;
    if (part === '') {
      problems.push(`${where} is empty`);
      return;
    }
    const target = parseTarget(part, problems, where);
    if (target === undefined) return;
    const key = `${target.protocol}//${target.host}:${target.port}`;
    if (seen.has(key)) problems.push(`${where} is listed twice`);
    seen.add(key);
    targets.push(target);
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return targets;
}
