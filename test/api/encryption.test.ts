// Envelope encryption end to end (src/db/envelope.ts, docs/compliance.md "Encryption at rest"):
// what a database dump shows of 100 customers, one data key per tenant, ciphertexts bound to
// their row and field, blind-index lookups, and a master key rotation on a database of its own.
import { execFile } from "node:child_process";
import { createCipheriv, createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { cipherOf, createKeyring, parseMasterKey, type TenantCipher } from "../../src/db/envelope.js";
import { rotateMasterKey } from "../../src/db/key-rotation.js";
import { bearer, createTenant, sql, startServer, TEST_MASTER_KEY, type TestServer, type TestTenant } from "../support/app.js";
import { useServer } from "../support/file-server.js";
import { beneficialOwner, completeBusiness, completeIndividual, type GrpcDate } from "../support/fixtures.js";
import { details, grpcClients, metadata, unary, unaryError } from "../support/grpc.js";
import { createOwnDatabase, type OwnDatabase } from "../support/own-database.js";
import { cleanEnv, spawnService } from "../support/process.js";

const run = promisify(execFile);
const INTERNAL = 13;

const file = useServer({ LOG_LEVEL: "debug" });
const logLines = file.logs;

/** A fresh tenant of the file's file.server and a caller of its CustomerService over gRPC. */
async function newTenant() {
  const tenant = await createTenant(file.server);
  const md = metadata(bearer(tenant.apiKey));
  return {
    tenant,
    call: <T = any>(method: string, request: object) => unary<T>(file.clients.customers, method, request, md),
    fail: (method: string, request: object) => unaryError(file.clients.customers, method, request, md),
  };
}

/** Unwraps a tenant's data key from the database with the given master key(s). */
async function keyOf(databaseUrl: string, tenantId: string, master = TEST_MASTER_KEY, previous: string[] = []): Promise<TenantCipher> {
  const [row] = await sql<{ tenantId: string; keyId: string; wrappedKey: string }>(
    databaseUrl,
    `select tenant_id as "tenantId", key_id as "keyId", wrapped_key as "wrappedKey" from tenant_data_keys where tenant_id = $1`,
    [tenantId],
  );
  expect(row, `tenant ${tenantId} has a data key row`).toBeDefined();
  return cipherOf(createKeyring(parseMasterKey(master), previous.map(parseMasterKey)), row!);
}

const masterKeyId = (base64: string) => createHash("sha256").update(Buffer.from(base64, "base64")).digest("hex").slice(0, 8);

async function profileOf(databaseUrl: string, id: string): Promise<any> {
  const [row] = await sql<{ profile: any }>(databaseUrl, "select profile from customers where id = $1", [id]);
  return row!.profile;
}

// ---- identifier and date generators: values no other test uses, valid for their scheme ------

const pad = (n: number, width: number) => String(n).padStart(width, "0");
const LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ";

/** GB_NINO "WX 83 00 07 B" (even) or "wx-830007-b" (odd): prefix WX, suffix B. */
function nino(i: number): string {
  const d = pad(830_000 + i, 6);
  return i % 2 === 0 ? `WX ${d.slice(0, 2)} ${d.slice(2, 4)} ${d.slice(4)} B` : `wx-${d}-b`;
}
/** IN_PAN of a person: QZXP<letter><4 digits><letter>. */
const pan = (i: number) => `QZXP${LETTERS[i % LETTERS.length]}${4100 + i}K`;
/** IN_PAN of a company (4th letter C), sent in lower case with spaces. */
const panEntity = (i: number) => `qzxc${LETTERS[i % LETTERS.length]!.toLowerCase()} ${5200 + i} m`;
/** GB_VAT "GB 730 0007 cc" with its modulus-97 check digits. */
function gbVat(i: number): string {
  const seven = pad(7_300_000 + i, 7);
  const weighted = [8, 7, 6, 5, 4, 3, 2].reduce((sum, w, k) => sum + w * Number(seven[k]), 0);
  const check = pad((97 - (weighted % 97)) % 97, 2);
  return `GB ${seven.slice(0, 3)} ${seven.slice(3)} ${check}`;
}
/** 150 distinct dates of birth between 1911 and 1940 (year and month unique together). */
const dob = (k: number): GrpcDate => ({ year: 1911 + (k % 30), month: 1 + Math.floor(k / 30), day: 11 + (k % 17) });

/** An identifier as sent, normalised (no separators, upper case), and in both cases. */
function identifierForms(value: string): string[] {
  const normalised = value.replace(/[\s./-]/g, "").toUpperCase();
  return [...new Set([value, value.toUpperCase(), value.toLowerCase(), normalised, normalised.toLowerCase()])];
}

/** Plain renderings of a date a careless implementation could write. */
function dateForms(d: GrpcDate): string[] {
  const mm = pad(d.month, 2);
  const dd = pad(d.day, 2);
  return [
    `${d.year}-${mm}-${dd}`,
    `${d.year}-${d.month}-${d.day}`,
    `${dd}/${mm}/${d.year}`,
    `${mm}/${dd}/${d.year}`,
    `${dd}.${mm}.${d.year}`,
    `${d.year}/${mm}/${dd}`,
    JSON.stringify({ year: d.year, month: d.month, day: d.day }),
    `"year": ${d.year}, "month": ${d.month}, "day": ${d.day}`,
    `"day": ${d.day}, "year": ${d.year}, "month": ${d.month}`, // jsonb's own key order
  ];
}

/** google.type.Date as protobuf binary (field 1 year, 2 month, 3 day), hex: a stored response. */
function dateProtoHex(d: GrpcDate): string {
  const varint = (n: number) => {
    const out: number[] = [];
    for (let v = n; ; v >>>= 7) {
      if (v < 0x80) {
        out.push(v);
        return out;
      }
      out.push((v & 0x7f) | 0x80);
    }
  };
  return Buffer.from([0x08, ...varint(d.year), 0x10, ...varint(d.month), 0x18, ...varint(d.day)]).toString("hex");
}

/** Every {...} in `text` that has "year", "month" and "day" members, as [year, month, day]. */
function dateObjects(text: string): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (const m of text.matchAll(/\{[^{}]{0,200}\}/g)) {
    const obj = m[0];
    const y = /"year"\s*:\s*(\d+)/.exec(obj);
    const mo = /"month"\s*:\s*(\d+)/.exec(obj);
    const d = /"day"\s*:\s*(\d+)/.exec(obj);
    if (y && mo && d) out.push([Number(y[1]), Number(mo[1]), Number(d[1])]);
  }
  return out;
}

