// The Database port takes `?` placeholders; PostgreSQL wants `$1..$n`. A `?` inside a string
// literal, a quoted identifier, a dollar-quoted body or a comment is text, not a placeholder.
// (PostgreSQL's jsonb `?` operators cannot be written through the port; use jsonb_exists.)

const translations_cached_max = 512;
const translations = new Map<string, string>();

const dollar_tag_pattern = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/;

function isIdentifierCharacter(character: string | undefined): boolean {
  return character !== undefined && /[A-Za-z0-9_$]/.test(character);
}

/** The index just past a quoted run that opened at `start`; `escapes` honours backslashes (E'...'). */
function skipQuoted(sql: string, start: number, quote: string, escapes: boolean): number {
  let index = start + 1;
  while (index < sql.length) {
    const character = sql[index];
    if (escapes && character === '\\') {
      index += 2;
    } else if (character === quote) {
      // A doubled quote is an escaped quote inside the literal.
      if (sql[index + 1] === quote) index += 2;
      else return index + 1;
    } else {
      index += 1;
    }
  }
  return index;
}

function skipBlockComment(sql: string, start: number): number {
  // PostgreSQL block comments nest.
  let depth = 0;
  let index = start;
  while (index < sql.length) {
    if (sql.startsWith('/*', index)) {
      depth += 1;
      index += 2;
    } else if (sql.startsWith('*/', index)) {
      depth -= 1;
      index += 2;
      if (depth === 0) return index;
    } else {
      index += 1;
    }
  }
  return index;
}

function translate(sql: string): string {
  let output = '';
  let copied_until = 0;
  let placeholder = 0;
  let index = 0;
  while (index < sql.length) {
    const character = sql[index];
    let skip_to: number | undefined;
    if (character === "'") {
      const previous = sql[index - 1];
      const escaped = (previous === 'E' || previous === 'e') && !isIdentifierCharacter(sql[index - 2]);
      skip_to = skipQuoted(sql, index, "'", escaped);
    } else if (character === '"') {
      skip_to = skipQuoted(sql, index, '"', false);
    } else if (character === '-' && sql[index + 1] === '-') {
      const end = sql.indexOf('\n', index);
      skip_to = end === -1 ? sql.length : end + 1;
    } else if (character === '/' && sql[index + 1] === '*') {
      skip_to = skipBlockComment(sql, index);
    } else if (character === '$' && !isIdentifierCharacter(sql[index - 1])) {
      const tag = dollar_tag_pattern.exec(sql.slice(index, index + 66))?.[0];
      if (tag !== undefined) {
        const end = sql.indexOf(tag, index + tag.length);
        skip_to = end === -1 ? sql.length : end + tag.length;
      }
    } else if (character === '?') {
      placeholder += 1;
      output += `${sql.slice(copied_until, index)}$${placeholder}`;
      copied_until = index + 1;
    }
    index = skip_to ?? index + 1;
  }
  return output + sql.slice(copied_until);
}

/** Rewrites `?` placeholders as `$1..$n`. Translations are cached (the same SQL recurs). */
export function toPostgresPlaceholders(sql: string): string {
  const cached = translations.get(sql);
  if (cached !== undefined) return cached;
  const translated = translate(sql);
  if (translations.size >= translations_cached_max) translations.clear();
  translations.set(sql, translated);
  return translated;
}
