// The gRPC fast path (src/server/grpc-fast.ts): plain gRPC over HTTP/2 for TenantService,
// CustomerService and VerificationService is served straight from node:http2 streams, everything
// else on HTTP/2 still by connect-node. Two servers on the run's database: `fast` (the default)
// and `slow` (CUSTOMERMS_GRPC_FAST_PATH=false, connect-node serves everything). The suites prove
// which path answers (wire differences the two leave), that grpc-js sees the same results and
// byte-identical errors on both, that hostile framing over raw node:http2 is refused with a
// google.rpc.Status (never INTERNAL) and leaves the process serving, compression, deadlines
// (including a handler stuck on a row lock), stream cancellation, metrics/logs and concurrency.
// All traffic is 127.0.0.1; every wait is bounded.
import { randomBytes, randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync, gzipSync } from "node:zlib";
import pg from "pg";
import protobuf from "protobufjs";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import {
  CustomerService,
  GetCustomerRequestSchema,
  GetCustomerResponseSchema,
  UpdateCustomerRequestSchema,
} from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { bearer, createTenant, sql, startServer, untilNoLockWaiters, type TestServer, type TestTenant } from "../support/app.js";
import { watch, type Consumer } from "../support/event-consumer.js";
import { useServer, type FileServer } from "../support/file-server.js";
import { completeIndividual } from "../support/fixtures.js";
import { details, grpc, grpcClients, metadata, unary, unaryError, type DecodedDetails, type GrpcClient } from "../support/grpc.js";

const DOMAIN = "customerms.finhub";
const CUSTOMER_SERVICE = "finhub.customer.v1.CustomerService";
const GET_PATH = `/${CUSTOMER_SERVICE}/GetCustomer`;
const UPDATE_PATH = `/${CUSTOMER_SERVICE}/UpdateCustomer`;
/** config.maxMessageBytes (default 4 MiB). */
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

const fast = useServer({ LOG_LEVEL: "info" });
const slow = useServer({ LOG_LEVEL: "info", CUSTOMERMS_GRPC_FAST_PATH: "false" });
const both: ReadonlyArray<readonly ["fast" | "slow", FileServer]> = [
  ["fast", fast],
  ["slow", slow],
];

/** Everything a test starts besides the two file servers, closed after the file (last first). */
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

// ---------------------------------------------------------------------------------------------
// Helpers

const md = (t: TestTenant) => metadata(bearer(t.apiKey));
const withDeadline = (ms = 20_000): grpc.CallOptions => ({ deadline: Date.now() + ms });

/** A syntactically valid API key that was never issued. */
const unknownKey = () => `cms_${randomBytes(32).toString("base64url")}`;

/** Bounded polling for an eventual effect: `probe` until `ok`, every 25 ms, at most `timeoutMs`. */
async function until<T>(what: string, probe: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (let i = 0; i < 10_000; i++) {
    last = await probe();
    if (ok(last)) return last;
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}

/** One 5-byte-prefixed gRPC message. */
function frame(bytes: Uint8Array, compressed = false): Buffer {
  const out = Buffer.alloc(5 + bytes.length);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

/** The length-prefixed messages of a response body (uncompressed frames only). */
function unframe(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (let i = 0; i < 1_000 && at < body.length; i++) {
    expect(body.length - at, "a truncated response frame").toBeGreaterThanOrEqual(5);
    expect(body[at], "a compressed response frame").toBe(0);
    const length = body.readUInt32BE(at + 1);
    out.push(body.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  expect(at).toBe(body.length);
  return out;
}

const getRequest = (id: string) => Buffer.from(toBinary(GetCustomerRequestSchema, create(GetCustomerRequestSchema, { id })));

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const statusType = protobuf
  .loadSync(join(dirname(require.resolve("google-proto-files/package.json")), "google/rpc/status.proto"))
  .lookupType("google.rpc.Status");

/** What a raw HTTP/2 gRPC exchange ended with. */
interface RawResult {
  readonly headers: http2.IncomingHttpHeaders;
  readonly trailers: http2.IncomingHttpHeaders | undefined;
  /** grpc-status came in the response headers (a trailers-only response). */
  readonly trailersOnly: boolean;
  readonly messages: Buffer[];
  readonly code: number;
  /** grpc-message, percent-decoded. */
  readonly message: string;
  /** grpc-status-details-bin, raw. */
  readonly detailsBin: Buffer | undefined;
  readonly details: DecodedDetails;
  readonly elapsedMs: number;
}

/** One gRPC call over a raw node:http2 session; rejects if no status arrives within timeoutMs. */
function rawCall(
  session: http2.ClientHttp2Session,
  path: string,
  body: Buffer,
  headers: Record<string, string> = {},
  timeoutMs = 15_000,
): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
    let head: http2.IncomingHttpHeaders | undefined;
    let trailers: http2.IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    let failure: Error | undefined;
    const timer = setTimeout(() => {
      failure = new Error(`${path}: no complete response within ${timeoutMs} ms`);
      req.close(http2.constants.NGHTTP2_CANCEL);
    }, timeoutMs);
    req.on("response", (h) => (head = h));
    req.on("trailers", (t) => (trailers = t));
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("error", (err) => (failure ??= err));
    req.on("close", () => {
      clearTimeout(timer);
      if (failure) return reject(failure);
      if (head === undefined) return reject(new Error(`${path}: the stream closed without response headers (rst ${req.rstCode})`));
      const trailersOnly = head["grpc-status"] !== undefined;
      const status = trailersOnly ? head : trailers;
      if (status?.["grpc-status"] === undefined) return reject(new Error(`${path}: no grpc-status (HTTP ${head[":status"]}, rst ${req.rstCode})`));
      const bin = status["grpc-status-details-bin"];
      const detailsBin = bin === undefined ? undefined : Buffer.from(String(bin), "base64");
      const trailerMd = new grpc.Metadata();
      if (detailsBin) trailerMd.set("grpc-status-details-bin", detailsBin);
      resolve({
        headers: head,
        trailers,
        trailersOnly,
        messages: unframe(Buffer.concat(chunks)),
        code: Number(status["grpc-status"]),
        message: decodeURIComponent(String(status["grpc-message"] ?? "")),
        detailsBin,
        details: details({ metadata: trailerMd } as grpc.ServiceError),
        elapsedMs: Date.now() - started,
      });
    });
    req.end(body);
  });
}

/** An HTTP/2 session to a test server, closed after the file. */
async function h2Session(port: number): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  cleanups.push(() => void session.destroy());
  await new Promise<void>((resolve, reject) => {
    session.once("connect", () => resolve());
    session.once("error", reject);
  });
  session.on("error", () => undefined); // reported through the streams
  return session;
}

