// fast-check generators for ledger workloads. The id spaces are tiny on purpose: collisions are
// what exercise `exists`, pending lookups, limits and linked-chain rollbacks.
import fc from 'fast-check';
import { AccountFlags, TransferFlags, amount_max, emptyAccountEvent, emptyTransferEvent, id_max } from '../types';
import type { AccountEvent, TransferEvent } from '../types';

export type Operation = { kind: 'accounts'; events: AccountEvent[] } | { kind: 'transfers'; events: TransferEvent[] };

export interface Batch {
  /** How far the clock moves before this batch, in nanoseconds. */
  advance_ns: bigint;
  operations: Operation[];
}

const account_id = fc.oneof(
  { weight: 20, arbitrary: fc.integer({ min: 1, max: 8 }).map(BigInt) },
  { weight: 1, arbitrary: fc.constantFrom(0n, id_max, (1n << 127n) + 3n) },
);
const transfer_id = fc.oneof(
  { weight: 20, arbitrary: fc.integer({ min: 1, max: 48 }).map((n) => BigInt(n) + 1000n) },
  { weight: 1, arbitrary: fc.constantFrom(0n, id_max) },
);
const amount = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 1, max: 200 }).map(BigInt) },
  { weight: 2, arbitrary: fc.constant(0n) },
  { weight: 1, arbitrary: fc.constantFrom(amount_max, amount_max - 1n, amount_max / 2n + 1n) },
);
const small = (max: number) => fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 1, max }) }, { weight: 1, arbitrary: fc.constant(0) });

function flagSet(bits: readonly number[], weights: readonly number[]): fc.Arbitrary<number> {
  return fc
    .tuple(...bits.map((_, index) => fc.integer({ min: 0, max: 99 }).map((roll) => roll < (weights[index] ?? 0))))
    .map((chosen) => chosen.reduce((flags, on, index) => (on ? flags | (bits[index] ?? 0) : flags), 0));
}

const account_flags = flagSet(
  [AccountFlags.linked, AccountFlags.debits_must_not_exceed_credits, AccountFlags.credits_must_not_exceed_debits, AccountFlags.history, AccountFlags.closed, 1 << 9],
  [15, 25, 15, 20, 3, 1],
);

const transfer_flags = flagSet(
  [
    TransferFlags.linked,
    TransferFlags.pending,
    TransferFlags.post_pending_transfer,
    TransferFlags.void_pending_transfer,
    TransferFlags.balancing_debit,
    TransferFlags.balancing_credit,
    TransferFlags.closing_debit,
    TransferFlags.closing_credit,
    1 << 12,
  ],
  [20, 30, 15, 10, 6, 6, 3, 3, 1],
);

export const accountEvent: fc.Arbitrary<AccountEvent> = fc
  .record({
    id: account_id,
    ledger: small(2),
    code: small(3),
    flags: account_flags,
    user_data_128: fc.constantFrom(0n, 7n),
    user_data_64: fc.constantFrom(0n, 9n),
    user_data_32: fc.constantFrom(0, 3),
    credits_posted: fc.oneof({ weight: 30, arbitrary: fc.constant(0n) }, { weight: 1, arbitrary: fc.constant(5n) }),
    timestamp: fc.oneof({ weight: 50, arbitrary: fc.constant(0n) }, { weight: 1, arbitrary: fc.constant(1n) }),
  })
  .map((fields) => emptyAccountEvent(fields));

/** Anything at all, to reach the rarer refusals. */
const anyTransferEvent: fc.Arbitrary<TransferEvent> = fc
  .record({
    id: transfer_id,
    debit_account_id: fc.oneof({ weight: 10, arbitrary: account_id }, { weight: 1, arbitrary: fc.constant(0n) }),
    credit_account_id: fc.oneof({ weight: 10, arbitrary: account_id }, { weight: 1, arbitrary: fc.constant(0n) }),
    amount,
    pending_id: fc.oneof({ weight: 3, arbitrary: fc.constant(0n) }, { weight: 4, arbitrary: transfer_id }),
    user_data_128: fc.constantFrom(0n, 11n),
    user_data_64: fc.constantFrom(0n, 12n),
    user_data_32: fc.constantFrom(0, 13),
    timeout: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: 3 }) }, { weight: 1, arbitrary: fc.constant(0xffff_ffff) }),
    ledger: small(2),
    code: small(3),
    flags: transfer_flags,
    timestamp: fc.oneof({ weight: 80, arbitrary: fc.constant(0n) }, { weight: 1, arbitrary: fc.constant(5n) }),
  })
  .map((fields) => emptyTransferEvent(fields));

