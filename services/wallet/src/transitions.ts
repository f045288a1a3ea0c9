// The state machines, as tables. One function applies each and refuses anything else.
import type { OperationStatus, WalletStatus } from './types';

/**
 * An operation is pending until the ledger (and for a withdrawal, the bank) has answered, then
 * succeeded or failed for good. A withdrawal stays pending while its hold is placed and the bank
 * works on it.
 */
export const operation_transitions: Record<OperationStatus, readonly OperationStatus[]> = {
  pending: ['succeeded', 'failed'],
  succeeded: [],
  failed: [],
};

/** A frozen wallet refuses outgoing money and still receives; either status may be set back. */
export const wallet_transitions: Record<WalletStatus, readonly WalletStatus[]> = {
  active: ['frozen'],
  frozen: ['active'],
};

export type TransitionResult = 'ok' | 'not_allowed';

export function transition<State extends string>(table: Record<State, readonly State[]>, from: State, to: State): TransitionResult {
  return table[from].includes(to) ? 'ok' : 'not_allowed';
}
