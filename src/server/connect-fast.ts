// The Connect unary fast path: a POST of one JSON or protobuf message (the Connect protocol's
// unary form, what curl, connect-web and Connect clients send) to a unary RPC of our services,
// served straight from the Node request. connect-node's universal pipeline (async-iterable body,
// per-call context, handler factories) cost ≈ 3.7× the CPU of a hand-written node:http server on
// GetCustomer (docs/performance.md). The same MethodRunners (the chain) run here as under
// connect-node and the gRPC fast path: one chain, three transports.
//
// Only the plain case is taken; connect-node keeps everything else (GET requests, compressed or
// chunked bodies, a body over the limit, streaming content types, unknown paths, health,
// reflection, a malformed connect-timeout-ms). The answer is what connect-node's own unary
// handler writes (protocol-connect/handler-factory): the status from the code, the error as
// connect's errorToJsonBytes, error metadata as response headers, content-length.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { fromBinary, fromJsonString, type DescMessage, type JsonReadOptions } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, errorToJsonBytes, parseContentType, parseTimeout } from "@connectrpc/connect/protocol-connect";
import { encodeReply } from "./encode-once.js";
import { createMessage } from "./proto-create.js";
import { encodeJson } from "./proto-json.js";
import { CallCancel, callHeaders, clientCancelled, clientDeadline, TransportCall, type Call, type MethodRunner } from "./pipeline.js";

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

export interface ConnectFastOptions {
  readonly maxMessageBytes: number;
  /** The server's deadline ceiling: a longer connect-timeout-ms is clamped to it. */
  readonly maxTimeoutMs: number;
  readonly jsonOptions: Partial<JsonReadOptions>;
  /** Turns anything thrown outside the chain into a ConnectError (logs what is unexpected). */
  readonly toConnectError: (err: unknown, call?: Call) => ConnectError;
}

/** Returns a request handler; it answers false for a request it does not serve. */
export function connectFastPath(runners: readonly MethodRunner[], options: ConnectFastOptions): (req: Req, res: Res) => boolean {
  const byPath = new Map(runners.filter((r) => r.method.methodKind === "unary").map((r) => [`/${r.method.parent.typeName}/${r.method.name}`, r]));
  return (req, res) => {
    if (req.method !== "POST") return false;
    const runner = byPath.get(req.url ?? "");
    if (runner === undefined) return false;
    const h = req.headers;
    const type = parseContentType(h["content-type"] ?? null);
    if (type === undefined || type.stream) return false;
    const encoding = h["content-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    const version = h["connect-protocol-version"];
    if (version !== undefined && version !== "1") return false;
    const length = Number(h["content-length"]);
    if (h["content-length"] === undefined || !Number.isSafeInteger(length) || length > options.maxMessageBytes) return false;
    const rawTimeout = h["connect-timeout-ms"];
    const timeout = parseTimeout(typeof rawTimeout === "string" ? rawTimeout : null, Number.MAX_SAFE_INTEGER);
    if (timeout.error) return false;
    // Nothing escapes serve() but a failure to write the answer: then the exchange is beyond saving.
    serve(req, res, runner, type.binary, length, timeout.timeoutMs, options).catch(() => res.destroy());
    return true;
  };
}

/** The body, exactly `length` bytes (as content-length promised). */
function readBody(req: Req, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      chunks.push(chunk);
    };
    // Listeners stay after the end (removing four of them on every call showed in the profile);
    // a late error or abort then settles nothing and builds no error.
    let ended = false;
    const onEnd = () => {
      ended = true;
      if (size !== length) reject(new ConnectError(`the body has ${size} bytes, content-length says ${length}`, Code.InvalidArgument));
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = () => {
      if (ended) return;
      cleanup();
      reject(new ConnectError("the client closed the request", Code.Canceled));
    };
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onError);
    };
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onError);
    req.once("aborted", onError);
  });
}

function decode(schema: DescMessage, binary: boolean, body: Buffer, jsonOptions: Partial<JsonReadOptions>) {
  try {
    return binary ? fromBinary(schema, body) : fromJsonString(schema, body.toString("utf8"), jsonOptions);
  } catch (e) {
    // As connect's own unary handler (serialization parse errors are INVALID_ARGUMENT).
    throw ConnectError.from(e, Code.InvalidArgument);
  }
}

async function serve(req: Req, res: Res, runner: MethodRunner, binary: boolean, length: number, timeoutMs: number | undefined, o: ConnectFastOptions): Promise<void> {
  const cancel = new CallCancel();
  const onClose = () => {
    if (!res.writableEnded) cancel.abort(clientCancelled());
  };
  res.once("close", onClose);
  const client = clientDeadline(timeoutMs, o.maxTimeoutMs, cancel);
  let call: Call | undefined;
  const started = Date.now();
  let status = 200;
  let contentType = binary ? "application/proto" : "application/json";
  const headers: Record<string, string> = {};
  // A JSON reply stays a string: node:http writes it with the head in one piece (a Buffer copy of
  // it cost ≈ 1.3 µs per GetCustomer).
  let body: Uint8Array | string;
  let bodyBytes: number;
  try {
    const message = decode(runner.method.input, binary, await client.within(readBody(req, length)), o.jsonOptions);
    call = new TransportCall(runner.method, callHeaders(req.headers), message, req.socket?.remoteAddress ?? "", cancel, timeoutMs === undefined ? undefined : started + timeoutMs);
    const result = createMessage(runner.method.output, (await client.within(runner.run(call))) as never);
    body = binary ? encodeReply(runner.method.output, result) : encodeJson(runner.method.output, result);
    bodyBytes = typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
    if (bodyBytes > o.maxMessageBytes) throw new ConnectError(`the response is larger than ${o.maxMessageBytes} bytes`, Code.ResourceExhausted);
  } catch (err) {
    const error = o.toConnectError(err, call);
    status = codeToHttpStatus(error.code);
    contentType = "application/json";
    error.metadata.forEach((value, key) => {
      headers[key] = value;
    });
    body = errorToJsonBytes(error, {});
    bodyBytes = body.byteLength;
  } finally {
    client.clear();
    res.off("close", onClose);
  }
  if (res.destroyed || res.writableEnded) return;
  headers["content-type"] = contentType;
  headers["content-length"] = String(bodyBytes);
  (res as ServerResponse).writeHead(status, headers);
  res.end(body);
}
