// Hostile input on every transport of the one port: random bytes as protobuf, truncated frames
// and messages, empty bodies, invalid UTF-8 in a string, a wrong content-type, and 5 MiB bodies
// (the limit is 4 MiB), each sent raw on the wire to a running service process. Each gets its
// precise code (INVALID_ARGUMENT / RESOURCE_EXHAUSTED with an ErrorInfo reason, HTTP 415 for a
// content-type no protocol owns), never INTERNAL/UNKNOWN or a 5xx, and the process keeps serving.
import { randomBytes } from "node:crypto";
import http from "node:http";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GetCustomerRequestSchema } from "../../gen/finhub/customer/v1/customer_service_pb.js";
import { completeIndividual } from "../support/fixtures.js";
import { unary } from "../support/grpc.js";
import { record } from "./support/results.js";
import { ServiceProcess } from "./support/service.js";
import { connectOutcome, frame, grpcOutcomeOf, grpcWebOutcome, h1Post, h2Post, type Outcome, type WireResponse } from "./support/wire.js";

const PATH = "/finhub.customer.v1.CustomerService/GetCustomer";
const RANDOM_PAYLOADS = 20;
const FIVE_MIB = 5 * 1024 * 1024;

interface Transport {
  readonly name: string;
  /** Whether the body is length-prefixed frames (gRPC, gRPC-Web). */
  readonly framed: boolean;
  readonly json?: boolean;
  send(port: number, body: Buffer, headers?: Record<string, string>): Promise<WireResponse>;
  outcome(r: WireResponse): Outcome;
}

