// GET /metrics on the service port: Prometheus text with per-RPC counts by code, latency
// histograms, the database pool, Redis and event-stream figures — and nothing about tenants or
// customers in any label.
import { describe, expect, inject, it } from "vitest";
import { bearer, createTenant } from "../support/app.js";
import { useServer } from "../support/file-server.js";
import { watch } from "../support/event-consumer.js";
import { completeIndividual } from "../support/fixtures.js";
import { metadata, unary, unaryError } from "../support/grpc.js";

const file = useServer();

async function scrape(): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`${file.server.baseUrl}/metrics`);
  return { status: res.status, type: res.headers.get("content-type") ?? "", body: await res.text() };
}

/** The value of one sample line, e.g. sample(body, 'customerms_rpc_total{...}'); undefined if absent. */
function sample(body: string, series: string): number | undefined {
  const line = body.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const CS = 'service="finhub.customer.v1.CustomerService"';

describe("GET /metrics", () => {
  it("counts RPCs by method and outcome code, with latency histograms", async () => {
    const tenant = await createTenant(file.server);
    const md = metadata(bearer(tenant.apiKey));
    const customer = completeIndividual("GB");
    const before = await scrape();
    const created = sample(before.body, `customerms_rpc_total{${CS},method="CreateCustomer",code="OK"}`) ?? 0;
    const missing = sample(before.body, `customerms_rpc_total{${CS},method="GetCustomer",code="NotFound"}`) ?? 0;

    const res = await unary(file.clients.customers, "createCustomer", { customer }, md);
    await unaryError(file.clients.customers, "getCustomer", { id: "00000000-0000-4000-8000-000000000000" }, md);
    await unaryError(file.clients.customers, "getCustomer", { id: "00000000-0000-4000-8000-000000000001" }, md);

    const after = await scrape();
    expect(after.status).toBe(200);
    expect(after.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(after.body, `customerms_rpc_total{${CS},method="CreateCustomer",code="OK"}`)).toBe(created + 1);
    expect(sample(after.body, `customerms_rpc_total{${CS},method="GetCustomer",code="NotFound"}`)).toBe(missing + 2);
    const count = sample(after.body, `customerms_rpc_duration_seconds_count{${CS},method="GetCustomer"}`);
    expect(count).toBeGreaterThanOrEqual(2);
    expect(sample(after.body, `customerms_rpc_duration_seconds_bucket{le="+Inf",${CS},method="GetCustomer"}`)).toBe(count);
    // Pool, process and (with Redis) Redis gauges.
    expect(sample(after.body, "customerms_db_pool_connections_in_use")).toBeGreaterThanOrEqual(0);
    expect(sample(after.body, "customerms_db_pool_connections_idle")).toBeGreaterThanOrEqual(0);
    expect(sample(after.body, "customerms_db_pool_waiting")).toBe(0);
    expect(sample(after.body, "customerms_process_resident_memory_bytes")).toBeGreaterThan(10_000_000);
    if (inject("redisUrl")) expect(sample(after.body, "customerms_redis_ready")).toBe(1);
    // Nothing identifying in the labels or values.
    for (const secret of [tenant.id, tenant.apiKey, customer.email, res.customer.id]) expect(after.body).not.toContain(secret);
  });

  it("measures open event streams and each event's delivery lag", async () => {
    const tenant = await createTenant(file.server);
    const md = metadata(bearer(tenant.apiKey));
    const before = sample((await scrape()).body, "customerms_event_stream_lag_seconds_count") ?? 0;
    const stream = watch(file.clients.customers, md);
    try {
      await unary(file.clients.customers, "createCustomer", { customer: completeIndividual("GB") }, md);
      await stream.until((s) => s.events.length >= 1, 10_000, "the CUSTOMER_CREATED event");
      const body = (await scrape()).body;
      expect(sample(body, "customerms_event_streams_open")).toBeGreaterThanOrEqual(1);
      expect(sample(body, "customerms_event_stream_lag_seconds_count")).toBeGreaterThanOrEqual(before + 1);
    } finally {
      stream.cancel();
    }
  });

  it("is served only for GET /metrics: other paths and methods keep their usual answers", async () => {
    expect((await fetch(`${file.server.baseUrl}/metrics`, { method: "POST" })).status).not.toBe(200);
    expect((await fetch(`${file.server.baseUrl}/metricsx`)).status).toBe(404);
  });
});
