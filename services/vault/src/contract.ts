// The vault's contract: every operation of VaultClient, and whether sending it twice has the
// effect of sending it once, for the HTTP client and routes of @paygrid/kernel/rpc.
import { defineServiceContract } from '@paygrid/kernel/rpc';
import type { VaultClient } from './types';

export const vault_contract = defineServiceContract<VaultClient>()({
  service: 'vault',
  operations: {
    // Every call makes a new token for the card: sent twice, it makes two.
    createToken: { idempotent: false },
    getToken: { idempotent: true },
    // A read of the card. Each call appends a row to the access log, which then truthfully records
    // that the card was read twice; the card given back is the same.
    detokenize: { idempotent: true },
    // Erasing an erased CVC changes nothing and answers the same.
    eraseCvc: { idempotent: true },
    // De-duplicated by the claimant: a repeat finds the token held by the same claimant and
    // answers `held` instead of `claimed`, with nothing changed.
    claimToken: { idempotent: true },
    // Frees the token only while the claimant holds it; a repeat finds it free and does nothing.
    releaseToken: { idempotent: true },
  },
});
