// The payments service's SQL: rows as the database returns them, checked as they cross into the
// domain (a value outside its closed set means the table was written by something else), and the
// statements the service runs. Every function takes the Database to run on, so that the same one
// serves inside and outside a transaction.
import type { NextAction } from '@paygrid/connectors';
import { assert, rowLockClause, selectPage, type Database, type Page, type PageRequest, type Tenant } from '@paygrid/kernel';
import { isCurrencyCode, type CurrencyCode } from '@paygrid/money';
import {
  attempt_operations,
  attempt_statuses,
  capture_methods,
  intent_statuses,
  order_statuses,
  refund_statuses,
  review_reasons,
  type AttemptOperation,
  type AttemptStatus,
  type CancellationReason,
  type CaptureMethod,
  type IntentStatus,
  type LineItem,
  type OrderStatus,
  type PaymentError,
  type PaymentEventType,
  type PaymentMethodInput,
  type RefundStatus,
  type ReviewReason,
} from './types';
import type { PaymentMethodType } from '@paygrid/connectors';
import { LedgerChart } from './chart';

export interface OrderRecord {
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean;
  readonly currency: CurrencyCode;
  readonly line_items: readonly LineItem[];
  readonly amount_total: bigint;
  readonly merchant_reference: string | null;
  readonly status: OrderStatus;
  readonly version: number;
  readonly created: number;
}

export interface IntentRecord {
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean;
  readonly amount: bigint;
  readonly currency: CurrencyCode;
  readonly capture_method: CaptureMethod;
  readonly status: IntentStatus;
  readonly order_id: string | null;
  readonly description: string | null;
  readonly payment_method_type: PaymentMethodType | null;
  readonly next_action: NextAction | null;
  readonly last_payment_error: PaymentError | null;
  readonly cancellation_reason: CancellationReason | null;
  readonly amount_capturable: bigint;
  readonly amount_received: bigint;
  readonly amount_refunded: bigint;
  readonly capture_before_ms: number | null;
  readonly bank_transfer_reference: string | null;
  readonly authorization_attempt_id: string | null;
  readonly provider_reference: string | null;
  readonly idempotency_key: string | null;
  /** The wallet a top-up intent's captured money goes to; null for an ordinary payment. */
  readonly top_up_wallet_id: string | null;
  /** The wallet's top-up, once the `top_up` attempt has put the money there. */
  readonly top_up_id: string | null;
  /** Which platform-side accounts the intent's ledger transfers use (chart.ts, decision 67). */
  readonly ledger_chart: LedgerChart;
  readonly version: number;
  readonly created: number;
}

export interface AttemptRecord {
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean;
  readonly intent_id: string;
  readonly refund_id: string | null;
  readonly operation: AttemptOperation;
  readonly status: AttemptStatus;
  readonly amount: bigint;
  readonly payment_method: PaymentMethodInput | null;
  readonly return_url: string | null;
  readonly waiting: boolean;
  readonly provider_reference: string | null;
  /** What the provider took, when an authorization captured at once (or a notification said so). */
  readonly amount_captured: bigint | null;
  readonly error: PaymentError | null;
  /** The answer's consequences (ledger transfers, statuses, events) are all done. */
  readonly applied: boolean;
  readonly confirm_idempotency_key: string | null;
  readonly created: number;
}

export interface RefundRecord {
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean;
  readonly intent_id: string;
  readonly amount: bigint;
  readonly currency: CurrencyCode;
  readonly status: RefundStatus;
  readonly failure_reason: string | null;
  readonly attempt_id: string;
  readonly idempotency_key: string | null;
  readonly version: number;
  readonly created: number;
}

export interface ReviewRecord {
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean;
  readonly reason: ReviewReason;
  readonly reference: string;
  readonly amount: bigint;
  readonly currency: CurrencyCode;
  readonly intent_id: string | null;
  readonly created: number;
}

export interface EventRecord {
  readonly sequence: number;
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: boolean;
  readonly type: PaymentEventType;
  readonly object_id: string;
  readonly object_version: number;
  /** The object's wire form, encoded by encodeJson. */
  readonly data: string;
  readonly created: number;
  readonly published_ms: number | null;
  /** The W3C traceparent of the span the event was written in; null with tracing off. */
  readonly traceparent: string | null;
}