/** Runs `fn` over `items` with at most `width` calls in flight. */
async function inParallel<T, R>(items: readonly T[], width: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return results;
}

// pg_dump changes session settings (search_path, ...): on the embedded PGlite every connection
// shares one session, so the dump would change them under the running servers. PostgreSQL only.
describe.runIf(inject("databaseKind") === "postgresql")("a database dump", () => {
  it("of 100 customers holds none of their identifiers or dates of birth in any plain form", { timeout: 180_000 }, async () => {
    const t = await newTenant();
    interface Planned {
      body: object;
      identifier: string;
      /** The identifier's digits alone, for the schemes whose normalised form has a letter prefix. */
      digits?: string;
      dates: GrpcDate[];
    }
    const planned: Planned[] = [];
    for (let i = 0; i < 50; i++) {
      const gb = i % 2 === 0;
      const identifier = gb ? nino(i) : pan(i);
      planned.push({
        body: completeIndividual(gb ? "GB" : "IN", {
          individual: { nationalId: { type: gb ? "GB_NINO" : "IN_PAN", value: identifier }, dateOfBirth: dob(i) },
        }),
        identifier,
        dates: [dob(i)],
      });
    }
    for (let j = 0; j < 50; j++) {
      const gb = j % 2 === 0;
      const identifier = gb ? gbVat(j) : panEntity(j);
      const dates = [dob(50 + 2 * j), dob(51 + 2 * j)];
      planned.push({
        body: completeBusiness(gb ? "GB" : "IN", {
          business: {
            taxId: { type: gb ? "GB_VAT" : "IN_PAN_ENTITY", value: identifier },
            representatives: [
              beneficialOwner({ dateOfBirth: dates[0]! }),
              { givenName: "Rosalind", familyName: "Franklin", dateOfBirth: dates[1]!, roles: ["REPRESENTATIVE_ROLE_CONTROLLER"], ownershipBasisPoints: 1000 },
            ],
          },
        }),
        identifier,
        ...(gb ? { digits: identifier.replace(/\D/g, "") } : {}),
        dates,
      });
    }
    const created = await inParallel(planned, 8, async (p) => (await t.call("createCustomer", { customer: p.body, requestId: randomUUID() })).customer);
    expect(created).toHaveLength(100);
    expect(created.filter((c) => c.type === "CUSTOMER_TYPE_INDIVIDUAL")).toHaveLength(50);
    expect(created.filter((c) => c.business?.representatives.length === 2)).toHaveLength(50);
    // The dates came back as sent (so what the dump must not show is really what was stored).
    for (const [i, c] of created.entries()) {
      const sent = planned[i]!.dates;
      const got = c.individual ? [c.individual.dateOfBirth] : c.business.representatives.map((r: any) => r.dateOfBirth);
      expect(got).toEqual(sent);
    }

    const { stdout: dump } = await run("pg_dump", ["--no-owner", "--no-privileges", `--dbname=${inject("databaseUrl")}`], {
      maxBuffer: 1 << 30,
      encoding: "utf8",
    });
    const lower = dump.toLowerCase();
    console.info(`[encryption] pg_dump of the run's database: ${dump.length} characters`);

    // Not vacuous: the dump holds all 100 rows (ids, emails, a stored sealed date of birth).
    const copyCustomers = /^COPY public\.customers .*$\n([\s\S]*?)^\\\.$/m.exec(dump);
    expect(copyCustomers).not.toBeNull();
    const ourRows = copyCustomers![1]!.split("\n").filter((line) => line.startsWith(`${t.tenant.id}\t`));
    expect(ourRows).toHaveLength(100);
    for (const c of created) {
      expect(dump).toContain(c.id);
      expect(dump).toContain(c.email);
    }
    const sealedDob: string = (await profileOf(file.server.databaseUrl, created[0].id)).dateOfBirth;
    expect(sealedDob).toMatch(/^v2\./);
    expect(dump).toContain(sealedDob);

    let checked = 0;
    for (const p of planned) {
      for (const form of identifierForms(p.identifier)) {
        expect(lower, `identifier form "${form}" in the dump`).not.toContain(form.toLowerCase());
        expect(lower).not.toContain(Buffer.from(form).toString("hex"));
        expect(dump).not.toContain(Buffer.from(form).toString("base64"));
        checked++;
      }
      // Digits only (the VAT number without "GB"): as a whole token, not inside a longer run.
      if (p.digits) expect(new RegExp(`(?<![0-9A-Za-z])${p.digits}(?![0-9A-Za-z])`).test(dump)).toBe(false);
      for (const d of p.dates) {
        for (const form of dateForms(d)) {
          expect(dump, `date form "${form}" in the dump`).not.toContain(form);
          checked++;
        }
        const compact = `${d.year}${pad(d.month, 2)}${pad(d.day, 2)}`;
        expect(new RegExp(`(?<![0-9A-Za-z])${compact}(?![0-9A-Za-z])`).test(dump)).toBe(false);
        expect(lower).not.toContain(dateProtoHex(d));
      }
    }
    // Any JSON object with year/month/day members, whatever its key order or spacing: none is
    // one of the dates of birth. The incorporation dates (not sealed: not personal data) show
    // that the scan does find such objects in pg_dump's jsonb output.
    const ours = new Set(planned.flatMap((p) => p.dates.map((d) => `${d.year}-${d.month}-${d.day}`)));
    expect(ours.size).toBe(150);
    const found = dateObjects(dump);
    expect(found.filter(([y, m, d]) => y === 2010 && m === 6 && d === 1).length).toBeGreaterThanOrEqual(50);
    expect(found.filter(([y, m, d]) => ours.has(`${y}-${m}-${d}`))).toEqual([]);
    console.info(`[encryption] ${checked} plain forms of 100 identifiers and 150 dates of birth checked; ${found.length} date objects scanned`);
  });
});

