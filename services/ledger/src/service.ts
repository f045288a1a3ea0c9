import type { CreateAccountResult, CreateTransferResult, EventResult } from './results';
import type { AccountFilter, LedgerStore, QueryFilter, StoredAccount, StoredTransfer } from './store';
import type { AccountBalance, AccountEvent, Transfer, TransferEvent } from './types';
import { verifyLedger, type VerifyReport } from './verify';
import { LedgerUnavailableError, LedgerWriter, type LedgerWriterOptions, type WriterHold } from './writer';

/**
 * The ledger's one public interface. Other services hold a `LedgerClient` and nothing else: in one
 * process it is the service itself (a function call); across processes, `LedgerHttpClient`
 * (http-client.ts), which answers every call with the same values.
 */
export interface LedgerClient {
  createAccounts(events: readonly AccountEvent[]): Promise<EventResult<CreateAccountResult>[]>;
  createTransfers(events: readonly TransferEvent[]): Promise<EventResult<CreateTransferResult>[]>;
  lookupAccounts(ids: readonly bigint[]): Promise<StoredAccount[]>;
  lookupTransfers(ids: readonly bigint[]): Promise<StoredTransfer[]>;
  getAccountTransfers(filter: AccountFilter): Promise<Transfer[]>;
  getAccountBalances(filter: AccountFilter): Promise<AccountBalance[]>;
  queryTransfers(filter: QueryFilter): Promise<Transfer[]>;
}

export type LedgerServiceOptions = Omit<LedgerWriterOptions, 'store'>;

export class LedgerService implements LedgerClient {
  private constructor(
    readonly store: LedgerStore,
    private readonly writer: LedgerWriter,
  ) {}

  /** Takes the writer's fence (waiting if another writer holds it), loads the state, and serves. */
  static async open(store: LedgerStore, options: LedgerServiceOptions = {}): Promise<LedgerService> {
    const writer = new LedgerWriter({ ...options, store });
    await writer.start();
    return new LedgerService(store, writer);
  }

  async createAccounts(events: readonly AccountEvent[]): Promise<EventResult<CreateAccountResult>[]> {
    const results = await this.writer.createAccounts(events);
    return results.map((result, index) => ({ index, id: events[index]?.id ?? 0n, result }));
  }

  async createTransfers(events: readonly TransferEvent[]): Promise<EventResult<CreateTransferResult>[]> {
    const results = await this.writer.createTransfers(events);
    return results.map((result, index) => ({ index, id: events[index]?.id ?? 0n, result }));
  }

  lookupAccounts(ids: readonly bigint[]): Promise<StoredAccount[]> {
    return this.store.lookupAccounts(ids);
  }

  /** Stops the writer between two batches for a sharded ledger's coordinator (`LedgerWriter.hold`). */
  hold(account_ids: readonly bigint[], transfer_ids: readonly bigint[]): Promise<WriterHold> {
    return this.writer.hold(account_ids, transfer_ids);
  }

  /** At least the largest transfer id in this ledger: a larger id is not in it. */
  get transferIdMax(): bigint {
    return this.writer.transferIdMax;
  }

  lookupTransfers(ids: readonly bigint[]): Promise<StoredTransfer[]> {
    return this.store.lookupTransfers(ids);
  }

  getAccountTransfers(filter: AccountFilter): Promise<Transfer[]> {
    return this.store.getAccountTransfers(filter);
  }

  getAccountBalances(filter: AccountFilter): Promise<AccountBalance[]> {
    return this.store.getAccountBalances(filter);
  }

  queryTransfers(filter: QueryFilter): Promise<Transfer[]> {
    return this.store.queryTransfers(filter);
  }

  /**
   * Readiness: the writer holds its fence (so a write could commit now) and the store answers a
   * read. A ledger whose database came back but whose writer has not yet taken its fence again is
   * not ready: writes sent to it would be refused.
   */
  async checkReady(): Promise<void> {
    if (!this.writer.holdsFence) throw new LedgerUnavailableError('the ledger writer does not hold its fence');
    await this.store.lookupAccounts([1n]);
  }

  verify(): Promise<VerifyReport> {
    return verifyLedger(this.store);
  }

  /** Finishes the batch in flight and everything queued, then releases the store. */
  async close(): Promise<void> {
    await this.writer.stop();
    await this.store.close();
  }
}
