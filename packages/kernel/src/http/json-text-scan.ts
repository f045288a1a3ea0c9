// One pass over a request body's raw text finds what JSON.parse lets through without a word:
// - `1.0` becomes 1 and `9007199254740993` becomes 9007199254740992. Our API never accepts a
//   float, and an integer past 2^53 - 1 would silently change value.
// - `{"amount": 100, "amount": 1}` becomes `{"amount": 1}`: the last key wins, so a proxy, a log
//   or a signature check that reads the first one disagrees with what we act on.
// - Nesting thousands deep parses fine, then overflows the stack of every recursive walk after it
//   (schema validation, the card guard, serializers) and answers a 500.
// - Objects with huge numbers of keys cost every later walk, and every cache and log line that
//   copies them, far more than their bytes suggest.
// The pass costs about what the number scan alone cost (docs/decisions.md, decision 58), because
// it looks at each character once and only slices the keys.

export interface JsonLimits {
  /** Objects and arrays nested deeper than this are refused; the outermost one is depth 1. */
  readonly depth_max: number;
  /** Keys in one object. */
  readonly object_keys_max: number;
  /** Keys in the whole body, every object counted. */
  readonly keys_max: number;
}

export type JsonTextProblem =
  /** `not_integer`: a fraction or exponent (`1.5`, `1.0`, `1e3`). `unsafe_integer`: beyond ±(2^53 - 1). */
  | { readonly kind: 'not_integer' | 'unsafe_integer'; readonly offset: number; readonly literal: string }
  /** `offset` is that of the opening bracket one level too deep. */
  | { readonly kind: 'too_deep'; readonly offset: number }
  /** `path` names the object's key that went over its limit, or the duplicate (`line_items[1].quantity`). */
  | { readonly kind: 'object_too_many_keys' | 'too_many_keys' | 'duplicate_key'; readonly path: string };

export type JsonTextProblemKind = JsonTextProblem['kind'];

/** Limits refused before the body is parsed at all: their answer does not depend on the text being JSON. */
export function isStructuralLimit(problem: JsonTextProblem): boolean {
  return problem.kind === 'too_deep' || problem.kind === 'object_too_many_keys' || problem.kind === 'too_many_keys';
}

const char_quote = 0x22; // "
const char_backslash = 0x5c; // \
const char_minus = 0x2d; // -
const char_plus = 0x2b; // +
const char_dot = 0x2e; // .
const char_comma = 0x2c; // ,
const char_zero = 0x30;
const char_nine = 0x39;
const char_e_lower = 0x65;
const char_e_upper = 0x45;
const char_brace_open = 0x7b; // {
const char_brace_close = 0x7d; // }
const char_bracket_open = 0x5b; // [
const char_bracket_close = 0x5d; // ]

function isDigit(code: number): boolean {
  return code >= char_zero && code <= char_nine;
}

function isNumberContinuation(code: number): boolean {
  return isDigit(code) || code === char_dot || code === char_e_lower || code === char_e_upper || code === char_plus || code === char_minus;
}

/**
 * The keys of the open objects, innermost last, as offsets into the text: a key is compared where
 * it lies, without copying it, unless it has escapes (`"\u0061"` is the key `a`), when it is
 * decoded once. Parallel arrays rather than an object per key: a typical body has a dozen keys,
 * and the scan must cost about what the parse does not.
 */
class OpenKeys {
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  readonly decoded: (string | undefined)[] = [];
  count = 0;

  constructor(private readonly text: string) {}

  add(start: number, end: number, escaped: boolean): void {
    this.starts[this.count] = start;
    this.ends[this.count] = end;
    this.decoded[this.count] = escaped ? decodeKey(this.text, start, end) : undefined;
    this.count += 1;
  }

  /** The key at `position` as JSON.parse reads it. */
  key(position: number): string {
    return this.decoded[position] ?? this.text.slice(this.starts[position], this.ends[position]);
  }

  /**
   * Whether the newest key equals one at `first` or after it. Linear: objects hold at most
   * `object_keys_max` keys and bodies `keys_max`, which bounds the comparisons.
   */
  newestRepeats(first: number): boolean {
    const newest = this.count - 1;
    const text = this.text;
    const start = this.starts[newest] ?? 0;
    const length = (this.ends[newest] ?? 0) - start;
    const decoded = this.decoded[newest];
    for (let position = first; position < newest; position += 1) {
      if (decoded !== undefined || this.decoded[position] !== undefined) {
        if (this.key(position) === this.key(newest)) return true;
        continue;
      }
      const other = this.starts[position] ?? 0;
      if ((this.ends[position] ?? 0) - other !== length) continue;
      let offset = 0;
      while (offset < length && text.charCodeAt(start + offset) === text.charCodeAt(other + offset)) offset += 1;
      if (offset === length) return true;
    }
    return false;
  }
}

/** A key as JSON.parse would read it. */
function decodeKey(text: string, start: number, end: number): string {
  try {
    const decoded: unknown = JSON.parse(text.slice(start - 1, end + 1));
    if (typeof decoded === 'string') return decoded;
  } catch {
    // Not JSON after all: the parse that follows refuses the body, so any reading will do.
  }
  return text.slice(start, end);
}