type Bool = boolean | number;

interface OrderRow {
  readonly sequence: number;
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: Bool;
  readonly currency: string;
  readonly line_items: string;
  readonly amount_total: number;
  readonly merchant_reference: string | null;
  readonly status: string;
  readonly version: number;
  readonly created: number;
}

interface IntentRow {
  readonly sequence: number;
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: Bool;
  readonly amount: number;
  readonly currency: string;
  readonly capture_method: string;
  readonly status: string;
  readonly order_id: string | null;
  readonly description: string | null;
  readonly payment_method_type: string | null;
  readonly next_action: string | null;
  readonly last_payment_error_code: string | null;
  readonly last_payment_error_message: string | null;
  readonly cancellation_reason: string | null;
  readonly amount_capturable: number;
  readonly amount_received: number;
  readonly amount_refunded: number;
  readonly capture_before_ms: number | null;
  readonly bank_transfer_reference: string | null;
  readonly authorization_attempt_id: string | null;
  readonly provider_reference: string | null;
  readonly idempotency_key: string | null;
  readonly top_up_wallet_id: string | null;
  readonly top_up_id: string | null;
  readonly ledger_chart: number;
  readonly version: number;
  readonly created: number;
}

interface AttemptRow {
  readonly sequence: number;
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: Bool;
  readonly intent_id: string;
  readonly refund_id: string | null;
  readonly operation: string;
  readonly status: string;
  readonly amount: number;
  readonly payment_method: string | null;
  readonly return_url: string | null;
  readonly waiting: Bool;
  readonly provider_reference: string | null;
  readonly amount_captured: number | null;
  readonly error_code: string | null;
  readonly error_message: string | null;
  readonly applied: Bool;
  readonly confirm_idempotency_key: string | null;
  readonly created: number;
}

interface RefundRow {
  readonly sequence: number;
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: Bool;
  readonly intent_id: string;
  readonly amount: number;
  readonly currency: string;
  readonly status: string;
  readonly failure_reason: string | null;
  readonly attempt_id: string;
  readonly idempotency_key: string | null;
  readonly version: number;
  readonly created: number;
}

interface ReviewRow {
  readonly sequence: number;
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: Bool;
  readonly status: string;
  readonly reason: string;
  readonly reference: string;
  readonly amount: number;
  readonly currency: string;
  readonly intent_id: string | null;
  readonly created: number;
}

interface EventRow {
  readonly sequence: number;
  readonly id: string;
  readonly merchant_id: string;
  readonly livemode: Bool;
  readonly type: string;
  readonly object_id: string;
  readonly object_version: number;
  readonly data: string;
  readonly created: number;
  readonly published_ms: number | null;
  readonly traceparent: string | null;
}

// JSON with exact bigints: a bigint is written as {"$bigint":"123"} and read back as 123n.

const bigint_tag = '$bigint';

export function encodeJson(value: unknown): string {
  return JSON.stringify(value, (_key, field: unknown) => (typeof field === 'bigint' ? { [bigint_tag]: field.toString() } : field));
}

export function decodeJson(text: string): unknown {
  return JSON.parse(text, (_key, field: unknown) => {
    if (typeof field === 'object' && field !== null && !Array.isArray(field)) {
      const tagged = (field as Record<string, unknown>)[bigint_tag];
      if (typeof tagged === 'string' && Object.keys(field).length === 1) return BigInt(tagged);
    }
    return field;
  });
}

function oneOf<const Value extends string>(values: readonly Value[], value: string, what: string): Value {
  const found = values.find((known) => known === value);
  assert(found !== undefined, `${what} "${value}" read from the database is not one this code knows`);
  return found;
}

function booleanOf(value: Bool): boolean {
  return value === true || value === 1;
}

function currencyFromRow(value: string): CurrencyCode {
  const code = value.toUpperCase();
  assert(isCurrencyCode(code), `currency "${value}" read from the database is not a known currency`);
  return code;
}

