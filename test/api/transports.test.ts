// One port, every caller (DESIGN §1): @grpc/grpc-js over h2c, Connect (JSON and binary) over
// HTTP/1.1 and HTTP/2, gRPC-Web over HTTP/1.1 and HTTP/2, gRPC through connect-node, and plain
// curl with Connect JSON (POST and GET). Each creates a customer and reads it back; data written
// through one transport is readable through every other; CORS for configured origins only.
import { execFile } from "node:child_process";
import http from "node:http";
import type net from "node:net";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromBinary } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { ViolationsSchema } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { CustomerStatus, CustomerType, type Customer } from "../../gen/finhub/customer/v1/customer_pb.js";
import { CustomerService } from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { bearer, createTenant, startServer, type TestServer, type TestTenant } from "../support/app.js";
import { grpcClients, metadata, unary } from "../support/grpc.js";

const run = promisify(execFile);

let server: TestServer;
const sessionManagers: Http2SessionManager[] = [];
const agents: http.Agent[] = [];

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  for (const m of sessionManagers) m.abort();
  for (const a of agents) a.destroy();
  await server?.close();
});

/** An http.Agent that counts the TCP connections it opens: proof a transport really used HTTP/1.1. */
class CountingAgent extends http.Agent {
  connections = 0;
  override createConnection(...args: Parameters<http.Agent["createConnection"]>): net.Socket {
    this.connections++;
    return super.createConnection(...args) as net.Socket;
  }
}

function h1Agent(): CountingAgent {
  const agent = new CountingAgent({ keepAlive: true });
  agents.push(agent);
  return agent;
}

function h2Sessions(): Http2SessionManager {
  const manager = new Http2SessionManager(server.baseUrl);
  sessionManagers.push(manager);
  return manager;
}

/** The wire (JSON / proto-loader) shape of a new customer: the oneof member is a plain field. */
function customerInput(tag: string) {
  return {
    individual: { givenName: "Ada", familyName: `Lovelace-${tag}` },
    email: `Ada.${tag}@Example.COM`,
    countryCode: "GB",
  };
}

/** The same customer in Connect-ES's init shape (oneofs as {case, value}). */
function customerInit(tag: string) {
  return {
    profile: { case: "individual" as const, value: { givenName: "Ada", familyName: `Lovelace-${tag}` } },
    email: `Ada.${tag}@Example.COM`,
    countryCode: "GB",
  };
}

/** The fields every transport must show for a just-created individual customer. */
function expectFreshCustomer(c: Customer | undefined, tag: string): asserts c is Customer {
  expect(c).toBeDefined();
  const customer = c!;
  expect(customer.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  expect(customer.email).toBe(`ada.${tag}@example.com`);
  expect(customer.status).toBe(CustomerStatus.PENDING);
  expect(customer.type).toBe(CustomerType.INDIVIDUAL);
  expect(customer.profile.case).toBe("individual");
  expect(customer.profile.case === "individual" && customer.profile.value.familyName).toBe(`Lovelace-${tag}`);
  expect(customer.countryCode).toBe("GB");
  expect(customer.etag).toBe("1");
  expect(customer.emailVerified).toBe(false);
  expect(customer.createTime).toBeDefined();
  const created = timestampDate(customer.createTime!).getTime();
  expect(Math.abs(Date.now() - created)).toBeLessThan(5 * 60_000);
}

/** Create then get through one Connect-ES transport; returns the created customer. */
async function createAndGet(transport: Transport, tenant: TestTenant, tag: string): Promise<Customer> {
  const client: Client<typeof CustomerService> = createClient(CustomerService, transport);
  const headers = bearer(tenant.apiKey);
  const created = await client.createCustomer({ customer: customerInit(tag) }, { headers });
  expectFreshCustomer(created.customer, tag);
  const got = await client.getCustomer({ id: created.customer.id }, { headers });
  expectFreshCustomer(got.customer, tag);
  expect(got.customer.id).toBe(created.customer.id);
  expect(timestampDate(got.customer.createTime!).getTime()).toBe(timestampDate(created.customer.createTime!).getTime());
  return created.customer;
}

interface CurlResult {
  status: number;
  httpVersion: string;
  body: string;
}

const MARK = "\n--curl-meta--";

/** Runs curl against the test server; returns the HTTP status, version and body. */
async function curl(args: string[]): Promise<CurlResult> {
  const { stdout } = await run(
    "curl",
    ["-sS", "--max-time", "20", "-w", `${MARK}%{http_code} %{http_version}`, ...args],
    { timeout: 30_000 },
  );
  const at = stdout.lastIndexOf(MARK);
  expect(at).toBeGreaterThanOrEqual(0);
  const [status, httpVersion] = stdout.slice(at + MARK.length).trim().split(" ");
  return { status: Number(status), httpVersion: httpVersion ?? "", body: stdout.slice(0, at) };
}

const CREATE_PATH = "/finhub.customer.v1.CustomerService/CreateCustomer";
const GET_PATH = "/finhub.customer.v1.CustomerService/GetCustomer";

function curlGetUrl(baseUrl: string, id: string): string {
  return `${baseUrl}${GET_PATH}?encoding=json&message=${encodeURIComponent(JSON.stringify({ id }))}`;
}

interface PlainResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One raw HTTP/1.1 request (headers a browser would send, e.g. Origin), no client library. */
function h1Request(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<PlainResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, method, path, headers, agent: false, timeout: 20_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end(body);
  });
}

