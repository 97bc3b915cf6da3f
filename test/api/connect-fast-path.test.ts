// The Connect unary fast path (src/server/connect-fast.ts): a plain Connect unary POST (JSON or
// protobuf) to our services is served straight from the Node request; everything else still by
// connect-node. Two servers on the run's database: `fast` (the default) and `slow`
// (CUSTOMERMS_CONNECT_FAST_PATH=false). The tests prove which path answers, that both give the
// same results and byte-identical errors (status, headers that matter, body), that what the fast
// path does not take still works, and that a cancelled or hostile request leaves it serving.
// All traffic is 127.0.0.1; every wait is bounded.
import http from "node:http";
import { gunzipSync, gzipSync } from "node:zlib";
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { create, toBinary, fromBinary } from "@bufbuild/protobuf";
import { GetCustomerRequestSchema, GetCustomerResponseSchema } from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { bearer, createTenant, type TestTenant } from "../support/app.js";
import { useServer, type FileServer } from "../support/file-server.js";
import { completeIndividual } from "../support/fixtures.js";

const GET = "/finhub.customer.v1.CustomerService/GetCustomer";
const CREATE = "/finhub.customer.v1.CustomerService/CreateCustomer";

const fast = useServer({ LOG_LEVEL: "info" });
const slow = useServer({ LOG_LEVEL: "info", CUSTOMERMS_CONNECT_FAST_PATH: "false" });

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP/1.1 request with a fresh connection (bounded by a 20 s timeout). */
function post(port: number, path: string, body: Buffer | string, headers: Record<string, string>, method = "POST"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method, headers, agent: false, timeout: 20_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(body);
  });
}

const json = (t: TestTenant, extra: Record<string, string> = {}) => ({ "content-type": "application/json", ...bearer(t.apiKey), ...extra });

let tenant: TestTenant;
let known: { id: string };
beforeAll(async () => {
  tenant = await createTenant(fast.server);
  // Metadata makes the answer larger than connect-node's 1 KiB compression threshold.
  const metadata = { note: "n".repeat(200), source: "s".repeat(200), campaign: "c".repeat(200) };
  const created = await post(slow.server.port, CREATE, JSON.stringify({ customer: completeIndividual("GB", { metadata }) }), json(tenant));
  expect(created.status, created.body.toString()).toBe(200);
  known = (JSON.parse(created.body.toString()) as { customer: { id: string } }).customer;
});

/** The lines of the log whose rpc is `rpc`. */
const rpcLines = (s: FileServer, rpc: string) => s.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.rpc === rpc);

describe("which path answers", () => {
  it("a client accepting gzip: connect-node compresses the (over 1 KiB) answer, the fast path answers identity with the same JSON", async () => {
    const body = JSON.stringify({ id: known.id });
    const headers = json(tenant, { "accept-encoding": "gzip" });
    const [f, s] = await Promise.all([post(fast.server.port, GET, body, headers), post(slow.server.port, GET, body, headers)]);
    expect([f.status, s.status]).toEqual([200, 200]);
    expect(s.headers["content-encoding"]).toBe("gzip");
    expect(f.headers["content-encoding"]).toBeUndefined();
    expect(JSON.parse(f.body.toString())).toEqual(JSON.parse(gunzipSync(s.body).toString()));
  });

  it("an undecodable JSON body: INVALID_ARGUMENT with the ErrorInfo on both paths (connect's own parse error carries none)", async () => {
    for (const bad of ["{not json", JSON.stringify({ id: known.id, colour: "red" }), JSON.stringify({ id: 7 })]) {
      const [f, s] = await Promise.all([post(fast.server.port, GET, bad, json(tenant)), post(slow.server.port, GET, bad, json(tenant))]);
      expect([f.status, s.status], bad).toEqual([400, 400]);
      const fb = JSON.parse(f.body.toString()) as { code: string; message: string; details?: Array<{ type: string; debug?: { reason?: string } }> };
      expect(fb.code, bad).toBe("invalid_argument");
      expect(fb.details?.find((d) => d.type === "google.rpc.ErrorInfo")?.debug?.reason, bad).toBe("INVALID_ARGUMENT");
      expect(JSON.parse(s.body.toString()), bad).toEqual(fb);
    }
  });
});

