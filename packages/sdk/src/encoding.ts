// Request encoding: JSON bodies and query strings.
//
// Every number in Paygrid's API is an integer (amounts in minor units, limits, seconds), so the
// body encoder refuses any number that is not a safe integer. Without that check a float or an
// integer past 2^53 - 1 would be sent rounded, and a NaN would be sent as null. Amounts may also
// be given as bigint, which is written as the exact JSON integer.

export type QueryValue = string | number | boolean | undefined;

function describePath(path: string): string {
  return path === '' ? 'the request body' : `'${path}'`;
}

function encodeValue(value: unknown, path: string): string | undefined {
  if (value === null) {
    return 'null';
  }
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) {
        throw new RangeError(`${describePath(path)} is ${String(value)}: Paygrid numbers are integers within ±(2^53 - 1).`);
      }
      return String(value);
    case 'bigint':
      return value.toString();
    case 'undefined':
      // Like JSON.stringify, an undefined property is left out.
      return undefined;
    case 'object':
      if (Array.isArray(value)) {
        const items = value.map((item: unknown, index) => encodeValue(item, `${path}[${String(index)}]`) ?? 'null');
        return `[${items.join(',')}]`;
      } else {
        const members: string[] = [];
        for (const [key, member] of Object.entries(value)) {
          const encoded = encodeValue(member, path === '' ? key : `${path}.${key}`);
          if (encoded !== undefined) {
            members.push(`${JSON.stringify(key)}:${encoded}`);
          }
        }
        return `{${members.join(',')}}`;
      }
    default:
      throw new TypeError(`${describePath(path)} is a ${typeof value}, which has no JSON form.`);
  }
}

/** The exact body text sent (and signed). */
export function encodeJsonBody(body: unknown): string {
  return encodeValue(body, '') ?? '';
}

/**
 * `key=value` pairs sorted by key, so the same parameters always produce the same request
 * target (and so the same signed path). Undefined values are left out.
 */
export function encodeQuery(query: Readonly<Record<string, QueryValue>> | undefined): string {
  if (query === undefined) {
    return '';
  }
  const pairs: string[] = [];
  for (const key of Object.keys(query).sort()) {
    const value = query[key];
    if (value === undefined) {
      continue;
    }
    if (typeof value === 'number' && !Number.isSafeInteger(value)) {
      throw new RangeError(`Query parameter '${key}' is ${String(value)}: Paygrid numbers are integers.`);
    }
    pairs.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`);
  }
  return pairs.length === 0 ? '' : `?${pairs.join('&')}`;
}