/** Amounts are within 2^53 - 1 (the ledger's amount_max), so the number read is exact. */
function amountOf(value: number): bigint {
  return BigInt(value);
}

function errorOf(code: string | null, message: string | null): PaymentError | null {
  return code === null ? null : { code, message: message ?? '' };
}

const payment_method_types: readonly PaymentMethodType[] = ['card', 'alipay', 'wechat_pay', 'wallet', 'bank_transfer'];
const ledger_charts: readonly LedgerChart[] = [LedgerChart.shared, LedgerChart.per_merchant];

function ledgerChartOf(value: number): LedgerChart {
  const found = ledger_charts.find((known) => known === Number(value));
  assert(found !== undefined, `ledger chart ${value} read from the database is not one this code knows`);
  return found;
}
const all_cancellation_reasons: readonly CancellationReason[] = ['duplicate', 'fraudulent', 'requested_by_customer', 'abandoned', 'expired', 'automatic'];

interface StoredLineItem {
  readonly description: string;
  readonly quantity: number;
  readonly unit_amount: string;
  readonly amount: string;
}

function orderFromRow(row: OrderRow): OrderRecord {
  const stored = JSON.parse(row.line_items) as StoredLineItem[];
  return {
    id: row.id,
    merchant_id: row.merchant_id,
    livemode: booleanOf(row.livemode),
    currency: currencyFromRow(row.currency),
    line_items: stored.map((item) => ({ description: item.description, quantity: item.quantity, unit_amount: BigInt(item.unit_amount), amount: BigInt(item.amount) })),
    amount_total: amountOf(row.amount_total),
    merchant_reference: row.merchant_reference,
    status: oneOf(order_statuses, row.status, 'order status'),
    version: row.version,
    created: row.created,
  };
}

function intentFromRow(row: IntentRow): IntentRecord {
  return {
    id: row.id,
    merchant_id: row.merchant_id,
    livemode: booleanOf(row.livemode),
    amount: amountOf(row.amount),
    currency: currencyFromRow(row.currency),
    capture_method: oneOf(capture_methods, row.capture_method, 'capture method'),
    status: oneOf(intent_statuses, row.status, 'payment intent status'),
    order_id: row.order_id,
    description: row.description,
    payment_method_type: row.payment_method_type === null ? null : oneOf(payment_method_types, row.payment_method_type, 'payment method type'),
    next_action: row.next_action === null ? null : (JSON.parse(row.next_action) as NextAction),
    last_payment_error: errorOf(row.last_payment_error_code, row.last_payment_error_message),
    cancellation_reason: row.cancellation_reason === null ? null : oneOf(all_cancellation_reasons, row.cancellation_reason, 'cancellation reason'),
    amount_capturable: amountOf(row.amount_capturable),
    amount_received: amountOf(row.amount_received),
    amount_refunded: amountOf(row.amount_refunded),
    capture_before_ms: row.capture_before_ms,
    bank_transfer_reference: row.bank_transfer_reference,
    authorization_attempt_id: row.authorization_attempt_id,
    provider_reference: row.provider_reference,
    idempotency_key: row.idempotency_key,
    top_up_wallet_id: row.top_up_wallet_id,
    top_up_id: row.top_up_id,
    ledger_chart: ledgerChartOf(row.ledger_chart),
    version: row.version,
    created: row.created,
  };
}

function attemptFromRow(row: AttemptRow): AttemptRecord {
  return {
    id: row.id,
    merchant_id: row.merchant_id,
    livemode: booleanOf(row.livemode),
    intent_id: row.intent_id,
    refund_id: row.refund_id,
    operation: oneOf(attempt_operations, row.operation, 'attempt operation'),
    status: oneOf(attempt_statuses, row.status, 'attempt status'),
    amount: amountOf(row.amount),
    payment_method: row.payment_method === null ? null : (JSON.parse(row.payment_method) as PaymentMethodInput),
    return_url: row.return_url,
    waiting: booleanOf(row.waiting),
    provider_reference: row.provider_reference,
    amount_captured: row.amount_captured === null ? null : amountOf(row.amount_captured),
    error: errorOf(row.error_code, row.error_message),
    applied: booleanOf(row.applied),
    confirm_idempotency_key: row.confirm_idempotency_key,
    created: row.created,
  };
}

