// Customer events through the API (acceptance: "Every state-changing RPC of CustomerService and
// VerificationService produces exactly one event of the right type; failed/rolled-back calls
// produce none"), plus ListCustomerEvents paging, per-tenant sequence numbers without gaps,
// tenant isolation and the absence of personal data in events. Every count is taken twice:
// through ListCustomerEvents (grpc-js client built from proto/) and straight from the table.
// Codes are read from an in-process SMTP server (email) and webhook receiver (phone).
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, createTenant, markContactsVerified, sql, startServer, type TestServer, type TestTenant } from "../support/app.js";
import { details, grpc, grpcClients, metadata, unary, unaryError, type GrpcClient } from "../support/grpc.js";
import { startSmtpReceiver, startWebhookReceiver, type SmtpReceiver, type WebhookReceiver } from "../support/receivers.js";

const DOMAIN = "customerms.finhub";
const WEBHOOK_SECRET = `whsec-${randomBytes(17).toString("hex")}`;

let server: TestServer;
let smtp: SmtpReceiver;
let webhook: WebhookReceiver;
let c: ReturnType<typeof grpcClients>;
let v: GrpcClient;

beforeAll(async () => {
  smtp = await startSmtpReceiver();
  webhook = await startWebhookReceiver("/hook");
  server = await startServer({
    CUSTOMERMS_NOTIFIER: "smtp",
    CUSTOMERMS_SMTP_URL: smtp.url,
    CUSTOMERMS_PHONE_NOTIFIER: "webhook",
    CUSTOMERMS_WEBHOOK_URL: webhook.url,
    CUSTOMERMS_WEBHOOK_SECRET: WEBHOOK_SECRET,
  });
  c = grpcClients(server.port);
  v = c.verification;
});

afterAll(async () => {
  c?.close();
  await server?.close();
  await smtp?.close();
  await webhook?.close();
});

// ---------------------------------------------------------------------------------------------
// Helpers

interface Ctx {
  tenant: TestTenant;
  md: grpc.Metadata;
  call(service: "customers" | "verification", method: string, request: object): Promise<any>;
  fail(service: "customers" | "verification", method: string, request: object): Promise<grpc.ServiceError>;
}

async function tenantCtx(): Promise<Ctx> {
  const tenant = await createTenant(server);
  const md = metadata(bearer(tenant.apiKey));
  const client = (s: "customers" | "verification") => (s === "customers" ? c.customers : v);
  return {
    tenant,
    md,
    call: (s, method, request) => unary(client(s), method, request, md),
    fail: (s, method, request) => unaryError(client(s), method, request, md),
  };
}

function expectError(err: grpc.ServiceError, code: number, reason: string): void {
  const info = details(err).errorInfo;
  expect({ code: err.code, reason: info?.reason, domain: info?.domain }).toEqual({ code, reason, domain: DOMAIN });
}

let phoneSeq = 0;
/** A valid UK mobile number, unique within the run of this file. */
const nextPhone = () => `+447400${String((process.pid * 7 + phoneSeq++ * 7919) % 1_000_000).padStart(6, "0")}`;

const address = { line1: "1 Test Street", city: "London", postalCode: "SW1A 1AA", countryCode: "GB" };

/** An individual that can be activated once its contacts are verified (GB: address, date of birth). */
function individual(email = `ev.${randomUUID()}@example.com`, phone: string | null = nextPhone()) {
  return {
    individual: { givenName: "Evie", familyName: "Vent", dateOfBirth: { year: 1985, month: 4, day: 12 } },
    email,
    ...(phone ? { phoneNumber: phone } : {}),
    countryCode: "GB",
    address,
  };
}

async function newCustomer(t: Ctx, body: object = individual()): Promise<{ id: string; etag: string; email: string; phone: string }> {
  const res = await t.call("customers", "createCustomer", { customer: body });
  return { id: res.customer.id, etag: res.customer.etag, email: res.customer.email, phone: res.customer.phoneNumber };
}

/** Every event of a customer through ListCustomerEvents (newest first), following the pages. */
async function listAll(t: Ctx, customerId: string, pageSize = 500): Promise<{ events: any[]; pages: any[][] }> {
  const events: any[] = [];
  const pages: any[][] = [];
  let pageToken = "";
  for (let i = 0; i < 1_000; i++) {
    const res = await t.call("customers", "listCustomerEvents", { customerId, pageSize, pageToken });
    pages.push(res.events);
    events.push(...res.events);
    if (res.nextPageToken === "") return { events, pages };
    pageToken = res.nextPageToken;
  }
  throw new Error("ListCustomerEvents did not reach its last page");
}

interface Counts {
  /** Events of the customer through the API (0 when there is no customer yet). */
  api: number;
  apiTypes: string[];
  /** Events of the customer in the table. */
  rows: number;
  /** Events of the tenant in the table. */
  tenant: number;
}

