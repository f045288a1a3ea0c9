// The wallet service's SQL: rows as the database returns them, checked as they cross into the
// domain (a value outside its closed set means the table was written by something else), and the
// statements the service runs. Every function takes the Database to run on, so that the same one
// serves inside and outside a transaction.
import { assert, rowChunks, rowLockClause, selectPage, valuesPlaceholders, type Database, type Page, type PageRequest, type Tenant } from '@paygrid/kernel';
import { isCurrencyCode, type CurrencyCode } from '@paygrid/money';
import {
  operation_statuses,
  operation_types,
  wallet_statuses,
  type OperationStatus,
  type OperationType,
  type SettlementOutcome,
  type WalletStatus,
} from './types';
import type { StoredBankAccount } from './bank-accounts';

export interface WalletRecord {
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean;
  readonly customer: string;
  readonly currency: CurrencyCode;
  readonly status: WalletStatus;
  readonly ledger_account_id: bigint;
  readonly created: number;
}

export interface OperationRecord {
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean;
  readonly type: OperationType;
  readonly source_wallet_id: string | null;
  readonly destination_wallet_id: string | null;
  readonly amount: bigint;
  readonly currency: CurrencyCode;
  readonly description: string | null;
  readonly status: OperationStatus;
  readonly failure_code: string | null;
  readonly idempotency_key: string | null;
  readonly ledger_transfer_id: bigint;
  readonly ledger_result: string | null;
  readonly settlement_outcome: SettlementOutcome | null;
  readonly settlement_failure_code: string | null;
  /** A withdrawal's account, its number sealed (bank-accounts.ts); null for every other type. */
  readonly bank_account: StoredBankAccount | null;
  /** A refund's payment (wpy_…); null for every other type. */
  readonly refunded_payment_id: string | null;
  /** The payment intent (pi_…) that paid for a top-up; null for a simulated deposit and every other type. */
  readonly payment_intent_id: string | null;
  /** A top-up reversal's top-up (tu_…); null for every other type. */
  readonly reversed_top_up_id: string | null;
  /** A top-up restoration's reversal (tur_…); null for every other type. */
  readonly restored_reversal_id: string | null;
  readonly created: number;
  /** Milliseconds; the book-of-record layout's transfers carry it. Legacy rows have `created` × 1000. */
  readonly created_ms: number;
  /** How the operation's transfers are laid out (chart.ts LedgerLayout). */
  readonly ledger_layout: number;
  /** Where the operation's transfer was written from (chart.ts TransferOrigin); 0 for legacy rows. */
  readonly origin: number;
}

export interface LimitsRecord {
  readonly per_transaction_max: bigint | null;
  readonly per_day_max: bigint | null;
  /** Raised by every change of per_day_max; the ledger grants wallets the allowance of the version they follow. */
  readonly day_limit_version: number;
}

interface WalletRow {
  readonly sequence: number;
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean | number;
  readonly customer: string;
  readonly currency: string;
  readonly status: string;
  readonly ledger_account_id: string;
  readonly created: number;
}

interface OperationRow {
  readonly sequence: number;
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean | number;
  readonly type: string;
  readonly source_wallet_id: string | null;
  readonly destination_wallet_id: string | null;
  readonly amount: number;
  readonly currency: string;
  readonly description: string | null;
  readonly status: string;
  readonly failure_code: string | null;
  readonly idempotency_key: string | null;
  readonly ledger_transfer_id: string;
  readonly ledger_result: string | null;
  readonly settlement_outcome: string | null;
  readonly settlement_failure_code: string | null;
  readonly bank_account_holder_name: string | null;
  readonly bank_routing_number: string | null;
  readonly bank_country: string | null;
  readonly bank_kek_id: string | null;
  readonly bank_data_key: unknown;
  readonly bank_account_number_sealed: unknown;
  readonly bank_account_last4: string | null;
  readonly refunded_payment_id: string | null;
  readonly payment_intent_id: string | null;
  readonly reversed_top_up_id: string | null;
  readonly restored_reversal_id: string | null;
  readonly created: number;
  readonly created_ms: number | string | null;
  readonly ledger_layout: number;
  readonly origin: number;
}

