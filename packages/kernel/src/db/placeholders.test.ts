import { describe, expect, it } from 'vitest';
import { toPostgresPlaceholders } from './placeholders';

describe('toPostgresPlaceholders', () => {
  it('numbers placeholders in order', () => {
    expect(toPostgresPlaceholders('SELECT * FROM t WHERE a = ? AND b IN (?, ?)')).toBe('SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)');
    expect(toPostgresPlaceholders('SELECT 1')).toBe('SELECT 1');
  });

  it('leaves question marks in strings, identifiers, comments and dollar quotes alone', () => {
    expect(toPostgresPlaceholders("SELECT '?', 'it''s ?', ? FROM t")).toBe("SELECT '?', 'it''s ?', $1 FROM t");
    expect(toPostgresPlaceholders(`SELECT "odd?name" FROM t WHERE x = ?`)).toBe(`SELECT "odd?name" FROM t WHERE x = $1`);
    expect(toPostgresPlaceholders("SELECT E'\\'?' , ?")).toBe("SELECT E'\\'?' , $1");
    expect(toPostgresPlaceholders('SELECT ? -- why?\n, ?')).toBe('SELECT $1 -- why?\n, $2');
    expect(toPostgresPlaceholders('SELECT /* a? /* nested? */ b? */ ?')).toBe('SELECT /* a? /* nested? */ b? */ $1');
    expect(toPostgresPlaceholders('SELECT $$?$$, $tag$ ? $tag$, ?')).toBe('SELECT $$?$$, $tag$ ? $tag$, $1');
  });

  it('does not treat a backslash as an escape in a standard string', () => {
    expect(toPostgresPlaceholders("SELECT 'a\\', ?")).toBe("SELECT 'a\\', $1");
  });
});
