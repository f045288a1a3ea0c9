// Spans for the database port (tracing/tracing.ts), cheap by design: one span per transaction
// (its statements are not spanned one by one) and one per statement made outside a transaction.
// Nested transactions (savepoints) and the statements inside a transaction run on the handle the
// transaction gives, which is not wrapped. Only work inside a trace is spanned: the polls that
// background loops make (leases, relays, readiness checks) would otherwise each start a trace of
// one span. With tracing off when the database is opened, the database is returned as it is.
import { currentSpanContext, SpanKind, tracingEnabled, withSpan, type Attributes } from '../tracing/tracing';
import type { Database, ServiceDatabase, TransactionOptions } from './database';

/** The first word of a statement (SELECT, INSERT, …): enough to name its span, never its values. */
function operationOf(sql: string): string {
  const match = /^\s*([A-Za-z]+)/.exec(sql);
  return match?.[1]?.toUpperCase() ?? 'SQL';
}

export function traceDatabase(database: ServiceDatabase): ServiceDatabase {
  if (!tracingEnabled()) return database;
  const system = database.dialect === 'postgres' ? 'postgresql' : 'sqlite';
  const namespace = database.location.dialect === 'postgres' ? database.location.schema : undefined;
  const attributes: Attributes = { 'db.system.name': system, ...(namespace === undefined ? {} : { 'db.namespace': namespace }) };
  const statementSpan = <T>(sql: string, work: () => Promise<T>): Promise<T> => {
    if (currentSpanContext() === undefined) return work();
    return withSpan(`${operationOf(sql)} ${namespace ?? system}`, { kind: SpanKind.CLIENT, attributes: { ...attributes, 'db.operation.name': operationOf(sql) } }, work);
  };
  const traced: ServiceDatabase = {
    dialect: database.dialect,
    location: database.location,
    query: <Row>(sql: string, params?: readonly unknown[]) => statementSpan(sql, () => database.query<Row>(sql, params)),
    execute: (sql: string, params?: readonly unknown[]) => statementSpan(sql, () => database.execute(sql, params)),
    transaction: <T>(work: (tx: Database) => Promise<T>, options?: TransactionOptions) => {
      if (currentSpanContext() === undefined) return database.transaction(work, options);
      return withSpan(`transaction ${namespace ?? system}`, { kind: SpanKind.CLIENT, attributes }, () => database.transaction(work, options));
    },
    close: () => database.close(),
    migrate: (migrations) => database.migrate(migrations),
  };
  return traced;
}
