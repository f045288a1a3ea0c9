import { appendOnlyTriggers, type Migration } from '@paygrid/kernel';

// Every listed table has an `id` (TEXT, unique) and a `sequence` that grows with each insert:
// the kernel's selectPage lists newest first by sequence.
//
// Booleans are INTEGER 0 or 1 in SQLite and BOOLEAN in PostgreSQL; the port passes a JS boolean
// to either. `created` is unix seconds, as on the wire. Expiry and revocation times are kept in
// milliseconds, so that a grace period ends exactly when it should rather than up to a second
// early; the wire shows them in seconds.
//
// Only the SHA-256 of an API key or operator key is stored (see hashSecret). The merchant's
// signing secret was stored as it is in version 1, because the gateway needs it to check request
// HMACs; version 2 seals it (see signing_secrets_sealed below).
const tables = (dialect: 'sqlite' | 'postgres') => {
  const sequence = dialect === 'sqlite' ? 'sequence INTEGER PRIMARY KEY AUTOINCREMENT' : 'sequence BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY';
  const boolean = (column: string) => (dialect === 'sqlite' ? `${column} INTEGER NOT NULL CHECK (${column} IN (0, 1))` : `${column} BOOLEAN NOT NULL`);
  const now_seconds = dialect === 'sqlite' ? "CAST(strftime('%s', 'now') AS INTEGER)" : 'CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)';
  return `
CREATE TABLE identity_operators (
  ${sequence},
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  email TEXT,
  secret_hash TEXT UNIQUE,
  created BIGINT NOT NULL
);
CREATE TABLE identity_merchants (
  ${sequence},
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  email TEXT,
  status TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
  kyc_status TEXT NOT NULL CHECK (kyc_status IN ('pending', 'verified', 'rejected')),
  ${boolean('signing_required')},
  signing_secret TEXT NOT NULL,
  signing_secret_previous TEXT,
  signing_secret_previous_expires_at_ms BIGINT,
  created BIGINT NOT NULL
);
CREATE TABLE identity_api_keys (
  ${sequence},
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL REFERENCES identity_merchants (id),
  type TEXT NOT NULL CHECK (type IN ('secret', 'publishable')),
  ${boolean('livemode')},
  secret_hash TEXT NOT NULL UNIQUE,
  redacted TEXT NOT NULL,
  created BIGINT NOT NULL,
  expires_at_ms BIGINT,
  revoked_at_ms BIGINT
);
CREATE INDEX identity_api_keys_merchant ON identity_api_keys (merchant_id, sequence);
CREATE TABLE identity_customers (
  ${sequence},
  id TEXT NOT NULL UNIQUE,
  merchant_id TEXT NOT NULL REFERENCES identity_merchants (id),
  ${boolean('livemode')},
  name TEXT,
  email TEXT,
  description TEXT,
  created BIGINT NOT NULL
);
CREATE INDEX identity_customers_tenant ON identity_customers (merchant_id, livemode, sequence);
CREATE TABLE identity_audit_events (
  ${sequence},
  id TEXT NOT NULL UNIQUE,
  actor_type TEXT NOT NULL CHECK (actor_type IN ('operator', 'merchant', 'system')),
  actor_id TEXT NOT NULL,
  action TEXT NOT NULL,
  target_type TEXT NOT NULL,
  target_id TEXT NOT NULL,
  data TEXT NOT NULL,
  created BIGINT NOT NULL
);
CREATE INDEX identity_audit_events_target ON identity_audit_events (target_id, sequence);
CREATE INDEX identity_audit_events_actor ON identity_audit_events (actor_id, sequence);
INSERT INTO identity_operators (id, name, email, secret_hash, created) VALUES ('op_root', 'root', NULL, NULL, ${now_seconds});
INSERT INTO identity_audit_events (id, actor_type, actor_id, action, target_type, target_id, data, created)
  VALUES ('aev_root_operator', 'system', 'identity_migrations', 'operator.created', 'operator', 'op_root', '{"name":"root"}', ${now_seconds});
`;
};

// A merchant's browser settings (browser-settings.ts): the origins allowed to call publishable-key
// routes, and the request fields exempt from the card-number guard. Each is a short bounded list,
// read with the merchant on every authentication, so it is kept as a JSON array in the merchant's
// row rather than in a table of its own that every request would have to join. The same SQL
// serves both dialects.
const browser_settings = `
ALTER TABLE identity_merchants ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '[]';
ALTER TABLE identity_merchants ADD COLUMN card_number_guard_exempt_fields TEXT NOT NULL DEFAULT '[]';
`;

