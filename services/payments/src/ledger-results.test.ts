// Every result code the ledger has, placed for a payment chain: which mean the chain is in the
// books, and which need a person. test/ledger-results.test.ts shows the one a request could cause
// (a total past amount_max) refused with a 400 before the provider is called.
import { describe, expect, it } from 'vitest';
import { create_transfer_results } from '@paygrid/ledger';
import { paymentRefusalMeaning } from './saga';

describe('the ledger results a payment chain can meet', () => {
  it('places every code, and only ok and exists are the chain in the books', () => {
    const by_meaning = new Map<string, string[]>();
    for (const result of create_transfer_results) {
      const meaning = paymentRefusalMeaning(result);
      by_meaning.set(meaning, [...(by_meaning.get(meaning) ?? []), result]);
    }
    expect(by_meaning.get('accepted')).toEqual(['ok', 'exists']);
    expect(by_meaning.get('books_full')?.sort()).toEqual(
      ['overflows_credits', 'overflows_credits_pending', 'overflows_credits_posted', 'overflows_debits', 'overflows_debits_pending', 'overflows_debits_posted'],
    );
    expect(by_meaning.get('hold_resolved')?.sort()).toEqual([
      'exceeds_pending_transfer_amount',
      'pending_transfer_already_posted',
      'pending_transfer_already_voided',
      'pending_transfer_expired',
      'pending_transfer_not_found',
      'pending_transfer_not_pending',
    ]);
    expect([...by_meaning.values()].flat().length).toBe(create_transfer_results.length);
  });
});
