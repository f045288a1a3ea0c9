// A small typed reader of environment variables. Each variable is described once (name,
// default, what is allowed); `readVariables` reads them all, collects every problem, and throws
// one ConfigError that lists them together, so an operator fixes the environment in one pass.
import { resolve } from 'node:path';

export type Environment = Readonly<Record<string, string | undefined>>;

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

export interface Variable<T> {
  readonly name: string;
  /** A secret's value is never echoed in an error message. */
  readonly secret: boolean;
  /** Receives the raw value, with unset and empty both given as undefined. */
  read(raw: string | undefined): Parsed<T>;
}

export type VariableValue<V> = V extends Variable<infer T> ? T : never;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  /** One sentence per problem; the message is these joined by newlines. */
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
  }
}

/** The longest received value echoed in a message; longer ones are cut. */
const echoed_value_length_max = 80;

export function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

/** A refusal that names the variable, what is allowed and (unless secret) what was received. */
export function refuse<T>(variable: { readonly name: string; readonly secret: boolean }, allowed: string, raw: string): Parsed<T> {
  const got = variable.secret ? '' : ` (got ${echo(raw)})`;
  return { ok: false, problem: `${variable.name} ${allowed}${got}` };
}

function echo(raw: string): string {
  const shown = raw.length > echoed_value_length_max ? `${raw.slice(0, echoed_value_length_max)}...` : raw;
  return JSON.stringify(shown);
}

function required<T>(name: string): Parsed<T> {
  return { ok: false, problem: `${name} is required` };
}

interface Common<T> {
  readonly name: string;
  /** Used when the variable is unset or empty. Without one, the variable is required. */
  readonly default?: T;
}

function withDefault<T>(options: Common<T>, raw: string | undefined, parse: (raw: string) => Parsed<T>): Parsed<T> {
  if (raw !== undefined) return parse(raw);
  if (options.default !== undefined) return ok(options.default);
  return required(options.name);
}

const integer_pattern = /^-?[0-9]+$/;

export function integerVar(options: Common<number> & { readonly min: number; readonly max: number }): Variable<number> {
  const variable = { name: options.name, secret: false };
  const allowed = `must be an integer from ${options.min} to ${options.max}`;
  return {
    ...variable,
    read: (raw) =>
      withDefault(options, raw, (text) => {
        if (!integer_pattern.test(text)) return refuse(variable, allowed, text);
        const value = Number(text);
        if (!Number.isSafeInteger(value) || value < options.min || value > options.max) return refuse(variable, allowed, text);
        return ok(value);
      }),
  };
}

export interface StringVarOptions extends Common<string> {
  /** Checked after the length limits; `allowed` says in words what the pattern means. */
  readonly pattern?: RegExp;
  readonly allowed?: string;
  readonly secret?: boolean;
}

export function stringVar(options: StringVarOptions): Variable<string> {
  const variable = { name: options.name, secret: options.secret ?? false };
  const allowed = options.allowed ?? (options.pattern === undefined ? 'must be a string' : `must match ${String(options.pattern)}`);
  return {
    ...variable,
    read: (raw) =>
      withDefault(options, raw, (text) => {
        if (options.pattern !== undefined && !options.pattern.test(text)) return refuse(variable, allowed, text);
        return ok(text);
      }),
  };
}

export function enumVar<const Value extends string>(options: Common<Value> & { readonly values: readonly Value[] }): Variable<Value> {
  const variable = { name: options.name, secret: false };
  const allowed = `must be one of ${options.values.join(', ')}`;
  return {
    ...variable,
    read: (raw) =>
      withDefault(options, raw, (text) => {
        const value = options.values.find((candidate) => candidate === text);
        return value === undefined ? refuse(variable, allowed, text) : ok(value);
      }),
  };
}

export function booleanVar(options: Common<boolean>): Variable<boolean> {
  const variable = { name: options.name, secret: false };
  return {
    ...variable,
    read: (raw) =>
      withDefault(options, raw, (text) => {
        if (text === 'true') return ok(true);
        if (text === 'false') return ok(false);
        return refuse(variable, 'must be true or false', text);
      }),
  };
}

