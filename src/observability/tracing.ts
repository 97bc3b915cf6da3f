// Optional OpenTelemetry traces (off unless OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set): a tracer
// whose spans are batched and sent as OTLP/HTTP JSON to that URL. Not registered globally, so
// several apps in one process (tests) keep their own; server/tracing.ts makes the RPC spans.
import type { Tracer } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";

export interface Tracing {
  readonly tracer: Tracer;
  /** Sends what is buffered, then stops (part of App.close()). */
  shutdown(): Promise<void>;
}

export function createTracing(options: { readonly url: string; readonly serviceName: string }): Tracing {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": options.serviceName, "process.pid": process.pid }),
    // Batching keeps export off the call path: at most one request per second or 512 spans.
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: options.url }), { scheduledDelayMillis: 1_000, maxExportBatchSize: 512 })],
  });
  return { tracer: provider.getTracer("customerms"), shutdown: () => provider.shutdown() };
}