// The audit log is append-only: no code path updates or deletes its rows, and the database
// refuses it too, so that a bug, a hand-typed statement or a compromised service cannot quietly
// rewrite history. (Whoever owns the schema can still drop the triggers; that is itself visible
// and is the job of database permissions and backups.)
const append_only = appendOnlyTriggers('identity_audit_events');

// Version 2: signing secrets sealed with envelope encryption (signing-secrets.ts). Each merchant
// gets a data key, stored wrapped by the key-encryption key named in signing_kek_id (indexed, so
// that a rotation can count what is left); the current and previous secrets are sealed under it.
// SQL cannot encrypt, so the plain-text columns are emptied by a step the platform runs at every
// start (IdentityService.sealLegacySigningSecrets), which seals what it finds and leaves '' and
// NULL behind. The plain-text columns stay because SQLite can only drop NOT NULL by rebuilding
// the table, and the customers' and keys' foreign keys forbid that inside a migration's
// transaction; triggers make sure nothing but '' and NULL is ever written to them again, and that
// every new merchant arrives sealed, whatever code writes the row.
const sealed_signing_secrets_columns = (bytes: 'BLOB' | 'BYTEA') =>
  ['signing_kek_id TEXT', `signing_data_key ${bytes}`, `signing_secret_sealed ${bytes}`, `signing_secret_previous_sealed ${bytes}`];
const plain_text_refused = 'identity_merchants keeps signing secrets sealed, never in plain text';
const unsealed_row = `NEW.signing_secret <> '' OR NEW.signing_secret_previous IS NOT NULL OR NEW.signing_kek_id IS NULL OR NEW.signing_data_key IS NULL OR NEW.signing_secret_sealed IS NULL`;
const sealed_columns_list = 'signing_secret, signing_secret_previous, signing_kek_id, signing_data_key, signing_secret_sealed, signing_secret_previous_sealed';

const signing_secrets_sealed = {
  sqlite: `
${sealed_signing_secrets_columns('BLOB').map((column) => `ALTER TABLE identity_merchants ADD COLUMN ${column};`).join('\n')}
CREATE INDEX identity_merchants_signing_kek ON identity_merchants (signing_kek_id);
CREATE TRIGGER identity_merchants_sealed_insert BEFORE INSERT ON identity_merchants
  WHEN ${unsealed_row}
BEGIN
  SELECT RAISE(ABORT, '${plain_text_refused}');
END;
CREATE TRIGGER identity_merchants_sealed_update BEFORE UPDATE OF ${sealed_columns_list} ON identity_merchants
  WHEN ${unsealed_row}
BEGIN
  SELECT RAISE(ABORT, '${plain_text_refused}');
END;
`,
  postgres: `
ALTER TABLE identity_merchants ${sealed_signing_secrets_columns('BYTEA').map((column) => `ADD COLUMN ${column}`).join(', ')};
CREATE INDEX identity_merchants_signing_kek ON identity_merchants (signing_kek_id);
CREATE FUNCTION identity_merchants_refuse_unsealed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF ${unsealed_row} THEN
    RAISE EXCEPTION '${plain_text_refused}' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER identity_merchants_sealed_insert BEFORE INSERT ON identity_merchants
  FOR EACH ROW EXECUTE FUNCTION identity_merchants_refuse_unsealed();
CREATE TRIGGER identity_merchants_sealed_update BEFORE UPDATE OF ${sealed_columns_list} ON identity_merchants
  FOR EACH ROW EXECUTE FUNCTION identity_merchants_refuse_unsealed();
`,
};

export const identity_migrations: Migration[] = [
  {
    version: 1,
    name: 'identity tables, root operator and append-only audit log',
    sqlite: tables('sqlite') + append_only.sqlite,
    postgres: tables('postgres') + append_only.postgres,
  },
  {
    version: 2,
    name: 'signing secrets sealed under a data key wrapped by the key-encryption key',
    sqlite: signing_secrets_sealed.sqlite,
    postgres: signing_secrets_sealed.postgres,
  },
  {
    version: 3,
    name: 'merchant allowed origins and card-number guard exemptions',
    sqlite: browser_settings,
    postgres: browser_settings,
  },
];
