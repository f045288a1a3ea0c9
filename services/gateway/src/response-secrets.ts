// Which routes answer with a secret, read from their response schemas. A route that does must say
// so in its config (`returns_secret`, authentication.ts); the gateway's route test walks every
// registered route with this and fails on any secret-looking field of an unmarked route, so that a
// new route handing out a credential cannot slip in undeclared.

/**
 * A field name that holds a secret: `secret`, or `secret` as a whole word of a snake_case name
 * (`secret_key`, `signing_secret`, `client_secret`). Not `secrets_count` or `secretary`, and not
 * the last four characters shown of one (`secret_last4`), which is what is left to show of a
 * secret stored sealed.
 */
export const secret_field_pattern = /(?:^|_)secret(?:_(?!last4$)|$)/;

/** Resolves a `$ref` (a shared schema's `$id`, with or without a `#` fragment) to its schema. */
export type SchemaResolver = (ref: string) => unknown;

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The paths of every secret-looking property a JSON Schema allows (`signing_secret`,
 * `data[].secret`), following `$ref`s through the resolver and every composition keyword. A `$ref`
 * the resolver does not know is reported as `<path>: unresolved $ref …`, so that a schema this walk
 * cannot see into fails rather than passes.
 */
export function secretFieldsOf(schema: unknown, resolve: SchemaResolver): string[] {
  const found: string[] = [];
  const visiting = new Set<unknown>();

  function walk(node: unknown, path: string): void {
    if (Array.isArray(node)) {
      for (const item of node) walk(item, path);
      return;
    }
    if (!isObject(node) || visiting.has(node)) return;
    visiting.add(node);
    if (typeof node.$ref === 'string') {
      const target = resolve(node.$ref);
      if (target === undefined) found.push(`${path === '' ? '(response)' : path}: unresolved $ref ${node.$ref}`);
      else walk(target, path);
    }
    if (isObject(node.properties)) {
      for (const [name, property] of Object.entries(node.properties)) {
        const property_path = path === '' ? name : `${path}.${name}`;
        if (secret_field_pattern.test(name)) found.push(property_path);
        walk(property, property_path);
      }
    }
    if (isObject(node.patternProperties)) {
      for (const [pattern, property] of Object.entries(node.patternProperties)) walk(property, `${path}[/${pattern}/]`);
    }
    if (isObject(node.additionalProperties)) walk(node.additionalProperties, `${path}[*]`);
    for (const keyword of ['items', 'prefixItems', 'contains']) walk(node[keyword], `${path}[]`);
    for (const keyword of ['allOf', 'anyOf', 'oneOf', 'then', 'else', 'not']) walk(node[keyword], path);
    visiting.delete(node);
  }

  walk(schema, '');
  return [...new Set(found)];
}

/** What the check needs of a registered route (Fastify's onRoute options have all of it). */
export interface RouteForSecrets {
  readonly method: string | readonly string[];
  readonly url: string;
  readonly config?: { readonly returns_secret?: boolean } | undefined;
  readonly schema?: { readonly response?: unknown } | undefined;
}

export interface SecretRouteFinding {
  /** `POST /v1/merchants` */
  readonly route: string;
  readonly fields: readonly string[];
  readonly marked: boolean;
}

/** Every route whose response schema (any status) holds a secret-looking field, marked or not. */
export function routesReturningSecrets(routes: readonly RouteForSecrets[], resolve: SchemaResolver): SecretRouteFinding[] {
  const findings: SecretRouteFinding[] = [];
  for (const route of routes) {
    // `response` maps each status (`200`, `4XX`) to its schema.
    const response = route.schema?.response;
    const fields = [...new Set(isObject(response) ? Object.values(response).flatMap((schema) => secretFieldsOf(schema, resolve)) : [])];
    if (fields.length === 0) continue;
    const methods = typeof route.method === 'string' ? [route.method] : route.method;
    for (const method of methods) findings.push({ route: `${method} ${route.url}`, fields, marked: route.config?.returns_secret === true });
  }
  return findings;
}
