import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scanJsonText, type JsonLimits, type JsonTextProblem } from './json-text-scan';

// The reference model: a JSON document is generated as a tree whose number leaves carry their
// literal text and whether it is a safe integer. Serializing the tree (with random whitespace,
// strings full of quotes, escapes, digits and `e`s, and keys sometimes written with \u escapes)
// gives the text and, by construction, the first problem in it under given limits: an offending
// literal and its offset, a key repeated in its object, a bracket too deep, a key too many.

type NumberKind = 'integer' | 'not_integer' | 'unsafe_integer';
type Node =
  | { readonly node: 'number'; readonly literal: string; readonly kind: NumberKind }
  | { readonly node: 'string'; readonly value: string }
  | { readonly node: 'constant'; readonly text: 'true' | 'false' | 'null' }
  | { readonly node: 'array'; readonly items: readonly Node[] }
  | { readonly node: 'object'; readonly entries: readonly (readonly [string, Node])[] };

const digits = (min: number, max: number) => fc.stringMatching(new RegExp(`^[0-9]{${min},${max}}$`));
const integerPart = fc.oneof(fc.constant('0'), fc.tuple(fc.constantFrom('1', '2', '5', '9'), digits(0, 14)).map(([first, rest]) => first + rest));
const sign = fc.constantFrom('', '-');

const safeInteger = fc.tuple(sign, integerPart).map(([minus, integer]) => ({ node: 'number' as const, literal: minus + integer, kind: 'integer' as const }));
const unsafeInteger = fc
  .tuple(sign, fc.constantFrom('1', '9'), digits(16, 30))
  .map(([minus, first, rest]) => ({ node: 'number' as const, literal: minus + first + rest, kind: 'unsafe_integer' as const }));
const fraction = digits(1, 6).map((fractional) => `.${fractional}`);
const exponent = fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), digits(1, 3)).map((parts) => parts.join(''));
const nonInteger = fc
  .tuple(sign, integerPart, fc.option(fraction, { nil: '' }), fc.option(exponent, { nil: '' }))
  .filter(([, , fractional, exponential]) => fractional !== '' || exponential !== '')
  .map(([minus, integer, fractional, exponential]) => ({ node: 'number' as const, literal: minus + integer + fractional + exponential, kind: 'not_integer' as const }));

// Strings rich in the characters that could fool a scanner.
const trickyString = fc.string({ unit: fc.constantFrom('"', '\\', '1', '.', 'e', '-', '5', ' ', 'a', '\n', '\u2028', '\u00e9', '😀'), maxLength: 12 });

const { node: documentArbitrary } = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(safeInteger, safeInteger, nonInteger, unsafeInteger),
    trickyString.map((value) => ({ node: 'string' as const, value })),
    fc.constantFrom('true', 'false', 'null').map((text) => ({ node: 'constant' as const, text })),
    fc.array(tie('node'), { maxLength: 4 }).map((items) => ({ node: 'array' as const, items })),
    fc.array(fc.tuple(trickyString, tie('node')), { maxLength: 4 }).map((entries) => ({ node: 'object' as const, entries })),
  ),
}));

const whitespace = fc.stringMatching(/^[ \t\n\r]{0,2}$/);

interface Serialized {
  readonly text: string;
  readonly expected: JsonTextProblem | undefined;
}

const unlimited: JsonLimits = { depth_max: Number.MAX_SAFE_INTEGER, object_keys_max: Number.MAX_SAFE_INTEGER, keys_max: Number.MAX_SAFE_INTEGER };

/** A key as JSON, with its characters escaped as \uXXXX where `escapes` says so: `"a"` and `"\u0061"` are one key. */
function keyText(key: string, escapes: readonly boolean[]): string {
  let position = 0;
  let written = '';
  for (const character of key) {
    const escape = escapes[position % Math.max(1, escapes.length)] === true && character.length === 1;
    written += escape ? `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}` : JSON.stringify(character).slice(1, -1);
    position += 1;
  }
  return `"${written}"`;
}

