// Withdrawals and deposits held against the platform-side accounts every merchant shared, before
// they became each merchant's own (decision 67), still settle and are still recognised: a
// settlement names no accounts (the ledger takes the hold's own), and a movement sent again after
// the change knows its older transfer as its own.
import { join } from 'node:path';
import { temporaryDirectory } from '@paygrid/kernel/testing';
import { AccountCode, AccountFlags, LedgerService, TransferCode, derivedId, emptyAccountEvent, emptyTransferEvent, ledgerFor, merchantPlatformAccountId, openLedgerStore, sharedPlatformAccountId } from '@paygrid/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerLayout, TransferOrigin, isOperationTransfer, operationTransferEvent, settlementTransferEvent, walletAccountId } from './chart';
import type { OperationRecord } from './store';

function withdrawal(id: string, amount: bigint): OperationRecord {
  return {
    id,
    merchant_id: 'mer_upgrade',
    livemode: false,
    type: 'withdrawal',
    source_wallet_id: 'wal_upgrade',
    destination_wallet_id: null,
    amount,
    currency: 'USD',
    description: null,
    status: 'pending',
    failure_code: null,
    idempotency_key: null,
    ledger_transfer_id: derivedId(`test:transfer:${id}`),
    ledger_result: null,
    settlement_outcome: null,
    settlement_failure_code: null,
    bank_account: null,
    refunded_payment_id: null,
    payment_intent_id: null,
    reversed_top_up_id: null,
    restored_reversal_id: null,
    created: 0,
    created_ms: 0,
    ledger_layout: LedgerLayout.book_of_record,
    origin: TransferOrigin.recorded,
  };
}

describe('the wallet chart across the move to per-merchant platform accounts', () => {
  let directory: Awaited<ReturnType<typeof temporaryDirectory>>;
  let ledger: LedgerService;

  beforeAll(async () => {
    directory = await temporaryDirectory();
    ledger = await LedgerService.open(await openLedgerStore({ kind: 'sqlite', file: join(directory.path, 'ledger.sqlite') }, { migrate: true }), { batch_wait_ms: 0 });
  });

  afterAll(async () => {
    await ledger.close();
    await directory.remove();
  });

  it("settles a withdrawal held against the shared bank_withdrawals account, and knows its hold as the withdrawal's own", async () => {
    const usd = ledgerFor('USD', false);
    const shared_withdrawals = sharedPlatformAccountId('bank_withdrawals', 'USD', false);
    const shared_deposits = sharedPlatformAccountId('bank_deposits', 'USD', false);
    const wallet = walletAccountId('wal_upgrade');
    await ledger.createAccounts([
      emptyAccountEvent({ id: wallet, ledger: usd, code: AccountCode.customer_wallet, flags: AccountFlags.debits_must_not_exceed_credits }),
      emptyAccountEvent({ id: shared_withdrawals, ledger: usd, code: AccountCode.bank_withdrawals, flags: 0 }),
      emptyAccountEvent({ id: shared_deposits, ledger: usd, code: AccountCode.bank_deposits, flags: 0 }),
    ]);
    await ledger.createTransfers([emptyTransferEvent({ id: derivedId('test:deposit:upgrade'), debit_account_id: shared_deposits, credit_account_id: wallet, amount: 10_000n, ledger: usd, code: TransferCode.wallet_top_up })]);

    // The hold as the first chart placed it: crediting the account every merchant shared.
    const older = withdrawal('wd_older', 700n);
    const [held] = await ledger.createTransfers([{ ...operationTransferEvent(older), credit_account_id: shared_withdrawals }]);
    expect(held?.result).toBe('ok');
    const [stored] = await ledger.lookupTransfers([older.ledger_transfer_id]);
    expect(stored !== undefined && isOperationTransfer(older, stored.transfer)).toBe(true);
    expect(stored !== undefined && isOperationTransfer(older, { ...stored.transfer, credit_account_id: derivedId('test:elsewhere') })).toBe(false);
    // Sent again under the new chart, the ledger points at the difference, which the wallet looks up.
    const [again] = await ledger.createTransfers([operationTransferEvent(older)]);
    expect(again?.result).toBe('exists_with_different_credit_account_id');

    const settlement = settlementTransferEvent(older, 'succeeded');
    expect((await ledger.createTransfers([settlement]))[0]?.result).toBe('ok');
    expect((await ledger.createTransfers([settlement]))[0]?.result).toBe('exists');
    const [withdrawals] = await ledger.lookupAccounts([shared_withdrawals]);
    expect(withdrawals).toMatchObject({ credits_pending: 0n, credits_posted: 700n });

    // A withdrawal made after the change goes to the merchant's own account, and settles there.
    const newer = withdrawal('wd_newer', 300n);
    const own = merchantPlatformAccountId('bank_withdrawals', 'mer_upgrade', 'USD', false);
    await ledger.createAccounts([emptyAccountEvent({ id: own, ledger: usd, code: AccountCode.bank_withdrawals, flags: 0 })]);
    expect((await ledger.createTransfers([operationTransferEvent(newer)]))[0]?.result).toBe('ok');
    expect((await ledger.createTransfers([settlementTransferEvent(newer, 'failed')]))[0]?.result).toBe('ok');
    const [own_account] = await ledger.lookupAccounts([own]);
    expect(own_account).toMatchObject({ credits_pending: 0n, credits_posted: 0n });
    expect((await ledger.lookupAccounts([wallet]))[0]).toMatchObject({ debits_posted: 700n, debits_pending: 0n });
  });
});
