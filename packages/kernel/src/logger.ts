import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config/platform-config';
import { redactSecrets, redacted_field_names, redaction_censor } from './log-redaction';
import { logTraceFields } from './tracing/tracing';

export type { Logger } from 'pino';

export interface CreateLoggerOptions {
  readonly level: LogLevel;
  readonly name: string;
  /** Where JSON lines go; standard output when absent. Tests pass a stream to read them. */
  readonly destination?: DestinationStream;
  /**
   * Called for every line; its answer, when defined, is logged as `trace_id` and `span_id`. By
   * default the active span's (tracing/tracing.ts), which is nothing with tracing off.
   */
  readonly traceFields?: () => { readonly trace_id: string; readonly span_id: string } | undefined;
}

/** Shared, so that a line outside any span allocates nothing for it. */
const no_trace_fields = Object.freeze({});

export function createLogger(options: CreateLoggerOptions): Logger {
  const traceFields = options.traceFields ?? logTraceFields;
  return pino(
    {
      name: options.name,
      level: options.level,
      // Card data, secrets, keys and auth headers are hidden at the top level and one or two
      // objects deep in logged objects (see log-redaction.ts for why this is not pino's
      // wildcard redaction). pino skips formatters for child bindings, so its own redaction,
      // with exact top-level paths (cheap), covers those.
      formatters: { log: redactSecrets },
      redact: { paths: redacted_field_names.map((name) => `[${JSON.stringify(name)}]`), censor: redaction_censor },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Every line written inside a span names it, so a log search and a trace find each other.
      mixin: () => traceFields() ?? no_trace_fields,
      // pino's own strategy writes the line's fields into the mixin's object; the shared empty
      // one must stay empty, and outside a span there is nothing to merge.
      mixinMergeStrategy: (line_fields: object, trace_fields: object) => (trace_fields === no_trace_fields ? line_fields : Object.assign(trace_fields, line_fields)),
    },
    options.destination ?? pino.destination({ fd: 1, sync: true }),
  );
}
