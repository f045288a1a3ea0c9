// The ledger's pure core: its data model, result codes and rules, with no storage, HTTP or
// platform dependencies. Tools that only need the rules in memory (the memory benchmark, a
// future client-side validator) import this instead of the whole service.
export { LedgerStateMachine, type BatchEffects } from './state-machine';
export * from './types';
export * from './results';
export * from './result-codes';
