// Right to erasure (CloseCustomer erase_personal_data, EraseCustomer; src/customers/customer.ts
// erasePersonalData): what an erased customer keeps, what is gone from its row, its events and
// its stored idempotent responses, the preconditions, and that no personal value leaks to logs or
// to error messages on the way.
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { cipherOf, createKeyring, parseMasterKey } from "../../src/db/envelope.js";
import { bearer, createTenant, markContactsVerified, sql, TEST_MASTER_KEY } from "../support/app.js";
import { useServer } from "../support/file-server.js";
import { beneficialOwner, completeBusiness, completeIndividual, localMobile, validAddress } from "../support/fixtures.js";
import { details, metadata, unary, unaryError, type grpc } from "../support/grpc.js";

const file = useServer({ LOG_LEVEL: "debug" });
const sink = file.logs;

type Caller = Awaited<ReturnType<typeof asTenant>>;

async function asTenant() {
  const tenant = await createTenant(file.server);
  const md = metadata(bearer(tenant.apiKey));
  return {
    id: tenant.id,
    ok: <T = any>(method: string, request: object): Promise<T> => unary<T>(file.clients.customers, method, request, md),
    err: (method: string, request: object): Promise<grpc.ServiceError> => unaryError(file.clients.customers, method, request, md),
  };
}

const FAILED_PRECONDITION = 9;

/** Owner's view of everything stored about one customer, as JSON text. */
async function storedAbout(customerId: string) {
  const [row] = await sql<{ raw: string; c: any }>(file.server.databaseUrl, "select row_to_json(c)::text as raw, row_to_json(c) as c from customers c where id = $1", [customerId]);
  const events = await sql<{ raw: string; note: string; type: string }>(
    file.server.databaseUrl,
    "select row_to_json(e)::text as raw, note, type from customer_events e where customer_id = $1 order by seq",
    [customerId],
  );
  const records = await sql<{ request_id: string; response: Buffer | null }>(
    file.server.databaseUrl,
    "select request_id, response from idempotency_records where resource_id = $1",
    [customerId],
  );
  return { row: row!.c, rowText: row!.raw, events, eventsText: events.map((e) => e.raw).join("\n"), records };
}

/** Fails if any of `values` shows up in `text`, in any letter case. */
function expectNone(text: string, values: readonly string[], where: string): void {
  const lower = text.toLowerCase();
  for (const v of values) expect(lower, `${where} contains "${v}"`).not.toContain(v.toLowerCase());
}

/** Distinctive personal data of one person (nothing else in the run uses these values). */
function personalData(tag: string) {
  return {
    given: `Evangelina${tag}`,
    middle: "Marisol",
    family: "Thistlewood",
    email: `evangelina.${tag.toLowerCase()}.${randomUUID()}@example.org`,
    phone: localMobile("GB"),
    line1: "17 Quayside Mews",
    city: "Kirkcudbright",
    postal: "DG6 4PX",
    nino: "WZ 61 72 83 A",
    dob: { year: 1937, month: 11, day: 23 },
    occupation: "Falconer",
    meta: "segment-thistle",
    note: "closed on request of Evangelina Thistlewood",
  };
}
type Pii = ReturnType<typeof personalData>;

function personOf(p: Pii, externalId: string) {
  return completeIndividual("GB", {
    individual: { givenName: p.given, middleName: p.middle, familyName: p.family, dateOfBirth: p.dob, occupation: p.occupation, nationalId: { type: "GB_NINO", value: p.nino } },
    email: p.email,
    phoneNumber: p.phone,
    address: { ...validAddress("GB"), line1: p.line1, city: p.city, postalCode: p.postal },
    externalId,
    metadata: { segment: p.meta },
  });
}