describe("tenant data keys", () => {
  it("each tenant has its own data key, wrapped by the master key; a sealed date opens only where it belongs", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const personA = (await a.call("createCustomer", { customer: completeIndividual("GB", { individual: { dateOfBirth: { year: 1944, month: 2, day: 29 } } }) })).customer;
    const otherA = (await a.call("createCustomer", { customer: completeIndividual("GB", { individual: { dateOfBirth: { year: 1946, month: 4, day: 13 } } }) })).customer;
    const bizA = (
      await a.call("createCustomer", {
        customer: completeBusiness("GB", {
          business: {
            representatives: [
              beneficialOwner({ dateOfBirth: { year: 1931, month: 8, day: 17 } }),
              { givenName: "Ada", familyName: "Byron", dateOfBirth: { year: 1933, month: 9, day: 19 }, roles: ["REPRESENTATIVE_ROLE_DIRECTOR"] },
            ],
          },
        }),
      })
    ).customer;
    const personB = (await b.call("createCustomer", { customer: completeIndividual("GB", { individual: { dateOfBirth: { year: 1944, month: 2, day: 29 } } }) })).customer;

    const rows = await sql<{ tenant_id: string; key_id: string; wrapped_key: string }>(
      file.server.databaseUrl,
      "select tenant_id, key_id, wrapped_key from tenant_data_keys where tenant_id = any($1::uuid[])",
      [[a.tenant.id, b.tenant.id]],
    );
    expect(rows).toHaveLength(2);
    const [ka, kb] = [a, b].map((t) => rows.find((r) => r.tenant_id === t.tenant.id)!);
    const kid = masterKeyId(TEST_MASTER_KEY);
    for (const k of [ka!, kb!]) {
      expect(k.key_id).toMatch(/^d[0-9a-f]{8}$/);
      expect(k.wrapped_key).toMatch(new RegExp(`^w1\\.${kid}\\.[A-Za-z0-9_-]{16}\\.[A-Za-z0-9_-]{43}\\.[A-Za-z0-9_-]{22}$`));
    }
    expect(ka!.key_id).not.toBe(kb!.key_id);
    expect(ka!.wrapped_key).not.toBe(kb!.wrapped_key);
    // The wrapping names the tenant: A's wrapped key does not unwrap as B's.
    const ring = createKeyring(parseMasterKey(TEST_MASTER_KEY));
    expect(() => cipherOf(ring, { tenantId: b.tenant.id, keyId: ka!.key_id, wrappedKey: ka!.wrapped_key })).toThrow(/failed authentication/);
    // ...nor with another master key.
    expect(() => cipherOf(createKeyring(randomBytes(32)), { tenantId: a.tenant.id, keyId: ka!.key_id, wrappedKey: ka!.wrapped_key })).toThrow();

    const cipherA = await keyOf(file.server.databaseUrl, a.tenant.id);
    const cipherB = await keyOf(file.server.databaseUrl, b.tenant.id);
    const at = (tenant: TestTenant, id: string, field: string) => `${tenant.id}/${id}/${field}`;
    const sealedA: string = (await profileOf(file.server.databaseUrl, personA.id)).dateOfBirth;
    const sealedB: string = (await profileOf(file.server.databaseUrl, personB.id)).dateOfBirth;
    expect(sealedA.startsWith(`v2.${ka!.key_id}.`)).toBe(true);
    expect(sealedB.startsWith(`v2.${kb!.key_id}.`)).toBe(true);
    expect(JSON.parse(cipherA.open(sealedA, at(a.tenant, personA.id, "individual.date_of_birth")))).toEqual({ year: 1944, month: 2, day: 29 });
    expect(JSON.parse(cipherB.open(sealedB, at(b.tenant, personB.id, "individual.date_of_birth")))).toEqual({ year: 1944, month: 2, day: 29 });
    // Another row, another field, another tenant's key or tenant: no.
    expect(() => cipherA.open(sealedA, at(a.tenant, otherA.id, "individual.date_of_birth"))).toThrow(/failed authentication/);
    expect(() => cipherA.open(sealedA, at(a.tenant, personA.id, "individual.national_id"))).toThrow(/failed authentication/);
    expect(() => cipherA.open(sealedA, at(b.tenant, personA.id, "individual.date_of_birth"))).toThrow(/failed authentication/);
    expect(() => cipherB.open(sealedA, at(a.tenant, personA.id, "individual.date_of_birth"))).toThrow(/unknown key/);

    // Representatives: each date bound to its representative's id.
    const reps = (await profileOf(file.server.databaseUrl, bizA.id)).representatives as Array<{ id: string; dateOfBirth: string }>;
    expect(reps.map((r) => r.id)).toEqual(bizA.business.representatives.map((r: any) => r.id));
    const repField = (id: string) => `business.representatives.${id}.date_of_birth`;
    expect(JSON.parse(cipherA.open(reps[0]!.dateOfBirth, at(a.tenant, bizA.id, repField(reps[0]!.id))))).toEqual({ year: 1931, month: 8, day: 17 });
    expect(JSON.parse(cipherA.open(reps[1]!.dateOfBirth, at(a.tenant, bizA.id, repField(reps[1]!.id))))).toEqual({ year: 1933, month: 9, day: 19 });
    expect(() => cipherA.open(reps[0]!.dateOfBirth, at(a.tenant, bizA.id, repField(reps[1]!.id)))).toThrow(/failed authentication/);
    expect(() => cipherA.open(reps[0]!.dateOfBirth, at(a.tenant, personA.id, repField(reps[0]!.id)))).toThrow(/failed authentication/);
  });
});

