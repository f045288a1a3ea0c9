// Rows as the database returns them, and their wire shapes. Rows are checked as they cross
// the boundary: a value outside its closed set means the table was written by something else.
import { assert } from '@paygrid/kernel';
import { card_number_guard_exemptable_fields, type CardNumberGuardExemptField } from './browser-settings';
import {
  actor_types,
  api_key_types,
  audit_actions,
  audit_target_types,
  kyc_statuses,
  merchant_statuses,
  type ApiKey,
  type AuditEvent,
  type Customer,
  type Merchant,
  type Operator,
} from './types';

/** A row as selectPage reads it: with the sequence it orders by. */
export type Listed<Row> = Row & { readonly sequence: number };

export interface OperatorRow {
  readonly id: string;
  readonly name: string;
  readonly email: string | null;
  readonly created: number;
}

export interface MerchantRow {
  readonly id: string;
  readonly name: string;
  readonly email: string | null;
  readonly status: string;
  readonly kyc_status: string;
  readonly signing_required: boolean | number;
  /** JSON arrays of strings (migration 3). */
  readonly allowed_origins: string;
  readonly card_number_guard_exempt_fields: string;
  readonly created: number;
}

/**
 * A merchant's signing secrets as stored: sealed (signing-secrets.ts), and, until the start-up
 * step seals them, the plain text of rows written before version 2 (signing_kek_id NULL).
 */
export interface SigningSecretsRow {
  readonly signing_kek_id: string | null;
  readonly signing_data_key: unknown;
  readonly signing_secret_sealed: unknown;
  readonly signing_secret_previous_sealed: unknown;
  readonly signing_secret_previous_expires_at_ms: number | null;
}

/** BLOB and BYTEA both read as Buffers, and NULL as null. */
export function bytesFromDatabase(value: unknown, column: string): Buffer {
  assert(Buffer.isBuffer(value), `column ${column} holds bytes`);
  return value;
}

export function optionalBytesFromDatabase(value: unknown, column: string): Buffer | null {
  return value === null ? null : bytesFromDatabase(value, column);
}

export interface ApiKeyRow {
  readonly id: string;
  readonly merchant_id: string;
  readonly type: string;
  readonly livemode: boolean | number;
  readonly redacted: string;
  readonly created: number;
  readonly expires_at_ms: number | null;
  readonly revoked_at_ms: number | null;
}

export interface CustomerRow {
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean | number;
  readonly name: string | null;
  readonly email: string | null;
  readonly description: string | null;
  readonly created: number;
}

export interface AuditEventRow {
  readonly id: string;
  readonly actor_type: string;
  readonly actor_id: string;
  readonly action: string;
  readonly target_type: string;
  readonly target_id: string;
  readonly data: string;
  readonly created: number;
}

/** SQLite reads a boolean column as 0 or 1, PostgreSQL as false or true. */
export function booleanFromDatabase(value: boolean | number, column: string): boolean {
  assert(value === true || value === false || value === 0 || value === 1, `column ${column} holds a non-boolean`);
  return value === true || value === 1;
}

function oneOf<Value extends string>(value: string, allowed: readonly Value[], column: string): Value {
  const found = allowed.find((candidate) => candidate === value);
  assert(found !== undefined, `column ${column} holds '${value}', outside its closed set`);
  return found;
}

/** Wire timestamps are whole unix seconds. */
export function secondsFromMilliseconds(milliseconds: number): number {
  return Math.floor(milliseconds / 1000);
}

export function operatorFromRow(row: OperatorRow): Operator {
  return { id: row.id, object: 'operator', name: row.name, email: row.email, created: row.created };
}

/** A JSON array of strings, as the service writes it. */
function stringsFromDatabase(value: string, column: string): string[] {
  const parsed: unknown = JSON.parse(value);
  assert(Array.isArray(parsed), `column ${column} holds a JSON array`);
  const strings: string[] = [];
  for (const item of parsed as unknown[]) {
    assert(typeof item === 'string', `column ${column} holds only strings`);
    strings.push(item);
  }
  return strings;
}

export function merchantFromRow(row: MerchantRow): Merchant {
  return {
    id: row.id,
    object: 'merchant',
    name: row.name,
    email: row.email,
    status: oneOf(row.status, merchant_statuses, 'status'),
    kyc_status: oneOf(row.kyc_status, kyc_statuses, 'kyc_status'),
    signing_required: booleanFromDatabase(row.signing_required, 'signing_required'),
    allowed_origins: stringsFromDatabase(row.allowed_origins, 'allowed_origins'),
    card_number_guard_exempt_fields: stringsFromDatabase(row.card_number_guard_exempt_fields, 'card_number_guard_exempt_fields').map(
      (field): CardNumberGuardExemptField => oneOf(field, card_number_guard_exemptable_fields, 'card_number_guard_exempt_fields'),
    ),
    created: row.created,
  };
}

export function apiKeyFromRow(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    object: 'api_key',
    merchant: row.merchant_id,
    type: oneOf(row.type, api_key_types, 'type'),
    livemode: booleanFromDatabase(row.livemode, 'livemode'),
    redacted: row.redacted,
    created: row.created,
    expires_at: row.expires_at_ms === null ? null : secondsFromMilliseconds(row.expires_at_ms),
    revoked_at: row.revoked_at_ms === null ? null : secondsFromMilliseconds(row.revoked_at_ms),
  };
}

export function customerFromRow(row: CustomerRow): Customer {
  return {
    id: row.id,
    object: 'customer',
    name: row.name,
    email: row.email,
    description: row.description,
    created: row.created,
    livemode: booleanFromDatabase(row.livemode, 'livemode'),
  };
}

export function auditEventFromRow(row: AuditEventRow): AuditEvent {
  const data: unknown = JSON.parse(row.data);
  assert(typeof data === 'object' && data !== null && !Array.isArray(data), 'audit event data is a JSON object');
  return {
    id: row.id,
    object: 'audit_event',
    actor: { type: oneOf(row.actor_type, actor_types, 'actor_type'), id: row.actor_id },
    action: oneOf(row.action, audit_actions, 'action'),
    target: { type: oneOf(row.target_type, audit_target_types, 'target_type'), id: row.target_id },
    data: data as Record<string, unknown>,
    created: row.created,
  };
}