/** The values that must be gone, in the forms they could be stored or echoed in. */
const secretsOf = (p: Pii) => [
  p.given,
  p.middle,
  p.family,
  p.email,
  p.phone,
  p.phone.slice(1),
  p.line1,
  p.city,
  p.postal,
  p.nino,
  p.nino.replace(/ /g, ""),
  p.occupation,
  p.meta,
  p.note,
  `${p.dob.year}-${p.dob.month}-${p.dob.day}`,
  `"year": ${p.dob.year}`,
  `"year":${p.dob.year}`,
];

describe("CloseCustomer with erase_personal_data", () => {
  it("returns and stores the customer without its personal data; history and ids stay, stored responses go", async () => {
    const t = await asTenant();
    const p = personalData("A");
    const externalId = `ext-${randomUUID()}`;
    const created = (await t.ok("createCustomer", { customer: personOf(p, externalId), requestId: randomUUID() })).customer;
    const change = structuredClone(created);
    change.address.line2 = "Flat 4";
    const updated = (await t.ok("updateCustomer", { customer: change, updateMask: { paths: ["address.line2"] }, requestId: randomUUID() })).customer;
    const linked = (
      await t.ok("linkCustomer", { id: created.id, link: { kind: "LINK_KIND_KYC_CASE", externalId: "kyc-case-77" }, requestId: randomUUID() })
    ).customer;
    expect(linked.etag).not.toBe(updated.etag);
    // Before: the values are really stored (so their absence afterwards means something).
    const held = await storedAbout(created.id);
    expect(held.rowText).toContain(p.given);
    expect(held.rowText).toContain(p.email);
    expect(held.records).toHaveLength(3);

    const closed = (
      await t.ok("closeCustomer", { id: created.id, reason: "STATUS_REASON_CUSTOMER_REQUEST", note: p.note, erasePersonalData: true })
    ).customer;
    expect(closed.eraseTime?.seconds).toMatch(/^\d+$/);
    expect(closed).toMatchObject({
      id: created.id,
      type: "CUSTOMER_TYPE_INDIVIDUAL",
      status: "CUSTOMER_STATUS_CLOSED",
      statusReason: "STATUS_REASON_CUSTOMER_REQUEST",
      countryCode: "GB",
      externalId,
      createTime: created.createTime,
      individual: {
        givenName: "",
        middleName: "",
        familyName: "",
        dateOfBirth: null,
        nationality: "",
        taxResidencyCountry: "",
        nationalId: null,
        occupation: "",
      },
      email: "",
      phoneNumber: "",
      emailVerified: false,
      phoneVerified: false,
      address: null,
      metadata: {},
      statusNote: "",
    });
    expect(closed.links).toEqual(linked.links);
    expect(closed.links).toHaveLength(1);
    expectNone(JSON.stringify(closed), secretsOf(p), "the close response");
    expect((await t.ok("getCustomer", { id: created.id })).customer).toEqual(closed);

    const after = await storedAbout(created.id);
    expect(after.rowText).toContain(externalId);
    expectNone(after.rowText, secretsOf(p), "the customers row");
    expect(after.row).toMatchObject({ email: "", phone_number: null, address: null, metadata: {}, status_note: "", identifier_index: null, status: "closed" });
    expect(after.row.erase_time).not.toBeNull();
    expect(after.row.profile.dateOfBirth).toBeNull();
    expect(after.row.profile.nationalId).toBeNull();
    // Events: every one kept, notes emptied, no personal value in any column.
    expect(after.events.map((e) => e.type)).toEqual(["CUSTOMER_CREATED", "CUSTOMER_UPDATED", "CUSTOMER_LINKED", "CUSTOMER_CLOSED", "CUSTOMER_ERASED"]);
    expect(after.events.map((e) => e.note)).toEqual(["", "", "", "", ""]);
    expectNone(after.eventsText, secretsOf(p), "customer_events");
    const history = (await t.ok("listCustomerEvents", { customerId: created.id })).events;
    expect(history.map((e: any) => e.type)).toEqual([
      "EVENT_TYPE_CUSTOMER_ERASED",
      "EVENT_TYPE_CUSTOMER_CLOSED",
      "EVENT_TYPE_CUSTOMER_LINKED",
      "EVENT_TYPE_CUSTOMER_UPDATED",
      "EVENT_TYPE_CUSTOMER_CREATED",
    ]);
    expect(history[0].changedFields).toEqual(["individual", "business", "email", "phone_number", "address", "metadata", "status_note"]);
    expect(history[1]).toMatchObject({ reason: "STATUS_REASON_CUSTOMER_REQUEST", note: "" });
    expectNone(JSON.stringify(history), secretsOf(p), "ListCustomerEvents");
    // The three stored responses (create, update, link) showed the personal data: deleted.
    expect(after.records).toEqual([]);
    // Nothing finds it by its former identifier or email any more.
    expect((await t.ok("listCustomers", { identifier: { type: "GB_NINO", value: p.nino } })).customers).toEqual([]);
    expect((await t.ok("listCustomers", { email: p.email })).customers).toEqual([]);
  });

  it("with a request_id: the only stored response left is the erased one, and a retry replays it", async () => {
    const t = await asTenant();
    const p = personalData("B");
    const created = (await t.ok("createCustomer", { customer: personOf(p, `ext-${randomUUID()}`), requestId: randomUUID() })).customer;
    const requestId = randomUUID();
    const close = { id: created.id, reason: "STATUS_REASON_FRAUD", note: p.note, erasePersonalData: true, requestId };
    const closed = (await t.ok("closeCustomer", close)).customer;
    expect(closed.eraseTime).not.toBeNull();
    const { records } = await storedAbout(created.id);
    expect(records.map((r) => r.request_id)).toEqual([requestId]);
    const [keyRow] = await sql<{ tenantId: string; keyId: string; wrappedKey: string }>(
      file.server.databaseUrl,
      `select tenant_id as "tenantId", key_id as "keyId", wrapped_key as "wrappedKey" from tenant_data_keys where tenant_id = $1`,
      [t.id],
    );
    const plain = cipherOf(createKeyring(parseMasterKey(TEST_MASTER_KEY)), keyRow!).openBytes(records[0]!.response!, `${t.id}/${requestId}/idempotency-response`);
    expect(plain.includes(Buffer.from(created.id))).toBe(true);
    expectNone(plain.toString("latin1"), secretsOf(p), "the stored close response");
    expect((await t.ok("closeCustomer", close)).customer).toEqual(closed);
  });

  it("frees the email and phone number for a new customer", async () => {
    const t = await asTenant();
    const p = personalData("C");
    const first = (await t.ok("createCustomer", { customer: personOf(p, `ext-${randomUUID()}`) })).customer;
    await t.ok("closeCustomer", { id: first.id, reason: "STATUS_REASON_DUPLICATE", erasePersonalData: true });
    const again = (await t.ok("createCustomer", { customer: personOf(p, `ext-${randomUUID()}`) })).customer;
    expect(again.id).not.toBe(first.id);
    expect([again.email, again.phoneNumber]).toEqual([p.email, p.phone]);
    // Two erased customers (both with an empty email) do not collide either.
    await t.ok("closeCustomer", { id: again.id, reason: "STATUS_REASON_DUPLICATE", erasePersonalData: true });
    const third = (await t.ok("createCustomer", { customer: personOf(p, `ext-${randomUUID()}`) })).customer;
    expect((await t.ok("listCustomers", { email: p.email })).customers.map((c: any) => c.id)).toEqual([third.id]);
  });
});

