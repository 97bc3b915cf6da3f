// Tenant CORS origins are enforced (a tenant's origin passes preflight once it is configured),
// and every tenant change is recorded in tenant_audit with field names, never values.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { TenantService } from "../../gen/finhub/tenant/v1/tenant_service_pb.js";
import { bearer, createTenant, sql, startServer, type TestServer } from "../support/app.js";

let server: TestServer;
beforeAll(async () => {
  server = await startServer({ CUSTOMERMS_CORS_ORIGINS: "https://console.finhub.example" });
});
afterAll(async () => {
  await server?.close();
});

async function preflight(origin: string): Promise<Response> {
  return fetch(`${server.baseUrl}/finhub.customer.v1.CustomerService/GetCustomer`, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type,authorization,connect-protocol-version",
    },
  });
}

function tenantsClient() {
  return createClient(TenantService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1" }));
}

describe("tenant CORS origins", () => {
  it("a tenant's origin is refused until UpdateTenant adds it, then allowed at once; the configured one always", async () => {
    const tenant = await createTenant(server);
    const origin = `https://app-${randomUUID().slice(0, 8)}.tenant.example`;
    expect((await preflight(origin)).status).toBe(403);
    expect((await preflight("https://console.finhub.example")).status).toBe(204);

    await tenantsClient().updateTenant(
      { tenant: { id: tenant.id, corsOrigins: [origin] }, updateMask: { paths: ["cors_origins"] } },
      { headers: bearer(server.adminToken) },
    );
    // The replica that made the change refreshes right after the commit (bounded poll).
    const deadline = Date.now() + 5_000;
    let res = await preflight(origin);
    while (res.status !== 204 && Date.now() < deadline) res = await preflight(origin);
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(origin);
    expect(res.headers.get("access-control-allow-headers")).toMatch(/authorization/i);
  });
});

describe("tenant audit", () => {
  it("records creation and each update with the changed field names and the new version", async () => {
    const tenant = await createTenant(server, "Audited Ltd");
    const client = tenantsClient();
    const headers = { headers: bearer(server.adminToken) };
    await client.updateTenant(
      { tenant: { id: tenant.id, displayName: "Audited Holdings", countriesOfOperation: ["GB"] }, updateMask: { paths: ["display_name", "countries_of_operation"] } },
      headers,
    );
    await client.updateTenant({ tenant: { id: tenant.id, requiredFields: ["individual.occupation"] }, updateMask: { paths: ["required_fields"] } }, headers);

    const rows = await sql<{ type: string; actor: string; changed_fields: string[]; version: number }>(
      server.databaseUrl,
      "select type, actor, changed_fields, version from tenant_audit where tenant_id = $1 order by version",
      [tenant.id],
    );
    expect(rows).toEqual([
      { type: "TENANT_CREATED", actor: "admin", changed_fields: [], version: 1 },
      { type: "TENANT_UPDATED", actor: "admin", changed_fields: ["display_name", "countries_of_operation"], version: 2 },
      { type: "TENANT_UPDATED", actor: "admin", changed_fields: ["required_fields"], version: 3 },
    ]);
    const raw = JSON.stringify(await sql(server.databaseUrl, "select * from tenant_audit where tenant_id = $1", [tenant.id]));
    expect(raw).not.toContain("Audited Holdings");
    expect(raw).not.toContain("individual.occupation");
  });
});