function refundFromRow(row: RefundRow): RefundRecord {
  return {
    id: row.id,
    merchant_id: row.merchant_id,
    livemode: booleanOf(row.livemode),
    intent_id: row.intent_id,
    amount: amountOf(row.amount),
    currency: currencyFromRow(row.currency),
    status: oneOf(refund_statuses, row.status, 'refund status'),
    failure_reason: row.failure_reason,
    attempt_id: row.attempt_id,
    idempotency_key: row.idempotency_key,
    version: row.version,
    created: row.created,
  };
}

function reviewFromRow(row: ReviewRow): ReviewRecord {
  assert(row.status === 'held', 'a bank transfer review is held');
  return {
    id: row.id,
    merchant_id: row.merchant_id,
    livemode: booleanOf(row.livemode),
    reason: oneOf(review_reasons, row.reason, 'review reason'),
    reference: row.reference,
    amount: amountOf(row.amount),
    currency: currencyFromRow(row.currency),
    intent_id: row.intent_id,
    created: row.created,
  };
}

function eventFromRow(row: EventRow): EventRecord {
  return {
    sequence: Number(row.sequence),
    id: row.id,
    merchant_id: row.merchant_id,
    livemode: booleanOf(row.livemode),
    type: row.type as PaymentEventType,
    object_id: row.object_id,
    object_version: row.object_version,
    data: row.data,
    created: row.created,
    published_ms: row.published_ms,
    traceparent: row.traceparent,
  };
}

const tenant_condition = 'merchant_id = ? AND livemode = ?';

function tenantParams(tenant: Tenant): [string, boolean] {
  return [tenant.merchant_id, tenant.livemode];
}

/** PostgreSQL locks the row for the transaction; SQLite transactions are serialized already. */
function forUpdate(database: Database, lock: boolean): string {
  return lock ? rowLockClause(database) : '';
}

// Orders.

