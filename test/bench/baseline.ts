// The baselines of `npm run bench`, each a child process of run.ts:
//
//   baseline.ts echo         a bare @grpc/grpc-js Server answering grpc.health.v1.Health/Check
//                            (the same messages the service's own Health/Check answers);
//   baseline.ts handwritten  what a hand-written service would do with `pg` directly:
//                            finhub.customer.v1.CustomerService GetCustomer and CreateCustomer on a
//                            bare @grpc/grpc-js Server, and GetCustomer as Connect JSON
//                            (POST /finhub.customer.v1.CustomerService/GetCustomer) on a plain
//                            node:http server.
//
// The hand-written service plays by the service's rules so that the comparison is fair: it
// connects as the same non-owner role (a member of customerms_app), runs every query in a
// transaction that sets app.tenant_id (row-level security) and a statement_timeout from the
// call's deadline, sends the statements the service sends (GetCustomer: the prepared statement
// `select … from customer_by_id($1, $2, $3)`, as the service's Scopes.tenantCall), authenticates the API key by its
// SHA-256 (cached 2 s, like the service), checks the key's scope, opens the sealed date of birth
// with the tenant's data key (unwrapped once with CUSTOMERMS_MASTER_KEY) and, on create, seals the
// date of birth and the national id, computes the identifier's blind index, and writes the
// customer, its CUSTOMER_CREATED event and the idempotency record (claimed first, then completed
// with the sealed response) in one transaction, then waits for the event's number as the service
// does (number_customer_events after the commit, coalesced by src/events/event.sequencer.ts):
// the rows the service writes, readable by the service (run.ts checks that with GetCustomer).
// What it does not do: protovalidate and the country rules (it checks presence and formats of the
// few fields it needs), missing_requirements (replied empty), request logging and metrics.
//
// Prints one JSON line {"grpcPort", "httpPort"} on stdout once it listens.
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import pg from "pg";
import { EventSequencer, NUMBERING_BATCH } from "../../src/events/event.sequencer.js";
import { loadDefinition } from "./common.js";

const mode = process.argv[2];
const definition = loadDefinition();
const protos = grpc.loadPackageDefinition(definition) as any;

function listen(server: grpc.Server): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
}