/**
 * The open objects and arrays, outermost first, as parallel arrays. For an object: where its keys
 * begin in OpenKeys, and its current key; for an array, its current index.
 */
class OpenContainers {
  depth = 0;
  readonly is_object: boolean[] = [];
  readonly first_key: number[] = [];
  /** The object's current key in OpenKeys, or the array's current index. */
  readonly position: number[] = [];

  constructor(private readonly keys: OpenKeys) {}

  open(is_object: boolean): void {
    this.is_object[this.depth] = is_object;
    this.first_key[this.depth] = this.keys.count;
    this.position[this.depth] = is_object ? -1 : 0;
    this.depth += 1;
  }

  close(): void {
    if (this.depth === 0) return;
    this.depth -= 1;
    if (this.is_object[this.depth] === true) this.keys.count = this.first_key[this.depth] ?? 0;
  }

  /** `line_items[1].quantity`: the path to the current value of every open container but the innermost, then its newest key. */
  pathOfNewestKey(): string {
    let path = '';
    for (let level = 0; level < this.depth; level += 1) {
      const position = level === this.depth - 1 ? this.keys.count - 1 : (this.position[level] ?? 0);
      if (this.is_object[level] !== true) path += `[${position}]`;
      else path += (level === 0 ? '' : '.') + this.keys.key(position);
    }
    return path;
  }
}

/**
 * The offset of the quote that ends the string starting at `start`, or the text's length. Found
 * with indexOf, which is many times faster than a loop over characters: a quote counts unless an
 * odd number of backslashes comes right before it.
 */
function closingQuote(text: string, start: number): number {
  let quote = text.indexOf('"', start);
  while (quote !== -1) {
    let backslashes = 0;
    while (quote - backslashes - 1 >= start && text.charCodeAt(quote - backslashes - 1) === char_backslash) backslashes += 1;
    if (backslashes % 2 === 0) return quote;
    quote = text.indexOf('"', quote + 1);
  }
  return text.length;
}

function hasBackslash(text: string, start: number, end: number): boolean {
  for (let index = start; index < end; index += 1) if (text.charCodeAt(index) === char_backslash) return true;
  return false;
}

/**
 * Returns the first limit `text` goes over (depth, keys), or else its first duplicate key or
 * number that is not a safe integer, or undefined. Meant to run
 * on any text, JSON or not, and never to throw: on text that is not JSON its answer means nothing,
 * but the parse refuses that text anyway. On JSON text, outside strings a digit or minus can only
 * start a number and a string right after `{` or `,` in an object is a key.
 */
export function scanJsonText(text: string, limits: JsonLimits): JsonTextProblem | undefined {
  const length = text.length;
  const keys = new OpenKeys(text);
  const open = new OpenContainers(keys);
  let expecting_key = false;
  let keys_seen = 0;
  // The first duplicate key or bad number; the scan goes on, since a limit found later must
  // still be refused before the body is parsed.
  let content_problem: JsonTextProblem | undefined;
  let index = 0;
  while (index < length) {
    const code = text.charCodeAt(index);
    if (code === char_quote) {
      const start = index + 1;
      const end = closingQuote(text, start);
      index = end + 1;
      if (expecting_key) {
        expecting_key = false;
        const level = open.depth - 1;
        const first = open.first_key[level] ?? 0;
        keys.add(start, end, hasBackslash(text, start, end));
        if (content_problem === undefined && keys.newestRepeats(first)) content_problem = { kind: 'duplicate_key', path: open.pathOfNewestKey() };
        keys_seen += 1;
        if (keys.count - first > limits.object_keys_max) return { kind: 'object_too_many_keys', path: open.pathOfNewestKey() };
        if (keys_seen > limits.keys_max) return { kind: 'too_many_keys', path: open.pathOfNewestKey() };
        open.position[level] = keys.count - 1;
      }
      continue;
    }
    if (code === char_brace_open || code === char_bracket_open) {
      if (open.depth >= limits.depth_max) return { kind: 'too_deep', offset: index };
      expecting_key = code === char_brace_open;
      open.open(expecting_key);
      index += 1;
      continue;
    }
    if (code === char_brace_close || code === char_bracket_close) {
      open.close();
      expecting_key = false;
      index += 1;
      continue;
    }
    if (code === char_comma) {
      const level = open.depth - 1;
      if (open.is_object[level] === true) expecting_key = true;
      else if (level >= 0) open.position[level] = (open.position[level] ?? 0) + 1;
      index += 1;
      continue;
    }
    if (code === char_minus || isDigit(code)) {
      const start = index;
      index += 1;
      let integer = true;
      while (index < length) {
        const next = text.charCodeAt(index);
        if (!isNumberContinuation(next)) break;
        if (next === char_dot || next === char_e_lower || next === char_e_upper) integer = false;
        index += 1;
      }
      if (content_problem !== undefined) continue;
      const literal = text.slice(start, index);
      if (!integer) content_problem = { kind: 'not_integer', offset: start, literal };
      // Past 15 digits the value may not round-trip; Number() rounds, and anything that rounds
      // beyond the safe range was beyond it to begin with.
      else if (literal.length > 15 && !Number.isSafeInteger(Number(literal))) content_problem = { kind: 'unsafe_integer', offset: start, literal };
      continue;
    }
    index += 1;
  }
  return content_problem;
}
