import { appendOnlyTriggers, type Migration } from '@paygrid/kernel';
import { card_brands } from './types';

// vault_tokens holds one card per row. In the clear: only what a token shows (brand, last four
// digits, expiry, fingerprint) and what finds and decrypts it. The number and the CVC are
// AES-256-GCM ciphertexts under the row's own data key; the data key is stored wrapped by the
// key-encryption key named by kek_id, which lives outside the database. The CVC columns become
// NULL after the authorization, for good.
//
// vault_keys holds the vault's long-lived secrets, wrapped by the KEK like data keys: today
// only the fingerprint key, which must outlive KEK rotations so that fingerprints do not change.
//
// vault_detokenizations records every read of a card in the clear (PCI DSS asks for a trail of
// access to cardholder data). It is append-only, enforced by the database as in identity's
// audit log.
//
// Booleans are INTEGER 0 or 1 in SQLite and BOOLEAN in PostgreSQL; ciphertexts are BLOB and
// BYTEA, both read back as Buffers. `created` is unix seconds, as on the wire.
const tables = (dialect: 'sqlite' | 'postgres') => {
  const sequence = dialect === 'sqlite' ? 'sequence INTEGER PRIMARY KEY AUTOINCREMENT' : 'sequence BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY';
  const boolean = (column: string) => (dialect === 'sqlite' ? `${column} INTEGER NOT NULL CHECK (${column} IN (0, 1))` : `${column} BOOLEAN NOT NULL`);
  const bytes = dialect === 'sqlite' ? 'BLOB' : 'BYTEA';
  const brands = card_brands.map((brand) => `'${brand}'`).join(', ');
  return `
CREATE TABLE vault_tokens (
  ${sequence},
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL,
  ${boolean('livemode')},
  brand TEXT NOT NULL CHECK (brand IN (${brands})),
  last4 TEXT NOT NULL CHECK (length(last4) = 4),
  exp_month INTEGER NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
  exp_year INTEGER NOT NULL,
  fingerprint TEXT NOT NULL,
  ${boolean('used')},
  created BIGINT NOT NULL,
  kek_id TEXT NOT NULL,
  data_key_ciphertext ${bytes} NOT NULL,
  data_key_iv ${bytes} NOT NULL,
  data_key_tag ${bytes} NOT NULL,
  number_ciphertext ${bytes} NOT NULL,
  number_iv ${bytes} NOT NULL,
  number_tag ${bytes} NOT NULL,
  cvc_ciphertext ${bytes},
  cvc_iv ${bytes},
  cvc_tag ${bytes},
  CHECK ((cvc_ciphertext IS NULL AND cvc_iv IS NULL AND cvc_tag IS NULL) OR (cvc_ciphertext IS NOT NULL AND cvc_iv IS NOT NULL AND cvc_tag IS NOT NULL))
);
CREATE INDEX vault_tokens_fingerprint ON vault_tokens (merchant_id, fingerprint);
CREATE INDEX vault_tokens_kek ON vault_tokens (kek_id);
CREATE TABLE vault_keys (
  name TEXT PRIMARY KEY CHECK (name IN ('fingerprint')),
  kek_id TEXT NOT NULL,
  ciphertext ${bytes} NOT NULL,
  iv ${bytes} NOT NULL,
  tag ${bytes} NOT NULL,
  created BIGINT NOT NULL
);
CREATE TABLE vault_detokenizations (
  ${sequence},
  token_id TEXT NOT NULL,
  connector TEXT NOT NULL,
  created BIGINT NOT NULL
);
CREATE INDEX vault_detokenizations_token ON vault_detokenizations (token_id, sequence);
`;
};

const append_only = appendOnlyTriggers('vault_detokenizations');

export const vault_migrations: Migration[] = [
  {
    version: 1,
    name: 'vault tokens, wrapped keys and the detokenization log',
    sqlite: tables('sqlite') + append_only.sqlite,
    postgres: tables('postgres') + append_only.postgres,
  },
  {
    // Who holds a used token: the claimant of its one use (a payment intent and its confirmation),
    // so that a retried confirmation is told apart from a second use.
    version: 2,
    name: 'the claimant of a used token',
    sqlite: 'ALTER TABLE vault_tokens ADD COLUMN used_by TEXT;',
    postgres: 'ALTER TABLE vault_tokens ADD COLUMN used_by TEXT;',
  },
];