describe("every transport creates and gets a customer on the same port", () => {
  it("@grpc/grpc-js (proto-loader on proto/) over h2c", async () => {
    const tenant = await createTenant(server);
    const c = grpcClients(server.port);
    try {
      const md = metadata(bearer(tenant.apiKey));
      const created = await unary(c.customers, "createCustomer", { customer: customerInput("grpcjs") }, md);
      const got = await unary(c.customers, "getCustomer", { id: created.customer.id }, md);
      for (const customer of [created.customer, got.customer]) {
        expect(customer.id).toBe(created.customer.id);
        expect(customer.email).toBe("ada.grpcjs@example.com");
        expect(customer.status).toBe("CUSTOMER_STATUS_PENDING");
        expect(customer.type).toBe("CUSTOMER_TYPE_INDIVIDUAL");
        expect(customer.profile).toBe("individual");
        expect(customer.individual.familyName).toBe("Lovelace-grpcjs");
        expect(customer.etag).toBe("1");
        expect(Number(customer.createTime.seconds)).toBeGreaterThan(Date.now() / 1000 - 300);
      }
    } finally {
      c.close();
    }
  });

  it("Connect protocol, JSON, over HTTP/1.1", async () => {
    const tenant = await createTenant(server);
    const agent = h1Agent();
    await createAndGet(
      createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", useBinaryFormat: false, nodeOptions: { agent } }),
      tenant,
      "connectjson",
    );
    expect(agent.connections).toBeGreaterThan(0);
  });

  it("Connect protocol, binary, over HTTP/1.1", async () => {
    const tenant = await createTenant(server);
    const agent = h1Agent();
    await createAndGet(
      createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", useBinaryFormat: true, nodeOptions: { agent } }),
      tenant,
      "connectbin",
    );
    expect(agent.connections).toBeGreaterThan(0);
  });

  it("Connect protocol over HTTP/2 cleartext", async () => {
    const tenant = await createTenant(server);
    const sessionManager = h2Sessions();
    await createAndGet(
      createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "2", sessionManager }),
      tenant,
      "connecth2",
    );
    expect(["open", "idle"]).toContain(sessionManager.state());
  });

  it("gRPC-Web over HTTP/1.1", async () => {
    const tenant = await createTenant(server);
    const agent = h1Agent();
    await createAndGet(
      createGrpcWebTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", nodeOptions: { agent } }),
      tenant,
      "grpcweb1",
    );
    expect(agent.connections).toBeGreaterThan(0);
  });

  it("gRPC-Web over HTTP/2 cleartext", async () => {
    const tenant = await createTenant(server);
    const sessionManager = h2Sessions();
    await createAndGet(
      createGrpcWebTransport({ baseUrl: server.baseUrl, httpVersion: "2", sessionManager }),
      tenant,
      "grpcweb2",
    );
    expect(["open", "idle"]).toContain(sessionManager.state());
  });

  it("gRPC protocol through connect-node over HTTP/2", async () => {
    const tenant = await createTenant(server);
    const sessionManager = h2Sessions();
    await createAndGet(createGrpcTransport({ baseUrl: server.baseUrl, sessionManager }), tenant, "grpcnode");
    expect(["open", "idle"]).toContain(sessionManager.state());
  });

  it("curl: Connect JSON POST to create, Connect GET to read", async () => {
    const tenant = await createTenant(server);
    const created = await curl([
      "-X", "POST",
      "-H", "content-type: application/json",
      "-H", `authorization: Bearer ${tenant.apiKey}`,
      "--data-binary", JSON.stringify({ customer: customerInput("curl") }),
      `${server.baseUrl}${CREATE_PATH}`,
    ]);
    expect(created.httpVersion).toBe("1.1");
    expect(created.status, created.body).toBe(200);
    const customer = JSON.parse(created.body).customer;
    expect(customer.email).toBe("ada.curl@example.com");
    expect(customer.status).toBe("CUSTOMER_STATUS_PENDING");
    expect(customer.type).toBe("CUSTOMER_TYPE_INDIVIDUAL");
    expect(customer.individual).toEqual({ givenName: "Ada", familyName: "Lovelace-curl" });
    expect(customer.etag).toBe("1");
    expect(Date.parse(customer.createTime)).toBeGreaterThan(Date.now() - 300_000);

    const got = await curl(["-H", `authorization: Bearer ${tenant.apiKey}`, curlGetUrl(server.baseUrl, customer.id)]);
    expect(got.httpVersion).toBe("1.1");
    expect(got.status, got.body).toBe(200);
    expect(JSON.parse(got.body).customer).toEqual(customer);
  });

  it("curl: a malformed email is HTTP 400, code invalid_argument, with details", async () => {
    const tenant = await createTenant(server);
    const res = await curl([
      "-X", "POST",
      "-H", "content-type: application/json",
      "-H", `authorization: Bearer ${tenant.apiKey}`,
      "--data-binary", JSON.stringify({ customer: { ...customerInput("bad"), email: "not-an-email" } }),
      `${server.baseUrl}${CREATE_PATH}`,
    ]);
    expect(res.status, res.body).toBe(400);
    const body = JSON.parse(res.body) as { code: string; message: string; details?: Array<{ type: string; value: string }> };
    expect(body.code).toBe("invalid_argument");
    expect(body.message).toBeTruthy();
    const details = body.details ?? [];
    expect(details.map((d) => d.type)).toEqual(expect.arrayContaining(["google.rpc.ErrorInfo", "buf.validate.Violations"]));
    const info = fromBinary(ErrorInfoSchema, Buffer.from(details.find((d) => d.type === "google.rpc.ErrorInfo")!.value, "base64"));
    expect(info.reason).toBe("INVALID_ARGUMENT");
    expect(info.domain).toBe("customerms.finhub");
    const violations = fromBinary(ViolationsSchema, Buffer.from(details.find((d) => d.type === "buf.validate.Violations")!.value, "base64"));
    const fields = violations.violations.map((v) => (v.field?.elements ?? []).map((e) => e.fieldName).join("."));
    expect(fields).toEqual(["customer.email"]);
  });
});