describe("EraseCustomer", () => {
  it("only erases closed customers, checks the etag, is idempotent, and leaves an erased customer closed for good", async () => {
    const t = await asTenant();
    const other = await asTenant();
    const p = personalData("D");
    const c = (await t.ok("createCustomer", { customer: personOf(p, `ext-${randomUUID()}`) })).customer;
    const eventCount = async () => (await t.ok("listCustomerEvents", { customerId: c.id })).events.length;

    // PENDING, then ACTIVE: refused, nothing changed.
    let err = await t.err("eraseCustomer", { id: c.id });
    expect([err.code, details(err).errorInfo?.reason]).toEqual([FAILED_PRECONDITION, "CUSTOMER_NOT_CLOSED"]);
    expect((await t.ok("getCustomer", { id: c.id })).customer).toEqual(c);
    await markContactsVerified(file.server, t.id, c.id);
    const active = (await t.ok("activateCustomer", { id: c.id })).customer;
    expect(active.status).toBe("CUSTOMER_STATUS_ACTIVE");
    const eventsActive = await eventCount();
    err = await t.err("eraseCustomer", { id: c.id, etag: active.etag });
    expect([err.code, details(err).errorInfo?.reason]).toEqual([FAILED_PRECONDITION, "CUSTOMER_NOT_CLOSED"]);
    expect((await t.ok("getCustomer", { id: c.id })).customer).toEqual(active);
    expect(await eventCount()).toBe(eventsActive);

    // Closed without erasure: the data is still held until EraseCustomer.
    const closed = (await t.ok("closeCustomer", { id: c.id, reason: "STATUS_REASON_INACTIVITY", note: p.note })).customer;
    expect(closed.individual.givenName).toBe(p.given);
    expect(closed.statusNote).toBe(p.note);
    expect(closed.eraseTime).toBeNull();
    expect((await storedAbout(c.id)).events.map((e) => e.note)).toContain(p.note);
    err = await t.err("eraseCustomer", { id: c.id, etag: active.etag });
    expect([err.code, details(err).errorInfo?.reason]).toEqual([10, "ETAG_MISMATCH"]);
    expect((await t.ok("getCustomer", { id: c.id })).customer.individual.givenName).toBe(p.given);
    // Another tenant's customer (and an unknown id): NOT_FOUND.
    for (const id of [c.id, randomUUID()]) {
      err = await other.err("eraseCustomer", { id });
      expect([err.code, details(err).errorInfo?.reason]).toEqual([5, "CUSTOMER_NOT_FOUND"]);
    }
    expect((await t.ok("getCustomer", { id: c.id })).customer.eraseTime).toBeNull();

    const erased = (await t.ok("eraseCustomer", { id: c.id, etag: closed.etag })).customer;
    expect(erased.eraseTime).not.toBeNull();
    expect(Number(erased.etag)).toBe(Number(closed.etag) + 1);
    expect(erased).toMatchObject({ status: "CUSTOMER_STATUS_CLOSED", statusReason: "STATUS_REASON_INACTIVITY", statusNote: "", email: "", individual: { givenName: "", nationalId: null } });
    expectNone(JSON.stringify(erased), secretsOf(p), "the erase response");
    // The note of the close, committed in an earlier transaction, is cleared with the rest.
    const stored = await storedAbout(c.id);
    expect(stored.events.every((e) => e.note === "")).toBe(true);
    expectNone(stored.rowText + stored.eventsText, secretsOf(p), "the erased customer's row and events");
    // Again (with or without the current etag): the same resource, no second event.
    expect((await t.ok("eraseCustomer", { id: c.id })).customer).toEqual(erased);
    expect((await t.ok("eraseCustomer", { id: c.id, etag: erased.etag })).customer).toEqual(erased);
    const types = (await t.ok("listCustomerEvents", { customerId: c.id })).events.map((e: any) => e.type);
    expect(types.filter((x: string) => x === "EVENT_TYPE_CUSTOMER_ERASED")).toHaveLength(1);
    expect(types[0]).toBe("EVENT_TYPE_CUSTOMER_ERASED");

    // Closed for good: no update, no link, no transition. A complete, valid replacement ("*")
    // is refused as closed...
    const refill = { ...personOf(personalData("D2"), `ext-${randomUUID()}`), id: c.id };
    err = await t.err("updateCustomer", { customer: refill, updateMask: { paths: ["*"] } });
    expect([err.code, details(err).errorInfo?.reason]).toEqual([FAILED_PRECONDITION, "CUSTOMER_CLOSED"]);
    // ...and so is a partial one: the closed state is checked before the merged (erased, so
    // empty) customer is validated.
    const partial = structuredClone(erased);
    partial.individual.occupation = "Astronomer";
    err = await t.err("updateCustomer", { customer: partial, updateMask: { paths: ["individual.occupation"] } });
    expect([err.code, details(err).errorInfo?.reason]).toEqual([FAILED_PRECONDITION, "CUSTOMER_CLOSED"]);
    err = await t.err("linkCustomer", { id: c.id, link: { kind: "LINK_KIND_WALLET", externalId: "wallet-1" } });
    expect([err.code, details(err).errorInfo?.reason]).toEqual([FAILED_PRECONDITION, "CUSTOMER_CLOSED"]);
    err = await t.err("activateCustomer", { id: c.id });
    expect([err.code, details(err).errorInfo?.reason]).toEqual([FAILED_PRECONDITION, "TRANSITION_NOT_ALLOWED"]);
    expect((await t.ok("getCustomer", { id: c.id })).customer).toEqual(erased);
  });

  it("a business loses its names, identifiers and representatives, keeps its entity type and incorporation country", async () => {
    const t = await asTenant();
    const names = ["Octavia", "Quennell", "Peregrine", "Haversham", "Thistlewood Falconry Ltd", "Kestrel & Merlin"] as const;
    const repEmail = `octavia.${randomUUID()}@example.org`;
    const vat = "GB 999 9999 73";
    const biz = (
      await t.ok("createCustomer", {
        customer: completeBusiness("GB", {
          business: {
            legalName: names[4],
            tradingName: names[5],
            entityType: "BUSINESS_ENTITY_TYPE_LLC",
            incorporationCountry: "GB",
            taxId: { type: "GB_VAT", value: vat },
            website: "https://falconry.example.org",
            representatives: [
              beneficialOwner({ givenName: names[0], familyName: names[1], dateOfBirth: { year: 1929, month: 12, day: 8 }, email: repEmail }),
              { givenName: names[2], familyName: names[3], dateOfBirth: { year: 1932, month: 2, day: 27 }, roles: ["REPRESENTATIVE_ROLE_AUTHORIZED_SIGNER"] },
            ],
          },
        }),
      })
    ).customer;
    expect(biz.business.representatives).toHaveLength(2);
    const closed = (await t.ok("closeCustomer", { id: biz.id, reason: "STATUS_REASON_DECEASED_OR_DISSOLVED", erasePersonalData: true })).customer;
    expect(closed.business).toEqual({
      legalName: "",
      tradingName: "",
      entityType: "BUSINESS_ENTITY_TYPE_LLC",
      registrationNumber: "",
      taxId: null,
      incorporationCountry: "GB",
      incorporationDate: null,
      website: "",
      industry: "",
      representatives: [],
    });
    const secrets = [...names, repEmail, vat, "GB999999973", "1929-12-8", "1932-2-27", `"year": 1929`, `"year": 1932`, "falconry.example.org"];
    const stored = await storedAbout(biz.id);
    expect(stored.row.profile.representatives).toEqual([]);
    expect(stored.row.profile).toMatchObject({ entityType: "llc", incorporationCountry: "GB", taxId: null });
    expectNone(stored.rowText, secrets, "the business row");
    expectNone(stored.eventsText, secrets, "the business's events");
    expect((await t.ok("getCustomer", { id: biz.id })).customer).toEqual(closed);
    expect((await t.ok("listCustomerEvents", { customerId: biz.id })).events[0].type).toBe("EVENT_TYPE_CUSTOMER_ERASED");
  });
});

