// The wallet service's contract: every operation of WalletClient, and whether sending it twice has
// the effect of sending it once, for the HTTP client and routes of @paygrid/kernel/rpc.
import { defineServiceContract } from '@paygrid/kernel/rpc';
import type { WalletClient } from './types';

/**
 * Money movements whose idempotency key is optional: with a key the wallet derives the operation's
 * ledger transfer id from it, so a repeat meets the first movement; without one, each call moves
 * money again.
 */
const keyed = (input: { readonly idempotency_key?: string | undefined }): boolean => input.idempotency_key !== undefined;

export const wallet_contract = defineServiceContract<WalletClient>()({
  service: 'wallet',
  operations: {
    // A customer has one wallet per currency: a repeat is refused (wallet_exists) although the
    // first call made the wallet.
    createWallet: { idempotent: false },
    getWallet: { idempotent: true },
    listWallets: { idempotent: true },
    // Sets the status: a repeat finds it set and moves nothing in the ledger.
    updateWallet: { idempotent: true },

    topUp: { idempotent: (_tenant, _wallet_id, input) => keyed(input) },
    transfer: { idempotent: (_tenant, input) => keyed(input) },
    pay: { idempotent: (_tenant, _wallet_id, input) => keyed(input) },
    withdraw: { idempotent: (_tenant, _wallet_id, input) => keyed(input) },
    refundPayment: { idempotent: (_tenant, _payment_id, input) => keyed(input) },

    // The payments service always sends the key these take, derived from its own records.
    topUpFromPayment: { idempotent: true },
    reverseTopUp: { idempotent: true },
    restoreTopUpReversal: { idempotent: true },

    getTopUp: { idempotent: true },
    getTopUpReversal: { idempotent: true },
    getTopUpRestoration: { idempotent: true },
    getTransfer: { idempotent: true },
    listTransfers: { idempotent: true },
    getPayment: { idempotent: true },
    getWithdrawal: { idempotent: true },
    listTransactions: { idempotent: true },

    getLimits: { idempotent: true },
    // Sets the limits to values: a repeat finds them set and keeps the day's usage version.
    setLimits: { idempotent: true },

    // The same outcome again is a repeat the wallet answers with the settled withdrawal; only the
    // contrary outcome is refused.
    settleWithdrawal: { idempotent: true },
    completeWithdrawalForTest: { idempotent: true },
  },
});