describe("a ciphertext moved to another row", () => {
  /** Parsed log lines written since `from`. */
  const linesSince = (from: number) => logLines.slice(from).map((l) => JSON.parse(l) as Record<string, any>);

  it("swapped dates of birth: GetCustomer of both fails with INTERNAL and the log names neither date", async () => {
    const t = await newTenant();
    const dA = { year: 1923, month: 6, day: 14 };
    const dB = { year: 1927, month: 10, day: 3 };
    const a = (await t.call("createCustomer", { customer: completeIndividual("GB", { individual: { dateOfBirth: dA } }) })).customer;
    const b = (await t.call("createCustomer", { customer: completeIndividual("GB", { individual: { dateOfBirth: dB } }) })).customer;
    const swap = () =>
      sql(
        file.server.databaseUrl,
        `update customers c set profile = jsonb_set(c.profile, '{dateOfBirth}', o.profile->'dateOfBirth')
           from customers o
          where c.tenant_id = $1 and o.tenant_id = $1 and ((c.id = $2 and o.id = $3) or (c.id = $3 and o.id = $2))`,
        [t.tenant.id, a.id, b.id],
      );
    const before = [(await profileOf(file.server.databaseUrl, a.id)).dateOfBirth, (await profileOf(file.server.databaseUrl, b.id)).dateOfBirth];
    await swap();
    expect([(await profileOf(file.server.databaseUrl, a.id)).dateOfBirth, (await profileOf(file.server.databaseUrl, b.id)).dateOfBirth]).toEqual([before[1], before[0]]);

    const mark = logLines.length;
    const errors = [await t.fail("getCustomer", { id: a.id }), await t.fail("getCustomer", { id: b.id }), await t.fail("listCustomers", {})];
    const secrets = [...dateForms(dA), ...dateForms(dB)];
    for (const err of errors) {
      expect(err.code).toBe(INTERNAL);
      expect(details(err).errorInfo?.reason).toBe("INTERNAL");
      expect(err.details).toBe("internal error");
      for (const s of secrets) expect(JSON.stringify(details(err)) + err.message).not.toContain(s);
    }
    const logged = linesSince(mark);
    const failures = logged.filter((e) => e.msg === "unexpected error");
    expect(failures.map((e) => e.rpc)).toEqual([
      "finhub.customer.v1.CustomerService/GetCustomer",
      "finhub.customer.v1.CustomerService/GetCustomer",
      "finhub.customer.v1.CustomerService/ListCustomers",
    ]);
    for (const e of failures) {
      expect(e.level).toBe("error");
      expect(e.cause.type).toBe("DecryptionError");
    }
    const text = logLines.slice(mark).join("\n");
    for (const s of [...secrets, a.email, b.email]) expect(text).not.toContain(s);

    // Swapped back, both read their own dates again: the failure was the swap.
    await swap();
    expect((await t.call("getCustomer", { id: a.id })).customer.individual.dateOfBirth).toEqual(dA);
    expect((await t.call("getCustomer", { id: b.id })).customer.individual.dateOfBirth).toEqual(dB);
  });

  it("a moved national_id: reads still work (it is never opened to read), comparing it on UpdateCustomer fails with INTERNAL", async () => {
    const t = await newTenant();
    const vc = "WC 40 50 61 A";
    const vd = "WA 40 50 62 B";
    const c = (await t.call("createCustomer", { customer: completeIndividual("GB", { individual: { nationalId: { type: "GB_NINO", value: vc } } }) })).customer;
    const d = (await t.call("createCustomer", { customer: completeIndividual("GB", { individual: { nationalId: { type: "GB_NINO", value: vd } } }) })).customer;
    await sql(
      file.server.databaseUrl,
      `update customers set profile = jsonb_set(profile, '{nationalId,sealed}', (select profile->'nationalId'->'sealed' from customers where id = $2))
        where tenant_id = $1 and id = $3`,
      [t.tenant.id, c.id, d.id],
    );
    const stored = await profileOf(file.server.databaseUrl, d.id);
    expect(stored.nationalId.sealed).toBe((await profileOf(file.server.databaseUrl, c.id)).nationalId.sealed);

    // GetCustomer / ListCustomers: the identifier is shown from type and last4, not decrypted.
    const got = (await t.call("getCustomer", { id: d.id })).customer;
    expect(got.individual.nationalId).toEqual({ type: "GB_NINO", value: "", maskedValue: "…062B" });
    expect((await t.call("listCustomers", {})).customers).toHaveLength(2);

    const mark = logLines.length;
    for (const value of [vd, vc]) {
      const body = structuredClone(got);
      body.individual.nationalId = { type: "GB_NINO", value };
      const err = await t.fail("updateCustomer", { customer: body, updateMask: { paths: ["individual.national_id"] } });
      expect(err.code).toBe(INTERNAL);
      expect(err.details).toBe("internal error");
    }
    const failures = linesSince(mark).filter((e) => e.msg === "unexpected error");
    expect(failures).toHaveLength(2);
    expect(failures.every((e) => e.cause.type === "DecryptionError" && e.rpc === "finhub.customer.v1.CustomerService/UpdateCustomer")).toBe(true);
    const text = logLines.slice(mark).join("\n").toLowerCase();
    for (const s of [...identifierForms(vc), ...identifierForms(vd)]) expect(text).not.toContain(s.toLowerCase());
    // Nothing was written by the failed updates.
    expect(await profileOf(file.server.databaseUrl, d.id)).toEqual(stored);
    expect((await t.call("getCustomer", { id: d.id })).customer.etag).toBe(got.etag);

    // An update that leaves the identifier alone does not open it, and succeeds.
    const body = structuredClone(got);
    body.individual.occupation = "Cartographer";
    const updated = (await t.call("updateCustomer", { customer: body, updateMask: { paths: ["individual.occupation"] } })).customer;
    expect(updated.individual.occupation).toBe("Cartographer");
    expect(updated.etag).not.toBe(got.etag);
  });
});

