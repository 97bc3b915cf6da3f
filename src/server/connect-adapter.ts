// connect-node's request handler (connectNodeAdapter's ~20 lines, over the same public APIs),
// with a guard at the boundary: the request body is read here first, bounded by the message
// limit, and checked the way the gRPC fast path (grpc-fast.ts) checks its frames. connect-es
// answers an undecodable protobuf body with INTERNAL ("parse binary", a 500 on Connect), a
// missing or second gRPC-Web message with UNIMPLEMENTED, and an over-limit body without reading
// it (an HTTP/1.1 client still sending gets EPIPE instead of the answer). Here those become
// INVALID_ARGUMENT / RESOURCE_EXHAUSTED: the body is drained, replaced by a well-formed empty
// message, and the refusal travels in the context values to an interceptor that throws it
// before the handler — so connect still writes it in each protocol's own format, and the error
// mapper (errors.ts) still adds the ErrorInfo: one mapping for every transport.
import { fromBinary, fromJsonString, type DescMessage, type DescMethod, type JsonReadOptions } from "@bufbuild/protobuf";
import { Code, ConnectError, createConnectRouter, createContextKey, createContextValues, type ConnectRouter, type ContextValues, type Interceptor } from "@connectrpc/connect";
import { createAsyncIterable, type UniversalServerRequest } from "@connectrpc/connect/protocol";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
  type ConnectNodeAdapterOptions,
} from "@connectrpc/connect-node";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";

/** A refusal decided before connect parsed the request (see the file comment). */
const TRANSPORT_REFUSAL = createContextKey<ConnectError | undefined>(undefined, { description: "transport refusal" });

/** Throws the guard's refusal, if any, before any handler (ours, health, reflection) runs. */
const refusalInterceptor: Interceptor = (next) => async (req) => {
  const refusal = req.contextValues.get(TRANSPORT_REFUSAL);
  if (refusal !== undefined) throw refusal;
  return next(req);
};

/** How far past the limit a refused body is still read (and dropped), so an HTTP/1.1 client gets
 * the answer instead of a reset; beyond it the connection is left to close. */
const DRAIN_FACTOR = 8;

type Kind = "unary-proto" | "unary-json" | "enveloped-proto" | "enveloped-json";

function kindOf(contentType: string): Kind | undefined {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  switch (type) {
    case "application/proto":
      return "unary-proto";
    case "application/json":
      return "unary-json";
    case "application/connect+proto":
    case "application/grpc":
    case "application/grpc+proto":
    case "application/grpc-web":
    case "application/grpc-web+proto":
      return "enveloped-proto";
    case "application/connect+json":
    case "application/grpc+json":
    case "application/grpc-web+json":
      return "enveloped-json";
    default:
      return undefined; // connect answers 415 itself
  }
}

/** An empty message of the kind: what connect parses while the refusal is thrown instead. */
function emptyBody(kind: Kind): Uint8Array {
  const payload = kind.endsWith("json") ? new TextEncoder().encode("{}") : new Uint8Array(0);
  if (kind.startsWith("unary")) return payload;
  const out = new Uint8Array(5 + payload.length);
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
}

/** Reads the body: the bytes, or a refusal when it is over the limit (then drained and dropped). */
async function readBody(body: AsyncIterable<Uint8Array>, max: number, limit: number): Promise<Uint8Array | ConnectError> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > max * DRAIN_FACTOR) break;
    if (size <= max) chunks.push(chunk);
  }
  if (size > max) return new ConnectError(`message larger than ${limit} bytes`, Code.ResourceExhausted);
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/** Why an enveloped body is not exactly one well-formed message (undefined: it is); decodes an
 * uncompressed protobuf payload. */
function checkEnveloped(bytes: Uint8Array, input: DescMessage, proto: boolean, limit: number): ConnectError | undefined {
  if (bytes.byteLength < 5) return new ConnectError("the request has no complete message frame", Code.InvalidArgument);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flags = bytes[0]!;
  const length = view.getUint32(1);
  if (length > limit) return new ConnectError(`message larger than ${limit} bytes`, Code.ResourceExhausted);
  if (bytes.byteLength < 5 + length) {
    return new ConnectError(`the request frame declares ${length} bytes but carries ${bytes.byteLength - 5}`, Code.InvalidArgument);
  }
  if (bytes.byteLength > 5 + length) return new ConnectError("the request carries more than one message", Code.InvalidArgument);
  if (proto && (flags & 1) === 0) return checkProto(bytes.subarray(5), input);
  return undefined; // compressed or JSON: connect decompresses and parses (and answers INVALID_ARGUMENT)
}

function checkProto(bytes: Uint8Array, input: DescMessage): ConnectError | undefined {
  try {
    fromBinary(input, bytes);
    return undefined;
  } catch {
    return new ConnectError(`the request is not a valid ${input.typeName} message`, Code.InvalidArgument);
  }
}