/** A filesystem path, resolved against the working directory to an absolute path. */
export function pathVar(options: Common<string>): Variable<string> {
  const variable = { name: options.name, secret: false };
  return {
    ...variable,
    // The default is resolved too: it is relative to the working directory like any value.
    read: (raw) =>
      withDefault(options, raw ?? options.default, (text) => {
        if (text.includes('\0')) return refuse(variable, 'must be a filesystem path', text);
        return ok(resolve(text));
      }),
  };
}

/**
 * A URL whose scheme is one of `protocols` (given without the colon, e.g. `postgres`). Its
 * password is never echoed in a message: URLs often carry credentials.
 */
export function urlVar(options: Common<string> & { readonly protocols: readonly string[] }): Variable<string> {
  const variable = { name: options.name, secret: false };
  const allowed = `must be a URL starting with ${options.protocols.map((protocol) => `${protocol}://`).join(' or ')}`;
  return {
    ...variable,
    read: (raw) =>
      withDefault(options, raw, (text) => {
        const url = URL.canParse(text) ? new URL(text) : undefined;
        const protocol = url?.protocol.slice(0, -1);
        if (url === undefined || protocol === undefined || !options.protocols.includes(protocol) || !text.startsWith(`${protocol}://`) || url.host === '') {
          return refuse(variable, allowed, redactUrlPassword(text));
        }
        return ok(text);
      }),
  };
}

/**
 * Comma-separated PostgreSQL URLs, one or more and at most `count_max`, each checked as `urlVar`
 * checks one; a repeated URL is refused (two shards in one database would be one shard twice).
 */
export function postgresUrlListVar(options: Common<readonly string[]> & { readonly count_max: number }): Variable<readonly string[]> {
  const variable = { name: options.name, secret: false };
  const one = urlVar({ name: options.name, protocols: ['postgres', 'postgresql'] });
  return {
    ...variable,
    read: (raw) =>
      withDefault(options, raw, (text) => {
        const urls = text.split(',').map((url) => url.trim());
        if (urls.length > options.count_max) return refuse(variable, `must list at most ${options.count_max} URLs`, redactUrlPassword(text));
        for (const url of urls) {
          const parsed = one.read(url === '' ? undefined : url);
          if (!parsed.ok) return refuse(variable, 'must be comma-separated URLs starting with postgres:// or postgresql://', urls.map(redactUrlPassword).join(','));
        }
        if (new Set(urls).size !== urls.length) return refuse(variable, 'must not list a URL twice', urls.map(redactUrlPassword).join(','));
        return ok(Object.freeze(urls));
      }),
  };
}

/** Replaces the password in a URL-like string (parseable or not) with `***`. */
export function redactUrlPassword(text: string): string {
  return text.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#@:]*:)[^/?#]*@/, '$1***@');
}

/** The same variable, but unset (or empty) reads as undefined instead of a default or a refusal. */
export function optional<T>(variable: Variable<T>): Variable<T | undefined> {
  return {
    name: variable.name,
    secret: variable.secret,
    read: (raw) => (raw === undefined ? ok(undefined) : variable.read(raw)),
  };
}

/**
 * Reads every variable in `spec` from `environment`. Empty strings count as unset, because
 * container tooling often writes `NAME=` for "not given". Throws one ConfigError with all the
 * problems found.
 */
export function readVariables<const Spec extends Record<string, Variable<unknown>>>(
  environment: Environment,
  spec: Spec,
): { readonly [Key in keyof Spec]: VariableValue<Spec[Key]> } {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, variable] of Object.entries(spec)) {
    const raw = environment[variable.name];
    const parsed = variable.read(raw === '' ? undefined : raw);
    if (parsed.ok) values[key] = parsed.value;
    else problems.push(parsed.problem);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return values as { readonly [Key in keyof Spec]: VariableValue<Spec[Key]> };
}