describe("ListCustomers identifier filter (blind index)", () => {
  it("finds exactly the holder, within the tenant, whatever separators and case; unknown type is INVALID_ARGUMENT", async () => {
    const t1 = await newTenant();
    const t2 = await newTenant();
    const shared = "WE 71 82 93 C";
    const mk = (t: Awaited<ReturnType<typeof newTenant>>, value: string) =>
      t.call("createCustomer", { customer: completeIndividual("GB", { individual: { nationalId: { type: "GB_NINO", value } } }) }).then((r: any) => r.customer);
    const x = await mk(t1, shared);
    const y = await mk(t1, "WE 71 82 94 D");
    const z = await mk(t2, shared);
    const vat = gbVat(900);
    const biz = (await t1.call("createCustomer", { customer: completeBusiness("GB", { business: { taxId: { type: "GB_VAT", value: vat } } }) })).customer;

    const ids = async (t: Awaited<ReturnType<typeof newTenant>>, identifier: object, extra: object = {}) =>
      ((await t.call("listCustomers", { identifier, ...extra })).customers as Array<{ id: string }>).map((c) => c.id);
    expect(await ids(t1, { type: "GB_NINO", value: shared })).toEqual([x.id]);
    for (const variant of ["we718293c", "WE-71-82-93-C", "we.71.82.93.c", "WE/718/293/C", "  WE718293C "]) {
      expect(await ids(t1, { type: "GB_NINO", value: variant }), variant).toEqual([x.id]);
    }
    expect(await ids(t1, { type: "GB_NINO", value: "WE 71 82 94 D" })).toEqual([y.id]);
    expect(await ids(t2, { type: "GB_NINO", value: shared })).toEqual([z.id]);
    expect(await ids(t1, { type: "GB_NINO", value: "WE 71 82 95 A" })).toEqual([]);
    // The type is part of what is matched, and the filter combines with the others (AND).
    expect(await ids(t1, { type: "IN_PAN", value: shared })).toEqual([]);
    expect(await ids(t1, { type: "GB_NINO", value: shared }, { type: "CUSTOMER_TYPE_BUSINESS" })).toEqual([]);
    expect(await ids(t1, { type: "GB_VAT", value: vat.toLowerCase().replace(/ /g, "-") })).toEqual([biz.id]);
    expect(await ids(t1, { type: "GB_VAT", value: vat.slice(3) })).toEqual([biz.id]); // without "GB": normalised equally

    const err = await t1.fail("listCustomers", { identifier: { type: "XX_UNKNOWN", value: shared } });
    expect(err.code).toBe(3);
    expect(details(err).violations.map((v) => v.field)).toEqual(["identifier.type"]);
    expect(`${err.message} ${JSON.stringify(details(err))}`).not.toContain("71 82 93");

    // At rest: a keyed HMAC per tenant, not the value.
    const rows = await sql<{ id: string; identifier_index: string; profile: any }>(
      file.server.databaseUrl,
      "select id, identifier_index, profile from customers where id = any($1::uuid[])",
      [[x.id, y.id, z.id]],
    );
    const index = (id: string) => rows.find((r) => r.id === id)!.identifier_index;
    expect(index(x.id)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(index(x.id).toUpperCase()).not.toContain("WE718293C");
    expect(index(x.id)).not.toBe(index(z.id)); // same identifier, two tenants
    expect(index(x.id)).not.toBe(index(y.id));
    expect(rows.find((r) => r.id === x.id)!.profile.nationalId.index).toBe(index(x.id));
    expect(index(x.id)).toBe((await keyOf(file.server.databaseUrl, t1.tenant.id)).blindIndex("GB_NINO:WE718293C"));
    expect(index(z.id)).toBe((await keyOf(file.server.databaseUrl, t2.tenant.id)).blindIndex("GB_NINO:WE718293C"));

    // The index follows an update of the identifier.
    const body = (await t1.call("getCustomer", { id: x.id })).customer;
    body.individual.nationalId = { type: "GB_NINO", value: "WE 11 22 33 A" };
    await t1.call("updateCustomer", { customer: body, updateMask: { paths: ["individual.national_id"] } });
    expect(await ids(t1, { type: "GB_NINO", value: shared })).toEqual([]);
    expect(await ids(t1, { type: "GB_NINO", value: "we112233a" })).toEqual([x.id]);
  });
});

// A database of its own needs a PostgreSQL server: the embedded PGlite holds exactly one.
describe.runIf(inject("databaseKind") === "postgresql")("master key rotation", () => {
  // On a database of its own: the rotation rewraps EVERY tenant's key of the database it runs on.
  const K1 = randomBytes(32).toString("base64");
  const K2 = randomBytes(32).toString("base64");
  let ownerUrl = "";
  let serviceUrl = "";
  let database: OwnDatabase | undefined;
  const open: TestServer[] = [];
  const openClients: Array<ReturnType<typeof grpcClients>> = [];

  beforeAll(async () => {
    database = await createOwnDatabase("cms_rotation");
    ({ ownerUrl, serviceUrl } = database);
  });
  afterAll(async () => {
    for (const c of openClients) c.close();
    for (const s of open) await s.close();
    await database?.drop();
  });

  /** A file.server on the rotation database with `master` (and `previous`) as its keys. */
  async function serverWith(master: string, previous?: string) {
    const s = await startServer({
      DATABASE_URL: serviceUrl,
      DATABASE_MIGRATION_URL: ownerUrl,
      CUSTOMERMS_MASTER_KEY: master,
      ...(previous ? { CUSTOMERMS_MASTER_KEY_PREVIOUS: previous } : {}),
    });
    open.push(s);
    const c = grpcClients(s.port);
    openClients.push(c);
    return { s, c };
  }
  async function stop(x: { s: TestServer; c: ReturnType<typeof grpcClients> }) {
    x.c.close();
    openClients.splice(openClients.indexOf(x.c), 1);
    await x.s.close();
    open.splice(open.indexOf(x.s), 1);
  }
  const caller = (c: ReturnType<typeof grpcClients>, tenant: TestTenant) => {
    const md = metadata(bearer(tenant.apiKey));
    return {
      call: <T = any>(method: string, request: object) => unary<T>(c.customers, method, request, md),
      fail: (method: string, request: object) => unaryError(c.customers, method, request, md),
    };
  };

  /** An identifier sealed the pre-envelope way: AES-256-GCM directly under a master key. */
  function sealV1(master: string, plaintext: string, aad: string): string {
    const key = Buffer.from(master, "base64");
    const iv = randomBytes(12);
    const gcm = createCipheriv("aes-256-gcm", key, iv);
    gcm.setAAD(Buffer.from(aad));
    const ct = Buffer.concat([gcm.update(plaintext, "utf8"), gcm.final()]);
    return ["v1", masterKeyId(master), iv.toString("base64url"), ct.toString("base64url"), gcm.getAuthTag().toString("base64url")].join(".");
  }

  const keyRows = () =>
    sql<{ tenant_id: string; key_id: string; wrapped_key: string }>(ownerUrl, "select tenant_id, key_id, wrapped_key from tenant_data_keys order by tenant_id");

  it("rewraps every data key under the new key, re-seals v1 identifiers; only the new key reads afterwards", { timeout: 180_000 }, async () => {
    expect(inject("databaseKind")).toBe("postgresql");
    const first = await serverWith(K1);
    const ta = await createTenant(first.s);
    const tb = await createTenant(first.s);
    const a = caller(first.c, ta);
    const b = caller(first.c, tb);
    const ninoValue = "WG 12 34 56 A";
    const vatValue = gbVat(950);
    const person = (await a.call("createCustomer", {
      customer: completeIndividual("GB", { individual: { nationalId: { type: "GB_NINO", value: ninoValue }, dateOfBirth: { year: 1938, month: 5, day: 21 } } }),
    })).customer;
    const company = (await a.call("createCustomer", {
      customer: completeBusiness("GB", {
        business: {
          taxId: { type: "GB_VAT", value: vatValue },
          representatives: [
            beneficialOwner({ dateOfBirth: { year: 1939, month: 7, day: 22 } }),
            { givenName: "Alan", familyName: "Turing", dateOfBirth: { year: 1912, month: 6, day: 23 }, roles: ["REPRESENTATIVE_ROLE_DIRECTOR"] },
          ],
        },
      }),
    })).customer;
    const other = (await b.call("createCustomer", {
      customer: completeIndividual("IN", { individual: { nationalId: { type: "IN_PAN", value: "QZXPW9001K" }, dateOfBirth: { year: 1941, month: 3, day: 24 } } }),
    })).customer;

    // Two identifiers written the legacy way (v1, under K1 directly), as rows from before the
    // data keys hold them: same plain value, same associated data.
    const v1Nino = sealV1(K1, ninoValue, `${ta.id}/${person.id}/individual.national_id`);
    const v1Vat = sealV1(K1, vatValue, `${ta.id}/${company.id}/business.tax_id`);
    await sql(ownerUrl, `update customers set profile = jsonb_set(profile, '{nationalId,sealed}', to_jsonb($2::text)) where id = $1`, [person.id, v1Nino]);
    await sql(ownerUrl, `update customers set profile = jsonb_set(profile, '{taxId,sealed}', to_jsonb($2::text)) where id = $1`, [company.id, v1Vat]);
    // The local v1 format is the service's: the tenant cipher (with K1 in its ring) opens it.
    expect((await keyOf(ownerUrl, ta.id, K1)).open(v1Nino, `${ta.id}/${person.id}/individual.national_id`)).toBe(ninoValue);

    const readAll = async (x: { c: ReturnType<typeof grpcClients> }) => [
      (await caller(x.c, ta).call("getCustomer", { id: person.id })).customer,
      (await caller(x.c, ta).call("getCustomer", { id: company.id })).customer,
      (await caller(x.c, tb).call("getCustomer", { id: other.id })).customer,
    ];
    const before = await readAll(first);
    expect(before[0].individual.dateOfBirth).toEqual({ year: 1938, month: 5, day: 21 });
    expect(before[1].business.representatives.map((r: any) => r.dateOfBirth)).toEqual([
      { year: 1939, month: 7, day: 22 },
      { year: 1912, month: 6, day: 23 },
    ]);
    const keysBefore = await keyRows();
    expect(keysBefore).toHaveLength(2);
    for (const k of keysBefore) expect(k.wrapped_key.startsWith(`w1.${masterKeyId(K1)}.`)).toBe(true);
    const datesBefore = await sql<{ id: string; profile: any }>(ownerUrl, "select id, profile from customers order by id");

    // Without K1 among the previous keys nothing can be unwrapped: the rotation fails as a whole.
    await expect(rotateMasterKey(first.s.app.database.scopes, createKeyring(parseMasterKey(K2)))).rejects.toThrow(/unknown master key/);
    expect(await keyRows()).toEqual(keysBefore);
    await stop(first);

    // The operator's command, as documented: new key current, old key previous.
    const dataDir = await mkdtemp(join(tmpdir(), "cms-rotate-"));
    try {
      const child = spawnService("npm", ["run", "--silent", "rotate-master-key"], cleanEnv({
        NODE_ENV: "test",
        DATABASE_URL: serviceUrl,
        CUSTOMERMS_MASTER_KEY: K2,
        CUSTOMERMS_MASTER_KEY_PREVIOUS: K1,
        CUSTOMERMS_MIGRATE_ON_START: "false",
        CUSTOMERMS_DATA_DIR: dataDir,
      }));
      let timer: NodeJS.Timeout | undefined;
      const exit = await Promise.race([
        child.exited,
        new Promise<string>((resolve) => (timer = setTimeout(() => resolve("timeout"), 90_000))),
      ]);
      clearTimeout(timer);
      if (exit === "timeout" && child.proc.pid) process.kill(-child.proc.pid, "SIGKILL");
      expect(exit, child.stderr()).toBe(0);
      expect(child.stdout()).toContain(`rewrapped 2 tenant data key(s) and re-sealed 2 legacy value(s) under master key ${masterKeyId(K2)}`);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }

    const keysAfter = await keyRows();
    expect(keysAfter.map((k) => [k.tenant_id, k.key_id])).toEqual(keysBefore.map((k) => [k.tenant_id, k.key_id])); // same data keys
    for (const k of keysAfter) expect(k.wrapped_key.startsWith(`w1.${masterKeyId(K2)}.`)).toBe(true);
    const afterRows = await sql<{ id: string; profile: any }>(ownerUrl, "select id, profile from customers order by id");
    const byId = (rows: typeof afterRows, id: string) => rows.find((r) => r.id === id)!.profile;
    const keyIdA = keysAfter.find((k) => k.tenant_id === ta.id)!.key_id;
    expect(byId(afterRows, person.id).nationalId.sealed.startsWith(`v2.${keyIdA}.`)).toBe(true);
    expect(byId(afterRows, company.id).taxId.sealed.startsWith(`v2.${keyIdA}.`)).toBe(true);
    // The data itself was not touched: dates of birth and indexes are the same bytes.
    for (const id of [person.id, company.id, other.id]) {
      const [was, now] = [byId(datesBefore, id), byId(afterRows, id)];
      expect(now.dateOfBirth ?? now.representatives).toEqual(was.dateOfBirth ?? was.representatives);
      expect((now.nationalId ?? now.taxId).index).toBe((was.nationalId ?? was.taxId).index);
    }

    // A new server with only K2 reads everything exactly as before.
    const second = await serverWith(K2);
    expect(await readAll(second)).toEqual(before);
    const a2 = caller(second.c, ta);
    expect((await a2.call("listCustomers", { identifier: { type: "GB_NINO", value: ninoValue } })).customers.map((c: any) => c.id)).toEqual([person.id]);
    // The re-sealed v1 identifiers still compare equal: the same value again is no change.
    const eventsOf = async (id: string) => (await a2.call("listCustomerEvents", { customerId: id })).events.length;
    const [eventsPerson, eventsCompany] = [await eventsOf(person.id), await eventsOf(company.id)];
    const samePerson = structuredClone(before[0]);
    samePerson.individual.nationalId = { type: "GB_NINO", value: ninoValue };
    const p2 = (await a2.call("updateCustomer", { customer: samePerson, updateMask: { paths: ["individual.national_id"] } })).customer;
    const sameCompany = structuredClone(before[1]);
    sameCompany.business.taxId = { type: "GB_VAT", value: vatValue };
    const c2 = (await a2.call("updateCustomer", { customer: sameCompany, updateMask: { paths: ["business.tax_id"] } })).customer;
    expect([p2.etag, c2.etag]).toEqual([before[0].etag, before[1].etag]);
    expect([await eventsOf(person.id), await eventsOf(company.id)]).toEqual([eventsPerson, eventsCompany]);
    // Running it again has nothing left to do.
    expect(await rotateMasterKey(second.s.app.database.scopes, createKeyring(parseMasterKey(K2), [parseMasterKey(K1)]))).toEqual({
      dataKeysRewrapped: 0,
      legacyValuesResealed: 0,
    });
    await stop(second);

    // A server that only knows K1 can no longer unwrap any tenant's key.
    const stale = await serverWith(K1);
    for (const [tenant, id] of [[ta, person.id], [ta, company.id], [tb, other.id]] as const) {
      const err = await caller(stale.c, tenant).fail("getCustomer", { id });
      expect(err.code).toBe(INTERNAL);
    }
    await stop(stale);
  });
});