async function counts(t: Ctx, customerId: string | undefined): Promise<Counts> {
  const api = customerId ? (await listAll(t, customerId)).events : [];
  const [rows] = await sql<{ n: number }>(
    server.databaseUrl,
    "select count(*)::int as n from customer_events where tenant_id = $1 and customer_id = $2",
    [t.tenant.id, customerId ?? randomUUID()],
  );
  const [tenant] = await sql<{ n: number }>(server.databaseUrl, "select count(*)::int as n from customer_events where tenant_id = $1", [
    t.tenant.id,
  ]);
  return { api: api.length, apiTypes: api.map((e) => e.type), rows: rows!.n, tenant: tenant!.n };
}

async function tenantSeqs(tenantId: string): Promise<number[]> {
  const rows = await sql<{ seq: string }>(server.databaseUrl, "select seq from customer_events where tenant_id = $1 order by seq", [tenantId]);
  return rows.map((r) => Number(r.seq));
}

const oneToN = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

const millis = (ts: { seconds: string | number; nanos: number } | null | undefined): number => {
  if (!ts) throw new Error("timestamp missing");
  return Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6);
};

/** A code of the same length that is not `code`. */
const wrongCode = (code: string) => String((Number(code) + 1) % 10 ** code.length).padStart(code.length, "0");

async function emailCode(t: Ctx, customerId: string, email: string): Promise<string> {
  const before = await counts(t, customerId);
  await t.call("verification", "startEmailVerification", { customerId });
  // Sending a code changes no customer state: no event.
  expect(await counts(t, customerId)).toEqual(before);
  return (await smtp.waitForMessage((m) => m.to.includes(email), 10_000)).code;
}

async function phoneCode(t: Ctx, customerId: string): Promise<string> {
  const before = await counts(t, customerId);
  await t.call("verification", "startPhoneVerification", { customerId });
  expect(await counts(t, customerId)).toEqual(before);
  const hook = await webhook.waitForMessage((m) => m.json?.customer_id === customerId, 10_000);
  return String(hook.json.code);
}

// ---------------------------------------------------------------------------------------------
// The table: one row per state-changing RPC.

/** What a row's setup prepared: the customer the RPC acts on and whatever the calls need. */
interface Subject {
  /** undefined until the customer exists (CreateCustomer). */
  id: string | undefined;
  etag: string;
  email: string;
  /** Anything else a row needs (another customer, a code, the first request...). */
  extra: Record<string, any>;
}

type Service = "customers" | "verification";

interface Failure {
  what: string;
  /** Before or after the successful call (default after). */
  when?: "before" | "after";
  service?: Service;
  method?: string;
  request(s: Subject): object;
  code: number;
  reason: string;
}

interface Case {
  rpc: string;
  service: Service;
  method: string;
  expectedType: string;
  /** Whether the RPC takes a request_id (then a retry with the same one must not write again). */
  idempotent: boolean;
  setup(t: Ctx): Promise<Subject>;
  request(s: Subject, requestId: string): object;
  /** The customer id once the call succeeded (CreateCustomer learns it from the response). */
  idOf?(res: any): string;
  checkEvent(e: any, s: Subject): void;
  failures: Failure[];
}

const { status } = grpc;