export async function insertOrder(database: Database, order: OrderRecord): Promise<void> {
  const stored: StoredLineItem[] = order.line_items.map((item) => ({
    description: item.description,
    quantity: item.quantity,
    unit_amount: item.unit_amount.toString(),
    amount: item.amount.toString(),
  }));
  await database.execute(
    `INSERT INTO payment_orders (id, merchant_id, livemode, currency, line_items, amount_total, merchant_reference, status, version, created)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [order.id, order.merchant_id, order.livemode, order.currency.toLowerCase(), JSON.stringify(stored), order.amount_total, order.merchant_reference, order.status, order.version, order.created],
  );
}

export async function findOrder(database: Database, tenant: Tenant, id: string, lock = false): Promise<OrderRecord | undefined> {
  const rows = await database.query<OrderRow>(`SELECT * FROM payment_orders WHERE id = ? AND ${tenant_condition}${forUpdate(database, lock)}`, [id, ...tenantParams(tenant)]);
  const row = rows[0];
  return row === undefined ? undefined : orderFromRow(row);
}

export async function findOrderById(database: Database, id: string, lock = false): Promise<OrderRecord | undefined> {
  const rows = await database.query<OrderRow>(`SELECT * FROM payment_orders WHERE id = ?${forUpdate(database, lock)}`, [id]);
  const row = rows[0];
  return row === undefined ? undefined : orderFromRow(row);
}

export async function listOrders(database: Database, tenant: Tenant, page: PageRequest): Promise<Page<OrderRecord>> {
  const listed = await selectPage<OrderRow>(database, { table: 'payment_orders', where: tenant_condition, params: tenantParams(tenant), page });
  return { data: listed.data.map(orderFromRow), has_more: listed.has_more };
}

export async function updateOrderStatus(database: Database, id: string, status: OrderStatus, version: number): Promise<void> {
  const result = await database.execute('UPDATE payment_orders SET status = ?, version = ? WHERE id = ?', [status, version, id]);
  assert(result.rowCount === 1, 'an order locked for update was not there to update');
}

// Payment intents.

const intent_columns = [
  'id',
  'merchant_id',
  'livemode',
  'amount',
  'currency',
  'capture_method',
  'status',
  'order_id',
  'description',
  'payment_method_type',
  'next_action',
  'last_payment_error_code',
  'last_payment_error_message',
  'cancellation_reason',
  'amount_capturable',
  'amount_received',
  'amount_refunded',
  'capture_before_ms',
  'bank_transfer_reference',
  'authorization_attempt_id',
  'provider_reference',
  'idempotency_key',
  'top_up_wallet_id',
  'top_up_id',
  'ledger_chart',
  'version',
  'created',
] as const;

function intentValues(intent: IntentRecord): unknown[] {
  return [
    intent.id,
    intent.merchant_id,
    intent.livemode,
    intent.amount,
    intent.currency.toLowerCase(),
    intent.capture_method,
    intent.status,
    intent.order_id,
    intent.description,
    intent.payment_method_type,
    intent.next_action === null ? null : JSON.stringify(intent.next_action),
    intent.last_payment_error?.code ?? null,
    intent.last_payment_error?.message ?? null,
    intent.cancellation_reason,
    intent.amount_capturable,
    intent.amount_received,
    intent.amount_refunded,
    intent.capture_before_ms,
    intent.bank_transfer_reference,
    intent.authorization_attempt_id,
    intent.provider_reference,
    intent.idempotency_key,
    intent.top_up_wallet_id,
    intent.top_up_id,
    intent.ledger_chart,
    intent.version,
    intent.created,
  ];
}

export async function insertIntent(database: Database, intent: IntentRecord): Promise<void> {
  await database.execute(
    `INSERT INTO payment_intents (${intent_columns.join(', ')}) VALUES (${intent_columns.map(() => '?').join(', ')})`,
    intentValues(intent),
  );
}

/** Writes every mutable field of an intent the caller holds locked. */
export async function updateIntent(database: Database, intent: IntentRecord): Promise<void> {
  const mutable = intent_columns.filter((column) => !['id', 'merchant_id', 'livemode', 'created'].includes(column));
  const values = intentValues(intent);
  const by_column = new Map(intent_columns.map((column, index) => [column, values[index]]));
  const result = await database.execute(`UPDATE payment_intents SET ${mutable.map((column) => `${column} = ?`).join(', ')} WHERE id = ?`, [
    ...mutable.map((column) => by_column.get(column)),
    intent.id,
  ]);
  assert(result.rowCount === 1, 'a payment intent locked for update was not there to update');
}

export async function findIntent(database: Database, tenant: Tenant, id: string, lock = false): Promise<IntentRecord | undefined> {
  const rows = await database.query<IntentRow>(`SELECT * FROM payment_intents WHERE id = ? AND ${tenant_condition}${forUpdate(database, lock)}`, [id, ...tenantParams(tenant)]);
  const row = rows[0];
  return row === undefined ? undefined : intentFromRow(row);
}

export async function findIntentById(database: Database, id: string, lock = false): Promise<IntentRecord | undefined> {
  const rows = await database.query<IntentRow>(`SELECT * FROM payment_intents WHERE id = ?${forUpdate(database, lock)}`, [id]);
  const row = rows[0];
  return row === undefined ? undefined : intentFromRow(row);
}

export async function findIntentByIdempotencyKey(database: Database, tenant: Tenant, key: string): Promise<IntentRecord | undefined> {
  const rows = await database.query<IntentRow>(`SELECT * FROM payment_intents WHERE ${tenant_condition} AND idempotency_key = ?`, [...tenantParams(tenant), key]);
  const row = rows[0];
  return row === undefined ? undefined : intentFromRow(row);
}

export async function findIntentByBankReference(database: Database, tenant: Tenant, reference: string, lock = false): Promise<IntentRecord | undefined> {
  const rows = await database.query<IntentRow>(`SELECT * FROM payment_intents WHERE bank_transfer_reference = ? AND ${tenant_condition}${forUpdate(database, lock)}`, [
    reference,
    ...tenantParams(tenant),
  ]);
  const row = rows[0];
  return row === undefined ? undefined : intentFromRow(row);
}

export async function listIntents(database: Database, tenant: Tenant, page: PageRequest, order_id: string | undefined): Promise<Page<IntentRecord>> {
  const where = order_id === undefined ? tenant_condition : `${tenant_condition} AND order_id = ?`;
  const params = order_id === undefined ? tenantParams(tenant) : [...tenantParams(tenant), order_id];
  const listed = await selectPage<IntentRow>(database, { table: 'payment_intents', where, params, page });
  return { data: listed.data.map(intentFromRow), has_more: listed.has_more };
}

/** Every intent of one order; an order has few (one that is not canceled at a time). */
export async function listIntentsOfOrder(database: Database, order_id: string, limit: number): Promise<IntentRecord[]> {
  const rows = await database.query<IntentRow>('SELECT * FROM payment_intents WHERE order_id = ? ORDER BY sequence LIMIT ?', [order_id, limit]);
  return rows.map(intentFromRow);
}

/** Authorizations whose capture window has closed, soonest first. */
export async function listExpiredAuthorizations(database: Database, now_ms: number, limit: number): Promise<IntentRecord[]> {
  const rows = await database.query<IntentRow>(
    "SELECT * FROM payment_intents WHERE status = 'requires_capture' AND capture_before_ms <= ? ORDER BY capture_before_ms LIMIT ?",
    [now_ms, limit],
  );
  return rows.map(intentFromRow);
}

// Attempts.

const attempt_columns = [
  'id',
  'merchant_id',
  'livemode',
  'intent_id',
  'refund_id',
  'operation',
  'status',
  'amount',
  'payment_method',
  'return_url',
  'waiting',
  'provider_reference',
  'amount_captured',
  'error_code',
  'error_message',
  'applied',
  'confirm_idempotency_key',
  'created',
] as const;

function attemptValues(attempt: AttemptRecord): unknown[] {
  return [
    attempt.id,
    attempt.merchant_id,
    attempt.livemode,
    attempt.intent_id,
    attempt.refund_id,
    attempt.operation,
    attempt.status,
    attempt.amount,
    attempt.payment_method === null ? null : JSON.stringify(attempt.payment_method),
    attempt.return_url,
    attempt.waiting,
    attempt.provider_reference,
    attempt.amount_captured,
    attempt.error?.code ?? null,
    attempt.error?.message ?? null,
    attempt.applied,
    attempt.confirm_idempotency_key,
    attempt.created,
  ];
}

export async function insertAttempt(database: Database, attempt: AttemptRecord): Promise<void> {
  await database.execute(
    `INSERT INTO payment_attempts (${attempt_columns.join(', ')}) VALUES (${attempt_columns.map(() => '?').join(', ')})`,
    attemptValues(attempt),
  );
}

/**
 * Writes an attempt's mutable fields. Its saga run fences who may: call it in the commit that records
 * the run (or in one that takes the run over or ends it), never on its own.
 */
export async function updateAttempt(database: Database, attempt: AttemptRecord): Promise<void> {
  const mutable = ['status', 'waiting', 'provider_reference', 'amount_captured', 'error_code', 'error_message', 'applied'] as const;
  const values = attemptValues(attempt);
  const by_column = new Map(attempt_columns.map((column, index) => [column, values[index]]));
  const result = await database.execute(`UPDATE payment_attempts SET ${mutable.map((column) => `${column} = ?`).join(', ')} WHERE id = ?`, [
    ...mutable.map((column) => by_column.get(column)),
    attempt.id,
  ]);
  assert(result.rowCount === 1, 'an attempt being updated was not there');
}

export async function findAttemptById(database: Database, id: string): Promise<AttemptRecord | undefined> {
  const rows = await database.query<AttemptRow>('SELECT * FROM payment_attempts WHERE id = ?', [id]);
  const row = rows[0];
  return row === undefined ? undefined : attemptFromRow(row);
}

/**
 * A refund's attempt of one operation: its top-up reversal, its card refund or its restoration. A
 * refund has at most one of each, so the first one recorded is the one.
 */
export async function findAttemptOfRefund(database: Database, intent_id: string, refund_id: string, operation: AttemptOperation): Promise<AttemptRecord | undefined> {
  const rows = await database.query<AttemptRow>('SELECT * FROM payment_attempts WHERE intent_id = ? AND refund_id = ? AND operation = ? ORDER BY sequence LIMIT 1', [
    intent_id,
    refund_id,
    operation,
  ]);
  const row = rows[0];
  return row === undefined ? undefined : attemptFromRow(row);
}

export async function findAttemptByConfirmKey(database: Database, intent_id: string, key: string): Promise<AttemptRecord | undefined> {
  const rows = await database.query<AttemptRow>("SELECT * FROM payment_attempts WHERE intent_id = ? AND operation = 'authorize' AND confirm_idempotency_key = ?", [intent_id, key]);
  const row = rows[0];
  return row === undefined ? undefined : attemptFromRow(row);
}

export async function listAttemptsOfIntent(database: Database, tenant: Tenant, intent_id: string, page: PageRequest): Promise<Page<AttemptRecord>> {
  const listed = await selectPage<AttemptRow>(database, {
    table: 'payment_attempts',
    where: `${tenant_condition} AND intent_id = ?`,
    params: [...tenantParams(tenant), intent_id],
    page,
  });
  return { data: listed.data.map(attemptFromRow), has_more: listed.has_more };
}

export async function countAttemptsOfIntent(database: Database, intent_id: string): Promise<number> {
  const rows = await database.query<{ count: number | string }>('SELECT COUNT(*) AS count FROM payment_attempts WHERE intent_id = ?', [intent_id]);
  return Number(rows[0]?.count ?? 0);
}

// Refunds.

export async function insertRefund(database: Database, refund: RefundRecord): Promise<void> {
  await database.execute(
    `INSERT INTO payment_refunds (id, merchant_id, livemode, intent_id, amount, currency, status, failure_reason, attempt_id, idempotency_key, version, created)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      refund.id,
      refund.merchant_id,
      refund.livemode,
      refund.intent_id,
      refund.amount,
      refund.currency.toLowerCase(),
      refund.status,
      refund.failure_reason,
      refund.attempt_id,
      refund.idempotency_key,
      refund.version,
      refund.created,
    ],
  );
}