/** A JSON body connect would not parse: the same INVALID_ARGUMENT connect raises (its message),
 * but through the error mapper, so it carries the ErrorInfo like every other error (and like
 * the Connect fast path's, connect-fast.ts). */
function checkJson(bytes: Uint8Array, input: DescMessage, jsonOptions: Partial<JsonReadOptions> | undefined): ConnectError | undefined {
  try {
    fromJsonString(input, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"), jsonOptions);
    return undefined;
  } catch (e) {
    return ConnectError.from(e, Code.InvalidArgument);
  }
}

export interface GuardedAdapterOptions extends ConnectNodeAdapterOptions {
  readonly readMaxBytes: number;
  /** The error mapper (errors.ts): adds the ErrorInfo to a refusal. */
  readonly mapError: (err: unknown) => ConnectError;
}

type NodeRequest = IncomingMessage | Http2ServerRequest;
type NodeResponse = ServerResponse | Http2ServerResponse;

export function guardedConnectNodeAdapter(options: GuardedAdapterOptions): (req: NodeRequest, res: NodeResponse) => void {
  const router: ConnectRouter = createConnectRouter({
    ...options,
    acceptCompression: options.acceptCompression ?? [compressionGzip, compressionBrotli],
    interceptors: [refusalInterceptor, ...(options.interceptors ?? [])],
  });
  options.routes(router);
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h]));
  const limit = options.readMaxBytes;

  const guard = async (uReq: UniversalServerRequest, method: DescMethod, values: ContextValues): Promise<UniversalServerRequest> => {
    const kind = kindOf(uReq.header.get("content-type") ?? "");
    const body = uReq.body;
    const input = method.input;
    // Only one-message requests are read up front; client and bidi streams (reflection) flow.
    const single = method.methodKind === "unary" || method.methodKind === "server_streaming";
    if (single && uReq.method === "GET") return guardGet(uReq, input, values);
    if (!single || uReq.method !== "POST" || kind === undefined || body === null || typeof body !== "object" || !(Symbol.asyncIterator in body)) return uReq;
    // An enveloped body is its message plus the 5-byte frame header.
    const read = await readBody(body as AsyncIterable<Uint8Array>, kind.startsWith("unary") ? limit : limit + 5, limit);
    let refusal: ConnectError | undefined;
    if (read instanceof ConnectError) refusal = read;
    else if (kind === "unary-proto" && (uReq.header.get("content-encoding") ?? "identity") === "identity") refusal = checkProto(read, input);
    else if (kind === "unary-json" && (uReq.header.get("content-encoding") ?? "identity") === "identity") refusal = checkJson(read, input, options.jsonOptions);
    else if (kind.startsWith("enveloped")) refusal = checkEnveloped(read, input, kind === "enveloped-proto", limit);
    const bytes = refusal === undefined && !(read instanceof ConnectError) ? read : emptyBody(kind);
    if (refusal !== undefined) {
      values.set(TRANSPORT_REFUSAL, options.mapError(refusal));
      uReq.header.delete("content-encoding");
    }
    if (uReq.header.has("content-length")) uReq.header.set("content-length", String(bytes.byteLength));
    return { ...uReq, body: createAsyncIterable([bytes]), contextValues: values };
  };

  /** Connect GET (NO_SIDE_EFFECTS methods): the message is in the query string. An uncompressed
   * binary one that does not decode is refused the same way; the query then carries an empty one. */
  const guardGet = (uReq: UniversalServerRequest, input: DescMessage, values: ContextValues): UniversalServerRequest => {
    const url = new URL(uReq.url);
    const q = url.searchParams;
    if (q.get("encoding") !== "proto" || (q.get("compression") ?? "identity") !== "identity") return uReq;
    const message = q.get("message") ?? "";
    const bytes = q.get("base64") === "1" ? Buffer.from(message, "base64url") : Buffer.from(message, "utf8");
    const refusal = bytes.byteLength > limit ? new ConnectError(`message larger than ${limit} bytes`, Code.ResourceExhausted) : checkProto(bytes, input);
    if (refusal === undefined) return uReq;
    values.set(TRANSPORT_REFUSAL, options.mapError(refusal));
    q.set("message", "");
    q.delete("base64");
    return { ...uReq, url: url.toString(), contextValues: values };
  };

  return function nodeRequestHandler(req, res) {
    const handler = paths.get(req.url?.split("?", 2)[0] ?? "");
    if (handler === undefined) {
      res.writeHead(404);
      res.end();
      return;
    }
    const values = options.contextValues?.(req) ?? createContextValues();
    const uReq = universalRequestFromNodeRequest(req, res, undefined, values);
    guard(uReq, handler.method, values)
      .then((guarded) => handler(guarded))
      .then((uRes) => universalResponseToNodeResponse(uRes, res))
      .catch((reason: unknown) => {
        // The client went away mid-body (or mid-response): nothing is left to answer.
        if (!res.headersSent && ConnectError.from(reason).code !== Code.Aborted) res.writeHead(400);
        res.end();
      });
  };
}
