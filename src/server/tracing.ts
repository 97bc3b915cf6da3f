// One OpenTelemetry server span per RPC (only when tracing is on: the chain has no such step
// otherwise). The caller's W3C `traceparent` makes it a child of the caller's span. Attributes
// follow the RPC semantic conventions (rpc.system, rpc.service, rpc.method,
// rpc.grpc.status_code) plus the tenant id; never payloads or personal data. Server-side codes
// (UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS) mark the span as
// an error, as the conventions say. For a server stream the span covers the call's setup.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, type TextMapGetter, type Tracer } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { Code, ConnectError } from "@connectrpc/connect";
import type { CallHeaders, Middleware } from "./pipeline.js";

const SERVER_ERRORS = new Set([Code.Unknown, Code.DeadlineExceeded, Code.Unimplemented, Code.Internal, Code.Unavailable, Code.DataLoss]);

const headerGetter: TextMapGetter<CallHeaders> = {
  keys: (h) => [...h.keys()],
  get: (h, key) => h.get(key) ?? undefined,
};

export function tracingMiddleware(tracer: Tracer): Middleware {
  const propagator = new W3CTraceContextPropagator();
  return async (call, next) => {
    const parent = propagator.extract(ROOT_CONTEXT, call.header, headerGetter);
    const service = call.method.parent.typeName;
    const span = tracer.startSpan(
      `${service}/${call.method.name}`,
      { kind: SpanKind.SERVER, attributes: { "rpc.system": "grpc", "rpc.service": service, "rpc.method": call.method.name } },
      parent,
    );
    let code: number = Code.Unknown;
    try {
      const result = await next(call);
      code = 0;
      return result;
    } catch (err) {
      code = err instanceof ConnectError ? err.code : Code.Unknown;
      if (SERVER_ERRORS.has(code)) span.setStatus({ code: SpanStatusCode.ERROR, message: Code[code] });
      throw err;
    } finally {
      span.setAttribute("rpc.grpc.status_code", code);
      const p = call.principal;
      if (p?.kind === "tenant") span.setAttribute("customerms.tenant_id", p.tenantId);
      span.end();
    }
  };
}
