// The payments service's contract: every operation of PaymentsClient, and whether sending it twice
// has the effect of sending it once, for the HTTP client and routes of @paygrid/kernel/rpc.
import { defineServiceContract } from '@paygrid/kernel/rpc';
import type { PaymentsClient } from './types';

/**
 * Operations whose idempotency key is optional: with a key a repeat finds the first call's object
 * (or attempt) and answers it; without one, each call makes a new one.
 */
const keyed = (input: { readonly idempotency_key?: string | undefined }): boolean => input.idempotency_key !== undefined;

export const payments_contract = defineServiceContract<PaymentsClient>()({
  service: 'payments',
  operations: {
    createOrder: { idempotent: false },
    getOrder: { idempotent: true },
    listOrders: { idempotent: true },

    createPaymentIntent: { idempotent: (_tenant, input) => keyed(input) },
    confirmPaymentIntent: { idempotent: (_tenant, _id, input) => keyed(input) },
    // A repeat of a capture or a cancellation that took effect finds the intent moved on and is
    // refused (payment_intent_unexpected_state): no second capture, but not the first answer.
    capturePaymentIntent: { idempotent: false },
    cancelPaymentIntent: { idempotent: false },
    getPaymentIntent: { idempotent: true },
    listPaymentIntents: { idempotent: true },
    listAttempts: { idempotent: true },

    createRefund: { idempotent: (_tenant, input) => keyed(input) },
    getRefund: { idempotent: true },
    listRefunds: { idempotent: true },

    // A second report of the same money finds its intent paid already and holds the money again
    // for review: reported twice, it is counted twice.
    reportIncomingBankTransfer: { idempotent: false },
    listBankTransferReviews: { idempotent: true },

    // Providers send their notifications again until acknowledged; a repeat finds its attempt
    // settled and is acknowledged without any change.
    handleNotification: { idempotent: true },
  },
});