process.on("SIGINT", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
process.on("disconnect", () => process.exit(0));

if (mode === "echo") {
  const server = new grpc.Server();
  server.addService(protos.grpc.health.v1.Health.service, {
    check: (_call: grpc.ServerUnaryCall<any, any>, callback: grpc.sendUnaryData<any>) => callback(null, { status: "SERVING" }),
  });
  const port = await listen(server);
  process.stdout.write(`${JSON.stringify({ grpcPort: port, httpPort: 0 })}\n`);
} else if (mode === "handwritten") {
  await handwritten();
} else {
  process.stderr.write(`usage: baseline.ts echo|handwritten\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------

class Failure extends Error {
  constructor(
    readonly grpcCode: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

const CONNECT_HTTP: Partial<Record<grpc.status, [number, string]>> = {
  [grpc.status.INVALID_ARGUMENT]: [400, "invalid_argument"],
  [grpc.status.UNAUTHENTICATED]: [401, "unauthenticated"],
  [grpc.status.PERMISSION_DENIED]: [403, "permission_denied"],
  [grpc.status.NOT_FOUND]: [404, "not_found"],
  [grpc.status.ALREADY_EXISTS]: [409, "already_exists"],
};

async function handwritten(): Promise<void> {
  const url = process.env.BENCH_DATABASE_URL;
  const master = Buffer.from(process.env.BENCH_MASTER_KEY ?? "", "base64");
  if (!url || master.length !== 32) throw new Error("BENCH_DATABASE_URL and BENCH_MASTER_KEY are required");
  const masterId = createHash("sha256").update(master).digest("hex").slice(0, 8);
  const pool = new pg.Pool({ connectionString: url, max: Number(process.env.BENCH_POOL_MAX ?? 20) });
  pool.on("error", () => undefined); // an idle connection lost: the next checkout reconnects

  // The event numbering after commit, the service's own coalescing (one numbering per tenant at a
  // time, shared by the calls that commit meanwhile) on this pool; no sweep (nothing crashes here).
  const numbering = new EventSequencer(
    {
      number: async (tenantId) =>
        (await pool.query<{ n: number }>({ name: "number_customer_events", text: "select number_customer_events($1, $2, '') as n", values: [tenantId, NUMBERING_BATCH] })).rows[0]!.n,
      unnumbered: async () => [],
    },
    (message, err) => process.stderr.write(`${message}: ${err.message}\n`),
  );

  type Tx = pg.PoolClient;
  /** `begin; <settings>` in one simple-protocol round trip, the work, commit (as the service's
   * Scopes.tenant: src/db/scope.ts). */
  async function transaction<T>(settings: string, work: (c: Tx, withCommit: string[]) => Promise<T>): Promise<T> {
    const c = await pool.connect();
    try {
      await c.query(`begin; ${settings}`);
      // Statements sent with the commit in one round trip (the service's deferUntilCommit).
      const withCommit: string[] = [];
      const result = await work(c, withCommit);
      await c.query(withCommit.length === 0 ? "commit" : `${withCommit.join(";\n")};\ncommit`);
      c.release();
      return result;
    } catch (err) {
      await c.query("rollback").then(
        () => c.release(),
        () => c.release(true),
      );
      throw err;
    }
  }
  /** What is left of the call's deadline (capped like the service's CUSTOMERMS_MAX_DEADLINE_MS),
   * turned into a transaction-local statement_timeout as the service does. */
  const MAX_DEADLINE_MS = 30_000;
  const timeoutMs = (deadline: number | undefined) => String(Math.max(1, Math.floor(Math.min(deadline ?? Infinity, Date.now() + MAX_DEADLINE_MS) - Date.now())));
  const tenantSettings = (tenantId: string, deadline: number | undefined) =>
    `select set_config('app.tenant_id', ${pg.escapeLiteral(tenantId)}, true), set_config('statement_timeout', ${pg.escapeLiteral(timeoutMs(deadline))}, true)`;
  const inTenant = <T>(tenantId: string, deadline: number | undefined, work: (c: Tx, withCommit: string[]) => Promise<T>) =>
    transaction(tenantSettings(tenantId, deadline), work);
  /** `begin; <settings>; <statements>; commit` in ONE simple-protocol round trip (what the
   * service's CreateCustomer sends: src/db/scope.ts sendWithBegin, deferUntilCommit). */
  async function inOneTrip(settings: string, statements: string[]): Promise<void> {
    const c = await pool.connect();
    try {
      await c.query(`begin; ${settings};\n${statements.join(";\n")};\ncommit`);
      c.release();
    } catch (err) {
      await c.query("rollback").then(
        () => c.release(),
        () => c.release(true),
      );
      throw err;
    }
  }

  // --- API keys: SHA-256 lookup as the operator role, cached 2 s -------------------------------
  interface Principal {
    tenantId: string;
    apiKeyId: string;
    scopes: string[];
  }
  const keyCache = new Map<string, { principal: Principal; until: number }>();
  async function authenticate(header: string | undefined, scope: "read" | "write"): Promise<Principal> {
    const token = header === undefined ? undefined : /^Bearer ([\x21-\x7e]{1,512})$/.exec(header)?.[1];
    if (token === undefined) throw new Failure(grpc.status.UNAUTHENTICATED, "missing or malformed authorization");
    const hash = createHash("sha256").update(token).digest("hex");
    const now = Date.now();
    let entry = keyCache.get(hash);
    if (entry === undefined || entry.until <= now) {
      const rows = await transaction(
        "select set_config('role', 'customerms_operator', true), set_config('app.operator_reason', 'authenticate-api-key', true)",
        async (c) =>
          (
            await c.query<{ id: string; tenant_id: string; scopes: string[]; expire_time: Date | null; revoke_time: Date | null }>(
              "select id, tenant_id, scopes, expire_time, revoke_time from api_keys where key_hash = $1",
              [hash],
            )
          ).rows,
      );
      const row = rows[0];
      if (row === undefined || row.revoke_time !== null) throw new Failure(grpc.status.UNAUTHENTICATED, "unknown or revoked API key");
      if (row.expire_time !== null && row.expire_time.getTime() <= now) throw new Failure(grpc.status.UNAUTHENTICATED, "expired API key");
      entry = {
        principal: { tenantId: row.tenant_id, apiKeyId: row.id, scopes: row.scopes },
        until: Math.min(now + 2_000, row.expire_time?.getTime() ?? Infinity),
      };
      if (keyCache.size > 10_000) keyCache.clear();
      keyCache.set(hash, entry);
    }
    if (!entry.principal.scopes.includes(scope)) throw new Failure(grpc.status.PERMISSION_DENIED, `the key lacks the ${scope} scope`);
    return entry.principal;
  }

  // --- Data keys: unwrapped once per tenant ---------------------------------------------------
  interface Cipher {
    keyId: string;
    dek: Buffer;
    indexKey: Buffer;
  }
  const ciphers = new Map<string, Cipher>();
  const gcmOpen = (key: Buffer, iv: string, ct: string, tag: string, aad: string) => {
    const d = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([d.update(Buffer.from(ct, "base64url")), d.final()]);
  };
  const gcmSeal = (key: Buffer, plaintext: Buffer, aad: string, prefix: string) => {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", key, iv);
    c.setAAD(Buffer.from(aad));
    const ct = Buffer.concat([c.update(plaintext), c.final()]);
    return [prefix, iv.toString("base64url"), ct.toString("base64url"), c.getAuthTag().toString("base64url")].join(".");
  };
  async function cipherFor(c: Tx, tenantId: string): Promise<Cipher> {
    const cached = ciphers.get(tenantId);
    if (cached !== undefined) return cached;
    const row = (await c.query<{ key_id: string; wrapped_key: string }>("select key_id, wrapped_key from tenant_data_keys where tenant_id = $1", [tenantId])).rows[0];
    if (row === undefined) throw new Error(`tenant ${tenantId} has no data key yet (the bench seeds through the service first)`);
    const [version, kid, iv, ct, tag] = row.wrapped_key.split(".");
    if (version !== "w1" || kid !== masterId || iv === undefined || ct === undefined || tag === undefined) throw new Error("data key wrapped by another master key");
    const dek = gcmOpen(master, iv, ct, tag, `customerms/data-key/${tenantId}`);
    const cipher = { keyId: row.key_id, dek, indexKey: Buffer.from(hkdfSync("sha256", dek, Buffer.alloc(0), "customerms/blind-index/v1", 32)) };
    ciphers.set(tenantId, cipher);
    return cipher;
  }
  const open = (k: Cipher, sealed: string, aad: string) => {
    const [, , iv, ct, tag] = sealed.split(".");
    return gcmOpen(k.dek, iv!, ct!, tag!, aad);
  };
  const seal = (k: Cipher, plaintext: Buffer, aad: string) => gcmSeal(k.dek, plaintext, aad, `v2.${k.keyId}`);

  // --- Row -> reply -------------------------------------------------------------------------
  type Ts = (d: Date) => unknown;
  const grpcTs: Ts = (d) => {
    const ms = d.getTime();
    return { seconds: String(Math.floor(ms / 1000)), nanos: (((ms % 1000) + 1000) % 1000) * 1_000_000 };
  };
  const jsonTs: Ts = (d) => d.toISOString();
  const TRANSITIONS: Record<string, string[]> = {
    pending: ["CUSTOMER_STATUS_ACTIVE", "CUSTOMER_STATUS_CLOSED"],
    active: ["CUSTOMER_STATUS_SUSPENDED", "CUSTOMER_STATUS_CLOSED"],
    suspended: ["CUSTOMER_STATUS_ACTIVE", "CUSTOMER_STATUS_CLOSED"],
    closed: [],
  };
  const upper = (s: string) => s.toUpperCase();
  const maskId = (id: any) => (id ? { type: id.type, value: "", maskedValue: `…${id.last4}` } : undefined);

  interface CustomerRow {
    tenant_id: string;
    id: string;
    type: string;
    status: string;
    profile: Record<string, any>;
    email: string;
    email_verified: boolean;
    email_verify_time: Date | null;
    phone_number: string | null;
    phone_verified: boolean;
    phone_verify_time: Date | null;
    country_code: string;
    address: Record<string, unknown> | null;
    external_id: string | null;
    metadata: Record<string, string>;
    links: Array<Record<string, any>>;
    status_reason: string | null;
    status_note: string;
    status_time: Date;
    erase_time: Date | null;
    version: number;
    create_time: Date;
    update_time: Date;
  }
  const COLUMNS =
    "tenant_id, id, type, status, profile, email, email_verified, email_verify_time, phone_number, phone_verified, phone_verify_time, country_code, address, external_id, metadata, links, status_reason, status_note, status_time, erase_time, version, create_time, update_time";

  function openDob(k: Cipher, r: { tenant_id: string; id: string }, stored: unknown) {
    if (stored === null || stored === undefined) return undefined;
    if (typeof stored === "string") return JSON.parse(open(k, stored, `${r.tenant_id}/${r.id}/individual.date_of_birth`).toString("utf8"));
    return stored;
  }

  function toReply(r: CustomerRow, dob: unknown, ts: Ts) {
    const p = r.profile;
    const profile =
      r.type === "individual"
        ? {
            individual: {
              givenName: p.givenName,
              middleName: p.middleName,
              familyName: p.familyName,
              dateOfBirth: dob,
              nationality: p.nationality,
              taxResidencyCountry: p.taxResidencyCountry,
              nationalId: maskId(p.nationalId),
              occupation: p.occupation,
            },
          }
        : { business: { legalName: p.legalName, tradingName: p.tradingName, registrationNumber: p.registrationNumber, taxId: maskId(p.taxId), website: p.website, industry: p.industry } };
    return {
      id: r.id,
      type: `CUSTOMER_TYPE_${upper(r.type)}`,
      status: `CUSTOMER_STATUS_${upper(r.status)}`,
      ...profile,
      email: r.email,
      phoneNumber: r.phone_number ?? "",
      emailVerified: r.email_verified,
      phoneVerified: r.phone_verified,
      countryCode: r.country_code,
      etag: String(r.version),
      createTime: ts(r.create_time),
      updateTime: ts(r.update_time),
      address: r.address ?? undefined,
      externalId: r.external_id ?? "",
      metadata: r.metadata,
      links: r.links.map((l) => ({ kind: `LINK_KIND_${upper(String(l.kind))}`, externalId: l.externalId, linkTime: ts(new Date(String(l.linkTime))) })),
      statusReason: r.status_reason === null ? "STATUS_REASON_UNSPECIFIED" : `STATUS_REASON_${upper(r.status_reason)}`,
      statusNote: r.status_note,
      statusTime: ts(r.status_time),
      eraseTime: r.erase_time ? ts(r.erase_time) : undefined,
      allowedTransitions: TRANSITIONS[r.status] ?? [],
      emailVerifyTime: r.email_verify_time ? ts(r.email_verify_time) : undefined,
      phoneVerifyTime: r.phone_verify_time ? ts(r.phone_verify_time) : undefined,
      missingRequirements: [],
    };
  }

  /** Connect JSON omits default values (as protobuf-es toJson does). */
  function compact(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(compact);
    if (v !== null && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        if (x === undefined || x === null || x === "" || x === false || (Array.isArray(x) && x.length === 0) || /_UNSPECIFIED$/.test(String(x))) continue;
        const c = compact(x);
        if (c !== null && typeof c === "object" && !Array.isArray(c) && Object.keys(c).length === 0 && k !== "metadata") continue;
        out[k] = c;
      }
      return out;
    }
    return v;
  }

  async function getCustomer(authorization: string | undefined, id: unknown, ts: Ts, deadline: number | undefined) {
    const principal = await authenticate(authorization, "read");
    if (typeof id !== "string" || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) {
      throw new Failure(grpc.status.INVALID_ARGUMENT, "id must be a UUID");
    }
    const tenantId = principal.tenantId;
    // The tenant's data key once (a transaction of its own), then every read in one round trip.
    const k = ciphers.get(tenantId) ?? (await inTenant(tenantId, deadline, (c) => cipherFor(c, tenantId)));
    const { rows } = await pool.query<CustomerRow>({ name: "customer_by_id", text: `select ${COLUMNS} from customer_by_id($1, $2, $3)`, values: [tenantId, id, timeoutMs(deadline)] });
    const row = rows[0];
    if (row === undefined) throw new Failure(grpc.status.NOT_FOUND, `customer ${id} not found`);
    return { customer: toReply(row, openDob(k, row, row.profile.dateOfBirth), ts) };
  }

  // --- CreateCustomer: customer + event + idempotency record, one transaction -----------------
  const service = definition["finhub.customer.v1.CustomerService"] as Record<string, any>;
  const createDef = service.CreateCustomer as { requestSerialize(v: unknown): Buffer; responseSerialize(v: unknown): Buffer };

  async function createCustomer(authorization: string | undefined, req: any, deadline: number | undefined) {
    const principal = await authenticate(authorization, "write");
    const c = req.customer;
    const ind = c?.individual;
    const email = typeof c?.email === "string" ? c.email.trim().toLowerCase() : "";
    const requestId = typeof req.requestId === "string" ? req.requestId.toLowerCase() : "";
    if (!ind || !ind.givenName || !ind.familyName || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email) || !/^[A-Z]{2}$/.test(c.countryCode ?? "")) {
      throw new Failure(grpc.status.INVALID_ARGUMENT, "an individual with given and family name, an email and a country code is required");
    }
    if (requestId !== "" && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(requestId)) {
      throw new Failure(grpc.status.INVALID_ARGUMENT, "request_id must be a UUID");
    }
    const tenantId = principal.tenantId;
    const id = randomUUID();
    const now = new Date();
    const lit = pg.escapeLiteral;
    const json = (v: unknown) => lit(JSON.stringify(v));
    const ts = (d: Date) => lit(d.toISOString());
    try {
      const k = ciphers.get(tenantId) ?? (await inTenant(tenantId, deadline, (c) => cipherFor(c, tenantId)));
      const dob = ind.dateOfBirth ? { year: ind.dateOfBirth.year, month: ind.dateOfBirth.month, day: ind.dateOfBirth.day } : null;
      const nid = ind.nationalId?.value
        ? {
            type: ind.nationalId.type as string,
            last4: String(ind.nationalId.value).replace(/[^A-Za-z0-9]/g, "").slice(-4),
            sealed: seal(k, Buffer.from(ind.nationalId.value), `${tenantId}/${id}/individual.national_id`),
            index: createHmac("sha256", k.indexKey)
              .update(`${ind.nationalId.type}:${String(ind.nationalId.value).replace(/[\s./-]/g, "").toUpperCase()}`)
              .digest("base64url"),
          }
        : null;
      const profile = {
        givenName: ind.givenName,
        middleName: ind.middleName ?? "",
        familyName: ind.familyName,
        dateOfBirth: dob === null ? null : seal(k, Buffer.from(JSON.stringify(dob)), `${tenantId}/${id}/individual.date_of_birth`),
        nationality: ind.nationality ?? "",
        taxResidencyCountry: ind.taxResidencyCountry ?? "",
        nationalId: nid,
        occupation: ind.occupation ?? "",
      };
      const a = c.address;
      const address = a ? { line1: a.line1 ?? "", line2: a.line2 ?? "", city: a.city ?? "", region: a.region ?? "", postalCode: a.postalCode ?? "", countryCode: a.countryCode ?? "" } : null;
      const row: CustomerRow = {
        tenant_id: tenantId,
        id,
        type: "individual",
        status: "pending",
        profile,
        email,
        email_verified: false,
        email_verify_time: null,
        phone_number: c.phoneNumber || null,
        phone_verified: false,
        phone_verify_time: null,
        country_code: c.countryCode,
        address,
        external_id: c.externalId || null,
        metadata: c.metadata ?? {},
        links: [],
        status_reason: null,
        status_note: "",
        status_time: now,
        erase_time: null,
        version: 1,
        create_time: now,
        update_time: now,
      };
      const response = { customer: toReply(row, dob ?? undefined, grpcTs) };
      // The statements the service sends, in its one round trip (src/db/scope.ts: the claim with
      // the begin, the customer insert, the stored response and the event with the commit); after
      // the commit the call waits for the tenant's numbering, as the service's does
      // (events/event.sequencer.ts).
      const statements: string[] = [];
      if (requestId !== "") {
        const fingerprint = createHash("sha256").update(createDef.requestSerialize({ ...req, requestId: "" })).digest("hex");
        statements.push(
          `insert into idempotency_records (tenant_id, request_id, method, fingerprint, response, resource_id, create_time) ` +
            `values (${lit(tenantId)}, ${lit(requestId)}, 'finhub.customer.v1.CustomerService/CreateCustomer', ${lit(fingerprint)}, null, null, ${ts(now)})`,
        );
      }
      const str = (v: string | null) => (v === null ? "null" : lit(v));
      statements.push(`insert into customers (tenant_id, id, type, status, profile, email, email_verified, email_verify_time, phone_number, phone_verified,
           phone_verify_time, country_code, address, external_id, identifier_index, erase_time, metadata, links, status_reason, status_note,
           status_time, version, create_time, update_time)
         values (${lit(tenantId)}, ${lit(id)}, ${lit(row.type)}, ${lit(row.status)}, ${json(profile)}, ${lit(email)}, false, null, ${str(row.phone_number)}, false,
           null, ${lit(row.country_code)}, ${address === null ? "null" : json(address)}, ${str(row.external_id)}, ${str(nid?.index ?? null)}, null,
           ${json(row.metadata)}, '[]', null, '', ${ts(now)}, 1, ${ts(now)}, ${ts(now)})`);
      if (requestId !== "") {
        const sealed = Buffer.from(seal(k, createDef.responseSerialize(response), `${tenantId}/${requestId}/idempotency-response`), "ascii");
        statements.push(
          `update "idempotency_records" set "response" = ${lit(`\\x${sealed.toString("hex")}`)}::bytea, "resource_id" = ${lit(id)}::uuid ` +
            `where "tenant_id" = ${lit(tenantId)}::uuid and "request_id" = ${lit(requestId)}::uuid`,
        );
      }
      statements.push(`insert into customer_events (tenant_id, id, customer_id, type, actor, request_id, reason, note, changed_fields, details, time)
         values (${lit(tenantId)}::uuid, ${lit(randomUUID())}::uuid, ${lit(id)}::uuid, 'CUSTOMER_CREATED', ${lit(`api_key:${principal.apiKeyId}`)},
           ${requestId === "" ? "null" : lit(requestId)}::uuid, null, '', '[]'::jsonb, '{}'::jsonb, ${ts(now)}::timestamptz)`);
      await inOneTrip(tenantSettings(tenantId, deadline), statements);
      const created = response;
      await numbering.numbered(tenantId);
      return created;
    } catch (err) {
      if ((err as { code?: string }).code === "23505") throw new Failure(grpc.status.ALREADY_EXISTS, `unique violation: ${(err as { constraint?: string }).constraint ?? "?"}`);
      throw err;
    }
  }

  // --- gRPC -----------------------------------------------------------------------------------
  const toGrpcError = (err: unknown): Partial<grpc.StatusObject> =>
    err instanceof Failure ? { code: err.grpcCode, details: err.message } : { code: grpc.status.INTERNAL, details: (err as Error).message };
  const authOf = (md: grpc.Metadata) => {
    const v = md.get("authorization")[0];
    return typeof v === "string" ? v : undefined;
  };
  const deadlineOf = (call: grpc.ServerUnaryCall<any, any>) => {
    const d = call.getDeadline();
    const ms = d instanceof Date ? d.getTime() : Number(d);
    return Number.isFinite(ms) && ms > 0 ? ms : undefined;
  };
  const server = new grpc.Server();
  server.addService(protos.finhub.customer.v1.CustomerService.service, {
    getCustomer(call: grpc.ServerUnaryCall<any, any>, callback: grpc.sendUnaryData<any>) {
      getCustomer(authOf(call.metadata), call.request.id, grpcTs, deadlineOf(call)).then(
        (res) => callback(null, res),
        (err: unknown) => callback(toGrpcError(err)),
      );
    },
    createCustomer(call: grpc.ServerUnaryCall<any, any>, callback: grpc.sendUnaryData<any>) {
      createCustomer(authOf(call.metadata), call.request, deadlineOf(call)).then(
        (res) => callback(null, res),
        (err: unknown) => callback(toGrpcError(err)),
      );
    },
  });
  const grpcPort = await listen(server);

  // --- Connect JSON over node:http --------------------------------------------------------------
  const GET_PATH = "/finhub.customer.v1.CustomerService/GetCustomer";
  const web = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const reply = (status: number, body: unknown) => {
        const text = JSON.stringify(body);
        res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
      };
      if (req.method !== "POST" || req.url !== GET_PATH) return reply(404, { code: "unimplemented", message: `${req.method} ${req.url}` });
      let body: any;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        return reply(400, { code: "invalid_argument", message: "the body is not JSON" });
      }
      const timeout = Number(req.headers["connect-timeout-ms"]);
      getCustomer(req.headers.authorization, body?.id, jsonTs, Number.isFinite(timeout) && timeout > 0 ? Date.now() + timeout : undefined).then(
        (r) => reply(200, compact(r)),
        (err: unknown) => {
          const [status, code] = (err instanceof Failure && CONNECT_HTTP[err.grpcCode]) || [500, "internal"];
          reply(status, { code, message: (err as Error).message });
        },
      );
    });
  });
  web.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => web.listen(0, "127.0.0.1", () => resolve()));
  process.stdout.write(`${JSON.stringify({ grpcPort, httpPort: (web.address() as AddressInfo).port })}\n`);
}