function oneOf<const Value extends string>(values: readonly Value[], value: string, what: string): Value {
  const found = values.find((known) => known === value);
  assert(found !== undefined, `${what} "${value}" read from the database is not one this code knows`);
  return found;
}

function currencyFromRow(value: string): CurrencyCode {
  const code = value.toUpperCase();
  assert(isCurrencyCode(code), `currency "${value}" read from the database is not a known currency`);
  return code;
}

function walletFromRow(row: WalletRow): WalletRecord {
  return {
    id: row.id,
    merchant_id: row.merchant_id,
    livemode: row.livemode === true || row.livemode === 1,
    customer: row.customer,
    currency: currencyFromRow(row.currency),
    status: oneOf(wallet_statuses, row.status, 'wallet status'),
    ledger_account_id: BigInt(row.ledger_account_id),
    created: row.created,
  };
}

function bytesFromRow(value: unknown, column: string): Buffer {
  assert(Buffer.isBuffer(value), `column ${column} holds bytes`);
  return value;
}

function bankAccountFromRow(row: OperationRow): StoredBankAccount | null {
  if (row.bank_account_holder_name === null || row.bank_routing_number === null || row.bank_country === null) return null;
  // Numbers left in plain text before migration 7 are sealed at start, before anything reads them.
  assert(row.bank_kek_id !== null && row.bank_account_last4 !== null, `withdrawal ${row.id} has a sealed account number`);
  return {
    account_holder_name: row.bank_account_holder_name,
    routing_number: row.bank_routing_number,
    country: row.bank_country,
    last4: row.bank_account_last4,
    account_number: {
      kek_id: row.bank_kek_id,
      data_key: bytesFromRow(row.bank_data_key, 'bank_data_key'),
      sealed: bytesFromRow(row.bank_account_number_sealed, 'bank_account_number_sealed'),
    },
  };
}

function operationFromRow(row: OperationRow): OperationRecord {
  return {
    id: row.id,
    merchant_id: row.merchant_id,
    livemode: row.livemode === true || row.livemode === 1,
    type: oneOf(operation_types, row.type, 'operation type'),
    source_wallet_id: row.source_wallet_id,
    destination_wallet_id: row.destination_wallet_id,
    // Amounts are within 2^53 - 1 (the ledger's amount_max), so the number read is exact.
    amount: BigInt(row.amount),
    currency: currencyFromRow(row.currency),
    description: row.description,
    status: oneOf(operation_statuses, row.status, 'operation status'),
    failure_code: row.failure_code,
    idempotency_key: row.idempotency_key,
    ledger_transfer_id: BigInt(row.ledger_transfer_id),
    ledger_result: row.ledger_result,
    settlement_outcome: row.settlement_outcome === null ? null : oneOf(['succeeded', 'failed'] as const, row.settlement_outcome, 'settlement outcome'),
    settlement_failure_code: row.settlement_failure_code,
    bank_account: bankAccountFromRow(row),
    refunded_payment_id: row.refunded_payment_id,
    payment_intent_id: row.payment_intent_id,
    reversed_top_up_id: row.reversed_top_up_id,
    restored_reversal_id: row.restored_reversal_id,
    created: row.created,
    created_ms: row.created_ms === null ? row.created * 1_000 : Number(row.created_ms),
    ledger_layout: row.ledger_layout,
    origin: row.origin,
  };
}

const tenant_condition = 'merchant_id = ? AND livemode = ?';

function tenantParams(tenant: Tenant): [string, boolean] {
  return [tenant.merchant_id, tenant.livemode];
}

/** PostgreSQL locks the row for the transaction; SQLite transactions are serialized already. */

// Wallets.

export async function insertWallet(database: Database, wallet: WalletRecord): Promise<void> {
  await database.execute(
    'INSERT INTO wallets (id, merchant_id, livemode, customer, currency, status, ledger_account_id, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    [wallet.id, wallet.merchant_id, wallet.livemode, wallet.customer, wallet.currency.toLowerCase(), wallet.status, wallet.ledger_account_id.toString(), wallet.created],
  );
}

