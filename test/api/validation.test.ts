// Shape validation (acceptance: "Bad input (empty name, malformed email, unknown enum, 5 MiB
// message) → INVALID_ARGUMENT (or RESOURCE_EXHAUSTED for size) with field paths in the details;
// no row written").
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport as createWebTransport } from "@connectrpc/connect-web";
import { CustomerService } from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { bearer, createTenant, sql, type TestServer, type TestTenant } from "../support/app.js";
import { withServer } from "../support/file-server.js";
import { details, grpc, grpcClients, metadata, unary, unaryError, type DecodedDetails } from "../support/grpc.js";

const DOMAIN = "customerms.finhub";

let server: TestServer;
let c: ReturnType<typeof grpcClients>;

withServer({}, (s, clients) => {
  server = s;
  c = clients;
});

function validCustomer(overrides: Record<string, unknown> = {}): Record<string, any> {
  return {
    individual: { givenName: "Ada", familyName: "Lovelace" },
    email: `ada.${randomUUID()}@example.com`,
    countryCode: "GB",
    ...overrides,
  };
}

/** Calls CreateCustomer, expects INVALID_ARGUMENT with ErrorInfo INVALID_ARGUMENT; returns the details. */
async function invalidCreate(tenant: TestTenant, request: object): Promise<DecodedDetails> {
  const err = await unaryError(c.customers, "createCustomer", request, metadata(bearer(tenant.apiKey)));
  return expectInvalid(err);
}

function expectInvalid(err: grpc.ServiceError): DecodedDetails {
  const d = details(err);
  expect({ code: err.code, reason: d.errorInfo?.reason, domain: d.errorInfo?.domain }).toEqual({
    code: grpc.status.INVALID_ARGUMENT,
    reason: "INVALID_ARGUMENT",
    domain: DOMAIN,
  });
  expect(d.types).toContain("buf.validate.Violations");
  return d;
}

async function customerRows(tenant: TestTenant): Promise<number> {
  const rows = await sql<{ n: number }>(server.databaseUrl, "select count(*)::int as n from customers where tenant_id = $1", [
    tenant.id,
  ]);
  return rows[0]!.n;
}

const fields = (d: DecodedDetails) => d.violations.map((v) => v.field);

describe("CreateCustomer field violations", () => {
  it("empty given_name → customer.individual.given_name", async () => {
    const tenant = await createTenant(server);
    const d = await invalidCreate(tenant, { customer: validCustomer({ individual: { givenName: "", familyName: "Lovelace" } }) });
    expect(fields(d)).toEqual(["customer.individual.given_name"]);
    expect(d.violations[0]!.ruleId).toBe("required");
    expect(await customerRows(tenant)).toBe(0);
  });

  it("whitespace-padded name → rule string.trimmed", async () => {
    const tenant = await createTenant(server);
    const d = await invalidCreate(tenant, { customer: validCustomer({ individual: { givenName: " Ada", familyName: "Lovelace " } }) });
    expect(d.violations.map((v) => [v.field, v.ruleId])).toEqual([
      ["customer.individual.given_name", "string.trimmed"],
      ["customer.individual.family_name", "string.trimmed"],
    ]);
    expect(await customerRows(tenant)).toBe(0);
  });

  it("malformed email → customer.email", async () => {
    const tenant = await createTenant(server);
    const d = await invalidCreate(tenant, { customer: validCustomer({ email: "not-an-email" }) });
    expect(fields(d)).toEqual(["customer.email"]);
    expect(d.violations[0]!.ruleId).toBe("string.email");
    expect(await customerRows(tenant)).toBe(0);
  });

  it("lower-case country → customer.country_code", async () => {
    const tenant = await createTenant(server);
    const d = await invalidCreate(tenant, { customer: validCustomer({ countryCode: "gb" }) });
    expect(fields(d)).toEqual(["customer.country_code"]);
    expect(d.violations[0]!.ruleId).toBe("string.pattern");
  });

  it("phone not in E.164 → customer.phone_number", async () => {
    const tenant = await createTenant(server);
    const d = await invalidCreate(tenant, { customer: validCustomer({ phoneNumber: "12345" }) });
    expect(fields(d)).toEqual(["customer.phone_number"]);
    expect(d.violations[0]!.ruleId).toBe("string.pattern");
  });

  it("no profile at all → a violation naming the profile oneof", async () => {
    const tenant = await createTenant(server);
    const d = await invalidCreate(tenant, { customer: validCustomer({ individual: undefined }) });
    expect(d.violations).toHaveLength(1);
    expect(d.violations[0]!.field).not.toBe("");
    expect(d.violations[0]!.field).toMatch(/^customer\.(profile|individual)/);
    expect(await customerRows(tenant)).toBe(0);
  });

  it("no customer → customer", async () => {
    const tenant = await createTenant(server);
    const d = await invalidCreate(tenant, {});
    expect(fields(d)).toEqual(["customer"]);
    expect(d.violations[0]!.ruleId).toBe("required");
  });

  it("type BUSINESS with an individual profile → customer, rule customer.type_matches_profile", async () => {
    const tenant = await createTenant(server);
    const d = await invalidCreate(tenant, { customer: validCustomer({ type: "CUSTOMER_TYPE_BUSINESS" }) });
    expect(d.violations.map((v) => [v.field, v.ruleId])).toEqual([["customer", "customer.type_matches_profile"]]);
    expect(await customerRows(tenant)).toBe(0);
  });

  it("unknown enum number over gRPC (type 9) → customer.type", async () => {
    const tenant = await createTenant(server);
    const d = await invalidCreate(tenant, { customer: validCustomer({ type: 9 }) });
    expect(fields(d)).toContain("customer.type");
    expect(d.violations.find((v) => v.field === "customer.type")!.ruleId).toBe("enum.defined_only");
    expect(await customerRows(tenant)).toBe(0);
  });

  it("malformed request_id → request_id", async () => {
    const tenant = await createTenant(server);
    const d = await invalidCreate(tenant, { customer: validCustomer(), requestId: "abc" });
    expect(fields(d)).toEqual(["request_id"]);
    expect(d.violations[0]!.ruleId).toBe("string.uuid");
    expect(await customerRows(tenant)).toBe(0);
  });

  it("reports every violation at once", async () => {
    const tenant = await createTenant(server);
    const d = await invalidCreate(tenant, {
      customer: validCustomer({ individual: { givenName: "", familyName: "Lovelace" }, email: "nope", countryCode: "gb" }),
    });
    expect(fields(d).sort()).toEqual(["customer.country_code", "customer.email", "customer.individual.given_name"]);
    expect(d.violations).toHaveLength(3);
    expect(await customerRows(tenant)).toBe(0);
  });

  it("after a mix of bad calls no customer row was written, and a good call still writes one", async () => {
    const tenant = await createTenant(server);
    const bad = [
      { customer: validCustomer({ email: "x" }) },
      { customer: validCustomer({ individual: { givenName: "A".repeat(101), familyName: "B" } }) },
      { customer: validCustomer({ business: { legalName: "" }, individual: undefined }) },
      { customer: validCustomer({ type: 9 }) },
      { customer: validCustomer(), requestId: "abc" },
      {},
    ];
    for (const request of bad) await invalidCreate(tenant, request);
    expect(await customerRows(tenant)).toBe(0);
    await unary(c.customers, "createCustomer", { customer: validCustomer() }, metadata(bearer(tenant.apiKey)));
    expect(await customerRows(tenant)).toBe(1);
  });
});

