// The tenant data key cache (src/db/envelope.ts) must never hand out a key that was not stored:
// a key created in a transaction that rolls back is not cached, so what the next transaction
// seals still opens after a restart (a fresh DataKeys, as a new process would have).
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKeyring, DataKeys, parseMasterKey } from "../../src/db/envelope.js";
import { sql, startServer, TEST_MASTER_KEY, type TestServer } from "../support/app.js";

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.close();
});

const ring = () => createKeyring(parseMasterKey(TEST_MASTER_KEY));

describe("tenant data keys", () => {
  it("a key created by a rolled-back transaction is not reused: values sealed afterwards open after a restart", async () => {
    const tenantId = randomUUID(); // data keys need no tenant row: the policy checks tenant_id only
    const keys = new DataKeys(ring());
    const inTenant = server.app.database.scopes.tenant(tenantId);
    let firstKeyId = "";
    await expect(
      inTenant(async (em) => {
        firstKeyId = (await keys.forTenant(em, tenantId)).seal("x", "aad").split(".")[1]!;
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    expect(await sql(server.databaseUrl, "select 1 from tenant_data_keys where tenant_id = $1", [tenantId])).toHaveLength(0);

    const sealed = await inTenant(async (em) => (await keys.forTenant(em, tenantId)).seal("1984-02-29", "t/c/f"));
    const rows = await sql<{ key_id: string }>(server.databaseUrl, "select key_id from tenant_data_keys where tenant_id = $1", [tenantId]);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.key_id).not.toBe(firstKeyId);
    expect(sealed.split(".")[1]).toBe(rows[0]!.key_id);

    const restarted = new DataKeys(ring());
    const opened = await inTenant(async (em) => (await restarted.forTenant(em, tenantId)).open(sealed, "t/c/f"));
    expect(opened).toBe("1984-02-29");
  });

  it("concurrent first uses by two processes agree on one key", async () => {
    const tenantId = randomUUID();
    const [a, b] = [new DataKeys(ring()), new DataKeys(ring())];
    const inTenant = server.app.database.scopes.tenant(tenantId);
    const [sa, sb] = await Promise.all([
      inTenant(async (em) => (await a.forTenant(em, tenantId)).seal("A", "aad")),
      inTenant(async (em) => (await b.forTenant(em, tenantId)).seal("B", "aad")),
    ]);
    expect(sa.split(".")[1]).toBe(sb.split(".")[1]);
    const reader = new DataKeys(ring());
    const both = await inTenant(async (em) => {
      const c = await reader.forTenant(em, tenantId);
      return [c.open(sa, "aad"), c.open(sb, "aad")];
    });
    expect(both).toEqual(["A", "B"]);
  });
});
