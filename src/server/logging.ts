// One JSON log line per RPC: method, outcome code, duration, tenant. No payloads. The same
// outcome feeds the RPC metrics (observability/metrics.ts).
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { Middleware } from "./pipeline.js";

export function loggingMiddleware(logger: Logger, metrics?: Metrics): Middleware {
  return async (call, next) => {
    const start = process.hrtime.bigint();
    let code = "OK";
    try {
      return await next(call);
    } catch (err) {
      code = err instanceof ConnectError ? Code[err.code] : "Unknown";
      throw err;
    } finally {
      const durationMs = Number(process.hrtime.bigint() - start) / 1e6;
      metrics?.rpc(call.method.parent.typeName, call.method.name, code, durationMs / 1000);
      const p = call.principal;
      if (logger.isLevelEnabled("info")) logger.info(
        {
          rpc: `${call.method.parent.typeName}/${call.method.name}`,
          grpc_code: code,
          duration_ms: Math.round(durationMs * 1000) / 1000,
          tenant_id: p?.kind === "tenant" ? p.tenantId : undefined,
          principal: p?.kind,
        },
        "rpc",
      );
    }
  };
}