describe("other requests", () => {
  it("GetCustomer with a malformed id → id", async () => {
    const tenant = await createTenant(server);
    const err = await unaryError(c.customers, "getCustomer", { id: "not-a-uuid" }, metadata(bearer(tenant.apiKey)));
    const d = expectInvalid(err);
    expect(fields(d)).toEqual(["id"]);
  });

  it("ListTenants with a negative page_size → page_size", async () => {
    const err = await unaryError(c.tenants, "listTenants", { pageSize: -1 }, metadata(bearer(server.adminToken)));
    const d = expectInvalid(err);
    expect(fields(d)).toEqual(["page_size"]);
  });
});

describe("size and encoding", () => {
  it("a 5 MiB message is refused with RESOURCE_EXHAUSTED (or INVALID_ARGUMENT), never INTERNAL/UNKNOWN, and writes nothing", async () => {
    const tenant = await createTenant(server);
    const err = await unaryError(
      c.customers,
      "createCustomer",
      { customer: validCustomer({ individual: { givenName: "x".repeat(5 * 1024 * 1024), familyName: "Big" } }) },
      metadata(bearer(tenant.apiKey)),
    );
    expect([grpc.status.RESOURCE_EXHAUSTED, grpc.status.INVALID_ARGUMENT]).toContain(err.code);
    expect(await customerRows(tenant)).toBe(0);
    // The connection is still usable afterwards.
    const ok = await unary(c.customers, "createCustomer", { customer: validCustomer() }, metadata(bearer(tenant.apiKey)));
    expect(ok.customer.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("Connect JSON with an unknown enum name → InvalidArgument naming the field", async () => {
    const tenant = await createTenant(server);
    // A real Connect client whose JSON body is rewritten on the wire: a typed client cannot
    // produce an enum name the schema does not have.
    const sent: string[] = [];
    const transport = createWebTransport({
      baseUrl: server.baseUrl,
      fetch: (input, init) => {
        const body = new TextDecoder()
          .decode(init!.body as Uint8Array)
          .replace('"type":"CUSTOMER_TYPE_INDIVIDUAL"', '"type":"CUSTOMER_TYPE_ALIEN"');
        sent.push(body);
        return fetch(input, { ...init, body });
      },
    });
    const client = createClient(CustomerService, transport);
    const err = await client
      .createCustomer(
        { customer: { type: 1, profile: { case: "individual", value: { givenName: "Ada", familyName: "L" } }, email: "a@example.com", countryCode: "GB" } },
        { headers: bearer(tenant.apiKey) },
      )
      .then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(sent).toHaveLength(1);
    expect(JSON.parse(sent[0]!).customer.type).toBe("CUSTOMER_TYPE_ALIEN");
    expect(err, "the server accepted an unknown enum name (and created the customer)").toBeInstanceOf(ConnectError);
    expect(err!.code).toBe(Code.InvalidArgument);
    // protobuf-es names the enum (finhub.customer.v1.CustomerType) and the offending value.
    expect(err!.rawMessage).toMatch(/type/i);
    expect(err!.rawMessage).toContain("CUSTOMER_TYPE_ALIEN");
    expect(await customerRows(tenant)).toBe(0);
  });
});