describe("parity: the same answers from both paths", () => {
  it("GetCustomer in JSON and in protobuf: identical status, content type and body", async () => {
    for (const [path, body, type] of [
      [GET, JSON.stringify({ id: known.id }), "application/json"],
      [GET, Buffer.from(toBinary(GetCustomerRequestSchema, create(GetCustomerRequestSchema, { id: known.id }))), "application/proto"],
    ] as const) {
      const headers = { ...json(tenant), "content-type": type, "connect-protocol-version": "1" };
      const [f, s] = await Promise.all([post(fast.server.port, path, body, headers), post(slow.server.port, path, body, headers)]);
      expect(f.status, type).toBe(200);
      expect(f.headers["content-type"], type).toBe(type);
      expect(s.headers["content-type"], type).toBe(type);
      expect(Number(f.headers["content-length"])).toBe(f.body.length);
      expect(f.body.equals(s.body), `${type}: bodies differ`).toBe(true);
      if (type === "application/proto") expect(fromBinary(GetCustomerResponseSchema, f.body).customer?.id).toBe(known.id);
    }
  });

  it("errors: NOT_FOUND, INVALID_ARGUMENT (field violations), UNAUTHENTICATED, unknown JSON field — same status and body", async () => {
    const cases: Array<[string, string, Record<string, string>]> = [
      ["not found", JSON.stringify({ id: randomUUID() }), json(tenant)],
      ["bad uuid", JSON.stringify({ id: "nope" }), json(tenant)],
      ["no key", JSON.stringify({ id: known.id }), { "content-type": "application/json" }],
      ["unknown field", JSON.stringify({ id: known.id, colour: "red" }), json(tenant)],
    ];
    for (const [what, body, headers] of cases) {
      const [f, s] = await Promise.all([post(fast.server.port, GET, body, headers), post(slow.server.port, GET, body, headers)]);
      expect(f.status, what).toBeGreaterThanOrEqual(400);
      expect(f.status, what).toBe(s.status);
      expect(f.headers["content-type"], what).toBe("application/json");
      expect(JSON.parse(f.body.toString()), what).toEqual(JSON.parse(s.body.toString()));
    }
  });

  it("a create over either path writes one customer; the same request_id replays it on the other", async () => {
    const requestId = randomUUID();
    const body = JSON.stringify({ customer: completeIndividual("GB"), requestId });
    const first = await post(fast.server.port, CREATE, body, json(tenant));
    expect(first.status, first.body.toString()).toBe(200);
    const again = await post(slow.server.port, CREATE, body, json(tenant));
    expect(again.status).toBe(200);
    expect(JSON.parse(again.body.toString())).toEqual(JSON.parse(first.body.toString()));
  });
});

describe("what the fast path leaves to connect-node", () => {
  it("GET, chunked, compressed and oversized requests, a bad connect-timeout-ms: connect-node answers them", async () => {
    // GetCustomer has no side effects: Connect GET is allowed, and served by connect-node.
    const get = await post(fast.server.port, `${GET}?encoding=json&message=${encodeURIComponent(JSON.stringify({ id: known.id }))}`, "", bearer(tenant.apiKey), "GET");
    expect(get.status, get.body.toString()).toBe(200);
    expect(JSON.parse(get.body.toString()).customer.id).toBe(known.id);
    const getCreate = await post(fast.server.port, `${CREATE}?encoding=json&message=%7B%7D`, "", bearer(tenant.apiKey), "GET");
    expect(getCreate.status).toBe(405);
    // A gzip-compressed body: connect-node decompresses it.
    const gz = await post(fast.server.port, GET, gzipSync(JSON.stringify({ id: known.id })), json(tenant, { "content-encoding": "gzip" }));
    expect(gz.status, gz.body.toString()).toBe(200);
    expect(gz.headers["content-encoding"], "connect-node answers a compressed request compressed").toBe("gzip");
    expect(JSON.parse(gunzipSync(gz.body).toString()).customer.id).toBe(known.id);
    // Over the 4 MiB message limit: RESOURCE_EXHAUSTED, from connect-node's guard.
    const big = await post(fast.server.port, GET, JSON.stringify({ id: known.id, pad: "x".repeat(4 * 1024 * 1024) }), json(tenant));
    expect(big.status).toBe(429);
    expect(JSON.parse(big.body.toString()).code).toBe("resource_exhausted");
    // No content-length (chunked): still answered, by connect-node.
    const chunked = await new Promise<Answer>((resolve, reject) => {
      const req = http.request(
        { host: "127.0.0.1", port: fast.server.port, path: GET, method: "POST", headers: json(tenant), agent: false, timeout: 20_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        },
      );
      req.on("error", reject);
      req.write(JSON.stringify({ id: known.id }).slice(0, 5));
      req.end(JSON.stringify({ id: known.id }).slice(5));
    });
    expect(chunked.status, chunked.body.toString()).toBe(200);
    expect(JSON.parse(chunked.body.toString()).customer.id).toBe(known.id);
    const timeout = await post(fast.server.port, GET, JSON.stringify({ id: known.id }), json(tenant, { "connect-timeout-ms": "soon" }));
    const timeoutSlow = await post(slow.server.port, GET, JSON.stringify({ id: known.id }), json(tenant, { "connect-timeout-ms": "soon" }));
    expect(timeout.status).toBe(timeoutSlow.status);
    expect(JSON.parse(timeout.body.toString())).toEqual(JSON.parse(timeoutSlow.body.toString()));
  });

  it("a client that disconnects mid-body leaves the server serving; calls are logged and counted once each", async () => {
    await new Promise<void>((resolve) => {
      const req = http.request({ host: "127.0.0.1", port: fast.server.port, path: GET, method: "POST", headers: { ...json(tenant), "content-length": "1000" }, agent: false });
      req.on("error", () => resolve());
      req.write("{");
      setImmediate(() => {
        req.destroy();
        resolve();
      });
    });
    const before = rpcLines(fast, "finhub.customer.v1.CustomerService/GetCustomer").length;
    const ok = await post(fast.server.port, GET, JSON.stringify({ id: known.id }), json(tenant));
    expect(ok.status).toBe(200);
    const deadline = Date.now() + 5_000;
    for (let i = 0; i < 200 && rpcLines(fast, "finhub.customer.v1.CustomerService/GetCustomer").length === before && Date.now() < deadline; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(rpcLines(fast, "finhub.customer.v1.CustomerService/GetCustomer").length).toBe(before + 1);
  });
});
