// The identity service's contract: every operation of IdentityClient, and whether sending it twice
// has the effect of sending it once, for the HTTP client and routes of @paygrid/kernel/rpc.
import { defineServiceContract } from '@paygrid/kernel/rpc';
import type { IdentityClient } from './types';

export const identity_contract = defineServiceContract<IdentityClient>()({
  service: 'identity',
  operations: {
    // Each creation makes a new object with a new secret: sent twice, it makes two.
    createOperator: { idempotent: false },
    getOperator: { idempotent: true },
    authenticateOperator: { idempotent: true },

    createMerchant: { idempotent: false },
    getMerchant: { idempotent: true },
    listMerchants: { idempotent: true },
    // The patch sets fields to values: a repeat finds them set, changes nothing, writes no audit
    // event and answers the same merchant.
    updateMerchant: { idempotent: true },

    createApiKey: { idempotent: false },
    listApiKeys: { idempotent: true },
    // A roll makes a new key or secret each time, and a second revocation is refused
    // (api_key_inactive) although the first one took effect.
    rollApiKey: { idempotent: false },
    revokeApiKey: { idempotent: false },
    rollSigningSecret: { idempotent: false },
    // A lookup by the key's hash; it writes nothing.
    authenticate: { idempotent: true },

    createCustomer: { idempotent: false },
    getCustomer: { idempotent: true },
    listCustomers: { idempotent: true },
    customerExists: { idempotent: true },

    listAuditEvents: { idempotent: true },
  },
});
