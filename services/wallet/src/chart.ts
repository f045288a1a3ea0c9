// How wallet operations map onto the shared chart of accounts: which ledger accounts each one
// debits and credits, and the account events that create them on first use.
import {
  AccountCode,
  AccountFlags,
  TransferCode,
  TransferFlags,
  derivedId,
  emptyAccountEvent,
  emptyTransferEvent,
  ledgerFor,
  merchantBalanceAccountId,
  platformAccountId,
  type AccountEvent,
  type TransferEvent,
} from '@paygrid/ledger';
import type { CurrencyCode } from '@paygrid/money';
import { assert } from '@paygrid/kernel';
import type { OperationRecord } from './store';
import type { SettlementOutcome } from './types';

/** A wallet's ledger account: derived from the wallet id, so no table maps one to the other. */
export function walletAccountId(wallet_id: string): bigint {
  return derivedId(`account:wallet:${wallet_id}`);
}

/** The ledger transfer that carries an operation's money. */
export function operationTransferId(operation_id: string): bigint {
  return derivedId(`transfer:${operation_id}`);
}

/** The transfer that posts (succeeded) or voids (failed) a withdrawal's hold. */
export function settlementTransferId(withdrawal_id: string, outcome: SettlementOutcome): bigint {
  return derivedId(`transfer:${withdrawal_id}:${outcome === 'succeeded' ? 'post' : 'void'}`);
}

/** A customer's wallet may never spend more than it holds: the ledger enforces it. */
export function walletAccountEvent(wallet_id: string, currency: CurrencyCode, livemode: boolean): AccountEvent {
  return emptyAccountEvent({
    id: walletAccountId(wallet_id),
    ledger: ledgerFor(currency, livemode),
    code: AccountCode.customer_wallet,
    flags: AccountFlags.debits_must_not_exceed_credits,
  });
}

/** Platform and merchant accounts have no balance limit: money from outside may take them negative. */
function unlimitedAccountEvent(id: bigint, code: number, currency: CurrencyCode, livemode: boolean): AccountEvent {
  return emptyAccountEvent({ id, ledger: ledgerFor(currency, livemode), code, flags: 0 });
}

function merchantBalanceAccountEvent(operation: OperationRecord): AccountEvent {
  const { currency, livemode } = operation;
  return unlimitedAccountEvent(merchantBalanceAccountId(operation.merchant_id, currency, livemode), AccountCode.merchant_balance, currency, livemode);
}

interface Legs {
  readonly debit: AccountEvent;
  readonly credit: AccountEvent;
  readonly code: number;
}

function legsOf(operation: OperationRecord): Legs {
  const { currency, livemode } = operation;
  const source = operation.source_wallet_id;
  const destination = operation.destination_wallet_id;
  switch (operation.type) {
    case 'top_up':
      assert(destination !== null, 'a top-up has a destination wallet');
      return {
        // A top-up paid by a payment intent comes out of the merchant's balance, where the payments
        // service landed the captured money; a simulated deposit comes from the bank.
        debit:
          operation.payment_intent_id === null
            ? unlimitedAccountEvent(platformAccountId('bank_deposits', currency, livemode), AccountCode.bank_deposits, currency, livemode)
            : merchantBalanceAccountEvent(operation),
        credit: walletAccountEvent(destination, currency, livemode),
        code: TransferCode.wallet_top_up,
      };
    case 'transfer':
      assert(source !== null && destination !== null, 'a transfer has a source and a destination wallet');
      return {
        debit: walletAccountEvent(source, currency, livemode),
        credit: walletAccountEvent(destination, currency, livemode),
        code: TransferCode.wallet_transfer,
      };
    case 'payment':
      assert(source !== null, 'a payment has a source wallet');
      return {
        debit: walletAccountEvent(source, currency, livemode),
        credit: unlimitedAccountEvent(merchantBalanceAccountId(operation.merchant_id, currency, livemode), AccountCode.merchant_balance, currency, livemode),
        code: TransferCode.wallet_payment,
      };
    case 'refund':
      assert(destination !== null, 'a refund has a destination wallet');
      return {
        debit: unlimitedAccountEvent(merchantBalanceAccountId(operation.merchant_id, currency, livemode), AccountCode.merchant_balance, currency, livemode),
        credit: walletAccountEvent(destination, currency, livemode),
        code: TransferCode.wallet_refund,
      };
    case 'top_up_reversal':
      assert(source !== null, 'a top-up reversal has a source wallet');
      return {
        debit: walletAccountEvent(source, currency, livemode),
        credit: merchantBalanceAccountEvent(operation),
        code: TransferCode.wallet_top_up_reversal,
      };
    case 'top_up_restoration':
      assert(destination !== null, 'a top-up restoration has a destination wallet');
      return {
        // The mirror of the reversal it undoes: the merchant's balance gives the money back.
        debit: merchantBalanceAccountEvent(operation),
        credit: walletAccountEvent(destination, currency, livemode),
        code: TransferCode.wallet_top_up_restoration,
      };
    case 'withdrawal':
      assert(source !== null, 'a withdrawal has a source wallet');
      return {
        debit: walletAccountEvent(source, currency, livemode),
        credit: unlimitedAccountEvent(platformAccountId('bank_withdrawals', currency, livemode), AccountCode.bank_withdrawals, currency, livemode),
        code: TransferCode.wallet_withdrawal,
      };
  }
}

/** The accounts an operation's transfers touch, to create them when the ledger has not seen them. */
export function accountEventsOf(operation: OperationRecord): AccountEvent[] {
  const legs = legsOf(operation);
  return [legs.debit, legs.credit];
}

/**
 * The operation's transfer. A withdrawal's is pending, with no timeout: the money is held until the
 * bank answers, however long that takes.
 */
export function operationTransferEvent(operation: OperationRecord): TransferEvent {
  const legs = legsOf(operation);
  return emptyTransferEvent({
    id: operation.ledger_transfer_id,
    debit_account_id: legs.debit.id,
    credit_account_id: legs.credit.id,
    amount: operation.amount,
    ledger: legs.debit.ledger,
    code: legs.code,
    flags: operation.type === 'withdrawal' ? TransferFlags.pending : 0,
    timeout: 0,
  });
}

/** Posts or voids a withdrawal's hold, for its whole amount. */
export function settlementTransferEvent(operation: OperationRecord, outcome: SettlementOutcome): TransferEvent {
  assert(operation.type === 'withdrawal', 'only withdrawals are settled');
  const legs = legsOf(operation);
  return emptyTransferEvent({
    id: settlementTransferId(operation.id, outcome),
    pending_id: operation.ledger_transfer_id,
    debit_account_id: legs.debit.id,
    credit_account_id: legs.credit.id,
    amount: operation.amount,
    ledger: legs.debit.ledger,
    code: legs.code,
    flags: outcome === 'succeeded' ? TransferFlags.post_pending_transfer : TransferFlags.void_pending_transfer,
  });
}