export async function findWallet(database: Database, tenant: Tenant, id: string, options: { lock: boolean } = { lock: false }): Promise<WalletRecord | undefined> {
  const rows = await database.query<WalletRow>(`SELECT * FROM wallets WHERE id = ? AND ${tenant_condition}${options.lock ? rowLockClause(database) : ''}`, [
    id,
    ...tenantParams(tenant),
  ]);
  const row = rows[0];
  return row === undefined ? undefined : walletFromRow(row);
}

/** A wallet by id alone, for internal passes that are not on behalf of a tenant. */
export async function findWalletById(database: Database, id: string): Promise<WalletRecord | undefined> {
  const rows = await database.query<WalletRow>('SELECT * FROM wallets WHERE id = ?', [id]);
  const row = rows[0];
  return row === undefined ? undefined : walletFromRow(row);
}

export async function findWalletOfCustomer(database: Database, tenant: Tenant, customer: string, currency: CurrencyCode): Promise<WalletRecord | undefined> {
  const rows = await database.query<WalletRow>(`SELECT * FROM wallets WHERE ${tenant_condition} AND customer = ? AND currency = ?`, [
    ...tenantParams(tenant),
    customer,
    currency.toLowerCase(),
  ]);
  const row = rows[0];
  return row === undefined ? undefined : walletFromRow(row);
}

export async function listWallets(database: Database, tenant: Tenant, page: PageRequest, customer: string | undefined): Promise<Page<WalletRecord>> {
  const where = customer === undefined ? tenant_condition : `${tenant_condition} AND customer = ?`;
  const params = customer === undefined ? tenantParams(tenant) : [...tenantParams(tenant), customer];
  const listed = await selectPage<WalletRow>(database, { table: 'wallets', where, params, page });
  return { data: listed.data.map(walletFromRow), has_more: listed.has_more };
}

export async function updateWalletStatus(database: Database, id: string, status: WalletStatus): Promise<void> {
  const result = await database.execute('UPDATE wallets SET status = ? WHERE id = ?', [status, id]);
  assert(result.rowCount === 1, 'a wallet locked for update was not there to update');
}

// Operations.

const operation_columns = `id, merchant_id, livemode, type, source_wallet_id, destination_wallet_id, amount, currency, description,
  status, failure_code, idempotency_key, ledger_transfer_id, ledger_result, settlement_outcome, settlement_failure_code,
  bank_account_holder_name, bank_routing_number, bank_country, bank_kek_id, bank_data_key, bank_account_number_sealed, bank_account_last4,
  refunded_payment_id, payment_intent_id, reversed_top_up_id, restored_reversal_id, created, created_ms, ledger_layout, origin`;
const operation_column_count = 31;

function operationValues(operation: OperationRecord): unknown[] {
  return [
    operation.id,
    operation.merchant_id,
    operation.livemode,
    operation.type,
    operation.source_wallet_id,
    operation.destination_wallet_id,
    operation.amount,
    operation.currency.toLowerCase(),
    operation.description,
    operation.status,
    operation.failure_code,
    operation.idempotency_key,
    operation.ledger_transfer_id.toString(),
    operation.ledger_result,
    operation.settlement_outcome,
    operation.settlement_failure_code,
    operation.bank_account?.account_holder_name ?? null,
    operation.bank_account?.routing_number ?? null,
    operation.bank_account?.country ?? null,
    operation.bank_account?.account_number.kek_id ?? null,
    operation.bank_account?.account_number.data_key ?? null,
    operation.bank_account?.account_number.sealed ?? null,
    operation.bank_account?.last4 ?? null,
    operation.refunded_payment_id,
    operation.payment_intent_id,
    operation.reversed_top_up_id,
    operation.restored_reversal_id,
    operation.created,
    operation.created_ms,
    operation.ledger_layout,
    operation.origin,
  ];
}

export async function insertOperation(database: Database, operation: OperationRecord): Promise<void> {
  await database.execute(`INSERT INTO wallet_operations (${operation_columns}) VALUES ${valuesPlaceholders(1, operation_column_count)}`, operationValues(operation));
}

