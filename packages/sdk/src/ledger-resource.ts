// The ledger's operator API (operator key): create accounts and transfers in batches of up to
// 8,190 events, and look them up, in JSON (the default) or in TigerBeetle's binary layouts.

import type {
  LedgerAccount,
  LedgerAccountCreateParams,
  LedgerCreateAccountResult,
  LedgerCreateTransferResult,
  LedgerEventResult,
  LedgerId,
  LedgerRequestOptions,
  LedgerTransfer,
  LedgerTransferCreateParams,
} from './ledger-types';
import {
  decodeLedgerAccountResults,
  decodeLedgerAccounts,
  decodeLedgerTransferResults,
  decodeLedgerTransfers,
  encodeLedgerAccounts,
  encodeLedgerIds,
  encodeLedgerTransfers,
  ledgerAccountsJson,
  ledgerIdsJson,
  ledgerTransfersJson,
} from './ledger-wire';
import type { RouteCall } from './resources';
import { ledger_route, type SdkRoute } from './routes';

/** Sends one binary body to a route and decodes the binary answer. */
export type BinaryRouteCall = <T>(route: SdkRoute, body: Uint8Array, decode: (bytes: Uint8Array) => T) => Promise<T>;

export class LedgerResource {
  constructor(
    private readonly call: RouteCall,
    private readonly callBinary: BinaryRouteCall,
  ) {}

  /** One result per account, in order; a broken rule is a result, not an error. */
  createAccounts(accounts: readonly LedgerAccountCreateParams[], options: LedgerRequestOptions = {}): Promise<LedgerEventResult<LedgerCreateAccountResult>[]> {
    if (options.encoding === 'binary') return this.callBinary(ledger_route.ledger_accounts_create, encodeLedgerAccounts(accounts), decodeLedgerAccountResults);
    return this.results(this.call(ledger_route.ledger_accounts_create, {}, { body: ledgerAccountsJson(accounts) }));
  }

  /** One result per transfer, in order; a broken rule is a result, not an error. */
  createTransfers(transfers: readonly LedgerTransferCreateParams[], options: LedgerRequestOptions = {}): Promise<LedgerEventResult<LedgerCreateTransferResult>[]> {
    if (options.encoding === 'binary') return this.callBinary(ledger_route.ledger_transfers_create, encodeLedgerTransfers(transfers), decodeLedgerTransferResults);
    return this.results(this.call(ledger_route.ledger_transfers_create, {}, { body: ledgerTransfersJson(transfers) }));
  }

  /** The accounts found, in the order asked; ids not found are left out. */
  async lookupAccounts(ids: readonly LedgerId[], options: LedgerRequestOptions = {}): Promise<LedgerAccount[]> {
    if (options.encoding === 'binary') return this.callBinary(ledger_route.ledger_accounts_lookup, encodeLedgerIds(ids), decodeLedgerAccounts);
    const list = await this.call<{ data: LedgerAccount[] }>(ledger_route.ledger_accounts_lookup, {}, { body: ledgerIdsJson(ids) });
    return list.data;
  }

  /** The transfers found, in the order asked. Binary answers carry no `pending_status`. */
  async lookupTransfers(ids: readonly LedgerId[], options: LedgerRequestOptions = {}): Promise<LedgerTransfer[]> {
    if (options.encoding === 'binary') return this.callBinary(ledger_route.ledger_transfers_lookup, encodeLedgerIds(ids), decodeLedgerTransfers);
    const list = await this.call<{ data: LedgerTransfer[] }>(ledger_route.ledger_transfers_lookup, {}, { body: ledgerIdsJson(ids) });
    return list.data;
  }

  retrieveAccount(id: LedgerId): Promise<LedgerAccount> {
    return this.call(ledger_route.ledger_accounts_retrieve, { id: id.toString() });
  }

  retrieveTransfer(id: LedgerId): Promise<LedgerTransfer> {
    return this.call(ledger_route.ledger_transfers_retrieve, { id: id.toString() });
  }

  private async results<Result extends string>(answer: Promise<{ results: LedgerEventResult<Result>[] }>): Promise<LedgerEventResult<Result>[]> {
    return (await answer).results;
  }
}
