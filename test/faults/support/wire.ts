// Raw requests on the wire, for hostile input the generated clients would never send: HTTP/1.1
// (node:http) and h2c (node:http2) posts, and the outcome of each in the protocol's own terms
// (Connect: HTTP status + JSON error; gRPC / gRPC-Web: grpc-status in headers, trailers or the
// trailer frame), with the ErrorInfo reason when there is one.
import http from "node:http";
import http2 from "node:http2";
import { fromBinary } from "@bufbuild/protobuf";
import { ErrorInfoSchema } from "../../../gen/google/rpc/error_details_pb.js";
import { details, grpc } from "../../support/grpc.js";

export interface WireResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly trailers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  /** Set when the connection failed before a complete response (reset, refused). */
  readonly error?: string;
}

export function h1Post(port: number, path: string, headers: Record<string, string>, body: Buffer, timeoutMs = 15_000): Promise<WireResponse> {
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, path, method: "POST", headers: { "content-length": String(body.length), ...headers }, agent: false });
    const timer = setTimeout(() => req.destroy(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
    let settled = false;
    const done = (r: WireResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    let responding = false;
    req.on("response", (res) => {
      responding = true;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => done({ status: res.statusCode ?? 0, headers: res.headers, trailers: res.trailers, body: Buffer.concat(chunks) }));
      res.on("error", (err) => done({ status: res.statusCode ?? 0, headers: res.headers, trailers: {}, body: Buffer.concat(chunks), error: err.message }));
    });
    // A write error after the response began is settled by the response itself.
    req.on("error", (err) => {
      if (!responding) done({ status: 0, headers: {}, trailers: {}, body: Buffer.alloc(0), error: err.message });
    });
    req.end(body);
  });
}

export function h2Post(port: number, path: string, headers: Record<string, string>, body: Buffer, timeoutMs = 15_000): Promise<WireResponse> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => undefined);
    const req = session.request({ ":method": "POST", ":path": path, ...headers });
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const timer = setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), timeoutMs);
    req.on("response", (h) => (head = h));
    req.on("trailers", (t) => (trailers = t));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", (err) => (error ??= err.message));
    req.on("close", () => {
      clearTimeout(timer);
      session.close();
      resolve({ status: Number(head[":status"] ?? 0), headers: head, trailers, body: Buffer.concat(chunks), ...(error ? { error } : {}) });
    });
    req.end(body);
  });
}

export interface Outcome {
  /** "OK", a gRPC code name (INVALID_ARGUMENT …), "HTTP_<status>" for a bare HTTP answer, or "NETWORK:<error>". */
  readonly code: string;
  readonly reason?: string;
  readonly httpStatus: number;
}

const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

function grpcOutcome(fields: Record<string, string | string[] | undefined>, httpStatus: number): Outcome | undefined {
  const status = first(fields["grpc-status"]);
  if (status === undefined) return undefined;
  const code = Number(status);
  const bin = first(fields["grpc-status-details-bin"]);
  const reason = bin
    ? details({ metadata: { get: () => [Buffer.from(bin, "base64")] } } as unknown as grpc.ServiceError).errorInfo?.reason
    : undefined;
  return { code: code === 0 ? "OK" : (grpc.status[code] ?? String(code)), httpStatus, ...(reason ? { reason } : {}) };
}

/** The trailer frame(s) of a gRPC-Web body as header fields. */
function grpcWebTrailers(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (let at = 0, i = 0; at + 5 <= body.length && i < 100; i++) {
    const flags = body[at]!;
    const length = body.readUInt32BE(at + 1);
    if ((flags & 0x80) === 0x80) {
      for (const line of body.subarray(at + 5, at + 5 + length).toString("utf8").split("\r\n")) {
        const colon = line.indexOf(":");
        if (colon > 0) out[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
    }
    at += 5 + length;
  }
  return out;
}

export function connectOutcome(r: WireResponse): Outcome {
  if (r.status === 0) return { code: `NETWORK:${r.error}`, httpStatus: 0 };
  if (r.status === 200) return { code: "OK", httpStatus: 200 };
  try {
    const json = JSON.parse(r.body.toString("utf8")) as { code?: string; details?: Array<{ type: string; value: string }> };
    if (typeof json.code !== "string") return { code: `HTTP_${r.status}`, httpStatus: r.status };
    const info = json.details?.find((d) => d.type === "google.rpc.ErrorInfo");
    const reason = info ? fromBinary(ErrorInfoSchema, Buffer.from(info.value, "base64")).reason : undefined;
    return { code: json.code.toUpperCase(), httpStatus: r.status, ...(reason ? { reason } : {}) };
  } catch {
    return { code: `HTTP_${r.status}`, httpStatus: r.status };
  }
}

export function grpcWebOutcome(r: WireResponse): Outcome {
  if (r.status === 0) return { code: `NETWORK:${r.error}`, httpStatus: 0 };
  return grpcOutcome(r.headers, r.status) ?? grpcOutcome(grpcWebTrailers(r.body), r.status) ?? { code: `HTTP_${r.status}`, httpStatus: r.status };
}

export function grpcOutcomeOf(r: WireResponse): Outcome {
  if (r.status === 0) return { code: `NETWORK:${r.error}`, httpStatus: 0 };
  return grpcOutcome(r.headers, r.status) ?? grpcOutcome(r.trailers, r.status) ?? { code: `HTTP_${r.status}`, httpStatus: r.status };
}

/** A gRPC / gRPC-Web length-prefixed frame. */
export function frame(bytes: Uint8Array, flags = 0): Buffer {
  const out = Buffer.alloc(5 + bytes.length);
  out[0] = flags;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}