export async function updateRefund(database: Database, refund: RefundRecord): Promise<void> {
  const result = await database.execute('UPDATE payment_refunds SET status = ?, failure_reason = ?, version = ? WHERE id = ?', [
    refund.status,
    refund.failure_reason,
    refund.version,
    refund.id,
  ]);
  assert(result.rowCount === 1, 'a refund being updated was not there');
}

export async function findRefund(database: Database, tenant: Tenant, id: string): Promise<RefundRecord | undefined> {
  const rows = await database.query<RefundRow>(`SELECT * FROM payment_refunds WHERE id = ? AND ${tenant_condition}`, [id, ...tenantParams(tenant)]);
  const row = rows[0];
  return row === undefined ? undefined : refundFromRow(row);
}

export async function findRefundById(database: Database, id: string, lock = false): Promise<RefundRecord | undefined> {
  const rows = await database.query<RefundRow>(`SELECT * FROM payment_refunds WHERE id = ?${forUpdate(database, lock)}`, [id]);
  const row = rows[0];
  return row === undefined ? undefined : refundFromRow(row);
}

export async function findRefundByIdempotencyKey(database: Database, tenant: Tenant, key: string): Promise<RefundRecord | undefined> {
  const rows = await database.query<RefundRow>(`SELECT * FROM payment_refunds WHERE ${tenant_condition} AND idempotency_key = ?`, [...tenantParams(tenant), key]);
  const row = rows[0];
  return row === undefined ? undefined : refundFromRow(row);
}