/**
 * Inserts operations that are not there yet, in one statement, and returns the ids it inserted:
 * the projection and the rebuild from the ledger may both write an operation, and only the first
 * write counts (its event is written with it).
 */
export async function insertOperationsIfAbsent(database: Database, operations: readonly OperationRecord[]): Promise<Set<string>> {
  const inserted = new Set<string>();
  for (const chunk of rowChunks(operations)) {
    const rows = await database.query<{ id: string }>(
      `INSERT INTO wallet_operations (${operation_columns}) VALUES ${valuesPlaceholders(chunk.length, operation_column_count)} ON CONFLICT DO NOTHING RETURNING id`,
      chunk.flatMap(operationValues),
    );
    for (const row of rows) inserted.add(row.id);
  }
  return inserted;
}

/** An operation inside the tenant, of one type when `type` is given. */
export async function findOperation(database: Database, tenant: Tenant, id: string, type?: OperationType): Promise<OperationRecord | undefined> {
  const rows = await database.query<OperationRow>(
    `SELECT * FROM wallet_operations WHERE id = ? AND ${tenant_condition}${type === undefined ? '' : ' AND type = ?'}`,
    type === undefined ? [id, ...tenantParams(tenant)] : [id, ...tenantParams(tenant), type],
  );
  const row = rows[0];
  return row === undefined ? undefined : operationFromRow(row);
}

/** An operation by id alone, for internal callers (the bank's notifications and recovery). */
export async function findOperationById(database: Database, id: string, options: { lock: boolean } = { lock: false }): Promise<OperationRecord | undefined> {
  const rows = await database.query<OperationRow>(`SELECT * FROM wallet_operations WHERE id = ?${options.lock ? rowLockClause(database) : ''}`, [id]);
  const row = rows[0];
  return row === undefined ? undefined : operationFromRow(row);
}

export async function findOperationByIdempotencyKey(database: Database, tenant: Tenant, key: string): Promise<OperationRecord | undefined> {
  const rows = await database.query<OperationRow>(`SELECT * FROM wallet_operations WHERE ${tenant_condition} AND idempotency_key = ?`, [
    ...tenantParams(tenant),
    key,
  ]);
  const row = rows[0];
  return row === undefined ? undefined : operationFromRow(row);
}

export async function listOperationsOfType(database: Database, tenant: Tenant, type: OperationType, page: PageRequest): Promise<Page<OperationRecord>> {
  const listed = await selectPage<OperationRow>(database, {
    table: 'wallet_operations',
    where: `${tenant_condition} AND type = ?`,
    params: [...tenantParams(tenant), type],
    page,
  });
  return { data: listed.data.map(operationFromRow), has_more: listed.has_more };
}

/** Every operation that touches the wallet, as source or destination, newest first. */
export async function listOperationsOfWallet(database: Database, tenant: Tenant, wallet_id: string, page: PageRequest): Promise<Page<OperationRecord>> {
  const listed = await selectPage<OperationRow>(database, {
    table: 'wallet_operations',
    where: `${tenant_condition} AND (source_wallet_id = ? OR destination_wallet_id = ?)`,
    params: [...tenantParams(tenant), wallet_id, wallet_id],
    page,
  });
  return { data: listed.data.map(operationFromRow), has_more: listed.has_more };
}

/** What has been refunded of a wallet payment, counting refunds still pending. */
export async function sumRefundsOfPayment(database: Database, payment_id: string): Promise<bigint> {
  const rows = await database.query<{ total: string }>(
    `SELECT CAST(COALESCE(SUM(amount), 0) AS TEXT) AS total FROM wallet_operations
     WHERE refunded_payment_id = ? AND type = 'refund' AND status IN ('pending', 'succeeded')`,
    [payment_id],
  );
  return BigInt(rows[0]?.total ?? '0');
}

/**
 * What has been taken back of a top-up, counting reversals still pending. A reversal whose money a
 * succeeded restoration put back no longer counts (a restoration returns its reversal's whole
 * amount); one whose restoration is still pending does, so the total is never understated.
 */
