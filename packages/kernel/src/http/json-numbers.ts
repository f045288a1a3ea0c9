// JSON.parse turns `1.0` into 1 and `9007199254740993` into 9007199254740992 without a word.
// Our API never accepts a float, and an integer past 2^53 - 1 would silently change value, so the
// raw text is scanned for number literals before anyone reads the parsed body.

export interface NumberLiteralProblem {
  /** `not_integer`: a fraction or exponent (`1.5`, `1.0`, `1e3`). `unsafe_integer`: beyond ±(2^53 - 1). */
  readonly kind: 'not_integer' | 'unsafe_integer';
  /** Offset of the literal's first character in the text (UTF-16 code units). */
  readonly offset: number;
  readonly literal: string;
}

const char_quote = 0x22; // "
const char_backslash = 0x5c; // \
const char_minus = 0x2d; // -
const char_plus = 0x2b; // +
const char_dot = 0x2e; // .
const char_zero = 0x30;
const char_nine = 0x39;
const char_e_lower = 0x65;
const char_e_upper = 0x45;

function isDigit(code: number): boolean {
  return code >= char_zero && code <= char_nine;
}

function isNumberContinuation(code: number): boolean {
  return isDigit(code) || code === char_dot || code === char_e_lower || code === char_e_upper || code === char_plus || code === char_minus;
}

/**
 * Returns the first number literal in `text` that is not a safe integer, or undefined. Meant
 * for text that JSON.parse accepted: outside strings, a digit or minus can only start a number.
 * String contents are skipped, escapes included, so `"1.5"` and `"\"1.5"` are not numbers.
 */
export function findNonIntegerNumber(text: string): NumberLiteralProblem | undefined {
  const length = text.length;
  let index = 0;
  while (index < length) {
    const code = text.charCodeAt(index);
    if (code === char_quote) {
      index += 1;
      while (index < length) {
        const inner = text.charCodeAt(index);
        if (inner === char_backslash) {
          index += 2;
        } else if (inner === char_quote) {
          index += 1;
          break;
        } else {
          index += 1;
        }
      }
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
      const literal = text.slice(start, index);
      if (!integer) return { kind: 'not_integer', offset: start, literal };
      // Past 15 digits the value may not round-trip; Number() rounds, and anything that rounds
      // beyond the safe range was beyond it to begin with.
      if (literal.length > 15 && !Number.isSafeInteger(Number(literal))) return { kind: 'unsafe_integer', offset: start, literal };
      continue;
    }
    index += 1;
  }
  return undefined;
}