export async function listRefunds(database: Database, tenant: Tenant, page: PageRequest, intent_id: string | undefined): Promise<Page<RefundRecord>> {
  const where = intent_id === undefined ? tenant_condition : `${tenant_condition} AND intent_id = ?`;
  const params = intent_id === undefined ? tenantParams(tenant) : [...tenantParams(tenant), intent_id];
  const listed = await selectPage<RefundRow>(database, { table: 'payment_refunds', where, params, page });
  return { data: listed.data.map(refundFromRow), has_more: listed.has_more };
}

/** What is refunded or being refunded of an intent (pending and succeeded refunds). */
export async function sumOpenRefunds(database: Database, intent_id: string): Promise<bigint> {
  // The sum may pass 2^53 - 1 in theory, so it is read as text and converted exactly.
  const rows = await database.query<{ total: string }>(
    "SELECT CAST(COALESCE(SUM(amount), 0) AS TEXT) AS total FROM payment_refunds WHERE intent_id = ? AND status IN ('pending', 'succeeded')",
    [intent_id],
  );
  return BigInt(rows[0]?.total ?? '0');
}

// Bank transfer reviews.

export async function insertReview(database: Database, review: ReviewRecord): Promise<void> {
  await database.execute(
    `INSERT INTO bank_transfer_reviews (id, merchant_id, livemode, status, reason, reference, amount, currency, intent_id, created)
     VALUES (?, ?, ?, 'held', ?, ?, ?, ?, ?, ?)`,
    [review.id, review.merchant_id, review.livemode, review.reason, review.reference, review.amount, review.currency.toLowerCase(), review.intent_id, review.created],
  );
}

