// Records to wire shapes.
import { assert } from '@paygrid/kernel';
import type { Account } from '@paygrid/ledger';
import type { OperationRecord, WalletRecord } from './store';
import type { TopUp, TopUpRestoration, TopUpReversal, Wallet, WalletBalance, WalletPayment, WalletRefund, WalletTransaction, WalletTransfer, Withdrawal } from './types';

export const zero_balance: WalletBalance = { available: 0n, pending: 0n };

/**
 * available = credits_posted − debits_posted − debits_pending: held money is not spendable.
 * pending = debits_pending + credits_pending: money in flight.
 * A wallet whose ledger account is not created yet (see createWallet) holds nothing.
 */
export function balanceOf(account: Account | undefined): WalletBalance {
  if (account === undefined) return zero_balance;
  return {
    available: account.credits_posted - account.debits_posted - account.debits_pending,
    pending: account.debits_pending + account.credits_pending,
  };
}

export function walletToWire(wallet: WalletRecord, balance: WalletBalance): Wallet {
  return {
    id: wallet.id,
    object: 'wallet',
    customer: wallet.customer,
    currency: wallet.currency.toLowerCase(),
    status: wallet.status,
    balance,
    created: wallet.created,
    livemode: wallet.livemode,
  };
}

export function topUpToWire(operation: OperationRecord): TopUp {
  assert(operation.type === 'top_up' && operation.destination_wallet_id !== null);
  return {
    id: operation.id,
    object: 'top_up',
    wallet: operation.destination_wallet_id,
    amount: operation.amount,
    currency: operation.currency.toLowerCase(),
    source: operation.payment_intent_id === null ? 'simulated_bank_deposit' : 'payment_intent',
    payment_intent: operation.payment_intent_id,
    status: operation.status,
    failure_code: operation.failure_code,
    created: operation.created,
    livemode: operation.livemode,
  };
}

export function transferToWire(operation: OperationRecord): WalletTransfer {
  assert(operation.type === 'transfer' && operation.source_wallet_id !== null && operation.destination_wallet_id !== null);
  return {
    id: operation.id,
    object: 'wallet_transfer',
    source: operation.source_wallet_id,
    destination: operation.destination_wallet_id,
    amount: operation.amount,
    currency: operation.currency.toLowerCase(),
    description: operation.description,
    status: operation.status,
    failure_code: operation.failure_code,
    created: operation.created,
    livemode: operation.livemode,
  };
}

export function paymentToWire(operation: OperationRecord): WalletPayment {
  assert(operation.type === 'payment' && operation.source_wallet_id !== null);
  return {
    id: operation.id,
    object: 'wallet_payment',
    wallet: operation.source_wallet_id,
    amount: operation.amount,
    currency: operation.currency.toLowerCase(),
    description: operation.description,
    status: operation.status,
    failure_code: operation.failure_code,
    created: operation.created,
    livemode: operation.livemode,
  };
}

export function refundToWire(operation: OperationRecord): WalletRefund {
  assert(operation.type === 'refund' && operation.destination_wallet_id !== null && operation.refunded_payment_id !== null);
  return {
    id: operation.id,
    object: 'wallet_refund',
    wallet: operation.destination_wallet_id,
    payment: operation.refunded_payment_id,
    amount: operation.amount,
    currency: operation.currency.toLowerCase(),
    status: operation.status,
    failure_code: operation.failure_code,
    created: operation.created,
    livemode: operation.livemode,
  };
}

export function topUpReversalToWire(operation: OperationRecord): TopUpReversal {
  assert(operation.type === 'top_up_reversal' && operation.source_wallet_id !== null && operation.reversed_top_up_id !== null);
  return {
    id: operation.id,
    object: 'top_up_reversal',
    wallet: operation.source_wallet_id,
    top_up: operation.reversed_top_up_id,
    amount: operation.amount,
    currency: operation.currency.toLowerCase(),
    status: operation.status,
    failure_code: operation.failure_code,
    created: operation.created,
    livemode: operation.livemode,
  };
}

export function topUpRestorationToWire(operation: OperationRecord): TopUpRestoration {
  assert(operation.type === 'top_up_restoration' && operation.destination_wallet_id !== null && operation.restored_reversal_id !== null);
  return {
    id: operation.id,
    object: 'top_up_restoration',
    wallet: operation.destination_wallet_id,
    top_up_reversal: operation.restored_reversal_id,
    amount: operation.amount,
    currency: operation.currency.toLowerCase(),
    status: operation.status,
    failure_code: operation.failure_code,
    created: operation.created,
    livemode: operation.livemode,
  };
}

export function withdrawalToWire(operation: OperationRecord): Withdrawal {
  assert(operation.type === 'withdrawal' && operation.source_wallet_id !== null && operation.bank_account !== null);
  const account = operation.bank_account;
  return {
    id: operation.id,
    object: 'withdrawal',
    wallet: operation.source_wallet_id,
    amount: operation.amount,
    currency: operation.currency.toLowerCase(),
    status: operation.status,
    failure_code: operation.failure_code,
    bank_account: {
      account_holder_name: account.account_holder_name,
      routing_number: account.routing_number,
      last4: account.last4,
      country: account.country,
    },
    created: operation.created,
    livemode: operation.livemode,
  };
}

/** One history line: the operation as the given wallet sees it. */
export function transactionToWire(operation: OperationRecord, wallet_id: string): WalletTransaction {
  const outgoing = operation.source_wallet_id === wallet_id;
  assert(outgoing || operation.destination_wallet_id === wallet_id, 'a history line names its wallet');
  const type =
    operation.type === 'transfer' ? (outgoing ? 'transfer_out' : 'transfer_in') : operation.type;
  return {
    id: operation.id,
    object: 'wallet_transaction',
    wallet: wallet_id,
    type,
    amount: outgoing ? -operation.amount : operation.amount,
    currency: operation.currency.toLowerCase(),
    status: operation.status,
    created: operation.created,
    livemode: operation.livemode,
  };
}