const cases: Case[] = [
  {
    rpc: "CreateCustomer",
    service: "customers",
    method: "createCustomer",
    expectedType: "EVENT_TYPE_CUSTOMER_CREATED",
    idempotent: true,
    async setup() {
      const email = `create.${randomUUID()}@example.com`;
      return { id: undefined, etag: "", email, extra: { body: individual(email), firstRequestId: "" } };
    },
    request: (s, requestId) => ((s.extra.firstRequestId ||= requestId), { customer: s.extra.body, requestId }),
    idOf: (res) => res.customer.id,
    checkEvent(e) {
      expect(e.changedFields).toEqual([]);
      expect(e.reason).toBe("STATUS_REASON_UNSPECIFIED");
      expect(e.link).toBeNull();
    },
    failures: [
      {
        what: "the same email again",
        request: (s) => ({ customer: individual(s.email), requestId: randomUUID() }),
        code: status.ALREADY_EXISTS,
        reason: "EMAIL_ALREADY_EXISTS",
      },
      {
        what: "the same email in upper case, without request_id",
        request: (s) => ({ customer: individual(s.email.toUpperCase()) }),
        code: status.ALREADY_EXISTS,
        reason: "EMAIL_ALREADY_EXISTS",
      },
      {
        what: "the first request_id with another customer",
        request: (s) => ({ customer: individual(), requestId: s.extra.firstRequestId }),
        code: status.ALREADY_EXISTS,
        reason: "REQUEST_ID_REUSED",
      },
      {
        what: "a malformed email",
        when: "before",
        request: () => ({ customer: individual("not-an-email") }),
        code: status.INVALID_ARGUMENT,
        reason: "INVALID_ARGUMENT",
      },
    ],
  },
  {
    rpc: "UpdateCustomer",
    service: "customers",
    method: "updateCustomer",
    expectedType: "EVENT_TYPE_CUSTOMER_UPDATED",
    idempotent: true,
    async setup(t) {
      const cust = await newCustomer(t);
      const other = await newCustomer(t);
      return { id: cust.id, etag: cust.etag, email: cust.email, extra: { newEmail: `upd.${randomUUID()}@example.com`, other } };
    },
    request: (s, requestId) => ({
      customer: { id: s.id, etag: s.etag, email: s.extra.newEmail },
      updateMask: { paths: ["email"] },
      requestId,
    }),
    checkEvent(e) {
      expect(e.changedFields).toEqual(["email"]);
    },
    failures: [
      {
        what: "a stale etag",
        request: (s) => ({ customer: { id: s.id, etag: s.etag, email: `stale.${randomUUID()}@example.com` }, updateMask: { paths: ["email"] } }),
        code: status.ABORTED,
        reason: "ETAG_MISMATCH",
      },
      {
        what: "another customer's email",
        request: (s) => ({ customer: { id: s.id, email: s.extra.other.email }, updateMask: { paths: ["email"] } }),
        code: status.ALREADY_EXISTS,
        reason: "EMAIL_ALREADY_EXISTS",
      },
      {
        what: "a mask naming an output-only field",
        request: (s) => ({ customer: { id: s.id, email: `x.${randomUUID()}@example.com` }, updateMask: { paths: ["email", "etag"] } }),
        code: status.INVALID_ARGUMENT,
        reason: "INVALID_UPDATE_MASK",
      },
      {
        what: "an invalid phone number",
        when: "before",
        request: (s) => ({ customer: { id: s.id, phoneNumber: "+4400" }, updateMask: { paths: ["phone_number"] } }),
        code: status.INVALID_ARGUMENT,
        reason: "INVALID_ARGUMENT",
      },
    ],
  },
  {
    rpc: "ActivateCustomer",
    service: "customers",
    method: "activateCustomer",
    expectedType: "EVENT_TYPE_CUSTOMER_ACTIVATED",
    idempotent: true,
    async setup(t) {
      const cust = await newCustomer(t);
      const unverified = await newCustomer(t);
      await markContactsVerified(server, t.tenant.id, cust.id);
      return { id: cust.id, etag: cust.etag, email: cust.email, extra: { unverified } };
    },
    request: (s, requestId) => ({ id: s.id, etag: s.etag, note: "kyc passed", requestId }),
    checkEvent(e) {
      expect(e.reason).toBe("STATUS_REASON_ONBOARDING_COMPLETED");
      expect(e.note).toBe("kyc passed");
      expect(e.changedFields).toEqual(["status"]);
    },
    failures: [
      {
        what: "a customer whose contacts are not verified",
        when: "before",
        request: (s) => ({ id: s.extra.unverified.id }),
        code: status.FAILED_PRECONDITION,
        reason: "ACTIVATION_REQUIREMENTS_NOT_MET",
      },
      { what: "activating an active customer", request: (s) => ({ id: s.id }), code: status.FAILED_PRECONDITION, reason: "TRANSITION_NOT_ALLOWED" },
      { what: "a stale etag", request: (s) => ({ id: s.id, etag: s.etag }), code: status.ABORTED, reason: "ETAG_MISMATCH" },
    ],
  },
  {
    rpc: "SuspendCustomer",
    service: "customers",
    method: "suspendCustomer",
    expectedType: "EVENT_TYPE_CUSTOMER_SUSPENDED",
    idempotent: true,
    async setup(t) {
      const cust = await newCustomer(t);
      await markContactsVerified(server, t.tenant.id, cust.id);
      const active = await t.call("customers", "activateCustomer", { id: cust.id });
      return { id: cust.id, etag: active.customer.etag, email: cust.email, extra: {} };
    },
    request: (s, requestId) => ({ id: s.id, etag: s.etag, reason: "STATUS_REASON_FRAUD", note: "case 42", requestId }),
    checkEvent(e) {
      expect(e.reason).toBe("STATUS_REASON_FRAUD");
      expect(e.note).toBe("case 42");
    },
    failures: [
      {
        what: "reason OTHER without a note",
        when: "before",
        request: (s) => ({ id: s.id, reason: "STATUS_REASON_OTHER" }),
        code: status.INVALID_ARGUMENT,
        reason: "INVALID_ARGUMENT",
      },
      {
        what: "suspending a suspended customer",
        request: (s) => ({ id: s.id, reason: "STATUS_REASON_FRAUD" }),
        code: status.FAILED_PRECONDITION,
        reason: "TRANSITION_NOT_ALLOWED",
      },
      { what: "a stale etag", request: (s) => ({ id: s.id, etag: s.etag, reason: "STATUS_REASON_FRAUD" }), code: status.ABORTED, reason: "ETAG_MISMATCH" },
    ],
  },
  {
    rpc: "CloseCustomer",
    service: "customers",
    method: "closeCustomer",
    expectedType: "EVENT_TYPE_CUSTOMER_CLOSED",
    idempotent: true,
    async setup(t) {
      const cust = await newCustomer(t);
      return { id: cust.id, etag: cust.etag, email: cust.email, extra: {} };
    },
    request: (s, requestId) => ({ id: s.id, etag: s.etag, reason: "STATUS_REASON_CUSTOMER_REQUEST", note: "asked to leave", requestId }),
    checkEvent(e) {
      expect(e.reason).toBe("STATUS_REASON_CUSTOMER_REQUEST");
      expect(e.note).toBe("asked to leave");
      expect(e.changedFields).toEqual(["status"]);
    },
    failures: [
      {
        what: "closing a closed customer",
        request: (s) => ({ id: s.id, reason: "STATUS_REASON_DUPLICATE" }),
        code: status.FAILED_PRECONDITION,
        reason: "TRANSITION_NOT_ALLOWED",
      },
      {
        what: "updating a closed customer",
        method: "updateCustomer",
        request: (s) => ({ customer: { id: s.id, metadata: { k: "v" } }, updateMask: { paths: ["metadata"] } }),
        code: status.FAILED_PRECONDITION,
        reason: "CUSTOMER_CLOSED",
      },
      {
        what: "linking a closed customer",
        method: "linkCustomer",
        request: (s) => ({ id: s.id, link: { kind: "LINK_KIND_WALLET", externalId: "w-1" } }),
        code: status.FAILED_PRECONDITION,
        reason: "CUSTOMER_CLOSED",
      },
    ],
  },
  {
    rpc: "LinkCustomer",
    service: "customers",
    method: "linkCustomer",
    expectedType: "EVENT_TYPE_CUSTOMER_LINKED",
    idempotent: true,
    async setup(t) {
      const cust = await newCustomer(t);
      return { id: cust.id, etag: cust.etag, email: cust.email, extra: { externalId: `wallet-${randomUUID()}` } };
    },
    request: (s, requestId) => ({ id: s.id, etag: s.etag, link: { kind: "LINK_KIND_WALLET", externalId: s.extra.externalId }, requestId }),
    checkEvent(e, s) {
      expect(e.link).toMatchObject({ kind: "LINK_KIND_WALLET", externalId: s.extra.externalId });
      expect(e.changedFields).toEqual(["links"]);
    },
    failures: [
      {
        what: "an unspecified link kind",
        when: "before",
        request: (s) => ({ id: s.id, link: { kind: "LINK_KIND_UNSPECIFIED", externalId: "x" } }),
        code: status.INVALID_ARGUMENT,
        reason: "INVALID_ARGUMENT",
      },
      {
        what: "the same link again",
        request: (s) => ({ id: s.id, link: { kind: "LINK_KIND_WALLET", externalId: s.extra.externalId } }),
        code: status.ALREADY_EXISTS,
        reason: "LINK_ALREADY_EXISTS",
      },
      {
        what: "a stale etag",
        request: (s) => ({ id: s.id, etag: s.etag, link: { kind: "LINK_KIND_CARD", externalId: "card-1" } }),
        code: status.ABORTED,
        reason: "ETAG_MISMATCH",
      },
    ],
  },
  {
    rpc: "UnlinkCustomer",
    service: "customers",
    method: "unlinkCustomer",
    expectedType: "EVENT_TYPE_CUSTOMER_UNLINKED",
    idempotent: true,
    async setup(t) {
      const cust = await newCustomer(t);
      const externalId = `kyc-${randomUUID()}`;
      const linked = await t.call("customers", "linkCustomer", { id: cust.id, link: { kind: "LINK_KIND_KYC_CASE", externalId } });
      return { id: cust.id, etag: linked.customer.etag, email: cust.email, extra: { externalId } };
    },
    request: (s, requestId) => ({ id: s.id, etag: s.etag, kind: "LINK_KIND_KYC_CASE", externalId: s.extra.externalId, requestId }),
    checkEvent(e, s) {
      expect(e.link).toMatchObject({ kind: "LINK_KIND_KYC_CASE", externalId: s.extra.externalId });
    },
    failures: [
      {
        what: "a link of another kind",
        when: "before",
        request: (s) => ({ id: s.id, kind: "LINK_KIND_WALLET", externalId: s.extra.externalId }),
        code: status.NOT_FOUND,
        reason: "LINK_NOT_FOUND",
      },
      {
        what: "the same link again",
        request: (s) => ({ id: s.id, kind: "LINK_KIND_KYC_CASE", externalId: s.extra.externalId }),
        code: status.NOT_FOUND,
        reason: "LINK_NOT_FOUND",
      },
    ],
  },
  {
    rpc: "VerifyEmail",
    service: "verification",
    method: "verifyEmail",
    expectedType: "EVENT_TYPE_EMAIL_VERIFIED",
    idempotent: false,
    async setup(t) {
      const cust = await newCustomer(t);
      return { id: cust.id, etag: cust.etag, email: cust.email, extra: { code: await emailCode(t, cust.id, cust.email) } };
    },
    request: (s) => ({ customerId: s.id, code: s.extra.code }),
    checkEvent(e) {
      expect(e.changedFields).toEqual(["email_verified"]);
      expect(e.requestId).toBe("");
    },
    failures: [
      {
        what: "a wrong code",
        when: "before",
        request: (s) => ({ customerId: s.id, code: wrongCode(s.extra.code) }),
        code: status.INVALID_ARGUMENT,
        reason: "CODE_MISMATCH",
      },
      {
        what: "the used code again",
        request: (s) => ({ customerId: s.id, code: s.extra.code }),
        code: status.FAILED_PRECONDITION,
        reason: "NO_ACTIVE_CODE",
      },
    ],
  },
  {
    rpc: "VerifyPhone",
    service: "verification",
    method: "verifyPhone",
    expectedType: "EVENT_TYPE_PHONE_VERIFIED",
    idempotent: false,
    async setup(t) {
      const cust = await newCustomer(t);
      return { id: cust.id, etag: cust.etag, email: cust.email, extra: { code: await phoneCode(t, cust.id) } };
    },
    request: (s) => ({ customerId: s.id, code: s.extra.code }),
    checkEvent(e) {
      expect(e.changedFields).toEqual(["phone_verified"]);
      expect(e.requestId).toBe("");
    },
    failures: [
      {
        what: "a wrong code",
        when: "before",
        request: (s) => ({ customerId: s.id, code: wrongCode(s.extra.code) }),
        code: status.INVALID_ARGUMENT,
        reason: "CODE_MISMATCH",
      },
      {
        what: "the used code again",
        request: (s) => ({ customerId: s.id, code: s.extra.code }),
        code: status.FAILED_PRECONDITION,
        reason: "NO_ACTIVE_CODE",
      },
    ],
  },
];

