// Tracing for a platform process: on when OTEL_EXPORTER_OTLP_ENDPOINT is set, named after the
// services the process runs (`paygrid` for the all-in-one, `paygrid-payments` for one service).
import { startTracing, tracingServiceName, type PlatformConfig, type Tracing } from '@paygrid/kernel';

export function startPlatformTracing(config: PlatformConfig, services: readonly string[], every_service: readonly string[]): Tracing | undefined {
  if (config.OTEL_EXPORTER_OTLP_ENDPOINT === undefined) return undefined;
  return startTracing({
    service_name: tracingServiceName(services, every_service),
    endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
    attributes: { 'paygrid.services': services.join(',') },
  });
}
