// Personal data at rest and in logs (acceptance: "national_id never appears in plaintext in the
// database (a test reads the raw column) or in logs, and comes back masked"). Government
// identifiers are sealed with AES-256-GCM, bound to their row and field by the associated data.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cipherOf, createKeyring, parseMasterKey, type TenantCipher } from "../../src/db/envelope.js";
import {
  bearer,
  createTenant,
  sql,
  startServer,
  TEST_MASTER_KEY,
  type TestServer,
  type TestTenant,
} from "../support/app.js";
import { validIdentifier } from "../support/fixtures.js";
import { grpcClients, metadata, unary, unaryError } from "../support/grpc.js";

const lines: string[] = [];
let server: TestServer;
let c: ReturnType<typeof grpcClients>;

beforeAll(async () => {
  server = await startServer({ LOG_LEVEL: "debug" }, { write: (line) => void lines.push(line) });
  c = grpcClients(server.port);
});
afterAll(async () => {
  c?.close();
  await server?.close();
});

interface Ctx {
  tenant: TestTenant;
  call<T = any>(method: string, request: object): Promise<T>;
}

async function tenantCtx(): Promise<Ctx> {
  const tenant = await createTenant(server);
  const md = metadata(bearer(tenant.apiKey));
  return { tenant, call: (method, request) => unary(c.customers, method, request, md) };
}

const ring = createKeyring(parseMasterKey(TEST_MASTER_KEY));
/** The tenant's data key, unwrapped with the master key the test servers use. */
async function tenantCipher(tenantId: string): Promise<TenantCipher> {
  const [row] = await sql<{ tenantId: string; keyId: string; wrappedKey: string }>(
    server.databaseUrl,
    `select tenant_id as "tenantId", key_id as "keyId", wrapped_key as "wrappedKey" from tenant_data_keys where tenant_id = $1`,
    [tenantId],
  );
  return cipherOf(ring, row!);
}
const aad = (tenantId: string, customerId: string, field = "individual.national_id") => `${tenantId}/${customerId}/${field}`;

/** The value as sent, and the same without separators: neither may appear anywhere. */
const forms = (value: string) => [...new Set([value, value.replace(/[\s./-]/g, "")])];

async function rawCustomer(tenantId: string, id: string): Promise<string> {
  const rows = await sql<{ raw: string }>(
    server.databaseUrl,
    "select row_to_json(c)::text as raw from customers c where tenant_id = $1 and id = $2",
    [tenantId, id],
  );
  expect(rows).toHaveLength(1);
  return rows[0]!.raw;
}

async function storedProfile(tenantId: string, id: string): Promise<any> {
  const rows = await sql<{ profile: any }>(server.databaseUrl, "select profile from customers where tenant_id = $1 and id = $2", [
    tenantId,
    id,
  ]);
  return rows[0]!.profile;
}

/** Everything the tenant's events and idempotency records hold, as text (bytea as hex and as bytes). */
async function tenantSideTables(tenantId: string): Promise<{ text: string; responses: Buffer[] }> {
  const events = await sql<{ raw: string }>(server.databaseUrl, "select row_to_json(e)::text as raw from customer_events e where tenant_id = $1", [
    tenantId,
  ]);
  const records = await sql<{ raw: string; response: Buffer | null }>(
    server.databaseUrl,
    "select row_to_json(i)::text as raw, response from idempotency_records i where tenant_id = $1",
    [tenantId],
  );
  const responses = records.flatMap((r) => (r.response ? [r.response] : []));
  const text = [...events.map((e) => e.raw), ...records.map((r) => r.raw), ...responses.map((b) => b.toString("hex"))].join("\n");
  return { text, responses };
}

function expectAbsent(haystack: string, secrets: string[]): void {
  for (const secret of secrets) {
    expect(haystack).not.toContain(secret);
    expect(haystack.toLowerCase()).not.toContain(secret.toLowerCase());
    expect(haystack).not.toContain(Buffer.from(secret).toString("hex"));
    expect(haystack).not.toContain(Buffer.from(secret).toString("base64"));
  }
}

