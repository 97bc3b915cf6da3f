// Optional OpenTelemetry traces: with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set, every RPC becomes
// one server span, sent as OTLP/HTTP JSON to a collector (here a node:http receiver on
// 127.0.0.1), a child of the caller's W3C traceparent, with the RPC conventions' attributes and
// no personal data. (Off by default: test/unit/config.test.ts.)
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, createTenant, startServer } from "../support/app.js";
import { completeIndividual } from "../support/fixtures.js";
import { grpc, grpcClients, metadata, unary, unaryError } from "../support/grpc.js";

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
  status?: { code?: number };
}

let collector: http.Server;
let collectorUrl: string;
const bodies: string[] = [];

beforeAll(async () => {
  collector = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/traces") bodies.push(body);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  collector.listen(0, "127.0.0.1");
  await once(collector, "listening");
  collectorUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`;
});
afterAll(async () => {
  collector?.close();
});

function spans(): OtlpSpan[] {
  return bodies.flatMap((b) =>
    (JSON.parse(b).resourceSpans ?? []).flatMap((rs: any) => (rs.scopeSpans ?? []).flatMap((ss: any) => ss.spans as OtlpSpan[])),
  );
}
function serviceNames(): string[] {
  return bodies.flatMap((b) =>
    (JSON.parse(b).resourceSpans ?? []).map((rs: any) => rs.resource.attributes.find((a: any) => a.key === "service.name")?.value.stringValue),
  );
}
const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v === undefined ? undefined : (v.stringValue ?? (v.intValue === undefined ? undefined : Number(v.intValue)));
};

describe("OpenTelemetry traces", () => {
  it("one SERVER span per RPC, child of the caller's traceparent, with rpc.* attributes and no personal data", async () => {
    const server = await startServer({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collectorUrl, OTEL_SERVICE_NAME: "customerms-test" });
    const c = grpcClients(server.port);
    const t = await createTenant(server);
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parentId = "00f067aa0ba902b7";
    const md = metadata({ ...bearer(t.apiKey), traceparent: `00-${traceId}-${parentId}-01` });
    const customer = completeIndividual("GB");
    const created = (await unary(c.customers, "createCustomer", { customer }, md)).customer;
    await unary(c.customers, "getCustomer", { id: created.id }, md);
    const missing = await unaryError(c.customers, "getCustomer", { id: "00000000-0000-4000-8000-000000000000" }, metadata(bearer(t.apiKey)));
    expect(missing.code).toBe(grpc.status.NOT_FOUND);
    c.close();
    await server.close(); // flushes the batch

    const all = spans();
    const mine = all.filter((s) => attr(s, "customerms.tenant_id") === t.id);
    expect(mine.map((s) => s.name)).toEqual([
      "finhub.customer.v1.CustomerService/CreateCustomer",
      "finhub.customer.v1.CustomerService/GetCustomer",
      "finhub.customer.v1.CustomerService/GetCustomer",
    ]);
    const [create, get, notFound] = mine as [OtlpSpan, OtlpSpan, OtlpSpan];
    for (const s of [create, get]) {
      expect({ traceId: s.traceId, parent: s.parentSpanId, kind: s.kind }).toEqual({ traceId, parent: parentId, kind: 2 });
      expect(attr(s, "rpc.grpc.status_code")).toBe(0);
    }
    expect(create.spanId).not.toBe(get.spanId);
    expect({ system: attr(get, "rpc.system"), service: attr(get, "rpc.service"), method: attr(get, "rpc.method") }).toEqual({
      system: "grpc",
      service: "finhub.customer.v1.CustomerService",
      method: "GetCustomer",
    });
    // Without a traceparent: a new trace. NOT_FOUND is the client's error, not the server's.
    expect(notFound.traceId).not.toBe(traceId);
    expect(notFound.parentSpanId ?? "").toBe("");
    expect(attr(notFound, "rpc.grpc.status_code")).toBe(grpc.status.NOT_FOUND);
    expect(notFound.status?.code ?? 0).toBe(0);
    // The admin's CreateTenant is traced too, without a tenant.
    expect(all.some((s) => s.name === "finhub.tenant.v1.TenantService/CreateTenant" && attr(s, "customerms.tenant_id") === undefined)).toBe(true);
    expect(new Set(serviceNames())).toEqual(new Set(["customerms-test"]));
    const everything = bodies.join("\n");
    for (const personal of [customer.email, customer.phoneNumber, customer.individual.familyName, t.apiKey]) {
      expect(everything).not.toContain(personal);
    }
  });
});
