import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findNonIntegerNumber, type NumberLiteralProblem } from './json-numbers';

// The reference model: a JSON document is generated as a tree whose number leaves carry their
// literal text and whether it is a safe integer. Serializing the tree (with random whitespace
// and strings full of quotes, escapes, digits and `e`s) gives the text and, by construction,
// the first offending literal and its offset.

type NumberKind = 'integer' | NumberLiteralProblem['kind'];
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
  readonly expected: NumberLiteralProblem | undefined;
}

function serialize(root: Node, spaces: readonly string[]): Serialized {
  let text = '';
  let expected: NumberLiteralProblem | undefined;
  let space_index = 0;
  const space = () => {
    text += spaces[space_index % spaces.length] ?? '';
    space_index += 1;
  };
  const visit = (node: Node): void => {
    space();
    switch (node.node) {
      case 'number':
        if (expected === undefined && node.kind !== 'integer') expected = { kind: node.kind, offset: text.length, literal: node.literal };
        text += node.literal;
        break;
      case 'string':
        text += JSON.stringify(node.value);
        break;
      case 'constant':
        text += node.text;
        break;
      case 'array':
        text += '[';
        node.items.forEach((item, index) => {
          if (index > 0) text += ',';
          visit(item);
        });
        space();
        text += ']';
        break;
      case 'object':
        text += '{';
        node.entries.forEach(([key, value], index) => {
          if (index > 0) text += ',';
          space();
          text += `${JSON.stringify(key)}:`;
          visit(value);
        });
        space();
        text += '}';
        break;
    }
    space();
  };
  visit(root);
  return { text, expected };
}

describe('findNonIntegerNumber', () => {
  it('finds the literals the brief names', () => {
    expect(findNonIntegerNumber('{"amount": 1.5}')).toEqual({ kind: 'not_integer', offset: 11, literal: '1.5' });
    expect(findNonIntegerNumber('[1.0]')).toEqual({ kind: 'not_integer', offset: 1, literal: '1.0' });
    expect(findNonIntegerNumber('[1e3]')).toEqual({ kind: 'not_integer', offset: 1, literal: '1e3' });
    expect(findNonIntegerNumber('[-0.0]')).toEqual({ kind: 'not_integer', offset: 1, literal: '-0.0' });
    expect(findNonIntegerNumber('{"a": [1, 2, {"b": 3E-2}]}')).toEqual({ kind: 'not_integer', offset: 19, literal: '3E-2' });
    expect(findNonIntegerNumber('[9007199254740993]')).toEqual({ kind: 'unsafe_integer', offset: 1, literal: '9007199254740993' });
  });

  it('accepts integers, including the safe extremes, and numbers inside strings', () => {
    expect(findNonIntegerNumber('{"amount": 100, "n": -0, "max": 9007199254740991, "min": -9007199254740991}')).toBeUndefined();
    expect(findNonIntegerNumber('{"price": "1.5", "1.5": "x\\"2.5", "e": "\\\\", "f": 3}')).toBeUndefined();
  });

  it('agrees with the reference model on generated documents', () => {
    fc.assert(
      fc.property(documentArbitrary, fc.array(whitespace, { minLength: 1, maxLength: 5 }), (document, spaces) => {
        const { text, expected } = serialize(document, spaces);
        expect(() => JSON.parse(text) as unknown).not.toThrow();
        expect(findNonIntegerNumber(text)).toEqual(expected);
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
        expect(findNonIntegerNumber(JSON.stringify(value))?.kind).toEqual(firstProblem(value));
      }),
      { numRuns: 2_000 },
    );
  });

  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom(0x22, 0x5c, 0x2d, 0x2e, 0x65, 0x31), fc.integer({ min: 0, max: 0xffff })), { maxLength: 200 }), (codes) => {
        const text = String.fromCharCode(...codes);
        findNonIntegerNumber(text);
      }),
    );
  });
});
