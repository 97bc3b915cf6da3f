// Acceptance: on a machine with no DATABASE_URL/REDIS_URL, `npm start` serves requests on the
// embedded PGlite, prints a generated admin token once, and data survives a restart.
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CustomerService } from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { TenantService } from "../../gen/finhub/tenant/v1/tenant_service_pb.js";
import { cleanEnv, spawnService, stop, waitListening, type Child } from "../support/process.js";

const children: Child[] = [];
let dataDir = "";

afterAll(async () => {
  for (const c of children) await stop(c);
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

function clients(port: number) {
  const transport = createConnectTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "1.1" });
  return { tenants: createClient(TenantService, transport), customers: createClient(CustomerService, transport) };
}

describe("npm start with no DATABASE_URL (embedded PGlite)", () => {
  it("serves, keeps its data across a restart, and stops cleanly on SIGTERM", { timeout: 120_000 }, async () => {
    dataDir = await mkdtemp(join(tmpdir(), "cms-embedded-"));
    const env = cleanEnv({ PORT: "0", CUSTOMERMS_DATA_DIR: dataDir });

    const first = spawnService("npm", ["start", "--silent"], env);
    children.push(first);
    const port1 = await waitListening(first);
    expect(first.stdout()).toContain('"database":"embedded"');
    expect(first.stdout()).toContain("ONE process only");

    // The generated admin token: printed once with an example call, kept (0600) in the data dir.
    const token = (await readFile(join(dataDir, "admin-token"), "utf8")).trim();
    expect(token).toMatch(/^cmsadm_[A-Za-z0-9_-]{43}$/);
    expect(first.stdout()).toContain(token);
    expect(first.stdout()).toContain("/finhub.tenant.v1.TenantService/CreateTenant");
    expect((await stat(join(dataDir, "admin-token"))).mode & 0o777).toBe(0o600);

    const c1 = clients(port1);
    const { apiKey } = await c1.tenants.createTenant(
      { tenant: { displayName: "Embedded Ltd" } },
      { headers: { authorization: `Bearer ${token}` } },
    );
    const auth = { headers: { authorization: `Bearer ${apiKey}` } };
    const { customer } = await c1.customers.createCustomer(
      {
        customer: {
          profile: { case: "business", value: { legalName: "Embedded Ltd" } },
          email: "ops@embedded.example",
          countryCode: "NL",
        },
      },
      auth,
    );
    expect(customer?.id).toMatch(/^[0-9a-f-]{36}$/);
    // Concurrent calls: the pool's connections are all served by PGlite's ONE session
    // (pglite-socket), where prepared statements of the same name used to collide (INTERNAL).
    const concurrent = await Promise.allSettled(
      Array.from({ length: 16 }, (_, i) =>
        c1.customers.createCustomer(
          { customer: { profile: { case: "business", value: { legalName: `Concurrent ${i}` } }, email: `c${i}@embedded.example`, countryCode: "NL" } },
          auth,
        ),
      ),
    );
    expect(concurrent.flatMap((r) => (r.status === "rejected" ? [String(r.reason)] : []))).toEqual([]);
    const events = await c1.customers.listCustomerEvents({ customerId: customer!.id }, auth);
    expect(events.events.map((e) => e.sequence)).toEqual([1n]);
    await stop(first);
    expect(first.stdout()).toContain('"msg":"stopped"'); // drained and exited 0 (see main.ts)

    // Second start: same data directory, same token (not printed again), same customer.
    const second = spawnService("npm", ["start", "--silent"], env);
    children.push(second);
    const port2 = await waitListening(second);
    expect(second.stdout()).not.toContain(token);
    const again = await clients(port2).customers.getCustomer({ id: customer!.id }, auth);
    expect(again.customer?.profile).toMatchObject({ case: "business", value: { legalName: "Embedded Ltd" } });
    expect(again.customer?.email).toBe("ops@embedded.example");
    await stop(second);
    expect(second.stdout()).toContain('"msg":"stopped"');
  });
});