function serialize(root: Node, spaces: readonly string[], limits: JsonLimits = unlimited, escapes: readonly boolean[] = []): Serialized {
  let text = '';
  let expected: JsonTextProblem | undefined;
  let space_index = 0;
  let keys = 0;
  const path: string[] = [];
  // A limit gone over wins over a duplicate key or a bad number found before it.
  let first_content: JsonTextProblem | undefined;
  const found = (problem: JsonTextProblem) => {
    if (problem.kind === 'too_deep' || problem.kind === 'object_too_many_keys' || problem.kind === 'too_many_keys') expected ??= problem;
    else first_content ??= problem;
  };
  const space = () => {
    text += spaces[space_index % spaces.length] ?? '';
    space_index += 1;
  };
  const visit = (node: Node, depth: number): void => {
    space();
    switch (node.node) {
      case 'number':
        if (node.kind !== 'integer') found({ kind: node.kind, offset: text.length, literal: node.literal });
        text += node.literal;
        break;
      case 'string':
        text += JSON.stringify(node.value);
        break;
      case 'constant':
        text += node.text;
        break;
      case 'array':
        if (depth + 1 > limits.depth_max) found({ kind: 'too_deep', offset: text.length });
        text += '[';
        node.items.forEach((item, index) => {
          if (index > 0) text += ',';
          path.push(`[${index}]`);
          visit(item, depth + 1);
          path.pop();
        });
        space();
        text += ']';
        break;
      case 'object': {
        if (depth + 1 > limits.depth_max) found({ kind: 'too_deep', offset: text.length });
        text += '{';
        const seen = new Set<string>();
        node.entries.forEach(([key, value], index) => {
          if (index > 0) text += ',';
          space();
          const key_path = `${path.join('')}${path.length === 0 ? '' : '.'}${key}`;
          if (seen.has(key)) found({ kind: 'duplicate_key', path: key_path });
          keys += 1;
          // Keys are counted as written: a repeated key counts again.
          if (index >= limits.object_keys_max) found({ kind: 'object_too_many_keys', path: key_path });
          if (keys > limits.keys_max) found({ kind: 'too_many_keys', path: key_path });
          seen.add(key);
          text += `${keyText(key, escapes)}:`;
          path.push(path.length === 0 ? key : `.${key}`);
          visit(value, depth + 1);
          path.pop();
        });
        space();
        text += '}';
        break;
      }
    }
    space();
  };
  visit(root, 0);
  return { text, expected: expected ?? first_content };
}

/** What the scan finds with no limits: number problems and duplicate keys. */
function problemOf(text: string): JsonTextProblem | undefined {
  return scanJsonText(text, unlimited);
}

describe('scanJsonText: numbers', () => {
  it('finds the literals the brief names', () => {
    expect(problemOf('{"amount": 1.5}')).toEqual({ kind: 'not_integer', offset: 11, literal: '1.5' });
    expect(problemOf('[1.0]')).toEqual({ kind: 'not_integer', offset: 1, literal: '1.0' });
    expect(problemOf('[1e3]')).toEqual({ kind: 'not_integer', offset: 1, literal: '1e3' });
    expect(problemOf('[-0.0]')).toEqual({ kind: 'not_integer', offset: 1, literal: '-0.0' });
    expect(problemOf('{"a": [1, 2, {"b": 3E-2}]}')).toEqual({ kind: 'not_integer', offset: 19, literal: '3E-2' });
    expect(problemOf('[9007199254740993]')).toEqual({ kind: 'unsafe_integer', offset: 1, literal: '9007199254740993' });
  });

  it('accepts integers, including the safe extremes, and numbers inside strings', () => {
    expect(problemOf('{"amount": 100, "n": -0, "max": 9007199254740991, "min": -9007199254740991}')).toBeUndefined();
    expect(problemOf('{"price": "1.5", "1.5": "x\\"2.5", "e": "\\\\", "f": 3}')).toBeUndefined();
  });

  it('agrees with the reference model on generated documents, duplicate keys included', () => {
    fc.assert(
      fc.property(documentArbitrary, fc.array(whitespace, { minLength: 1, maxLength: 5 }), fc.array(fc.boolean(), { maxLength: 4 }), (document, spaces, escapes) => {
        const { text, expected } = serialize(document, spaces, unlimited, escapes);
        expect(() => JSON.parse(text) as unknown).not.toThrow();
        expect(problemOf(text)).toEqual(expected);
      }),
      { numRuns: 2_000 },
    );
  });

  it('agrees with JSON.stringify of arbitrary JSON values', () => {
    // JSON.stringify writes a safe integer as digits only; anything else shows a dot or an
    // exponent, or is an integer beyond the safe range.
    const firstProblem = (value: unknown): NumberKind | undefined => {
      if (typeof value === 'number') {
        if (Number.isSafeInteger(value)) return undefined;
        return /[.e]/.test(JSON.stringify(value)) ? 'not_integer' : 'unsafe_integer';
      }
      if (Array.isArray(value)) {
        for (const item of value) {
          const found = firstProblem(item);
          if (found !== undefined) return found;
        }
        return undefined;
      }
      if (typeof value === 'object' && value !== null) return firstProblem(Object.values(value));
      return undefined;
    };
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(problemOf(JSON.stringify(value))?.kind).toEqual(firstProblem(value));
      }),
      { numRuns: 2_000 },
    );
  });

  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom(0x22, 0x5c, 0x2d, 0x2e, 0x65, 0x31), fc.integer({ min: 0, max: 0xffff })), { maxLength: 200 }), (codes) => {
        const text = String.fromCharCode(...codes);
        scanJsonText(text, { depth_max: 3, object_keys_max: 2, keys_max: 4 });
        problemOf(text);
      }),
    );
  });
});