describe("malformed and oversized messages", () => {
  const service = new ServiceProcess();
  beforeAll(() => service.start());
  afterAll(() => service.dispose());

  it("random bytes, truncated frames, invalid UTF-8, wrong content-type and 5 MiB bodies get precise codes on every transport; the process keeps serving", async () => {
    const tenant = await service.createTenant();
    const auth = { authorization: `Bearer ${tenant.apiKey}` };
    const { customer } = await unary(service.clients.customers, "createCustomer", { customer: completeIndividual("GB") }, tenant.md);
    const transports: Transport[] = [
      { name: "Connect proto, HTTP/1.1", framed: false, send: (p, b, h) => h1Post(p, PATH, { "content-type": "application/proto", "connect-protocol-version": "1", ...auth, ...h }, b), outcome: connectOutcome },
      { name: "Connect JSON, HTTP/1.1", framed: false, json: true, send: (p, b, h) => h1Post(p, PATH, { "content-type": "application/json", "connect-protocol-version": "1", ...auth, ...h }, b), outcome: connectOutcome },
      { name: "Connect proto, h2c", framed: false, send: (p, b, h) => h2Post(p, PATH, { "content-type": "application/proto", "connect-protocol-version": "1", ...auth, ...h }, b), outcome: connectOutcome },
      { name: "gRPC-Web, HTTP/1.1", framed: true, send: (p, b, h) => h1Post(p, PATH, { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", ...auth, ...h }, b), outcome: grpcWebOutcome },
      { name: "gRPC-Web, h2c", framed: true, send: (p, b, h) => h2Post(p, PATH, { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", ...auth, ...h }, b), outcome: grpcWebOutcome },
      { name: "gRPC, h2c", framed: true, send: (p, b, h) => h2Post(p, PATH, { "content-type": "application/grpc", te: "trailers", ...auth, ...h }, b), outcome: grpcOutcomeOf },
    ];
    const valid = Buffer.from(toBinary(GetCustomerRequestSchema, create(GetCustomerRequestSchema, { id: customer.id })));
    const figures: Record<string, number | string> = {};
    const failures: string[] = [];
    let checks = 0;
    let severe = 0;
    const expectOutcome = (what: string, got: Outcome, code: string, reason?: string) => {
      checks++;
      figures[`${what.split(":")[0]}: requests`] = Number(figures[`${what.split(":")[0]}: requests`] ?? 0) + 1;
      if (got.code === "INTERNAL" || got.code === "UNKNOWN" || got.httpStatus >= 500) severe++;
      const ok = got.code === code && (reason === undefined || got.reason === reason) && got.httpStatus < 500;
      if (!ok) failures.push(`${what}: got ${JSON.stringify(got)}, want ${code}${reason ? `/${reason}` : ""}`);
    };
    const wrap = (t: Transport, message: Buffer) => (t.framed ? frame(message) : message);

    for (const t of transports) {
      const send = async (body: Buffer, headers?: Record<string, string>) => t.outcome(await t.send(service.port, body, headers));
      const garbageCode = "INVALID_ARGUMENT";
      if (t.json) {
        // JSON: random bytes and a truncated document are not JSON.
        for (let i = 0; i < RANDOM_PAYLOADS; i++) expectOutcome(`${t.name}: random bytes #${i}`, await send(Buffer.concat([Buffer.from("{"), randomBytes(40)])), garbageCode);
        expectOutcome(`${t.name}: truncated`, await send(Buffer.from(`{"id":"${customer.id.slice(0, 10)}`)), garbageCode);
        expectOutcome(`${t.name}: invalid UTF-8 in a string`, await send(Buffer.concat([Buffer.from('{"id":"'), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('"}')])), garbageCode);
        expectOutcome(`${t.name}: 5 MiB`, await send(Buffer.from(`{"id":"${"a".repeat(FIVE_MIB)}"}`)), "RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED");
      } else {
        // Field 1 with wire type 7 (none exists) first: certainly not a protobuf message.
        for (let i = 0; i < RANDOM_PAYLOADS; i++) {
          expectOutcome(`${t.name}: random bytes #${i}`, await send(wrap(t, Buffer.concat([Buffer.from([0x0f]), randomBytes(1 + ((i * 37) % 300))]))), garbageCode, "INVALID_ARGUMENT");
        }
        // A length-delimited field that declares 36 bytes and carries 10.
        expectOutcome(`${t.name}: truncated message`, await send(wrap(t, valid.subarray(0, 12))), garbageCode, "INVALID_ARGUMENT");
        expectOutcome(`${t.name}: invalid UTF-8 in a string`, await send(wrap(t, Buffer.from([0x0a, 0x04, 0xff, 0xfe, 0xc3, 0x28]))), garbageCode, "INVALID_ARGUMENT");
        expectOutcome(`${t.name}: 5 MiB`, await send(wrap(t, Buffer.alloc(FIVE_MIB, 0x61))), "RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED");
        if (t.framed) {
          expectOutcome(`${t.name}: truncated frame`, await send(Buffer.concat([Buffer.from([0, 0, 0, 0, 100]), randomBytes(10)])), garbageCode, "INVALID_ARGUMENT");
          expectOutcome(`${t.name}: empty body`, await send(Buffer.alloc(0)), garbageCode, "INVALID_ARGUMENT");
          expectOutcome(`${t.name}: two messages for a unary call`, await send(Buffer.concat([frame(valid), frame(valid)])), garbageCode, "INVALID_ARGUMENT");
        }
      }
      // A content-type no protocol owns: HTTP 415 (the Connect/gRPC answer to an unknown type).
      const wrongType = await t.send(service.port, valid, { "content-type": "text/plain" });
      expectOutcome(`${t.name}: content-type text/plain`, { code: wrongType.status === 415 ? "HTTP_415" : t.outcome(wrongType).code, httpStatus: wrongType.status }, "HTTP_415");
      // And a valid request still answers, on this transport.
      const good = await send(t.json ? Buffer.from(JSON.stringify({ id: customer.id })) : wrap(t, valid));
      expectOutcome(`${t.name}: valid request afterwards`, good, "OK");
    }
    // Connect GET (GetCustomer is NO_SIDE_EFFECTS): the message travels in the query string.
    const get = async (query: string) => {
      const r = await new Promise<WireResponse>((resolve) => {
        const req = http.get({ host: "127.0.0.1", port: service.port, path: `${PATH}?connect=v1&${query}`, headers: auth, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, trailers: {}, body: Buffer.concat(chunks) }));
        });
        req.on("error", (err) => resolve({ status: 0, headers: {}, trailers: {}, body: Buffer.alloc(0), error: err.message }));
      });
      return connectOutcome(r);
    };
    const b64 = (b: Buffer) => encodeURIComponent(b.toString("base64url"));
    for (let i = 0; i < 5; i++) {
      expectOutcome(`Connect GET: random bytes #${i}`, await get(`encoding=proto&base64=1&message=${b64(Buffer.concat([Buffer.from([0x0f]), randomBytes(20)]))}`), "INVALID_ARGUMENT", "INVALID_ARGUMENT");
    }
    expectOutcome("Connect GET: invalid UTF-8 in a string", await get(`encoding=proto&base64=1&message=${b64(Buffer.from([0x0a, 0x04, 0xff, 0xfe, 0xc3, 0x28]))}`), "INVALID_ARGUMENT", "INVALID_ARGUMENT");
    expectOutcome("Connect GET: not JSON", await get(`encoding=json&message=${encodeURIComponent('{"id":')}`), "INVALID_ARGUMENT");
    expectOutcome("Connect GET: valid request afterwards", await get(`encoding=proto&base64=1&message=${b64(valid)}`), "OK");

    expect(failures.join("\n")).toBe("");
    expect(severe).toBe(0);
    expect(service.running).toBe(true);
    expect(await service.health("")).toBe("SERVING");
    expect((await unary(service.clients.customers, "getCustomer", { id: customer.id }, tenant.md)).customer.id).toBe(customer.id);

    record({
      id: "07-malformed",
      title: "Oversized and malformed messages on every transport",
      proves: "Hostile bytes get a precise refusal (INVALID_ARGUMENT or RESOURCE_EXHAUSTED with an ErrorInfo reason, as on the gRPC fast path; HTTP 415 for an unknown content-type), never INTERNAL or a 5xx, on Connect (POST and GET), gRPC-Web and gRPC over HTTP/1.1 and h2c; the process keeps serving.",
      file: "test/faults/malformed.test.ts",
      test: "random bytes, truncated frames, invalid UTF-8, wrong content-type and 5 MiB bodies get precise codes on every transport; the process keeps serving",
      figures: {
        "transports (the six above and Connect GET)": transports.length + 1,
        "requests checked": checks,
        "answered with the expected code": checks - failures.length,
        "INTERNAL, UNKNOWN or 5xx": severe,
        ...figures,
      },
    });
  });
});