export async function sumReversalsOfTopUp(database: Database, top_up_id: string): Promise<bigint> {
  const rows = await database.query<{ total: string }>(
    `SELECT CAST(COALESCE(SUM(reversal.amount), 0) AS TEXT) AS total FROM wallet_operations reversal
     WHERE reversal.reversed_top_up_id = ? AND reversal.type = 'top_up_reversal' AND reversal.status IN ('pending', 'succeeded')
       AND NOT EXISTS (
         SELECT 1 FROM wallet_operations restoration
         WHERE restoration.restored_reversal_id = reversal.id AND restoration.type = 'top_up_restoration' AND restoration.status = 'succeeded'
       )`,
    [top_up_id],
  );
  return BigInt(rows[0]?.total ?? '0');
}

/** The restoration of a reversal that is pending or succeeded, if there is one: a reversal is restored once. */
export async function findRestorationOfReversal(database: Database, reversal_id: string): Promise<OperationRecord | undefined> {
  const rows = await database.query<OperationRow>(
    "SELECT * FROM wallet_operations WHERE restored_reversal_id = ? AND type = 'top_up_restoration' AND status IN ('pending', 'succeeded') ORDER BY sequence LIMIT 1",
    [reversal_id],
  );
  const row = rows[0];
  return row === undefined ? undefined : operationFromRow(row);
}

/**
 * Records the ledger's answer to an operation's chain, once: the saga runner fences the holder that
 * writes it, and a row that has an answer already keeps it. Returns whether it was written.
 */
export async function recordLedgerAnswer(
  database: Database,
  id: string,
  fields: { ledger_result: string; status: OperationStatus; failure_code: string | null },
): Promise<boolean> {
  const result = await database.execute(
    `UPDATE wallet_operations SET ledger_result = ?, status = ?, failure_code = ?
     WHERE id = ? AND status = 'pending' AND ledger_result IS NULL`,
    [fields.ledger_result, fields.status, fields.failure_code, id],
  );
  return result.rowCount === 1;
}

export async function recordSettlementIntent(
  database: Database,
  id: string,
  outcome: SettlementOutcome,
  failure_code: string | null,
): Promise<void> {
  const result = await database.execute(
    "UPDATE wallet_operations SET settlement_outcome = ?, settlement_failure_code = ? WHERE id = ? AND status = 'pending' AND settlement_outcome IS NULL",
    [outcome, failure_code, id],
  );
  assert(result.rowCount === 1, 'a withdrawal locked for settlement changed under the lock');
}

/** Ends a pending operation. Returns whether this call ended it (false: it had ended already). */
export async function finishOperation(database: Database, id: string, status: Exclude<OperationStatus, 'pending'>, failure_code: string | null): Promise<boolean> {
  const result = await database.execute("UPDATE wallet_operations SET status = ?, failure_code = ? WHERE id = ? AND status = 'pending'", [status, failure_code, id]);
  return result.rowCount === 1;
}

export async function insertStep(
  database: Database,
  step: { operation_id: string; from_status: OperationStatus | null; to_status: OperationStatus; reason: string; created_ms: number },
): Promise<void> {
  await database.execute('INSERT INTO wallet_operation_steps (operation_id, from_status, to_status, reason, created_ms) VALUES (?, ?, ?, ?, ?)', [
    step.operation_id,
    step.from_status,
    step.to_status,
    step.reason,
    step.created_ms,
  ]);
}

/** Appends several history steps in one statement. */
export async function insertSteps(
  database: Database,
  steps: readonly { operation_id: string; from_status: OperationStatus | null; to_status: OperationStatus; reason: string; created_ms: number }[],
): Promise<void> {
  for (const chunk of rowChunks(steps)) {
    await database.execute(
      `INSERT INTO wallet_operation_steps (operation_id, from_status, to_status, reason, created_ms) VALUES ${valuesPlaceholders(chunk.length, 5)}`,
      chunk.flatMap((step) => [step.operation_id, step.from_status, step.to_status, step.reason, step.created_ms]),
    );
  }
}

export interface StepRecord {
  readonly from_status: string | null;
  readonly to_status: string;
  readonly reason: string;
}

export async function listSteps(database: Database, operation_id: string): Promise<StepRecord[]> {
  return database.query<StepRecord>('SELECT from_status, to_status, reason FROM wallet_operation_steps WHERE operation_id = ? ORDER BY sequence', [
    operation_id,
  ]);
}