describe("one port, one store", () => {
  it("a customer created with one transport is read identically through every other", async () => {
    const tenant = await createTenant(server);
    const headers = bearer(tenant.apiKey);
    // Created through Connect binary over HTTP/1.1 ...
    const writer = createClient(
      CustomerService,
      createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", useBinaryFormat: true, nodeOptions: { agent: h1Agent() } }),
    );
    const created = (await writer.createCustomer({ customer: customerInit("cross") }, { headers })).customer!;
    expectFreshCustomer(created, "cross");

    // ... read through gRPC-Web (HTTP/1.1), Connect over HTTP/2 and gRPC through connect-node.
    const readers: Transport[] = [
      createGrpcWebTransport({ baseUrl: server.baseUrl, httpVersion: "1.1", nodeOptions: { agent: h1Agent() } }),
      createConnectTransport({ baseUrl: server.baseUrl, httpVersion: "2", sessionManager: h2Sessions() }),
      createGrpcTransport({ baseUrl: server.baseUrl, sessionManager: h2Sessions() }),
    ];
    for (const transport of readers) {
      const got = await createClient(CustomerService, transport).getCustomer({ id: created.id }, { headers });
      expect(got.customer).toEqual(created);
    }

    // ... through grpc-js (its own schema from proto/) ...
    const c = grpcClients(server.port);
    try {
      const got = await unary(c.customers, "getCustomer", { id: created.id }, metadata(headers));
      expect(got.customer.id).toBe(created.id);
      expect(got.customer.email).toBe(created.email);
      expect(got.customer.etag).toBe(created.etag);
      expect(got.customer.status).toBe("CUSTOMER_STATUS_PENDING");
      expect(String(got.customer.createTime.seconds)).toBe(String(created.createTime!.seconds));

      // ... and the other way round: written by grpc-js, read by curl over Connect GET.
      const viaGrpc = await unary(c.customers, "createCustomer", { customer: customerInput("cross2") }, metadata(headers));
      const res = await curl(["-H", `authorization: Bearer ${tenant.apiKey}`, curlGetUrl(server.baseUrl, viaGrpc.customer.id)]);
      expect(res.status, res.body).toBe(200);
      const json = JSON.parse(res.body).customer;
      expect(json.id).toBe(viaGrpc.customer.id);
      expect(json.email).toBe("ada.cross2@example.com");
      expect(json.etag).toBe("1");
    } finally {
      c.close();
    }

    // Another tenant cannot see it through any transport: same store, same tenancy rules.
    const other = await createTenant(server);
    const err = await writer.getCustomer({ id: created.id }, { headers: bearer(other.apiKey) }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.NotFound);
  });

  it("a bare HTTP/1.1 request to an unknown path gets 404 over HTTP/1.1", async () => {
    const res = await curl([`${server.baseUrl}/no/such/path`]);
    expect(res.httpVersion).toBe("1.1");
    expect(res.status).toBe(404);
  });
});