describe("every state-changing RPC writes exactly one event; failed calls none", () => {
  it("the table covers every state-changing RPC of both services", () => {
    expect(cases.map((x) => x.rpc).sort()).toEqual(
      [
        "ActivateCustomer",
        "CloseCustomer",
        "CreateCustomer",
        "LinkCustomer",
        "SuspendCustomer",
        "UnlinkCustomer",
        "UpdateCustomer",
        "VerifyEmail",
        "VerifyPhone",
      ].sort(),
    );
  });

  it.each(cases)("$rpc → one $expectedType; failed calls → none", async (row) => {
    const t = await tenantCtx();
    const s = await row.setup(t);
    const expectNoEvent = async (f: Failure) => {
      const before = await counts(t, s.id);
      const err = await t.fail(f.service ?? row.service, f.method ?? row.method, f.request(s));
      expectError(err, f.code, f.reason);
      expect(await counts(t, s.id), `${row.rpc}: ${f.what} wrote an event`).toEqual(before);
    };

    for (const f of row.failures.filter((x) => x.when === "before")) await expectNoEvent(f);

    // The successful call: +1 event of the expected type, through the API and in the table.
    const before = await counts(t, s.id);
    const requestId = randomUUID();
    const request = row.request(s, requestId);
    const t0 = Date.now();
    const res = await t.call(row.service, row.method, request);
    const t1 = Date.now();
    const id = row.idOf?.(res) ?? s.id!;
    s.id = id;
    const after = await counts(t, id);
    expect(after.api).toBe(before.api + 1);
    expect(after.rows).toBe(before.rows + 1);
    expect(after.tenant).toBe(before.tenant + 1);
    expect(after.apiTypes.slice(1)).toEqual(before.apiTypes);
    expect(after.apiTypes[0]).toBe(row.expectedType);

    const [event] = (await t.call("customers", "listCustomerEvents", { customerId: id, pageSize: 1 })).events;
    expect(event.type).toBe(row.expectedType);
    expect(event.customerId).toBe(id);
    expect(event.actor).toBe(`api_key:${t.tenant.apiKeyId}`);
    expect(event.requestId).toBe(row.idempotent ? requestId : "");
    expect(Number(event.sequence)).toBe(after.tenant);
    expect(event.cursor).not.toBe("");
    expect(millis(event.eventTime)).toBeGreaterThanOrEqual(t0 - 1_000);
    expect(millis(event.eventTime)).toBeLessThanOrEqual(t1 + 1_000);
    row.checkEvent(event, s);
    const [stored] = await sql<{ type: string; seq: string; request_id: string | null }>(
      server.databaseUrl,
      "select type, seq, request_id from customer_events where tenant_id = $1 and customer_id = $2 order by seq desc limit 1",
      [t.tenant.id, id],
    );
    expect({ type: `EVENT_TYPE_${stored!.type}`, seq: Number(stored!.seq), requestId: stored!.request_id ?? "" }).toEqual({
      type: row.expectedType,
      seq: Number(event.sequence),
      requestId: event.requestId,
    });
    // The response shows the change was made (etag moved on).
    if (s.etag !== "") expect(res.customer.etag).not.toBe(s.etag);

    // A retry with the same request_id answers the same and writes nothing.
    if (row.idempotent) {
      const again = await t.call(row.service, row.method, request);
      expect(again.customer.id).toBe(id);
      expect(again.customer.etag).toBe(res.customer.etag);
      expect(await counts(t, id)).toEqual(after);
    }

    for (const f of row.failures.filter((x) => x.when !== "before")) await expectNoEvent(f);

    // Reads write nothing either.
    const end = await counts(t, id);
    await t.call("customers", "getCustomer", { id });
    await t.call("customers", "listCustomers", {});
    await t.call("customers", "getCustomerRequirements", { id });
    expect(await counts(t, id)).toEqual(end);

    expect(await tenantSeqs(t.tenant.id)).toEqual(oneToN(end.tenant));
  });

  it("UpdateCustomer that changes nothing writes no event and keeps the etag", async () => {
    const t = await tenantCtx();
    const cust = await newCustomer(t);
    const before = await counts(t, cust.id);
    const res = await t.call("customers", "updateCustomer", {
      customer: { id: cust.id, etag: cust.etag, email: cust.email.toUpperCase(), countryCode: "GB" },
      updateMask: { paths: ["email", "country_code"] },
      requestId: randomUUID(),
    });
    expect(res.customer.etag).toBe(cust.etag);
    expect(await counts(t, cust.id)).toEqual(before);
  });

  it("races: 8 concurrent updates with one etag → exactly one event; 8 concurrent creates of one email → exactly one", async () => {
    const t = await tenantCtx();
    const cust = await newCustomer(t);
    const before = await counts(t, cust.id);
    const updates = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        t.call("customers", "updateCustomer", {
          customer: { id: cust.id, etag: cust.etag, metadata: { attempt: String(i) } },
          updateMask: { paths: ["metadata"] },
          requestId: randomUUID(),
        }),
      ),
    );
    const won = updates.filter((r) => r.status === "fulfilled");
    expect(won).toHaveLength(1);
    for (const r of updates) {
      if (r.status === "rejected") expect((r.reason as grpc.ServiceError).code).toBe(status.ABORTED);
    }
    const afterUpdates = await counts(t, cust.id);
    expect(afterUpdates.api).toBe(before.api + 1);
    expect(afterUpdates.rows).toBe(before.rows + 1);
    expect(afterUpdates.tenant).toBe(before.tenant + 1);

    const email = `race.${randomUUID()}@example.com`;
    const creates = await Promise.allSettled(
      Array.from({ length: 8 }, () => t.call("customers", "createCustomer", { customer: individual(email), requestId: randomUUID() })),
    );
    const created = creates.flatMap((r) => (r.status === "fulfilled" ? [r.value.customer.id as string] : []));
    expect(created).toHaveLength(1);
    for (const r of creates) {
      if (r.status === "rejected") expectError(r.reason as grpc.ServiceError, status.ALREADY_EXISTS, "EMAIL_ALREADY_EXISTS");
    }
    const afterCreates = await counts(t, created[0]);
    expect(afterCreates).toMatchObject({ api: 1, rows: 1, tenant: afterUpdates.tenant + 1 });
    expect(await tenantSeqs(t.tenant.id)).toEqual(oneToN(afterCreates.tenant));
  });
});