const linked = fc.integer({ min: 0, max: 99 }).map((roll) => (roll < 15 ? TransferFlags.linked : 0));
const known_account = fc.integer({ min: 1, max: 8 }).map(BigInt);
const ledger_mostly_one = fc.oneof({ weight: 12, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constant(2) });
const small_amount = fc.oneof({ weight: 20, arbitrary: fc.integer({ min: 1, max: 120 }).map(BigInt) }, { weight: 1, arbitrary: amount });

/** What clients mostly send: plain, pending and balancing transfers between known accounts. */
const movingTransferEvent: fc.Arbitrary<TransferEvent> = fc
  .record({
    id: transfer_id,
    debit_account_id: known_account,
    credit_account_id: known_account,
    amount: small_amount,
    ledger: ledger_mostly_one,
    linked,
    kind: fc.constantFrom('plain', 'plain', 'pending', 'pending', 'balancing_debit', 'balancing_credit', 'closing'),
    timeout: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: 1, max: 3 }) }),
    user_data_64: fc.constantFrom(0n, 12n),
  })
  .map(({ kind, linked: link, timeout, ...fields }) => {
    const flags =
      kind === 'pending'
        ? TransferFlags.pending
        : kind === 'balancing_debit'
          ? TransferFlags.balancing_debit | (fields.amount % 2n === 0n ? TransferFlags.pending : 0)
          : kind === 'balancing_credit'
            ? TransferFlags.balancing_credit
            : kind === 'closing'
              ? TransferFlags.pending | (fields.amount % 2n === 0n ? TransferFlags.closing_debit : TransferFlags.closing_credit)
              : 0;
    const is_pending = (flags & TransferFlags.pending) !== 0;
    return emptyTransferEvent({ ...fields, code: 1, flags: flags | link, timeout: is_pending ? timeout : 0 });
  });

/** Posts and voids, mostly leaving fields zero to inherit them from the pending transfer. */
const resolvingTransferEvent: fc.Arbitrary<TransferEvent> = fc
  .record({
    id: transfer_id,
    pending_id: transfer_id,
    posting: fc.boolean(),
    amount: fc.oneof({ weight: 3, arbitrary: fc.constant(0n) }, { weight: 2, arbitrary: fc.integer({ min: 1, max: 120 }).map(BigInt) }),
    linked,
    user_data_32: fc.constantFrom(0, 0, 13),
  })
  .map(({ posting, linked: link, ...fields }) =>
    emptyTransferEvent({
      ...fields,
      flags: (posting ? TransferFlags.post_pending_transfer : TransferFlags.void_pending_transfer) | link,
      amount: posting ? fields.amount : 0n,
    }),
  );

export const transferEvent: fc.Arbitrary<TransferEvent> = fc.oneof(
  { weight: 10, arbitrary: movingTransferEvent },
  { weight: 5, arbitrary: resolvingTransferEvent },
  { weight: 2, arbitrary: anyTransferEvent },
);

export const operation: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 1, arbitrary: fc.array(accountEvent, { minLength: 1, maxLength: 6 }).map((events): Operation => ({ kind: 'accounts', events })) },
  { weight: 4, arbitrary: fc.array(transferEvent, { minLength: 1, maxLength: 16 }).map((events): Operation => ({ kind: 'transfers', events })) },
);

export const batch: fc.Arbitrary<Batch> = fc.record({
  advance_ns: fc.constantFrom(0n, 1n, 400_000_000n, 1_000_000_000n, 2_500_000_000n),
  operations: fc.array(operation, { minLength: 1, maxLength: 3 }),
});

export function countEvents(batches: readonly Batch[]): number {
  return batches.reduce((sum, each) => sum + each.operations.reduce((inner, op) => inner + op.events.length, 0), 0);
}

/** Accounts 1 to 8 created validly up front, so that most transfers find their accounts. */
export const openingBatch: fc.Arbitrary<Batch> = fc
  .array(
    fc.constantFrom(0, 0, AccountFlags.debits_must_not_exceed_credits, AccountFlags.credits_must_not_exceed_debits, AccountFlags.history),
    { minLength: 8, maxLength: 8 },
  )
  .map((flags) => ({
    advance_ns: 0n,
    operations: [
      {
        kind: 'accounts',
        events: flags.map((each, index) => emptyAccountEvent({ id: BigInt(index + 1), ledger: index < 6 ? 1 : 2, code: 1, flags: each })),
      },
    ],
  }));

export const workload: fc.Arbitrary<Batch[]> = fc
  .tuple(openingBatch, fc.array(batch, { minLength: 5, maxLength: 60 }))
  .map(([opening, rest]) => [opening, ...rest]);
