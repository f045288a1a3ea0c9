import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config/platform-config';

export type { Logger } from 'pino';

/**
 * Field names whose values must never reach a log: card data, secrets, keys and tokens. They
 * are redacted at the top level of a log line and one or two objects deep; deeper than that,
 * the code that logs must not pass such objects at all.
 */
export const redacted_field_names = [
  'card_number',
  'cardNumber',
  'number',
  'pan',
  'cvc',
  'cvv',
  'secret',
  'password',
  'key',
  'api_key',
  'apiKey',
  'token',
  'access_token',
  'refresh_token',
  'signing_secret',
  'signingSecret',
  'operator_key',
  'operatorKey',
] as const;

const redacted_header_names = ['authorization', 'cookie', 'set-cookie', 'proxy-authorization', 'x-api-key'] as const;

export const redaction_censor = '[redacted]';

function redactionPaths(): string[] {
  const paths: string[] = [];
  for (const field of redacted_field_names) {
    paths.push(field, `*.${field}`, `*.*.${field}`);
  }
  for (const header of redacted_header_names) {
    // Request and response objects carry headers one level down (req.headers.cookie).
    paths.push(`headers["${header}"]`, `*.headers["${header}"]`);
  }
  return paths;
}

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
      redact: { paths: redactionPaths(), censor: redaction_censor },
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
