import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config/platform-config';
import { redactSecrets, redacted_field_names, redaction_censor } from './log-redaction';

export type { Logger } from 'pino';

export interface CreateLoggerOptions {
  readonly level: LogLevel;
  readonly name: string;
  /** Where JSON lines go; standard output when absent. Tests pass a stream to read them. */
  readonly destination?: DestinationStream;
  /** Called for every line; its answer, when defined, is logged as `trace_id`. */
  readonly traceId?: () => string | undefined;
}

export function createLogger(options: CreateLoggerOptions): Logger {
  const { traceId } = options;
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
      ...(traceId === undefined
        ? {}
        : {
            mixin: () => {
              const trace_id = traceId();
              return trace_id === undefined ? {} : { trace_id };
            },
          }),
    },
    options.destination ?? pino.destination({ fd: 1, sync: true }),
  );
}
