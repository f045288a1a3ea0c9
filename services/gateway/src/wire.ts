// Amounts are bigint inside Paygrid and JSON integers on the wire. Every amount the platform
// holds is within 2^53 - 1 (the ledger refuses more), so each converts to a number exactly;
// anything beyond would be a bug, and is asserted.
import { assert } from '@paygrid/kernel';

export function bigintsToNumbers(value: unknown): unknown {
  if (typeof value === 'bigint') {
    assert(value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= -BigInt(Number.MAX_SAFE_INTEGER), 'an amount on the wire is beyond 2^53 - 1');
    return Number(value);
  }
  if (Array.isArray(value)) return value.map(bigintsToNumbers);
  if (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    const converted: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) converted[key] = bigintsToNumbers(field);
    return converted;
  }
  return value;
}
