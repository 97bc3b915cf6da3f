// The per-RPC metrics are kept outside prom-client's Counter and Histogram (which handle the labels
// on every observation) but must read exactly as prom-client would write them: dashboards and
// alerts query these series.
import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { Metrics } from "../../src/observability/metrics.js";

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The same observations through prom-client itself, rendered as Prometheus text. */
async function reference(calls: ReadonlyArray<readonly [string, string, string, number]>): Promise<string> {
  const registry = new Registry();
  const registers = [registry];
  const total = new Counter({ name: "customerms_rpc_total", help: "RPCs handled, by outcome code", labelNames: ["service", "method", "code"], registers });
  const latency = new Histogram({
    name: "customerms_rpc_duration_seconds",
    help: "RPC latency in the server (unary: whole call; streams: until the first message)",
    labelNames: ["service", "method"],
    buckets: BUCKETS,
    registers,
  });
  for (const [service, method, code, seconds] of calls) {
    total.inc({ service, method, code });
    latency.observe({ service, method }, seconds);
  }
  return registry.metrics();
}

/** The blocks of one metric (HELP, TYPE and samples) in a Prometheus text body. */
function block(body: string, name: string): string {
  const lines = body.split("\n");
  const start = lines.indexOf(`# HELP ${name} ${lines.find((l) => l.startsWith(`# HELP ${name} `))?.slice(`# HELP ${name} `.length)}`);
  expect(start).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((l, i) => i > start + 1 && (l === "" || l.startsWith("# HELP")));
  return lines.slice(start, end === -1 ? undefined : end).join("\n");
}

describe("Metrics.rpc", () => {
  it("renders customerms_rpc_total and customerms_rpc_duration_seconds exactly as prom-client does", async () => {
    const S = "finhub.customer.v1.CustomerService";
    const calls = [
      [S, "GetCustomer", "OK", 0.0004],
      [S, "GetCustomer", "OK", 0.001], // on a bound: counted in that bucket (le is inclusive)
      [S, "GetCustomer", "NotFound", 0.0031],
      [S, "CreateCustomer", "OK", 0.2],
      [S, "CreateCustomer", "InvalidArgument", 12], // above every bound: +Inf only
      ["finhub.tenant.v1.TenantService", "CreateTenant", "OK", 0.05],
    ] as const;
    const metrics = new Metrics({ pool: () => undefined, redisReady: () => undefined });
    for (const [service, method, code, seconds] of calls) metrics.rpc(service, method, code, seconds);
    const ours = (await metrics.render()).body;
    const theirs = await reference(calls);
    for (const name of ["customerms_rpc_total", "customerms_rpc_duration_seconds"]) expect(block(ours, name)).toBe(block(theirs, name));
    expect(ours).toContain(`customerms_rpc_duration_seconds_bucket{le="0.001",service="${S}",method="GetCustomer"} 2`);
    expect(ours).toContain(`customerms_rpc_duration_seconds_bucket{le="+Inf",service="${S}",method="CreateCustomer"} 2`);
  });

  it("renders the headers of both metrics before any RPC, as prom-client does", async () => {
    const ours = (await new Metrics({ pool: () => undefined, redisReady: () => undefined }).render()).body;
    const theirs = await reference([]);
    for (const name of ["customerms_rpc_total", "customerms_rpc_duration_seconds"]) expect(block(ours, name)).toBe(block(theirs, name));
  });
});
