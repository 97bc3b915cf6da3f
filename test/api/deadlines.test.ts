// A client deadline ends the database work too: every transaction carries what is left of the
// call's deadline as a transaction-local statement_timeout (db/scope.ts), so a query blocked on
// a row lock is cancelled when the caller stops waiting — the lock wait disappears from
// pg_stat_activity and the write does NOT happen later.
import pg from "pg";
import { describe, expect, inject, it } from "vitest";
import { bearer, createTenant, sql, untilNoLockWaiters } from "../support/app.js";
import { useServer } from "../support/file-server.js";
import { completeIndividual } from "../support/fixtures.js";
import { grpc, metadata, unary, unaryError } from "../support/grpc.js";

const file = useServer();

describe.runIf(inject("databaseKind") === "postgresql")("deadlines reach the database", () => {
  it("a 300 ms deadline on a write blocked by a row lock: DEADLINE_EXCEEDED, the query is cancelled, nothing is written later", async () => {
    const tenant = await createTenant(file.server);
    const md = metadata(bearer(tenant.apiKey));
    const { customer } = await unary(file.clients.customers, "createCustomer", { customer: completeIndividual("GB") }, md);
    const holder = new pg.Client({ connectionString: file.server.databaseUrl });
    await holder.connect();
    try {
      await holder.query("begin");
      await holder.query("select id from customers where tenant_id = $1 and id = $2 for update", [tenant.id, customer.id]);
      const started = Date.now();
      const err = await unaryError(
        file.clients.customers,
        "updateCustomer",
        { customer: { id: customer.id, metadata: { k: "v" } }, updateMask: { paths: ["metadata"] } },
        md,
        { deadline: new Date(Date.now() + 300) },
      );
      expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(Date.now() - started).toBeLessThan(3_000);
      // The service's statement gives up by itself (statement_timeout), while the lock is still held.
      expect(await untilNoLockWaiters(file.server.databaseUrl)).toBe(0);
    } finally {
      await holder.query("rollback");
      await holder.end();
    }
    // Released: the cancelled update never lands.
    const [row] = await sql<{ version: number; metadata: Record<string, string> }>(
      file.server.databaseUrl,
      "select version, metadata from customers where tenant_id = $1 and id = $2",
      [tenant.id, customer.id],
    );
    expect(row).toEqual({ version: 1, metadata: {} });
    const events = await sql(file.server.databaseUrl, "select type from customer_events where tenant_id = $1 and customer_id = $2", [tenant.id, customer.id]);
    expect(events.map((e) => e.type)).toEqual(["CUSTOMER_CREATED"]);
  });

  it("a generous deadline leaves calls alone: create, read and update succeed", async () => {
    const tenant = await createTenant(file.server);
    const md = metadata(bearer(tenant.apiKey));
    const { customer } = await unary(file.clients.customers, "createCustomer", { customer: completeIndividual("GB") }, md, { deadline: new Date(Date.now() + 60_000) });
    expect(customer.etag).toBe("1");
    const options = { deadline: new Date(Date.now() + 60_000) };
    expect((await unary(file.clients.customers, "getCustomer", { id: customer.id }, md, options)).customer.id).toBe(customer.id);
    const updated = await unary(file.clients.customers, "updateCustomer", { customer: { id: customer.id, metadata: { k: "v" } }, updateMask: { paths: ["metadata"] } }, md, options);
    expect(updated.customer.etag).toBe("2");
  });
});