// Limits.

export async function findLimits(database: Database, tenant: Tenant, currency: CurrencyCode): Promise<LimitsRecord> {
  const rows = await database.query<{ per_transaction_max: number | null; per_day_max: number | null; day_limit_version: number }>(
    `SELECT per_transaction_max, per_day_max, day_limit_version FROM wallet_limits WHERE ${tenant_condition} AND currency = ?`,
    [...tenantParams(tenant), currency.toLowerCase()],
  );
  const row = rows[0];
  return {
    per_transaction_max: row?.per_transaction_max === undefined || row.per_transaction_max === null ? null : BigInt(row.per_transaction_max),
    per_day_max: row?.per_day_max === undefined || row.per_day_max === null ? null : BigInt(row.per_day_max),
    day_limit_version: row?.day_limit_version ?? 0,
  };
}

export async function saveLimits(database: Database, tenant: Tenant, currency: CurrencyCode, limits: LimitsRecord, now_ms: number): Promise<void> {
  await database.execute(
    `INSERT INTO wallet_limits (merchant_id, livemode, currency, per_transaction_max, per_day_max, day_limit_version, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (merchant_id, livemode, currency) DO UPDATE SET
       per_transaction_max = excluded.per_transaction_max, per_day_max = excluded.per_day_max,
       day_limit_version = excluded.day_limit_version, updated_ms = excluded.updated_ms`,
    [...tenantParams(tenant), currency.toLowerCase(), limits.per_transaction_max, limits.per_day_max, limits.day_limit_version, now_ms],
  );
}

// Wallets by ledger account, for rebuilding operations from the ledger.

export async function findWalletsByLedgerAccounts(database: Database, account_ids: readonly bigint[]): Promise<Map<bigint, WalletRecord>> {
  const found = new Map<bigint, WalletRecord>();
  if (account_ids.length === 0) return found;
  const rows = await database.query<WalletRow>(`SELECT * FROM wallets WHERE ledger_account_id IN (${account_ids.map(() => '?').join(', ')})`, account_ids.map(String));
  for (const row of rows) {
    const wallet = walletFromRow(row);
    found.set(wallet.ledger_account_id, wallet);
  }
  return found;
}

// Projection cursors: what each wallet instance has written of what it answered.

export interface ProjectionCursor {
  readonly instance_id: string;
  /** The transfer of the last operation the instance wrote; everything it answered before is written. */
  readonly last_transfer_id: bigint;
  readonly heartbeat_ms: number;
}

export async function saveProjectionCursor(database: Database, cursor: ProjectionCursor): Promise<void> {
  await database.execute(
    `INSERT INTO wallet_projection_cursors (instance_id, last_transfer_id, heartbeat_ms) VALUES (?, ?, ?)
     ON CONFLICT (instance_id) DO UPDATE SET last_transfer_id = excluded.last_transfer_id, heartbeat_ms = excluded.heartbeat_ms`,
    [cursor.instance_id, cursor.last_transfer_id.toString(), cursor.heartbeat_ms],
  );
}

export async function touchProjectionCursor(database: Database, instance_id: string, heartbeat_ms: number): Promise<void> {
  await database.execute('UPDATE wallet_projection_cursors SET heartbeat_ms = ? WHERE instance_id = ?', [heartbeat_ms, instance_id]);
}

export async function listProjectionCursors(database: Database): Promise<ProjectionCursor[]> {
  const rows = await database.query<{ instance_id: string; last_transfer_id: string; heartbeat_ms: number }>(
    'SELECT instance_id, last_transfer_id, heartbeat_ms FROM wallet_projection_cursors ORDER BY instance_id',
  );
  return rows.map((row) => ({ instance_id: row.instance_id, last_transfer_id: BigInt(row.last_transfer_id), heartbeat_ms: Number(row.heartbeat_ms) }));
}

export async function deleteProjectionCursor(database: Database, instance_id: string): Promise<void> {
  await database.execute('DELETE FROM wallet_projection_cursors WHERE instance_id = ?', [instance_id]);
}
