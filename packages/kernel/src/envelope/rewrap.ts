// Re-wrapping: the work of a KEK rotation. Each store that keeps data keys wrapped by the KEK
// (the vault's tokens, identity's signing secrets) walks its rows in bounded batches, one
// transaction each, and wraps every data key not yet under the current KEK again under it. The
// data those keys seal is never touched: that is the point of envelope encryption. Progress
// lives in the rows themselves (each names the KEK that wraps it), so a crash loses nothing and
// the next run picks up what is left.
import { assert } from '../assert';
import type { Keyring } from './keyring';

export const rewrap_batch_size_default = 500;
/** One batch is one transaction; SQLite's single writer waits for it, so batches stay short. */
export const rewrap_batch_size_max = 10_000;
/**
 * A pass walks the rows in order; a row wrapped under an old key by another instance while the
 * pass runs can land behind it, so a pass is repeated, at most this often.
 */
export const rewrap_passes_max = 3;

export interface RewrapBatchResult {
  /** Data keys re-wrapped by this batch. */
  readonly rewrapped: number;
  /** Where the next batch starts; undefined when this pass reached the end. */
  readonly next_cursor: number | undefined;
}

/** A store whose data keys are wrapped by the KEK. */
export interface WrappedKeyStore {
  /** For progress reports and logs: `vault`, `identity`. */
  readonly name: string;
  /** How many data keys each KEK wraps, by KEK id. */
  countDataKeysByKek(): Promise<Map<string, number>>;
  /**
   * One transaction: up to batch_size data keys after the cursor (0 starts a pass) that are not
   * under the keyring's current KEK, re-wrapped under it. Only if no one changed them meanwhile.
   */
  rewrapBatch(cursor: number, batch_size: number): Promise<RewrapBatchResult>;
}

export interface RewrapOptions {
  readonly batch_size?: number;
  /** Told after every batch, for progress reports. */
  readonly onBatch?: (rewrapped: number) => void;
  /** Stops between batches (shutdown); what was done stays done. */
  readonly signal?: AbortSignal;
}

export interface RewrapResult {
  readonly rewrapped: number;
  /** Data keys still under another key when the call ended: 0 unless it was stopped, or another instance kept wrapping under an old key. */
  readonly remaining: number;
}

export function checkRewrapBatchSize(batch_size: number | undefined): number {
  const size = batch_size ?? rewrap_batch_size_default;
  assert(Number.isSafeInteger(size) && size >= 1 && size <= rewrap_batch_size_max, `batch_size must be an integer from 1 to ${rewrap_batch_size_max}`);
  return size;
}

/** Data keys in the counts that are not under the given KEK. */
export function countNotUnder(counts: ReadonlyMap<string, number>, kek_id: string): number {
  let total = 0;
  for (const [id, count] of counts) if (id !== kek_id) total += count;
  return total;
}

/** Re-wraps every data key of the store under the keyring's current KEK, batch by batch. */
export async function rewrapStore(store: WrappedKeyStore, keyring: Keyring, options: RewrapOptions = {}): Promise<RewrapResult> {
  const batch_size = checkRewrapBatchSize(options.batch_size);
  let rewrapped = 0;
  let remaining = 0;
  for (let pass = 0; pass < rewrap_passes_max; pass += 1) {
    let cursor: number | undefined = 0;
    while (cursor !== undefined && options.signal?.aborted !== true) {
      const batch: RewrapBatchResult = await store.rewrapBatch(cursor, batch_size);
      rewrapped += batch.rewrapped;
      options.onBatch?.(batch.rewrapped);
      cursor = batch.next_cursor;
    }
    remaining = countNotUnder(await store.countDataKeysByKek(), keyring.current.id);
    if (remaining === 0 || options.signal?.aborted === true) break;
  }
  return { rewrapped, remaining };
}