describe("CORS for configured origins", () => {
  const ALLOWED = "https://app.example.com";
  const EVIL = "https://evil.example.com";
  let corsServer: TestServer;

  beforeAll(async () => {
    corsServer = await startServer({ CUSTOMERMS_CORS_ORIGINS: ALLOWED });
  });
  afterAll(async () => {
    await corsServer?.close();
  });

  const preflight = (origin: string) =>
    h1Request(corsServer.port, "OPTIONS", CREATE_PATH, {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type,authorization,connect-protocol-version",
    });

  it("answers a preflight from a configured origin with 204 and the headers Connect needs", async () => {
    const res = await preflight(ALLOWED);
    expect(res.status).toBe(204);
    expect(res.headers["access-control-allow-origin"]).toBe(ALLOWED);
    const allowHeaders = String(res.headers["access-control-allow-headers"] ?? "").toLowerCase().split(/\s*,\s*/);
    expect(allowHeaders).toEqual(expect.arrayContaining(["authorization", "content-type", "connect-protocol-version"]));
    expect(String(res.headers["access-control-allow-methods"] ?? "")).toContain("POST");
  });

  it("refuses a preflight from another origin: 403 and no allow-origin", async () => {
    const res = await preflight(EVIL);
    expect(res.status).toBe(403);
    expect(res.headers["access-control-allow-origin"]).toBeUndefined();
    expect(res.headers["access-control-allow-headers"]).toBeUndefined();
  });

  it("marks an actual call from the configured origin, and only from it", async () => {
    const tenant = await createTenant(corsServer);
    const body = JSON.stringify({ customer: customerInput("cors") });
    const headers = {
      "content-type": "application/json",
      "connect-protocol-version": "1",
      authorization: `Bearer ${tenant.apiKey}`,
    };
    const ok = await h1Request(corsServer.port, "POST", CREATE_PATH, { ...headers, origin: ALLOWED }, body);
    expect(ok.status, ok.body).toBe(200);
    expect(ok.headers["access-control-allow-origin"]).toBe(ALLOWED);
    expect(JSON.parse(ok.body).customer.email).toBe("ada.cors@example.com");

    const evil = await h1Request(
      corsServer.port,
      "POST",
      CREATE_PATH,
      { ...headers, origin: EVIL },
      JSON.stringify({ customer: customerInput("cors2") }),
    );
    expect(evil.headers["access-control-allow-origin"]).toBeUndefined();
  });
});
