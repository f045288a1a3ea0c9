// JSON at the edges of the connectors. Amounts are bigint, and JSON.stringify refuses bigint, so
// requests are written by a serializer that writes a bigint as the integer it is (never through a
// float). Answers from providers are untrusted: they are read field by field, never spread into
// our own objects, so a provider can add nothing we did not ask for.
import { assert } from '@paygrid/kernel';

export type JsonValue =
  | string
  | number
  | boolean
  | null
  | bigint
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue | undefined };

/** Writes compact JSON; a bigint becomes a JSON integer, an undefined field is left out. */
export function stringifyJson(value: JsonValue): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'number':
      assert(Number.isFinite(value), 'stringifyJson: numbers must be finite');
      return JSON.stringify(value);
    default:
      break;
  }
  if (isJsonArray(value)) return `[${value.map((item) => stringifyJson(item)).join(',')}]`;
  const members: string[] = [];
  for (const [key, member] of Object.entries(value)) {
    if (member === undefined) continue;
    members.push(`${JSON.stringify(key)}:${stringifyJson(member)}`);
  }
  return `{${members.join(',')}}`;
}

function isJsonArray(value: JsonValue): value is readonly JsonValue[] {
  return Array.isArray(value);
}

export type JsonRecord = Readonly<Record<string, unknown>>;

export function isRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses text that must hold a JSON object; anything else is undefined. */
export function parseJsonRecord(text: string): JsonRecord | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export function readString(record: JsonRecord, key: string): string | undefined {
  const value = record[key];
  return typeof value === 'string' ? value : undefined;
}

export function readRecord(record: JsonRecord, key: string): JsonRecord | undefined {
  const value = record[key];
  return isRecord(value) ? value : undefined;
}

/**
 * Returns the exact text of the JSON value (an object) that starts at `start` in `text`, or
 * undefined when it is not a well-formed object. Alipay signs the response object as the bytes it
 * sent, so the verifier must take those bytes as they are, not a re-serialization of them.
 */
export function sliceJsonObject(text: string, start: number): string | undefined {
  if (text.charAt(start) !== '{') return undefined;
  let depth = 0;
  let in_string = false;
  let escaped = false;
  for (let index = start; index < text.length; index += 1) {
    const character = text.charAt(index);
    if (in_string) {
      if (escaped) escaped = false;
      else if (character === '\\') escaped = true;
      else if (character === '"') in_string = false;
      continue;
    }
    if (character === '"') in_string = true;
    else if (character === '{') depth += 1;
    else if (character === '}') {
      depth -= 1;
      if (depth === 0) return text.slice(start, index + 1);
    }
  }
  return undefined;
}