function individual(nationalId: string, email = `ada.${randomUUID()}@example.com`, extra: object = {}) {
  return {
    individual: {
      givenName: "Ada",
      familyName: "Lovelace",
      nationalId: { type: "GB_NINO", value: nationalId },
    },
    email,
    countryCode: "GB",
    ...extra,
  };
}

describe("government identifiers at rest", () => {
  it("national_id and tax_id are never stored in plain text: rows, events, idempotency records", async () => {
    const t = await tenantCtx();
    const nino = validIdentifier("GB_NINO"); // AB 12 34 56 C
    const ein = validIdentifier("US_EIN"); // 12-3456789
    const a = (await t.call("createCustomer", { customer: individual(nino), requestId: randomUUID() })).customer;
    const b = (
      await t.call("createCustomer", {
        customer: {
          business: {
            legalName: "Analytical Engines Inc",
            taxId: { type: "US_EIN", value: ein },
            representatives: [{ givenName: "Charles", familyName: "Babbage", roles: ["REPRESENTATIVE_ROLE_DIRECTOR"] }],
          },
          email: `office.${randomUUID()}@example.com`,
          countryCode: "US",
        },
        requestId: randomUUID(),
      })
    ).customer;
    // An update (with request_id) that sets a new national_id writes an event and another record.
    const newNino = "AB 98 76 54 D";
    const body = structuredClone(a);
    body.individual.nationalId = { type: "GB_NINO", value: newNino };
    const updated = (
      await t.call("updateCustomer", { customer: body, updateMask: { paths: ["individual.national_id"] }, requestId: randomUUID() })
    ).customer;
    expect(updated.individual.nationalId).toEqual({ type: "GB_NINO", value: "", maskedValue: "…654D" });

    const rawA = await rawCustomer(t.tenant.id, a.id);
    const rawB = await rawCustomer(t.tenant.id, b.id);
    // The raw rows are what we think they are (the test would pass vacuously otherwise).
    expect(rawA).toContain(a.email);
    expect(rawB).toContain("Analytical Engines Inc");
    expectAbsent(rawA, [...forms(nino), ...forms(newNino)]);
    expectAbsent(rawB, forms(ein));

    const side = await tenantSideTables(t.tenant.id);
    expect(side.responses.length).toBe(3);
    expect(side.text).toContain("CUSTOMER_UPDATED");
    expectAbsent(side.text, [...forms(nino), ...forms(newNino), ...forms(ein)]);
    for (const response of side.responses) {
      for (const secret of [...forms(nino), ...forms(newNino), ...forms(ein)]) {
        expect(response.includes(Buffer.from(secret))).toBe(false);
      }
    }

    // What is stored: type, last four, blind index and a v2 AES-GCM envelope (tenant data key).
    const pa = await storedProfile(t.tenant.id, a.id);
    expect(Object.keys(pa.nationalId).sort()).toEqual(["index", "last4", "sealed", "type"]);
    expect(pa.nationalId.type).toBe("GB_NINO");
    expect(pa.nationalId.last4).toBe("654D");
    expect(pa.nationalId.sealed).toMatch(/^v2\.d[0-9a-f]{8}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const cipher = await tenantCipher(t.tenant.id);
    expect(cipher.open(pa.nationalId.sealed, aad(t.tenant.id, a.id))).toBe(newNino);
    const pb = await storedProfile(t.tenant.id, b.id);
    expect(pb.taxId.sealed.startsWith("v2.")).toBe(true);
    expect(pb.taxId.last4).toBe("6789");
    expect(cipher.open(pb.taxId.sealed, aad(t.tenant.id, b.id, "business.tax_id"))).toBe(ein);
  });

  it("GetCustomer, ListCustomers, UpdateCustomer and replays return the value empty and masked_value '…' + last four", async () => {
    const t = await tenantCtx();
    const requestId = randomUUID();
    const request = { customer: individual("AB-123-456-C"), requestId };
    const created = (await t.call("createCustomer", request)).customer;
    const replay = (await t.call("createCustomer", request)).customer;
    const got = (await t.call("getCustomer", { id: created.id })).customer;
    const listed = (await t.call("listCustomers", {})).customers;
    const masked = { type: "GB_NINO", value: "", maskedValue: "…456C" };
    expect(created.individual.nationalId).toEqual(masked);
    expect(replay.individual.nationalId).toEqual(masked);
    expect(got.individual.nationalId).toEqual(masked);
    expect(listed).toHaveLength(1);
    expect(listed[0].individual.nationalId).toEqual(masked);

    const body = structuredClone(got);
    body.individual.occupation = "Analyst";
    const updated = (await t.call("updateCustomer", { customer: body, updateMask: { paths: ["individual.occupation"] } })).customer;
    expect(updated.individual.nationalId).toEqual(masked);
    for (const customer of [created, replay, got, listed[0], updated]) {
      expect(JSON.stringify(customer)).not.toContain("AB-123-456-C");
      expect(JSON.stringify(customer)).not.toContain("AB123456C");
    }
  });

  it("the same value for two customers gives two different ciphertexts (fresh IV)", async () => {
    const t = await tenantCtx();
    const value = validIdentifier("GB_NINO");
    const a = (await t.call("createCustomer", { customer: individual(value) })).customer;
    const b = (await t.call("createCustomer", { customer: individual(value) })).customer;
    const sa: string = (await storedProfile(t.tenant.id, a.id)).nationalId.sealed;
    const sb: string = (await storedProfile(t.tenant.id, b.id)).nationalId.sealed;
    expect(sa).not.toBe(sb);
    const [, kidA, ivA, ctA] = sa.split(".");
    const [, kidB, ivB, ctB] = sb.split(".");
    expect(kidA).toBe(kidB); // same key
    expect(ivA).not.toBe(ivB);
    expect(ctA).not.toBe(ctB);
    const cipher = await tenantCipher(t.tenant.id);
    expect(cipher.open(sa, aad(t.tenant.id, a.id))).toBe(value);
    expect(cipher.open(sb, aad(t.tenant.id, b.id))).toBe(value);
  });

  it("a ciphertext moved to another customer's row does not open with that row's associated data", async () => {
    const t = await tenantCtx();
    const a = (await t.call("createCustomer", { customer: individual("AB111111A") })).customer;
    const b = (await t.call("createCustomer", { customer: individual("AB222222B") })).customer;
    const sealedA: string = (await storedProfile(t.tenant.id, a.id)).nationalId.sealed;
    await sql(
      server.databaseUrl,
      "update customers set profile = jsonb_set(profile, '{nationalId,sealed}', to_jsonb($3::text)) where tenant_id = $1 and id = $2",
      [t.tenant.id, b.id, sealedA],
    );
    const moved: string = (await storedProfile(t.tenant.id, b.id)).nationalId.sealed;
    expect(moved).toBe(sealedA);
    const cipher = await tenantCipher(t.tenant.id);
    expect(() => cipher.open(moved, aad(t.tenant.id, b.id))).toThrow();
    expect(cipher.open(moved, aad(t.tenant.id, a.id))).toBe("AB111111A");
    // Bound to the field and the tenant too.
    expect(() => cipher.open(moved, aad(t.tenant.id, a.id, "business.tax_id"))).toThrow();
    const other = await createTenant(server);
    expect(() => cipher.open(moved, aad(other.id, a.id))).toThrow();
    // A tampered ciphertext does not open either.
    const parts = sealedA.split(".");
    const ct = Buffer.from(parts[3]!, "base64url");
    ct[0] = ct[0]! ^ 1;
    parts[3] = ct.toString("base64url");
    expect(() => cipher.open(parts.join("."), aad(t.tenant.id, a.id))).toThrow();
  });
});

describe("logs", () => {
  it("never contain the national_id, names, email or phone number, whatever the calls do", async () => {
    const t = await tenantCtx();
    const before = lines.length;
    const pii = {
      nino: "ZR 76 54 32 A",
      newNino: "ZS 11 22 33 B",
      ein: "98-7654321",
      given: "Wilhelmina",
      middle: "Quintessa",
      family: "Fitzgerald-Oyelaran",
      repGiven: "Bartholomew",
      repFamily: "Xanthopoulos",
      legal: "Quixotic Widgets Ltd",
      email: `wilhelmina.${randomUUID()}@example.com`,
      bizEmail: `quixotic.${randomUUID()}@example.com`,
      phone: "+447911123459",
      bizPhone: "+4915123456788",
    };
    const md = metadata(bearer(t.tenant.apiKey));
    const person = {
      individual: {
        givenName: pii.given,
        middleName: pii.middle,
        familyName: pii.family,
        nationalId: { type: "GB_NINO", value: pii.nino },
        dateOfBirth: { year: 1970, month: 1, day: 2 },
      },
      email: pii.email,
      phoneNumber: pii.phone,
      countryCode: "GB",
    };
    const created = (await t.call("createCustomer", { customer: person, requestId: randomUUID() })).customer;
    const biz = (
      await t.call("createCustomer", {
        customer: {
          business: {
            legalName: pii.legal,
            taxId: { type: "US_EIN", value: pii.ein },
            representatives: [
              { givenName: pii.repGiven, familyName: pii.repFamily, email: pii.bizEmail, roles: ["REPRESENTATIVE_ROLE_DIRECTOR"] },
            ],
          },
          email: pii.bizEmail,
          phoneNumber: pii.bizPhone,
          countryCode: "US", // where the EIN is an accepted tax_id
        },
      })
    ).customer;
    await t.call("getCustomer", { id: created.id });
    await t.call("listCustomers", { email: pii.email, phoneNumber: pii.phone });
    const body = structuredClone(created);
    body.individual.nationalId = { type: "GB_NINO", value: pii.newNino };
    await t.call("updateCustomer", { customer: body, updateMask: { paths: ["individual.national_id"] } });

    // Failures of every kind, each echoing personal data in the request.
    const errors = await Promise.all([
      // duplicate email, phone (unique index violation inside the database)
      unaryError(c.customers, "createCustomer", { customer: { ...person, phoneNumber: "" } }, md),
      unaryError(c.customers, "createCustomer", { customer: { ...person, email: `x.${randomUUID()}@example.com` } }, md),
      // shape violation (bad national_id characters) and business rule (future date of birth)
      unaryError(c.customers, "createCustomer", { customer: { ...person, individual: { ...person.individual, nationalId: { type: "GB_NINO", value: `${pii.nino}!` } } } }, md),
      unaryError(
        c.customers,
        "createCustomer",
        { customer: { ...person, email: `y.${randomUUID()}@example.com`, phoneNumber: "", individual: { ...person.individual, dateOfBirth: { year: 3000, month: 1, day: 1 } } } },
        md,
      ),
      // a mask error, a stale etag
      unaryError(c.customers, "updateCustomer", { customer: { ...body, etag: "" }, updateMask: { paths: ["status"] } }, md),
      unaryError(c.customers, "updateCustomer", { customer: { ...body, etag: "99" }, updateMask: { paths: ["individual.national_id"] } }, md),
      // unauthenticated, with personal data in the body
      unaryError(c.customers, "createCustomer", { customer: person }),
    ]);
    expect(errors.map((e) => e.code)).toEqual([6, 6, 3, 3, 3, 10, 16]);
    await t.call("closeCustomer", { id: biz.id, reason: "STATUS_REASON_OTHER", note: "test run" });

    const ours = lines.slice(before);
    const rpcLines = ours.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.msg === "rpc");
    // The twelve authenticated calls above were logged (so the check below looks at real output).
    expect(rpcLines.filter((e) => e.tenant_id === t.tenant.id)).toHaveLength(12);

    const all = lines.join("\n");
    const secrets = [
      ...forms(pii.nino),
      ...forms(pii.newNino),
      ...forms(pii.ein),
      pii.given,
      pii.middle,
      pii.family,
      pii.repGiven,
      pii.repFamily,
      pii.legal,
      pii.email,
      pii.bizEmail,
      pii.phone,
      pii.phone.slice(1),
      pii.bizPhone,
      pii.bizPhone.slice(1),
      t.tenant.apiKey,
    ];
    for (const secret of secrets) {
      expect(all).not.toContain(secret);
      expect(all.toLowerCase()).not.toContain(secret.toLowerCase());
    }
  });
});
