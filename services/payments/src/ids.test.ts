import { describe, expect, it } from 'vitest';
import { orderedId } from './ids';

describe('orderedId', () => {
  it('has the shape of every other id, and sorts by creation time', () => {
    const start_ms = Date.UTC(2026, 0, 1);
    const ids = Array.from({ length: 200 }, (_, index) => orderedId('pi', start_ms + index * 997));
    for (const id of ids) expect(id).toMatch(/^pi_[0-9A-Za-z]{24}$/);
    // Byte order (what SQLite and PostgreSQL's C collation compare) is time order.
    expect([...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(ids);
  });

  it('keeps ids of one millisecond apart by their random part', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => orderedId('evt', 1_000)));
    expect(ids.size).toBe(10_000);
    expect([...ids].every((id) => id.startsWith('evt_000000G8'))).toBe(true);
  });
});