describe("personal data on the way to erasure", () => {
  it("is in no log line and no error message or detail, including failed calls", async () => {
    const t = await asTenant();
    const mark = sink.length;
    const p = personalData("E");
    const p2 = { nino: "WY 55 44 33 B", phone: localMobile("GB"), dob: { year: 1934, month: 9, day: 29 }, badNino: "WY 55 44 33 E", badPhone: "+4479112" };
    const failures: grpc.ServiceError[] = [];
    const created = (await t.ok("createCustomer", { customer: personOf(p, `ext-${randomUUID()}`), requestId: randomUUID() })).customer;
    const change = structuredClone(created);
    change.phoneNumber = p2.phone;
    change.individual.nationalId = { type: "GB_NINO", value: p2.nino };
    change.individual.dateOfBirth = p2.dob;
    const updated = (
      await t.ok("updateCustomer", { customer: change, updateMask: { paths: ["phone_number", "individual.national_id", "individual.date_of_birth"] }, requestId: randomUUID() })
    ).customer;
    expect(updated.individual.nationalId.maskedValue).toBe("…433B");

    const bad = structuredClone(updated);
    bad.individual.nationalId = { type: "GB_NINO", value: p2.badNino };
    failures.push(await t.err("updateCustomer", { customer: bad, updateMask: { paths: ["individual.national_id"] } }));
    failures.push(await t.err("updateCustomer", { customer: { ...updated, phoneNumber: p2.badPhone }, updateMask: { paths: ["phone_number"] } }));
    failures.push(await t.err("createCustomer", { customer: { ...personOf(p, `ext-${randomUUID()}`), phoneNumber: localMobile("GB") } }));
    failures.push(await t.err("createCustomer", { customer: { ...personOf(p, `ext-${randomUUID()}`), email: `x.${randomUUID()}@example.org`, phoneNumber: p2.phone } }));
    failures.push(await t.err("createCustomer", { customer: { ...personOf(p, `ext-${randomUUID()}`), email: `y.${randomUUID()}@example.org`, phoneNumber: "", individual: { ...personOf(p, "").individual, nationalId: { type: "GB_NINO", value: p2.badNino } } } }));
    failures.push(await t.err("eraseCustomer", { id: created.id }));
    expect(failures.map((e) => [e.code, details(e).errorInfo?.reason])).toEqual([
      [3, "INVALID_ARGUMENT"],
      [3, "INVALID_ARGUMENT"],
      [6, "EMAIL_ALREADY_EXISTS"],
      [6, "PHONE_NUMBER_ALREADY_EXISTS"],
      [3, "INVALID_ARGUMENT"],
      [FAILED_PRECONDITION, "CUSTOMER_NOT_CLOSED"],
    ]);
    expect(details(failures[0]!).violations.map((v) => v.field)).toEqual(["customer.individual.national_id.value"]);
    expect(details(failures[1]!).violations.map((v) => v.field)).toEqual(["customer.phone_number"]);

    const erased = (await t.ok("closeCustomer", { id: created.id, reason: "STATUS_REASON_OTHER", note: p.note, erasePersonalData: true, requestId: randomUUID() })).customer;
    await t.ok("getCustomer", { id: created.id });
    await t.ok("listCustomerEvents", { customerId: created.id });
    expect(erased.eraseTime).not.toBeNull();

    const secrets = [
      ...secretsOf(p),
      p2.nino,
      p2.nino.replace(/ /g, ""),
      p2.badNino,
      p2.badNino.replace(/ /g, ""),
      p2.phone,
      p2.phone.slice(1),
      p2.badPhone,
      `${p2.dob.year}-${p2.dob.month}-${p2.dob.day}`,
      `"year":${p2.dob.year}`,
      `"year": ${p2.dob.year}`,
    ];
    for (const [i, e] of failures.entries()) {
      const seen = [e.message, e.details, JSON.stringify(details(e)), decodeURIComponent(e.message)].join("\n");
      expectNone(seen, secrets, `error ${i} returned to the client`);
    }
    const ours = sink.slice(mark);
    const rpcLines = ours.map((l) => JSON.parse(l) as { msg?: string; tenant_id?: string }).filter((e) => e.msg === "rpc" && e.tenant_id === t.id);
    expect(rpcLines).toHaveLength(11); // every call above was logged: the check below reads real output
    expectNone(ours.join("\n"), secrets, "the log");
  });
});
