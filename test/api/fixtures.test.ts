// The builders of test/support/fixtures.ts against the real service: for every supported country,
// completeIndividual / completeBusiness are accepted as they are, owe nothing but their contacts
// (nothing eventually due either), and activate once the contacts are verified. When the country
// table changes, this file says so before the suites that rely on the builders fail obscurely.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SUPPORTED_COUNTRIES } from "../../src/compliance/countries.js";
import { bearer, createTenant, markContactsVerified, startServer, type TestServer, type TestTenant } from "../support/app.js";
import { completeBusiness, completeIndividual, localMobile } from "../support/fixtures.js";
import { grpc, grpcClients, metadata, unary } from "../support/grpc.js";

let server: TestServer;
let c: ReturnType<typeof grpcClients>;
let tenant: TestTenant;
let md: grpc.Metadata;

beforeAll(async () => {
  server = await startServer();
  c = grpcClients(server.port);
  tenant = await createTenant(server);
  md = metadata(bearer(tenant.apiKey));
});
afterAll(async () => {
  c?.close();
  await server?.close();
});

const call = (method: string, request: object) => unary(c.customers, method, request, md);

const builders = { individual: completeIndividual, business: completeBusiness };
const CASES = SUPPORTED_COUNTRIES.flatMap((country) => (["individual", "business"] as const).map((type) => [country, type] as const));

describe.each(CASES)("%s %s", (country, type) => {
  it("is accepted, owes only its contacts, and activates once they are verified", async () => {
    const input = builders[type](country);
    const created = (await call("createCustomer", { customer: input })).customer;
    expect(created.countryCode).toBe(country);
    expect(created.phoneNumber).toBe(input.phoneNumber);
    expect(created.missingRequirements).toEqual(["email", "phone_number"]);
    const requirements = await call("getCustomerRequirements", { id: created.id });
    expect(requirements.currentlyDue.map((r: { reason: string }) => r.reason)).toEqual(["EMAIL_NOT_VERIFIED", "PHONE_NOT_VERIFIED"]);
    expect(requirements.eventuallyDue).toEqual([]);

    await markContactsVerified(server, tenant.id, created.id);
    const active = (await call("activateCustomer", { id: created.id })).customer;
    expect(active.status).toBe("CUSTOMER_STATUS_ACTIVE");
    expect(active.missingRequirements).toEqual([]);
  });
});

describe("localMobile", () => {
  it("never repeats a number within a file", () => {
    const numbers = SUPPORTED_COUNTRIES.flatMap((country) => Array.from({ length: 50 }, () => localMobile(country)));
    expect(new Set(numbers).size).toBe(numbers.length);
  });
});
