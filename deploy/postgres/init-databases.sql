-- Runs once, when the PostgreSQL volume of deploy/compose.yaml is first created: one database per
-- Paygrid service, each owned by the `paygrid` role (POSTGRES_USER), so that no service can read
-- another's tables. Each service then keeps its tables in its own schema (paygrid_<service>) there.
-- The gateway keeps nothing in PostgreSQL.
CREATE DATABASE paygrid_ledger;
CREATE DATABASE paygrid_identity;
CREATE DATABASE paygrid_vault;
CREATE DATABASE paygrid_webhooks;
CREATE DATABASE paygrid_wallet;
CREATE DATABASE paygrid_payments;