describe('scanJsonText: limits and duplicate keys', () => {
  const limits: JsonLimits = { depth_max: 3, object_keys_max: 3, keys_max: 5 };

  it('refuses nesting deeper than depth_max at the first bracket too deep, and counts no bracket inside a string', () => {
    expect(scanJsonText('{"a":[{"b":1}]}', limits)).toBeUndefined();
    expect(scanJsonText('{"a":[{"b":[]}]}', limits)).toEqual({ kind: 'too_deep', offset: 11 });
    expect(scanJsonText('[[[[', limits)).toEqual({ kind: 'too_deep', offset: 3 });
    // Found after a duplicate key and a float, it still wins: limits are refused before parsing.
    expect(scanJsonText('{"a":1,"a":1.5,"b":[[[]]]}', limits)).toEqual({ kind: 'too_deep', offset: 21 });
    expect(scanJsonText('{"a":"[[[[{{{{","b":["]]]]"]}', limits)).toBeUndefined();
    // A body nested a million deep is refused at the fourth bracket, without reading the rest.
    const deep = `${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`;
    expect(scanJsonText(deep, limits)).toEqual({ kind: 'too_deep', offset: 3 });
  });

  it('refuses an object with more than object_keys_max keys, and a body with more than keys_max keys in all, naming the key', () => {
    expect(scanJsonText('{"a":1,"b":2,"c":3}', limits)).toBeUndefined();
    expect(scanJsonText('{"a":1,"b":2,"c":3,"d":4}', limits)).toEqual({ kind: 'object_too_many_keys', path: 'd' });
    expect(scanJsonText('[{"a":1,"b":2},{"a":1,"b":2},{"a":1,"b":2}]', limits)).toEqual({ kind: 'too_many_keys', path: '[2].b' });
    // Arrays hold no keys: a long list of strings counts none.
    expect(scanJsonText(JSON.stringify({ ids: Array.from({ length: 50 }, (_, index) => `id_${index}`) }), limits)).toBeUndefined();
  });

  it('refuses a duplicate key at any depth, naming its path, escaped spellings of one key included', () => {
    expect(scanJsonText('{"amount":100,"amount":1}', unlimited)).toEqual({ kind: 'duplicate_key', path: 'amount' });
    expect(scanJsonText('{"line_items":[{"quantity":1},{"quantity":1,"quantity":2}]}', unlimited)).toEqual({ kind: 'duplicate_key', path: 'line_items[1].quantity' });
    expect(scanJsonText('{"card":{"token":"tok_1","\\u0074oken":"tok_2"}}', unlimited)).toEqual({ kind: 'duplicate_key', path: 'card.token' });
    expect(scanJsonText('[{"a":1},{"a":1}]', unlimited)).toBeUndefined();
    expect(scanJsonText('{"a":{"a":{"a":1}},"b":"a"}', unlimited)).toBeUndefined();
    // A value that looks like a key is not one.
    expect(scanJsonText('{"a":"b","b":["a","a"]}', unlimited)).toBeUndefined();
  });

  it('agrees with the reference model under small limits', () => {
    const small_limits = fc.record({ depth_max: fc.integer({ min: 1, max: 4 }), object_keys_max: fc.integer({ min: 1, max: 4 }), keys_max: fc.integer({ min: 1, max: 8 }) });
    fc.assert(
      fc.property(documentArbitrary, fc.array(whitespace, { minLength: 1, maxLength: 5 }), small_limits, fc.array(fc.boolean(), { maxLength: 4 }), (document, spaces, limits_drawn, escapes) => {
        const { text, expected } = serialize(document, spaces, limits_drawn, escapes);
        expect(scanJsonText(text, limits_drawn)).toEqual(expected);
      }),
      { numRuns: 3_000 },
    );
  });
});