// ---------------------------------------------------------------------------------------------

describe("ListCustomerEvents", () => {
  it("newest first; pages of 2 cover every event exactly once", async () => {
    const t = await tenantCtx();
    const cust = await newCustomer(t);
    const other = await newCustomer(t); // interleaved events of another customer must not show
    const done: string[] = ["EVENT_TYPE_CUSTOMER_CREATED"];
    for (let i = 0; i < 3; i++) {
      await t.call("customers", "updateCustomer", { customer: { id: cust.id, metadata: { round: String(i) } }, updateMask: { paths: ["metadata"] } });
      done.push("EVENT_TYPE_CUSTOMER_UPDATED");
      await t.call("customers", "updateCustomer", { customer: { id: other.id, metadata: { round: String(i) } }, updateMask: { paths: ["metadata"] } });
    }
    await t.call("customers", "linkCustomer", { id: cust.id, link: { kind: "LINK_KIND_ACCOUNT", externalId: "acc-1" } });
    done.push("EVENT_TYPE_CUSTOMER_LINKED");
    await t.call("customers", "unlinkCustomer", { id: cust.id, kind: "LINK_KIND_ACCOUNT", externalId: "acc-1" });
    done.push("EVENT_TYPE_CUSTOMER_UNLINKED");
    await t.call("customers", "closeCustomer", { id: cust.id, reason: "STATUS_REASON_DUPLICATE" });
    done.push("EVENT_TYPE_CUSTOMER_CLOSED");

    const { events, pages } = await listAll(t, cust.id, 2);
    expect(pages.length).toBe(Math.ceil(done.length / 2));
    for (const p of pages) expect(p.length).toBeLessThanOrEqual(2);
    for (const p of pages.slice(0, -1)) expect(p.length).toBe(2);
    expect(events.map((e) => e.type)).toEqual([...done].reverse());
    const seqs = events.map((e) => Number(e.sequence));
    expect(new Set(seqs).size).toBe(seqs.length);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeLessThan(seqs[i - 1]!);
    for (const e of events) expect(e.customerId).toBe(cust.id);
    const rows = await sql<{ seq: string }>(
      server.databaseUrl,
      "select seq from customer_events where tenant_id = $1 and customer_id = $2 order by seq desc",
      [t.tenant.id, cust.id],
    );
    expect(seqs).toEqual(rows.map((r) => Number(r.seq)));

    // The default page (50) and one big page say the same.
    const single = (await t.call("customers", "listCustomerEvents", { customerId: cust.id })).events;
    expect(single.map((e: any) => e.cursor)).toEqual(events.map((e) => e.cursor));
  });

  it("sequence numbers are 1..n per tenant, without gaps, across customers, failures and concurrency", async () => {
    const a = await tenantCtx();
    const b = await tenantCtx();
    const made = await Promise.all(Array.from({ length: 6 }, () => newCustomer(a)));
    await newCustomer(b);
    // Failures in between (they take no number).
    expectError(await a.fail("customers", "createCustomer", { customer: individual(made[0]!.email) }), status.ALREADY_EXISTS, "EMAIL_ALREADY_EXISTS");
    expectError(await a.fail("customers", "activateCustomer", { id: made[1]!.id }), status.FAILED_PRECONDITION, "ACTIVATION_REQUIREMENTS_NOT_MET");
    // Concurrent writes on several customers, some of them losing etag races.
    const settled = await Promise.allSettled(
      made.flatMap((m, i) => [
        a.call("customers", "updateCustomer", { customer: { id: m.id, etag: m.etag, metadata: { x: "1" } }, updateMask: { paths: ["metadata"] } }),
        a.call("customers", "updateCustomer", { customer: { id: m.id, etag: m.etag, metadata: { x: "2" } }, updateMask: { paths: ["metadata"] } }),
        a.call("customers", "linkCustomer", { id: m.id, link: { kind: "LINK_KIND_CARD", externalId: `card-${i}` } }),
      ]),
    );
    await newCustomer(b);
    const seqA = await tenantSeqs(a.tenant.id);
    const won = settled.filter((r) => r.status === "fulfilled").length;
    for (const r of settled) if (r.status === "rejected") expect((r.reason as grpc.ServiceError).code).toBe(status.ABORTED);
    expect(won).toBeGreaterThanOrEqual(made.length); // at least one write per customer wins its race
    expect(seqA.length).toBe(made.length + won);
    expect(seqA).toEqual(oneToN(seqA.length));
    expect(await tenantSeqs(b.tenant.id)).toEqual([1, 2]);
    const [counter] = await sql<{ last_seq: string }>(server.databaseUrl, "select last_seq from tenant_event_sequences where tenant_id = $1", [
      a.tenant.id,
    ]);
    expect(Number(counter!.last_seq)).toBe(seqA.length);
    // Through the API: each customer's events are strictly decreasing and together are 1..n.
    const all: number[] = [];
    for (const m of made) {
      const seqs = (await listAll(a, m.id)).events.map((e) => Number(e.sequence));
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeLessThan(seqs[i - 1]!);
      all.push(...seqs);
    }
    expect(all.sort((x, y) => x - y)).toEqual(seqA);
  });

  it("another tenant's customer, or an unknown one: NOT_FOUND", async () => {
    const a = await tenantCtx();
    const b = await tenantCtx();
    const cust = await newCustomer(a);
    expectError(await b.fail("customers", "listCustomerEvents", { customerId: cust.id }), status.NOT_FOUND, "CUSTOMER_NOT_FOUND");
    expectError(await a.fail("customers", "listCustomerEvents", { customerId: randomUUID() }), status.NOT_FOUND, "CUSTOMER_NOT_FOUND");
    // Even with a page token taken from the owner's own history.
    await a.call("customers", "updateCustomer", { customer: { id: cust.id, metadata: { k: "v" } }, updateMask: { paths: ["metadata"] } });
    const page = await a.call("customers", "listCustomerEvents", { customerId: cust.id, pageSize: 1 });
    expect(page.nextPageToken).not.toBe("");
    expectError(
      await b.fail("customers", "listCustomerEvents", { customerId: cust.id, pageSize: 1, pageToken: page.nextPageToken }),
      status.NOT_FOUND,
      "CUSTOMER_NOT_FOUND",
    );
    expect((await listAll(a, cust.id)).events).toHaveLength(2);
  });

  it("events carry no personal data: no email, phone, name, identifier value, address or code", async () => {
    const t = await tenantCtx();
    const tag = randomBytes(4).toString("hex");
    const secrets: string[] = [];
    const remember = (...xs: string[]) => (secrets.push(...xs), xs[0]!);
    const email = remember(`priv.${tag}@example.com`);
    const phone = nextPhone();
    remember(phone, phone.slice(1));
    const person = await t.call("customers", "createCustomer", {
      customer: {
        individual: {
          givenName: remember(`Quintessa${tag}`),
          middleName: remember(`Marigold${tag}`),
          familyName: remember(`Vantablack${tag}`),
          dateOfBirth: { year: 1979, month: 11, day: 3 },
          nationalId: { type: "GB_NINO", value: remember("AB123456C") },
          occupation: remember(`Lighthouse keeper ${tag}`),
        },
        email,
        phoneNumber: phone,
        countryCode: "GB",
        address: {
          line1: remember(`17 Obscure Mews ${tag}`),
          line2: remember(`Flat ${tag}`),
          city: remember(`Lower Snodsbury ${tag}`),
          postalCode: "SW1A 2AA",
          countryCode: "GB",
        },
      },
    });
    const personId = person.customer.id;
    const newEmail = remember(`priv2.${tag}@example.com`);
    const newPhone = nextPhone();
    remember(newPhone, newPhone.slice(1));
    await t.call("customers", "updateCustomer", {
      customer: {
        id: personId,
        email: newEmail,
        phoneNumber: newPhone,
        individual: { givenName: remember(`Ottoline${tag}`), nationalId: { type: "GB_NINO", value: remember("CE987654D") } },
        address: { line1: remember(`99 Hidden Row ${tag}`), city: "Leeds", postalCode: "LS1 4AP", countryCode: "GB" },
      },
      updateMask: { paths: ["email", "phone_number", "individual.given_name", "individual.national_id", "address"] },
    });
    const emailCodeValue = remember(await emailCode(t, personId, newEmail));
    await t.call("verification", "verifyEmail", { customerId: personId, code: emailCodeValue });
    const phoneCodeValue = remember(await phoneCode(t, personId));
    await t.call("verification", "verifyPhone", { customerId: personId, code: phoneCodeValue });

    const company = await t.call("customers", "createCustomer", {
      customer: {
        business: {
          legalName: remember(`Umbral Widgets ${tag} Ltd`),
          tradingName: remember(`Umbral ${tag}`),
          registrationNumber: "12345678",
          taxId: { type: "GB_UTR", value: remember("8473625190") },
          representatives: [
            {
              givenName: remember(`Perpetua${tag}`),
              familyName: remember(`Gloam${tag}`),
              email: remember(`rep.${tag}@example.com`),
              roles: ["REPRESENTATIVE_ROLE_DIRECTOR", "REPRESENTATIVE_ROLE_BENEFICIAL_OWNER"],
              ownershipBasisPoints: 5000,
            },
          ],
        },
        email: remember(`biz.${tag}@example.com`),
        countryCode: "GB",
      },
    });
    await t.call("customers", "updateCustomer", {
      customer: { id: company.customer.id, business: { legalName: remember(`Penumbra Widgets ${tag} Ltd`) } },
      updateMask: { paths: ["business.legal_name"] },
    });

    const apiEvents = [...(await listAll(t, personId)).events, ...(await listAll(t, company.customer.id)).events];
    expect(apiEvents.map((e) => e.type).sort()).toEqual(
      [
        "EVENT_TYPE_CUSTOMER_CREATED",
        "EVENT_TYPE_CUSTOMER_UPDATED",
        "EVENT_TYPE_EMAIL_VERIFIED",
        "EVENT_TYPE_PHONE_VERIFIED",
        "EVENT_TYPE_CUSTOMER_CREATED",
        "EVENT_TYPE_CUSTOMER_UPDATED",
      ].sort(),
    );
    // Field names are there; values are not.
    const update = apiEvents.find((e) => e.customerId === personId && e.type === "EVENT_TYPE_CUSTOMER_UPDATED");
    expect([...update.changedFields].sort()).toEqual(["address", "email", "individual.given_name", "individual.national_id", "phone_number"]);
    const rows = await sql<{ j: unknown }>(server.databaseUrl, "select row_to_json(e) as j from customer_events e where tenant_id = $1", [t.tenant.id]);
    expect(rows).toHaveLength(6);
    const texts = [...apiEvents.map((e) => JSON.stringify(e)), ...rows.map((r) => JSON.stringify(r.j))];
    for (const text of texts) {
      for (const s of secrets) {
        expect(text.toLowerCase(), `an event contains "${s}"`).not.toContain(s.toLowerCase());
      }
    }
  });
});