/** Asserts a refusal carries a google.rpc.Status whose code/message match grpc-status/-message and
 * whose ErrorInfo names `reason` in our domain. */
function expectRefusal(r: RawResult, code: number, reason: string): void {
  expect({ code: r.code, reason: r.details.errorInfo?.reason, domain: r.details.errorInfo?.domain }, r.message).toEqual({ code, reason, domain: DOMAIN });
  expect(r.detailsBin).toBeDefined();
  const status = statusType.toObject(statusType.decode(r.detailsBin!), { defaults: true }) as { code: number; message: string };
  expect(status).toMatchObject({ code, message: r.message });
  expect(r.messages).toEqual([]);
}

/** GET /metrics (plain HTTP/1.1, no keep-alive). */
function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/metrics", agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString("utf8")) : reject(new Error(`GET /metrics: HTTP ${res.statusCode}`))));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("GET /metrics timed out")));
    req.on("error", reject);
  });
}

/** The sum of a Prometheus sample's values over the series carrying `labels` (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

const metric = async (s: FileServer, name: string, labels: Record<string, string> = {}) => sample(await scrape(s.server.port), name, labels);

/** The server's JSON "rpc" log lines. */
function rpcLogs(s: FileServer): Array<Record<string, unknown>> {
  return s.logs
    .flatMap((chunk) => chunk.split("\n"))
    .filter((line) => line.includes('"msg":"rpc"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** What grpc-js reports of an error, as compared between the two servers. */
function seen(err: grpc.ServiceError) {
  const bin = err.metadata?.get("grpc-status-details-bin")[0];
  return {
    code: err.code,
    grpcMessage: err.details,
    ...details(err),
    detailsBin: bin === undefined ? undefined : Buffer.from(bin as Buffer).toString("base64"),
  };
}

/** A grpc-js client of the same service as `like` (proto-loader, proto/) with channel options. */
function clientWith(like: GrpcClient, port: number, options: grpc.ChannelOptions): GrpcClient {
  const Ctor = like.constructor as new (address: string, creds: grpc.ChannelCredentials, options: grpc.ChannelOptions) => GrpcClient;
  const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1, ...options });
  cleanups.push(() => client.close());
  return client;
}

/** Connect-ES init shape of a new individual customer. */
const customerInit = (tag: string) => ({
  profile: { case: "individual" as const, value: { givenName: "Ada", familyName: `Lovelace-${tag}` } },
  email: `ada.${tag}.${randomUUID()}@example.com`,
  countryCode: "GB",
});

let tenant: TestTenant;
let known: any; // a customer created through grpc-js on the fast server
beforeAll(async () => {
  tenant = await createTenant(fast.server);
  known = (await unary(fast.clients.customers, "createCustomer", { customer: completeIndividual("GB") }, md(tenant), withDeadline())).customer;
});

// ---------------------------------------------------------------------------------------------

describe("which path answers", () => {
  it("grpc-js gets identical results from the fast-path server and the connect-node-only server", async () => {
    const viaSlow = (await unary(slow.clients.customers, "createCustomer", { customer: completeIndividual("GB") }, md(tenant), withDeadline())).customer;
    for (const id of [known.id, viaSlow.id]) {
      const [a, b] = await Promise.all(both.map(([, s]) => unary(s.clients.customers, "getCustomer", { id }, md(tenant), withDeadline())));
      expect(a.customer.id).toBe(id);
      expect(a).toEqual(b);
    }
    const [la, lb] = await Promise.all(both.map(([, s]) => unary(s.clients.customers, "listCustomers", { pageSize: 10 }, md(tenant), withDeadline())));
    expect(la.customers.map((c: any) => c.id).sort()).toEqual([known.id, viaSlow.id].sort());
    expect(la).toEqual(lb);
    const [ra, rb] = await Promise.all(both.map(([, s]) => unary(s.clients.customers, "getCustomerRequirements", { id: known.id }, md(tenant), withDeadline())));
    expect(ra).toEqual(rb);
    // TenantService too (each server has its own admin token).
    const [ta, tb] = await Promise.all(
      both.map(([, s]) => unary(s.clients.tenants, "getTenant", { id: tenant.id }, metadata(bearer(s.server.adminToken)), withDeadline())),
    );
    expect(ta.tenant.id).toBe(tenant.id);
    expect(ta).toEqual(tb);
  });

  it("grpc-js errors: the fast path answers trailers-only, connect-node with headers then trailers", async () => {
    const id = randomUUID();
    const [a, b] = (await Promise.all(both.map(([, s]) => unaryError(s.clients.customers, "getCustomer", { id }, md(tenant), withDeadline())))) as [
      grpc.ServiceError,
      grpc.ServiceError,
    ];
    expect(seen(a)).toEqual(seen(b));
    expect(a.code).toBe(grpc.status.NOT_FOUND);
    // grpc-js merges the headers of a trailers-only response into the error's metadata: this is
    // the grpc-js call itself observably served by the fast path, and not by connect-node.
    expect(a.metadata.get("content-type")).toEqual(["application/grpc+proto"]);
    expect(b.metadata.get("content-type")).toEqual([]);
  });

  it("raw HTTP/2 GetCustomer: the fast path advertises identity,gzip,deflate; connect-node does not", async () => {
    const results = await Promise.all(
      both.map(async ([, s]) => rawCall(await h2Session(s.server.port), GET_PATH, frame(getRequest(known.id)), bearer(tenant.apiKey))),
    );
    const [a, b] = results as [RawResult, RawResult];
    for (const r of results) {
      expect(r.code, r.message).toBe(grpc.status.OK);
      expect(r.headers[":status"]).toBe(200);
      expect(r.headers["content-type"]).toBe("application/grpc+proto");
      expect(r.trailersOnly).toBe(false);
      expect(r.messages).toHaveLength(1);
      expect(fromBinary(GetCustomerResponseSchema, r.messages[0]!).customer?.id).toBe(known.id);
    }
    expect(a.messages[0]!.equals(b.messages[0]!)).toBe(true);
    const accepted = (r: RawResult) => String(r.headers["grpc-accept-encoding"] ?? "").split(/\s*,\s*/).filter((x) => x !== "");
    expect(accepted(a)).toEqual(["identity", "gzip", "deflate"]);
    expect(accepted(b)).toEqual([]); // connect-node names its encodings (gzip, br) only when refusing one

    // application/grpc+proto is the fast path's too; an unknown method is left to connect-node
    // (HTTP 404, which gRPC clients read as UNIMPLEMENTED) on both servers.
    const plus = await rawCall(await h2Session(fast.server.port), GET_PATH, frame(getRequest(known.id)), {
      ...bearer(tenant.apiKey),
      "content-type": "application/grpc+proto",
    });
    expect(plus.code).toBe(grpc.status.OK);
    expect(plus.headers["grpc-accept-encoding"]).toBe("identity,gzip,deflate");
    for (const [, s] of both) {
      const unknown = await rawCall(await h2Session(s.server.port), `/${CUSTOMER_SERVICE}/NoSuchMethod`, frame(getRequest(known.id)), bearer(tenant.apiKey)).then(
        () => undefined,
        (err: Error) => err.message,
      );
      expect(unknown).toMatch(/no grpc-status \(HTTP 404/);
    }
  });

  it("the other protocols on HTTP/2 are served beside the gRPC fast path: Connect JSON (connect-fast.ts), gRPC-Web, gRPC+JSON (connect-node)", async () => {
    const sessions = () => {
      const m = new Http2SessionManager(fast.server.baseUrl);
      cleanups.push(() => m.abort());
      return m;
    };
    const transports: Array<[string, Transport]> = [
      ["connect-json-h2", createConnectTransport({ baseUrl: fast.server.baseUrl, httpVersion: "2", useBinaryFormat: false, sessionManager: sessions() })],
      ["grpc-web-h2", createGrpcWebTransport({ baseUrl: fast.server.baseUrl, httpVersion: "2", sessionManager: sessions() })],
      ["grpc-json-h2", createGrpcTransport({ baseUrl: fast.server.baseUrl, useBinaryFormat: false, sessionManager: sessions() })],
    ];
    const headers = bearer(tenant.apiKey);
    for (const [tag, transport] of transports) {
      const client = createClient(CustomerService, transport);
      const created = (await client.createCustomer({ customer: customerInit(tag) }, { headers, timeoutMs: 20_000 })).customer!;
      expect(created.etag, tag).toBe("1");
      const got = (await client.getCustomer({ id: created.id }, { headers, timeoutMs: 20_000 })).customer!;
      expect(got, tag).toEqual(created);
      // ... and the same customer through grpc-js on the fast path.
      const viaGrpc = (await unary(fast.clients.customers, "getCustomer", { id: created.id }, md(tenant), withDeadline())).customer;
      expect({ id: viaGrpc.id, email: viaGrpc.email, etag: viaGrpc.etag }).toEqual({ id: created.id, email: created.email, etag: created.etag });
    }
    // gRPC+JSON over raw HTTP/2 is answered in JSON: connect-node, not the (binary-only) fast path.
    const json = await rawCall(await h2Session(fast.server.port), GET_PATH, frame(Buffer.from(JSON.stringify({ id: known.id }))), {
      ...bearer(tenant.apiKey),
      "content-type": "application/grpc+json",
    });
    expect(json.code, json.message).toBe(grpc.status.OK);
    expect(json.headers["content-type"]).toBe("application/grpc+json");
    expect(json.headers["grpc-accept-encoding"]).toBeUndefined();
    expect(JSON.parse(json.messages[0]!.toString("utf8")).customer.id).toBe(known.id);
  });

  it("grpc.health.v1 Check and server reflection over grpc-js still work on the fast-path server", async () => {
    expect((await unary(fast.clients.health, "check", { service: "" }, undefined, withDeadline())).status).toBe("SERVING");
    expect((await unary(fast.clients.health, "check", { service: CUSTOMER_SERVICE }, undefined, withDeadline())).status).toBe("SERVING");
    expect((await unaryError(fast.clients.health, "check", { service: "nope.Service" }, undefined, withDeadline())).code).toBe(grpc.status.NOT_FOUND);

    const definition = protoLoader.loadSync("grpc/reflection/v1/reflection.proto", {
      includeDirs: [join(root, "proto/vendor")],
      keepCase: false,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const Reflection = (grpc.loadPackageDefinition(definition) as any).grpc.reflection.v1.ServerReflection;
    const reflection = new Reflection(`127.0.0.1:${fast.server.port}`, grpc.credentials.createInsecure()) as GrpcClient;
    cleanups.push(() => reflection.close());
    const call = reflection.serverReflectionInfo({ deadline: Date.now() + 20_000 }) as grpc.ClientDuplexStream<any, any>;
    const answers: any[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on("data", (m: any) => answers.push(m));
      call.on("error", reject);
      call.on("end", () => resolve());
    });
    call.write({ listServices: "" });
    call.write({ fileContainingSymbol: CUSTOMER_SERVICE });
    call.end();
    await done;
    expect(answers).toHaveLength(2);
    const services = answers[0].listServicesResponse.service.map((s: any) => s.name);
    expect(services).toEqual(
      expect.arrayContaining(["finhub.tenant.v1.TenantService", CUSTOMER_SERVICE, "finhub.customer.v1.VerificationService", "grpc.health.v1.Health"]),
    );
    const files: Buffer[] = answers[1].fileDescriptorResponse.fileDescriptorProto;
    expect(files.length).toBeGreaterThan(0);
    expect(files.some((f) => Buffer.from(f).includes("finhub/customer/v1/customer_service.proto"))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------

describe("error parity: grpc-js sees the same error from both paths", () => {
  /** The same failing call on both servers; asserts the errors are identical; returns the fast one. */
  async function sameError(
    service: "customers" | "tenants" | "verification",
    method: string,
    request: object | ((s: FileServer) => object),
    mdFor: (s: FileServer) => grpc.Metadata | undefined,
  ): Promise<ReturnType<typeof seen>> {
    const errs: Array<ReturnType<typeof seen>> = [];
    for (const [, s] of both) {
      const req = typeof request === "function" ? request(s) : request;
      errs.push(seen(await unaryError(s.clients[service], method, req, mdFor(s) ?? new grpc.Metadata(), withDeadline())));
    }
    expect(errs[0]).toEqual(errs[1]);
    expect(errs[0]!.detailsBin).toBeDefined();
    return errs[0]!;
  }
  const asTenant = () => md(tenant);

  it("INVALID_ARGUMENT with several violations", async () => {
    const e = await sameError(
      "customers",
      "createCustomer",
      { customer: { individual: { givenName: "", familyName: "" }, email: "not-an-email", countryCode: "gbr" } },
      asTenant,
    );
    expect(e.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(e.errorInfo).toEqual({ reason: "INVALID_ARGUMENT", domain: DOMAIN, metadata: {} });
    expect(e.violations.map((v) => [v.field, v.ruleId])).toEqual([
      ["customer.individual.given_name", "required"],
      ["customer.individual.family_name", "required"],
      ["customer.email", "string.email"],
      ["customer.country_code", "string.pattern"],
    ]);
    // grpc-js decodes grpc-message with decodeURI, which leaves reserved characters (":", ";")
    // percent-encoded: the same text from both paths either way.
    expect(decodeURIComponent(e.grpcMessage)).toContain("customer.email: must be a valid email address; customer.country_code:");
  });

  it("NOT_FOUND (CustomerService and VerificationService)", async () => {
    const id = randomUUID();
    const e = await sameError("customers", "getCustomer", { id }, asTenant);
    expect(e.code).toBe(grpc.status.NOT_FOUND);
    expect(e.errorInfo?.reason).toBe("CUSTOMER_NOT_FOUND");
    expect(e.grpcMessage).toBe(`customer ${id} not found`);
    const v = await sameError("verification", "startEmailVerification", { customerId: id }, asTenant);
    expect(v.code).toBe(grpc.status.NOT_FOUND);
    expect(v.errorInfo?.domain).toBe(DOMAIN);
  });

  it("UNAUTHENTICATED: missing and invalid API key", async () => {
    const missing = await sameError("customers", "getCustomer", { id: known.id }, () => undefined);
    expect(missing.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(missing.errorInfo?.domain).toBe(DOMAIN);
    const key = unknownKey();
    const invalid = await sameError("customers", "getCustomer", { id: known.id }, () => metadata(bearer(key)));
    expect(invalid.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(invalid.errorInfo?.reason).toBe("CREDENTIALS_INVALID");
  });

  it("PERMISSION_DENIED: a read-only key writing, a tenant key on TenantService, the admin token on CustomerService", async () => {
    const issued = await unary(
      fast.clients.tenants,
      "createApiKey",
      { tenantId: tenant.id, key: { displayName: "read only", scopes: ["API_KEY_SCOPE_READ"] } },
      metadata(bearer(fast.server.adminToken)),
      withDeadline(),
    );
    const scope = await sameError("customers", "createCustomer", { customer: completeIndividual("GB") }, () => metadata(bearer(issued.apiKey)));
    expect(scope.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(scope.errorInfo).toEqual({
      reason: "API_KEY_SCOPE_INSUFFICIENT",
      domain: DOMAIN,
      metadata: { required_scope: "write", api_key_id: issued.key.id },
    });
    const adminOnly = await sameError("tenants", "listApiKeys", { tenantId: tenant.id }, asTenant);
    expect([adminOnly.code, adminOnly.errorInfo?.reason]).toEqual([grpc.status.PERMISSION_DENIED, "ADMIN_ONLY"]);
    const tenantOnly = await sameError("customers", "getCustomer", { id: known.id }, (s) => metadata(bearer(s.server.adminToken)));
    expect([tenantOnly.code, tenantOnly.errorInfo?.reason]).toEqual([grpc.status.PERMISSION_DENIED, "TENANT_KEY_REQUIRED"]);
  });

  it("ALREADY_EXISTS naming the holder, FAILED_PRECONDITION with PreconditionFailure, ABORTED on a stale etag", async () => {
    const dup = await sameError("customers", "createCustomer", () => ({ customer: { ...completeIndividual("GB"), email: known.email } }), asTenant);
    expect(dup.code).toBe(grpc.status.ALREADY_EXISTS);
    expect(dup.errorInfo?.reason).toBe("EMAIL_ALREADY_EXISTS");
    expect(dup.errorInfo?.metadata).toMatchObject({ customer_id: known.id, field: "email" });

    const pre = await sameError("customers", "activateCustomer", { id: known.id }, asTenant);
    expect(pre.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(pre.errorInfo?.reason).toBe("ACTIVATION_REQUIREMENTS_NOT_MET");
    expect(pre.preconditions.map((p) => p.type)).toEqual(["EMAIL_NOT_VERIFIED", "PHONE_NOT_VERIFIED"]);

    const stale = await sameError(
      "customers",
      "updateCustomer",
      { customer: { id: known.id, etag: "999", individual: { familyName: "Stale" } }, updateMask: { paths: ["individual.family_name"] } },
      asTenant,
    );
    expect(stale.code).toBe(grpc.status.ABORTED);
    expect(stale.errorInfo?.domain).toBe(DOMAIN);
    // None of the refusals wrote anything.
    expect((await unary(fast.clients.customers, "getCustomer", { id: known.id }, md(tenant), withDeadline())).customer.etag).toBe(known.etag);
  });

  it("RESOURCE_EXHAUSTED with RetryInfo after too many failed authentications (in-memory limiter, limit 2)", async () => {
    const pair: Array<{ server: TestServer; clients: ReturnType<typeof grpcClients> }> = [];
    const envs: Array<Record<string, string>> = [{}, { CUSTOMERMS_GRPC_FAST_PATH: "false" }];
    for (const env of envs) {
      const server = await startServer({ REDIS_URL: "", CUSTOMERMS_AUTH_FAILURES_PER_MINUTE: "2", ...env });
      cleanups.push(() => server.close());
      const clients = grpcClients(server.port);
      cleanups.push(() => clients.close());
      pair.push({ server, clients });
    }
    const errs: grpc.ServiceError[] = [];
    for (const { clients } of pair) {
      for (let i = 0; i < 2; i++) {
        const err = await unaryError(clients.customers, "getCustomer", { id: known.id }, metadata(bearer(unknownKey())), withDeadline());
        expect(details(err).errorInfo?.reason).toBe("CREDENTIALS_INVALID");
      }
      errs.push(await unaryError(clients.customers, "getCustomer", { id: known.id }, metadata(bearer(unknownKey())), withDeadline()));
    }
    // The retry delay is a clock reading: compare everything else, and the delay's range.
    const normalised = errs.map((err) => {
      const d = details(err);
      expect(d.retryDelayMs).toBeGreaterThan(0);
      expect(d.retryDelayMs).toBeLessThanOrEqual(60_000);
      expect(Number(d.errorInfo?.metadata.retry_after_ms)).toBeGreaterThan(0);
      return { code: err.code, message: err.details.replace(/\d+/g, "N"), reason: d.errorInfo?.reason, domain: d.errorInfo?.domain, keys: Object.keys(d.errorInfo?.metadata ?? {}), types: d.types };
    });
    expect(normalised[0]).toEqual(normalised[1]);
    expect(normalised[0]).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, reason: "TOO_MANY_AUTH_FAILURES", domain: DOMAIN });
    expect(normalised[0]!.types).toEqual(expect.arrayContaining(["google.rpc.ErrorInfo", "google.rpc.RetryInfo"]));
  });
});

// ---------------------------------------------------------------------------------------------

describe("hostile input over raw HTTP/2 on the fast path", () => {
  it("every malformed request is refused with a google.rpc.Status (never INTERNAL), and the process keeps serving", { timeout: 60_000 }, async () => {
    const session = await h2Session(fast.server.port);
    const auth = bearer(tenant.apiKey);
    const call = (body: Buffer, headers: Record<string, string> = {}) => rawCall(session, GET_PATH, body, { ...auth, ...headers });
    const unknownId = randomUUID();

    // Random bytes as the message (well-framed): 40 payloads, each INVALID_ARGUMENT.
    for (let i = 0; i < 40; i++) {
      const payload = randomBytes(1 + (i * 37) % 300);
      const r = await call(frame(payload));
      expect(r.code, `payload ${payload.toString("hex")}: ${r.message}`).toBe(grpc.status.INVALID_ARGUMENT);
      expectRefusal(r, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
      expect(r.trailersOnly).toBe(true);
    }
    // ... one that certainly does not parse (field 1 with wire type 7).
    const garbage = await call(frame(Buffer.concat([Buffer.from([0x0f]), randomBytes(31)])));
    expectRefusal(garbage, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(garbage.message).toBe("the request is not a valid finhub.customer.v1.GetCustomerRequest message");

    // Framing: truncated (declares 100, carries 10), empty body, a partial prefix, two messages.
    const truncated = await call(Buffer.concat([Buffer.from([0, 0, 0, 0, 100]), randomBytes(10)]));
    expectRefusal(truncated, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(truncated.message).toBe("the request frame declares 100 bytes but carries 10");
    const empty = await call(Buffer.alloc(0));
    expectRefusal(empty, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(empty.message).toBe("the request has no complete gRPC message frame");
    expectRefusal(await call(Buffer.from([0, 0, 0])), grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expectRefusal(await call(Buffer.concat([frame(getRequest(unknownId)), frame(getRequest(unknownId))])), grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");

    // Size: exactly the limit is decoded (a valid request padded with an unknown field), one
    // byte more and a 5 MiB frame are RESOURCE_EXHAUSTED.
    const atLimit = (extra: number): Buffer => {
      const id = getRequest(unknownId); // 38 bytes
      const fillerLength = MAX_MESSAGE_BYTES + extra - id.length - 2 - 4; // tag 100/LEN = 2 bytes, length = 4-byte varint
      const length = Buffer.from([(fillerLength & 0x7f) | 0x80, ((fillerLength >> 7) & 0x7f) | 0x80, ((fillerLength >> 14) & 0x7f) | 0x80, fillerLength >> 21]);
      const message = Buffer.concat([id, Buffer.from([0xa2, 0x06]), length, Buffer.alloc(fillerLength, 0x61)]);
      expect(message.length).toBe(MAX_MESSAGE_BYTES + extra);
      return frame(message);
    };
    const exactly = await call(atLimit(0));
    expectRefusal(exactly, grpc.status.NOT_FOUND, "CUSTOMER_NOT_FOUND");
    const oneOver = await call(atLimit(1));
    expectRefusal(oneOver, grpc.status.RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED");
    const huge = await call(frame(Buffer.alloc(5 * 1024 * 1024, 0x61)));
    expectRefusal(huge, grpc.status.RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED");
    expect(huge.message).toBe(`message larger than ${MAX_MESSAGE_BYTES} bytes`);

    // Compression: an unsupported encoding is UNIMPLEMENTED; gzip and deflate are decoded (the
    // unknown id's NOT_FOUND proves the message was read); a known id is answered.
    const snappy = await call(frame(getRequest(unknownId), true), { "grpc-encoding": "snappy" });
    expectRefusal(snappy, grpc.status.UNIMPLEMENTED, "UNIMPLEMENTED");
    expect(snappy.message).toContain('"snappy"');
    const gz = await call(frame(gzipSync(getRequest(unknownId)), true), { "grpc-encoding": "gzip" });
    expectRefusal(gz, grpc.status.NOT_FOUND, "CUSTOMER_NOT_FOUND");
    expect(gz.message).toBe(`customer ${unknownId} not found`);
    expectRefusal(await call(frame(deflateSync(getRequest(unknownId)), true), { "grpc-encoding": "deflate" }), grpc.status.NOT_FOUND, "CUSTOMER_NOT_FOUND");
    const gzKnown = await call(frame(gzipSync(getRequest(known.id)), true), { "grpc-encoding": "gzip" });
    expect(gzKnown.code, gzKnown.message).toBe(grpc.status.OK);
    expect(fromBinary(GetCustomerResponseSchema, gzKnown.messages[0]!).customer?.id).toBe(known.id);
    // grpc-encoding gzip with an uncompressed frame: read as is.
    expect((await call(frame(getRequest(known.id)), { "grpc-encoding": "gzip" })).code).toBe(grpc.status.OK);
    // Not gzip at all: INVALID_ARGUMENT. A gzip bomb (5 MiB of zeros in a few KiB) is over the
    // limit once inflated: RESOURCE_EXHAUSTED, as an oversized uncompressed message.
    expectRefusal(await call(frame(randomBytes(64), true), { "grpc-encoding": "gzip" }), grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    const bomb = await call(frame(gzipSync(Buffer.concat([getRequest(unknownId), Buffer.alloc(5 * 1024 * 1024)])), true), { "grpc-encoding": "gzip" });
    expectRefusal(bomb, grpc.status.RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED");

    // Invalid UTF-8 in the string field: INVALID_ARGUMENT (the message does not decode).
    const utf8 = await call(frame(Buffer.from([0x0a, 0x04, 0xff, 0xfe, 0xc3, 0x28])));
    expectRefusal(utf8, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(utf8.message).toBe("the request is not a valid finhub.customer.v1.GetCustomerRequest message");

    // A malformed grpc-timeout.
    expectRefusal(await call(frame(getRequest(known.id)), { "grpc-timeout": "banana" }), grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT");

    // Still serving: on the same session, on grpc-js, and on a new connection.
    const again = await call(frame(getRequest(known.id)));
    expect(again.code, again.message).toBe(grpc.status.OK);
    expect(fromBinary(GetCustomerResponseSchema, again.messages[0]!).customer?.email).toBe(known.email);
    expect((await unary(fast.clients.customers, "getCustomer", { id: known.id }, md(tenant), withDeadline())).customer.id).toBe(known.id);
    const fresh = await rawCall(await h2Session(fast.server.port), GET_PATH, frame(getRequest(known.id)), auth);
    expect(fresh.code).toBe(grpc.status.OK);
    expect(session.destroyed).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------

/** A TCP relay that records what the client sends (to see the request bytes on the wire). */
async function recordingRelay(targetPort: number): Promise<{ port: number; sent(): Buffer }> {
  const sent: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((client) => {
    const upstream = net.connect({ host: "127.0.0.1", port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("data", (d: Buffer) => sent.push(d));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", () => resolve()));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        relay.close(() => resolve());
      }),
  );
  return { port: (relay.address() as net.AddressInfo).port, sent: () => Buffer.concat(sent) };
}

/** Whether the bytes hold a gRPC frame with the compressed flag whose payload is gzip. */
function hasGzipFrame(bytes: Buffer): boolean {
  for (let at = bytes.indexOf(Buffer.from([0x1f, 0x8b, 0x08])), i = 0; at >= 0 && i < 10_000; at = bytes.indexOf(Buffer.from([0x1f, 0x8b, 0x08]), at + 1), i++) {
    if (at >= 5 && bytes[at - 5] === 1) return true;
  }
  return false;
}

describe("compression end to end", () => {
  it("a grpc-js client with gzip as its default compression creates and reads a customer (on both paths)", async () => {
    for (const [name, s] of both) {
      const relay = await recordingRelay(s.server.port);
      const gz = clientWith(s.clients.customers, relay.port, { "grpc.default_compression_algorithm": 2 });
      const input = completeIndividual("GB");
      const created = (await unary(gz, "createCustomer", { customer: input }, md(tenant), withDeadline())).customer;
      expect(created.email, name).toBe(input.email.toLowerCase());
      const got = (await unary(gz, "getCustomer", { id: created.id }, md(tenant), withDeadline())).customer;
      expect(got).toEqual(created);
      // The requests really were gzipped: compressed frames on the wire, no plaintext email.
      const wire = relay.sent();
      expect(hasGzipFrame(wire), name).toBe(true);
      expect(wire.includes(Buffer.from(input.email)), name).toBe(false);
    }
    // Control: the same call uncompressed shows the email in clear and no gzip frame.
    const relay = await recordingRelay(fast.server.port);
    const plain = clientWith(fast.clients.customers, relay.port, {});
    const input = completeIndividual("GB");
    await unary(plain, "createCustomer", { customer: input }, md(tenant), withDeadline());
    expect(hasGzipFrame(relay.sent())).toBe(false);
    expect(relay.sent().includes(Buffer.from(input.email))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------

describe("deadlines", () => {
  /** Holds `for update` on the customer's row (owner connection) until the returned release(). */
  async function lockRow(tenantId: string, id: string): Promise<() => Promise<void>> {
    const db = new pg.Client({ connectionString: fast.server.databaseUrl });
    await db.connect();
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      await db.query("rollback").catch(() => undefined);
      await db.end();
    };
    cleanups.push(release);
    await db.query("begin");
    await db.query("set local role none");
    const rows = await db.query("select id from customers where tenant_id = $1 and id = $2 for update", [tenantId, id]);
    expect(rows.rowCount).toBe(1);
    return release;
  }

  const updateEvents = async (tenantId: string, id: string) =>
    (await sql<{ n: number }>(fast.server.databaseUrl, "select count(*)::int as n from customer_events where tenant_id = $1 and customer_id = $2 and type = 'CUSTOMER_UPDATED'", [tenantId, id]))[0]!.n;

  /** The customer as stored: etag (version), family name, CUSTOMER_UPDATED events. */
  const stored = async (t: TestTenant, id: string) => {
    const c = (await unary(fast.clients.customers, "getCustomer", { id }, md(t), withDeadline())).customer;
    const [row] = await sql<{ version: number }>(fast.server.databaseUrl, "select version from customers where tenant_id = $1 and id = $2", [t.id, id]);
    return { etag: c.etag as string, version: row!.version, familyName: c.individual.familyName as string, updates: await updateEvents(t.id, id) };
  };

  it("an UpdateCustomer stuck on a row lock ends DEADLINE_EXCEEDED in time; the update is cancelled, not committed later", { timeout: 60_000 }, async () => {
    const t = await createTenant(fast.server);
    const c = (await unary(fast.clients.customers, "createCustomer", { customer: completeIndividual("GB") }, md(t), withDeadline())).customer;
    expect(c.etag).toBe("1");

    // 1. grpc-js with a 200 ms deadline.
    let release = await lockRow(t.id, c.id);
    try {
      const started = Date.now();
      const err = await unaryError(
        fast.clients.customers,
        "updateCustomer",
        { customer: { id: c.id, individual: { familyName: "Byron" } }, updateMask: { paths: ["individual.family_name"] } },
        md(t),
        { deadline: Date.now() + 200 },
      );
      expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(Date.now() - started).toBeLessThan(2_000);
      // Reads are not blocked by the lock, and see nothing of the pending update.
      expect(await stored(t, c.id)).toEqual({ etag: "1", version: 1, familyName: "Lovelace", updates: 0 });
      // The deadline travels to the database (statement_timeout): the blocked statement is
      // cancelled while the lock is still held.
      expect(await untilNoLockWaiters(fast.server.databaseUrl)).toBe(0);
    } finally {
      await release();
    }
    // So nothing lands once the lock goes.
    expect(await stored(t, c.id)).toEqual({ etag: "1", version: 1, familyName: "Lovelace", updates: 0 });

    // 2. Raw HTTP/2 with grpc-timeout 200m and no client-side timer: the server itself answers
    //    DEADLINE_EXCEEDED (trailers-only, with ErrorInfo) while the handler is still blocked.
    release = await lockRow(t.id, c.id);
    try {
      const body = toBinary(
        UpdateCustomerRequestSchema,
        create(UpdateCustomerRequestSchema, {
          customer: { id: c.id, etag: "1", profile: { case: "individual", value: { familyName: "Babbage" } } },
          updateMask: { paths: ["individual.family_name"] },
        }),
      );
      const r = await rawCall(await h2Session(fast.server.port), UPDATE_PATH, frame(body), { ...bearer(t.apiKey), "grpc-timeout": "200m" }, 5_000);
      expectRefusal(r, grpc.status.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED");
      expect(r.trailersOnly).toBe(true);
      expect(r.elapsedMs).toBeGreaterThanOrEqual(190);
      expect(r.elapsedMs).toBeLessThan(2_000);
      expect(await untilNoLockWaiters(fast.server.databaseUrl)).toBe(0);
    } finally {
      await release();
    }
    expect(await stored(t, c.id)).toEqual({ etag: "1", version: 1, familyName: "Lovelace", updates: 0 });
  });

  it("a call with a generous deadline succeeds: grpc-timeout 1M (one minute) raw, 60 s on grpc-js", async () => {
    const r = await rawCall(await h2Session(fast.server.port), GET_PATH, frame(getRequest(known.id)), { ...bearer(tenant.apiKey), "grpc-timeout": "1M" });
    expect(r.code, r.message).toBe(grpc.status.OK);
    expect(fromBinary(GetCustomerResponseSchema, r.messages[0]!).customer?.id).toBe(known.id);
    // Longer than the server's ceiling (30 s): clamped, not refused.
    const long = await rawCall(await h2Session(fast.server.port), GET_PATH, frame(getRequest(known.id)), { ...bearer(tenant.apiKey), "grpc-timeout": "2H" });
    expect(long.code, long.message).toBe(grpc.status.OK);
    expect((await unary(fast.clients.customers, "getCustomer", { id: known.id }, md(tenant), withDeadline(60_000))).customer.id).toBe(known.id);
  });
});

// ---------------------------------------------------------------------------------------------

describe("server streaming and cancellation", () => {
  it("WatchCustomerEvents over grpc-js receives events created afterwards; cancelling brings the open-streams gauge back", async () => {
    const t = await createTenant(fast.server);
    const gauge = () => metric(fast, "customerms_event_streams_open");
    const before = await gauge();
    const consumers: Consumer[] = [watch(fast.clients.customers, md(t)), watch(slow.clients.customers, md(t))];
    cleanups.push(() => consumers.forEach((x) => x.end === undefined && x.cancel()));
    await until("the fast server counts the open stream", gauge, (n) => n === before + 1);

    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await unary(fast.clients.customers, "createCustomer", { customer: completeIndividual("GB") }, md(t), withDeadline())).customer.id);
    }
    for (const consumer of consumers) {
      await consumer.until((c) => c.events.length >= 3, 15_000, "three CUSTOMER_CREATED events");
    }
    const [viaFast, viaSlow] = consumers.map((c) => c.events.map((e) => ({ cursor: e.cursor, sequence: e.sequence, type: e.type, customerId: e.customerId })));
    expect(viaFast!.map((e) => [e.type, e.customerId])).toEqual(ids.map((id) => ["EVENT_TYPE_CUSTOMER_CREATED", id]));
    expect(viaFast).toEqual(viaSlow); // same events, cursors and sequences through both paths

    consumers[0]!.cancel();
    const end = await consumers[0]!.ended;
    expect(end.code).toBe(grpc.status.CANCELLED);
    await until("the open-streams gauge is back", gauge, (n) => n === before);
    consumers[1]!.cancel();
    expect((await consumers[1]!.ended).code).toBe(grpc.status.CANCELLED);
  });
});

// ---------------------------------------------------------------------------------------------

describe("metrics and logs", () => {
  it("customerms_rpc_total and the rpc log lines count fast-path calls exactly", async () => {
    const t = await createTenant(fast.server);
    const labels = { service: CUSTOMER_SERVICE, method: "GetCustomer", code: "NotFound" };
    const [fastBefore, slowBefore] = await Promise.all([metric(fast, "customerms_rpc_total", labels), metric(slow, "customerms_rpc_total", labels)]);
    const CALLS = 7;
    for (let i = 0; i < CALLS; i++) {
      const err = await unaryError(fast.clients.customers, "getCustomer", { id: randomUUID() }, md(t), withDeadline());
      expect(err.code).toBe(grpc.status.NOT_FOUND);
    }
    expect(await metric(fast, "customerms_rpc_total", labels)).toBe(fastBefore + CALLS);
    expect(await metric(slow, "customerms_rpc_total", labels)).toBe(slowBefore);
    const lines = rpcLogs(fast).filter((l) => l.tenant_id === t.id);
    expect(lines).toHaveLength(CALLS);
    for (const line of lines) {
      expect(line).toMatchObject({ rpc: `${CUSTOMER_SERVICE}/GetCustomer`, grpc_code: "NotFound", principal: "tenant" });
      expect(typeof line.duration_ms).toBe("number");
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("concurrency", () => {
  it("200 concurrent grpc-js GetCustomer calls on one channel each get the right customer", { timeout: 60_000 }, async () => {
    const t = await createTenant(fast.server);
    const customers: any[] = [];
    for (let i = 0; i < 10; i++) {
      customers.push((await unary(fast.clients.customers, "createCustomer", { customer: completeIndividual("GB") }, md(t), withDeadline())).customer);
    }
    const client = clientWith(fast.clients.customers, fast.server.port, {});
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const want = customers[i % customers.length];
        return unary(client, "getCustomer", { id: want.id }, md(t), withDeadline(30_000)).then((r) => ({ want, got: r.customer }));
      }),
    );
    expect(results).toHaveLength(200);
    for (const { want, got } of results) {
      expect({ id: got.id, email: got.email, etag: got.etag }).toEqual({ id: want.id, email: want.email, etag: want.etag });
    }
  });
});