export async function listReviews(database: Database, tenant: Tenant, page: PageRequest): Promise<Page<ReviewRecord>> {
  const listed = await selectPage<ReviewRow>(database, { table: 'bank_transfer_reviews', where: tenant_condition, params: tenantParams(tenant), page });
  return { data: listed.data.map(reviewFromRow), has_more: listed.has_more };
}

// Status history.

export type StatusObjectType = 'payment_intent' | 'order' | 'refund' | 'payment_attempt';

export interface StatusChange {
  readonly object_type: StatusObjectType;
  readonly object_id: string;
  readonly from_status: string | null;
  readonly to_status: string;
  readonly reason: string;
  readonly created_ms: number;
}

export async function insertStatusChange(database: Database, change: StatusChange): Promise<void> {
  await database.execute('INSERT INTO payment_status_changes (object_type, object_id, from_status, to_status, reason, created_ms) VALUES (?, ?, ?, ?, ?, ?)', [
    change.object_type,
    change.object_id,
    change.from_status,
    change.to_status,
    change.reason,
    change.created_ms,
  ]);
}

export async function listStatusChanges(database: Database, object_id: string): Promise<StatusChange[]> {
  return database.query<StatusChange>(
    'SELECT object_type, object_id, from_status, to_status, reason, created_ms FROM payment_status_changes WHERE object_id = ? ORDER BY sequence',
    [object_id],
  );
}

// The outbox.

export async function insertEvent(database: Database, event: Omit<EventRecord, 'sequence' | 'published_ms'>): Promise<void> {
  await database.execute('INSERT INTO payment_events (id, merchant_id, livemode, type, object_id, object_version, data, created, traceparent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', [
    event.id,
    event.merchant_id,
    event.livemode,
    event.type,
    event.object_id,
    event.object_version,
    event.data,
    event.created,
    event.traceparent,
  ]);
}

export async function listUnpublishedEvents(database: Database, limit: number): Promise<EventRecord[]> {
  const rows = await database.query<EventRow>('SELECT * FROM payment_events WHERE published_ms IS NULL ORDER BY sequence LIMIT ?', [limit]);
  return rows.map(eventFromRow);
}

/** Marks events published, by id, in one statement. */
export async function markEventsPublished(database: Database, ids: readonly string[], published_ms: number): Promise<void> {
  if (ids.length === 0) return;
  await database.execute(`UPDATE payment_events SET published_ms = ? WHERE id IN (${ids.map(() => '?').join(', ')}) AND published_ms IS NULL`, [published_ms, ...ids]);
}

/** Every event of the tenant, oldest first (for tests and operators). */
export async function listEventsOfTenant(database: Database, tenant: Tenant, limit: number): Promise<EventRecord[]> {
  const rows = await database.query<EventRow>(`SELECT * FROM payment_events WHERE ${tenant_condition} ORDER BY sequence LIMIT ?`, [...tenantParams(tenant), limit]);
  return rows.map(eventFromRow);
}
